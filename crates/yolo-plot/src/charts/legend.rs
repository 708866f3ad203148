//! Matplotlib-style legends: framed rows of line samples and texts, placed where lines are fewest.

use super::text::Labels;
use super::{Area, Chart, DrawResult, LEGEND_PT, Scale};
use plotters::prelude::*;

/// One legend row: a line sample and its text.
pub(super) struct Entry {
    pub label: String,
    pub color: RGBColor,
    /// Line width in points.
    pub width_pt: f64,
    /// Dotted like matplotlib's `":"`.
    pub dotted: bool,
    /// A dot in the middle of the sample, for series drawn with markers.
    pub marker: bool,
}

impl Entry {
    pub fn line(label: &str, color: RGBColor, width_pt: f64) -> Entry {
        Entry {
            label: label.into(),
            color,
            width_pt,
            dotted: false,
            marker: false,
        }
    }
}

/// Pixel size of the legend box for `entries`.
pub(super) fn legend_size(entries: &[Entry], s: Scale) -> (i32, i32) {
    let text_w = entries
        .iter()
        .map(|e| s.text_size(&e.label, LEGEND_PT).0)
        .max()
        .unwrap_or(0);
    let row = s.text_px(LEGEND_PT) * 1.2;
    (
        s.ipx(6.0 + 20.0 + 6.0 + 6.0) + text_w,
        (row * entries.len() as f64 + s.px(6.0)) as i32,
    )
}

/// Top-left pixel for a legend of `size` in the plot corner crossed least by the lines through
/// `runs` (matplotlib's `loc="best"`), trying upper right, upper left, lower left, lower right.
pub(super) fn best_corner(
    chart: &Chart,
    s: Scale,
    size: (i32, i32),
    runs: &[Vec<(f64, f64)>],
) -> (i32, i32) {
    let (xp, yp) = chart.plotting_area().get_pixel_range();
    let m = s.ipx(4.0);
    let (left, right, top, bottom) = (
        xp.start + m,
        xp.end - size.0 - m,
        yp.start + m,
        yp.end - size.1 - m,
    );
    let corners = [(right, top), (left, top), (left, bottom), (right, bottom)];
    let mut hits = [0usize; 4];
    for run in runs {
        let px: Vec<(i32, i32)> = run.iter().map(|p| chart.backend_coord(p)).collect();
        for (x, y) in trace(&px) {
            for (hit, c) in hits.iter_mut().zip(&corners) {
                *hit += usize::from(
                    (c.0..=c.0 + size.0).contains(&x) && (c.1..=c.1 + size.1).contains(&y),
                );
            }
        }
    }
    let best = (0..4).min_by_key(|&i| (hits[i], i)).unwrap_or(0);
    corners[best]
}

/// Pixels every 4 or fewer along the polyline through `px` (a lone point gives itself).
fn trace(px: &[(i32, i32)]) -> impl Iterator<Item = (i32, i32)> + '_ {
    let segments = px
        .iter()
        .zip(px.iter().skip(1))
        .chain(px.first().map(|p| (p, p)).filter(|_| px.len() == 1));
    segments.flat_map(|(a, b)| {
        let steps = (a.0 - b.0).abs().max((a.1 - b.1).abs()) / 4 + 1;
        (0..=steps).map(move |k| (a.0 + (b.0 - a.0) * k / steps, a.1 + (b.1 - a.1) * k / steps))
    })
}

/// Draws a framed legend with its top-left corner at `at` (picture pixels).
pub(super) fn draw_legend(
    area: &Area,
    s: Scale,
    at: (i32, i32),
    entries: &[Entry],
    labels: &mut Labels,
) -> DrawResult {
    if entries.is_empty() {
        return Ok(());
    }
    let base = area.get_base_pixel();
    let (x, y) = (at.0 - base.0, at.1 - base.1);
    let (w, h) = legend_size(entries, s);
    area.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        WHITE.mix(0.8).filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        RGBColor(204, 204, 204).stroke_width(s.stroke(0.8)),
    ))?;
    let row = s.text_px(LEGEND_PT) * 1.2;
    for (i, e) in entries.iter().enumerate() {
        let cy = y + (s.px(3.0) + row * (i as f64 + 0.5)) as i32;
        let (x0, x1) = (x + s.ipx(6.0), x + s.ipx(6.0 + 20.0));
        let style = e.color.stroke_width(s.stroke(e.width_pt));
        if e.dotted {
            let (dash, gap) = (s.stroke(e.width_pt), s.stroke(1.65 * e.width_pt));
            area.draw(&plotters::element::DashedPathElement::new(
                vec![(x0, cy), (x1, cy)],
                dash,
                gap,
                style,
            ))?;
        } else {
            area.draw(&PathElement::new(vec![(x0, cy), (x1, cy)], style))?;
        }
        if e.marker {
            area.draw(&Circle::new(
                ((x0 + x1) / 2, cy),
                s.stroke(2.0),
                e.color.filled(),
            ))?;
        }
        labels.add(
            s,
            LEGEND_PT,
            &e.label,
            (x1 + s.ipx(6.0) + base.0, cy + base.1),
            (0.0, 0.5),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_samples_segments_densely() {
        let pts: Vec<(i32, i32)> = trace(&[(0, 0), (20, 0)]).collect();
        assert_eq!(pts.first(), Some(&(0, 0)));
        assert_eq!(pts.last(), Some(&(20, 0)));
        assert!(pts.windows(2).all(|w| w[1].0 - w[0].0 <= 4));
        assert_eq!(trace(&[(3, 4)]).collect::<Vec<_>>(), vec![(3, 4), (3, 4)]);
        assert_eq!(trace(&[]).count(), 0);
    }
}
