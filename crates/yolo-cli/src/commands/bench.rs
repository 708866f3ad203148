//! `yolo bench`: time full training steps (forward, loss, backward, optimizer, EMA) for a grid
//! of image sizes and batches and print img/s with host and device memory.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use yolo_model::ModelSpec;
use yolo_train::bench::{time_train_steps, StepBench, StepTiming};
use yolo_train::device::{BackendJob, MemoryProbe};

use crate::error::CliError;

/// `yolo bench` arguments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BenchArgs {
    /// `yolo11n` … `yolo11x`.
    pub model: String,
    /// Classes.
    pub nc: usize,
    /// Image sizes to time, px.
    pub imgsz: Vec<usize>,
    /// Batch sizes to time.
    pub batch: Vec<usize>,
    /// Timed steps per configuration (after the first).
    pub steps: usize,
    /// Synthetic objects per image.
    pub boxes: usize,
    /// Device.
    pub device: String,
    /// Also write the table as JSON here.
    pub json: Option<String>,
}

impl Default for BenchArgs {
    fn default() -> Self {
        Self {
            model: "yolo11n".into(),
            nc: 80,
            imgsz: vec![160, 320],
            batch: vec![8],
            steps: 5,
            boxes: 8,
            device: "cpu".into(),
            json: None,
        }
    }
}

impl BackendJob for BenchArgs {
    type Output = Result<Vec<StepTiming>, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, memory: MemoryProbe) -> Self::Output {
        let mut spec = ModelSpec::from_name(&self.model)?;
        spec.nc = self.nc;
        println!(
            "{:>8} {:>6} {:>6} {:>12} {:>10} {:>9} {:>14} {:>22}",
            "model", "imgsz", "batch", "first step s", "step s", "img/s", "host peak GiB", "device use/res GiB"
        );
        let mut rows = Vec::new();
        for &imgsz in &self.imgsz {
            for &batch in &self.batch {
                let cfg = StepBench { spec, imgsz: imgsz.div_ceil(32) * 32, batch, steps: self.steps, boxes_per_image: self.boxes };
                let t = time_train_steps::<B>(&cfg, &device, &memory);
                let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
                let dev = t.device.map_or("-".into(), |(u, r)| format!("{:.2}/{:.2}", gib(u), gib(r)));
                println!(
                    "{:>8} {:>6} {:>6} {:>12.2} {:>10.3} {:>9.1} {:>14.2} {:>22}",
                    t.model,
                    t.imgsz,
                    t.batch,
                    t.first_step_s,
                    t.step_s,
                    t.img_per_s,
                    t.host_peak_rss.map_or(0.0, gib),
                    dev
                );
                rows.push(t);
            }
        }
        if let Some(path) = &self.json {
            let text = serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?;
            std::fs::write(path, text).map_err(|e| CliError::io(std::path::Path::new(path), e))?;
        }
        Ok(rows)
    }
}
