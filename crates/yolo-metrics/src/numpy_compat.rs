//! NumPy-compatible float64 numerics (`linspace`, `interp`, pairwise `sum`, `trapezoid`, `convolve`-based
//! `smooth`, `argmax`, `round`) re-implemented so that metric values match NumPy bit for bit where possible.
//!
//! Every function here reproduces the *evaluation order* NumPy uses (as of NumPy 1.26 / 2.x), because
//! floating-point results depend on it. Places where exactness is not achievable are documented on the
//! function (BLAS-backed dot products in `np.convolve`).

/// `np.linspace(start, stop, num)` (endpoint=True) in float64.
///
/// NumPy computes `step = (stop - start) / (num - 1)`, then `y[i] = i * step + start`, and finally
/// overwrites the last element with `stop` exactly. This function does the same, so e.g.
/// `linspace(0.0, 1.0, 101)[3]` is `3.0 * 0.01` (= 0.03) and not `3.0 / 100.0`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let div = (num - 1) as f64;
            let step = (stop - start) / div;
            let mut y: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
            y[num - 1] = stop;
            y
        }
    }
}

/// Index `j` such that `xp[j] <= x < xp[j + 1]` for a non-decreasing `xp`, i.e. `upper_bound(x) - 1`
/// (`-1` when `x < xp[0]`, `len` when `x > xp[len-1]`). This is the index NumPy's
/// `binary_search_with_guess` returns for sorted input, whatever its guess.
fn interp_index(x: f64, xp: &[f64]) -> isize {
    let len = xp.len();
    if x > xp[len - 1] {
        return len as isize;
    }
    if x < xp[0] {
        return -1;
    }
    xp.partition_point(|&v| v <= x) as isize - 1
}

/// `np.interp(x, xp, fp, left, right)` in float64 with NumPy's exact arithmetic.
///
/// * `xp` must be non-decreasing (duplicates allowed, as in Ultralytics' recall arrays); the segment used
///   for `x` is the one starting at the *last* `xp[j] <= x`, exactly as NumPy does for sorted input.
/// * `left` / `right` default to `fp[0]` / `fp[len-1]`.
/// * For an interior point NumPy evaluates `slope * (x - xp[j]) + fp[j]` with
///   `slope = (fp[j+1] - fp[j]) / (xp[j+1] - xp[j])` (no FMA on x86-64 builds), returning `fp[j]`
///   directly when `x == xp[j]` and falling back to the right end-point form if the result is NaN.
///
/// # Panics
/// If `xp` is empty or `xp.len() != fp.len()` (NumPy raises `ValueError`).
pub fn interp(
    x: &[f64],
    xp: &[f64],
    fp: &[f64],
    left: Option<f64>,
    right: Option<f64>,
) -> Vec<f64> {
    assert!(!xp.is_empty(), "interp: xp must not be empty");
    assert_eq!(
        xp.len(),
        fp.len(),
        "interp: xp and fp must have the same length"
    );
    let n = xp.len();
    let lval = left.unwrap_or(fp[0]);
    let rval = right.unwrap_or(fp[n - 1]);
    x.iter()
        .map(|&xv| {
            if n == 1 {
                return if xv < xp[0] {
                    lval
                } else if xv > xp[0] {
                    rval
                } else {
                    fp[0]
                };
            }
            if xv.is_nan() {
                return xv;
            }
            let j = interp_index(xv, xp);
            if j == -1 {
                lval
            } else if j == n as isize {
                rval
            } else {
                let j = j as usize;
                if j == n - 1 || xp[j] == xv {
                    fp[j]
                } else {
                    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
                    let mut r = slope * (xv - xp[j]) + fp[j];
                    if r.is_nan() {
                        r = slope * (xv - xp[j + 1]) + fp[j + 1];
                        if r.is_nan() && fp[j] == fp[j + 1] {
                            r = fp[j];
                        }
                    }
                    r
                }
            }
        })
        .collect()
}

/// NumPy's `pairwise_sum` for float64 (the inner loop of `np.add.reduce` on a contiguous axis):
/// fewer than 8 elements are summed left to right from `0.0`; up to 128 elements use 8 interleaved
/// accumulators combined as `((r0+r1)+(r2+r3)) + ((r4+r5)+(r6+r7))` plus a sequential tail; longer inputs
/// are split recursively at a multiple of 8.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    const PW_BLOCKSIZE: usize = 128;
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &v in a {
            res += v;
        }
        res
    } else if n <= PW_BLOCKSIZE {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for k in 0..8 {
                r[k] += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.sum(a)` for a contiguous 1-D float64 array: `0.0 + pairwise_sum(chunk)` accumulated over chunks of
/// NumPy's default buffer size (8192 elements). For the sizes used in this crate (< 8192) this is a single
/// `pairwise_sum`.
pub fn sum(a: &[f64]) -> f64 {
    const BUFSIZE: usize = 8192;
    let mut acc = 0.0;
    for chunk in a.chunks(BUFSIZE) {
        acc += pairwise_sum(chunk);
    }
    acc
}

/// `np.mean(a)` for a 1-D float64 array: `sum(a) / len`. Returns NaN for an empty slice (NumPy warns and
/// returns NaN).
pub fn mean(a: &[f64]) -> f64 {
    sum(a) / a.len() as f64
}

/// `np.trapezoid(y, x)` (`np.trapz` in NumPy < 2): `sum(diff(x) * (y[1:] + y[:-1]) / 2.0)` with NumPy's
/// pairwise summation. Returns 0.0 for fewer than two points.
///
/// # Panics
/// If `x.len() != y.len()`.
pub fn trapezoid(y: &[f64], x: &[f64]) -> f64 {
    assert_eq!(
        x.len(),
        y.len(),
        "trapezoid: x and y must have the same length"
    );
    if y.len() < 2 {
        return 0.0;
    }
    let terms: Vec<f64> = (0..y.len() - 1)
        .map(|i| (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0)
        .collect();
    sum(&terms)
}

/// `np.argmax(a)`: index of the first maximum; a NaN counts as the maximum (first NaN wins).
/// Returns 0 for an empty slice (NumPy raises; callers here never pass one).
pub fn argmax(a: &[f64]) -> usize {
    let mut best = 0usize;
    for (i, &v) in a.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        if v > a[best] {
            best = i;
        }
    }
    best
}

/// NumPy / Python `round` to an integer value (round half to even), as `np.round(x)` / `ndarray.round()`.
pub fn round(x: f64) -> f64 {
    x.round_ties_even()
}

/// Ultralytics' `smooth(y, f)`: a box filter of width `nf = round(len(y) * f * 2) // 2 + 1` (always odd,
/// Python's banker's `round`), padding both ends with `nf // 2` copies of the edge values, followed by
/// `np.convolve(yp, np.ones(nf) / nf, mode="valid")`; the output has `len(y)` elements.
///
/// Exactness: `np.convolve` evaluates each output as a BLAS `ddot` of the window with the (constant)
/// kernel `1/nf`; OpenBLAS uses SIMD accumulators (and FMA on Haswell+), whose summation order cannot be
/// reproduced portably. This function sums the products left to right. Results may therefore differ from
/// NumPy in the last bits; identical windows (flat plateaus) still produce identical values, so the
/// `argmax` taken over the result by `ap_per_class` only differs on sub-ulp near-ties.
pub fn smooth(y: &[f64], f: f64) -> Vec<f64> {
    if y.is_empty() {
        return Vec::new();
    }
    let nf = (round(y.len() as f64 * f * 2.0) as i64).div_euclid(2) + 1;
    let nf = nf.max(1) as usize;
    let pad = nf / 2;
    let mut yp = Vec::with_capacity(y.len() + 2 * pad);
    yp.extend(std::iter::repeat_n(y[0], pad));
    yp.extend_from_slice(y);
    yp.extend(std::iter::repeat_n(y[y.len() - 1], pad));
    let k = 1.0 / nf as f64;
    (0..=yp.len() - nf)
        .map(|s| {
            let mut acc = 0.0;
            for &v in &yp[s..s + nf] {
                acc += v * k;
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_numpy_formula() {
        let x = linspace(0.0, 1.0, 101);
        assert_eq!(x.len(), 101);
        assert_eq!(x[0], 0.0);
        assert_eq!(x[100], 1.0);
        assert_eq!(x[3], 3.0 * 0.01);
        // np.linspace(0, 1, 101)[7] == 0.07 (repr) because 7 * 0.01 rounds to the double nearest 0.07.
        assert_eq!(x[7], 0.07);
        let g = linspace(0.0, 1.0, 1000);
        assert_eq!(g[1], 1.0 / 999.0);
        assert_eq!(g[999], 1.0);
    }

    #[test]
    fn interp_basic_and_edges() {
        let xp = [0.0, 1.0, 2.0];
        let fp = [0.0, 10.0, 0.0];
        let r = interp(
            &[-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
            &xp,
            &fp,
            Some(-5.0),
            None,
        );
        assert_eq!(r, vec![-5.0, 0.0, 5.0, 10.0, 5.0, 0.0, 0.0]);
        // NaN x propagates
        assert!(interp(&[f64::NAN], &xp, &fp, None, None)[0].is_nan());
        // single point
        assert_eq!(
            interp(&[0.0, 1.0, 2.0], &[1.0], &[7.0], Some(1.0), Some(2.0)),
            vec![1.0, 7.0, 2.0]
        );
    }

    #[test]
    fn interp_duplicates_use_last_equal_xp() {
        // xp with duplicates, as Ultralytics' mrec = [0, r..., 1] often has.
        let xp = [0.0, 0.5, 0.5, 1.0];
        let fp = [1.0, 0.8, 0.4, 0.0];
        let r = interp(&[0.5, 0.25, 0.75], &xp, &fp, None, None);
        // x == 0.5 -> j = 2 (last xp <= x) -> fp[2]
        assert_eq!(r[0], 0.4);
        assert_eq!(r[1], 0.9);
        assert_eq!(r[2], 0.2);
    }

    #[test]
    fn pairwise_sum_orders() {
        let v: Vec<f64> = (0..10).map(|i| i as f64 * 0.1).collect();
        let expected =
            ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])) + v[8] + v[9];
        assert_eq!(pairwise_sum(&v), expected);
        assert_eq!(pairwise_sum(&[1.0, 2.0, 3.0]), 6.0);
        assert_eq!(sum(&[]), 0.0);
        let big: Vec<f64> = (0..1000).map(|i| (i as f64).sqrt()).collect();
        let s = pairwise_sum(&big);
        let naive: f64 = big.iter().sum();
        assert!((s - naive).abs() < 1e-9);
    }

    #[test]
    fn trapezoid_simple() {
        assert_eq!(trapezoid(&[0.0, 1.0, 2.0], &[0.0, 1.0, 2.0]), 2.0);
        assert_eq!(trapezoid(&[1.0], &[0.0]), 0.0);
    }

    #[test]
    fn argmax_first_max_and_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[1.0, f64::NAN, 3.0, f64::NAN]), 1);
    }

    #[test]
    fn round_is_banker() {
        assert_eq!(round(0.5), 0.0);
        assert_eq!(round(1.5), 2.0);
        assert_eq!(round(2.5), 2.0);
        assert_eq!(round(-0.5), -0.0);
    }

    #[test]
    fn smooth_window_and_padding() {
        // len 1000, f 0.1 -> nf = 101
        let y: Vec<f64> = (0..1000)
            .map(|i| if i == 500 { 101.0 } else { 0.0 })
            .collect();
        let s = smooth(&y, 0.1);
        assert_eq!(s.len(), 1000);
        assert_eq!(s[449], 0.0);
        assert!((s[450] - 1.0).abs() < 1e-12);
        assert!((s[550] - 1.0).abs() < 1e-12);
        assert_eq!(s[551], 0.0);
        // edge padding: constant input stays constant
        let c = smooth(&[2.0; 20], 0.1);
        assert_eq!(c.len(), 20);
        for v in c {
            assert!((v - 2.0).abs() < 1e-15);
        }
        // len 10, f 0.1 -> nf = round(2.0) // 2 + 1 = 2 (even, despite Ultralytics' "must be odd" comment):
        // 1 pad element per side, so 'valid' convolution yields len + 1 outputs, exactly as NumPy does.
        assert_eq!(smooth(&[1.0; 10], 0.1).len(), 11);
    }
}
