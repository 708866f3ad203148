//! `labels.jpg`-like dataset overview: class histogram, box shapes, centre and size densities.

use super::axes::{Axes, Ticks, xy_chart};
use super::text::Labels;
use super::{Area, Chart, DrawResult, Scale, TICK_PT, render};
use crate::error::PlotError;
use crate::palette::{PALETTE, class_color};
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;

/// Class names are written under their bars below this many classes (as Ultralytics).
const MAX_NAMED_CLASSES: usize = 30;
/// Boxes outlined in the box-shape panel (Ultralytics: 500).
const MAX_OUTLINES: usize = 500;
/// Bins per axis of the density panels (Ultralytics: 50).
const BINS: usize = 50;

/// Writes an Ultralytics `labels.jpg`-like overview (1600×1600 px: 8×8 in at 200 dpi; PNG or
/// JPEG by extension) to `path`.
///
/// Four panels: instances per class (`class_counts`, bars in the class palette, names under them
/// below 30 classes, counts on top); the first 500 box shapes centred on one square; and 50×50-bin
/// densities (white → blue) of box centres (x vs y) and sizes (width vs height). `boxes` are
/// normalised `cx, cy, w, h`; boxes with non-finite values are skipped; empty inputs draw empty panels.
pub fn labels_png(
    path: impl AsRef<Path>,
    class_counts: &[(String, usize)],
    boxes: &[[f32; 4]],
) -> Result<(), PlotError> {
    let s = Scale { dpi: 200.0 };
    let boxes: Vec<[f64; 4]> = boxes
        .iter()
        .filter(|b| b.iter().all(|v| v.is_finite()))
        .map(|b| b.map(f64::from))
        .collect();
    render(path.as_ref(), (1600, 1600), |root, labels| {
        let panels = root.split_evenly((2, 2));
        class_histogram(&panels[0], s, class_counts, labels)?;
        box_shapes(&panels[1], s, &boxes, labels)?;
        let centres = boxes.iter().map(|b| (b[0], b[1]));
        density(&panels[2], s, centres, ("x", "y"), labels)?;
        density(
            &panels[3],
            s,
            boxes.iter().map(|b| (b[2], b[3])),
            ("width", "height"),
            labels,
        )
    })
}

/// Bars of instances per class, coloured by class; names and counts when there is room.
fn class_histogram(
    area: &Area,
    s: Scale,
    counts: &[(String, usize)],
    labels: &mut Labels,
) -> DrawResult {
    let n = counts.len();
    let named = (1..MAX_NAMED_CLASSES).contains(&n);
    // Texts shrink to fit bars narrower than a 10-point line; counts turn upright if still too wide.
    let pitch_px = f64::from(area.dim_in_pixel().0) * 0.75 / n.max(1) as f64; // plot ≈ ¾ of the panel
    let pt = TICK_PT.min(pitch_px * 0.85 / s.text_px(1.0));
    let texts: Vec<String> = counts.iter().map(|c| c.1.to_string()).collect();
    let upright = texts
        .iter()
        .any(|t| f64::from(s.text_size(t, pt).0) > pitch_px * 0.95);
    let headroom = if upright { 1.25 } else { 1.1 };
    let x = -0.5..n.max(1) as f64 - 0.5;
    let y = 0.0..counts.iter().map(|c| c.1).max().unwrap_or(0).max(1) as f64 * headroom;
    let xticks = match n {
        0 => Ticks::none(),
        _ if named => Ticks {
            at: (0..n).map(|i| i as f64).collect(),
            text: counts.iter().map(|c| c.0.clone()).collect(),
            pt,
            upright: true,
        },
        _ => Ticks::auto(&x),
    };
    let xlabel = if named { "" } else { "classes" };
    let axes = Axes {
        xticks,
        yticks: Ticks::whole(&y),
        xlabel,
        ylabel: "instances",
        spines: false,
        ..Axes::new(x, y)
    };
    let mut chart = xy_chart(area, s, &axes, labels)?;
    draw_bars(&mut chart, counts)?;
    if named {
        for (i, (text, c)) in texts.iter().zip(counts).enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, c.1 as f64));
            let at = (x, y - s.ipx(2.0));
            if upright {
                labels.add_upright(s, pt, text, at, (0.5, 1.0));
            } else {
                labels.add(s, pt, text, at, (0.5, 1.0));
            }
        }
    }
    Ok(())
}

/// One bar per class at x = class id, 0.8 wide, in the class colour with a darker edge.
fn draw_bars(chart: &mut Chart, counts: &[(String, usize)]) -> DrawResult {
    let corners = |i: usize, c: usize| [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, c as f64)];
    let fill = |(i, c): (usize, &(String, usize))| {
        Rectangle::new(corners(i, c.1), rgb(class_color(i)).filled())
    };
    chart.draw_series(counts.iter().enumerate().map(fill))?;
    // The edge keeps pale palette entries (F3F3F3) visible on white.
    let edge = |(i, c): (usize, &(String, usize))| {
        let dark = class_color(i).map(|v| (f32::from(v) * 0.6) as u8);
        Rectangle::new(corners(i, c.1), rgb(dark).stroke_width(1))
    };
    chart.draw_series(counts.iter().enumerate().map(edge))?;
    Ok(())
}

/// Up to [`MAX_OUTLINES`] boxes drawn with their centres on the middle of a unit square.
fn box_shapes(area: &Area, s: Scale, boxes: &[[f64; 4]], labels: &mut Labels) -> DrawResult {
    let axes = Axes {
        xticks: Ticks::none(),
        yticks: Ticks::none(),
        spines: false,
        ..Axes::new(0.0..1.0, 0.0..1.0)
    };
    let mut chart = xy_chart(area, s, &axes, labels)?;
    let color = rgb(PALETTE[0]).mix(0.5);
    chart.draw_series(boxes.iter().take(MAX_OUTLINES).map(|b| {
        let (hw, hh) = (b[2] / 2.0, b[3] / 2.0);
        Rectangle::new(
            [(0.5 - hw, 0.5 - hh), (0.5 + hw, 0.5 + hh)],
            color.stroke_width(1),
        )
    }))?;
    Ok(())
}

/// 2-D histogram of `points` over their own range, white (empty) to blue (fullest bin).
fn density(
    area: &Area,
    s: Scale,
    points: impl Iterator<Item = (f64, f64)> + Clone,
    (xlabel, ylabel): (&str, &str),
    labels: &mut Labels,
) -> DrawResult {
    let xr = data_range(points.clone().map(|p| p.0));
    let yr = data_range(points.clone().map(|p| p.1));
    let axes = Axes {
        xlabel,
        ylabel,
        spines: false,
        ..Axes::new(xr.clone(), yr.clone())
    };
    let mut chart = xy_chart(area, s, &axes, labels)?;
    let mut counts = vec![0u32; BINS * BINS];
    for (x, y) in points {
        counts[bin(x, &xr) * BINS + bin(y, &yr)] += 1;
    }
    let max = f64::from(counts.iter().copied().max().unwrap_or(0).max(1));
    let edge = |r: &Range<f64>, i: usize| r.start + (r.end - r.start) * i as f64 / BINS as f64;
    let cells = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(k, c)| {
            let (i, j) = (k / BINS, k % BINS);
            let white = (255.0 * (1.0 - f64::from(*c) / max)).round() as u8;
            Rectangle::new(
                [
                    (edge(&xr, i), edge(&yr, j)),
                    (edge(&xr, i + 1), edge(&yr, j + 1)),
                ],
                RGBColor(white, white, 255).filled(),
            )
        });
    chart.draw_series(cells)?;
    Ok(())
}

/// Bin of `v` among [`BINS`] equal bins over `r` (the maximum falls in the last bin).
fn bin(v: f64, r: &Range<f64>) -> usize {
    (((v - r.start) / (r.end - r.start) * BINS as f64) as usize).min(BINS - 1)
}

/// `min..max` of the values (widened when they are all equal); 0–1 when there are none.
fn data_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        0.0..1.0
    } else if lo == hi {
        lo - 0.05..hi + 0.05
    } else {
        lo..hi
    }
}

fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_range_inclusively() {
        let r = 0.0..1.0;
        assert_eq!(bin(0.0, &r), 0);
        assert_eq!(bin(1.0, &r), BINS - 1);
        assert_eq!(bin(0.5, &r), BINS / 2);
        assert_eq!(data_range(std::iter::empty()), 0.0..1.0);
        let r = data_range([0.2, 0.2].into_iter());
        assert!((r.start - 0.15).abs() < 1e-12 && (r.end - 0.25).abs() < 1e-12);
    }
}
