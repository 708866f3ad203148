//! `v8DetectionLoss` on burn: flattens the head maps, runs the sparse host assigner, builds the CIoU, BCE and DFL terms on device.

use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use super::LossConfig;
use super::anchors::AnchorGrid;
use super::assigner::{Assignment, FgAnchor, GtBox, assign};
use super::ciou::ciou_tensor;
use super::dfl::{bin_weights, dfl_per_anchor, expected_distance};

/// Ultralytics' YOLOv8/11 detection criterion (8.3.x `v8DetectionLoss`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionLoss {
    nc: usize,
    strides: [f32; 3],
    cfg: LossConfig,
}

/// Result of [`DetectionLoss::forward`].
#[derive(Debug, Clone)]
pub struct LossOutput<B: Backend> {
    /// `(box + cls + dfl)·B` as a one-element tensor, connected to the head maps (back-propagate this).
    pub total: Tensor<B, 1>,
    /// Box (CIoU) term after its gain, per batch (not multiplied by `B`): Ultralytics' `box_loss` item.
    pub box_loss: f32,
    /// Class (BCE) term after its gain, per batch.
    pub cls_loss: f32,
    /// DFL term after its gain, per batch.
    pub dfl_loss: f32,
    /// Number of foreground anchors in the batch.
    pub num_fg: usize,
}

impl DetectionLoss {
    /// A criterion for `nc` classes and the three level strides (pixels, `[8, 16, 32]` for YOLO11).
    pub fn new(nc: usize, strides: [f32; 3], cfg: LossConfig) -> Self {
        Self { nc, strides, cfg }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.nc
    }

    /// The settings.
    pub fn config(&self) -> &LossConfig {
        &self.cfg
    }

    /// Channels per anchor of the head maps: `4·reg_max + nc`.
    pub fn num_outputs(&self) -> usize {
        4 * self.cfg.reg_max + self.nc
    }

    /// Computes the loss of a batch.
    ///
    /// * `maps`: raw head outputs P3, P4, P5, each `[B, 4·reg_max + nc, H_i, W_i]`: per anchor the
    ///   DFL logits of the sides l, t, r, b (`reg_max` bins each), then `nc` class logits.
    /// * `targets`: rows `[batch_idx, cls, cx, cy, w, h]`, box normalised to the padded input
    ///   (`W = W_0·stride_0`, `H = H_0·stride_0`), images in any order; a row whose `batch_idx` is not
    ///   an integer in `0..B` is ignored (as Ultralytics' `preprocess`).
    ///
    /// Memory: no `[B, M, A]` or dense `[B, A, nc]` target tensor is built. Besides the graph of
    /// the class term over `[B, nc, A]` (same as Ultralytics' BCE), the device holds a detached
    /// decode of all boxes `[B, 4, reg_max, A]` → `[B, 4, A]`, a gather of at most
    /// [`LossConfig::max_pairs`] candidate logits at a time and `[F, 4·reg_max]` foreground logits;
    /// see [`super::assigner`] for the host bound.
    ///
    /// # Panics
    /// If the maps disagree in batch size or channel count with `4·reg_max + nc`, or a target's class
    /// is not in `0..nc`.
    pub fn forward<B: Backend>(&self, maps: [Tensor<B, 4>; 3], targets: &[[f32; 6]]) -> LossOutput<B> {
        let r = self.cfg.reg_max;
        let reg4 = 4 * r;
        let no = self.num_outputs();
        let bsz = maps[0].dims()[0];
        let mut shapes = [(0usize, 0usize); 3];
        for (i, m) in maps.iter().enumerate() {
            let [b, c, h, w] = m.dims();
            assert_eq!(b, bsz, "head maps disagree in batch size");
            assert_eq!(
                c,
                no,
                "head map P{} has {c} channels, expected 4·{r} + {} = {no}",
                i + 3,
                self.nc
            );
            shapes[i] = (h, w);
        }
        let grid = AnchorGrid::new(&shapes, &self.strides);
        let a_total = grid.num_anchors();
        let device = maps[0].device();

        // [B, no, A], anchors P3 | P4 | P5, each row-major.
        let pred: Tensor<B, 3> = Tensor::cat(
            maps.into_iter()
                .map(|m| {
                    let [b, c, h, w] = m.dims();
                    m.reshape([b, c, h * w])
                })
                .collect(),
            2,
        );

        let gts = self.ground_truth(targets, bsz, &grid);
        let assignment = self.assign_with(&pred, &gts, &grid);
        let tss = assignment.target_scores_sum();
        let fg = &assignment.fg;
        let nf = fg.len();

        // Class term: Σ BCE(x, t) = Σ softplus(x) − Σ_fg x·t, with t = 0 off the foreground slots.
        let cls_logits = pred.clone().slice([0..bsz, reg4..no, 0..a_total]);
        let softplus_sum = softplus(cls_logits).sum();

        let (box_loss, cls_loss, dfl_loss) = if nf == 0 {
            // 8.3.x skips the box and DFL terms when there are no positives.
            let zero = Tensor::<B, 1>::zeros([1], &device);
            (zero.clone(), softplus_sum.div_scalar(tss), zero)
        } else {
            let flat = pred.reshape([bsz * no * a_total]);
            let base = |f: &FgAnchor| f.batch * no * a_total + f.anchor;
            // Rows padded to a bucket by repeating the first foreground anchor with weight 0:
            // finite values that add exact zeros to every sum and gradient.
            let nf = gather_bucket(fg.len());
            let fg: Vec<&FgAnchor> = fg.iter().chain(std::iter::repeat_n(&fg[0], nf - fg.len())).collect();
            let weights = fg.iter().enumerate().map(|(i, f)| if i < assignment.fg.len() { f.weight } else { 0.0 });
            let weight = Tensor::<B, 1>::from_data(TensorData::new(weights.collect::<Vec<f32>>(), [nf]), &device);

            let cls_idx: Vec<i64> = fg.iter().map(|f| (base(f) + (reg4 + f.cls) * a_total) as i64).collect();
            let x_fg = flat.clone().select(0, index_tensor::<B>(cls_idx, &device));
            let cls = (softplus_sum - (x_fg * weight.clone()).sum()).div_scalar(tss);

            // [F, 4, R] DFL logits of the foreground anchors.
            let box_idx: Vec<i64> = fg
                .iter()
                .flat_map(|f| (0..reg4).map(move |k| (base(f) + k * a_total) as i64))
                .collect();
            let logits = flat.select(0, index_tensor::<B>(box_idx, &device)).reshape([nf, 4, r]);
            let ltrb = expected_distance(logits.clone(), 2).reshape([nf, 4]); // grid units

            let mut anchor_xy = Vec::with_capacity(nf * 2);
            let mut target = Vec::with_capacity(nf * 4);
            let mut target_ltrb = Vec::with_capacity(nf);
            for f in &fg {
                let (ax, ay, s) = grid.point_grid(f.anchor);
                let t = f.target_xyxy.map(|v| v / s); // `target_bboxes /= stride_tensor`
                anchor_xy.extend([ax, ay]);
                target.extend(t);
                target_ltrb.push([ax - t[0], ay - t[1], t[2] - ax, t[3] - ay]); // `bbox2dist`
            }
            let anchor_xy = Tensor::<B, 2>::from_data(TensorData::new(anchor_xy, [nf, 2]), &device);
            let target = Tensor::<B, 2>::from_data(TensorData::new(target, [nf, 4]), &device);
            let pred_xyxy = Tensor::cat(
                vec![
                    anchor_xy.clone() - ltrb.clone().slice([0..nf, 0..2]),
                    anchor_xy + ltrb.slice([0..nf, 2..4]),
                ],
                1,
            );
            let iou = ciou_tensor(pred_xyxy, target);
            let box_l = (iou.neg().add_scalar(1.0) * weight.clone()).sum().div_scalar(tss);

            let bins = Tensor::<B, 1>::from_data(TensorData::new(bin_weights(&target_ltrb, r), [nf * 4 * r]), &device)
                .reshape([nf, 4, r]);
            let dfl_l = (dfl_per_anchor(logits, bins) * weight).sum().div_scalar(tss);
            (box_l, cls, dfl_l)
        };

        let box_loss = box_loss.mul_scalar(self.cfg.box_gain);
        let cls_loss = cls_loss.mul_scalar(self.cfg.cls_gain);
        let dfl_loss = dfl_loss.mul_scalar(self.cfg.dfl_gain);
        let total = (box_loss.clone() + cls_loss.clone() + dfl_loss.clone()).mul_scalar(bsz as f32);
        let items: Vec<f32> = Tensor::cat(vec![box_loss, cls_loss, dfl_loss], 0)
            .detach()
            .into_data()
            .iter::<f32>()
            .collect();
        LossOutput {
            total,
            box_loss: items[0],
            cls_loss: items[1],
            dfl_loss: items[2],
            num_fg: nf,
        }
    }

    /// Runs only the assignment of a batch (no loss graph): the anchor grid and the foreground
    /// anchors with their targets. For diagnostics and tests; `forward` does the same internally.
    pub fn assign<B: Backend>(&self, maps: [Tensor<B, 4>; 3], targets: &[[f32; 6]]) -> (AnchorGrid, Assignment) {
        let bsz = maps[0].dims()[0];
        let shapes = maps.each_ref().map(|m| {
            let [_, _, h, w] = m.dims();
            (h, w)
        });
        let grid = AnchorGrid::new(&shapes, &self.strides);
        let pred: Tensor<B, 3> = Tensor::cat(
            maps.into_iter()
                .map(|m| {
                    let [b, c, h, w] = m.dims();
                    m.detach().reshape([b, c, h * w])
                })
                .collect(),
            2,
        );
        let gts = self.ground_truth(targets, bsz, &grid);
        let assignment = self.assign_with(&pred, &gts, &grid);
        (grid, assignment)
    }

    /// Ultralytics' `preprocess`: per image, its rows in order, `xywh × [W, H, W, H]` → `xyxy` pixels.
    fn ground_truth(&self, targets: &[[f32; 6]], bsz: usize, grid: &AnchorGrid) -> Vec<Vec<GtBox>> {
        let (ih, iw) = grid.image_size();
        let mut gts = vec![Vec::new(); bsz];
        for &[bi, cls, cx, cy, w, h] in targets {
            if !(bi >= 0.0 && bi.fract() == 0.0 && (bi as usize) < bsz) {
                continue;
            }
            assert!(
                cls >= 0.0 && (cls as usize) < self.nc,
                "target class {cls} is not in 0..{} (nc)",
                self.nc
            );
            let (cx, cy, w, h) = (cx * iw, cy * ih, w * iw, h * ih);
            let (hw, hh) = (w / 2.0, h / 2.0);
            gts[bi as usize].push(GtBox {
                cls: cls as usize,
                xyxy: [cx - hw, cy - hh, cx + hw, cy + hh],
            });
        }
        gts
    }

    /// Decodes the detached boxes, gathers the candidate logits chunk by chunk and runs the host assigner.
    fn assign_with<B: Backend>(&self, pred: &Tensor<B, 3>, gts: &[Vec<GtBox>], grid: &AnchorGrid) -> Assignment {
        if !gts.iter().flatten().any(GtBox::is_valid) {
            return Assignment::default();
        }
        let r = self.cfg.reg_max;
        let reg4 = 4 * r;
        let no = self.num_outputs();
        let bsz = gts.len();
        let a_total = grid.num_anchors();
        let device = pred.device();
        let pred = pred.clone().detach();

        // Predicted boxes, pixels xyxy: (anchor ∓ ltrb)·stride, as `pred_bboxes.detach() * stride_tensor`.
        let ltrb: Vec<f32> = expected_distance(
            pred.clone()
                .slice([0..bsz, 0..reg4, 0..a_total])
                .reshape([bsz, 4, r, a_total]),
            2,
        )
        .into_data()
        .iter::<f32>()
        .collect(); // [B, 4, 1, A]
        let mut boxes = Vec::with_capacity(bsz * a_total);
        for b in 0..bsz {
            let side = |k: usize, a: usize| ltrb[(b * 4 + k) * a_total + a];
            for a in 0..a_total {
                let (ax, ay, s) = grid.point_grid(a);
                boxes.push([
                    (ax - side(0, a)) * s,
                    (ay - side(1, a)) * s,
                    (ax + side(2, a)) * s,
                    (ay + side(3, a)) * s,
                ]);
            }
        }

        let flat = pred.reshape([bsz * no * a_total]);
        assign(&self.cfg.assigner(), grid, gts, &boxes, |keys| {
            // Padded to a bucket with index 0; the tail is dropped after the read.
            let mut idx: Vec<i64> = keys
                .iter()
                .map(|k| ((k.batch as usize * no + reg4 + k.cls as usize) * a_total + k.anchor as usize) as i64)
                .collect();
            idx.resize(gather_bucket(keys.len()), 0);
            flat.clone()
                .select(0, index_tensor::<B>(idx, &device))
                .into_data()
                .iter::<f32>()
                .take(keys.len())
                .collect()
        })
    }
}

/// Shortest padded length of the loss's variable-size gathers.
const MIN_GATHER_BUCKET: usize = 64;

/// Length a variable-size gather of `n` rows (candidate pairs, foreground anchors) is padded to:
/// the next power of two, at least [`MIN_GATHER_BUCKET`]. Their kernels then see O(log n)
/// distinct shapes per run, so GPU backends compile and tune them a bounded number of times.
pub fn gather_bucket(n: usize) -> usize {
    n.max(MIN_GATHER_BUCKET).next_power_of_two()
}

/// Numerically stable `softplus(x) = ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|})` (gradient `sigmoid(x)`).
fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

fn index_tensor<B: Backend>(idx: Vec<i64>, device: &B::Device) -> Tensor<B, 1, Int> {
    let n = idx.len();
    Tensor::from_data(TensorData::new(idx, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_take_power_of_two_buckets() {
        let buckets: Vec<usize> = [0, 1, 64, 65, 356, 4096, 4097].into_iter().map(gather_bucket).collect();
        assert_eq!(buckets, vec![64, 64, 64, 128, 512, 4096, 8192]);
        let distinct: std::collections::BTreeSet<usize> = (0..10_000).map(gather_bucket).collect();
        assert_eq!(distinct.len(), 9, "F up to 10k takes 9 shapes (64 … 16384)");
    }
}
