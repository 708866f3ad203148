//! The `yolo` binary end to end: val and predict write what Ultralytics users expect, info
//! prints the summary, and bad input gives one clear line and a failing exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("../shared is absent: skipped");
        None
    }
}

fn yolo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yolo")).args(args).output().expect("yolo runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yolo-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn arg(key: &str, value: &Path) -> String {
    format!("{key}={}", value.display())
}

#[test]
fn val_writes_metrics_json_matching_ultralytics() {
    let Some(shared) = shared() else { return };
    let project = tmp("val");
    let out = yolo(&[
        "val",
        &arg("model", &shared.join("data/weights/yolo11n.onnx")),
        &arg("data", &shared.join("data/coco8/coco8.yaml")),
        "imgsz=320",
        "batch=2",
        "rect=false",
        "device=cpu",
        &arg("project", &project),
        "name=run",
    ]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Box(P") && log.contains("person"), "summary table printed: {log}");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("run/metrics.json")).unwrap()).unwrap();
    for (key, want) in [("mAP50-95", 0.42750), ("mAP50", 0.61184), ("precision", 0.61819), ("recall", 0.55)] {
        let got = metrics[key].as_f64().unwrap();
        assert!((got - want).abs() <= 0.003, "{key}: {got} vs {want}");
    }
    assert_eq!(metrics["images"], 4);
    assert_eq!(metrics["instances"], 17);
    assert!(project.join("run/BoxPR_curve.png").exists());
}

#[test]
fn predict_writes_annotated_images_and_predictions_json() {
    let Some(shared) = shared() else { return };
    let project = tmp("predict");
    let out = yolo(&[
        "predict",
        &arg("model", &shared.join("data/weights/yolo11n.onnx")),
        &arg("source", &shared.join("data/coco8/images/val")),
        "imgsz=320",
        &arg("project", &project),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = project.join("predict");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("predictions.json")).unwrap()).unwrap();
    let images = json.as_array().unwrap();
    assert_eq!(images.len(), 4);
    let first = &images[0]["detections"][0];
    assert!(first["box"].as_array().unwrap().len() == 4 && first["confidence"].as_f64().unwrap() >= 0.25);
    for img in images {
        let name = Path::new(img["image"].as_str().unwrap()).file_name().unwrap();
        assert!(dir.join(name).exists(), "annotated copy of {name:?}");
    }
    let again = yolo(&["predict", &arg("model", &shared.join("data/weights/yolo11n.onnx")), &arg("source", &shared.join("data/coco8/images/val/000000000036.jpg")), "imgsz=320", &arg("project", &project)]);
    assert!(again.status.success());
    assert!(project.join("predict2/predictions.json").exists(), "run folders increment");
}

#[test]
fn info_prints_the_ultralytics_summary() {
    let out = yolo(&["info", "model=yolo11n"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("2,624,080 parameters") && log.contains("6.6 GFLOPs"), "{log}");
    assert!(log.contains("ultralytics.nn.modules.block.C2PSA"), "{log}");
}

#[test]
fn bad_input_is_one_clear_line() {
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["val".into(), "epochz=3".into()], "valid:"),
        (vec!["info".into(), "model=yolo12n".into()], "unknown model 'yolo12n'"),
        (vec!["val".into(), "data=/nope/data.yaml".into(), "model=yolo11n".into()], "/nope/data.yaml"),
        (vec!["predict".into(), "model=yolo11n".into(), "source=/nope/images".into()], "/nope/images"),
        (vec!["info".into(), "device=tpu".into()], "device 'tpu'"),
        (vec!["fly".into()], "unknown mode 'fly'"),
    ];
    for (args, needle) in cases {
        let out = yolo(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let log = text(&out);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(log.contains(needle), "{args:?}: expected '{needle}' in: {log}");
        assert!(!log.contains("panicked"), "{args:?} panicked: {log}");
    }
}

#[test]
fn a_corrupt_image_in_predict_is_reported_and_skipped() {
    let Some(shared) = shared() else { return };
    let src = tmp("corrupt-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(shared.join("data/coco8/images/val/000000000036.jpg"), src.join("good.jpg")).unwrap();
    let bytes = std::fs::read(shared.join("data/coco8/images/val/000000000042.jpg")).unwrap();
    std::fs::write(src.join("broken.jpg"), &bytes[..bytes.len() / 3]).unwrap();
    let project = tmp("corrupt-out");
    let out = yolo(&["predict", &arg("model", &shared.join("data/weights/yolo11n.onnx")), &arg("source", &src), "imgsz=320", &arg("project", &project)]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("broken.jpg"), "the corrupt file is named: {log}");
    assert!(project.join("predict/good.jpg").exists());
}
