//! Loader and image cache: determinism across worker counts, epochs, rect batches, corrupt
//! images, transform switching, ram / disk caches and their fallbacks.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::add_image;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use yolo_data::image_cache::instances_px;
use yolo_data::{
    Batch, CacheMode, CacheOptions, DataError, DecodingSource, ImageCache, ImageSource,
    IndexOptions, LabelIndex, LetterBox, Loader, LoaderConfig, LoaderSource, RECT_PAD_VAL, Sample,
    RECT_BUCKET_PX, SampleTransform, bucket_rect_shape, choose_mode, letterbox_sample,
    planned_batches, rect_batch_shapes,
};

/// Letterbox to the batch shape, then a horizontal flip with p = 0.5 (so the rng matters).
struct LetterboxFlip;

impl SampleTransform for LetterboxFlip {
    fn apply(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: (u32, u32),
        rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        let (mut s, _) = letterbox_sample(&source.load(index)?, &LetterBox::new(shape));
        if rng.random_bool(0.5) {
            yolo_data::flip::fliplr(&mut s);
        }
        Ok(s)
    }
}

/// Every pixel `value`, no objects, whatever the source says.
struct Fill(u8);

impl SampleTransform for Fill {
    fn apply(
        &self,
        _: &dyn ImageSource,
        _: usize,
        (h, w): (u32, u32),
        _: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        Ok(Sample {
            image: yolo_data::Image::filled(w, h, self.0),
            instances: Default::default(),
        })
    }
}

fn quiet_index(images: &[std::path::PathBuf]) -> LabelIndex {
    let opts = IndexOptions {
        verbose: false,
        cache: false,
        ..IndexOptions::default()
    };
    LabelIndex::build(images, 80, &opts).unwrap()
}

/// 11 images of assorted sizes with one or two boxes each.
fn dataset(root: &Path) -> LabelIndex {
    let sizes = [
        (64, 48),
        (48, 64),
        (80, 40),
        (40, 40),
        (100, 60),
        (30, 90),
        (64, 64),
        (70, 50),
        (50, 70),
        (96, 32),
        (34, 66),
    ];
    let images: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &wh)| {
            let label = format!("{} 0.5 0.5 0.4 0.3\n{} 0.25 0.3 0.2 0.2\n", i % 3, i % 5);
            add_image(root, "train", &format!("im{i:02}"), wh, Some(&label))
        })
        .collect();
    quiet_index(&images)
}

fn quiet_cache(imgsz: u32, mode: CacheMode) -> CacheOptions {
    CacheOptions {
        verbose: false,
        ..CacheOptions::new(imgsz, mode)
    }
}

fn collect(loader: &mut Loader, epochs: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    for _ in 0..epochs {
        out.extend(loader.epoch().map(Result::unwrap));
    }
    out
}

fn run(source: Arc<dyn LoaderSource>, cfg: LoaderConfig, epochs: usize) -> Vec<Batch> {
    collect(
        &mut Loader::new(source, Arc::new(LetterboxFlip), cfg),
        epochs,
    )
}

#[test]
fn same_batches_for_any_worker_count() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let reference = run(source.clone(), LoaderConfig::train(64, 4, 0, 7), 3);
    assert_eq!(reference.len(), 9); // 3 epochs × (4 + 4 + 3)
    assert_eq!(reference[2].len(), 3);
    for workers in 1..=3 {
        for prefetch in [0, 1, 5] {
            let cfg = LoaderConfig {
                prefetch,
                ..LoaderConfig::train(64, 4, workers, 7)
            };
            let got = run(source.clone(), cfg, 3);
            assert!(got == reference, "workers {workers}, prefetch {prefetch}");
        }
    }
    // The flip happened for some samples, so the rng reached the transform.
    let flipped = run(source.clone(), LoaderConfig::train(64, 4, 0, 8), 3);
    assert_ne!(flipped, reference);
}

#[test]
fn epochs_are_reshuffled_permutations() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let batches = run(source.clone(), LoaderConfig::train(64, 4, 2, 1), 3);
    let epoch = |e: usize| -> Vec<usize> {
        batches
            .iter()
            .filter(|b| b.epoch == e)
            .flat_map(|b| b.indices.clone())
            .collect()
    };
    for e in 0..3 {
        let mut sorted = epoch(e);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..11).collect::<Vec<_>>());
    }
    assert_ne!(epoch(0), epoch(1));
    assert_ne!(epoch(1), epoch(2));
    let unshuffled = LoaderConfig {
        shuffle: false,
        ..LoaderConfig::train(64, 4, 2, 1)
    };
    let in_order = run(source.clone(), unshuffled, 1);
    let order: Vec<usize> = in_order.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(order, (0..11).collect::<Vec<_>>());
    // Resuming at epoch 2 gives epoch 2's batches.
    let resumed = LoaderConfig {
        start_epoch: 2,
        ..LoaderConfig::train(64, 4, 2, 1)
    };
    assert_eq!(run(source, resumed, 1), batches[6..].to_vec());
}

#[test]
fn batch_paths_labels_and_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let cfg = LoaderConfig {
        shuffle: false,
        ..LoaderConfig::train(64, 4, 1, 3)
    };
    let batch = run(source, cfg, 1).remove(0);
    assert_eq!(batch.shape, (64, 64));
    assert_eq!(batch.images.len(), 4 * 3 * 64 * 64);
    assert_eq!(batch.paths[1], index.images[1].path);
    assert_eq!(batch.labels.len(), 8);
    let positions: Vec<f32> = batch.labels.iter().map(|l| l[0]).collect();
    assert_eq!(positions, vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    assert!(
        batch
            .labels
            .iter()
            .all(|l| l[2..].iter().all(|v| (0.0..=1.0).contains(v)))
    );
}

#[test]
fn rect_batches_follow_rect_batch_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let (order, shapes) = rect_batch_shapes(&index.aspect_ratios(), 4, 64, 32, RECT_PAD_VAL);
    let batches = run(source, LoaderConfig::val(64, 4, 2), 2);
    for (k, b) in batches.iter().enumerate() {
        let bi = k % 3;
        assert_eq!(b.shape, shapes[bi]);
        assert_eq!(b.indices, order[bi * 4..(bi * 4 + 4).min(11)].to_vec());
        let (h, w) = b.shape;
        assert_eq!(b.images.len(), b.len() * 3 * (h * w) as usize);
    }
}

#[test]
fn planned_and_bucketed_rect_batches_match_what_the_loader_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 256));
    for rect_bucket in [0, RECT_BUCKET_PX] {
        let cfg = LoaderConfig { rect_bucket, ..LoaderConfig::val(256, 4, 0) };
        let plan = planned_batches(source.as_ref(), &cfg);
        let built: Vec<_> = run(Arc::clone(&source), cfg, 1).iter().map(|b| (b.len(), b.shape)).collect();
        assert_eq!(plan, built);
        assert_eq!(plan.iter().map(|p| p.0).collect::<Vec<_>>(), vec![4, 4, 3]);
    }
    let exact = planned_batches(source.as_ref(), &LoaderConfig::val(256, 4, 0));
    let bucketed = planned_batches(source.as_ref(), &LoaderConfig { rect_bucket: RECT_BUCKET_PX, ..LoaderConfig::val(256, 4, 0) });
    for ((_, e), (_, b)) in exact.iter().zip(&bucketed) {
        assert_eq!(*b, bucket_rect_shape(*e, RECT_BUCKET_PX));
        assert!(b.0 >= e.0 && b.1 >= e.1);
    }
    assert_ne!(exact, bucketed, "some short side is not a multiple of 128 px");
}

#[test]
fn drop_last_drops_the_short_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let cfg = LoaderConfig {
        drop_last: true,
        ..LoaderConfig::train(64, 4, 2, 1)
    };
    let loader = Loader::new(source, Arc::new(LetterboxFlip), cfg);
    assert_eq!(loader.batches_per_epoch(), 2);
}

/// Index of the dataset, then image 3's file replaced by garbage.
fn dataset_with_corrupt_image(root: &Path) -> LabelIndex {
    let index = dataset(root);
    fs::write(&index.images[3].path, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    index
}

#[test]
fn corrupt_sample_is_replaced_by_the_next_image() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset_with_corrupt_image(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let batches = run(source.clone(), LoaderConfig::train(64, 4, 2, 5), 2);
    let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
    assert_eq!(sizes, vec![4, 4, 3, 4, 4, 3]);
    for b in &batches {
        assert!(!b.indices.contains(&3), "{:?}", b.indices);
    }
    let all: Vec<usize> = batches[..3]
        .iter()
        .flat_map(|b| b.indices.clone())
        .collect();
    assert_eq!(all.iter().filter(|&&i| i == 4).count(), 2);
    assert_eq!(run(source, LoaderConfig::train(64, 4, 0, 5), 2), batches);
}

#[test]
fn ram_cache_skips_corrupt_images_and_matches_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset_with_corrupt_image(tmp.path());
    let cache = ImageCache::build_ram(&index, &quiet_cache(64, CacheMode::Ram)).unwrap();
    let decoding = DecodingSource::new(&index, 64);
    assert!(!cache.is_usable(3));
    let errors: Vec<&str> = cache.errors().collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("im03.jpg"), "{errors:?}");
    let e = cache.load(3).unwrap_err().to_string();
    assert!(e.contains("im03.jpg"), "{e}");
    // Stored sizes: larger images shrunk to long side 64, the 40×40 one kept as it is.
    let expected: u64 = [
        (64, 48),
        (48, 64),
        (64, 32),
        (40, 40),
        (64, 39),
        (22, 64),
        (64, 64),
        (64, 46),
        (46, 64),
        (64, 22),
        (33, 64),
    ]
    .iter()
    .map(|&(w, h)| w * h * 3)
    .sum();
    assert_eq!(cache.bytes(), expected);
    for i in (0..11).filter(|&i| i != 3) {
        assert_eq!(
            cache.load(i).unwrap(),
            decoding.load(i).unwrap(),
            "image {i}"
        );
    }
    let batches = run(Arc::new(cache), LoaderConfig::train(64, 4, 3, 2), 2);
    assert!(batches.iter().all(|b| !b.indices.contains(&3)));
}

#[test]
fn images_smaller_than_imgsz_are_stored_as_they_are_and_enlarged_on_load() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let imgsz = 1 + index.images.iter().map(|im| im.width.max(im.height)).max().unwrap();
    let cache = ImageCache::build_ram(&index, &quiet_cache(imgsz, CacheMode::Ram)).unwrap();
    let originals: u64 = index.images.iter().map(|im| u64::from(im.width * im.height) * 3).sum();
    assert_eq!(cache.bytes(), originals, "no image enlarged in the cache");
    assert_eq!(yolo_data::image_cache::cache_bytes(&index, imgsz), originals);
    let decoding = DecodingSource::new(&index, imgsz);
    for i in 0..index.images.len() {
        let (got, want) = (cache.load(i).unwrap(), decoding.load(i).unwrap());
        assert_eq!(got.image.width.max(got.image.height), imgsz, "image {i} enlarged to imgsz");
        assert_eq!(got, want, "image {i}: the same resize of the same pixels");
    }
}

#[test]
fn instances_are_scaled_to_the_resized_image() {
    let labels = yolo_data::Labels {
        cls: vec![2],
        boxes: vec![[0.5, 0.5, 0.5, 0.25]],
        segments: vec![vec![[0.0, 0.0], [1.0, 0.5]]],
    };
    let inst = instances_px(&labels, 64.0, 48.0);
    assert_eq!(inst.boxes, vec![[16.0, 18.0, 48.0, 30.0]]);
    assert_eq!(inst.segments, vec![vec![[0.0, 0.0], [64.0, 24.0]]]);
}

#[test]
fn disk_cache_is_reused_and_rebuilt_when_stale_or_broken() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let path = yolo_data::disk_cache_path(&index, 64).unwrap();
    assert_eq!(path, tmp.path().join("labels/train.imgcache-64"));
    let opts = quiet_cache(64, CacheMode::Disk);
    let first = ImageCache::open_disk(&index, &opts, &path).unwrap();
    let stamp = fs::metadata(&path).unwrap().modified().unwrap();
    let ram = ImageCache::build_ram(&index, &quiet_cache(64, CacheMode::Ram)).unwrap();
    for i in 0..11 {
        assert_eq!(first.pixels(i), ram.pixels(i));
    }
    drop(first);
    let reused = ImageCache::open_disk(&index, &opts, &path).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), stamp);
    assert_eq!(reused.load(5).unwrap(), ram.load(5).unwrap());
    drop(reused);

    // A changed source image (new size and mtime) makes it stale: rebuilt.
    add_image(tmp.path(), "train", "im05", (90, 30), None);
    let index = quiet_index(
        &index
            .images
            .iter()
            .map(|i| i.path.clone())
            .collect::<Vec<_>>(),
    );
    let rebuilt = ImageCache::open_disk(&index, &opts, &path).unwrap();
    assert_eq!(rebuilt.load(5).unwrap().image.width, 64);
    assert_eq!(rebuilt.load(5).unwrap().image.height, 22);
    drop(rebuilt);

    // A broken file is rebuilt too; a different imgsz uses its own file.
    fs::write(&path, b"garbage").unwrap();
    let again = ImageCache::open_disk(&index, &opts, &path).unwrap();
    assert_eq!(again.load(0).unwrap().image.width, 64);
    assert_ne!(yolo_data::disk_cache_path(&index, 32).unwrap(), path);
}

#[test]
fn cache_modes_parse_and_fall_back() {
    assert_eq!("true".parse::<CacheMode>(), Ok(CacheMode::Ram));
    assert_eq!("RAM".parse::<CacheMode>(), Ok(CacheMode::Ram));
    assert_eq!("disk".parse::<CacheMode>(), Ok(CacheMode::Disk));
    assert_eq!("False".parse::<CacheMode>(), Ok(CacheMode::None));
    assert!("fast".parse::<CacheMode>().is_err());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x.imgcache-640");
    assert_eq!(
        choose_mode(CacheMode::Ram, 1 << 20, Some(&file), false),
        CacheMode::Ram
    );
    assert_eq!(
        choose_mode(CacheMode::Disk, 1 << 20, Some(&file), false),
        CacheMode::Disk
    );
    let huge = 1u64 << 60;
    assert_eq!(
        choose_mode(CacheMode::Ram, huge, Some(&file), false),
        CacheMode::None
    );
    assert_eq!(
        choose_mode(CacheMode::Ram, huge, None, false),
        CacheMode::None
    );
    assert_eq!(
        choose_mode(CacheMode::None, 1, Some(&file), false),
        CacheMode::None
    );
}

#[test]
fn open_source_picks_the_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    for mode in [CacheMode::Ram, CacheMode::Disk, CacheMode::None] {
        let source = yolo_data::open_source(&index, &quiet_cache(64, mode)).unwrap();
        assert_eq!(source.len(), 11);
        assert_eq!(source.path(2), index.images[2].path);
        assert_eq!(source.original_size(2), (80, 40));
        assert_eq!(source.load(2).unwrap().image.height, 32);
    }
    assert!(tmp.path().join("labels/train.imgcache-64").is_file());
}

#[test]
fn epoch_transform_switches_at_the_boundary_without_new_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let cfg = LoaderConfig {
        prefetch: 6,
        ..LoaderConfig::train(64, 4, 2, 1)
    };
    let mut loader = Loader::new(source, Arc::new(Fill(1)), cfg);
    let first = collect(&mut loader, 1); // epoch 1 is already being prefetched
    loader.set_epoch_transform(1, Arc::new(Fill(9)));
    let second = collect(&mut loader, 2);
    assert!(first.iter().all(|b| b.images.iter().all(|&v| v == 1)));
    assert!(second.iter().all(|b| b.images.iter().all(|&v| v == 9)));
    assert_eq!(
        second
            .iter()
            .map(|b| (b.epoch, b.index))
            .collect::<Vec<_>>(),
        vec![(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    );
    assert_eq!(loader.workers(), 2);
}

/// Panics on image 6.
struct PanicOnSix;

impl SampleTransform for PanicOnSix {
    fn apply(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: (u32, u32),
        rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        assert_ne!(index, 6, "boom");
        LetterboxFlip.apply(source, index, shape, rng)
    }
}

#[test]
fn a_panicking_transform_is_an_error_not_a_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let index = dataset(tmp.path());
    let source: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, 64));
    let cfg = LoaderConfig {
        shuffle: false,
        ..LoaderConfig::train(64, 4, 2, 1)
    };
    let mut loader = Loader::new(source, Arc::new(PanicOnSix), cfg);
    let results: Vec<_> = loader.epoch().collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let e = results[1].as_ref().unwrap_err().to_string();
    let want = format!(
        "{}: transform panicked in batch 1 of epoch 0",
        index.images[6].path.display()
    );
    assert!(e.starts_with(&want) && e.contains("boom"), "{e}");
}
