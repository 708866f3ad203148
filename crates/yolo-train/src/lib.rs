//! yolo-train
