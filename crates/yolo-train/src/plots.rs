//! The pictures of a validation run, as Ultralytics saves them: PR, F1, P and R curves.

use std::path::Path;

use yolo_metrics::DetMetrics;
use yolo_plot::{curve_png, pr_curve_png, PlotError};

/// Writes `BoxPR_curve.png`, `BoxF1_curve.png`, `BoxP_curve.png` and `BoxR_curve.png` into `dir`.
pub fn validation_curves(metrics: &DetMetrics, names: &[String], dir: &Path) -> Result<(), PlotError> {
    let ap = &metrics.ap;
    let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let ap50: Vec<f64> = ap.ap.iter().map(|row| row[0]).collect();
    let pr: Vec<(String, Vec<f64>, f64)> = ap
        .pr_curve_classes
        .iter()
        .zip(&ap.pr_curves)
        .map(|(&c, curve)| {
            let class_ap = ap.classes.iter().position(|&k| k == c).map_or(0.0, |i| ap50[i]);
            (name(c), curve.clone(), class_ap)
        })
        .collect();
    pr_curve_png(dir.join("BoxPR_curve.png"), &ap.px, &pr, metrics.map50)?;
    let per_class = |curves: &[Vec<f64>]| -> Vec<(String, Vec<f64>)> {
        ap.classes.iter().zip(curves).map(|(&c, y)| (name(c), y.clone())).collect()
    };
    curve_png(dir.join("BoxF1_curve.png"), &ap.px, &per_class(&ap.f1_curve), "F1", "F1-Confidence Curve")?;
    curve_png(dir.join("BoxP_curve.png"), &ap.px, &per_class(&ap.p_curve), "Precision", "Precision-Confidence Curve")?;
    curve_png(dir.join("BoxR_curve.png"), &ap.px, &per_class(&ap.r_curve), "Recall", "Recall-Confidence Curve")?;
    Ok(())
}
