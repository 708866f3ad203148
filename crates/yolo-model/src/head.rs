//! The decoupled YOLO11 `Detect` head: box (DFL) and class branches, anchors and decoding.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::conv::{conv2d, Conv, ConvSpec};

/// DFL bins per box side.
pub const REG_MAX: usize = 16;
/// Strides of the P3, P4 and P5 outputs, px.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// Box branch `cv2[i]`: `Conv(x, c2, 3) → Conv(c2, c2, 3) → Conv2d(c2, 64, 1, bias)`.
#[derive(Module, Debug)]
pub struct BoxBranch<B: Backend> {
    /// First 3×3 conv.
    pub seq0: Conv<B>,
    /// Second 3×3 conv.
    pub seq1: Conv<B>,
    /// 1×1 conv to the `4·16` DFL logits.
    pub seq2: Conv2d<B>,
}

/// `DWConv(c, c, 3) → Conv(c, c_out, 1)`.
#[derive(Module, Debug)]
pub struct DwPair<B: Backend> {
    /// Depthwise 3×3.
    pub seq0: Conv<B>,
    /// Pointwise 1×1.
    pub seq1: Conv<B>,
}

impl<B: Backend> DwPair<B> {
    fn new(c_in: usize, c_out: usize, device: &B::Device) -> Self {
        Self {
            seq0: Conv::new(ConvSpec::depthwise(c_in, c_in, 3, 1), device),
            seq1: Conv::new(ConvSpec::new(c_in, c_out, 1, 1), device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.seq1.forward(self.seq0.forward(x))
    }
}

/// Class branch `cv3[i]` (YOLO11, non-legacy): two depthwise pairs then `Conv2d(c3, nc, 1, bias)`.
#[derive(Module, Debug)]
pub struct ClsBranch<B: Backend> {
    /// `DWConv(x, x, 3) → Conv(x, c3, 1)`.
    pub seq0: DwPair<B>,
    /// `DWConv(c3, c3, 3) → Conv(c3, c3, 1)`.
    pub seq1: DwPair<B>,
    /// 1×1 conv to `nc` logits.
    pub seq2: Conv2d<B>,
}

/// The fixed DFL projection `[0, 1, …, 15]` stored as a frozen 1×1 conv weight `[1, 16, 1, 1]`.
#[derive(Module, Debug)]
pub struct DflConv<B: Backend> {
    /// `[1, 16, 1, 1]`, never trained.
    pub weight: Param<Tensor<B, 4>>,
}

/// Ultralytics `DFL` module (holds [`DflConv`] as `conv`).
#[derive(Module, Debug)]
pub struct Dfl<B: Backend> {
    /// The projection.
    pub conv: DflConv<B>,
}

/// `Detect(nc, ch)`: per level a box branch and a class branch.
#[derive(Module, Debug)]
pub struct Detect<B: Backend> {
    /// Box branches for P3, P4, P5.
    pub cv2: Vec<BoxBranch<B>>,
    /// Class branches for P3, P4, P5.
    pub cv3: Vec<ClsBranch<B>>,
    /// Distribution focal loss projection.
    pub dfl: Dfl<B>,
    /// Number of classes.
    pub nc: usize,
}

impl<B: Backend> Detect<B> {
    /// Builds `Detect(nc, ch)` with Ultralytics' bias initialisation for strides 8/16/32.
    pub fn new(nc: usize, ch: [usize; 3], device: &B::Device) -> Self {
        let c2 = (ch[0] / 4).max(4 * REG_MAX).max(16);
        let c3 = ch[0].max(nc.min(100));
        let cv2 = ch
            .iter()
            .zip(STRIDES)
            .map(|(&x, _)| BoxBranch {
                seq0: Conv::new(ConvSpec::new(x, c2, 3, 1), device),
                seq1: Conv::new(ConvSpec::new(c2, c2, 3, 1), device),
                seq2: with_bias(conv2d(c2, 4 * REG_MAX, 1, 1, 1, true, device), 1.0),
            })
            .collect();
        let cv3 = ch
            .iter()
            .zip(STRIDES)
            .map(|(&x, s)| ClsBranch {
                seq0: DwPair::new(x, c3, device),
                seq1: DwPair::new(c3, c3, device),
                seq2: with_bias(conv2d(c3, nc, 1, 1, 1, true, device), class_bias_prior(nc, s)),
            })
            .collect();
        let proj: Vec<f32> = (0..REG_MAX).map(|i| i as f32).collect();
        let weight = Tensor::from_data(TensorData::new(proj, [1, REG_MAX, 1, 1]), device);
        let dfl = Dfl { conv: DflConv { weight: Param::from_tensor(weight).set_require_grad(false) } };
        Self { cv2, cv3, dfl, nc }
    }

    /// Training forward: three raw maps `[B, 64 + nc, H_i, W_i]` for P3, P4, P5.
    pub fn forward_train(&self, feats: [Tensor<B, 4>; 3]) -> [Tensor<B, 4>; 3] {
        let [p3, p4, p5] = feats;
        [self.level(0, p3), self.level(1, p4), self.level(2, p5)]
    }

    fn level(&self, i: usize, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b = &self.cv2[i];
        let boxes = b.seq2.forward(b.seq1.forward(b.seq0.forward(x.clone())));
        let c = &self.cv3[i];
        let cls = c.seq2.forward(c.seq1.forward(c.seq0.forward(x)));
        Tensor::cat(vec![boxes, cls], 1)
    }

    /// Inference decoding of the raw maps: `[B, 4 + nc, A]` with centre-xywh in input px and
    /// sigmoid class scores; anchors ordered P3, P4, P5, each row-major.
    pub fn decode(&self, maps: [Tensor<B, 4>; 3]) -> Tensor<B, 3> {
        let device = maps[0].device();
        let sizes: Vec<[usize; 2]> = maps.iter().map(|m| [m.dims()[2], m.dims()[3]]).collect();
        let [b, no, _, _] = maps[0].dims();
        let flat: Vec<Tensor<B, 3>> = maps
            .into_iter()
            .map(|m| {
                let [_, _, h, w] = m.dims();
                m.reshape([b, no, h * w])
            })
            .collect();
        let x = Tensor::cat(flat, 2);
        let a = x.dims()[2];
        let dist = self.dfl_expectation(x.clone().narrow(1, 0, 4 * REG_MAX));
        let (points, strides) = anchor_tensors::<B>(&sizes, &device);
        let lt = dist.clone().narrow(1, 0, 2);
        let rb = dist.narrow(1, 2, 2);
        let points = points.reshape([1, 2, a]);
        let x1y1 = points.clone() - lt;
        let x2y2 = points + rb;
        let centre = (x1y1.clone() + x2y2.clone()).div_scalar(2.0);
        let wh = x2y2 - x1y1;
        let boxes = Tensor::cat(vec![centre, wh], 1) * strides.reshape([1, 1, a]);
        let scores = sigmoid(x.narrow(1, 4 * REG_MAX, self.nc));
        Tensor::cat(vec![boxes, scores], 1)
    }

    /// `[B, 64, A]` DFL logits → `[B, 4, A]` expected distances (grid units).
    fn dfl_expectation(&self, logits: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, _, a] = logits.dims();
        let probs = softmax(logits.reshape([b, 4, REG_MAX, a]), 2);
        let proj = self.dfl.conv.weight.val().reshape([1, 1, REG_MAX, 1]);
        (probs * proj).sum_dim(2).reshape([b, 4, a])
    }
}

fn with_bias<B: Backend>(mut conv: Conv2d<B>, value: f64) -> Conv2d<B> {
    if let Some(bias) = conv.bias.take() {
        let filled = bias.val().zeros_like().add_scalar(value);
        conv.bias = Some(Param::from_tensor(filled));
    }
    conv
}

/// Ultralytics `bias_init` class prior: `ln(5 / nc / (640 / stride)²)`.
pub fn class_bias_prior(nc: usize, stride: usize) -> f64 {
    let cells = 640.0 / stride as f64;
    (5.0 / nc as f64 / (cells * cells)).ln()
}

/// Anchor centres (grid units, +0.5 offset) and strides for the given level sizes `[H, W]`:
/// returns `(points [A·2] as (x, y) pairs, strides [A])`, levels in order, row-major.
pub fn anchor_points(sizes: &[[usize; 2]]) -> (Vec<[f32; 2]>, Vec<f32>) {
    let mut points = Vec::new();
    let mut strides = Vec::new();
    for (&[h, w], s) in sizes.iter().zip(STRIDES) {
        for y in 0..h {
            for x in 0..w {
                points.push([x as f32 + 0.5, y as f32 + 0.5]);
                strides.push(s as f32);
            }
        }
    }
    (points, strides)
}

/// [`anchor_points`] as tensors: points `[2, A]` (row 0 = x, row 1 = y) and strides `[A]`.
fn anchor_tensors<B: Backend>(sizes: &[[usize; 2]], device: &B::Device) -> (Tensor<B, 2>, Tensor<B, 1>) {
    let (points, strides) = anchor_points(sizes);
    let a = points.len();
    let mut planar = Vec::with_capacity(2 * a);
    planar.extend(points.iter().map(|p| p[0]));
    planar.extend(points.iter().map(|p| p[1]));
    (
        Tensor::from_data(TensorData::new(planar, [2, a]), device),
        Tensor::from_data(TensorData::new(strides, [a]), device),
    )
}
