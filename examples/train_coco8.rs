//! A tiny CPU training run: YOLO11n from scratch on coco8 at 128 px for 3 epochs, into
//! `runs/detect/example-coco8*` (args.yaml, results.csv, weights, plots).
//!
//! `cargo run --release --example train_coco8 -- [path/to/coco8.yaml]`

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use yolo_rs::train::args::{BatchArg, TrainArgs};
use yolo_rs::train::device::no_memory_probe;
use yolo_rs::train::progress::Verbosity;
use yolo_rs::train::trainer::Trainer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::env::args().nth(1).unwrap_or_else(|| "../shared/data/coco8/coco8.yaml".into());
    let args = TrainArgs {
        data: PathBuf::from(data),
        model: "yolo11n.yaml".into(),
        epochs: 3,
        imgsz: 128,
        batch: BatchArg::Fixed(4),
        workers: 2,
        name: "example-coco8".into(),
        ..Default::default()
    };
    let outcome = Trainer::<Autodiff<Flex>>::new(args, Default::default(), no_memory_probe(), Verbosity::Normal)?.fit()?;
    println!("last weights: {}", outcome.last.display());
    Ok(())
}
