//! Ultralytics 8.3.x learning-rate schedule, warm-up and batch-size arithmetic (`BaseTrainer`).
//!
//! Python's `round` and NumPy's `.round()` round half to even; every rounding here uses
//! [`f64::round_ties_even`] so e.g. `round(64 / 128) = 0`.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::optim::{GroupKind, YoloOptimizer};

/// Nominal batch size Ultralytics scales accumulation and weight decay to (`nbs`).
pub const NBS: usize = 64;

/// Linear schedule factor `lf(e) = max(1 − e/epochs, 0)·(1 − lrf) + lrf` (Ultralytics default).
///
/// `epoch` is 0-based; the result multiplies each group's `initial_lr`.
pub fn lf_linear(epoch: f64, epochs: f64, lrf: f64) -> f64 {
    (1.0 - epoch / epochs).max(0.0) * (1.0 - lrf) + lrf
}

/// Cosine schedule factor, `one_cycle(1, lrf, epochs)`:
/// `lf(e) = max((1 − cos(e·π/epochs)) / 2, 0)·(lrf − 1) + 1` (`cos_lr=True`).
pub fn lf_cosine(epoch: f64, epochs: f64, lrf: f64) -> f64 {
    ((1.0 - (epoch * std::f64::consts::PI / epochs).cos()) / 2.0).max(0.0) * (lrf - 1.0) + 1.0
}

/// Shape of the per-epoch schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LrShape {
    /// [`lf_linear`].
    Linear,
    /// [`lf_cosine`].
    Cosine,
}

/// The per-epoch `LambdaLR` schedule: epoch `e` (0-based) trains at `initial_lr · lf(e)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Linear or cosine.
    pub shape: LrShape,
    /// Total epochs.
    pub epochs: usize,
    /// Final learning-rate fraction (`lrf`, default 0.01).
    pub lrf: f64,
}

impl Schedule {
    /// The factor `lf(epoch)`, dimensionless.
    pub fn lf(&self, epoch: usize) -> f64 {
        let (e, n) = (epoch as f64, self.epochs as f64);
        match self.shape {
            LrShape::Linear => lf_linear(e, n, self.lrf),
            LrShape::Cosine => lf_cosine(e, n, self.lrf),
        }
    }

    /// `scheduler.step()` at the start of `epoch`: every group's lr becomes `initial_lr · lf(epoch)`.
    pub fn apply<B: AutodiffBackend>(&self, epoch: usize, optimizer: &mut YoloOptimizer<B>) {
        let lf = self.lf(epoch);
        for group in optimizer.groups_mut() {
            group.hyper.lr = group.hyper.initial_lr * lf;
        }
    }
}

/// `np.interp(x, xp, fp)`: piecewise-linear interpolation over increasing `xp`, clamped to
/// `fp[0]` left of `xp[0]` and to the last `fp` right of the last `xp`; NaN `x` gives NaN.
///
/// # Panics
/// If `xp` is empty or `xp` and `fp` differ in length.
pub fn interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    assert!(!xp.is_empty() && xp.len() == fp.len(), "interp needs equal, non-empty xp and fp");
    let last = xp.len() - 1;
    if x.is_nan() {
        return x;
    }
    if x < xp[0] {
        return fp[0];
    }
    if x >= xp[last] {
        return fp[last];
    }
    let j = xp.partition_point(|&v| v <= x) - 1;
    if xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let y = slope * (x - xp[j]) + fp[j];
    if !y.is_nan() {
        return y;
    }
    let y = slope * (x - xp[j + 1]) + fp[j + 1];
    if y.is_nan() && fp[j] == fp[j + 1] { fp[j] } else { y }
}

/// Warm-up length in iterations, [8.3.x] `nw = max(round(warmup_epochs · nb), 100)`, or −1
/// (no warm-up) when `warmup_epochs ≤ 0`. `nb` = batches per epoch.
pub fn warmup_iters(warmup_epochs: f64, nb: usize) -> i64 {
    if warmup_epochs > 0.0 { ((warmup_epochs * nb as f64).round_ties_even() as i64).max(100) } else { -1 }
}

/// Batches summed per optimizer step outside warm-up: `max(round(nbs / batch), 1)`.
pub fn nominal_accumulate(nbs: usize, batch: usize) -> usize {
    ((nbs as f64 / batch as f64).round_ties_even() as usize).max(1)
}

/// Weight decay scaled to the effective batch: `wd · batch · accumulate / nbs`.
pub fn scaled_weight_decay(weight_decay: f64, batch: usize, accumulate: usize, nbs: usize) -> f64 {
    weight_decay * batch as f64 * accumulate as f64 / nbs as f64
}

/// `iterations` that `optimizer=auto` compares with 10 000:
/// `ceil(dataset_len / max(batch, nbs)) · epochs`.
pub fn optimizer_iterations(dataset_len: usize, batch: usize, nbs: usize, epochs: usize) -> u64 {
    (dataset_len.div_ceil(batch.max(nbs)) * epochs) as u64
}

/// The per-iteration warm-up of `_do_train` (applied while `ni ≤ nw`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// Warm-up iterations from [`warmup_iters`]; −1 disables warm-up.
    pub nw: i64,
    /// Nominal batch size (64).
    pub nbs: usize,
    /// Training batch size.
    pub batch: usize,
    /// Bias-group start lr (`warmup_bias_lr`, 0.1; 0.0 under `optimizer=auto`).
    pub warmup_bias_lr: f64,
    /// Momentum at iteration 0 (`warmup_momentum`, 0.8).
    pub warmup_momentum: f64,
    /// Momentum at the end of warm-up: the user's `args.momentum` (0.937), **not** the 0.9 that
    /// `optimizer=auto` constructs SGD with.
    pub momentum: f64,
}

impl Warmup {
    /// Whether global batch index `ni` is inside warm-up (`ni ≤ nw`).
    pub fn active(&self, ni: u64) -> bool {
        self.nw >= 0 && ni <= self.nw as u64
    }

    /// Accumulation at `ni` during warm-up: `max(1, round(interp(ni, [0, nw], [1, nbs/batch])))`.
    pub fn accumulate(&self, ni: u64) -> usize {
        let target = self.nbs as f64 / self.batch as f64;
        (self.interp(ni, 1.0, target).round_ties_even() as usize).max(1)
    }

    /// Applies warm-up at global batch index `ni` of epoch `epoch_lf = lf(epoch)`: each group's lr
    /// goes from `warmup_bias_lr` (bias group, pg0) or 0 (the others) to `initial_lr · lf`, and
    /// groups that have a momentum (SGD, RMSProp; not the Adam family) go from
    /// `warmup_momentum` to `momentum`. Returns the new accumulation, or `None` (nothing changed)
    /// once `ni > nw`.
    pub fn apply<B: AutodiffBackend>(&self, ni: u64, epoch_lf: f64, optimizer: &mut YoloOptimizer<B>) -> Option<usize> {
        if !self.active(ni) {
            return None;
        }
        for group in optimizer.groups_mut() {
            let start = if group.hyper.group == GroupKind::Bias { self.warmup_bias_lr } else { 0.0 };
            group.hyper.lr = self.interp(ni, start, group.hyper.initial_lr * epoch_lf);
            if let Some(m) = group.hyper.momentum.as_mut() {
                *m = self.interp(ni, self.warmup_momentum, self.momentum);
            }
        }
        Some(self.accumulate(ni))
    }

    fn interp(&self, ni: u64, from: f64, to: f64) -> f64 {
        interp(ni as f64, &[0.0, self.nw as f64], &[from, to])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{OptimizerArgs, OptimizerKind};
    use burn::backend::{Autodiff, Flex};
    use yolo_model::{ModelSpec, Scale, Yolo};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn linear_schedule_matches_spec() {
        assert_eq!(lf_linear(0.0, 100.0, 0.01), 1.0);
        assert!(close(lf_linear(50.0, 100.0, 0.01), 0.505, 1e-12));
        assert!(close(lf_linear(99.0, 100.0, 0.01), 0.0199, 1e-12));
        assert!(close(lf_linear(150.0, 100.0, 0.01), 0.01, 1e-12));
        let s = Schedule { shape: LrShape::Linear, epochs: 100, lrf: 0.01 };
        assert!(close(s.lf(50), 0.505, 1e-12));
    }

    #[test]
    fn cosine_schedule_endpoints() {
        assert_eq!(lf_cosine(0.0, 100.0, 0.01), 1.0);
        assert!(close(lf_cosine(50.0, 100.0, 0.01), 0.505, 1e-12));
        assert!(close(lf_cosine(100.0, 100.0, 0.01), 0.01, 1e-12));
    }

    #[test]
    fn interp_is_numpy_interp() {
        let (xp, fp) = ([0.0, 10.0], [1.0, 4.0]);
        assert_eq!(interp(-1.0, &xp, &fp), 1.0);
        assert_eq!(interp(0.0, &xp, &fp), 1.0);
        assert_eq!(interp(5.0, &xp, &fp), 2.5);
        assert_eq!(interp(10.0, &xp, &fp), 4.0);
        assert_eq!(interp(11.0, &xp, &fp), 4.0);
        assert!(interp(f64::NAN, &xp, &fp).is_nan());
        assert_eq!(interp(15.0, &[0.0, 10.0, 20.0], &[0.0, 1.0, 3.0]), 2.0);
    }

    #[test]
    fn batch_arithmetic_matches_spec() {
        for (batch, acc, wd) in [(16, 4, 0.0005), (24, 3, 0.0005625), (128, 1, 0.001)] {
            assert_eq!(nominal_accumulate(NBS, batch), acc, "batch {batch}");
            assert!(close(scaled_weight_decay(0.0005, batch, acc, NBS), wd, 1e-15), "batch {batch}");
        }
        assert_eq!(optimizer_iterations(118_287, 16, NBS, 100), 184_900);
    }

    #[test]
    fn warmup_length_matches_spec() {
        assert_eq!(warmup_iters(3.0, 7393), 22_179);
        assert_eq!(warmup_iters(3.0, 10), 100);
        assert_eq!(warmup_iters(0.0, 7393), -1);
        // round half to even: 0.5 · 301 = 150.5 → 150.
        assert_eq!(warmup_iters(0.5, 301), 150);
    }

    #[test]
    fn warmup_accumulate_ramps_to_nominal() {
        let w = Warmup { nw: 100, nbs: NBS, batch: 16, warmup_bias_lr: 0.1, warmup_momentum: 0.8, momentum: 0.937 };
        assert_eq!(w.accumulate(0), 1);
        // interp(50) = 2.5 → 2 (half to even).
        assert_eq!(w.accumulate(50), 2);
        assert_eq!(w.accumulate(100), 4);
        assert!(w.active(100) && !w.active(101));
        let big = Warmup { batch: 128, ..w };
        assert_eq!(big.accumulate(100), 1);
        assert!(!Warmup { nw: -1, ..w }.active(0));
    }

    fn optimizer(kind: OptimizerKind) -> YoloOptimizer<Autodiff<Flex>> {
        let dev = Default::default();
        let model = Yolo::<Autodiff<Flex>>::new(ModelSpec::new(Scale::N, 1), &dev);
        let args = OptimizerArgs { optimizer: kind, ..Default::default() };
        YoloOptimizer::new(&model, &args.resolve(1, 0), 0.0005, &[])
    }

    #[test]
    fn warmup_moves_lr_and_sgd_momentum_but_not_adam_beta1() {
        let w = Warmup { nw: 200, nbs: NBS, batch: 16, warmup_bias_lr: 0.1, warmup_momentum: 0.8, momentum: 0.937 };
        let schedule = Schedule { shape: LrShape::Linear, epochs: 100, lrf: 0.01 };
        let mut sgd = optimizer(OptimizerKind::Sgd);
        schedule.apply(1, &mut sgd);
        assert!(sgd.groups().iter().all(|g| close(g.hyper.lr, 0.01 * 0.9901, 1e-15)));
        assert_eq!(w.apply(50, schedule.lf(0), &mut sgd), Some(2));
        let lrs: Vec<f64> = sgd.lrs().into_iter().map(|(_, lr)| lr).collect();
        assert!(close(lrs[0], 0.1 + 0.25 * (0.01 - 0.1), 1e-15) && close(lrs[1], 0.0025, 1e-15));
        assert!(close(sgd.groups()[2].hyper.momentum.unwrap(), 0.8 + 0.25 * 0.137, 1e-12));
        w.apply(200, schedule.lf(0), &mut sgd);
        assert!(sgd.groups().iter().all(|g| g.hyper.momentum == Some(0.937) && g.hyper.lr == 0.01));
        assert_eq!(w.apply(201, schedule.lf(0), &mut sgd), None);

        let mut adam = optimizer(OptimizerKind::AdamW);
        w.apply(50, schedule.lf(0), &mut adam);
        assert!(adam.groups().iter().all(|g| g.hyper.momentum.is_none() && g.hyper.betas == Some((0.937, 0.999))));
    }
}
