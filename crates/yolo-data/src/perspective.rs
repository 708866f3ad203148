//! Ultralytics `RandomPerspective`: `M = T·S·R·P·C`, warp, box / polygon transform, filter.

use rand::Rng;

use crate::augment::AugmentConfig;
use crate::instances;
use crate::sample::{Instances, Sample};
use crate::segments::segment_to_box;
use crate::warp::{Matrix, warp_affine, warp_perspective};

/// `box_candidates` defaults: min side 2 px, max aspect ratio 100.
pub const WH_THR: f32 = 2.0;
/// See [`WH_THR`].
pub const AR_THR: f32 = 100.0;
/// Minimum `new_area / (old_area·σ²)` for box-only samples.
pub const AREA_THR_BOXES: f32 = 0.10;
/// Minimum area ratio when the sample has polygons (their boxes are tighter).
pub const AREA_THR_SEGMENTS: f32 = 0.01;

/// One draw of `RandomPerspective`'s random parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AffineDraw {
    /// Perspective terms `P[2, 0]`, `P[2, 1]`, 1/px.
    pub perspective: [f64; 2],
    /// Rotation, degrees (`cv2.getRotationMatrix2D` sign: positive turns counter-clockwise
    /// on screen).
    pub degrees: f64,
    /// Scale factor σ (output px per input px).
    pub scale: f64,
    /// Shear of x and of y, degrees.
    pub shear: [f64; 2],
    /// Where the input centre lands, as fractions of the output width and height.
    pub translate: [f64; 2],
}

impl AffineDraw {
    /// Eight draws in Ultralytics' order: perspective x, y ~ U(±perspective); angle
    /// ~ U(±degrees); σ ~ U(1 ± scale); shear x, y ~ U(±shear); translation x, y
    /// ~ U(0.5 ± translate). Zero ranges still consume their draw.
    pub fn draw<R: Rng + ?Sized>(rng: &mut R, cfg: &AugmentConfig) -> AffineDraw {
        let mut u = |lo: f64, hi: f64| lo + (hi - lo) * rng.random::<f64>();
        let perspective = [
            u(-cfg.perspective, cfg.perspective),
            u(-cfg.perspective, cfg.perspective),
        ];
        let degrees = u(-cfg.degrees, cfg.degrees);
        let scale = u(1.0 - cfg.scale, 1.0 + cfg.scale);
        let shear = [u(-cfg.shear, cfg.shear), u(-cfg.shear, cfg.shear)];
        let t = cfg.translate;
        let translate = [u(0.5 - t, 0.5 + t), u(0.5 - t, 0.5 + t)];
        AffineDraw {
            perspective,
            degrees,
            scale,
            shear,
            translate,
        }
    }

    /// `M = T·S·R·P·C` for an input of `(w, h)` px and an output of `out` `(w, h)` px: C moves
    /// the input centre to the origin, R rotates and scales about it
    /// (`cv2.getRotationMatrix2D(center=(0, 0))`), T moves it to `translate · out`.
    pub fn matrix(&self, (w, h): (u32, u32), out: (u32, u32)) -> Matrix {
        let c = [
            [1.0, 0.0, -(w as f32) / 2.0],
            [0.0, 1.0, -(h as f32) / 2.0],
            [0.0, 0.0, 1.0],
        ];
        let p = [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [self.perspective[0] as f32, self.perspective[1] as f32, 1.0],
        ];
        let a = self.degrees.to_radians();
        let (alpha, beta) = ((a.cos() * self.scale) as f32, (a.sin() * self.scale) as f32);
        let r = [[alpha, beta, 0.0], [-beta, alpha, 0.0], [0.0, 0.0, 1.0]];
        let shear = |d: f64| d.to_radians().tan() as f32;
        let s = [
            [1.0, shear(self.shear[0]), 0.0],
            [shear(self.shear[1]), 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ];
        let tx = (self.translate[0] * f64::from(out.0)) as f32;
        let ty = (self.translate[1] * f64::from(out.1)) as f32;
        let t = [[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]];
        matmul(&matmul(&matmul(&matmul(&t, &s), &r), &p), &c)
    }
}

fn matmul(a: &Matrix, b: &Matrix) -> Matrix {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// Whether `m` has no perspective row (bottom row `[0, 0, 1]`).
pub(crate) fn is_affine(m: &Matrix) -> bool {
    m[2] == [0.0, 0.0, 1.0]
}

/// Maps a point through `m` (dividing by the homogeneous coordinate), px.
pub fn apply(m: &Matrix, [x, y]: [f32; 2]) -> [f32; 2] {
    let z = m[2][0] * x + m[2][1] * y + m[2][2];
    [
        (m[0][0] * x + m[0][1] * y + m[0][2]) / z,
        (m[1][0] * x + m[1][1] * y + m[1][2]) / z,
    ]
}

/// Ultralytics `box_candidates`: keep an object if its new box is wider and taller than
/// `wh_thr` px, keeps more than `area_thr` of its old area (`before` already scaled by σ) and
/// has an aspect ratio below `ar_thr`. Boxes are xyxy px; f32 maths with eps 1e-16.
pub fn box_candidate(
    before: &[f32; 4],
    after: &[f32; 4],
    wh_thr: f32,
    ar_thr: f32,
    area_thr: f32,
) -> bool {
    let eps = 1e-16f32;
    let (w1, h1) = (before[2] - before[0], before[3] - before[1]);
    let (w2, h2) = (after[2] - after[0], after[3] - after[1]);
    let ar = (w2 / (h2 + eps)).max(h2 / (w2 + eps));
    w2 > wh_thr && h2 > wh_thr && w2 * h2 / (w1 * h1 + eps) > area_thr && ar < ar_thr
}

/// Warps `sample` by `m` into an `out` `(w, h)` px image (border 114) and transforms its
/// objects: boxes by their 4 corners, or — when it has polygons — by the polygons' extent
/// inside the output (tighter), polygons clipped to their box; everything clipped to the
/// output, then filtered by [`box_candidate`] against the old boxes scaled by `scale` (σ).
/// An identity `m` with `out` equal to the input size leaves the image untouched
/// (Ultralytics skips the warp then).
pub fn random_perspective(sample: &Sample, m: &Matrix, out: (u32, u32), scale: f64) -> Sample {
    let src = &sample.image;
    let identity = *m == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let image = if identity && out == (src.width, src.height) {
        src.clone()
    } else if is_affine(m) {
        warp_affine(src, m, out)
    } else {
        warp_perspective(src, m, out)
    };
    Sample {
        image,
        instances: perspective_instances(&sample.instances, m, out, scale),
    }
}

/// The objects half of [`random_perspective`]: `objects` mapped by `m` into the `out` px
/// image, clipped, and filtered by Ultralytics' `box_candidates` against their boxes scaled
/// by `scale`.
pub fn perspective_instances(
    objects: &Instances,
    m: &Matrix,
    out: (u32, u32),
    scale: f64,
) -> Instances {
    let (w, h) = (out.0 as f32, out.1 as f32);
    let mut inst = transform_instances(objects, m, w, h);
    instances::clip(&mut inst, w, h);
    let has_segments = !inst.segments.is_empty();
    let area_thr = if has_segments {
        AREA_THR_SEGMENTS
    } else {
        AREA_THR_BOXES
    };
    let s = scale as f32;
    let keep: Vec<bool> = objects
        .boxes
        .iter()
        .zip(&inst.boxes)
        .map(|(b, n)| box_candidate(&b.map(|v| v * s), n, WH_THR, AR_THR, area_thr))
        .collect();
    instances::retain(&mut inst, &keep);
    inst
}

/// New boxes and polygons under `m` (`apply_bboxes` / `apply_segments`), not yet clipped.
fn transform_instances(inst: &Instances, m: &Matrix, w: f32, h: f32) -> Instances {
    if inst.segments.is_empty() {
        let boxes = inst.boxes.iter().map(|b| corners_box(m, b)).collect();
        return Instances {
            cls: inst.cls.clone(),
            boxes,
            segments: Vec::new(),
        };
    }
    let mut out = Instances {
        cls: inst.cls.clone(),
        boxes: Vec::with_capacity(inst.len()),
        segments: Vec::with_capacity(inst.len()),
    };
    for seg in &inst.segments {
        let mut pts: Vec<[f32; 2]> = seg.iter().map(|&p| apply(m, p)).collect();
        let b = segment_to_box(&pts, w, h);
        for p in &mut pts {
            *p = [p[0].clamp(b[0], b[2]), p[1].clamp(b[1], b[3])];
        }
        out.boxes.push(b);
        out.segments.push(pts);
    }
    out
}

/// The xyxy box around the 4 transformed corners of `b`.
fn corners_box(m: &Matrix, b: &[f32; 4]) -> [f32; 4] {
    let pts = [[b[0], b[1]], [b[2], b[3]], [b[0], b[3]], [b[2], b[1]]].map(|p| apply(m, p));
    pts.iter().fold(
        [
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ],
        |a, p| {
            [
                a[0].min(p[0]),
                a[1].min(p[1]),
                a[2].max(p[0]),
                a[3].max(p[1]),
            ]
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(degrees: f64, scale: f64, translate: [f64; 2]) -> AffineDraw {
        AffineDraw {
            perspective: [0.0; 2],
            degrees,
            scale,
            shear: [0.0; 2],
            translate,
        }
    }

    #[test]
    fn matrix_matches_cv2_formulas() {
        // 90° at σ = 2 on a 1280² canvas into 640²: R = [[0, 2], [-2, 0]] (cos 90° ≈ 6e-17),
        // C = −640, T = (0.5·640, 0.4·640) = (320, 256).
        let m = draw(90.0, 2.0, [0.5, 0.4]).matrix((1280, 1280), (640, 640));
        let want = [
            [0.0, 2.0, 320.0 - 1280.0],
            [-2.0, 0.0, 256.0 + 1280.0],
            [0.0, 0.0, 1.0],
        ];
        for (r, wr) in m.iter().zip(&want) {
            for (v, w) in r.iter().zip(wr) {
                assert!((v - w).abs() < 1e-3, "{m:?}");
            }
        }
        // Input centre lands on T.
        assert_eq!(apply(&m, [640.0, 640.0]), [320.0, 256.0]);
        // Shear 45° in x: x' = x + y (about the centre).
        let mut d = draw(0.0, 1.0, [0.5, 0.5]);
        d.shear = [45.0, 0.0];
        let m = d.matrix((100, 100), (100, 100));
        let p = apply(&m, [50.0, 60.0]);
        assert!(
            (p[0] - 60.0).abs() < 1e-4 && (p[1] - 60.0).abs() < 1e-4,
            "{p:?}"
        );
    }

    #[test]
    fn matrix_matches_numpy_and_cv2() {
        // Ultralytics' numpy/cv2 code (opencv-python 4.10, float32) for these draws on a
        // 1280² mosaic into 640² gives this M.
        let d = AffineDraw {
            perspective: [0.0002, -0.0001],
            degrees: 7.3,
            scale: 0.83,
            shear: [2.1, -1.4],
            translate: [0.43, 0.57],
        };
        let want = [
            [0.874_445_26, 0.108_131_65, -353.649_23],
            [-0.052_623_965, 0.784_214_9, -103.418_21],
            [0.000_2, -0.000_1, 0.936],
        ];
        let m = d.matrix((1280, 1280), (640, 640));
        for (r, wr) in m.iter().zip(&want) {
            for (v, w) in r.iter().zip(wr) {
                assert!((v - w).abs() <= 1e-6 * w.abs().max(1.0), "{m:?}");
            }
        }
    }

    #[test]
    fn box_candidate_thresholds() {
        let old = [0.0, 0.0, 10.0, 10.0];
        assert!(box_candidate(&old, &[0.0, 0.0, 2.5, 5.0], 2.0, 100.0, 0.1));
        assert!(!box_candidate(&old, &[0.0, 0.0, 2.0, 5.0], 2.0, 100.0, 0.1)); // w = 2 is not > 2
        assert!(!box_candidate(&old, &[0.0, 0.0, 3.0, 3.0], 2.0, 100.0, 0.1)); // area 0.09
        assert!(box_candidate(&old, &[0.0, 0.0, 3.0, 3.0], 2.0, 100.0, 0.01));
        let long = [0.0, 0.0, 1000.0, 10.0];
        assert!(!box_candidate(&long, &long, 2.0, 100.0, 0.1)); // aspect 100
        assert!(box_candidate(
            &long,
            &[0.0, 0.0, 999.0, 10.0],
            2.0,
            100.0,
            0.1
        ));
    }
}
