//! Training end to end on the CPU: a short overfit from scratch learns, a resumed run
//! continues exactly, and a damaged checkpoint is refused with a clear error.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use yolo_rs::model::weights::read_safetensors;
use yolo_rs::train::args::{Switch, TrainArgs};
use yolo_rs::train::device::no_memory_probe;
use yolo_rs::train::optim::OptimizerKind;
use yolo_rs::train::progress::Verbosity;
use yolo_rs::train::trainer::Trainer;

type B = Autodiff<Flex>;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yolo-train-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// coco8 at 128 px, batch 4, AdamW, no warm-up, one optimizer step per batch.
fn small_args(shared: &Path, project: &Path) -> TrainArgs {
    let mut a = TrainArgs {
        data: shared.join("data/coco8/coco8.yaml"),
        model: "yolo11n.yaml".into(),
        imgsz: 128,
        batch: yolo_rs::train::args::BatchArg::Fixed(4),
        workers: 0,
        optimizer: OptimizerKind::AdamW,
        lr0: 0.002,
        warmup_epochs: 0.0,
        accumulate: Some(1),
        val: false,
        plots: false,
        verbose: false,
        project: project.to_path_buf(),
        ..Default::default()
    };
    a.augment.close_mosaic = 0;
    a
}

#[test]
fn thirty_steps_from_scratch_halve_the_loss() {
    let Some(shared) = common::shared() else { return };
    let project = tmp("overfit");
    let mut args = small_args(&shared, &project);
    args.epochs = 30;
    args.save = false;
    // The same four images every step: no mosaic, flips, colour or geometry changes.
    args.augment.mosaic = 0.0;
    args.augment.fliplr = 0.0;
    args.augment.hsv_h = 0.0;
    args.augment.hsv_s = 0.0;
    args.augment.hsv_v = 0.0;
    args.augment.translate = 0.0;
    args.augment.scale = 0.0;
    let mut trainer = Trainer::<B>::new(args, Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    assert_eq!(trainer.batches_per_epoch(), 1);
    let mut curve = Vec::new();
    for epoch in 0..30 {
        let l = trainer.train_epoch(epoch).unwrap();
        curve.push(l.iter().sum::<f32>());
    }
    eprintln!("loss (box + cls + dfl) per step: {curve:.3?}");
    let (first, last) = (curve[0], curve[29]);
    assert!(last < first / 2.0, "loss went from {first} to {last}");
}

fn raw_weights(checkpoint: &Path) -> Vec<(String, Vec<f32>)> {
    let sd = read_safetensors(checkpoint).unwrap();
    sd.tensors
        .into_iter()
        .filter(|(k, _)| k.starts_with("train.") || k.starts_with("model.") || k.starts_with("optim."))
        .map(|(k, v)| (k, v.data))
        .collect()
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one_bit_for_bit() {
    let Some(shared) = common::shared() else { return };
    let mut args = small_args(&shared, &tmp("resume"));
    args.epochs = 3;
    // Two batches per epoch with accumulate 3 leaves gradients pending across epoch ends.
    args.batch = yolo_rs::train::args::BatchArg::Fixed(2);
    args.accumulate = Some(3);
    args.augment.mosaic = 1.0;

    let full = Trainer::<B>::new(TrainArgs { name: "full".into(), ..args.clone() }, Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    let mut first = Trainer::<B>::new(TrainArgs { name: "split".into(), ..args.clone() }, Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    let initial = |t: &Trainer<B>| yolo_rs::model::state::export_state_dict(t.model());
    assert_eq!(initial(&full), initial(&first), "the same seed gives the same initial weights");
    let full = full.fit().unwrap();

    first.run_epoch().unwrap();
    first.run_epoch().unwrap();
    let last = first.dir().join("weights/last.safetensors");
    drop(first);
    let resumed_args = TrainArgs { resume: Switch::Value(last.display().to_string()), ..args.clone() };
    let resumed = Trainer::<B>::new(resumed_args, Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    assert_eq!(resumed.start_epoch(), 2);
    let split = resumed.fit().unwrap();

    let (a, b) = (raw_weights(&full.last), raw_weights(&split.last));
    assert_eq!(a.len(), b.len());
    let mut max_diff = 0f32;
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        for (x, y) in va.iter().zip(vb) {
            max_diff = max_diff.max((x - y).abs());
        }
    }
    let worst = a.iter().zip(&b).map(|((k, x), (_, y))| (x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max), k)).filter(|(d, _)| *d > 0.0).take(5).collect::<Vec<_>>();
    eprintln!("{} tensors compared, max abs difference {max_diff:e}; first differing: {worst:?}", a.len());
    assert_eq!(max_diff, 0.0, "resume must continue exactly");
    assert_eq!(full.results.len(), 3);
    assert_eq!(split.results.len(), 3);
}

#[test]
fn a_damaged_checkpoint_is_refused_with_its_name() {
    let Some(shared) = common::shared() else { return };
    let mut args = small_args(&shared, &tmp("damaged"));
    args.epochs = 1;
    let out = Trainer::<B>::new(args.clone(), Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap().fit().unwrap();
    let bytes = std::fs::read(&out.last).unwrap();
    let cut = out.dir.join("weights/cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let plain = out.dir.join("weights/plain.safetensors");
    std::fs::copy(out.best.as_ref().unwrap_or(&out.last), &plain).unwrap();
    for (file, needle) in [(&cut, "cut.safetensors"), (&plain, "plain.safetensors")] {
        let a = TrainArgs { resume: Switch::Value(file.display().to_string()), ..args.clone() };
        let err = Trainer::<B>::new(a, Default::default(), no_memory_probe(), Verbosity::Quiet).err().expect("refused").to_string();
        eprintln!("{err}");
        assert!(err.contains(needle), "{err}");
    }
}
