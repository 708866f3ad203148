//! The embedded DejaVu Sans face: measuring and rasterising text.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`).
const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn face() -> &'static FontRef<'static> {
    static FACE: OnceLock<FontRef<'static>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("embedded DejaVu Sans parses"))
}

/// Text height in pixels (ascent minus descent, the [`PxScale`] ab_glyph takes) for a font of
/// `em_px` pixels per em, the size PIL and matplotlib are given (DejaVu Sans: × 1.164).
pub(crate) fn px_for_em(em_px: f64) -> f64 {
    let f = face();
    em_px * f64::from(f.height_unscaled() / f.units_per_em().unwrap_or(f.height_unscaled()))
}

/// Width and height in pixels of `text` set at `px` pixels (ascent to descent).
pub(crate) fn text_size(text: &str, px: f32) -> (u32, u32) {
    let font = face().as_scaled(PxScale::from(px));
    let mut width = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        prev = Some(id);
    }
    (
        width.ceil() as u32,
        (font.ascent() - font.descent()).ceil() as u32,
    )
}

/// Rasterises `text` with its top-left corner at (`x`, `y`) pixels, calling
/// `plot(px, py, coverage)` with coverage in 0–1 for every touched pixel.
pub(crate) fn rasterize(
    text: &str,
    px: f32,
    (x, y): (f32, f32),
    mut plot: impl FnMut(i64, i64, f32),
) {
    let font = face().as_scaled(PxScale::from(px));
    let baseline = y + font.ascent();
    let mut caret = x;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            caret += font.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, point(caret, baseline));
        if let Some(outline) = face().outline_glyph(glyph) {
            let min = outline.px_bounds().min;
            outline.draw(|gx, gy, cov| {
                plot(
                    min.x as i64 + i64::from(gx),
                    min.y as i64 + i64::from(gy),
                    cov,
                )
            });
        }
        caret += font.h_advance(id);
        prev = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn em_to_height_uses_dejavu_metrics() {
        assert!(
            (px_for_em(100.0) - 116.4).abs() < 0.1,
            "{}",
            px_for_em(100.0)
        );
    }

    #[test]
    fn measures_and_draws_inside_its_box() {
        let (w, h) = text_size("person 0.91", 20.0);
        assert!(w > 60 && w < 140 && h == 20, "{w}x{h}");
        let mut max = (0, 0);
        rasterize("person 0.91", 20.0, (0.0, 0.0), |x, y, _| {
            max = (max.0.max(x), max.1.max(y))
        });
        assert!(
            max.0 < i64::from(w) + 1 && max.1 < i64::from(h) + 1,
            "{max:?}"
        );
    }
}
