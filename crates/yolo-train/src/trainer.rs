//! The YOLO11 training loop, as Ultralytics 8.3.x `BaseTrainer` / `DetectionTrainer` runs it:
//! warm-up, per-epoch LR schedule, gradient accumulation towards the nominal batch, clipping,
//! EMA, validation of the EMA each epoch, fitness, patience, checkpoints and exact resume.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use thiserror::Error;
use yolo_data::image_cache::{open_source, CacheOptions};
use yolo_data::{
    Batch, DataError, DatasetConfig, IndexOptions, LabelIndex, Loader, LoaderConfig, LoaderSource, SampleTransform,
    Split, TrainTransform,
};
use yolo_metrics::DetMetrics;
use yolo_model::load::build_model;
use yolo_model::state::{freeze, load_state_dict, materialize, LoadMode, LoadReport};
use yolo_model::{ModelError, ModelSpec, Yolo};

use crate::args::TrainArgs;
use crate::checkpoint::{
    load_checkpoint, save_checkpoint, save_weights_only, Checkpoint, CheckpointError, CheckpointParts, TrainState,
};
use crate::device::{DeviceMemory, MemoryProbe};
use crate::ema::ModelEma;
use crate::loss::{DetectionLoss, LossConfig};
use crate::optim::{clip_grad_norm, freeze_patterns, GradAccumulator, YoloOptimizer, MAX_GRAD_NORM};
use crate::progress::{EpochBar, Verbosity};
use crate::results::{self, Row};
use crate::run_dir::increment_run_dir;
use crate::schedule::{
    nominal_accumulate, optimizer_iterations, scaled_weight_decay, warmup_iters, LrShape, Schedule, Warmup,
};
use crate::validate::{ValConfig, ValOutput, ValSet};

/// Everything that can stop a training run, each naming what failed.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Dataset, labels, images or the loader.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Model construction or weights.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Checkpoint reading or writing.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A setting that cannot work.
    #[error("{0}")]
    Config(String),
    /// The device ran out of memory in a step and the batch could not be lowered further.
    #[error("out of memory at batch {batch}: {message}")]
    OutOfMemory {
        /// Micro-batch of the failed step.
        batch: usize,
        /// The backend's message.
        message: String,
    },
    /// Run-folder files.
    #[error("{path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// Mean losses `[box, cls, dfl]` (un-multiplied by the batch, as Ultralytics logs them).
pub type Losses = [f32; 3];

/// What one optimisation micro-step did.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Loss items of this batch.
    pub losses: Losses,
    /// Ground-truth boxes in the batch.
    pub instances: usize,
    /// Whether an optimizer step happened after it.
    pub stepped: bool,
}

/// The result of [`Trainer::fit`].
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Run folder.
    pub dir: PathBuf,
    /// `weights/last.safetensors`.
    pub last: PathBuf,
    /// `weights/best.safetensors`, when validation ran.
    pub best: Option<PathBuf>,
    /// Metrics of the final validation of `best`.
    pub metrics: Option<DetMetrics>,
    /// `results.csv` rows.
    pub results: Vec<Row>,
}

/// A training run in progress on backend `B`.
pub struct Trainer<B: AutodiffBackend> {
    args: TrainArgs,
    dir: PathBuf,
    device: B::Device,
    memory: MemoryProbe,
    verbosity: Verbosity,
    names: Vec<String>,
    model: Yolo<B>,
    ema: ModelEma<B>,
    optimizer: YoloOptimizer<B>,
    accum: GradAccumulator,
    criterion: DetectionLoss,
    loader: Loader,
    train_transform: TrainTransform,
    valset: Option<ValSet>,
    schedule: Schedule,
    warmup: Warmup,
    batch: usize,
    nominal_accumulate: usize,
    last_opt_step: i64,
    start_epoch: usize,
    next_epoch: usize,
    started: Instant,
    /// Training seconds before this process (a resumed run's earlier epochs).
    time_offset: f64,
    best_fitness: Option<f64>,
    best_epoch: Option<usize>,
    results: Vec<Row>,
    train_labels: Vec<(usize, [f32; 4])>,
    /// Training images (to rebuild the loader when the batch changes).
    source: Arc<dyn LoaderSource>,
    /// Validation index (to rebuild the validation loader when the batch changes).
    val_index: Option<LabelIndex>,
    /// Out-of-memory back-offs so far.
    back_offs: usize,
    /// Batches of the current epoch the next [`Trainer::train_epoch`] skips (after [`Trainer::set_batch`]).
    skip_batches: usize,
}

/// Out-of-memory back-offs (each halving the micro-batch) before a run gives up.
pub const MAX_BACK_OFFS: usize = 3;

/// Running sums of an epoch, kept across an out-of-memory back-off.
#[derive(Debug, Default)]
struct EpochSums {
    losses: [f64; 3],
    batches: usize,
    images: usize,
}

/// The dataset pieces a run needs.
struct DataParts {
    names: Vec<String>,
    source: Arc<dyn LoaderSource>,
    val_index: Option<LabelIndex>,
    train_len: usize,
    train_labels: Vec<(usize, [f32; 4])>,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Sets a run up (or resumes one when `args.resume` is on): dataset index and image
    /// cache, model, optimizer, EMA, schedules, loaders and the run folder. Caps the process's
    /// malloc arenas first ([`yolo_memory::process::limit_malloc_arenas`]) so host RSS stays flat.
    pub fn new(args: TrainArgs, device: B::Device, memory: MemoryProbe, verbosity: Verbosity) -> Result<Self, TrainError> {
        yolo_memory::process::limit_malloc_arenas(yolo_memory::process::TRAIN_MALLOC_ARENAS);
        let resume = resume_checkpoint(&args)?;
        let args = match &resume {
            Some((_, ckpt)) => resumed_args(&ckpt.state.args, &args),
            None => args,
        };
        let batch = args.batch.fixed().ok_or_else(|| {
            TrainError::Config(format!(
                "batch={:?} needs the memory planner (`yolo train batch=-1`); give a fixed batch here",
                args.batch
            ))
        })?;
        let imgsz = args.imgsz_checked();
        let data = load_data(&args, imgsz, verbosity)?;
        let nc = data.names.len();
        let (model, transferred) = seeded_model::<B>(&args, nc, &device)?;
        if let (Some(r), true) = (transferred, verbosity.is_on()) {
            println!("Transferred {}/{} items from pretrained weights", r.loaded, r.loaded + r.kept.len());
        }
        let frozen = freeze_patterns(&args.freeze.as_ref().map(|f| f.layers()).unwrap_or_default());
        let model = freeze(model, |name| frozen.iter().any(|p| name.contains(p.as_str())));
        let dir = match &resume {
            Some((path, _)) => run_dir_of(path),
            None => increment_run_dir(&args.project, &args.name, args.exist_ok).map_err(io_err(&args.project))?,
        };
        std::fs::create_dir_all(dir.join("weights")).map_err(io_err(&dir))?;

        let nominal = args.accumulate.unwrap_or_else(|| nominal_accumulate(args.nbs, batch)).max(1);
        let weight_decay = scaled_weight_decay(args.weight_decay, batch, nominal, args.nbs);
        let iterations = optimizer_iterations(data.train_len, batch, args.nbs, args.epochs);
        let choice = args.optimizer_args().resolve(nc, iterations);
        let optimizer = YoloOptimizer::new(&model, &choice, weight_decay, &frozen);
        let start_epoch = resume.as_ref().map_or(0, |(_, c)| c.state.epoch + 1);
        let train_transform = TrainTransform::new(&args.augment, imgsz, args.rect).map_err(|e| TrainError::Config(e.to_string()))?;
        let loader_cfg = train_loader_config(&args, batch, start_epoch);
        let loader = Loader::new(Arc::clone(&data.source), Arc::new(train_transform.clone()), loader_cfg);
        let nb = loader.batches_per_epoch();
        let valset = data.val_index.as_ref().map(|index| ValSet::new(index, data.names.clone(), val_config(&args, batch)));
        let warmup = Warmup {
            nw: warmup_iters(args.warmup_epochs, nb),
            nbs: args.nbs,
            batch,
            warmup_bias_lr: choice.warmup_bias_lr(),
            warmup_momentum: args.warmup_momentum,
            momentum: args.momentum,
        };
        let schedule = Schedule {
            shape: if args.cos_lr { LrShape::Cosine } else { LrShape::Linear },
            epochs: args.epochs,
            lrf: args.lrf,
        };
        let loss_cfg = LossConfig {
            box_gain: args.box_gain as f32,
            cls_gain: args.cls_gain as f32,
            dfl_gain: args.dfl_gain as f32,
            ..LossConfig::default()
        };
        let criterion = DetectionLoss::new(nc, [8.0, 16.0, 32.0], loss_cfg);
        let ema = ModelEma::new(&model);
        let mut trainer = Self {
            args,
            dir,
            device,
            memory,
            verbosity,
            names: data.names,
            model,
            ema,
            optimizer,
            accum: GradAccumulator::new(),
            criterion,
            loader,
            train_transform,
            valset,
            schedule,
            warmup,
            batch,
            nominal_accumulate: nominal,
            last_opt_step: -1,
            start_epoch: 0,
            next_epoch: 0,
            started: Instant::now(),
            time_offset: 0.0,
            best_fitness: None,
            best_epoch: None,
            results: Vec::new(),
            train_labels: data.train_labels,
            source: data.source,
            val_index: data.val_index,
            back_offs: 0,
            skip_batches: 0,
        };
        if let Some((path, ckpt)) = resume {
            trainer.restore(&path, &ckpt)?;
        }
        Ok(trainer)
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model being trained (raw weights, not the EMA).
    pub fn model(&self) -> &Yolo<B> {
        &self.model
    }

    /// The EMA model (what is validated and saved).
    pub fn ema(&self) -> &Yolo<B::InnerBackend> {
        self.ema.model()
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.loader.batches_per_epoch()
    }

    /// First epoch [`Self::fit`] will run (after a resume: the one after the checkpoint's).
    pub fn start_epoch(&self) -> usize {
        self.start_epoch
    }

    fn restore(&mut self, path: &Path, ckpt: &Checkpoint) -> Result<(), TrainError> {
        let file = path.display().to_string();
        let spec: ModelSpec = self.model.spec();
        let (model, _) = load_state_dict(Yolo::new(spec, &self.device), &ckpt.raw(), &file, LoadMode::Strict)?;
        let frozen = freeze_patterns(&self.args.freeze.as_ref().map(|f| f.layers()).unwrap_or_default());
        self.model = freeze(model, |name| frozen.iter().any(|p| name.contains(p.as_str())));
        let (ema, _) = load_state_dict(self.model.valid(), &ckpt.ema(), &file, LoadMode::Strict)?;
        self.ema = ModelEma::resume(ema, ckpt.state.ema_updates);
        let choice = *self.optimizer.choice();
        let wd = self.optimizer.groups().iter().map(|g| g.hyper.weight_decay).fold(0.0, f64::max);
        self.optimizer = YoloOptimizer::new(&self.model, &choice, wd, &frozen);
        self.optimizer
            .load_state(&ckpt.state.optimizer, &ckpt.tensors.tensors, &self.device)
            .map_err(|e| TrainError::Config(format!("{file}: {e}")))?;
        self.accum = GradAccumulator::import(&self.model, &ckpt.tensors.tensors, ckpt.state.pending_micro_batches, &self.device);
        self.last_opt_step = ckpt.state.last_opt_step;
        self.start_epoch = ckpt.state.epoch + 1;
        self.next_epoch = self.start_epoch;
        self.best_fitness = ckpt.state.best_fitness;
        self.best_epoch = ckpt.state.best_epoch;
        self.results = ckpt.state.results.clone();
        self.time_offset = self.results.last().and_then(|r| r.get("time")).copied().unwrap_or(0.0);
        if self.close_mosaic_epoch().is_some_and(|e| self.start_epoch > e) {
            self.close_mosaic(self.start_epoch);
        }
        if self.verbosity.is_on() {
            println!("Resuming {} from epoch {} of {}", file, self.start_epoch + 1, self.args.epochs);
        }
        Ok(())
    }

    /// `epochs − close_mosaic`; `None` when that is negative, where Ultralytics' equality test
    /// never fires and mosaic stays on for the whole run.
    fn close_mosaic_epoch(&self) -> Option<usize> {
        let close = self.args.augment.close_mosaic as usize;
        (close > 0).then(|| self.args.epochs.checked_sub(close)).flatten()
    }

    fn close_mosaic(&mut self, epoch: usize) {
        let mut transform = self.train_transform.clone();
        transform.close_mosaic();
        self.loader.set_epoch_transform(epoch, Arc::new(transform) as Arc<dyn SampleTransform>);
    }

    /// Trains until `epochs` or early stopping, validating and checkpointing every epoch,
    /// then validates `best` once more with plots.
    pub fn fit(mut self) -> Result<TrainOutcome, TrainError> {
        self.write_run_header()?;
        while self.next_epoch < self.args.epochs {
            if self.run_epoch()? {
                break;
            }
        }
        self.finish()
    }

    /// Trains the next epoch, validates, writes results and checkpoints. Returns whether
    /// training should stop (patience).
    pub fn run_epoch(&mut self) -> Result<bool, TrainError> {
        let epoch = self.next_epoch;
        if self.close_mosaic_epoch() == Some(epoch) {
            if self.verbosity.is_on() {
                println!("Closing dataloader mosaic");
            }
            self.close_mosaic(epoch);
        }
        let train_losses = self.train_epoch(epoch)?;
        let elapsed = self.time_offset + self.started.elapsed().as_secs_f64();
        let stop = self.end_epoch(epoch, train_losses, elapsed)?;
        self.next_epoch += 1;
        Ok(stop)
    }

    fn write_run_header(&self) -> Result<(), TrainError> {
        let args_path = self.dir.join("args.yaml");
        std::fs::write(&args_path, self.args.to_yaml()).map_err(io_err(&args_path))?;
        if self.args.plots && self.start_epoch == 0 {
            self.plot_labels();
        }
        if self.verbosity.is_on() {
            println!("{}", self.optimizer.summary());
            println!(
                "Image sizes {} train, {} val; {} batches of {} per epoch, accumulate {}",
                self.args.imgsz_checked(),
                self.args.imgsz_checked(),
                self.loader.batches_per_epoch(),
                self.batch,
                self.nominal_accumulate
            );
            println!("Logging results to {}\nStarting training for {} epochs...", self.dir.display(), self.args.epochs);
        }
        Ok(())
    }

    /// One epoch over the loader; returns the mean train losses. A step that runs out of device
    /// memory halves the micro-batch (at most [`MAX_BACK_OFFS`] times, see [`Self::set_batch`])
    /// and the epoch continues from the first image not yet trained.
    pub fn train_epoch(&mut self, epoch: usize) -> Result<Losses, TrainError> {
        self.schedule.apply(epoch, &mut self.optimizer);
        let mut sums = EpochSums::default();
        loop {
            match self.train_batches(epoch, &mut sums) {
                Err(TrainError::OutOfMemory { batch, message }) if batch > 1 && self.back_offs < MAX_BACK_OFFS => {
                    self.back_offs += 1;
                    if self.verbosity.is_on() {
                        eprintln!(
                            "WARNING: out of memory at batch {batch} ({message}); continuing epoch {} at batch {} from image {}",
                            epoch + 1,
                            batch / 2,
                            sums.images
                        );
                    }
                    B::memory_cleanup(&self.device);
                    self.set_batch(batch / 2, epoch, sums.images);
                }
                other => return other,
            }
        }
    }

    fn train_batches(&mut self, epoch: usize, sums: &mut EpochSums) -> Result<Losses, TrainError> {
        let nb = self.loader.batches_per_epoch();
        let mut bar = EpochBar::new(self.verbosity, epoch, self.args.epochs, nb);
        let first = std::mem::take(&mut self.skip_batches);
        for _ in 0..first {
            self.loader.next_batch()?;
        }
        for i in first..nb {
            let Some(batch) = self.loader.next_batch()? else { break };
            let ni = (i + nb * epoch) as i64;
            if epoch == 0 && i < 3 && self.args.plots {
                self.plot_batch(&batch, i);
            }
            let report = self.guarded_step(&batch, ni)?;
            let (instances, width) = (report.instances, batch.shape.1);
            sums.images += batch.len();
            self.loader.recycle(batch);
            for (s, l) in sums.losses.iter_mut().zip(report.losses) {
                *s += f64::from(l);
            }
            sums.batches += 1;
            let mean = sums.losses.map(|s| (s / sums.batches as f64) as f32);
            bar.update(i + 1, mean, instances, width, self.memory_line());
        }
        let _ = self.loader.next_batch()?; // end-of-epoch marker: the next call starts the next epoch
        bar.finish();
        Ok(sums.losses.map(|s| (s / sums.batches.max(1) as f64) as f32))
    }

    /// [`Self::train_step`], with a backend panic that reports an out-of-memory turned into
    /// [`TrainError::OutOfMemory`] (other panics continue).
    fn guarded_step(&mut self, batch: &Batch, ni: i64) -> Result<StepReport, TrainError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.train_step(batch, ni))) {
            Ok(report) => report,
            Err(payload) => {
                let message = crate::device::panic_message(payload.as_ref());
                if !yolo_memory::is_out_of_memory(&message) {
                    std::panic::resume_unwind(payload);
                }
                Err(TrainError::OutOfMemory { batch: self.batch, message })
            }
        }
    }

    /// Changes the micro-batch mid-run and rebuilds everything that depends on it: the train
    /// loader (the next [`Self::train_epoch`] of `epoch` starts at image `images_done`, rounded
    /// down to a whole batch), the validation loader, the
    /// accumulation (explicit `accumulate` scales so the effective batch stays), the scaled weight
    /// decay, the warm-up length and the global batch index of the last optimizer step.
    pub fn set_batch(&mut self, batch: usize, epoch: usize, images_done: usize) {
        let (old, nb_old) = (self.batch, self.loader.batches_per_epoch());
        self.batch = batch;
        self.args.batch = crate::args::BatchArg::Fixed(batch);
        self.args.accumulate = self.args.accumulate.map(|a| (a * old).div_ceil(batch).max(1));
        self.args.val_batch = self.args.val_batch.map(|v| v.min(2 * batch));
        self.nominal_accumulate = self.args.accumulate.unwrap_or_else(|| nominal_accumulate(self.args.nbs, batch)).max(1);
        let wd = scaled_weight_decay(self.args.weight_decay, batch, self.nominal_accumulate, self.args.nbs);
        for g in self.optimizer.groups_mut().iter_mut().filter(|g| g.hyper.group == crate::optim::GroupKind::Weight) {
            g.hyper.weight_decay = wd;
        }
        let cfg = train_loader_config(&self.args, batch, epoch);
        self.loader = Loader::new(Arc::clone(&self.source), Arc::new(self.train_transform.clone()), cfg);
        if self.close_mosaic_epoch().is_some_and(|e| epoch >= e) {
            self.close_mosaic(epoch);
        }
        self.skip_batches = images_done / batch;
        let nb = self.loader.batches_per_epoch();
        self.warmup = Warmup { nw: warmup_iters(self.args.warmup_epochs, nb), batch, ..self.warmup };
        if self.last_opt_step >= 0 {
            let (e, i) = (self.last_opt_step as usize / nb_old, self.last_opt_step as usize % nb_old);
            self.last_opt_step = (e * nb + i * old / batch) as i64;
        }
        if let Some(index) = &self.val_index {
            self.valset = Some(ValSet::new(index, self.names.clone(), val_config(&self.args, batch)));
        }
    }

    /// Micro-batch now.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Micro-batches per optimizer step now (outside warm-up).
    pub fn accumulate(&self) -> usize {
        self.nominal_accumulate
    }

    /// Warm-up settings now.
    pub fn warmup(&self) -> &Warmup {
        &self.warmup
    }

    /// Validation images per batch now.
    pub fn val_batch(&self) -> usize {
        val_config(&self.args, self.batch).batch
    }

    /// Forward, loss, backward and (every `accumulate` batches) an optimizer step on one batch.
    /// `ni` is the global batch index (`i + nb · epoch`).
    pub fn train_step(&mut self, batch: &Batch, ni: i64) -> Result<StepReport, TrainError> {
        let epoch_lf = self.schedule.lf(batch.epoch);
        let accumulate = self.warmup.apply(ni as u64, epoch_lf, &mut self.optimizer).unwrap_or(self.nominal_accumulate);
        let x = batch_tensor::<B>(batch, &self.device);
        let maps = self.model.forward_train(x);
        let out = self.criterion.forward(maps, &batch.labels);
        let losses = [out.box_loss, out.cls_loss, out.dfl_loss];
        if losses.iter().any(|l| !l.is_finite()) {
            return Err(TrainError::Config(format!(
                "non-finite loss {losses:?} at epoch {} batch {}; lower lr0 or check the labels",
                batch.epoch + 1,
                batch.index
            )));
        }
        let grads = GradientsParams::from_grads(out.total.backward(), &self.model);
        self.accum.accumulate(&self.model, grads);
        let stepped = ni - self.last_opt_step >= accumulate as i64;
        if stepped {
            self.optimizer_step();
            self.last_opt_step = ni;
        }
        Ok(StepReport { losses, instances: batch.labels.len(), stepped })
    }

    fn optimizer_step(&mut self) {
        let mut grads = self.accum.take();
        clip_grad_norm(&self.model, &mut grads, MAX_GRAD_NORM);
        let model = self.model.clone();
        self.model = self.optimizer.step(model, grads);
        self.ema.update(&self.model);
    }

    /// Validation, results row, checkpoints, early stopping. Returns whether to stop.
    fn end_epoch(&mut self, epoch: usize, train: Losses, elapsed: f64) -> Result<bool, TrainError> {
        let final_epoch = epoch + 1 == self.args.epochs;
        let val = if self.args.val || final_epoch { self.validate()? } else { None };
        let fitness = val.as_ref().map(|v| v.metrics.fitness());
        if let Some(f) = fitness
            && self.best_fitness.is_none_or(|b| f >= b)
        {
            self.best_fitness = Some(f);
            self.best_epoch = Some(epoch);
        }
        let row = self.results_row(epoch, elapsed, train, val.as_ref());
        self.results.push(row);
        self.save_epoch(epoch, fitness)?;
        let patience_hit = self.args.patience > 0
            && self.best_epoch.is_some_and(|b| epoch.saturating_sub(b) >= self.args.patience);
        if patience_hit && self.verbosity.is_on() {
            println!(
                "Stopping training early as no improvement observed in last {} epochs. Best results observed at epoch {}",
                self.args.patience,
                self.best_epoch.map_or(0, |b| b + 1)
            );
        }
        Ok(patience_hit)
    }

    /// Validates the EMA model. A batch that runs out of device memory halves the validation
    /// batch (down to 1) and validation starts again, instead of ending the run (Ultralytics
    /// #26290: its OOM rescue covers training only).
    fn validate(&mut self) -> Result<Option<ValOutput>, TrainError> {
        loop {
            let Some(set) = self.valset.as_ref() else { return Ok(None) };
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                set.run(self.ema.model(), Some(&self.criterion), &self.device, |_, _| {})
            }));
            let payload = match run {
                Ok(out) => {
                    let out = out?;
                    if self.verbosity.is_on() {
                        println!("{}", yolo_metrics::summary_table(&out.metrics, set.names()));
                    }
                    return Ok(Some(out));
                }
                Err(payload) => payload,
            };
            let message = crate::device::panic_message(payload.as_ref());
            let val_batch = self.val_batch();
            if !yolo_memory::is_out_of_memory(&message) || val_batch <= 1 {
                std::panic::resume_unwind(payload);
            }
            if self.verbosity.is_on() {
                eprintln!("WARNING: out of memory in validation at batch {val_batch} ({message}); validating at batch {}", val_batch / 2);
            }
            B::memory_cleanup(&self.device);
            self.args.val_batch = Some(val_batch / 2);
            if let Some(index) = &self.val_index {
                self.valset = Some(ValSet::new(index, self.names.clone(), val_config(&self.args, self.batch)));
            }
        }
    }

    fn results_row(&self, epoch: usize, elapsed: f64, train: Losses, val: Option<&ValOutput>) -> Row {
        let mut row = Row::new();
        let mut put = |k: &str, v: f64| {
            row.insert(k.to_string(), v);
        };
        put("epoch", (epoch + 1) as f64);
        put("time", elapsed);
        for (k, v) in ["train/box_loss", "train/cls_loss", "train/dfl_loss"].iter().zip(train) {
            put(k, f64::from(v));
        }
        if let Some(v) = val {
            let m = &v.metrics;
            put("metrics/precision(B)", m.mp);
            put("metrics/recall(B)", m.mr);
            put("metrics/mAP50(B)", m.map50);
            put("metrics/mAP50-95(B)", m.map50_95);
            if let Some(l) = v.loss {
                for (k, x) in ["val/box_loss", "val/cls_loss", "val/dfl_loss"].iter().zip(l) {
                    put(k, f64::from(x));
                }
            }
        }
        for (k, lr) in self.optimizer.lrs() {
            put(&k, lr);
        }
        if let Some(rss) = yolo_memory::process::rss_bytes() {
            put("mem/host_rss_gib", yolo_memory::process::gib(rss));
        }
        if let Some(m) = (self.memory)() {
            put("mem/device_in_use_gib", yolo_memory::process::gib(m.in_use));
            put("mem/device_reserved_gib", yolo_memory::process::gib(m.reserved));
        }
        row
    }

    fn state(&self, epoch: usize) -> TrainState {
        TrainState {
            version: 1,
            epoch,
            best_fitness: self.best_fitness,
            best_epoch: self.best_epoch,
            ema_updates: self.ema.updates(),
            last_opt_step: self.last_opt_step,
            pending_micro_batches: self.accum.micro_batches(),
            optimizer: self.optimizer.scalars(),
            args: self.args.clone(),
            names: self.names.clone(),
            results: self.results.clone(),
        }
    }

    fn save_epoch(&self, epoch: usize, fitness: Option<f64>) -> Result<(), TrainError> {
        let csv = self.dir.join("results.csv");
        results::write_csv(&csv, &self.results).map_err(io_err(&csv))?;
        if self.args.plots
            && let Err(e) = results::plot(&self.dir.join("results.png"), &self.results)
                .and_then(|()| crate::memory_log::memory_png(&self.dir, &self.results))
        {
            eprintln!("WARNING: {e}");
        }
        if !self.args.save && epoch + 1 != self.args.epochs {
            return Ok(());
        }
        let state = self.state(epoch);
        let weights = self.dir.join("weights");
        let parts = CheckpointParts {
            model: &self.model,
            ema: self.ema.model(),
            optimizer: self.optimizer.state(),
            pending: self.accum.export(&self.model),
        };
        save_checkpoint(&weights.join("last.safetensors"), parts, &state)?;
        if fitness.is_some() && self.best_epoch == Some(epoch) {
            save_weights_only(&weights.join("best.safetensors"), self.ema.model(), &state)?;
        }
        if self.args.save_period > 0 && (epoch + 1).is_multiple_of(self.args.save_period as usize) {
            save_weights_only(&weights.join(format!("epoch{}.safetensors", epoch + 1)), self.ema.model(), &state)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<TrainOutcome, TrainError> {
        let weights = self.dir.join("weights");
        let last = weights.join("last.safetensors");
        let best_path = weights.join("best.safetensors");
        let best = best_path.exists().then_some(best_path);
        let mut metrics = None;
        if let (Some(path), Some(set)) = (&best, &self.valset) {
            if self.verbosity.is_on() {
                println!("\nValidating {}...", path.display());
            }
            let sd = yolo_model::weights::read_safetensors(path).map_err(ModelError::from)?;
            let file = path.display().to_string();
            let fresh = Yolo::<B::InnerBackend>::new(self.model.spec(), &self.device);
            let (model, _) = load_state_dict(fresh, &sd, &file, LoadMode::Strict)?;
            let out = set.run(&model, None, &self.device, |_, _| {})?;
            if self.verbosity.is_on() {
                println!("{}", yolo_metrics::summary_table(&out.metrics, set.names()));
            }
            if self.args.plots
                && let Err(e) = crate::plots::validation_curves(&out.metrics, set.names(), &self.dir)
            {
                eprintln!("WARNING: {e}");
            }
            metrics = Some(out.metrics);
        }
        if self.verbosity.is_on() {
            println!("Results saved to {}", self.dir.display());
        }
        Ok(TrainOutcome { dir: self.dir, last, best, metrics, results: self.results })
    }

    fn memory_line(&self) -> String {
        let host = yolo_memory::process::rss_bytes().map_or(0.0, yolo_memory::process::gib);
        match (self.memory)() {
            Some(DeviceMemory { in_use, reserved }) => format!(
                "{:.2}G/{:.2}G dev, {host:.2}G host",
                yolo_memory::process::gib(in_use),
                yolo_memory::process::gib(reserved)
            ),
            None => format!("{host:.2}G host"),
        }
    }

    fn plot_labels(&self) {
        let mut counts = vec![0usize; self.names.len()];
        let mut boxes = Vec::with_capacity(self.train_labels.len());
        for (c, b) in &self.train_labels {
            if let Some(n) = counts.get_mut(*c) {
                *n += 1;
            }
            boxes.push(*b);
        }
        let classes: Vec<(String, usize)> = self.names.iter().cloned().zip(counts).collect();
        if let Err(e) = yolo_plot::labels_png(self.dir.join("labels.png"), &classes, &boxes) {
            eprintln!("WARNING: {e}");
        }
    }

    fn plot_batch(&self, batch: &Batch, i: usize) {
        let (h, w) = (batch.shape.0 as usize, batch.shape.1 as usize);
        let path = self.dir.join(format!("train_batch{i}.jpg"));
        if let Err(e) = yolo_plot::batch_grid(&path, &batch.images, batch.len(), h, w, &batch.labels, &self.names, yolo_plot::DEFAULT_MAX_SIDE) {
            eprintln!("WARNING: {e}");
        }
    }
}

/// The training loader's settings at micro-batch `batch`, first epoch `start_epoch`.
fn train_loader_config(args: &TrainArgs, batch: usize, start_epoch: usize) -> LoaderConfig {
    LoaderConfig {
        rect: args.rect,
        shuffle: !args.rect,
        start_epoch,
        ..LoaderConfig::train(args.imgsz_checked(), batch, args.loader_workers(), args.seed)
    }
}

/// Validation settings for training micro-batch `batch` (`val_batch`, default 2 × batch).
fn val_config(args: &TrainArgs, batch: usize) -> ValConfig {
    ValConfig {
        imgsz: args.imgsz_checked(),
        batch: args.val_batch.unwrap_or(2 * batch),
        rect: true,
        conf: args.conf.unwrap_or(0.001),
        iou: args.iou,
        max_det: args.max_det,
        single_cls: args.single_cls,
        workers: args.loader_workers(),
        shape_buckets: crate::validate::shape_buckets_for(&args.device),
    }
}

/// Serialises seeding and initialisation: the backend RNG is process-wide, so two runs
/// building models at once (parallel tests, several trainers) would otherwise interleave draws.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The model of `args.model` for `nc` classes, its random initialisation drawn after seeding
/// the backend with `seed + 1` (Ultralytics `init_seeds`).
fn seeded_model<B: AutodiffBackend>(args: &TrainArgs, nc: usize, device: &B::Device) -> Result<(Yolo<B>, Option<LoadReport>), TrainError> {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    B::seed(device, args.seed + 1);
    let (model, _, report) = build_model::<B>(&args.model, Some(nc), device)?;
    materialize(&model);
    match args.pretrained.value() {
        Some(path) if report.is_none() => transfer_from(model, Path::new(path)),
        _ => Ok((model, report)),
    }
}

/// `model=yolo11n.yaml pretrained=weights`: copy every tensor whose name and shape match
/// (Ultralytics `intersect_dicts`), keep the rest at init.
fn transfer_from<B: AutodiffBackend>(model: Yolo<B>, path: &Path) -> Result<(Yolo<B>, Option<LoadReport>), TrainError> {
    let sd = yolo_model::weights::read_weights(path).map_err(ModelError::from)?;
    let (model, report) = load_state_dict(model, &sd, &path.display().to_string(), LoadMode::Transfer)?;
    if report.loaded == 0 {
        return Err(TrainError::Config(format!("pretrained={}: no tensor fits this model", path.display())));
    }
    Ok((model, Some(report)))
}

/// `[B, 3, H, W]` u8 → f32 in [0, 1] on the device.
pub fn batch_tensor<B: AutodiffBackend>(batch: &Batch, device: &B::Device) -> Tensor<B, 4> {
    let (h, w) = (batch.shape.0 as usize, batch.shape.1 as usize);
    let data = TensorData::new(batch.images.clone(), [batch.len(), 3, h, w]);
    Tensor::<B, 4, burn::tensor::Int>::from_data(data.convert::<i32>(), device).float().div_scalar(255.0)
}

fn load_data(args: &TrainArgs, imgsz: u32, verbosity: Verbosity) -> Result<DataParts, TrainError> {
    let data = DatasetConfig::load(&args.data)?;
    let names = if args.single_cls { vec!["item".to_string()] } else { data.names.clone() };
    let opts = IndexOptions {
        single_cls: args.single_cls,
        fraction: args.fraction,
        workers: args.loader_workers(),
        verbose: verbosity.is_on(),
        ..Default::default()
    };
    let train_index = LabelIndex::load(&data, Split::Train, &opts)?;
    let val_index = LabelIndex::load(&data, Split::Val, &IndexOptions { fraction: 1.0, ..opts.clone() })?;
    let cache = args.cache_mode().map_err(TrainError::Config)?;
    let cache_opts = CacheOptions { workers: args.loader_workers(), verbose: verbosity.is_on(), ..CacheOptions::new(imgsz, cache) };
    let train_labels = train_index
        .images
        .iter()
        .flat_map(|im| im.labels.cls.iter().zip(&im.labels.boxes).map(|(&c, &b)| (c as usize, b)))
        .collect();
    Ok(DataParts {
        names,
        train_len: train_index.len(),
        source: open_source(&train_index, &cache_opts)?,
        val_index: Some(val_index),
        train_labels,
    })
}

/// The checkpoint to resume from, if `resume` is on: the given path, or the newest
/// `weights/last.safetensors` under `project`.
fn resume_checkpoint(args: &TrainArgs) -> Result<Option<(PathBuf, Checkpoint)>, TrainError> {
    if !args.resume.is_on() {
        return Ok(None);
    }
    let path = match args.resume.value() {
        Some(p) => PathBuf::from(p),
        None => newest_last(&args.project).ok_or_else(|| {
            TrainError::Config(format!("resume=True but no weights/last.safetensors under {}", args.project.display()))
        })?,
    };
    Ok(Some((path.clone(), load_checkpoint(&path)?)))
}

fn newest_last(project: &Path) -> Option<PathBuf> {
    std::fs::read_dir(project)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("weights/last.safetensors"))
        .filter(|p| p.exists())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// `run/weights/last.safetensors` → `run`.
fn run_dir_of(checkpoint: &Path) -> PathBuf {
    checkpoint.parent().and_then(Path::parent).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The saved arguments, with the few a resume may change (device, workers) taken from `now`.
fn resumed_args(saved: &TrainArgs, now: &TrainArgs) -> TrainArgs {
    TrainArgs {
        device: now.device.clone(),
        workers: now.workers,
        resume: now.resume.clone(),
        ..saved.clone()
    }
}
