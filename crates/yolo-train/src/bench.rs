//! Timing of full training steps (forward, loss with assignment, backward, optimizer, EMA) on synthetic or real batches, with the first step's time and host and device memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use serde::Serialize;
use yolo_data::{AugmentConfig, DataError, DatasetConfig, DecodingSource, IndexOptions, LabelIndex, Loader, LoaderConfig, Split, TrainTransform};
use yolo_model::bn_act::has_native_bn_act;
use yolo_model::{ModelSpec, Yolo};

use crate::cubecl_config::CubeclSetup;
use crate::device::{DeviceMemory, MemoryProbe};
use crate::ema::ModelEma;
use crate::loss::{DetectionLoss, LossConfig};
use crate::optim::{clip_grad_norm, OptimizerArgs, OptimizerKind, YoloOptimizer, MAX_GRAD_NORM};
use crate::trainer::batch_tensor;

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
    /// Dataset yaml: real training batches (mosaic and the default augmentations) from its
    /// train split instead of synthetic ones.
    pub data: Option<PathBuf>,
    /// Loader threads for real batches.
    pub workers: usize,
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
    /// `synthetic`, or the dataset yaml the batches came from.
    pub data: String,
    /// Whether BatchNorm + SiLU ran as our fused kernels.
    pub fused_bn: bool,
    /// First step (on GPU backends: kernel compilation and autotuning unless cached), s.
    pub first_step_s: f64,
    /// Mean of the timed steps (loader wait included), s.
    pub step_s: f64,
    /// Images per second at `step_s`.
    pub img_per_s: f64,
    /// Peak host RSS of the process so far, bytes.
    pub host_peak_rss: Option<u64>,
    /// Device memory in live tensors, bytes: the largest of the samples taken after the
    /// forward + loss, the backward and the optimizer/EMA update of one extra, synchronised step.
    pub device_peak_in_use: Option<u64>,
    /// Device memory held by the allocator's pool at those samples and after every step, bytes.
    pub device_peak_reserved: Option<u64>,
    /// The CubeCL cache this process used (GPU devices): folder and whether it was warm.
    pub cubecl: Option<CubeclSetup>,
}

/// Model, optimizer, EMA and criterion of a run: one call of [`TrainStep::run`] is one batch of
/// `yolo train` (SGD, no schedule or accumulation).
pub struct TrainStep<B: AutodiffBackend> {
    model: Option<Yolo<B>>,
    optimizer: YoloOptimizer<B>,
    ema: ModelEma<B>,
    criterion: DetectionLoss,
}

impl<B: AutodiffBackend> TrainStep<B> {
    /// A freshly initialised model of `spec` with its optimizer, EMA and loss.
    pub fn new(spec: ModelSpec, device: &B::Device) -> Self {
        let model = Yolo::<B>::new(spec, device);
        let choice = OptimizerArgs { optimizer: OptimizerKind::Sgd, ..Default::default() }.resolve(spec.nc, 0);
        let optimizer = YoloOptimizer::new(&model, &choice, 0.0005, &[]);
        let ema = ModelEma::new(&model);
        let criterion = DetectionLoss::new(spec.nc, [8.0, 16.0, 32.0], LossConfig::default());
        Self { model: Some(model), optimizer, ema, criterion }
    }

    /// The EMA model (what validation runs).
    pub fn ema(&self) -> &Yolo<B::InnerBackend> {
        self.ema.model()
    }

    /// The loss.
    pub fn criterion(&self) -> &DetectionLoss {
        &self.criterion
    }

    /// Forward, loss, backward, gradient clipping, SGD step and EMA update on `x` (`[B, 3, H, W]`
    /// in 0..1) with targets `[batch_idx, cls, cx, cy, w, h]`; waits for the device.
    pub fn run(&mut self, x: Tensor<B, 4>, targets: &[[f32; 6]], device: &B::Device) {
        self.run_with(x, targets, device, &mut |_| {});
    }

    /// [`TrainStep::run`], also synchronising and calling `sample` after the forward + loss, the
    /// backward and the update (where the memory in use peaks).
    pub fn run_sampled(&mut self, x: Tensor<B, 4>, targets: &[[f32; 6]], device: &B::Device, sample: &mut dyn FnMut(&str)) {
        self.run_with(x, targets, device, &mut |stage| {
            let _ = B::sync(device);
            sample(stage);
        });
    }

    fn run_with(&mut self, x: Tensor<B, 4>, targets: &[[f32; 6]], device: &B::Device, after: &mut dyn FnMut(&str)) {
        let model = self.model.take().expect("the model is put back after every step");
        let out = self.criterion.forward(model.forward_train(x), targets);
        after("forward");
        let mut grads = GradientsParams::from_grads(out.total.backward(), &model);
        after("backward");
        clip_grad_norm(&model, &mut grads, MAX_GRAD_NORM);
        let model = self.optimizer.step(model, grads);
        self.ema.update(&model);
        let _ = B::sync(device);
        after("update");
        self.model = Some(model);
    }
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

/// Where the benchmark's batches come from.
enum Batches {
    /// Uniform random images with [`synthetic_targets`].
    Synthetic(Vec<[f32; 6]>),
    /// Full batches of the training loader of a dataset yaml (the short last batch is dropped).
    Real(Box<Loader>, PathBuf),
}

impl Batches {
    fn new(cfg: &StepBench) -> Result<Self, DataError> {
        let Some(yaml) = &cfg.data else {
            return Ok(Self::Synthetic(synthetic_targets(cfg.batch, cfg.boxes_per_image, cfg.spec.nc)));
        };
        Ok(Self::Real(Box::new(train_loader(yaml, cfg.imgsz as u32, cfg.batch, cfg.workers)?), yaml.clone()))
    }

    fn next<B: AutodiffBackend>(&mut self, cfg: &StepBench, device: &B::Device) -> Result<(Tensor<B, 4>, Vec<[f32; 6]>), DataError> {
        match self {
            Self::Synthetic(targets) => {
                let x = Tensor::random([cfg.batch, 3, cfg.imgsz, cfg.imgsz], Distribution::Uniform(0.0, 1.0), device);
                Ok((x, targets.clone()))
            }
            Self::Real(loader, yaml) => {
                let batch = match loader.next_batch()? {
                    Some(b) => b,
                    None => loader.next_batch()?.ok_or_else(|| DataError::dataset(yaml, "the train split has no full batch"))?,
                };
                let out = (batch_tensor::<B>(&batch, device), batch.labels.clone());
                loader.recycle(batch);
                Ok(out)
            }
        }
    }
}

/// The training loader of `yaml` (train split, default augmentations, `drop_last`).
pub fn train_loader(yaml: &Path, imgsz: u32, batch: usize, workers: usize) -> Result<Loader, DataError> {
    let data = DatasetConfig::load(yaml)?;
    let opts = IndexOptions { verbose: false, workers, ..Default::default() };
    let index = LabelIndex::load(&data, Split::Train, &opts)?;
    let transform = TrainTransform::new(&AugmentConfig::default(), imgsz, false).map_err(|e| DataError::dataset(yaml, e.to_string()))?;
    let cfg = LoaderConfig { drop_last: true, ..LoaderConfig::train(imgsz, batch, workers, 0) };
    Ok(Loader::new(Arc::new(DecodingSource::new(&index, imgsz)), Arc::new(transform), cfg))
}

/// Largest of the probe's readings.
#[derive(Debug, Default, Clone, Copy)]
struct Peak(Option<DeviceMemory>);

impl Peak {
    fn sample(&mut self, memory: &MemoryProbe) {
        if let Some(m) = memory() {
            let p = self.0.get_or_insert(m);
            p.in_use = p.in_use.max(m.in_use);
            p.reserved = p.reserved.max(m.reserved);
        }
    }
}

/// Runs `1 + steps` timed training steps, then one synchronised step that samples device memory.
pub fn time_train_steps<B: AutodiffBackend>(cfg: &StepBench, device: &B::Device, memory: &MemoryProbe) -> Result<StepTiming, DataError> {
    let mut run = TrainStep::<B>::new(cfg.spec, device);
    let mut batches = Batches::new(cfg)?;
    let mut peak = Peak::default();
    let (x, targets) = batches.next::<B>(cfg, device)?;
    let t0 = Instant::now();
    run.run(x, &targets, device);
    let first_step_s = t0.elapsed().as_secs_f64();
    peak.sample(memory);
    let t1 = Instant::now();
    for _ in 0..cfg.steps {
        let (x, targets) = batches.next::<B>(cfg, device)?;
        run.run(x, &targets, device);
        peak.sample(memory);
    }
    let step_s = t1.elapsed().as_secs_f64() / cfg.steps.max(1) as f64;
    let (x, targets) = batches.next::<B>(cfg, device)?;
    run.run_sampled(x, &targets, device, &mut |_| peak.sample(memory));
    Ok(StepTiming {
        model: cfg.spec.name(),
        imgsz: cfg.imgsz,
        batch: cfg.batch,
        data: cfg.data.as_ref().map_or_else(|| "synthetic".into(), |p| p.display().to_string()),
        fused_bn: has_native_bn_act::<B>(),
        first_step_s,
        step_s,
        img_per_s: cfg.batch as f64 / step_s,
        host_peak_rss: yolo_memory::process::peak_rss_bytes(),
        device_peak_in_use: peak.0.map(|m| m.in_use),
        device_peak_reserved: peak.0.map(|m| m.reserved),
        cubecl: crate::cubecl_config::current(),
    })
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use yolo_model::Scale;

    #[test]
    fn a_synthetic_step_runs_and_reports() {
        type A = burn::backend::Autodiff<burn::backend::Flex>;
        let cfg = StepBench { spec: ModelSpec::new(Scale::N, 2), imgsz: 64, batch: 2, steps: 1, boxes_per_image: 2, data: None, workers: 0 };
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        let probe: MemoryProbe = Arc::new(move || {
            let k = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as u64;
            Some(DeviceMemory { in_use: 100 + k, reserved: 1000 })
        });
        let t = time_train_steps::<A>(&cfg, &Default::default(), &probe).unwrap();
        assert_eq!((t.model.as_str(), t.batch, t.data.as_str(), t.fused_bn), ("yolo11n", 2, "synthetic", false));
        assert!(t.first_step_s > 0.0 && t.img_per_s > 0.0);
        // 2 steps + 3 samples of the synchronised step = 5 readings; the peak is the last one.
        assert_eq!((t.device_peak_in_use, t.device_peak_reserved), (Some(104), Some(1000)));
    }
}
