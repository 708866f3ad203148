//! Errors of the weight readers and writers: every message names the file and the problem.

use std::path::{Path, PathBuf};

/// A failure to read or write a weights file, with the file it concerns.
///
/// The message already includes the kind's own message (and that of an underlying I/O or
/// safetensors error), so the kind is reachable through [`WeightsError::kind`] rather than as
/// the error's `source()`, which would print it twice in error chains.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", file.display())]
pub struct WeightsError {
    file: PathBuf,
    kind: WeightsErrorKind,
}

impl WeightsError {
    /// An error about `file`.
    pub fn new(file: impl AsRef<Path>, kind: WeightsErrorKind) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            kind,
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// What went wrong.
    pub fn kind(&self) -> &WeightsErrorKind {
        &self.kind
    }
}

/// What went wrong, independent of the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsErrorKind {
    /// Opening, reading, writing, syncing or renaming failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The data ends before a structure it declares.
    #[error("truncated at byte {offset} while reading {context}")]
    Truncated {
        /// Byte offset (in the file, or in the named zip entry) where data ran out.
        offset: u64,
        /// What was being read.
        context: String,
    },
    /// The data is not valid for its format.
    #[error("{0}")]
    Malformed(String),
    /// A `.pt` file that the zip reader rejects.
    #[error("not a zip archive ({0})")]
    NotZip(String),
    /// The pickle inside a `.pt` file is invalid or uses something unsupported.
    #[error("pickle '{entry}' at byte {offset}: {problem}")]
    Pickle {
        /// Zip entry of the pickle.
        entry: String,
        /// Byte offset of the offending opcode in the pickle.
        offset: u64,
        /// The problem.
        problem: String,
    },
    /// A tensor is stored with an element type that cannot be converted to f32.
    #[error("tensor '{tensor}' has dtype {dtype} which is not supported")]
    UnsupportedDtype {
        /// Tensor name.
        tensor: String,
        /// The stored element type.
        dtype: String,
    },
    /// A tensor's stored data does not match its shape.
    #[error(
        "tensor '{tensor}' has shape {shape:?} ({expected} values) but {found} values are stored"
    )]
    SizeMismatch {
        /// Tensor name.
        tensor: String,
        /// Declared shape.
        shape: Vec<usize>,
        /// Number of values the shape needs.
        expected: usize,
        /// Number of values found.
        found: usize,
    },
    /// The safetensors crate rejected the file or the data.
    #[error("safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// The content is none of the supported formats.
    #[error(
        "unrecognised weights format: {0} (supported: PyTorch .pt zip checkpoints, ONNX models, \
         safetensors files)"
    )]
    UnknownFormat(String),
}

/// Shorthand for a [`WeightsErrorKind::Malformed`] error.
pub(crate) fn malformed(problem: impl Into<String>) -> WeightsErrorKind {
    WeightsErrorKind::Malformed(problem.into())
}
