//! Boxes with filled class-coloured labels drawn onto an RGB image, Ultralytics `Annotator` style.

use crate::font;
use crate::palette::{class_color, text_color};
use crate::raster::{Canvas, Rect};

/// One box to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// Corners `x1, y1, x2, y2` in pixels of the image drawn on (either order; NaN or ±inf skips the box).
    pub bbox: [f32; 4],
    /// Text on the label, e.g. `"person 0.91"`; empty draws the box alone.
    pub label: String,
    /// Class id, picks the colour: [`class_color`]`(class)`.
    pub class: usize,
}

/// Ultralytics' default box line width in pixels for a `width`×`height` image:
/// `max(round((h + w) / 2 · 0.003), 2)`, rounding half to even as Python does.
pub fn line_width(width: u32, height: u32) -> u32 {
    let lw = ((f64::from(width) + f64::from(height)) / 2.0 * 0.003).round_ties_even();
    (lw as u32).max(2)
}

/// Ultralytics' label font size in pixels per em: `max(round((h + w) / 2 · 0.035), 12)`.
fn label_em_px(width: u32, height: u32) -> f64 {
    ((f64::from(width) + f64::from(height)) / 2.0 * 0.035)
        .round_ties_even()
        .max(12.0)
}

/// Draws `boxes` onto `rgb` (RGB, HWC, `width`×`height`, row-major u8).
///
/// Each box gets a [`line_width`] outline inside its corners and, if it has a label, a filled label
/// in the class colour above it (inside its top edge when there is no room above) with black or
/// white text ([`text_color`]). Everything is clipped to the image; boxes with NaN or infinite
/// corners, or wholly outside the image, are skipped; a buffer shorter than
/// `width · height · 3` is drawn as far as it goes. Never panics.
pub fn draw_detections(rgb: &mut [u8], width: u32, height: u32, boxes: &[Annotation]) {
    let mut canvas = Canvas::new(rgb, width, height);
    draw_boxes(
        &mut canvas,
        boxes,
        line_width(width, height),
        label_em_px(width, height),
    );
}

/// Draws `boxes` with a `lw`-pixel outline and labels set at `em_px` pixels per em.
pub(crate) fn draw_boxes(canvas: &mut Canvas, boxes: &[Annotation], lw: u32, em_px: f64) {
    let text_px = font::px_for_em(em_px) as f32;
    for b in boxes {
        let Some(r) = pixel_rect(b.bbox) else {
            continue;
        };
        if r.intersect(canvas.clip()).is_empty() {
            continue;
        }
        let color = class_color(b.class);
        canvas.stroke(r, i64::from(lw), color);
        if !b.label.is_empty() {
            draw_label(canvas, r, &b.label, text_px, color);
        }
    }
}

/// Integer pixel rectangle of `x1 y1 x2 y2`, or `None` when a corner is not finite.
fn pixel_rect(b: [f32; 4]) -> Option<Rect> {
    if !b.iter().all(|v| v.is_finite()) {
        return None;
    }
    // Far enough outside any image, near enough for i64 arithmetic.
    let px = |v: f32| v.clamp(-1e9, 1e9).round() as i64;
    let (x0, x1) = (px(b[0].min(b[2])), px(b[0].max(b[2])));
    let (y0, y1) = (px(b[1].min(b[3])), px(b[1].max(b[3])));
    Some(Rect {
        x0,
        y0,
        x1: x1.max(x0 + 1),
        y1: y1.max(y0 + 1),
    })
}

/// Label of `text` at the top-left corner of `r` (clipped), above it if it fits, else inside.
fn draw_label(canvas: &mut Canvas, r: Rect, text: &str, text_px: f32, color: [u8; 3]) {
    let clip = canvas.clip();
    let (tw, th) = font::text_size(text, text_px);
    let pad = (f64::from(text_px) * 0.12).round() as i64;
    let (w, h) = (i64::from(tw) + 2 * pad, i64::from(th));
    let x = r.x0.max(clip.x0).min(clip.x1 - w).max(clip.x0);
    let top = r.y0.max(clip.y0);
    let y = if top - h >= clip.y0 { top - h } else { top };
    canvas.fill(
        Rect {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + h,
        },
        color,
    );
    canvas.text(text, text_px, (x + pad, y), text_color(color));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_width_follows_ultralytics() {
        assert_eq!(line_width(640, 640), 2);
        assert_eq!(line_width(1920, 1080), 4);
        assert_eq!(line_width(10, 10), 2);
    }

    #[test]
    fn label_goes_inside_when_no_room_above() {
        let (w, h) = (200u32, 100u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let b = Annotation {
            bbox: [10.0, 2.0, 150.0, 90.0],
            label: "cat 0.50".into(),
            class: 4,
        };
        draw_detections(&mut rgb, w, h, &[b]);
        // Inside the box just below its top edge, left part: label fill or text.
        let i = ((12 * w + 13) * 3) as usize;
        assert_ne!(&rgb[i..i + 3], &[0, 0, 0]);
    }
}
