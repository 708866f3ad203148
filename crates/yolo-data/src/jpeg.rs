//! JPEG decoding with libjpeg-turbo's decoder (mozjpeg, C build): bit-exact with `cv2.imread`.

use std::any::Any;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;

use ::image::metadata::Orientation;
use ::image::{DynamicImage, RgbImage};
use mozjpeg::{Decompress, Marker};
use mozjpeg_sys::{J_COLOR_SPACE, jpeg_common_struct, jpeg_error_mgr, jpeg_std_error};

use crate::error::DataError;
use crate::image::Image;

/// The JPEG end-of-image marker.
pub(crate) const JPEG_END: [u8; 2] = [0xFF, 0xD9];

/// True if `bytes` start like a JPEG (SOI marker followed by another marker).
pub(crate) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// Decodes a JPEG as `cv2.imread(path, IMREAD_COLOR)` then BGR→RGB: libjpeg-turbo with its
/// defaults (ISLOW IDCT, fancy upsampling), grayscale replicated, CMYK converted as OpenCV,
/// EXIF orientation applied. A file that lacks [`JPEG_END`] must decode without a single
/// libjpeg warning (else it is truncated: an error); other files decode leniently as cv2.
pub(crate) fn decode_jpeg(path: &Path, bytes: &[u8]) -> Result<Image, DataError> {
    let strict = !bytes.ends_with(&JPEG_END);
    let (image, orientation) = decode_raw(path, bytes, strict)?;
    Ok(orient(image, orientation))
}

/// Strict full decode of a JPEG that lacks [`JPEG_END`]: the warning to report if it decodes
/// in full, an error naming the file if it is truncated or corrupt.
pub(crate) fn check_truncated(path: &Path, bytes: &[u8]) -> Result<String, DataError> {
    decode_raw(path, bytes, true)?;
    Ok(format!(
        "{}: JPEG lacks its end marker (FFD9) but decodes in full",
        path.display()
    ))
}

/// Pixels as stored (before EXIF orientation) and the EXIF orientation. `strict` decodes
/// `bytes` + [`JPEG_END`] and fails on any libjpeg warning: a file missing only its end
/// marker passes, one whose entropy-coded data is cut short hits that marker early and fails.
fn decode_raw(path: &Path, bytes: &[u8], strict: bool) -> Result<(Image, Orientation), DataError> {
    let completed;
    let bytes = if strict {
        completed = [bytes, &JPEG_END].concat();
        &completed
    } else {
        bytes
    };
    let run = || -> std::io::Result<(Image, Orientation)> {
        let decoder = Decompress::builder()
            .with_err(error_mgr(strict))
            .with_markers(&[Marker::APP(1)])
            .from_mem(bytes)?;
        let orientation = exif_orientation(&decoder);
        Ok((read_pixels(decoder)?, orientation))
    };
    let fail = |msg: String| DataError::image(path, format!("truncated or corrupt JPEG: {msg}"));
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(decoded)) => Ok(decoded),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(payload) => Err(fail(panic_text(payload))),
    }
}

/// Reads every scanline as RGB; 4-component (CMYK / YCCK) files via OpenCV's CMYK→BGR.
fn read_pixels(decoder: Decompress<&[u8]>) -> std::io::Result<Image> {
    let cmyk = decoder.components().len() == 4;
    let mut started = if cmyk {
        decoder.to_colorspace(J_COLOR_SPACE::JCS_CMYK)?
    } else {
        decoder.rgb()?
    };
    let (width, height) = (started.width() as u32, started.height() as u32);
    let raw: Vec<u8> = started.read_scanlines()?;
    started.finish()?;
    let data = if cmyk { cmyk_to_rgb(&raw) } else { raw };
    Ok(Image {
        width,
        height,
        data,
    })
}

/// OpenCV `icvCvt_CMYK2BGR_8u_C4C3R` (Adobe inverted CMYK), written out as RGB.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mix = |v: u8, k: i32| (k - (((255 - i32::from(v)) * k) >> 8)) as u8;
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let k = i32::from(p[3]);
            [mix(p[0], k), mix(p[1], k), mix(p[2], k)]
        })
        .collect()
}

/// Orientation from the first `Exif\0\0` APP1 segment; unreadable EXIF is ignored (cv2).
fn exif_orientation<R>(decoder: &Decompress<R>) -> Orientation {
    decoder
        .markers()
        .filter_map(|m| m.data.strip_prefix(b"Exif\0\0"))
        .find_map(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms)
}

/// Applies an EXIF orientation (no copy when there is nothing to do).
fn orient(image: Image, orientation: Orientation) -> Image {
    if orientation == Orientation::NoTransforms {
        return image;
    }
    let Some(rgb) = RgbImage::from_raw(image.width, image.height, image.data) else {
        unreachable!("decoder output is width * height * 3 bytes");
    };
    let mut dynamic = DynamicImage::ImageRgb8(rgb);
    dynamic.apply_orientation(orientation);
    let rgb = dynamic.into_rgb8();
    Image {
        width: rgb.width(),
        height: rgb.height(),
        data: rgb.into_raw(),
    }
}

/// libjpeg's standard error manager whose fatal errors unwind (caught in [`decode_raw`]);
/// in `strict` mode warnings (corrupt data, premature end of file) unwind too.
fn error_mgr(strict: bool) -> jpeg_error_mgr {
    // SAFETY: `jpeg_error_mgr` is plain C data (integers, nullable pointers and `Option`s of
    // function pointers), valid when zeroed; `jpeg_std_error` then fills in every field.
    let mut err: jpeg_error_mgr = unsafe { std::mem::zeroed() };
    // SAFETY: `err` is a valid, exclusively borrowed manager.
    unsafe { jpeg_std_error(&mut err) };
    err.error_exit = Some(unwind_on_error);
    err.emit_message = Some(if strict {
        unwind_on_warning
    } else {
        ignore_message
    });
    err
}

extern "C-unwind" fn unwind_on_error(cinfo: &mut jpeg_common_struct) {
    resume_unwind(Box::new(libjpeg_message(cinfo)));
}

extern "C-unwind" fn unwind_on_warning(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        resume_unwind(Box::new(libjpeg_message(cinfo)));
    }
}

extern "C-unwind" fn ignore_message(_cinfo: &mut jpeg_common_struct, _level: c_int) {}

/// The text of libjpeg's current message (`format_message`).
fn libjpeg_message(cinfo: &mut jpeg_common_struct) -> String {
    type Format = unsafe extern "C-unwind" fn(&mut jpeg_common_struct, &mut [u8; 80]);
    let mut buffer = [0u8; 80];
    // SAFETY: `cinfo.err` points at the manager made by `error_mgr`, alive for the decode.
    let format = unsafe { (*cinfo.err).format_message };
    if let Some(format) = format {
        // SAFETY: libjpeg's `format_message` writes a NUL-terminated string of at most
        // JMSG_LENGTH_MAX = 80 bytes into its buffer; the binding merely declares the buffer
        // `&[u8; 80]` where the C side takes `char *`.
        let format: Format = unsafe { std::mem::transmute(format) };
        // SAFETY: see above; `cinfo` is the live decompressor that raised the message.
        unsafe { format(cinfo, &mut buffer) };
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The message carried by a caught unwind.
fn panic_text(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "libjpeg error".to_owned(), |s| (*s).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_matches_opencv_formula() {
        // c = k - ((255 - c)·k >> 8): white ink-free pixel (k = 255) stays white.
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255]), vec![255, 255, 255]);
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0]), vec![0, 0, 0]);
        assert_eq!(cmyk_to_rgb(&[100, 200, 0, 128]), vec![51, 101, 1]);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let e = decode_jpeg(Path::new("x/a.jpg"), &[0xFF, 0xD8, 0xFF, 0x00, 0x01])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x/a.jpg: truncated or corrupt JPEG"), "{e}");
    }
}
