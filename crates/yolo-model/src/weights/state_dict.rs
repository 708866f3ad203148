//! A framework-free state dict: PyTorch-named f32 tensors plus string metadata.

use std::collections::BTreeMap;

/// One tensor of a state dict, converted to f32 whatever its stored dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Shape in PyTorch order, e.g. `[c_out, c_in / groups, k, k]` for a conv weight.
    pub shape: Vec<usize>,
    /// Row-major (C-contiguous) values.
    pub data: Vec<f32>,
}

impl RawTensor {
    /// Number of elements the shape describes.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Tensors keyed by their PyTorch `state_dict` names (`model.0.conv.weight`, ...), plus free
/// metadata (`names`, `nc`, `stride`, `imgsz`, training args ...) as strings (JSON where structured).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    /// Tensors by PyTorch name.
    pub tensors: BTreeMap<String, RawTensor>,
    /// Metadata by key.
    pub metadata: BTreeMap<String, String>,
}
