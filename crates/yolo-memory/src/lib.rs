//! Predict device and host memory of YOLO training before spending it, and plan micro-batch and
//! accumulation to fit a budget.

pub mod process;
