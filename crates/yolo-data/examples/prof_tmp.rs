use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use yolo_data::*;
fn main() {
    let imgsz: u32 = std::env::args().nth(1).unwrap().parse().unwrap();
    let ram = std::env::args().nth(2).unwrap() == "ram";
    let n: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let config = DatasetConfig::load(&shared.join("data/coco128/coco128.yaml")).unwrap();
    let opts = IndexOptions {
        verbose: false,
        cache: false,
        ..IndexOptions::default()
    };
    let index = LabelIndex::load(&config, Split::Train, &opts).unwrap();
    let src: Arc<dyn LoaderSource> = if ram {
        let o = CacheOptions {
            verbose: false,
            ..CacheOptions::new(imgsz, CacheMode::Ram)
        };
        Arc::new(ImageCache::build_ram(&index, &o).unwrap())
    } else {
        Arc::new(DecodingSource::new(&index, imgsz))
    };
    let transform = TrainTransform::new(&AugmentConfig::default(), imgsz, false).unwrap();
    let cfg = LoaderConfig::train(imgsz, 16, 0, 0);
    let mut loader = Loader::new(src, Arc::new(transform), cfg);
    let t = Instant::now();
    let mut k = 0;
    while k < n {
        if let Some(b) = loader.next_batch().unwrap() {
            k += b.len();
            loader.recycle(b);
        }
    }
    println!("{:.1} img/s", k as f64 / t.elapsed().as_secs_f64());
}
