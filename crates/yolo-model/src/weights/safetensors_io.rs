//! Reads and (atomically) writes safetensors files through the `safetensors` crate.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use safetensors::tensor::{Dtype, SafeTensors, TensorView, View};

use super::convert::FloatKind;
use super::error::{WeightsError, WeightsErrorKind};
use super::state_dict::{RawTensor, StateDict};

/// Reads a safetensors file: F32, F16, BF16 and F64 tensors become f32 (integer and bool tensors,
/// such as `num_batches_tracked`, are left out; other dtypes are an error), and the
/// `__metadata__` entries become `metadata`.
pub fn read_safetensors(path: impl AsRef<Path>) -> Result<StateDict, WeightsError> {
    let path = path.as_ref();
    let read = || parse_safetensors(&fs::read(path)?);
    read().map_err(|kind| WeightsError::new(path, kind))
}

/// Parses safetensors bytes.
pub(crate) fn parse_safetensors(bytes: &[u8]) -> Result<StateDict, WeightsErrorKind> {
    let tensors = SafeTensors::deserialize(bytes)?;
    let (_, header) = SafeTensors::read_metadata(bytes)?;
    let mut state = StateDict::default();
    state
        .metadata
        .extend(header.metadata().clone().unwrap_or_default());
    for (name, view) in tensors.iter() {
        if let Some(tensor) = convert(name, &view)? {
            state.tensors.insert(name.to_string(), tensor);
        }
    }
    Ok(state)
}

/// An f32 copy of a float tensor; `None` for integer and bool tensors.
fn convert(name: &str, view: &TensorView<'_>) -> Result<Option<RawTensor>, WeightsErrorKind> {
    let kind = match view.dtype() {
        Dtype::F32 => FloatKind::F32,
        Dtype::F16 => FloatKind::F16,
        Dtype::BF16 => FloatKind::BF16,
        Dtype::F64 => FloatKind::F64,
        Dtype::BOOL
        | Dtype::U8
        | Dtype::I8
        | Dtype::I16
        | Dtype::U16
        | Dtype::I32
        | Dtype::U32
        | Dtype::I64
        | Dtype::U64 => {
            return Ok(None);
        }
        other => {
            return Err(WeightsErrorKind::UnsupportedDtype {
                tensor: name.into(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(Some(RawTensor {
        shape: view.shape().to_vec(),
        data: kind.decode(view.data(), false),
    }))
}

/// Writes `state` as a safetensors file of F32 tensors (under their state-dict names) with
/// `state.metadata` as `__metadata__`.
///
/// The write is atomic: the data goes to a temporary file in the same directory, which is
/// synced, renamed over `path`, and the directory synced; on failure the old file is untouched.
pub fn write_safetensors(path: impl AsRef<Path>, state: &StateDict) -> Result<(), WeightsError> {
    let path = path.as_ref();
    write_atomically(path, state).map_err(|kind| WeightsError::new(path, kind))
}

/// A tensor as an F32 safetensors view.
struct F32View<'a>(&'a RawTensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        self.0.data.len() * 4
    }
}

fn write_atomically(path: &Path, state: &StateDict) -> Result<(), WeightsErrorKind> {
    for (name, tensor) in &state.tensors {
        if tensor.data.len() != tensor.numel() {
            let (shape, expected, found) =
                (tensor.shape.clone(), tensor.numel(), tensor.data.len());
            return Err(WeightsErrorKind::SizeMismatch {
                tensor: name.clone(),
                shape,
                expected,
                found,
            });
        }
    }
    let temp = temp_path(path)?;
    let result = write_synced(&temp, state).and_then(|()| {
        fs::rename(&temp, path)?;
        sync_parent(path)
    });
    if result.is_err() {
        // Best effort: the temporary file may not exist (the failure may have been creating it).
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Serializes to `temp` and syncs its data to disk.
fn write_synced(temp: &Path, state: &StateDict) -> Result<(), WeightsErrorKind> {
    let views = state
        .tensors
        .iter()
        .map(|(name, tensor)| (name.as_str(), F32View(tensor)));
    let metadata: HashMap<String, String> = state.metadata.clone().into_iter().collect();
    let metadata = (!metadata.is_empty()).then_some(metadata);
    safetensors::serialize_to_file(views, metadata, temp)?;
    File::options().write(true).open(temp)?.sync_all()?;
    Ok(())
}

/// `.<name>.tmp-<pid>-<n>` beside `path`.
fn temp_path(path: &Path) -> Result<PathBuf, WeightsErrorKind> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path has no file name"))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(temp))
}

/// Syncs the directory holding `path` so that the rename is durable (Unix only).
fn sync_parent(path: &Path) -> Result<(), WeightsErrorKind> {
    if cfg!(unix) {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::test_support::{cut_points, garbage, scratch_dir, shared_file};

    /// Raw bytes of any dtype, for building test files.
    struct Bytes(Dtype, Vec<usize>, Vec<u8>);

    impl View for &Bytes {
        fn dtype(&self) -> Dtype {
            self.0
        }

        fn shape(&self) -> &[usize] {
            &self.1
        }

        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&self.2)
        }

        fn data_len(&self) -> usize {
            self.2.len()
        }
    }

    fn sample() -> StateDict {
        let mut state = StateDict::default();
        let weight = RawTensor {
            shape: vec![2, 1, 3],
            data: vec![1.0, -2.5, 3.25, 0.0, f32::MIN_POSITIVE, 1e30],
        };
        state.tensors.insert("model.0.conv.weight".into(), weight);
        state.tensors.insert(
            "model.0.bn.bias".into(),
            RawTensor {
                shape: vec![2],
                data: vec![0.5, -0.5],
            },
        );
        state.tensors.insert(
            "scalar".into(),
            RawTensor {
                shape: vec![],
                data: vec![7.0],
            },
        );
        state
            .metadata
            .insert("names".into(), r#"{"0":"person"}"#.into());
        state.metadata.insert("nc".into(), "1".into());
        state
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        let names = fs::read_dir(dir)
            .expect("list dir")
            .map(|e| e.expect("entry").file_name());
        names
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn round_trips_tensors_and_metadata_atomically() {
        let dir = scratch_dir("safetensors-round-trip");
        let path = dir.join("weights.safetensors");
        let state = sample();
        write_safetensors(&path, &state).expect("write");
        assert_eq!(read_safetensors(&path).expect("read back"), state);
        let mut changed = state.clone();
        changed.metadata.clear();
        write_safetensors(&path, &changed).expect("overwrite");
        assert_eq!(read_safetensors(&path).expect("read back"), changed);
        assert!(leftovers(&dir).is_empty());

        let mut bad = state.clone();
        bad.tensors.insert(
            "broken".into(),
            RawTensor {
                shape: vec![4],
                data: vec![1.0],
            },
        );
        let err = write_safetensors(&path, &bad).expect_err("size mismatch");
        assert!(
            err.to_string()
                .contains("tensor 'broken' has shape [4] (4 values) but 1 values are stored")
        );
        assert_eq!(read_safetensors(&path).expect("old file intact"), changed);
        let missing_dir = dir.join("no/such/dir/w.safetensors");
        let err = write_safetensors(&missing_dir, &state)
            .expect_err("no directory")
            .to_string();
        assert!(err.starts_with(&missing_dir.display().to_string()), "{err}");
        assert!(leftovers(&dir).is_empty());
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn round_trips_the_state_dict_fixture() {
        let Some(fixture) = shared_file("fixtures/yolo11n_coco8_3ep_160_state_dict.safetensors")
        else {
            return;
        };
        let state = read_safetensors(&fixture).expect("fixture reads");
        assert_eq!((state.tensors.len(), state.metadata.len()), (418, 0));
        let dir = scratch_dir("safetensors-fixture");
        let path = dir.join("copy.safetensors");
        write_safetensors(&path, &state).expect("write");
        assert_eq!(read_safetensors(&path).expect("read back"), state);
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn converts_half_bf16_and_f64_and_skips_integers() {
        let half: Vec<u8> = [1.5f32, -4.0]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let bf16: Vec<u8> = [2.0f32]
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        let tensors = [
            ("h", Bytes(Dtype::F16, vec![2], half)),
            ("b", Bytes(Dtype::BF16, vec![1], bf16)),
            (
                "d",
                Bytes(Dtype::F64, vec![1, 1], 0.125f64.to_le_bytes().to_vec()),
            ),
            (
                "num_batches_tracked",
                Bytes(Dtype::I64, vec![], 3i64.to_le_bytes().to_vec()),
            ),
        ];
        let bytes =
            safetensors::serialize(tensors.iter().map(|(n, b)| (*n, b)), None).expect("serialize");
        let state = parse_safetensors(&bytes).expect("parse");
        assert_eq!(state.tensors.len(), 3);
        assert_eq!(state.tensors["h"].data, [1.5, -4.0]);
        assert_eq!(state.tensors["b"].data, [2.0]);
        assert_eq!(
            state.tensors["d"],
            RawTensor {
                shape: vec![1, 1],
                data: vec![0.125]
            }
        );
        let fp8 = [("w", Bytes(Dtype::F8_E4M3, vec![1], vec![0]))];
        let bytes =
            safetensors::serialize(fp8.iter().map(|(n, b)| (*n, b)), None).expect("serialize");
        let err = parse_safetensors(&bytes).expect_err("fp8").to_string();
        assert_eq!(err, "tensor 'w' has dtype F8_E4M3 which is not supported");
    }

    #[test]
    fn truncated_or_garbage_files_are_errors() {
        let dir = scratch_dir("safetensors-truncated");
        let path = dir.join("w.safetensors");
        write_safetensors(&path, &sample()).expect("write");
        let bytes = fs::read(&path).expect("read");
        for cut in cut_points(bytes.len()) {
            assert!(parse_safetensors(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for seed in 0..32 {
            assert!(parse_safetensors(&garbage(512, seed)).is_err());
        }
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
