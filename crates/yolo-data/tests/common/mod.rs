//! Helpers shared by the integration tests: small real image files and label files.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use image::{ImageEncoder, RgbImage};

/// `../../../shared` relative to this crate (the team's read-only data), if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// A `w × h` RGB test pattern.
pub fn pattern(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x + 2 * y) % 256) as u8,
        ])
    })
}

/// JPEG bytes of `img` with an optional EXIF orientation tag (1..=8).
pub fn jpeg_bytes(img: &RgbImage, orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    if let Some(o) = orientation {
        enc.set_exif_metadata(exif_orientation(o)).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

/// Minimal little-endian TIFF block holding only the orientation tag (0x0112).
fn exif_orientation(o: u16) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&o.to_le_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}

/// Writes `bytes` to `path`, creating folders.
pub fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Writes a `w × h` JPEG at `root/images/<split>/<name>.jpg` and, if given, its label text.
pub fn add_image(
    root: &Path,
    split: &str,
    name: &str,
    (w, h): (u32, u32),
    label: Option<&str>,
) -> PathBuf {
    let img = root.join("images").join(split).join(format!("{name}.jpg"));
    write(&img, &jpeg_bytes(&pattern(w, h), None));
    if let Some(text) = label {
        write(
            &root.join("labels").join(split).join(format!("{name}.txt")),
            text.as_bytes(),
        );
    }
    img
}
