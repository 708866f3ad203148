//! Ultralytics `ModelEMA`: an exponential moving average of every float tensor of the model
//! (weights and BatchNorm running statistics), updated after each optimizer step.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::container::TensorContainer;
use yolo_model::Yolo;

/// Asymptotic EMA decay (`decay=0.9999`).
pub const EMA_DECAY: f64 = 0.9999;
/// Ramp time constant in updates (`tau=2000`).
pub const EMA_TAU: f64 = 2000.0;

/// Decay after `updates` optimizer steps: `0.9999 · (1 − exp(−updates / 2000))`, dimensionless.
pub fn ema_decay(updates: u64) -> f64 {
    EMA_DECAY * (1.0 - (-(updates as f64) / EMA_TAU).exp())
}

/// The EMA of a training module `M` (default the YOLO model), kept on the inner (no-autodiff)
/// backend: this is what Ultralytics validates and saves.
///
/// BatchNorm running statistics are burn `RunningState`s, which clones share: a clone of
/// [`ModelEma::model`] sees later updates of its statistics.
#[derive(Debug)]
pub struct ModelEma<B: AutodiffBackend, M: AutodiffModule<B> = Yolo<B>> {
    ema: M::InnerModule,
    updates: u64,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> ModelEma<B, M> {
    /// A fresh EMA: a copy of `model` (`model.valid()`), 0 updates.
    pub fn new(model: &M) -> Self {
        Self { ema: model.valid(), updates: 0 }
    }

    /// An EMA resumed from a checkpoint: the saved EMA weights and their `updates` counter.
    pub fn resume(ema: M::InnerModule, updates: u64) -> Self {
        Self { ema, updates }
    }

    /// The averaged model.
    pub fn model(&self) -> &M::InnerModule {
        &self.ema
    }

    /// The averaged model, consuming the EMA.
    pub fn into_model(self) -> M::InnerModule {
        self.ema
    }

    /// Updates so far (saved in checkpoints as `updates`).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// One EMA step after an optimizer step: `updates += 1`, `d = ema_decay(updates)`, then
    /// `ema = d·ema + (1 − d)·model` for every float tensor, matched by [`ParamId`], on device.
    pub fn update(&mut self, model: &M) {
        self.updates += 1;
        let d = ema_decay(self.updates);
        let mut snapshot = Snapshot(TensorContainer::new());
        model.visit(&mut snapshot);
        let mut blend = Blend { source: snapshot.0, decay: d };
        self.ema = self.ema.clone().map(&mut blend);
    }
}

/// The inner-backend value of every float tensor of a training module, by id.
struct Snapshot(TensorContainer<ParamId>);

impl<B: AutodiffBackend> ModuleVisitor<B> for Snapshot {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.register::<B::InnerBackend>(param.id, param.val().inner().into_primitive());
    }
}

/// `t ← d·t + (1 − d)·source[id]` for every float tensor present in `source`.
struct Blend {
    source: TensorContainer<ParamId>,
    decay: f64,
}

impl<B: Backend> ModuleMapper<B> for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let tensor = match self.source.remove::<B>(&id) {
            Some(primitive) => {
                let model = Tensor::<B, D>::from_primitive(primitive);
                tensor.mul_scalar(self.decay) + model.mul_scalar(1.0 - self.decay)
            }
            None => tensor,
        };
        Param::from_mapped_value(id, tensor, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use yolo_model::conv::BatchNorm2d;
    use yolo_model::state::export_state_dict;
    use yolo_model::{ModelSpec, Scale};

    type Ad = Autodiff<Flex>;

    #[test]
    fn decay_table_matches_spec() {
        for (k, d) in [
            (1, 0.0005),
            (100, 0.0488),
            (1000, 0.3934),
            (2000, 0.6321),
            (5000, 0.9178),
            (10000, 0.9932),
            (20000, 0.99985),
        ] {
            assert!((ema_decay(k) - d).abs() < 1e-4, "updates {k}: {}", ema_decay(k));
        }
    }

    fn values<B: Backend>(t: Tensor<B, 1>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec().unwrap()
    }

    #[test]
    fn one_update_blends_weights_and_running_stats() {
        let dev = Default::default();
        let bn = BatchNorm2d::<Ad>::new(3, &dev);
        let mut ema = ModelEma::<Ad, BatchNorm2d<Ad>>::new(&bn);
        // Train-mode forward moves the running statistics; shift γ keeping its id.
        let x = Tensor::<Ad, 4>::from_floats([[[[1.0, 2.0]], [[3.0, 5.0]], [[-1.0, 0.5]]]], &dev);
        let _ = bn.forward(x);
        let bn = BatchNorm2d { weight: bn.weight.map(|w| w.add_scalar(0.5)), ..bn };
        ema.update(&bn);
        let d = ema_decay(1) as f32;
        let blend = |old: f32, new: f32| old * d + new * (1.0 - d);
        let model_mean = values(bn.running_mean.value());
        let model_var = values(bn.running_var.value());
        let e = ema.model();
        let cases = [
            (values(e.weight.val()), vec![blend(1.0, 1.5); 3]),
            (values(e.bias.val()), vec![0.0; 3]),
            (values(e.running_mean.value()), model_mean.iter().map(|&m| blend(0.0, m)).collect()),
            (values(e.running_var.value()), model_var.iter().map(|&v| blend(1.0, v)).collect()),
        ];
        for (got, want) in cases {
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-6, "{got:?} vs {want:?}");
            }
        }
        assert_ne!(model_mean, vec![0.0; 3], "forward must have moved the running mean");
        assert_eq!(ema.updates(), 1);
    }

    /// Adds 1 to every float tensor, keeping ids.
    struct AddOne;
    impl<B: Backend> ModuleMapper<B> for AddOne {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, t, mapper) = param.consume();
            Param::from_mapped_value(id, t.add_scalar(1.0), mapper)
        }
    }

    #[test]
    fn update_reaches_every_yolo_tensor() {
        let dev = Default::default();
        let model = Yolo::<Ad>::new(ModelSpec::new(Scale::N, 2), &dev);
        let mut ema = ModelEma::<Ad>::new(&model);
        let before = export_state_dict(ema.model());
        let model = model.map(&mut AddOne);
        ema.update(&model);
        let after = export_state_dict(ema.model());
        let step = 1.0 - ema_decay(1) as f32;
        assert_eq!(before.tensors.len(), after.tensors.len());
        for (name, old) in &before.tensors {
            let new = &after.tensors[name];
            let worst = old.data.iter().zip(&new.data).map(|(o, n)| (n - o - step).abs()).fold(0.0, f32::max);
            assert!(worst < 1e-5, "{name}: off by {worst}");
        }
    }
}
