//! Tuning a GPU for every input shape a training run will use (`yolo warmup`), so that the run itself compiles and autotunes nothing.
//!
//! A run's shapes: the square training batch (and the short last batch of an epoch), the
//! validation batches of the EMA model (rect shapes of the val split, bucketed on GPU devices,
//! last batch padded; see [`ValConfig::shape_buckets`]), and the loss's gathers (power-of-two
//! buckets, see [`crate::loss::detection::gather_bucket`]; visited by training steps with
//! several object counts). Kernels and autotune results go to the CubeCL cache folder
//! ([`crate::cubecl_config`]), which later processes read.

use std::fmt;
use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor};
use yolo_data::{DataError, DatasetConfig, IndexOptions, LabelIndex, Split};
use yolo_model::ModelSpec;

use crate::bench::{synthetic_targets, TrainStep};
use crate::validate::{batch_input, ValConfig, ValSet, ValShape};

/// One unit of warm-up work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmupTask {
    /// A training step on `batch` images of `imgsz`² px with `boxes` objects per image.
    Train {
        /// Images.
        batch: usize,
        /// Side, px.
        imgsz: usize,
        /// Synthetic objects per image.
        boxes: usize,
    },
    /// A validation batch of the EMA model: forward, box decoding, loss.
    Val(ValShape),
}

impl fmt::Display for WarmupTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Train { batch, imgsz, boxes } => write!(f, "train {batch}×3×{imgsz}×{imgsz}, {boxes} boxes/img"),
            Self::Val(s) => write!(f, "val {}×3×{}×{} ({} images)", s.model_batch, s.h, s.w, s.images),
        }
    }
}

/// What a run will look like.
#[derive(Debug, Clone)]
pub struct WarmupConfig {
    /// Model scale and classes.
    pub spec: ModelSpec,
    /// Training side, px (a multiple of 32).
    pub imgsz: usize,
    /// Training batch.
    pub batch: usize,
    /// Validation batch (`yolo train` uses twice the training batch).
    pub val_batch: usize,
    /// Dataset yaml: the short last training batch and the val split's rect shapes.
    pub data: Option<PathBuf>,
    /// Objects per image of the training steps, one step each (spreads the loss's gather sizes
    /// over several buckets).
    pub boxes: Vec<usize>,
    /// Validation shape buckets, as the run will use them ([`crate::validate::shape_buckets_for`]).
    pub shape_buckets: bool,
}

/// The tasks of a run described by `cfg`, training first.
pub fn plan(cfg: &WarmupConfig) -> Result<Vec<WarmupTask>, DataError> {
    let boxes = if cfg.boxes.is_empty() { vec![8] } else { cfg.boxes.clone() };
    let mut tasks: Vec<WarmupTask> = boxes.iter().map(|&b| WarmupTask::Train { batch: cfg.batch, imgsz: cfg.imgsz, boxes: b }).collect();
    let Some(yaml) = &cfg.data else {
        let (side, n) = (cfg.imgsz as u32, cfg.val_batch);
        tasks.push(WarmupTask::Val(ValShape { images: n, model_batch: n, h: side, w: side }));
        return Ok(tasks);
    };
    let data = DatasetConfig::load(yaml)?;
    let opts = IndexOptions { verbose: false, ..Default::default() };
    let short = LabelIndex::load(&data, Split::Train, &opts)?.len() % cfg.batch.max(1);
    if short > 0 {
        tasks.push(WarmupTask::Train { batch: short, imgsz: cfg.imgsz, boxes: boxes[0] });
    }
    let val_cfg = ValConfig {
        imgsz: cfg.imgsz as u32,
        batch: cfg.val_batch,
        shape_buckets: cfg.shape_buckets,
        ..ValConfig::default()
    };
    let val = ValSet::new(&LabelIndex::load(&data, Split::Val, &opts)?, data.names.clone(), val_cfg);
    tasks.extend(val.input_shapes().into_iter().map(WarmupTask::Val));
    Ok(tasks)
}

/// Runs `task` once on `step`'s model (training) or EMA model (validation) and waits for the device.
pub fn run_task<B: AutodiffBackend>(step: &mut TrainStep<B>, task: WarmupTask, device: &B::Device) {
    let nc = step.criterion().num_classes();
    match task {
        WarmupTask::Train { batch, imgsz, boxes } => {
            let x = Tensor::random([batch, 3, imgsz, imgsz], Distribution::Uniform(0.0, 1.0), device);
            step.run(x, &synthetic_targets(batch, boxes, nc), device);
        }
        WarmupTask::Val(s) => {
            let (h, w) = (s.h as usize, s.w as usize);
            let model = step.ema();
            let maps = model.forward_train(batch_input::<B::InnerBackend>(&[], [s.model_batch, 3, h, w], device));
            let _ = model.layer23.decode(maps.clone()).into_data();
            let maps = maps.map(|m| m.narrow(0, 0, s.images));
            let _ = step.criterion().forward(maps, &synthetic_targets(s.images, 2, nc));
            let _ = B::sync(device);
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use yolo_model::Scale;

    fn cfg(data: Option<PathBuf>) -> WarmupConfig {
        WarmupConfig {
            spec: ModelSpec::new(Scale::N, 80),
            imgsz: 64,
            batch: 3,
            val_batch: 6,
            data,
            boxes: vec![1, 4],
            shape_buckets: true,
        }
    }

    #[test]
    fn synthetic_plans_train_each_box_count_and_one_square_val_batch() {
        let tasks = plan(&cfg(None)).unwrap();
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[1], WarmupTask::Train { batch: 3, imgsz: 64, boxes: 4 });
        assert_eq!(tasks[2], WarmupTask::Val(ValShape { images: 6, model_batch: 6, h: 64, w: 64 }));
        assert_eq!(tasks[2].to_string(), "val 6×3×64×64 (6 images)");
    }

    #[test]
    fn dataset_plans_add_the_short_batch_and_the_val_shapes() {
        let yaml = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/coco8/coco8.yaml");
        if !yaml.is_file() {
            return;
        }
        let tasks = plan(&cfg(Some(yaml))).unwrap();
        // coco8: 4 train images → a short batch of 1; 4 val images in one padded batch of 6.
        assert!(tasks.contains(&WarmupTask::Train { batch: 1, imgsz: 64, boxes: 1 }));
        let vals: Vec<_> = tasks.iter().filter_map(|t| if let WarmupTask::Val(s) = t { Some(*s) } else { None }).collect();
        assert_eq!(vals.len(), 1);
        assert_eq!((vals[0].images, vals[0].model_batch), (4, 6));
        let mut step = TrainStep::<burn::backend::Autodiff<burn::backend::Flex>>::new(ModelSpec::new(Scale::N, 80), &Default::default());
        run_task(&mut step, WarmupTask::Val(vals[0]), &Default::default());
    }
}
