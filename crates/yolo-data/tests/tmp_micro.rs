use yolo_data::*;
use yolo_data::hsv::{HsvLuts, apply_hsv};
use yolo_data::warp::warp_affine;
fn cpu() -> f64 { let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 }; unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t); } t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9 }
#[test]
fn micro() {
    let which = std::env::var("MICRO").unwrap_or_default();
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/coco128/images/train2017/000000000009.jpg");
    let img = resize_bilinear(&decode_image(&p).unwrap(), 640, 640);
    let big = resize_bilinear(&img, 1280, 1280);
    let luts = HsvLuts::new([0.01, -0.3, 0.2]);
    let n = 50;
    if which == "hsv" || which.is_empty() {
        let mut x = img.clone(); let c0 = cpu();
        for _ in 0..n { apply_hsv(&mut x, &luts); }
        println!("hsv {:.3} ms", (cpu() - c0) * 1000.0 / n as f64);
    }
    if which == "affine" || which.is_empty() {
        let m = [[0.7f32, 0.0, -130.0], [0.0, 0.7, -120.0], [0.0, 0.0, 1.0]];
        let c0 = cpu(); let mut k = 0;
        for _ in 0..n { k += warp_affine(&big, &m, (640, 640)).data[1000] as usize; }
        println!("affine(axis) {:.3} ms {k}", (cpu() - c0) * 1000.0 / n as f64);
        let m = [[0.69f32, 0.05, -150.0], [-0.05, 0.69, -100.0], [0.0, 0.0, 1.0]];
        let c0 = cpu();
        for _ in 0..n { k += warp_affine(&big, &m, (640, 640)).data[1000] as usize; }
        println!("affine(rot) {:.3} ms {k}", (cpu() - c0) * 1000.0 / n as f64);
        let m = [[0.7f32, 0.00001, -130.0], [0.0, 0.7, -120.0], [0.0, 0.0, 1.0]];
        let c0 = cpu();
        for _ in 0..n { k += warp_affine(&big, &m, (640, 640)).data[1000] as usize; }
        println!("affine(general, axis pattern) {:.3} ms {k}", (cpu() - c0) * 1000.0 / n as f64);
        let m = [[0.7f32, 0.05, -130.0], [0.0, 0.7, -120.0], [0.0, 0.0, 1.0]];
        let c0 = cpu();
        for _ in 0..n { k += warp_affine(&big, &m, (640, 640)).data[1000] as usize; }
        println!("affine(shear x only) {:.3} ms {k}", (cpu() - c0) * 1000.0 / n as f64);
        let m = [[0.7f32, 0.0, -130.0], [0.05, 0.7, -120.0], [0.0, 0.0, 1.0]];
        let c0 = cpu();
        for _ in 0..n { k += warp_affine(&big, &m, (640, 640)).data[1000] as usize; }
        println!("affine(shear y only) {:.3} ms {k}", (cpu() - c0) * 1000.0 / n as f64);
    }
}
