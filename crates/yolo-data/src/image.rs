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

    /// Writes the pixels as planes `[3, height, width]` into the first `3·height·width` bytes
    /// of `out`: R, G, B planes, or B, G, R when `bgr`.
    ///
    /// # Panics
    /// If `out` is shorter than that.
    pub fn write_planes(&self, out: &mut [u8], bgr: bool) {
        let plane = self.width as usize * self.height as usize;
        let (r, rest) = out[..plane * 3].split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        let (first, last) = if bgr { (b, r) } else { (r, b) };
        let pixels = &self.data[..plane * 3];
        #[cfg(target_arch = "x86_64")]
        let done = if is_x86_feature_detected!("ssse3") {
            // SAFETY: SSSE3 was just detected.
            unsafe { deinterleave_ssse3(pixels, [&mut *first, &mut *g, &mut *last]) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        let rest = pixels[done * 3..].chunks_exact(3);
        let planes = first[done..]
            .iter_mut()
            .zip(&mut g[done..])
            .zip(&mut last[done..]);
        for (px, ((p0, p1), p2)) in rest.zip(planes) {
            (*p0, *p1, *p2) = (px[0], px[1], px[2]);
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

/// Splits interleaved 3-channel `pixels` into `planes`, 16 pixels (48 bytes) at a time with
/// byte shuffles; returns how many pixels it wrote (a multiple of 16; the rest is the
/// caller's).
///
/// # Safety
/// The CPU must support SSSE3.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
unsafe fn deinterleave_ssse3(pixels: &[u8], planes: [&mut [u8]; 3]) -> usize {
    use std::arch::x86_64::*;
    // masks[c][k]: for plane c, which byte of 16-byte chunk k goes to each output lane
    // (byte 3·lane + c of the 48), -1 (zero) where it lies in another chunk.
    let masks: [[__m128i; 3]; 3] = std::array::from_fn(|c| {
        std::array::from_fn(|k| {
            let lanes: [i8; 16] = std::array::from_fn(|lane| {
                let byte = 3 * lane + c;
                if byte / 16 == k {
                    (byte % 16) as i8
                } else {
                    -1
                }
            });
            // SAFETY: reads 16 bytes from a 16-byte array.
            unsafe { _mm_loadu_si128(lanes.as_ptr().cast()) }
        })
    });
    let n = (pixels.len() / 3).min(planes.iter().map(|p| p.len()).min().unwrap_or(0)) / 16 * 16;
    let [p0, p1, p2] = planes;
    for (i, chunk) in pixels[..n * 3].chunks_exact(48).enumerate() {
        // SAFETY: `chunk` holds 48 bytes; each plane has 16 bytes at `16·i` (i < n / 16).
        unsafe {
            let src = chunk.as_ptr();
            let v = [0, 16, 32].map(|at| _mm_loadu_si128(src.add(at).cast()));
            for (c, plane) in [&mut *p0, &mut *p1, &mut *p2].into_iter().enumerate() {
                let m = &masks[c];
                let parts = [0, 1, 2].map(|k| _mm_shuffle_epi8(v[k], m[k]));
                let out = _mm_or_si128(_mm_or_si128(parts[0], parts[1]), parts[2]);
                _mm_storeu_si128(plane[16 * i..16 * i + 16].as_mut_ptr().cast(), out);
            }
        }
    }
    n
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
        src: Vec::with_capacity(dst_len as usize),
        weights: Vec::with_capacity(dst_len as usize),
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

/// Bytes after a source row copy that the horizontal pass may read: the second tap pixel of
/// the last column (weight 0) and the SIMD kernel's 8-byte loads.
const ROW_PAD: usize = 8;

/// Horizontal pass of one interleaved RGB source row into `out` (`dst_w * 3` fixed-point
/// sums; the weights of a pixel sum to 2048). `row` carries [`ROW_PAD`] bytes after its
/// pixels: column taps are `(s, s + 1)` except at the last column, where the second weight
/// is 0.
fn resize_row(row: &[u8], xt: &Taps, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("ssse3") {
        // SAFETY: SSSE3 was just detected.
        return unsafe { resize_row_ssse3(row, xt, out) };
    }
    resize_row_portable(row, xt, out, 0)
}

/// [`resize_row`] in plain Rust, from output column `from` on.
fn resize_row_portable(row: &[u8], xt: &Taps, out: &mut [i32], from: usize) {
    let out = &mut out[from * 3..];
    let taps = xt.src[from..].iter().zip(&xt.weights[from..]);
    for (o, (&(s0, _), &(a0, a1))) in out.chunks_exact_mut(3).zip(taps) {
        let p = &row[s0 * 3..s0 * 3 + 6];
        for c in 0..3 {
            o[c] = i32::from(p[c]) * a0 + i32::from(p[c + 3]) * a1;
        }
    }
}

/// [`resize_row`] one output pixel per `pmaddwd`: the 6 bytes of the two tap pixels are
/// shuffled into `(left, right)` 16-bit pairs per channel and multiplied-added with the
/// `(a0, a1)` weights, giving the 3 sums (and a zero lane the next pixel overwrites).
///
/// # Safety
/// The CPU must support SSSE3.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
unsafe fn resize_row_ssse3(row: &[u8], xt: &Taps, out: &mut [i32]) {
    use std::arch::x86_64::*;
    let pairs = _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    let n = xt.src.len();
    // The last pixel's 4-lane store would pass the end of `out`: it goes the portable way.
    for x in 0..n.saturating_sub(1) {
        let (s0, _) = xt.src[x];
        let (a0, a1) = xt.weights[x];
        let (a0, a1) = (a0 as i16, a1 as i16);
        let p = &row[s0 * 3..s0 * 3 + 8];
        let o = &mut out[x * 3..x * 3 + 4];
        // SAFETY: `p` holds 8 readable bytes and `o` 4 writable i32s (both bounds-checked).
        unsafe {
            let v = _mm_shuffle_epi8(_mm_loadl_epi64(p.as_ptr().cast()), pairs);
            let w = _mm_setr_epi16(a0, a1, a0, a1, a0, a1, 0, 0);
            _mm_storeu_si128(o.as_mut_ptr().cast(), _mm_madd_epi16(v, w));
        }
    }
    resize_row_portable(row, xt, out, n.saturating_sub(1));
}

/// Vertical mix of two horizontal passes into one output row, as cv2's SIMD kernel
/// (`VResizeLinearVec_32s8u`): `>>4`, `mulhi`, `+2 >>2`.
#[inline(always)]
fn vmix_row_portable(out: &mut [u8], a: &[i32], b: &[i32], (b0, b1): (i32, i32)) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        let t = (((a >> 4) * b0) >> 16) + (((b >> 4) * b1) >> 16);
        *o = ((t + 2) >> 2).clamp(0, 255) as u8;
    }
}

/// [`vmix_row_portable`] compiled for AVX2 (8 lanes).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vmix_row_avx2(out: &mut [u8], a: &[i32], b: &[i32], weights: (i32, i32)) {
    vmix_row_portable(out, a, b, weights)
}

/// [`vmix_row_portable`], 8 lanes wide where the CPU has AVX2.
fn vmix_row(out: &mut [u8], a: &[i32], b: &[i32], weights: (i32, i32)) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was just detected.
        return unsafe { vmix_row_avx2(out, a, b, weights) };
    }
    vmix_row_portable(out, a, b, weights)
}

/// Resizes to `width × height` px with OpenCV `INTER_LINEAR` semantics for 8-bit images:
/// half-pixel centres, no antialiasing when shrinking, 11-bit fixed-point weights and the
/// rounding of OpenCV's SIMD kernel (bit-exact against opencv-python 5.0 on x86-64).
pub fn resize_bilinear(img: &Image, width: u32, height: u32) -> Image {
    if (width, height) == (img.width, img.height) {
        return img.clone();
    }
    resize_pixels(&img.data, (img.width, img.height), (width, height))
}

/// [`resize_bilinear`] of interleaved RGB `pixels` of size `(w, h)` px to `(width, height)`
/// px, reading them in place (e.g. straight from a memory map).
pub(crate) fn resize_pixels(
    pixels: &[u8],
    (w, h): (u32, u32),
    (width, height): (u32, u32),
) -> Image {
    let dst_row = width as usize * 3;
    let mut data = vec![0u8; dst_row * height as usize];
    if w == 0 || h == 0 {
        return Image {
            width,
            height,
            data,
        };
    }
    let (xt, yt) = (taps(w, width, true), taps(h, height, false));
    let src_row = w as usize * 3;
    // One source row with its last pixel repeated (see `resize_row`).
    let mut padded = vec![0u8; src_row + ROW_PAD];
    // Horizontal passes of two source rows, row y in slot y % 2: the two rows an output row
    // mixes are equal or adjacent, and both only ever move down.
    let mut rows = [
        (usize::MAX, vec![0i32; dst_row]),
        (usize::MAX, vec![0i32; dst_row]),
    ];
    for (out, (&(r0, r1), &(b0, b1))) in data
        .chunks_exact_mut(dst_row)
        .zip(yt.src.iter().zip(&yt.weights))
    {
        for y in [r0, r1] {
            let slot = &mut rows[y % 2];
            if slot.0 != y {
                let row = &pixels[y * src_row..(y + 1) * src_row];
                padded[..src_row].copy_from_slice(row);
                padded.copy_within(src_row - 3..src_row, src_row);
                resize_row(&padded, &xt, &mut slot.1);
                slot.0 = y;
            }
        }
        vmix_row(out, &rows[r0 % 2].1, &rows[r1 % 2].1, (b0, b1));
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

    /// Pseudo-random pixels (a fixed LCG), so that misplaced bytes show.
    fn noise(w: u32, h: u32) -> Image {
        let mut state = 12345u32;
        let data = (0..w * h * 3)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        Image {
            width: w,
            height: h,
            data,
        }
    }

    /// Each output byte straight from the cv2 taps: no row reuse, no SIMD.
    fn resize_reference(img: &Image, width: u32, height: u32) -> Vec<u8> {
        let (xt, yt) = (
            taps(img.width, width, true),
            taps(img.height, height, false),
        );
        let at = |x: usize, y: usize, c: usize| {
            i32::from(img.data[(y * img.width as usize + x) * 3 + c])
        };
        let mut out = Vec::new();
        for (&(r0, r1), &(b0, b1)) in yt.src.iter().zip(&yt.weights) {
            for (&(s0, s1), &(a0, a1)) in xt.src.iter().zip(&xt.weights) {
                for c in 0..3 {
                    let a = at(s0, r0, c) * a0 + at(s1, r0, c) * a1;
                    let b = at(s0, r1, c) * a0 + at(s1, r1, c) * a1;
                    let t = (((a >> 4) * b0) >> 16) + (((b >> 4) * b1) >> 16);
                    out.push(((t + 2) >> 2).clamp(0, 255) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn resize_matches_the_per_pixel_definition() {
        let cases = [
            ((500, 375), (640, 480)),
            ((640, 480), (320, 240)),
            ((37, 23), (101, 7)),
            ((1, 1), (5, 3)),
            ((17, 9), (17, 31)),
            ((3, 40), (2, 1)),
        ];
        for ((sw, sh), (dw, dh)) in cases {
            let img = noise(sw, sh);
            let out = resize_bilinear(&img, dw, dh);
            assert_eq!((out.width, out.height), (dw, dh));
            assert!(
                out.data == resize_reference(&img, dw, dh),
                "{sw}x{sh} -> {dw}x{dh}"
            );
        }
    }

    #[test]
    fn planes_split_every_pixel() {
        for (w, h) in [(1, 1), (5, 3), (16, 1), (19, 3), (33, 17)] {
            let img = noise(w, h);
            let plane = (w * h) as usize;
            for bgr in [false, true] {
                let mut out = vec![7u8; plane * 3 + 5];
                img.write_planes(&mut out, bgr);
                for (i, px) in img.data.chunks_exact(3).enumerate() {
                    let (first, last) = if bgr { (px[2], px[0]) } else { (px[0], px[2]) };
                    assert_eq!(
                        [out[i], out[plane + i], out[2 * plane + i]],
                        [first, px[1], last]
                    );
                }
                assert_eq!(&out[plane * 3..], &[7; 5], "{w}x{h}: wrote past the planes");
            }
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
