//! Parity of our YOLO11n with a real Ultralytics training checkpoint (BatchNorm not folded):
//! the `.pt` and its safetensors state dict both reproduce Ultralytics' eval outputs.

mod common;

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;
use yolo_model::{load_model, Fuse, Scale};

fn parity<B: Backend>(weights: &Path, device: B::Device) {
    let Some(shared) = common::shared() else { return };
    let (model, meta) = load_model::<B>(&shared.join(weights), &device).unwrap();
    assert_eq!(model.spec().scale, Scale::N);
    assert_eq!(model.spec().nc, 80);
    let fused = model.clone().fuse();
    let bytes = std::fs::read(shared.join("fixtures/yolo11n_coco8_3ep_160_outputs.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for size in [160, 320] {
        let (shape, input) = common::f32_tensor(&st, &format!("input_{size}"));
        let (want_shape, want) = common::f32_tensor(&st, &format!("output_{size}"));
        let x = Tensor::<B, 4>::from_data(TensorData::new(input, shape), &device);
        for (label, m) in [("unfused", &model), ("fused", &fused)] {
            let got = m.forward(x.clone()).into_data().convert::<f32>().into_vec::<f32>().unwrap();
            let (box_err, score_err) = common::box_and_score_error(&got, &want, 84, want_shape[2]);
            eprintln!("{} @{size} {label}: max abs box {box_err:.2e} px, score {score_err:.2e}", weights.display());
            assert!(box_err < 1e-2, "@{size} {label}: box error {box_err}");
            assert!(score_err < 1e-4, "@{size} {label}: score error {score_err}");
        }
    }
    let _ = meta;
}

const PT: &str = "data/weights/yolo11n_coco8_3ep_160.pt";
const STATE_DICT: &str = "fixtures/yolo11n_coco8_3ep_160_state_dict.safetensors";

#[test]
fn pt_checkpoint_parity_cpu() {
    parity::<burn::backend::Flex>(Path::new(PT), Default::default());
}

#[test]
fn state_dict_safetensors_parity_cpu() {
    parity::<burn::backend::Flex>(Path::new(STATE_DICT), Default::default());
}

#[test]
fn pt_checkpoint_carries_names_and_train_args() {
    let Some(shared) = common::shared() else { return };
    let (_, meta) = load_model::<burn::backend::Flex>(&shared.join(PT), &Default::default()).unwrap();
    assert_eq!(meta.names.len(), 80);
    assert_eq!(meta.names[0], "person");
    let args = meta.train_args.expect("the checkpoint has train_args");
    assert_eq!(args["imgsz"], 160);
}

#[cfg(feature = "wgpu")]
#[test]
fn pt_checkpoint_parity_wgpu() {
    parity::<burn::backend::Wgpu>(Path::new(PT), burn::backend::wgpu::WgpuDevice::DefaultDevice);
}
