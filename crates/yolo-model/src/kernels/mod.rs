//! Our CubeCL kernels (built with the `wgpu` / `cuda` features) and the backends that run them: `CubeBackend` directly, `Fusion<CubeBackend>` as a custom fusion op.
//!
//! Burn's `Wgpu` and `Cuda` are `Fusion<CubeBackend<…>>` (fusion feature on). A fusion backend
//! only sees operations it can describe, so the fused BatchNorm is registered as a
//! `CustomOpIr` whose execution pulls the inner `CubeBackend` tensors out of the fusion handle
//! container and runs the kernels (the route burn-vision takes). The fusion engine flushes the
//! pending fused element-wise work before a custom op and starts a new fusion block after it.

mod bn_act;

use std::any::{Any, TypeId};
use std::marker::PhantomData;

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{Fusion, FusionBackend, FusionRuntime};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};

use crate::bn_act::{BnActForward, BnActGrads, BnActOptions, BnActSaved, FusedBnAct, bn_act_train};

impl<R, F, I, BT> FusedBnAct for CubeBackend<R, F, I, BT>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    fn bn_act_train_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        opts: BnActOptions,
    ) -> BnActForward<Self> {
        let (output, mean, var) = bn_act::forward(x, gamma, beta, opts);
        BnActForward { output, mean, var }
    }

    fn bn_act_backward(saved: BnActSaved<Self>, grad: FloatTensor<Self>, opts: BnActOptions) -> BnActGrads<Self> {
        let (x, gamma, beta) = bn_act::backward(saved.x, saved.gamma, saved.beta, saved.mean, saved.var, grad, opts);
        BnActGrads { x, gamma, beta }
    }
}

/// The fused forward as a fusion custom op: inputs `[x, γ, β]`, outputs `[y, μ, σ²]`.
#[derive(Debug)]
struct ForwardOp<B> {
    desc: CustomOpIr,
    opts: BnActOptions,
    backend: PhantomData<B>,
}

impl<B: FusionBackend + FusedBnAct> Operation<B::FusionRuntime> for ForwardOp<B> {
    fn execute(&self, handles: &mut HandleContainer<<B::FusionRuntime as FusionRuntime>::FusionHandle>) {
        let ([x, gamma, beta], [y, mean, var]) = self.desc.as_fixed();
        let (x, gamma, beta) = (handles.get_float_tensor::<B>(x), handles.get_float_tensor::<B>(gamma), handles.get_float_tensor::<B>(beta));
        let out = B::bn_act_train_forward(x, gamma, beta, self.opts);
        handles.register_float_tensor::<B>(&y.id, out.output);
        handles.register_float_tensor::<B>(&mean.id, out.mean);
        handles.register_float_tensor::<B>(&var.id, out.var);
    }
}

/// The fused backward as a fusion custom op: inputs `[x, γ, β, μ, σ², dy]`, outputs `[dx, dγ, dβ]`.
#[derive(Debug)]
struct BackwardOp<B> {
    desc: CustomOpIr,
    opts: BnActOptions,
    backend: PhantomData<B>,
}

impl<B: FusionBackend + FusedBnAct> Operation<B::FusionRuntime> for BackwardOp<B> {
    fn execute(&self, handles: &mut HandleContainer<<B::FusionRuntime as FusionRuntime>::FusionHandle>) {
        let ([x, gamma, beta, mean, var, dy], [dx, dgamma, dbeta]) = self.desc.as_fixed();
        let saved = BnActSaved {
            x: handles.get_float_tensor::<B>(x),
            gamma: handles.get_float_tensor::<B>(gamma),
            beta: handles.get_float_tensor::<B>(beta),
            mean: handles.get_float_tensor::<B>(mean),
            var: handles.get_float_tensor::<B>(var),
        };
        let grads = B::bn_act_backward(saved, handles.get_float_tensor::<B>(dy), self.opts);
        handles.register_float_tensor::<B>(&dx.id, grads.x);
        handles.register_float_tensor::<B>(&dgamma.id, grads.gamma);
        handles.register_float_tensor::<B>(&dbeta.id, grads.beta);
    }
}

impl<B: FusionBackend + FusedBnAct> FusedBnAct for Fusion<B> {
    fn bn_act_train_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        opts: BnActOptions,
    ) -> BnActForward<Self> {
        let client = x.client.clone();
        let streams = OperationStreams::with_inputs([&x, &gamma, &beta]);
        let channels = Shape::new([gamma.shape[0]]);
        let out = |shape: Shape| TensorIr::uninit(client.create_empty_handle(), shape, x.dtype);
        let outputs = [out(x.shape.clone()), out(channels.clone()), out(channels)];
        let desc = CustomOpIr::new("yolo_bn_act_forward", &[x.into_ir(), gamma.into_ir(), beta.into_ir()], &outputs);
        let op = ForwardOp::<B> { desc: desc.clone(), opts, backend: PhantomData };
        let [output, mean, var] = three(client.register(streams, OperationIr::Custom(desc), op));
        BnActForward { output, mean, var }
    }

    fn bn_act_backward(saved: BnActSaved<Self>, grad: FloatTensor<Self>, opts: BnActOptions) -> BnActGrads<Self> {
        let client = saved.x.client.clone();
        let streams = OperationStreams::with_inputs([&saved.x, &saved.gamma, &saved.beta, &saved.mean, &saved.var, &grad]);
        let out = |shape: Shape| TensorIr::uninit(client.create_empty_handle(), shape, saved.x.dtype);
        let outputs = [out(saved.x.shape.clone()), out(saved.gamma.shape.clone()), out(saved.beta.shape.clone())];
        let inputs = [saved.x, saved.gamma, saved.beta, saved.mean, saved.var, grad].map(|t| t.into_ir());
        let desc = CustomOpIr::new("yolo_bn_act_backward", &inputs, &outputs);
        let op = BackwardOp::<B> { desc: desc.clone(), opts, backend: PhantomData };
        let [x, gamma, beta] = three(client.register(streams, OperationIr::Custom(desc), op));
        BnActGrads { x, gamma, beta }
    }
}

fn three<T>(outputs: Vec<T>) -> [T; 3] {
    outputs.try_into().unwrap_or_else(|_| panic!("the fused BatchNorm op has three outputs"))
}

/// The training backends [`crate::conv::Conv`] sends to the kernels (see `has_native_bn_act`).
pub(crate) fn is_native<B: Backend>() -> bool {
    let id = TypeId::of::<B>();
    #[cfg(feature = "wgpu")]
    if id == TypeId::of::<Autodiff<burn::backend::Wgpu>>() {
        return true;
    }
    #[cfg(feature = "cuda")]
    if id == TypeId::of::<Autodiff<burn::backend::Cuda>>() {
        return true;
    }
    let _ = id;
    false
}

/// `bn_act_train` for a generic `B` that [`is_native`]: the tensors are moved to the concrete
/// backend type (the same type, checked by `TypeId`) and back.
pub(crate) fn bn_act_train_dispatch<B: Backend>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    opts: BnActOptions,
) -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>) {
    #[cfg(feature = "wgpu")]
    if TypeId::of::<B>() == TypeId::of::<Autodiff<burn::backend::Wgpu>>() {
        return run_as::<B, Autodiff<burn::backend::Wgpu>>(x, gamma, beta, opts);
    }
    #[cfg(feature = "cuda")]
    if TypeId::of::<B>() == TypeId::of::<Autodiff<burn::backend::Cuda>>() {
        return run_as::<B, Autodiff<burn::backend::Cuda>>(x, gamma, beta, opts);
    }
    let _ = (x, gamma, beta, opts);
    panic!("{} has no native fused BatchNorm", std::any::type_name::<B>())
}

fn run_as<B: Backend, N: FusedBnAct>(
    x: Tensor<B, 4>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    opts: BnActOptions,
) -> (Tensor<B, 4>, Tensor<B, 1>, Tensor<B, 1>) {
    let (y, mean, var) = bn_act_train::<N>(same_type(x), same_type(gamma), same_type(beta), opts);
    (same_type(y), same_type(mean), same_type(var))
}

/// `value` as `T`, which the caller checked is its own type.
fn same_type<S: 'static, T: 'static>(value: S) -> T {
    let boxed: Box<dyn Any> = Box::new(value);
    *boxed.downcast::<T>().unwrap_or_else(|_| panic!("backend type mismatch in the fused BatchNorm dispatch"))
}
