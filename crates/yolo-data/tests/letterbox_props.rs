//! Letterbox geometry properties: boxes mapped in stay inside, and map back within 1 px.

use proptest::prelude::*;
use yolo_data::{
    Image, LetterBox, LetterboxInfo, letterbox_resized, resize_long_side, scale_boxes_to_original,
    val_letterbox,
};

/// Source size (w, h) px, a stride-multiple imgsz, and a letterbox flavour.
fn setup() -> impl Strategy<Value = ((u32, u32), u32, u8)> {
    (
        (1u32..2000, 1u32..2000),
        (1u32..=40).prop_map(|k| k * 32),
        0u8..3,
    )
}

fn flavour(kind: u8, imgsz: u32) -> LetterBox {
    match kind {
        0 => val_letterbox(imgsz),
        1 => LetterBox::predict(imgsz),
        _ => LetterBox::new((imgsz, imgsz * 3 / 4 / 32 * 32 + 32)),
    }
}

/// An xyxy box inside a `w × h` image from four fractions.
fn inner_box((w, h): (u32, u32), f: [f32; 4]) -> [f32; 4] {
    let (w, h) = (w as f32, h as f32);
    [
        f[0].min(f[2]) * w,
        f[1].min(f[3]) * h,
        f[0].max(f[2]) * w,
        f[1].max(f[3]) * h,
    ]
}

fn map_in(b: [f32; 4], info: &LetterboxInfo) -> [f32; 4] {
    let (px, py) = info.pad;
    [
        b[0] * info.gain + px,
        b[1] * info.gain + py,
        b[2] * info.gain + px,
        b[3] * info.gain + py,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn geometry_fits_target((size, imgsz, kind) in setup()) {
        let lb = flavour(kind, imgsz);
        let g = lb.geometry(size);
        let (out_w, out_h) = g.output_size();
        let (new_h, new_w) = lb.new_shape;
        prop_assert!(g.unpadded.0 <= new_w && g.unpadded.1 <= new_h, "{g:?}");
        if lb.auto {
            prop_assert!(out_w <= new_w && out_h <= new_h);
            prop_assert!(out_w % lb.stride == 0 && out_h % lb.stride == 0, "{g:?}");
        } else {
            prop_assert_eq!((out_w, out_h), (new_w, new_h));
        }
        prop_assert!(g.left <= g.right && g.right <= g.left + 1 && g.top <= g.bottom && g.bottom <= g.top + 1);
        if !lb.scaleup {
            prop_assert!(g.ratio <= 1.0);
        }
    }

    #[test]
    fn boxes_round_trip((size, imgsz, kind) in setup(), f in prop::array::uniform4(0f32..=1.0)) {
        let lb = flavour(kind, imgsz);
        let g = lb.geometry(size);
        let (out_w, out_h) = g.output_size();
        let info = LetterboxInfo { gain: g.ratio as f32, pad: (g.left as f32, g.top as f32) };
        let b = inner_box(size, f);
        let m = map_in(b, &info);
        // Rounding the resized size moves the far edge by at most half a px.
        prop_assert!(m[0] >= 0.0 && m[1] >= 0.0 && m[2] <= out_w as f32 + 0.51 && m[3] <= out_h as f32 + 0.51, "{m:?}");
        let mut back = [m];
        scale_boxes_to_original(&mut back, &info, size);
        for (x, y) in back[0].iter().zip(b) {
            prop_assert!((x - y).abs() <= 1.0, "{b:?} -> {m:?} -> {:?}", back[0]);
        }
        prop_assert!(back[0][2] <= size.0 as f32 && back[0][3] <= size.1 as f32);
    }

    /// The val path maps back with Ultralytics' gain `h'/h0` (its `ratio_pad`), so x is off by
    /// at most `w0/h'` px on top of rounding (`h'` = resized height); y round-trips within 1 px.
    #[test]
    fn val_path_round_trips(w in 10u32..900, h in 10u32..900, k in 1u32..=20, f in prop::array::uniform4(0f32..=1.0)) {
        let imgsz = k * 32;
        let (out, info) = letterbox_resized(&Image::filled(w, h, 9), imgsz, &val_letterbox(imgsz));
        prop_assert_eq!((out.width, out.height), (imgsz, imgsz));
        let resized_h = resize_long_side(&Image::filled(w, h, 0), imgsz).height as f32;
        let b = inner_box((w, h), f);
        let m = map_in(b, &info);
        let mut back = [m];
        scale_boxes_to_original(&mut back, &info, (w, h));
        let x_tol = 1.0 + w as f32 / resized_h;
        for (i, (x, y)) in back[0].iter().zip(b).enumerate() {
            let tol = if i % 2 == 0 { x_tol } else { 1.0 };
            prop_assert!((x - y).abs() <= tol, "{b:?} -> {m:?} -> {:?}", back[0]);
        }
    }
}
