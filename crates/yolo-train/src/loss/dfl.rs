//! Distribution Focal Loss pieces: DFL decoding (softmax · [0..R)) and the two-bin cross-entropy with host-built targets.

use burn::tensor::{Tensor, TensorData, activation, backend::Backend};

/// Expected value of the per-side distributions: `softmax(logits, dim) · [0, 1, …, R−1]`,
/// summed over `dim` (kept as size 1). Ultralytics' `bbox_decode` / DFL conv.
///
/// * `logits`: any rank, with the `R = reg_max` bins on axis `dim` (e.g. `[B, 4, R, A]` or `[F, 4, R]`).
/// * returns the same shape with `dim` reduced to 1; values are distances in **grid units**.
pub fn expected_distance<B: Backend, const D: usize>(logits: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
    let dims = logits.dims();
    let r = dims[dim];
    let mut shape = [1usize; D];
    shape[dim] = r;
    let proj: Vec<f32> = (0..r).map(|i| i as f32).collect();
    let proj = Tensor::<B, 1>::from_data(TensorData::new(proj, [r]), &logits.device()).reshape(shape);
    (activation::softmax(logits, dim) * proj).sum_dim(dim)
}

/// Two-bin DFL target of one side (Ultralytics `DFLoss`): the distance `t` (grid units) is clamped
/// to `[0, R − 1 − 0.01]`, `tl = ⌊t⌋`, `tr = tl + 1`, `wl = tr − t`, `wr = 1 − wl`.
/// Returns `(tl, wl, wr)`.
pub fn side_target(t: f32, reg_max: usize) -> (usize, f32, f32) {
    let t = t.clamp(0.0, (reg_max as f64 - 1.0 - 0.01) as f32);
    let tl = t as usize; // t ≥ 0: truncation = floor, as `target.long()`
    let wl = (tl + 1) as f32 - t;
    let wr = 1.0 - wl;
    (tl, wl, wr)
}

/// Host-built bin weights `[F, 4, R]` for [`dfl_per_anchor`]: for each positive anchor and side,
/// `wl` at bin `tl` and `wr` at bin `tl + 1` (zero elsewhere).
///
/// `target_ltrb`: per anchor `(x − x1, y − y1, x2 − x, y2 − y)` in **grid units** (unclamped).
pub fn bin_weights(target_ltrb: &[[f32; 4]], reg_max: usize) -> Vec<f32> {
    let mut w = vec![0.0f32; target_ltrb.len() * 4 * reg_max];
    for (f, sides) in target_ltrb.iter().enumerate() {
        for (s, &t) in sides.iter().enumerate() {
            let (tl, wl, wr) = side_target(t, reg_max);
            let base = (f * 4 + s) * reg_max;
            w[base + tl] += wl;
            w[base + tl + 1] += wr;
        }
    }
    w
}

/// DFL of each positive anchor, averaged over its 4 sides:
/// `mean_side( CE(logits, tl)·wl + CE(logits, tr)·wr )` with `CE = −log_softmax`.
///
/// * `logits`: `[F, 4, R]` (graph-connected).
/// * `weights`: `[F, 4, R]` from [`bin_weights`] (constant).
/// * returns `[F]`.
pub fn dfl_per_anchor<B: Backend>(logits: Tensor<B, 3>, weights: Tensor<B, 3>) -> Tensor<B, 1> {
    let [f, _, _] = logits.dims();
    let per_side = (activation::log_softmax(logits, 2) * weights).sum_dim(2).neg(); // [F, 4, 1]
    per_side.mean_dim(1).reshape([f])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_targets() {
        assert_eq!(side_target(3.25, 16), (3, 0.75, 0.25));
        let (tl, wl, wr) = side_target(20.0, 16); // clamped to 14.99
        assert_eq!(tl, 14);
        assert!((wl - 0.01).abs() < 1e-5 && (wr - 0.99).abs() < 1e-5);
        assert_eq!(side_target(-1.0, 16), (0, 1.0, 0.0));
    }

    #[cfg(feature = "flex")]
    #[test]
    fn dfl_matches_manual_cross_entropy() {
        use burn::backend::Flex;
        let dev = Default::default();
        let r = 4;
        let logits: Vec<f32> = (0..4 * r).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3).collect();
        let ltrb = [[0.5f32, 1.25, 2.0, 2.99]];
        let w = bin_weights(&ltrb, r);
        let got = dfl_per_anchor(
            Tensor::<Flex, 1>::from_floats(logits.as_slice(), &dev).reshape([1, 4, r]),
            Tensor::<Flex, 1>::from_floats(w.as_slice(), &dev).reshape([1, 4, r]),
        )
        .into_scalar();
        let mut expect = 0.0f64;
        for s in 0..4 {
            let row: Vec<f64> = logits[s * r..(s + 1) * r].iter().map(|&v| f64::from(v)).collect();
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            let (tl, wl, wr) = side_target(ltrb[0][s], r);
            expect += (lse - row[tl]) * f64::from(wl) + (lse - row[tl + 1]) * f64::from(wr);
        }
        expect /= 4.0;
        assert!((f64::from(got) - expect).abs() < 1e-5, "{got} vs {expect}");

        // Expected distance of a peaked distribution ≈ its bin.
        let mut peaked = vec![-30.0f32; 4 * r];
        for s in 0..4 {
            peaked[s * r + s] = 30.0;
        }
        let d: Vec<f32> = expected_distance(
            Tensor::<Flex, 1>::from_floats(peaked.as_slice(), &dev).reshape([4, r]),
            1,
        )
        .into_data()
        .iter::<f32>()
        .collect();
        for (s, v) in d.iter().enumerate() {
            assert!((v - s as f32).abs() < 1e-5);
        }
    }
}
