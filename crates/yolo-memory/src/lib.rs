//! yolo-memory
