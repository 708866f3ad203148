//! Detection post-processing and metrics exactly as Ultralytics 8.3.x computes them (pure Rust).
//!
//! Pipeline for one validation run:
//! 1. [`non_max_suppression`] on each image's raw head output `[4 + nc, A]` (use
//!    [`NmsConfig::validation`]);
//! 2. [`ValStats::add_image`] with the image's ground truth (IoU via [`box_iou`], matching via
//!    [`match_predictions`]);
//! 3. [`ValStats::finish`] → [`DetMetrics`] (`ap_per_class`), [`DetMetrics::fitness`],
//!    [`summary_table`] for the familiar printout.
//!
//! Numerics follow the reference implementation's dtypes: boxes, IoU and NMS in float32 (torch), AP / P /
//! R / F1 in float64 with NumPy's evaluation order ([`numpy_compat`]). Every known source of divergence from
//! Ultralytics (unstable sorts on exact ties, BLAS summation in `np.convolve`, fp16 inference) is documented
//! on the function concerned.

pub mod ap;
pub mod boxes;
pub mod matching;
pub mod nms;
pub mod numpy_compat;
pub mod stats;

pub use ap::{ApResult, ClassMetrics, DetMetrics, METRIC_KEYS, ap_per_class, compute_ap};
pub use boxes::{box_iou, iou, xywh_to_xyxy, xyxy_to_xywh};
pub use matching::{NUM_IOU, iou_thresholds, match_predictions};
pub use nms::{Detection, NmsConfig, nms_greedy, non_max_suppression, non_max_suppression_batch};
pub use stats::{ValStats, format_g, summary_header, summary_row, summary_table};
