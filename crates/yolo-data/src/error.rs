//! The crate's error type: every message names the file (and line) and what is wrong.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading a dataset.
///
/// The `Display` text always starts with the offending file, e.g.
/// `labels/train/x.txt:3: class id 91 >= nc 80`.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The dataset yaml is malformed or refers to something that does not exist.
    #[error("{}: {msg}", yaml.display())]
    Dataset {
        /// The dataset yaml.
        yaml: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A row of a label file breaks the YOLO label rules (line is 1-based).
    #[error("{}:{line}: {msg}", path.display())]
    Label {
        /// The label `.txt` file.
        path: PathBuf,
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// An image is unreadable, truncated, too small or of an unsupported format.
    #[error("{}: {msg}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A label cache file is unreadable or does not match its format.
    #[error("{}: {msg}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A [`DataError::Dataset`] for the yaml at `yaml`.
    pub fn dataset(yaml: &Path, msg: impl Into<String>) -> Self {
        DataError::Dataset {
            yaml: yaml.to_path_buf(),
            msg: msg.into(),
        }
    }

    /// A [`DataError::Label`] for line `line` (1-based) of `path`.
    pub fn label(path: &Path, line: usize, msg: impl Into<String>) -> Self {
        DataError::Label {
            path: path.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    /// A [`DataError::Image`] for `path`.
    pub fn image(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Image {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    /// A [`DataError::Cache`] for `path`.
    pub fn cache(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Cache {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}
