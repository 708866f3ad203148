//! Label index: counts, corrupt items, cache reuse and invalidation, filters, real data.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{add_image, jpeg_bytes, pattern, shared_dir, write};
use yolo_data::{DatasetConfig, IndexOptions, LabelIndex, Split, decode_image, probe_image};

fn quiet() -> IndexOptions {
    IndexOptions {
        verbose: false,
        ..IndexOptions::default()
    }
}

/// A split with one image of every kind; returns the sorted image list.
fn mixed_split(root: &Path) -> Vec<PathBuf> {
    add_image(
        root,
        "train",
        "a_good",
        (40, 30),
        Some("0 0.5 0.5 0.2 0.2\n2 0.3 0.3 0.1 0.1\n"),
    );
    add_image(root, "train", "b_missing", (40, 30), None);
    add_image(root, "train", "c_empty", (40, 30), Some(""));
    add_image(
        root,
        "train",
        "d_badclass",
        (40, 30),
        Some("0 0.5 0.5 0.2 0.2\n\n91 0.5 0.5 0.2 0.2\n"),
    );
    add_image(
        root,
        "train",
        "e_dups",
        (40, 30),
        Some("1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n"),
    );
    add_image(
        root,
        "train",
        "f_tiny",
        (8, 30),
        Some("0 0.5 0.5 0.2 0.2\n"),
    );
    let full = jpeg_bytes(&pattern(64, 64), None);
    write(
        &root.join("images/train/g_truncated.jpg"),
        &full[..full.len() / 2],
    );
    write(&root.join("images/train/h_zero.jpg"), b"");
    write(
        &root.join("images/train/i_notimage.png"),
        b"plain text, not a png",
    );
    let mut images: Vec<PathBuf> = fs::read_dir(root.join("images/train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    images
}

fn message_for<'a>(index: &'a LabelIndex, needle: &str) -> &'a str {
    index
        .messages
        .iter()
        .find(|m| m.contains(needle))
        .map_or("", |m| m.as_str())
}

#[test]
fn counts_and_corrupt_items() {
    let tmp = tempfile::tempdir().unwrap();
    let images = mixed_split(tmp.path());
    let index = LabelIndex::build(&images, 80, &quiet()).unwrap();
    let c = index.counts;
    assert_eq!(
        (c.found, c.missing, c.empty, c.corrupt, c.duplicates),
        (2, 1, 1, 5, 2),
        "{:?}",
        index.messages
    );
    let names: Vec<&str> = index
        .images
        .iter()
        .map(|i| i.path.file_stem().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a_good", "b_missing", "c_empty", "e_dups"]);
    assert_eq!((index.images[0].width, index.images[0].height), (40, 30));
    assert_eq!(index.images[0].labels.cls, vec![0, 2]);
    assert_eq!(index.images[3].labels.len(), 1);
    assert!(
        message_for(&index, "d_badclass.txt:3: class id 91 >= nc 80")
            .starts_with("ignoring corrupt")
    );
    assert!(
        message_for(&index, "g_truncated.jpg").contains("truncated or corrupt JPEG"),
        "{:?}",
        index.messages
    );
    assert!(message_for(&index, "h_zero.jpg").contains("empty file (0 bytes)"));
    assert!(message_for(&index, "f_tiny.jpg").contains("8x30 < 10 px"));
    assert!(message_for(&index, "i_notimage.png").contains("unknown or unsupported image format"));
    assert!(message_for(&index, "e_dups.jpg").is_empty());
    assert!(message_for(&index, "e_dups.txt: 2 duplicate labels removed").contains("duplicate"));
    // The truncated and empty files are errors for the decoder as well.
    assert!(
        decode_image(&images[6])
            .unwrap_err()
            .to_string()
            .contains("g_truncated.jpg")
    );
    assert!(
        decode_image(&images[7])
            .unwrap_err()
            .to_string()
            .contains("h_zero.jpg")
    );
}

#[test]
fn cache_is_reused_and_invalidated() {
    let tmp = tempfile::tempdir().unwrap();
    let images = mixed_split(tmp.path());
    let first = LabelIndex::build(&images, 80, &quiet()).unwrap();
    let cache = tmp.path().join("labels/train.cache.json");
    assert_eq!(first.cache_path.as_deref(), Some(cache.as_path()));
    assert!(!first.from_cache && cache.is_file());

    let second = LabelIndex::build(&images, 80, &quiet()).unwrap();
    assert!(second.from_cache);
    assert_eq!(
        (second.images.clone(), second.counts),
        (first.images.clone(), first.counts)
    );
    assert_eq!(second.messages, first.messages);

    // Same size, new mtime on one label file -> rescan.
    let label = tmp.path().join("labels/train/a_good.txt");
    let later = SystemTime::now() + Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(&label)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert!(!LabelIndex::build(&images, 80, &quiet()).unwrap().from_cache);
    assert!(LabelIndex::build(&images, 80, &quiet()).unwrap().from_cache);

    // A new label file for a background image -> rescan, now found.
    write(
        &tmp.path().join("labels/train/b_missing.txt"),
        b"3 0.5 0.5 0.5 0.5\n",
    );
    let index = LabelIndex::build(&images, 80, &quiet()).unwrap();
    assert!(!index.from_cache);
    assert_eq!((index.counts.found, index.counts.missing), (3, 0));

    // Another nc -> rescan (class 91 is fine with nc 100).
    let index = LabelIndex::build(&images, 100, &quiet()).unwrap();
    assert!(!index.from_cache);
    assert_eq!(index.counts.corrupt, 4);

    // A corrupt cache file is rebuilt with a warning.
    fs::write(&cache, b"{ not json").unwrap();
    let index = LabelIndex::build(&images, 100, &quiet()).unwrap();
    assert!(!index.from_cache);
    assert!(
        message_for(&index, "train.cache.json").contains("unreadable label cache"),
        "{:?}",
        index.messages
    );
    assert!(
        LabelIndex::build(&images, 100, &quiet())
            .unwrap()
            .from_cache
    );

    // cache: false neither reads nor writes.
    fs::remove_file(&cache).unwrap();
    let index = LabelIndex::build(
        &images,
        100,
        &IndexOptions {
            cache: false,
            ..quiet()
        },
    )
    .unwrap();
    assert!(!index.from_cache && !cache.exists());
}

#[test]
fn unwritable_cache_location_only_warns() {
    let tmp = tempfile::tempdir().unwrap();
    // No labels folder at all (every image is a background): the cache cannot be written.
    let img = add_image(tmp.path(), "val", "a", (20, 20), None);
    let index = LabelIndex::build(&[img], 80, &quiet()).unwrap();
    assert_eq!((index.len(), index.counts.missing), (1, 1));
    assert!(
        message_for(&index, "labels not cached").contains("val.cache.json"),
        "{:?}",
        index.messages
    );
}

#[test]
fn single_cls_classes_and_fraction() {
    let tmp = tempfile::tempdir().unwrap();
    let images = mixed_split(tmp.path());
    let opts = IndexOptions {
        classes: Some(vec![2]),
        ..quiet()
    };
    let index = LabelIndex::build(&images, 80, &opts).unwrap();
    assert_eq!(index.images[0].labels.cls, vec![2]);
    assert!(index.images[3].labels.is_empty()); // class 1 only: kept as a background
    let opts = IndexOptions {
        single_cls: true,
        ..quiet()
    };
    let index = LabelIndex::build(&images, 80, &opts).unwrap();
    assert_eq!(index.counts.corrupt, 4); // class 91 is accepted with single_cls, as Ultralytics
    assert!(
        index
            .images
            .iter()
            .all(|i| i.labels.cls.iter().all(|&c| c == 0))
    );
    let opts = IndexOptions {
        fraction: 0.25,
        cache: false,
        ..quiet()
    };
    let index = LabelIndex::build(&images, 80, &opts).unwrap(); // round(9 · 0.25) = 2
    assert_eq!(index.len(), 2);
}

#[test]
fn jpeg_without_end_marker_is_kept_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let full = jpeg_bytes(&pattern(48, 32), None);
    let img = tmp.path().join("images/train/noeoi.jpg");
    write(&img, &full[..full.len() - 2]);
    let index = LabelIndex::build(std::slice::from_ref(&img), 80, &quiet()).unwrap();
    assert_eq!((index.len(), index.counts.corrupt), (1, 0));
    assert!(
        message_for(&index, "noeoi.jpg").contains("lacks its end marker"),
        "{:?}",
        index.messages
    );
    assert_eq!(decode_image(&img).unwrap().data.len(), 48 * 32 * 3);
}

#[test]
fn exif_orientation_swaps_size_and_rotates_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let mut img = image::RgbImage::from_pixel(40, 20, image::Rgb([0, 0, 255]));
    for y in 0..10 {
        for x in 0..10 {
            img.put_pixel(x, y, image::Rgb([255, 0, 0])); // red top-left corner
        }
    }
    let path = tmp.path().join("images/r.jpg");
    write(&path, &jpeg_bytes(&img, Some(6))); // 6 = rotate 90° clockwise to display
    let probe = probe_image(&path).unwrap();
    assert_eq!((probe.width, probe.height), (20, 40));
    let dec = decode_image(&path).unwrap();
    assert_eq!((dec.width, dec.height), (20, 40));
    let px = |x: usize, y: usize| &dec.data[(y * 20 + x) * 3..(y * 20 + x) * 3 + 3];
    assert!(
        px(17, 2)[0] > 200 && px(17, 2)[2] < 60,
        "red corner should be top-right: {:?}",
        px(17, 2)
    );
    assert!(px(2, 2)[2] > 200, "{:?}", px(2, 2));
}

#[test]
fn grayscale_png_decodes_to_rgb() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("g.png");
    image::GrayImage::from_fn(12, 11, |x, _| image::Luma([x as u8 * 10]))
        .save(&path)
        .unwrap();
    let dec = decode_image(&path).unwrap();
    assert_eq!(
        (dec.width, dec.height, dec.data.len()),
        (12, 11, 12 * 11 * 3)
    );
    assert_eq!(&dec.data[15..18], &[50, 50, 50]);
}

#[test]
fn shared_coco128_counts() {
    let Some(shared) = shared_dir() else {
        eprintln!("note: ../shared not found; skipping the coco128 index test");
        return;
    };
    let cfg = DatasetConfig::load(&shared.join("data/coco128/coco128.yaml")).unwrap();
    // The shared data is read-only: no cache.
    let opts = IndexOptions {
        cache: false,
        verbose: true,
        ..IndexOptions::default()
    };
    let index = LabelIndex::load(&cfg, Split::Train, &opts).unwrap();
    let c = index.counts;
    assert_eq!(
        (
            index.len(),
            c.found,
            c.missing,
            c.empty,
            c.corrupt,
            c.duplicates
        ),
        (128, 126, 2, 0, 0, 0)
    );
    assert_eq!(
        index.images.iter().map(|i| i.labels.len()).sum::<usize>(),
        929
    );
    let gray = index
        .images
        .iter()
        .find(|i| i.path.ends_with("000000000086.jpg"))
        .unwrap();
    assert!(gray.width > 0 && !gray.labels.is_empty());
    let chess = DatasetConfig::load(&shared.join("data/chess_pieces/chess_pieces.yaml")).unwrap();
    let test = LabelIndex::load(&chess, Split::Test, &opts).unwrap();
    assert_eq!((test.len(), test.counts.empty), (29, 1));
    assert_eq!(
        test.images.iter().map(|i| i.labels.len()).sum::<usize>(),
        376
    );
    assert!(
        test.images
            .iter()
            .all(|i| (i.width, i.height) == (416, 416))
    );
}

#[test]
fn all_corrupt_is_an_error_naming_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("images/train/z.jpg");
    write(&img, b"");
    let e = LabelIndex::build(&[img], 80, &quiet())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("images/train") && e.contains("no usable images: all 1 are corrupt"),
        "{e}"
    );
    assert!(LabelIndex::build(&[], 80, &quiet()).unwrap().is_empty());
}
