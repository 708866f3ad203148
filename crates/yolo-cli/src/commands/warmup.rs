//! `yolo warmup`: compile and autotune every kernel shape a training run will use (train batch, short last batch, val rect shapes, loss gather buckets) into the CubeCL cache, with a progress bar.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use yolo_data::DatasetConfig;
use yolo_model::load::build_model;
use yolo_train::bench::TrainStep;
use yolo_train::cubecl_config::{self, CubeclSetup};
use yolo_train::device::{BackendJob, MemoryProbe};
use yolo_train::validate::shape_buckets_for;
use yolo_train::warmup::{plan, run_task, WarmupConfig, WarmupTask};

use crate::error::CliError;

/// `yolo warmup` arguments: the ones of the `yolo train` run to prepare.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WarmupArgs {
    /// Model name, yaml or weights (only its architecture matters).
    pub model: String,
    /// Dataset yaml (its short last batch and val rect shapes); without it, square shapes only.
    pub data: Option<String>,
    /// Training side, px.
    pub imgsz: usize,
    /// Training batch.
    pub batch: usize,
    /// Validation batch (default: twice `batch`, as `yolo train`).
    pub val_batch: Option<usize>,
    /// Objects per image of the synthetic training steps, one step each.
    pub boxes: Vec<usize>,
    /// Device.
    pub device: String,
}

impl Default for WarmupArgs {
    fn default() -> Self {
        Self {
            model: "yolo11n".into(),
            data: None,
            imgsz: 640,
            batch: 16,
            val_batch: None,
            boxes: vec![2, 8, 32],
            device: "cpu".into(),
        }
    }
}

/// Time spent on each task, s.
pub type WarmupReport = Vec<(WarmupTask, f64)>;

impl WarmupArgs {
    fn config<B: AutodiffBackend>(&self, device: &B::Device) -> Result<WarmupConfig, CliError> {
        let nc = match &self.data {
            Some(yaml) => Some(DatasetConfig::load(Path::new(yaml))?.nc()),
            None => None,
        };
        let (model, _, _) = build_model::<B::InnerBackend>(&self.model, nc, device)?;
        Ok(WarmupConfig {
            spec: model.spec(),
            imgsz: self.imgsz.div_ceil(32) * 32,
            batch: self.batch,
            val_batch: self.val_batch.unwrap_or(2 * self.batch),
            data: self.data.as_ref().map(PathBuf::from),
            boxes: self.boxes.clone(),
            shape_buckets: shape_buckets_for(&self.device),
        })
    }
}

fn bar(tasks: usize) -> ProgressBar {
    let bar = ProgressBar::new(tasks as u64);
    bar.set_style(
        ProgressStyle::with_template("warmup {bar:30} {pos}/{len} [{elapsed}] {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn describe(setup: Option<CubeclSetup>) -> String {
    match setup {
        Some(CubeclSetup::Cache { dir, warm }) => format!("{} ({})", dir.display(), if warm { "had entries" } else { "was empty" }),
        Some(CubeclSetup::UserFile(file)) => format!("as configured by {}", file.display()),
        Some(CubeclSetup::AlreadySet) | Some(CubeclSetup::Defaults) => "CubeCL's defaults".into(),
        None => "none (this device compiles no kernels)".into(),
    }
}

impl BackendJob for WarmupArgs {
    type Output = Result<WarmupReport, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _memory: MemoryProbe) -> Self::Output {
        let cfg = self.config::<B>(&device)?;
        let tasks = plan(&cfg)?;
        println!("{} on {}: {} shapes; cache {}", cfg.spec.name(), self.device, tasks.len(), describe(cubecl_config::current()));
        let mut step = TrainStep::<B>::new(cfg.spec, &device);
        let progress = bar(tasks.len());
        let mut report = Vec::new();
        let t0 = Instant::now();
        for task in tasks {
            progress.set_message(task.to_string());
            let t = Instant::now();
            run_task(&mut step, task, &device);
            report.push((task, t.elapsed().as_secs_f64()));
            progress.inc(1);
        }
        progress.finish_and_clear();
        for (task, s) in &report {
            println!("{s:>9.2} s  {task}");
        }
        println!("{:>9.2} s  total", t0.elapsed().as_secs_f64());
        Ok(report)
    }
}
