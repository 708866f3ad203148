//! yolo-data on its own: load a YOLO dataset, cache its images, run the Ultralytics training
//! augmentations through the multi-threaded loader, and draw one batch with its boxes and class
//! names as a PNG grid (like Ultralytics' `train_batch0.jpg`). Also prints the size of the image
//! cache against Ultralytics' `cache=disk` (one full-size `.npy` array per image).
//!
//! `cargo run --release --example data_pipeline -- [data.yaml] [imgsz] [out.png]`
//! (defaults: `../shared/data/coco128/coco128.yaml`, 640, `runs/data_pipeline/batch.png`).

use std::path::PathBuf;
use std::sync::Arc;

use yolo_rs::data::image_cache::{cache_bytes, open_source};
use yolo_rs::data::{
    AugmentConfig, CacheMode, CacheOptions, DatasetConfig, IndexOptions, LabelIndex, Loader, LoaderConfig, Split,
    TrainTransform,
};

/// Bytes of Ultralytics' `.npy` disk cache: each image at full size, `h·w·3` u8 plus the 128-byte header.
fn npy_bytes(index: &LabelIndex) -> u64 {
    index.images.iter().map(|im| u64::from(im.width) * u64::from(im.height) * 3 + 128).sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut argv = std::env::args().skip(1);
    let yaml = argv.next().map_or_else(|| PathBuf::from("../shared/data/coco128/coco128.yaml"), PathBuf::from);
    let imgsz: u32 = argv.next().map_or(Ok(640), |s| s.parse())?;
    let out = argv.next().map_or_else(|| PathBuf::from("runs/data_pipeline/batch.png"), PathBuf::from);

    let config = DatasetConfig::load(&yaml)?;
    let index = LabelIndex::load(&config, Split::Train, &IndexOptions::default())?;
    let ours = cache_bytes(&index, imgsz);
    let theirs = npy_bytes(&index);
    println!(
        "image cache at {imgsz}: {:.1} MiB (long side at most {imgsz}, u8, one file) vs Ultralytics .npy {:.1} MiB (full size, one file per image): {:.2}× its size",
        ours as f64 / f64::from(1 << 20),
        theirs as f64 / f64::from(1 << 20),
        ours as f64 / theirs.max(1) as f64
    );

    let source = open_source(&index, &CacheOptions::new(imgsz, CacheMode::Ram))?;
    let transform = TrainTransform::new(&AugmentConfig::default(), imgsz, false)?;
    let mut loader = Loader::new(source, Arc::new(transform), LoaderConfig::train(imgsz, 16, 2, 0));
    let batch = loop {
        if let Some(batch) = loader.next_batch()? {
            break batch;
        }
    };
    let (h, w) = (batch.shape.0 as usize, batch.shape.1 as usize);
    println!("batch: {} images of {h}×{w} px, {} boxes", batch.len(), batch.labels.len());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    yolo_plot::batch_grid(&out, &batch.images, batch.len(), h, w, &batch.labels, &config.names, 1920)?;
    println!("wrote {}", out.display());
    Ok(())
}
