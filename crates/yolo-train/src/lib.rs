//! yolo-train
pub mod loss;
pub mod device;
pub mod run_dir;
pub mod validate;
pub mod optim;
pub mod ema;
pub mod schedule;
pub mod predict;
pub mod plots;
pub mod args;
pub mod checkpoint;
pub mod results;
pub mod progress;
pub mod trainer;
pub mod bench;
