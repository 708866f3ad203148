//! Parity of the fused training BatchNorm (+ SiLU) with burn's own ops (today's composite
//! `BatchNorm2d::forward` then `silu`): outputs, running statistics and the gradients of x, γ, β.
//!
//! Tolerance: max |fused − reference| ≤ 1e-5 · max(1, max |reference|) per tensor.
//! CPU: the trait's composite forward with the closed-form backward of the autodiff op.
//! wgpu (lavapipe: `VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json`): the CubeCL
//! kernels, through `Conv`'s dispatch on `Autodiff<Wgpu>` (the fusion custom op) and directly on
//! the un-fused `CubeBackend`.

use burn::module::Param;
use burn::tensor::activation::silu;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use yolo_model::conv::BatchNorm2d;

const TOL: f32 = 1e-5;

/// One parity case: input `[B, C, H, W]` (stored `[B, C, W, H]` and transposed when `strided`).
#[derive(Debug, Clone, Copy)]
struct Case {
    shape: [usize; 4],
    act: bool,
    strided: bool,
}

/// Deterministic values in `[lo, hi)` (an LCG; the same on every backend).
fn uniform(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
}

/// What one path produced: output, running mean and var, grads of x, γ, β.
type Results = [Vec<f32>; 6];

/// Runs `forward` on a fresh BatchNorm with fixed γ, β and a fixed input; the loss is
/// `Σ y·w` with a fixed `w`, so `dy` is not constant.
fn run<B: AutodiffBackend>(case: Case, device: &B::Device, forward: impl Fn(&BatchNorm2d<B>, Tensor<B, 4>) -> Tensor<B, 4>) -> Results {
    let [b, c, h, w] = case.shape;
    let n = b * c * h * w;
    let mut bn = BatchNorm2d::<B>::new(c, device);
    bn.weight = Param::from_tensor(Tensor::from_data(TensorData::new(uniform(c, 1, 0.5, 2.0), [c]), device));
    bn.bias = Param::from_tensor(Tensor::from_data(TensorData::new(uniform(c, 2, -0.5, 0.5), [c]), device));
    // Offset and spread differ by channel: mean ≈ 3 + c, std ≈ 1 + c.
    let data: Vec<f32> = uniform(n, 3, -1.7, 1.7).iter().enumerate().map(|(i, v)| {
        let ch = (i / (h * w)) % c;
        3.0 + ch as f32 + v * (1.0 + ch as f32)
    }).collect();
    let leaf_shape = if case.strided { [b, c, w, h] } else { [b, c, h, w] };
    let leaf = Tensor::<B, 4>::from_data(TensorData::new(data, leaf_shape), device).require_grad();
    let x = if case.strided { leaf.clone().swap_dims(2, 3) } else { leaf.clone() };
    let weight = Tensor::<B, 4>::from_data(TensorData::new(uniform(n, 4, -1.0, 1.0), [b, c, h, w]), device);
    let y = forward(&bn, x);
    let grads = (y.clone() * weight).sum().backward();
    let grad = |t: Tensor<B, 1>| values(t.grad(&grads).expect("γ and β have gradients"));
    [
        values(y),
        values(bn.running_mean.value()),
        values(bn.running_var.value()),
        values(leaf.grad(&grads).expect("x has a gradient")),
        grad(bn.weight.val()),
        grad(bn.bias.val()),
    ]
}

/// Today's path: `BatchNorm2d::forward` (burn ops) then SiLU.
fn reference<B: AutodiffBackend>(case: Case, device: &B::Device) -> Results {
    run::<B>(case, device, |bn, x| {
        let y = bn.forward(x);
        if case.act { silu(y) } else { y }
    })
}

/// Asserts every tensor within tolerance; returns the largest relative error.
fn compare(label: &str, got: &Results, want: &Results) -> f32 {
    let names = ["output", "running_mean", "running_var", "grad x", "grad gamma", "grad beta"];
    let mut worst = 0f32;
    for ((name, g), w) in names.iter().zip(got).zip(want) {
        assert_eq!(g.len(), w.len(), "{label} {name}: length");
        let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
        let err = g.iter().zip(w).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        let rel = err / scale;
        eprintln!("{label} {name}: max abs err {err:.2e}, relative to max |ref| {rel:.2e}");
        assert!(rel <= TOL, "{label} {name}: {err} > {TOL} × {scale}");
        worst = worst.max(rel);
    }
    worst
}

fn check<B: AutodiffBackend>(label: &str, cases: &[Case], device: &B::Device, fused: impl Fn(&BatchNorm2d<B>, Tensor<B, 4>, bool) -> Tensor<B, 4>) {
    for &case in cases {
        let want = reference::<B>(case, device);
        let got = run::<B>(case, device, |bn, x| fused(bn, x, case.act));
        compare(&format!("{label} {case:?}"), &got, &want);
    }
}

const CASES: [Case; 3] = [
    Case { shape: [2, 3, 5, 7], act: true, strided: false },
    Case { shape: [2, 3, 5, 7], act: false, strided: true },
    Case { shape: [3, 4, 9, 11], act: true, strided: true },
];

#[cfg(feature = "flex")]
#[test]
fn fused_batch_norm_matches_burn_ops_on_cpu() {
    type A = burn::backend::Autodiff<burn::backend::Flex>;
    let big = Case { shape: [2, 3, 72, 72], act: true, strided: false };
    check::<A>("flex", &[CASES[0], CASES[1], CASES[2], big], &Default::default(), |bn, x, act| bn.forward_fused(x, act));
}

#[cfg(feature = "flex")]
#[test]
fn the_cpu_keeps_the_composite_path() {
    type A = burn::backend::Autodiff<burn::backend::Flex>;
    assert!(!yolo_model::bn_act::has_native_bn_act::<A>());
}

/// `Conv`'s own route on `Autodiff<Wgpu>`: dispatch → fusion custom op → kernels. The
/// `[2, 3, 72, 72]` case splits each channel over two cubes.
#[cfg(feature = "wgpu")]
#[test]
fn fused_batch_norm_matches_burn_ops_on_wgpu() {
    type A = burn::backend::Autodiff<burn::backend::Wgpu>;
    if std::env::var("YOLO_FUSED_BN").is_ok_and(|v| v.trim() == "0") {
        return;
    }
    assert!(yolo_model::bn_act::has_native_bn_act::<A>());
    let two_cubes = Case { shape: [2, 3, 72, 72], act: true, strided: false };
    check::<A>("wgpu", &[CASES[0], CASES[1], two_cubes], &Default::default(), |bn, x, act| bn.forward_act(x, act));
}

/// The kernels on the plain `CubeBackend` (no fusion), with strided inputs.
#[cfg(feature = "wgpu")]
#[test]
fn fused_batch_norm_matches_burn_ops_on_wgpu_unfused_cube_backend() {
    use burn::backend::wgpu::{CubeBackend, WgpuRuntime};
    type A = burn::backend::Autodiff<CubeBackend<WgpuRuntime, f32, i32, u32>>;
    check::<A>("cube", &CASES, &Default::default(), |bn, x, act| bn.forward_fused(x, act));
}
