//! Proof of memory: 20 epochs of the mosaic pipeline over coco128 from a `cache=ram` cache with
//! 4 workers, each batch recycled as a trainer does. After each epoch, with the pipeline full
//! (`wait_until_full`: every in-flight batch built and held) and the heap's free pages handed
//! back (`release_free_heap`, as the loader does at each epoch end), the process RSS must stay
//! within 1 % of its value after epoch 2; the peak RSS (`VmHWM`, every transient included)
//! must stay within cache bytes + in-flight batch bytes + 150 MiB.
//!
//! Alone in its binary (RSS is per process). Slow in the test profile, so ignored by default:
//! `cargo test -p yolo-data --release --test memory_proof -- --ignored --nocapture`.

mod common;

use std::fs;
use std::sync::Arc;
use std::time::Instant;

use common::shared_dir;
use yolo_data::image_cache::fmt_bytes;
use yolo_data::{
    AugmentConfig, CacheMode, CacheOptions, DatasetConfig, ImageCache, IndexOptions, LabelIndex,
    Loader, LoaderConfig, Split, TrainTransform, batch_image_bytes, release_free_heap,
};

const EPOCHS: usize = 20;
const IMGSZ: u32 = 640;
const BATCH: usize = 16;
const WORKERS: usize = 4;
const SLACK: u64 = 150 << 20;

/// `(VmRSS, VmHWM)` of this process in bytes.
fn rss() -> (u64, u64) {
    let text = fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[test]
#[ignore = "slow in the test profile; run with --release -- --ignored"]
fn rss_is_flat_and_bounded_over_20_epochs() {
    let Some(shared) = shared_dir() else {
        eprintln!("note: ../shared not found; skipping the memory proof");
        return;
    };
    let yaml = shared.join("data/coco128/coco128.yaml");
    let config = DatasetConfig::load(&yaml).unwrap();
    let opts = IndexOptions {
        verbose: false,
        cache: false,
        ..IndexOptions::default()
    };
    let index = LabelIndex::load(&config, Split::Train, &opts).unwrap();
    let cache_opts = CacheOptions {
        verbose: false,
        ..CacheOptions::new(IMGSZ, CacheMode::Ram)
    };
    let cache = Arc::new(ImageCache::build_ram(&index, &cache_opts).unwrap());
    let cache_bytes = cache.bytes();
    let transform = TrainTransform::new(&AugmentConfig::default(), IMGSZ, false).unwrap();
    let cfg = LoaderConfig::train(IMGSZ, BATCH, WORKERS, 0);
    let in_flight = cfg.in_flight() as u64 * batch_image_bytes(BATCH, (IMGSZ, IMGSZ));
    let budget = cache_bytes + in_flight + SLACK;
    let batches = cfg.in_flight();
    let mut loader = Loader::new(cache, Arc::new(transform), cfg);

    println!(
        "coco128: {} images at {IMGSZ}, batch {BATCH}, {WORKERS} workers; cache=ram {} + in \
         flight {batches} × {} = {} + {} = budget {}",
        index.len(),
        fmt_bytes(cache_bytes),
        fmt_bytes(batch_image_bytes(BATCH, (IMGSZ, IMGSZ))),
        fmt_bytes(in_flight),
        fmt_bytes(SLACK),
        fmt_bytes(budget)
    );
    println!(
        "| epoch | RSS MiB | RSS after trim MiB | vs epoch 2 (after trim) | peak RSS MiB | img/s |"
    );
    println!("|---|---|---|---|---|---|");
    let mut after_two = 0;
    let mut worst_growth = 0f64;
    for epoch in 1..=EPOCHS {
        let start = Instant::now();
        let mut images = 0;
        while let Some(batch) = loader.next_batch().unwrap() {
            images += batch.len();
            loader.recycle(batch);
        }
        loader.wait_until_full().unwrap();
        let rate = images as f64 / start.elapsed().as_secs_f64();
        let (raw, _) = rss();
        release_free_heap();
        let (now, peak) = rss();
        if epoch == 2 {
            after_two = now;
        }
        let growth = (now as f64 / after_two as f64 - 1.0) * 100.0;
        if epoch > 2 {
            worst_growth = worst_growth.max(growth);
        }
        let vs_two = if epoch >= 2 {
            format!("{growth:+.2} %")
        } else {
            "".into()
        };
        println!(
            "| {epoch} | {:.1} | {:.1} | {vs_two} | {:.1} | {rate:.0} |",
            mib(raw),
            mib(now),
            mib(peak)
        );
    }
    let (_, peak) = rss();
    println!(
        "peak RSS {:.1} MiB <= budget {:.1} MiB; worst growth after epoch 2 {worst_growth:.2} %",
        mib(peak),
        mib(budget)
    );
    assert!(
        worst_growth < 1.0,
        "RSS grew {worst_growth:.2} % after epoch 2"
    );
    assert!(
        peak <= budget,
        "peak RSS {} > budget {}",
        fmt_bytes(peak),
        fmt_bytes(budget)
    );
}
