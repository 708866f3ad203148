//! Memory over time (host RSS, device in use, device reserved…) as lines with a legend.

use super::axes::{Axes, xy_chart};
use super::legend::{Entry, best_corner, draw_legend, legend_size};
use super::{Scale, TAB10, finite_runs, padded_range, render};
use crate::error::PlotError;
use plotters::prelude::*;
use std::path::Path;

/// Writes a memory-over-time chart (2000×1000 px: 10×5 in at 200 dpi) to `path`.
///
/// `series` are `(name, value at each x)` pairs, e.g. `("host RSS", &gib)`, drawn in
/// matplotlib's colour cycle against `x` (seconds, steps…, named by `xlabel`); `ylabel` names
/// the unit, e.g. `"GiB"`. The y axis starts at 0. Non-finite values break the line; empty
/// series are left out of the picture but keep their legend entry.
pub fn memory_png(
    path: impl AsRef<Path>,
    series: &[(&str, &[f64])],
    x: &[f64],
    xlabel: &str,
    ylabel: &str,
) -> Result<(), PlotError> {
    let s = Scale { dpi: 200.0 };
    let runs: Vec<Vec<Vec<(f64, f64)>>> = series.iter().map(|(_, y)| finite_runs(x, y)).collect();
    let points = || runs.iter().flatten().flatten();
    let x_range = padded_range(points().map(|p| p.0)).unwrap_or(0.0..1.0);
    let y_top = padded_range(points().map(|p| p.1)).map_or(1.0, |r| r.end.max(f64::MIN_POSITIVE));
    let entries: Vec<Entry> = series
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Entry::line(name, TAB10[i % TAB10.len()], 1.5))
        .collect();
    render(path.as_ref(), (2000, 1000), |root, labels| {
        let axes = Axes {
            title: "Memory",
            xlabel,
            ylabel,
            ..Axes::new(x_range, 0.0..y_top)
        };
        let mut chart = xy_chart(root, s, &axes, labels)?;
        for (series_runs, e) in runs.iter().zip(&entries) {
            for run in series_runs {
                chart.draw_series(LineSeries::new(
                    run.iter().copied(),
                    e.color.stroke_width(s.stroke(e.width_pt)),
                ))?;
            }
        }
        let at = best_corner(&chart, s, legend_size(&entries, s), &runs.concat());
        draw_legend(root, s, at, &entries, labels)
    })
}
