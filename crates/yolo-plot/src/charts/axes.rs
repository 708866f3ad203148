//! Matplotlib-looking axes around a plotters chart: spines, outward ticks, tick texts, labels, title.

use super::text::Labels;
use super::{Area, Chart, DrawResult, LABEL_PT, Scale, TICK_PT, TITLE_PT};
use plotters::prelude::*;
use std::ops::Range;

/// Tick positions along one axis and their texts.
pub(super) struct Ticks {
    pub at: Vec<f64>,
    pub text: Vec<String>,
    /// Text size in points.
    pub pt: f64,
    /// Texts turned a quarter left (x axis only: class names under bars).
    pub upright: bool,
}

impl Ticks {
    /// Matplotlib-like ticks: about six, steps of 1, 2, 2.5 or 5 × 10ⁿ, equal decimals.
    pub fn auto(r: &Range<f64>) -> Ticks {
        Ticks::with_min_step(r, 0.0)
    }

    /// As [`Ticks::auto`] but never finer than whole numbers, for counts.
    pub fn whole(r: &Range<f64>) -> Ticks {
        Ticks::with_min_step(r, 1.0)
    }

    pub fn none() -> Ticks {
        Ticks {
            at: Vec::new(),
            text: Vec::new(),
            pt: TICK_PT,
            upright: false,
        }
    }

    fn with_min_step(r: &Range<f64>, min_step: f64) -> Ticks {
        let span = r.end - r.start;
        if !(span > 0.0 && span.is_finite()) {
            return Ticks::none();
        }
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|st| *st >= raw * (1.0 - 1e-9));
        let step = nice.unwrap_or(span).max(min_step);
        let first = (r.start / step - 1e-9).ceil() as i64;
        let last = (r.end / step + 1e-9).floor() as i64;
        let quarter = (step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9;
        let decimals =
            (-step.log10().floor() + f64::from(u8::from(quarter))).clamp(0.0, 9.0) as usize;
        // `+ 0.0` turns -0.0 into 0.0 so no tick reads "-0.0".
        let at: Vec<f64> = (first..=last).map(|k| k as f64 * step + 0.0).collect();
        let text = at.iter().map(|v| format!("{v:.decimals$}")).collect();
        Ticks {
            at,
            text,
            pt: TICK_PT,
            upright: false,
        }
    }

    /// Every k-th tick, k as small as lets texts `along` pixels long sit `spacing_px` apart
    /// with `gap` pixels between them.
    fn thinned(&self, spacing_px: f64, along: i32, gap: f64) -> Ticks {
        let k = if spacing_px > 0.0 {
            ((f64::from(along) + gap) / spacing_px).ceil().max(1.0) as usize
        } else {
            1
        };
        let pairs = self.at.iter().zip(&self.text).step_by(k);
        let (at, text) = pairs.map(|(a, t)| (*a, t.clone())).unzip();
        Ticks { at, text, ..*self }
    }

    /// Largest (width, height) in pixels of the tick texts as laid out (turned when upright).
    fn extent(&self, s: Scale) -> (i32, i32) {
        let sizes = self.text.iter().map(|t| s.text_size(t, self.pt));
        let (w, h) = sizes.fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)));
        if self.upright { (h, w) } else { (w, h) }
    }
}

/// What an x–y panel shows around its data.
pub(super) struct Axes<'t> {
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub xticks: Ticks,
    pub yticks: Ticks,
    pub title: &'t str,
    pub xlabel: &'t str,
    pub ylabel: &'t str,
    /// Draw the four spines (matplotlib's default box); `false` hides them, as `labels.jpg` does.
    pub spines: bool,
}

impl Axes<'_> {
    /// Axes over `x` and `y` with automatic ticks, spines, and no title or axis labels.
    pub fn new(x: Range<f64>, y: Range<f64>) -> Self {
        let (xticks, yticks) = (Ticks::auto(&x), Ticks::auto(&y));
        Axes {
            x,
            y,
            xticks,
            yticks,
            title: "",
            xlabel: "",
            ylabel: "",
            spines: true,
        }
    }
}

/// Tick length and the gap between tick and text, in points (matplotlib: 3.5 and 3.5).
const TICK_LEN_PT: f64 = 3.5;
const TICK_PAD_PT: f64 = 3.5;
/// Margin around every panel, in points.
const EDGE_PT: f64 = 6.0;

/// The plotting area in picture pixels, inclusive: left, right, top, bottom.
type Frame = (i32, i32, i32, i32);

/// Builds a matplotlib-looking chart on `area`, queueing its texts in `labels`.
pub(super) fn xy_chart<'a, 'b>(
    area: &'a Area<'b>,
    s: Scale,
    ax: &Axes,
    labels: &mut Labels,
) -> DrawResult<Chart<'a, 'b>> {
    let (left, right, top, bottom) = gutters(s, ax);
    let chart = ChartBuilder::on(area)
        .margin_left(left)
        .margin_right(right)
        .margin_top(top)
        .margin_bottom(bottom)
        .build_cartesian_2d(ax.x.clone(), ax.y.clone())?;
    let (xp, yp) = chart.plotting_area().get_pixel_range();
    let frame = (xp.start, xp.end - 1, yp.start, yp.end - 1);
    let (xticks, yticks) = fitted_ticks(ax, s, (xp.end - xp.start, yp.end - yp.start));
    let xs: Vec<i32> = xticks
        .at
        .iter()
        .map(|v| chart.backend_coord(&(*v, ax.y.start)).0)
        .collect();
    let ys: Vec<i32> = yticks
        .at
        .iter()
        .map(|v| chart.backend_coord(&(ax.x.start, *v)).1)
        .collect();
    draw_frame(area, s, frame, ax.spines, (&xs, &ys))?;
    tick_texts(labels, s, frame, (&xticks, &xs), (&yticks, &ys));
    axis_texts(labels, s, frame, ax);
    Ok(chart)
}

/// Pixel margins around the plotting area: left, right, top, bottom.
fn gutters(s: Scale, ax: &Axes) -> (i32, i32, i32, i32) {
    let edge = s.ipx(EDGE_PT);
    let tick = |t: &Ticks| {
        if t.at.is_empty() {
            0
        } else {
            s.ipx(TICK_LEN_PT + TICK_PAD_PT)
        }
    };
    let label = |text: &str| {
        if text.is_empty() {
            0
        } else {
            s.text_px(LABEL_PT) as i32 + s.ipx(4.0)
        }
    };
    let (xw, xh) = ax.xticks.extent(s);
    let (yw, yh) = ax.yticks.extent(s);
    let title = if ax.title.is_empty() {
        yh / 2
    } else {
        s.text_px(TITLE_PT) as i32 + s.ipx(6.0)
    };
    let left = edge + label(ax.ylabel) + yw + tick(&ax.yticks);
    let bottom = edge + label(ax.xlabel) + xh + tick(&ax.xticks);
    let right = edge + if ax.xticks.upright { 0 } else { xw / 2 };
    (left, right, edge + title, bottom)
}

/// The axes' ticks thinned so their texts do not touch on a plot of `size` pixels; upright
/// x texts (class names) are sized by their caller and all kept.
fn fitted_ticks(ax: &Axes, s: Scale, (w, h): (i32, i32)) -> (Ticks, Ticks) {
    let spacing = |t: &Ticks, r: &Range<f64>, px: i32| match t.at.as_slice() {
        [a, b, ..] if !t.upright => (b - a) / (r.end - r.start) * f64::from(px),
        _ => f64::INFINITY,
    };
    let x = ax.xticks.thinned(
        spacing(&ax.xticks, &ax.x, w),
        ax.xticks.extent(s).0,
        s.px(6.0),
    );
    let y = ax.yticks.thinned(
        spacing(&ax.yticks, &ax.y, h),
        ax.yticks.extent(s).1,
        s.px(2.0),
    );
    (x, y)
}

/// Spines (if wanted) and outward tick marks at pixel positions `xs` (bottom) and `ys` (left).
fn draw_frame(
    area: &Area,
    s: Scale,
    (x0, x1, y0, y1): Frame,
    spines: bool,
    (xs, ys): (&[i32], &[i32]),
) -> DrawResult {
    let base = area.get_base_pixel();
    let style = BLACK.stroke_width(s.stroke(0.8));
    let line = |a: (i32, i32), b: (i32, i32)| {
        area.draw(&PathElement::new(
            vec![(a.0 - base.0, a.1 - base.1), (b.0 - base.0, b.1 - base.1)],
            style,
        ))
    };
    if spines {
        let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
        for pair in corners.windows(2) {
            line(pair[0], pair[1])?;
        }
    }
    let tick = s.ipx(TICK_LEN_PT);
    for &x in xs {
        line((x, y1), (x, y1 + tick))?;
    }
    for &y in ys {
        line((x0 - tick, y), (x0, y))?;
    }
    Ok(())
}

/// Tick texts under the x ticks at `xs` and left of the y ticks at `ys` (pixels).
fn tick_texts(
    labels: &mut Labels,
    s: Scale,
    (x0, _, _, y1): Frame,
    (xt, xs): (&Ticks, &[i32]),
    (yt, ys): (&Ticks, &[i32]),
) {
    let offset = s.ipx(TICK_LEN_PT) + s.ipx(TICK_PAD_PT);
    for (text, &x) in xt.text.iter().zip(xs) {
        if xt.upright {
            labels.add_upright(s, xt.pt, text, (x, y1 + offset), (0.5, 0.0));
        } else {
            labels.add(s, xt.pt, text, (x, y1 + offset), (0.5, 0.0));
        }
    }
    for (text, &y) in yt.text.iter().zip(ys) {
        labels.add(s, yt.pt, text, (x0 - offset, y), (1.0, 0.5));
    }
}

/// Title above the frame, x label under the x tick texts, upright y label left of the y tick texts.
fn axis_texts(labels: &mut Labels, s: Scale, (x0, x1, y0, y1): Frame, ax: &Axes) {
    let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
    let offset = s.ipx(TICK_LEN_PT) + s.ipx(TICK_PAD_PT);
    labels.add(s, TITLE_PT, ax.title, (cx, y0 - s.ipx(6.0)), (0.5, 1.0));
    let below = y1 + offset + ax.xticks.extent(s).1 + s.ipx(2.0);
    labels.add(s, LABEL_PT, ax.xlabel, (cx, below), (0.5, 0.0));
    let left = x0 - offset - ax.yticks.extent(s).0 - s.ipx(4.0);
    labels.add_upright(s, LABEL_PT, ax.ylabel, (left, cy), (1.0, 0.5));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_share_decimals() {
        assert_eq!(
            Ticks::auto(&(0.0..1.0)).text,
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(Ticks::auto(&(-2.0..63.0)).text, ["0", "20", "40", "60"]);
        assert_eq!(
            Ticks::auto(&(0.87..1.63)).text,
            ["1.0", "1.2", "1.4", "1.6"]
        );
        assert_eq!(
            Ticks::auto(&(-0.05..0.05)).text,
            ["-0.04", "-0.02", "0.00", "0.02", "0.04"]
        );
        assert_eq!(
            Ticks::auto(&(0.0..12.0)).text,
            ["0.0", "2.5", "5.0", "7.5", "10.0"]
        );
        assert_eq!(Ticks::whole(&(0.0..3.3)).text, ["0", "1", "2", "3"]);
        assert!(Ticks::auto(&(1.0..1.0)).at.is_empty());
    }

    #[test]
    fn thinning_keeps_every_kth_tick() {
        let t = Ticks::auto(&(0.0..1.0)).thinned(50.0, 80, 10.0);
        assert_eq!(t.text, ["0.0", "0.4", "0.8"]);
        assert_eq!(
            Ticks::auto(&(0.0..1.0)).thinned(500.0, 80, 10.0).at.len(),
            6
        );
    }
}
