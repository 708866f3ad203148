//! Model scales and the YOLO11 layer table, resolved to channels exactly as Ultralytics' `parse_model`.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// A YOLO11 scale: `n`, `s`, `m`, `l` or `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// depth 0.50, width 0.25, max channels 1024.
    N,
    /// depth 0.50, width 0.50, max channels 1024.
    S,
    /// depth 0.50, width 1.00, max channels 512.
    M,
    /// depth 1.00, width 1.00, max channels 512.
    L,
    /// depth 1.00, width 1.50, max channels 512.
    X,
}

impl Scale {
    /// All scales, smallest first.
    pub const ALL: [Scale; 5] = [Scale::N, Scale::S, Scale::M, Scale::L, Scale::X];

    /// `(depth_multiple, width_multiple, max_channels)` from `yolo11.yaml`.
    pub fn multipliers(self) -> (f64, f64, usize) {
        match self {
            Scale::N => (0.50, 0.25, 1024),
            Scale::S => (0.50, 0.50, 1024),
            Scale::M => (0.50, 1.00, 512),
            Scale::L => (1.00, 1.00, 512),
            Scale::X => (1.00, 1.50, 512),
        }
    }

    /// The scale letter.
    pub fn letter(self) -> char {
        match self {
            Scale::N => 'n',
            Scale::S => 's',
            Scale::M => 'm',
            Scale::L => 'l',
            Scale::X => 'x',
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        Scale::ALL.into_iter().find(|s| s.letter() == c)
    }
}

/// What defines a YOLO11 network: its scale and number of classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Width/depth scale.
    pub scale: Scale,
    /// Number of classes.
    pub nc: usize,
}

impl ModelSpec {
    /// A spec with `nc` classes.
    pub fn new(scale: Scale, nc: usize) -> Self {
        Self { scale, nc }
    }

    /// Parses `yolo11n`, `yolo11s.yaml`, `YOLO11m` … (80 classes). Any other name is an error
    /// listing the valid ones.
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        let stem = name.strip_suffix(".yaml").unwrap_or(name).to_ascii_lowercase();
        let scale = stem
            .strip_prefix("yolo11")
            .and_then(|rest| {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Scale::from_letter(c),
                    _ => None,
                }
            })
            .ok_or_else(|| ModelError::UnknownModel(name.to_string()))?;
        Ok(Self::new(scale, 80))
    }

    /// The canonical name, e.g. `yolo11n`.
    pub fn name(&self) -> String {
        format!("yolo11{}", self.scale.letter())
    }

    /// Output channels of a base module given its yaml width: `make_divisible(min(c, max)·w, 8)`.
    pub fn width(&self, yaml_channels: usize) -> usize {
        let (_, w, max_ch) = self.scale.multipliers();
        let c = yaml_channels.min(max_ch) as f64 * w;
        ((c / 8.0).ceil() as usize) * 8
    }

    /// Effective repeats: `max(round(n·depth), 1)` when `n > 1` (round half to even).
    pub fn depth(&self, n: usize) -> usize {
        let (d, _, _) = self.scale.multipliers();
        if n > 1 { ((n as f64 * d).round_ties_even() as usize).max(1) } else { n }
    }

    /// Whether C3k2 blocks use C3k everywhere (scales m, l, x override the yaml).
    pub fn forces_c3k(&self) -> bool {
        matches!(self.scale, Scale::M | Scale::L | Scale::X)
    }
}

/// The module type of one row of the YOLO11 layer table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerKind {
    /// `Conv(c2, k=3, s=2)`.
    Conv,
    /// `C3k2(c2, c3k, e)`.
    C3k2 {
        /// Uses C3k blocks (before the m/l/x override).
        c3k: bool,
        /// Hidden expansion.
        e: f64,
    },
    /// `SPPF(c2, 5)`.
    Sppf,
    /// `C2PSA(c2)`.
    C2psa,
    /// Nearest ×2 upsample.
    Upsample,
    /// Channel concatenation.
    Concat,
    /// The `Detect` head.
    Detect,
}

impl LayerKind {
    /// Ultralytics' module name as printed in model summaries.
    pub fn module_name(&self) -> &'static str {
        match self {
            LayerKind::Conv => "ultralytics.nn.modules.conv.Conv",
            LayerKind::C3k2 { .. } => "ultralytics.nn.modules.block.C3k2",
            LayerKind::Sppf => "ultralytics.nn.modules.block.SPPF",
            LayerKind::C2psa => "ultralytics.nn.modules.block.C2PSA",
            LayerKind::Upsample => "torch.nn.modules.upsampling.Upsample",
            LayerKind::Concat => "ultralytics.nn.modules.conv.Concat",
            LayerKind::Detect => "ultralytics.nn.modules.head.Detect",
        }
    }
}

/// One row of `yolo11.yaml`: `[from, repeats, module, channels]`.
#[derive(Debug, Clone, Copy)]
pub struct LayerDef {
    /// Input layers (`-1` = previous).
    pub from: &'static [i32],
    /// Yaml repeats (before the depth multiple).
    pub repeats: usize,
    /// Module type.
    pub kind: LayerKind,
    /// Yaml output channels (before the width multiple); 0 where not applicable.
    pub channels: usize,
}

const fn row(from: &'static [i32], repeats: usize, kind: LayerKind, channels: usize) -> LayerDef {
    LayerDef { from, repeats, kind, channels }
}

const C3K2_Q: LayerKind = LayerKind::C3k2 { c3k: false, e: 0.25 };
const C3K2_F: LayerKind = LayerKind::C3k2 { c3k: false, e: 0.5 };
const C3K2_T: LayerKind = LayerKind::C3k2 { c3k: true, e: 0.5 };

/// `ultralytics/cfg/models/11/yolo11.yaml`: backbone rows 0–10, head rows 11–23.
pub const YOLO11_LAYERS: [LayerDef; 24] = [
    row(&[-1], 1, LayerKind::Conv, 64),
    row(&[-1], 1, LayerKind::Conv, 128),
    row(&[-1], 2, C3K2_Q, 256),
    row(&[-1], 1, LayerKind::Conv, 256),
    row(&[-1], 2, C3K2_Q, 512),
    row(&[-1], 1, LayerKind::Conv, 512),
    row(&[-1], 2, C3K2_T, 512),
    row(&[-1], 1, LayerKind::Conv, 1024),
    row(&[-1], 2, C3K2_T, 1024),
    row(&[-1], 1, LayerKind::Sppf, 1024),
    row(&[-1], 2, LayerKind::C2psa, 1024),
    row(&[-1], 1, LayerKind::Upsample, 0),
    row(&[-1, 6], 1, LayerKind::Concat, 0),
    row(&[-1], 2, C3K2_F, 512),
    row(&[-1], 1, LayerKind::Upsample, 0),
    row(&[-1, 4], 1, LayerKind::Concat, 0),
    row(&[-1], 2, C3K2_F, 256),
    row(&[-1], 1, LayerKind::Conv, 256),
    row(&[-1, 13], 1, LayerKind::Concat, 0),
    row(&[-1], 2, C3K2_F, 512),
    row(&[-1], 1, LayerKind::Conv, 512),
    row(&[-1, 10], 1, LayerKind::Concat, 0),
    row(&[-1], 2, C3K2_T, 1024),
    row(&[16, 19, 22], 1, LayerKind::Detect, 0),
];

/// A layer of the table resolved for one [`ModelSpec`].
#[derive(Debug, Clone)]
pub struct ResolvedLayer {
    /// Index in the table.
    pub index: usize,
    /// Absolute input layer indices (`usize::MAX` = the image).
    pub from: Vec<usize>,
    /// Input channels (sum over inputs).
    pub c_in: Vec<usize>,
    /// Output channels.
    pub c_out: usize,
    /// Effective repeats.
    pub repeats: usize,
    /// Module type (C3k2's `c3k` already overridden for m/l/x).
    pub kind: LayerKind,
}

/// Resolves every layer's channels and repeats for `spec`.
pub fn resolve_layers(spec: &ModelSpec) -> Vec<ResolvedLayer> {
    let mut out: Vec<ResolvedLayer> = Vec::with_capacity(YOLO11_LAYERS.len());
    for (index, def) in YOLO11_LAYERS.iter().enumerate() {
        let from: Vec<usize> = def
            .from
            .iter()
            .map(|&f| if f < 0 { (index as i32 + f) as usize } else { f as usize })
            .collect();
        let c_in: Vec<usize> = from
            .iter()
            .map(|&f| if index == 0 { 3 } else { out[f].c_out })
            .collect();
        let kind = match def.kind {
            LayerKind::C3k2 { e, .. } if spec.forces_c3k() => LayerKind::C3k2 { c3k: true, e },
            k => k,
        };
        let c_out = match kind {
            LayerKind::Upsample => c_in[0],
            LayerKind::Concat => c_in.iter().sum(),
            LayerKind::Detect => spec.nc + 4 * crate::head::REG_MAX,
            _ => spec.width(def.channels),
        };
        let from = if index == 0 { vec![usize::MAX] } else { from };
        out.push(ResolvedLayer { index, from, c_in, c_out, repeats: spec.depth(def.repeats), kind });
    }
    out
}
