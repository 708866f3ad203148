//! The planner: given a device budget and the nominal batch, the largest micro-batch that fits
//! (with the accumulation that keeps the effective batch), the validation batch, loader workers,
//! cache mode and, when nothing small fits, gradient checkpointing; printed as a table.

use std::fmt;

use serde::{Deserialize, Serialize};
use yolo_model::ModelSpec;

use crate::calibrate::Calibration;
use crate::error::MemoryError;
use crate::estimate::{estimate, model_sizes, BackendKind, DeviceEstimate, Dtype, EstimateConfig, Optimizer};
use crate::graph::{LossLoad, StepShape};
use crate::host::{estimate_host, CacheKind, DatasetFacts, HostConfig, HostEstimate};
use crate::pool::PoolConfig;
use crate::tape::Checkpointing;
use crate::units::{gib, human};

/// Below this many images per micro-batch BatchNorm statistics (computed per micro-batch,
/// whatever the accumulation) get noisy enough to hurt.
pub const BN_MIN_BATCH: u64 = 8;

/// Everything the planner decides from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// Model scale and classes.
    pub spec: ModelSpec,
    /// Training image side, px.
    pub imgsz: u64,
    /// Nominal batch the accumulation aims at (`nbs`, 64).
    pub nbs: u64,
    /// Backend.
    pub backend: BackendKind,
    /// Float type.
    pub dtype: Dtype,
    /// Pools of a CubeCL backend.
    pub pool: PoolConfig,
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Device bytes the run may use.
    pub device_budget: u64,
    /// Host bytes the run may use (`None`: not limited).
    pub host_budget: Option<u64>,
    /// Dataset facts.
    pub data: DatasetFacts,
    /// Mosaic on: a training image can hold 4× the densest source image's boxes.
    pub mosaic: bool,
    /// Most loader threads wanted.
    pub workers: u64,
    /// Image cache wanted.
    pub cache: CacheKind,
    /// Validation batch fixed by the user (default: 2 × micro-batch, lowered to fit).
    pub val_batch: Option<u64>,
    /// `Some(true)`: always checkpoint; `Some(false)`: never; `None`: when it buys a micro-batch
    /// of at least [`BN_MIN_BATCH`] that plain training cannot reach.
    pub checkpointing: Option<bool>,
    /// BatchNorm + SiLU run as yolo-model's fused op without checkpointing (see
    /// [`EstimateConfig::fused_bn`]).
    pub fused_bn: bool,
}

impl PlanRequest {
    /// Most boxes one training image can hold.
    pub fn max_boxes(&self) -> u64 {
        self.data.max_labels * if self.mosaic { 4 } else { 1 }
    }

    /// The estimate settings at micro-batch `batch`, validation batch `val_batch`.
    pub fn estimate_config(&self, batch: u64, val_batch: u64, checkpointing: Checkpointing) -> EstimateConfig {
        EstimateConfig {
            spec: self.spec,
            shape: StepShape::square(batch, self.imgsz),
            val_batch,
            dtype: self.dtype,
            backend: self.backend,
            pool: self.pool,
            loss: LossLoad { max_boxes: self.max_boxes() },
            optimizer: self.optimizer,
            accumulate: accumulate(self.nbs, batch),
            checkpointing,
            // yolo-model dispatches its fused kernels only for the `NoCheckpointing` autodiff types.
            fused_bn: self.fused_bn && checkpointing == Checkpointing::None,
        }
    }
}

/// Micro-batches per optimizer step for nominal batch `nbs`: `max(round(nbs / batch), 1)`.
pub fn accumulate(nbs: u64, batch: u64) -> u64 {
    ((nbs as f64 / batch.max(1) as f64).round_ties_even() as u64).max(1)
}

/// A plan for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Model.
    pub spec: ModelSpec,
    /// Training image side, px.
    pub imgsz: u64,
    /// Backend.
    pub backend: BackendKind,
    /// Micro-batch: images per forward/backward.
    pub batch: u64,
    /// Micro-batches summed per optimizer step.
    pub accumulate: u64,
    /// Nominal batch aimed at.
    pub nbs: u64,
    /// Validation images per batch.
    pub val_batch: u64,
    /// Loader threads.
    pub workers: u64,
    /// Image cache.
    pub cache: CacheKind,
    /// Gradient checkpointing.
    pub checkpointing: Checkpointing,
    /// Device estimate at the plan.
    pub device: DeviceEstimate,
    /// What the device must hold after the probes' correction, bytes.
    pub device_required: u64,
    /// Device budget, bytes.
    pub device_budget: u64,
    /// Host estimate at the plan.
    pub host: HostEstimate,
    /// Host budget, bytes.
    pub host_budget: Option<u64>,
    /// Things to know about the plan.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Images per optimizer step.
    pub fn effective_batch(&self) -> u64 {
        self.batch * self.accumulate
    }
}

/// What the device must hold at `batch` (training only, validation at one image), corrected by
/// the probes; `None` when it cannot run or is beyond what the probes vouch for.
fn train_need(req: &PlanRequest, cal: &Calibration, batch: u64, ckpt: Checkpointing) -> Option<u64> {
    if cal.ceiling().is_some_and(|c| batch >= c) {
        return None;
    }
    let est = estimate(&req.estimate_config(batch, 1, ckpt));
    if est.too_big > 0 {
        return None;
    }
    cal.correct(batch, est.required()).ok()
}

/// Largest `x` in `1..=hi` with `ok(x)`, assuming `ok` holds up to some point and fails after.
fn largest(hi: u64, ok: impl Fn(u64) -> bool) -> Option<u64> {
    if hi == 0 || !ok(1) {
        return None;
    }
    let (mut lo, mut hi) = (1, hi);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if ok(mid) { lo = mid } else { hi = mid - 1 }
    }
    Some(lo)
}

/// Largest micro-batch that fits `req.device_budget` with `ckpt`.
fn largest_batch(req: &PlanRequest, cal: &Calibration, ckpt: Checkpointing) -> Option<u64> {
    let cap = req.nbs.min(req.data.train_images.max(1));
    largest(cap, |b| train_need(req, cal, b, ckpt).is_some_and(|n| n <= req.device_budget))
}

/// Chooses micro-batch, accumulation, validation batch, workers, cache mode and checkpointing.
pub fn plan(req: &PlanRequest, cal: &Calibration) -> Result<Plan, MemoryError> {
    let plain = (req.checkpointing != Some(true)).then(|| largest_batch(req, cal, Checkpointing::None)).flatten();
    let may_checkpoint = req.checkpointing != Some(false) && plain.is_none_or(|b| b < BN_MIN_BATCH);
    let balanced = may_checkpoint.then(|| largest_batch(req, cal, Checkpointing::Balanced)).flatten();
    let (batch, ckpt) = match (plain, balanced) {
        (_, Some(c)) if req.checkpointing == Some(true) || plain.is_none_or(|p| c > p) => (c, Checkpointing::Balanced),
        (Some(p), _) => (p, Checkpointing::None),
        _ => return Err(does_not_fit(req, cal, may_checkpoint)),
    };
    let val_cap = req.val_batch.unwrap_or(2 * batch);
    let val_batch = largest(val_cap, |v| {
        let est = estimate(&req.estimate_config(batch, v, ckpt));
        cal.correct(batch, est.required()).is_ok_and(|n| n <= req.device_budget)
    })
    .unwrap_or(1);
    let device = estimate(&req.estimate_config(batch, val_batch, ckpt));
    let device_required = cal.correct(batch, device.required()).unwrap_or(device.required());
    let (workers, cache, host, mut warnings) = host_plan(req, batch, val_batch, &device);
    warnings.extend(device_warnings(req, cal, batch, val_batch, ckpt, plain));
    Ok(Plan {
        spec: req.spec,
        imgsz: req.imgsz,
        backend: req.backend,
        batch,
        accumulate: accumulate(req.nbs, batch),
        nbs: req.nbs,
        val_batch,
        workers,
        cache,
        checkpointing: ckpt,
        device,
        device_required,
        device_budget: req.device_budget,
        host,
        host_budget: req.host_budget,
        warnings,
    })
}

fn does_not_fit(req: &PlanRequest, cal: &Calibration, tried_checkpointing: bool) -> MemoryError {
    let ckpt = if tried_checkpointing { Checkpointing::Balanced } else { Checkpointing::None };
    let est = estimate(&req.estimate_config(1, 1, ckpt));
    let need = cal.correct(1, est.required()).unwrap_or(est.required());
    let how = if tried_checkpointing { "with gradient checkpointing" } else { "without gradient checkpointing" };
    let how = if est.too_big > 0 { format!("{how}; a buffer exceeds the device's largest allocation") } else { how.to_string() };
    MemoryError::DoesNotFit { need_gib: gib(need), budget_gib: gib(req.device_budget), how }
}

fn device_warnings(
    req: &PlanRequest,
    cal: &Calibration,
    batch: u64,
    val_batch: u64,
    ckpt: Checkpointing,
    plain: Option<u64>,
) -> Vec<String> {
    let mut w = Vec::new();
    if batch < BN_MIN_BATCH {
        w.push(format!(
            "micro-batch {batch} is below {BN_MIN_BATCH}: BatchNorm normalises each micro-batch on its own, so its statistics come from {batch} image(s) whatever the accumulation; expect noisier training (freeze=10 keeps the backbone's BatchNorm fixed)"
        ));
    }
    if ckpt == Checkpointing::Balanced {
        let plain = plain.map_or("no micro-batch".into(), |b| format!("micro-batch {b}"));
        w.push(format!("gradient checkpointing on ({plain} without it): backward recomputes the element-wise ops, steps take longer"));
    }
    let wanted = req.val_batch.unwrap_or(2 * batch);
    if val_batch < wanted {
        w.push(format!("validation batch lowered to {val_batch} ({wanted} does not fit)"));
    }
    if let Some(probed) = cal.largest_measured()
        && batch == 2 * probed
        && batch < req.nbs
    {
        w.push(format!("micro-batch held at 2× the largest probed batch ({probed}); probe again to go further"));
    }
    w.extend(cal.failures().into_iter().map(|f| format!("probe failed (not an out-of-memory, not taken as a ceiling): {f}")));
    w
}

/// Workers and cache mode within the host budget.
fn host_plan(req: &PlanRequest, batch: u64, val_batch: u64, device: &DeviceEstimate) -> (u64, CacheKind, HostEstimate, Vec<String>) {
    let model_bytes = model_sizes(&req.spec).num_elements() * req.dtype.bytes();
    let on_host = if req.backend == BackendKind::Cpu { device.required() } else { 0 };
    let at = |workers, cache| {
        estimate_host(&HostConfig {
            imgsz: req.imgsz,
            batch,
            val_batch,
            workers,
            cache,
            data: req.data,
            model_bytes,
            optimizer_slots: req.optimizer.slots(),
            device_on_host: on_host,
        })
    };
    let mut warnings = Vec::new();
    let Some(budget) = req.host_budget else { return (req.workers, req.cache, at(req.workers, req.cache), warnings) };
    let mut cache = req.cache;
    if cache == CacheKind::Ram && at(0, cache).total > budget {
        cache = CacheKind::Disk;
        warnings.push(format!(
            "cache=ram needs {} on top of the rest, more than the {} of RAM available: using cache=disk",
            human(req.data.cache_bytes),
            human(budget)
        ));
    }
    let workers = (0..=req.workers).rev().find(|&w| at(w, cache).total <= budget).unwrap_or(0);
    if workers < req.workers {
        warnings.push(format!("workers lowered to {workers} to stay within {} of RAM", human(budget)));
    }
    let host = at(workers, cache);
    if host.total > budget {
        warnings.push(format!("host memory {} exceeds the {} available even with 0 workers", human(host.total), human(budget)));
    }
    (workers, cache, host, warnings)
}

fn row(f: &mut fmt::Formatter<'_>, name: &str, bytes: u64, note: &str) -> fmt::Result {
    writeln!(f, "  {name:<22} {:>9.3} GiB  {note}", gib(bytes))
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.device;
        writeln!(f, "Memory plan for {} at {} px on {:?}", self.spec.name(), self.imgsz, self.backend)?;
        writeln!(
            f,
            "  micro-batch {} × accumulate {} = {} images per step (nominal {}); val batch {}; workers {}; cache {:?}; checkpointing {:?}",
            self.batch,
            self.accumulate,
            self.effective_batch(),
            self.nbs,
            self.val_batch,
            self.workers,
            self.cache,
            self.checkpointing
        )?;
        writeln!(f, "  {:<22} {:>13}", "device", "")?;
        row(f, "weights", d.weights, "parameters + BatchNorm statistics")?;
        row(f, "gradients", d.gradients, "end of backward (+ accumulated sum)")?;
        row(f, "optimizer state", d.optimizer, "")?;
        row(f, "EMA copy", d.ema, "")?;
        row(f, "activations", d.activations, "kept by autodiff for backward")?;
        row(f, "loss + assigner", d.loss, "")?;
        row(f, "backward in flight", d.backward, "gradients and transients above what is kept")?;
        row(f, "train step peak", d.train_peak, "in use")?;
        row(f, "validation peak", d.val_peak, "in use, EMA at the val batch")?;
        row(f, "pool overhead", d.pool_overhead, "pages reserved beyond the peak")?;
        row(f, "device reserved", d.reserved, "estimate")?;
        row(f, "device required", self.device_required, "after probe corrections")?;
        row(f, "device budget", self.device_budget, "")?;
        let h = &self.host;
        writeln!(f, "  {:<22}", "host")?;
        row(f, "image cache", h.cache, "")?;
        row(f, "train batches", h.train_batches, "in flight + recycled + upload copies")?;
        row(f, "val batches", h.val_batches, "")?;
        row(f, "loader workers", h.workers, "scratch")?;
        row(f, "label index", h.labels, "")?;
        row(f, "checkpoint copies", h.checkpoint, "while saving")?;
        if h.device > 0 {
            row(f, "tensors on host", h.device, "CPU backend: the device is the host")?;
        }
        row(f, "host total", h.total, "")?;
        if let Some(b) = self.host_budget {
            row(f, "host budget", b, "")?;
        }
        for w in &self.warnings {
            writeln!(f, "WARNING: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::{Probe, ProbeOutcome};
    use crate::units::GIB;
    use yolo_model::Scale;

    fn request(budget: u64) -> PlanRequest {
        PlanRequest {
            spec: ModelSpec::new(Scale::N, 80),
            imgsz: 320,
            nbs: 64,
            backend: BackendKind::Cuda,
            dtype: Dtype::F32,
            pool: PoolConfig::cuda(16 * GIB),
            optimizer: Optimizer::Sgd,
            device_budget: budget,
            host_budget: None,
            data: DatasetFacts { train_images: 1000, val_images: 100, labels: 5000, max_labels: 10, max_source_pixels: 640 * 480, cache_bytes: 200 << 20 },
            mosaic: true,
            workers: 4,
            cache: CacheKind::Ram,
            val_batch: None,
            checkpointing: Some(false),
            fused_bn: false,
        }
    }

    #[test]
    fn the_largest_fitting_micro_batch_is_chosen() {
        let req = request(GIB);
        let p = plan(&req, &Calibration::default()).unwrap();
        let need = |b| estimate(&req.estimate_config(b, 1, Checkpointing::None)).required();
        assert!(need(p.batch) <= GIB, "the plan fits");
        assert!(p.batch == 64 || need(p.batch + 1) > GIB, "and one more image would not");
        assert_eq!(p.accumulate, accumulate(64, p.batch));
        assert!(p.device_required <= GIB);
        let text = p.to_string();
        assert!(text.contains("micro-batch") && text.contains("activations"), "{text}");
    }

    #[test]
    fn a_tiny_budget_warns_about_batch_norm_or_refuses() {
        let small = estimate(&request(0).estimate_config(2, 1, Checkpointing::None)).required();
        let p = plan(&request(small), &Calibration::default()).unwrap();
        assert!(p.batch < BN_MIN_BATCH);
        assert!(p.warnings.iter().any(|w| w.contains("BatchNorm")), "{:?}", p.warnings);
        let err = plan(&request(1 << 20), &Calibration::default()).unwrap_err();
        assert!(matches!(err, MemoryError::DoesNotFit { .. }), "{err}");
    }

    #[test]
    fn checkpointing_is_chosen_when_plain_training_only_fits_a_tiny_batch() {
        let mut req = PlanRequest { imgsz: 640, ..request(0) };
        req.device_budget = estimate(&req.estimate_config(2, 1, Checkpointing::None)).required();
        req.checkpointing = None;
        let p = plan(&req, &Calibration::default()).unwrap();
        assert_eq!(p.checkpointing, Checkpointing::Balanced);
        assert!(p.batch > 2, "checkpointing buys a larger micro-batch: {}", p.batch);
    }

    #[test]
    fn probes_cap_the_batch_and_an_out_of_memory_is_a_ceiling() {
        let req = request(64 * GIB);
        let est = |b| estimate(&req.estimate_config(b, 1, Checkpointing::None)).required();
        let measured = Probe { batch: 4, predicted: est(4), outcome: ProbeOutcome::Measured { reserved: est(4), in_use_after_forward: 0, baseline: 0 } };
        let cal = Calibration { probes: vec![measured.clone()] };
        assert_eq!(plan(&req, &cal).unwrap().batch, 8, "never beyond 2× the probe");
        let oom = Probe { batch: 6, predicted: est(6), outcome: ProbeOutcome::OutOfMemory("out of memory".into()) };
        let cal = Calibration { probes: vec![measured, oom] };
        assert_eq!(plan(&req, &cal).unwrap().batch, 5);
    }

    #[test]
    fn ram_cache_falls_back_to_disk_when_ram_is_short() {
        let mut req = request(8 * GIB);
        req.host_budget = Some(300 << 20);
        let p = plan(&req, &Calibration::default()).unwrap();
        assert_eq!(p.cache, CacheKind::Disk);
        assert!(p.host.total <= 300 << 20 || p.workers == 0);
    }
}
