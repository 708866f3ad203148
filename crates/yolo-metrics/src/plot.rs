//! Precision-recall curve PNG in the style of Ultralytics' `PR_curve.png` (per-class thin grey curves,
//! class mean thick blue, legend `all classes 0.xxx mAP@0.5`), rendered without any font system.

use std::path::Path;

use font8x8::UnicodeFonts;

use crate::ap::ApResult;
use crate::numpy_compat::mean;

/// Errors writing a plot.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The file could not be created or written.
    #[error("cannot write plot {path}: {source}")]
    Io {
        /// Target path.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

type Rgb = [u8; 3];
const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [128, 128, 128];
const LIGHT: Rgb = [225, 225, 225];
const BLUE: Rgb = [0, 0, 255];

/// A simple RGB raster with alpha-blended drawing primitives.
struct Canvas {
    w: i32,
    h: i32,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Self {
        Self {
            w: w as i32,
            h: h as i32,
            px: vec![255; (w * h * 3) as usize],
        }
    }

    fn blend(&mut self, x: i32, y: i32, c: Rgb, alpha: f32) {
        if x < 0 || y < 0 || x >= self.w || y >= self.h {
            return;
        }
        let i = ((y * self.w + x) * 3) as usize;
        for (dst, &src) in self.px[i..i + 3].iter_mut().zip(&c) {
            let old = *dst as f32;
            *dst = (old + (src as f32 - old) * alpha).round() as u8;
        }
    }

    fn rect(&mut self, x0: i32, y0: i32, x1: i32, y1: i32, c: Rgb) {
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.blend(x, y, c, 1.0);
            }
        }
    }

    /// Anti-aliased thick polyline (distance-to-segment coverage), `width` in pixels.
    fn polyline(&mut self, pts: &[(f32, f32)], width: f32, c: Rgb, alpha: f32) {
        let r = width / 2.0;
        let mut cover = vec![0f32; (self.w * self.h) as usize];
        for seg in pts.windows(2) {
            let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
            let x0 = (ax.min(bx) - r - 1.0).floor().max(0.0) as i32;
            let x1 = (ax.max(bx) + r + 1.0).ceil().min((self.w - 1) as f32) as i32;
            let y0 = (ay.min(by) - r - 1.0).floor().max(0.0) as i32;
            let y1 = (ay.max(by) + r + 1.0).ceil().min((self.h - 1) as f32) as i32;
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                    let t = if len2 > 0.0 {
                        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let (qx, qy) = (ax + t * dx - px, ay + t * dy - py);
                    let d = (qx * qx + qy * qy).sqrt();
                    let cov = (r + 0.5 - d).clamp(0.0, 1.0);
                    let slot = &mut cover[(y * self.w + x) as usize];
                    if cov > *slot {
                        *slot = cov;
                    }
                }
            }
        }
        for y in 0..self.h {
            for x in 0..self.w {
                let cov = cover[(y * self.w + x) as usize];
                if cov > 0.0 {
                    self.blend(x, y, c, cov * alpha);
                }
            }
        }
    }

    /// 8×8 bitmap text scaled by `s`; `vertical` rotates 90° counter-clockwise (reads bottom to top).
    /// `(x, y)` is the top-left corner of the (rotated) text box.
    fn text(&mut self, x: i32, y: i32, s: i32, msg: &str, c: Rgb, vertical: bool) {
        let n = msg.chars().count() as i32;
        for (i, ch) in msg.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) == 0 {
                        continue;
                    }
                    let (gx, gy) = (i as i32 * 8 + col, row as i32);
                    let (ox, oy) = if vertical {
                        (gy, n * 8 - 1 - gx)
                    } else {
                        (gx, gy)
                    };
                    self.rect(
                        x + ox * s,
                        y + oy * s,
                        x + ox * s + s - 1,
                        y + oy * s + s - 1,
                        c,
                    );
                }
            }
        }
    }

    fn text_width(msg: &str, s: i32) -> i32 {
        msg.chars().count() as i32 * 8 * s
    }
}

/// Renders the PR curve of `ap` (`pr_curves` on the recall grid `px`) as an RGB8 image of `width × height`
/// pixels (row-major, 3 bytes per pixel). Classes are drawn thin grey, their mean (`py.mean(1)`, over the
/// classes that have predictions, as Ultralytics) thick blue, with the legend
/// `all classes {mean AP50:.3f} mAP@0.5` (mean over all evaluated classes).
pub fn render_pr_curve(ap: &ApResult, width: u32, height: u32) -> Vec<u8> {
    let mut cv = Canvas::new(width.max(200), height.max(150));
    let (w, h) = (cv.w, cv.h);
    let s = (h / 450).max(1); // text scale: 8·s pixel glyphs
    let g = 8 * s;
    // margins: tick labels + rotated axis label on the left, legend outside on the right (as Ultralytics)
    let (left, right, top, bottom) = (7 * g, 30 * g, 3 * g, 4 * g);
    let (x0, y0, x1, y1) = (left, top, (w - right).max(left + 10), h - bottom);
    let to_px = |r: f64, p: f64| -> (f32, f32) {
        (
            (x0 as f64 + r * (x1 - x0) as f64) as f32,
            (y1 as f64 - p * (y1 - y0) as f64) as f32,
        )
    };

    // grid, ticks and tick labels
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let (gx, _) = to_px(v, 0.0);
        let (_, gy) = to_px(0.0, v);
        cv.rect(gx as i32, y0, gx as i32, y1, LIGHT);
        cv.rect(x0, gy as i32, x1, gy as i32, LIGHT);
        let label = format!("{v:.1}");
        cv.rect(gx as i32, y1, gx as i32, y1 + 2 * s, BLACK);
        cv.text(
            gx as i32 - Canvas::text_width(&label, s) / 2,
            y1 + 3 * s,
            s,
            &label,
            BLACK,
            false,
        );
        cv.rect(x0 - 2 * s, gy as i32, x0, gy as i32, BLACK);
        cv.text(
            x0 - 3 * s - Canvas::text_width(&label, s),
            gy as i32 - 4 * s,
            s,
            &label,
            BLACK,
            false,
        );
    }

    // per-class curves, then the mean
    let px = &ap.px;
    for row in &ap.pr_curves {
        let pts: Vec<(f32, f32)> = px.iter().zip(row).map(|(&r, &p)| to_px(r, p)).collect();
        cv.polyline(&pts, 1.0, GREY, 0.9);
    }
    let n_pts = px.len();
    let mean_curve: Vec<f64> = (0..n_pts)
        .map(|k| mean(&ap.pr_curves.iter().map(|row| row[k]).collect::<Vec<_>>()))
        .collect();
    let pts: Vec<(f32, f32)> = px
        .iter()
        .zip(&mean_curve)
        .map(|(&r, &p)| to_px(r, p))
        .collect();
    cv.polyline(&pts, 3.0 * s as f32, BLUE, 1.0);

    // axes frame
    cv.rect(x0, y0, x1, y0, BLACK);
    cv.rect(x0, y1, x1, y1, BLACK);
    cv.rect(x0, y0, x0, y1, BLACK);
    cv.rect(x1, y0, x1, y1, BLACK);

    // labels, title, legend
    let title = "Precision-Recall Curve";
    cv.text(
        (x0 + x1) / 2 - Canvas::text_width(title, s) / 2,
        y0 - 2 * g,
        s,
        title,
        BLACK,
        false,
    );
    let xl = "Recall";
    cv.text(
        (x0 + x1) / 2 - Canvas::text_width(xl, s) / 2,
        y1 + 2 * g + g / 2,
        s,
        xl,
        BLACK,
        false,
    );
    let yl = "Precision";
    cv.text(
        x0 - 6 * g,
        (y0 + y1) / 2 - Canvas::text_width(yl, s) / 2,
        s,
        yl,
        BLACK,
        true,
    );
    let lx = x1 + g;
    let ly = y0;
    let legend = format!("all classes {:.3} mAP@0.5", ap.map50());
    let lw = Canvas::text_width(&legend, s) + 30 * s;
    cv.rect(lx, ly, (lx + lw).min(w - 1), ly + 16 * s, [245, 245, 245]);
    cv.polyline(
        &[
            ((lx + 3 * s) as f32, (ly + 8 * s) as f32),
            ((lx + 23 * s) as f32, (ly + 8 * s) as f32),
        ],
        3.0 * s as f32,
        BLUE,
        1.0,
    );
    cv.text(lx + 27 * s, ly + 4 * s, s, &legend, BLACK, false);
    cv.px
}

/// Writes [`render_pr_curve`] to `path` as an 8-bit RGB PNG of `width × height` pixels
/// (Ultralytics draws 9×6 in at 250 dpi = 2250×1500; 1350×900 is a good default).
pub fn save_pr_curve(
    ap: &ApResult,
    path: impl AsRef<Path>,
    width: u32,
    height: u32,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let io_err = |source| PlotError::Io {
        path: path.display().to_string(),
        source,
    };
    let rgb = render_pr_curve(ap, width, height);
    let (w, h) = (width.max(200), height.max(150));
    let file = std::fs::File::create(path).map_err(io_err)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ap::ap_per_class;

    #[test]
    fn renders_and_writes_png() {
        let tp: Vec<[bool; 10]> = (0..20).map(|i| [i % 3 != 0; 10]).collect();
        let conf: Vec<f32> = (0..20).map(|i| 1.0 - i as f32 * 0.04).collect();
        let pc: Vec<usize> = (0..20).map(|i| i % 2).collect();
        let r = ap_per_class(
            &tp,
            &conf,
            &pc,
            &[0; 8].iter().chain(&[1; 8]).copied().collect::<Vec<_>>(),
            2,
        );
        let img = render_pr_curve(&r, 600, 400);
        assert_eq!(img.len(), 600 * 400 * 3);
        // some blue pixels (mean curve) exist
        assert!(img.chunks(3).any(|p| p[2] > 200 && p[0] < 60 && p[1] < 60));
        let path = std::env::temp_dir().join(format!("yolo_metrics_pr_{}.png", std::process::id()));
        save_pr_curve(&r, &path, 600, 400).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::remove_file(&path).ok();
    }
}
