//! Preprocessing parity with Ultralytics: the letterboxed input tensors in the shared fixtures
//! are reproduced exactly (cv2-exact JPEG decode, resize and letterbox).

mod common;

use common::shared_dir;
use safetensors::{Dtype, SafeTensors};
use yolo_data::{decode_image, letterbox_resized, val_letterbox};

/// (image path relative to shared/, imgsz, tensor name), from fixtures.json → model_parity.
const CASES: [(&str, u32, &str); 3] = [
    (
        "data/coco8/images/train/000000000009.jpg",
        640,
        "000000000009_640_input",
    ),
    (
        "data/coco8/images/train/000000000034.jpg",
        320,
        "000000000034_320_input",
    ),
    (
        "data/coco8/images/val/000000000036.jpg",
        320,
        "000000000036_320_input",
    ),
];

#[test]
fn letterboxed_inputs_match_ultralytics() {
    let Some(shared) = shared_dir() else {
        eprintln!("note: ../shared not found; skipping the Ultralytics preprocessing parity test");
        return;
    };
    let bytes = std::fs::read(shared.join("fixtures/yolo11n_onnx_outputs.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    for (image, imgsz, name) in CASES {
        let view = tensors.tensor(name).unwrap();
        let s = imgsz as usize;
        assert_eq!(
            (view.dtype(), view.shape()),
            (Dtype::F32, &[1, 3, s, s][..])
        );
        let want: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();

        // Ultralytics: cv2 read, long side -> imgsz (INTER_LINEAR, ceil), centred pad 114 to S×S.
        let (img, _) = letterbox_resized(
            &decode_image(&shared.join(image)).unwrap(),
            imgsz,
            &val_letterbox(imgsz),
        );
        let got = img.to_chw_f32();
        assert_eq!(got.len(), want.len());

        let diffs: Vec<f32> = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
        let max = diffs.iter().copied().fold(0f32, f32::max);
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        let exact = diffs.iter().filter(|&&d| d == 0.0).count() as f64 / diffs.len() as f64;
        println!(
            "{name}: max abs diff {max:.6} ({:.1}/255), mean abs diff {mean:.7} ({:.4}/255), {:.2}% exact",
            max * 255.0,
            mean * 255.0,
            exact * 100.0
        );
        assert_eq!(max, 0.0, "{name}: not bit-exact (max abs diff {max})");
    }
}
