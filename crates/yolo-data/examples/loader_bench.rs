//! Loader throughput (img/s) of the full mosaic pipeline on coco128 repeated ×8, batch 16, at
//! 640 and 320 px with 0, 1 and 2 workers, from `cache=ram` and from JPEG (`cache=none`),
//! beside Ultralytics 8.3.253 on this 2-core machine (shared/reference/measured-anchors.md).
//!
//! `cargo run -p yolo-data --release --example loader_bench [-- BATCHES]`

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use yolo_data::{
    AugmentConfig, CacheMode, CacheOptions, DataError, DatasetConfig, DecodingSource, ImageCache,
    ImageSource, IndexOptions, LabelIndex, Loader, LoaderConfig, LoaderSource, Sample, Split,
    TrainTransform,
};

/// Times the dataset is repeated (as the Ultralytics measurement did).
const REPEAT: usize = 8;
const BATCH: usize = 16;

/// Ultralytics loader img/s on this machine, `(imgsz, workers, img/s)`.
const ANCHORS: [(u32, usize, f64); 4] = [
    (640, 0, 100.0),
    (640, 2, 204.0),
    (320, 0, 255.0),
    (320, 2, 398.0),
];

/// A source seen `REPEAT` times over: image `i` is `inner`'s `i % len`.
struct Repeated(Arc<dyn LoaderSource>);

impl ImageSource for Repeated {
    fn len(&self) -> usize {
        self.0.len() * REPEAT
    }

    fn load(&self, index: usize) -> Result<Sample, DataError> {
        self.0.load(index % self.0.len())
    }
}

impl LoaderSource for Repeated {
    fn path(&self, index: usize) -> &Path {
        self.0.path(index % self.0.len())
    }

    fn original_size(&self, index: usize) -> (u32, u32) {
        self.0.original_size(index % self.0.len())
    }
}

fn coco128() -> LabelIndex {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let config = DatasetConfig::load(&shared.join("data/coco128/coco128.yaml"))
        .unwrap_or_else(|e| panic!("coco128 is needed: {e}"));
    let opts = IndexOptions {
        verbose: false,
        cache: false,
        ..IndexOptions::default()
    };
    LabelIndex::load(&config, Split::Train, &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// CPU time (user + system) of this process so far, s.
fn cpu_seconds() -> f64 {
    // SAFETY: `rusage` is plain C data, valid when zeroed; `getrusage` fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, exclusive out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// `(img/s, CPU ms per image)` over `batches` batches after one warm-up batch.
fn measure(
    source: Arc<dyn LoaderSource>,
    imgsz: u32,
    workers: usize,
    batches: usize,
) -> (f64, f64) {
    let transform = TrainTransform::new(&AugmentConfig::default(), imgsz, false)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let cfg = LoaderConfig::train(imgsz, BATCH, workers, 0);
    let mut loader = Loader::new(Arc::new(Repeated(source)), Arc::new(transform), cfg);
    let mut next = || loop {
        match loader.next_batch() {
            Ok(Some(b)) => {
                let n = b.len();
                loader.recycle(b);
                return n;
            }
            Ok(None) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    next();
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let images: usize = (0..batches).map(|_| next()).sum();
    let n = images as f64;
    (
        n / start.elapsed().as_secs_f64(),
        (cpu_seconds() - cpu) * 1e3 / n,
    )
}

fn anchor(imgsz: u32, workers: usize) -> Option<f64> {
    ANCHORS
        .iter()
        .find(|&&(s, w, _)| (s, w) == (imgsz, workers))
        .map(|&(_, _, v)| v)
}

fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .map_or(12, |a| a.parse().unwrap_or(12));
    let index = coco128();
    println!(
        "coco128 ×{REPEAT} ({} images), mosaic pipeline, batch {BATCH}, {batches} batches per cell",
        index.len() * REPEAT
    );
    println!("| imgsz | workers | source | img/s | CPU ms/img | Ultralytics img/s | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for imgsz in [640, 320] {
        let opts = CacheOptions {
            verbose: false,
            ..CacheOptions::new(imgsz, CacheMode::Ram)
        };
        let ram: Arc<dyn LoaderSource> =
            Arc::new(ImageCache::build_ram(&index, &opts).unwrap_or_else(|e| panic!("{e}")));
        let jpeg: Arc<dyn LoaderSource> = Arc::new(DecodingSource::new(&index, imgsz));
        for workers in [0, 1, 2] {
            for (name, source) in [("cache=ram", &ram), ("JPEG (cache=none)", &jpeg)] {
                let (rate, cpu_ms) = measure(source.clone(), imgsz, workers, batches);
                let (anchor_text, ratio) = match anchor(imgsz, workers) {
                    Some(a) => (format!("{a:.0}"), format!("{:.2}×", rate / a)),
                    None => ("–".into(), "–".into()),
                };
                println!(
                    "| {imgsz} | {workers} | {name} | {rate:.0} | {cpu_ms:.2} | {anchor_text} | {ratio} |"
                );
            }
        }
    }
}
