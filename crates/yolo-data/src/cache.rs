//! On-disk label cache (compact JSON) next to the labels folder, keyed by file sizes and mtimes.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::labels::{LabelStatus, Labels};

/// Bumped whenever the cache layout or the scan rules change.
pub(crate) const CACHE_VERSION: u32 = 1;

/// Size and modification time of a file; `None` in [`FileStamps`] when it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    len: u64,
    mtime_s: i64,
    mtime_ns: u32,
}

impl Stamp {
    /// Stamp of `path`, `None` if it cannot be stat'ed.
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        let meta = fs::metadata(path).ok()?;
        let (mtime_s, mtime_ns) = match meta.modified().ok()?.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => (
                -(e.duration().as_secs() as i64),
                e.duration().subsec_nanos(),
            ),
        };
        Some(Stamp {
            len: meta.len(),
            mtime_s,
            mtime_ns,
        })
    }
}

/// One image and its label file as they were when scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileStamps {
    pub(crate) image: PathBuf,
    pub(crate) image_stamp: Option<Stamp>,
    pub(crate) label_stamp: Option<Stamp>,
}

/// Everything a cached scan depends on; a cache is reused only if this matches exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheKey {
    pub(crate) version: u32,
    pub(crate) nc: usize,
    pub(crate) single_cls: bool,
    pub(crate) files: Vec<FileStamps>,
}

/// Outcome of checking one image + label pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Scan {
    /// Usable image; labels may be empty (background).
    Ok {
        width: u32,
        height: u32,
        status: LabelStatus,
        labels: Labels,
        duplicates: usize,
        warnings: Vec<String>,
    },
    /// Skipped; the message names the file (and line).
    Corrupt { message: String },
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    key: CacheKey,
    scans: Vec<Scan>,
}

/// Ultralytics' cache location `Path(label_files[0]).parent.with_suffix(".cache")`, with the
/// suffix `.cache.json` so an Ultralytics (pickle) cache in the same place is left alone.
pub(crate) fn cache_path(first_label: &Path) -> Option<PathBuf> {
    let dir = first_label.parent()?;
    dir.file_name()?;
    Some(dir.with_extension("cache.json"))
}

/// The cached scans if `path` holds a cache for exactly `key`; `Ok(None)` if absent or stale.
pub(crate) fn load(path: &Path, key: &CacheKey) -> Result<Option<Vec<Scan>>, DataError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let file: CacheFile = serde_json::from_slice(&bytes)
        .map_err(|e| DataError::cache(path, format!("unreadable label cache: {e}")))?;
    if file.key != *key {
        return Ok(None);
    }
    if file.scans.len() != key.files.len() {
        return Err(DataError::cache(
            path,
            "label cache has the wrong number of entries",
        ));
    }
    Ok(Some(file.scans))
}

/// Writes the cache atomically (temp file + rename).
pub(crate) fn save(path: &Path, key: &CacheKey, scans: &[Scan]) -> Result<(), DataError> {
    let file = CacheFile {
        key: key.clone(),
        scans: scans.to_vec(),
    };
    let json = serde_json::to_vec(&file)
        .map_err(|e| DataError::cache(path, format!("cannot encode label cache: {e}")))?;
    let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
    fs::write(&tmp, json).map_err(|e| DataError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_next_to_the_labels_folder() {
        let p = cache_path(Path::new("/d/labels/train2017/a.txt")).unwrap();
        assert_eq!(p, PathBuf::from("/d/labels/train2017.cache.json"));
    }

    #[test]
    fn round_trip_and_stale_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.cache.json");
        let key = CacheKey {
            version: CACHE_VERSION,
            nc: 3,
            single_cls: false,
            files: vec![],
        };
        assert_eq!(load(&path, &key).unwrap(), None);
        save(&path, &key, &[]).unwrap();
        assert_eq!(load(&path, &key).unwrap(), Some(vec![]));
        let other = CacheKey {
            nc: 4,
            ..key.clone()
        };
        assert_eq!(load(&path, &other).unwrap(), None);
        fs::write(&path, b"\x93NUMPY garbage").unwrap();
        let e = load(&path, &key).unwrap_err().to_string();
        assert!(
            e.contains("train.cache.json") && e.contains("unreadable label cache"),
            "{e}"
        );
    }
}
