//! Pixel drawing on an RGB (HWC, u8) buffer, clipped to a rectangle: fills, outlines, text.

use crate::font;

/// Half-open pixel rectangle `[x0, x1) × [y0, y1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x0: i64,
    pub y0: i64,
    pub x1: i64,
    pub y1: i64,
}

impl Rect {
    pub fn intersect(self, o: Rect) -> Rect {
        Rect {
            x0: self.x0.max(o.x0),
            y0: self.y0.max(o.y0),
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
        }
    }

    pub fn is_empty(self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }
}

/// A mutable RGB image that never writes outside `clip` (nor outside the buffer).
pub(crate) struct Canvas<'a> {
    rgb: &'a mut [u8],
    width: usize,
    /// The whole image, as far as the buffer holds it.
    bounds: Rect,
    clip: Rect,
}

impl<'a> Canvas<'a> {
    /// Wraps `rgb`; rows past what the buffer holds are treated as absent, never indexed.
    pub fn new(rgb: &'a mut [u8], width: u32, height: u32) -> Self {
        let width = width as usize;
        let rows = if width == 0 {
            0
        } else {
            (rgb.len() / (3 * width)).min(height as usize)
        };
        let bounds = Rect {
            x0: 0,
            y0: 0,
            x1: width as i64,
            y1: rows as i64,
        };
        Canvas {
            rgb,
            width,
            bounds,
            clip: bounds,
        }
    }

    /// The drawable rectangle.
    pub fn clip(&self) -> Rect {
        self.clip
    }

    /// Restricts drawing to `r` (within the image).
    pub fn set_clip(&mut self, r: Rect) {
        self.clip = self.bounds.intersect(r);
    }

    /// Fills `r` with `color`.
    pub fn fill(&mut self, r: Rect, color: [u8; 3]) {
        let r = r.intersect(self.clip);
        if r.is_empty() {
            return;
        }
        for y in r.y0..r.y1 {
            let row = (y as usize * self.width + r.x0 as usize) * 3;
            for px in self.rgb[row..row + (r.x1 - r.x0) as usize * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&color);
            }
        }
    }

    /// Outlines `r` with a `lw`-pixel stroke drawn inside it (as PIL does).
    pub fn stroke(&mut self, r: Rect, lw: i64, color: [u8; 3]) {
        let lw = lw.max(1);
        self.fill(Rect { y1: r.y0 + lw, ..r }, color);
        self.fill(Rect { y0: r.y1 - lw, ..r }, color);
        self.fill(Rect { x1: r.x0 + lw, ..r }, color);
        self.fill(Rect { x0: r.x1 - lw, ..r }, color);
    }

    /// Blends `color` over pixel (`x`, `y`) with opacity `alpha` in 0–1.
    fn blend(&mut self, x: i64, y: i64, color: [u8; 3], alpha: f32) {
        let c = self.clip;
        if x < c.x0 || x >= c.x1 || y < c.y0 || y >= c.y1 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        let a = alpha.clamp(0.0, 1.0);
        for (dst, src) in self.rgb[i..i + 3].iter_mut().zip(color) {
            *dst = (f32::from(*dst) * (1.0 - a) + f32::from(src) * a).round() as u8;
        }
    }

    /// Draws `text` `px` pixels tall with its top-left corner at (`x`, `y`).
    pub fn text(&mut self, text: &str, px: f32, (x, y): (i64, i64), color: [u8; 3]) {
        font::rasterize(text, px, (x as f32, y as f32), |gx, gy, cov| {
            self.blend(gx, gy, color, cov)
        });
    }

    /// Draws `text` turned a quarter left (reading upwards), its turned box's top-left at (`x`, `y`).
    pub fn text_upright(&mut self, text: &str, px: f32, (x, y): (i64, i64), color: [u8; 3]) {
        let last = i64::from(font::text_size(text, px).0) - 1;
        font::rasterize(text, px, (0.0, 0.0), |u, v, cov| {
            self.blend(x + v, y + last - u, color, cov)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_are_clipped_to_buffer_and_clip() {
        let mut buf = vec![0u8; 4 * 3 * 3]; // 4×3 image
        let mut c = Canvas::new(&mut buf, 4, 3);
        c.set_clip(Rect {
            x0: 1,
            y0: 0,
            x1: 100,
            y1: 100,
        });
        c.fill(
            Rect {
                x0: -10,
                y0: -10,
                x1: 10,
                y1: 10,
            },
            [9, 9, 9],
        );
        for (i, px) in buf.chunks_exact(3).enumerate() {
            let want = if i % 4 == 0 { 0 } else { 9 }; // column 0 is outside the clip
            assert!(px.iter().all(|&v| v == want), "pixel {i}: {px:?}");
        }
    }

    #[test]
    fn short_buffer_limits_rows() {
        let mut buf = vec![0u8; 2 * 3 * 3 + 1]; // room for 3 rows of width 2, claimed 10
        let mut c = Canvas::new(&mut buf, 2, 10);
        assert_eq!(c.clip().y1, 3);
        c.fill(
            Rect {
                x0: 0,
                y0: 0,
                x1: 2,
                y1: 10,
            },
            [1, 1, 1],
        );
        assert_eq!(buf[18], 0);
    }
}
