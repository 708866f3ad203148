//! Timing of full training steps (forward, loss with assignment, backward, optimizer, EMA) on
//! synthetic or real batches, with host and device memory.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use serde::Serialize;
use yolo_model::{ModelSpec, Yolo};

use crate::device::{DeviceMemory, MemoryProbe};
use crate::ema::ModelEma;
use crate::loss::{DetectionLoss, LossConfig};
use crate::optim::{clip_grad_norm, OptimizerArgs, OptimizerKind, YoloOptimizer, MAX_GRAD_NORM};

/// What to time.
#[derive(Debug, Clone)]
pub struct StepBench {
    /// Model scale and classes.
    pub spec: ModelSpec,
    /// Square input side, px.
    pub imgsz: usize,
    /// Images per step.
    pub batch: usize,
    /// Timed steps after the first.
    pub steps: usize,
    /// Objects per image in the synthetic targets.
    pub boxes_per_image: usize,
}

/// Timings and memory of one [`StepBench`].
#[derive(Debug, Clone, Serialize)]
pub struct StepTiming {
    /// Model name.
    pub model: String,
    /// Input side, px.
    pub imgsz: usize,
    /// Images per step.
    pub batch: usize,
    /// First step (includes kernel compilation and autotuning on GPU backends), s.
    pub first_step_s: f64,
    /// Mean of the timed steps, s.
    pub step_s: f64,
    /// Images per second at `step_s`.
    pub img_per_s: f64,
    /// Peak host RSS of the process so far, bytes.
    pub host_peak_rss: Option<u64>,
    /// Device memory after the last step (in use / reserved), bytes.
    pub device: Option<(u64, u64)>,
    /// Peak device memory reserved over the steps, bytes.
    pub device_peak_reserved: Option<u64>,
}

/// Targets `[batch_idx, cls, cx, cy, w, h]`: `n` boxes per image on a jittered grid, sizes
/// 5–30 % of the image (deterministic).
pub fn synthetic_targets(batch: usize, n: usize, nc: usize) -> Vec<[f32; 6]> {
    let side = (n as f32).sqrt().ceil().max(1.0);
    (0..batch)
        .flat_map(|b| {
            (0..n).map(move |k| {
                let (gx, gy) = ((k as f32 % side), (k as f32 / side).floor());
                let jitter = ((b * 31 + k * 17) % 10) as f32 / 100.0;
                let cx = ((gx + 0.5) / side + jitter * 0.1).min(0.95);
                let cy = ((gy + 0.5) / side + jitter * 0.1).min(0.95);
                let w = 0.05 + 0.25 * (((k * 7 + b) % 10) as f32 / 10.0);
                [b as f32, (k % nc) as f32, cx, cy, w.min(2.0 * cx).min(2.0 * (1.0 - cx)), w.min(2.0 * cy).min(2.0 * (1.0 - cy))]
            })
        })
        .collect()
}

/// Runs `1 + steps` full training steps on random images and synthetic targets.
pub fn time_train_steps<B: AutodiffBackend>(cfg: &StepBench, device: &B::Device, memory: &MemoryProbe) -> StepTiming {
    let mut model = Yolo::<B>::new(cfg.spec, device);
    let choice = OptimizerArgs { optimizer: OptimizerKind::Sgd, ..Default::default() }.resolve(cfg.spec.nc, 0);
    let mut optimizer = YoloOptimizer::new(&model, &choice, 0.0005, &[]);
    let mut ema = ModelEma::new(&model);
    let criterion = DetectionLoss::new(cfg.spec.nc, [8.0, 16.0, 32.0], LossConfig::default());
    let targets = synthetic_targets(cfg.batch, cfg.boxes_per_image, cfg.spec.nc);
    let mut peak_reserved = None::<u64>;
    let mut step = |model: Yolo<B>| -> Yolo<B> {
        let x = Tensor::<B, 4>::random([cfg.batch, 3, cfg.imgsz, cfg.imgsz], Distribution::Uniform(0.0, 1.0), device);
        let out = criterion.forward(model.forward_train(x), &targets);
        let mut grads = GradientsParams::from_grads(out.total.backward(), &model);
        clip_grad_norm(&model, &mut grads, MAX_GRAD_NORM);
        let model = optimizer.step(model, grads);
        ema.update(&model);
        let _ = B::sync(device);
        if let Some(DeviceMemory { reserved, .. }) = memory() {
            peak_reserved = Some(peak_reserved.unwrap_or(0).max(reserved));
        }
        model
    };
    let t0 = Instant::now();
    model = step(model);
    let first_step_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for _ in 0..cfg.steps {
        model = step(model);
    }
    let step_s = t1.elapsed().as_secs_f64() / cfg.steps.max(1) as f64;
    drop(model);
    StepTiming {
        model: cfg.spec.name(),
        imgsz: cfg.imgsz,
        batch: cfg.batch,
        first_step_s,
        step_s,
        img_per_s: cfg.batch as f64 / step_s,
        host_peak_rss: yolo_memory::process::peak_rss_bytes(),
        device: memory().map(|m| (m.in_use, m.reserved)),
        device_peak_reserved: peak_reserved,
    }
}
