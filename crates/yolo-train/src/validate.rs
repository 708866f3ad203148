//! Validation as Ultralytics' `DetectionValidator` (8.3.253): letterboxed (optionally
//! rectangular) batches, NMS at conf 0.001 / IoU 0.7, matching and mAP in letterboxed pixels.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use yolo_data::image_cache::DecodingSource;
use yolo_data::{
    planned_batches, Batch, DataError, LabelIndex, Loader, LoaderConfig, LoaderSource, ValTransform, RECT_BUCKET_PX,
};
use yolo_metrics::{non_max_suppression, xywh_to_xyxy, DetMetrics, NmsConfig, ValStats};
use yolo_model::Yolo;

use crate::device::DeviceArg;
use crate::loss::DetectionLoss;

/// Value of letterbox padding pixels (Ultralytics `LetterBox`), also used for padded batch slots.
const LETTERBOX_GRAY: u8 = 114;

/// Whether validation on `device` (`cpu`, `wgpu[:N]`, `cuda[:N]`, `N`) bounds its input shapes
/// ([`ValConfig::shape_buckets`]): on the GPU backends, which compile and tune per shape.
pub fn shape_buckets_for(device: &str) -> bool {
    device.parse::<DeviceArg>().is_ok_and(|d| d != DeviceArg::Cpu)
}

/// Validation settings (Ultralytics names and standalone-`val` defaults).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ValConfig {
    /// Square input size, px (rect batches use it as the long side).
    pub imgsz: u32,
    /// Images per forward pass.
    pub batch: usize,
    /// Rectangular batches (aspect-sorted, pad 0.5) instead of square letterboxes.
    pub rect: bool,
    /// NMS confidence threshold.
    pub conf: f32,
    /// NMS IoU threshold.
    pub iou: f32,
    /// Detections kept per image.
    pub max_det: usize,
    /// Class-agnostic NMS (single-class datasets).
    pub single_cls: bool,
    /// Image decoding threads (0 = all cores).
    pub workers: usize,
    /// Bound the input shapes (GPU runs, where every new shape costs kernel compilation and
    /// autotuning): rect shapes get their short side rounded up to a multiple of
    /// [`RECT_BUCKET_PX`] and the last batch is padded to `batch` images (eval-mode outputs are
    /// per image, so predictions and metrics of the real images are unchanged; the rounding only
    /// adds letterbox padding). Off: Ultralytics' exact shapes.
    pub shape_buckets: bool,
}

impl Default for ValConfig {
    fn default() -> Self {
        Self {
            imgsz: 640,
            batch: 16,
            rect: true,
            conf: 0.001,
            iou: 0.7,
            max_det: 300,
            single_cls: false,
            workers: 0,
            shape_buckets: false,
        }
    }
}

impl ValConfig {
    fn nms(&self) -> NmsConfig {
        NmsConfig {
            conf: self.conf,
            iou: self.iou,
            max_det: self.max_det,
            agnostic: self.single_cls,
            ..NmsConfig::validation()
        }
    }
}

/// Milliseconds per image spent in each stage, as Ultralytics prints them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Speed {
    /// Decode, resize, letterbox (time waiting for the loader).
    pub preprocess: f64,
    /// Model forward.
    pub inference: f64,
    /// Loss on the raw maps (when computed).
    pub loss: f64,
    /// NMS and matching.
    pub postprocess: f64,
}

/// What one validation run produced.
#[derive(Debug, Clone)]
pub struct ValOutput {
    /// mAP, P, R per class and overall.
    pub metrics: DetMetrics,
    /// The matched statistics (for curves and the printed table).
    pub stats: ValStats,
    /// Mean validation losses `[box, cls, dfl]` over batches, when a loss was given.
    pub loss: Option<[f32; 3]>,
    /// Time per image.
    pub speed: Speed,
}

/// A validation split ready to run: its images (decoded on demand by the loader's threads)
/// and settings. Each [`ValSet::run`] starts a loader and stops it at the end, so nothing
/// stays in memory between validations.
pub struct ValSet {
    source: Arc<dyn LoaderSource>,
    names: Vec<String>,
    cfg: ValConfig,
}

impl ValSet {
    /// The split behind `index`, images loaded at long side `imgsz` and letterboxed to square
    /// or rect (pad 0.5) batch shapes.
    pub fn new(index: &LabelIndex, names: Vec<String>, cfg: ValConfig) -> Self {
        let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(index, cfg.imgsz));
        Self { source, names, cfg }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.source.len() == 0
    }

    /// Number of batches.
    pub fn num_batches(&self) -> usize {
        self.source.len().div_ceil(self.cfg.batch.max(1))
    }

    /// Class names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn loader_config(&self) -> LoaderConfig {
        LoaderConfig {
            rect: self.cfg.rect,
            workers: self.cfg.workers,
            prefetch: self.cfg.workers.max(1),
            rect_bucket: if self.cfg.shape_buckets { RECT_BUCKET_PX } else { 0 },
            ..LoaderConfig::val(self.cfg.imgsz, self.cfg.batch.max(1), self.cfg.workers)
        }
    }

    fn loader(&self) -> Loader {
        Loader::new(Arc::clone(&self.source), Arc::new(ValTransform::new(self.cfg.imgsz)), self.loader_config())
    }

    /// The distinct model inputs of a run, `(images in the batch, (h, w) px)`: what the model
    /// sees (padded batches included) and the real image count the loss sees.
    pub fn input_shapes(&self) -> Vec<ValShape> {
        let mut shapes: Vec<ValShape> = planned_batches(self.source.as_ref(), &self.loader_config())
            .into_iter()
            .map(|(images, (h, w))| ValShape { images, model_batch: self.model_batch(images), h, w })
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        shapes
    }

    /// Images per forward pass for a batch of `images`.
    fn model_batch(&self, images: usize) -> usize {
        if self.cfg.shape_buckets { images.max(self.cfg.batch) } else { images }
    }

    /// Runs the model over every batch. With `loss`, also computes the validation losses on the
    /// raw head maps. `on_batch(done, total)` is called after each batch (progress bars).
    pub fn run<B: Backend>(
        &self,
        model: &Yolo<B>,
        loss: Option<&DetectionLoss>,
        device: &B::Device,
        mut on_batch: impl FnMut(usize, usize),
    ) -> Result<ValOutput, DataError> {
        let nms = self.cfg.nms();
        let nc = model.spec().nc;
        let mut loader = self.loader();
        let total = loader.batches_per_epoch();
        let mut stats = ValStats::new();
        let mut speed = Speed::default();
        let mut loss_sum = [0f32; 3];
        let mut t0 = Instant::now();
        let mut done = 0;
        while let Some(batch) = loader.next_batch()? {
            let t1 = Instant::now();
            let (n, (h, w)) = (batch.len(), (batch.shape.0 as usize, batch.shape.1 as usize));
            let x = batch_input::<B>(&batch.images, [self.model_batch(n), 3, h, w], device);
            let maps = model.forward_train(x);
            let decoded = model.layer23.decode(maps.clone());
            let pred = decoded.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default();
            let pred = &pred[..pred.len() / self.model_batch(n) * n];
            let t2 = Instant::now();
            if let Some(criterion) = loss {
                let out = criterion.forward(maps.map(|m| first_images(m, n)), &batch.labels);
                loss_sum[0] += out.box_loss;
                loss_sum[1] += out.cls_loss;
                loss_sum[2] += out.dfl_loss;
            }
            let t3 = Instant::now();
            let per_image = pred.len() / n.max(1);
            let anchors = per_image / (4 + nc);
            for (i, (boxes, cls)) in ground_truth(&batch).into_iter().enumerate() {
                let dets = non_max_suppression(&pred[i * per_image..(i + 1) * per_image], nc, anchors, &nms);
                stats.add_image(&dets, &boxes, &cls);
            }
            let t4 = Instant::now();
            speed.preprocess += (t1 - t0).as_secs_f64() * 1e3;
            speed.inference += (t2 - t1).as_secs_f64() * 1e3;
            speed.loss += (t3 - t2).as_secs_f64() * 1e3;
            speed.postprocess += (t4 - t3).as_secs_f64() * 1e3;
            loader.recycle(batch);
            done += 1;
            on_batch(done, total);
            t0 = Instant::now();
        }
        let seen = stats.seen.max(1) as f64;
        for v in [&mut speed.preprocess, &mut speed.inference, &mut speed.loss, &mut speed.postprocess] {
            *v /= seen;
        }
        let loss = loss.map(|_| loss_sum.map(|v| v / done.max(1) as f32));
        let metrics = stats.finish(&self.names);
        Ok(ValOutput { metrics, stats, loss, speed })
    }
}

/// One distinct validation input: `images` real images run as a batch of `model_batch` at `h × w` px.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValShape {
    /// Real images (what the loss sees).
    pub images: usize,
    /// Batch the model runs (≥ `images` when the last batch is padded).
    pub model_batch: usize,
    /// Height, px.
    pub h: u32,
    /// Width, px.
    pub w: u32,
}

/// `u8` CHW images → `[n, 3, h, w]` in 0..1; images missing from `pixels` are letterbox gray.
pub fn batch_input<B: Backend>(pixels: &[u8], shape: [usize; 4], device: &B::Device) -> Tensor<B, 4> {
    let total = shape.iter().product::<usize>();
    let gray = f32::from(LETTERBOX_GRAY) / 255.0;
    let mut data: Vec<f32> = pixels.iter().map(|&v| f32::from(v) / 255.0).collect();
    data.resize(total, gray);
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// The first `n` images of a `[B, …]` map (the whole map when `B = n`).
fn first_images<B: Backend>(m: Tensor<B, 4>, n: usize) -> Tensor<B, 4> {
    if m.dims()[0] == n { m } else { m.narrow(0, 0, n) }
}

/// Ground truth per image of a batch as Ultralytics' validator sees it: normalised boxes times
/// the batch's letterboxed size, xyxy px.
fn ground_truth(batch: &Batch) -> Vec<(Vec<[f32; 4]>, Vec<usize>)> {
    let (h, w) = (batch.shape.0 as f32, batch.shape.1 as f32);
    let mut per_image = vec![(Vec::new(), Vec::new()); batch.len()];
    for &[b, c, cx, cy, bw, bh] in &batch.labels {
        let [x1, y1, x2, y2] = xywh_to_xyxy([cx * w, cy * h, bw * w, bh * h]);
        let (boxes, cls) = &mut per_image[b as usize];
        boxes.push([x1, y1, x2, y2]);
        cls.push(c as usize);
    }
    per_image
}

/// `metrics.json` contents: Ultralytics' summary numbers plus per-class rows.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// mAP at IoU 0.50:0.95.
    #[serde(rename = "mAP50-95")]
    pub map50_95: f64,
    /// mAP at IoU 0.50.
    #[serde(rename = "mAP50")]
    pub map50: f64,
    /// Mean precision at the max-F1 confidence.
    pub precision: f64,
    /// Mean recall at the max-F1 confidence.
    pub recall: f64,
    /// Fitness (mAP50-95, Ultralytics ≥ 8.3.200).
    pub fitness: f64,
    /// Images validated.
    pub images: usize,
    /// Ground-truth objects.
    pub instances: usize,
    /// Time per image, ms.
    pub speed_ms: Speed,
    /// Per-class results.
    pub classes: Vec<ClassReport>,
    /// Where the weights came from.
    pub model: Option<PathBuf>,
}

/// One class of [`MetricsReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    /// Class name.
    pub name: String,
    /// Images containing it.
    pub images: usize,
    /// Its instances.
    pub instances: usize,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// AP at 0.50.
    #[serde(rename = "mAP50")]
    pub map50: f64,
    /// AP at 0.50:0.95.
    #[serde(rename = "mAP50-95")]
    pub map50_95: f64,
}

impl MetricsReport {
    /// Summarises a validation run.
    pub fn new(out: &ValOutput, names: &[String], model: Option<PathBuf>) -> Self {
        let m = &out.metrics;
        let classes = m
            .per_class
            .iter()
            .map(|c| ClassReport {
                name: names.get(c.class).cloned().unwrap_or_else(|| c.class.to_string()),
                images: c.images,
                instances: c.instances,
                precision: c.p,
                recall: c.r,
                map50: c.ap50,
                map50_95: c.ap50_95,
            })
            .collect();
        Self {
            map50_95: m.map50_95,
            map50: m.map50,
            precision: m.mp,
            recall: m.mr,
            fitness: m.fitness(),
            images: m.seen,
            instances: m.nt_per_class.iter().sum(),
            speed_ms: out.speed,
            classes,
            model,
        }
    }
}
