//! Polygon helpers exact to Ultralytics 8.3.253: `resample_segments` and `segment2box`.

/// Points Ultralytics resamples every polygon to (`update_labels_info`, detect/segment tasks).
pub const SEGMENT_POINTS: usize = 1000;

/// The point count Ultralytics gives one image's polygons: [`SEGMENT_POINTS`], or the longest
/// polygon's length + 1 when that is longer (so no vertex is lost).
pub fn resample_count(segments: &[Vec<[f32; 2]>]) -> usize {
    let longest = segments.iter().map(Vec::len).max().unwrap_or(0);
    if longest > SEGMENT_POINTS {
        longest + 1
    } else {
        SEGMENT_POINTS
    }
}

/// Ultralytics 8.3.253 `resample_segments` for one polygon (px or normalised, any unit):
/// a polygon of exactly `n` points is kept; otherwise it is closed (first point appended) and
/// linearly interpolated along its vertex index at `n` positions. When the closed polygon has
/// fewer than `n` points its vertices are kept and `n − len` evenly spaced positions are added
/// between them (`np.insert` of the vertices into `np.linspace`).
pub fn resample(segment: &[[f32; 2]], n: usize) -> Vec<[f32; 2]> {
    if segment.len() == n || segment.is_empty() {
        return segment.to_vec();
    }
    let closed: Vec<[f32; 2]> = segment.iter().chain(&segment[..1]).copied().collect();
    let positions = if closed.len() < n {
        with_vertices(
            linspace((closed.len() - 1) as f64, n - closed.len()),
            closed.len(),
        )
    } else {
        linspace((closed.len() - 1) as f64, n)
    };
    positions.iter().map(|&t| interp(&closed, t)).collect()
}

/// Resamples every polygon to `n` points (see [`resample`]).
pub fn resample_all(segments: &mut [Vec<[f32; 2]>], n: usize) {
    for s in segments {
        *s = resample(s, n);
    }
}

/// `np.linspace(0, stop, num)`: `i · step` with the last value exactly `stop`.
fn linspace(stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![0.0];
    }
    let step = stop / (num - 1) as f64;
    (0..num)
        .map(|i| if i + 1 == num { stop } else { i as f64 * step })
        .collect()
}

/// Merges the integer vertex positions `0..vertices` into the sorted `positions`.
fn with_vertices(positions: Vec<f64>, vertices: usize) -> Vec<f64> {
    let mut out: Vec<f64> = positions
        .into_iter()
        .chain((0..vertices).map(|v| v as f64))
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// `np.interp` of the closed polygon at vertex position `t` (f64 maths, f32 result).
fn interp(closed: &[[f32; 2]], t: f64) -> [f32; 2] {
    let last = closed.len() - 1;
    let j = (t.floor().max(0.0) as usize).min(last);
    if j == last || t == j as f64 {
        return closed[j];
    }
    let along = |c: usize| {
        let (a, b) = (f64::from(closed[j][c]), f64::from(closed[j + 1][c]));
        ((b - a) * (t - j as f64) + a) as f32
    };
    [along(0), along(1)]
}

/// Ultralytics 8.3.253 `segment2box`: the xyxy box (px) of a polygon's points inside a
/// `width × height` image. When the polygon overflows 3 or 4 of the image's sides its points
/// are first clipped to the image; points still outside are ignored. All zeros when no point
/// is inside or every inside point has x = 0 (Ultralytics' `any(x)` test).
pub fn segment_to_box(segment: &[[f32; 2]], width: f32, height: f32) -> [f32; 4] {
    let mut lo = [f32::INFINITY; 2];
    let mut hi = [f32::NEG_INFINITY; 2];
    for p in segment {
        lo = [lo[0].min(p[0]), lo[1].min(p[1])];
        hi = [hi[0].max(p[0]), hi[1].max(p[1])];
    }
    let outside = [lo[0] < 0.0, lo[1] < 0.0, hi[0] > width, hi[1] > height];
    let clip = outside.iter().filter(|&&o| o).count() >= 3;
    let mut b = [
        f32::INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ];
    let mut any_x = false;
    for p in segment {
        let (x, y) = if clip {
            (p[0].clamp(0.0, width), p[1].clamp(0.0, height))
        } else {
            (p[0], p[1])
        };
        if x >= 0.0 && y >= 0.0 && x <= width && y <= height {
            any_x |= x != 0.0;
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    if any_x { b } else { [0.0; 4] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsampling_keeps_vertices_and_closes() {
        // Square, 4 points -> closed 5 -> 3 linspace positions over [0, 4] + 5 vertices = 8.
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        let r = resample(&sq, 8);
        assert_eq!(r.len(), 8);
        // linspace(0, 4, 3) = [0, 2, 4] merged with [0, 1, 2, 3, 4].
        let want = [
            [0.0, 0.0],
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [10.0, 10.0],
            [0.0, 10.0],
            [0.0, 0.0],
            [0.0, 0.0],
        ];
        assert_eq!(r, want);
    }

    #[test]
    fn downsampling_interpolates_along_the_outline() {
        let line: Vec<[f32; 2]> = (0..11).map(|i| [i as f32, 0.0]).collect();
        // Closed: 12 points, positions linspace(0, 11, 5) = 0, 2.75, 5.5, 8.25, 11.
        let r = resample(&line, 5);
        assert_eq!(
            r,
            vec![[0.0, 0.0], [2.75, 0.0], [5.5, 0.0], [8.25, 0.0], [0.0, 0.0]]
        );
        // Position 10.5 lies between the last vertex (10, 0) and the closing point (0, 0).
        let r = resample(&line, 23);
        assert_eq!(r.len(), 23);
        assert!(r.contains(&[5.0, 0.0]));
    }

    #[test]
    fn exact_count_is_untouched_and_count_rule() {
        let tri = vec![[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]];
        assert_eq!(resample(&tri, 3), tri);
        assert_eq!(resample_count(std::slice::from_ref(&tri)), 1000);
        assert_eq!(resample_count(&[vec![[0.0; 2]; 1000]]), 1000);
        assert_eq!(resample_count(&[tri, vec![[0.0; 2]; 1500]]), 1501);
        assert_eq!(resample(&[[1.0, 1.0]; 7], 1000).len(), 1000);
    }

    #[test]
    fn segment_box_rules() {
        let poly = [[-5.0, 10.0], [20.0, 10.0], [20.0, 30.0], [-5.0, 30.0]];
        // One side out: the point with x < 0 is dropped, no clipping.
        assert_eq!(
            segment_to_box(&poly, 100.0, 100.0),
            [20.0, 10.0, 20.0, 30.0]
        );
        // Three sides out: clipped first.
        let big = [[-5.0, -5.0], [200.0, -5.0], [200.0, 50.0], [-5.0, 50.0]];
        assert_eq!(segment_to_box(&big, 100.0, 100.0), [0.0, 0.0, 100.0, 50.0]);
        // Nothing inside, or all inside points at x = 0: zeros.
        assert_eq!(segment_to_box(&[[-1.0, -1.0]], 10.0, 10.0), [0.0; 4]);
        assert_eq!(
            segment_to_box(&[[0.0, 3.0], [0.0, 5.0]], 10.0, 10.0),
            [0.0; 4]
        );
    }
}
