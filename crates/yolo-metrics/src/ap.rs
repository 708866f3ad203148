//! Average precision, P/R/F1 and the curves behind them, as Ultralytics 8.3.x `ap_per_class` /
//! `compute_ap` / `Metric` / `DetMetrics` (`ultralytics/utils/metrics.py`), computed in float64 like NumPy.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

use crate::matching::NUM_IOU;
use crate::numpy_compat::{argmax, interp, linspace, mean, round, smooth, sum, trapezoid};

/// `eps` of `ap_per_class` (float64).
const EPS: f64 = 1e-16;
/// Number of points of the confidence / recall grid `np.linspace(0, 1, 1000)`.
pub const CURVE_POINTS: usize = 1000;

/// Ultralytics 8.3.x `compute_ap(recall, precision)` for one class and one IoU threshold.
///
/// * `recall`, `precision`: `[n]` cumulative curves in decreasing-confidence order (float64).
/// * Returns `(ap, mpre, mrec)` where `mrec = [0, recall…, 1]`, `mpre` = the precision envelope of
///   `[1, precision…, 0]` (running maximum from the right), and
///   `ap = trapezoid(interp(linspace(0, 1, 101), mrec, mpre), linspace(0, 1, 101))`
///   — the 101-point *trapezoid* integral (not COCO's 101-sample mean).
///
/// 8.4 differs (an extra `(recall[-1], 0)` point); this is the 8.3.x formula.
pub fn compute_ap(recall: &[f64], precision: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    assert_eq!(
        recall.len(),
        precision.len(),
        "compute_ap: recall and precision lengths differ"
    );
    let mut mrec = Vec::with_capacity(recall.len() + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(1.0);
    let mut mpre = Vec::with_capacity(precision.len() + 2);
    mpre.push(1.0);
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    // np.flip(np.maximum.accumulate(np.flip(mpre))); np.maximum propagates NaN.
    let mut run = f64::NEG_INFINITY;
    for v in mpre.iter_mut().rev() {
        run = if run.is_nan() || v.is_nan() {
            f64::NAN
        } else {
            run.max(*v)
        };
        *v = run;
    }
    let x = linspace(0.0, 1.0, 101);
    let y = interp(&x, &mrec, &mpre, None, None);
    (trapezoid(&y, &x), mpre, mrec)
}

/// Result of [`ap_per_class`]: per evaluated class (the unique ground-truth classes) the AP at the 10 IoU
/// thresholds and P/R/F1 at the confidence that maximises the smoothed mean F1, plus the curves to plot.
/// All values are float64, as NumPy produces them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApResult {
    /// Evaluated classes: unique ground-truth classes, ascending (`unique_classes`).
    pub classes: Vec<usize>,
    /// Ground-truth instance count of each evaluated class (`nt`).
    pub nt: Vec<usize>,
    /// True positives at the max-F1 confidence, `round(r · nt)` (banker's rounding, as `ndarray.round`).
    pub tp: Vec<f64>,
    /// False positives at the max-F1 confidence, `round(tp / (p + 1e-16) − tp)`.
    pub fp: Vec<f64>,
    /// Precision per class at the max-F1 confidence.
    pub p: Vec<f64>,
    /// Recall per class at the max-F1 confidence.
    pub r: Vec<f64>,
    /// F1 per class at the max-F1 confidence.
    pub f1: Vec<f64>,
    /// AP per class at IoU 0.50, 0.55, …, 0.95: `[n_classes][10]`.
    pub ap: Vec<[f64; NUM_IOU]>,
    /// Index into `px` of the max-F1 confidence (`smooth(f1_curve.mean(0), 0.1).argmax()`).
    pub best_index: usize,
    /// The 1000-point grid `linspace(0, 1, 1000)`: confidence axis of `p_curve`/`r_curve`/`f1_curve`, recall
    /// axis of `pr_curves`.
    pub px: Vec<f64>,
    /// Precision vs confidence `[n_classes][1000]` (`interp(-px, -conf, precision, left=1)`; zeros for classes
    /// without predictions).
    pub p_curve: Vec<Vec<f64>>,
    /// Recall vs confidence `[n_classes][1000]` (`interp(-px, -conf, recall, left=0)`).
    pub r_curve: Vec<Vec<f64>>,
    /// F1 vs confidence `[n_classes][1000]`: `2·p·r / (p + r + 1e-16)`.
    pub f1_curve: Vec<Vec<f64>>,
    /// Precision-recall curves at IoU 0.5 on the recall grid `px` (Ultralytics' `prec_values` / `py`): one row
    /// per class *that has predictions* (see `pr_curve_classes`); a single all-zero row when no class has any
    /// (as Ultralytics' `np.zeros((1, 1000))` placeholder).
    pub pr_curves: Vec<Vec<f64>>,
    /// Class of each row of `pr_curves` (empty for the placeholder row).
    pub pr_curve_classes: Vec<usize>,
}

impl ApResult {
    /// AP@0.5 per evaluated class (`all_ap[:, 0]`).
    pub fn ap50(&self) -> Vec<f64> {
        self.ap.iter().map(|a| a[0]).collect()
    }

    /// AP@0.5:0.95 per evaluated class (`all_ap.mean(1)`, NumPy pairwise sum over the 10 values / 10).
    pub fn ap50_95(&self) -> Vec<f64> {
        self.ap.iter().map(|a| mean(a)).collect()
    }

    /// Mean precision (`p.mean()`, 0 when there are no classes).
    pub fn mp(&self) -> f64 {
        if self.p.is_empty() {
            0.0
        } else {
            mean(&self.p)
        }
    }

    /// Mean recall (`r.mean()`, 0 when there are no classes).
    pub fn mr(&self) -> f64 {
        if self.r.is_empty() {
            0.0
        } else {
            mean(&self.r)
        }
    }

    /// mAP@0.5 (`all_ap[:, 0].mean()`, 0 when there are no classes).
    pub fn map50(&self) -> f64 {
        if self.ap.is_empty() {
            0.0
        } else {
            mean(&self.ap50())
        }
    }

    /// mAP@0.75 (`all_ap[:, 5].mean()`).
    pub fn map75(&self) -> f64 {
        if self.ap.is_empty() {
            0.0
        } else {
            mean(&self.ap.iter().map(|a| a[5]).collect::<Vec<_>>())
        }
    }

    /// mAP@0.5:0.95 (`all_ap.mean()`: one pairwise sum over the flattened `[n_classes × 10]` matrix).
    pub fn map50_95(&self) -> f64 {
        if self.ap.is_empty() {
            0.0
        } else {
            let flat: Vec<f64> = self.ap.iter().flat_map(|a| a.iter().copied()).collect();
            mean(&flat)
        }
    }
}

/// Stable argsort of `conf` in decreasing order (NaN last, like `np.argsort(-conf)`).
fn argsort_desc(conf: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..conf.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (conf[a], conf[b]);
        match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
        }
    });
    idx
}

/// Ultralytics 8.3.x `ap_per_class` (without plotting).
///
/// * `tp`: `[n_pred][10]` true-positive flags (from [`crate::matching::match_predictions`]);
///   `conf`: `[n_pred]` confidences; `pred_cls`: `[n_pred]` predicted classes; all three concatenated over
///   the whole validation set in the same order.
/// * `target_cls`: `[n_gt_total]` class of every ground-truth box of the set.
/// * `nc_names`: number of dataset classes (`len(names)`); classes are expected in `0..nc_names`
///   (debug-asserted only; it does not change any value).
///
/// Algorithm (float64 throughout, as NumPy promotes the float32 confidences and integer counts):
/// predictions are sorted by decreasing confidence; for each unique ground-truth class with at least one
/// prediction, cumulative TP/FP give `recall = tpc / (n_gt + 1e-16)` and `precision = tpc / (tpc + fpc)`;
/// AP per threshold via [`compute_ap`]; P/R vs confidence curves on `linspace(0, 1, 1000)` via `np.interp`
/// on the negated confidence axis (precision left value 1, recall left value 0); `F1 = 2PR/(P+R+1e-16)`;
/// the reported P/R/F1 are taken at `argmax(smooth(mean_over_classes(F1), 0.1))`. Classes without
/// predictions keep AP 0 and zero curves.
///
/// Exactness notes: NumPy's `argsort(-conf)` is an unstable sort (introsort / x86-simd-sort); this uses a
/// stable sort, so among predictions with *exactly* equal confidence the accumulation order is the input
/// order (image order, then NMS order). Such ties are common when the model ran in fp16 (Ultralytics
/// validates an fp16 EMA under AMP, so its confidences have ~3 significant digits) and can move AP in the
/// last digits. `smooth` uses a sequential dot product instead of BLAS (see [`smooth`]). Everything else
/// (`interp`, `trapezoid`, pairwise means, the column mean over classes) follows NumPy's evaluation order.
///
/// # Panics
/// If `tp`, `conf` and `pred_cls` lengths differ.
pub fn ap_per_class(
    tp: &[[bool; NUM_IOU]],
    conf: &[f32],
    pred_cls: &[usize],
    target_cls: &[usize],
    nc_names: usize,
) -> ApResult {
    assert_eq!(tp.len(), conf.len(), "tp and conf lengths differ");
    assert_eq!(tp.len(), pred_cls.len(), "tp and pred_cls lengths differ");
    debug_assert!(
        nc_names == 0 || target_cls.iter().chain(pred_cls).all(|&c| c < nc_names),
        "class index out of range 0..{nc_names}"
    );

    let order = argsort_desc(conf);

    // np.unique(target_cls, return_counts=True)
    let mut sorted_t = target_cls.to_vec();
    sorted_t.sort_unstable();
    let mut classes: Vec<usize> = Vec::new();
    let mut nt: Vec<usize> = Vec::new();
    for c in sorted_t {
        if classes.last() == Some(&c) {
            *nt.last_mut().unwrap() += 1;
        } else {
            classes.push(c);
            nt.push(1);
        }
    }
    let ncls = classes.len();

    let px = linspace(0.0, 1.0, CURVE_POINTS);
    let neg_px: Vec<f64> = px.iter().map(|v| -v).collect();
    let mut ap = vec![[0.0f64; NUM_IOU]; ncls];
    let mut p_curve = vec![vec![0.0f64; CURVE_POINTS]; ncls];
    let mut r_curve = vec![vec![0.0f64; CURVE_POINTS]; ncls];
    let mut pr_curves: Vec<Vec<f64>> = Vec::new();
    let mut pr_curve_classes: Vec<usize> = Vec::new();

    // Predictions of each class, in sorted (decreasing confidence) order.
    let mut by_class: std::collections::HashMap<usize, Vec<usize>> =
        std::collections::HashMap::new();
    for &i in &order {
        by_class.entry(pred_cls[i]).or_default().push(i);
    }

    for (ci, &c) in classes.iter().enumerate() {
        let Some(idx) = by_class.get(&c) else {
            continue;
        };
        let n_l = nt[ci];
        let n_p = idx.len();
        if n_p == 0 || n_l == 0 {
            continue;
        }
        let denom_r = n_l as f64 + EPS;
        // recall[k][t], precision[k][t] stored threshold-major for compute_ap
        let mut recall = vec![vec![0.0f64; n_p]; NUM_IOU];
        let mut precision = vec![vec![0.0f64; n_p]; NUM_IOU];
        let mut tpc = [0i64; NUM_IOU];
        let mut fpc = [0i64; NUM_IOU];
        for (k, &i) in idx.iter().enumerate() {
            for t in 0..NUM_IOU {
                if tp[i][t] {
                    tpc[t] += 1;
                } else {
                    fpc[t] += 1;
                }
                recall[t][k] = tpc[t] as f64 / denom_r;
                precision[t][k] = tpc[t] as f64 / (tpc[t] + fpc[t]) as f64;
            }
        }
        // -conf[i]: float32 negation, promoted to float64 by np.interp
        let neg_conf: Vec<f64> = idx.iter().map(|&i| (-conf[i]) as f64).collect();
        r_curve[ci] = interp(&neg_px, &neg_conf, &recall[0], Some(0.0), None);
        p_curve[ci] = interp(&neg_px, &neg_conf, &precision[0], Some(1.0), None);
        for t in 0..NUM_IOU {
            let (a, mpre, mrec) = compute_ap(&recall[t], &precision[t]);
            ap[ci][t] = a;
            if t == 0 {
                pr_curves.push(interp(&px, &mrec, &mpre, None, None));
                pr_curve_classes.push(c);
            }
        }
    }
    if pr_curves.is_empty() {
        pr_curves.push(vec![0.0; CURVE_POINTS]);
    }

    // f1 = 2 * p * r / (p + r + eps)
    let f1_curve: Vec<Vec<f64>> = p_curve
        .iter()
        .zip(&r_curve)
        .map(|(pc, rc)| {
            pc.iter()
                .zip(rc)
                .map(|(&p, &r)| 2.0 * p * r / (p + r + EPS))
                .collect()
        })
        .collect();

    // f1_curve.mean(0): column sums accumulated class by class (NumPy's outer-axis reduction), / n.
    let mut mean_f1 = vec![0.0f64; CURVE_POINTS];
    for row in &f1_curve {
        for (m, &v) in mean_f1.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in &mut mean_f1 {
        *m /= ncls as f64; // 0/0 = NaN for no classes, as NumPy (argmax then returns 0)
    }
    let best_index = argmax(&smooth(&mean_f1, 0.1));

    let p: Vec<f64> = p_curve.iter().map(|c| c[best_index]).collect();
    let r: Vec<f64> = r_curve.iter().map(|c| c[best_index]).collect();
    let f1: Vec<f64> = f1_curve.iter().map(|c| c[best_index]).collect();
    let tp_out: Vec<f64> = r
        .iter()
        .zip(&nt)
        .map(|(&r, &n)| round(r * n as f64))
        .collect();
    let fp_out: Vec<f64> = tp_out
        .iter()
        .zip(&p)
        .map(|(&t, &p)| round(t / (p + EPS) - t))
        .collect();

    ApResult {
        classes,
        nt,
        tp: tp_out,
        fp: fp_out,
        p,
        r,
        f1,
        ap,
        best_index,
        px,
        p_curve,
        r_curve,
        f1_curve,
        pr_curves,
        pr_curve_classes,
    }
}

/// Metrics of one evaluated class (one row of the validation printout).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class index.
    pub class: usize,
    /// Number of validation images containing at least one instance of the class (`nt_per_image`).
    pub images: usize,
    /// Number of ground-truth instances of the class (`nt_per_class`).
    pub instances: usize,
    /// Precision at the max-F1 confidence.
    pub p: f64,
    /// Recall at the max-F1 confidence.
    pub r: f64,
    /// F1 at the max-F1 confidence.
    pub f1: f64,
    /// AP@0.5.
    pub ap50: f64,
    /// AP@0.5:0.95.
    pub ap50_95: f64,
}

/// Dataset-level detection metrics (Ultralytics `DetMetrics` / `Metric` for boxes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetMetrics {
    /// Mean precision over evaluated classes (`metrics/precision(B)`).
    pub mp: f64,
    /// Mean recall over evaluated classes (`metrics/recall(B)`).
    pub mr: f64,
    /// mAP@0.5 (`metrics/mAP50(B)`).
    pub map50: f64,
    /// mAP@0.5:0.95 (`metrics/mAP50-95(B)`).
    pub map50_95: f64,
    /// One entry per evaluated class (unique ground-truth classes, ascending).
    pub per_class: Vec<ClassMetrics>,
    /// Number of images seen (`validator.seen`).
    pub seen: usize,
    /// Ground-truth instances per class index `0..nc` (`np.bincount(target_cls, minlength=nc)`).
    pub nt_per_class: Vec<usize>,
    /// Images containing each class `0..nc` (`np.bincount(target_img, minlength=nc)`).
    pub nt_per_image: Vec<usize>,
    /// Full `ap_per_class` output (AP matrix and curves, for plots / CSV).
    pub ap: ApResult,
}

/// Metric keys as Ultralytics logs them (`DetMetrics.keys` + `"fitness"`).
pub const METRIC_KEYS: [&str; 5] = [
    "metrics/precision(B)",
    "metrics/recall(B)",
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
    "fitness",
];

/// NumPy `nan_to_num` for one float64.
fn nan_to_num(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else if v == f64::INFINITY {
        f64::MAX
    } else if v == f64::NEG_INFINITY {
        f64::MIN
    } else {
        v
    }
}

impl DetMetrics {
    /// Builds the metrics from an [`ApResult`] plus the per-class counts gathered during validation.
    pub fn from_ap(
        ap: ApResult,
        seen: usize,
        nt_per_class: Vec<usize>,
        nt_per_image: Vec<usize>,
    ) -> Self {
        let ap50 = ap.ap50();
        let ap50_95 = ap.ap50_95();
        let per_class = ap
            .classes
            .iter()
            .enumerate()
            .map(|(i, &c)| ClassMetrics {
                class: c,
                images: nt_per_image.get(c).copied().unwrap_or(0),
                instances: nt_per_class.get(c).copied().unwrap_or(0),
                p: ap.p[i],
                r: ap.r[i],
                f1: ap.f1[i],
                ap50: ap50[i],
                ap50_95: ap50_95[i],
            })
            .collect();
        Self {
            mp: ap.mp(),
            mr: ap.mr(),
            map50: ap.map50(),
            map50_95: ap.map50_95(),
            per_class,
            seen,
            nt_per_class,
            nt_per_image,
            ap,
        }
    }

    /// `[mp, mr, map50, map50_95]` (`mean_results()`).
    pub fn mean_results(&self) -> [f64; 4] {
        [self.mp, self.mr, self.map50, self.map50_95]
    }

    /// Fitness as in Ultralytics ≥ 8.3.200 (incl. 8.3.253 and 8.4): weights `[0, 0, 0, 1]` on
    /// `[P, R, mAP50, mAP50-95]` after `nan_to_num`, i.e. mAP50-95.
    ///
    /// Ultralytics 8.3.0 … 8.3.19x used `0.1·mAP50 + 0.9·mAP50-95` (no `nan_to_num`); see
    /// [`DetMetrics::fitness_legacy`].
    pub fn fitness(&self) -> f64 {
        weighted_sum(self.mean_results().map(nan_to_num), [0.0, 0.0, 0.0, 1.0])
    }

    /// Fitness of Ultralytics 8.3.0 … 8.3.19x: weights `[0, 0, 0.1, 0.9]`, i.e.
    /// `0.1·mAP50 + 0.9·mAP50-95` (the selection rule of the code that trained the published YOLO11
    /// weights).
    pub fn fitness_legacy(&self) -> f64 {
        weighted_sum(self.mean_results(), [0.0, 0.0, 0.1, 0.9])
    }

    /// mAP@0.5:0.95 of every class `0..nc` (`Metric.maps`): classes without ground truth get the overall
    /// mAP@0.5:0.95.
    pub fn maps(&self, nc: usize) -> Vec<f64> {
        let mut m = vec![self.map50_95; nc];
        for c in &self.per_class {
            if c.class < nc {
                m[c.class] = c.ap50_95;
            }
        }
        m
    }

    /// `(key, value)` pairs as Ultralytics' `results_dict` (P, R, mAP50, mAP50-95, fitness).
    pub fn results_dict(&self) -> [(&'static str, f64); 5] {
        let [p, r, m50, m] = self.mean_results();
        [
            (METRIC_KEYS[0], p),
            (METRIC_KEYS[1], r),
            (METRIC_KEYS[2], m50),
            (METRIC_KEYS[3], m),
            (METRIC_KEYS[4], self.fitness()),
        ]
    }
}

/// `(np.array(v) * w).sum()` for four elements: products, then NumPy's sum (left to right from 0.0 for
/// fewer than 8 elements).
fn weighted_sum(v: [f64; 4], w: [f64; 4]) -> f64 {
    let prod = [v[0] * w[0], v[1] * w[1], v[2] * w[2], v[3] * w[3]];
    sum(&prod)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp_all(v: bool) -> [bool; NUM_IOU] {
        [v; NUM_IOU]
    }

    #[test]
    fn compute_ap_perfect_detector() {
        // one GT, one TP prediction: recall [1], precision [1]
        let (ap, mpre, mrec) = compute_ap(&[1.0], &[1.0]);
        assert_eq!(mrec, vec![0.0, 1.0, 1.0]);
        assert_eq!(mpre, vec![1.0, 1.0, 0.0]);
        // interp at x=1.0 uses the *last* xp equal to 1 -> precision 0 at recall 1, so the final trapezoid
        // is (1 + 0)/2 * 0.01: AP = 0.99 + 0.005 = 0.995 (the well-known Ultralytics value).
        assert_eq!(ap, 0.995); // bit-exact with NumPy
    }

    #[test]
    fn compute_ap_half_recall() {
        // recall reaches 0.5 at precision 1 -> envelope 1 up to r=0.5 then linear ramp to 0 at r=1
        let (ap, _, _) = compute_ap(&[0.5], &[1.0]);
        // area = 0.5 (rectangle) + 0.5 * 0.5 (triangle from (0.5,1) to (1,0)) = 0.75
        assert_eq!(ap, 0.75);
    }

    #[test]
    fn perfect_detector_ap_per_class() {
        let tp = vec![tp_all(true); 3];
        let r = ap_per_class(&tp, &[0.9, 0.8, 0.7], &[0, 0, 1], &[0, 0, 1], 2);
        assert_eq!(r.classes, vec![0, 1]);
        assert_eq!(r.nt, vec![2, 1]);
        for a in &r.ap {
            for &v in a {
                assert!((v - 0.995).abs() < 1e-12);
            }
        }
        // P = R = 1 at the chosen confidence
        assert_eq!(r.p, vec![1.0, 1.0]);
        assert!(r.r.iter().all(|&x| (x - 1.0).abs() < 1e-12));
        assert_eq!(r.tp, vec![2.0, 1.0]);
        assert_eq!(r.fp, vec![0.0, 0.0]);
        let m = DetMetrics::from_ap(r, 3, vec![2, 1], vec![1, 1]);
        assert!((m.map50 - 0.995).abs() < 1e-12);
        assert!((m.map50_95 - 0.995).abs() < 1e-12);
        assert_eq!(m.fitness(), m.map50_95);
    }

    #[test]
    fn class_without_predictions_gets_zero() {
        let tp = vec![tp_all(true)];
        let r = ap_per_class(&tp, &[0.9], &[0], &[0, 1], 2);
        assert_eq!(r.classes, vec![0, 1]);
        assert_eq!(r.ap[1], [0.0; NUM_IOU]);
        assert_eq!(r.p[1], 0.0);
        assert_eq!(r.r[1], 0.0);
        assert!((r.ap[0][0] - 0.995).abs() < 1e-12);
        // pr curves only for classes with predictions
        assert_eq!(r.pr_curve_classes, vec![0]);
        assert_eq!(r.pr_curves.len(), 1);
        // mAP averages over both GT classes
        assert!((r.map50() - 0.4975).abs() < 1e-12);
    }

    #[test]
    fn predictions_of_classes_without_gt_are_ignored() {
        let tp = vec![tp_all(true), tp_all(false)];
        let r = ap_per_class(&tp, &[0.9, 0.95], &[0, 3], &[0], 4);
        assert_eq!(r.classes, vec![0]);
        assert!((r.ap[0][0] - 0.995).abs() < 1e-12);
    }

    #[test]
    fn fp_before_tp() {
        // one GT; FP at 0.9 then TP at 0.8: recall [0, 1], precision [0, 0.5]
        let tp = vec![tp_all(false), tp_all(true)];
        let r = ap_per_class(&tp, &[0.9, 0.8], &[0, 0], &[0], 1);
        let (ap_expected, _, _) = compute_ap(&[0.0, 1.0], &[0.0, 0.5]);
        assert_eq!(r.ap[0][0], ap_expected);
        // envelope 0.5 everywhere up to recall 1, last segment ramps 0.5 -> 0: 0.99*0.5 + 0.01*0.25
        assert_eq!(ap_expected, 0.4975);
    }

    #[test]
    fn empty_everything() {
        let r = ap_per_class(&[], &[], &[], &[], 0);
        assert!(r.classes.is_empty() && r.p.is_empty() && r.ap.is_empty());
        assert_eq!(r.best_index, 0);
        assert_eq!(r.pr_curves.len(), 1);
        let m = DetMetrics::from_ap(r, 0, vec![], vec![]);
        assert_eq!(m.mean_results(), [0.0; 4]);
        assert_eq!(m.fitness(), 0.0);
    }

    #[test]
    fn fitness_variants() {
        let r = ap_per_class(&[tp_all(true)], &[0.9], &[0], &[0], 1);
        let mut m = DetMetrics::from_ap(r, 1, vec![1], vec![1]);
        m.map50 = 0.6;
        m.map50_95 = 0.4;
        assert_eq!(m.fitness(), 0.4);
        assert_eq!(m.fitness_legacy(), 0.6 * 0.1 + 0.4 * 0.9);
        m.map50_95 = f64::NAN;
        assert_eq!(m.fitness(), 0.0);
        let maps = m.maps(3);
        assert_eq!(maps[0], m.per_class[0].ap50_95);
        assert!(maps[1].is_nan() && maps[2].is_nan()); // filled with map50_95 (NaN here)
    }

    /// Golden values produced by NumPy 2.4 running Ultralytics 8.3.x `ap_per_class` (with a stable argsort)
    /// on the same inputs; compared bit for bit.
    #[test]
    fn golden_against_numpy() {
        let lead = [10usize, 0, 7, 3, 10, 0, 5, 1, 0, 9];
        let tp: Vec<[bool; NUM_IOU]> = lead
            .iter()
            .map(|&l| std::array::from_fn(|t| t < l))
            .collect();
        let conf = [0.95f32, 0.9, 0.85, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3, 0.2];
        let pc = [0usize, 0, 1, 0, 1, 1, 0, 0, 1, 1];
        let tc = [0usize, 0, 0, 0, 1, 1, 1, 2];
        let r = ap_per_class(&tp, &conf, &pc, &tc, 3);
        assert_eq!(r.best_index, 0);
        let a = 0.32099999999999995;
        assert_eq!(
            r.ap[0],
            [
                0.845,
                0.6980000000000001,
                0.6980000000000001,
                0.472,
                0.472,
                a,
                a,
                a,
                a,
                a
            ]
        );
        let b = 0.863;
        assert_eq!(
            r.ap[1],
            [
                b,
                b,
                b,
                b,
                b,
                b,
                b,
                0.36682000000000003,
                0.36682000000000003,
                0.23382999999999998
            ]
        );
        assert_eq!(r.ap[2], [0.0; NUM_IOU]);
        assert_eq!(r.p, vec![0.8, 0.6, 0.0]);
        assert_eq!(r.r, vec![1.0, 1.0, 0.0]);
        assert_eq!(r.f1, vec![0.888888888888889, 0.7499999999999999, 0.0]);
        assert_eq!(r.tp, vec![4.0, 3.0, 0.0]);
        assert_eq!(r.fp, vec![1.0, 2.0, 0.0]);
        assert_eq!(r.ap50_95(), vec![0.4789999999999999, 0.700847, 0.0]);
        assert_eq!(r.mp(), 0.4666666666666666);
        assert_eq!(r.mr(), 0.6666666666666666);
        assert_eq!(r.map50(), 0.5693333333333334);
        assert_eq!(r.map50_95(), 0.39328233333333334);
    }

    #[test]
    fn stable_sort_on_conf_ties() {
        // equal confidences: TP listed first stays first (stable), giving AP 0.995 at the first point
        let tp = vec![tp_all(true), tp_all(false)];
        let r = ap_per_class(&tp, &[0.5, 0.5], &[0, 0], &[0], 1);
        let (ap_expected, _, _) = compute_ap(&[1.0, 1.0], &[1.0, 0.5]);
        assert_eq!(r.ap[0][0], ap_expected);
    }
}
