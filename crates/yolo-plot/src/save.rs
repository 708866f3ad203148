//! Encoding RGB pixels as PNG or JPEG and writing them atomically (temporary file, then rename).

use crate::error::PlotError;
use image::ImageEncoder;
use image::codecs::{jpeg::JpegEncoder, png::PngEncoder};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// JPEG quality used for `.jpg`/`.jpeg` files, as Ultralytics' PIL saves.
const JPEG_QUALITY: u8 = 90;

/// Writes `rgb` (RGB, HWC, `width`×`height` u8) to `path` as JPEG (quality 90) when the
/// extension is `jpg`/`jpeg`, PNG when it is `png` (case-insensitive).
///
/// Parent folders are created; the file appears whole or not at all (written to a
/// temporary sibling, then renamed over `path`).
pub fn save_rgb(
    path: impl AsRef<Path>,
    rgb: &[u8],
    width: u32,
    height: u32,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let input = |message: String| PlotError::Input {
        path: path.into(),
        message,
    };
    let jpeg = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => true,
        Some("png") => false,
        _ => return Err(input("extension must be .png, .jpg or .jpeg".into())),
    };
    let len = width as usize * height as usize * 3;
    if rgb.len() != len || len == 0 {
        return Err(input(format!(
            "{width}x{height} RGB needs {len} bytes (> 0), got {}",
            rgb.len()
        )));
    }
    let io = |source| PlotError::Io {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = temp_sibling(path);
    let written = write_encoded(&tmp, rgb, (width, height), jpeg)
        .map_err(|e| e.at(path))
        .and_then(|()| fs::rename(&tmp, path).map_err(io));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// `dir/.name.<pid>-<n>.tmp`: same folder (so the rename is atomic), unique per process and call.
fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Why writing the temporary file failed; the caller names the destination path.
enum WriteError {
    Io(std::io::Error),
    Encode(image::ImageError),
}

impl WriteError {
    fn at(self, path: &Path) -> PlotError {
        match self {
            WriteError::Io(source) => PlotError::Io {
                path: path.into(),
                source,
            },
            WriteError::Encode(source) => PlotError::Encode {
                path: path.into(),
                source,
            },
        }
    }
}

fn write_encoded(tmp: &Path, rgb: &[u8], (w, h): (u32, u32), jpeg: bool) -> Result<(), WriteError> {
    let mut out = BufWriter::new(fs::File::create(tmp).map_err(WriteError::Io)?);
    let color = image::ExtendedColorType::Rgb8;
    let encoded = if jpeg {
        JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).write_image(rgb, w, h, color)
    } else {
        PngEncoder::new(&mut out).write_image(rgb, w, h, color)
    };
    encoded.map_err(WriteError::Encode)?;
    out.flush().map_err(WriteError::Io)
}
