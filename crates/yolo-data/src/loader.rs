//! Batch loader: persistent worker threads, bounded prefetch, bit-identical for any worker count.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::augment::{TrainTransform, ValTransform};
use crate::collate::{Batch, BatchBuilder};
use crate::error::DataError;
use crate::rect::{RECT_PAD_TRAIN, RECT_PAD_VAL, bucket_rect_shape, rect_batch_shapes};
use crate::sample::{ImageSource, Sample};

/// An [`ImageSource`] that also knows each image's file and original size (for
/// [`Batch::paths`] and rectangular batches).
pub trait LoaderSource: ImageSource + Send {
    /// Image file of `index`.
    fn path(&self, index: usize) -> &Path;

    /// Original `(width, height)` px of `index`, after EXIF orientation.
    fn original_size(&self, index: usize) -> (u32, u32);
}

/// Turns source image `index` into one batch entry of `shape` `(h, w)` px (`imgsz × imgsz`, or
/// the batch's rect shape), drawing every random number from `rng`.
pub trait SampleTransform: Send + Sync {
    /// The transformed sample; its image must be exactly `shape`.
    fn apply(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: (u32, u32),
        rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError>;
}

impl SampleTransform for TrainTransform {
    /// [`TrainTransform::sample_in`] with the batch shape (mosaic samples are `imgsz` square).
    fn apply(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: (u32, u32),
        rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        self.sample_in(source, index, Some(shape), rng)
    }
}

impl SampleTransform for ValTransform {
    /// The validation letterbox to the batch shape (no random numbers).
    fn apply(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: (u32, u32),
        _rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        Ok(self.sample(source, index, Some(shape))?.0)
    }
}

/// How batches are formed and delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Images per batch (the last batch of an epoch may be smaller unless `drop_last`).
    pub batch: usize,
    /// Worker threads; 0 builds batches in the caller's thread on demand.
    pub workers: usize,
    /// Reshuffle every epoch (ignored with `rect`).
    pub shuffle: bool,
    /// Seed of the epoch orders and of every sample's random numbers.
    pub seed: u64,
    /// Rectangular batches sorted by aspect ratio (Ultralytics `set_rectangle`), no shuffle.
    pub rect: bool,
    /// `pad` of rect batch shapes: [`RECT_PAD_TRAIN`] 0.0 or [`RECT_PAD_VAL`] 0.5.
    pub rect_pad: f64,
    /// Round the short side of rect shapes up to a multiple of this many px
    /// ([`bucket_rect_shape`]; e.g. [`crate::rect::RECT_BUCKET_PX`]); 0 keeps Ultralytics' shapes.
    pub rect_bucket: u32,
    /// Drop the last, smaller batch of each epoch.
    pub drop_last: bool,
    /// Batches in flight at most (queued, being built, or built and waiting); 0 = 2 per worker.
    pub prefetch: usize,
    /// Square batch side and rect base size, px.
    pub imgsz: u32,
    /// Rect shapes are multiples of this, px.
    pub stride: u32,
    /// First epoch delivered (to resume a run with the same orders).
    pub start_epoch: usize,
}

impl LoaderConfig {
    /// Training: shuffled square `imgsz` batches, Ultralytics defaults (stride 32).
    pub fn train(imgsz: u32, batch: usize, workers: usize, seed: u64) -> LoaderConfig {
        LoaderConfig {
            batch,
            workers,
            shuffle: true,
            seed,
            rect: false,
            rect_pad: RECT_PAD_TRAIN,
            rect_bucket: 0,
            drop_last: false,
            prefetch: 0,
            imgsz,
            stride: 32,
            start_epoch: 0,
        }
    }

    /// Validation: rect batches with pad 0.5, in order.
    pub fn val(imgsz: u32, batch: usize, workers: usize) -> LoaderConfig {
        LoaderConfig {
            shuffle: false,
            rect: true,
            rect_pad: RECT_PAD_VAL,
            ..LoaderConfig::train(imgsz, batch, workers, 0)
        }
    }

    /// Batches in flight at most: `prefetch`, or 2 per worker (at least 1).
    pub fn in_flight(&self) -> usize {
        match self.prefetch {
            0 => (2 * self.workers).max(1),
            n => n,
        }
    }
}

/// Rect batches: the fixed image order and one `(h, w)` px shape per batch.
type RectPlan = (Vec<usize>, Vec<(u32, u32)>);

/// Order and shape of every batch of every epoch.
struct Plan {
    len: usize,
    batch: usize,
    batches: usize,
    shuffle: bool,
    seed: u64,
    /// Rect: fixed order and one shape per batch; else identity / shuffled and square.
    rect: Option<RectPlan>,
    square: (u32, u32),
}

impl Plan {
    fn new(source: &dyn LoaderSource, cfg: &LoaderConfig) -> Plan {
        let (len, batch) = (source.len(), cfg.batch.max(1));
        let batches = if cfg.drop_last {
            len / batch
        } else {
            len.div_ceil(batch)
        };
        let rect = cfg.rect.then(|| {
            let ars: Vec<f64> = (0..len)
                .map(|i| {
                    let (w, h) = source.original_size(i);
                    f64::from(h) / f64::from(w.max(1))
                })
                .collect();
            let (order, shapes) =
                rect_batch_shapes(&ars, batch, cfg.imgsz, cfg.stride, cfg.rect_pad);
            (
                order,
                shapes
                    .into_iter()
                    .map(|s| bucket_rect_shape(s, cfg.rect_bucket))
                    .collect(),
            )
        });
        Plan {
            len,
            batch,
            batches,
            shuffle: cfg.shuffle && !cfg.rect,
            seed: cfg.seed,
            rect,
            square: (cfg.imgsz, cfg.imgsz),
        }
    }

    /// Source indices in the order of `epoch`.
    fn order(&self, epoch: usize) -> Vec<usize> {
        if let Some((order, _)) = &self.rect {
            return order.clone();
        }
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            order.shuffle(&mut keyed_rng(self.seed, epoch as u64, u64::MAX, u32::MAX));
        }
        order
    }

    fn shape(&self, batch: usize) -> (u32, u32) {
        self.rect.as_ref().map_or(self.square, |(_, s)| s[batch])
    }

    /// Images in `batch` (the last one may be short).
    fn images(&self, batch: usize) -> usize {
        self.batch.min(self.len - batch * self.batch)
    }
}

/// `(images, (h, w) px)` of every batch of an epoch of `source` under `cfg`, in order, without
/// building any (to tune a GPU for every input shape a run will see).
pub fn planned_batches(source: &dyn LoaderSource, cfg: &LoaderConfig) -> Vec<(usize, (u32, u32))> {
    let plan = Plan::new(source, cfg);
    (0..plan.batches)
        .map(|b| (plan.images(b), plan.shape(b)))
        .collect()
}

/// The rng of one sample: ChaCha8 keyed by `(seed, epoch, index, attempt)`; `attempt` counts
/// replacements of a failed sample.
fn keyed_rng(seed: u64, epoch: u64, index: u64, attempt: u32) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..28].copy_from_slice(&attempt.to_le_bytes());
    key[28..].copy_from_slice(b"yolo");
    ChaCha8Rng::from_seed(key)
}

/// The random numbers of sample `index` in `epoch` (what the loader gives the transform).
pub fn sample_rng(seed: u64, epoch: usize, index: usize) -> ChaCha8Rng {
    keyed_rng(seed, epoch as u64, index as u64, 0)
}

/// One batch to build.
struct Job {
    epoch: usize,
    batch: usize,
    generation: u64,
    indices: Vec<usize>,
    shape: (u32, u32),
    transform: Arc<dyn SampleTransform>,
    /// Image buffer to fill (a recycled one, or empty).
    buffer: Vec<u8>,
}

/// A built batch (or why it could not be) on its way back.
struct Done {
    epoch: usize,
    batch: usize,
    generation: u64,
    result: Result<Batch, DataError>,
}

/// What the workers share with the loader.
struct Shared {
    source: Arc<dyn LoaderSource>,
    seed: u64,
    stop: AtomicBool,
    /// Failure messages already printed.
    reported: Mutex<HashSet<String>>,
}

impl Shared {
    fn build(&self, mut job: Job) -> Result<Batch, DataError> {
        let buffer = std::mem::take(&mut job.buffer);
        let mut out =
            BatchBuilder::reusing(buffer, job.shape, job.indices.len(), job.epoch, job.batch);
        for &i in &job.indices {
            if self.stop.load(Ordering::Relaxed) {
                return Err(DataError::image(self.source.path(i), "loader stopped"));
            }
            let (used, sample) = self.sample_or_next(&job, i)?;
            out.push(used, self.source.path(used), &sample)?;
        }
        Ok(out.finish())
    }

    /// Sample `i`, or if it fails (reported once) the next index that works, deterministically:
    /// `i + 1, i + 2, …` (mod N) with the rng of `(seed, epoch, i, attempt)`.
    fn sample_or_next(&self, job: &Job, i: usize) -> Result<(usize, Sample), DataError> {
        let n = self.source.len();
        let mut last = None;
        for attempt in 0..n {
            let j = (i + attempt) % n;
            let mut rng = keyed_rng(self.seed, job.epoch as u64, i as u64, attempt as u32);
            let apply = || {
                job.transform
                    .apply(self.source.as_ref(), j, job.shape, &mut rng)
            };
            match catch_unwind(AssertUnwindSafe(apply)) {
                Err(payload) => return Err(self.panicked(job, j, payload)),
                Ok(Ok(sample)) => return Ok((j, sample)),
                Ok(Err(e)) => {
                    self.report(&e);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| DataError::image(Path::new(""), "empty image source")))
    }

    /// A panicking transform is a bug, not bad data: an error for the batch, naming the image.
    fn panicked(&self, job: &Job, index: usize, payload: Box<dyn Any + Send>) -> DataError {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        DataError::image(
            self.source.path(index),
            format!(
                "transform panicked in batch {} of epoch {}: {msg}",
                job.batch, job.epoch
            ),
        )
    }

    fn report(&self, e: &DataError) {
        let msg = e.to_string();
        let mut seen = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if seen.insert(msg.clone()) {
            eprintln!("WARNING: {msg}; the sample is replaced by the next usable image");
        }
    }
}

/// Batches of a source, epoch after epoch, in order. Dropping it stops and joins the workers.
///
/// Work items are `(epoch, batch)` pairs dispatched in order to `workers` threads that live as
/// long as the loader; at most [`LoaderConfig::in_flight`] batches exist at once (queued,
/// being built or waiting to be taken), so its memory is `in_flight × batch × 3 × h × w`
/// bytes (+ the batch the caller holds) plus one sample in the making per worker. Each
/// sample's random numbers come from its own `ChaCha8Rng` keyed by `(seed, epoch, index)`,
/// each epoch's order from `(seed, epoch)`: batches depend neither on the number of workers
/// nor on timing.
pub struct Loader {
    shared: Arc<Shared>,
    plan: Plan,
    /// `(first epoch, transform)`, sorted by first epoch.
    transforms: Vec<(usize, Arc<dyn SampleTransform>)>,
    in_flight: usize,
    workers: Vec<JoinHandle<()>>,
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    /// Built batches waiting for their turn.
    ready: BTreeMap<(usize, usize), Result<Batch, DataError>>,
    /// `(epoch, batch)` the caller gets next.
    next_out: (usize, usize),
    /// `(epoch, batch)` dispatched next.
    next_job: (usize, usize),
    /// Dispatched and not yet handed out (queued, in a worker, or in `ready`).
    outstanding: usize,
    generation: u64,
    /// `(generation, first epoch)` of every [`Loader::set_epoch_transform`]: older results
    /// for those epochs are dropped.
    invalidated: Vec<(u64, usize)>,
    /// Cached order of one epoch.
    order: (usize, Arc<Vec<usize>>),
    /// Image buffers given back with [`Loader::recycle`] (at most `in_flight + 1`).
    pool: Vec<Vec<u8>>,
}

impl Loader {
    /// Starts `cfg.workers` threads that build batches of `source` with `transform`.
    pub fn new(
        source: Arc<dyn LoaderSource>,
        transform: Arc<dyn SampleTransform>,
        cfg: LoaderConfig,
    ) -> Loader {
        let plan = Plan::new(source.as_ref(), &cfg);
        let in_flight = cfg.in_flight();
        let shared = Arc::new(Shared {
            source,
            seed: cfg.seed,
            stop: AtomicBool::new(false),
            reported: Mutex::new(HashSet::new()),
        });
        let (job_tx, job_rx) = bounded::<Job>(in_flight);
        let (done_tx, done_rx) = bounded::<Done>(in_flight);
        let workers = (0..cfg.workers)
            .map(|k| spawn_worker(k, &shared, &job_rx, &done_tx))
            .collect();
        let start = (cfg.start_epoch, 0);
        Loader {
            order: (usize::MAX, Arc::new(Vec::new())),
            shared,
            plan,
            transforms: vec![(0, transform)],
            in_flight,
            workers,
            jobs: Some(job_tx),
            results: done_rx,
            ready: BTreeMap::new(),
            next_out: start,
            next_job: start,
            outstanding: 0,
            generation: 0,
            invalidated: Vec::new(),
            pool: Vec::new(),
        }
    }

    /// Number of images per epoch.
    pub fn len(&self) -> usize {
        self.plan.len
    }

    /// True if the source has no image.
    pub fn is_empty(&self) -> bool {
        self.plan.len == 0
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.plan.batches
    }

    /// The epoch the next batch belongs to.
    pub fn current_epoch(&self) -> usize {
        self.next_out.0
    }

    /// Worker threads running.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Uses `transform` from epoch `first_epoch` on (e.g. no mosaic for the last
    /// `close_mosaic` epochs), keeping the threads. Batches of those epochs already built
    /// are discarded and rebuilt.
    pub fn set_epoch_transform(&mut self, first_epoch: usize, transform: Arc<dyn SampleTransform>) {
        self.transforms.retain(|(e, _)| *e < first_epoch);
        self.transforms.push((first_epoch, transform));
        self.generation += 1;
        self.invalidated.push((self.generation, first_epoch));
        for (_, stale) in self.ready.split_off(&(first_epoch, 0)) {
            self.outstanding -= 1;
            self.recycle_result(stale);
        }
        self.next_job = self.next_job.min(self.next_out.max((first_epoch, 0)));
    }

    /// The next batch of the current epoch; `Ok(None)` once at its end (after handing
    /// the heap's free pages back to the OS, see [`release_free_heap`]), after which the next
    /// call starts the next epoch. An error (the batch is skipped) only when no image
    /// of the source can be transformed or a transform breaks its contract.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, DataError> {
        if self.next_out.1 >= self.plan.batches {
            self.next_out = (self.next_out.0 + 1, 0);
            release_free_heap();
            return Ok(None);
        }
        let key = self.next_out;
        self.next_out.1 += 1;
        if self.workers.is_empty() {
            let job = self.job(key);
            return self.shared.build(job).map(Some);
        }
        self.wait_for(key).map(Some)
    }

    /// Gives a batch back once its pixels have been consumed (e.g. copied to the device): its
    /// image buffer is reused for a later batch instead of being freed and allocated again.
    /// Optional; it saves the page faults of a fresh buffer (≈ 19 MiB per batch of 16 at
    /// 640) and keeps the heap from fragmenting. A buffer goes to the next batch dispatched,
    /// so a trainer that recycles each batch before taking the next keeps `in_flight + 1`
    /// buffers for the whole run.
    pub fn recycle(&mut self, batch: Batch) {
        if self.pool.len() <= self.in_flight {
            self.pool.push(batch.images);
        }
    }

    fn recycle_result(&mut self, result: Result<Batch, DataError>) {
        if let Ok(batch) = result {
            self.recycle(batch);
        }
    }

    /// The remaining batches of the current epoch.
    pub fn epoch(&mut self) -> Epoch<'_> {
        Epoch {
            loader: self,
            done: false,
        }
    }

    fn transform_for(&self, epoch: usize) -> Arc<dyn SampleTransform> {
        let (_, t) = self
            .transforms
            .iter()
            .rev()
            .find(|(first, _)| *first <= epoch)
            .unwrap_or(&self.transforms[0]);
        Arc::clone(t)
    }

    fn job(&mut self, (epoch, batch): (usize, usize)) -> Job {
        if self.order.0 != epoch {
            self.order = (epoch, Arc::new(self.plan.order(epoch)));
        }
        let start = batch * self.plan.batch;
        let end = start + self.plan.images(batch);
        Job {
            epoch,
            batch,
            generation: self.generation,
            indices: self.order.1[start..end].to_vec(),
            shape: self.plan.shape(batch),
            transform: self.transform_for(epoch),
            buffer: self.pool.pop().unwrap_or_default(),
        }
    }

    /// Dispatches jobs until `in_flight` are outstanding (never blocks: both channels hold
    /// `in_flight` items).
    fn top_up(&mut self) {
        while self.outstanding < self.in_flight && self.plan.batches > 0 {
            let job = self.job(self.next_job);
            let Some(tx) = &self.jobs else { return };
            if tx.send(job).is_err() {
                return;
            }
            self.outstanding += 1;
            self.next_job.1 += 1;
            if self.next_job.1 == self.plan.batches {
                self.next_job = (self.next_job.0 + 1, 0);
            }
        }
    }

    fn wait_for(&mut self, key: (usize, usize)) -> Result<Batch, DataError> {
        loop {
            self.top_up();
            if let Some(result) = self.ready.remove(&key) {
                self.outstanding -= 1;
                self.top_up();
                return result;
            }
            self.receive()?;
        }
    }

    /// Blocks until every batch in flight is built: the workers are idle and the loader holds
    /// its steady-state maximum, `in_flight` batches (for memory measurements and timing).
    pub fn wait_until_full(&mut self) -> Result<(), DataError> {
        self.top_up();
        while self.ready.len() < self.outstanding {
            self.receive()?;
        }
        Ok(())
    }

    /// Files one finished batch (stale ones are dropped).
    fn receive(&mut self) -> Result<(), DataError> {
        let done = self.results.recv().map_err(|_| {
            DataError::image(Path::new("<loader>"), "every loader worker has exited")
        })?;
        if self.is_stale(&done) {
            self.outstanding -= 1;
            self.recycle_result(done.result);
        } else {
            self.ready.insert((done.epoch, done.batch), done.result);
        }
        Ok(())
    }

    fn is_stale(&self, done: &Done) -> bool {
        self.invalidated
            .iter()
            .any(|&(g, first)| done.generation < g && done.epoch >= first)
    }
}

impl Drop for Loader {
    /// Stops the workers (they abandon their batch at the next sample) and joins them.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.jobs = None;
        while self.results.try_recv().is_ok() {}
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

/// The remaining batches of one epoch ([`Loader::epoch`]).
pub struct Epoch<'a> {
    loader: &'a mut Loader,
    done: bool,
}

impl Iterator for Epoch<'_> {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.loader.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => Some(Err(e)),
        }
    }
}

fn spawn_worker(
    k: usize,
    shared: &Arc<Shared>,
    jobs: &Receiver<Job>,
    results: &Sender<Done>,
) -> JoinHandle<()> {
    let (shared, jobs, results) = (Arc::clone(shared), jobs.clone(), results.clone());
    thread::Builder::new()
        .name(format!("yolo-loader-{k}"))
        .spawn(move || worker(&shared, &jobs, &results))
        .unwrap_or_else(|e| panic!("cannot start loader thread {k}: {e}"))
}

/// Returns the C heap's free pages to the OS (glibc `malloc_trim(0)`; a no-op elsewhere).
/// Freed augmentation buffers stay resident in the worker threads' malloc arenas until then.
/// The loader calls it at every epoch end (the C-heap analogue of Ultralytics' per-epoch
/// `gc.collect()`); it takes about a millisecond.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only inspects and trims glibc's own heap; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Builds batches until the job channel closes.
fn worker(shared: &Shared, jobs: &Receiver<Job>, results: &Sender<Done>) {
    for job in jobs {
        let (epoch, batch, generation) = (job.epoch, job.batch, job.generation);
        let result = shared.build(job);
        let done = Done {
            epoch,
            batch,
            generation,
            result,
        };
        if results.send(done).is_err() {
            return;
        }
    }
}
