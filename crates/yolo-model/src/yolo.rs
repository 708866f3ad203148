//! The YOLO11 detection model: backbone (0–10), PANet neck (11–22) and Detect head (23).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::Tensor;

use crate::attention::C2psa;
use crate::block::{C3k2, Sppf};
use crate::config::{resolve_layers, LayerKind, ModelSpec, ResolvedLayer};
use crate::conv::{Conv, ConvSpec};
use crate::head::Detect;

/// YOLO11 for detection. Field `layerN` holds Ultralytics' `model.N` (the parameter-free
/// Upsample and Concat rows 11, 12, 14, 15, 18, 21 are operations in [`Yolo::forward_train`]).
#[derive(Module, Debug)]
pub struct Yolo<B: Backend> {
    /// P1/2 conv.
    pub layer0: Conv<B>,
    /// P2/4 conv.
    pub layer1: Conv<B>,
    /// C3k2.
    pub layer2: C3k2<B>,
    /// P3/8 conv.
    pub layer3: Conv<B>,
    /// C3k2 (feeds the neck at P3).
    pub layer4: C3k2<B>,
    /// P4/16 conv.
    pub layer5: Conv<B>,
    /// C3k2 (feeds the neck at P4).
    pub layer6: C3k2<B>,
    /// P5/32 conv.
    pub layer7: Conv<B>,
    /// C3k2.
    pub layer8: C3k2<B>,
    /// SPPF.
    pub layer9: Sppf<B>,
    /// C2PSA (feeds the neck at P5).
    pub layer10: C2psa<B>,
    /// Top-down C3k2 at P4.
    pub layer13: C3k2<B>,
    /// Top-down C3k2 at P3: the P3 output.
    pub layer16: C3k2<B>,
    /// Down-sampling conv P3 → P4.
    pub layer17: Conv<B>,
    /// Bottom-up C3k2 at P4: the P4 output.
    pub layer19: C3k2<B>,
    /// Down-sampling conv P4 → P5.
    pub layer20: Conv<B>,
    /// Bottom-up C3k2 at P5: the P5 output.
    pub layer22: C3k2<B>,
    /// Detect head.
    pub layer23: Detect<B>,
    /// Scale and class count.
    #[module(skip)]
    pub spec: ModelSpec,
}

impl<B: Backend> Yolo<B> {
    /// Builds a randomly initialised model (PyTorch default conv init, Ultralytics bias init).
    pub fn new(spec: ModelSpec, device: &B::Device) -> Self {
        let layers = resolve_layers(&spec);
        let conv = |i: usize| {
            let l = &layers[i];
            Conv::new(ConvSpec::new(l.c_in[0], l.c_out, 3, 2), device)
        };
        let c3k2 = |i: usize| build_c3k2::<B>(&layers[i], device);
        let detect_ch = [layers[16].c_out, layers[19].c_out, layers[22].c_out];
        Self {
            layer0: conv(0),
            layer1: conv(1),
            layer2: c3k2(2),
            layer3: conv(3),
            layer4: c3k2(4),
            layer5: conv(5),
            layer6: c3k2(6),
            layer7: conv(7),
            layer8: c3k2(8),
            layer9: Sppf::new(layers[9].c_in[0], layers[9].c_out, device),
            layer10: C2psa::new(layers[10].c_in[0], layers[10].repeats, device),
            layer13: c3k2(13),
            layer16: c3k2(16),
            layer17: conv(17),
            layer19: c3k2(19),
            layer20: conv(20),
            layer22: c3k2(22),
            layer23: Detect::new(spec.nc, detect_ch, device),
            spec,
        }
    }

    /// The model's scale and class count.
    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    /// Backbone and neck: `[B, 3, H, W]` (RGB in [0, 1], H and W multiples of 32) → the P3, P4,
    /// P5 features `[B, c, H/8, W/8]`, `[B, c', H/16, W/16]`, `[B, c'', H/32, W/32]`.
    pub fn features(&self, x: Tensor<B, 4>) -> [Tensor<B, 4>; 3] {
        let x = self.layer1.forward(self.layer0.forward(x));
        let x = self.layer3.forward(self.layer2.forward(x));
        let p3 = self.layer4.forward(x);
        let p4 = self.layer6.forward(self.layer5.forward(p3.clone()));
        let x = self.layer8.forward(self.layer7.forward(p4.clone()));
        let p5 = self.layer10.forward(self.layer9.forward(x));
        let n13 = self.layer13.forward(Tensor::cat(vec![upsample2(p5.clone()), p4], 1));
        let out3 = self.layer16.forward(Tensor::cat(vec![upsample2(n13.clone()), p3], 1));
        let down = self.layer17.forward(out3.clone());
        let out4 = self.layer19.forward(Tensor::cat(vec![down, n13], 1));
        let down = self.layer20.forward(out4.clone());
        let out5 = self.layer22.forward(Tensor::cat(vec![down, p5], 1));
        [out3, out4, out5]
    }

    /// Training forward: the three raw head maps `[B, 64 + nc, H/s, W/s]` for s = 8, 16, 32.
    pub fn forward_train(&self, x: Tensor<B, 4>) -> [Tensor<B, 4>; 3] {
        self.layer23.forward_train(self.features(x))
    }

    /// Inference forward: `[B, 4 + nc, A]` — centre x, y, width, height in input px, then sigmoid
    /// class scores; `A = Σ (H/s)(W/s)` anchors, P3 first.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 3> {
        self.layer23.decode(self.forward_train(x))
    }

}

fn build_c3k2<B: Backend>(l: &ResolvedLayer, device: &B::Device) -> C3k2<B> {
    let LayerKind::C3k2 { c3k, e } = l.kind else {
        unreachable!("layer {} of the YOLO11 table is a C3k2", l.index)
    };
    C3k2::new(l.c_in.iter().sum(), l.c_out, l.repeats, c3k, e, device)
}

/// Nearest-neighbour ×2 upsampling, `[B, C, H, W]` → `[B, C, 2H, 2W]`.
pub fn upsample2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    interpolate(x, [2 * h, 2 * w], InterpolateOptions::new(InterpolateMode::Nearest))
}
