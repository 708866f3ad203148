//! yolo-rs: train YOLO11 object detectors in Rust on Burn.
//!
//! This facade re-exports the workspace crates, each usable on its own:
//! [`model`] (YOLO11 and Ultralytics weights), [`data`] (datasets, cache, augmentation, loader),
//! [`metrics`] (NMS and mAP as Ultralytics), [`memory`] (memory estimates and plans) and
//! [`train`] (loss, training loop, validation, prediction).

pub use yolo_data as data;
pub use yolo_memory as memory;
pub use yolo_metrics as metrics;
pub use yolo_model as model;
pub use yolo_train as train;
