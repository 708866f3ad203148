//! `results.png`: the 2×5 grid of training and validation curves, raw and smoothed.

use super::axes::{Axes, xy_chart};
use super::legend::{Entry, best_corner, draw_legend, legend_size};
use super::text::Labels;
use super::{Area, DrawResult, Scale, TAB10, finite_runs, padded_range, render};
use crate::error::PlotError;
use plotters::prelude::*;
use std::path::Path;

/// The `results.csv` columns Ultralytics plots for detection, in panel order (row by row).
pub const RESULTS_COLUMNS: [&str; 10] = [
    "train/box_loss",
    "train/cls_loss",
    "train/dfl_loss",
    "metrics/precision(B)",
    "metrics/recall(B)",
    "val/box_loss",
    "val/cls_loss",
    "val/dfl_loss",
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
];

/// Width of the Gaussian smoothing, in epochs (Ultralytics: `gaussian_filter1d(y, sigma=3)`).
const SMOOTH_SIGMA: f64 = 3.0;

/// Writes Ultralytics' `results.png` (2400×1200 px: 12×6 in at 200 dpi) to `path`.
///
/// `columns` are `(name, values per epoch)` pairs as in `results.csv` (names are matched after
/// trimming); `epochs` are the x values. Each of the ten [`RESULTS_COLUMNS`] panels shows the
/// raw series (line with dot markers) and a dotted Gaussian-smoothed line (σ = 3 epochs, edges
/// mirrored: scipy's `gaussian_filter1d` defaults). Non-finite values are left out; a panel
/// whose column is missing or empty is drawn empty.
pub fn results_png(
    path: impl AsRef<Path>,
    columns: &[(&str, &[f64])],
    epochs: &[f64],
) -> Result<(), PlotError> {
    let s = Scale { dpi: 200.0 };
    render(path.as_ref(), (2400, 1200), |root, labels| {
        let panels = root.split_evenly((2, 5));
        for (i, (panel, name)) in panels.iter().zip(RESULTS_COLUMNS).enumerate() {
            let ys = columns
                .iter()
                .find(|(n, _)| n.trim() == name)
                .map_or(&[][..], |(_, v)| v);
            draw_panel(panel, s, (name, epochs, ys), i == 1, labels)?;
        }
        Ok(())
    })
}

/// One panel (title, x, y): raw series in blue with dots, smoothed in dotted orange.
fn draw_panel(
    area: &Area,
    s: Scale,
    (title, xs, ys): (&str, &[f64], &[f64]),
    legend: bool,
    labels: &mut Labels,
) -> DrawResult {
    let runs = finite_runs(xs, ys);
    let points: Vec<(f64, f64)> = runs.concat();
    let raw_y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let smooth: Vec<(f64, f64)> = points
        .iter()
        .map(|p| p.0)
        .zip(gaussian_smooth(&raw_y, SMOOTH_SIGMA))
        .collect();
    let x = padded_range(points.iter().map(|p| p.0)).unwrap_or(0.0..1.0);
    let y =
        padded_range(raw_y.iter().chain(smooth.iter().map(|p| &p.1)).copied()).unwrap_or(0.0..1.0);
    let mut chart = xy_chart(
        area,
        s,
        &Axes {
            title,
            ..Axes::new(x, y)
        },
        labels,
    )?;
    let (raw_color, smooth_color) = (TAB10[0], TAB10[1]);
    for run in &runs {
        chart.draw_series(LineSeries::new(
            run.iter().copied(),
            raw_color.stroke_width(s.stroke(2.0)),
        ))?;
    }
    chart.draw_series(
        points
            .iter()
            .map(|p| Circle::new(*p, s.stroke(2.0), raw_color.filled())),
    )?;
    let (dash, gap) = (s.stroke(2.0) as i32, s.stroke(3.3) as i32);
    chart.draw_series(DashedLineSeries::new(
        smooth.iter().copied(),
        dash,
        gap,
        smooth_color.stroke_width(s.stroke(2.0)),
    ))?;
    if legend {
        let entries = [
            Entry {
                marker: true,
                ..Entry::line("results", raw_color, 2.0)
            },
            Entry {
                dotted: true,
                ..Entry::line("smooth", smooth_color, 2.0)
            },
        ];
        let at = best_corner(&chart, s, legend_size(&entries, s), &[points, smooth]);
        draw_legend(area, s, at, &entries, labels)?;
    }
    Ok(())
}

/// `scipy.ndimage.gaussian_filter1d(y, sigma)` with its defaults: kernel radius `⌊4σ + ½⌋`,
/// edges extended by mirroring (`mode="reflect"`).
fn gaussian_smooth(y: &[f64], sigma: f64) -> Vec<f64> {
    let n = y.len() as i64;
    let radius = (4.0 * sigma + 0.5) as i64;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|k| (-0.5 * (k as f64 / sigma).powi(2)).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    (0..n)
        .map(|i| {
            (-radius..=radius)
                .zip(&weights)
                .map(|(k, w)| w * y[reflect(i + k, n)])
                .sum::<f64>()
                / total
        })
        .collect()
}

/// Index `i` mirrored into `0..n` as `d c b a | a b c d | d c b a` repeats.
fn reflect(i: i64, n: i64) -> usize {
    let m = i.rem_euclid(2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_keeps_constants_and_matches_scipy() {
        assert!(
            gaussian_smooth(&[2.0; 7], 3.0)
                .iter()
                .all(|v| (v - 2.0).abs() < 1e-12)
        );
        assert!(gaussian_smooth(&[], 3.0).is_empty());
        // Reference values from scipy.ndimage.gaussian_filter1d 1.x.
        let cases: [(&[f64], f64, &[f64]); 2] = [
            (
                &[0.0, 0.0, 0.0, 0.0, 10.0],
                1.0,
                &[0.0013, 0.0457, 0.5842, 2.9596, 6.4091],
            ),
            // Shorter than the kernel radius (12): mirrored more than once.
            (
                &[5.0, 4.0, 3.5, 3.0, 2.8, 2.7, 2.5],
                3.0,
                &[3.789, 3.6984, 3.539, 3.3471, 3.1628, 3.0203, 2.9433],
            ),
        ];
        for (y, sigma, want) in cases {
            let got = gaussian_smooth(y, sigma);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-4, "{got:?}");
            }
        }
    }

    #[test]
    fn reflect_mirrors_repeatedly() {
        let idx: Vec<usize> = (-4..7).map(|i| reflect(i, 3)).collect();
        assert_eq!(idx, vec![2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
    }
}
