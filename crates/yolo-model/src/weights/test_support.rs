//! Test helpers: locating the shared data directory and corrupting files.

use std::path::PathBuf;

/// `<shared>/<relative>` if the shared data directory (`../shared` of the workspace) has it;
/// otherwise prints a note (the calling test then returns early) and gives `None`.
pub(crate) fn shared_file(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if path.is_file() {
        return Some(path);
    }
    eprintln!("note: {} is absent; skipping", path.display());
    None
}

/// A fresh scratch directory for one test.
pub(crate) fn scratch_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("yolo-model-weights-{}-{test}", std::process::id()));
    // A leftover from an earlier run is replaced.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Prefix lengths at which to cut a file of `len` bytes: near the start, at several fractions,
/// and just short of the end.
pub(crate) fn cut_points(len: usize) -> Vec<usize> {
    let mut cuts = vec![0, 1, 2, 4, 7, 8, 9, 16, 64, 100, 1000];
    cuts.extend([8, 4, 3, 2].map(|d| len / d));
    cuts.extend([
        len.saturating_sub(100),
        len.saturating_sub(22),
        len.saturating_sub(1),
    ]);
    cuts.retain(|&c| c < len);
    cuts
}

/// Deterministic pseudo-random bytes.
pub(crate) fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Protobuf encoding of a varint field.
pub(crate) fn pb_varint(number: u64, value: u64) -> Vec<u8> {
    let mut out = varint(number << 3);
    out.extend(varint(value));
    out
}

/// Protobuf encoding of a fixed32 field.
pub(crate) fn pb_fixed32(number: u64, value: [u8; 4]) -> Vec<u8> {
    let mut out = varint((number << 3) | 5);
    out.extend(value);
    out
}

/// Protobuf encoding of a length-delimited field.
pub(crate) fn pb_bytes(number: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = varint((number << 3) | 2);
    out.extend(varint(payload.len() as u64));
    out.extend(payload);
    out
}

/// Base-128 varint encoding.
pub(crate) fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}
