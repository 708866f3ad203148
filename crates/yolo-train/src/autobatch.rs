//! `batch=-1|0.7` and `yolo plan`: the run's memory plan from `yolo-memory`'s estimator, corrected
//! by probes of real training steps near the planned batch on backends that report memory, and
//! the settings the plan implies.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use serde::Serialize;
use thiserror::Error;
use yolo_data::image_cache::cache_bytes;
use yolo_data::{DataError, DatasetConfig, IndexOptions, LabelIndex, Split};
use yolo_memory::{
    estimate, is_out_of_memory, plan, BackendKind, CacheKind, Calibration, Checkpointing, DatasetFacts, Dtype,
    MemoryArg, MemoryError, Optimizer, Plan, PlanRequest, PoolConfig, Probe, ProbeOutcome, StepShape,
};
use yolo_model::bn_act::has_native_bn_act;
use yolo_model::ModelSpec;

use crate::args::{Switch, TrainArgs};
use crate::bench::{synthetic_targets, TrainStep};
use crate::device::{DeviceArg, DeviceLimits, DeviceMemory, MemoryProbe, PeakSampler};
use crate::optim::OptimizerKind;
use crate::schedule::optimizer_iterations;

/// How often a probe's [`PeakSampler`] reads the allocator.
pub const PEAK_INTERVAL: Duration = Duration::from_micros(500);

/// Most probes of real steps one plan runs.
pub const MAX_PROBES: usize = 3;

/// Why a plan could not be made.
#[derive(Debug, Error)]
pub enum AutobatchError {
    /// The dataset could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Estimating or planning failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A model name that is not a YOLO11 scale.
    #[error(transparent)]
    Model(#[from] yolo_model::ModelError),
}

/// Device memory of real training steps, bytes (and their time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepMemory {
    /// Images per step.
    pub batch: u64,
    /// In use with the model, EMA and optimizer state only (after a warm-up step and a cleanup).
    pub baseline: u64,
    /// In use at the end of the forward and loss, before backward (highest over the steps).
    pub after_forward: u64,
    /// In use after backward, before the update (highest over the steps).
    pub after_backward: u64,
    /// Highest in use seen during the steps: the stage reads above and a [`PeakSampler`]
    /// polling every [`PEAK_INTERVAL`] (inside backward and the update too).
    pub peak: u64,
    /// Reserved by the pool after the steps.
    pub reserved: u64,
    /// Reserved after the first (warm-up, autotuning) step, before the cleanup.
    pub reserved_first: u64,
    /// First step, s (kernel compilation and autotuning on GPU backends).
    pub first_step_s: f64,
    /// Mean of the measured steps, s.
    pub step_s: f64,
}

/// A probe: `steps` training steps (after one warm-up) of a fresh `spec` at `shape` with
/// `boxes` synthetic objects per image.
#[derive(Debug, Clone, Copy)]
pub struct ProbeSpec {
    /// Model.
    pub spec: ModelSpec,
    /// Batch and image size.
    pub shape: StepShape,
    /// Synthetic objects per image.
    pub boxes: u64,
    /// Measured steps after the warm-up.
    pub steps: usize,
}

/// Runs a probe and reads the device's allocator around it. A panic (an allocation failure on
/// GPU backends) is caught and returned as its message.
pub fn measure_step<B: AutodiffBackend>(p: &ProbeSpec, device: &B::Device, memory: &MemoryProbe) -> Result<StepMemory, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| run_probe::<B>(p, device, memory)));
    B::memory_cleanup(device);
    outcome.map_err(|payload| {
        let message = crate::device::panic_message(payload.as_ref());
        if message.is_empty() { "a probe step panicked".into() } else { message }
    })
}

fn run_probe<B: AutodiffBackend>(p: &ProbeSpec, device: &B::Device, memory: &MemoryProbe) -> StepMemory {
    let read = || memory().unwrap_or_default();
    let StepShape { batch, height, width } = p.shape;
    let mut step = TrainStep::<B>::new(p.spec, device);
    let targets = synthetic_targets(batch as usize, p.boxes as usize, p.spec.nc);
    let image = || Tensor::<B, 4>::random([batch as usize, 3, height as usize, width as usize], Distribution::Uniform(0.0, 1.0), device);
    let t0 = Instant::now();
    step.run(image(), &targets, device);
    let first_step_s = t0.elapsed().as_secs_f64();
    let reserved_first = read().reserved;
    B::memory_cleanup(device);
    let _ = B::sync(device);
    let baseline = read().in_use;
    let (mut after_forward, mut after_backward) = (0, 0);
    let t1 = Instant::now();
    let sampler = PeakSampler::start(memory.clone(), PEAK_INTERVAL);
    for _ in 0..p.steps.max(1) {
        step.run_sampled(image(), &targets, device, &mut |stage| {
            let DeviceMemory { in_use, .. } = read();
            match stage {
                "forward" => after_forward = after_forward.max(in_use),
                "backward" => after_backward = after_backward.max(in_use),
                _ => {}
            }
        });
    }
    let step_s = t1.elapsed().as_secs_f64() / p.steps.max(1) as f64;
    let peak = sampler.finish().max(after_forward).max(after_backward);
    StepMemory { batch, baseline, after_forward, after_backward, peak, reserved: read().reserved, reserved_first, first_step_s, step_s }
}

/// The estimator's backend for a device.
pub fn backend_kind(device: DeviceArg) -> BackendKind {
    match device {
        DeviceArg::Cpu => BackendKind::Cpu,
        DeviceArg::Wgpu(_) => BackendKind::Wgpu,
        DeviceArg::Cuda(_) => BackendKind::Cuda,
    }
}

/// CubeCL's pools on a device with `limits` (wgpu's defaults where it does not say).
pub fn pool_config(device: DeviceArg, limits: &DeviceLimits) -> PoolConfig {
    match (limits.max_page, limits.alignment) {
        (Some(max_page), Some(alignment)) => PoolConfig { max_page, alignment },
        _ if matches!(device, DeviceArg::Cuda(_)) => PoolConfig::cuda(limits.total.unwrap_or(16 << 30)),
        _ => PoolConfig::WGPU_DEFAULT,
    }
}

/// Dataset facts for the planner: image and label counts, the densest image, the largest source
/// and the bytes of a cache at `imgsz`.
pub fn dataset_facts(args: &TrainArgs, imgsz: u32) -> Result<DatasetFacts, DataError> {
    let data = DatasetConfig::load(&args.data)?;
    let opts = IndexOptions { single_cls: args.single_cls, fraction: args.fraction, workers: args.loader_workers(), ..Default::default() };
    let train = LabelIndex::load(&data, Split::Train, &opts)?;
    let val = LabelIndex::load(&data, Split::Val, &IndexOptions { fraction: 1.0, ..opts })?;
    let labels = |i: &LabelIndex| i.images.iter().map(|im| im.labels.len() as u64).sum::<u64>();
    Ok(DatasetFacts {
        train_images: train.images.len() as u64,
        val_images: val.images.len() as u64,
        labels: labels(&train) + labels(&val),
        max_labels: train.images.iter().map(|im| im.labels.len() as u64).max().unwrap_or(0),
        max_source_pixels: train.images.iter().map(|im| u64::from(im.width) * u64::from(im.height)).max().unwrap_or(0),
        cache_bytes: cache_bytes(&train, imgsz),
    })
}

/// Scale (and the file's classes) of `model=`: a name, or a weights file read for its shapes.
pub fn model_spec(model: &str) -> Result<ModelSpec, yolo_model::ModelError> {
    let path = std::path::Path::new(model);
    if !path.exists() {
        return ModelSpec::from_name(model);
    }
    let sd = yolo_model::weights::read_weights(path).map_err(yolo_model::ModelError::from)?;
    yolo_model::load::infer_spec(&sd, model)
}

fn optimizer_of(args: &TrainArgs, nc: usize, train_images: u64) -> Optimizer {
    let iterations = optimizer_iterations(train_images as usize, args.nbs, args.nbs, args.epochs);
    match args.optimizer_args().resolve(nc, iterations).kind() {
        OptimizerKind::Adam => Optimizer::Adam,
        OptimizerKind::AdamW => Optimizer::AdamW,
        OptimizerKind::RmsProp => Optimizer::RmsProp,
        OptimizerKind::Sgd | OptimizerKind::Auto => Optimizer::Sgd,
    }
}

fn cache_kind(args: &TrainArgs) -> CacheKind {
    match args.cache_mode() {
        Ok(yolo_data::image_cache::CacheMode::Ram) => CacheKind::Ram,
        Ok(yolo_data::image_cache::CacheMode::Disk) => CacheKind::Disk,
        _ => CacheKind::None,
    }
}

/// The planner's request for `args` on `device`: the budget is `memory=` or the `batch`
/// fraction of the device's total; `fused_bn`: the model runs yolo-model's fused BatchNorm.
pub fn plan_request(args: &TrainArgs, device: DeviceArg, limits: &DeviceLimits, fused_bn: bool) -> Result<PlanRequest, AutobatchError> {
    let spec = model_spec(&args.model)?;
    let imgsz = args.imgsz_checked();
    let data = dataset_facts(args, imgsz)?;
    let nc = DatasetConfig::load(&args.data)?.names.len();
    let spec = ModelSpec { nc: if args.single_cls { 1 } else { nc }, ..spec };
    let memory = args.memory.unwrap_or(MemoryArg::Fraction(args.batch.fraction().unwrap_or(0.6)));
    let device_budget = memory.bytes(limits.total).ok_or_else(|| MemoryError::UnknownTotal(device.to_string()))?;
    Ok(PlanRequest {
        spec,
        imgsz: u64::from(imgsz),
        nbs: args.nbs as u64,
        backend: backend_kind(device),
        dtype: Dtype::F32,
        pool: pool_config(device, limits),
        optimizer: optimizer_of(args, spec.nc, data.train_images),
        device_budget,
        host_budget: yolo_memory::process::available_ram(),
        data,
        mosaic: args.augment.mosaic > 0.0,
        workers: args.loader_workers() as u64,
        cache: cache_kind(args),
        val_batch: args.val_batch.map(|v| v as u64),
        checkpointing: args.checkpointing,
        fused_bn,
    })
}

/// Plans `req`, probing real steps on `B` when the device reports memory: at most
/// [`MAX_PROBES`] probes, each at the batch the last plan chose, until the plan stops moving.
/// Checkpointed plans are not probed (this backend does not checkpoint).
pub fn plan_with_probes<B: AutodiffBackend>(
    req: &PlanRequest,
    device: &B::Device,
    memory: &MemoryProbe,
    verbose: bool,
) -> Result<(Plan, Calibration), MemoryError> {
    let mut cal = Calibration::default();
    let mut current = plan(req, &cal)?;
    if memory().is_none() {
        return Ok((current, cal));
    }
    for _ in 0..MAX_PROBES {
        let batch = current.batch;
        if current.checkpointing != Checkpointing::None || cal.probes.iter().any(|p| p.batch == batch) {
            break;
        }
        let predicted = estimate(&probe_config(req, batch, Checkpointing::None)).required();
        let spec = ProbeSpec { spec: req.spec, shape: StepShape::square(batch, req.imgsz), boxes: req.max_boxes(), steps: 1 };
        let outcome = match measure_step::<B>(&spec, device, memory) {
            Ok(m) => ProbeOutcome::Measured { reserved: m.reserved, in_use_after_forward: m.after_forward, baseline: m.baseline },
            Err(msg) if is_out_of_memory(&msg) => ProbeOutcome::OutOfMemory(msg),
            Err(msg) => ProbeOutcome::Failed(msg),
        };
        if verbose {
            println!("AutoBatch probe at batch {batch}: predicted {:.2} GiB, {}", yolo_memory::units::gib(predicted), describe(&outcome));
        }
        cal.probes.push(Probe { batch, predicted, outcome });
        current = plan(req, &cal)?;
    }
    Ok((current, cal))
}

/// The estimate of what a probe runs: one [`TrainStep`] at `batch` (SGD, no accumulated
/// gradient sum), validation at one image, so that predicted and measured compare like for like.
pub fn probe_config(req: &PlanRequest, batch: u64, checkpointing: Checkpointing) -> yolo_memory::EstimateConfig {
    yolo_memory::EstimateConfig { accumulate: 1, optimizer: Optimizer::Sgd, ..req.estimate_config(batch, 1, checkpointing) }
}

fn describe(outcome: &ProbeOutcome) -> String {
    match outcome {
        ProbeOutcome::Measured { reserved, .. } => format!("measured {:.2} GiB reserved", yolo_memory::units::gib(*reserved)),
        ProbeOutcome::OutOfMemory(m) => format!("out of memory ({m})"),
        ProbeOutcome::Failed(m) => format!("failed, not an out-of-memory ({m})"),
    }
}

/// `args` with the plan's micro-batch, validation batch, workers, cache and checkpointing.
/// Accumulation is left to the trainer (`round(nbs / batch)`, what the plan assumed).
pub fn apply_plan(args: &TrainArgs, plan: &Plan) -> TrainArgs {
    let cache = match plan.cache {
        CacheKind::None => Switch::On(false),
        CacheKind::Ram => Switch::Value("ram".into()),
        CacheKind::Disk => Switch::Value("disk".into()),
    };
    TrainArgs {
        batch: crate::args::BatchArg::Fixed(plan.batch as usize),
        val_batch: Some(plan.val_batch as usize),
        workers: plan.workers as usize,
        cache,
        checkpointing: Some(plan.checkpointing == Checkpointing::Balanced),
        ..args.clone()
    }
}

/// Whether `B` runs yolo-model's fused BatchNorm kernels in training.
pub fn fused_bn<B: AutodiffBackend>() -> bool {
    has_native_bn_act::<B>()
}
