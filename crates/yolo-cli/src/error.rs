//! The command line's error: one readable line whatever failed underneath.

use thiserror::Error;

/// Anything a `yolo` command can fail with.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad command line.
    #[error("{0}")]
    Usage(String),
    /// Model building or weights.
    #[error(transparent)]
    Model(#[from] yolo_model::ModelError),
    /// Datasets and images.
    #[error(transparent)]
    Data(#[from] yolo_data::DataError),
    /// Device selection.
    #[error(transparent)]
    Device(#[from] yolo_train::device::DeviceError),
    /// Writing results.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Other failures with their own message.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}
