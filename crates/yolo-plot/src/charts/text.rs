//! Text placed while plotters draws and painted afterwards with the crate's own rasteriser.

// Not plotters' own text: its ab_glyph path (0.3.7) drops every glyph's left side bearing,
// which spaces words visibly unevenly ("m AP@0.5"), and would need a global font registry.

use super::Scale;
use crate::font;
use crate::raster::Canvas;

/// A piece of text placed in picture pixels.
struct Label {
    text: String,
    px: f32,
    at: (i32, i32),
    /// Which point of the text's box sits at `at`, as fractions of its width and height.
    align: (f64, f64),
    /// Turned a quarter left, reading upwards.
    upright: bool,
}

/// The text of one picture, in black.
#[derive(Default)]
pub(super) struct Labels(Vec<Label>);

impl Labels {
    /// Queues `text` at `pt` points with its box's `align` point (fractions of width, height) at `at`.
    pub fn add(&mut self, s: Scale, pt: f64, text: &str, at: (i32, i32), align: (f64, f64)) {
        self.push(s, pt, text, at, align, false);
    }

    /// As [`Labels::add`], turned a quarter left (reading upwards); `align` refers to the turned box.
    pub fn add_upright(
        &mut self,
        s: Scale,
        pt: f64,
        text: &str,
        at: (i32, i32),
        align: (f64, f64),
    ) {
        self.push(s, pt, text, at, align, true);
    }

    fn push(
        &mut self,
        s: Scale,
        pt: f64,
        text: &str,
        at: (i32, i32),
        align: (f64, f64),
        upright: bool,
    ) {
        if !text.is_empty() {
            let px = s.text_px(pt) as f32;
            self.0.push(Label {
                text: text.into(),
                px,
                at,
                align,
                upright,
            });
        }
    }

    pub fn paint(&self, canvas: &mut Canvas) {
        for l in &self.0 {
            let (w, h) = font::text_size(&l.text, l.px);
            let (bw, bh) = if l.upright { (h, w) } else { (w, h) };
            let x = i64::from(l.at.0) - (f64::from(bw) * l.align.0).round() as i64;
            let y = i64::from(l.at.1) - (f64::from(bh) * l.align.1).round() as i64;
            if l.upright {
                canvas.text_upright(&l.text, l.px, (x, y), [0, 0, 0]);
            } else {
                canvas.text(&l.text, l.px, (x, y), [0, 0, 0]);
            }
        }
    }
}
