//! `batch=-1` on the CPU: the plan fits its budget and trains; an out-of-memory back-off rebuilds
//! everything that depends on the micro-batch and the epoch continues.

mod common;

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use yolo_rs::memory::{estimate, Checkpointing, MemoryArg, GIB};
use yolo_rs::train::args::{BatchArg, TrainArgs};
use yolo_rs::train::autobatch::{apply_plan, plan_request, plan_with_probes};
use yolo_rs::train::device::{device_limits, no_memory_probe, DeviceArg};
use yolo_rs::train::optim::OptimizerKind;
use yolo_rs::train::progress::Verbosity;
use yolo_rs::train::trainer::Trainer;

type B = Autodiff<Flex>;

fn project(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yolo-autobatch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// coco128 at 64 px, one epoch, quiet, nothing saved.
fn args(shared: &Path, name: &str) -> TrainArgs {
    TrainArgs {
        data: shared.join("data/coco128/coco128.yaml"),
        model: "yolo11n.yaml".into(),
        imgsz: 64,
        epochs: 1,
        workers: 2,
        optimizer: OptimizerKind::Sgd,
        val: false,
        save: false,
        plots: false,
        verbose: false,
        project: project(name),
        ..Default::default()
    }
}

#[test]
fn batch_minus_one_plans_within_the_budget_and_trains() {
    let Some(shared) = common::shared() else { return };
    let mut a = args(&shared, "plan");
    a.batch = BatchArg::Auto(-1.0);
    // A budget that holds a few dozen images at 64 px but not the nominal 64.
    a.memory = Some(MemoryArg::Bytes(GIB / 8));
    let req = plan_request(&a, DeviceArg::Cpu, &device_limits(DeviceArg::Cpu), false).unwrap();
    let (plan, calibration) = plan_with_probes::<B>(&req, &Default::default(), &no_memory_probe(), false).unwrap();
    assert!(calibration.probes.is_empty(), "the CPU reports no device memory: nothing to probe");
    assert!(plan.device_required <= GIB / 8, "{plan}");
    assert!(plan.batch > 1 && plan.batch < 64, "{plan}");
    let one_more = estimate(&req.estimate_config(plan.batch + 1, 1, Checkpointing::None)).required();
    assert!(one_more > GIB / 8, "the largest micro-batch that fits: {plan}");
    assert_eq!(plan.accumulate, (64.0 / plan.batch as f64).round_ties_even() as u64);
    let planned = apply_plan(&a, &plan);
    let mut trainer = Trainer::<B>::new(planned, Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    assert_eq!(trainer.batch() as u64, plan.batch);
    assert_eq!(trainer.accumulate() as u64, plan.accumulate);
    assert_eq!(trainer.val_batch() as u64, plan.val_batch);
    let losses = trainer.train_epoch(0).unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
}

#[test]
fn halving_the_batch_rebuilds_loaders_accumulation_and_warm_up() {
    let Some(shared) = common::shared() else { return };
    let mut a = args(&shared, "backoff");
    a.batch = BatchArg::Fixed(8);
    a.warmup_epochs = 10.0;
    let mut trainer = Trainer::<B>::new(a.clone(), Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    assert_eq!((trainer.batches_per_epoch(), trainer.accumulate(), trainer.val_batch()), (16, 8, 16));
    assert_eq!(trainer.warmup().nw, 160);
    // As after an out-of-memory at the fifth batch of epoch 0: 32 images done.
    trainer.set_batch(4, 0, 32);
    assert_eq!((trainer.batch(), trainer.batches_per_epoch()), (4, 32));
    assert_eq!(trainer.accumulate(), 16, "round(64 / 4): the effective batch stays 64");
    assert_eq!(trainer.val_batch(), 8);
    assert_eq!((trainer.warmup().nw, trainer.warmup().batch), (320, 4));
    let losses = trainer.train_epoch(0).unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "the epoch continues from image 32: {losses:?}");

    // An explicit accumulation scales with the batch, keeping 8 × 2 = 16 images per step.
    let explicit = TrainArgs { accumulate: Some(2), project: project("backoff-explicit"), ..a };
    let mut trainer = Trainer::<B>::new(explicit, Default::default(), no_memory_probe(), Verbosity::Quiet).unwrap();
    trainer.set_batch(4, 0, 0);
    assert_eq!(trainer.accumulate(), 4);
}
