//! Ultralytics `Conv` (conv → BatchNorm → SiLU) and the BatchNorm it uses.

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::bn_act::{bn_act_train, bn_act_train_native, has_native_bn_act, BnActOptions, FusedBnAct};

/// BatchNorm epsilon used by every Ultralytics YOLO11 BatchNorm (`initialize_weights`).
pub const BN_EPS: f64 = 1e-3;
/// BatchNorm momentum in PyTorch's convention: `running ← (1 − m)·running + m·batch`.
pub const BN_MOMENTUM: f64 = 0.03;

/// 2-D batch normalisation with PyTorch semantics: normalises with the biased batch variance,
/// updates `running_var` with the unbiased one, momentum in PyTorch's convention.
///
/// Train or eval is chosen like burn's own BatchNorm: batch statistics when the backend records
/// gradients (autodiff), running statistics otherwise — and always running statistics when γ
/// does not require gradients (a frozen layer: Ultralytics keeps frozen BatchNorms in eval).
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    /// γ, `[C]`.
    pub weight: Param<Tensor<B, 1>>,
    /// β, `[C]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Running mean, `[C]`.
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running (unbiased) variance, `[C]`.
    pub running_var: RunningState<Tensor<B, 1>>,
    /// Numerical-stability term added to the variance.
    pub eps: f64,
    /// Running-statistics momentum (PyTorch convention).
    pub momentum: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    /// A fresh BatchNorm over `channels` with weight 1, bias 0, mean 0, var 1.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            eps: BN_EPS,
            momentum: BN_MOMENTUM,
        }
    }

    /// `[B, C, H, W]` → `[B, C, H, W]`.
    ///
    /// Computed on the `[B, C, H·W]` view with per-(image, channel) operands made contiguous
    /// (`[B, C, 1]`): every full-size op is then a plain or row-broadcast one, which CPU
    /// backends run as SIMD loops instead of strided gathers.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, c, h, w] = x.dims();
        let x = x.reshape([b, c, h * w]);
        let y = if self.is_training(&x) {
            self.forward_train(x)
        } else {
            let (scale, shift) = self.inference_affine();
            x * per_channel(scale, b) + per_channel(shift, b)
        };
        y.reshape([b, c, h, w])
    }

    /// Per-channel `(scale, shift)` with `y = x·scale + shift` in eval mode, `[C]` each.
    pub fn inference_affine(&self) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let scale = self.weight.val() / self.running_var.value().add_scalar(self.eps).sqrt();
        let shift = self.bias.val() - self.running_mean.value() * scale.clone();
        (scale, shift)
    }

    /// `act(BatchNorm(x))`, `[B, C, H, W]` → `[B, C, H, W]`, with SiLU when `act`.
    ///
    /// In training on a backend with our fused kernels ([`has_native_bn_act`]) this is one op
    /// with its own backward; otherwise [`BatchNorm2d::forward`] then SiLU.
    pub fn forward_act(&self, x: Tensor<B, 4>, act: bool) -> Tensor<B, 4> {
        if self.is_training(&x) && has_native_bn_act::<B>() {
            return self.fused_with(x, act, bn_act_train_native::<B>);
        }
        let y = self.forward(x);
        if act { silu(y) } else { y }
    }

    /// Batch statistics from `op` (a fused BatchNorm + act), running statistics updated.
    fn fused_with(&self, x: Tensor<B, 4>, act: bool, op: BnActOp<B>) -> Tensor<B, 4> {
        let [b, _, h, w] = x.dims();
        let opts = BnActOptions { eps: self.eps, act };
        let (y, mean, var) = op(x, self.weight.val(), self.bias.val(), opts);
        self.update_running(mean, var, (b * h * w) as f64);
        y
    }

    /// Batch statistics (not running ones): autodiff backend and γ requires gradients.
    fn is_training<const D: usize>(&self, x: &Tensor<B, D>) -> bool {
        B::ad_enabled(&x.device()) && self.weight.val().is_require_grad()
    }

    /// Batch statistics over `[B, C, N]` (biased variance), running statistics updated.
    fn forward_train(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, _, n] = x.dims();
        let (y, mean, var) = batch_norm_train(x, self.weight.val(), self.bias.val(), self.eps);
        self.update_running(mean, var, (b * n) as f64);
        y
    }

    fn update_running(&self, mean: Tensor<B, 1>, biased_var: Tensor<B, 1>, n: f64) {
        let m = self.momentum;
        let unbiased = biased_var.detach().mul_scalar(n / (n - 1.0).max(1.0));
        let new_mean = self.running_mean.value_sync().mul_scalar(1.0 - m) + mean.detach().mul_scalar(m);
        let new_var = self.running_var.value_sync().mul_scalar(1.0 - m) + unbiased.mul_scalar(m);
        self.running_mean.update(new_mean);
        self.running_var.update(new_var);
        // Fold the per-thread update in now so visitors (EMA, checkpoints) never see stale stats.
        let _ = self.running_mean.value_sync();
        let _ = self.running_var.value_sync();
    }
}

impl<B: FusedBnAct> BatchNorm2d<B> {
    /// Training `act(BatchNorm(x))` through `B`'s [`FusedBnAct`] op whatever the backend (batch
    /// statistics, running statistics updated), `[B, C, H, W]` → `[B, C, H, W]`.
    pub fn forward_fused(&self, x: Tensor<B, 4>, act: bool) -> Tensor<B, 4> {
        self.fused_with(x, act, bn_act_train::<B>)
    }
}

/// A fused training BatchNorm (+ act): `(x, γ, β, options)` → `(y, batch mean, biased batch var)`.
type BnActOp<B> = fn(Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>, BnActOptions) -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>);

/// Training BatchNorm on `[B, C, N]`: (normalised and affine output `[B, C, N]`, batch mean `[C]`,
/// biased batch variance `[C]`). The composite every backend can run.
pub(crate) fn batch_norm_train<B: Backend>(
    x: Tensor<B, 3>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> (Tensor<B, 3>, Tensor<B, 1>, Tensor<B, 1>) {
    let [b, c, _] = x.dims();
    let mean = x.clone().mean_dim(2).mean_dim(0).reshape([c]);
    let centred = x - per_channel(mean.clone(), b);
    let var = centred.clone().square().mean_dim(2).mean_dim(0).reshape([c]);
    let scale = gamma / var.clone().add_scalar(eps).sqrt();
    (centred * per_channel(scale, b) + per_channel(beta, b), mean, var)
}

/// A `[C]` vector laid out as a contiguous `[B, C, 1]` operand for `[B, C, N]` tensors.
pub(crate) fn per_channel<B: Backend>(v: Tensor<B, 1>, batch: usize) -> Tensor<B, 3> {
    let c = v.dims()[0];
    v.reshape([1, c, 1]).repeat_dim(0, batch)
}

/// Ultralytics `Conv`: `Conv2d(c1, c2, k, s, pad k/2, groups, bias=False)` → BatchNorm2d → SiLU.
///
/// After [`Conv::fuse`] (or when loaded from BN-folded weights and fused) the conv carries the
/// bias and `bn` is `None`.
#[derive(Module, Debug)]
pub struct Conv<B: Backend> {
    /// The convolution, weight `[c2, c1 / groups, k, k]`.
    pub conv: Conv2d<B>,
    /// BatchNorm over `c2` channels (absent once fused).
    pub bn: Option<BatchNorm2d<B>>,
    /// SiLU when true, identity otherwise.
    pub act: bool,
}

/// Hyper-parameters of one [`Conv`].
#[derive(Debug, Clone, Copy)]
pub struct ConvSpec {
    /// Input channels.
    pub c1: usize,
    /// Output channels.
    pub c2: usize,
    /// Square kernel size (odd).
    pub k: usize,
    /// Stride.
    pub s: usize,
    /// Groups (`c1` for depthwise).
    pub groups: usize,
    /// SiLU activation.
    pub act: bool,
}

impl ConvSpec {
    /// Conv with SiLU, groups 1.
    pub fn new(c1: usize, c2: usize, k: usize, s: usize) -> Self {
        Self { c1, c2, k, s, groups: 1, act: true }
    }

    /// Same conv without activation.
    pub fn no_act(mut self) -> Self {
        self.act = false;
        self
    }

    /// Same conv with `groups`.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Ultralytics `DWConv(c1, c2, k, s)`: groups = gcd(c1, c2).
    pub fn depthwise(c1: usize, c2: usize, k: usize, s: usize) -> Self {
        Self::new(c1, c2, k, s).groups(gcd(c1, c2))
    }

    /// Parameter count (conv weight + BN weight and bias), as PyTorch counts it.
    pub fn num_params(&self) -> usize {
        self.c2 * (self.c1 / self.groups) * self.k * self.k + 2 * self.c2
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// A plain `nn.Conv2d` with PyTorch's default init and `k/2` padding.
pub fn conv2d<B: Backend>(
    c1: usize,
    c2: usize,
    k: usize,
    s: usize,
    groups: usize,
    bias: bool,
    device: &B::Device,
) -> Conv2d<B> {
    let p = k / 2;
    Conv2dConfig::new([c1, c2], [k, k])
        .with_stride([s, s])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(bias)
        .init(device)
}

impl<B: Backend> Conv<B> {
    /// Builds the layer with PyTorch-default conv init and a fresh BatchNorm.
    pub fn new(spec: ConvSpec, device: &B::Device) -> Self {
        Self {
            conv: conv2d(spec.c1, spec.c2, spec.k, spec.s, spec.groups, false, device),
            bn: Some(BatchNorm2d::new(spec.c2, device)),
            act: spec.act,
        }
    }

    /// `[B, c1, H, W]` → `[B, c2, H / s, W / s]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.conv.forward(x);
        match &self.bn {
            Some(bn) => bn.forward_act(y, self.act),
            None if self.act => silu(y),
            None => y,
        }
    }

    /// Folds the BatchNorm's running statistics into the conv weight and bias (inference only).
    pub fn fuse(self) -> Self {
        let Some(bn) = self.bn else { return self };
        let (scale, shift) = bn.inference_affine();
        let c2 = scale.dims()[0];
        let mut conv = self.conv;
        let weight = conv.weight.val() * scale.clone().reshape([c2, 1, 1, 1]);
        let bias = match &conv.bias {
            Some(b) => b.val() * scale + shift,
            None => shift,
        };
        conv.weight = Param::from_tensor(weight.detach());
        conv.bias = Some(Param::from_tensor(bias.detach()));
        Self { conv, bn: None, act: self.act }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::TensorData;

    type A = Autodiff<Flex>;

    fn values<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    /// Two images, two channels, 2×2 pixels: channel 0 holds 0..8, channel 1 holds 8 × 3.
    fn input<Bk: Backend>() -> Tensor<Bk, 4> {
        let mut v = Vec::new();
        for b in 0..2 {
            v.extend((0..4).map(|i| (b * 4 + i) as f32));
            v.extend([3.0f32; 4]);
        }
        Tensor::from_data(TensorData::new(v, [2, 2, 2, 2]), &Default::default())
    }

    #[test]
    fn batch_norm_trains_like_pytorch() {
        let bn = BatchNorm2d::<A>::new(2, &Default::default());
        let y = values(bn.forward(input()));
        // Channel 0: mean 3.5, biased var 5.25 → (x − 3.5) / sqrt(5.25 + 1e-3).
        let expected: Vec<f32> = (0..8).map(|x| (x as f32 - 3.5) / (5.25f32 + 1e-3).sqrt()).collect();
        let ch0: Vec<f32> = [&y[0..4], &y[8..12]].concat();
        for (g, e) in ch0.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "{g} vs {e}");
        }
        assert!(y[4..8].iter().all(|v| v.abs() < 1e-6), "constant channel normalises to 0");
        // Running stats: momentum 0.03, unbiased variance (n = 8: 5.25 · 8/7 = 6).
        let mean = values(bn.running_mean.value());
        let var = values(bn.running_var.value());
        assert!((mean[0] - 0.03 * 3.5).abs() < 1e-6 && (mean[1] - 0.03 * 3.0).abs() < 1e-6);
        assert!((var[0] - (0.97 + 0.03 * 6.0)).abs() < 1e-6 && (var[1] - 0.97).abs() < 1e-6);
    }

    #[test]
    fn eval_mode_and_fused_conv_agree() {
        let device = Default::default();
        let conv = Conv::<Flex>::new(ConvSpec::new(2, 3, 3, 1), &device);
        let mut bn = BatchNorm2d::new(3, &device);
        bn.running_mean = RunningState::new(Tensor::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3], [3]), &device));
        bn.running_var = RunningState::new(Tensor::from_data(TensorData::new(vec![0.5f32, 2.0, 1.5], [3]), &device));
        bn.weight = Param::from_tensor(Tensor::from_data(TensorData::new(vec![1.5f32, 0.5, -1.0], [3]), &device));
        let conv = Conv { bn: Some(bn), ..conv };
        let x = input::<Flex>();
        let a = values(conv.forward(x.clone()));
        let b = values(conv.fuse().forward(x));
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-5));
    }

    #[test]
    fn frozen_batch_norm_uses_running_statistics_under_autodiff() {
        let bn = BatchNorm2d::<A>::new(2, &Default::default());
        let frozen = BatchNorm2d { weight: bn.weight.clone().set_require_grad(false), ..bn };
        let y = values(frozen.forward(input()));
        let x = values(input::<A>());
        // Running mean 0, var 1: y = x / sqrt(1 + 1e-3), stats untouched.
        assert!(y.iter().zip(&x).all(|(g, v)| (g - v / (1.0f32 + 1e-3).sqrt()).abs() < 1e-5));
        assert_eq!(values(frozen.running_mean.value()), vec![0.0, 0.0]);
    }
}
