//! Whether memory creeps up over a run: a robust (Theil–Sen) slope of a per-epoch series,
//! relative to its mean.

/// Theil–Sen slope of `values` against their index, per step (values' unit per epoch): the
/// median of the slopes between every pair of points. One-off jumps (an allocator arena touched
/// for the first time, a step of the process's working set) move it little; a steady creep moves
/// it fully. 0 with fewer than two values.
pub fn slope(values: &[f64]) -> f64 {
    let mut slopes: Vec<f64> = Vec::with_capacity(values.len() * values.len().saturating_sub(1) / 2);
    for (i, a) in values.iter().enumerate() {
        for (j, b) in values.iter().enumerate().skip(i + 1) {
            slopes.push((b - a) / (j - i) as f64);
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    slopes.sort_unstable_by(f64::total_cmp);
    let mid = slopes.len() / 2;
    if slopes.len() % 2 == 1 { slopes[mid] } else { 0.5 * (slopes[mid - 1] + slopes[mid]) }
}

/// Growth over `per` epochs as a fraction of the mean, from the [`slope`] of the series after
/// skipping its first `skip` values (warm-up: caches, autotuning, first allocations).
/// `0.01` = 1 % per `per` epochs. `None` with fewer than 3 values left or a zero mean.
pub fn relative_growth(values: &[f64], skip: usize, per: f64) -> Option<f64> {
    let tail = values.get(skip..)?;
    let mean = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    (tail.len() >= 3 && mean != 0.0).then(|| slope(tail) * per / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_series_has_no_growth_and_a_leak_shows() {
        let flat: Vec<f64> = (0..50).map(|i| 1.0 + if i % 2 == 0 { 0.001 } else { -0.001 }).collect();
        assert!(relative_growth(&flat, 3, 10.0).unwrap().abs() < 0.001);
        // 1 MiB per epoch on 1 GiB: ≈ 1 % per 10 epochs (the tail 3..50 has mean 1024 + 26).
        let leak: Vec<f64> = (0..50).map(|i| 1024.0 + i as f64).collect();
        let g = relative_growth(&leak, 3, 10.0).unwrap();
        assert!((g - 10.0 / (1024.0 + 26.0)).abs() < 1e-9, "{g}");
        assert_eq!(slope(&[1.0, 3.0, 5.0]), 2.0);
        assert_eq!(relative_growth(&[1.0, 2.0, 3.0], 3, 10.0), None);
    }

    #[test]
    fn outliers_barely_move_the_slope_but_a_creep_under_noise_shows() {
        // Flat with three spikes of +5 %.
        let spiky: Vec<f64> = (0..47).map(|i| if i % 16 == 5 { 1.05 } else { 1.0 }).collect();
        assert!(slope(&spiky).abs() < 1e-12);
        // +0.2 % per epoch under ±1 % alternating noise.
        let creep: Vec<f64> = (0..47).map(|i| 1.0 + 0.002 * i as f64 + if i % 2 == 0 { 0.01 } else { -0.01 }).collect();
        assert!((slope(&creep) - 0.002).abs() < 5e-4, "{}", slope(&creep));
    }
}
