//! Recognises a weights file by its content (the extension is only a fallback) and reads it.

use std::io::Read;
use std::path::Path;

use super::error::{WeightsError, WeightsErrorKind};
use super::protobuf::{Chunk, Payload};
use super::state_dict::StateDict;
use super::{read_onnx, read_pt, read_safetensors};

/// The weight file formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A PyTorch zip checkpoint (`.pt`, `.pth`).
    PyTorch,
    /// An ONNX model (`.onnx`).
    Onnx,
    /// A safetensors file (`.safetensors`).
    Safetensors,
}

/// Bytes looked at to recognise a format.
const HEAD_LEN: u64 = 64;

/// Reads a `.pt`, ONNX or safetensors file, whichever its content is (see [`detect_format`]).
pub fn read_weights(path: impl AsRef<Path>) -> Result<StateDict, WeightsError> {
    let path = path.as_ref();
    match detect_format(path)? {
        WeightsFormat::PyTorch => read_pt(path),
        WeightsFormat::Onnx => read_onnx(path),
        WeightsFormat::Safetensors => read_safetensors(path),
    }
}

/// The format of the file at `path`: a zip (`PK`) is a PyTorch checkpoint, an 8-byte header
/// length followed by `{` is safetensors, a plausible first `ModelProto` field is ONNX; content
/// that fits none falls back to the extension (`pt`/`pth`, `onnx`, `safetensors`).
pub fn detect_format(path: impl AsRef<Path>) -> Result<WeightsFormat, WeightsError> {
    let path = path.as_ref();
    let error = |kind| WeightsError::new(path, kind);
    let (head, len) = read_head(path).map_err(|e| error(e.into()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    sniff(&head, len)
        .or_else(|| from_extension(extension.as_deref()))
        .ok_or_else(|| {
            error(WeightsErrorKind::UnknownFormat(describe(
                &head,
                extension.as_deref(),
            )))
        })
}

/// The first [`HEAD_LEN`] bytes and the file length.
fn read_head(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::new();
    file.take(HEAD_LEN).read_to_end(&mut head)?;
    Ok((head, len))
}

/// The format the content shows, if any.
fn sniff(head: &[u8], len: u64) -> Option<WeightsFormat> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(WeightsFormat::PyTorch)
    } else if is_safetensors(head, len) {
        Some(WeightsFormat::Safetensors)
    } else if is_onnx(head) {
        Some(WeightsFormat::Onnx)
    } else {
        None
    }
}

/// A little-endian u64 header length that fits the file, then `{`.
fn is_safetensors(head: &[u8], len: u64) -> bool {
    let Some((size, rest)) = head.split_first_chunk::<8>() else {
        return false;
    };
    let header = u64::from_le_bytes(*size);
    rest.first() == Some(&b'{') && header.checked_add(8).is_some_and(|end| end <= len)
}

/// The first protobuf field is one of `ModelProto`'s (`ir_version = 1` comes first in practice).
fn is_onnx(head: &[u8]) -> bool {
    match Chunk::whole(head).fields().next() {
        Some(Ok(field)) => match field.payload {
            Payload::Varint(_) => matches!(field.number, 1 | 5),
            Payload::Bytes(_) => matches!(field.number, 2..=4 | 6..=8 | 14 | 20 | 25),
            _ => false,
        },
        _ => false,
    }
}

fn from_extension(extension: Option<&str>) -> Option<WeightsFormat> {
    match extension? {
        "pt" | "pth" => Some(WeightsFormat::PyTorch),
        "onnx" => Some(WeightsFormat::Onnx),
        "safetensors" => Some(WeightsFormat::Safetensors),
        _ => None,
    }
}

/// What the unrecognised file looks like, for the error message.
fn describe(head: &[u8], extension: Option<&str>) -> String {
    let bytes: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let what = match extension {
        Some(ext) => format!("a '.{ext}' file"),
        None => "a file".to_string(),
    };
    if head.is_empty() {
        return format!("{what} that is empty");
    }
    let legacy = if head.starts_with(&[0x80]) {
        " (a bare pickle: legacy PyTorch serialization is not supported)"
    } else {
        ""
    };
    format!("{what} starting with bytes {}{legacy}", bytes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::test_support::{scratch_dir, shared_file};
    use crate::weights::write_safetensors;

    #[test]
    fn dispatches_real_files_on_content() {
        let files = [
            ("data/weights/yolo11n.onnx", WeightsFormat::Onnx, 184),
            (
                "data/weights/yolo11n_coco8_3ep_160.pt",
                WeightsFormat::PyTorch,
                418,
            ),
            (
                "fixtures/yolo11n_coco8_3ep_160_state_dict.safetensors",
                WeightsFormat::Safetensors,
                418,
            ),
        ];
        for (relative, format, tensors) in files {
            let Some(path) = shared_file(relative) else {
                return;
            };
            assert_eq!(detect_format(&path).expect("detect"), format, "{relative}");
            assert_eq!(
                read_weights(&path).expect("read").tensors.len(),
                tensors,
                "{relative}"
            );
        }
    }

    #[test]
    fn content_beats_extension_and_unknown_content_is_a_clear_error() {
        let dir = scratch_dir("format");
        let disguised = dir.join("weights.pt");
        write_safetensors(&disguised, &StateDict::default()).expect("write");
        assert_eq!(
            detect_format(&disguised).expect("detect"),
            WeightsFormat::Safetensors
        );
        assert!(read_weights(&disguised).expect("read").tensors.is_empty());

        let unknown = dir.join("weights.bin");
        std::fs::write(&unknown, [0xff, 0xfe, 0x00, 0x01]).expect("write");
        let err = read_weights(&unknown).expect_err("unknown").to_string();
        assert!(
            err.contains(
                "unrecognised weights format: a '.bin' file starting with bytes ff fe 00 01"
            ),
            "{err}"
        );

        let legacy = dir.join("old.pth");
        std::fs::write(&legacy, [0x80, 0x02, 0x8a, 0x0a]).expect("write");
        assert!(
            read_weights(&legacy)
                .expect_err("legacy")
                .to_string()
                .contains("not a zip archive")
        );
        std::fs::rename(&legacy, dir.join("old")).expect("rename");
        let err = read_weights(dir.join("old"))
            .expect_err("legacy")
            .to_string();
        assert!(
            err.contains("legacy PyTorch serialization is not supported"),
            "{err}"
        );

        let empty = dir.join("empty.onnx");
        std::fs::write(&empty, []).expect("write");
        assert!(
            read_weights(&empty)
                .expect_err("empty")
                .to_string()
                .contains("not an ONNX model")
        );
        let err = read_weights(dir.join("missing.onnx"))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("missing.onnx: I/O error"), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
