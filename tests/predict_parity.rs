//! `predict` reproduces Ultralytics' own detections (fixtures.json → predict_reference):
//! same classes, boxes within 1 px, confidences within 1e-3, in original-image pixels.

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
    let predictor = Predictor::new(model, PredictConfig::default(), device);
    let reference = fixtures["predict_reference"]["results"].as_object().unwrap();
    for (image, want) in reference {
        let img = decode_image(&shared.join(image)).unwrap();
        let got = predictor.predict(&img);
        let want = want.as_array().unwrap();
        for d in &got { eprintln!("  {:?} {:.4} {}", d.bbox, d.conf, d.cls); }
        assert_eq!(got.len(), want.len(), "{image}: {} detections vs {}", got.len(), want.len());
        let (mut box_err, mut conf_err) = (0f32, 0f32);
        for (g, w) in got.iter().zip(want) {
            let w: Vec<f32> = w.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(g.cls, w[5] as usize, "{image}: class");
            for k in 0..4 {
                box_err = box_err.max((g.bbox[k] - w[k]).abs());
            }
            conf_err = conf_err.max((g.conf - w[4]).abs());
        }
        eprintln!("{image}: {} detections, max box error {box_err:.3} px, max conf error {conf_err:.2e}", got.len());
        assert!(box_err < 1.0, "{image}: box error {box_err}");
        assert!(conf_err < 1e-3, "{image}: conf error {conf_err}");
    }
}
