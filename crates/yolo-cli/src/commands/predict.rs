//! `yolo predict`: detect objects in an image or a folder, save annotated copies and
//! `predictions.json` (boxes in original-image pixels) under `runs/detect/predict*`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use yolo_data::decode_image;
use yolo_model::load::build_model;
use yolo_plot::{draw_detections, save_rgb, Annotation};
use yolo_train::device::{BackendJob, MemoryProbe};
use yolo_train::predict::{image_sources, ImagePredictions, PredictConfig, Predictor};
use yolo_train::run_dir::increment_run_dir;

use crate::error::CliError;

/// `yolo predict` arguments (Ultralytics names and defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PredictArgs {
    /// Weights file (.pt, .onnx, .safetensors).
    pub model: String,
    /// An image file or a folder of images.
    pub source: String,
    /// `cpu`, `wgpu[:N]`, `cuda[:N]`.
    pub device: String,
    /// Parent folder of the run folder.
    pub project: PathBuf,
    /// Run folder name (made unique unless `exist_ok`).
    pub name: String,
    /// Reuse an existing run folder.
    pub exist_ok: bool,
    /// Write annotated images.
    pub save: bool,
    /// Inference settings.
    #[serde(flatten)]
    pub predict: PredictConfig,
}

impl Default for PredictArgs {
    fn default() -> Self {
        Self {
            model: "yolo11n.pt".into(),
            source: String::new(),
            device: "cpu".into(),
            project: PathBuf::from("runs/detect"),
            name: "predict".into(),
            exist_ok: false,
            save: true,
            predict: PredictConfig::default(),
        }
    }
}

impl BackendJob for PredictArgs {
    type Output = Result<PathBuf, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, _memory: MemoryProbe) -> Self::Output {
        let sources = image_sources(Path::new(&self.source))?;
        let (model, meta, _) = build_model::<B::InnerBackend>(&self.model, None, &device)?;
        let names = meta.names_or_default(model.spec().nc);
        let predictor = Predictor::new(model, self.predict.clone(), device);
        let dir = increment_run_dir(&self.project, &self.name, self.exist_ok).map_err(|e| CliError::io(&self.project, e))?;
        let mut records = Vec::with_capacity(sources.len());
        for (i, path) in sources.iter().enumerate() {
            let mut image = match decode_image(path) {
                Ok(img) => img,
                Err(e) => {
                    eprintln!("WARNING: skipped {e}");
                    continue;
                }
            };
            let t = Instant::now();
            let dets = predictor.predict(&image);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            println!("image {}/{} {}: {}, {ms:.1}ms", i + 1, sources.len(), path.display(), describe(&dets, &names));
            records.push(ImagePredictions::new(path, (image.width, image.height), &dets, &names));
            if self.save {
                let boxes: Vec<Annotation> = dets
                    .iter()
                    .map(|d| Annotation { bbox: d.bbox, label: format!("{} {:.2}", names[d.cls], d.conf), class: d.cls })
                    .collect();
                draw_detections(&mut image.data, image.width, image.height, &boxes);
                let file = dir.join(path.file_name().unwrap_or_default());
                save_rgb(&file, &image.data, image.width, image.height).map_err(|e| CliError::Other(e.to_string()))?;
            }
        }
        let json = serde_json::to_string_pretty(&records).map_err(|e| CliError::Other(e.to_string()))?;
        let out = dir.join("predictions.json");
        std::fs::write(&out, json).map_err(|e| CliError::io(&out, e))?;
        println!("Results saved to {}", dir.display());
        Ok(dir)
    }
}

/// Ultralytics-style "2 persons, 1 bus" summary.
fn describe(dets: &[yolo_metrics::Detection], names: &[String]) -> String {
    if dets.is_empty() {
        return "(no detections)".into();
    }
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for d in dets {
        match counts.iter_mut().find(|(c, _)| *c == d.cls) {
            Some((_, n)) => *n += 1,
            None => counts.push((d.cls, 1)),
        }
    }
    counts
        .iter()
        .map(|(c, n)| format!("{n} {}{}", names[*c], if *n > 1 { "s" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}
