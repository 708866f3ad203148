//! `yolo plan`: the memory breakdown and plan of a training run without training
//! (`yolo plan model=yolo11s imgsz=640 data=coco8.yaml device=cuda memory=0.9`), probing real
//! steps where the device reports memory; `measure=[4,8]` also measures steps at those batches
//! and prints predicted against measured. `yolo train batch=-1` plans through [`resolve_batch`].

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use yolo_memory::units::gib;
use yolo_memory::{estimate, Checkpointing, DeviceEstimate, Plan, PlanRequest, StepShape};
use yolo_train::args::TrainArgs;
use yolo_train::autobatch::{apply_plan, fused_bn, measure_step, plan_request, plan_with_probes, probe_config, ProbeSpec, StepMemory};
use yolo_train::device::{device_limits, heap_memory_probe, run_on, BackendJob, DeviceArg, MemoryProbe};

use crate::error::CliError;

/// `yolo plan` arguments: every `yolo train` key, plus what to measure.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanArgs {
    /// The run to plan (model, data, imgsz, memory, nbs, workers, cache, checkpointing …).
    #[serde(flatten)]
    pub train: TrainArgs,
    /// Batches to run real steps at, printing predicted against measured device memory.
    pub measure: Vec<u64>,
    /// Measured steps per batch (after one warm-up step).
    pub steps: usize,
    /// Correct the plan with probes of real steps where the device reports memory (false: the
    /// estimate alone, no step runs).
    pub probe: bool,
    /// Write the plan and the measurements here as JSON.
    pub json: Option<PathBuf>,
}

impl Default for PlanArgs {
    fn default() -> Self {
        Self { train: TrainArgs { batch: yolo_train::args::BatchArg::Auto(-1.0), ..TrainArgs::default() }, measure: Vec::new(), steps: 1, probe: true, json: None }
    }
}

/// One row of `measure=`: the estimate and the measurement at one batch.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Batch.
    pub batch: u64,
    /// The estimate (training step, validation at 1 image).
    pub predicted: DeviceEstimate,
    /// What the device's allocator reported.
    pub measured: StepMemory,
}

impl Measured {
    /// Measured bytes kept at the end of the forward above the baseline.
    pub fn measured_kept(&self) -> u64 {
        self.measured.after_forward.saturating_sub(self.measured.baseline)
    }

    /// Predicted bytes alive at the end of the forward above the persistent ones.
    pub fn predicted_kept(&self) -> u64 {
        self.predicted.kept
    }
}

/// What `yolo plan` produced.
#[derive(Debug, Clone, Serialize)]
pub struct PlanOutput {
    /// The plan.
    pub plan: Plan,
    /// Probes the plan ran.
    pub calibration: yolo_memory::Calibration,
    /// `measure=` rows.
    pub measured: Vec<Measured>,
}

impl BackendJob for PlanArgs {
    type Output = Result<PlanOutput, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, memory: MemoryProbe) -> Self::Output {
        let arg: DeviceArg = self.train.device.parse()?;
        let req = request::<B>(&self.train, arg)?;
        let (plan, calibration) = if self.probe {
            plan_with_probes::<B>(&req, &device, &memory, true).map_err(other)?
        } else {
            let cal = yolo_memory::Calibration::default();
            (yolo_memory::plan(&req, &cal).map_err(other)?, cal)
        };
        println!("{plan}");
        let ckpt = if self.train.checkpointing == Some(true) { Checkpointing::Balanced } else { Checkpointing::None };
        // On the CPU the tensors live on the C heap: measure that.
        let meter = if arg == DeviceArg::Cpu { heap_memory_probe() } else { memory };
        let measured = self.measure.iter().map(|&b| measure::<B>(&req, b, ckpt, self.steps, &device, &meter)).collect::<Result<Vec<_>, _>>()?;
        if !measured.is_empty() {
            print!("{}", table(&self.train, arg, &measured));
        }
        let out = PlanOutput { plan, calibration, measured };
        if let Some(path) = &self.json {
            let text = serde_json::to_string_pretty(&out).map_err(other)?;
            std::fs::write(path, text).map_err(|e| CliError::io(path, e))?;
        }
        Ok(out)
    }
}

fn other(e: impl std::fmt::Display) -> CliError {
    CliError::Other(e.to_string())
}

fn request<B: AutodiffBackend>(args: &TrainArgs, device: DeviceArg) -> Result<PlanRequest, CliError> {
    let limits = device_limits(device);
    plan_request(args, device, &limits, fused_bn::<B>()).map_err(other)
}

fn measure<B: AutodiffBackend>(
    req: &PlanRequest,
    batch: u64,
    ckpt: Checkpointing,
    steps: usize,
    device: &B::Device,
    memory: &MemoryProbe,
) -> Result<Measured, CliError> {
    let predicted = estimate(&probe_config(req, batch, ckpt));
    let probe = ProbeSpec { spec: req.spec, shape: StepShape::square(batch, req.imgsz), boxes: req.max_boxes(), steps: steps.max(1) };
    let measured = measure_step::<B>(&probe, device, memory).map_err(|m| CliError::Other(format!("batch {batch}: {m}")))?;
    Ok(Measured { batch, predicted, measured })
}

fn error_pct(predicted: u64, measured: u64) -> f64 {
    100.0 * (predicted as f64 - measured as f64) / measured.max(1) as f64
}

/// Predicted against measured, one row per batch: kept at the end of the forward, and reserved.
fn table(args: &TrainArgs, device: DeviceArg, rows: &[Measured]) -> String {
    let mut s = format!(
        "\n{:<8} {:<8} {:>5} {:>5} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>8} {:>8}\n",
        "device", "model", "imgsz", "batch", "kept pred", "kept meas", "err %", "peak pred", "peak meas", "err %", "res pred", "res meas", "err %", "first s", "step s"
    );
    for r in rows {
        let cols = [
            (r.predicted_kept(), r.measured_kept()),
            (r.predicted.train_peak, r.measured.peak),
            (r.predicted.required(), r.measured.reserved),
        ];
        s += &format!("{:<8} {:<8} {:>5} {:>5}", device.to_string(), args.model, args.imgsz_checked(), r.batch);
        for (p, m) in cols {
            s += &format!(" | {:>9.3} {:>9.3} {:>+7.1}", gib(p), gib(m), error_pct(p, m));
        }
        s += &format!(" | {:>8.1} {:>8.2}\n", r.measured.first_step_s, r.measured.step_s);
    }
    s + "(GiB. kept: in use at the end of the forward above model + EMA + optimizer; peak: highest in use during the\n\
         steps, read every 0.5 ms; res: held by the pool (on the CPU, by the C heap) after the steps)\n"
}

/// For `yolo train`: with `batch=-1` or a fraction, plans the run on `device` (probing where the
/// device reports memory) and returns the arguments with the plan applied; a fixed batch is
/// returned unchanged.
pub fn resolve_batch(device: DeviceArg, args: TrainArgs) -> Result<TrainArgs, CliError> {
    if args.batch.fixed().is_some() {
        return Ok(args);
    }
    run_on(device, Resolve(args))?
}

struct Resolve(TrainArgs);

impl BackendJob for Resolve {
    type Output = Result<TrainArgs, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, memory: MemoryProbe) -> Self::Output {
        let arg: DeviceArg = self.0.device.parse()?;
        let req = request::<B>(&self.0, arg)?;
        let (plan, _) = plan_with_probes::<B>(&req, &device, &memory, self.0.verbose).map_err(other)?;
        if self.0.verbose {
            println!("{plan}");
        }
        Ok(apply_plan(&self.0, &plan))
    }
}
