//! Ultralytics run-folder charts: plotters draws the geometry, the crate's rasteriser the text.

mod axes;
mod batch;
mod curves;
mod labels;
mod legend;
mod memory;
mod results;
mod text;

pub use batch::{DEFAULT_MAX_SIDE, batch_grid};
pub use curves::{curve_png, pr_curve_png};
pub use labels::labels_png;
pub use memory::memory_png;
pub use results::{RESULTS_COLUMNS, results_png};

use crate::error::PlotError;
use crate::raster::Canvas;
use crate::{font, save};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;
use text::Labels;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Matplotlib's default colour cycle ("tab10"), which Ultralytics' figures use.
const TAB10: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Font sizes in points: matplotlib's defaults (ticks, axis labels and legends 10, titles 12).
const TICK_PT: f64 = 10.0;
const LABEL_PT: f64 = 10.0;
const TITLE_PT: f64 = 12.0;
const LEGEND_PT: f64 = 10.0;

/// Matplotlib sizes (points) to pixels for a figure saved at `dpi` dots per inch.
#[derive(Clone, Copy)]
struct Scale {
    dpi: f64,
}

impl Scale {
    fn px(self, pt: f64) -> f64 {
        pt * self.dpi / 72.0
    }

    fn ipx(self, pt: f64) -> i32 {
        self.px(pt).round() as i32
    }

    fn stroke(self, pt: f64) -> u32 {
        self.px(pt).round().max(1.0) as u32
    }

    /// Pixel height (ascent to descent) of a `pt`-point font.
    fn text_px(self, pt: f64) -> f64 {
        font::px_for_em(self.px(pt))
    }

    /// Width and height in pixels of `text` set at `pt` points.
    fn text_size(self, text: &str, pt: f64) -> (i32, i32) {
        let (w, h) = font::text_size(text, self.text_px(pt) as f32);
        (w as i32, h as i32)
    }
}

/// Renders a `size` (width, height) pixel picture with `draw` on white and writes it to `path`.
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Area, &mut Labels) -> DrawResult,
) -> Result<(), PlotError> {
    let mut rgb = vec![255u8; size.0 as usize * size.1 as usize * 3];
    let mut labels = Labels::default();
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        let drawn = draw(&root, &mut labels).and_then(|()| Ok(root.present()?));
        drawn.map_err(|e| PlotError::Draw {
            path: path.into(),
            message: e.to_string(),
        })?;
    }
    labels.paint(&mut Canvas::new(&mut rgb, size.0, size.1));
    save::save_rgb(path, &rgb, size.0, size.1)
}

/// `lo..hi` of the finite values, widened by 5 % each side (matplotlib's margins); `None` if none.
fn padded_range(values: impl IntoIterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    Some(lo - pad..hi + pad)
}

/// The `(x, y)` pairs of the longest common prefix, split into runs of finite points.
fn finite_runs(xs: &[f64], ys: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let (mut runs, mut run) = (Vec::new(), Vec::new());
    for (&x, &y) in xs.iter().zip(ys) {
        if x.is_finite() && y.is_finite() {
            run.push((x, y));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_at_nan_and_stop_at_shorter_input() {
        let runs = finite_runs(&[0.0, 1.0, 2.0, 3.0, 4.0], &[1.0, f64::NAN, 3.0, 4.0]);
        assert_eq!(runs, vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]);
        assert!(finite_runs(&[], &[]).is_empty());
    }

    #[test]
    fn ranges_pad_and_handle_constants() {
        let r = padded_range([0.0, 10.0, f64::NAN]).unwrap();
        assert!((r.start + 0.5).abs() < 1e-12 && (r.end - 10.5).abs() < 1e-12);
        let c = padded_range([2.0]).unwrap();
        assert!(c.start < 2.0 && c.end > 2.0);
        assert!(padded_range([f64::NAN]).is_none());
    }
}
