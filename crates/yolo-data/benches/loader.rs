//! JPEG decode (mozjpeg vs the `image` crate's zune-jpeg), one mosaic sample, and loader
//! throughput on coco128 from `cache=ram`. Small samples: the whole run takes about a minute.
//! `cargo bench -p yolo-data --bench loader`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use yolo_data::{
    AugmentConfig, CacheMode, CacheOptions, DatasetConfig, ImageCache, IndexOptions, LabelIndex,
    Loader, LoaderConfig, SampleTransform, Split, TrainTransform, decode_image, sample_rng,
};

/// `../../../shared` from this crate, if present.
fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    dir.is_dir().then_some(dir)
}

fn coco128(shared: &Path) -> LabelIndex {
    let config = DatasetConfig::load(&shared.join("data/coco128/coco128.yaml")).unwrap();
    let opts = IndexOptions {
        verbose: false,
        cache: false,
        ..IndexOptions::default()
    };
    LabelIndex::load(&config, Split::Train, &opts).unwrap()
}

fn decode(c: &mut Criterion, shared: &Path) {
    let path = shared.join("data/coco128/images/train2017/000000000009.jpg"); // 640×480
    let bytes = std::fs::read(&path).unwrap();
    let mut g = c.benchmark_group("decode_640x480_jpeg");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("mozjpeg (decode_image)", |b| {
        b.iter(|| decode_image(&path).unwrap())
    });
    g.bench_function("zune-jpeg (image crate)", |b| {
        b.iter(|| image::load_from_memory(&bytes).unwrap().into_rgb8())
    });
    g.finish();
}

fn mosaic_sample(c: &mut Criterion, cache: &Arc<ImageCache>) {
    let t = TrainTransform::new(&AugmentConfig::default(), 640, false).unwrap();
    let mut g = c.benchmark_group("mosaic_sample_640");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let mut i = 0;
    g.bench_function("TrainTransform", |b| {
        b.iter(|| {
            i = (i + 1) % 128;
            t.apply(cache.as_ref(), i, (640, 640), &mut sample_rng(0, 0, i))
                .unwrap()
        })
    });
    g.finish();
}

fn loader(c: &mut Criterion, cache: &Arc<ImageCache>) {
    const BATCHES: usize = 4;
    let mut g = c.benchmark_group("loader_mosaic_640_b16_ram");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements((BATCHES * 16) as u64));
    for workers in [0, 2] {
        let transform = TrainTransform::new(&AugmentConfig::default(), 640, false).unwrap();
        let cfg = LoaderConfig::train(640, 16, workers, 0);
        let mut loader = Loader::new(cache.clone(), Arc::new(transform), cfg);
        g.bench_function(format!("{workers} workers"), |b| {
            b.iter(|| {
                for _ in 0..BATCHES {
                    let batch = match loader.next_batch().unwrap() {
                        Some(b) => b,
                        None => loader.next_batch().unwrap().unwrap(),
                    };
                    loader.recycle(batch);
                }
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let Some(shared) = shared_dir() else {
        eprintln!("note: ../shared not found; nothing to bench");
        return;
    };
    decode(c, &shared);
    let opts = CacheOptions {
        verbose: false,
        ..CacheOptions::new(640, CacheMode::Ram)
    };
    let cache = Arc::new(ImageCache::build_ram(&coco128(&shared), &opts).unwrap());
    mosaic_sample(c, &cache);
    loader(c, &cache);
}

criterion_group!(loader_benches, benches);
criterion_main!(loader_benches);
