//! Device memory of one training step and one validation batch, broken down: weights,
//! gradients, optimizer state, EMA copy, activations kept for backward, the loss working set,
//! backward's gradients in flight, the validation step and the pool's overhead.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use yolo_model::ModelSpec;

use crate::graph::{train_step, val_step, LossLoad, StepShape};
use crate::pool::{replay, PoolConfig};
use crate::tape::{peak_bytes, Checkpointing, ElemSizes, Event, Mode, Tape};

/// The compute backend an estimate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's Flex CPU backend: device memory is the process heap, no pool.
    Cpu,
    /// burn-wgpu (CubeCL pools, u32 bools).
    Wgpu,
    /// burn-cuda (CubeCL pools, u8 bools).
    Cuda,
}

impl BackendKind {
    /// Element sizes for float tensors of `dtype`.
    pub fn elem_sizes(self, dtype: Dtype) -> ElemSizes {
        let boolean = if self == BackendKind::Wgpu { 4 } else { 1 };
        ElemSizes { float: dtype.bytes(), int: 4, boolean }
    }
}

/// Float type of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 4 bytes (the trainer's only type today).
    #[default]
    F32,
    /// 2 bytes.
    F16,
    /// 2 bytes.
    Bf16,
}

impl Dtype {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }
}

/// Optimizer, by the state it keeps per parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Optimizer {
    /// Momentum buffer.
    #[default]
    #[serde(rename = "SGD")]
    Sgd,
    /// `exp_avg`, `exp_avg_sq`.
    Adam,
    /// `exp_avg`, `exp_avg_sq`.
    AdamW,
    /// `square_avg`, momentum buffer.
    #[serde(rename = "RMSProp")]
    RmsProp,
}

impl Optimizer {
    /// State tensors per parameter.
    pub fn slots(self) -> u64 {
        match self {
            Optimizer::Sgd => 1,
            Optimizer::Adam | Optimizer::AdamW | Optimizer::RmsProp => 2,
        }
    }
}

/// What to estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EstimateConfig {
    /// Model scale and classes.
    pub spec: ModelSpec,
    /// Training batch (micro-batch) and its padded size.
    pub shape: StepShape,
    /// Validation images per batch (square at the training size: the rect upper bound).
    pub val_batch: u64,
    /// Float type.
    pub dtype: Dtype,
    /// Backend.
    pub backend: BackendKind,
    /// Pools of a CubeCL backend (ignored on the CPU).
    pub pool: PoolConfig,
    /// Loss load: most boxes in one training image (after mosaic).
    pub loss: LossLoad,
    /// Optimizer state.
    pub optimizer: Optimizer,
    /// Micro-batches summed per optimizer step (> 1 keeps a gradient sum on the device).
    pub accumulate: u64,
    /// Gradient checkpointing.
    pub checkpointing: Checkpointing,
    /// BatchNorm + SiLU as yolo-model's fused op (its kernels on wgpu/CUDA), not the composite.
    pub fused_bn: bool,
}

/// Device bytes of one training step and one validation batch, by consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceEstimate {
    /// Parameters and BatchNorm running statistics, bytes.
    pub weights: u64,
    /// Parameter gradients at the end of backward, plus the accumulated sum when accumulating, bytes.
    pub gradients: u64,
    /// Optimizer state, bytes.
    pub optimizer: u64,
    /// EMA copy of the model, bytes.
    pub ema: u64,
    /// Activations the model's forward keeps for backward, bytes.
    pub activations: u64,
    /// Loss working set: what the loss graph keeps plus the assigner's transient buffers, bytes.
    pub loss: u64,
    /// Everything autodiff keeps at the end of the forward (activations and the loss graph), bytes.
    pub kept: u64,
    /// Peak above persistent + kept: gradients in flight and transients of backward, bytes.
    pub backward: u64,
    /// In-use peak of the training step, bytes.
    pub train_peak: u64,
    /// In-use peak of one validation batch (the EMA model without autodiff), bytes.
    pub val_peak: u64,
    /// Bytes the pool reserves from the device after a step and a validation batch.
    pub reserved: u64,
    /// `reserved − max(train_peak, val_peak)`: pages held beyond the live peak, bytes.
    pub pool_overhead: u64,
    /// Largest single buffer, bytes (a wgpu binding-size limit applies to it).
    pub largest_buffer: u64,
    /// Buffers larger than the pool's largest page (the step cannot run).
    pub too_big: u64,
}

impl DeviceEstimate {
    /// Higher of the training and validation peaks, bytes.
    pub fn peak(&self) -> u64 {
        self.train_peak.max(self.val_peak)
    }

    /// What the device must hold: the pool's reservation (the peak on the CPU), bytes.
    pub fn required(&self) -> u64 {
        self.reserved.max(self.peak())
    }
}

/// Parameter and buffer tensors of a model, elements each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelSizes {
    /// Trained parameter tensors, elements each.
    pub params: Vec<u64>,
    /// Buffers (BatchNorm running mean and variance, the DFL projection), elements each.
    pub buffers: Vec<u64>,
}

impl ModelSizes {
    /// Trained parameters, elements.
    pub fn num_params(&self) -> u64 {
        self.params.iter().sum()
    }

    /// Parameters and buffers, elements.
    pub fn num_elements(&self) -> u64 {
        self.num_params() + self.buffers.iter().sum::<u64>()
    }
}

/// Parameter and buffer tensors of `spec`, from a replay of its graph.
pub fn model_sizes(spec: &ModelSpec) -> ModelSizes {
    let mut tape = Tape::new(Mode::Inference, BackendKind::Cpu.elem_sizes(Dtype::F32));
    let replay = val_step(&mut tape, spec, &StepShape::square(1, 64), &LossLoad { max_boxes: 0 });
    let mut buffers: Vec<u64> = replay.batch_norms.iter().flat_map(|&c| [c, c]).collect();
    buffers.push(yolo_model::head::REG_MAX as u64);
    ModelSizes { params: replay.params, buffers }
}

/// Estimates the device memory of `cfg`.
pub fn estimate(cfg: &EstimateConfig) -> DeviceEstimate {
    let sizes = cfg.backend.elem_sizes(cfg.dtype);
    let f = sizes.float;
    let model = model_sizes(&cfg.spec);
    let params = model.num_params() * f;
    let weights = model.num_elements() * f;
    let optimizer = cfg.optimizer.slots() * params;
    let accum_sum = if cfg.accumulate > 1 { params } else { 0 };
    let persistent = 2 * weights + optimizer + accum_sum;

    let mut train = Tape::new(Mode::Train(cfg.checkpointing), sizes);
    let step = train_step(&mut train, &cfg.spec, &cfg.shape, &cfg.loss, cfg.fused_bn);
    // The update replaces tensors one at a time (clipped gradient, optimizer slots, parameter,
    // EMA, or the accumulated sum): beside all the gradients, the new parameter and its new
    // optimizer slots, at the largest parameter's size, are alive before the old ones go.
    let largest = model.params.iter().copied().max().unwrap_or(0) * f;
    let update = (1 + cfg.optimizer.slots()) * largest;
    let train_peak = peak_bytes(train.events(), persistent).max(persistent + params + update);

    let mut val = Tape::new(Mode::Inference, sizes);
    let val_shape = StepShape { batch: cfg.val_batch, ..cfg.shape };
    val_step(&mut val, &cfg.spec, &val_shape, &cfg.loss);
    let val_peak = peak_bytes(val.events(), persistent);

    let (timeline, persistent_bufs) = steady_timeline(&model, cfg, f, &train, &val);
    let usage = replay(&cfg.pool, &timeline, &persistent_bufs);
    let peak = train_peak.max(val_peak);
    let reserved = if cfg.backend == BackendKind::Cpu { peak } else { usage.reserved.max(peak) };
    DeviceEstimate {
        weights,
        gradients: params + accum_sum,
        optimizer,
        ema: weights,
        activations: step.kept_model,
        loss: step.kept_total - step.kept_model + step.assigner,
        kept: step.kept_total,
        backward: train_peak.saturating_sub(persistent + step.kept_total),
        train_peak,
        val_peak,
        reserved,
        pool_overhead: reserved - peak,
        largest_buffer: usage.largest,
        too_big: usage.too_big,
    }
}

/// Training steps the pool replay runs before the validation batch: the pool is read after a
/// warm-up step (its pages cleaned up) and steady steps, whose updates reshuffle the slices.
const REPLAYED_STEPS: usize = 2;

/// The device's allocation timeline in a steady run, for the pool replay: the persistent
/// tensors, [`REPLAYED_STEPS`] training steps each followed by its update, a validation batch;
/// and the buffers burn allocates in persistent mode (the model's parameters and buffers).
fn steady_timeline(model: &ModelSizes, cfg: &EstimateConfig, f: u64, train: &Tape, val: &Tape) -> (Vec<Event>, HashSet<usize>) {
    let mut t = Timeline { events: Vec::new(), next: 1 << 50, f };
    let mut state = t.persistent(model, cfg);
    let persistent = state.model.iter().copied().collect();
    for k in 0..REPLAYED_STEPS {
        let base = (k + 1) << 40;
        t.events.extend(offset(train.events(), base));
        let grads: Vec<(usize, u64)> = train.param_grads().map(|(g, bytes)| (g + base, bytes)).collect();
        t.update(&mut state, model, &grads);
    }
    t.events.extend(offset(val.events(), (REPLAYED_STEPS + 1) << 40));
    (t.events, persistent)
}

/// Buffers of the persistent tensors, one per tensor.
struct Persistent {
    /// Model parameters then buffers.
    model: Vec<usize>,
    /// EMA copy, same order.
    ema: Vec<usize>,
    /// Per optimizer slot (and the gradient sum when accumulating), one per parameter.
    per_param: Vec<Vec<usize>>,
}

/// An allocation timeline under construction, with fresh buffer ids.
struct Timeline {
    events: Vec<Event>,
    next: usize,
    /// Bytes per float.
    f: u64,
}

impl Timeline {
    fn alloc_bytes(&mut self, bytes: u64) -> usize {
        self.next += 1;
        self.events.push(Event::Alloc { buf: self.next, bytes });
        self.next
    }

    fn alloc(&mut self, elems: u64) -> usize {
        self.alloc_bytes(elems * self.f)
    }

    /// A new tensor of `elems` takes the place of `old` (allocated first, then `old` freed).
    fn replace(&mut self, old: &mut usize, elems: u64) {
        let new = self.alloc(elems);
        self.events.push(Event::Free { buf: std::mem::replace(old, new) });
    }

    /// Model and EMA (parameters and buffers), optimizer slots and the gradient sum.
    fn persistent(&mut self, model: &ModelSizes, cfg: &EstimateConfig) -> Persistent {
        let tensors: Vec<u64> = model.params.iter().chain(&model.buffers).copied().collect();
        let copies = cfg.optimizer.slots() + u64::from(cfg.accumulate > 1);
        Persistent {
            model: tensors.iter().map(|&n| self.alloc(n)).collect(),
            ema: tensors.iter().map(|&n| self.alloc(n)).collect(),
            per_param: (0..copies).map(|_| model.params.iter().map(|&n| self.alloc(n)).collect()).collect(),
        }
    }

    /// One update: each gradient buffer (id, bytes) replaced by its clipped copy; per parameter
    /// its slots (and sum) and the parameter itself replaced; then the EMA blend; then the
    /// gradients freed.
    fn update(&mut self, state: &mut Persistent, model: &ModelSizes, grads: &[(usize, u64)]) {
        let mut clipped = Vec::with_capacity(grads.len());
        for &(g, bytes) in grads {
            clipped.push(self.alloc_bytes(bytes));
            self.events.push(Event::Free { buf: g });
        }
        for (i, &n) in model.params.iter().enumerate() {
            for slot in &mut state.per_param {
                self.replace(&mut slot[i], n);
            }
            self.replace(&mut state.model[i], n);
        }
        for (ema, &n) in state.ema.iter_mut().zip(model.params.iter().chain(&model.buffers)) {
            self.replace(ema, n);
        }
        self.events.extend(clipped.into_iter().map(|buf| Event::Free { buf }));
    }
}

fn offset(events: &[Event], by: usize) -> impl Iterator<Item = Event> + '_ {
    events.iter().map(move |e| match *e {
        Event::Alloc { buf, bytes } => Event::Alloc { buf: buf + by, bytes },
        Event::Free { buf } => Event::Free { buf: buf + by },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GIB;
    use yolo_model::Scale;

    fn config(scale: Scale, batch: u64, imgsz: u64) -> EstimateConfig {
        EstimateConfig {
            spec: ModelSpec::new(scale, 80),
            shape: StepShape::square(batch, imgsz),
            val_batch: 2 * batch,
            dtype: Dtype::F32,
            backend: BackendKind::Wgpu,
            pool: PoolConfig::WGPU_DEFAULT,
            loss: LossLoad { max_boxes: 0 },
            optimizer: Optimizer::Sgd,
            accumulate: 1,
            checkpointing: Checkpointing::None,
            fused_bn: false,
        }
    }

    #[test]
    fn parameters_follow_the_real_layer_graph() {
        // Ultralytics' totals (spec §1.5) less the 16 frozen DFL weights.
        let n = |scale, nc| model_sizes(&ModelSpec::new(scale, nc)).num_params();
        assert_eq!(n(Scale::N, 80), 2_624_080 - 16);
        assert_eq!(n(Scale::S, 80), 9_458_752 - 16);
        assert_eq!(n(Scale::M, 80), 20_114_688 - 16);
        assert_eq!(n(Scale::N, 1), 2_590_035 - 16);
    }

    #[test]
    fn yolo11n_tensor_sizes_at_320_and_640() {
        assert_eq!(StepShape::square(1, 640).anchors(), 8400);
        assert_eq!(StepShape::square(1, 320).anchors(), 2100);
        let at = |b, s| estimate(&config(Scale::N, b, s));
        // Activations are linear in the batch.
        assert_eq!(at(4, 320).activations, 4 * at(1, 320).activations);
        // Doubling the side quadruples every map except C2PSA's attention scores, which grow with
        // the square of the P5 positions: 2 heads × N² for N = 100 (320) and 400 (640), kept three
        // times (the shifted logits, their exp and the softmax), f32; and except BatchNorm's
        // per-channel variance and scale, kept at any size.
        let scores = |n: u64| 2 * n * n;
        let bn_channels = (model_sizes(&ModelSpec::new(Scale::N, 80)).buffers.iter().sum::<u64>() - 16) / 2;
        let extra = 3 * 4 * (scores(400) - 4 * scores(100)) - 3 * 2 * 4 * bn_channels;
        assert_eq!(at(1, 640).activations - 4 * at(1, 320).activations, extra);
        // The loss keeps the head maps [B, 144, A] (f32), and per class logit the softplus mask
        // (u32 on wgpu), −|x| and its exp (f32).
        let loss = |s: u64| {
            let a = StepShape::square(1, s).anchors();
            144 * a * 4 + 80 * a * 12
        };
        let transients = 2 * 64 * 8400 * 4;
        assert_eq!(at(1, 640).loss, loss(640) + transients);
    }

    #[test]
    fn at_tiny_images_the_update_sets_the_peak() {
        // 32 px, batch 1: activations are negligible, so the peak is model + EMA + momentum, all
        // gradients, and the new parameter and momentum of the largest tensor (layer 7's 3×3
        // conv, 128 → 256 channels in yolo11n).
        let e = estimate(&config(Scale::N, 1, 32));
        let sizes = model_sizes(&ModelSpec::new(Scale::N, 80));
        let largest = *sizes.params.iter().max().unwrap();
        assert_eq!(largest, 256 * 128 * 9);
        let params = sizes.num_params() * 4;
        assert_eq!(e.train_peak, 2 * e.weights + params + params + 2 * largest * 4);
    }

    #[test]
    fn checkpointing_and_validation_need_less_than_training() {
        let plain = estimate(&config(Scale::N, 8, 640));
        let ckpt = estimate(&EstimateConfig { checkpointing: Checkpointing::Balanced, ..config(Scale::N, 8, 640) });
        assert!(ckpt.activations * 2 < plain.activations, "{} vs {}", ckpt.activations, plain.activations);
        assert!(plain.val_peak < plain.train_peak);
        assert!(plain.reserved >= plain.peak());
        assert_eq!(plain.pool_overhead, plain.reserved - plain.peak());
        // s at 640, batch 16 stays in a plausible range (Ultralytics: 4.1 GiB at batch 16 for n, fp32).
        let s = estimate(&config(Scale::S, 16, 640));
        assert!(s.train_peak > 2 * GIB && s.train_peak < 12 * GIB, "{}", s.train_peak);
    }
}
