//! Ultralytics 8.3.x `build_optimizer` on burn: parameter groups, SGD / Adam / AdamW / RMSProp
//! with PyTorch's update rules, gradient accumulation and clipping, checkpoint state.
//!
//! Every update runs as tensor ops on the parameter's device; per-step scalars (bias
//! corrections, step sizes) are computed on the host in f64, as PyTorch does, and enter the
//! f32 kernels as scalars.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use yolo_model::state::named_tensors;
use yolo_model::weights::RawTensor;

/// `max_norm` of the global gradient-norm clip in `optimizer_step`.
pub const MAX_GRAD_NORM: f64 = 10.0;
/// `optimizer=auto` picks SGD when the run has more optimizer iterations than this.
pub const AUTO_SGD_ITERATIONS: u64 = 10_000;
/// Adam-family and RMSProp ε (PyTorch default, never changed by Ultralytics).
pub const EPS: f64 = 1e-8;
/// Adam-family β2 (`betas=(momentum, 0.999)`).
pub const BETA2: f64 = 0.999;
/// RMSProp smoothing constant α (PyTorch default).
pub const RMSPROP_ALPHA: f64 = 0.99;

/// Errors of optimizer selection and checkpoint state.
#[derive(Debug, Error)]
pub enum OptimError {
    /// `optimizer=` names nothing this crate implements.
    #[error("optimizer '{0}' is not one of SGD, Adam, AdamW, RMSProp, auto")]
    UnknownOptimizer(String),
    /// The checkpoint was written by a different optimizer.
    #[error("checkpoint optimizer state is for {saved}, this run uses {current}")]
    KindMismatch {
        /// Optimizer in the checkpoint.
        saved: OptimizerKind,
        /// Optimizer of this run.
        current: OptimizerKind,
    },
    /// The checkpoint's groups are not `[bias, weight, bn]`.
    #[error("checkpoint optimizer groups {0:?} do not match [Bias, Weight, BatchNorm]")]
    GroupMismatch(Vec<GroupKind>),
    /// A state entry names a tensor the optimizer does not train.
    #[error("checkpoint optimizer state '{0}' names no trainable parameter of this model")]
    UnknownParam(String),
    /// A state entry is not a slot of this optimizer (e.g. `exp_avg` for SGD).
    #[error("checkpoint optimizer state '{0}' is not a state slot of this optimizer")]
    UnknownSlot(String),
    /// A state tensor's shape differs from its parameter's.
    #[error("checkpoint optimizer state '{name}' has shape {found:?} ({len} values), parameter has {expected:?}")]
    ShapeMismatch {
        /// State key.
        name: String,
        /// Shape in the checkpoint.
        found: Vec<usize>,
        /// Number of values in the checkpoint.
        len: usize,
        /// Parameter shape.
        expected: Vec<usize>,
    },
}

/// Ultralytics' three parameter groups. The discriminant is the group's index in 8.3.x
/// `optimizer.param_groups`, i.e. the `i` of the `lr/pg{i}` log keys: the bias group is the one
/// passed to the optimizer constructor (pg0), then `add_param_group` appends the decayed weights
/// (pg1) and the BatchNorm weights (pg2). (8.4 reorders them `[weight, bn, bias]`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupKind {
    /// Every tensor whose name contains `bias` (BatchNorm β and the head conv biases); no decay.
    Bias = 0,
    /// Every other weight: conv kernels incl. depthwise and head convs; scaled weight decay.
    Weight = 1,
    /// BatchNorm γ (`….bn.weight`); no decay.
    BatchNorm = 2,
}

impl GroupKind {
    /// The three groups in 8.3.x order.
    pub const ALL: [GroupKind; 3] = [GroupKind::Bias, GroupKind::Weight, GroupKind::BatchNorm];

    /// The group Ultralytics puts the tensor named `name` (e.g. `model.0.bn.weight`) in.
    pub fn of(name: &str) -> Self {
        let mut parts = name.rsplit('.');
        let (leaf, owner) = (parts.next(), parts.next());
        if name.contains("bias") {
            GroupKind::Bias
        } else if leaf == Some("weight") && owner == Some("bn") {
            GroupKind::BatchNorm
        } else {
            GroupKind::Weight
        }
    }

    /// Index in `param_groups` (0 bias, 1 weight, 2 bn).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Ultralytics' metric key for this group's learning rate: `lr/pg0`, `lr/pg1`, `lr/pg2`.
    pub fn lr_key(self) -> String {
        format!("lr/pg{}", self.index())
    }
}

/// `optimizer=` of Ultralytics. (Adamax, NAdam and RAdam, which Ultralytics also accepts, are
/// not implemented.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// `torch.optim.SGD(momentum, nesterov=True)`, L2 decay added to the gradient.
    #[serde(rename = "SGD")]
    Sgd,
    /// `torch.optim.Adam(betas=(momentum, 0.999))`, L2 decay added to the gradient.
    #[serde(rename = "Adam")]
    Adam,
    /// `torch.optim.AdamW(betas=(momentum, 0.999))`, decoupled decay `p ← p·(1 − lr·wd)`.
    #[serde(rename = "AdamW")]
    AdamW,
    /// `torch.optim.RMSprop(momentum)`, α 0.99, L2 decay added to the gradient.
    #[serde(rename = "RMSProp")]
    RmsProp,
    /// Chosen from the run length and class count, see [`OptimizerArgs::resolve`].
    #[serde(rename = "auto")]
    Auto,
}

impl OptimizerKind {
    /// Ultralytics' spelling (`SGD`, `Adam`, `AdamW`, `RMSProp`, `auto`).
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Adam => "Adam",
            OptimizerKind::AdamW => "AdamW",
            OptimizerKind::RmsProp => "RMSProp",
            OptimizerKind::Auto => "auto",
        }
    }

    /// Whether groups carry `betas` instead of a `momentum` (the Adam family).
    pub fn is_adam_family(self) -> bool {
        matches!(self, OptimizerKind::Adam | OptimizerKind::AdamW)
    }

    /// Names of the per-parameter state tensors PyTorch keeps for this optimizer.
    pub fn slots(self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Sgd => &["momentum_buffer"],
            OptimizerKind::Adam | OptimizerKind::AdamW => &["exp_avg", "exp_avg_sq"],
            OptimizerKind::RmsProp => &["square_avg", "momentum_buffer"],
            OptimizerKind::Auto => &[],
        }
    }

    /// PyTorch class name, as Ultralytics logs it (`type(optimizer).__name__`).
    fn torch_class(self) -> &'static str {
        match self {
            OptimizerKind::RmsProp => "RMSprop",
            other => other.name(),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OptimizerKind {
    type Err = OptimError;

    /// Case-insensitive, as Ultralytics: `sgd`, `Adam`, `ADAMW`, `rmsprop`, `auto`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kinds = [
            OptimizerKind::Sgd,
            OptimizerKind::Adam,
            OptimizerKind::AdamW,
            OptimizerKind::RmsProp,
            OptimizerKind::Auto,
        ];
        kinds
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| OptimError::UnknownOptimizer(s.to_string()))
    }
}

/// `lr0` that `optimizer=auto` gives AdamW: `round(0.002 · 5 / (4 + nc), 6)`.
pub fn auto_lr(nc: usize) -> f64 {
    python_round(0.002 * 5.0 / (4.0 + nc as f64), 6)
}

/// Python's `round(x, digits)`: the exact binary value rounded to `digits` decimals, ties to even.
fn python_round(x: f64, digits: usize) -> f64 {
    // Rust formats the exact binary value with ties-to-even, as CPython's `round` does.
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// The user's optimizer arguments (Ultralytics `optimizer`, `lr0`, `momentum`, `warmup_bias_lr`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerArgs {
    /// Requested optimizer.
    pub optimizer: OptimizerKind,
    /// Initial learning rate (ignored by `auto`).
    pub lr0: f64,
    /// SGD momentum / Adam β1 (ignored by `auto`; still the warm-up's end momentum).
    pub momentum: f64,
    /// Bias-group lr at warm-up start (forced to 0 by `auto`).
    pub warmup_bias_lr: f64,
}

impl Default for OptimizerArgs {
    /// Ultralytics defaults: `auto`, lr0 0.01, momentum 0.937, warmup_bias_lr 0.1.
    fn default() -> Self {
        Self { optimizer: OptimizerKind::Auto, lr0: 0.01, momentum: 0.937, warmup_bias_lr: 0.1 }
    }
}

impl OptimizerArgs {
    /// Resolves `optimizer=auto` as 8.3.x `build_optimizer`: more than
    /// [`AUTO_SGD_ITERATIONS`] `iterations` (see [`crate::schedule::optimizer_iterations`]) →
    /// SGD lr 0.01 momentum 0.9; else AdamW lr [`auto_lr`]`(nc)` β1 0.9; either way
    /// `warmup_bias_lr` becomes 0. Explicit optimizers keep the arguments.
    pub fn resolve(&self, nc: usize, iterations: u64) -> OptimizerChoice {
        if self.optimizer != OptimizerKind::Auto {
            return OptimizerChoice {
                kind: self.optimizer,
                lr: self.lr0,
                momentum: self.momentum,
                warmup_bias_lr: self.warmup_bias_lr,
            };
        }
        let (kind, lr) = if iterations > AUTO_SGD_ITERATIONS {
            (OptimizerKind::Sgd, 0.01)
        } else {
            (OptimizerKind::AdamW, auto_lr(nc))
        };
        OptimizerChoice { kind, lr, momentum: 0.9, warmup_bias_lr: 0.0 }
    }
}

/// A concrete optimizer (never `auto`), from [`OptimizerArgs::resolve`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerChoice {
    kind: OptimizerKind,
    lr: f64,
    momentum: f64,
    warmup_bias_lr: f64,
}

impl OptimizerChoice {
    /// The optimizer.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// Constructor learning rate (every group's `initial_lr`).
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Constructor momentum (SGD/RMSProp momentum, Adam-family β1).
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// Bias-group warm-up start lr to use (0 under `auto`).
    pub fn warmup_bias_lr(&self) -> f64 {
        self.warmup_bias_lr
    }
}

/// Hyper-parameters of one group, mirroring a PyTorch `param_groups` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupHyper {
    /// Which group.
    pub group: GroupKind,
    /// Current learning rate (set by the schedule and the warm-up).
    pub lr: f64,
    /// `LambdaLR` base: the constructor lr.
    pub initial_lr: f64,
    /// L2 coefficient (SGD, Adam, RMSProp) or decoupled decay (AdamW); 0 for bias and BN groups.
    pub weight_decay: f64,
    /// SGD / RMSProp momentum. `None` for the Adam family: torch Adam groups have no `momentum`
    /// key, so Ultralytics' warm-up never touches β1.
    pub momentum: Option<f64>,
    /// Adam-family `(β1, β2) = (momentum, 0.999)`; `None` otherwise.
    pub betas: Option<(f64, f64)>,
}

/// One trainable tensor of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupParam {
    /// burn id (matches the gradients).
    pub id: ParamId,
    /// Ultralytics name, e.g. `model.0.conv.weight`.
    pub name: String,
    /// Shape in PyTorch order.
    pub shape: Vec<usize>,
}

/// One parameter group.
#[derive(Debug, Clone)]
pub struct ParamGroup {
    /// Its hyper-parameters.
    pub hyper: GroupHyper,
    /// Trainable members in module order.
    pub params: Vec<GroupParam>,
    /// Frozen tensors (no gradient) Ultralytics also lists in this group; counted in its log.
    pub frozen: usize,
}

/// Name fragments Ultralytics freezes for `freeze` = layer indices: `model.{i}.` for each,
/// plus `.dfl` (always frozen).
pub fn freeze_patterns(layers: &[usize]) -> Vec<String> {
    layers.iter().map(|i| format!("model.{i}.")).chain([".dfl".to_string()]).collect()
}

/// Ids of the float tensors that record gradients.
struct Trainable(HashSet<ParamId>);

impl<B: Backend> ModuleVisitor<B> for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.val().is_require_grad() {
            self.0.insert(param.id);
        }
    }
}

/// Members of the three groups: trainable tensors and counts of frozen ones; buffers excluded.
fn partition<B: AutodiffBackend, M: AutodiffModule<B>>(module: &M, freeze: &[String]) -> [(Vec<GroupParam>, usize); 3] {
    let mut trainable = Trainable(HashSet::new());
    module.visit(&mut trainable);
    let mut out: [(Vec<GroupParam>, usize); 3] = Default::default();
    for t in named_tensors(module).into_iter().filter(|t| !t.is_buffer()) {
        let slot = &mut out[GroupKind::of(&t.name).index()];
        if trainable.0.contains(&t.id) && !freeze.iter().any(|f| t.name.contains(f.as_str())) {
            slot.0.push(GroupParam { id: t.id, name: t.name, shape: t.shape });
        } else {
            slot.1 += 1;
        }
    }
    out
}

/// Optimizer state of one parameter, flattened to `[numel]` on the parameter's device.
#[derive(Debug, Clone)]
struct ParamState<B: Backend> {
    step: u64,
    momentum_buffer: Option<Tensor<B, 1>>,
    exp_avg: Option<Tensor<B, 1>>,
    exp_avg_sq: Option<Tensor<B, 1>>,
    square_avg: Option<Tensor<B, 1>>,
}

impl<B: Backend> ParamState<B> {
    fn new() -> Self {
        Self { step: 0, momentum_buffer: None, exp_avg: None, exp_avg_sq: None, square_avg: None }
    }

    fn slots(&self) -> [(&'static str, &Option<Tensor<B, 1>>); 4] {
        [
            ("momentum_buffer", &self.momentum_buffer),
            ("exp_avg", &self.exp_avg),
            ("exp_avg_sq", &self.exp_avg_sq),
            ("square_avg", &self.square_avg),
        ]
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Option<Tensor<B, 1>>> {
        match name {
            "momentum_buffer" => Some(&mut self.momentum_buffer),
            "exp_avg" => Some(&mut self.exp_avg),
            "exp_avg_sq" => Some(&mut self.exp_avg_sq),
            "square_avg" => Some(&mut self.square_avg),
            _ => None,
        }
    }
}

/// `g + wd·p` when `wd ≠ 0` (PyTorch's coupled L2 decay).
fn l2<B: Backend>(grad: Tensor<B, 1>, param: &Tensor<B, 1>, weight_decay: f64) -> Tensor<B, 1> {
    if weight_decay != 0.0 { grad + param.clone().mul_scalar(weight_decay) } else { grad }
}

/// `torch.lerp(start, end, w)` with PyTorch's two-sided formula.
fn lerp<B: Backend>(start: Tensor<B, 1>, end: Tensor<B, 1>, weight: f64) -> Tensor<B, 1> {
    if weight.abs() < 0.5 {
        start.clone() + (end - start).mul_scalar(weight)
    } else {
        end.clone() - (end - start).mul_scalar(1.0 - weight)
    }
}

/// SGD with nesterov momentum: `g += wd·p; buf = μ·buf + g (first: buf = g); g += μ·buf; p -= lr·g`.
fn sgd<B: Backend>(h: &GroupHyper, p: Tensor<B, 1>, g: Tensor<B, 1>, s: &mut ParamState<B>) -> Tensor<B, 1> {
    let g = l2(g, &p, h.weight_decay);
    let mu = h.momentum.unwrap_or(0.0);
    let g = if mu != 0.0 {
        let buf = match s.momentum_buffer.take() {
            Some(buf) => buf.mul_scalar(mu) + g.clone(),
            None => g.clone(),
        };
        s.momentum_buffer = Some(buf.clone());
        g + buf.mul_scalar(mu)
    } else {
        g
    };
    p - g.mul_scalar(h.lr)
}

/// Adam (`decoupled = false`, L2 in the gradient) or AdamW (`decoupled = true`,
/// `p ← p·(1 − lr·wd)`), bias-corrected, `p -= lr/bc1 · m / (√v / √bc2 + ε)`.
fn adam<B: Backend>(
    h: &GroupHyper,
    p: Tensor<B, 1>,
    g: Tensor<B, 1>,
    s: &mut ParamState<B>,
    decoupled: bool,
) -> Tensor<B, 1> {
    let (beta1, beta2) = h.betas.unwrap_or((0.9, BETA2));
    s.step += 1;
    let step = s.step as f64;
    let (p, g) = if decoupled {
        (if h.weight_decay != 0.0 { p.mul_scalar(1.0 - h.lr * h.weight_decay) } else { p }, g)
    } else {
        let g = l2(g, &p, h.weight_decay);
        (p, g)
    };
    let m = lerp(s.exp_avg.take().unwrap_or_else(|| g.zeros_like()), g.clone(), 1.0 - beta1);
    let v =
        s.exp_avg_sq.take().unwrap_or_else(|| g.zeros_like()).mul_scalar(beta2) + g.square().mul_scalar(1.0 - beta2);
    let step_size = h.lr / (1.0 - beta1.powf(step));
    let bc2_sqrt = (1.0 - beta2.powf(step)).sqrt();
    let denom = v.clone().sqrt().div_scalar(bc2_sqrt).add_scalar(EPS);
    s.exp_avg = Some(m.clone());
    s.exp_avg_sq = Some(v);
    p - (m / denom).mul_scalar(step_size)
}

/// RMSProp: `g += wd·p; sq = α·sq + (1−α)·g²; buf = μ·buf + g/(√sq + ε); p -= lr·buf`.
fn rmsprop<B: Backend>(h: &GroupHyper, p: Tensor<B, 1>, g: Tensor<B, 1>, s: &mut ParamState<B>) -> Tensor<B, 1> {
    s.step += 1;
    let g = l2(g, &p, h.weight_decay);
    let sq = s.square_avg.take().unwrap_or_else(|| g.zeros_like()).mul_scalar(RMSPROP_ALPHA)
        + g.clone().square().mul_scalar(1.0 - RMSPROP_ALPHA);
    let scaled = g / sq.clone().sqrt().add_scalar(EPS);
    s.square_avg = Some(sq);
    let mu = h.momentum.unwrap_or(0.0);
    let d = if mu > 0.0 {
        let buf = s.momentum_buffer.take().unwrap_or_else(|| scaled.zeros_like()).mul_scalar(mu) + scaled;
        s.momentum_buffer = Some(buf.clone());
        buf
    } else {
        scaled
    };
    p - d.mul_scalar(h.lr)
}

/// One update of a flattened parameter `[numel]` by `kind`'s rule.
fn update<B: Backend>(
    kind: OptimizerKind,
    h: &GroupHyper,
    p: Tensor<B, 1>,
    g: Tensor<B, 1>,
    s: &mut ParamState<B>,
) -> Tensor<B, 1> {
    match kind {
        OptimizerKind::Sgd => sgd(h, p, g, s),
        OptimizerKind::Adam => adam(h, p, g, s, false),
        OptimizerKind::AdamW => adam(h, p, g, s, true),
        OptimizerKind::RmsProp => rmsprop(h, p, g, s),
        OptimizerKind::Auto => unreachable!("OptimizerChoice is never auto"),
    }
}

/// Scalar optimizer state for checkpoints (the tensors go through [`YoloOptimizer::state`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerScalars {
    /// The optimizer that wrote the state.
    pub optimizer: OptimizerKind,
    /// Group hyper-parameters in `[bias, weight, bn]` order.
    pub groups: Vec<GroupHyper>,
    /// Update count per parameter name (PyTorch's per-parameter `step`).
    pub steps: BTreeMap<String, u64>,
}

/// Ultralytics' optimizer over a module: three [`ParamGroup`]s `[bias, weight, bn]` and
/// per-parameter state on the device.
#[derive(Debug)]
pub struct YoloOptimizer<B: AutodiffBackend> {
    choice: OptimizerChoice,
    groups: Vec<ParamGroup>,
    group_of: HashMap<ParamId, usize>,
    state: HashMap<ParamId, ParamState<B::InnerBackend>>,
}

impl<B: AutodiffBackend> YoloOptimizer<B> {
    /// Builds the groups of `module` (see [`GroupKind`]) with lr = `initial_lr` = `choice.lr()`,
    /// the weight group decayed by `weight_decay` (already scaled, see
    /// [`crate::schedule::scaled_weight_decay`]), the others by 0. Tensors that record no
    /// gradient or whose name contains one of `freeze` (see [`freeze_patterns`]) are left out.
    pub fn new<M: AutodiffModule<B>>(
        module: &M,
        choice: &OptimizerChoice,
        weight_decay: f64,
        freeze: &[String],
    ) -> Self {
        let members = partition(module, freeze);
        let groups: Vec<ParamGroup> = GroupKind::ALL
            .into_iter()
            .zip(members)
            .map(|(kind, (params, frozen))| ParamGroup {
                hyper: initial_hyper(kind, choice, weight_decay),
                params,
                frozen,
            })
            .collect();
        let group_of = groups.iter().enumerate().flat_map(|(i, g)| g.params.iter().map(move |p| (p.id, i))).collect();
        Self { choice: *choice, groups, group_of, state: HashMap::new() }
    }

    /// The resolved optimizer this was built with.
    pub fn choice(&self) -> &OptimizerChoice {
        &self.choice
    }

    /// The groups, `[bias, weight, bn]`.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    /// Mutable groups, for the schedule and warm-up to write `lr` and `momentum`.
    pub fn groups_mut(&mut self) -> &mut [ParamGroup] {
        &mut self.groups
    }

    /// Current learning rate of each group under its Ultralytics key (`lr/pg0` …).
    pub fn lrs(&self) -> Vec<(String, f64)> {
        self.groups.iter().map(|g| (g.hyper.group.lr_key(), g.hyper.lr)).collect()
    }

    /// Applies one update to every grouped parameter of `module` that has a gradient in `grads`;
    /// parameters without a gradient, ungrouped (frozen) ones and buffers are left as they are.
    pub fn step<M: AutodiffModule<B>>(&mut self, module: M, grads: GradientsParams) -> M {
        let mut mapper = StepMapper {
            kind: self.choice.kind,
            groups: &self.groups,
            group_of: &self.group_of,
            state: &mut self.state,
            grads,
        };
        module.map(&mut mapper)
    }

    /// Ultralytics' `optimizer:` log line, e.g. `SGD(lr=0.01, momentum=0.9) with parameter
    /// groups 81 weight(decay=0.0), 88 weight(decay=0.0005), 87 bias(decay=0.0)`; counts include
    /// frozen tensors, as Ultralytics' do.
    pub fn summary(&self) -> String {
        let count = |k: GroupKind| self.groups[k.index()].params.len() + self.groups[k.index()].frozen;
        format!(
            "{}(lr={}, momentum={}) with parameter groups {} weight(decay=0.0), {} weight(decay={}), {} bias(decay=0.0)",
            self.choice.kind.torch_class(),
            python_repr(self.choice.lr),
            python_repr(self.choice.momentum),
            count(GroupKind::BatchNorm),
            count(GroupKind::Weight),
            python_repr(self.groups[GroupKind::Weight.index()].hyper.weight_decay),
            count(GroupKind::Bias),
        )
    }

    /// Per-parameter state tensors as host f32, named `optim.<param name>.<slot>` (slots as
    /// PyTorch names them: `momentum_buffer`, `exp_avg`, `exp_avg_sq`, `square_avg`), each with
    /// its parameter's shape; one device read per tensor.
    pub fn state(&self) -> Vec<(String, RawTensor)> {
        let mut out = Vec::new();
        for p in self.groups.iter().flat_map(|g| &g.params) {
            let Some(state) = self.state.get(&p.id) else { continue };
            for (slot, tensor) in state.slots() {
                if let Some(t) = tensor {
                    out.push((format!("optim.{}.{slot}", p.name), to_raw(t, &p.shape)));
                }
            }
        }
        out
    }

    /// Group hyper-parameters, optimizer kind and per-parameter step counts.
    pub fn scalars(&self) -> OptimizerScalars {
        let steps = self
            .groups
            .iter()
            .flat_map(|g| &g.params)
            .filter_map(|p| self.state.get(&p.id).map(|s| (p.name.clone(), s.step)))
            .collect();
        OptimizerScalars {
            optimizer: self.choice.kind,
            groups: self.groups.iter().map(|g| g.hyper.clone()).collect(),
            steps,
        }
    }

    /// Restores what [`Self::scalars`] and [`Self::state`] exported (possibly from another
    /// process, matched by parameter name) onto `device`, bit-exactly. Keys of `tensors` not
    /// starting with `optim.` are ignored; on error nothing is changed.
    pub fn load_state(
        &mut self,
        scalars: &OptimizerScalars,
        tensors: &BTreeMap<String, RawTensor>,
        device: &B::Device,
    ) -> Result<(), OptimError> {
        let kind = self.choice.kind;
        if scalars.optimizer != kind {
            return Err(OptimError::KindMismatch { saved: scalars.optimizer, current: kind });
        }
        let saved_groups: Vec<GroupKind> = scalars.groups.iter().map(|h| h.group).collect();
        if saved_groups != GroupKind::ALL {
            return Err(OptimError::GroupMismatch(saved_groups));
        }
        let by_name: HashMap<&str, &GroupParam> =
            self.groups.iter().flat_map(|g| &g.params).map(|p| (p.name.as_str(), p)).collect();
        let mut state: HashMap<ParamId, ParamState<B::InnerBackend>> = HashMap::new();
        for (key, raw) in tensors.iter().filter(|(k, _)| k.starts_with("optim.")) {
            let (name, slot) = key["optim.".len()..].rsplit_once('.').unwrap_or((key, ""));
            let param = by_name.get(name).ok_or_else(|| OptimError::UnknownParam(key.clone()))?;
            check_shape(key, raw, &param.shape)?;
            let entry = state.entry(param.id).or_insert_with(ParamState::new);
            let target = entry
                .slot_mut(slot)
                .filter(|_| kind.slots().contains(&slot))
                .ok_or_else(|| OptimError::UnknownSlot(key.clone()))?;
            *target = Some(from_raw(raw, device));
        }
        for (name, &step) in &scalars.steps {
            let param = by_name.get(name.as_str()).ok_or_else(|| OptimError::UnknownParam(name.clone()))?;
            state.entry(param.id).or_insert_with(ParamState::new).step = step;
        }
        for (group, hyper) in self.groups.iter_mut().zip(&scalars.groups) {
            group.hyper = hyper.clone();
        }
        self.state = state;
        Ok(())
    }
}

/// A fresh group's hyper-parameters for `choice`.
fn initial_hyper(group: GroupKind, choice: &OptimizerChoice, weight_decay: f64) -> GroupHyper {
    let adam = choice.kind.is_adam_family();
    GroupHyper {
        group,
        lr: choice.lr,
        initial_lr: choice.lr,
        weight_decay: if group == GroupKind::Weight { weight_decay } else { 0.0 },
        momentum: (!adam).then_some(choice.momentum),
        betas: adam.then_some((choice.momentum, BETA2)),
    }
}

fn check_shape(key: &str, raw: &RawTensor, expected: &[usize]) -> Result<(), OptimError> {
    if raw.shape == expected && raw.data.len() == raw.numel() {
        return Ok(());
    }
    Err(OptimError::ShapeMismatch {
        name: key.to_string(),
        found: raw.shape.clone(),
        len: raw.data.len(),
        expected: expected.to_vec(),
    })
}

fn to_raw<B: Backend>(tensor: &Tensor<B, 1>, shape: &[usize]) -> RawTensor {
    let data = tensor.clone().into_data().convert::<f32>();
    RawTensor { shape: shape.to_vec(), data: data.into_vec::<f32>().expect("converted to f32") }
}

fn from_raw<B: Backend>(raw: &RawTensor, device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(raw.data.clone(), [raw.data.len()]), device)
}

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integers, `e-05` exponents.
fn python_repr(x: f64) -> String {
    let s = format!("{x:?}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let e: i32 = exp.parse().unwrap_or(0);
            format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.unsigned_abs())
        }
        None => s,
    }
}

struct StepMapper<'a, B: AutodiffBackend> {
    kind: OptimizerKind,
    groups: &'a [ParamGroup],
    group_of: &'a HashMap<ParamId, usize>,
    state: &'a mut HashMap<ParamId, ParamState<B::InnerBackend>>,
    grads: GradientsParams,
}

impl<B: AutodiffBackend> ModuleMapper<B> for StepMapper<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let grad = self.grads.remove::<B::InnerBackend, D>(id);
        let (Some(grad), Some(&group)) = (grad, self.group_of.get(&id)) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let dims = tensor.dims();
        let numel = dims.iter().product::<usize>();
        let require_grad = tensor.is_require_grad();
        let state = self.state.entry(id).or_insert_with(ParamState::new);
        let flat =
            update(self.kind, &self.groups[group].hyper, tensor.inner().reshape([numel]), grad.reshape([numel]), state);
        let updated = Tensor::from_inner(flat.reshape(dims));
        Param::from_mapped_value(id, updated.set_require_grad(require_grad), mapper)
    }
}

/// Sums [`GradientsParams`] over micro-batches (no division, as Ultralytics, whose gradients
/// accumulate in `.grad` until `optimizer.step()`).
#[derive(Debug, Default)]
pub struct GradAccumulator {
    grads: GradientsParams,
    micro_batches: usize,
}

struct SumGrads<'a> {
    acc: &'a mut GradientsParams,
    new: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SumGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(new) = self.new.remove::<B::InnerBackend, D>(param.id) else { return };
        let sum = match self.acc.remove::<B::InnerBackend, D>(param.id) {
            Some(old) => old + new,
            None => new,
        };
        self.acc.register(param.id, sum);
    }
}

impl GradAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one micro-batch's gradients of `module`'s parameters to the running sum.
    pub fn accumulate<B: AutodiffBackend, M: AutodiffModule<B>>(&mut self, module: &M, grads: GradientsParams) {
        module.visit(&mut SumGrads { acc: &mut self.grads, new: grads });
        self.micro_batches += 1;
    }

    /// Micro-batches summed since the last [`Self::take`].
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// The summed gradients; the accumulator starts over empty.
    pub fn take(&mut self) -> GradientsParams {
        self.micro_batches = 0;
        std::mem::take(&mut self.grads)
    }

    /// The pending sums as host tensors named `accum.<param name>` (for checkpoints: gradients
    /// of micro-batches not yet stepped carry over epoch boundaries, as in Ultralytics).
    pub fn export<B: AutodiffBackend, M: AutodiffModule<B>>(&self, module: &M) -> Vec<(String, RawTensor)> {
        let mut out = ExportGrads::<B> { grads: &self.grads, names: id_names::<B, M>(module), out: Vec::new(), _b: Default::default() };
        module.visit(&mut out);
        out.out
    }

    /// Restores sums written by [`Self::export`] for `micro_batches` pending micro-batches.
    pub fn import<B: AutodiffBackend, M: AutodiffModule<B>>(
        module: &M,
        tensors: &BTreeMap<String, RawTensor>,
        micro_batches: usize,
        device: &B::Device,
    ) -> Self {
        let mut import = ImportGrads::<B> {
            tensors,
            names: id_names::<B, M>(module),
            grads: GradientsParams::new(),
            device: device.clone(),
        };
        module.visit(&mut import);
        Self { grads: import.grads, micro_batches }
    }
}

fn id_names<B: Backend, M: burn::module::Module<B>>(module: &M) -> HashMap<ParamId, String> {
    named_tensors::<B, M>(module).into_iter().map(|t| (t.id, t.name)).collect()
}

struct ExportGrads<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    names: HashMap<ParamId, String>,
    out: Vec<(String, RawTensor)>,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ExportGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let (Some(g), Some(name)) = (self.grads.get::<B::InnerBackend, D>(param.id), self.names.get(&param.id)) else {
            return;
        };
        let shape = g.dims().to_vec();
        let flat: Tensor<B::InnerBackend, 1> = g.reshape([shape.iter().product::<usize>()]);
        self.out.push((format!("accum.{name}"), to_raw(&flat, &shape)));
    }
}

struct ImportGrads<'a, B: AutodiffBackend> {
    tensors: &'a BTreeMap<String, RawTensor>,
    names: HashMap<ParamId, String>,
    grads: GradientsParams,
    device: B::Device,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ImportGrads<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let Some(raw) = self.names.get(&param.id).and_then(|n| self.tensors.get(&format!("accum.{n}"))) else {
            return;
        };
        let Ok(shape) = <[usize; D]>::try_from(raw.shape.as_slice()) else { return };
        let g = Tensor::<B::InnerBackend, D>::from_data(TensorData::new(raw.data.clone(), shape), &self.device);
        self.grads.register(param.id, g);
    }
}

struct GradNorms<'a, B: Backend> {
    grads: &'a GradientsParams,
    norms: Vec<Tensor<B, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradNorms<'_, B::InnerBackend> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.norms.push(g.square().sum().sqrt());
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// `torch.nn.utils.clip_grad_norm_` over the gradients of `module`'s parameters: total norm
/// `‖(‖g₁‖₂, ‖g₂‖₂, …)‖₂`; when `clip_coef = max_norm / (total + 1e-6)` (f32) is below 1 (or
/// NaN), every gradient is multiplied by it. Returns the total norm (one host read).
pub fn clip_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f32 {
    let mut norms = GradNorms::<B::InnerBackend> { grads, norms: Vec::new() };
    module.visit(&mut norms);
    if norms.norms.is_empty() {
        return 0.0;
    }
    let total: f32 = Tensor::cat(norms.norms, 0).square().sum().sqrt().into_scalar().elem();
    let coef = max_norm as f32 / (total + 1e-6);
    if coef < 1.0 || coef.is_nan() {
        module.visit(&mut ScaleGrads { grads, factor: coef });
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::module::{Module, RunningState};
    use yolo_model::{ModelSpec, Scale, Yolo};

    type Ad = Autodiff<Flex>;

    #[derive(Module, Debug)]
    struct Norm<B: Backend> {
        weight: Param<Tensor<B, 1>>,
        bias: Param<Tensor<B, 1>>,
        running_mean: RunningState<Tensor<B, 1>>,
    }

    /// Names `conv`, `frozen`, `bn.weight`, `bn.bias`, `bn.running_mean`.
    #[derive(Module, Debug)]
    struct Toy<B: Backend> {
        conv: Param<Tensor<B, 2>>,
        frozen: Param<Tensor<B, 1>>,
        bn: Norm<B>,
    }

    fn toy(dev: &burn::tensor::Device<Ad>) -> Toy<Ad> {
        let p = |v: Vec<f32>| Param::from_tensor(Tensor::<Ad, 1>::from_floats(v.as_slice(), dev));
        Toy {
            conv: Param::from_tensor(Tensor::from_floats([[1.0, -2.0], [0.5, 3.0]], dev)),
            frozen: p(vec![7.0]).set_require_grad(false),
            bn: Norm {
                weight: p(vec![1.0, 1.0]),
                bias: p(vec![0.0, 0.1]),
                running_mean: RunningState::new(Tensor::from_floats([0.2, 0.3], dev)),
            },
        }
    }

    fn loss(m: &Toy<Ad>) -> Tensor<Ad, 1> {
        let w = m.conv.val().reshape([4]);
        (w.clone() * w).sum() + (m.bn.weight.val() * m.bn.bias.val()).sum() + m.frozen.val().sum()
    }

    fn flat<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().into_vec().unwrap()
    }

    #[test]
    fn auto_resolution_matches_spec() {
        let args = OptimizerArgs::default();
        for (nc, lr) in [(1, 0.002), (20, 0.000417), (80, 0.000119)] {
            assert_eq!(auto_lr(nc), lr, "nc {nc}");
            let c = args.resolve(nc, AUTO_SGD_ITERATIONS);
            assert_eq!((c.kind(), c.lr(), c.momentum(), c.warmup_bias_lr()), (OptimizerKind::AdamW, lr, 0.9, 0.0));
        }
        let c = args.resolve(80, AUTO_SGD_ITERATIONS + 1);
        assert_eq!((c.kind(), c.lr(), c.momentum(), c.warmup_bias_lr()), (OptimizerKind::Sgd, 0.01, 0.9, 0.0));
        let explicit = OptimizerArgs { optimizer: OptimizerKind::Adam, ..args }.resolve(80, 1);
        assert_eq!(
            (explicit.kind(), explicit.lr(), explicit.momentum(), explicit.warmup_bias_lr()),
            (OptimizerKind::Adam, 0.01, 0.937, 0.1)
        );
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("sgd".parse::<OptimizerKind>().unwrap(), OptimizerKind::Sgd);
        assert_eq!("ADAMW".parse::<OptimizerKind>().unwrap(), OptimizerKind::AdamW);
        assert_eq!("RMSProp".parse::<OptimizerKind>().unwrap(), OptimizerKind::RmsProp);
        assert_eq!("auto".parse::<OptimizerKind>().unwrap(), OptimizerKind::Auto);
        assert!("NAdam".parse::<OptimizerKind>().is_err());
        assert_eq!(serde_json::to_string(&OptimizerKind::RmsProp).unwrap(), "\"RMSProp\"");
        let reprs = [0.0, 0.01, 0.000119, auto_lr(200), 1.5e16].map(python_repr);
        assert_eq!(reprs, ["0.0", "0.01", "0.000119", "4.9e-05", "1.5e+16"]);
    }

    #[test]
    fn groups_follow_ultralytics_names() {
        for (name, kind) in [
            ("model.0.conv.weight", GroupKind::Weight),
            ("model.0.bn.weight", GroupKind::BatchNorm),
            ("model.0.bn.bias", GroupKind::Bias),
            ("model.23.cv2.0.2.bias", GroupKind::Bias),
            ("model.23.cv3.0.0.0.conv.weight", GroupKind::Weight),
            ("model.23.dfl.conv.weight", GroupKind::Weight),
        ] {
            assert_eq!(GroupKind::of(name), kind, "{name}");
        }
        assert_eq!(GroupKind::ALL.map(GroupKind::lr_key), ["lr/pg0", "lr/pg1", "lr/pg2"]);
    }

    #[test]
    fn yolo11n_groups_match_ultralytics_log() {
        let dev = Default::default();
        let model = Yolo::<Ad>::new(ModelSpec::new(Scale::N, 80), &dev);
        let choice = OptimizerArgs::default().resolve(80, 184_900);
        let opt = YoloOptimizer::new(&model, &choice, 0.0005, &[]);
        let sizes: Vec<(usize, usize)> = opt.groups().iter().map(|g| (g.params.len(), g.frozen)).collect();
        assert_eq!(sizes, [(87, 0), (87, 1), (81, 0)]);
        assert_eq!(
            opt.summary(),
            "SGD(lr=0.01, momentum=0.9) with parameter groups 81 weight(decay=0.0), 88 weight(decay=0.0005), 87 bias(decay=0.0)"
        );
        let weight = &opt.groups()[1];
        assert!(weight.params.iter().all(|p| !p.name.contains("dfl")));
        let frozen = YoloOptimizer::new(&model, &choice, 0.0005, &freeze_patterns(&[0]));
        let sizes: Vec<usize> = frozen.groups().iter().map(|g| g.frozen).collect();
        assert_eq!(sizes, [1, 2, 1]);
    }

    #[test]
    fn step_updates_only_grouped_params_with_gradients() {
        let dev = Default::default();
        let model = toy(&dev);
        let choice = OptimizerArgs { optimizer: OptimizerKind::Sgd, ..Default::default() }.resolve(1, 0);
        let mut opt = YoloOptimizer::new(&model, &choice, 0.0, &["bn.bias".to_string()]);
        let names: Vec<Vec<&str>> =
            opt.groups().iter().map(|g| g.params.iter().map(|p| p.name.as_str()).collect()).collect();
        assert_eq!(names, [vec![], vec!["conv"], vec!["bn.weight"]]);
        let grads = GradientsParams::from_grads(loss(&model).backward(), &model);
        let before = (flat(model.bn.bias.val()), flat(model.frozen.val()), flat(model.bn.running_mean.value()));
        let model = opt.step(model, grads);
        // Plain SGD first step: p − lr·(g + μ·g), g = 2w for conv, g = β for γ.
        let want: Vec<f32> = [1.0f32, -2.0, 0.5, 3.0].iter().map(|w| w - 0.01 * 2.0 * w * 1.937).collect();
        for (g, w) in flat(model.conv.val()).iter().zip(&want) {
            assert!((g - w).abs() < 1e-6);
        }
        assert!((flat(model.bn.weight.val())[1] - (1.0 - 0.01 * 0.1 * 1.937)).abs() < 1e-6);
        assert_eq!(before, (flat(model.bn.bias.val()), flat(model.frozen.val()), flat(model.bn.running_mean.value())));
        assert!(model.conv.val().is_require_grad() && !model.frozen.val().is_require_grad());
    }

    #[test]
    fn state_round_trips_bit_exactly() {
        let dev = Default::default();
        let choice = OptimizerArgs { optimizer: OptimizerKind::AdamW, ..Default::default() }.resolve(1, 0);
        let mut model = toy(&dev);
        let mut opt = YoloOptimizer::new(&model, &choice, 0.01, &[]);
        for _ in 0..2 {
            let grads = GradientsParams::from_grads(loss(&model).backward(), &model);
            model = opt.step(model, grads);
        }
        let tensors: BTreeMap<String, RawTensor> = opt.state().into_iter().collect();
        let keys: Vec<&str> = tensors.keys().map(String::as_str).collect();
        assert!(keys.contains(&"optim.conv.exp_avg") && keys.contains(&"optim.bn.weight.exp_avg_sq"));
        assert_eq!(tensors["optim.conv.exp_avg"].shape, vec![2, 2]);
        let scalars: OptimizerScalars = serde_json::from_str(&serde_json::to_string(&opt.scalars()).unwrap()).unwrap();
        assert_eq!(scalars.steps["conv"], 2);

        // A rebuilt model (new ids) and optimizer, restored by name.
        let mut resumed = toy(&dev);
        resumed.conv = Param::from_tensor(model.conv.val().detach());
        resumed.bn.weight = Param::from_tensor(model.bn.weight.val().detach());
        resumed.bn.bias = Param::from_tensor(model.bn.bias.val().detach());
        let mut opt2 = YoloOptimizer::new(&resumed, &choice, 0.5, &[]);
        opt2.load_state(&scalars, &tensors, &dev).unwrap();
        assert_eq!(opt2.scalars(), opt.scalars());
        let grads = GradientsParams::from_grads(loss(&model).backward(), &model);
        let model = opt.step(model, grads);
        let grads = GradientsParams::from_grads(loss(&resumed).backward(), &resumed);
        let resumed = opt2.step(resumed, grads);
        assert_eq!(flat(model.conv.val()), flat(resumed.conv.val()));
        assert_eq!(opt.state(), opt2.state());

        let sgd = OptimizerArgs { optimizer: OptimizerKind::Sgd, ..Default::default() }.resolve(1, 0);
        let mut wrong = YoloOptimizer::new(&resumed, &sgd, 0.0, &[]);
        assert!(matches!(wrong.load_state(&scalars, &tensors, &dev), Err(OptimError::KindMismatch { .. })));
    }

    #[test]
    fn accumulator_sums_and_clip_scales_by_global_norm() {
        let dev = Default::default();
        let model = toy(&dev);
        let mut acc = GradAccumulator::new();
        for _ in 0..2 {
            acc.accumulate(&model, GradientsParams::from_grads(loss(&model).backward(), &model));
        }
        assert_eq!(acc.micro_batches(), 2);
        let mut grads = acc.take();
        assert_eq!(acc.micro_batches(), 0);
        let conv: Tensor<Flex, 2> = grads.get(model.conv.id).unwrap();
        assert_eq!(flat(conv), vec![4.0, -8.0, 2.0, 12.0]);
        // ‖(4, −8, 2, 12)‖ = √228; bn γ grad 2·β = (0, 0.2); bn β grad 2·γ = (2, 2).
        let total = (228.0f64 + 0.04 + 8.0).sqrt();
        assert!((clip_grad_norm(&model, &mut grads, 100.0) as f64 - total).abs() < 1e-4);
        let unchanged: Tensor<Flex, 2> = grads.get(model.conv.id).unwrap();
        assert_eq!(flat(unchanged), vec![4.0, -8.0, 2.0, 12.0]);
        let norm = clip_grad_norm(&model, &mut grads, MAX_GRAD_NORM);
        let coef = MAX_GRAD_NORM as f32 / (norm + 1e-6);
        let clipped: Tensor<Flex, 2> = grads.get(model.conv.id).unwrap();
        assert_eq!(flat(clipped), [4.0f32, -8.0, 2.0, 12.0].map(|g| g * coef));
        let again = clip_grad_norm(&model, &mut grads, MAX_GRAD_NORM);
        assert!((again - 10.0).abs() < 1e-4);
    }
}
