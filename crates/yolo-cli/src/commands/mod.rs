//! One module per `yolo` mode.

pub mod bench;
pub mod demo;
pub mod info;
pub mod predict;
pub mod train;
pub mod val;
