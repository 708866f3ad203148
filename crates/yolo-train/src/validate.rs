//! Validation as Ultralytics' `DetectionValidator` (8.3.253): letterboxed (optionally
//! rectangular) batches, NMS at conf 0.001 / IoU 0.7, matching and mAP in letterboxed pixels.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use yolo_data::{decode_image, rect_batch_shapes, resize_long_side, DataError, IndexedImage, LetterBox, RECT_PAD_VAL};
use yolo_metrics::{non_max_suppression, xywh_to_xyxy, DetMetrics, NmsConfig, ValStats};
use yolo_model::Yolo;

use crate::loss::DetectionLoss;

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
}

impl Default for ValConfig {
    fn default() -> Self {
        Self { imgsz: 640, batch: 16, rect: true, conf: 0.001, iou: 0.7, max_det: 300, single_cls: false, workers: 0 }
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

/// One planned batch: which images, letterboxed to which `(h, w)` px.
#[derive(Debug, Clone)]
struct BatchPlan {
    indices: Vec<usize>,
    shape: (u32, u32),
}

/// A loaded validation batch: pixels `[B, 3, H, W]` as f32 in [0, 1] and ground truth per image
/// in letterboxed px (xyxy).
struct LoadedBatch {
    pixels: Vec<f32>,
    shape: (u32, u32),
    gt: Vec<(Vec<[f32; 4]>, Vec<usize>)>,
    targets: Vec<[f32; 6]>,
}

/// Milliseconds per image spent in each stage, as Ultralytics prints them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Speed {
    /// Decode, resize, letterbox.
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
    /// Images that could not be read (reported, skipped).
    pub skipped: Vec<String>,
}

/// A validation split ready to run: its images, labels and batch plan.
pub struct ValSet {
    images: Vec<IndexedImage>,
    names: Vec<String>,
    plan: Vec<BatchPlan>,
    cfg: ValConfig,
}

impl ValSet {
    /// Plans the batches of `images` (square letterboxes, or rect shapes with pad 0.5).
    pub fn new(images: Vec<IndexedImage>, names: Vec<String>, cfg: ValConfig) -> Self {
        let batch = cfg.batch.max(1);
        let plan = if cfg.rect {
            let ratios: Vec<f64> = images.iter().map(|i| f64::from(i.height) / f64::from(i.width)).collect();
            let (order, shapes) = rect_batch_shapes(&ratios, batch, cfg.imgsz, 32, RECT_PAD_VAL);
            order
                .chunks(batch)
                .zip(shapes)
                .map(|(idx, shape)| BatchPlan { indices: idx.to_vec(), shape })
                .collect()
        } else {
            let all: Vec<usize> = (0..images.len()).collect();
            all.chunks(batch)
                .map(|idx| BatchPlan { indices: idx.to_vec(), shape: (cfg.imgsz, cfg.imgsz) })
                .collect()
        };
        Self { images, names, plan, cfg }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Number of batches.
    pub fn num_batches(&self) -> usize {
        self.plan.len()
    }

    /// Class names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Runs the model over every batch. With `loss`, also computes the validation losses on the
    /// raw head maps. `on_batch(done, total)` is called after each batch (progress bars).
    pub fn run<B: Backend>(
        &self,
        model: &Yolo<B>,
        loss: Option<&DetectionLoss>,
        device: &B::Device,
        mut on_batch: impl FnMut(usize, usize),
    ) -> ValOutput {
        let nms = self.cfg.nms();
        let nc = model.spec().nc;
        let mut stats = ValStats::new();
        let mut speed = Speed::default();
        let mut loss_sum = [0f32; 3];
        let mut skipped = Vec::new();
        for (bi, plan) in self.plan.iter().enumerate() {
            let t0 = Instant::now();
            let batch = self.load(plan, &mut skipped);
            let n = batch.gt.len();
            let t1 = Instant::now();
            if n == 0 {
                on_batch(bi + 1, self.plan.len());
                continue;
            }
            let (h, w) = (batch.shape.0 as usize, batch.shape.1 as usize);
            let x = Tensor::<B, 4>::from_data(TensorData::new(batch.pixels, [n, 3, h, w]), device);
            let maps = model.forward_train(x);
            let decoded = model.layer23.decode(maps.clone());
            let pred = decoded.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default();
            let t2 = Instant::now();
            if let Some(criterion) = loss {
                let out = criterion.forward(maps, &batch.targets);
                loss_sum[0] += out.box_loss;
                loss_sum[1] += out.cls_loss;
                loss_sum[2] += out.dfl_loss;
            }
            let t3 = Instant::now();
            let per_image = pred.len() / n;
            let anchors = per_image / (4 + nc);
            for (i, (boxes, cls)) in batch.gt.iter().enumerate() {
                let dets = non_max_suppression(&pred[i * per_image..(i + 1) * per_image], nc, anchors, &nms);
                stats.add_image(&dets, boxes, cls);
            }
            let t4 = Instant::now();
            speed.preprocess += (t1 - t0).as_secs_f64() * 1e3;
            speed.inference += (t2 - t1).as_secs_f64() * 1e3;
            speed.loss += (t3 - t2).as_secs_f64() * 1e3;
            speed.postprocess += (t4 - t3).as_secs_f64() * 1e3;
            on_batch(bi + 1, self.plan.len());
        }
        let seen = stats.seen.max(1) as f64;
        for v in [&mut speed.preprocess, &mut speed.inference, &mut speed.loss, &mut speed.postprocess] {
            *v /= seen;
        }
        let batches = self.plan.len().max(1) as f32;
        let loss = loss.map(|_| loss_sum.map(|v| v / batches));
        let metrics = stats.finish(&self.names);
        ValOutput { metrics, stats, loss, speed, skipped }
    }

    /// Decodes and letterboxes one batch in parallel (`workers` threads).
    fn load(&self, plan: &BatchPlan, skipped: &mut Vec<String>) -> LoadedBatch {
        let results = parallel_map(&plan.indices, self.cfg.workers, |&i| {
            prepare_image(&self.images[i], self.cfg.imgsz, plan.shape)
        });
        let (h, w) = plan.shape;
        let mut batch = LoadedBatch {
            pixels: Vec::with_capacity(results.len() * 3 * (h * w) as usize),
            shape: plan.shape,
            gt: Vec::new(),
            targets: Vec::new(),
        };
        for result in results {
            match result {
                Ok((pixels, boxes, cls)) => {
                    let b = batch.gt.len() as f32;
                    for (bx, &c) in boxes.iter().zip(&cls) {
                        let (bw, bh) = (bx[2] - bx[0], bx[3] - bx[1]);
                        let cx = (bx[0] + bw / 2.0) / w as f32;
                        let cy = (bx[1] + bh / 2.0) / h as f32;
                        batch.targets.push([b, c as f32, cx, cy, bw / w as f32, bh / h as f32]);
                    }
                    batch.pixels.extend(pixels);
                    batch.gt.push((boxes, cls));
                }
                Err(e) => skipped.push(e.to_string()),
            }
        }
        batch
    }
}

/// One image as Ultralytics' val dataset yields it: long side resized to `imgsz`, letterboxed
/// to `shape` (no scale-up), pixels CHW f32 in [0, 1], and its boxes as xyxy letterboxed px.
fn prepare_image(
    item: &IndexedImage,
    imgsz: u32,
    shape: (u32, u32),
) -> Result<(Vec<f32>, Vec<[f32; 4]>, Vec<usize>), DataError> {
    let resized = resize_long_side(&decode_image(&item.path)?, imgsz);
    let (img, info) = LetterBox::val(shape).apply(&resized);
    let (rw, rh) = (resized.width as f32 * info.gain, resized.height as f32 * info.gain);
    let boxes = item
        .labels
        .boxes
        .iter()
        .map(|b| {
            let [x1, y1, x2, y2] = xywh_to_xyxy(*b);
            [x1 * rw + info.pad.0, y1 * rh + info.pad.1, x2 * rw + info.pad.0, y2 * rh + info.pad.1]
        })
        .collect();
    let cls = item.labels.cls.iter().map(|&c| c as usize).collect();
    Ok((img.to_chw_f32(), boxes, cls))
}

/// Maps `items` with `f` on up to `workers` threads (0 = all cores), keeping order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = if workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { workers };
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a decoding thread panicked")).collect()
    })
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
    /// Images skipped as unreadable.
    pub skipped: Vec<String>,
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
            skipped: out.skipped.clone(),
            model,
        }
    }
}
