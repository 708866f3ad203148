//! Fine-tune the shipped COCO YOLO11n weights on chess_pieces (13 classes): the backbone and
//! neck are transferred, the class head is re-initialised for the new class count, as
//! Ultralytics does. Defaults are small enough for a CPU; pass `device=cuda` etc. via `yolo train`
//! for the real thing.
//!
//! `cargo run --release --example finetune -- [epochs] [imgsz]`

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use yolo_rs::train::args::{BatchArg, TrainArgs};
use yolo_rs::train::device::no_memory_probe;
use yolo_rs::train::progress::Verbosity;
use yolo_rs::train::trainer::Trainer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cli = std::env::args().skip(1);
    let epochs = cli.next().map_or(Ok(1), |s| s.parse())?;
    let imgsz = cli.next().map_or(Ok(320), |s| s.parse())?;
    let args = TrainArgs {
        data: PathBuf::from("../shared/data/chess_pieces/chess_pieces.yaml"),
        model: "../shared/data/weights/yolo11n.onnx".into(),
        epochs,
        imgsz,
        batch: BatchArg::Fixed(8),
        workers: 2,
        fraction: 0.25,
        name: "example-finetune".into(),
        ..Default::default()
    };
    let outcome = Trainer::<Autodiff<Flex>>::new(args, Default::default(), no_memory_probe(), Verbosity::Normal)?.fit()?;
    if let Some(m) = outcome.metrics {
        println!("chess_pieces val: mAP50-95 {:.4}, mAP50 {:.4}", m.map50_95, m.map50);
    }
    Ok(())
}
