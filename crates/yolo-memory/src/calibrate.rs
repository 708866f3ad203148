//! Corrections of the estimate from real steps on backends that report memory: probes near the
//! planned batch, trusted at most 2× beyond the largest probed batch, and failures that are not
//! out-of-memory kept apart from the ceiling.

use serde::{Deserialize, Serialize};

use crate::error::MemoryError;

/// How far beyond the largest probed batch a correction is trusted (a factor).
pub const MAX_EXTRAPOLATION: u64 = 2;

/// How a probe of real training steps ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProbeOutcome {
    /// The steps ran.
    Measured {
        /// Bytes the pool reserved after the steps (the device's share of the run).
        reserved: u64,
        /// Bytes in live tensors at the end of the forward, before backward.
        in_use_after_forward: u64,
        /// Bytes in live tensors with only the model, EMA and optimizer state, before the steps.
        baseline: u64,
    },
    /// The device ran out of memory: this batch is a ceiling.
    OutOfMemory(String),
    /// Another failure, with its message: reported, never taken as a ceiling.
    Failed(String),
}

/// A probe: one or two real training steps at `batch`, and what the estimate said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Micro-batch probed.
    pub batch: u64,
    /// Predicted bytes the device must hold at that batch.
    pub predicted: u64,
    /// What happened.
    pub outcome: ProbeOutcome,
}

impl Probe {
    /// Measured reserved bytes, if the probe ran.
    pub fn measured(&self) -> Option<u64> {
        match self.outcome {
            ProbeOutcome::Measured { reserved, .. } => Some(reserved),
            _ => None,
        }
    }
}

/// Whether a failure message means the device ran out of memory (CUDA, wgpu, CubeCL's pools,
/// the host allocator). wgpu's "Resource limit exceeded" is a binding limit, not memory.
pub fn is_out_of_memory(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    if m.contains("resource limit exceeded") {
        return false;
    }
    ["out of memory", "outofmemory", "out_of_memory", "buffertoobig", "cannot allocate memory", "memory allocation of"]
        .iter()
        .any(|k| m.contains(k))
}

/// Probes gathered so far and the corrections they imply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
}

impl Calibration {
    /// Smallest batch that ran out of memory.
    pub fn ceiling(&self) -> Option<u64> {
        self.probes.iter().filter(|p| matches!(p.outcome, ProbeOutcome::OutOfMemory(_))).map(|p| p.batch).min()
    }

    /// Largest batch that was measured.
    pub fn largest_measured(&self) -> Option<u64> {
        self.measured().map(|(b, _)| b).max()
    }

    /// Messages of probes that failed for a reason other than memory.
    pub fn failures(&self) -> Vec<String> {
        self.probes
            .iter()
            .filter_map(|p| match &p.outcome {
                ProbeOutcome::Failed(m) => Some(format!("batch {}: {m}", p.batch)),
                _ => None,
            })
            .collect()
    }

    /// `(batch, measured / predicted)` of every measured probe, by batch.
    fn measured(&self) -> impl Iterator<Item = (u64, f64)> + '_ {
        self.probes.iter().filter_map(|p| p.measured().map(|m| (p.batch, m as f64 / p.predicted.max(1) as f64)))
    }

    /// The corrected need at `batch` given the estimate's `predicted` bytes: the measured /
    /// predicted ratio of the probes, interpolated linearly in the batch between probes and held
    /// constant outside them. Without probes the estimate stands; beyond
    /// [`MAX_EXTRAPOLATION`] × the largest probed batch it is refused.
    pub fn correct(&self, batch: u64, predicted: u64) -> Result<u64, MemoryError> {
        let mut points: Vec<(u64, f64)> = self.measured().collect();
        let Some(&(largest, _)) = points.iter().max_by_key(|p| p.0) else { return Ok(predicted) };
        if batch > MAX_EXTRAPOLATION * largest {
            return Err(MemoryError::BeyondProbes { batch, probed: largest });
        }
        points.sort_by_key(|p| p.0);
        let ratio = interpolate(&points, batch);
        Ok((predicted as f64 * ratio).round() as u64)
    }
}

/// Piecewise-linear interpolation of `points` (sorted by batch) at `batch`, constant outside.
fn interpolate(points: &[(u64, f64)], batch: u64) -> f64 {
    let x = batch as f64;
    let first = points[0];
    if batch <= first.0 {
        return first.1;
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if batch <= x1 {
            let t = (x - x0 as f64) / (x1 - x0).max(1) as f64;
            return y0 + t * (y1 - y0);
        }
    }
    points[points.len() - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(batch: u64, predicted: u64, reserved: u64) -> Probe {
        let outcome = ProbeOutcome::Measured { reserved, in_use_after_forward: 0, baseline: 0 };
        Probe { batch, predicted, outcome }
    }

    #[test]
    fn corrections_follow_the_probes_and_stop_at_twice_the_largest() {
        let mut c = Calibration::default();
        assert_eq!(c.correct(64, 1000), Ok(1000), "no probes: the estimate stands");
        c.probes.push(measured(8, 1000, 1100));
        assert_eq!(c.correct(8, 1000), Ok(1100));
        assert_eq!(c.correct(16, 2000), Ok(2200));
        assert_eq!(c.correct(17, 2000), Err(MemoryError::BeyondProbes { batch: 17, probed: 8 }));
        c.probes.push(measured(16, 2000, 1800));
        assert_eq!(c.correct(12, 1000), Ok(1000), "halfway between ratios 1.1 and 0.9");
        assert_eq!(c.correct(32, 4000), Ok(3600));
    }

    #[test]
    fn only_out_of_memory_is_a_ceiling() {
        let mut c = Calibration::default();
        c.probes.push(Probe { batch: 1, predicted: 10, outcome: ProbeOutcome::Failed("BatchNorm needs > 1 value".into()) });
        assert_eq!(c.ceiling(), None);
        assert_eq!(c.failures().len(), 1);
        c.probes.push(Probe { batch: 32, predicted: 10, outcome: ProbeOutcome::OutOfMemory("CUDA_ERROR_OUT_OF_MEMORY".into()) });
        c.probes.push(Probe { batch: 64, predicted: 10, outcome: ProbeOutcome::OutOfMemory("oom".into()) });
        assert_eq!(c.ceiling(), Some(32));
    }

    #[test]
    fn failure_messages_are_classified() {
        assert!(is_out_of_memory("CUDA_ERROR_OUT_OF_MEMORY: out of memory"));
        assert!(is_out_of_memory("Failed to allocate: BufferTooBig { size: 1 }"));
        assert!(is_out_of_memory("memory allocation of 1073741824 bytes failed"));
        assert!(!is_out_of_memory("OutOfMemory: Resource limit exceeded"), "a wgpu binding limit");
        assert!(!is_out_of_memory("index out of bounds: the len is 3"));
    }
}
