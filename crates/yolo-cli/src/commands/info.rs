//! `yolo info`: the layer table, parameter count and GFLOPs of a model name or weights file.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use yolo_model::load::build_model;
use yolo_model::summary::summarize;
use yolo_train::device::{BackendJob, MemoryProbe};

use crate::error::CliError;

/// `yolo info` arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InfoArgs {
    /// `yolo11n`, `yolo11s.yaml`, … or a weights file.
    pub model: String,
    /// Classes, for a model name (weights files carry their own).
    pub nc: Option<usize>,
    /// Input size for output shapes and GFLOPs, px.
    pub imgsz: usize,
    /// Device (only used to build the model).
    pub device: String,
}

impl Default for InfoArgs {
    fn default() -> Self {
        Self { model: "yolo11n".into(), nc: None, imgsz: 640, device: "cpu".into() }
    }
}

impl BackendJob for InfoArgs {
    type Output = Result<(), CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _memory: MemoryProbe) -> Self::Output {
        let (model, _, _) = build_model::<B::InnerBackend>(&self.model, self.nc, &device)?;
        let imgsz = self.imgsz.div_ceil(32).max(1) * 32;
        let spec = model.spec();
        let title = format!("{} (nc={}, {imgsz} px)", spec.name(), spec.nc);
        print!("{}", summarize(&model, imgsz).render(&title));
        Ok(())
    }
}
