//! Training checkpoints in safetensors + JSON (no pickle), written atomically.
//!
//! One file holds everything a resume needs:
//! - `model.*`: the EMA weights under Ultralytics' names, so `yolo val/predict model=last.safetensors`
//!   and Ultralytics' own state-dict loading see the model Ultralytics would save;
//! - `train.model.*`: the raw (non-EMA) weights and BatchNorm statistics, which Ultralytics
//!   never saves and which an exact resume needs;
//! - `optim.*`: optimizer state per parameter, in f32 (Ultralytics stores fp16);
//! - `accum.*`: gradients of micro-batches not yet stepped;
//! - metadata `checkpoint`: [`TrainState`] as JSON, plus the model metadata of
//!   [`yolo_model::save_model`] (`names`, `nc`, `scale`, `train_args`, …).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use yolo_model::state::export_state_dict;
use yolo_model::weights::{read_safetensors, write_safetensors, RawTensor, StateDict, WeightsError};
use yolo_model::Yolo;

use crate::args::TrainArgs;
use crate::optim::OptimizerScalars;

/// Metadata key holding [`TrainState`].
pub const STATE_KEY: &str = "checkpoint";
/// Prefix of the raw weights.
pub const RAW_PREFIX: &str = "train.";

/// Where a run stands after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Format version.
    pub version: u32,
    /// Last completed epoch (0-based).
    pub epoch: usize,
    /// Best fitness so far and the epoch it was reached.
    pub best_fitness: Option<f64>,
    /// Epoch of `best_fitness`.
    pub best_epoch: Option<usize>,
    /// EMA update count.
    pub ema_updates: u64,
    /// Global batch index of the last optimizer step (−1 before the first).
    pub last_opt_step: i64,
    /// Micro-batches summed in `accum.*`.
    pub pending_micro_batches: usize,
    /// Optimizer kind, groups and step counts.
    pub optimizer: OptimizerScalars,
    /// The run's arguments.
    pub args: TrainArgs,
    /// Class names.
    pub names: Vec<String>,
    /// `results.csv` rows so far.
    pub results: Vec<BTreeMap<String, f64>>,
}

/// Checkpoint errors, each naming the file.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// Reading or writing the safetensors file.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The file has no or a broken training state.
    #[error("{path}: not a training checkpoint ({reason}); `resume` needs a `last.safetensors` written by `yolo train`")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// What is missing or broken.
        reason: String,
    },
}

/// A checkpoint read back from disk.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Every tensor of the file.
    pub tensors: StateDict,
    /// The training state.
    pub state: TrainState,
}

impl Checkpoint {
    /// The EMA weights (`model.*`) as a state dict.
    pub fn ema(&self) -> StateDict {
        self.select(|name| name.starts_with("model.").then(|| name.to_string()))
    }

    /// The raw weights (`train.model.*`) as a state dict under `model.*` names.
    pub fn raw(&self) -> StateDict {
        self.select(|name| name.strip_prefix(RAW_PREFIX).map(str::to_string))
    }

    fn select(&self, rename: impl Fn(&str) -> Option<String>) -> StateDict {
        let tensors = self
            .tensors
            .tensors
            .iter()
            .filter_map(|(k, v)| rename(k).map(|n| (n, v.clone())))
            .collect();
        StateDict { tensors, metadata: self.tensors.metadata.clone() }
    }
}

/// What [`save_checkpoint`] writes besides the state.
pub struct CheckpointParts<'a, B: AutodiffBackend> {
    /// The raw model being trained.
    pub model: &'a Yolo<B>,
    /// The EMA model.
    pub ema: &'a Yolo<B::InnerBackend>,
    /// Optimizer state tensors (`optim.*`).
    pub optimizer: Vec<(String, RawTensor)>,
    /// Pending gradient sums (`accum.*`).
    pub pending: Vec<(String, RawTensor)>,
}

/// Writes a checkpoint atomically (temp file, fsync, rename, fsync of the folder): killing the
/// process during a save leaves the previous file intact.
pub fn save_checkpoint<B: AutodiffBackend>(
    path: &Path,
    parts: CheckpointParts<'_, B>,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let mut sd = export_state_dict(parts.ema);
    for (name, t) in export_state_dict(parts.model).tensors {
        sd.tensors.insert(format!("{RAW_PREFIX}{name}"), t);
    }
    sd.tensors.extend(parts.optimizer);
    sd.tensors.extend(parts.pending);
    sd.metadata = model_metadata(parts.ema, state);
    let json = serde_json::to_string(state).map_err(|e| CheckpointError::NotACheckpoint {
        path: path.into(),
        reason: format!("state not serialisable: {e}"),
    })?;
    sd.metadata.insert(STATE_KEY.into(), json);
    write_safetensors(path, &sd)?;
    Ok(())
}

/// The metadata every weights file we write carries.
fn model_metadata<B: burn::tensor::backend::Backend>(model: &Yolo<B>, state: &TrainState) -> BTreeMap<String, String> {
    let spec = model.spec();
    let mut m = BTreeMap::new();
    m.insert("format".into(), "yolo-rs/1".into());
    m.insert("model".into(), spec.name());
    m.insert("scale".into(), spec.scale.letter().to_string());
    m.insert("nc".into(), spec.nc.to_string());
    m.insert("names".into(), serde_json::to_string(&state.names).unwrap_or_default());
    m.insert("stride".into(), "[8, 16, 32]".into());
    let imgsz = state.args.imgsz_checked();
    m.insert("imgsz".into(), format!("[{imgsz}, {imgsz}]"));
    m.insert("train_args".into(), serde_json::to_string(&state.args).unwrap_or_default());
    m.insert("epoch".into(), state.epoch.to_string());
    m
}

/// Reads a checkpoint written by [`save_checkpoint`]; a truncated or foreign file is an error
/// naming it.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let tensors = read_safetensors(path)?;
    let bad = |reason: String| CheckpointError::NotACheckpoint { path: path.into(), reason };
    let json = tensors.metadata.get(STATE_KEY).ok_or_else(|| bad("no training state".into()))?;
    let state: TrainState = serde_json::from_str(json).map_err(|e| bad(format!("training state: {e}")))?;
    if !tensors.tensors.keys().any(|k| k.starts_with(RAW_PREFIX)) {
        return Err(bad("no raw weights".into()));
    }
    Ok(Checkpoint { tensors, state })
}

/// A copy of the EMA weights for `best` / `epochN` files: the model only (no optimizer), like
/// Ultralytics' stripped `best.pt`, loadable by `yolo val/predict` and by Ultralytics' naming.
pub fn save_weights_only<B: burn::tensor::backend::Backend>(
    path: &Path,
    ema: &Yolo<B>,
    state: &TrainState,
) -> Result<(), CheckpointError> {
    let mut sd = export_state_dict(ema);
    sd.metadata = model_metadata(ema, state);
    write_safetensors(path, &sd)?;
    Ok(())
}
