//! Shared helpers for the parity tests: locating ../shared and reading fixture tensors.

#![allow(dead_code)]

use std::path::PathBuf;

use safetensors::SafeTensors;

/// `../shared` beside the checkout, or `None` (the test then prints a note and passes).
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("../shared is absent: parity test skipped");
        None
    }
}

/// A float32 tensor of a safetensors file: `(shape, values)`.
pub fn f32_tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("fixture tensor {name}: {e}"));
    let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (t.shape().to_vec(), data)
}

/// Max abs error over the box rows (first 4 channels) and the score rows of a `[B, C, A]` output.
pub fn box_and_score_error(got: &[f32], want: &[f32], channels: usize, anchors: usize) -> (f32, f32) {
    assert_eq!(got.len(), want.len(), "output sizes differ");
    let (mut box_err, mut score_err) = (0f32, 0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let e = (g - w).abs();
        if (i / anchors) % channels < 4 {
            box_err = box_err.max(e);
        } else {
            score_err = score_err.max(e);
        }
    }
    (box_err, score_err)
}
