//! `draw_detections`: outlines get the class colour, far pixels stay, bad boxes never panic.

use yolo_plot::{Annotation, class_color, draw_detections, line_width};

const GREY: [u8; 3] = [50, 50, 50];

fn image(w: u32, h: u32) -> Vec<u8> {
    GREY.repeat((w * h) as usize)
}

fn pixel(rgb: &[u8], w: u32, (x, y): (u32, u32)) -> [u8; 3] {
    let i = ((y * w + x) * 3) as usize;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

fn boxed(bbox: [f32; 4], class: usize, label: &str) -> Annotation {
    Annotation {
        bbox,
        label: label.into(),
        class,
    }
}

#[test]
fn outline_has_class_colour_and_far_pixels_are_unchanged() {
    let (w, h) = (320, 240);
    let mut rgb = image(w, h);
    draw_detections(
        &mut rgb,
        w,
        h,
        &[boxed([40.0, 100.0, 200.0, 220.0], 3, "person 0.91")],
    );
    let color = class_color(3);
    let lw = line_width(w, h);
    for edge in [
        (40, 160),
        (40 + lw - 1, 160),
        (199, 160),
        (120, 100),
        (120, 219),
    ] {
        assert_eq!(pixel(&rgb, w, edge), color, "outline pixel {edge:?}");
    }
    // The label sits above the box's top-left corner, filled with the class colour at its left edge.
    assert_eq!(pixel(&rgb, w, (41, 99)), color);
    // Inside the box (below the label) and far away nothing changed.
    for far in [(120, 160), (300, 20), (10, 230), (250, 150)] {
        assert_eq!(pixel(&rgb, w, far), GREY, "pixel {far:?}");
    }
}

#[test]
fn corners_may_come_in_either_order() {
    let (w, h) = (100, 100);
    let (mut a, mut b) = (image(w, h), image(w, h));
    draw_detections(&mut a, w, h, &[boxed([10.0, 20.0, 60.0, 70.0], 1, "")]);
    draw_detections(&mut b, w, h, &[boxed([60.0, 70.0, 10.0, 20.0], 1, "")]);
    assert_eq!(a, b);
    assert_ne!(a, image(w, h));
}

#[test]
fn bad_boxes_are_skipped_and_never_panic() {
    let (w, h) = (64, 48);
    let untouched = image(w, h);
    let bad = [
        boxed([f32::NAN, 0.0, 10.0, 10.0], 0, "nan"),
        boxed([0.0, 0.0, f32::INFINITY, 10.0], 1, "inf"),
        boxed([-500.0, -500.0, -100.0, -100.0], 2, "left of the image"),
        boxed([1e30, 1e30, 2e30, 2e30], 3, "far away"),
        boxed([64.0, 0.0, 90.0, 48.0], 4, "just right of the image"),
    ];
    let mut rgb = untouched.clone();
    draw_detections(&mut rgb, w, h, &bad);
    assert_eq!(rgb, untouched);

    // Partly outside, huge, degenerate and over-long labels draw what is inside.
    let partly = [
        boxed(
            [-20.0, -20.0, 30.0, 30.0],
            5,
            "a very long label that cannot fit in this image at all",
        ),
        boxed([-1e30, -1e30, 1e30, 1e30], 6, "huge"),
        boxed([10.0, 10.0, 10.0, 10.0], 7, "point"),
        boxed([60.0, 44.0, 70.0, 60.0], usize::MAX, "corner"),
    ];
    draw_detections(&mut rgb, w, h, &partly);
    assert_ne!(rgb, untouched);
}

#[test]
fn empty_and_short_inputs_never_panic() {
    let mut rgb = image(8, 8);
    draw_detections(&mut rgb, 8, 8, &[]);
    assert_eq!(rgb, image(8, 8));
    let b = [boxed([0.0, 0.0, 6.0, 6.0], 0, "x")];
    draw_detections(&mut [], 8, 8, &b);
    draw_detections(&mut rgb, 0, 0, &b);
    let mut short = vec![0u8; 8 * 3 * 3]; // 3 rows of an image that claims 8
    draw_detections(&mut short, 8, 8, &b);
    assert!(short.iter().any(|&v| v != 0));
}
