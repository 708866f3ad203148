use yolo_data::hsv::{hsv_to_rgb, rgb_to_hsv};
#[test]
fn exhaustive() {
    let fwd = std::fs::read("/tmp/cvx/fwd.bin").unwrap();
    let mut bad = 0;
    let mut i = 0;
    for r in 0..=255u8 { for g in 0..=255u8 { for b in 0..=255u8 {
        if rgb_to_hsv([r, g, b]) != [fwd[i], fwd[i+1], fwd[i+2]] { if bad < 5 { println!("fwd {r} {g} {b}: {:?} vs {:?}", rgb_to_hsv([r,g,b]), &fwd[i..i+3]); } bad += 1; }
        i += 3;
    }}}
    println!("fwd mismatches {bad}");
    for (file, trunc) in [("/tmp/cvx/back_trunc.bin", true), ("/tmp/cvx/back_round.bin", false)] {
        let d = std::fs::read(file).unwrap();
        let mut bad = 0; let mut i = 0;
        for h in 0..=255u8 { for s in 0..=255u8 { for v in 0..=255u8 {
            let o = hsv_to_rgb([h, s, v], trunc);
            if o != [d[i], d[i+1], d[i+2]] { if bad < 5 { println!("{file} {h} {s} {v}: {o:?} vs {:?}", &d[i..i+3]); } bad += 1; }
            i += 3;
        }}}
        println!("{file} mismatches {bad}");
    }
}
