//! YOLO11 detection loss: Ultralytics 8.3.x `v8DetectionLoss` + `TaskAlignedAssigner`, with a sparse host assigner.
//!
//! * [`DetectionLoss::forward`] takes the three raw head maps `[B, 4·reg_max + nc, H_i, W_i]`
//!   (P3, P4, P5) and target rows `[batch_idx, cls, cx, cy, w, h]` (normalised to the padded
//!   input), and returns the differentiable `total = (box + cls + dfl)·B` plus the three items.
//! * [`assigner`] is the task-aligned assignment on the host over candidate (GT, anchor) pairs only
//!   (memory bounded by [`LossConfig::max_pairs`], never `B·M·A`); see its module docs for the
//!   exact semantics and the one documented place where it can differ from Ultralytics.

pub mod anchors;
pub mod assigner;
pub mod ciou;
pub mod detection;
pub mod dfl;

pub use anchors::AnchorGrid;
pub use assigner::{AssignerConfig, Assignment, FgAnchor, GtBox, PairKey};
pub use detection::{DetectionLoss, LossOutput};

use serde::{Deserialize, Serialize};

/// Loss hyper-parameters (Ultralytics `default.yaml` + `v8DetectionLoss(tal_topk=10)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossConfig {
    /// Gain of the CIoU box term (`box`, 7.5).
    pub box_gain: f32,
    /// Gain of the BCE class term (`cls`, 0.5).
    pub cls_gain: f32,
    /// Gain of the DFL term (`dfl`, 1.5).
    pub dfl_gain: f32,
    /// Candidates per GT in the task-aligned assigner (10).
    pub topk: usize,
    /// Class-score exponent of the alignment metric (0.5).
    pub alpha: f32,
    /// CIoU exponent of the alignment metric (6.0).
    pub beta: f32,
    /// DFL bins per box side (16); the head has `4·reg_max` box channels.
    pub reg_max: usize,
    /// Most candidate pairs whose class logits are gathered from the device at once (bounds the
    /// assigner's gather/host buffers; results do not depend on it). Default 2^20.
    pub max_pairs: usize,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            box_gain: 7.5,
            cls_gain: 0.5,
            dfl_gain: 1.5,
            topk: 10,
            alpha: 0.5,
            beta: 6.0,
            reg_max: 16,
            max_pairs: 1 << 20,
        }
    }
}

impl LossConfig {
    /// The assigner part of the settings.
    pub fn assigner(&self) -> AssignerConfig {
        AssignerConfig {
            topk: self.topk,
            alpha: self.alpha,
            beta: self.beta,
            max_pairs: self.max_pairs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_serde() {
        let c = LossConfig::default();
        assert_eq!((c.box_gain, c.cls_gain, c.dfl_gain), (7.5, 0.5, 1.5));
        assert_eq!((c.topk, c.alpha, c.beta, c.reg_max), (10, 0.5, 6.0, 16));
        let back: LossConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let partial: LossConfig = serde_json::from_str(r#"{"topk": 13}"#).unwrap();
        assert_eq!(partial, LossConfig { topk: 13, ..c });
    }
}
