//! Time per image of YOLO11n inference (fused, batch 1) on the CPU backend at 320 and 640 px,
//! model forward only and end to end (letterbox + forward + NMS).
//!
//! `cargo run --release --example infer_speed -- [weights] [runs]`

use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::Tensor;
use yolo_rs::data::decode_image;
use yolo_rs::model::{load_model, Fuse};
use yolo_rs::train::predict::{PredictConfig, Predictor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let weights = args.next().unwrap_or_else(|| "../shared/data/weights/yolo11n.onnx".into());
    let runs: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let device = Default::default();
    let (model, _) = load_model::<Flex>(weights.as_ref(), &device)?;
    let image = decode_image("../shared/data/coco8/images/val/000000000036.jpg".as_ref())?;
    println!("{:>6} {:>14} {:>14} {:>16}", "imgsz", "first call ms", "forward ms", "end-to-end ms");
    for imgsz in [320usize, 640] {
        let fused = model.clone().fuse();
        let x = Tensor::<Flex, 4>::ones([1, 3, imgsz, imgsz], &device).mul_scalar(0.5);
        let t = Instant::now();
        let _ = fused.forward(x.clone()).into_data();
        let first = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        for _ in 0..runs {
            let _ = fused.forward(x.clone()).into_data();
        }
        let forward = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
        let predictor = Predictor::new(model.clone(), PredictConfig { imgsz: imgsz as u32, ..Default::default() }, device);
        let t = Instant::now();
        for _ in 0..runs {
            let _ = predictor.predict(&image);
        }
        let e2e = t.elapsed().as_secs_f64() * 1e3 / runs as f64;
        println!("{imgsz:>6} {first:>14.1} {forward:>14.1} {e2e:>16.1}");
    }
    Ok(())
}
