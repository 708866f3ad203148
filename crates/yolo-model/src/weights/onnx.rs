//! Reads the float initializers and metadata of an ONNX model (`ModelProto`) without a framework.

use std::collections::BTreeMap;
use std::path::Path;

use super::convert::FloatKind;
use super::error::{WeightsError, WeightsErrorKind, malformed};
use super::protobuf::{Chunk, Field, Payload, WireError};
use super::pyliteral;
use super::state_dict::{RawTensor, StateDict};

/// `ModelProto.graph`.
const MODEL_GRAPH: u64 = 7;
/// `ModelProto.metadata_props`.
const MODEL_METADATA: u64 = 14;
/// `GraphProto.initializer`.
const GRAPH_INITIALIZER: u64 = 5;

/// Reads every floating-point initializer of the ONNX model at `path` (FLOAT, FLOAT16, DOUBLE,
/// BFLOAT16, converted to f32) under its ONNX name, and `metadata_props` into `metadata`.
///
/// Ultralytics writes structured metadata (`names`, `imgsz`, `args` ...) as Python reprs; those
/// are converted to JSON (`{0: 'person'}` → `{"0":"person"}`), scalars are kept verbatim.
pub fn read_onnx(path: impl AsRef<Path>) -> Result<StateDict, WeightsError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| WeightsError::new(path, e.into()))?;
    parse_onnx(&bytes).map_err(|kind| WeightsError::new(path, kind))
}

/// Parses a serialized `ModelProto`.
pub(crate) fn parse_onnx(bytes: &[u8]) -> Result<StateDict, WeightsErrorKind> {
    let mut state = StateDict::default();
    let mut has_graph = false;
    for field in Chunk::whole(bytes).fields() {
        let field = field.map_err(|e| wire_error(e, "the model"))?;
        match (field.number, field.payload) {
            (MODEL_GRAPH, Payload::Bytes(graph)) => {
                read_graph(graph, &mut state.tensors)?;
                has_graph = true;
            }
            (MODEL_METADATA, Payload::Bytes(entry)) => {
                let (key, value) = read_metadata_entry(entry)?;
                state.metadata.insert(key, normalize_metadata(value));
            }
            _ => {}
        }
    }
    if !has_graph {
        return Err(malformed(
            "no graph (ModelProto field 7): not an ONNX model",
        ));
    }
    Ok(state)
}

/// Turns a [`WireError`] into an error saying what was being read.
fn wire_error(error: WireError, context: &str) -> WeightsErrorKind {
    match error {
        WireError::Truncated(offset) => WeightsErrorKind::Truncated {
            offset: offset as u64,
            context: context.into(),
        },
        WireError::Invalid(offset, problem) => malformed(format!(
            "{problem} at byte {offset} while reading {context}"
        )),
    }
}

/// Collects the float initializers of a `GraphProto`.
fn read_graph(
    graph: Chunk<'_>,
    tensors: &mut BTreeMap<String, RawTensor>,
) -> Result<(), WeightsErrorKind> {
    let mut index = 0;
    for field in graph.fields() {
        let field = field.map_err(|e| wire_error(e, "the graph"))?;
        let (GRAPH_INITIALIZER, Payload::Bytes(chunk)) = (field.number, field.payload) else {
            continue;
        };
        if let Some((name, tensor)) = read_initializer(chunk, index)?
            && tensors.insert(name.clone(), tensor).is_some()
        {
            return Err(malformed(format!("duplicate initializer '{name}'")));
        }
        index += 1;
    }
    graph
        .check_complete()
        .map_err(|e| wire_error(e, "the graph"))
}

/// The fields of a `TensorProto` that matter here.
#[derive(Default)]
struct TensorProto<'a> {
    name: Option<String>,
    dims: Vec<u64>,
    data_type: u64,
    raw_data: Option<&'a [u8]>,
    float_data: Vec<f32>,
    int32_data: Vec<u64>,
    double_data: Vec<f32>,
    external: bool,
}

impl TensorProto<'_> {
    /// How errors refer to this tensor.
    fn context(&self, index: usize) -> String {
        match &self.name {
            Some(name) => format!("initializer '{name}'"),
            None => format!("initializer #{index} of the graph"),
        }
    }
}

/// Decodes one initializer; `None` if it is not floating-point.
fn read_initializer(
    chunk: Chunk<'_>,
    index: usize,
) -> Result<Option<(String, RawTensor)>, WeightsErrorKind> {
    let mut proto = TensorProto::default();
    for field in chunk.fields() {
        let result = field.and_then(|field| proto.absorb(field));
        result.map_err(|e| wire_error(e, &proto.context(index)))?;
    }
    chunk
        .check_complete()
        .map_err(|e| wire_error(e, &proto.context(index)))?;
    let Some(kind) = float_kind(proto.data_type) else {
        return Ok(None);
    };
    let name = proto
        .name
        .clone()
        .unwrap_or_else(|| format!("initializer_{index}"));
    let tensor = proto.into_tensor(kind, &name)?;
    Ok(Some((name, tensor)))
}

/// The element type of an ONNX `DataType` code, if floating-point and supported.
fn float_kind(data_type: u64) -> Option<FloatKind> {
    match data_type {
        1 => Some(FloatKind::F32),
        10 => Some(FloatKind::F16),
        11 => Some(FloatKind::F64),
        16 => Some(FloatKind::BF16),
        _ => None,
    }
}

impl<'a> TensorProto<'a> {
    /// Records one field of the message.
    fn absorb(&mut self, field: Field<'a>) -> Result<(), WireError> {
        match (field.number, field.payload) {
            (1, Payload::Varint(v)) => self.dims.push(v),
            (1, Payload::Bytes(c)) => self.dims.extend(c.packed_varints()?),
            (2, Payload::Varint(v)) => self.data_type = v,
            (4, Payload::Fixed32(b)) => self.float_data.push(f32::from_le_bytes(b)),
            (4, Payload::Bytes(c)) => self
                .float_data
                .extend(FloatKind::F32.decode(c.packed_fixed(4)?, false)),
            (5, Payload::Varint(v)) => self.int32_data.push(v),
            (5, Payload::Bytes(c)) => self.int32_data.extend(c.packed_varints()?),
            (8, Payload::Bytes(c)) => self.name = Some(c.text()?),
            (9, Payload::Bytes(c)) => self.raw_data = Some(c.bytes()?),
            (10, Payload::Fixed64(b)) => self.double_data.push(f64::from_le_bytes(b) as f32),
            (10, Payload::Bytes(c)) => self
                .double_data
                .extend(FloatKind::F64.decode(c.packed_fixed(8)?, false)),
            (14, Payload::Varint(v)) => self.external = v == 1,
            _ => {}
        }
        Ok(())
    }

    /// Builds the f32 tensor, checking the element count against the dims.
    fn into_tensor(self, kind: FloatKind, name: &str) -> Result<RawTensor, WeightsErrorKind> {
        if self.external {
            return Err(malformed(format!(
                "initializer '{name}' keeps its data in an external file, which is not supported"
            )));
        }
        let shape = self
            .dims
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>();
        let shape = shape
            .map_err(|_| malformed(format!("initializer '{name}' has dims {:?}", self.dims)))?;
        let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let expected = expected.ok_or_else(|| {
            malformed(format!(
                "initializer '{name}' has dims {shape:?} that overflow"
            ))
        })?;
        let data = match self.raw_data {
            Some(raw) => kind.decode(raw, false),
            None => self.typed_data(kind),
        };
        let ragged = self
            .raw_data
            .is_some_and(|raw| !raw.len().is_multiple_of(kind.size()));
        if data.len() != expected || ragged {
            return Err(WeightsErrorKind::SizeMismatch {
                tensor: name.into(),
                shape,
                expected,
                found: data.len(),
            });
        }
        Ok(RawTensor { shape, data })
    }

    /// Values stored in the type-specific repeated field.
    fn typed_data(&self, kind: FloatKind) -> Vec<f32> {
        match kind {
            FloatKind::F32 => self.float_data.clone(),
            FloatKind::F64 => self.double_data.clone(),
            FloatKind::F16 => self
                .int32_data
                .iter()
                .map(|&v| half::f16::from_bits(v as u16).to_f32())
                .collect(),
            FloatKind::BF16 => self
                .int32_data
                .iter()
                .map(|&v| half::bf16::from_bits(v as u16).to_f32())
                .collect(),
        }
    }
}

/// Decodes a `StringStringEntryProto` (key = 1, value = 2).
fn read_metadata_entry(entry: Chunk<'_>) -> Result<(String, String), WeightsErrorKind> {
    let (mut key, mut value) = (String::new(), String::new());
    for field in entry.fields() {
        let field = field.map_err(|e| wire_error(e, "metadata_props"))?;
        match (field.number, field.payload) {
            (1, Payload::Bytes(c)) => {
                key = c.text().map_err(|e| wire_error(e, "a metadata key"))?
            }
            (2, Payload::Bytes(c)) => {
                value = c
                    .text()
                    .map_err(|e| wire_error(e, &format!("metadata '{key}'")))?
            }
            _ => {}
        }
    }
    entry
        .check_complete()
        .map_err(|e| wire_error(e, &format!("metadata '{key}'")))?;
    Ok((key, value))
}

/// Python-repr containers, booleans and `None` become JSON; anything else is kept as written.
fn normalize_metadata(value: String) -> String {
    match pyliteral::parse(&value) {
        Some(json @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            json.to_string()
        }
        Some(json @ (serde_json::Value::Bool(_) | serde_json::Value::Null)) => json.to_string(),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::test_support::{
        cut_points, garbage, pb_bytes, pb_fixed32, pb_varint, shared_file,
    };

    /// A `ModelProto` whose graph holds the given serialized `TensorProto`s.
    fn model_with(tensors: &[Vec<u8>]) -> Vec<u8> {
        let graph: Vec<u8> = tensors
            .iter()
            .flat_map(|t| pb_bytes(GRAPH_INITIALIZER, t))
            .collect();
        let mut model = pb_varint(1, 9);
        model.extend(pb_bytes(MODEL_GRAPH, &graph));
        model
    }

    fn tensor(name: &str, data_type: u64, dims: &[u64], payload: Vec<u8>) -> Vec<u8> {
        let mut out: Vec<u8> = dims.iter().flat_map(|&d| pb_varint(1, d)).collect();
        out.extend(pb_varint(2, data_type));
        out.extend(pb_bytes(8, name.as_bytes()));
        out.extend(payload);
        out
    }

    #[test]
    fn reads_the_real_yolo11n_export() {
        let Some(path) = shared_file("data/weights/yolo11n.onnx") else {
            return;
        };
        let sd = read_onnx(&path).expect("yolo11n.onnx reads");
        // 204 initializers in all: 184 float32 (2,616,260 values) and 20 int64 shape constants
        // (30 values), which are skipped.
        assert_eq!(sd.tensors.len(), 184);
        assert_eq!(
            sd.tensors.values().map(RawTensor::numel).sum::<usize>(),
            2_616_260
        );
        let (weights, constants): (Vec<_>, Vec<_>) =
            sd.tensors.keys().partition(|k| k.starts_with("model."));
        assert_eq!((weights.len(), constants.len()), (175, 9));
        assert!(
            constants.iter().all(|k| k.starts_with("/model.")),
            "{constants:?}"
        );
        assert_eq!(sd.tensors["model.0.conv.weight"].shape, [16, 3, 3, 3]);
        assert_eq!(sd.tensors["model.0.conv.bias"].shape, [16]);
        let dfl = &sd.tensors["model.23.dfl.conv.weight"];
        assert_eq!(dfl.shape, [1, 16, 1, 1]);
        assert_eq!(dfl.data, (0..16).map(|i| i as f32).collect::<Vec<_>>());
        assert!(
            sd.tensors
                .values()
                .all(|t| t.data.len() == t.numel() && t.data.iter().all(|v| v.is_finite()))
        );
        let names: BTreeMap<String, String> =
            serde_json::from_str(&sd.metadata["names"]).expect("names is JSON");
        assert_eq!(
            (names.len(), names["0"].as_str(), names["79"].as_str()),
            (80, "person", "toothbrush")
        );
        assert_eq!(
            (sd.metadata["stride"].as_str(), sd.metadata["task"].as_str()),
            ("32", "detect")
        );
        assert_eq!(sd.metadata["imgsz"], "[640,640]");
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error() {
        let Some(path) = shared_file("data/weights/yolo11n.onnx") else {
            return;
        };
        let bytes = std::fs::read(&path).expect("read");
        for cut in cut_points(bytes.len()) {
            assert!(parse_onnx(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mid = parse_onnx(&bytes[..bytes.len() / 2])
            .expect_err("cut")
            .to_string();
        assert!(
            mid.starts_with(&format!(
                "truncated at byte {} while reading initializer 'model.",
                bytes.len() / 2
            )),
            "{mid}"
        );
        for seed in 0..64 {
            assert!(parse_onnx(&garbage(4096, seed)).is_err(), "seed {seed}");
        }
    }

    #[test]
    fn decodes_every_float_encoding_and_skips_integers() {
        let packed: Vec<u8> = [1.0f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let unpacked: Vec<u8> = [3.0f32, 4.0]
            .iter()
            .flat_map(|v| pb_fixed32(4, v.to_le_bytes()))
            .collect();
        let f16_bits = [
            half::f16::from_f32(0.5).to_bits(),
            half::f16::from_f32(-8.0).to_bits(),
        ];
        let f16_ints: Vec<u8> = f16_bits
            .iter()
            .flat_map(|&b| pb_varint(5, u64::from(b)))
            .collect();
        let doubles: Vec<u8> = [6.25f64, 7.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let raw_f16: Vec<u8> = f16_bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let model = model_with(&[
            tensor("packed", 1, &[2], pb_bytes(4, &packed)),
            tensor("unpacked", 1, &[1, 2], unpacked),
            tensor("half", 10, &[2], f16_ints),
            tensor("double", 11, &[2], pb_bytes(10, &doubles)),
            tensor("raw_half", 10, &[2, 1], pb_bytes(9, &raw_f16)),
            tensor("shape", 7, &[1], pb_bytes(9, &5i64.to_le_bytes())),
        ]);
        let sd = parse_onnx(&model).expect("valid model");
        assert_eq!(sd.tensors.len(), 5);
        assert_eq!(sd.tensors["packed"].data, [1.0, -2.0]);
        assert_eq!(
            sd.tensors["unpacked"],
            RawTensor {
                shape: vec![1, 2],
                data: vec![3.0, 4.0]
            }
        );
        assert_eq!(sd.tensors["half"].data, [0.5, -8.0]);
        assert_eq!(sd.tensors["double"].data, [6.25, 7.0]);
        assert_eq!(
            sd.tensors["raw_half"],
            RawTensor {
                shape: vec![2, 1],
                data: vec![0.5, -8.0]
            }
        );
    }

    #[test]
    fn inconsistent_tensors_are_errors() {
        let short = model_with(&[tensor("w", 1, &[3], pb_bytes(9, &[0; 8]))]);
        let err = parse_onnx(&short).expect_err("size mismatch").to_string();
        assert_eq!(
            err,
            "tensor 'w' has shape [3] (3 values) but 2 values are stored"
        );
        let ragged = model_with(&[tensor("w", 1, &[1], pb_bytes(9, &[0; 5]))]);
        assert!(parse_onnx(&ragged).is_err());
        let huge = model_with(&[tensor("w", 1, &[u64::MAX / 2, 4], Vec::new())]);
        assert!(parse_onnx(&huge).is_err());
        let external = model_with(&[tensor("w", 1, &[1], pb_varint(14, 1))]);
        assert!(
            parse_onnx(&external)
                .expect_err("external")
                .to_string()
                .contains("external file")
        );
    }

    #[test]
    fn errors_name_the_file() {
        let missing = read_onnx("/nonexistent/model.onnx")
            .expect_err("missing file")
            .to_string();
        assert!(
            missing.starts_with("/nonexistent/model.onnx: I/O error"),
            "{missing}"
        );
    }
}
