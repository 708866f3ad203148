//! Architecture tests: parameter counts, per-layer counts, GFLOPs and output shapes against the
//! numbers Ultralytics prints (shared/reference/yolo11-training-spec.md §1.5, §10).

use burn::backend::Flex;
use burn::tensor::Tensor;
use yolo_model::summary::{gflops, num_params, summarize};
use yolo_model::{ModelSpec, Scale, Yolo};

type B = Flex;

fn model(scale: Scale, nc: usize) -> Yolo<B> {
    Yolo::new(ModelSpec::new(scale, nc), &Default::default())
}

#[test]
fn total_parameters_match_ultralytics_for_every_scale() {
    let expected = [
        (Scale::N, 2_624_080),
        (Scale::S, 9_458_752),
        (Scale::M, 20_114_688),
        (Scale::L, 25_372_160),
        (Scale::X, 56_966_176),
    ];
    for (scale, params) in expected {
        assert_eq!(num_params(&model(scale, 80)), params, "yolo11{}", scale.letter());
    }
}

#[test]
fn parameters_follow_the_class_count() {
    assert_eq!(num_params(&model(Scale::N, 1)), 2_590_035);
    assert_eq!(num_params(&model(Scale::N, 20)), 2_593_740);
    assert_eq!(num_params(&model(Scale::S, 1)), 9_428_179);
}

#[test]
fn yolo11n_per_layer_parameters_match() {
    let expected = [
        (0, 464),
        (1, 4_672),
        (2, 6_640),
        (3, 36_992),
        (4, 26_080),
        (5, 147_712),
        (6, 87_040),
        (7, 295_424),
        (8, 346_112),
        (9, 164_608),
        (10, 249_728),
        (13, 111_296),
        (16, 32_096),
        (17, 36_992),
        (19, 86_720),
        (20, 147_712),
        (22, 378_880),
        (23, 464_912),
    ];
    let summary = summarize(&model(Scale::N, 80), 640);
    for (index, params) in expected {
        assert_eq!(summary.layers[index].params, params, "layer {index}");
    }
    for index in [11, 12, 14, 15, 18, 21] {
        assert_eq!(summary.layers[index].params, 0, "layer {index} has no parameters");
    }
    assert_eq!(summary.trainable, 2_624_080 - 16);
}

#[test]
fn gflops_match_ultralytics_at_640() {
    let expected = [(Scale::N, 6.61), (Scale::S, 21.71), (Scale::M, 68.52), (Scale::L, 87.61), (Scale::X, 195.95)];
    for (scale, g) in expected {
        let got = gflops(&model(scale, 80), 640, 640);
        assert!((got - g).abs() < 0.006, "yolo11{}: {got:.3} vs {g}", scale.letter());
    }
    let at_320 = gflops(&model(Scale::N, 80), 320, 320);
    assert!((at_320 - 1.65).abs() < 0.006, "{at_320}");
}

#[test]
fn output_shapes_at_160_320_640() {
    let device = Default::default();
    let m = model(Scale::N, 80);
    for size in [160usize, 320, 640] {
        let x = Tensor::<B, 4>::zeros([1, 3, size, size], &device);
        let maps = m.forward_train(x.clone());
        for (map, stride) in maps.iter().zip([8, 16, 32]) {
            assert_eq!(map.dims(), [1, 144, size / stride, size / stride], "{size} px, stride {stride}");
        }
        let anchors: usize = [8, 16, 32].iter().map(|s| (size / s) * (size / s)).sum();
        assert_eq!(m.forward(x).dims(), [1, 84, anchors], "{size} px");
    }
}

#[test]
fn rectangular_input_and_batch_give_matching_shapes() {
    let m = model(Scale::N, 3);
    let x = Tensor::<B, 4>::zeros([2, 3, 96, 160], &Default::default());
    assert_eq!(m.forward(x).dims(), [2, 7, 12 * 20 + 6 * 10 + 3 * 5]);
}

#[test]
fn head_bias_is_initialised_like_ultralytics() {
    let m = model(Scale::N, 80);
    let expected = [-11.5366, -10.1503, -8.7641];
    for (level, want) in expected.iter().enumerate() {
        let bias = m.layer23.cv3[level].seq2.bias.as_ref().expect("class conv has a bias").val();
        let values = bias.into_data().into_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| (v - want).abs() < 1e-4), "level {level}: {}", values[0]);
        let box_bias = m.layer23.cv2[level].seq2.bias.as_ref().unwrap().val();
        assert!(box_bias.into_data().into_vec::<f32>().unwrap().iter().all(|&v| v == 1.0));
    }
}
