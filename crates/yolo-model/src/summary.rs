//! Model summary like Ultralytics' `model.info()`: layer table, parameter counts and GFLOPs.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;

use crate::config::{resolve_layers, LayerKind, ResolvedLayer};
use crate::head::STRIDES;
use crate::state::{named_tensors, tensor_shapes};
use crate::yolo::Yolo;

/// One row of the layer table.
#[derive(Debug, Clone)]
pub struct LayerRow {
    /// Layer index (`model.N`).
    pub index: usize,
    /// Input layers as Ultralytics prints them (`-1`, `[-1, 6]`, `[16, 19, 22]`).
    pub from: String,
    /// Effective repeats.
    pub repeats: usize,
    /// Parameters (BN weight and bias included, running statistics not).
    pub params: usize,
    /// Module type, e.g. `ultralytics.nn.modules.block.C3k2`.
    pub module: &'static str,
    /// Constructor arguments as Ultralytics prints them.
    pub arguments: String,
    /// Output shape `[1, C, H, W]` for the summary's image size (the head: `[1, 4 + nc, A]`).
    pub output: Vec<usize>,
}

/// Whole-model figures.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Layer table.
    pub layers: Vec<LayerRow>,
    /// Total parameters (PyTorch `parameters()`, the frozen DFL weight included).
    pub params: usize,
    /// Trainable parameters (total − the 16 DFL weights).
    pub trainable: usize,
    /// Giga-FLOPs at the summary's image size, thop convention (2 × MACs, conv + BatchNorm).
    pub gflops: f64,
}

fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("model.")?.split('.').next()?.parse().ok()
}

/// Parameters per layer index.
fn params_per_layer<B: Backend>(model: &Yolo<B>) -> BTreeMap<usize, usize> {
    let mut per = BTreeMap::new();
    for t in named_tensors(model).into_iter().filter(|t| !t.is_buffer()) {
        if let Some(i) = layer_of(&t.name) {
            *per.entry(i).or_insert(0) += t.shape.iter().product::<usize>();
        }
    }
    per
}

/// Total parameters as PyTorch counts them (buffers excluded).
pub fn num_params<B: Backend>(model: &Yolo<B>) -> usize {
    params_per_layer(model).values().sum()
}

/// Output stride of every layer (the head's branches are handled per level).
fn layer_stride(index: usize) -> usize {
    match index {
        0 => 2,
        1 | 2 => 4,
        3 | 4 | 14..=16 => 8,
        5 | 6 | 11..=13 | 17..=19 => 16,
        _ => 32,
    }
}

/// The resolution a tensor named `name` is computed at, as a stride (head branches per level).
fn stride_of(name: &str) -> Option<usize> {
    let layer = layer_of(name)?;
    if layer != 23 {
        return Some(layer_stride(layer));
    }
    let mut parts = name.split('.').skip(2);
    let branch = parts.next()?;
    if branch == "dfl" {
        return None;
    }
    let level: usize = parts.next()?.parse().ok()?;
    STRIDES.get(level).copied()
}

/// GFLOPs at an `h × w` input, Ultralytics' convention: `2 × (conv MACs + 4 per BatchNorm output
/// element) / 1e9`; attention matmuls, activations, pooling and upsampling are not counted.
pub fn gflops<B: Backend>(model: &Yolo<B>, h: usize, w: usize) -> f64 {
    let mut ops = 0f64;
    for (name, shape) in tensor_shapes(model) {
        let Some(stride) = stride_of(&name) else { continue };
        let pixels = ((h / stride) * (w / stride)) as f64;
        if name.ends_with("conv.weight") || (shape.len() == 4 && name.ends_with(".weight")) {
            ops += shape.iter().product::<usize>() as f64 * pixels;
        } else if name.ends_with(".bn.weight") {
            ops += 4.0 * shape[0] as f64 * pixels;
        }
    }
    2.0 * ops / 1e9
}

fn arguments(l: &ResolvedLayer, nc: usize, detect_in: [usize; 3]) -> String {
    let py = |b: bool| if b { "True" } else { "False" };
    match l.kind {
        LayerKind::Conv => format!("[{}, {}, 3, 2]", l.c_in[0], l.c_out),
        LayerKind::C3k2 { c3k, e } => {
            let e = if e == 0.5 { String::new() } else { format!(", {e}") };
            format!("[{}, {}, {}, {}{e}]", l.c_in[0], l.c_out, l.repeats, py(c3k))
        }
        LayerKind::Sppf => format!("[{}, {}, 5]", l.c_in[0], l.c_out),
        LayerKind::C2psa => format!("[{}, {}, {}]", l.c_in[0], l.c_out, l.repeats),
        LayerKind::Upsample => "[None, 2, 'nearest']".into(),
        LayerKind::Concat => "[1]".into(),
        LayerKind::Detect => format!("[{nc}, [{}, {}, {}]]", detect_in[0], detect_in[1], detect_in[2]),
    }
}

fn from_text(l: &ResolvedLayer) -> String {
    let rel: Vec<String> = l
        .from
        .iter()
        .map(|&f| if f == usize::MAX || f + 1 == l.index { "-1".into() } else { f.to_string() })
        .collect();
    if rel.len() == 1 { rel[0].clone() } else { format!("[{}]", rel.join(", ")) }
}

/// The summary of `model` for an `imgsz × imgsz` input.
pub fn summarize<B: Backend>(model: &Yolo<B>, imgsz: usize) -> Summary {
    let spec = model.spec();
    let layers = resolve_layers(&spec);
    let per = params_per_layer(model);
    let detect_in = [layers[16].c_out, layers[19].c_out, layers[22].c_out];
    let anchors: usize = STRIDES.iter().map(|s| (imgsz / s) * (imgsz / s)).sum();
    let rows = layers
        .iter()
        .map(|l| {
            let side = imgsz / layer_stride(l.index);
            let output = if l.kind == LayerKind::Detect {
                vec![1, l.c_out - 64 + 4, anchors]
            } else {
                vec![1, l.c_out, side, side]
            };
            LayerRow {
                index: l.index,
                from: from_text(l),
                repeats: l.repeats,
                params: per.get(&l.index).copied().unwrap_or(0),
                module: l.kind.module_name(),
                arguments: arguments(l, spec.nc, detect_in),
                output,
            }
        })
        .collect();
    let params = per.values().sum::<usize>();
    Summary { layers: rows, params, trainable: params - 16, gflops: gflops(model, imgsz, imgsz) }
}

impl Summary {
    /// Renders the table like Ultralytics' model summary, plus an output-shape column.
    pub fn render(&self, title: &str) -> String {
        let mut s = format!(
            "{:>4}{:>20}{:>3}{:>10}  {:<45}{:<30}{}\n",
            "", "from", "n", "params", "module", "arguments", "output"
        );
        for r in &self.layers {
            s += &format!(
                "{:>4}{:>20}{:>3}{:>10}  {:<45}{:<30}{:?}\n",
                r.index,
                r.from,
                r.repeats,
                group_thousands(r.params),
                r.module,
                r.arguments,
                r.output
            );
        }
        s += &format!(
            "{title} summary: {} layers, {} parameters, {} gradients, {:.1} GFLOPs\n",
            self.layers.len(),
            group_thousands(self.params),
            group_thousands(self.trainable),
            self.gflops
        );
        s
    }
}

/// `1234567` → `1,234,567`.
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
