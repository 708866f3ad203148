//! Sparse, streaming host implementation of Ultralytics' `TaskAlignedAssigner` (pure Rust, no burn).
//!
//! # What it computes
//!
//! The same assignment as Ultralytics 8.3.x `TaskAlignedAssigner(topk, nc, alpha, beta, eps=1e-9)`
//! for one batch, but only over the (GT, anchor) pairs that can matter: an anchor whose centre is
//! not strictly inside a GT has `mask_in_gts = 0`, so its alignment metric and overlap for that GT
//! are 0 and it can never become a positive of that GT. The candidate pairs are enumerated per GT
//! from the grid cells its box covers ([`AnchorGrid::for_each_inside`]), never by scanning `A`.
//!
//! Per candidate pair `(gt, a)`: `s = sigmoid(logit[b, a, cls_gt])`, `u = max(CIoU(gt, pred_a), 0)`
//! (pixels, eps 1e-7), `align = s^α · u^β`. Per GT, the `topk` anchors with the largest positive
//! `align` are selected (ties → lower anchor index). An anchor selected by more than one GT goes to
//! the GT with the largest `u` among **all** GTs of the image that contain it (ties → lowest GT
//! index, as `torch.argmax`), even one that did not select it. Per GT, over its final anchors,
//! `pos_align_max = max align`, `pos_iou_max = max u`; each foreground anchor gets the weight
//! (soft class target) `align · pos_iou_max / (pos_align_max + 1e-9)` of its GT.
//!
//! # Where it can differ from Ultralytics
//!
//! `torch.topk` runs over all `A` anchors. When a GT has `P ≥ topk` candidates with a positive
//! metric the selections are identical (barring exact float ties at the k-th value). When
//! `P < topk`, torch fills the remaining `topk − P` slots with zero-metric anchors; those outside
//! the GT are removed by `mask_in_gts`, but a zero-metric anchor *inside* the GT (CIoU ≤ 0, or
//! `u^β` underflowing f32) survives as a foreground anchor of weight 0. Which zero-metric anchors
//! fill the slots is an implementation detail of `torch.topk` (on CPU with `A ≥ 64·topk` it is a
//! `std::partial_sort`, which keeps the fill from the first `topk` anchor indices only, i.e. the
//! first P3 row; CUDA and `A < 64·topk` differ again). This implementation never selects
//! zero-metric anchors. Consequences:
//!
//! * such an anchor has weight 0 in Ultralytics, so its class target stays 0 (same BCE as
//!   background) and its box/DFL terms are multiplied by 0: losses and gradients are identical;
//! * `num_fg` can be lower than Ultralytics' count of `fg_mask` by those weight-0 anchors;
//! * corner case: if the same anchor is also selected (with positive metric) by a second GT, torch
//!   sees a conflict and gives the anchor to the GT with the largest CIoU among all GTs containing
//!   it — which can be a third GT; here there is no conflict and it stays with the second GT. This
//!   needs three GTs containing the anchor, one of them with CIoU ≤ 0 at it and < `topk` positive
//!   candidates, and (on CPU) the anchor in the first `topk` indices.
//!
//! Ultralytics itself is not deterministic across devices for these slots.
//!
//! # Memory
//!
//! Streaming over GTs in order, with bounded buffers: host memory is
//! `O(B·A)` for the decoded predicted boxes (16 B per anchor, supplied by the caller)
//! `+ O(A)` for the per-anchor "best overlap" of the image being processed
//! `+ O(max_pairs)` for the batch of candidate pairs whose class logits are fetched at once
//! `+ O(G·topk)` for the per-GT selections (G = number of GTs in the batch),
//! whatever the number of candidate pairs `Σ_gt |anchors inside gt|` (≤ B·M·A in the pathological
//! case of every GT covering the whole image). Nothing of size `B·M·A` is ever allocated.

use super::anchors::AnchorGrid;
use super::ciou::ciou;

/// Ultralytics' assigner epsilon (`eps=1e-9`) used in the score normalisation.
pub const ASSIGNER_EPS: f32 = 1e-9;

/// Settings of the task-aligned assigner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssignerConfig {
    /// Candidates kept per GT (Ultralytics `tal_topk`, 10).
    pub topk: usize,
    /// Exponent of the class score in the alignment metric (0.5).
    pub alpha: f32,
    /// Exponent of the CIoU in the alignment metric (6.0).
    pub beta: f32,
    /// Upper bound on the number of candidate pairs whose class logits are fetched per call of the
    /// logit source (the host/device memory bound of the gather). Must be ≥ 1.
    pub max_pairs: usize,
}

impl Default for AssignerConfig {
    fn default() -> Self {
        Self {
            topk: 10,
            alpha: 0.5,
            beta: 6.0,
            max_pairs: 1 << 20,
        }
    }
}

/// One ground-truth box of an image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    /// Class index `< nc`.
    pub cls: usize,
    /// Box `x1, y1, x2, y2` in **pixels** of the padded input.
    pub xyxy: [f32; 4],
}

impl GtBox {
    /// Ultralytics' `mask_gt`: a (padding) row is ignored when `x1 + y1 + x2 + y2 ≤ 0`.
    pub fn is_valid(&self) -> bool {
        let [x1, y1, x2, y2] = self.xyxy;
        x1 + y1 + x2 + y2 > 0.0
    }
}

/// A candidate pair whose class logit the assigner needs: `pred[batch, 4·reg_max + cls, anchor]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairKey {
    /// Image index in the batch.
    pub batch: u32,
    /// Anchor index in `0..A`.
    pub anchor: u32,
    /// Class of the GT (the logit channel is `4·reg_max + cls`).
    pub cls: u32,
}

/// A foreground anchor and its targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FgAnchor {
    /// Image index in the batch.
    pub batch: usize,
    /// Anchor index in `0..A`.
    pub anchor: usize,
    /// Index of the assigned GT within its image (row order of the targets of that image).
    pub gt: usize,
    /// Target class.
    pub cls: usize,
    /// Target box `xyxy` in **pixels**.
    pub target_xyxy: [f32; 4],
    /// Normalised alignment = soft class target = box/DFL weight (`Σ_c target_scores[b, a, c]`).
    pub weight: f32,
    /// Alignment metric `s^α·u^β` of the assigned pair (before normalisation).
    pub align: f32,
    /// `max(CIoU, 0)` of the assigned pair.
    pub overlap: f32,
}

/// Result of the assignment of a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assignment {
    /// Foreground anchors, sorted by `(batch, anchor)`.
    pub fg: Vec<FgAnchor>,
    /// Number of candidate pairs (anchor centre inside a valid GT) that were scored.
    pub num_pairs: usize,
    /// Number of calls made to the logit source.
    pub num_fetches: usize,
    /// Candidate pairs with a zero metric belonging to GTs with fewer than `topk` positive-metric
    /// candidates: the only pairs Ultralytics may turn into (weight-0) foreground anchors where
    /// this implementation does not (see the module docs). 0 means the selection is identical.
    pub zero_metric_pairs: usize,
}

impl Assignment {
    /// Σ of the soft class targets (f64 accumulation), before Ultralytics' `max(·, 1)`.
    pub fn score_sum(&self) -> f64 {
        self.fg.iter().map(|f| f64::from(f.weight)).sum()
    }

    /// Ultralytics' `target_scores_sum = max(Σ target_scores, 1)`.
    pub fn target_scores_sum(&self) -> f32 {
        (self.score_sum() as f32).max(1.0)
    }
}

/// `1 / (1 + exp(−x))` in f32, as torch's `sigmoid`.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Runs the assignment for a batch.
///
/// * `grid`: the anchor grid (`A` anchors).
/// * `gts`: per image (length `B`), its GT boxes in target-row order (pixels `xyxy`).
/// * `pred_boxes_px`: decoded predicted boxes `[B, A]` of `xyxy` **pixels** (detached).
/// * `fetch_logits`: given up to `cfg.max_pairs` pair keys, returns their raw class logits in the
///   same order. It is called in a stream (GT-major order) and never with an empty slice.
///
/// # Panics
/// If `pred_boxes_px.len() != B·A`, or `fetch_logits` returns a different number of values.
pub fn assign(
    cfg: &AssignerConfig,
    grid: &AnchorGrid,
    gts: &[Vec<GtBox>],
    pred_boxes_px: &[[f32; 4]],
    mut fetch_logits: impl FnMut(&[PairKey]) -> Vec<f32>,
) -> Assignment {
    let a_total = grid.num_anchors();
    assert_eq!(pred_boxes_px.len(), gts.len() * a_total, "pred_boxes_px must be [B, A]");
    let max_pairs = cfg.max_pairs.max(1);

    let mut state = Stream::new(cfg, grid, gts, pred_boxes_px);
    let mut buf: Vec<(u32, u32, u32)> = Vec::with_capacity(max_pairs.min(1 << 16)); // (b, gt, anchor)
    let mut keys: Vec<PairKey> = Vec::with_capacity(buf.capacity());
    let mut num_fetches = 0usize;
    let mut num_pairs = 0usize;

    let mut flush = |buf: &mut Vec<(u32, u32, u32)>, keys: &mut Vec<PairKey>, state: &mut Stream| {
        if buf.is_empty() {
            return;
        }
        keys.clear();
        keys.extend(buf.iter().map(|&(b, g, a)| PairKey {
            batch: b,
            anchor: a,
            cls: gts[b as usize][g as usize].cls as u32,
        }));
        let logits = fetch_logits(keys);
        assert_eq!(
            logits.len(),
            buf.len(),
            "fetch_logits returned a wrong number of values"
        );
        num_fetches += 1;
        num_pairs += buf.len();
        for (&(b, g, a), &x) in buf.iter().zip(&logits) {
            state.push(b as usize, g as usize, a as usize, x);
        }
        buf.clear();
    };

    for (b, img) in gts.iter().enumerate() {
        for (g, gt) in img.iter().enumerate() {
            if !gt.is_valid() {
                continue;
            }
            grid.for_each_inside(gt.xyxy, |a| {
                buf.push((b as u32, g as u32, a as u32));
                if buf.len() >= max_pairs {
                    flush(&mut buf, &mut keys, &mut state);
                }
            });
        }
    }
    flush(&mut buf, &mut keys, &mut state);
    let (fg, zero_metric_pairs) = state.finish();
    Assignment {
        fg,
        num_pairs,
        num_fetches,
        zero_metric_pairs,
    }
}

/// Per-anchor best overlap over all GTs of the current image (for conflict resolution).
#[derive(Debug, Clone, Copy)]
struct Best {
    overlap: f32,
    gt: u32,
    align: f32,
}

const NO_BEST: Best = Best {
    overlap: 0.0,
    gt: 0,
    align: 0.0,
};

/// One selected (gt, anchor) pair of a GT's top-k.
#[derive(Debug, Clone, Copy)]
struct Sel {
    anchor: u32,
    gt: u32,
    align: f32,
    overlap: f32,
}

/// Streaming state: pairs arrive grouped by image, then by GT, then by increasing anchor.
struct Stream<'a> {
    cfg: &'a AssignerConfig,
    gts: &'a [Vec<GtBox>],
    pred: &'a [[f32; 4]],
    a_total: usize,
    cur: Option<(usize, usize)>,
    best: Vec<Best>,
    topk: Vec<Sel>,
    /// Positive- and zero-metric candidates of the current GT.
    gt_counts: (usize, usize),
    zero_metric_pairs: usize,
    image_sel: Vec<Sel>,
    fg: Vec<FgAnchor>,
}

impl<'a> Stream<'a> {
    fn new(cfg: &'a AssignerConfig, grid: &AnchorGrid, gts: &'a [Vec<GtBox>], pred: &'a [[f32; 4]]) -> Self {
        Self {
            cfg,
            gts,
            pred,
            a_total: grid.num_anchors(),
            cur: None,
            best: Vec::new(),
            topk: Vec::with_capacity(cfg.topk),
            gt_counts: (0, 0),
            zero_metric_pairs: 0,
            image_sel: Vec::new(),
            fg: Vec::new(),
        }
    }

    fn push(&mut self, b: usize, g: usize, a: usize, logit: f32) {
        match self.cur {
            Some((cb, cg)) if cb == b && cg == g => {}
            Some((cb, _)) => {
                self.finish_gt();
                if cb != b {
                    self.finish_image(cb);
                    self.start_image();
                }
                self.cur = Some((b, g));
            }
            None => {
                self.start_image();
                self.cur = Some((b, g));
            }
        }
        let gt = &self.gts[b][g];
        let s = sigmoid(logit);
        let u = ciou(gt.xyxy, self.pred[b * self.a_total + a]).max(0.0);
        let sa = if self.cfg.alpha == 0.5 {
            s.sqrt()
        } else {
            s.powf(self.cfg.alpha)
        };
        let align = sa * u.powf(self.cfg.beta);

        // argmax over GTs of the overlap: strictly greater keeps the lowest GT index on ties
        // (GTs arrive in increasing index); an anchor no GT overlaps keeps GT 0, as torch.
        let best = &mut self.best[a];
        if u > best.overlap {
            *best = Best {
                overlap: u,
                gt: g as u32,
                align,
            };
        }

        // Top-k by align (> 0 only), ties to the lower anchor index: anchors arrive in increasing
        // index, so a newcomer must be strictly better than the current minimum.
        if align > 0.0 {
            self.gt_counts.0 += 1;
        } else {
            self.gt_counts.1 += 1;
        }
        if align > 0.0 && self.cfg.topk > 0 {
            let sel = Sel {
                anchor: a as u32,
                gt: g as u32,
                align,
                overlap: u,
            };
            if self.topk.len() < self.cfg.topk {
                self.topk.push(sel);
            } else {
                // Minimum align; among equal minima the highest anchor index is the weakest.
                let (wi, w) = self
                    .topk
                    .iter()
                    .enumerate()
                    .min_by(|(_, x), (_, y)| x.align.total_cmp(&y.align).then(y.anchor.cmp(&x.anchor)))
                    .map(|(i, s)| (i, *s))
                    .expect("topk is non-empty");
                if align > w.align {
                    self.topk[wi] = sel;
                }
            }
        }
    }

    fn start_image(&mut self) {
        self.best.clear();
        self.best.resize(self.a_total, NO_BEST);
        self.image_sel.clear();
    }

    fn finish_gt(&mut self) {
        let (pos, zero) = std::mem::take(&mut self.gt_counts);
        if pos < self.cfg.topk {
            self.zero_metric_pairs += zero;
        }
        self.image_sel.append(&mut self.topk);
    }

    /// Conflict resolution, normalisation and targets of image `b`.
    fn finish_image(&mut self, b: usize) {
        let sel = &mut self.image_sel;
        if sel.is_empty() {
            return;
        }
        sel.sort_unstable_by_key(|s| (s.anchor, s.gt));
        let img = &self.gts[b];
        // Final (anchor → gt) pairs.
        let mut assigned: Vec<Sel> = Vec::with_capacity(sel.len());
        let mut i = 0;
        while i < sel.len() {
            let mut j = i + 1;
            while j < sel.len() && sel[j].anchor == sel[i].anchor {
                j += 1;
            }
            if j - i == 1 {
                assigned.push(sel[i]);
            } else {
                let best = self.best[sel[i].anchor as usize];
                assigned.push(Sel {
                    anchor: sel[i].anchor,
                    gt: best.gt,
                    align: best.align,
                    overlap: best.overlap,
                });
            }
            i = j;
        }
        // Per-GT maxima over the final assignment (align and overlaps masked by mask_pos).
        let mut align_max = vec![0.0f32; img.len()];
        let mut iou_max = vec![0.0f32; img.len()];
        for s in &assigned {
            let g = s.gt as usize;
            align_max[g] = align_max[g].max(s.align);
            iou_max[g] = iou_max[g].max(s.overlap);
        }
        for s in assigned {
            let g = s.gt as usize;
            let weight = s.align * iou_max[g] / (align_max[g] + ASSIGNER_EPS);
            self.fg.push(FgAnchor {
                batch: b,
                anchor: s.anchor as usize,
                gt: g,
                cls: img[g].cls,
                target_xyxy: img[g].xyxy,
                weight,
                align: s.align,
                overlap: s.overlap,
            });
        }
    }

    fn finish(mut self) -> (Vec<FgAnchor>, usize) {
        if let Some((b, _)) = self.cur {
            self.finish_gt();
            self.finish_image(b);
        }
        (self.fg, self.zero_metric_pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward dense re-statement of Ultralytics' algorithm over `[M, A]` per image, used as
    /// the reference on tiny cases. Top-k = stable sort by (metric desc, index asc) over all A
    /// anchors, zero-metric fills included (the torch behaviour this module deliberately skips).
    /// Returns per image, per anchor: `Some((gt, weight))` for foreground anchors.
    fn dense_reference(
        cfg: &AssignerConfig,
        grid: &AnchorGrid,
        gts: &[Vec<GtBox>],
        pred: &[[f32; 4]],
        logits: &dyn Fn(usize, usize, usize) -> f32,
    ) -> Vec<Vec<Option<(usize, f32)>>> {
        let na = grid.num_anchors();
        let mut out = Vec::new();
        for (b, img) in gts.iter().enumerate() {
            let m = img.len();
            let mut res = vec![None; na];
            if m == 0 {
                out.push(res);
                continue;
            }
            let mut inside = vec![vec![false; na]; m];
            let mut align = vec![vec![0.0f32; na]; m];
            let mut ov = vec![vec![0.0f32; na]; m];
            for g in 0..m {
                if !img[g].is_valid() {
                    continue;
                }
                for a in 0..na {
                    let [x, y] = grid.point_px(a);
                    let [x1, y1, x2, y2] = img[g].xyxy;
                    inside[g][a] = (x - x1).min(y - y1).min(x2 - x).min(y2 - y) > 1e-9;
                    if inside[g][a] {
                        let s = sigmoid(logits(b, a, img[g].cls));
                        let u = ciou(img[g].xyxy, pred[b * na + a]).max(0.0);
                        ov[g][a] = u;
                        align[g][a] = s.sqrt() * u.powf(cfg.beta);
                    }
                }
            }
            let mut pos = vec![vec![false; na]; m];
            for g in 0..m {
                if !img[g].is_valid() {
                    continue;
                }
                let mut idx: Vec<usize> = (0..na).collect();
                idx.sort_by(|&p, &q| align[g][q].total_cmp(&align[g][p]).then(p.cmp(&q)));
                for &a in idx.iter().take(cfg.topk) {
                    pos[g][a] = inside[g][a];
                }
            }
            for a in 0..na {
                let cnt = (0..m).filter(|&g| pos[g][a]).count();
                if cnt > 1 {
                    let mut bg = 0;
                    for g in 1..m {
                        if ov[g][a] > ov[bg][a] {
                            bg = g;
                        }
                    }
                    for (g, p) in pos.iter_mut().enumerate() {
                        p[a] = g == bg;
                    }
                }
            }
            let amax: Vec<f32> = (0..m)
                .map(|g| (0..na).filter(|&a| pos[g][a]).map(|a| align[g][a]).fold(0.0, f32::max))
                .collect();
            let omax: Vec<f32> = (0..m)
                .map(|g| (0..na).filter(|&a| pos[g][a]).map(|a| ov[g][a]).fold(0.0, f32::max))
                .collect();
            for a in 0..na {
                if let Some(g) = (0..m).find(|&g| pos[g][a]) {
                    res[a] = Some((g, align[g][a] * omax[g] / (amax[g] + ASSIGNER_EPS)));
                }
            }
            out.push(res);
        }
        out
    }

    fn run(
        cfg: &AssignerConfig,
        grid: &AnchorGrid,
        gts: &[Vec<GtBox>],
        pred: &[[f32; 4]],
        logits: &dyn Fn(usize, usize, usize) -> f32,
    ) -> Assignment {
        assign(cfg, grid, gts, pred, |keys| {
            assert!(!keys.is_empty() && keys.len() <= cfg.max_pairs);
            keys.iter()
                .map(|k| logits(k.batch as usize, k.anchor as usize, k.cls as usize))
                .collect()
        })
    }

    /// Predicted boxes: a box of half-size `r` px around each anchor.
    fn boxes_around_anchors(grid: &AnchorGrid, batch: usize, r: impl Fn(usize, usize) -> f32) -> Vec<[f32; 4]> {
        let mut v = Vec::new();
        for b in 0..batch {
            for a in 0..grid.num_anchors() {
                let [x, y] = grid.point_px(a);
                let r = r(b, a);
                v.push([x - r, y - r, x + r, y + r]);
            }
        }
        v
    }

    fn compare(sparse: &Assignment, dense: &[Vec<Option<(usize, f32)>>]) {
        let mut expected = Vec::new();
        for (b, img) in dense.iter().enumerate() {
            for (a, e) in img.iter().enumerate() {
                if let Some((g, w)) = e {
                    expected.push((b, a, *g, *w));
                }
            }
        }
        let got: Vec<_> = sparse.fg.iter().map(|f| (f.batch, f.anchor, f.gt, f.weight)).collect();
        assert_eq!(got.len(), expected.len(), "got {got:?}\nexpected {expected:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!((g.0, g.1, g.2), (e.0, e.1, e.2));
            assert!((g.3 - e.3).abs() <= 1e-6 * e.3.abs().max(1.0), "{g:?} vs {e:?}");
        }
    }

    #[test]
    fn anchor_claimed_by_two_gts_goes_to_best_overlap() {
        // One 8×8 level, stride 8 (64×64 image). Anchor centres at 4, 12, 20, ...
        let grid = AnchorGrid::new(&[(8, 8)], &[8.0]);
        // Predicted boxes: 8×8 px around every anchor (perfect match for an 8×8 GT centred on it).
        let pred = boxes_around_anchors(&grid, 1, |_, _| 4.0);
        // GT0 and GT1 both contain anchor (20, 20) = index 2·8+2 = 18 (and others).
        // GT1 is the 8×8 box centred on it, so its overlap there is ~1 and wins.
        let gts = vec![vec![
            GtBox {
                cls: 3,
                xyxy: [9.0, 9.0, 31.0, 31.0],
            },
            GtBox {
                cls: 5,
                xyxy: [16.0, 16.0, 24.0, 24.0],
            },
        ]];
        let logits = |_: usize, _: usize, _: usize| 0.0f32;
        let cfg = AssignerConfig {
            topk: 10,
            ..Default::default()
        };
        let res = run(&cfg, &grid, &gts, &pred, &logits);
        let a18: Vec<_> = res.fg.iter().filter(|f| f.anchor == 18).collect();
        assert_eq!(a18.len(), 1);
        assert_eq!((a18[0].gt, a18[0].cls), (1, 5));
        assert_eq!(a18[0].target_xyxy, [16.0, 16.0, 24.0, 24.0]);
        // GT0 covers centres 12, 20, 28 on each axis → 9 candidates (the corner ones have CIoU ≤ 0
        // with these small predictions); 18 was taken by GT1.
        let gt0: Vec<usize> = res.fg.iter().filter(|f| f.gt == 0).map(|f| f.anchor).collect();
        assert!(!gt0.is_empty() && !gt0.contains(&18), "{gt0:?}");
        assert_eq!(res.num_pairs, 9 + 1);
        // GT1's single anchor is its best, so its weight = its CIoU (pos_iou_max).
        assert!((a18[0].weight - a18[0].overlap).abs() < 1e-6);
        compare(&res, &dense_reference(&cfg, &grid, &gts, &pred, &logits));
    }

    #[test]
    fn conflict_winner_can_be_a_gt_that_did_not_select_the_anchor() {
        let grid = AnchorGrid::new(&[(8, 8)], &[8.0]);
        let pred = boxes_around_anchors(&grid, 1, |_, _| 4.0);
        // Three nested GTs around anchor 18 = centre (20, 20), topk = 1.
        let gts = vec![vec![
            GtBox {
                cls: 0,
                xyxy: [2.0, 2.0, 30.0, 30.0],
            },
            GtBox {
                cls: 1,
                xyxy: [10.0, 10.0, 30.0, 30.0],
            },
            GtBox {
                cls: 2,
                xyxy: [15.0, 15.0, 26.0, 26.0],
            },
        ]];
        // GT0 and GT1 both pick anchor 18; GT2 contains only anchor 18, so it picks it too,
        // however low its score there.
        let logits = |_: usize, a: usize, c: usize| match (c, a) {
            (0 | 1, 18) => 8.0,
            (2, 18) => -30.0,
            _ => -8.0,
        };
        let cfg = AssignerConfig {
            topk: 1,
            ..Default::default()
        };
        let res = run(&cfg, &grid, &gts, &pred, &logits);
        compare(&res, &dense_reference(&cfg, &grid, &gts, &pred, &logits));

        // Now make GT2 contain two anchors (18 and 19) and strongly prefer 19: topk=1 → GT2 picks 19,
        // GT0/GT1 pick 18; 18 conflicts and goes to the GT with the highest CIoU there.
        let gts = vec![vec![
            GtBox {
                cls: 0,
                xyxy: [2.0, 2.0, 30.0, 30.0],
            },
            GtBox {
                cls: 1,
                xyxy: [10.0, 10.0, 30.0, 30.0],
            },
            GtBox {
                cls: 2,
                xyxy: [15.0, 15.5, 29.0, 24.5],
            },
        ]];
        let logits = |_: usize, a: usize, c: usize| match (c, a) {
            (0 | 1, 18) => 8.0,
            (2, 19) => 8.0,
            (2, 18) => -30.0,
            _ => -8.0,
        };
        let res = run(&cfg, &grid, &gts, &pred, &logits);
        let ov = |g: usize| ciou(gts[0][g].xyxy, pred[18]).max(0.0);
        let winner = (0..3).fold(0, |bg, g| if ov(g) > ov(bg) { g } else { bg });
        assert_eq!(winner, 2, "test set-up: GT2 has the largest CIoU at anchor 18");
        let a18 = res.fg.iter().find(|f| f.anchor == 18).unwrap();
        assert_eq!(a18.gt, 2);
        assert!(res.fg.iter().any(|f| f.anchor == 19 && f.gt == 2));
        compare(&res, &dense_reference(&cfg, &grid, &gts, &pred, &logits));
    }

    #[test]
    fn gt_with_fewer_than_topk_candidates_keeps_all() {
        let grid = AnchorGrid::new(&[(8, 8), (4, 4)], &[8.0, 16.0]);
        let pred = boxes_around_anchors(&grid, 1, |_, a| 3.0 + (a % 5) as f32);
        // 10×10 px box around (20, 20)-(28, 28): P3 anchors at 20 and 28 on each axis → 4; P4 anchor
        // (24, 24) → 1. Five candidates < topk = 10: all five are positives.
        let gts = vec![vec![GtBox {
            cls: 7,
            xyxy: [19.0, 19.0, 29.0, 29.0],
        }]];
        let logits = |_: usize, a: usize, _: usize| (a as f32) * 0.1 - 3.0;
        let cfg = AssignerConfig::default();
        let res = run(&cfg, &grid, &gts, &pred, &logits);
        assert_eq!(res.num_pairs, 5);
        assert_eq!(res.fg.len(), 5);
        // The best-aligned anchor gets exactly pos_iou_max, the others proportionally less.
        let amax = res.fg.iter().map(|f| f.align).fold(0.0, f32::max);
        let omax = res.fg.iter().map(|f| f.overlap).fold(0.0, f32::max);
        for f in &res.fg {
            assert!((f.weight - f.align * omax / (amax + ASSIGNER_EPS)).abs() < 1e-7);
            assert_eq!(f.cls, 7);
        }
        assert!(res.fg.iter().any(|f| (f.weight - omax).abs() < 1e-6));
        compare(&res, &dense_reference(&cfg, &grid, &gts, &pred, &logits));
    }

    #[test]
    fn zero_metric_candidates_are_not_selected() {
        let grid = AnchorGrid::new(&[(8, 8)], &[8.0]);
        // A GT in the first anchor row (anchors 0, 1, 2 at y = 4) whose predictions at anchors 0 and 1
        // are far away (CIoU ≤ 0 → metric 0).
        let mut pred = boxes_around_anchors(&grid, 1, |_, _| 4.0);
        pred[0] = [60.0, 60.0, 62.0, 62.0];
        pred[1] = [60.0, 60.0, 62.0, 62.0];
        let gts = vec![vec![GtBox {
            cls: 0,
            xyxy: [1.0, 1.0, 23.0, 7.0],
        }]];
        let logits = |_: usize, _: usize, _: usize| 0.0;
        let res = run(&AssignerConfig::default(), &grid, &gts, &pred, &logits);
        assert_eq!(res.num_pairs, 3);
        assert_eq!(res.fg.iter().map(|f| f.anchor).collect::<Vec<_>>(), vec![2]);
        assert_eq!(res.zero_metric_pairs, 2);
        // The torch-like dense version (zero-metric slots filled from the lowest anchor indices, as
        // CPU `torch.topk` does) also makes 0 and 1 foreground, with weight 0: same loss.
        let dense = dense_reference(&AssignerConfig::default(), &grid, &gts, &pred, &logits);
        assert_eq!(dense[0][0], Some((0, 0.0)));
        assert_eq!(dense[0][1], Some((0, 0.0)));
    }

    #[test]
    fn empty_image_among_non_empty_and_chunking() {
        let grid = AnchorGrid::new(&[(8, 8), (4, 4), (2, 2)], &[8.0, 16.0, 32.0]);
        let pred = boxes_around_anchors(&grid, 3, |b, a| 6.0 + ((a * 7 + b * 3) % 11) as f32);
        let gts = vec![
            vec![
                GtBox {
                    cls: 1,
                    xyxy: [3.0, 5.0, 40.0, 33.0],
                },
                GtBox {
                    cls: 2,
                    xyxy: [20.0, 18.0, 61.0, 60.0],
                },
                GtBox {
                    cls: 0,
                    xyxy: [0.0, 0.0, 0.0, 0.0],
                }, // padding-like row: ignored
            ],
            vec![],
            vec![GtBox {
                cls: 4,
                xyxy: [10.0, 12.0, 50.0, 44.0],
            }],
        ];
        let logits = |b: usize, a: usize, c: usize| ((a * 13 + c * 5 + b) % 17) as f32 * 0.4 - 4.0;
        let big = AssignerConfig::default();
        let res = run(&big, &grid, &gts, &pred, &logits);
        assert!(res.fg.iter().all(|f| f.batch != 1));
        assert!(res.fg.iter().any(|f| f.batch == 0) && res.fg.iter().any(|f| f.batch == 2));
        assert!(res.fg.iter().all(|f| !(f.batch == 0 && f.gt == 2)));
        assert_eq!(res.num_fetches, 1);
        compare(&res, &dense_reference(&big, &grid, &gts, &pred, &logits));
        for max_pairs in [1, 2, 7, 64] {
            let small = AssignerConfig { max_pairs, ..big };
            let r2 = run(&small, &grid, &gts, &pred, &logits);
            assert_eq!(r2.fg, res.fg, "max_pairs {max_pairs}");
            assert_eq!(r2.num_fetches, res.num_pairs.div_ceil(max_pairs));
        }
        // No GT at all: nothing fetched.
        let none = run(&big, &grid, &[vec![], vec![], vec![]], &pred, &logits);
        assert!(none.fg.is_empty() && none.num_fetches == 0);
        assert_eq!(none.target_scores_sum(), 1.0);
    }

    #[test]
    fn random_cases_match_dense_reference() {
        let grid = AnchorGrid::new(&[(8, 8), (4, 4), (2, 2)], &[8.0, 16.0, 32.0]);
        let mut seed = 7u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32) / (1u64 << 31) as f32
        };
        for case in 0..200 {
            let bsz = 1 + case % 3;
            let mut gts = Vec::new();
            for _ in 0..bsz {
                let n = (rnd() * 7.0) as usize;
                gts.push(
                    (0..n)
                        .map(|_| {
                            let x1 = rnd() * 56.0;
                            let y1 = rnd() * 56.0;
                            GtBox {
                                cls: (rnd() * 3.0) as usize,
                                xyxy: [
                                    x1,
                                    y1,
                                    (x1 + 2.0 + rnd() * 40.0).min(64.0),
                                    (y1 + 2.0 + rnd() * 40.0).min(64.0),
                                ],
                            }
                        })
                        .collect::<Vec<_>>(),
                );
            }
            // Predictions: boxes of random size around each anchor, large enough to overlap GTs
            // containing the anchor (positive CIoU almost always).
            let sizes: Vec<f32> = (0..bsz * grid.num_anchors()).map(|_| 3.0 + rnd() * 14.0).collect();
            let pred = boxes_around_anchors(&grid, bsz, |b, a| sizes[b * grid.num_anchors() + a]);
            let lg: Vec<f32> = (0..bsz * grid.num_anchors() * 3).map(|_| rnd() * 8.0 - 6.0).collect();
            let na = grid.num_anchors();
            let logits = move |b: usize, a: usize, c: usize| lg[(b * na + a) * 3 + c];
            let cfg = AssignerConfig {
                topk: 1 + case % 10,
                max_pairs: 1 + case * 3,
                ..Default::default()
            };
            let res = run(&cfg, &grid, &gts, &pred, &logits);
            let dense = dense_reference(&cfg, &grid, &gts, &pred, &logits);
            // Drop the weight-0 zero-metric fills of the dense version (documented difference),
            // which only arise when a GT has fewer than topk positive-metric candidates.
            let filtered: Vec<Vec<Option<(usize, f32)>>> = dense
                .iter()
                .enumerate()
                .map(|(b, img)| {
                    img.iter()
                        .enumerate()
                        .map(|(a, e)| match e {
                            Some((_, w)) if *w == 0.0 && !res.fg.iter().any(|f| f.batch == b && f.anchor == a) => None,
                            other => *other,
                        })
                        .collect()
                })
                .collect();
            compare(&res, &filtered);
        }
    }
}
