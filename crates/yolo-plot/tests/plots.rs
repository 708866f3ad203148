//! Every writer produces a file that decodes to the documented size; empty or odd inputs do not fail.

use std::path::Path;
use yolo_plot::{
    PlotError, RESULTS_COLUMNS, batch_grid, curve_png, labels_png, memory_png, pr_curve_png,
    results_png, save_rgb,
};

fn decoded_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

/// Only the finished file is left in `dir`: no temporary siblings.
fn only_file(dir: &Path) -> String {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    names[0].clone()
}

fn grid(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 / (n - 1) as f64).collect()
}

#[test]
fn results_png_makes_nested_dirs_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/detect/train/results.png");
    let epochs: Vec<f64> = (1..=30).map(f64::from).collect();
    let loss: Vec<f64> = epochs.iter().map(|e| 2.0 / e.sqrt()).collect();
    let with_nan: Vec<f64> = epochs
        .iter()
        .map(|e| if *e == 7.0 { f64::NAN } else { e / 40.0 })
        .collect();
    let columns = [
        (RESULTS_COLUMNS[0], &loss[..]),
        ("  metrics/mAP50(B)", &with_nan[..]),
        ("val/cls_loss", &[][..]),
    ];
    results_png(&path, &columns, &epochs).unwrap();
    assert_eq!(decoded_size(&path), (2400, 1200));
    assert_eq!(only_file(path.parent().unwrap()), "results.png");
}

#[test]
fn results_png_with_nothing_draws_empty_panels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.png");
    results_png(&path, &[], &[]).unwrap();
    assert_eq!(decoded_size(&path), (2400, 1200));
    results_png(&path, &[("train/box_loss", &[1.0][..])], &[1.0]).unwrap(); // one epoch, overwrites
    assert_eq!(decoded_size(&path), (2400, 1200));
}

#[test]
fn pr_and_confidence_curves_decode() {
    let dir = tempfile::tempdir().unwrap();
    let x = grid(1000);
    let classes: Vec<(String, Vec<f64>, f64)> = (0..3)
        .map(|c| {
            (
                format!("class{c}"),
                x.iter().map(|r| 1.0 - r.powi(c + 2)).collect(),
                0.7,
            )
        })
        .collect();
    let pr = dir.path().join("BoxPR_curve.png");
    pr_curve_png(&pr, &x, &classes, 0.7).unwrap();
    assert_eq!(decoded_size(&pr), (2250, 1500));

    let many: Vec<(String, Vec<f64>)> = (0..30)
        .map(|c| {
            (
                format!("c{c}"),
                x.iter().map(|v| v * f64::from(c) / 30.0).collect(),
            )
        })
        .collect();
    let f1 = dir.path().join("BoxF1_curve.png");
    curve_png(&f1, &x, &many, "F1", "F1-Confidence Curve").unwrap();
    assert_eq!(decoded_size(&f1), (2250, 1500));
}

#[test]
fn curves_without_classes_or_points_still_draw() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.png");
    pr_curve_png(&path, &[], &[], f64::NAN).unwrap();
    curve_png(
        &path,
        &grid(10),
        &[("short".into(), vec![0.5, f64::NAN])],
        "P",
        "P-Confidence Curve",
    )
    .unwrap();
    assert_eq!(decoded_size(&path), (2250, 1500));
}

#[test]
fn memory_png_decodes_with_and_without_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.png");
    let t: Vec<f64> = (0..100).map(f64::from).collect();
    let rss: Vec<f64> = t.iter().map(|s| 2.0 + s / 100.0).collect();
    memory_png(
        &path,
        &[("host RSS", &rss[..]), ("device in use", &[][..])],
        &t,
        "time (s)",
        "GiB",
    )
    .unwrap();
    assert_eq!(decoded_size(&path), (2000, 1000));
    memory_png(&path, &[], &[], "step", "GiB").unwrap();
    assert_eq!(decoded_size(&path), (2000, 1000));
}

#[test]
fn labels_png_decodes_for_few_many_and_no_classes() {
    let dir = tempfile::tempdir().unwrap();
    let boxes: Vec<[f32; 4]> = (0..300)
        .map(|i| [(i % 17) as f32 / 17.0, (i % 13) as f32 / 13.0, 0.1, 0.2])
        .collect();
    let few: Vec<(String, usize)> = vec![("person".into(), 120), ("car".into(), 40)];
    let many: Vec<(String, usize)> = (0..80).map(|i| (format!("c{i}"), i * 3)).collect();
    for (name, counts, boxes) in [
        ("few.png", &few, &boxes[..]),
        ("many.jpg", &many, &boxes[..]),
        ("none.png", &Vec::new(), &[][..]),
    ] {
        let path = dir.path().join(name);
        labels_png(&path, counts, boxes).unwrap();
        assert_eq!(decoded_size(&path), (1600, 1600), "{name}");
    }
    let odd = [[f32::NAN, 0.5, 0.1, 0.1], [0.5, 0.5, 0.2, 0.2]];
    labels_png(dir.path().join("odd.png"), &few, &odd).unwrap();
}

/// `b` CHW images of `h`×`w` with one box each.
fn batch(b: usize, h: usize, w: usize) -> (Vec<u8>, Vec<[f32; 6]>) {
    let images = (0..b * 3 * h * w).map(|i| (i % 251) as u8).collect();
    let labels = (0..b)
        .map(|i| [i as f32, (i % 3) as f32, 0.5, 0.5, 0.4, 0.6])
        .collect();
    (images, labels)
}

#[test]
fn batch_grid_sizes_follow_the_square_layout() {
    let dir = tempfile::tempdir().unwrap();
    let names = vec!["cat".to_string(), "dog".to_string()];
    let (images, mut labels) = batch(5, 64, 40);
    labels.push([9.0, 0.0, 0.5, 0.5, 0.1, 0.1]); // image index beyond the batch
    labels.push([0.0, f32::NAN, 0.5, 0.5, 0.1, 0.1]);
    let png = dir.path().join("train_batch0.png");
    batch_grid(&png, &images, 5, 64, 40, &labels, &names, 1920).unwrap();
    assert_eq!(decoded_size(&png), (3 * 40, 3 * 64)); // 5 images → 3×3, unscaled
    let jpg = dir.path().join("train_batch1.jpg");
    batch_grid(&jpg, &images, 5, 64, 40, &labels, &names, 100).unwrap();
    assert_eq!(decoded_size(&jpg), (3 * 21, 3 * 34)); // tiles ⌈40·s⌉×⌈64·s⌉, s = 100/3/64

    let (images, labels) = batch(20, 16, 16);
    batch_grid(&png, &images, 20, 16, 16, &labels, &[], 1920).unwrap();
    assert_eq!(decoded_size(&png), (64, 64)); // at most 16 images: 4×4
}

#[test]
fn batch_grid_rejects_inconsistent_buffers_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jpg");
    for (images, b) in [
        (vec![0u8; 10], 1usize),
        (Vec::new(), 0),
        (vec![0u8; 48], usize::MAX),
    ] {
        let err = batch_grid(&path, &images, b, 4, 4, &[], &[], 1920).unwrap_err();
        assert!(matches!(err, PlotError::Input { .. }), "{err}");
        assert!(err.to_string().contains("bad.jpg"), "{err}");
    }
    assert!(!path.exists());
}

#[test]
fn save_rgb_checks_extension_and_length() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("a/b/pixel.JPEG");
    save_rgb(&ok, &[255, 0, 0, 0, 255, 0], 2, 1).unwrap();
    assert_eq!(decoded_size(&ok), (2, 1));
    assert!(matches!(
        save_rgb(dir.path().join("x.gif"), &[0; 3], 1, 1),
        Err(PlotError::Input { .. })
    ));
    assert!(matches!(
        save_rgb(dir.path().join("x.png"), &[0; 4], 1, 1),
        Err(PlotError::Input { .. })
    ));
    // A file where the folder should be: the error names the path.
    let blocked = dir.path().join("a/b/pixel.JPEG/inner.png");
    let err = save_rgb(&blocked, &[0; 3], 1, 1).unwrap_err();
    assert!(
        matches!(err, PlotError::Io { .. }) && err.to_string().contains("inner.png"),
        "{err}"
    );
}
