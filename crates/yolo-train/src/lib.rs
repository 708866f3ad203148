//! yolo-train
pub mod loss;
pub mod device;
