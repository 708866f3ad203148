//! Prediction ↔ ground-truth matching at the 10 COCO IoU thresholds, as Ultralytics 8.3.x
//! `BaseValidator.match_predictions` (IoU-sorted, `np.unique`-deduplicated, non-scipy path).

/// Number of IoU thresholds (0.50:0.05:0.95).
pub const NUM_IOU: usize = 10;

/// The IoU thresholds `torch.linspace(0.5, 0.95, 10)` as float32, computed with torch's CPU `linspace`
/// kernel formula (`step = (end - start) / 9` in float32; `start + step * i` for the first half,
/// `end - step * (9 - i)` for the second). The values are the float32 numbers nearest to
/// 0.50, 0.55, …, 0.95 (e.g. `0.55 → 0.550000011920929`); Ultralytics passes them through `.tolist()` and
/// NumPy compares them against the float32 IoU matrix in float32, so comparing `f32` values is exact.
pub fn iou_thresholds() -> [f32; NUM_IOU] {
    let start = 0.5f32;
    let end = 0.95f32;
    let steps = NUM_IOU;
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    let mut out = [0f32; NUM_IOU];
    for (i, o) in out.iter_mut().enumerate() {
        *o = if i < halfway {
            start + step * i as f32
        } else {
            end - step * (steps - i - 1) as f32
        };
    }
    out
}

/// Ultralytics 8.3.x `match_predictions` (default non-scipy path) for one image.
///
/// * `pred_cls`: `[n_pred]` predicted classes; `target_cls`: `[n_gt]` ground-truth classes.
/// * `iou`: `[n_gt][n_pred]` IoU matrix (ground truth rows, as `box_iou(gt, pred)`).
/// * Returns `[n_pred]` rows of 10 flags: `correct[p][t]` is true when prediction `p` is a true positive at
///   threshold `iou_thresholds()[t]`.
///
/// Per threshold `thr`, Ultralytics takes the `(gt, pred)` pairs with matching classes and `IoU >= thr`
/// (from `np.nonzero`, i.e. row-major order), sorts them by IoU with `argsort()[::-1]`, keeps the first pair
/// of every prediction (`np.unique(pred, return_index=True)`, which also re-orders the pairs by prediction
/// index), then the first pair of every ground truth in *that* order. This is computed here without
/// sorting, with the same result:
/// 1. each prediction picks its highest-IoU ground truth (ties: the **highest** ground-truth index, because
///    the reversed ascending sort puts later row-major pairs first among equal IoUs);
/// 2. each ground truth picked by several predictions goes to the **lowest prediction index** (not the highest
///    IoU — the second `np.unique` runs on the prediction-ordered list; predictions come out of NMS in
///    decreasing confidence, so this is the most confident one).
///
/// Tie caveat: step 1 assumes NumPy's `argsort` (default `kind="quicksort"`) behaved as a stable sort on
/// equal IoUs, which holds for its insertion-sort path (≤ 16 pairs) on builds without SIMD sorting; NumPy's
/// introsort on larger inputs and its AVX2/AVX-512 sorts (x86-simd-sort, NumPy ≥ 1.25/2.0) order exact IoU
/// ties arbitrarily. Only a prediction with *exactly* equal IoU to two same-class ground truths is affected.
///
/// # Panics
/// If `iou` is not `[target_cls.len()][pred_cls.len()]`.
pub fn match_predictions(
    pred_cls: &[usize],
    target_cls: &[usize],
    iou: &[Vec<f32>],
) -> Vec<[bool; NUM_IOU]> {
    let n_pred = pred_cls.len();
    let n_gt = target_cls.len();
    assert_eq!(iou.len(), n_gt, "iou must have n_gt rows");
    assert!(
        iou.iter().all(|r| r.len() == n_pred),
        "iou rows must have n_pred columns"
    );
    let mut correct = vec![[false; NUM_IOU]; n_pred];
    if n_pred == 0 || n_gt == 0 {
        return correct;
    }
    let thresholds = iou_thresholds();
    // best_gt[p]: ground truth claimed by prediction p at this threshold.
    let mut best_gt: Vec<Option<usize>> = vec![None; n_pred];
    // winner[g]: lowest prediction index claiming ground truth g.
    let mut winner: Vec<Option<usize>> = vec![None; n_gt];
    for (t, &thr) in thresholds.iter().enumerate() {
        for (p, bg) in best_gt.iter_mut().enumerate() {
            let mut best: Option<(usize, f32)> = None;
            for g in 0..n_gt {
                // class mismatch -> IoU zeroed -> never >= thr (thr >= 0.5)
                if target_cls[g] != pred_cls[p] {
                    continue;
                }
                let v = iou[g][p];
                if v >= thr && best.is_none_or(|(_, bv)| v >= bv) {
                    best = Some((g, v));
                }
            }
            *bg = best.map(|(g, _)| g);
        }
        winner.iter_mut().for_each(|w| *w = None);
        for (p, bg) in best_gt.iter().enumerate() {
            if let Some(g) = *bg
                && winner[g].is_none()
            {
                winner[g] = Some(p);
            }
        }
        for p in winner.iter().flatten() {
            correct[*p][t] = true;
        }
    }
    correct
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_torch_linspace() {
        let t = iou_thresholds();
        let expected = [0.5f32, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];
        assert_eq!(t, expected);
        // the values torch's .tolist() prints
        assert_eq!(t[1] as f64, 0.550000011920929);
        assert_eq!(t[2] as f64, 0.6000000238418579);
        assert_eq!(t[9] as f64, 0.949999988079071);
    }

    fn m(rows: &[&[f32]]) -> Vec<Vec<f32>> {
        rows.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn single_match_thresholds() {
        // IoU 0.72 -> TP at 0.50..0.70 (5 thresholds)
        let c = match_predictions(&[0], &[0], &m(&[&[0.72]]));
        assert_eq!(
            c[0],
            [
                true, true, true, true, true, false, false, false, false, false
            ]
        );
        // exactly at a threshold counts (>=)
        let c = match_predictions(&[0], &[0], &m(&[&[0.75]]));
        assert_eq!(c[0].iter().filter(|&&b| b).count(), 6);
    }

    #[test]
    fn class_mismatch_is_zeroed() {
        let c = match_predictions(&[1], &[0], &m(&[&[0.99]]));
        assert_eq!(c[0], [false; 10]);
    }

    #[test]
    fn one_prediction_two_gts() {
        // pred 0 overlaps gt0 (0.6) and gt1 (0.9): it claims gt1 only; pred count 1 => one TP.
        let c = match_predictions(&[0], &[0, 0], &m(&[&[0.6], &[0.9]]));
        assert_eq!(
            c[0],
            [true, true, true, true, true, true, true, true, true, false]
        );
    }

    #[test]
    fn two_predictions_one_gt_lowest_index_wins() {
        // pred 0 (more confident) IoU 0.6, pred 1 IoU 0.9, same GT: Ultralytics gives the GT to the lowest
        // prediction index among claimants, i.e. pred 0, wherever pred 0 still qualifies (thr <= 0.6).
        let c = match_predictions(&[0, 0], &[0], &m(&[&[0.6, 0.9]]));
        assert_eq!(
            c[0],
            [
                true, true, true, false, false, false, false, false, false, false
            ]
        );
        assert_eq!(
            c[1],
            [
                false, false, false, true, true, true, true, true, true, false
            ]
        );
    }

    #[test]
    fn prediction_prefers_its_best_gt_then_gt_dedup() {
        // pred0 best gt0 (0.8), pred1 best gt0 (0.9) too but also gt1 (0.7).
        // Each pred keeps only its best GT -> both claim gt0 -> pred0 wins, pred1 is FP (gt1 unmatched).
        let iou = m(&[&[0.8, 0.9], &[0.0, 0.7]]);
        let c = match_predictions(&[0, 0], &[0, 0], &iou);
        assert!(c[0][0]);
        assert!(!c[1][0]);
        // at thr 0.85 pred0 no longer qualifies -> pred1 gets gt0
        let t85 = 7;
        assert!(!c[0][t85]);
        assert!(c[1][t85]);
    }

    #[test]
    fn iou_tie_picks_highest_gt_index() {
        // pred0 ties gt0/gt1 at 0.8; pred1 only overlaps gt1 (0.7). numpy (stable argsort reversed) sends
        // pred0 to gt1, so pred1 loses gt1 and gt0 stays unmatched.
        let iou = m(&[&[0.8, 0.0], &[0.8, 0.7]]);
        let c = match_predictions(&[0, 0], &[0, 0], &iou);
        assert!(c[0][0]);
        assert!(!c[1][0]);
    }

    #[test]
    fn empty_inputs() {
        assert!(match_predictions(&[], &[0], &m(&[&[]])).is_empty());
        let c = match_predictions(&[0, 1], &[], &[]);
        assert_eq!(c, vec![[false; 10]; 2]);
    }
}
