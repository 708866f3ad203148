//! Framework-free readers and writers of model weights (.pt, ONNX, safetensors) as a [`StateDict`].

mod convert;
mod error;
mod format;
mod onnx;
mod pickle;
mod protobuf;
mod pt;
mod pyliteral;
mod safetensors_io;
pub mod state_dict;
#[cfg(test)]
mod test_support;

pub use error::{WeightsError, WeightsErrorKind};
pub use format::{WeightsFormat, detect_format, read_weights};
pub use onnx::read_onnx;
pub use pt::read_pt;
pub use safetensors_io::{read_safetensors, write_safetensors};
pub use state_dict::{RawTensor, StateDict};
