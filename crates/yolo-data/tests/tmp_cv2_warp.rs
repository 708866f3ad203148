use yolo_data::Image;
use yolo_data::warp::{warp_affine, warp_perspective};
#[test]
fn warp_vs_cv2() {
    let data = std::fs::read("/tmp/cvx/warp_in.bin").unwrap();
    let img = Image { width: 400, height: 300, data };
    for (name, p) in [("aff1", false), ("aff2", false), ("per1", true)] {
        let mb = std::fs::read(format!("/tmp/cvx/{name}_m.bin")).unwrap();
        let v: Vec<f32> = mb.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let m = [[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]];
        let out = if p { warp_perspective(&img, &m, (320, 256)) } else { warp_affine(&img, &m, (320, 256)) };
        let cv = std::fs::read(format!("/tmp/cvx/{}{name}_out.bin", std::env::var("CVDIR").unwrap_or_default())).unwrap();
        let diffs: Vec<i32> = out.data.iter().zip(&cv).map(|(a, b)| (*a as i32 - *b as i32).abs()).collect();
        let n = diffs.iter().filter(|&&d| d > 0).count();
        let mx = diffs.iter().max().unwrap();
        let hist: Vec<usize> = (0..6).map(|k| diffs.iter().filter(|&&d| d == k).count()).collect();
        println!("{name}: differing {n}/{} max {mx} hist {hist:?}", diffs.len());
    }
}
