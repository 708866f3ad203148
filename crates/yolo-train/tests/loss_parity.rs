//! Parity of `DetectionLoss` with Ultralytics 8.3.253 `v8DetectionLoss` on the shared fixtures (values and gradients).
#![cfg(any(feature = "flex", feature = "wgpu"))]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use yolo_train::loss::{DetectionLoss, LossConfig, LossOutput};

const TOL: f64 = 1e-4;

fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    dir.join("loss_cases.safetensors").is_file().then_some(dir)
}

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn get(&self, name: &str) -> Option<(Vec<f32>, Vec<usize>)> {
        let st = safetensors::SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let t = st.tensor(name).ok()?;
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some((v, t.shape().to_vec()))
    }
}

fn rel(x: f64, r: f64) -> f64 {
    if r == 0.0 { x.abs() } else { (x - r).abs() / r.abs() }
}

type Run<B> = (
    LossOutput<B>,
    [Tensor<B, 4>; 3],
    <B as AutodiffBackend>::Gradients,
    Duration,
);

fn run_once<B: AutodiffBackend>(
    loss: &DetectionLoss,
    maps: &[(Vec<f32>, Vec<usize>)],
    targets: &[[f32; 6]],
    dev: &B::Device,
) -> Run<B> {
    let tensors: [Tensor<B, 4>; 3] = std::array::from_fn(|i| {
        let (v, s) = &maps[i];
        Tensor::<B, 4>::from_data(TensorData::new(v.clone(), s.clone()), dev).require_grad()
    });
    let t0 = Instant::now();
    let out = loss.forward(tensors.clone(), targets);
    let grads = out.total.clone().backward();
    if let Some(g) = tensors[0].grad(&grads) {
        let _ = g.sum().into_scalar(); // wait for the backward pass (async backends)
    }
    let dt = t0.elapsed();
    (out, tensors, grads, dt)
}

/// Flex (CPU): the reference backend of the test suite.
#[cfg(feature = "flex")]
#[test]
fn loss_parity() {
    check_all::<burn::backend::Autodiff<burn::backend::Flex>>(&Default::default(), "flex");
}

/// wgpu (run with `--features wgpu`; on a machine without a GPU through Mesa lavapipe:
/// `VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json`).
#[cfg(feature = "wgpu")]
#[test]
fn loss_parity_wgpu() {
    check_all::<burn::backend::Autodiff<burn::backend::Wgpu>>(&Default::default(), "wgpu");
}

fn check_all<B: AutodiffBackend>(dev: &B::Device, backend: &str) {
    let Some(dir) = fixtures_dir() else {
        println!("NOTE: ../shared/fixtures/loss_cases.safetensors not found; loss parity skipped");
        return;
    };
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixtures.json")).unwrap()).unwrap();
    let lp = &meta["loss_parity"];
    let hyp = &lp["hyp"];
    let cfg = LossConfig {
        box_gain: hyp["box"].as_f64().unwrap() as f32,
        cls_gain: hyp["cls"].as_f64().unwrap() as f32,
        dfl_gain: hyp["dfl"].as_f64().unwrap() as f32,
        topk: hyp["tal_topk"].as_u64().unwrap() as usize,
        alpha: hyp["alpha"].as_f64().unwrap() as f32,
        beta: hyp["beta"].as_f64().unwrap() as f32,
        reg_max: hyp["reg_max"].as_u64().unwrap() as usize,
        ..LossConfig::default()
    };
    assert_eq!(cfg, LossConfig::default(), "fixture hyper-parameters are the defaults");
    let fx = Fixture {
        bytes: std::fs::read(dir.join(lp["file"].as_str().unwrap())).unwrap(),
    };

    let mut failures = Vec::new();
    for case in lp["cases"].as_array().unwrap() {
        let tag = case["tag"].as_str().unwrap();
        let maps: Vec<_> = ["p3", "p4", "p5"]
            .iter()
            .map(|p| fx.get(&format!("{tag}_{p}")).unwrap())
            .collect();
        let nc = maps[0].1[1] - 4 * cfg.reg_max;
        let (tv, ts) = fx.get(&format!("{tag}_targets")).unwrap();
        assert_eq!(ts.get(1).copied().unwrap_or(6), 6);
        let targets: Vec<[f32; 6]> = tv.chunks_exact(6).map(|c| c.try_into().unwrap()).collect();
        let loss = DetectionLoss::new(nc, [8.0, 16.0, 32.0], cfg);

        // Warm-up + timed runs (forward + backward).
        let (out, tensors, grads, first) = run_once::<B>(&loss, &maps, &targets, dev);
        let mut times: Vec<Duration> = (0..3).map(|_| run_once::<B>(&loss, &maps, &targets, dev).3).collect();
        times.sort();

        let batch = case["batch"].as_f64().unwrap();
        let refs = [
            ("box", out.box_loss, case["box"].as_f64().unwrap()),
            ("cls", out.cls_loss, case["cls"].as_f64().unwrap()),
            ("dfl", out.dfl_loss, case["dfl"].as_f64().unwrap()),
            (
                "total",
                out.total.clone().into_scalar().elem::<f32>(),
                case["loss_sum_times_batch"].as_f64().unwrap(),
            ),
        ];
        let (_, assignment) = loss.assign::<B>(tensors.clone(), &targets);
        println!(
            "[{backend}] {tag}: B={batch} boxes={} num_fg={} pairs={} zero_metric_pairs={} fwd+bwd first {:.1} ms, median {:.1} ms",
            targets.len(),
            out.num_fg,
            assignment.num_pairs,
            assignment.zero_metric_pairs,
            first.as_secs_f64() * 1e3,
            times[1].as_secs_f64() * 1e3,
        );
        for (name, got, want) in refs {
            let e = rel(f64::from(got), want);
            println!("  {name:>5}: got {got:.7} want {want:.7} rel err {e:.3e}");
            if e > TOL {
                failures.push(format!("{tag} {name}: rel err {e:.3e}"));
            }
        }
        if case["has_grad"].as_bool().unwrap_or(false) {
            for (i, p) in ["p3", "p4", "p5"].iter().enumerate() {
                let (gref, shape) = fx.get(&format!("{tag}_{p}_grad")).unwrap();
                let g = tensors[i].grad(&grads).expect("gradient reaches the map");
                assert_eq!(g.dims().to_vec(), shape);
                let g: Vec<f32> = g.into_data().iter::<f32>().collect();
                let max_ref = gref.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
                let max_diff = g
                    .iter()
                    .zip(&gref)
                    .fold(0.0f64, |m, (&a, &b)| m.max((f64::from(a) - f64::from(b)).abs()));
                let e = max_diff / max_ref;
                println!("  grad {p}: max|g - g_ref| / max|g_ref| = {e:.3e} (max|g_ref| {max_ref:.4e})");
                if e > TOL {
                    failures.push(format!("{tag} grad {p}: {e:.3e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "[{backend}] parity failures: {failures:#?}");
}
