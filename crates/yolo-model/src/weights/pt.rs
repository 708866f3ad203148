//! Reads PyTorch zip checkpoints (Ultralytics `.pt`) into a state dict with `state_dict()` names.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::path::Path;
use std::rc::Rc;

use serde_json::{Map, Number, Value as Json};
use zip::ZipArchive;

use super::convert::FloatKind;
use super::error::{WeightsError, WeightsErrorKind, malformed};
use super::pickle::{Pickle, Storage, StorageKind, TensorRef, Value, unpickle};
use super::state_dict::{RawTensor, StateDict};

/// Largest `data.pkl` accepted (the pickle of a YOLO11x checkpoint is well under 1 MiB).
const MAX_PICKLE_BYTES: u64 = 1 << 30;
/// Deepest module tree / metadata value accepted.
const MAX_DEPTH: usize = 64;
/// Most entries visited while walking the module tree or converting one metadata value (shared
/// sub-objects are visited once per reference, so a hostile pickle could otherwise blow up).
const MAX_VISITS: usize = 1 << 20;

/// Reads a PyTorch zip checkpoint such as an Ultralytics `.pt`.
///
/// Tensors: the state dict of `ckpt['ema']` if it is a module, else of `ckpt['model']` (also
/// accepted: a pickled module or a plain state dict at the top or under `state_dict`), converted to
/// f32 (fp16/bf16 exactly); integer buffers such as `num_batches_tracked` are left out.
/// Metadata: `train_args`, the model's `names`, `yaml` (JSON), `nc`, `stride`, and `epoch`,
/// `version`, `date`, `task` where present.
pub fn read_pt(path: impl AsRef<Path>) -> Result<StateDict, WeightsError> {
    let path = path.as_ref();
    let read = || {
        let file = std::fs::File::open(path)?;
        read_checkpoint(std::io::BufReader::new(file))
    };
    read().map_err(|kind| WeightsError::new(path, kind))
}

/// Reads a checkpoint from any seekable reader.
pub(crate) fn read_checkpoint<R: Read + Seek>(reader: R) -> Result<StateDict, WeightsErrorKind> {
    let mut archive = Archive::open(reader)?;
    let pickle = archive.pickle()?;
    let (module, named) = find_weights(&pickle)?;
    let mut state = StateDict::default();
    for (name, tensor) in named {
        if let Some(raw) = archive.tensor(&name, &tensor)? {
            state.tensors.insert(name, raw);
        }
    }
    state.metadata = Metadata {
        pickle: &pickle,
        archive: &mut archive,
        visits: MAX_VISITS,
    }
    .collect(module)?;
    Ok(state)
}

/// The zip archive and what is known about its layout.
struct Archive<R> {
    zip: ZipArchive<R>,
    /// `<archive>/`, the folder holding `data.pkl`.
    prefix: String,
    big_endian: bool,
    storages: HashMap<String, Rc<[f32]>>,
}

impl<R: Read + Seek> Archive<R> {
    fn open(reader: R) -> Result<Self, WeightsErrorKind> {
        let zip = ZipArchive::new(reader).map_err(|e| WeightsErrorKind::NotZip(e.to_string()))?;
        let pickle = zip
            .file_names()
            .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
            .min_by_key(|n| n.len());
        let pickle = pickle
            .ok_or_else(|| malformed("zip archive without data.pkl: not a PyTorch checkpoint"))?;
        let prefix = pickle.trim_end_matches("data.pkl").to_string();
        let mut archive = Self {
            zip,
            prefix,
            big_endian: false,
            storages: HashMap::new(),
        };
        archive.big_endian = archive.read_byteorder()?;
        Ok(archive)
    }

    /// Whether `<archive>/byteorder` says "big" (absent means little-endian).
    fn read_byteorder(&mut self) -> Result<bool, WeightsErrorKind> {
        let name = format!("{}byteorder", self.prefix);
        if self.zip.index_for_name(&name).is_none() {
            return Ok(false);
        }
        match self.entry(&name, 16)?.trim_ascii() {
            b"little" => Ok(false),
            b"big" => Ok(true),
            other => Err(malformed(format!(
                "{name} says '{}'",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    /// At most `limit` bytes of an entry.
    fn entry(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, WeightsErrorKind> {
        let problem = |e: &dyn std::fmt::Display| malformed(format!("zip entry '{name}': {e}"));
        let entry = self.zip.by_name(name).map_err(|e| problem(&e))?;
        let mut bytes = Vec::new();
        entry
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| problem(&e))?;
        Ok(bytes)
    }

    fn pickle(&mut self) -> Result<Pickle, WeightsErrorKind> {
        let entry = format!("{}data.pkl", self.prefix);
        let bytes = self.entry(&entry, MAX_PICKLE_BYTES)?;
        unpickle(&bytes).map_err(|e| WeightsErrorKind::Pickle {
            entry,
            offset: e.offset as u64,
            problem: e.problem,
        })
    }

    /// The f32 values of a float tensor; `None` for integer tensors.
    fn tensor(
        &mut self,
        name: &str,
        tensor: &TensorRef,
    ) -> Result<Option<RawTensor>, WeightsErrorKind> {
        let kind = match &tensor.storage.kind {
            StorageKind::Float(kind) => *kind,
            StorageKind::Integer(_) => return Ok(None),
            StorageKind::Other(class) => {
                return Err(WeightsErrorKind::UnsupportedDtype {
                    tensor: name.into(),
                    dtype: class.clone(),
                });
            }
        };
        let values = self.storage(&tensor.storage, kind, name)?;
        gather(name, tensor, &values).map(Some)
    }

    /// A storage's values, decoded once.
    fn storage(
        &mut self,
        storage: &Storage,
        kind: FloatKind,
        tensor: &str,
    ) -> Result<Rc<[f32]>, WeightsErrorKind> {
        if let Some(values) = self.storages.get(&storage.key) {
            return Ok(values.clone());
        }
        let entry = format!("{}data/{}", self.prefix, storage.key);
        let needed = storage
            .numel
            .checked_mul(kind.size())
            .ok_or_else(|| malformed(format!("storage '{entry}' is too large")))?;
        let bytes = self.entry(&entry, needed as u64 + 1)?;
        if bytes.len() != needed {
            let problem = format!(
                "storage '{entry}' of tensor '{tensor}' has {} bytes, {needed} expected",
                bytes.len()
            );
            return Err(malformed(problem));
        }
        let values: Rc<[f32]> = kind.decode(&bytes, self.big_endian).into();
        self.storages.insert(storage.key.clone(), values.clone());
        Ok(values)
    }
}

/// Copies a (possibly strided) view out of its storage.
fn gather(name: &str, tensor: &TensorRef, values: &[f32]) -> Result<RawTensor, WeightsErrorKind> {
    let TensorRef {
        offset,
        shape,
        stride,
        ..
    } = tensor;
    let out_of_range = || {
        malformed(format!(
            "tensor '{name}' (offset {offset}, shape {shape:?}, stride {stride:?}) reaches past its storage of {} elements",
            values.len()
        ))
    };
    let numel = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(out_of_range)?;
    if numel > values.len() {
        let problem = format!(
            "tensor '{name}' has {numel} elements but its storage only {} (broadcast views are not supported)",
            values.len()
        );
        return Err(malformed(problem));
    }
    if numel == 0 {
        return Ok(RawTensor {
            shape: shape.clone(),
            data: Vec::new(),
        });
    }
    let span = shape.iter().zip(stride).try_fold(0usize, |acc, (&d, &s)| {
        (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
    });
    let last = span
        .and_then(|span| span.checked_add(*offset))
        .ok_or_else(out_of_range)?;
    if last >= values.len() {
        return Err(out_of_range());
    }
    let data = if is_contiguous(shape, stride) {
        values[*offset..*offset + numel].to_vec()
    } else {
        strided(values, *offset, shape, stride, numel)
    };
    Ok(RawTensor {
        shape: shape.clone(),
        data,
    })
}

/// Whether `stride` is the row-major stride of `shape` (size-1 dimensions may have any stride).
fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d;
    }
    true
}

/// Row-major walk over a strided view whose every index was checked to be in range.
fn strided(
    values: &[f32],
    offset: usize,
    shape: &[usize],
    stride: &[usize],
    numel: usize,
) -> Vec<f32> {
    let mut data = Vec::with_capacity(numel);
    let mut index = vec![0usize; shape.len()];
    let mut source = offset;
    for _ in 0..numel {
        data.push(values[source]);
        for dim in (0..shape.len()).rev() {
            index[dim] += 1;
            source += stride[dim];
            if index[dim] < shape[dim] {
                break;
            }
            source -= stride[dim] * shape[dim];
            index[dim] = 0;
        }
    }
    data
}

/// Named tensors of the checkpoint, with the state of the module they came from (if any).
type Found<'p> = (Option<&'p Value>, Vec<(String, Rc<TensorRef>)>);

/// Picks the weights: `ema` or `model` module, a pickled module, or a plain state dict.
fn find_weights(pickle: &Pickle) -> Result<Found<'_>, WeightsErrorKind> {
    let root = &pickle.root;
    let under = |key: &str| pickle.get(root, key);
    let modules = [under("ema"), under("model"), Some(root)];
    if let Some(state) = modules
        .into_iter()
        .flatten()
        .find_map(|v| module_state(pickle, v))
    {
        let mut walk = ModuleWalk {
            pickle,
            named: Vec::new(),
            visits: MAX_VISITS,
        };
        walk.module(state, "", 0).map_err(malformed)?;
        let named = walk.named;
        return Ok((Some(state), named));
    }
    let dicts = [
        under("state_dict"),
        under("model"),
        under("ema"),
        Some(root),
    ];
    if let Some(dict) = dicts
        .into_iter()
        .flatten()
        .find(|v| is_tensor_dict(pickle, v))
    {
        return Ok((None, tensor_entries(pickle, dict, "").map_err(malformed)?));
    }
    Err(malformed(
        "no weights found: expected an 'ema' or 'model' module, or a state dict of tensors",
    ))
}

/// The attribute dict of a `torch.nn.Module` object (one that has `_modules`).
fn module_state<'p>(pickle: &'p Pickle, value: &Value) -> Option<&'p Value> {
    let (_, _, state) = pickle.object(value)?;
    let dict = match state {
        Value::Tuple(_) => pickle.items(state).first()?,
        other => other,
    };
    pickle.get(dict, "_modules").is_some().then_some(dict)
}

fn is_tensor_dict(pickle: &Pickle, value: &Value) -> bool {
    let entries = pickle.entries(value);
    !entries.is_empty() && entries.iter().all(|(_, v)| matches!(v, Value::Tensor(_)))
}

/// Walks a module tree collecting parameters and persistent buffers under `state_dict()` names.
struct ModuleWalk<'p> {
    pickle: &'p Pickle,
    named: Vec<(String, Rc<TensorRef>)>,
    /// Dict entries that may still be visited.
    visits: usize,
}

impl ModuleWalk<'_> {
    /// Collects the module whose attribute dict is `state`, and its children.
    fn module(&mut self, state: &Value, prefix: &str, depth: usize) -> Result<(), String> {
        let pickle = self.pickle;
        if depth > MAX_DEPTH {
            return Err(format!(
                "module tree deeper than {MAX_DEPTH} levels at '{prefix}'"
            ));
        }
        let attr = |key| pickle.get(state, key).unwrap_or(&Value::None);
        let (parameters, buffers, children) =
            (attr("_parameters"), attr("_buffers"), attr("_modules"));
        let entries = [parameters, buffers, children].map(|d| pickle.entries(d).len());
        self.visits = self
            .visits
            .checked_sub(entries.iter().sum())
            .ok_or("module tree too large")?;
        self.named
            .extend(tensor_entries(pickle, parameters, prefix)?);
        let transient = pickle.items(attr("_non_persistent_buffers_set"));
        let persistent =
            tensor_entries(pickle, buffers, prefix)?
                .into_iter()
                .filter(|(name, _)| {
                    !transient
                        .iter()
                        .any(|t| as_str(t) == Some(&name[prefix.len()..]))
                });
        self.named.extend(persistent);
        for (key, child) in pickle.entries(children) {
            let name =
                as_str(key).ok_or_else(|| format!("a child of '{prefix}' has a non-str name"))?;
            if matches!(child, Value::None) {
                continue;
            }
            let child_state = module_state(pickle, child)
                .ok_or_else(|| format!("'{prefix}{name}' is not a torch module"))?;
            self.module(child_state, &format!("{prefix}{name}."), depth + 1)?;
        }
        Ok(())
    }
}

/// `prefix + name` → tensor for a dict of tensors (entries holding `None` are skipped).
fn tensor_entries(
    pickle: &Pickle,
    dict: &Value,
    prefix: &str,
) -> Result<Vec<(String, Rc<TensorRef>)>, String> {
    let mut out = Vec::new();
    for (key, value) in pickle.entries(dict) {
        let name =
            as_str(key).ok_or_else(|| format!("a tensor under '{prefix}' has a non-str name"))?;
        match value {
            Value::Tensor(tensor) => out.push((format!("{prefix}{name}"), tensor.clone())),
            Value::None => {}
            _ => return Err(format!("'{prefix}{name}' is not a tensor")),
        }
    }
    Ok(out)
}

fn as_str(value: &Value) -> Option<&str> {
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// Builds the metadata strings; tensors in metadata (`stride`) are read from the archive.
struct Metadata<'a, R> {
    pickle: &'a Pickle,
    archive: &'a mut Archive<R>,
    /// Values that JSON conversion may still visit.
    visits: usize,
}

impl<R: Read + Seek> Metadata<'_, R> {
    fn collect(
        mut self,
        module: Option<&Value>,
    ) -> Result<BTreeMap<String, String>, WeightsErrorKind> {
        let pickle = self.pickle;
        let mut out = BTreeMap::new();
        let root = &pickle.root;
        for key in ["epoch", "version", "date", "train_args"] {
            self.insert(&mut out, key, pickle.get(root, key))?;
        }
        let train_args = pickle.get(root, "train_args");
        self.insert(
            &mut out,
            "task",
            train_args.and_then(|args| pickle.get(args, "task")),
        )?;
        for key in ["names", "nc", "yaml", "stride"] {
            self.insert(&mut out, key, module.and_then(|m| pickle.get(m, key)))?;
        }
        Ok(out)
    }

    /// Inserts `value` (unless absent or `None`): a str as is, anything else as JSON.
    fn insert(
        &mut self,
        out: &mut BTreeMap<String, String>,
        key: &str,
        value: Option<&Value>,
    ) -> Result<(), WeightsErrorKind> {
        let text = match value {
            None | Some(Value::None) => return Ok(()),
            Some(Value::Str(s)) => s.to_string(),
            Some(value) => self.json(value, key, 0)?.to_string(),
        };
        out.insert(key.into(), text);
        Ok(())
    }

    /// JSON for a pickled value; `key` names it in errors.
    fn json(&mut self, value: &Value, key: &str, depth: usize) -> Result<Json, WeightsErrorKind> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!(
                "metadata '{key}' is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        self.visits = self.visits.checked_sub(1).ok_or_else(|| {
            malformed(format!("metadata '{key}' has more than {MAX_VISITS} parts"))
        })?;
        let pickle = self.pickle;
        Ok(match value {
            Value::None => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => float_json(*f),
            Value::Str(s) => Json::from(&**s),
            Value::Bytes(b) => Json::from(String::from_utf8_lossy(b).into_owned()),
            Value::Tuple(_) | Value::List(_) => {
                let items = pickle
                    .items(value)
                    .iter()
                    .map(|v| self.json(v, key, depth + 1));
                Json::Array(items.collect::<Result<_, _>>()?)
            }
            Value::Dict(_) => Json::Object(self.json_object(value, key, depth)?),
            Value::Global(global) => Json::from(global.path()),
            Value::Storage(storage) => Json::from(format!("storage {}", storage.key)),
            Value::Tensor(tensor) => self.tensor_json(tensor, key)?,
            Value::Object(_) => self.object_json(value, key, depth)?,
        })
    }

    fn json_object(
        &mut self,
        dict: &Value,
        key: &str,
        depth: usize,
    ) -> Result<Map<String, Json>, WeightsErrorKind> {
        let mut map = Map::new();
        for (k, v) in self.pickle.entries(dict) {
            let name = match self.json(k, key, depth + 1)? {
                Json::String(s) => s,
                other => other.to_string(),
            };
            map.insert(name, self.json(v, key, depth + 1)?);
        }
        Ok(map)
    }

    /// A float tensor as nested arrays; other tensors as their dtype and shape.
    fn tensor_json(&mut self, tensor: &TensorRef, key: &str) -> Result<Json, WeightsErrorKind> {
        match self.archive.tensor(key, tensor)? {
            Some(raw) => Ok(nested(&raw.data, &raw.shape)),
            None => Ok(
                serde_json::json!({ "dtype": tensor.storage.kind.name(), "shape": tensor.shape }),
            ),
        }
    }

    /// An uninterpreted object as its class and constructor arguments.
    fn object_json(
        &mut self,
        object: &Value,
        key: &str,
        depth: usize,
    ) -> Result<Json, WeightsErrorKind> {
        let Some((class, args, _)) = self.pickle.object(object) else {
            return Ok(Json::Null);
        };
        let class = self.json(class, key, depth + 1)?;
        let args = self.json(args, key, depth + 1)?;
        Ok(serde_json::json!({ "__class__": class, "args": args }))
    }
}

fn float_json(value: f64) -> Json {
    Number::from_f64(value).map_or(Json::Null, Json::Number)
}

/// Row-major `data` as arrays nested by `shape` (`data.len()` is the product of `shape`).
fn nested(data: &[f32], shape: &[usize]) -> Json {
    match shape.split_first() {
        None => data
            .first()
            .map_or(Json::Null, |&v| float_json(f64::from(v))),
        Some((&n, rest)) => {
            let step = rest.iter().product::<usize>();
            Json::Array(
                (0..n)
                    .map(|i| nested(data.get(i * step..(i + 1) * step).unwrap_or(&[]), rest))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::*;
    use crate::weights::read_safetensors;
    use crate::weights::test_support::{cut_points, garbage, shared_file};

    const CHECKPOINT: &str = "data/weights/yolo11n_coco8_3ep_160.pt";

    #[test]
    fn ultralytics_checkpoint_matches_the_state_dict_fixture_exactly() {
        let Some(pt) = shared_file(CHECKPOINT) else {
            return;
        };
        let Some(fixture) = shared_file("fixtures/yolo11n_coco8_3ep_160_state_dict.safetensors")
        else {
            return;
        };
        let ours = read_pt(&pt).expect("checkpoint reads");
        let reference = read_safetensors(&fixture).expect("fixture reads");
        // The fixture has no num_batches_tracked; the checkpoint's 81 int64 ones are skipped.
        assert_eq!(ours.tensors.len(), 418);
        assert!(ours.tensors.keys().eq(reference.tensors.keys()));
        for (name, tensor) in &reference.tensors {
            assert_eq!(&ours.tensors[name], tensor, "{name}");
        }
        assert_eq!(
            ours.tensors.values().map(RawTensor::numel).sum::<usize>(),
            2_639_744
        );
        assert!(ours.tensors.contains_key("model.0.bn.running_var"));
        assert!(ours.tensors.contains_key("model.23.dfl.conv.weight"));
    }

    #[test]
    fn ultralytics_checkpoint_metadata() {
        let Some(pt) = shared_file(CHECKPOINT) else {
            return;
        };
        let meta = read_pt(&pt).expect("checkpoint reads").metadata;
        let keys: Vec<&str> = meta.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "date",
                "epoch",
                "names",
                "nc",
                "stride",
                "task",
                "train_args",
                "version",
                "yaml"
            ]
        );
        let names: BTreeMap<String, String> =
            serde_json::from_str(&meta["names"]).expect("names JSON");
        assert_eq!(
            (names.len(), names["0"].as_str(), names["79"].as_str()),
            (80, "person", "toothbrush")
        );
        assert_eq!((meta["nc"].as_str(), meta["epoch"].as_str()), ("80", "-1"));
        assert_eq!(
            (meta["version"].as_str(), meta["task"].as_str()),
            ("8.3.253", "detect")
        );
        assert_eq!(meta["stride"], "[8.0,16.0,32.0]");
        let args: Json = serde_json::from_str(&meta["train_args"]).expect("train_args JSON");
        assert_eq!(
            (args["imgsz"].as_i64(), args["epochs"].as_i64()),
            (Some(160), Some(3))
        );
        let yaml: Json = serde_json::from_str(&meta["yaml"]).expect("yaml JSON");
        assert_eq!(yaml["nc"].as_i64(), Some(80));
        assert!(meta["date"].starts_with("20"));
    }

    #[test]
    fn truncated_garbage_and_corrupted_checkpoints_are_errors() {
        let Some(pt) = shared_file(CHECKPOINT) else {
            return;
        };
        let bytes = std::fs::read(&pt).expect("read");
        for cut in cut_points(bytes.len()) {
            let err = read_checkpoint(Cursor::new(&bytes[..cut])).expect_err("truncated");
            assert!(
                matches!(err, WeightsErrorKind::NotZip(_)),
                "cut {cut}: {err}"
            );
        }
        for seed in 0..32 {
            assert!(read_checkpoint(Cursor::new(garbage(4096, seed))).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[200] ^= 0x55; // inside the stored data.pkl: its CRC no longer matches
        assert!(read_checkpoint(Cursor::new(flipped)).is_err());
    }

    #[test]
    fn mangled_pickles_never_panic() {
        let Some(pt) = shared_file(CHECKPOINT) else {
            return;
        };
        let mut zip = ZipArchive::new(std::fs::File::open(&pt).expect("open")).expect("zip");
        let entries: Vec<(String, Vec<u8>)> = (0..zip.len())
            .map(|i| {
                let mut entry = zip.by_index(i).expect("entry");
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("read entry");
                (entry.name().to_string(), data)
            })
            .collect();
        let pickle = &entries
            .iter()
            .find(|(n, _)| n.ends_with("data.pkl"))
            .expect("data.pkl")
            .1;
        let with_pickle = |new: &[u8]| {
            let rest = entries
                .iter()
                .filter(|(n, _)| !n.ends_with("data.pkl"))
                .map(|(n, d)| (n.as_str(), d.as_slice()));
            zip_of(std::iter::once(("last/data.pkl", new)).chain(rest))
        };
        for cut in cut_points(pickle.len()) {
            let err =
                read_checkpoint(Cursor::new(with_pickle(&pickle[..cut]))).expect_err("cut pickle");
            assert!(matches!(err, WeightsErrorKind::Pickle { .. }), "{err}");
        }
        let noise = garbage(pickle.len(), 7);
        for (i, step) in [97usize, 1009, 7919].into_iter().enumerate() {
            let mut mangled = pickle.clone();
            for at in (i..mangled.len()).step_by(step) {
                mangled[at] = noise[at];
            }
            // Ok or Err are both acceptable: the point is that nothing panics or hangs.
            let _ = read_checkpoint(Cursor::new(with_pickle(&mangled)));
        }
        for seed in 0..32 {
            assert!(read_checkpoint(Cursor::new(with_pickle(&garbage(2048, seed)))).is_err());
        }
    }

    /// A stored (uncompressed) zip of the given entries.
    fn zip_of<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            writer.start_file(name, options).expect("start entry");
            writer.write_all(data).expect("write entry");
        }
        writer.finish().expect("finish zip").into_inner()
    }

    /// A tiny pickle writer for synthetic checkpoints.
    #[derive(Default)]
    struct Pk(Vec<u8>);

    impl Pk {
        fn op(&mut self, bytes: &[u8]) -> &mut Self {
            self.0.extend_from_slice(bytes);
            self
        }

        fn str(&mut self, text: &str) -> &mut Self {
            self.op(b"X")
                .op(&(text.len() as u32).to_le_bytes())
                .op(text.as_bytes())
        }

        fn int(&mut self, value: i32) -> &mut Self {
            self.op(b"J").op(&value.to_le_bytes())
        }

        fn global(&mut self, module: &str, name: &str) -> &mut Self {
            self.op(b"c")
                .op(module.as_bytes())
                .op(b"\n")
                .op(name.as_bytes())
                .op(b"\n")
        }

        fn put(&mut self, index: u32) -> &mut Self {
            self.op(b"r").op(&index.to_le_bytes())
        }

        fn get(&mut self, index: u32) -> &mut Self {
            self.op(b"j").op(&index.to_le_bytes())
        }

        fn ints(&mut self, values: &[usize]) -> &mut Self {
            self.op(b"(");
            for &v in values {
                self.int(v as i32);
            }
            self.op(b"t")
        }

        fn ordered_dict(&mut self) -> &mut Self {
            self.global("collections", "OrderedDict").op(b")R")
        }

        /// `_rebuild_tensor_v2(('storage', torch.<class>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`.
        fn tensor(
            &mut self,
            class: &str,
            key: &str,
            numel: usize,
            offset: usize,
            size: &[usize],
            stride: &[usize],
        ) -> &mut Self {
            self.global("torch._utils", "_rebuild_tensor_v2")
                .op(b"((")
                .str("storage")
                .global("torch", class);
            self.str(key)
                .str("cpu")
                .int(numel as i32)
                .op(b"tQ")
                .int(offset as i32);
            self.ints(size)
                .ints(stride)
                .op(b"\x89")
                .ordered_dict()
                .op(b"tR")
        }

        fn parameter(&mut self, tensor: impl FnOnce(&mut Self)) -> &mut Self {
            self.global("torch._utils", "_rebuild_parameter").op(b"(");
            tensor(self);
            self.op(b"\x89").ordered_dict().op(b"tR")
        }

        /// An OrderedDict filled by `items` (which pushes key, value pairs).
        fn dict_of(&mut self, items: impl FnOnce(&mut Self)) -> &mut Self {
            self.ordered_dict().op(b"(");
            items(self);
            self.op(b"u")
        }

        /// A module object with the given parameter, buffer and child entries (and extra attributes).
        fn module(&mut self, class: &str, fill: impl FnOnce(&mut Self)) -> &mut Self {
            self.global("m", class)
                .op(b")\x81}(")
                .str("training")
                .op(b"\x89");
            fill(self);
            self.op(b"ub")
        }
    }

    fn floats_le(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn synthetic_checkpoint_covers_strides_dtypes_and_buffers() {
        let mut pk = Pk::default();
        pk.op(b"\x80\x02}(").str("model").op(b"N").str("ema");
        pk.module("Top", |p| {
            p.str("_parameters")
                .dict_of(|_| {})
                .str("_buffers")
                .dict_of(|_| {});
            p.str("_modules").dict_of(|p| {
                p.str("conv").module("Conv", |p| {
                    p.str("_parameters").dict_of(|p| {
                        // A transposed view of storage "0" (2x3 → 3x2) and a bf16 bias with an offset.
                        p.str("weight").parameter(|p| {
                            p.tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3]);
                        });
                        p.str("bias").parameter(|p| {
                            p.tensor("BFloat16Storage", "1", 3, 1, &[2], &[1]);
                        });
                        p.str("absent").op(b"N");
                    });
                    p.str("_buffers").dict_of(|p| {
                        p.str("running_mean")
                            .tensor("DoubleStorage", "2", 2, 0, &[2], &[1]);
                        p.str("num_batches_tracked")
                            .tensor("LongStorage", "3", 1, 0, &[], &[]);
                        p.str("scratch")
                            .tensor("FloatStorage", "0", 6, 0, &[6], &[1]);
                    });
                    p.str("_non_persistent_buffers_set")
                        .global("__builtin__", "set")
                        .op(b"]")
                        .str("scratch")
                        .op(b"a\x85R");
                    p.str("_modules").dict_of(|p| {
                        p.str("act").op(b"N");
                    });
                });
            });
            p.str("names")
                .op(b"}")
                .int(0)
                .str("cat")
                .op(b"s")
                .str("nc")
                .int(1);
            p.str("stride")
                .tensor("FloatStorage", "4", 1, 0, &[1], &[1]);
        });
        pk.str("train_args")
            .op(b"}")
            .str("task")
            .str("detect")
            .op(b"s")
            .op(b"u.");
        let bf16: Vec<u8> = [0.0f32, 1.5, -2.0]
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        let f64s: Vec<u8> = [0.25f64, 8.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let (w, stride) = (
            floats_le(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            floats_le(&[32.0]),
        );
        let entries: [(&str, &[u8]); 7] = [
            ("ck/data.pkl", &pk.0),
            ("ck/byteorder", b"little"),
            ("ck/data/0", &w),
            ("ck/data/1", &bf16),
            ("ck/data/2", &f64s),
            ("ck/data/3", &7i64.to_le_bytes()),
            ("ck/data/4", &stride),
        ];
        let state =
            read_checkpoint(Cursor::new(zip_of(entries))).expect("synthetic checkpoint reads");
        let names: Vec<&str> = state.tensors.keys().map(String::as_str).collect();
        assert_eq!(names, ["conv.bias", "conv.running_mean", "conv.weight"]);
        assert_eq!(
            state.tensors["conv.weight"],
            RawTensor {
                shape: vec![3, 2],
                data: vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
            }
        );
        assert_eq!(state.tensors["conv.bias"].data, [1.5, -2.0]);
        assert_eq!(state.tensors["conv.running_mean"].data, [0.25, 8.0]);
        assert_eq!(state.metadata["names"], r#"{"0":"cat"}"#);
        assert_eq!(
            (
                state.metadata["nc"].as_str(),
                state.metadata["stride"].as_str()
            ),
            ("1", "[32.0]")
        );
        assert_eq!(state.metadata["task"], "detect");
    }

    #[test]
    fn synthetic_state_dicts_and_bad_storages() {
        let view = |class: &str, numel: usize, offset: usize, stride: usize| {
            let mut pk = Pk::default();
            pk.op(b"\x80\x02")
                .dict_of(|p| {
                    p.str("w")
                        .tensor(class, "0", numel, offset, &[2], &[stride]);
                })
                .op(b".");
            pk.0
        };
        let state_dict = |class: &str, numel: usize| view(class, numel, 0, 1);
        let data = floats_le(&[1.0, 2.0]);
        let big_endian: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
        let read = |pickle: &[u8], order: &[u8], storage: &[u8]| {
            read_checkpoint(Cursor::new(zip_of([
                ("a/data.pkl", pickle),
                ("a/byteorder", order),
                ("a/data/0", storage),
            ])))
        };
        let plain =
            read(&state_dict("FloatStorage", 2), b"little", &data).expect("plain state dict");
        assert_eq!(plain.tensors["w"].data, [1.0, 2.0]);
        let big = read(&state_dict("FloatStorage", 2), b"big", &big_endian).expect("big-endian");
        assert_eq!(big.tensors["w"].data, [1.0, 2.0]);
        let err =
            read(&state_dict("ComplexFloatStorage", 2), b"little", &data).expect_err("complex");
        assert_eq!(
            err.to_string(),
            "tensor 'w' has dtype torch.ComplexFloatStorage which is not supported"
        );
        let short =
            read(&state_dict("FloatStorage", 3), b"little", &data).expect_err("short storage");
        assert!(
            short.to_string().contains("has 8 bytes, 12 expected"),
            "{short}"
        );
        let past = read(&view("FloatStorage", 2, 1, 1), b"little", &data).expect_err("past end");
        assert!(
            past.to_string().contains("reaches past its storage"),
            "{past}"
        );
        let broadcast = read(&view("FloatStorage", 1, 0, 0), b"little", &data[..4]);
        let broadcast = broadcast.expect_err("broadcast view").to_string();
        assert!(
            broadcast.contains("broadcast views are not supported"),
            "{broadcast}"
        );
        assert!(read(&state_dict("FloatStorage", 2), b"middle", &data).is_err());
        let missing = read_checkpoint(Cursor::new(zip_of([(
            "a/data.pkl",
            state_dict("FloatStorage", 2).as_slice(),
        )])));
        assert!(
            missing
                .expect_err("no storage")
                .to_string()
                .contains("zip entry 'a/data/0'")
        );
        let no_pickle = read_checkpoint(Cursor::new(zip_of([("a/other", b"x".as_slice())])))
            .expect_err("no pickle");
        assert!(no_pickle.to_string().contains("without data.pkl"));
    }

    #[test]
    fn exponentially_shared_structures_are_cut_short() {
        let mut tree = Pk::default();
        tree.op(b"\x80\x02");
        for level in 0..40u32 {
            tree.module("M", |p| {
                p.str("_parameters")
                    .dict_of(|_| {})
                    .str("_buffers")
                    .dict_of(|_| {});
                p.str("_modules").dict_of(|p| {
                    if level > 0 {
                        p.str("a").get(level - 1).str("b").get(level - 1);
                    }
                });
            });
            tree.put(level);
        }
        tree.op(b".");
        let zip = zip_of([("t/data.pkl", tree.0.as_slice())]);
        let err = read_checkpoint(Cursor::new(zip))
            .expect_err("module bomb")
            .to_string();
        assert!(err.contains("module tree too large"), "{err}");

        let mut args = Pk::default();
        args.op(b"\x80\x02]").put(0);
        for level in 1..40u32 {
            args.op(b"](")
                .get(level - 1)
                .get(level - 1)
                .op(b"e")
                .put(level);
        }
        args.op(b"0}(").str("train_args").get(39).str("state_dict");
        args.dict_of(|p| {
            p.str("w").tensor("FloatStorage", "0", 1, 0, &[1], &[1]);
        });
        args.op(b"u.");
        let zip = zip_of([
            ("t/data.pkl", args.0.as_slice()),
            ("t/data/0", &floats_le(&[1.0])),
        ]);
        let err = read_checkpoint(Cursor::new(zip))
            .expect_err("metadata bomb")
            .to_string();
        assert!(err.contains("metadata 'train_args' has more than"), "{err}");
    }

    #[test]
    fn errors_name_the_file() {
        let Some(onnx) = shared_file("data/weights/yolo11n.onnx") else {
            return;
        };
        let err = read_pt(&onnx).expect_err("not a zip").to_string();
        assert!(
            err.starts_with(&format!("{}: not a zip archive", onnx.display())),
            "{err}"
        );
    }
}
