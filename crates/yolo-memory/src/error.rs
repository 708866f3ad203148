//! Errors of estimating and planning.

use thiserror::Error;

/// What can go wrong while estimating or planning memory.
#[derive(Debug, Error, PartialEq)]
pub enum MemoryError {
    /// A size or fraction that does not parse.
    #[error("'{0}' is not a memory size: give a fraction of the device (memory=0.9) or an amount (memory=12GiB)")]
    BadSize(String),
    /// A fraction of a device whose total memory is unknown.
    #[error("the total memory of {0} is unknown: give the budget as an amount, e.g. memory=12GiB")]
    UnknownTotal(String),
    /// Not even one image per step fits, with or without checkpointing.
    #[error(
        "one image per step needs {need_gib:.2} GiB of device memory ({how}), the budget is {budget_gib:.2} GiB: lower imgsz or use a smaller model"
    )]
    DoesNotFit {
        /// Needed at micro-batch 1, GiB.
        need_gib: f64,
        /// Budget, GiB.
        budget_gib: f64,
        /// What was tried.
        how: String,
    },
    /// A batch beyond what the probes can vouch for.
    #[error("batch {batch} is more than 2× the largest probed batch {probed}: probe closer before trusting it")]
    BeyondProbes {
        /// Requested batch.
        batch: u64,
        /// Largest probed batch.
        probed: u64,
    },
}
