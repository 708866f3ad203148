//! Complete IoU (Ultralytics `bbox_iou(xywh=False, CIoU=True)`, eps 1e-7): host f32 version and tensor version.

use burn::tensor::{Tensor, backend::Backend};

/// `bbox_iou`'s epsilon.
pub const CIOU_EPS: f32 = 1e-7;

/// `4 / π²` as Ultralytics computes it (in f64, then applied to f32 tensors).
const FOUR_OVER_PI2: f64 = 4.0 / (std::f64::consts::PI * std::f64::consts::PI);

/// CIoU of two `xyxy` boxes (any consistent unit: the assigner uses pixels), in f32 with the
/// same operation order as Ultralytics:
///
/// `w = x2 − x1`, `h = y2 − y1 + eps`; `IoU = inter / (w1h1 + w2h2 − inter + eps)`;
/// `c² = cw² + ch² + eps` (enclosing box); `ρ² = ((Σx₂ − Σx₁)² + (Σy₂ − Σy₁)²) / 4`;
/// `v = 4/π² (atan(w2/h2) − atan(w1/h1))²`; `α = v / (v − IoU + 1 + eps)`;
/// `CIoU = IoU − (ρ²/c² + α·v)`. Not clamped (the assigner clamps at 0 itself).
pub fn ciou(box1: [f32; 4], box2: [f32; 4]) -> f32 {
    let [b1x1, b1y1, b1x2, b1y2] = box1;
    let [b2x1, b2y1, b2x2, b2y2] = box2;
    let eps = CIOU_EPS;
    let (w1, h1) = (b1x2 - b1x1, b1y2 - b1y1 + eps);
    let (w2, h2) = (b2x2 - b2x1, b2y2 - b2y1 + eps);
    let inter = (b1x2.min(b2x2) - b1x1.max(b2x1)).max(0.0) * (b1y2.min(b2y2) - b1y1.max(b2y1)).max(0.0);
    let union = w1 * h1 + w2 * h2 - inter + eps;
    let iou = inter / union;
    let cw = b1x2.max(b2x2) - b1x1.min(b2x1);
    let ch = b1y2.max(b2y2) - b1y1.min(b2y1);
    let c2 = cw * cw + ch * ch + eps;
    let dx = b2x1 + b2x2 - b1x1 - b1x2;
    let dy = b2y1 + b2y2 - b1y1 - b1y2;
    let rho2 = (dx * dx + dy * dy) / 4.0;
    let da = (w2 / h2).atan() - (w1 / h1).atan();
    let v = FOUR_OVER_PI2 as f32 * (da * da);
    let alpha = v / (v - iou + (1.0 + f64::from(eps)) as f32);
    iou - (rho2 / c2 + v * alpha)
}

/// CIoU between row-aligned boxes, differentiable w.r.t. both inputs (in practice `box1` = the
/// predicted boxes, `box2` = the constant targets, as in Ultralytics' `BboxLoss`).
///
/// * `box1`, `box2`: `[N, 4]` `xyxy`, same unit (the loss uses **grid units** of each anchor's level).
/// * returns `[N]`.
///
/// `α` is computed from detached values (Ultralytics wraps it in `torch.no_grad()`), so the
/// gradient flows through `IoU`, `ρ²/c²` and `v` only.
pub fn ciou_tensor<B: Backend>(box1: Tensor<B, 2>, box2: Tensor<B, 2>) -> Tensor<B, 1> {
    let [n, _] = box1.dims();
    let col = |t: &Tensor<B, 2>, i: usize| t.clone().slice([0..n, i..i + 1]);
    let (b1x1, b1y1, b1x2, b1y2) = (col(&box1, 0), col(&box1, 1), col(&box1, 2), col(&box1, 3));
    let (b2x1, b2y1, b2x2, b2y2) = (col(&box2, 0), col(&box2, 1), col(&box2, 2), col(&box2, 3));
    let eps = CIOU_EPS;

    let w1 = b1x2.clone() - b1x1.clone();
    let h1 = (b1y2.clone() - b1y1.clone()).add_scalar(eps);
    let w2 = b2x2.clone() - b2x1.clone();
    let h2 = (b2y2.clone() - b2y1.clone()).add_scalar(eps);

    let iw = (b1x2.clone().min_pair(b2x2.clone()) - b1x1.clone().max_pair(b2x1.clone())).clamp_min(0.0);
    let ih = (b1y2.clone().min_pair(b2y2.clone()) - b1y1.clone().max_pair(b2y1.clone())).clamp_min(0.0);
    let inter = iw * ih;
    let union = (w1.clone() * h1.clone() + w2.clone() * h2.clone() - inter.clone()).add_scalar(eps);
    let iou = inter / union;

    let cw = b1x2.clone().max_pair(b2x2.clone()) - b1x1.clone().min_pair(b2x1.clone());
    let ch = b1y2.clone().max_pair(b2y2.clone()) - b1y1.clone().min_pair(b2y1.clone());
    let c2 = (cw.square() + ch.square()).add_scalar(eps);
    let dx = b2x1 + b2x2 - b1x1 - b1x2;
    let dy = b2y1 + b2y2 - b1y1 - b1y2;
    let rho2 = (dx.square() + dy.square()).div_scalar(4.0);

    let v = ((w2 / h2).atan() - (w1 / h1).atan())
        .square()
        .mul_scalar(FOUR_OVER_PI2 as f32);
    let alpha = {
        let v = v.clone().detach();
        v.clone() / (v - iou.clone().detach()).add_scalar((1.0 + f64::from(eps)) as f32)
    };
    let out = iou - (rho2 / c2 + v * alpha);
    out.reshape([n])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed values (exact geometry; the eps terms move them by < 1e-6).
    #[test]
    fn host_ciou_hand_values() {
        // Identical boxes: IoU 1, no centre distance, no aspect term.
        let b = [10.0, 20.0, 50.0, 40.0];
        assert!((ciou(b, b) - 1.0).abs() < 1e-6);

        // Same aspect, shifted by (1, 1): inter 1, union 7, enclosing 3×3 (c² = 18),
        // centre distance² = 2 → 1/7 − 2/18 = 2/63.
        let c = ciou([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]);
        assert!((c - 2.0 / 63.0).abs() < 1e-6, "{c}");

        // 4×2 vs 2×2 sharing the top-left corner: IoU 1/2, c² = 4² + 2² = 20, ρ² = 1,
        // v = 4/π² (atan 1 − atan 2)², α = v / (v + 1/2) → 0.5 − 0.05 − α·v.
        let v = 4.0 / std::f64::consts::PI.powi(2) * (1f64.atan() - 2f64.atan()).powi(2);
        let expect = 0.5 - 0.05 - v * v / (v + 0.5);
        let c = ciou([0.0, 0.0, 4.0, 2.0], [0.0, 0.0, 2.0, 2.0]);
        assert!((f64::from(c) - expect).abs() < 1e-6, "{c} vs {expect}");
        assert!((f64::from(c) - 0.446_752).abs() < 1e-5, "{c}");

        // Disjoint boxes: IoU 0, centres 10 apart horizontally, enclosing 12×2 → −100/148.
        let c = ciou([0.0, 0.0, 2.0, 2.0], [10.0, 0.0, 12.0, 2.0]);
        assert!((c + 100.0 / 148.0).abs() < 1e-6, "{c}");

        // Symmetric in its arguments (up to rounding).
        let (p, q) = ([3.0, 4.0, 17.0, 9.0], [5.0, 1.0, 12.0, 14.0]);
        assert!((ciou(p, q) - ciou(q, p)).abs() < 1e-6);
    }

    #[cfg(feature = "flex")]
    #[test]
    fn tensor_ciou_matches_host() {
        use burn::backend::Flex;
        let boxes = [
            ([0.0f32, 0.0, 4.0, 2.0], [0.0f32, 0.0, 2.0, 2.0]),
            ([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]),
            ([3.0, 4.0, 17.0, 9.0], [5.0, 1.0, 12.0, 14.0]),
            ([0.0, 0.0, 2.0, 2.0], [10.0, 0.0, 12.0, 2.0]),
        ];
        let dev = Default::default();
        let flat = |i: usize| -> Vec<f32> { boxes.iter().flat_map(|b| if i == 0 { b.0 } else { b.1 }).collect() };
        let b1 = Tensor::<Flex, 1>::from_floats(flat(0).as_slice(), &dev).reshape([4, 4]);
        let b2 = Tensor::<Flex, 1>::from_floats(flat(1).as_slice(), &dev).reshape([4, 4]);
        let got: Vec<f32> = ciou_tensor(b1, b2).into_data().iter::<f32>().collect();
        for (g, (p, q)) in got.iter().zip(boxes) {
            assert!((g - ciou(p, q)).abs() < 1e-6, "{g} vs {}", ciou(p, q));
        }
    }
}
