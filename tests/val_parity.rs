//! Validation reproduces Ultralytics' own mAP (fixtures.json → val_reference) within ±0.003:
//! the shipped COCO YOLO11n weights on coco8 at 320 and 640 (coco128 in `val_coco128`, ignored
//! by default because it takes minutes on a CPU).

mod common;

use burn::backend::Flex;
use yolo_rs::data::{DatasetConfig, IndexOptions, LabelIndex, Split};
use yolo_rs::model::load_model;
use yolo_rs::train::validate::{ValConfig, ValSet};

fn check(dataset: &str, imgsz: u32) {
    let Some(shared) = common::shared() else { return };
    let key = format!("{dataset}_{imgsz}");
    let want = &common::fixtures(&shared)["val_reference"]["results"][&key];
    let device = Default::default();
    let (model, _) = load_model::<Flex>(&shared.join("data/weights/yolo11n.onnx"), &device).unwrap();
    let data = DatasetConfig::load(&shared.join(format!("data/{dataset}/{dataset}.yaml"))).unwrap();
    let opts = IndexOptions { cache: false, verbose: false, ..Default::default() };
    let index = LabelIndex::load(&data, Split::Val, &opts).unwrap();
    let cfg = ValConfig { imgsz, batch: 1, rect: false, ..Default::default() };
    let set = ValSet::new(&index, data.names.clone(), cfg);
    let out = set.run(&model, None, &device, |_, _| {}).unwrap();
    let m = &out.metrics;
    let pairs = [("mAP50-95", m.map50_95), ("mAP50", m.map50), ("P", m.mp), ("R", m.mr)];
    for (name, got) in pairs {
        let reference = want[name].as_f64().unwrap();
        eprintln!("{key} {name}: ours {got:.4}, Ultralytics {reference:.4}, diff {:+.4}", got - reference);
    }
    for (name, got) in pairs {
        let reference = want[name].as_f64().unwrap();
        assert!((got - reference).abs() <= 0.003, "{key} {name}: {got} vs {reference}");
    }
}

#[test]
fn val_coco8_320() {
    check("coco8", 320);
}

#[test]
fn val_coco8_640() {
    check("coco8", 640);
}

#[test]
#[ignore = "takes minutes on a CPU; run with --ignored (see docs)"]
fn val_coco128_640() {
    check("coco128", 640);
}

#[test]
#[ignore = "takes minutes on a CPU; run with --ignored (see docs)"]
fn val_coco128_320() {
    check("coco128", 320);
}
