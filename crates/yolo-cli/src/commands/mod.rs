//! One module per `yolo` mode.

pub mod bench;
pub mod demo;
pub mod info;
pub mod plan;
pub mod predict;
pub mod train;
pub mod val;
pub mod warmup;
