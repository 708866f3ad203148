//! Dropping a loader stops and joins its worker threads, even mid-epoch with batches queued.
//! (Alone in its test binary so no other loader's threads are counted.)

mod common;

use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::add_image;
use rand_chacha::ChaCha8Rng;
use yolo_data::{
    DataError, DecodingSource, ImageSource, IndexOptions, LabelIndex, LetterBox, Loader,
    LoaderConfig, LoaderSource, Sample, SampleTransform, letterbox_sample,
};

struct Letterbox;

impl SampleTransform for Letterbox {
    fn apply(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: (u32, u32),
        _: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        Ok(letterbox_sample(&source.load(index)?, &LetterBox::new(shape)).0)
    }
}

/// Threads of this process whose name starts with `yolo-loader`.
fn loader_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("yolo-loader"))
        .count()
}

#[test]
fn drop_joins_every_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let images: Vec<_> = (0..20)
        .map(|i| add_image(tmp.path(), "train", &format!("{i}"), (96, 64), None))
        .collect();
    let opts = IndexOptions {
        verbose: false,
        cache: false,
        ..IndexOptions::default()
    };
    let index = LabelIndex::build(&images, 80, &opts).unwrap();
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 96));
    for _ in 0..3 {
        let mut loader = Loader::new(
            source.clone(),
            Arc::new(Letterbox),
            LoaderConfig::train(96, 2, 3, 0),
        );
        assert!(loader.next_batch().unwrap().is_some());
        // A thread names itself once it first runs; give a busy machine a moment.
        let started = Instant::now();
        while loader_threads() < 3 && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(loader_threads(), 3);
        drop(loader);
        assert_eq!(loader_threads(), 0);
        assert_eq!(Arc::strong_count(&source), 1);
    }
}
