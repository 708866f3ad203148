//! The one error type of this crate; every variant names the file it was about.

use std::path::PathBuf;

/// Why a picture could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Creating the parent folder, writing the temporary file or renaming it failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The image encoder (PNG or JPEG) refused the pixels.
    #[error("cannot encode {}: {source}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// The chart library failed while drawing.
    #[error("cannot draw {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    /// The inputs cannot make this picture (wrong buffer length, unknown extension…).
    #[error("cannot make {}: {message}", path.display())]
    Input { path: PathBuf, message: String },
}
