//! Per-image statistics accumulator for validation (Ultralytics `DetectionValidator.update_metrics` +
//! `DetMetrics.process`) and the printed summary table.

use serde::{Deserialize, Serialize};

use crate::ap::{DetMetrics, ap_per_class};
use crate::boxes::box_iou;
use crate::matching::{NUM_IOU, match_predictions};
use crate::nms::Detection;

/// Accumulates per-image matching results over a validation run.
///
/// Mirrors Ultralytics' `stats` dict: `tp` `[n_pred_total][10]`, `conf`, `pred_cls` (`[n_pred_total]`),
/// `target_cls` `[n_gt_total]`, `target_img` (the unique classes of each image, concatenated) and `seen`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValStats {
    /// True-positive flags at the 10 IoU thresholds, one row per prediction.
    pub tp: Vec<[bool; NUM_IOU]>,
    /// Confidence of each prediction.
    pub conf: Vec<f32>,
    /// Class of each prediction.
    pub pred_cls: Vec<usize>,
    /// Class of every ground-truth box.
    pub target_cls: Vec<usize>,
    /// Unique ground-truth classes of each image, concatenated.
    pub target_img: Vec<usize>,
    /// Number of images added.
    pub seen: usize,
}

impl ValStats {
    /// Empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one image.
    ///
    /// * `preds`: NMS output for the image (decreasing confidence, as [`crate::non_max_suppression`] returns).
    /// * `gt_boxes_xyxy`: `[n_gt][4]` ground-truth boxes `x1 y1 x2 y2`, in the *same* pixel space as the
    ///   predictions (8.3.253 compares in letterboxed input space; 8.3.0 scaled both to original-image
    ///   pixels — IoU only differs through clipping).
    /// * `gt_cls`: `[n_gt]` ground-truth classes.
    ///
    /// As Ultralytics: every image increments `seen` and contributes its ground-truth classes; with no
    /// predictions nothing is added to `tp`/`conf`/`pred_cls`; with no ground truth all predictions are
    /// false positives; otherwise `tp = match_predictions(pred_cls, gt_cls, box_iou(gt, pred))`.
    ///
    /// # Panics
    /// If `gt_boxes_xyxy.len() != gt_cls.len()`.
    pub fn add_image(&mut self, preds: &[Detection], gt_boxes_xyxy: &[[f32; 4]], gt_cls: &[usize]) {
        assert_eq!(
            gt_boxes_xyxy.len(),
            gt_cls.len(),
            "gt boxes and classes lengths differ"
        );
        self.seen += 1;
        self.target_cls.extend_from_slice(gt_cls);
        let mut uniq = gt_cls.to_vec();
        uniq.sort_unstable();
        uniq.dedup();
        self.target_img.extend(uniq);
        if preds.is_empty() {
            return;
        }
        let pred_cls: Vec<usize> = preds.iter().map(|d| d.cls).collect();
        if gt_cls.is_empty() {
            self.tp
                .extend(std::iter::repeat_n([false; NUM_IOU], preds.len()));
        } else {
            let pred_boxes: Vec<[f32; 4]> = preds.iter().map(|d| d.bbox).collect();
            let iou = box_iou(gt_boxes_xyxy, &pred_boxes);
            self.tp.extend(match_predictions(&pred_cls, gt_cls, &iou));
        }
        self.conf.extend(preds.iter().map(|d| d.conf));
        self.pred_cls.extend(pred_cls);
    }

    /// Appends another accumulator (e.g. from another worker / rank), like Ultralytics' `gather_stats`.
    pub fn merge(&mut self, other: ValStats) {
        self.tp.extend(other.tp);
        self.conf.extend(other.conf);
        self.pred_cls.extend(other.pred_cls);
        self.target_cls.extend(other.target_cls);
        self.target_img.extend(other.target_img);
        self.seen += other.seen;
    }

    /// Ground-truth instances per class, `np.bincount(target_cls, minlength=nc)` (longer than `nc` if a
    /// class index is `>= nc`).
    pub fn nt_per_class(&self, nc: usize) -> Vec<usize> {
        bincount(&self.target_cls, nc)
    }

    /// Images containing each class, `np.bincount(target_img, minlength=nc)`.
    pub fn nt_per_image(&self, nc: usize) -> Vec<usize> {
        bincount(&self.target_img, nc)
    }

    /// Computes the dataset metrics (`DetMetrics.process`); `names[c]` is the name of class `c` and
    /// `names.len()` is `nc`.
    pub fn finish<S: AsRef<str>>(&self, names: &[S]) -> DetMetrics {
        let nc = names.len();
        let ap = ap_per_class(&self.tp, &self.conf, &self.pred_cls, &self.target_cls, nc);
        DetMetrics::from_ap(ap, self.seen, self.nt_per_class(nc), self.nt_per_image(nc))
    }

    /// [`ValStats::finish`] followed by [`summary_table`].
    pub fn summary_table<S: AsRef<str>>(&self, names: &[S]) -> String {
        summary_table(&self.finish(names), names)
    }
}

fn bincount(v: &[usize], minlength: usize) -> Vec<usize> {
    let len = v.iter().map(|&c| c + 1).max().unwrap_or(0).max(minlength);
    let mut out = vec![0usize; len];
    for &c in v {
        out[c] += 1;
    }
    out
}

/// Python `'%.{prec}g' % x` (C `printf` `%g`, correctly rounded, round-half-even on exact ties, trailing
/// zeros removed, exponent with at least two digits).
pub fn format_g(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let p = prec.max(1);
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e_repr = format!("{:.*e}", p - 1, x);
    let (mant, exp) = e_repr.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(mant), sign, exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip(&format!("{:.*}", decimals, x))
    }
}

/// Header line of the validation printout: `('%22s' + '%11s' * 6) % ("Class", "Images", "Instances",
/// "Box(P", "R", "mAP50", "mAP50-95)")`.
pub fn summary_header() -> String {
    format!(
        "{:>22}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}",
        "Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)"
    )
}

/// One printout row: `('%22s' + '%11i' * 2 + '%11.3g' * 4)`.
pub fn summary_row(name: &str, images: usize, instances: usize, vals: [f64; 4]) -> String {
    let mut s = format!("{name:>22}{images:>11}{instances:>11}");
    for v in vals {
        s.push_str(&format!("{:>11}", format_g(v, 3)));
    }
    s
}

/// The validation printout of Ultralytics' `DetectionValidator`: the header, the `all` row (images =
/// `seen`, instances = total ground truth, mean P, R, mAP50, mAP50-95) and, when there is more than one
/// class name (Ultralytics prints per-class rows only if `nc > 1`), one row per evaluated class
/// (images = images containing the class, instances, P, R, AP50, AP50-95). Lines are joined with `\n`,
/// no trailing newline. Classes without a name in `names` are printed by index.
pub fn summary_table<S: AsRef<str>>(m: &DetMetrics, names: &[S]) -> String {
    let mut lines = vec![summary_header()];
    let total: usize = m.nt_per_class.iter().sum();
    lines.push(summary_row("all", m.seen, total, m.mean_results()));
    if names.len() > 1 {
        for c in &m.per_class {
            let name = names
                .get(c.class)
                .map(|s| s.as_ref().to_string())
                .unwrap_or_else(|| c.class.to_string());
            lines.push(summary_row(
                &name,
                c.images,
                c.instances,
                [c.p, c.r, c.ap50, c.ap50_95],
            ));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(b: [f32; 4], conf: f32, cls: usize) -> Detection {
        Detection { bbox: b, conf, cls }
    }

    #[test]
    fn format_g_matches_python() {
        // values checked against CPython '%11.3g'
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (0.995, "0.995"),
            (0.12345, "0.123"),
            (0.0125, "0.0125"),
            (1.25e-5, "1.25e-05"),
            (0.00012345, "0.000123"),
            (123.456, "123"),
            (1234.5, "1.23e+03"),
            (0.9999, "1"),
            (0.125, "0.125"),
            (0.1, "0.1"),
            (0.5, "0.5"),
            (2.0 / 3.0, "0.667"),
            (f64::NAN, "nan"),
        ];
        for &(x, s) in cases {
            assert_eq!(format_g(x, 3), s, "{x}");
        }
        assert_eq!(format!("{:>11}", format_g(0.8125, 3)), "      0.812");
    }

    #[test]
    fn header_and_rows() {
        assert_eq!(
            summary_header(),
            "                 Class     Images  Instances      Box(P          R      mAP50  mAP50-95)"
        );
        assert_eq!(
            summary_row("all", 128, 929, [0.64, 0.537, 0.605, 0.446]),
            "                   all        128        929       0.64      0.537      0.605      0.446"
        );
    }

    #[test]
    fn add_image_cases() {
        let mut s = ValStats::new();
        // image 1: one GT (class 0), a TP and an FP of another class
        s.add_image(
            &[
                det([0.0, 0.0, 10.0, 10.0], 0.9, 0),
                det([50.0, 50.0, 60.0, 60.0], 0.6, 1),
            ],
            &[[0.0, 0.0, 10.0, 10.0]],
            &[0],
        );
        // image 2: no predictions, two GT of class 1
        s.add_image(
            &[],
            &[[0.0, 0.0, 5.0, 5.0], [10.0, 10.0, 20.0, 20.0]],
            &[1, 1],
        );
        // image 3: predictions but no GT -> all FP
        s.add_image(&[det([0.0, 0.0, 10.0, 10.0], 0.7, 0)], &[], &[]);
        // image 4: nothing at all
        s.add_image(&[], &[], &[]);
        assert_eq!(s.seen, 4);
        assert_eq!(s.tp.len(), 3);
        assert_eq!(s.tp[0], [true; 10]);
        assert_eq!(s.tp[1], [false; 10]);
        assert_eq!(s.tp[2], [false; 10]);
        assert_eq!(s.target_cls, vec![0, 1, 1]);
        assert_eq!(s.nt_per_class(3), vec![1, 2, 0]);
        assert_eq!(s.nt_per_image(3), vec![1, 1, 0]);

        let names = ["a", "b", "c"];
        let m = s.finish(&names);
        assert_eq!(m.per_class.len(), 2);
        assert_eq!(m.per_class[0].class, 0);
        assert_eq!(m.per_class[0].instances, 1);
        assert_eq!(m.per_class[1].images, 1);
        // class 1 has one FP and no TP -> AP 0
        assert_eq!(m.per_class[1].ap50, 0.0);
        let table = s.summary_table(&names);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("                   all          4          3"));
        assert!(lines[2].trim_start().starts_with("a          1          1"));
    }

    #[test]
    fn single_class_prints_only_all_row() {
        let mut s = ValStats::new();
        s.add_image(
            &[det([0.0, 0.0, 10.0, 10.0], 0.9, 0)],
            &[[0.0, 0.0, 10.0, 10.0]],
            &[0],
        );
        assert_eq!(s.summary_table(&["only"]).lines().count(), 2);
    }

    #[test]
    fn merge_concatenates() {
        let mut a = ValStats::new();
        a.add_image(
            &[det([0.0, 0.0, 10.0, 10.0], 0.9, 0)],
            &[[0.0, 0.0, 10.0, 10.0]],
            &[0],
        );
        let b = a.clone();
        a.merge(b);
        assert_eq!(a.seen, 2);
        assert_eq!(a.tp.len(), 2);
        assert_eq!(a.nt_per_image(1), vec![2]);
    }
}
