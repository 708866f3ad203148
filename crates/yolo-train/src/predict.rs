//! Inference on images as Ultralytics `predict`: minimal-rectangle letterbox, forward, NMS, boxes
//! mapped back to original-image pixels.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use yolo_data::{is_image_file, scale_boxes_to_original, DataError, Image, LetterBox};
use yolo_metrics::{non_max_suppression, Detection, NmsConfig};
use yolo_model::{Fuse, Yolo};

/// Prediction settings (Ultralytics names and defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PredictConfig {
    /// Long side of the network input, px (rounded up to a multiple of 32).
    pub imgsz: u32,
    /// Minimum class confidence.
    pub conf: f32,
    /// NMS IoU threshold.
    pub iou: f32,
    /// Detections kept per image.
    pub max_det: usize,
    /// Keep only these class ids.
    pub classes: Option<Vec<usize>>,
    /// Class-agnostic NMS.
    pub agnostic_nms: bool,
}

impl Default for PredictConfig {
    fn default() -> Self {
        Self { imgsz: 640, conf: 0.25, iou: 0.7, max_det: 300, classes: None, agnostic_nms: false }
    }
}

/// A fused model ready for inference on one device.
pub struct Predictor<B: Backend> {
    model: Yolo<B>,
    cfg: PredictConfig,
    device: B::Device,
}

impl<B: Backend> Predictor<B> {
    /// Fuses `model`'s BatchNorms and keeps the settings.
    pub fn new(model: Yolo<B>, cfg: PredictConfig, device: B::Device) -> Self {
        let cfg = PredictConfig { imgsz: cfg.imgsz.div_ceil(32).max(1) * 32, ..cfg };
        Self { model: model.fuse(), cfg, device }
    }

    /// The settings in use (with `imgsz` rounded to the stride).
    pub fn config(&self) -> &PredictConfig {
        &self.cfg
    }

    /// Detections on one RGB image, boxes `x1, y1, x2, y2` in its own pixels.
    pub fn predict(&self, image: &Image) -> Vec<Detection> {
        let (input, info) = LetterBox::predict(self.cfg.imgsz).apply(image);
        let (w, h) = (input.width as usize, input.height as usize);
        let x = Tensor::<B, 4>::from_data(TensorData::new(input.to_chw_f32(), [1, 3, h, w]), &self.device);
        let out = self.model.forward(x);
        let [_, channels, anchors] = out.dims();
        let pred = out.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default();
        let nms = NmsConfig {
            conf: self.cfg.conf,
            iou: self.cfg.iou,
            max_det: self.cfg.max_det,
            agnostic: self.cfg.agnostic_nms,
            classes: self.cfg.classes.clone(),
            ..NmsConfig::predict()
        };
        let mut dets = non_max_suppression(&pred, channels - 4, anchors, &nms);
        let mut boxes: Vec<[f32; 4]> = dets.iter().map(|d| d.bbox).collect();
        scale_boxes_to_original(&mut boxes, &info, (image.width, image.height));
        for (d, b) in dets.iter_mut().zip(boxes) {
            d.bbox = b;
        }
        dets
    }
}

/// The images named by `source`: one image file, or every image in a directory (sorted).
pub fn image_sources(source: &Path) -> Result<Vec<PathBuf>, DataError> {
    if source.is_file() {
        return Ok(vec![source.to_path_buf()]);
    }
    let entries = std::fs::read_dir(source).map_err(|e| DataError::io(source, e))?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_image_file(p)).collect();
    files.sort();
    if files.is_empty() {
        return Err(DataError::image(source, "no images found (expected an image file or a folder of images)"));
    }
    Ok(files)
}

/// One image's detections in `predictions.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagePredictions {
    /// The image file.
    pub image: PathBuf,
    /// Original width, px.
    pub width: u32,
    /// Original height, px.
    pub height: u32,
    /// Detections, highest confidence first.
    pub detections: Vec<PredictionRecord>,
}

/// One detection in `predictions.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// Class id.
    pub class: usize,
    /// Class name.
    pub name: String,
    /// Confidence in [0, 1].
    pub confidence: f32,
    /// `[x1, y1, x2, y2]` in original-image px.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

impl ImagePredictions {
    /// Packs `detections` of `image` with their class names.
    pub fn new(image: &Path, size: (u32, u32), detections: &[Detection], names: &[String]) -> Self {
        let detections = detections
            .iter()
            .map(|d| PredictionRecord {
                class: d.cls,
                name: names.get(d.cls).cloned().unwrap_or_else(|| d.cls.to_string()),
                confidence: d.conf,
                bbox: d.bbox,
            })
            .collect();
        Self { image: image.to_path_buf(), width: size.0, height: size.1, detections }
    }
}
