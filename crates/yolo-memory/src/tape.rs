//! A symbolic replay of one step: the buffers a forward allocates, which of them burn's autodiff
//! keeps for backward, and the gradients the backward pass creates, as a timeline of allocations.
//!
//! The rules are burn-autodiff 0.21's (`ops/tensor.rs`, `ops/module.rs`, `ops/activation.rs`):
//! under `NoCheckpointing` an op keeps exactly the tensors it passes to `prep.checkpoint(..)`
//! (a clone of the handle, so the whole buffer of a view stays alive) plus the tensors it stores
//! in its state (max-pool indices, `mask_fill` masks, `select` indices). Under
//! `BalancedCheckpointing` a checkpoint of a memory-bound op's output is recomputed instead, and
//! every memory-bound op keeps its compute-bound parents as a backup.

use serde::{Deserialize, Serialize};

/// Gradient checkpointing strategy of burn's `Autodiff<B, C>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checkpointing {
    /// `NoCheckpointing`: every checkpointed tensor is kept until its backward step.
    #[default]
    None,
    /// `BalancedCheckpointing`: memory-bound ops are recomputed during backward.
    Balanced,
}

/// What a tape replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A forward under autodiff followed by its backward.
    Train(Checkpointing),
    /// A forward without autodiff (validation): nothing is kept.
    Inference,
}

/// Byte sizes of the element types a backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElemSizes {
    /// Float tensors (4 for f32).
    pub float: u64,
    /// Int tensors (pool and select indices; 4 for i32).
    pub int: u64,
    /// Bool tensors (masks; 4 on wgpu's u32 bools, 1 on CUDA's u8).
    pub boolean: u64,
}

/// Whether burn-autodiff marks the op that produced a buffer compute-bound (conv, matmul, pool,
/// cat, leaves) or memory-bound (element-wise, views).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Kept when checkpointed, under either strategy.
    Compute,
    /// Recomputed when checkpointed under [`Checkpointing::Balanced`].
    Memory,
}

/// A symbolic tensor: its identity, the buffer it views and its element count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sym {
    id: usize,
    buf: usize,
    /// Elements of this tensor (a view can be smaller than its buffer).
    pub elems: u64,
    grad: bool,
}

/// One change of the device's live bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A buffer of `bytes` comes alive.
    Alloc {
        /// Buffer index.
        buf: usize,
        /// Size, bytes.
        bytes: u64,
    },
    /// A buffer is released.
    Free {
        /// Buffer index.
        buf: usize,
    },
}

/// How an op's backward produces the gradient of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GradOf {
    /// A new buffer of the input's size.
    New,
    /// The output gradient itself (reshape, transpose views).
    Same,
}

#[derive(Debug)]
struct Buf {
    bytes: u64,
    refs: u32,
    saved: u32,
    live: bool,
    bound: Bound,
}

#[derive(Debug)]
struct Step {
    out: usize,
    inputs: Vec<(usize, u64, GradOf)>,
    saves: Vec<usize>,
    param_bytes: u64,
    recompute_bytes: u64,
}

/// What an op keeps for its backward.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep<'a> {
    /// Indices of the inputs it checkpoints.
    pub inputs: &'a [usize],
    /// Bytes of state it stores besides (masks, indices), kept in its own buffer.
    pub state_bytes: u64,
}

impl<'a> Keep<'a> {
    /// Keeps nothing.
    pub const NOTHING: Keep<'static> = Keep { inputs: &[], state_bytes: 0 };

    /// Keeps the listed inputs.
    pub fn inputs(inputs: &'a [usize]) -> Self {
        Keep { inputs, state_bytes: 0 }
    }
}

/// The replay: buffers, backward steps and the allocation timeline.
#[derive(Debug)]
pub struct Tape {
    mode: Mode,
    sizes: ElemSizes,
    bufs: Vec<Buf>,
    steps: Vec<Step>,
    events: Vec<Event>,
    tensors: usize,
    forward_end: Option<usize>,
    params: Vec<u64>,
    param_grads: Vec<usize>,
}

impl Tape {
    /// An empty tape.
    pub fn new(mode: Mode, sizes: ElemSizes) -> Self {
        Self {
            mode,
            sizes,
            bufs: Vec::new(),
            steps: Vec::new(),
            events: Vec::new(),
            tensors: 0,
            forward_end: None,
            params: Vec::new(),
            param_grads: Vec::new(),
        }
    }

    /// What the tape replays.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Element sizes in use.
    pub fn sizes(&self) -> ElemSizes {
        self.sizes
    }

    /// A float input that records no gradient (the image batch), `elems` elements.
    pub fn input(&mut self, elems: u64) -> Sym {
        let buf = self.alloc(elems * self.sizes.float, Bound::Compute);
        self.tensor(buf, elems, false)
    }

    /// One more reference to `x` (Rust's `x.clone()` of a tensor).
    pub fn share(&mut self, x: &Sym) -> Sym {
        self.bufs[x.buf].refs += 1;
        *x
    }

    /// Drops a reference.
    pub fn release(&mut self, x: Sym) {
        self.bufs[x.buf].refs -= 1;
        self.free_if_dead(x.buf);
    }

    /// A float op consuming `inputs` and producing a new buffer of `out_elems` elements.
    /// `param_elems` counts trained parameters it uses (their gradients appear in backward).
    pub fn op(&mut self, inputs: Vec<Sym>, out_elems: u64, bound: Bound, keep: Keep<'_>, param_elems: u64) -> Sym {
        if param_elems > 0 {
            self.params.push(param_elems);
        }
        let buf = self.alloc(out_elems * self.sizes.float, bound);
        let grad = param_elems > 0 || inputs.iter().any(|x| x.grad);
        let out = self.tensor(buf, out_elems, grad);
        self.record(&inputs, out, keep, param_elems, GradOf::New);
        for x in inputs {
            self.release(x);
        }
        out
    }

    /// A view of `x` with `elems` elements sharing its buffer (narrow, reshape, transpose).
    /// `full_grad`: the backward builds a gradient of `x`'s full size (narrow) rather than
    /// passing the output gradient through (reshape, transpose).
    pub fn view(&mut self, x: Sym, elems: u64, full_grad: bool) -> Sym {
        self.bufs[x.buf].refs += 1;
        let out = self.tensor_on(x.buf, elems, x.grad);
        let how = if full_grad { GradOf::New } else { GradOf::Same };
        self.record(std::slice::from_ref(&x), out, Keep::NOTHING, 0, how);
        self.release(x);
        out
    }

    /// A contiguous copy of a view (reshape of a strided tensor): a new buffer whose backward
    /// passes the gradient through.
    pub fn copy(&mut self, x: Sym) -> Sym {
        let buf = self.alloc(x.elems * self.sizes.float, Bound::Memory);
        let out = self.tensor(buf, x.elems, x.grad);
        self.record(std::slice::from_ref(&x), out, Keep::NOTHING, 0, GradOf::Same);
        self.release(x);
        out
    }

    /// A short-lived buffer of `bytes` outside the graph (detached work, host transfers).
    pub fn transient(&mut self, bytes: u64) {
        let buf = self.alloc(bytes, Bound::Memory);
        self.free(buf);
    }

    /// Marks the end of the forward: the live set from here on is what backward starts with.
    pub fn end_forward(&mut self) {
        self.forward_end = Some(self.events.len());
    }

    /// Replays burn's backward from `loss` (reverse creation order): each step frees what it kept,
    /// consumes its output gradient and registers (summing) its inputs' gradients; parameter
    /// gradients stay until the end. Returns the parameter-gradient bytes.
    pub fn backward(&mut self, loss: Sym) -> u64 {
        let mut grads: Vec<Option<usize>> = vec![None; self.tensors];
        grads[loss.id] = Some(self.alloc(self.sizes.float, Bound::Memory));
        self.release(loss);
        let mut param_bytes = 0;
        let steps = std::mem::take(&mut self.steps);
        for step in steps.iter().rev() {
            if let Some(g_out) = grads[step.out].take() {
                self.backward_step(step, g_out, &mut grads);
                param_bytes += step.param_bytes;
            }
            for &buf in &step.saves {
                self.bufs[buf].saved -= 1;
                self.free_if_dead(buf);
            }
        }
        for g in grads.into_iter().flatten() {
            self.free(g);
        }
        param_bytes
    }

    fn backward_step(&mut self, step: &Step, g_out: usize, grads: &mut [Option<usize>]) {
        let recompute = (step.recompute_bytes > 0).then(|| self.alloc(step.recompute_bytes, Bound::Memory));
        if step.param_bytes > 0 {
            // Parameter gradients live in `Gradients` until the optimizer: not freed here.
            let grad = self.alloc(step.param_bytes, Bound::Memory);
            self.param_grads.push(grad);
        }
        let mut passed = false;
        for &(id, bytes, how) in &step.inputs {
            let new = match how {
                GradOf::Same if !passed => {
                    passed = true;
                    g_out
                }
                _ => self.alloc(bytes, Bound::Memory),
            };
            let merged = match grads[id].take() {
                Some(old) => {
                    let sum = self.alloc(bytes, Bound::Memory);
                    self.free(old);
                    self.free(new);
                    sum
                }
                None => new,
            };
            grads[id] = Some(merged);
        }
        if !passed {
            self.free(g_out);
        }
        if let Some(buf) = recompute {
            self.free(buf);
        }
    }

    /// Buffers of the parameter gradients backward produced (one per op with parameters) and
    /// their bytes; they stay allocated on the tape: the optimizer update frees them.
    pub fn param_grads(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.param_grads.iter().map(|&buf| (buf, self.bufs[buf].bytes))
    }

    /// The allocation timeline so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Live bytes at the end of the forward (before backward), if marked.
    pub fn live_after_forward(&self) -> Option<u64> {
        self.forward_end.map(|n| live_bytes(&self.events[..n]))
    }

    /// Bytes of every buffer alive now.
    pub fn live_now(&self) -> u64 {
        live_bytes(&self.events)
    }

    /// Bytes kept for backward right now (saved and not yet released).
    pub fn saved_now(&self) -> u64 {
        self.bufs.iter().filter(|b| b.live && b.saved > 0).map(|b| b.bytes).sum()
    }

    /// Elements of every trained parameter tensor the ops so far used, in order.
    pub fn params(&self) -> &[u64] {
        &self.params
    }

    /// Largest single buffer allocated, bytes.
    pub fn largest_buffer(&self) -> u64 {
        self.bufs.iter().map(|b| b.bytes).max().unwrap_or(0)
    }

    fn tensor(&mut self, buf: usize, elems: u64, grad: bool) -> Sym {
        self.bufs[buf].refs += 1;
        self.tensor_on(buf, elems, grad)
    }

    fn tensor_on(&mut self, buf: usize, elems: u64, grad: bool) -> Sym {
        self.tensors += 1;
        Sym { id: self.tensors - 1, buf, elems, grad: grad && matches!(self.mode, Mode::Train(_)) }
    }

    fn record(&mut self, inputs: &[Sym], out: Sym, keep: Keep<'_>, param_elems: u64, how: GradOf) {
        let Mode::Train(ckpt) = self.mode else { return };
        if !out.grad {
            return;
        }
        let mut step = Step {
            out: out.id,
            inputs: inputs.iter().filter(|x| x.grad).map(|x| (x.id, x.elems * self.sizes.float, how)).collect(),
            saves: Vec::new(),
            param_bytes: param_elems * self.sizes.float,
            recompute_bytes: 0,
        };
        for &i in keep.inputs {
            self.keep(&mut step, inputs[i], ckpt);
        }
        if ckpt == Checkpointing::Balanced && self.bufs[out.buf].bound == Bound::Memory {
            for x in inputs {
                if self.bufs[x.buf].bound == Bound::Compute {
                    self.keep_buffer(&mut step, x.buf);
                }
            }
        }
        if keep.state_bytes > 0 {
            let buf = self.alloc(keep.state_bytes, Bound::Compute);
            self.keep_buffer(&mut step, buf);
        }
        self.steps.push(step);
    }

    fn keep(&mut self, step: &mut Step, x: Sym, ckpt: Checkpointing) {
        if ckpt == Checkpointing::Balanced && self.bufs[x.buf].bound == Bound::Memory {
            step.recompute_bytes += x.elems * self.sizes.float;
        } else {
            self.keep_buffer(step, x.buf);
        }
    }

    fn keep_buffer(&mut self, step: &mut Step, buf: usize) {
        if !step.saves.contains(&buf) {
            self.bufs[buf].saved += 1;
            step.saves.push(buf);
        }
    }

    fn alloc(&mut self, bytes: u64, bound: Bound) -> usize {
        self.bufs.push(Buf { bytes, refs: 0, saved: 0, live: true, bound });
        let buf = self.bufs.len() - 1;
        self.events.push(Event::Alloc { buf, bytes });
        buf
    }

    fn free(&mut self, buf: usize) {
        if std::mem::replace(&mut self.bufs[buf].live, false) {
            self.events.push(Event::Free { buf });
        }
    }

    fn free_if_dead(&mut self, buf: usize) {
        let b = &self.bufs[buf];
        if b.refs == 0 && b.saved == 0 {
            self.free(buf);
        }
    }
}

/// Bytes alive after replaying `events`.
pub fn live_bytes(events: &[Event]) -> u64 {
    let mut sizes = std::collections::HashMap::new();
    let mut live = 0u64;
    for e in events {
        match *e {
            Event::Alloc { buf, bytes } => {
                sizes.insert(buf, bytes);
                live += bytes;
            }
            Event::Free { buf } => live -= sizes.get(&buf).copied().unwrap_or(0),
        }
    }
    live
}

/// Highest live bytes over `events`, starting from `base` bytes already alive.
pub fn peak_bytes(events: &[Event], base: u64) -> u64 {
    let mut sizes = std::collections::HashMap::new();
    let (mut live, mut peak) = (base, base);
    for e in events {
        match *e {
            Event::Alloc { buf, bytes } => {
                sizes.insert(buf, bytes);
                live += bytes;
                peak = peak.max(live);
            }
            Event::Free { buf } => live -= sizes.get(&buf).copied().unwrap_or(0),
        }
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;

    const F32: ElemSizes = ElemSizes { float: 4, int: 4, boolean: 4 };

    /// `y = silu(conv(x))`: conv keeps x, sigmoid keeps z, mul keeps z and sigmoid(z).
    fn conv_silu(tape: &mut Tape) -> Sym {
        let x = tape.input(100);
        let z = tape.op(vec![x], 200, Bound::Compute, Keep::inputs(&[0]), 10);
        let z2 = tape.share(&z);
        let s = tape.op(vec![z2], 200, Bound::Memory, Keep::inputs(&[0]), 0);
        let y = tape.op(vec![z, s], 200, Bound::Memory, Keep::inputs(&[0, 1]), 0);
        tape.op(vec![y], 1, Bound::Compute, Keep::NOTHING, 0)
    }

    #[test]
    fn kept_tensors_outlive_the_forward_and_die_in_backward() {
        let mut tape = Tape::new(Mode::Train(Checkpointing::None), F32);
        let loss = conv_silu(&mut tape);
        tape.end_forward();
        // x (400 B) + z (800) + sigmoid (800) kept; y freed by the sum; loss 4 B.
        assert_eq!(tape.saved_now(), 2000);
        assert_eq!(tape.live_after_forward(), Some(2004));
        let params = tape.backward(loss);
        assert_eq!(params, 40);
        assert_eq!(tape.saved_now(), 0);
        assert_eq!(tape.live_now(), 40, "only the parameter gradients remain");
        assert!(peak_bytes(tape.events(), 0) > 2004);
    }

    #[test]
    fn balanced_checkpointing_keeps_only_compute_bound_outputs() {
        let mut tape = Tape::new(Mode::Train(Checkpointing::Balanced), F32);
        let loss = conv_silu(&mut tape);
        tape.end_forward();
        // x (the conv's input, a leaf) and z (the conv's output, backup of sigmoid/mul) only.
        assert_eq!(tape.saved_now(), 1200);
        tape.backward(loss);
        assert_eq!(tape.live_now(), 40);
    }

    #[test]
    fn inference_keeps_nothing() {
        let mut tape = Tape::new(Mode::Inference, F32);
        let out = conv_silu(&mut tape);
        assert_eq!(tape.saved_now(), 0);
        tape.release(out);
        assert_eq!(tape.live_now(), 0);
        // z, sigmoid(z) and y at once; x is gone once the conv has run.
        assert_eq!(peak_bytes(tape.events(), 0), 800 * 3);
    }

    #[test]
    fn a_view_keeps_its_whole_buffer() {
        let mut tape = Tape::new(Mode::Train(Checkpointing::None), F32);
        let x = tape.input(10);
        let y = tape.op(vec![x], 100, Bound::Compute, Keep::NOTHING, 5);
        let half = tape.view(y, 50, true);
        let out = tape.op(vec![half], 1, Bound::Compute, Keep::inputs(&[0]), 0);
        tape.end_forward();
        assert_eq!(tape.saved_now(), 400);
        tape.backward(out);
        assert_eq!(tape.live_now(), 20);
    }
}
