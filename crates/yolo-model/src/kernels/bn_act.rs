//! CubeCL kernels of the fused training BatchNorm (+ SiLU): statistics, normalise+affine+SiLU, and the backward reductions and input gradient.
//!
//! Tensors are `[B, C, H, W]` with any strides (no layout copies), per-channel vectors `[C]`.
//! Every kernel accumulates in f32 whatever the storage type. A channel's `M = B·H·W` elements
//! are split into `groups` chunks, one cube each; a cube's units stride through their chunk
//! (coalesced along `W`) and combine in shared memory:
//!
//! * forward: [`stats_partials_kernel`] — per unit a Welford mean/M2, Chan-merged over the cube
//!   → `(count, mean, M2)` per (channel, chunk); [`stats_finalize_kernel`] — Chan merge of the
//!   chunks → μ, biased σ²; [`normalize_act_kernel`] — `y = act(γ(x − μ)/√(σ² + ε) + β)`.
//! * backward: [`grad_partials_kernel`] — Σdz and Σdz·x̂ per (channel, chunk) with
//!   `dz = dy·silu'(z)` recomputed from `x`; [`grad_finalize_kernel`] — sums over chunks (= dβ,
//!   dγ); [`grad_input_kernel`] — `dx = γ/√(σ² + ε)·(dz − (Σdz + x̂·Σdz·x̂)/M)`.

use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use burn::tensor::{DType, Shape};
use cubecl::prelude::*;
use cubecl::{calculate_cube_count_elemwise, CubeCount, CubeDim};

use crate::bn_act::BnActOptions;

/// Units per reduction cube, at most (a power of two: the shared-memory tree halves it).
const REDUCE_UNITS: u32 = 256;
/// A unit of a reduction cube reads about this many elements before a channel gets more cubes.
const ELEMS_PER_UNIT: usize = 32;
/// Most cubes (chunks) per channel.
const MAX_GROUPS: usize = 1024;

/// `1 / (1 + e^{−z})` without overflow for either sign of `z`.
#[cube]
fn sigmoid(z: f32) -> f32 {
    let e = (-z.abs()).exp();
    let s = 1.0 / (1.0 + e);
    select(z >= 0.0, s, e * s)
}

/// ∂L/∂z of the affine output `z = γx̂ + β` from ∂L/∂y: `dy·silu'(z)` with SiLU, else `dy`.
#[cube]
fn grad_pre_act(dy: f32, xhat: f32, gamma: f32, beta: f32, #[comptime] act: bool) -> f32 {
    let mut dz = dy;
    if act {
        let z = gamma * xhat + beta;
        let s = sigmoid(z);
        dz = dy * s * (1.0 + z * (1.0 - s));
    }
    dz
}

/// Offset of element `k` (`0..B·H·W`, row-major over `(b, h, w)`) of `channel` in a `[B, C, H, W]` tensor.
#[cube]
fn channel_offset<F: Float>(t: &Tensor<F>, channel: usize, k: usize) -> usize {
    let width = t.shape(3);
    let plane = t.shape(2) * width;
    let b = k / plane;
    let rem = k % plane;
    b * t.stride(0) + channel * t.stride(1) + (rem / width) * t.stride(2) + (rem % width) * t.stride(3)
}

/// Offset of logical element `i` (row-major over `[B, C, H, W]`) and its channel.
#[cube]
fn element_offset<F: Float>(t: &Tensor<F>, i: usize) -> usize {
    let width = t.shape(3);
    let height = t.shape(2);
    let channels = t.shape(1);
    let row = i / width;
    let plane = row / height;
    (plane / channels) * t.stride(0) + (plane % channels) * t.stride(1) + (row % height) * t.stride(2) + (i % width) * t.stride(3)
}

/// Channel of logical element `i` of a `[B, C, H, W]` tensor.
#[cube]
fn element_channel<F: Float>(t: &Tensor<F>, i: usize) -> usize {
    (i / (t.shape(3) * t.shape(2))) % t.shape(1)
}

/// Chan's merge of Welford triple `b` into `a` (shared arrays of counts, means and M2).
#[cube]
fn merge_welford(n: &mut SharedMemory<f32>, mean: &mut SharedMemory<f32>, m2: &mut SharedMemory<f32>, a: usize, b: usize) {
    let (nb, mean_b, m2_b) = (n[b], mean[b], m2[b]);
    merge_triple(n, mean, m2, a, nb, mean_b, m2_b);
}

/// Chan's merge of the Welford triple `(nb, mean_b, m2_b)` into slot `a`; an empty one is skipped.
#[cube]
fn merge_triple(n: &mut SharedMemory<f32>, mean: &mut SharedMemory<f32>, m2: &mut SharedMemory<f32>, a: usize, nb: f32, mean_b: f32, m2_b: f32) {
    if nb > 0.0 {
        let na = n[a];
        let total = na + nb;
        let delta = mean_b - mean[a];
        mean[a] += delta * (nb / total);
        m2[a] += m2_b + delta * delta * (na * nb / total);
        n[a] = total;
    }
}

/// Tree merge of the cube's `units` Welford triples into slot 0.
#[cube]
fn reduce_welford(n: &mut SharedMemory<f32>, mean: &mut SharedMemory<f32>, m2: &mut SharedMemory<f32>, #[comptime] units: u32) {
    let unit = UNIT_POS_X as usize;
    sync_cube();
    let mut stride = (units as usize / 2).runtime();
    while stride > 0 {
        if unit < stride {
            merge_welford(n, mean, m2, unit, unit + stride);
        }
        sync_cube();
        stride /= 2;
    }
}

/// Tree sum of the cube's `units` pairs into slot 0.
#[cube]
fn reduce_pairs(a: &mut SharedMemory<f32>, b: &mut SharedMemory<f32>, #[comptime] units: u32) {
    let unit = UNIT_POS_X as usize;
    sync_cube();
    let mut stride = (units as usize / 2).runtime();
    while stride > 0 {
        if unit < stride {
            a[unit] += a[unit + stride];
            b[unit] += b[unit + stride];
        }
        sync_cube();
        stride /= 2;
    }
}

/// Cube `(chunk g, channel c)`: Welford `(count, mean, M2)` of the chunk → `partials[(c·groups + g)·3 ..]`.
#[cube(launch)]
fn stats_partials_kernel<F: Float>(
    x: &Tensor<F>,
    partials: &mut Tensor<f32>,
    chunk: u32,
    #[comptime] units: u32,
    #[define(F)] _dtype: StorageType,
) {
    let unit = UNIT_POS_X as usize;
    let channel = CUBE_POS_Y as usize;
    let total = x.shape(0) * x.shape(2) * x.shape(3);
    let start = CUBE_POS_X as usize * chunk as usize;
    let mut end = start + chunk as usize;
    if end > total {
        end = total;
    }
    let mut count = f32::new(0.0);
    let mut mean = f32::new(0.0);
    let mut m2 = f32::new(0.0);
    let mut k = start + unit;
    while k < end {
        let v = f32::cast_from(x[channel_offset(x, channel, k)]);
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
        k += units as usize;
    }
    let mut sh_n = SharedMemory::<f32>::new(units as usize);
    let mut sh_mean = SharedMemory::<f32>::new(units as usize);
    let mut sh_m2 = SharedMemory::<f32>::new(units as usize);
    sh_n[unit] = count;
    sh_mean[unit] = mean;
    sh_m2[unit] = m2;
    reduce_welford(&mut sh_n, &mut sh_mean, &mut sh_m2, units);
    if unit == 0 {
        let base = (channel * CUBE_COUNT_X as usize + CUBE_POS_X as usize) * 3;
        partials[base] = sh_n[0];
        partials[base + 1] = sh_mean[0];
        partials[base + 2] = sh_m2[0];
    }
}

/// Cube `c`: Chan merge of the channel's `groups` partials → `mean[c]`, biased `var[c]`.
#[cube(launch)]
fn stats_finalize_kernel<F: Float>(
    partials: &Tensor<f32>,
    mean: &mut Tensor<F>,
    var: &mut Tensor<F>,
    groups: u32,
    #[comptime] units: u32,
    #[define(F)] _dtype: StorageType,
) {
    let unit = UNIT_POS_X as usize;
    let channel = CUBE_POS_X as usize;
    let mut sh_n = SharedMemory::<f32>::new(units as usize);
    let mut sh_mean = SharedMemory::<f32>::new(units as usize);
    let mut sh_m2 = SharedMemory::<f32>::new(units as usize);
    sh_n[unit] = 0.0;
    sh_mean[unit] = 0.0;
    sh_m2[unit] = 0.0;
    let mut g = unit;
    while g < groups as usize {
        let base = (channel * groups as usize + g) * 3;
        merge_triple(&mut sh_n, &mut sh_mean, &mut sh_m2, unit, partials[base], partials[base + 1], partials[base + 2]);
        g += units as usize;
    }
    reduce_welford(&mut sh_n, &mut sh_mean, &mut sh_m2, units);
    if unit == 0 {
        mean[channel * mean.stride(0)] = F::cast_from(sh_mean[0]);
        var[channel * var.stride(0)] = F::cast_from(sh_m2[0] / sh_n[0]);
    }
}

/// Unit `i`: `y = act(γ(x − μ)/√(σ² + ε) + β)` at logical element `i`.
#[cube(launch)]
fn normalize_act_kernel<F: Float>(
    x: &Tensor<F>,
    mean: &Tensor<F>,
    var: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    y: &mut Tensor<F>,
    eps: f32,
    #[comptime] act: bool,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= y.shape(0) * y.shape(1) * y.shape(2) * y.shape(3) {
        terminate!();
    }
    let c = element_channel(y, i);
    let inv_std = 1.0 / (f32::cast_from(var[c * var.stride(0)]) + eps).sqrt();
    let xhat = (f32::cast_from(x[element_offset(x, i)]) - f32::cast_from(mean[c * mean.stride(0)])) * inv_std;
    let mut z = f32::cast_from(gamma[c * gamma.stride(0)]) * xhat + f32::cast_from(beta[c * beta.stride(0)]);
    if act {
        z *= sigmoid(z);
    }
    y[element_offset(y, i)] = F::cast_from(z);
}

/// Cube `(chunk g, channel c)`: `(Σdz, Σdz·x̂)` of the chunk → `partials[(c·groups + g)·2 ..]`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn grad_partials_kernel<F: Float>(
    x: &Tensor<F>,
    dy: &Tensor<F>,
    mean: &Tensor<F>,
    var: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    partials: &mut Tensor<f32>,
    chunk: u32,
    eps: f32,
    #[comptime] units: u32,
    #[comptime] act: bool,
    #[define(F)] _dtype: StorageType,
) {
    let unit = UNIT_POS_X as usize;
    let c = CUBE_POS_Y as usize;
    let total = x.shape(0) * x.shape(2) * x.shape(3);
    let start = CUBE_POS_X as usize * chunk as usize;
    let mut end = start + chunk as usize;
    if end > total {
        end = total;
    }
    let mu = f32::cast_from(mean[c * mean.stride(0)]);
    let inv_std = 1.0 / (f32::cast_from(var[c * var.stride(0)]) + eps).sqrt();
    let g = f32::cast_from(gamma[c * gamma.stride(0)]);
    let b = f32::cast_from(beta[c * beta.stride(0)]);
    let mut sum_dz = f32::new(0.0);
    let mut sum_dz_xhat = f32::new(0.0);
    let mut k = start + unit;
    while k < end {
        let xhat = (f32::cast_from(x[channel_offset(x, c, k)]) - mu) * inv_std;
        let dz = grad_pre_act(f32::cast_from(dy[channel_offset(dy, c, k)]), xhat, g, b, act);
        sum_dz += dz;
        sum_dz_xhat += dz * xhat;
        k += units as usize;
    }
    let mut sh_dz = SharedMemory::<f32>::new(units as usize);
    let mut sh_dzx = SharedMemory::<f32>::new(units as usize);
    sh_dz[unit] = sum_dz;
    sh_dzx[unit] = sum_dz_xhat;
    reduce_pairs(&mut sh_dz, &mut sh_dzx, units);
    if unit == 0 {
        let base = (c * CUBE_COUNT_X as usize + CUBE_POS_X as usize) * 2;
        partials[base] = sh_dz[0];
        partials[base + 1] = sh_dzx[0];
    }
}

/// Cube `c`: sums of the channel's `groups` partials → `sums[2c..2c+2]` (f32), `dbeta[c]`, `dgamma[c]`.
#[cube(launch)]
fn grad_finalize_kernel<F: Float>(
    partials: &Tensor<f32>,
    sums: &mut Tensor<f32>,
    dgamma: &mut Tensor<F>,
    dbeta: &mut Tensor<F>,
    groups: u32,
    #[comptime] units: u32,
    #[define(F)] _dtype: StorageType,
) {
    let unit = UNIT_POS_X as usize;
    let c = CUBE_POS_X as usize;
    let mut sh_dz = SharedMemory::<f32>::new(units as usize);
    let mut sh_dzx = SharedMemory::<f32>::new(units as usize);
    sh_dz[unit] = 0.0;
    sh_dzx[unit] = 0.0;
    let mut g = unit;
    while g < groups as usize {
        let base = (c * groups as usize + g) * 2;
        sh_dz[unit] += partials[base];
        sh_dzx[unit] += partials[base + 1];
        g += units as usize;
    }
    reduce_pairs(&mut sh_dz, &mut sh_dzx, units);
    if unit == 0 {
        sums[2 * c] = sh_dz[0];
        sums[2 * c + 1] = sh_dzx[0];
        dbeta[c * dbeta.stride(0)] = F::cast_from(sh_dz[0]);
        dgamma[c * dgamma.stride(0)] = F::cast_from(sh_dzx[0]);
    }
}

/// Unit `i`: `dx = γ/√(σ² + ε)·(dz − (Σdz + x̂·Σdz·x̂)/M)` at logical element `i`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn grad_input_kernel<F: Float>(
    x: &Tensor<F>,
    dy: &Tensor<F>,
    mean: &Tensor<F>,
    var: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    sums: &Tensor<f32>,
    dx: &mut Tensor<F>,
    eps: f32,
    #[comptime] act: bool,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    let count = dx.shape(0) * dx.shape(2) * dx.shape(3);
    if i >= count * dx.shape(1) {
        terminate!();
    }
    let c = element_channel(dx, i);
    let inv_std = 1.0 / (f32::cast_from(var[c * var.stride(0)]) + eps).sqrt();
    let g = f32::cast_from(gamma[c * gamma.stride(0)]);
    let xhat = (f32::cast_from(x[element_offset(x, i)]) - f32::cast_from(mean[c * mean.stride(0)])) * inv_std;
    let dz = grad_pre_act(f32::cast_from(dy[element_offset(dy, i)]), xhat, g, f32::cast_from(beta[c * beta.stride(0)]), act);
    let m = count as f32;
    dx[element_offset(dx, i)] = F::cast_from(g * inv_std * (dz - (sums[2 * c] + xhat * sums[2 * c + 1]) / m));
}

/// How a per-channel reduction over `M` elements is split into cubes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReducePlan {
    /// Units per cube (power of two).
    units: u32,
    /// Cubes (chunks) per channel.
    groups: usize,
    /// Elements per chunk (the last may be shorter).
    chunk: usize,
}

impl ReducePlan {
    /// `max_units`: the device's units per cube.
    fn new(elements: usize, max_units: u32) -> Self {
        let units = 1u32 << REDUCE_UNITS.min(max_units.max(1)).ilog2();
        let wanted = elements.div_ceil(units as usize * ELEMS_PER_UNIT).clamp(1, MAX_GROUPS);
        let chunk = elements.div_ceil(wanted).max(1);
        Self { units, groups: elements.div_ceil(chunk).max(1), chunk }
    }
}

/// `(C, M = B·H·W)` of a `[B, C, H, W]` tensor.
fn extents<R: CubeRuntime>(x: &CubeTensor<R>) -> (usize, usize) {
    let shape = x.meta.shape();
    assert_eq!(shape.len(), 4, "fused BatchNorm takes [B, C, H, W], got {shape:?}");
    (shape[1], shape[0] * shape[2] * shape[3])
}

fn empty<R: CubeRuntime>(like: &CubeTensor<R>, shape: Shape, dtype: DType) -> CubeTensor<R> {
    empty_device_dtype(like.client.clone(), like.device.clone(), shape, dtype)
}

fn assert_same_dtype<R: CubeRuntime>(x: &CubeTensor<R>, others: &[&CubeTensor<R>]) {
    for t in others {
        assert_eq!(t.dtype, x.dtype, "fused BatchNorm operands must share one float type");
    }
}

/// Elementwise launch geometry for `n` units.
fn elementwise<R: CubeRuntime>(x: &CubeTensor<R>, n: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(&x.client, n);
    (calculate_cube_count_elemwise(&x.client, n, dim), dim)
}

/// Training forward: `(y [B, C, H, W], mean [C], biased var [C])`.
pub(crate) fn forward<R: CubeRuntime>(
    x: CubeTensor<R>,
    gamma: CubeTensor<R>,
    beta: CubeTensor<R>,
    opts: BnActOptions,
) -> (CubeTensor<R>, CubeTensor<R>, CubeTensor<R>) {
    assert_same_dtype(&x, &[&gamma, &beta]);
    let (mean, var) = statistics(&x);
    let y = empty(&x, x.meta.shape().clone(), x.dtype);
    let n = y.meta.num_elements();
    let (count, dim) = elementwise(&x, n);
    normalize_act_kernel::launch::<R>(
        &x.client,
        count,
        dim,
        x.clone().into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        var.clone().into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        y.clone().into_tensor_arg(),
        opts.eps as f32,
        opts.act,
        x.dtype.into(),
    );
    (y, mean, var)
}

/// Batch mean and biased variance per channel, `[C]` each.
fn statistics<R: CubeRuntime>(x: &CubeTensor<R>) -> (CubeTensor<R>, CubeTensor<R>) {
    let (channels, elements) = extents(x);
    let plan = ReducePlan::new(elements, x.client.properties().hardware.max_units_per_cube);
    let partials = empty(x, Shape::new([channels * plan.groups * 3]), DType::F32);
    stats_partials_kernel::launch::<R>(
        &x.client,
        CubeCount::Static(plan.groups as u32, channels as u32, 1),
        CubeDim::new_1d(plan.units),
        x.clone().into_tensor_arg(),
        partials.clone().into_tensor_arg(),
        plan.chunk as u32,
        plan.units,
        x.dtype.into(),
    );
    let mean = empty(x, Shape::new([channels]), x.dtype);
    let var = empty(x, Shape::new([channels]), x.dtype);
    stats_finalize_kernel::launch::<R>(
        &x.client,
        CubeCount::Static(channels as u32, 1, 1),
        CubeDim::new_1d(plan.units),
        partials.into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        var.clone().into_tensor_arg(),
        plan.groups as u32,
        plan.units,
        x.dtype.into(),
    );
    (mean, var)
}

/// Backward: `(dx [B, C, H, W], dγ [C], dβ [C])` for output gradient `dy`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    gamma: CubeTensor<R>,
    beta: CubeTensor<R>,
    mean: CubeTensor<R>,
    var: CubeTensor<R>,
    dy: CubeTensor<R>,
    opts: BnActOptions,
) -> (CubeTensor<R>, CubeTensor<R>, CubeTensor<R>) {
    assert_same_dtype(&x, &[&gamma, &beta, &mean, &var, &dy]);
    let (channels, elements) = extents(&x);
    let plan = ReducePlan::new(elements, x.client.properties().hardware.max_units_per_cube);
    let partials = empty(&x, Shape::new([channels * plan.groups * 2]), DType::F32);
    grad_partials_kernel::launch::<R>(
        &x.client,
        CubeCount::Static(plan.groups as u32, channels as u32, 1),
        CubeDim::new_1d(plan.units),
        x.clone().into_tensor_arg(),
        dy.clone().into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        var.clone().into_tensor_arg(),
        gamma.clone().into_tensor_arg(),
        beta.clone().into_tensor_arg(),
        partials.clone().into_tensor_arg(),
        plan.chunk as u32,
        opts.eps as f32,
        plan.units,
        opts.act,
        x.dtype.into(),
    );
    let sums = empty(&x, Shape::new([channels * 2]), DType::F32);
    let dgamma = empty(&x, Shape::new([channels]), x.dtype);
    let dbeta = empty(&x, Shape::new([channels]), x.dtype);
    grad_finalize_kernel::launch::<R>(
        &x.client,
        CubeCount::Static(channels as u32, 1, 1),
        CubeDim::new_1d(plan.units),
        partials.into_tensor_arg(),
        sums.clone().into_tensor_arg(),
        dgamma.clone().into_tensor_arg(),
        dbeta.clone().into_tensor_arg(),
        plan.groups as u32,
        plan.units,
        x.dtype.into(),
    );
    let dx = empty(&x, x.meta.shape().clone(), x.dtype);
    let (count, dim) = elementwise(&x, dx.meta.num_elements());
    grad_input_kernel::launch::<R>(
        &x.client,
        count,
        dim,
        x.clone().into_tensor_arg(),
        dy.into_tensor_arg(),
        mean.into_tensor_arg(),
        var.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        sums.into_tensor_arg(),
        dx.clone().into_tensor_arg(),
        opts.eps as f32,
        opts.act,
        x.dtype.into(),
    );
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::ReducePlan;

    #[test]
    fn reduce_plans_cover_every_element_once() {
        for (elements, max_units) in [(1, 256), (32, 256), (8192, 256), (10_368, 256), (6_553_600, 1024), (1000, 100)] {
            let p = ReducePlan::new(elements, max_units);
            assert!(p.units.is_power_of_two() && p.units <= max_units.min(256));
            assert!(p.groups <= super::MAX_GROUPS);
            assert!(p.groups * p.chunk >= elements && (p.groups - 1) * p.chunk < elements, "{p:?} for {elements}");
        }
        assert_eq!(ReducePlan::new(10_368, 256).groups, 2, "a 2×72×72 channel takes two cubes");
    }
}
