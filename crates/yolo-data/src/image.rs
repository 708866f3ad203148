//! RGB images: decoding as `cv2.imread` does and cv2-exact `INTER_LINEAR` resizing.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use ::image::metadata::Orientation;
use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::error::DataError;
use crate::jpeg::{JPEG_END, check_truncated, decode_jpeg, is_jpeg};

/// Images smaller than this many pixels on a side are corrupt (Ultralytics `verify_image_label`).
pub const MIN_IMAGE_SIDE: u32 = 10;

/// An 8-bit RGB image, interleaved HWC: `data[(y * width + x) * 3 + c]`, c = R, G, B.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in px.
    pub width: u32,
    /// Height in px.
    pub height: u32,
    /// `height * width * 3` bytes, rows top to bottom, RGB per pixel.
    pub data: Vec<u8>,
}

impl Image {
    /// A `width × height` image with every channel of every pixel set to `value`.
    pub fn filled(width: u32, height: u32, value: u8) -> Image {
        Image {
            width,
            height,
            data: vec![value; width as usize * height as usize * 3],
        }
    }

    /// The image as planar float CHW (`[3, height, width]`, R, G, B planes), values / 255.
    pub fn to_chw_f32(&self) -> Vec<f32> {
        let plane = self.width as usize * self.height as usize;
        let mut out = vec![0f32; plane * 3];
        for (i, px) in self.data.chunks_exact(3).take(plane).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                out[c * plane + i] = f32::from(v) / 255.0;
            }
        }
        out
    }
}

/// Size of an image file and a non-fatal finding, from [`probe_image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProbe {
    /// Width in px after EXIF orientation.
    pub width: u32,
    /// Height in px after EXIF orientation.
    pub height: u32,
    /// Set when the file is usable but odd (a JPEG without its end marker).
    pub warning: Option<String>,
}

/// Reads an image file's size (after EXIF orientation) from its header, and checks it as
/// Ultralytics does: known format, at least [`MIN_IMAGE_SIDE`] px per side, and a JPEG
/// missing its `FFD9` end marker must still decode in full (else it is truncated).
pub fn probe_image(path: &Path) -> Result<ImageProbe, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    if len == 0 {
        return Err(empty_file(path));
    }
    let (mut decoder, format) = open_decoder(path, BufReader::new(file))?;
    let (w, h) = decoder.dimensions();
    let (width, height) = if swaps_sides(orientation(&mut decoder)) {
        (h, w)
    } else {
        (w, h)
    };
    if width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE {
        return Err(DataError::image(
            path,
            format!("image size {width}x{height} < {MIN_IMAGE_SIDE} px"),
        ));
    }
    let mut warning = None;
    if format == ImageFormat::Jpeg && !has_jpeg_end(path, len)? {
        let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
        warning = Some(check_truncated(path, &bytes)?);
    }
    Ok(ImageProbe {
        width,
        height,
        warning,
    })
}

/// Decodes an image file to RGB as `cv2.imread(path)` + BGR→RGB would: EXIF orientation
/// applied, grayscale replicated, alpha dropped. JPEGs go through libjpeg-turbo's decoder and
/// are bit-exact with cv2 (see [`crate::jpeg`]); other formats through the `image` crate.
/// Empty, truncated or corrupt files are errors naming the file.
pub fn decode_image(path: &Path) -> Result<Image, DataError> {
    let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() {
        return Err(empty_file(path));
    }
    if is_jpeg(&bytes) {
        return decode_jpeg(path, &bytes);
    }
    let (mut decoder, _) = open_decoder(path, Cursor::new(bytes.as_slice()))?;
    let orientation = orientation(&mut decoder);
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| DataError::image(path, e.to_string()))?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    Ok(Image {
        width: rgb.width(),
        height: rgb.height(),
        data: rgb.into_raw(),
    })
}

fn empty_file(path: &Path) -> DataError {
    DataError::image(path, "empty file (0 bytes)")
}

/// A decoder for the format guessed from the content (not the extension), and that format.
fn open_decoder<'a, R: BufRead + Seek + 'a>(
    path: &Path,
    reader: R,
) -> Result<(impl ImageDecoder + 'a, ImageFormat), DataError> {
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let format = reader
        .format()
        .ok_or_else(|| DataError::image(path, "unknown or unsupported image format"))?;
    let decoder = reader
        .into_decoder()
        .map_err(|e| DataError::image(path, e.to_string()))?;
    Ok((decoder, format))
}

/// EXIF orientation; unreadable EXIF is ignored, as OpenCV does.
fn orientation(decoder: &mut impl ImageDecoder) -> Orientation {
    decoder.orientation().unwrap_or(Orientation::NoTransforms)
}

fn swaps_sides(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// True if the file (of `len` bytes) ends with [`JPEG_END`].
fn has_jpeg_end(path: &Path, len: u64) -> Result<bool, DataError> {
    let mut tail = [0u8; 2];
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    file.seek(SeekFrom::Start(len.saturating_sub(2)))
        .map_err(|e| DataError::io(path, e))?;
    file.read_exact(&mut tail)
        .map_err(|e| DataError::io(path, e))?;
    Ok(tail == JPEG_END)
}

/// Resizes so the long side is `imgsz` px, exactly as Ultralytics `load_image`:
/// `r = imgsz / max(h0, w0)`; if `r != 1` the new size is
/// `(min(ceil(w0·r), imgsz), min(ceil(h0·r), imgsz))` with cv2 `INTER_LINEAR`.
pub fn resize_long_side(img: &Image, imgsz: u32) -> Image {
    let (width, height) = long_side_size(img.width, img.height, imgsz);
    resize_bilinear(img, width, height)
}

/// `(width, height)` px that [`resize_long_side`] gives a `width × height` px image.
pub fn long_side_size(width: u32, height: u32, imgsz: u32) -> (u32, u32) {
    let long = width.max(height);
    if long == 0 || long == imgsz {
        return (width, height);
    }
    let r = f64::from(imgsz) / f64::from(long);
    let side = |s: u32| ((f64::from(s) * r).ceil() as u32).min(imgsz).max(1);
    (side(width), side(height))
}

/// Fixed-point scale of cv2's resize coefficients (`INTER_RESIZE_COEF_SCALE`).
const COEF_SCALE: f32 = 2048.0;

/// Per-output-coordinate source indices and fixed-point weights of cv2 `INTER_LINEAR`.
struct Taps {
    /// First and second source index (already clamped to the image).
    src: Vec<(usize, usize)>,
    /// Weights of the two sources, in 1/2048.
    weights: Vec<(i32, i32)>,
}

/// cv2 coefficients: half-pixel centres, weights rounded to 1/2048. Columns outside the
/// image get weight 0 (cv2 clamps `fx`); rows keep their weights and reuse the edge row
/// (cv2 clamps only the row index), which matters when enlarging.
fn taps(src_len: u32, dst_len: u32, clamp_weights: bool) -> Taps {
    let scale = 1.0 / (f64::from(dst_len) / f64::from(src_len));
    let last = i64::from(src_len) - 1;
    let mut t = Taps {
        src: Vec::new(),
        weights: Vec::new(),
    };
    for d in 0..dst_len {
        let f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
        let mut s = f.floor() as i64;
        let mut frac = f - s as f32;
        if clamp_weights && s < 0 {
            (s, frac) = (0, 0.0);
        }
        if clamp_weights && s >= last {
            (s, frac) = (last, 0.0);
        }
        t.src
            .push((s.clamp(0, last) as usize, (s + 1).clamp(0, last) as usize));
        t.weights.push((
            ((1.0 - frac) * COEF_SCALE).round_ties_even() as i32,
            (frac * COEF_SCALE).round_ties_even() as i32,
        ));
    }
    t
}

/// Horizontal pass of one source row: `dst_w * 3` fixed-point sums (weights sum to 2048).
fn resize_row(row: &[u8], xt: &Taps) -> Vec<i32> {
    let mut out = Vec::with_capacity(xt.src.len() * 3);
    for (&(s0, s1), &(a0, a1)) in xt.src.iter().zip(&xt.weights) {
        for c in 0..3 {
            out.push(i32::from(row[s0 * 3 + c]) * a0 + i32::from(row[s1 * 3 + c]) * a1);
        }
    }
    out
}

/// Vertical mix as cv2's SIMD kernel (`VResizeLinearVec_32s8u`): `>>4`, `mulhi`, `+2 >>2`.
fn vmix(a: i32, b: i32, b0: i32, b1: i32) -> u8 {
    let t = (((a >> 4) * b0) >> 16) + (((b >> 4) * b1) >> 16);
    ((t + 2) >> 2).clamp(0, 255) as u8
}

/// Resizes to `width × height` px with OpenCV `INTER_LINEAR` semantics for 8-bit images:
/// half-pixel centres, no antialiasing when shrinking, 11-bit fixed-point weights and the
/// rounding of OpenCV's SIMD kernel (bit-exact against opencv-python 5.0 on x86-64).
pub fn resize_bilinear(img: &Image, width: u32, height: u32) -> Image {
    if (width, height) == (img.width, img.height) {
        return img.clone();
    }
    if img.width == 0 || img.height == 0 {
        return Image::filled(width, height, 0);
    }
    let (xt, yt) = (
        taps(img.width, width, true),
        taps(img.height, height, false),
    );
    let src_row = img.width as usize * 3;
    let mut rows: Vec<Option<Vec<i32>>> = vec![None; img.height as usize];
    let mut data = Vec::with_capacity(width as usize * 3 * height as usize);
    for (&(r0, r1), &(b0, b1)) in yt.src.iter().zip(&yt.weights) {
        rows[..r0].iter_mut().for_each(|r| *r = None); // rows above are never needed again
        for y in [r0, r1] {
            if rows[y].is_none() {
                rows[y] = Some(resize_row(&img.data[y * src_row..(y + 1) * src_row], &xt));
            }
        }
        let (Some(a), Some(b)) = (&rows[r0], &rows[r1]) else {
            continue;
        };
        data.extend(a.iter().zip(b).map(|(&a, &b)| vmix(a, b, b0, b1)));
    }
    Image {
        width,
        height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> Image {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[
                    (x * 255 / w.max(1)) as u8,
                    (y * 255 / h.max(1)) as u8,
                    ((x + y) % 256) as u8,
                ]);
            }
        }
        Image {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn chw_layout() {
        let img = Image {
            width: 2,
            height: 1,
            data: vec![255, 0, 51, 0, 255, 102],
        };
        assert_eq!(img.to_chw_f32(), vec![1.0, 0.0, 0.0, 1.0, 0.2, 0.4]);
    }

    #[test]
    fn long_side_sizes_use_ceil() {
        let img = gradient(640, 425);
        let r = resize_long_side(&img, 320);
        assert_eq!((r.width, r.height), (320, 213));
        let img = gradient(481, 640);
        let r = resize_long_side(&img, 320);
        assert_eq!((r.width, r.height), (241, 320));
        assert_eq!(resize_long_side(&img, 640), img);
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = Image::filled(37, 23, 200);
        for (w, h) in [(10, 7), (80, 51), (37, 60), (5, 5)] {
            let r = resize_bilinear(&img, w, h);
            assert!(r.data.iter().all(|&v| v == 200), "{w}x{h}");
        }
    }

    #[test]
    fn exact_halving_averages_2x2() {
        let img = gradient(64, 32);
        let r = resize_bilinear(&img, 32, 16);
        for (x, y, c) in [(0usize, 0usize, 0usize), (5, 7, 1), (31, 15, 2)] {
            let at = |xx: usize, yy: usize| u32::from(img.data[(yy * 64 + xx) * 3 + c]);
            let sum = at(2 * x, 2 * y)
                + at(2 * x + 1, 2 * y)
                + at(2 * x, 2 * y + 1)
                + at(2 * x + 1, 2 * y + 1);
            assert_eq!(u32::from(r.data[(y * 32 + x) * 3 + c]), (sum + 2) >> 2);
        }
    }

    #[test]
    fn zero_byte_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jpg");
        std::fs::write(&p, b"").unwrap();
        let e = decode_image(&p).unwrap_err().to_string();
        assert!(e.contains("a.jpg") && e.contains("empty file"), "{e}");
        assert!(probe_image(&p).is_err());
    }
}
