//! Ultralytics run-folder charts: plotters draws the geometry into an RGB buffer, the crate's
//! own rasteriser sets the text, then the picture is written atomically.
//!
//! Text does not go through plotters: its ab_glyph path (0.3.7) drops every glyph's side
//! bearing, which spaces words visibly unevenly ("m AP@0.5").

mod batch;
mod curves;
mod labels;
mod memory;
mod results;

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

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
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

/// A piece of text placed in picture pixels, painted after plotters is done.
struct Label {
    text: String,
    px: f32,
    at: (i32, i32),
    /// Which point of the text's box sits at `at`, as fractions of its width and height.
    align: (f64, f64),
    /// Turned a quarter left, reading upwards.
    upright: bool,
}

/// The text of one picture.
#[derive(Default)]
struct Labels(Vec<Label>);

impl Labels {
    fn add(&mut self, s: Scale, pt: f64, text: &str, at: (i32, i32), align: (f64, f64), upright: bool) {
        if !text.is_empty() {
            self.0.push(Label { text: text.into(), px: s.text_px(pt) as f32, at, align, upright });
        }
    }

    fn paint(&self, canvas: &mut Canvas) {
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

/// Renders a `size` (width, height) pixel picture with `draw` on white and writes it to `path`.
fn render(path: &Path, size: (u32, u32), draw: impl FnOnce(&Area, &mut Labels) -> DrawResult) -> Result<(), PlotError> {
    let mut rgb = vec![255u8; size.0 as usize * size.1 as usize * 3];
    let mut labels = Labels::default();
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        let drawn = draw(&root, &mut labels).and_then(|()| Ok(root.present()?));
        drawn.map_err(|e| PlotError::Draw { path: path.into(), message: e.to_string() })?;
    }
    labels.paint(&mut Canvas::new(&mut rgb, size.0, size.1));
    save::save_rgb(path, &rgb, size.0, size.1)
}

/// Tick positions along one axis and their texts.
struct Ticks {
    at: Vec<f64>,
    text: Vec<String>,
    pt: f64,
    upright: bool,
}

impl Ticks {
    /// Matplotlib-like ticks: about six, steps of 1, 2, 2.5 or 5 × 10ⁿ, equal decimals.
    fn auto(r: &Range<f64>) -> Ticks {
        let span = r.end - r.start;
        if !(span > 0.0 && span.is_finite()) {
            return Ticks::none();
        }
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|st| *st >= raw * (1.0 - 1e-9)).unwrap_or(span);
        let first = (r.start / step - 1e-9).ceil() as i64;
        let last = (r.end / step + 1e-9).floor() as i64;
        let quarter = (step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9;
        let decimals = (-step.log10().floor() + f64::from(u8::from(quarter))).clamp(0.0, 9.0) as usize;
        let at: Vec<f64> = (first..=last).map(|k| k as f64 * step + 0.0).collect();
        let text = at.iter().map(|v| format!("{:.decimals$}", v + 0.0)).collect();
        Ticks { at, text, pt: TICK_PT, upright: false }
    }

    fn none() -> Ticks {
        Ticks { at: Vec::new(), text: Vec::new(), pt: TICK_PT, upright: false }
    }

    /// Largest (width, height) of the tick texts as laid out (turned when upright).
    fn extent(&self, s: Scale) -> (i32, i32) {
        let (w, h) = self.text.iter().map(|t| s.text_size(t, self.pt)).fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)));
        if self.upright { (h, w) } else { (w, h) }
    }
}

/// What an x–y panel shows around its data.
struct Axes<'t> {
    x: Range<f64>,
    y: Range<f64>,
    xticks: Ticks,
    yticks: Ticks,
    title: &'t str,
    xlabel: &'t str,
    ylabel: &'t str,
    /// Draw the four spines (matplotlib's default box); `false` hides them, as `labels.jpg` does.
    spines: bool,
}

impl<'t> Axes<'t> {
    /// Axes over `x` and `y` with automatic ticks, spines, and no title or axis labels.
    fn new(x: Range<f64>, y: Range<f64>) -> Self {
        let (xticks, yticks) = (Ticks::auto(&x), Ticks::auto(&y));
        Axes { x, y, xticks, yticks, title: "", xlabel: "", ylabel: "", spines: true }
    }
}

/// Pixel margins around the plotting area: left, right, top, bottom.
fn gutters(s: Scale, ax: &Axes) -> (i32, i32, i32, i32) {
    let edge = s.ipx(6.0);
    let tick = |t: &Ticks| if t.at.is_empty() { 0 } else { s.ipx(3.5 + 3.5) };
    let label = |text: &str| if text.is_empty() { 0 } else { s.text_px(LABEL_PT) as i32 + s.ipx(4.0) };
    let (xw, xh) = ax.xticks.extent(s);
    let (yw, yh) = ax.yticks.extent(s);
    let title = if ax.title.is_empty() { yh / 2 } else { s.text_px(TITLE_PT) as i32 + s.ipx(6.0) };
    let left = edge + label(ax.ylabel) + yw + tick(&ax.yticks);
    let bottom = edge + label(ax.xlabel) + xh + tick(&ax.xticks);
    let right = edge + if ax.xticks.upright { 0 } else { xw / 2 };
    (left, right, edge + title, bottom)
}

/// Builds a matplotlib-looking chart on `area`: spines, outward ticks, tick texts, axis labels, title.
fn xy_chart<'a, 'b>(area: &'a Area<'b>, s: Scale, ax: &Axes, labels: &mut Labels) -> DrawResult<Chart<'a, 'b>> {
    let (left, right, top, bottom) = gutters(s, ax);
    let chart = ChartBuilder::on(area)
        .margin_left(left)
        .margin_right(right)
        .margin_top(top)
        .margin_bottom(bottom)
        .build_cartesian_2d(ax.x.clone(), ax.y.clone())?;
    let (xp, yp) = chart.plotting_area().get_pixel_range();
    let base = area.get_base_pixel();
    let line = |a: (i32, i32), b: (i32, i32)| {
        let style = BLACK.stroke_width(s.stroke(0.8));
        area.draw(&PathElement::new(vec![(a.0 - base.0, a.1 - base.1), (b.0 - base.0, b.1 - base.1)], style))
    };
    let (x0, x1, y0, y1) = (xp.start, xp.end - 1, yp.start, yp.end - 1);
    if ax.spines {
        for (a, b) in [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))] {
            line(a, b)?;
        }
    }
    let (tick, pad) = (s.ipx(3.5), s.ipx(3.5));
    for (v, text) in ax.xticks.at.iter().zip(&ax.xticks.text) {
        let x = chart.backend_coord(&(*v, ax.y.start)).0;
        line((x, y1), (x, y1 + tick))?;
        labels.add(s, ax.xticks.pt, text, (x, y1 + tick + pad), (0.5, 0.0), ax.xticks.upright);
    }
    for (v, text) in ax.yticks.at.iter().zip(&ax.yticks.text) {
        let y = chart.backend_coord(&(ax.x.start, *v)).1;
        line((x0 - tick, y), (x0, y))?;
        labels.add(s, ax.yticks.pt, text, (x0 - tick - pad, y), (1.0, 0.5), false);
    }
    let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
    labels.add(s, TITLE_PT, ax.title, (cx, y0 - s.ipx(6.0)), (0.5, 1.0), false);
    let xlabel_y = y1 + tick + pad + ax.xticks.extent(s).1 + s.ipx(2.0);
    labels.add(s, LABEL_PT, ax.xlabel, (cx, xlabel_y), (0.5, 0.0), false);
    let ylabel_x = x0 - tick - pad - ax.yticks.extent(s).0 - s.ipx(4.0);
    labels.add(s, LABEL_PT, ax.ylabel, (ylabel_x, cy), (1.0, 0.5), true);
    Ok(chart)
}

/// `lo..hi` of the finite values, widened by 5 % each side (matplotlib's margins); `None` if none.
fn padded_range(values: impl IntoIterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1.0) * 0.05 };
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

/// One legend row: a line sample and its text.
struct Entry {
    label: String,
    color: RGBColor,
    /// Line width in points.
    width_pt: f64,
    dotted: bool,
    marker: bool,
}

impl Entry {
    fn line(label: &str, color: RGBColor, width_pt: f64) -> Entry {
        Entry { label: label.into(), color, width_pt, dotted: false, marker: false }
    }
}

/// Pixel size of the legend box for `entries`.
fn legend_size(entries: &[Entry], s: Scale) -> (i32, i32) {
    let text_w = entries.iter().map(|e| s.text_size(&e.label, LEGEND_PT).0).max().unwrap_or(0);
    let row = s.text_px(LEGEND_PT) * 1.2;
    (s.ipx(6.0 + 20.0 + 6.0 + 6.0) + text_w, (row * entries.len() as f64 + s.px(6.0)) as i32)
}

/// Draws a framed legend with its top-left corner at `at` (picture pixels).
fn draw_legend(area: &Area, s: Scale, at: (i32, i32), entries: &[Entry], labels: &mut Labels) -> DrawResult {
    if entries.is_empty() {
        return Ok(());
    }
    let base = area.get_base_pixel();
    let (x, y) = (at.0 - base.0, at.1 - base.1);
    let (w, h) = legend_size(entries, s);
    area.draw(&Rectangle::new([(x, y), (x + w, y + h)], WHITE.mix(0.8).filled()))?;
    area.draw(&Rectangle::new([(x, y), (x + w, y + h)], RGBColor(204, 204, 204).stroke_width(s.stroke(0.8))))?;
    let row = s.text_px(LEGEND_PT) * 1.2;
    for (i, e) in entries.iter().enumerate() {
        let cy = y + (s.px(3.0) + row * (i as f64 + 0.5)) as i32;
        let (x0, x1) = (x + s.ipx(6.0), x + s.ipx(6.0 + 20.0));
        let style = e.color.stroke_width(s.stroke(e.width_pt));
        if e.dotted {
            let (dash, gap) = (s.stroke(e.width_pt), s.stroke(1.65 * e.width_pt));
            area.draw(&plotters::element::DashedPathElement::new(vec![(x0, cy), (x1, cy)], dash, gap, style))?;
        } else {
            area.draw(&PathElement::new(vec![(x0, cy), (x1, cy)], style))?;
        }
        if e.marker {
            area.draw(&Circle::new(((x0 + x1) / 2, cy), s.stroke(2.0), e.color.filled()))?;
        }
        labels.add(s, LEGEND_PT, &e.label, (x1 + s.ipx(6.0) + base.0, cy + base.1), (0.0, 0.5), false);
    }
    Ok(())
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

    #[test]
    fn ticks_are_round_and_share_decimals() {
        assert_eq!(Ticks::auto(&(0.0..1.0)).text, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(Ticks::auto(&(-2.0..63.0)).text, ["0", "20", "40", "60"]);
        assert_eq!(Ticks::auto(&(0.87..1.63)).text, ["1.0", "1.2", "1.4", "1.6"]);
        assert_eq!(Ticks::auto(&(-0.05..0.05)).text, ["-0.04", "-0.02", "0.00", "0.02", "0.04"]);
        assert_eq!(Ticks::auto(&(0.0..12.0)).text, ["0.0", "2.5", "5.0", "7.5", "10.0"]);
    }
}
