//! `predict` reproduces Ultralytics' own detections (fixtures.json → predict_reference):
//! same classes, boxes within 1 px, confidences within 1e-3, in original-image pixels. Each
//! image was predicted at the size of its model-parity case (000000000009 at 640, the others at
//! 320), which is what the reference numbers reproduce.

mod common;

use burn::backend::Flex;
use yolo_rs::data::decode_image;
use yolo_rs::model::load_model;
use yolo_rs::train::predict::{PredictConfig, Predictor};

#[test]
fn predictions_match_ultralytics() {
    let Some(shared) = common::shared() else { return };
    let fixtures = common::fixtures(&shared);
    let device = Default::default();
    let (model, _) = load_model::<Flex>(&shared.join("data/weights/yolo11n.onnx"), &device).unwrap();
    let reference = fixtures["predict_reference"]["results"].as_object().unwrap();
    for case in fixtures["model_parity"]["cases"].as_array().unwrap() {
        let image = case["image"].as_str().unwrap();
        let imgsz = case["imgsz"].as_u64().unwrap() as u32;
        let predictor = Predictor::new(model.clone(), PredictConfig { imgsz, ..Default::default() }, device);
        let got = predictor.predict(&decode_image(&shared.join(image)).unwrap());
        let want = reference[image].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{image}@{imgsz}: {} detections vs {}", got.len(), want.len());
        let (mut box_err, mut conf_err) = (0f32, 0f32);
        for (g, w) in got.iter().zip(want) {
            let w: Vec<f32> = w.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(g.cls, w[5] as usize, "{image}: class");
            for (a, b) in g.bbox.iter().zip(&w[..4]) {
                box_err = box_err.max((a - b).abs());
            }
            conf_err = conf_err.max((g.conf - w[4]).abs());
        }
        eprintln!("{image}@{imgsz}: {} detections, max box error {box_err:.3} px, max conf error {conf_err:.1e}", got.len());
        assert!(box_err < 1.0, "{image}: box error {box_err}");
        assert!(conf_err < 1e-3, "{image}: conf error {conf_err}");
    }
}
