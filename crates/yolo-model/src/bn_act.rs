//! Training-mode BatchNorm2d (+ SiLU) as one backend op: the [`FusedBnAct`] extension with a composite default, its autodiff op, and the dispatch [`crate::conv::Conv`] uses.
//!
//! The op takes `x: [B, C, H, W]` (any strides), `γ, β: [C]` and returns the normalised (and
//! activated) output with the batch mean and biased batch variance `[C]` (for the running
//! statistics). Backends:
//!
//! * every backend: the trait's default methods, a composite of burn tensor ops — the forward is
//!   exactly [`crate::conv::batch_norm_train`] (what `Conv` runs on the CPU), the backward the
//!   closed-form BatchNorm gradient;
//! * `CubeBackend` (wgpu, CUDA) and `Fusion<CubeBackend>`: our CubeCL kernels (`kernels/`, built
//!   with the `wgpu` / `cuda` features);
//! * `Autodiff<B>`: a custom backward that keeps `x`, `γ`, `β` and the two `[C]` statistics
//!   (one activation-sized tensor per layer) and calls `B::bn_act_backward`. The composite graph
//!   keeps three: the centred input, the BatchNorm output and its sigmoid.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::activation::{sigmoid, silu};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use crate::conv::{batch_norm_train, per_channel};

/// Settings of one fused BatchNorm (+ SiLU).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BnActOptions {
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Apply SiLU after the affine.
    pub act: bool,
}

/// Outputs of [`FusedBnAct::bn_act_train_forward`].
#[derive(Debug)]
pub struct BnActForward<B: Backend> {
    /// `act(γ·(x − μ)/√(σ² + ε) + β)`, `[B, C, H, W]`.
    pub output: FloatTensor<B>,
    /// Batch mean μ, `[C]`.
    pub mean: FloatTensor<B>,
    /// Biased batch variance σ², `[C]`.
    pub var: FloatTensor<B>,
}

/// What the backward pass needs: the forward's inputs and statistics.
#[derive(Debug, Clone)]
pub struct BnActSaved<B: Backend> {
    /// Input `[B, C, H, W]`.
    pub x: FloatTensor<B>,
    /// γ, `[C]`.
    pub gamma: FloatTensor<B>,
    /// β, `[C]`.
    pub beta: FloatTensor<B>,
    /// Batch mean, `[C]`.
    pub mean: FloatTensor<B>,
    /// Biased batch variance, `[C]`.
    pub var: FloatTensor<B>,
}

/// Gradients from [`FusedBnAct::bn_act_backward`].
#[derive(Debug)]
pub struct BnActGrads<B: Backend> {
    /// ∂L/∂x, `[B, C, H, W]`.
    pub x: FloatTensor<B>,
    /// ∂L/∂γ, `[C]`.
    pub gamma: FloatTensor<B>,
    /// ∂L/∂β, `[C]`.
    pub beta: FloatTensor<B>,
}

/// A backend with a training-mode BatchNorm2d (+ SiLU) op. The default methods are composites of
/// burn tensor ops; GPU backends override them with kernels.
pub trait FusedBnAct: Backend {
    /// Batch statistics over `(B, H, W)` per channel, then normalise, affine and (optionally) SiLU.
    fn bn_act_train_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        opts: BnActOptions,
    ) -> BnActForward<Self> {
        composite_forward::<Self>(x, gamma, beta, opts)
    }

    /// Gradients of the forward for the output gradient `grad` (`[B, C, H, W]`).
    fn bn_act_backward(saved: BnActSaved<Self>, grad: FloatTensor<Self>, opts: BnActOptions) -> BnActGrads<Self> {
        composite_backward::<Self>(saved, grad, opts)
    }
}

#[cfg(feature = "flex")]
impl FusedBnAct for burn::backend::Flex {}

/// Training BatchNorm2d (+ SiLU when `opts.act`) through `B`'s op.
///
/// `x: [B, C, H, W]`, `gamma, beta: [C]` → (output `[B, C, H, W]`, batch mean `[C]`, biased batch
/// variance `[C]`; both statistics detached).
pub fn bn_act_train<B: FusedBnAct>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    opts: BnActOptions,
) -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>) {
    let out = B::bn_act_train_forward(prim(x), prim(gamma), prim(beta), opts);
    (tensor(out.output), tensor(out.mean), tensor(out.var))
}

/// Whether `B` runs [`bn_act_train`] on our own kernels, so that backend-generic code should use
/// [`bn_act_train_native`]: true for `Autodiff<Wgpu>` and `Autodiff<Cuda>` when built with those
/// features, unless the environment sets `YOLO_FUSED_BN=0` (to time the composite path).
pub fn has_native_bn_act<B: Backend>() -> bool {
    #[cfg(feature = "cube-kernels")]
    {
        crate::kernels::is_native::<B>() && fused_bn_enabled()
    }
    #[cfg(not(feature = "cube-kernels"))]
    {
        false
    }
}

/// [`bn_act_train`] for a backend-generic `B` that [`has_native_bn_act`].
///
/// # Panics
/// If `B` has no native kernels.
pub fn bn_act_train_native<B: Backend>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    opts: BnActOptions,
) -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>) {
    #[cfg(feature = "cube-kernels")]
    {
        crate::kernels::bn_act_train_dispatch(x, gamma, beta, opts)
    }
    #[cfg(not(feature = "cube-kernels"))]
    {
        let _ = (x, gamma, beta, opts);
        panic!("{} has no native fused BatchNorm (built without wgpu/cuda)", std::any::type_name::<B>())
    }
}

#[cfg(feature = "cube-kernels")]
fn fused_bn_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("YOLO_FUSED_BN").map_or(true, |v| v.trim() != "0"))
}

fn tensor<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn prim<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// The default forward: [`batch_norm_train`] on the `[B, C, H·W]` view, then SiLU.
fn composite_forward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    opts: BnActOptions,
) -> BnActForward<B> {
    let x: Tensor<B, 4> = tensor(x);
    let [b, c, h, w] = x.dims();
    let (z, mean, var) = batch_norm_train(x.reshape([b, c, h * w]), tensor(gamma), tensor(beta), opts.eps);
    let y = if opts.act { silu(z) } else { z };
    BnActForward { output: prim(y.reshape([b, c, h, w])), mean: prim(mean.detach()), var: prim(var.detach()) }
}

/// The default backward, closed form over the `[B, C, N]` view with `M = B·N`, `x̂ = (x − μ)/√(σ² + ε)`:
/// `dz = dy·silu'(γx̂ + β)`, `dβ = Σdz`, `dγ = Σdz·x̂`, `dx = γ/(√(σ² + ε)·M)·(M·dz − dβ − x̂·dγ)`.
fn composite_backward<B: Backend>(saved: BnActSaved<B>, grad: FloatTensor<B>, opts: BnActOptions) -> BnActGrads<B> {
    let x: Tensor<B, 4> = tensor(saved.x);
    let [b, c, h, w] = x.dims();
    let m = (b * h * w) as f64;
    let inv_std = tensor::<B, 1>(saved.var).add_scalar(opts.eps).sqrt().recip();
    let gamma: Tensor<B, 1> = tensor(saved.gamma);
    let xhat = (x.reshape([b, c, h * w]) - per_channel(tensor(saved.mean), b)) * per_channel(inv_std.clone(), b);
    let dy = tensor::<B, 4>(grad).reshape([b, c, h * w]);
    let dz = if opts.act {
        let z = xhat.clone() * per_channel(gamma.clone(), b) + per_channel(tensor(saved.beta), b);
        let s = sigmoid(z.clone());
        dy * s.clone() * (z * s.neg().add_scalar(1.0)).add_scalar(1.0)
    } else {
        dy
    };
    let dbeta = dz.clone().sum_dim(2).sum_dim(0).reshape([c]);
    let dgamma = (dz.clone() * xhat.clone()).sum_dim(2).sum_dim(0).reshape([c]);
    let centred = dz.mul_scalar(m) - per_channel(dbeta.clone(), b) - xhat * per_channel(dgamma.clone(), b);
    let dx = centred * per_channel((gamma * inv_std).div_scalar(m), b);
    BnActGrads { x: prim(dx.reshape([b, c, h, w])), gamma: prim(dgamma), beta: prim(dbeta) }
}

/// The autodiff node of the fused op.
#[derive(Debug)]
struct BnActBackward;

impl<B: FusedBnAct> Backward<B, 3> for BnActBackward {
    type State = (BnActSaved<B>, BnActOptions);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (saved, opts) = ops.state;
        let g = B::bn_act_backward(saved, grad, opts);
        for (node, value) in [(node_x, g.x), (node_gamma, g.gamma), (node_beta, g.beta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, value);
            }
        }
    }
}

impl<B: FusedBnAct, C: CheckpointStrategy> FusedBnAct for Autodiff<B, C> {
    fn bn_act_train_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        opts: BnActOptions,
    ) -> BnActForward<Self> {
        let out = B::bn_act_train_forward(x.primitive.clone(), gamma.primitive.clone(), beta.primitive.clone(), opts);
        let (mean, var) = (untracked::<B, C>(out.mean.clone()), untracked::<B, C>(out.var.clone()));
        let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
        let output = match BnActBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let saved = BnActSaved { x: x.primitive, gamma: gamma.primitive, beta: beta.primitive, mean: out.mean, var: out.var };
                prep.finish((saved, opts), out.output)
            }
            OpsKind::UnTracked(prep) => prep.finish(out.output),
        };
        BnActForward { output, mean, var }
    }
}

/// An inner-backend tensor as an autodiff tensor outside the graph.
fn untracked<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    prim(Tensor::<Autodiff<B, C>, 1>::from_inner(tensor(t)))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Distribution, TensorData};

    type A = Autodiff<Flex>;

    fn values<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
    }

    #[test]
    fn forward_is_the_composite_batch_norm() {
        let device = Default::default();
        let x = Tensor::<Flex, 4>::random([2, 3, 4, 5], Distribution::Normal(1.0, 2.0), &device);
        let gamma = Tensor::from_data(TensorData::new(vec![1.5f32, -0.5, 2.0], [3]), &device);
        let beta = Tensor::from_data(TensorData::new(vec![0.1f32, 0.2, -0.3], [3]), &device);
        let opts = BnActOptions { eps: 1e-3, act: true };
        let (y, mean, var) = bn_act_train(x.clone(), gamma.clone(), beta.clone(), opts);
        let (z, mean_ref, var_ref) = batch_norm_train(x.reshape([2, 3, 20]), gamma, beta, 1e-3);
        assert_eq!(values(y), values(silu(z).reshape([2, 3, 4, 5])));
        assert_eq!(values(mean), values(mean_ref));
        assert_eq!(values(var), values(var_ref));
    }

    #[test]
    fn untracked_inputs_give_an_untracked_output() {
        let device = Default::default();
        let x = Tensor::<A, 4>::ones([1, 2, 2, 2], &device);
        let (y, _, _) = bn_act_train(x, Tensor::ones([2], &device), Tensor::zeros([2], &device), BnActOptions { eps: 1e-3, act: false });
        assert!(!y.is_require_grad());
        assert!(values(y).iter().all(|v| v.abs() < 1e-6), "a constant input normalises to β = 0");
    }
}
