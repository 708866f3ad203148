//! Errors of the model crate.

use thiserror::Error;

/// Everything that can go wrong building, loading or saving a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A model name that is not `yolo11{n,s,m,l,x}[.yaml]`.
    #[error("unknown model '{0}': expected one of yolo11n, yolo11s, yolo11m, yolo11l, yolo11x (optionally with .yaml), or a weights file (.pt, .onnx, .safetensors)")]
    UnknownModel(String),
    /// A weights file whose tensors do not fit the model.
    #[error("{file}: tensor '{name}' has shape {found:?} but the {model} model expects {expected:?}")]
    ShapeMismatch {
        /// The weights file.
        file: String,
        /// PyTorch name of the tensor.
        name: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape the model needs.
        expected: Vec<usize>,
        /// Model description (e.g. `yolo11n nc=80`).
        model: String,
    },
    /// A weights file that lacks tensors the model needs.
    #[error("{file}: {count} tensor(s) the {model} model needs are missing, e.g. '{first}'")]
    MissingTensors {
        /// The weights file.
        file: String,
        /// How many are missing.
        count: usize,
        /// The first missing name.
        first: String,
        /// Model description.
        model: String,
    },
    /// The scale or class count could not be inferred from a weights file.
    #[error("{file}: cannot tell the model scale and class count from its tensors ({reason})")]
    UnknownArchitecture {
        /// The weights file.
        file: String,
        /// What was missing or inconsistent.
        reason: String,
    },
    /// Reading or writing a weights file failed.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
}
