//! yolo-metrics
