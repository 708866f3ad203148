//! Box format conversion and IoU in float32, with the exact operation order of Ultralytics' `xywh2xyxy` and
//! `box_iou` (`ultralytics/utils/ops.py`, `ultralytics/utils/metrics.py`).

/// Ultralytics' `box_iou` epsilon added to the union (as float32, like a Python scalar added to a float32
/// tensor).
pub const IOU_EPS: f32 = 1e-7;

/// torch `minimum` semantics: NaN if either operand is NaN.
#[inline]
pub(crate) fn t_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b < a {
        b
    } else {
        a
    }
}

/// torch `maximum` semantics: NaN if either operand is NaN.
#[inline]
pub(crate) fn t_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if a < b {
        b
    } else {
        a
    }
}

/// torch `clamp(min=0)` semantics: NaN stays NaN.
#[inline]
pub(crate) fn t_clamp0(v: f32) -> f32 {
    if v < 0.0 { 0.0 } else { v }
}

/// Centre format `[cx, cy, w, h]` → corner format `[x1, y1, x2, y2]` (same units, usually pixels).
///
/// Computed as Ultralytics does: `half = wh / 2; xy1 = cxy - half; xy2 = cxy + half` in float32.
#[inline]
pub fn xywh_to_xyxy(b: [f32; 4]) -> [f32; 4] {
    let hw = b[2] / 2.0;
    let hh = b[3] / 2.0;
    [b[0] - hw, b[1] - hh, b[0] + hw, b[1] + hh]
}

/// Corner format `[x1, y1, x2, y2]` → centre format `[cx, cy, w, h]` (Ultralytics `xyxy2xywh`:
/// `c = (x1 + x2) / 2`, `w = x2 - x1`).
#[inline]
pub fn xyxy_to_xywh(b: [f32; 4]) -> [f32; 4] {
    [
        (b[0] + b[2]) / 2.0,
        (b[1] + b[3]) / 2.0,
        b[2] - b[0],
        b[3] - b[1],
    ]
}

/// IoU of one pair of `xyxy` boxes, exactly as one element of [`box_iou`]:
/// `inter / (area_a + area_b - inter + 1e-7)` in float32, intersection sides clamped at 0.
/// Degenerate (zero-area) boxes give 0, never NaN, thanks to the epsilon.
#[inline]
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = t_clamp0(t_min(a[2], b[2]) - t_max(a[0], b[0]));
    let h = t_clamp0(t_min(a[3], b[3]) - t_max(a[1], b[1]));
    let inter = w * h;
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    inter / (area_a + area_b - inter + IOU_EPS)
}

/// Pairwise IoU matrix of `xyxy` boxes, as Ultralytics `box_iou(box1, box2, eps=1e-7)`.
///
/// * `a`: `[N][4]` boxes (validation passes the ground truth here), `b`: `[M][4]` boxes (predictions).
/// * Returns `[N][M]`: `out[i][j] = iou(&a[i], &b[j])`, float32, same evaluation order as the torch code, so
///   the values are bit-identical to torch's float32 CPU/GPU results (torch runs these as separate
///   element-wise kernels, no FMA contraction is possible).
pub fn box_iou(a: &[[f32; 4]], b: &[[f32; 4]]) -> Vec<Vec<f32>> {
    a.iter()
        .map(|ai| b.iter().map(|bj| iou(ai, bj)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xywh_roundtrip() {
        let b = [50.0, 40.0, 20.0, 10.0];
        let x = xywh_to_xyxy(b);
        assert_eq!(x, [40.0, 35.0, 60.0, 45.0]);
        assert_eq!(xyxy_to_xywh(x), b);
    }

    #[test]
    fn iou_hand_computed() {
        let a = [0.0, 0.0, 10.0, 10.0];
        let b = [5.0, 5.0, 15.0, 15.0];
        // inter 25, union 175
        let v = iou(&a, &b);
        assert_eq!(v, 25.0f32 / (100.0f32 + 100.0 - 25.0 + 1e-7));
        assert!((v - 25.0 / 175.0).abs() < 1e-6);
        assert_eq!(iou(&a, &a), 100.0f32 / (100.0f32 + 100.0 - 100.0 + 1e-7));
        // disjoint
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0]), 0.0);
        // touching edges: zero intersection
        assert_eq!(iou(&a, &[10.0, 0.0, 20.0, 10.0]), 0.0);
        // degenerate boxes: eps keeps it finite
        let p = [1.0, 1.0, 1.0, 1.0];
        assert_eq!(iou(&p, &p), 0.0);
    }

    #[test]
    fn box_iou_shape_and_symmetry() {
        let a = [[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0]];
        let b = [
            [0.0, 0.0, 10.0, 10.0],
            [100.0, 100.0, 110.0, 110.0],
            [5.0, 0.0, 15.0, 10.0],
        ];
        let m = box_iou(&a, &b);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].len(), 3);
        let mt = box_iou(&b, &a);
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(m[i][j], mt[j][i]);
            }
        }
        assert!((m[0][2] - 50.0 / 150.0).abs() < 1e-6);
        assert!(box_iou(&[], &b).is_empty());
        assert!(box_iou(&a, &[]).iter().all(|r| r.is_empty()));
    }

    #[test]
    fn nan_propagates_like_torch() {
        let a = [f32::NAN, 0.0, 10.0, 10.0];
        assert!(iou(&a, &[0.0, 0.0, 10.0, 10.0]).is_nan());
    }
}
