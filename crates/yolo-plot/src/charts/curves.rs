//! Per-class curves with their class mean: `BoxPR_curve.png` and the F1/P/R–confidence curves.

use super::axes::{Axes, xy_chart};
use super::legend::{Entry, draw_legend, legend_size};
use super::{DrawResult, Scale, TAB10, finite_runs, render};
use crate::error::PlotError;
use plotters::prelude::*;
use std::path::Path;

/// Classes shown one by one (coloured, in the legend) below this count; grey and unnamed from it on.
const MAX_LEGEND_CLASSES: usize = 21;

/// Writes Ultralytics' `BoxPR_curve.png` (2250×1500 px: 9×6 in at 250 dpi) to `path`.
///
/// `recall_grid` is the x axis (Ultralytics: 1000 points over 0–1); `per_class` holds
/// `(name, precision at each recall, AP50)`. Below 21 classes each curve is drawn thin in its
/// own colour with a legend entry `"name 0.xxx"`; from 21 on they are thin grey without entries.
/// The mean precision over classes is drawn thick blue as `"all classes 0.xxx mAP@0.5"`
/// (`mean_ap50`). Both axes span 0–1.
pub fn pr_curve_png(
    path: impl AsRef<Path>,
    recall_grid: &[f64],
    per_class: &[(String, Vec<f64>, f64)],
    mean_ap50: f64,
) -> Result<(), PlotError> {
    let curves: Vec<(String, &[f64])> = per_class
        .iter()
        .map(|(n, p, ap)| (format!("{n} {ap:.3}"), &p[..]))
        .collect();
    let mean = mean_curve(per_class.iter().map(|c| &c.1[..]));
    let figure = Figure {
        x: recall_grid,
        curves,
        mean_label: format!("all classes {mean_ap50:.3} mAP@0.5"),
        mean,
        axes: ("Recall", "Precision", "Precision-Recall Curve"),
    };
    draw_figure(path.as_ref(), &figure)
}

/// Writes an Ultralytics metric–confidence curve (`BoxF1_curve.png`, `BoxP_curve.png`,
/// `BoxR_curve.png`; 2250×1500 px) to `path`.
///
/// `x` is the confidence grid (0–1), `per_class` holds `(name, metric at each confidence)`,
/// drawn as in [`pr_curve_png`]. The thick blue class mean is a moving average over 10 % of the grid
/// (Ultralytics' `smooth(y, 0.1)`) and labelled with its maximum,
/// `"all classes 0.xx at 0.xxx"`. Axes span 0–1; `ylabel` names the metric.
pub fn curve_png(
    path: impl AsRef<Path>,
    x: &[f64],
    per_class: &[(String, Vec<f64>)],
    ylabel: &str,
    title: &str,
) -> Result<(), PlotError> {
    let curves: Vec<(String, &[f64])> =
        per_class.iter().map(|(n, y)| (n.clone(), &y[..])).collect();
    let mean = box_smooth(&mean_curve(per_class.iter().map(|c| &c.1[..])), 0.1);
    let best = (0..mean.len().min(x.len()))
        .filter(|&i| mean[i].is_finite())
        .max_by(|&a, &b| mean[a].total_cmp(&mean[b]));
    let mean_label = best.map_or("all classes".into(), |i| {
        format!("all classes {:.2} at {:.3}", mean[i], x[i])
    });
    let figure = Figure {
        x,
        curves,
        mean,
        mean_label,
        axes: ("Confidence", ylabel, title),
    };
    draw_figure(path.as_ref(), &figure)
}

/// Everything one per-class curve figure shows.
struct Figure<'a> {
    x: &'a [f64],
    curves: Vec<(String, &'a [f64])>,
    mean: Vec<f64>,
    mean_label: String,
    /// x label, y label, title.
    axes: (&'a str, &'a str, &'a str),
}

/// Figure size in pixels (9×6 in at 250 dpi, as Ultralytics saves these curves).
const SIZE: (u32, u32) = (2250, 1500);

fn draw_figure(path: &Path, f: &Figure) -> Result<(), PlotError> {
    let s = Scale { dpi: 250.0 };
    let named = !f.curves.is_empty() && f.curves.len() < MAX_LEGEND_CLASSES;
    let class_color = |i: usize| {
        if named {
            TAB10[i % TAB10.len()]
        } else {
            RGBColor(128, 128, 128)
        }
    };
    let names = f.curves.iter().enumerate().filter(|_| named);
    let mut entries: Vec<Entry> = names
        .map(|(i, (name, _))| Entry::line(name, class_color(i), 1.0))
        .collect();
    entries.push(Entry::line(&f.mean_label, BLUE, 3.0));
    render(path, SIZE, |root, labels| {
        // The legend sits right of the plot (matplotlib's bbox_to_anchor=(1.04, 1));
        // the plot keeps at least half the width whatever the class names.
        let legend_w = legend_size(&entries, s).0 + s.ipx(12.0);
        let (plot_area, legend_area) =
            root.split_horizontally((SIZE.0 as i32 - legend_w).max(SIZE.0 as i32 / 2));
        let (xlabel, ylabel, title) = f.axes;
        let axes = Axes {
            title,
            xlabel,
            ylabel,
            ..Axes::new(0.0..1.0, 0.0..1.0)
        };
        let mut chart = xy_chart(&plot_area, s, &axes, labels)?;
        for (i, (_, y)) in f.curves.iter().enumerate() {
            draw_line(
                &mut chart,
                f.x,
                y,
                class_color(i).stroke_width(s.stroke(1.0)),
            )?;
        }
        draw_line(&mut chart, f.x, &f.mean, BLUE.stroke_width(s.stroke(3.0)))?;
        let top = chart.plotting_area().get_pixel_range().1.start;
        draw_legend(
            &legend_area,
            s,
            (legend_area.get_base_pixel().0, top),
            &entries,
            labels,
        )
    })
}

/// Draws `y` against `x`, clamped to 0–1, broken at non-finite points.
fn draw_line(chart: &mut super::Chart, x: &[f64], y: &[f64], style: ShapeStyle) -> DrawResult {
    for run in finite_runs(x, y) {
        let run = run
            .into_iter()
            .map(|(a, b)| (a.clamp(0.0, 1.0), b.clamp(0.0, 1.0)));
        chart.draw_series(LineSeries::new(run, style))?;
    }
    Ok(())
}

/// Pointwise mean of the curves over their common length; empty when there are none.
fn mean_curve<'a>(curves: impl Iterator<Item = &'a [f64]> + Clone) -> Vec<f64> {
    let n = curves.clone().count();
    let len = curves.clone().map(<[f64]>::len).min().unwrap_or(0);
    (0..len)
        .map(|i| curves.clone().map(|c| c[i]).sum::<f64>() / n as f64)
        .collect()
}

/// Ultralytics' `smooth(y, f)`: a moving average over `round(2·len·f) div 2 + 1` points
/// (101 for a 1000-point grid and `f` = 0.1), the ends padded with the first and last values.
fn box_smooth(y: &[f64], fraction: f64) -> Vec<f64> {
    let (Some(&first), Some(&last)) = (y.first(), y.last()) else {
        return Vec::new();
    };
    let width = (y.len() as f64 * fraction * 2.0).round_ties_even() as usize / 2 + 1;
    let pad = width / 2;
    let padded: Vec<f64> = std::iter::repeat_n(first, pad)
        .chain(y.iter().copied())
        .chain(std::iter::repeat_n(last, pad))
        .collect();
    let mut out: Vec<f64> = padded
        .windows(width)
        .map(|w| w.iter().sum::<f64>() / width as f64)
        .collect();
    out.truncate(y.len()); // an even width yields one extra point; keep it aligned with x
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_smooth_matches_ultralytics() {
        // smooth(np.arange(1, 11), 0.2): nf = round(4) // 2 + 1 = 3, one padding value each end.
        let y: Vec<f64> = (1..=10).map(f64::from).collect();
        let got = box_smooth(&y, 0.2);
        let want = [
            4.0 / 3.0,
            2.0,
            3.0,
            4.0,
            5.0,
            6.0,
            7.0,
            8.0,
            9.0,
            29.0 / 3.0,
        ];
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-12),
            "{got:?}"
        );
        assert!(box_smooth(&[], 0.1).is_empty());
        assert_eq!(box_smooth(&[7.0], 0.1), vec![7.0]);
    }

    #[test]
    fn mean_uses_common_length() {
        let (a, b) = ([1.0, 2.0, 3.0], [3.0, 4.0]);
        assert_eq!(mean_curve([&a[..], &b[..]].into_iter()), vec![2.0, 3.0]);
        assert!(mean_curve(std::iter::empty()).is_empty());
    }
}
