//! `YoloOptimizer` against hand-written f64 loops of PyTorch's documented update rules
//! (torch.optim SGD, Adam, AdamW, RMSprop pseudo-code), on a 2-element parameter with known
//! gradients, changing lr / momentum between steps as Ultralytics' warm-up does.

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use yolo_train::optim::{GroupKind, OptimizerArgs, OptimizerKind, YoloOptimizer};

type Ad = Autodiff<Flex>;

/// A single weight tensor: Ultralytics name `weight`, so the decayed weight group.
#[derive(Module, Debug)]
struct Toy<B: Backend> {
    weight: Param<Tensor<B, 1>>,
}

const THETA0: [f64; 2] = [0.5, -1.5];
const GRADS: [[f64; 2]; 3] = [[0.3, -0.2], [-0.1, 0.4], [0.25, 0.05]];
const LRS: [f64; 3] = [0.01, 0.02, 0.015];
const MOMENTA: [f64; 3] = [0.8, 0.85, 0.9];
const WD: f64 = 0.05;
const EPS: f64 = 1e-8;

/// Runs three steps of `kind` through `YoloOptimizer`, writing `LRS[t]` (and `MOMENTA[t]` where
/// the group has a momentum) before step `t`; returns θ after each step.
fn run(kind: OptimizerKind, momentum: f64) -> Vec<[f64; 2]> {
    let dev = Default::default();
    let to_f32 = |v: [f64; 2]| [v[0] as f32, v[1] as f32];
    let mut toy = Toy::<Ad> { weight: Param::from_tensor(Tensor::from_floats(to_f32(THETA0), &dev)) };
    let args = OptimizerArgs { optimizer: kind, lr0: LRS[0], momentum, warmup_bias_lr: 0.0 };
    let mut opt = YoloOptimizer::new(&toy, &args.resolve(1, 0), WD, &[]);
    assert_eq!(opt.groups()[GroupKind::Weight.index()].params.len(), 1);
    let mut out = Vec::new();
    for t in 0..3 {
        for group in opt.groups_mut() {
            group.hyper.lr = LRS[t];
            if let Some(m) = group.hyper.momentum.as_mut() {
                *m = MOMENTA[t];
            }
        }
        let mut grads = GradientsParams::new();
        grads.register::<Flex, 1>(toy.weight.id, Tensor::from_floats(to_f32(GRADS[t]), &dev));
        toy = opt.step(toy, grads);
        let v: Vec<f32> = toy.weight.val().into_data().convert::<f32>().into_vec().unwrap();
        out.push([v[0] as f64, v[1] as f64]);
    }
    out
}

fn assert_close(got: &[[f64; 2]], want: &[[f64; 2]]) {
    for (t, (g, w)) in got.iter().zip(want).enumerate() {
        for i in 0..2 {
            let tol = 2e-6 * w[i].abs().max(1.0);
            assert!((g[i] - w[i]).abs() <= tol, "step {}: θ[{i}] = {} want {}", t + 1, g[i], w[i]);
        }
    }
}

#[test]
fn sgd_nesterov_with_weight_decay() {
    // torch.optim.SGD, dampening τ = 0, nesterov:
    //   g ← g + λθ;  b ← g (t = 1) or μb + (1 − τ)g;  g ← g + μb;  θ ← θ − γg
    let mut theta = THETA0;
    let mut b = [0.0; 2];
    let mut want = Vec::new();
    for t in 0..3 {
        let (lr, mu) = (LRS[t], MOMENTA[t]);
        for i in 0..2 {
            let g = GRADS[t][i] + WD * theta[i];
            b[i] = if t == 0 { g } else { mu * b[i] + g };
            let g = g + mu * b[i];
            theta[i] -= lr * g;
        }
        want.push(theta);
    }
    assert_close(&run(OptimizerKind::Sgd, 0.937), &want);
}

/// torch.optim.Adam / AdamW (amsgrad off):
///   AdamW: θ ← θ − γλθ;  Adam: g ← g + λθ
///   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
///   m̂ ← m / (1 − β1^t);  v̂ ← v / (1 − β2^t);  θ ← θ − γ m̂ / (√v̂ + ε)
fn adam_reference(decoupled: bool, beta1: f64) -> Vec<[f64; 2]> {
    let beta2 = 0.999;
    let (mut theta, mut m, mut v) = (THETA0, [0.0; 2], [0.0; 2]);
    let mut want = Vec::new();
    for t in 0..3 {
        let (lr, step) = (LRS[t], (t + 1) as i32);
        for i in 0..2 {
            let mut g = GRADS[t][i];
            if decoupled {
                theta[i] -= lr * WD * theta[i];
            } else {
                g += WD * theta[i];
            }
            m[i] = beta1 * m[i] + (1.0 - beta1) * g;
            v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
            let m_hat = m[i] / (1.0 - beta1.powi(step));
            let v_hat = v[i] / (1.0 - beta2.powi(step));
            theta[i] -= lr * m_hat / (v_hat.sqrt() + EPS);
        }
        want.push(theta);
    }
    want
}

#[test]
fn adamw_decoupled_decay() {
    // β1 stays at the constructor momentum although the loop writes MOMENTA (no momentum key).
    assert_close(&run(OptimizerKind::AdamW, 0.9), &adam_reference(true, 0.9));
}

#[test]
fn adam_l2_decay() {
    assert_close(&run(OptimizerKind::Adam, 0.937), &adam_reference(false, 0.937));
}

#[test]
fn rmsprop_with_momentum() {
    // torch.optim.RMSprop (α 0.99, not centred):
    //   g ← g + λθ;  v ← αv + (1 − α)g²;  b ← μb + g / (√v + ε);  θ ← θ − γb
    let alpha = 0.99;
    let (mut theta, mut v, mut b) = (THETA0, [0.0; 2], [0.0; 2]);
    let mut want = Vec::new();
    for t in 0..3 {
        let (lr, mu) = (LRS[t], MOMENTA[t]);
        for i in 0..2 {
            let g = GRADS[t][i] + WD * theta[i];
            v[i] = alpha * v[i] + (1.0 - alpha) * g * g;
            b[i] = mu * b[i] + g / (v[i].sqrt() + EPS);
            theta[i] -= lr * b[i];
        }
        want.push(theta);
    }
    assert_close(&run(OptimizerKind::RmsProp, 0.937), &want);
}
