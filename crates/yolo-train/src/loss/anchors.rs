//! Anchor grid (Ultralytics `make_anchors`, 0.5 offset) and the exact "centre strictly inside a GT" enumeration.

/// One feature level of the anchor grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Grid height `H_i` (cells).
    pub h: usize,
    /// Grid width `W_i` (cells).
    pub w: usize,
    /// Stride of this level in pixels (8 / 16 / 32 for P3 / P4 / P5).
    pub stride: f32,
    /// Index of this level's first anchor in the concatenated anchor axis `A`.
    pub offset: usize,
}

/// The concatenated anchor grid of all levels (P3 then P4 then P5), each level row-major
/// (`y` outer, `x` inner), exactly as Ultralytics' `make_anchors(feats, strides, 0.5)`.
///
/// Anchor `a` of a level at grid cell `(ix, iy)` has its point at `(ix + 0.5, iy + 0.5)` in
/// **grid units** of that level, i.e. `((ix + 0.5)·s, (iy + 0.5)·s)` in **pixels**.
/// Nothing is materialised: points are computed from the index on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorGrid {
    levels: Vec<Level>,
    num_anchors: usize,
}

/// Ultralytics' `select_candidates_in_gts` margin: a centre is inside when all four deltas are `> 1e-9`.
pub const INSIDE_EPS: f32 = 1e-9;

impl AnchorGrid {
    /// Builds the grid from per-level `(H_i, W_i)` and strides (pixels), in level order.
    ///
    /// # Panics
    /// If `shapes` and `strides` differ in length.
    pub fn new(shapes: &[(usize, usize)], strides: &[f32]) -> Self {
        assert_eq!(shapes.len(), strides.len(), "one stride per level");
        let mut levels = Vec::with_capacity(shapes.len());
        let mut offset = 0;
        for (&(h, w), &stride) in shapes.iter().zip(strides) {
            levels.push(Level { h, w, stride, offset });
            offset += h * w;
        }
        Self {
            levels,
            num_anchors: offset,
        }
    }

    /// Total number of anchors `A = Σ H_i·W_i`.
    pub fn num_anchors(&self) -> usize {
        self.num_anchors
    }

    /// The levels, in anchor order.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Padded input size in pixels `(height, width)` = first level's `(H_0, W_0) × stride_0`
    /// (Ultralytics' `imgsz` inside the loss).
    pub fn image_size(&self) -> (f32, f32) {
        let l = self.levels.first().expect("anchor grid has no levels");
        (l.h as f32 * l.stride, l.w as f32 * l.stride)
    }

    fn level_of(&self, anchor: usize) -> &Level {
        debug_assert!(anchor < self.num_anchors);
        self.levels
            .iter()
            .rev()
            .find(|l| l.offset <= anchor)
            .expect("anchor index out of range")
    }

    /// Anchor point in **grid units** of its level and that level's stride: `(x, y, stride)`.
    pub fn point_grid(&self, anchor: usize) -> (f32, f32, f32) {
        let l = self.level_of(anchor);
        let i = anchor - l.offset;
        ((i % l.w) as f32 + 0.5, (i / l.w) as f32 + 0.5, l.stride)
    }

    /// Anchor point in **pixels** (`anchor_points × stride_tensor`, f32 as in Ultralytics).
    pub fn point_px(&self, anchor: usize) -> [f32; 2] {
        let (x, y, s) = self.point_grid(anchor);
        [x * s, y * s]
    }

    /// Calls `f(anchor)` for every anchor whose pixel centre is strictly inside `xyxy_px`
    /// (`min(x − x1, y − y1, x2 − x, y2 − y) > 1e-9`, f32 arithmetic as in Ultralytics), in
    /// increasing anchor index. Cost is O(cells the box covers) per level, never O(A).
    /// Non-finite boxes have no inside anchors.
    pub fn for_each_inside(&self, xyxy_px: [f32; 4], mut f: impl FnMut(usize)) {
        let [x1, y1, x2, y2] = xyxy_px;
        if !(x1.is_finite() && y1.is_finite() && x2.is_finite() && y2.is_finite()) {
            return;
        }
        for l in &self.levels {
            let Some((ix0, ix1)) = inside_range(x1, x2, l.stride, l.w) else {
                continue;
            };
            let Some((iy0, iy1)) = inside_range(y1, y2, l.stride, l.h) else {
                continue;
            };
            for iy in iy0..=iy1 {
                let row = l.offset + iy * l.w;
                for ix in ix0..=ix1 {
                    f(row + ix);
                }
            }
        }
    }

    /// Number of anchors strictly inside `xyxy_px` (same test as [`Self::for_each_inside`]).
    pub fn count_inside(&self, xyxy_px: [f32; 4]) -> usize {
        let mut n = 0;
        self.for_each_inside(xyxy_px, |_| n += 1);
        n
    }
}

/// Inclusive range of cell indices `i < n` with `(i + 0.5)·s − lo > eps` and `hi − (i + 0.5)·s > eps`.
/// Each condition is monotone in `i`, so the inside set of a box is a rectangle of cells; the
/// bounds are guessed from `lo / s`, `hi / s` and then walked (at most a step or two) to the exact
/// f32 decision.
fn inside_range(lo: f32, hi: f32, s: f32, n: usize) -> Option<(usize, usize)> {
    if n == 0 {
        return None;
    }
    let centre = |i: usize| (i as f32 + 0.5) * s;
    let after_lo = |i: usize| centre(i) - lo > INSIDE_EPS;
    let before_hi = |i: usize| hi - centre(i) > INSIDE_EPS;
    let clamp = |v: f32| -> usize { (v.max(0.0) as usize).min(n - 1) };

    // First index right of `lo`.
    let mut a = clamp((lo / s - 0.5).floor());
    while a > 0 && after_lo(a - 1) {
        a -= 1;
    }
    while a < n && !after_lo(a) {
        a += 1;
    }
    if a == n {
        return None;
    }
    // Last index left of `hi`.
    let mut b = clamp((hi / s - 0.5).ceil());
    while b + 1 < n && before_hi(b + 1) {
        b += 1;
    }
    loop {
        if before_hi(b) {
            break;
        }
        if b == 0 {
            return None;
        }
        b -= 1;
    }
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(grid: &AnchorGrid, b: [f32; 4]) -> Vec<usize> {
        (0..grid.num_anchors())
            .filter(|&a| {
                let [x, y] = grid.point_px(a);
                let m = (x - b[0]).min(y - b[1]).min(b[2] - x).min(b[3] - y);
                m > INSIDE_EPS
            })
            .collect()
    }

    #[test]
    fn layout_matches_make_anchors() {
        let g = AnchorGrid::new(&[(4, 6), (2, 3), (1, 2)], &[8.0, 16.0, 32.0]);
        assert_eq!(g.num_anchors(), 24 + 6 + 2);
        assert_eq!(g.point_grid(0), (0.5, 0.5, 8.0));
        assert_eq!(g.point_grid(7), (1.5, 1.5, 8.0)); // row 1, col 1
        assert_eq!(g.point_grid(24), (0.5, 0.5, 16.0));
        assert_eq!(g.point_grid(31), (1.5, 0.5, 32.0));
        assert_eq!(g.point_px(31), [48.0, 16.0]);
        assert_eq!(g.image_size(), (32.0, 48.0));
    }

    #[test]
    fn inside_enumeration_matches_brute_force() {
        let g = AnchorGrid::new(&[(8, 10), (4, 5), (2, 3)], &[8.0, 16.0, 32.0]);
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32) / (1u64 << 31) as f32
        };
        let mut boxes = vec![
            [4.0, 4.0, 12.0, 12.0], // edges exactly on anchor centres: excluded
            [3.9, 3.9, 12.1, 12.1], // just around them
            [0.0, 0.0, 80.0, 64.0], // whole image
            [-10.0, -10.0, 100.0, 90.0],
            [20.0, 20.0, 20.0, 20.0], // empty
            [30.0, 10.0, 20.0, 40.0], // inverted
        ];
        for _ in 0..500 {
            let x1 = rnd() * 90.0 - 5.0;
            let y1 = rnd() * 70.0 - 5.0;
            boxes.push([x1, y1, x1 + rnd() * 60.0, y1 + rnd() * 50.0]);
        }
        for b in boxes {
            let mut got = Vec::new();
            g.for_each_inside(b, |a| got.push(a));
            assert_eq!(got, brute(&g, b), "box {b:?}");
            assert_eq!(g.count_inside(b), got.len());
        }
    }
}
