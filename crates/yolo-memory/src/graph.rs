//! The YOLO11 step on a [`Tape`]: every layer of `yolo_model::config::resolve_layers` with its
//! real shapes, op by op as `yolo-model` runs them (Conv → composed BatchNorm → SiLU, C3k2,
//! SPPF, C2PSA attention, Detect), then the loss's device tensors.

use serde::{Deserialize, Serialize};
use yolo_model::config::{resolve_layers, LayerKind, ModelSpec, ResolvedLayer};
use yolo_model::head::REG_MAX;

use crate::tape::{Bound, Keep, Mode, Sym, Tape};

/// Per foreground anchor, floats the loss keeps for backward besides the selected logits
/// (`[F, 4·reg_max]` softmax, log-softmax, bin weights and their products; the CIoU terms).
const FG_KEPT_FLOATS: u64 = 6 * 4 * REG_MAX as u64 + 48;

/// Candidates per GT of the task-aligned assigner (`topk`).
pub const TOPK: u64 = 10;

/// Most candidate pairs the sparse assigner gathers from the device at once (`max_pairs`).
pub const MAX_PAIRS: u64 = 1 << 20;

/// An input batch: images and their padded size, px.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepShape {
    /// Images.
    pub batch: u64,
    /// Height, px (a multiple of 32).
    pub height: u64,
    /// Width, px (a multiple of 32).
    pub width: u64,
}

impl StepShape {
    /// A square batch of side `imgsz` (rounded up to a multiple of 32).
    pub fn square(batch: u64, imgsz: u64) -> Self {
        let side = imgsz.div_ceil(32).max(1) * 32;
        Self { batch, height: side, width: side }
    }

    /// Anchors of the three levels: `Σ (H/s)(W/s)` for s = 8, 16, 32.
    pub fn anchors(&self) -> u64 {
        [8u64, 16, 32].iter().map(|&s| self.height.div_ceil(s) * self.width.div_ceil(s)).sum()
    }
}

/// A feature map on the tape: its tensor and `[C, H, W]`.
#[derive(Debug, Clone, Copy)]
struct Feat {
    sym: Sym,
    c: u64,
    h: u64,
    w: u64,
}

struct Walker<'a> {
    tape: &'a mut Tape,
    b: u64,
    train: bool,
    fused_bn: bool,
    batch_norms: Vec<u64>,
}

/// What a replay of the model found besides the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replay {
    /// Elements of each trained parameter tensor.
    pub params: Vec<u64>,
    /// Channels of each BatchNorm (its running mean and variance are buffers of that size).
    pub batch_norms: Vec<u64>,
    /// Bytes kept for backward once the head's maps exist (the model's activations).
    pub kept_model: u64,
    /// Bytes kept for backward at the end of the forward (model and loss).
    pub kept_total: u64,
    /// Bytes of the assigner's transient device buffers (box decode, candidate gather).
    pub assigner: u64,
}

/// Hyper-parameters of one Ultralytics `Conv`.
#[derive(Debug, Clone, Copy)]
struct ConvArgs {
    c2: u64,
    k: u64,
    s: u64,
    groups: u64,
    act: bool,
}

fn conv_args(c2: u64, k: u64, s: u64) -> ConvArgs {
    ConvArgs { c2, k, s, groups: 1, act: true }
}

impl Walker<'_> {
    fn share(&mut self, f: &Feat) -> Feat {
        Feat { sym: self.tape.share(&f.sym), ..*f }
    }

    fn elems(&self, c: u64, h: u64, w: u64) -> u64 {
        self.b * c * h * w
    }

    /// Ultralytics `Conv`: conv (keeps its input) → BatchNorm (composed as in `conv.rs`) → SiLU.
    fn conv(&mut self, x: Feat, a: ConvArgs) -> Feat {
        let (h, w) = (x.h.div_ceil(a.s), x.w.div_ceil(a.s));
        let n = self.elems(a.c2, h, w);
        let weights = a.c2 * (x.c / a.groups) * a.k * a.k;
        let y = self.tape.op(vec![x.sym], n, Bound::Compute, Keep::inputs(&[0]), weights);
        self.batch_norms.push(a.c2);
        let out = if self.train && self.fused_bn {
            // `FusedBnAct` under autodiff: one op keeping the conv output (and [C] statistics).
            self.tape.op(vec![y], n, Bound::Compute, Keep::inputs(&[0]), 2 * a.c2)
        } else {
            let z = if self.train { self.batch_norm_train(y, a.c2) } else { self.affine(y, a.c2) };
            if a.act { self.silu(z) } else { z }
        };
        Feat { sym: out, c: a.c2, h, w }
    }

    /// `BatchNorm2d::forward_train`: mean, centred, biased variance, scale and shift.
    fn batch_norm_train(&mut self, x: Sym, c: u64) -> Sym {
        let (n, per_channel) = (x.elems, self.b * c);
        let x2 = self.tape.share(&x);
        let mean = self.tape.op(vec![x2], per_channel, Bound::Compute, Keep::NOTHING, 0);
        let centred = self.tape.op(vec![x, mean], n, Bound::Memory, Keep::NOTHING, 0);
        let c2 = self.tape.share(&centred);
        let square = self.tape.op(vec![c2], n, Bound::Memory, Keep::inputs(&[0]), 0);
        let var = self.tape.op(vec![square], per_channel, Bound::Compute, Keep::NOTHING, 0);
        let scale = self.tape.op(vec![var], per_channel, Bound::Memory, Keep::inputs(&[0]), c);
        let scaled = self.tape.op(vec![centred, scale], n, Bound::Memory, Keep::inputs(&[0, 1]), 0);
        self.tape.op(vec![scaled], n, Bound::Memory, Keep::NOTHING, c)
    }

    /// Eval BatchNorm `x·scale + shift` (γ and β as its parameters, `c` each).
    fn affine(&mut self, x: Sym, c: u64) -> Sym {
        let n = x.elems;
        let scaled = self.tape.op(vec![x], n, Bound::Memory, Keep::NOTHING, c);
        self.tape.op(vec![scaled], n, Bound::Memory, Keep::NOTHING, c)
    }

    /// `x · sigmoid(x)`: sigmoid keeps x, the product keeps both.
    fn silu(&mut self, x: Sym) -> Sym {
        let n = x.elems;
        let x2 = self.tape.share(&x);
        let s = self.tape.op(vec![x2], n, Bound::Memory, Keep::inputs(&[0]), 0);
        self.tape.op(vec![x, s], n, Bound::Memory, Keep::inputs(&[0, 1]), 0)
    }

    /// Plain 1×1 `Conv2d` with bias (the head's last layers).
    fn conv_bias(&mut self, x: Feat, c2: u64) -> Feat {
        let n = self.elems(c2, x.h, x.w);
        let sym = self.tape.op(vec![x.sym], n, Bound::Compute, Keep::inputs(&[0]), c2 * x.c + c2);
        Feat { sym, c: c2, ..x }
    }

    fn add(&mut self, a: Feat, b: Feat) -> Feat {
        let n = a.sym.elems;
        let sym = self.tape.op(vec![a.sym, b.sym], n, Bound::Memory, Keep::NOTHING, 0);
        Feat { sym, ..a }
    }

    fn cat(&mut self, parts: Vec<Feat>) -> Feat {
        let c = parts.iter().map(|p| p.c).sum();
        let (h, w) = (parts[0].h, parts[0].w);
        let n = self.elems(c, h, w);
        let sym = self.tape.op(parts.into_iter().map(|p| p.sym).collect(), n, Bound::Compute, Keep::NOTHING, 0);
        Feat { sym, c, h, w }
    }

    /// Channels `[from, from + c)` of `x` as a view (`narrow`).
    fn narrow(&mut self, x: Feat, c: u64) -> Feat {
        let n = self.elems(c, x.h, x.w);
        Feat { sym: self.tape.view(x.sym, n, true), c, ..x }
    }

    fn bottleneck(&mut self, x: Feat, c2: u64, e: f64) -> Feat {
        let hidden = (c2 as f64 * e) as u64;
        let x2 = self.share(&x);
        let h = self.conv(x2, conv_args(hidden, 3, 1));
        let y = self.conv(h, conv_args(c2, 3, 1));
        if x.c == c2 {
            self.add(x, y)
        } else {
            self.tape.release(x.sym);
            y
        }
    }

    fn c3k(&mut self, x: Feat, c2: u64, n: usize) -> Feat {
        let hidden = c2 / 2;
        let x2 = self.share(&x);
        let mut a = self.conv(x2, conv_args(hidden, 1, 1));
        for _ in 0..n {
            a = self.bottleneck(a, hidden, 1.0);
        }
        let b = self.conv(x, conv_args(hidden, 1, 1));
        let cat = self.cat(vec![a, b]);
        self.conv(cat, conv_args(c2, 1, 1))
    }

    fn c3k2(&mut self, x: Feat, l: &ResolvedLayer) -> Feat {
        let LayerKind::C3k2 { c3k, e } = l.kind else { unreachable!("layer {} is a C3k2", l.index) };
        let c = (l.c_out as f64 * e) as u64;
        let y = self.conv(x, conv_args(2 * c, 1, 1));
        let y2 = self.share(&y);
        let mut parts = vec![self.narrow(y2, c), self.narrow(y, c)];
        for _ in 0..l.repeats {
            let last = self.share(&parts[parts.len() - 1]);
            let out = if c3k { self.c3k(last, c, 2) } else { self.bottleneck(last, c, 0.5) };
            parts.push(out);
        }
        let cat = self.cat(parts);
        self.conv(cat, conv_args(l.c_out as u64, 1, 1))
    }

    /// 5×5 stride-1 max-pool: keeps its input and the indices.
    fn max_pool(&mut self, x: Feat) -> Feat {
        let n = x.sym.elems;
        let keep = Keep { inputs: &[0], state_bytes: n * self.tape.sizes().int };
        Feat { sym: self.tape.op(vec![x.sym], n, Bound::Compute, keep, 0), ..x }
    }

    fn sppf(&mut self, x: Feat, c2: u64) -> Feat {
        let y0 = self.conv(x, conv_args(x.c / 2, 1, 1));
        let t = self.share(&y0);
        let y1 = self.max_pool(t);
        let t = self.share(&y1);
        let y2 = self.max_pool(t);
        let t = self.share(&y2);
        let y3 = self.max_pool(t);
        let cat = self.cat(vec![y0, y1, y2, y3]);
        self.conv(cat, conv_args(c2, 1, 1))
    }

    /// `Attention(dim, heads)`: qkv conv, two matmuls with a softmax, depthwise positional conv.
    fn attention(&mut self, x: Feat, heads: u64) -> Feat {
        let (c, n) = (x.c, x.h * x.w);
        let head_dim = c / heads;
        let key_dim = head_dim / 2;
        let no_act = |c2, k, groups| ConvArgs { c2, k, s: 1, groups, act: false };
        let qkv = self.conv(x, no_act(c + 2 * key_dim * heads, 1, 1)).sym;
        let qkv = self.tape.view(qkv, qkv.elems, false);
        let (qk_elems, v_elems, scores) = (self.b * heads * key_dim * n, self.b * c * n, self.b * heads * n * n);
        let q2 = self.tape.share(&qkv);
        let q = self.tape.view(q2, qk_elems, true);
        let k2 = self.tape.share(&qkv);
        let k = self.tape.view(k2, qk_elems, true);
        let v = self.tape.view(qkv, v_elems, true);
        let qt = self.tape.view(q, qk_elems, false);
        let logits = self.tape.op(vec![qt, k], scores, Bound::Compute, Keep::inputs(&[0, 1]), 0);
        let attn = self.softmax(logits, n);
        let at = self.tape.view(attn, scores, false);
        let v2 = self.tape.share(&v);
        let out = self.tape.op(vec![v2, at], v_elems, Bound::Compute, Keep::inputs(&[0, 1]), 0);
        let out = Feat { sym: self.tape.view(out, v_elems, false), ..x };
        let v_img = Feat { sym: self.tape.copy(v), ..x };
        let pe = self.conv(v_img, no_act(c, 3, c));
        let sum = self.add(out, pe);
        self.conv(sum, no_act(c, 1, 1))
    }

    /// Scaled softmax over the last axis (`last` long): `exp` keeps its input, the division
    /// keeps `exp` and the row sums.
    fn softmax(&mut self, logits: Sym, last: u64) -> Sym {
        let n = logits.elems;
        let scaled = self.tape.op(vec![logits], n, Bound::Memory, Keep::NOTHING, 0);
        let shifted = self.tape.op(vec![scaled], n, Bound::Memory, Keep::NOTHING, 0);
        let exp = self.tape.op(vec![shifted], n, Bound::Memory, Keep::inputs(&[0]), 0);
        let e2 = self.tape.share(&exp);
        let sum = self.tape.op(vec![e2], n / last, Bound::Compute, Keep::NOTHING, 0);
        self.tape.op(vec![exp, sum], n, Bound::Memory, Keep::inputs(&[0, 1]), 0)
    }

    fn psa_block(&mut self, x: Feat, heads: u64) -> Feat {
        let x2 = self.share(&x);
        let a = self.attention(x2, heads);
        let x = self.add(x, a);
        let x2 = self.share(&x);
        let f = self.conv(x2, conv_args(2 * x.c, 1, 1));
        let f = self.conv(f, ConvArgs { act: false, ..conv_args(x.c, 1, 1) });
        self.add(x, f)
    }

    fn c2psa(&mut self, x: Feat, repeats: usize) -> Feat {
        let c1 = x.c;
        let c = c1 / 2;
        let heads = (c / 64).max(1);
        let y = self.conv(x, conv_args(2 * c, 1, 1));
        let y2 = self.share(&y);
        let a = self.narrow(y2, c);
        let mut b = self.narrow(y, c);
        for _ in 0..repeats {
            b = self.psa_block(b, heads);
        }
        let cat = self.cat(vec![a, b]);
        self.conv(cat, conv_args(c1, 1, 1))
    }

    /// Nearest ×2 upsample: keeps its input.
    fn upsample(&mut self, x: Feat) -> Feat {
        let n = x.sym.elems * 4;
        let sym = self.tape.op(vec![x.sym], n, Bound::Compute, Keep::inputs(&[0]), 0);
        Feat { sym, h: x.h * 2, w: x.w * 2, ..x }
    }

    fn layer(&mut self, x: Feat, l: &ResolvedLayer) -> Feat {
        match l.kind {
            LayerKind::Conv => self.conv(x, conv_args(l.c_out as u64, 3, 2)),
            LayerKind::C3k2 { .. } => self.c3k2(x, l),
            LayerKind::Sppf => self.sppf(x, l.c_out as u64),
            LayerKind::C2psa => self.c2psa(x, l.repeats),
            _ => unreachable!("layer {} is handled by the graph", l.index),
        }
    }

    /// Backbone and neck as `Yolo::features`.
    fn features(&mut self, image: Feat, layers: &[ResolvedLayer]) -> [Feat; 3] {
        let x = self.layer(image, &layers[0]);
        let x = self.layer(x, &layers[1]);
        let x = self.layer(x, &layers[2]);
        let x = self.layer(x, &layers[3]);
        let p3 = self.layer(x, &layers[4]);
        let t = self.share(&p3);
        let x = self.layer(t, &layers[5]);
        let p4 = self.layer(x, &layers[6]);
        let t = self.share(&p4);
        let x = self.layer(t, &layers[7]);
        let x = self.layer(x, &layers[8]);
        let x = self.layer(x, &layers[9]);
        let p5 = self.layer(x, &layers[10]);
        let t = self.share(&p5);
        let up = self.upsample(t);
        let cat = self.cat(vec![up, p4]);
        let n13 = self.layer(cat, &layers[13]);
        let t = self.share(&n13);
        let up = self.upsample(t);
        let cat = self.cat(vec![up, p3]);
        let out3 = self.layer(cat, &layers[16]);
        let t = self.share(&out3);
        let down = self.layer(t, &layers[17]);
        let cat = self.cat(vec![down, n13]);
        let out4 = self.layer(cat, &layers[19]);
        let t = self.share(&out4);
        let down = self.layer(t, &layers[20]);
        let cat = self.cat(vec![down, p5]);
        let out5 = self.layer(cat, &layers[22]);
        [out3, out4, out5]
    }

    /// One Detect level: box branch, class branch, concatenated `[B, 64 + nc, h, w]`.
    fn detect_level(&mut self, x: Feat, nc: u64, c2: u64, c3: u64) -> Feat {
        let x2 = self.share(&x);
        let b = self.conv(x2, conv_args(c2, 3, 1));
        let b = self.conv(b, conv_args(c2, 3, 1));
        let boxes = self.conv_bias(b, 4 * REG_MAX as u64);
        let dw = |c| ConvArgs { groups: c, ..conv_args(c, 3, 1) };
        let c = self.conv(x, dw(x.c));
        let c = self.conv(c, conv_args(c3, 1, 1));
        let c = self.conv(c, dw(c3));
        let c = self.conv(c, conv_args(c3, 1, 1));
        let cls = self.conv_bias(c, nc);
        self.cat(vec![boxes, cls])
    }

    /// The three head maps flattened and concatenated: `[B, 64 + nc, A]`.
    fn head(&mut self, feats: [Feat; 3], nc: u64) -> Sym {
        let c2 = (feats[0].c / 4).max(4 * REG_MAX as u64).max(16);
        let c3 = feats[0].c.max(nc.min(100));
        let maps: Vec<Feat> = feats.into_iter().map(|f| self.detect_level(f, nc, c2, c3)).collect();
        let flat: Vec<Sym> = maps.into_iter().map(|m| self.tape.view(m.sym, m.sym.elems, false)).collect();
        let n = flat.iter().map(|m| m.elems).sum();
        self.tape.op(flat, n, Bound::Compute, Keep::NOTHING, 0)
    }
}

/// What the loss puts on the device for a batch besides the head maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossLoad {
    /// Most ground-truth boxes in one image of the batch (after mosaic: ×4 the densest image).
    pub max_boxes: u64,
}

impl LossLoad {
    /// Upper bound of foreground anchors: every GT gets at most `topk`, an anchor one GT.
    pub fn foreground(&self, shape: &StepShape) -> u64 {
        (shape.batch * self.max_boxes * TOPK).min(shape.batch * shape.anchors())
    }

    /// Upper bound of candidate pairs gathered at once (bounded by `max_pairs`).
    pub fn candidates(&self, shape: &StepShape) -> u64 {
        (shape.batch * self.max_boxes * shape.anchors()).min(MAX_PAIRS)
    }
}

fn image(w: &mut Walker<'_>, shape: &StepShape, from_u8: bool) -> Feat {
    let n = w.elems(3, shape.height, shape.width);
    if from_u8 {
        // `batch_tensor`: u8 → i32 tensor → float → /255.
        w.tape.transient(n * w.tape.sizes().int + n * w.tape.sizes().float);
    }
    Feat { sym: w.tape.input(n), c: 3, h: shape.height, w: shape.width }
}

/// The detached box decode and the candidate gather of the assigner (no graph); returns the
/// larger of the two, bytes.
fn assigner_transients(w: &mut Walker<'_>, shape: &StepShape, load: &LossLoad) -> u64 {
    let sizes = w.tape.sizes();
    let decode = 2 * shape.batch * 4 * REG_MAX as u64 * shape.anchors() * sizes.float;
    w.tape.transient(decode);
    let gather = load.candidates(shape) * (sizes.float + sizes.int);
    if gather > 0 {
        w.tape.transient(gather);
    }
    decode.max(gather)
}

/// The loss graph on `pred`: softplus over the class logits, the foreground selections and the
/// DFL/CIoU terms. Returns the scalar loss.
fn loss(w: &mut Walker<'_>, pred: Sym, shape: &StepShape, nc: u64, load: &LossLoad) -> Sym {
    let sizes = w.tape.sizes();
    let n = shape.batch * nc * shape.anchors();
    let p2 = w.tape.share(&pred);
    let cls = w.tape.view(p2, n, true);
    let c2 = w.tape.share(&cls);
    let clamped = w.tape.op(vec![c2], n, Bound::Compute, Keep { inputs: &[], state_bytes: n * sizes.boolean }, 0);
    let abs = w.tape.op(vec![cls], n, Bound::Memory, Keep::inputs(&[0]), 0);
    let neg = w.tape.op(vec![abs], n, Bound::Memory, Keep::NOTHING, 0);
    let exp = w.tape.op(vec![neg], n, Bound::Memory, Keep::inputs(&[0]), 0);
    let log1p = w.tape.op(vec![exp], n, Bound::Memory, Keep::inputs(&[0]), 0);
    let softplus = w.tape.op(vec![clamped, log1p], n, Bound::Memory, Keep::NOTHING, 0);
    let cls_sum = w.tape.op(vec![softplus], 1, Bound::Compute, Keep::NOTHING, 0);
    let fg = load.foreground(shape);
    if fg == 0 {
        w.tape.release(pred);
        return cls_sum;
    }
    let flat = w.tape.view(pred, pred.elems, false);
    let f2 = w.tape.share(&flat);
    let x_fg = w.tape.op(vec![f2], fg, Bound::Memory, Keep { inputs: &[], state_bytes: fg * sizes.int }, 0);
    let reg = 4 * REG_MAX as u64;
    let logits = w.tape.op(vec![flat], fg * reg, Bound::Memory, Keep { inputs: &[], state_bytes: fg * reg * sizes.int }, 0);
    let keep = Keep { inputs: &[0], state_bytes: fg * FG_KEPT_FLOATS * sizes.float };
    let box_dfl = w.tape.op(vec![logits], fg, Bound::Memory, keep, 0);
    w.tape.op(vec![cls_sum, x_fg, box_dfl], 1, Bound::Compute, Keep::NOTHING, 0)
}

/// Replays one training step (forward, loss, backward) of `spec` on `tape` (a
/// [`Mode::Train`] tape). `fused_bn`: BatchNorm + SiLU run as yolo-model's fused op (GPU
/// backends), else as the composite of tensor ops.
pub fn train_step(tape: &mut Tape, spec: &ModelSpec, shape: &StepShape, load: &LossLoad, fused_bn: bool) -> Replay {
    debug_assert!(matches!(tape.mode(), Mode::Train(_)));
    let layers = resolve_layers(spec);
    let mut w = Walker { tape, b: shape.batch, train: true, fused_bn, batch_norms: Vec::new() };
    let x = image(&mut w, shape, true);
    let feats = w.features(x, &layers);
    let pred = w.head(feats, spec.nc as u64);
    let kept_model = w.tape.saved_now();
    let assigner = assigner_transients(&mut w, shape, load);
    let total = loss(&mut w, pred, shape, spec.nc as u64, load);
    w.tape.end_forward();
    let kept_total = w.tape.saved_now();
    w.tape.backward(total);
    Replay { params: w.tape.params().to_vec(), batch_norms: w.batch_norms, kept_model, kept_total, assigner }
}

/// Replays one validation batch of `spec` on `tape` (a [`Mode::Inference`] tape): forward,
/// decode of the raw maps, and the validation loss.
pub fn val_step(tape: &mut Tape, spec: &ModelSpec, shape: &StepShape, load: &LossLoad) -> Replay {
    debug_assert_eq!(tape.mode(), Mode::Inference);
    let layers = resolve_layers(spec);
    let nc = spec.nc as u64;
    let mut w = Walker { tape, b: shape.batch, train: false, fused_bn: false, batch_norms: Vec::new() };
    let x = image(&mut w, shape, false);
    let feats = w.features(x, &layers);
    let pred = w.head(feats, nc);
    let a = shape.anchors();
    let sizes = w.tape.sizes();
    // `decode`: DFL softmax over [B, 64, A], boxes and sigmoid scores [B, 4 + nc, A].
    w.tape.transient((2 * 4 * REG_MAX as u64 + 4 + nc) * shape.batch * a * sizes.float);
    let assigner = assigner_transients(&mut w, shape, load);
    let total = loss(&mut w, pred, shape, nc, load);
    w.tape.release(total);
    Replay { params: w.tape.params().to_vec(), batch_norms: w.batch_norms, assigner, ..Replay::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::{Checkpointing, ElemSizes};

    #[test]
    fn the_first_conv_keeps_its_input_and_three_maps() {
        // yolo11n layer 0 at 64 px: input [1, 3, 64, 64]; BatchNorm keeps x − mean, SiLU keeps z
        // and sigmoid(z), each [1, 16, 32, 32]; plus the per-channel variance and scale ([16]).
        let sizes = ElemSizes { float: 4, int: 4, boolean: 4 };
        let mut tape = Tape::new(Mode::Train(Checkpointing::None), sizes);
        let mut w = Walker { tape: &mut tape, b: 1, train: true, fused_bn: false, batch_norms: Vec::new() };
        let x = image(&mut w, &StepShape::square(1, 64), false);
        let y = w.conv(x, conv_args(16, 3, 2));
        assert_eq!(w.tape.saved_now(), 3 * 64 * 64 * 4 + 3 * 16 * 32 * 32 * 4 + 2 * 16 * 4);
        assert_eq!(w.tape.params(), &[16 * 3 * 9, 16, 16]);
        w.tape.release(y.sym);
    }

    #[test]
    fn the_fused_batch_norm_keeps_only_the_conv_output() {
        let sizes = ElemSizes { float: 4, int: 4, boolean: 4 };
        let mut tape = Tape::new(Mode::Train(Checkpointing::None), sizes);
        let mut w = Walker { tape: &mut tape, b: 1, train: true, fused_bn: true, batch_norms: Vec::new() };
        let x = image(&mut w, &StepShape::square(1, 64), false);
        let y = w.conv(x, conv_args(16, 3, 2));
        assert_eq!(w.tape.saved_now(), 3 * 64 * 64 * 4 + 16 * 32 * 32 * 4);
        w.tape.release(y.sym);
    }
}
