//! `yolo val`: validate weights on a dataset split, print Ultralytics' summary table and write
//! `metrics.json` (and the PR curve) under `runs/detect/val*`.

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use yolo_data::{DatasetConfig, IndexOptions, LabelIndex, Split};
use yolo_metrics::summary_table;
use yolo_model::load::build_model;
use yolo_train::device::{BackendJob, MemoryProbe};
use yolo_train::plots::validation_curves;
use yolo_train::run_dir::increment_run_dir;
use yolo_train::validate::{MetricsReport, ValConfig, ValOutput, ValSet};

use crate::error::CliError;

/// `yolo val` arguments (Ultralytics names and defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ValArgs {
    /// Weights file (.pt, .onnx, .safetensors).
    pub model: String,
    /// Dataset yaml.
    pub data: String,
    /// `cpu`, `wgpu[:N]`, `cuda[:N]`.
    pub device: String,
    /// Split to validate: `val`, `test` or `train`.
    pub split: String,
    /// Parent folder of the run folder.
    pub project: PathBuf,
    /// Run folder name (made unique unless `exist_ok`).
    pub name: String,
    /// Reuse an existing run folder.
    pub exist_ok: bool,
    /// Save the PR curve.
    pub plots: bool,
    /// Validation settings.
    #[serde(flatten)]
    pub val: ValConfig,
}

impl Default for ValArgs {
    fn default() -> Self {
        Self {
            model: "yolo11n.pt".into(),
            data: String::new(),
            device: "cpu".into(),
            split: "val".into(),
            project: PathBuf::from("runs/detect"),
            name: "val".into(),
            exist_ok: false,
            plots: true,
            val: ValConfig::default(),
        }
    }
}

fn parse_split(s: &str) -> Result<Split, CliError> {
    match s {
        "val" => Ok(Split::Val),
        "test" => Ok(Split::Test),
        "train" => Ok(Split::Train),
        other => Err(CliError::Usage(format!("split={other}: expected val, test or train"))),
    }
}

impl BackendJob for ValArgs {
    type Output = Result<MetricsReport, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _memory: MemoryProbe) -> Self::Output {
        let data = DatasetConfig::load(Path::new(&self.data))?;
        let (model, meta, _) = build_model::<B::InnerBackend>(&self.model, None, &device)?;
        if model.spec().nc != data.nc() {
            return Err(CliError::Usage(format!(
                "{} predicts {} classes but {} has {}",
                self.model,
                model.spec().nc,
                self.data,
                data.nc()
            )));
        }
        let opts = IndexOptions { single_cls: self.val.single_cls, ..Default::default() };
        let index = LabelIndex::load(&data, parse_split(&self.split)?, &opts)?;
        let set = ValSet::new(&index, data.names.clone(), self.val.clone());
        let bar = progress(set.num_batches());
        let out = set.run(&model, None, &device, |done, _| bar.set_position(done as u64))?;
        bar.finish_and_clear();
        let dir = increment_run_dir(&self.project, &self.name, self.exist_ok).map_err(|e| CliError::io(&self.project, e))?;
        print_results(&out, set.names());
        if self.plots
            && let Err(e) = validation_curves(&out.metrics, set.names(), &dir)
        {
            eprintln!("WARNING: {e}");
        }
        let report = MetricsReport::new(&out, set.names(), meta.source.clone());
        let path = dir.join("metrics.json");
        let json = serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.to_string()))?;
        std::fs::write(&path, json).map_err(|e| CliError::io(&path, e))?;
        println!("Results saved to {}", dir.display());
        Ok(report)
    }
}

fn progress(batches: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>22} {bar:30} {pos}/{len} [{elapsed}<{eta}, {per_sec}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("validating");
    bar
}

/// Prints the summary table and speed line as Ultralytics does.
pub fn print_results(out: &ValOutput, names: &[String]) {
    println!("{}", summary_table(&out.metrics, names));
    let s = out.speed;
    println!(
        "Speed: {:.1}ms preprocess, {:.1}ms inference, {:.1}ms loss, {:.1}ms postprocess per image",
        s.preprocess, s.inference, s.loss, s.postprocess
    );
}
