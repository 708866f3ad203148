//! Ultralytics 8.3 `LetterBox` (resize + pad to a target shape) and mapping boxes back.

use crate::image::{Image, resize_bilinear, resize_long_side};

/// Ultralytics `LetterBox`: scale an image to fit `new_shape` keeping its aspect ratio, then
/// pad with `pad_value`. Field names follow Ultralytics (`scaleFill` is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LetterBox {
    /// Target `(height, width)` in px.
    pub new_shape: (u32, u32),
    /// Pad only up to the next multiple of `stride` (minimal rectangle), not to `new_shape`.
    pub auto: bool,
    /// Allow enlarging (`r > 1`); off for validation.
    pub scaleup: bool,
    /// Split the padding between both sides (else all padding goes right / bottom).
    pub center: bool,
    /// Stride for `auto` padding, px.
    pub stride: u32,
    /// Value of every channel of padded pixels.
    pub pad_value: u8,
}

/// How a letterboxed image maps to its source: `letterboxed = source · gain + pad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxInfo {
    /// Scale factor `r` (letterboxed px per source px).
    pub gain: f32,
    /// `(left, top)` padding in px (integers, stored as f32).
    pub pad: (f32, f32),
}

/// Where the image lands inside the letterboxed canvas, all in px.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxGeometry {
    /// Scale factor `r`.
    pub ratio: f64,
    /// Size of the resized image before padding, `(width, height)`.
    pub unpadded: (u32, u32),
    /// Padding above.
    pub top: u32,
    /// Padding below.
    pub bottom: u32,
    /// Padding on the left.
    pub left: u32,
    /// Padding on the right.
    pub right: u32,
}

impl LetterboxGeometry {
    /// Output size `(width, height)` in px.
    pub fn output_size(&self) -> (u32, u32) {
        (
            self.unpadded.0 + self.left + self.right,
            self.unpadded.1 + self.top + self.bottom,
        )
    }
}

impl LetterBox {
    /// Ultralytics defaults: `auto=False, scaleup=True, center=True, stride=32`, pad 114.
    pub fn new(new_shape: (u32, u32)) -> LetterBox {
        LetterBox {
            new_shape,
            auto: false,
            scaleup: true,
            center: true,
            stride: 32,
            pad_value: 114,
        }
    }

    /// Validation letterbox (`auto=False, scaleup=False, center=True`) to `new_shape` (h, w):
    /// `(imgsz, imgsz)` or a rect batch shape.
    pub fn val(new_shape: (u32, u32)) -> LetterBox {
        LetterBox {
            scaleup: false,
            ..LetterBox::new(new_shape)
        }
    }

    /// Predict letterbox for a dynamic-shape model: `auto=True, stride=32` (minimal rectangle).
    pub fn predict(imgsz: u32) -> LetterBox {
        LetterBox {
            auto: true,
            ..LetterBox::new((imgsz, imgsz))
        }
    }

    /// The geometry for a `(width, height)` px source, with Python's rounding (half to even).
    pub fn geometry(&self, (w, h): (u32, u32)) -> LetterboxGeometry {
        let (new_h, new_w) = (f64::from(self.new_shape.0), f64::from(self.new_shape.1));
        let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
        let mut r = (new_h / h).min(new_w / w);
        if !self.scaleup {
            r = r.min(1.0);
        }
        let unpadded = (
            (w * r).round_ties_even() as u32,
            (h * r).round_ties_even() as u32,
        );
        let mut dw = i64::from(self.new_shape.1) - i64::from(unpadded.0);
        let mut dh = i64::from(self.new_shape.0) - i64::from(unpadded.1);
        if self.auto {
            let stride = i64::from(self.stride.max(1));
            (dw, dh) = (dw.rem_euclid(stride), dh.rem_euclid(stride));
        }
        let (left, right) = self.split_pad(dw);
        let (top, bottom) = self.split_pad(dh);
        LetterboxGeometry {
            ratio: r,
            unpadded,
            top,
            bottom,
            left,
            right,
        }
    }

    /// Ultralytics: `round(d/2 - 0.1)` before, `round(d/2 + 0.1)` after when centred.
    fn split_pad(&self, d: i64) -> (u32, u32) {
        let d = d.max(0) as f64;
        if self.center {
            let half = d / 2.0;
            (
                (half - 0.1).round_ties_even() as u32,
                (half + 0.1).round_ties_even() as u32,
            )
        } else {
            (0, (d + 0.1).round_ties_even() as u32)
        }
    }

    /// Letterboxes `img`: cv2 `INTER_LINEAR` resize (only if the size changes), then padding.
    pub fn apply(&self, img: &Image) -> (Image, LetterboxInfo) {
        let g = self.geometry((img.width, img.height));
        let resized;
        let src = if g.unpadded == (img.width, img.height) {
            img
        } else {
            resized = resize_bilinear(img, g.unpadded.0, g.unpadded.1);
            &resized
        };
        let info = LetterboxInfo {
            gain: g.ratio as f32,
            pad: (g.left as f32, g.top as f32),
        };
        (pad(src, &g, self.pad_value), info)
    }
}

/// `cv2.copyMakeBorder(..., BORDER_CONSTANT, value)`.
fn pad(img: &Image, g: &LetterboxGeometry, value: u8) -> Image {
    let (out_w, out_h) = g.output_size();
    let mut out = Image::filled(out_w, out_h, value);
    let (src_row, dst_row) = (img.width as usize * 3, out_w as usize * 3);
    for y in 0..img.height as usize {
        let at = (y + g.top as usize) * dst_row + g.left as usize * 3;
        out.data[at..at + src_row].copy_from_slice(&img.data[y * src_row..(y + 1) * src_row]);
    }
    out
}

/// Ultralytics predict letterbox (`LetterBox(auto=True, stride=32)`) at `imgsz`.
pub fn predict_letterbox(imgsz: u32) -> LetterBox {
    LetterBox::predict(imgsz)
}

/// Ultralytics square val letterbox (`auto=False, scaleup=False, center=True`) at `imgsz`.
pub fn val_letterbox(imgsz: u32) -> LetterBox {
    LetterBox::val((imgsz, imgsz))
}

/// Ultralytics dataset path for an original image: long side resized to `imgsz`
/// (`load_image`), then `letterbox`. The returned info maps back to the *original* image
/// with Ultralytics' own gain `resized_h / h0 · r` (its val `ratio_pad` uses the height ratio
/// for both axes). Because `resized_h` is a ceil, x maps back up to `w0 / resized_h` px off
/// (≈1.5 px at the right edge of a 640×425 image at 320); y is exact. Validation metrics are
/// unaffected (GT and predictions get the same map, and IoU ignores axis scaling).
pub fn letterbox_resized(
    original: &Image,
    imgsz: u32,
    letterbox: &LetterBox,
) -> (Image, LetterboxInfo) {
    let resized = resize_long_side(original, imgsz);
    let (out, info) = letterbox.apply(&resized);
    let load_gain = f64::from(resized.height) / f64::from(original.height.max(1));
    (
        out,
        LetterboxInfo {
            gain: (load_gain * f64::from(info.gain)) as f32,
            ..info
        },
    )
}

/// Maps xyxy boxes (px in the letterboxed image) back to the source image in place, as
/// Ultralytics `scale_boxes`: subtract the pad, divide by the gain, clip to `original`
/// `(width, height)` px.
pub fn scale_boxes_to_original(boxes: &mut [[f32; 4]], info: &LetterboxInfo, original: (u32, u32)) {
    let (w, h) = (original.0 as f32, original.1 as f32);
    let gain = if info.gain > 0.0 { info.gain } else { 1.0 };
    for b in boxes {
        let (px, py) = info.pad;
        *b = [
            ((b[0] - px) / gain).clamp(0.0, w),
            ((b[1] - py) / gain).clamp(0.0, h),
            ((b[2] - px) / gain).clamp(0.0, w),
            ((b[3] - py) / gain).clamp(0.0, h),
        ];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn val_letterbox_pads_centred() {
        // 320x213 (w x h) into 320x320: dh = 107 -> 53.5 -> top 53, bottom 54.
        let g = val_letterbox(320).geometry((320, 213));
        assert_eq!(
            (g.unpadded, g.top, g.bottom, g.left, g.right),
            ((320, 213), 53, 54, 0, 0)
        );
        // 241x320: dw = 79 -> left 39, right 40.
        let g = val_letterbox(320).geometry((241, 320));
        assert_eq!((g.left, g.right, g.top, g.bottom), (39, 40, 0, 0));
        assert_eq!(g.output_size(), (320, 320));
    }

    #[test]
    fn predict_letterbox_pads_to_stride() {
        // 640x480 at 640: no resize, no padding (480 is a multiple of 32).
        let g = predict_letterbox(640).geometry((640, 480));
        assert_eq!(g.output_size(), (640, 480));
        // 640x425: dh = 215 mod 32 = 23 -> 11.5 -> top 11, bottom 12 -> 448.
        let g = predict_letterbox(640).geometry((640, 425));
        assert_eq!((g.top, g.bottom, g.output_size()), (11, 12, (640, 448)));
        // 1280x960 at 640: r = 0.5 -> 640x480.
        let g = predict_letterbox(640).geometry((1280, 960));
        assert_eq!((g.ratio, g.output_size()), (0.5, (640, 480)));
    }

    #[test]
    fn rounding_is_half_to_even() {
        // 5x3 into 2x2: r = min(2/3, 2/5) = 0.4; w·r = 2.0, h·r = 1.2 -> 1.
        let g = LetterBox::new((2, 2)).geometry((5, 3));
        assert_eq!(g.unpadded, (2, 1));
        // dh = 1 -> 0.5 -> top round(0.4) = 0, bottom round(0.6) = 1.
        assert_eq!((g.top, g.bottom), (0, 1));
        // 2x1 into 5x5: r = 2.5, h·r = 2.5 -> 2 (Python round, half to even).
        let g = LetterBox::new((5, 5)).geometry((2, 1));
        assert_eq!(g.unpadded, (5, 2));
    }

    #[test]
    fn no_scaleup_keeps_small_images() {
        let g = val_letterbox(640).geometry((320, 240));
        assert_eq!((g.ratio, g.unpadded), (1.0, (320, 240)));
        let g = LetterBox::new((640, 640)).geometry((320, 240));
        assert_eq!(g.unpadded, (640, 480));
    }

    #[test]
    fn apply_pads_with_114_and_maps_back() {
        let img = Image::filled(20, 10, 7);
        let (out, info) = val_letterbox(32).apply(&img);
        assert_eq!((out.width, out.height), (32, 32));
        assert_eq!(info.pad, (6.0, 11.0));
        assert_eq!(out.data[0], 114);
        assert_eq!(out.data[(11 * 32 + 6) * 3], 7);
        let mut boxes = [[6.0, 11.0, 26.0, 21.0], [0.0, 0.0, 40.0, 40.0]];
        scale_boxes_to_original(&mut boxes, &info, (20, 10));
        assert_eq!(boxes, [[0.0, 0.0, 20.0, 10.0], [0.0, 0.0, 20.0, 10.0]]);
    }

    #[test]
    fn letterbox_resized_gain_uses_height_ratio() {
        let img = Image::filled(640, 425, 1);
        let (out, info) = letterbox_resized(&img, 320, &val_letterbox(320));
        assert_eq!((out.width, out.height), (320, 320));
        assert_eq!(info.pad, (0.0, 53.0));
        assert!((info.gain - 213.0 / 425.0).abs() < 1e-7);
    }
}
