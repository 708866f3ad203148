//! `yolo demo`: the embedded default job — predict and validate the shipped COCO YOLO11n
//! weights on coco8 on the CPU, using the data in `../shared`.

use std::path::{Path, PathBuf};

use yolo_train::device::{run_on, DeviceArg};
use yolo_train::predict::PredictConfig;
use yolo_train::validate::ValConfig;

use super::predict::PredictArgs;
use super::val::ValArgs;
use crate::error::CliError;

/// Where `../shared` is: beside the current directory, or beside the source checkout.
fn shared_dir() -> Result<PathBuf, CliError> {
    let candidates = [
        PathBuf::from("../shared"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("data/weights/yolo11n.onnx").exists())
        .ok_or_else(|| CliError::Usage("yolo demo needs ../shared (data/weights/yolo11n.onnx, data/coco8) beside the checkout".into()))
}

/// Runs predict on coco8's val images, then val on coco8 at 640.
pub fn run(project: &Path) -> Result<(), CliError> {
    let shared = shared_dir()?;
    let weights = shared.join("data/weights/yolo11n.onnx").display().to_string();
    println!("== yolo predict model={weights} source=coco8/images/val");
    let predict = PredictArgs {
        model: weights.clone(),
        source: shared.join("data/coco8/images/val").display().to_string(),
        project: project.to_path_buf(),
        name: "demo-predict".into(),
        predict: PredictConfig::default(),
        ..Default::default()
    };
    run_on(DeviceArg::Cpu, predict)??;
    println!("\n== yolo val model={weights} data=coco8.yaml imgsz=640");
    let val = ValArgs {
        model: weights,
        data: shared.join("data/coco8/coco8.yaml").display().to_string(),
        project: project.to_path_buf(),
        name: "demo-val".into(),
        val: ValConfig { imgsz: 640, batch: 4, rect: false, ..Default::default() },
        ..Default::default()
    };
    run_on(DeviceArg::Cpu, val)??;
    Ok(())
}
