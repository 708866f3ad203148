//! The memory plan of a training run from Rust, as `yolo plan` prints it: the device and host
//! breakdown for a model, image size, dataset and budget, and the micro-batch, accumulation,
//! validation batch, workers and cache mode that fit.
//!
//! `cargo run --release --example plan -- [model] [imgsz] [data.yaml] [memory] [device]`, e.g.
//! `cargo run --release --example plan -- yolo11s 640 ../shared/data/coco128/coco128.yaml 12GiB cuda`
//! (the budget is a fraction of the device, `0.9`, or an amount, `12GiB`; the CPU is the default
//! device: its memory is the host's). Nothing runs on the device here; `yolo plan` also probes.

use std::path::PathBuf;

use yolo_rs::memory::{plan, Calibration, MemoryArg};
use yolo_rs::train::args::{BatchArg, TrainArgs};
use yolo_rs::train::autobatch::plan_request;
use yolo_rs::train::device::{device_limits, DeviceArg};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut argv = std::env::args().skip(1);
    let model = argv.next().unwrap_or_else(|| "yolo11s".into());
    let imgsz: u32 = argv.next().map_or(Ok(640), |s| s.parse())?;
    let data = argv.next().map_or_else(|| PathBuf::from("../shared/data/coco128/coco128.yaml"), PathBuf::from);
    let memory: MemoryArg = argv.next().map_or(Ok(MemoryArg::Fraction(0.9)), |s| s.parse())?;
    let device: DeviceArg = argv.next().map_or(Ok(DeviceArg::Cpu), |s| s.parse())?;
    let args = TrainArgs { model, imgsz, data, memory: Some(memory), batch: BatchArg::Auto(-1.0), device: device.to_string(), ..Default::default() };
    // The fused BatchNorm kernels run on GPU backends only.
    let fused_bn = device != DeviceArg::Cpu;
    let req = plan_request(&args, device, &device_limits(device), fused_bn)?;
    let p = plan(&req, &Calibration::default())?;
    println!("{p}");
    println!("train with: yolo train model={} data={} imgsz={imgsz} batch={} val_batch={} workers={}", args.model, args.data.display(), p.batch, p.val_batch, p.workers);
    Ok(())
}
