use std::time::Instant;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use yolo_data::*;
use yolo_data::perspective::{AffineDraw, random_perspective};
use yolo_data::mosaic::{mosaic4, draw_centre};
use yolo_data::hsv::{HsvLuts, apply_hsv, draw_gains};
fn cpu() -> f64 { let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 }; unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t); } t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9 }
struct Mem(Vec<Sample>);
impl ImageSource for Mem { fn len(&self) -> usize { self.0.len() } fn load(&self, i: usize) -> Result<Sample, DataError> { Ok(self.0[i].clone()) } }
#[test]
fn speed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/coco128/images/train2017");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let samples: Vec<Sample> = paths.iter().map(|p| {
        let img = resize_long_side(&decode_image(p).unwrap(), 640);
        let (w, h) = (img.width as f32, img.height as f32);
        let l = parse_labels(&label_path(p), Some(80)).unwrap().labels;
        let boxes = l.boxes.iter().map(|b| [(b[0]-b[2]/2.0)*w, (b[1]-b[3]/2.0)*h, (b[0]+b[2]/2.0)*w, (b[1]+b[3]/2.0)*h]).collect();
        Sample { image: img, instances: Instances { cls: l.cls, boxes, segments: vec![] } }
    }).collect();
    let src = Mem(samples);
    let t = TrainTransform::new(&AugmentConfig::default(), 640, false).unwrap();
    let n = 300;
    for round in 0..2 {
        let t0 = Instant::now(); let c0 = cpu();
        let mut objs = 0;
        for i in 0..n { let s = t.sample(&src, i % 128, &mut ChaCha8Rng::seed_from_u64(i as u64)).unwrap(); objs += s.instances.len(); }
        println!("round {round}: full sample {:.3} ms/sample wall, {:.3} cpu ({objs} objs)", t0.elapsed().as_secs_f64() * 1000.0 / n as f64, (cpu() - c0) * 1000.0 / n as f64);
        let t0 = Instant::now();
        for i in 0..n { let f = t.sample_formatted(&src, i % 128, None, &mut ChaCha8Rng::seed_from_u64(i as u64)).unwrap(); objs += f.labels.len(); }
        println!("round {round}: full + format {:.3} ms/sample", t0.elapsed().as_secs_f64() * 1000.0 / n as f64);
    }
    // breakdown
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (mut tl, mut tm, mut ta, mut th, mut tf) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let cfg = AugmentConfig::default();
    for i in 0..n {
        let t0 = cpu();
        let parts = [src.load(i % 128).unwrap(), src.load((i * 7 + 3) % 128).unwrap(), src.load((i * 13 + 5) % 128).unwrap(), src.load((i * 29 + 11) % 128).unwrap()];
        let t1 = cpu();
        let m = mosaic4(parts, 640, draw_centre(&mut rng, 640));
        let t2 = cpu();
        let d = AffineDraw::draw(&mut rng, &cfg);
        let mat = d.matrix((1280, 1280), (640, 640));
        let mut s = random_perspective(&m, &mat, (640, 640), d.scale);
        let t3 = cpu();
        apply_hsv(&mut s.image, &HsvLuts::new(draw_gains(&mut rng, [0.015, 0.7, 0.4])));
        let t4 = cpu();
        yolo_data::flip::fliplr(&mut s);
        let t5 = cpu();
        tl += t1 - t0; tm += t2 - t1; ta += t3 - t2; th += t4 - t3; tf += t5 - t4;
    }
    let k = 1000.0 / n as f64;
    println!("cpu: clone4 {:.3} mosaic {:.3} affine {:.3} hsv {:.3} flip {:.3} ms", tl * k, tm * k, ta * k, th * k, tf * k);
}
