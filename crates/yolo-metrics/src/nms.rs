//! Non-maximum suppression on raw YOLO11 detect-head output, reproducing Ultralytics 8.3.x
//! `non_max_suppression` (`ultralytics/utils/nms.py`, `ops.py` in 8.3.0) with torchvision's greedy NMS.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::boxes::xywh_to_xyxy;

/// NMS settings. [`Default`] gives Ultralytics' *predict* defaults (§8.1 of the spec);
/// [`NmsConfig::validation`] gives the settings the validator uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NmsConfig {
    /// Confidence threshold: a row is kept when its class score is strictly `> conf` (compared in float32,
    /// as torch compares a float32 tensor with a Python scalar). Must be in `[0, 1]`.
    pub conf: f32,
    /// IoU threshold: a box is suppressed when its IoU with a kept box is strictly `> iou`. Must be in `[0, 1]`.
    pub iou: f32,
    /// Maximum detections kept per image (after NMS).
    pub max_det: usize,
    /// Maximum rows fed into NMS; the highest-scoring `max_nms` are kept when there are more.
    pub max_nms: usize,
    /// Per-class coordinate offset (pixels) used for class-aware NMS.
    pub max_wh: f32,
    /// One row per (anchor, class) with score `> conf` instead of the best class only. Only effective when
    /// `nc > 1` (Ultralytics: `multi_label &= nc > 1`).
    pub multi_label: bool,
    /// Class-agnostic NMS (offset 0 for every class).
    pub agnostic: bool,
    /// Keep only these classes (filter applied before the `max_nms` cut, as Ultralytics).
    pub classes: Option<Vec<usize>>,
}

impl Default for NmsConfig {
    /// Predict defaults: `conf 0.25, iou 0.7, max_det 300, max_nms 30000, max_wh 7680`, best class only,
    /// class-aware, no class filter.
    fn default() -> Self {
        Self {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            max_nms: 30000,
            max_wh: 7680.0,
            multi_label: false,
            agnostic: false,
            classes: None,
        }
    }
}

impl NmsConfig {
    /// Predict defaults (same as [`Default`]).
    pub fn predict() -> Self {
        Self::default()
    }

    /// Validation settings of `DetectionValidator`: `conf 0.001, iou 0.7, max_det 300, multi_label = true`
    /// (set `agnostic` for `single_cls` / `agnostic_nms`).
    pub fn validation() -> Self {
        Self {
            conf: 0.001,
            multi_label: true,
            ..Self::default()
        }
    }
}

/// One detection after NMS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// `[x1, y1, x2, y2]` in the same pixel space as the model output (letterboxed input image).
    pub bbox: [f32; 4],
    /// Class score (sigmoid probability) of `cls`.
    pub conf: f32,
    /// Class index in `0..nc`.
    pub cls: usize,
}

/// A candidate row before NMS (`x1 y1 x2 y2 conf cls` of Ultralytics' `x` matrix).
#[derive(Debug, Clone, Copy)]
struct Row {
    bbox: [f32; 4],
    score: f32,
    cls: u32,
}

/// Collects rows in generation order and, once more than `cap` arrive, keeps only the `cap` best by
/// (score descending, generation order ascending) — exactly what a stable descending sort followed by
/// `truncate(cap)` keeps (Ultralytics: `x[x[:, 4].argsort(descending=True)[:max_nms]]`), but with O(cap)
/// memory instead of one row per (anchor, class) above `conf`.
struct TopRows {
    cap: usize,
    rows: Vec<Row>,
    /// Heap mode (after overflow): max-heap on "worseness", so `peek()` is the row to evict.
    heap: Option<std::collections::BinaryHeap<Ranked>>,
    next_idx: u64,
}

/// A row with its generation index, ordered so that a *worse* row is *greater*.
struct Ranked {
    score: f32,
    idx: u64,
    row: Row,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        // lower score is worse; on equal score the later row is worse (stable order)
        desc_nan_first(self.score, other.score).then(self.idx.cmp(&other.idx))
    }
}

impl TopRows {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            rows: Vec::new(),
            heap: None,
            next_idx: 0,
        }
    }

    fn push(&mut self, row: Row) {
        let idx = self.next_idx;
        self.next_idx += 1;
        if let Some(heap) = &mut self.heap {
            // a new row ties-loses against every earlier row: only a strictly better score enters
            if let Some(worst) = heap.peek()
                && desc_nan_first(row.score, worst.score) == Ordering::Less
            {
                heap.pop();
                heap.push(Ranked {
                    score: row.score,
                    idx,
                    row,
                });
            }
            return;
        }
        self.rows.push(row);
        if self.rows.len() > self.cap {
            let heap: std::collections::BinaryHeap<Ranked> = std::mem::take(&mut self.rows)
                .into_iter()
                .enumerate()
                .map(|(i, row)| Ranked {
                    score: row.score,
                    idx: i as u64,
                    row,
                })
                .collect();
            let mut heap = heap;
            while heap.len() > self.cap {
                heap.pop();
            }
            self.heap = Some(heap);
        }
    }

    /// Rows in generation order when at most `cap` arrived, else the best `cap` in (score desc, order asc).
    fn into_rows(self) -> Vec<Row> {
        match self.heap {
            None => self.rows,
            Some(heap) => heap.into_sorted_vec().into_iter().map(|r| r.row).collect(),
        }
    }
}

/// Descending order for scores, NaN first (torch's descending sort puts NaN first). Used with a *stable*
/// sort, so equal scores keep their input order.
#[inline]
fn desc_nan_first(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// C++ `std::max(a, b)` = `(a < b) ? b : a` (what torchvision's CPU kernel uses).
#[inline]
fn cpp_max(a: f32, b: f32) -> f32 {
    if a < b { b } else { a }
}

/// C++ `std::min(a, b)` = `(b < a) ? b : a`.
#[inline]
fn cpp_min(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// torchvision's overlap of kept box `i` with later box `j`: `inter / (area_i + area_j - inter)`
/// in float32, no `+1` on sides, no epsilon (0/0 gives NaN, which never suppresses).
#[inline]
fn tv_iou(bi: &[f32; 4], area_i: f32, bj: &[f32; 4], area_j: f32) -> f32 {
    let xx1 = cpp_max(bi[0], bj[0]);
    let yy1 = cpp_max(bi[1], bj[1]);
    let xx2 = cpp_min(bi[2], bj[2]);
    let yy2 = cpp_min(bi[3], bj[3]);
    let w = cpp_max(0.0, xx2 - xx1);
    let h = cpp_max(0.0, yy2 - yy1);
    let inter = w * h;
    inter / (area_i + area_j - inter)
}

/// Greedy NMS with `torchvision.ops.nms` semantics on `xyxy` boxes.
///
/// * `boxes`: `[N][4]` `x1 y1 x2 y2`; `scores`: `[N]`.
/// * Returns indices of kept boxes in decreasing score order, at most `max_keep` of them (the first
///   `max_keep` of what torchvision returns; stopping early does not change them).
///
/// Semantics: boxes are visited in decreasing score order; a box is kept unless a previously *kept* box
/// overlaps it with IoU `> iou_thres`. IoU uses float32 areas `(x2-x1)*(y2-y1)` (no `+1`).
///
/// Tie rule: boxes with equal scores are visited in increasing index order (stable sort). torch's
/// `sort(descending=True)` is not guaranteed stable (CPU `std::sort`, CUDA bitonic sort for ≤ 4096
/// elements), so with exactly equal scores torchvision may keep a different member of the tie.
///
/// Threshold precision: the comparison is done in float32 (`iou > iou_thres` with `iou_thres: f32`), as
/// torchvision's CUDA kernel and Ultralytics' `TorchNMS` do. torchvision's *CPU* kernel compares the float32
/// IoU with the float64 threshold; the two only disagree when the IoU equals `f32(thr)` exactly and
/// `f32(thr) > thr` (e.g. thr = 0.6).
///
/// Cost: O(N log N + N · K) where K ≤ `max_keep` is the number of kept boxes (each box is only compared with
/// kept boxes), instead of torchvision's O(N²).
pub fn nms_greedy(
    boxes: &[[f32; 4]],
    scores: &[f32],
    iou_thres: f32,
    max_keep: usize,
) -> Vec<usize> {
    assert_eq!(
        boxes.len(),
        scores.len(),
        "nms_greedy: boxes and scores must have the same length"
    );
    let groups = vec![0u32; boxes.len()];
    greedy_grouped(boxes, scores, &groups, 1, iou_thres, max_keep)
}

/// Greedy NMS where boxes of different `groups` are known not to intersect (so each box only needs to be
/// compared with kept boxes of its own group). Exactly equal to the ungrouped greedy result under that
/// precondition, because a pair with zero intersection has IoU 0 (or NaN) and never suppresses.
fn greedy_grouped(
    boxes: &[[f32; 4]],
    scores: &[f32],
    groups: &[u32],
    n_groups: usize,
    iou_thres: f32,
    max_keep: usize,
) -> Vec<usize> {
    let n = boxes.len();
    if n == 0 || max_keep == 0 {
        return Vec::new();
    }
    let areas: Vec<f32> = boxes
        .iter()
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .collect();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| desc_nan_first(scores[a as usize], scores[b as usize]));

    let mut kept_by_group: Vec<Vec<u32>> = vec![Vec::new(); n_groups];
    let mut keep = Vec::with_capacity(max_keep.min(n));
    for &j in &order {
        let j = j as usize;
        let kept = &mut kept_by_group[groups[j] as usize];
        let bj = &boxes[j];
        let aj = areas[j];
        let suppressed = kept.iter().any(|&i| {
            let i = i as usize;
            tv_iou(&boxes[i], areas[i], bj, aj) > iou_thres
        });
        if !suppressed {
            kept.push(j as u32);
            keep.push(j);
            if keep.len() == max_keep {
                break;
            }
        }
    }
    keep
}

/// Checks that the class-offset boxes of different classes cannot intersect (their x-ranges are disjoint),
/// which lets NMS compare each box only with kept boxes of its own class. Returns `false` (→ one global
/// group, always exact) when any coordinate is non-finite or ranges overlap (e.g. boxes wider than `max_wh`).
fn classes_are_separable(boxes: &[[f32; 4]], cls: &[u32], nc: usize) -> bool {
    let mut lo = vec![f32::INFINITY; nc];
    let mut hi = vec![f32::NEG_INFINITY; nc];
    let mut used = vec![false; nc];
    for (b, &c) in boxes.iter().zip(cls) {
        if !b.iter().all(|v| v.is_finite()) {
            return false;
        }
        let c = c as usize;
        used[c] = true;
        lo[c] = lo[c].min(b[0]).min(b[2]);
        hi[c] = hi[c].max(b[0]).max(b[2]);
    }
    let mut ranges: Vec<(f32, f32)> = (0..nc)
        .filter(|&c| used[c])
        .map(|c| (lo[c], hi[c]))
        .collect();
    ranges.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    let mut run_hi = f32::NEG_INFINITY;
    for (l, h) in ranges {
        // every box of an earlier group ends at or before this group's leftmost coordinate:
        // min(x2_i, x2_j) - max(x1_i, x1_j) <= 0 for every cross pair -> zero intersection.
        if run_hi > l {
            return false;
        }
        run_hi = run_hi.max(h);
    }
    true
}

/// Ultralytics 8.3.x `non_max_suppression` for ONE image.
///
/// * `pred`: the detect head's inference output for one image, shape `[4 + nc, A]` channel-major
///   (`pred[c * A + a]`); rows 0..4 are `cx, cy, w, h` in input-image pixels, rows `4..4+nc` are sigmoid
///   class scores.
/// * `nc`: number of classes; `num_anchors`: `A` (8400 at 640×640).
/// * Returns at most `cfg.max_det` detections, `bbox` in `xyxy` pixels, in decreasing `conf` order.
///
/// Steps (8.3.x): (1) candidates = anchors whose max class score `> conf` (a NaN score makes the max NaN, so
/// the anchor is dropped, as torch `amax` does); (2) `xywh → xyxy`; (3) with `multi_label && nc > 1` one row
/// per (candidate anchor, class) with score `> conf`, in (anchor, class) order, else the best class (first
/// maximal index, as torch `max(1)`); (4) `classes` filter; (5) if more than `max_nms` rows, keep the
/// `max_nms` highest scores; (6) offset boxes by `cls · max_wh` (0 if agnostic, added in float32 — this
/// shifts the float32 rounding of the IoU exactly as Ultralytics does) and run torchvision-style greedy NMS
/// ([`nms_greedy`]); (7) keep the first `max_det`.
///
/// Ties: every sort here is stable, so equal scores keep anchor order then class order. Ultralytics sorts
/// with torch's unstable sort (step 5 and inside torchvision), which may order exact ties differently.
/// Not implemented: the `2.0 + 0.05·B` s time limit (it only aborts, never changes kept boxes), mask
/// channels and a-priori `labels`.
///
/// Complexity: one pass over the `nc · A` scores (plus an `A`-sized buffer), then O(k log k + k · max_det)
/// for the k rows entering NMS; different classes are processed independently when their offset boxes
/// cannot overlap.
///
/// # Panics
/// If `pred.len() != (4 + nc) * num_anchors`, or `conf`/`iou` are outside `[0, 1]` (Ultralytics asserts).
pub fn non_max_suppression(
    pred: &[f32],
    nc: usize,
    num_anchors: usize,
    cfg: &NmsConfig,
) -> Vec<Detection> {
    let a_n = num_anchors;
    assert_eq!(
        pred.len(),
        (4 + nc) * a_n,
        "pred must have shape [4 + nc, A] = [{}, {}]",
        4 + nc,
        a_n
    );
    assert!(
        (0.0..=1.0).contains(&cfg.conf),
        "Invalid confidence threshold {}",
        cfg.conf
    );
    assert!(
        (0.0..=1.0).contains(&cfg.iou),
        "Invalid IoU threshold {}",
        cfg.iou
    );
    if nc == 0 || a_n == 0 {
        return Vec::new();
    }
    let conf = cfg.conf;
    let score = |c: usize, a: usize| pred[(4 + c) * a_n + a];

    // (1) per-anchor max class score: one pass over the class rows (cache-friendly, channel-major).
    let mut best = pred[4 * a_n..5 * a_n].to_vec();
    for c in 1..nc {
        let row = &pred[(4 + c) * a_n..(5 + c) * a_n];
        for (m, &v) in best.iter_mut().zip(row) {
            if v > *m || v.is_nan() {
                *m = v;
            }
        }
    }
    // NaN > conf is false, so NaN maxima are dropped here.
    let candidates: Vec<usize> = (0..a_n).filter(|&a| best[a] > conf).collect();
    if candidates.is_empty() {
        return Vec::new();
    }

    let class_ok: Option<Vec<bool>> = cfg.classes.as_ref().map(|cl| {
        let mut ok = vec![false; nc];
        for &c in cl {
            if c < nc {
                ok[c] = true;
            }
        }
        ok
    });
    let box_of =
        |a: usize| xywh_to_xyxy([pred[a], pred[a_n + a], pred[2 * a_n + a], pred[3 * a_n + a]]);

    // (2)-(5) build candidate rows (class filter applied inline) and keep the `max_nms` best.
    let multi_label = cfg.multi_label && nc > 1;
    let mut top = TopRows::new(cfg.max_nms);
    for &a in &candidates {
        let bbox = box_of(a);
        let ok = |c: usize| class_ok.as_ref().is_none_or(|ok| ok[c]);
        if multi_label {
            for c in 0..nc {
                let s = score(c, a);
                if s > conf && ok(c) {
                    top.push(Row {
                        bbox,
                        score: s,
                        cls: c as u32,
                    });
                }
            }
        } else {
            // first maximal class index (torch max(dim) returns the first occurrence)
            let mut bc = 0usize;
            let mut bs = score(0, a);
            for c in 1..nc {
                let s = score(c, a);
                if s > bs {
                    bs = s;
                    bc = c;
                }
            }
            if bs > conf && ok(bc) {
                top.push(Row {
                    bbox,
                    score: bs,
                    cls: bc as u32,
                });
            }
        }
    }
    let rows = top.into_rows();
    if rows.is_empty() {
        return Vec::new();
    }

    // (6) class offsets (float32 multiply and add, as `x[:, 5:6] * max_wh` and `x[:, :4] + c`).
    let offset_boxes: Vec<[f32; 4]> = rows
        .iter()
        .map(|r| {
            let off = if cfg.agnostic {
                0.0
            } else {
                r.cls as f32 * cfg.max_wh
            };
            [
                r.bbox[0] + off,
                r.bbox[1] + off,
                r.bbox[2] + off,
                r.bbox[3] + off,
            ]
        })
        .collect();
    let scores: Vec<f32> = rows.iter().map(|r| r.score).collect();
    let cls: Vec<u32> = rows.iter().map(|r| r.cls).collect();

    let keep = if !cfg.agnostic && classes_are_separable(&offset_boxes, &cls, nc) {
        greedy_grouped(&offset_boxes, &scores, &cls, nc, cfg.iou, cfg.max_det)
    } else {
        let zeros = vec![0u32; rows.len()];
        greedy_grouped(&offset_boxes, &scores, &zeros, 1, cfg.iou, cfg.max_det)
    };

    // (7) output (un-offset boxes), already limited to max_det.
    keep.into_iter()
        .map(|i| Detection {
            bbox: rows[i].bbox,
            conf: rows[i].score,
            cls: rows[i].cls as usize,
        })
        .collect()
}

/// Batched [`non_max_suppression`]: `pred` has shape `[B, 4 + nc, A]` (row-major, image-major).
/// Returns one detection list per image.
///
/// # Panics
/// If `pred.len() != batch * (4 + nc) * num_anchors` (and as [`non_max_suppression`]).
pub fn non_max_suppression_batch(
    pred: &[f32],
    batch: usize,
    nc: usize,
    num_anchors: usize,
    cfg: &NmsConfig,
) -> Vec<Vec<Detection>> {
    let per = (4 + nc) * num_anchors;
    assert_eq!(
        pred.len(),
        batch * per,
        "pred must have shape [B, 4 + nc, A] = [{batch}, {}, {num_anchors}]",
        4 + nc
    );
    if per == 0 {
        return vec![Vec::new(); batch];
    }
    pred.chunks_exact(per)
        .map(|p| non_max_suppression(p, nc, num_anchors, cfg))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a `[4 + nc, A]` channel-major tensor from per-anchor `(xywh, scores)`.
    fn make_pred(anchors: &[([f32; 4], Vec<f32>)], nc: usize) -> Vec<f32> {
        let a_n = anchors.len();
        let mut p = vec![0.0f32; (4 + nc) * a_n];
        for (a, (b, s)) in anchors.iter().enumerate() {
            for k in 0..4 {
                p[k * a_n + a] = b[k];
            }
            for c in 0..nc {
                p[(4 + c) * a_n + a] = s[c];
            }
        }
        p
    }

    #[test]
    fn defaults_match_ultralytics() {
        let c = NmsConfig::default();
        assert_eq!(
            (c.conf, c.iou, c.max_det, c.max_nms, c.max_wh),
            (0.25, 0.7, 300, 30000, 7680.0)
        );
        assert!(!c.multi_label && !c.agnostic && c.classes.is_none());
        let v = NmsConfig::validation();
        assert_eq!((v.conf, v.iou, v.multi_label), (0.001, 0.7, true));
    }

    #[test]
    fn overlapping_same_class_suppressed() {
        // two 10x10 boxes shifted by 1 px: IoU = 90/110 = 0.818 > 0.7
        let pred = make_pred(
            &[
                ([5.0, 5.0, 10.0, 10.0], vec![0.9, 0.1]),
                ([6.0, 5.0, 10.0, 10.0], vec![0.8, 0.1]),
            ],
            2,
        );
        let d = non_max_suppression(&pred, 2, 2, &NmsConfig::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].cls, 0);
        assert_eq!(d[0].conf, 0.9);
        assert_eq!(d[0].bbox, [0.0, 0.0, 10.0, 10.0]);
    }

    #[test]
    fn overlapping_different_class_kept() {
        let pred = make_pred(
            &[
                ([5.0, 5.0, 10.0, 10.0], vec![0.9, 0.1]),
                ([6.0, 5.0, 10.0, 10.0], vec![0.1, 0.8]),
            ],
            2,
        );
        let d = non_max_suppression(&pred, 2, 2, &NmsConfig::default());
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].cls, d[1].cls), (0, 1));
        // agnostic suppresses across classes
        let cfg = NmsConfig {
            agnostic: true,
            ..NmsConfig::default()
        };
        let d = non_max_suppression(&pred, 2, 2, &cfg);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].cls, 0);
    }

    #[test]
    fn iou_threshold_is_strict() {
        // IoU exactly 0.5 (boxes [0,0,10,10] and [0,0,10,5] after offset): 50 / (100 + 50 - 50) = 0.5
        let boxes = [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]];
        assert_eq!(nms_greedy(&boxes, &[0.9, 0.8], 0.5, 300), vec![0, 1]);
        assert_eq!(nms_greedy(&boxes, &[0.9, 0.8], 0.49, 300), vec![0]);
    }

    #[test]
    fn greedy_chain_suppressed_box_does_not_suppress() {
        // A overlaps B, B overlaps C, A does not overlap C: keep A and C.
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [5.0, 0.0, 15.0, 10.0],
            [10.0, 0.0, 20.0, 10.0],
        ];
        assert_eq!(nms_greedy(&boxes, &[0.9, 0.8, 0.7], 0.3, 300), vec![0, 2]);
    }

    #[test]
    fn ties_keep_lower_index_first() {
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [0.0, 0.0, 10.0, 10.0],
            [50.0, 0.0, 60.0, 10.0],
        ];
        assert_eq!(nms_greedy(&boxes, &[0.5, 0.5, 0.5], 0.7, 300), vec![0, 2]);
    }

    #[test]
    fn conf_is_strict_and_multilabel() {
        let pred = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.25, 0.3, 0.26])], 3);
        // best class only
        let d = non_max_suppression(&pred, 3, 1, &NmsConfig::default());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].cls, 1);
        // multi-label: classes 1 and 2 (> 0.25), not class 0 (== 0.25); sorted by conf
        let cfg = NmsConfig {
            multi_label: true,
            ..NmsConfig::default()
        };
        let d = non_max_suppression(&pred, 3, 1, &cfg);
        assert_eq!(
            d.iter().map(|x| (x.cls, x.conf)).collect::<Vec<_>>(),
            vec![(1, 0.3), (2, 0.26)]
        );
        // multi_label is ignored for nc == 1
        let p1 = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.9])], 1);
        assert_eq!(non_max_suppression(&p1, 1, 1, &cfg).len(), 1);
    }

    #[test]
    fn best_class_tie_takes_first_index() {
        let pred = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.1, 0.6, 0.6])], 3);
        let d = non_max_suppression(&pred, 3, 1, &NmsConfig::default());
        assert_eq!(d[0].cls, 1);
    }

    #[test]
    fn class_filter_max_det_and_max_nms() {
        let anchors: Vec<([f32; 4], Vec<f32>)> = (0..10)
            .map(|i| {
                (
                    [i as f32 * 100.0 + 5.0, 5.0, 10.0, 10.0],
                    vec![0.3 + i as f32 * 0.01, 0.9 - i as f32 * 0.01],
                )
            })
            .collect();
        let pred = make_pred(&anchors, 2);
        let cfg = NmsConfig {
            classes: Some(vec![0]),
            multi_label: true,
            ..NmsConfig::default()
        };
        let d = non_max_suppression(&pred, 2, 10, &cfg);
        assert_eq!(d.len(), 10);
        assert!(d.iter().all(|x| x.cls == 0));
        assert!(d.windows(2).all(|w| w[0].conf >= w[1].conf));
        let cfg = NmsConfig {
            max_det: 3,
            ..NmsConfig::default()
        };
        let d = non_max_suppression(&pred, 2, 10, &cfg);
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].conf, 0.9);
        // max_nms keeps the top-scoring rows only
        let cfg = NmsConfig {
            max_nms: 4,
            multi_label: true,
            ..NmsConfig::default()
        };
        let d = non_max_suppression(&pred, 2, 10, &cfg);
        assert_eq!(d.len(), 4);
        assert!(d.iter().all(|x| x.cls == 1));
    }

    #[test]
    fn empty_and_nan() {
        let pred = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.1, 0.2])], 2);
        assert!(non_max_suppression(&pred, 2, 1, &NmsConfig::default()).is_empty());
        assert!(non_max_suppression(&[], 2, 0, &NmsConfig::default()).is_empty());
        // NaN score anywhere in the anchor drops the anchor (torch amax propagates NaN)
        let pred = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.9, f32::NAN])], 2);
        assert!(non_max_suppression(&pred, 2, 1, &NmsConfig::default()).is_empty());
    }

    #[test]
    fn batch_helper() {
        let a = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.9, 0.1])], 2);
        let b = make_pred(&[([5.0, 5.0, 10.0, 10.0], vec![0.1, 0.1])], 2);
        let mut both = a.clone();
        both.extend_from_slice(&b);
        let out = non_max_suppression_batch(&both, 2, 2, 1, &NmsConfig::default());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), 1);
        assert!(out[1].is_empty());
    }

    #[test]
    fn separability_fallback_matches_global() {
        // Huge boxes overlapping across class offsets: the grouped shortcut must be refused.
        let boxes = [[0.0, 0.0, 10000.0, 100.0], [7680.0, 7680.0, 7690.0, 7690.0]];
        assert!(!classes_are_separable(&boxes, &[0, 1], 2));
        let boxes = [[0.0, 0.0, 100.0, 100.0], [7680.0, 7680.0, 7780.0, 7780.0]];
        assert!(classes_are_separable(&boxes, &[0, 1], 2));
    }
}
