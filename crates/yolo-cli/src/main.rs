//! `yolo`: train, validate and run YOLO11 from the command line, Ultralytics style
//! (`yolo val model=yolo11n.pt data=coco8.yaml imgsz=640`).

mod args;
mod commands;
mod error;

use std::path::PathBuf;
use std::process::ExitCode;

use args::KeyValues;
use error::CliError;
use yolo_train::device::{run_on, run_on_checkpointed, DeviceArg};

const USAGE: &str = "usage: yolo MODE key=value ...

modes:
  train     train or fine-tune:  yolo train data=coco8.yaml model=yolo11n.yaml epochs=3 imgsz=320 batch=8
  predict   detect objects:      yolo predict model=yolo11n.onnx source=images/ imgsz=640 conf=0.25
  val       validate weights:    yolo val model=best.safetensors data=coco8.yaml imgsz=640 batch=16
  bench     time train steps:    yolo bench model=[yolo11n,yolo11s] imgsz=640 batch=[16,64] data=coco128.yaml device=cuda
  plan      memory plan:         yolo plan model=yolo11s imgsz=640 data=coco8.yaml device=cuda memory=0.9 [measure=[4,8]]
  warmup    tune a GPU for a run: yolo warmup model=yolo11n data=coco128.yaml imgsz=640 batch=16 device=cuda
  info      model summary:       yolo info model=yolo11s.yaml
  demo      predict + val of the shipped YOLO11n weights on coco8 (CPU, data from ../shared)

devices: device=cpu (default), device=wgpu[:N], device=cuda[:N] or device=N";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), CliError> {
    let Some((mode, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let mut kv = KeyValues::parse(rest)?;
    let device: DeviceArg = kv.take_string("device").unwrap_or_else(|| "cpu".into()).parse()?;
    match mode.as_str() {
        "predict" => {
            let mut a: commands::predict::PredictArgs = kv.into_config("predict")?;
            a.device = device.to_string();
            run_on(device, a)?.map(|_| ())
        }
        "val" => {
            let mut a: commands::val::ValArgs = kv.into_config("val")?;
            a.device = device.to_string();
            run_on(device, a)?.map(|_| ())
        }
        "train" => {
            let mut a: yolo_train::args::TrainArgs = kv.into_config("train")?;
            a.device = device.to_string();
            let a = commands::plan::resolve_batch(device, a)?;
            run_on_checkpointed(device, a.checkpointing == Some(true), commands::train::TrainJob(a))?.map(|_| ())
        }
        "bench" => {
            let mut a: commands::bench::BenchArgs = kv.into_config("bench")?;
            a.device = device.to_string();
            run_on(device, a)?.map(|_| ())
        }
        "warmup" => {
            let mut a: commands::warmup::WarmupArgs = kv.into_config("warmup")?;
            a.device = device.to_string();
            run_on(device, a)?.map(|_| ())
        }
        "plan" => {
            let mut a: commands::plan::PlanArgs = kv.into_config("plan")?;
            a.train.device = device.to_string();
            run_on_checkpointed(device, a.train.checkpointing == Some(true), a)?.map(|_| ())
        }
        "info" => {
            let a: commands::info::InfoArgs = kv.into_config("info")?;
            run_on(device, a)?
        }
        "demo" => {
            let project = kv.take_string("project").map_or_else(|| PathBuf::from("runs/detect"), PathBuf::from);
            commands::demo::run(&project)
        }
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(CliError::Usage(format!("unknown mode '{other}'\n{USAGE}"))),
    }
}
