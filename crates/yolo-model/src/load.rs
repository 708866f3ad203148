//! Whole-model I/O: build a model from a name or a weights file, save it as safetensors.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use serde_json::Value;

use crate::config::{ModelSpec, Scale};
use crate::error::ModelError;
use crate::state::{export_state_dict, load_state_dict, LoadMode, LoadReport};
use crate::weights::{read_weights, write_safetensors, StateDict};
use crate::yolo::Yolo;

/// What travels with the weights: class names and how the model was made.
#[derive(Debug, Clone, Default)]
pub struct ModelMeta {
    /// Class names, index = class id (empty when the file has none).
    pub names: Vec<String>,
    /// Training/export image size `[h, w]` px, when known.
    pub imgsz: Option<[usize; 2]>,
    /// Training arguments (Ultralytics `train_args`), when known.
    pub train_args: Option<Value>,
    /// Where the weights came from.
    pub source: Option<PathBuf>,
}

impl ModelMeta {
    /// Class names, or `class{i}` for `nc` classes when the file had none.
    pub fn names_or_default(&self, nc: usize) -> Vec<String> {
        if self.names.len() == nc {
            self.names.clone()
        } else {
            (0..nc).map(|i| format!("class{i}")).collect()
        }
    }
}

/// Reads the scale and class count off a state dict's tensor shapes.
pub fn infer_spec(sd: &StateDict, file: &str) -> Result<ModelSpec, ModelError> {
    let unknown = |reason: &str| ModelError::UnknownArchitecture { file: file.into(), reason: reason.into() };
    let first = sd.tensors.get("model.0.conv.weight").ok_or_else(|| unknown("no 'model.0.conv.weight'"))?;
    let cls = sd.tensors.get("model.23.cv3.0.2.weight").ok_or_else(|| unknown("no 'model.23.cv3.0.2.weight'"))?;
    let two_repeats = sd.tensors.keys().any(|k| k.starts_with("model.2.m.1."));
    let scale = match (first.shape[0], two_repeats) {
        (16, false) => Scale::N,
        (32, false) => Scale::S,
        (64, false) => Scale::M,
        (64, true) => Scale::L,
        (96, true) => Scale::X,
        (c, _) => return Err(unknown(&format!("first conv has {c} channels, not a YOLO11 scale"))),
    };
    Ok(ModelSpec::new(scale, cls.shape[0]))
}

/// Class names from metadata `names` (JSON list, or JSON object keyed by id).
fn names_from(sd: &StateDict) -> Vec<String> {
    let Some(Ok(value)) = sd.metadata.get("names").map(|s| serde_json::from_str::<Value>(s)) else {
        return Vec::new();
    };
    match value {
        Value::Array(items) => items.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect(),
        Value::Object(map) => {
            let mut pairs: Vec<(usize, String)> = map
                .iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
                .collect();
            pairs.sort();
            pairs.into_iter().map(|(_, n)| n).collect()
        }
        _ => Vec::new(),
    }
}

fn imgsz_from(sd: &StateDict) -> Option<[usize; 2]> {
    let value: Value = serde_json::from_str(sd.metadata.get("imgsz")?).ok()?;
    match value {
        Value::Number(n) => n.as_u64().map(|s| [s as usize; 2]),
        Value::Array(v) if v.len() == 2 => Some([v[0].as_u64()? as usize, v[1].as_u64()? as usize]),
        _ => None,
    }
}

/// Loads a `.pt`, `.onnx` or `.safetensors` file, inferring scale and class count.
pub fn load_model<B: Backend>(path: &Path, device: &B::Device) -> Result<(Yolo<B>, ModelMeta), ModelError> {
    let (model, meta, _) = load_with_nc(path, None, device)?;
    Ok((model, meta))
}

/// A model from `model=`: a name (`yolo11n`, `yolo11s.yaml`: random init with `nc` classes) or
/// a weights file. With `nc` given and different from the file's, the matching tensors are
/// transferred onto a fresh `nc`-class model, as Ultralytics does when fine-tuning.
pub fn build_model<B: Backend>(
    arg: &str,
    nc: Option<usize>,
    device: &B::Device,
) -> Result<(Yolo<B>, ModelMeta, Option<LoadReport>), ModelError> {
    let path = Path::new(arg);
    if path.exists() {
        let (model, meta, report) = load_with_nc(path, nc, device)?;
        return Ok((model, meta, Some(report)));
    }
    let mut spec = ModelSpec::from_name(arg)?;
    spec.nc = nc.unwrap_or(spec.nc);
    Ok((Yolo::new(spec, device), ModelMeta::default(), None))
}

fn load_with_nc<B: Backend>(
    path: &Path,
    nc: Option<usize>,
    device: &B::Device,
) -> Result<(Yolo<B>, ModelMeta, LoadReport), ModelError> {
    let sd = read_weights(path)?;
    let file = path.display().to_string();
    let mut spec = infer_spec(&sd, &file)?;
    let mode = match nc {
        Some(n) if n != spec.nc => {
            spec.nc = n;
            LoadMode::Transfer
        }
        _ => LoadMode::Strict,
    };
    let (model, report) = load_state_dict(Yolo::new(spec, device), &sd, &file, mode)?;
    let meta = ModelMeta {
        names: names_from(&sd),
        imgsz: imgsz_from(&sd),
        train_args: sd.metadata.get("train_args").and_then(|s| serde_json::from_str(s).ok()),
        source: Some(path.to_path_buf()),
    };
    Ok((model, meta, report))
}

/// Saves `model` as safetensors with PyTorch names and metadata (`scale`, `nc`, `names`,
/// `imgsz`, `stride`, `train_args`, `format`), written atomically.
pub fn save_model<B: Backend>(model: &Yolo<B>, meta: &ModelMeta, path: &Path) -> Result<(), ModelError> {
    let mut sd = export_state_dict(model);
    let spec = model.spec();
    let names = meta.names_or_default(spec.nc);
    let m = &mut sd.metadata;
    m.insert("format".into(), "yolo-rs/1".into());
    m.insert("model".into(), spec.name());
    m.insert("scale".into(), spec.scale.letter().to_string());
    m.insert("nc".into(), spec.nc.to_string());
    m.insert("names".into(), serde_json::to_string(&names).unwrap_or_default());
    m.insert("stride".into(), "[8, 16, 32]".into());
    if let Some(imgsz) = meta.imgsz {
        m.insert("imgsz".into(), format!("[{}, {}]", imgsz[0], imgsz[1]));
    }
    if let Some(args) = &meta.train_args {
        m.insert("train_args".into(), args.to_string());
    }
    write_safetensors(path, &sd)?;
    Ok(())
}
