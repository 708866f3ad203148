//! Ultralytics dataset yaml (`check_det_dataset`): dataset root, split sources, class names.

use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::error::DataError;

/// Image file extensions Ultralytics 8.3 accepts (`IMG_FORMATS`), matched case-insensitively.
pub const IMG_FORMATS: [&str; 10] = [
    "bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm",
];

/// A dataset split, named as in the yaml (`train`, `val`, `test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// `train:`
    Train,
    /// `val:` (legacy `validation:` is accepted).
    Val,
    /// `test:` (optional).
    Test,
}

impl Split {
    /// The yaml key of this split.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed Ultralytics dataset yaml with every path made absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetConfig {
    /// The yaml file itself (absolute).
    pub yaml_path: PathBuf,
    /// Dataset root: `path:` resolved against the yaml's folder (the yaml's folder if absent).
    pub root: PathBuf,
    /// Class names, index = class id.
    pub names: Vec<String>,
    /// Sources of the train split: folders (searched recursively) and/or `.txt` image lists.
    pub train: Vec<PathBuf>,
    /// Sources of the val split (empty if `val:` is null).
    pub val: Vec<PathBuf>,
    /// Sources of the test split (empty if the yaml has none).
    pub test: Vec<PathBuf>,
}

impl DatasetConfig {
    /// Reads and checks a dataset yaml (`train`, `val` required; `names` and/or `nc`).
    pub fn load(yaml: &Path) -> Result<DatasetConfig, DataError> {
        let yaml_path = normalize(&std::path::absolute(yaml).map_err(|e| DataError::io(yaml, e))?);
        let text = fs::read_to_string(&yaml_path).map_err(|e| DataError::io(&yaml_path, e))?;
        let doc: Value = serde_yaml::from_str(&text)
            .map_err(|e| DataError::dataset(&yaml_path, format!("invalid yaml: {e}")))?;
        let Value::Mapping(map) = doc else {
            return Err(DataError::dataset(
                &yaml_path,
                "expected a mapping of keys (path, train, val, names, ...)",
            ));
        };
        Parser {
            yaml: &yaml_path,
            map: &map,
        }
        .config()
    }

    /// Number of classes (`len(names)`).
    pub fn nc(&self) -> usize {
        self.names.len()
    }

    /// The configured sources (folders / `.txt` lists) of `split`.
    pub fn sources(&self, split: Split) -> &[PathBuf] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }

    /// All image files of `split`, sorted by path (byte order, as Python's `sorted`).
    pub fn images(&self, split: Split) -> Result<Vec<PathBuf>, DataError> {
        let sources = self.sources(split);
        if sources.is_empty() {
            return Err(DataError::dataset(
                &self.yaml_path,
                format!("split '{split}' is not set"),
            ));
        }
        let mut images = Vec::new();
        for source in sources {
            self.collect_source(split, source, &mut images)?;
        }
        images.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        if images.is_empty() {
            let list: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
            return Err(DataError::dataset(
                &self.yaml_path,
                format!(
                    "split '{split}': no images found in {} (supported formats: {})",
                    list.join(", "),
                    IMG_FORMATS.join(", ")
                ),
            ));
        }
        Ok(images)
    }

    fn collect_source(
        &self,
        split: Split,
        source: &Path,
        out: &mut Vec<PathBuf>,
    ) -> Result<(), DataError> {
        if source.is_dir() {
            walk_images(source, out)
        } else if source.is_file() {
            read_image_list(source, &self.root, out)
        } else {
            Err(DataError::dataset(
                &self.yaml_path,
                format!("split '{split}' path {} does not exist", source.display()),
            ))
        }
    }
}

/// True if `path` has one of the [`IMG_FORMATS`] extensions (case-insensitive).
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMG_FORMATS.iter().any(|f| f.eq_ignore_ascii_case(e)))
}

/// Reads the keys of one yaml mapping into a [`DatasetConfig`].
struct Parser<'a> {
    yaml: &'a Path,
    map: &'a Mapping,
}

impl Parser<'_> {
    fn config(&self) -> Result<DatasetConfig, DataError> {
        let root = self.root()?;
        let train = self.split_value("train")?;
        let val = match self.get("val") {
            Some(v) => Some(v),
            None => self.get("validation"),
        }
        .ok_or_else(|| self.err("'val:' key missing ('train' and 'val' are required)"))?;
        Ok(DatasetConfig {
            yaml_path: self.yaml.to_path_buf(),
            names: self.names()?,
            train: self.resolve_split("train", train, &root)?,
            val: self.resolve_split("val", val, &root)?,
            test: match self.get("test") {
                Some(v) => self.resolve_split("test", v, &root)?,
                None => Vec::new(),
            },
            root,
        })
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    fn err(&self, msg: impl Into<String>) -> DataError {
        DataError::dataset(self.yaml, msg)
    }

    fn root(&self) -> Result<PathBuf, DataError> {
        let folder = self.yaml.parent().unwrap_or(Path::new("/"));
        match self.get("path") {
            None | Some(Value::Null) => Ok(folder.to_path_buf()),
            Some(Value::String(s)) if s.is_empty() => Ok(folder.to_path_buf()),
            Some(Value::String(s)) => Ok(normalize(&folder.join(s))),
            Some(_) => Err(self.err("'path:' must be a string")),
        }
    }

    fn split_value(&self, key: &str) -> Result<&Value, DataError> {
        self.get(key).ok_or_else(|| {
            self.err(format!(
                "'{key}:' key missing ('train' and 'val' are required)"
            ))
        })
    }

    /// A split may be a string, a list of strings, or null (= not set; not allowed for train).
    fn resolve_split(
        &self,
        key: &str,
        value: &Value,
        root: &Path,
    ) -> Result<Vec<PathBuf>, DataError> {
        let items: Vec<&str> = match value {
            Value::Null if key != "train" => Vec::new(),
            Value::String(s) => vec![s.as_str()],
            Value::Sequence(seq) => seq
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| self.err(format!("'{key}:' list items must be strings")))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(self.err(format!("'{key}:' must be a path or a list of paths"))),
        };
        Ok(items
            .into_iter()
            .map(|s| resolve_split_path(root, s))
            .collect())
    }

    fn names(&self) -> Result<Vec<String>, DataError> {
        let nc = match self.get("nc") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| self.err("'nc:' must be a non-negative integer"))?,
            ),
        };
        let names = match self.get("names") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.parse_names(v)?),
        };
        match (names, nc) {
            (None, None) => Err(self.err("either 'names:' or 'nc:' key is required")),
            (Some(names), Some(nc)) if names.len() as u64 != nc => Err(self.err(format!(
                "'names:' length {} and 'nc: {nc}' must match",
                names.len()
            ))),
            (Some(names), _) => Ok(names),
            (None, Some(nc)) => Ok((0..nc).map(|i| format!("class_{i}")).collect()),
        }
    }

    fn parse_names(&self, value: &Value) -> Result<Vec<String>, DataError> {
        match value {
            Value::Sequence(seq) => seq
                .iter()
                .map(|v| {
                    scalar_string(v).ok_or_else(|| self.err("'names:' entries must be strings"))
                })
                .collect(),
            Value::Mapping(map) => self.parse_name_map(map),
            _ => Err(self.err("'names:' must be a list or a {id: name} mapping")),
        }
    }

    /// `{id: name}`: ids must be exactly 0..n-1 (Ultralytics `check_class_names`).
    fn parse_name_map(&self, map: &Mapping) -> Result<Vec<String>, DataError> {
        let mut names: Vec<Option<String>> = vec![None; map.len()];
        for (k, v) in map {
            let id = class_key(k).filter(|&id| id < map.len()).ok_or_else(|| {
                self.err(format!(
                    "'names:' key {} is not a class id in 0-{} ({}-class dataset)",
                    scalar_string(k).unwrap_or_else(|| "?".into()),
                    map.len().saturating_sub(1),
                    map.len()
                ))
            })?;
            let name = scalar_string(v)
                .ok_or_else(|| self.err(format!("'names:' entry {id} must be a string")))?;
            names[id] = Some(name);
        }
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| n.ok_or_else(|| self.err(format!("'names:' has no entry for class {i}"))))
            .collect()
    }
}

/// A class id key: an integer or a string holding one.
fn class_key(key: &Value) -> Option<usize> {
    match key {
        Value::Number(n) => n.as_u64().and_then(|v| usize::try_from(v).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A scalar yaml value as text (names like `1` or `true` stay usable).
fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `root / s`; a missing `../x` falls back to `root / x` (Ultralytics, for Roboflow exports).
fn resolve_split_path(root: &Path, s: &str) -> PathBuf {
    let path = normalize(&root.join(s));
    match s.strip_prefix("../") {
        Some(rest) if !path.exists() => normalize(&root.join(rest)),
        _ => path,
    }
}

/// Lexically removes `.` and `..` components (no symlink resolution, works for missing paths).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    out
}

/// Recursively collects image files under `dir`, skipping hidden entries (as Python's glob).
fn walk_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for entry in fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk_images(&path, out)?;
        } else if is_image_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a `.txt` image list: `./x` is relative to the list's folder, other relative lines to `root`.
fn read_image_list(list: &Path, root: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let text = fs::read_to_string(list).map_err(|e| DataError::io(list, e))?;
    let folder = list.parent().unwrap_or(Path::new("/"));
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.strip_prefix("./") {
            Some(rest) => folder.join(rest),
            None => root.join(line),
        };
        if is_image_file(&path) {
            out.push(normalize(&path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/a/b/../../..")), PathBuf::from("/"));
    }

    #[test]
    fn image_extensions_are_case_insensitive() {
        assert!(is_image_file(Path::new("/x/a.JPG")));
        assert!(is_image_file(Path::new("/x/a.webp")));
        assert!(!is_image_file(Path::new("/x/a.gif")));
        assert!(!is_image_file(Path::new("/x/jpg")));
    }

    #[test]
    fn split_names() {
        assert_eq!(Split::Val.to_string(), "val");
        assert_eq!(Split::Train.as_str(), "train");
    }
}
