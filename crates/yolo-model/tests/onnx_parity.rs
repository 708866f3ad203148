//! Parity of our YOLO11n with Ultralytics' ONNX export (BN folded) on the fixture inputs:
//! max abs error < 1e-2 px on boxes and < 1e-4 on scores, on every backend built in.

mod common;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;
use yolo_model::state::{load_state_dict, LoadMode};
use yolo_model::weights::read_onnx;
use yolo_model::{Fuse, ModelSpec, Scale, Yolo};

fn parity<B: Backend>(device: B::Device) {
    let Some(shared) = common::shared() else { return };
    let sd = read_onnx(shared.join("data/weights/yolo11n.onnx")).unwrap();
    let model = Yolo::<B>::new(ModelSpec::new(Scale::N, 80), &device);
    let (model, _) = load_state_dict(model, &sd, "yolo11n.onnx", LoadMode::Strict).unwrap();
    let fused = model.clone().fuse();
    let bytes = std::fs::read(shared.join("fixtures/yolo11n_onnx_outputs.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (stem, size) in [("000000000009", 640), ("000000000034", 320), ("000000000036", 320)] {
        let (shape, input) = common::f32_tensor(&st, &format!("{stem}_{size}_input"));
        let (want_shape, want) = common::f32_tensor(&st, &format!("{stem}_{size}_output"));
        let x = Tensor::<B, 4>::from_data(TensorData::new(input, shape), &device);
        for (label, m) in [("unfused", &model), ("fused", &fused)] {
            let got = m.forward(x.clone()).into_data().convert::<f32>().into_vec::<f32>().unwrap();
            let (box_err, score_err) = common::box_and_score_error(&got, &want, 84, want_shape[2]);
            eprintln!("{stem}@{size} {label}: max abs box {box_err:.2e} px, score {score_err:.2e}");
            assert!(box_err < 1e-2, "{stem}@{size} {label}: box error {box_err}");
            assert!(score_err < 1e-4, "{stem}@{size} {label}: score error {score_err}");
        }
    }
}

#[test]
fn onnx_parity_cpu() {
    parity::<burn::backend::Flex>(Default::default());
}

#[cfg(feature = "wgpu")]
#[test]
fn onnx_parity_wgpu() {
    parity::<burn::backend::Wgpu>(burn::backend::wgpu::WgpuDevice::DefaultDevice);
}
