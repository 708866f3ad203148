//! Ultralytics `MixUp` (Beta(32, 32) blend of two samples) and `CutMix` (rectangle paste).

use rand::Rng;
use rand_distr::{Beta, Distribution};

use crate::copy_paste::ioa;
use crate::instances;
use crate::sample::Sample;

/// MixUp's Beta parameters α = β.
pub const MIXUP_BETA: f64 = 32.0;
/// CutMix's Beta parameters α = β (uniform λ).
pub const CUTMIX_BETA: f64 = 1.0;
/// Candidate cut areas CutMix tries.
pub const CUTMIX_AREAS: usize = 3;

/// One draw from Beta(a, a) (rand_distr's exact sampler).
fn beta<R: Rng + ?Sized>(rng: &mut R, a: f64) -> f64 {
    Beta::new(a, a)
        .expect("Beta parameters are positive constants")
        .sample(rng)
}

/// The MixUp ratio `r ~ Beta(32, 32)` (≈ 0.5). One draw.
pub fn draw_ratio<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    beta(rng, MIXUP_BETA)
}

/// Ultralytics MixUp: image `(a·r + b·(1 − r)).astype(uint8)` (f64 maths, truncated), objects
/// of `b` appended to those of `a`. Both images must have the same size.
pub fn mixup(a: &mut Sample, b: Sample, r: f64) {
    blend(&mut a.image.data, &b.image.data, r);
    let own = std::mem::take(&mut a.instances);
    a.instances = instances::concat(vec![own, b.instances]);
}

/// `a = trunc(a·r + b·(1 − r))` per byte, f64 like numpy.
pub fn blend(a: &mut [u8], b: &[u8], r: f64) {
    let q = 1.0 - r;
    let ta: [f64; 256] = std::array::from_fn(|v| v as f64 * r);
    let tb: [f64; 256] = std::array::from_fn(|v| v as f64 * q);
    for (x, &y) in a.iter_mut().zip(b) {
        *x = (ta[usize::from(*x)] + tb[usize::from(y)]) as u8;
    }
}

/// A CutMix area `[x1, y1, x2, y2]` px in a `w × h` image: `λ ~ Beta(1, 1)`, side fraction
/// `√(1 − λ)`, centre uniform over the pixels; clipped to the image. Three draws (λ, cx, cy).
pub fn draw_cut_area<R: Rng + ?Sized>(rng: &mut R, w: u32, h: u32) -> [i64; 4] {
    let lam = beta(rng, CUTMIX_BETA);
    let ratio = (1.0 - lam).sqrt();
    let (cut_w, cut_h) = ((f64::from(w) * ratio) as i64, (f64::from(h) * ratio) as i64);
    let cx = rng.random_range(0..i64::from(w.max(1)));
    let cy = rng.random_range(0..i64::from(h.max(1)));
    let (w, h) = (i64::from(w), i64::from(h));
    [
        (cx - cut_w / 2).clamp(0, w),
        (cy - cut_h / 2).clamp(0, h),
        (cx + cut_w / 2).clamp(0, w),
        (cy + cut_h / 2).clamp(0, h),
    ]
}

/// Ultralytics CutMix on two same-size samples: draws [`CUTMIX_AREAS`] areas, picks one
/// (uniformly) that overlaps no box of `sample`, copies that rectangle of `donor`'s image and
/// appends the donor objects covering at least 10 % of their box inside it (1 % when `sample`
/// has polygons), clipped to the area. Nothing happens when every area overlaps a box or no
/// donor object qualifies.
pub fn cutmix<R: Rng + ?Sized>(sample: &mut Sample, donor: Sample, rng: &mut R) {
    let (w, h) = (sample.image.width, sample.image.height);
    let areas: Vec<[i64; 4]> = (0..CUTMIX_AREAS)
        .map(|_| draw_cut_area(rng, w, h))
        .collect();
    let free: Vec<[i64; 4]> = areas
        .into_iter()
        .filter(|a| {
            let af = a.map(|v| v as f32);
            sample
                .instances
                .boxes
                .iter()
                .map(|b| ioa(&af, b))
                .sum::<f32>()
                <= 0.0
        })
        .collect();
    if free.is_empty() {
        return;
    }
    let area = free[rng.random_range(0..free.len())];
    let af = area.map(|v| v as f32);
    let thr = if sample.instances.segments.is_empty() {
        0.1
    } else {
        0.01
    };
    let keep: Vec<bool> = donor
        .instances
        .boxes
        .iter()
        .map(|b| ioa(&af, b) >= thr)
        .collect();
    if !keep.contains(&true) {
        return;
    }
    let mut pasted = donor.instances;
    instances::retain(&mut pasted, &keep);
    clamp_to(&mut pasted, &af);
    copy_rect(sample, &donor.image.data, area);
    let own = std::mem::take(&mut sample.instances);
    sample.instances = instances::concat(vec![own, pasted]);
}

/// Clamps boxes and polygon points into `area` (`add_padding`, `clip`, `add_padding`).
fn clamp_to(inst: &mut crate::sample::Instances, a: &[f32; 4]) {
    instances::shift(inst, -a[0], -a[1]);
    instances::clip(inst, a[2] - a[0], a[3] - a[1]);
    instances::shift(inst, a[0], a[1]);
}

/// Copies the `[x1, y1, x2, y2]` rectangle of `donor` (same size) into `sample`'s image.
fn copy_rect(sample: &mut Sample, donor: &[u8], [x1, y1, x2, y2]: [i64; 4]) {
    let stride = sample.image.width as usize * 3;
    let (x1, x2) = (x1 as usize * 3, x2 as usize * 3);
    for y in y1 as usize..y2 as usize {
        let (a, b) = (y * stride + x1, y * stride + x2);
        sample.image.data[a..b].copy_from_slice(&donor[a..b]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;
    use crate::sample::Instances;
    use rand::SeedableRng;

    #[test]
    fn blend_truncates() {
        // 1·0.5 + 2·0.5 = 1.5 -> 1; 255·0.5 + 0 = 127.5 -> 127.
        let mut a = [1u8, 255];
        blend(&mut a, &[2, 0], 0.5);
        assert_eq!(a, [1, 127]);
        // numpy: 21·0.3 + 121·(1 − 0.3) = 90.99999999999999 -> 90 (and 35, 165 -> 125).
        let mut c = [21u8, 35];
        blend(&mut c, &[121, 165], 0.3);
        assert_eq!(c, [90, 125]);
    }

    #[test]
    fn ratio_is_near_one_half() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let rs: Vec<f64> = (0..4000).map(|_| draw_ratio(&mut rng)).collect();
        let mean = rs.iter().sum::<f64>() / rs.len() as f64;
        let var = rs.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rs.len() as f64;
        // Beta(32, 32): mean 0.5, variance 1/260.
        assert!(
            (mean - 0.5).abs() < 0.005 && (var - 1.0 / 260.0).abs() < 0.0005,
            "{mean} {var}"
        );
    }

    #[test]
    fn mixup_concatenates_objects() {
        let one = |v: u8, c: u32| Sample {
            image: Image::filled(2, 2, v),
            instances: Instances {
                cls: vec![c],
                boxes: vec![[0.0, 0.0, 1.0, 1.0]],
                segments: vec![],
            },
        };
        let mut a = one(100, 1);
        mixup(&mut a, one(50, 2), 0.5);
        assert_eq!(a.image.data, vec![75; 12]);
        assert_eq!(a.instances.cls, vec![1, 2]);
    }

    #[test]
    fn cutmix_pastes_only_into_free_space() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..50 {
            let mut s = Sample {
                image: Image::filled(64, 64, 0),
                instances: Instances {
                    cls: vec![0],
                    boxes: vec![[0.0, 0.0, 8.0, 8.0]],
                    segments: vec![],
                },
            };
            let donor = Sample {
                image: Image::filled(64, 64, 200),
                instances: Instances {
                    cls: vec![1],
                    boxes: vec![[0.0, 0.0, 64.0, 64.0]],
                    segments: vec![],
                },
            };
            cutmix(&mut s, donor, &mut rng);
            // The original box's pixels are never overwritten.
            assert_eq!(s.image.data[(4 * 64 + 4) * 3], 0);
            for b in &s.instances.boxes[1..] {
                let n = ((b[2] - b[0]) * (b[3] - b[1])) as usize;
                let painted = s.image.data.chunks_exact(3).filter(|p| p[0] == 200).count();
                assert_eq!(n, painted, "{b:?}");
            }
        }
    }
}
