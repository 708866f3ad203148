//! Load the shipped COCO YOLO11n weights, detect objects in one image, print the detections.
//!
//! `cargo run --release --example predict -- [image] [weights]`
//! (defaults: ../shared/data/coco8/images/val/000000000036.jpg, ../shared/data/weights/yolo11n.onnx)

use std::path::PathBuf;

use burn::backend::Flex;
use yolo_rs::data::decode_image;
use yolo_rs::model::load_model;
use yolo_rs::train::predict::{PredictConfig, Predictor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let image = PathBuf::from(args.next().unwrap_or_else(|| "../shared/data/coco8/images/val/000000000036.jpg".into()));
    let weights = PathBuf::from(args.next().unwrap_or_else(|| "../shared/data/weights/yolo11n.onnx".into()));
    let device = Default::default();
    let (model, meta) = load_model::<Flex>(&weights, &device)?;
    let names = meta.names_or_default(model.spec().nc);
    let predictor = Predictor::new(model, PredictConfig::default(), device);
    let img = decode_image(&image)?;
    let started = std::time::Instant::now();
    let detections = predictor.predict(&img);
    println!("{}: {}×{} px, {} detections in {:.0} ms", image.display(), img.width, img.height, detections.len(), started.elapsed().as_secs_f64() * 1e3);
    for d in &detections {
        let [x1, y1, x2, y2] = d.bbox;
        println!("  {:<14} {:.3}  [{x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}]", names[d.cls], d.conf);
    }
    Ok(())
}
