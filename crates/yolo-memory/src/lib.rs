//! Predict device and host memory of YOLO training before spending it, and plan micro-batch and
//! accumulation to fit a budget.

pub mod calibrate;
pub mod error;
pub mod estimate;
pub mod graph;
pub mod host;
pub mod plan;
pub mod pool;
pub mod process;
pub mod tape;
pub mod trend;
pub mod units;

pub use calibrate::{is_out_of_memory, Calibration, Probe, ProbeOutcome};
pub use error::MemoryError;
pub use estimate::{estimate, model_sizes, BackendKind, DeviceEstimate, Dtype, EstimateConfig, Optimizer};
pub use graph::{LossLoad, StepShape};
pub use host::{estimate_host, CacheKind, DatasetFacts, HostConfig, HostEstimate};
pub use plan::{plan, Plan, PlanRequest, BN_MIN_BATCH};
pub use pool::PoolConfig;
pub use tape::Checkpointing;
pub use units::{MemoryArg, GIB};
