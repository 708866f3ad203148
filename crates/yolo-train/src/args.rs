//! `yolo train` settings: Ultralytics `default.yaml` names and defaults, one place.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use yolo_data::augment::AugmentConfig;
use yolo_data::image_cache::CacheMode;
use yolo_memory::MemoryArg;

use crate::optim::{OptimizerArgs, OptimizerKind};

/// A setting that is either a switch or a value: `cache=true|ram|disk`, `resume=true|path`,
/// `pretrained=true|path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Switch {
    /// `true` / `false`.
    On(bool),
    /// A mode name or a path.
    Value(String),
}

impl Switch {
    /// Whether the setting is on (`true` or any non-empty value other than "false").
    pub fn is_on(&self) -> bool {
        match self {
            Switch::On(b) => *b,
            Switch::Value(v) => !v.is_empty() && v != "false" && v != "False",
        }
    }

    /// The value when it is not a plain switch.
    pub fn value(&self) -> Option<&str> {
        match self {
            Switch::Value(v) if self.is_on() && v != "true" && v != "True" => Some(v),
            _ => None,
        }
    }
}

/// `batch=16`, or `batch=-1` / `batch=0.7` for a memory-planned batch (fraction of the device).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchArg {
    /// A fixed batch size.
    Fixed(usize),
    /// `-1` (60 % of device memory, as Ultralytics) or a fraction in (0, 1).
    Auto(f64),
}

impl BatchArg {
    /// The fixed size, if any.
    pub fn fixed(&self) -> Option<usize> {
        match *self {
            BatchArg::Fixed(n) if n > 0 => Some(n),
            BatchArg::Auto(v) if v >= 1.0 && v.fract() == 0.0 => Some(v as usize),
            _ => None,
        }
    }

    /// The memory fraction of an auto batch (`-1` or `0` → 0.6).
    pub fn fraction(&self) -> Option<f64> {
        match *self {
            BatchArg::Fixed(0) => Some(0.6),
            BatchArg::Auto(v) if v <= 0.0 => Some(0.6),
            BatchArg::Auto(v) if v < 1.0 => Some(v),
            _ => None,
        }
    }
}

/// Every `yolo train` setting. Names and defaults are Ultralytics' (`ultralytics/cfg/default.yaml`);
/// the few of our own are marked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainArgs {
    /// `yolo11n.yaml` / `yolo11n` (from scratch) or a weights file (fine-tune).
    pub model: String,
    /// Dataset yaml.
    pub data: PathBuf,
    /// Epochs to train.
    pub epochs: usize,
    /// Epochs without fitness improvement before stopping (0 = never).
    pub patience: usize,
    /// Images per batch (`-1` / fraction: planned from device memory).
    pub batch: BatchArg,
    /// Train and val image size, px (rounded up to a multiple of 32).
    pub imgsz: u32,
    /// Save checkpoints.
    pub save: bool,
    /// Also save `weights/epoch{N}` every this many epochs (−1 = off).
    pub save_period: i64,
    /// Image cache: `false`, `true`/`ram`, `disk`.
    pub cache: Switch,
    /// `cpu`, `wgpu[:N]`, `cuda[:N]`.
    pub device: String,
    /// Loader threads (capped at the cores, see [`TrainArgs::loader_workers`]).
    pub workers: usize,
    /// Parent of the run folder.
    pub project: PathBuf,
    /// Run folder name (made unique unless `exist_ok`).
    pub name: String,
    /// Reuse an existing run folder.
    pub exist_ok: bool,
    /// Start from weights: `true` = the `model=` file's, or a path to transfer from.
    pub pretrained: Switch,
    /// `SGD`, `Adam`, `AdamW`, `RMSProp` or `auto`.
    pub optimizer: OptimizerKind,
    /// Print more.
    pub verbose: bool,
    /// Seed of data order, augmentation and initialisation.
    pub seed: u64,
    /// Deterministic algorithms (always true on the CPU backend).
    pub deterministic: bool,
    /// Treat every class as one.
    pub single_cls: bool,
    /// Rectangular training batches (no mosaic).
    pub rect: bool,
    /// Cosine learning-rate schedule.
    pub cos_lr: bool,
    /// Continue a run: `true` (newest `last` under the project) or a checkpoint path.
    pub resume: Switch,
    /// Mixed precision (ignored: f32 everywhere for now).
    pub amp: bool,
    /// Fraction of the train split to use.
    pub fraction: f64,
    /// Freeze the first N layers, or the listed layer indices.
    pub freeze: Option<Freeze>,
    /// Initial learning rate.
    pub lr0: f64,
    /// Final learning rate as a fraction of lr0.
    pub lrf: f64,
    /// SGD momentum / Adam β1.
    pub momentum: f64,
    /// Weight decay at the nominal batch.
    pub weight_decay: f64,
    /// Warm-up length, epochs (at least 100 iterations).
    pub warmup_epochs: f64,
    /// Momentum at the start of warm-up.
    pub warmup_momentum: f64,
    /// Bias learning rate at the start of warm-up.
    pub warmup_bias_lr: f64,
    /// Box (CIoU) loss gain.
    #[serde(rename = "box")]
    pub box_gain: f64,
    /// Classification loss gain.
    #[serde(rename = "cls")]
    pub cls_gain: f64,
    /// DFL loss gain.
    #[serde(rename = "dfl")]
    pub dfl_gain: f64,
    /// Nominal batch size for accumulation and weight-decay scaling.
    pub nbs: usize,
    /// Validate every epoch.
    pub val: bool,
    /// Validation confidence threshold (default 0.001).
    pub conf: Option<f32>,
    /// Validation NMS IoU threshold.
    pub iou: f32,
    /// Validation detections per image.
    pub max_det: usize,
    /// Save plots.
    pub plots: bool,
    /// Ours: gradient accumulation steps (default: `round(nbs / batch)`).
    pub accumulate: Option<usize>,
    /// Ours: validation batch (default: 2 × batch).
    pub val_batch: Option<usize>,
    /// Ours: device memory `batch=-1` plans for: a fraction of the device (`0.9`) or an amount
    /// (`12GiB`); default: the `batch` fraction (0.6 for −1).
    pub memory: Option<MemoryArg>,
    /// Ours: gradient checkpointing (less memory, slower steps); default: chosen by the planner
    /// under `batch=-1`, off otherwise.
    pub checkpointing: Option<bool>,
    /// Augmentation.
    #[serde(flatten)]
    pub augment: AugmentConfig,
}

/// `freeze=10` (first 10 layers) or `freeze=[0, 3]` (those layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Freeze {
    /// The first N layers.
    First(usize),
    /// These layer indices.
    Layers(Vec<usize>),
}

impl Freeze {
    /// The layer indices frozen.
    pub fn layers(&self) -> Vec<usize> {
        match self {
            Freeze::First(n) => (0..*n).collect(),
            Freeze::Layers(v) => v.clone(),
        }
    }
}

impl Default for TrainArgs {
    fn default() -> Self {
        Self {
            model: "yolo11n.yaml".into(),
            data: PathBuf::new(),
            epochs: 100,
            patience: 100,
            batch: BatchArg::Fixed(16),
            imgsz: 640,
            save: true,
            save_period: -1,
            cache: Switch::On(false),
            device: "cpu".into(),
            workers: 8,
            project: PathBuf::from("runs/detect"),
            name: "train".into(),
            exist_ok: false,
            pretrained: Switch::On(true),
            optimizer: OptimizerKind::Auto,
            verbose: true,
            seed: 0,
            deterministic: true,
            single_cls: false,
            rect: false,
            cos_lr: false,
            resume: Switch::On(false),
            amp: true,
            fraction: 1.0,
            freeze: None,
            lr0: 0.01,
            lrf: 0.01,
            momentum: 0.937,
            weight_decay: 0.0005,
            warmup_epochs: 3.0,
            warmup_momentum: 0.8,
            warmup_bias_lr: 0.1,
            box_gain: 7.5,
            cls_gain: 0.5,
            dfl_gain: 1.5,
            nbs: 64,
            val: true,
            conf: None,
            iou: 0.7,
            max_det: 300,
            plots: true,
            accumulate: None,
            val_batch: None,
            memory: None,
            checkpointing: None,
            augment: AugmentConfig::default(),
        }
    }
}

impl TrainArgs {
    /// Loader threads a run uses: `workers` capped at the machine's cores, as Ultralytics
    /// (`min(cpu_count, workers)`); more threads than cores only add memory.
    pub fn loader_workers(&self) -> usize {
        self.workers.min(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// `imgsz` rounded up to a multiple of 32 (floor 32), as Ultralytics `check_imgsz`.
    pub fn imgsz_checked(&self) -> u32 {
        self.imgsz.div_ceil(32).max(1) * 32
    }

    /// The image cache mode asked for.
    pub fn cache_mode(&self) -> Result<CacheMode, String> {
        match &self.cache {
            Switch::On(true) => Ok(CacheMode::Ram),
            Switch::On(false) => Ok(CacheMode::None),
            Switch::Value(v) => v.parse(),
        }
    }

    /// The optimizer settings.
    pub fn optimizer_args(&self) -> OptimizerArgs {
        OptimizerArgs {
            optimizer: self.optimizer,
            lr0: self.lr0,
            momentum: self.momentum,
            warmup_bias_lr: self.warmup_bias_lr,
        }
    }

    /// The `args.yaml` text.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ultralytics() {
        let a = TrainArgs::default();
        assert_eq!((a.epochs, a.imgsz, a.nbs, a.augment.close_mosaic), (100, 640, 64, 10));
        assert_eq!((a.lr0, a.lrf, a.momentum, a.weight_decay), (0.01, 0.01, 0.937, 0.0005));
        assert_eq!((a.box_gain, a.cls_gain, a.dfl_gain), (7.5, 0.5, 1.5));
        assert_eq!(a.augment.mosaic, 1.0);
        let yaml = a.to_yaml();
        assert!(yaml.contains("box: 7.5") && yaml.contains("hsv_h: 0.015"), "{yaml}");
        let back: TrainArgs = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn switches_and_batches_parse_like_ultralytics() {
        let a: TrainArgs = serde_json::from_str(r#"{"cache": "disk", "batch": -1, "resume": "runs/x/last.safetensors", "freeze": 10}"#).unwrap();
        assert_eq!(a.cache_mode().unwrap(), CacheMode::Disk);
        assert_eq!(a.batch.fraction(), Some(0.6));
        assert_eq!(a.resume.value(), Some("runs/x/last.safetensors"));
        assert_eq!(a.freeze.unwrap().layers().len(), 10);
        let m: TrainArgs = serde_json::from_str(r#"{"batch": -1, "memory": "12GiB", "checkpointing": true}"#).unwrap();
        assert_eq!((m.memory, m.checkpointing), (Some(MemoryArg::Bytes(12 << 30)), Some(true)));
        let b: TrainArgs = serde_json::from_str(r#"{"cache": true, "batch": 8, "resume": true}"#).unwrap();
        assert_eq!((b.cache_mode().unwrap(), b.batch.fixed()), (CacheMode::Ram, Some(8)));
        assert!(b.resume.is_on() && b.resume.value().is_none());
        assert_eq!(TrainArgs { imgsz: 100, ..Default::default() }.imgsz_checked(), 128);
    }
}
