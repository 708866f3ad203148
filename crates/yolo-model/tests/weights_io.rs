//! Weights in and out: save/load round trip with metadata, and clear errors on bad input.

mod common;

use burn::backend::Flex;
use burn::tensor::Tensor;
use yolo_model::state::{export_state_dict, load_state_dict, LoadMode};
use yolo_model::weights::read_safetensors;
use yolo_model::{build_model, load_model, save_model, ModelError, ModelMeta, ModelSpec, Scale, Yolo};

type B = Flex;

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("yolo-weights-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn saved_safetensors_round_trip_with_pytorch_names_and_metadata() {
    let device = Default::default();
    let model = Yolo::<B>::new(ModelSpec::new(Scale::N, 3), &device);
    let meta = ModelMeta {
        names: vec!["a".into(), "b".into(), "c".into()],
        imgsz: Some([320, 320]),
        train_args: Some(serde_json::json!({"epochs": 3, "imgsz": 320})),
        source: None,
    };
    let path = tmp("roundtrip.safetensors");
    save_model(&model, &meta, &path).unwrap();

    let sd = read_safetensors(&path).unwrap();
    assert!(sd.tensors.contains_key("model.0.conv.weight"));
    assert!(sd.tensors.contains_key("model.0.bn.running_var"));
    assert!(sd.tensors.contains_key("model.23.cv3.2.2.bias"));
    assert!(sd.tensors.contains_key("model.10.m.0.attn.qkv.conv.weight"));
    assert_eq!(sd.metadata["nc"], "3");
    assert_eq!(sd.metadata["scale"], "n");

    let (loaded, loaded_meta) = load_model::<B>(&path, &device).unwrap();
    assert_eq!(loaded_meta.names, meta.names);
    assert_eq!(loaded_meta.imgsz, Some([320, 320]));
    assert_eq!(loaded_meta.train_args.unwrap()["epochs"], 3);
    let x = Tensor::<B, 4>::ones([1, 3, 64, 64], &device).mul_scalar(0.5);
    let a = model.forward(x.clone()).into_data();
    let b = loaded.forward(x).into_data();
    a.assert_eq(&b, true);
    assert_eq!(export_state_dict(&model).tensors, export_state_dict(&loaded).tensors);
}

#[test]
fn weights_of_another_scale_name_the_tensor_and_both_shapes() {
    let device = Default::default();
    let small = Yolo::<B>::new(ModelSpec::new(Scale::N, 80), &device);
    let sd = export_state_dict(&small);
    let big = Yolo::<B>::new(ModelSpec::new(Scale::S, 80), &device);
    let err = load_state_dict(big, &sd, "n.safetensors", LoadMode::Strict).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{msg}");
    assert!(msg.contains("n.safetensors") && msg.contains("model.0.conv.weight"), "{msg}");
    assert!(msg.contains("[16, 3, 3, 3]") && msg.contains("[32, 3, 3, 3]"), "{msg}");
}

#[test]
fn weights_of_another_class_count_are_transferred_like_ultralytics() {
    let device = Default::default();
    let coco = Yolo::<B>::new(ModelSpec::new(Scale::N, 80), &device);
    let path = tmp("coco80.safetensors");
    save_model(&coco, &ModelMeta::default(), &path).unwrap();
    let (model, _, report) = build_model::<B>(path.to_str().unwrap(), Some(13), &device).unwrap();
    assert_eq!(model.spec().nc, 13);
    let report = report.unwrap();
    // c3 = max(64, min(nc, 100)) drops from 80 to 64 channels, so the class branch after its
    // first depthwise conv changes shape and stays at init; everything else is copied.
    assert!(report.kept.iter().all(|n| n.starts_with("model.23.cv3.")), "{:?}", report.kept);
    assert!(report.kept.contains(&"model.23.cv3.0.2.weight".to_string()));
    assert!(!report.kept.iter().any(|n| n.starts_with("model.23.cv3.0.0.0.")), "the depthwise conv fits");
    assert_eq!(report.loaded + report.kept.len(), export_state_dict(&model).tensors.len());
}

#[test]
fn truncated_and_unknown_files_are_clear_errors() {
    let Some(shared) = common::shared() else { return };
    let bytes = std::fs::read(shared.join("data/weights/yolo11n_coco8_3ep_160.pt")).unwrap();
    for (name, data) in [
        ("cut.pt", &bytes[..bytes.len() / 2]),
        ("cut.onnx", &std::fs::read(shared.join("data/weights/yolo11n.onnx")).unwrap()[..100_000]),
        ("garbage.safetensors", b"not a weights file at all".as_slice()),
    ] {
        let path = tmp(name);
        std::fs::write(&path, data).unwrap();
        let err = load_model::<B>(&path, &Default::default()).unwrap_err().to_string();
        assert!(err.contains(name), "error names the file: {err}");
    }
}

#[test]
fn unknown_model_names_list_the_valid_ones() {
    let err = build_model::<B>("yolo11q", None, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("yolo11q") && err.contains("yolo11n"), "{err}");
    assert!(build_model::<B>("yolo11s.yaml", Some(5), &Default::default()).is_ok());
}
