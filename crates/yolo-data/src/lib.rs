//! yolo-data
