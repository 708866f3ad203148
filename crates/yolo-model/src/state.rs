//! Moving weights between a [`Yolo`] and a PyTorch-named [`StateDict`], in both directions.
//!
//! Paths come from burn's module tree with two renames so they equal Ultralytics'
//! `state_dict()` names: the top-level field `layerN` becomes `model.N`, and `seqN` fields (our
//! spelling of `nn.Sequential` children) become `N`; enum variants add no component.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::conv::BN_EPS;
use crate::error::ModelError;
use crate::weights::{RawTensor, StateDict};
use crate::yolo::Yolo;

/// Tracks the module path during a visit and renders PyTorch names.
#[derive(Default)]
struct PathStack {
    parts: Vec<Option<String>>,
}

impl PathStack {
    fn enter(&mut self, name: &str, container: &str) {
        let part = if container.starts_with("Enum:") {
            None
        } else if let Some(n) = digits_after(name, "layer") {
            Some(format!("model.{n}"))
        } else if let Some(n) = digits_after(name, "seq") {
            Some(n.to_string())
        } else {
            Some(name.to_string())
        };
        self.parts.push(part);
    }

    fn exit(&mut self) {
        self.parts.pop();
    }

    fn name(&self) -> String {
        let parts: Vec<&str> = self.parts.iter().flatten().map(String::as_str).collect();
        parts.join(".")
    }
}

fn digits_after<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

struct Exporter {
    path: PathStack,
    out: BTreeMap<String, RawTensor>,
}

impl<B: Backend> ModuleVisitor<B> for Exporter {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.enter(name, container);
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let data = param.val().into_data().convert::<f32>();
        let shape = data.shape.to_vec();
        let values = data.into_vec::<f32>().unwrap_or_default();
        self.out.insert(self.path.name(), RawTensor { shape, data: values });
    }
}

/// All float tensors of `model` (parameters and BatchNorm running statistics) under their
/// Ultralytics names, e.g. `model.0.conv.weight`, `model.23.cv3.0.0.0.bn.running_var`.
pub fn export_state_dict<B: Backend>(model: &Yolo<B>) -> StateDict {
    let mut exporter = Exporter { path: PathStack::default(), out: BTreeMap::new() };
    model.visit(&mut exporter);
    StateDict { tensors: exporter.out, metadata: BTreeMap::new() }
}

/// One float tensor of a module: its burn id, Ultralytics name and shape.
#[derive(Debug, Clone)]
pub struct NamedTensor {
    /// burn's parameter id (stable across `clone`, `valid`, `fork`).
    pub id: ParamId,
    /// Ultralytics name, e.g. `model.2.m.0.cv1.bn.weight`.
    pub name: String,
    /// Shape in PyTorch order.
    pub shape: Vec<usize>,
}

impl NamedTensor {
    /// BatchNorm running statistics are buffers, not parameters.
    pub fn is_buffer(&self) -> bool {
        self.name.ends_with(".running_mean") || self.name.ends_with(".running_var")
    }
}

/// Every float tensor of any module (parameters and BatchNorm running statistics) with its
/// Ultralytics name, in module order. Shapes are read without initialising lazy parameters.
pub fn named_tensors<B: Backend, M: Module<B>>(module: &M) -> Vec<NamedTensor> {
    struct Names {
        path: PathStack,
        out: Vec<NamedTensor>,
    }
    impl<B: Backend> ModuleVisitor<B> for Names {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.out.push(NamedTensor { id: param.id, name: self.path.name(), shape: param.lazy_shape().to_vec() });
        }
    }
    let mut v = Names { path: PathStack::default(), out: Vec::new() };
    module.visit(&mut v);
    v.out
}

/// Draws every lazily initialised parameter now. burn initialises parameters on first use, so
/// the random draws of a fresh model happen wherever it is first touched; call this right after
/// seeding to make initialisation depend on the seed alone.
pub fn materialize<B: Backend, M: Module<B>>(module: &M) {
    struct Touch;
    impl<B: Backend> ModuleVisitor<B> for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// Names and shapes of every float tensor `model` holds, in module order.
pub fn tensor_shapes<B: Backend>(model: &Yolo<B>) -> Vec<(String, Vec<usize>)> {
    named_tensors(model).into_iter().map(|t| (t.name, t.shape)).collect()
}

/// Stops gradients for every parameter whose Ultralytics name `frozen` accepts (e.g. names
/// starting with `model.3.`). Their BatchNorms then run in eval mode, as Ultralytics keeps them.
pub fn freeze<B: Backend, M: Module<B>>(module: M, frozen: impl Fn(&str) -> bool) -> M {
    struct Freezer<F> {
        path: PathStack,
        frozen: F,
    }
    impl<B: Backend, F: Fn(&str) -> bool> ModuleMapper<B> for Freezer<F> {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.path.enter(name, container);
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            if (self.frozen)(&self.path.name()) { param.set_require_grad(false) } else { param }
        }
    }
    module.map(&mut Freezer { path: PathStack::default(), frozen })
}

/// How strictly [`load_state_dict`] matches names and shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Every model tensor must be present with the same shape.
    Strict,
    /// Copy tensors whose name and shape match, keep the rest at init (Ultralytics
    /// `intersect_dicts` transfer, e.g. pretrained weights onto a different `nc`).
    Transfer,
}

/// What [`load_state_dict`] did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Tensors copied from the file.
    pub loaded: usize,
    /// Model tensors left at their initial value (missing or shape-mismatched in the file).
    pub kept: Vec<String>,
}

struct Importer<'a> {
    path: PathStack,
    source: &'a BTreeMap<String, RawTensor>,
    mode: LoadMode,
    report: LoadReport,
    errors: Vec<(String, Vec<usize>, Vec<usize>)>,
    missing: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for Importer<'_> {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.enter(name, container);
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let name = self.path.name();
        let expected = param.lazy_shape().to_vec();
        match self.source.get(&name) {
            Some(raw) if raw.shape == expected => {
                let device = param.lazy_device();
                let data = TensorData::new(raw.data.clone(), raw.shape.clone());
                let id: ParamId = param.id;
                self.report.loaded += 1;
                param.transform_for_load(Tensor::from_data(data, &device), id)
            }
            Some(raw) => {
                if self.mode == LoadMode::Strict {
                    self.errors.push((name.clone(), raw.shape.clone(), expected));
                }
                self.report.kept.push(name);
                param
            }
            None => {
                if self.mode == LoadMode::Strict {
                    self.missing.push(name.clone());
                }
                self.report.kept.push(name);
                param
            }
        }
    }
}

/// Loads `sd` into `model`. BN-folded weights (an ONNX export: `P.conv.bias` and no `P.bn.*`)
/// are accepted: the bias goes to an identity BatchNorm (γ 1, mean 0, var 1 − eps, β = bias),
/// which reproduces the folded conv exactly in eval mode. `file` names the source in errors.
pub fn load_state_dict<B: Backend>(
    model: Yolo<B>,
    sd: &StateDict,
    file: &str,
    mode: LoadMode,
) -> Result<(Yolo<B>, LoadReport), ModelError> {
    let source = unfold_fused_bias(&sd.tensors, &tensor_shapes(&model));
    let spec = model.spec();
    let description = format!("{} nc={}", spec.name(), spec.nc);
    let mut importer = Importer {
        path: PathStack::default(),
        source: &source,
        mode,
        report: LoadReport::default(),
        errors: Vec::new(),
        missing: Vec::new(),
    };
    let model = model.map(&mut importer);
    if let Some((name, found, expected)) = importer.errors.into_iter().next() {
        return Err(ModelError::ShapeMismatch { file: file.into(), name, found, expected, model: description });
    }
    if let Some(first) = importer.missing.first() {
        return Err(ModelError::MissingTensors {
            file: file.into(),
            count: importer.missing.len(),
            first: first.clone(),
            model: description,
        });
    }
    Ok((model, importer.report))
}

/// Rewrites `P.conv.bias` into an identity `P.bn.*` wherever the model has a BatchNorm at `P.bn`
/// but the source has no BatchNorm tensors for it.
fn unfold_fused_bias(
    tensors: &BTreeMap<String, RawTensor>,
    model_shapes: &[(String, Vec<usize>)],
) -> BTreeMap<String, RawTensor> {
    let mut out = tensors.clone();
    for (name, _) in model_shapes {
        let Some(prefix) = name.strip_suffix(".bn.weight") else { continue };
        if tensors.contains_key(name) {
            continue;
        }
        let Some(bias) = tensors.get(&format!("{prefix}.conv.bias")) else { continue };
        let c = bias.numel();
        let filled = |v: f32| RawTensor { shape: vec![c], data: vec![v; c] };
        out.insert(format!("{prefix}.bn.weight"), filled(1.0));
        out.insert(format!("{prefix}.bn.bias"), bias.clone());
        out.insert(format!("{prefix}.bn.running_mean"), filled(0.0));
        out.insert(format!("{prefix}.bn.running_var"), filled(1.0 - BN_EPS as f32));
        out.remove(&format!("{prefix}.conv.bias"));
    }
    out
}
