//! Training augmentations: OpenCV test vectors, geometry properties, the pipeline's
//! determinism and a run over real coco8 images.

mod common;

use std::path::PathBuf;

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use yolo_data::hsv::{HsvLuts, apply_hsv};
use yolo_data::mosaic::{mosaic4, tiles};
use yolo_data::perspective::{AffineDraw, apply, random_perspective};
use yolo_data::warp::{Matrix, warp_affine, warp_perspective};
use yolo_data::{
    AugmentConfig, CopyPasteMode, DataError, Image, ImageSource, Instances, LetterBox, Sample,
    TrainTransform, ValTransform, decode_image, label_path, letterbox_sample, parse_labels,
    resize_long_side,
};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn data_file(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

#[derive(Deserialize)]
struct HsvCase {
    gains: [f64; 3],
    width: u32,
    height: u32,
    lut_hue: Vec<u8>,
    lut_sat: Vec<u8>,
    lut_val: Vec<u8>,
    input: String,
    output: String,
}

#[derive(Deserialize)]
struct HsvVectors {
    cases: Vec<HsvCase>,
}

#[test]
fn hsv_matches_opencv_vectors() {
    let v: HsvVectors = serde_json::from_str(&data_file("hsv_cv2_vectors.json")).unwrap();
    for c in v.cases {
        let luts = HsvLuts::new(c.gains);
        assert_eq!(luts.hue.to_vec(), c.lut_hue, "{:?}", c.gains);
        assert_eq!(luts.sat.to_vec(), c.lut_sat);
        assert_eq!(luts.val.to_vec(), c.lut_val);
        let mut img = Image {
            width: c.width,
            height: c.height,
            data: unhex(&c.input),
        };
        apply_hsv(&mut img, &luts);
        assert_eq!(img.data, unhex(&c.output), "{:?}", c.gains);
    }
}

#[derive(Deserialize)]
struct WarpCase {
    name: String,
    m: [[f32; 3]; 3],
    output: String,
}

#[derive(Deserialize)]
struct WarpVectors {
    width: u32,
    height: u32,
    input: String,
    cases: Vec<WarpCase>,
}

#[test]
fn warps_match_opencv_fixed_point_vectors() {
    let v: WarpVectors = serde_json::from_str(&data_file("warp_cv2_vectors.json")).unwrap();
    let img = Image {
        width: v.width,
        height: v.height,
        data: unhex(&v.input),
    };
    for c in v.cases {
        let out = if c.m[2] == [0.0, 0.0, 1.0] {
            warp_affine(&img, &c.m, (20, 15))
        } else {
            warp_perspective(&img, &c.m, (20, 15))
        };
        assert_eq!(out.data, unhex(&c.output), "{}", c.name);
    }
}

/// An xyxy box inside a `w × h` image from four fractions, at least 1 px per side.
fn inner_box(w: u32, h: u32, f: [f32; 4]) -> [f32; 4] {
    let (w, h) = (w as f32, h as f32);
    let x1 = f[0].min(f[2]) * (w - 1.0);
    let y1 = f[1].min(f[3]) * (h - 1.0);
    [
        x1,
        y1,
        (f[0].max(f[2]) * w).max(x1 + 1.0),
        (f[1].max(f[3]) * h).max(y1 + 1.0),
    ]
}

/// A `w × h` image whose R channel is `x`, G is `y` (both < 256) and B is 7.
fn ramp(w: u32, h: u32) -> Image {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[x as u8, y as u8, 7]);
        }
    }
    Image {
        width: w,
        height: h,
        data,
    }
}

fn boxes_inside(inst: &Instances, w: u32, h: u32, min_side: f32) -> bool {
    inst.boxes.iter().all(|b| {
        b[0] >= 0.0
            && b[1] >= 0.0
            && b[2] <= w as f32
            && b[3] <= h as f32
            && b[2] - b[0] > min_side
            && b[3] - b[1] > min_side
    })
}

fn sample_with(image: Image, boxes: Vec<[f32; 4]>) -> Sample {
    Sample {
        image,
        instances: Instances {
            cls: (0..boxes.len() as u32).collect(),
            boxes,
            segments: vec![],
        },
    }
}

proptest! {
    #[test]
    fn mosaic_keeps_boxes_inside_and_copies_tiles(
        sizes in prop::array::uniform4((8u32..=64, 8u32..=64)),
        fracs in prop::collection::vec(prop::array::uniform4(0f32..1.0), 4),
        centre in (32i64..96, 32i64..96),
    ) {
        let parts: [Sample; 4] = std::array::from_fn(|i| {
            let (w, h) = sizes[i];
            let mut img = ramp(w, h);
            for px in img.data.chunks_exact_mut(3) { px[2] = i as u8; }
            sample_with(img, vec![inner_box(w, h, fracs[i])])
        });
        let m = mosaic4(parts.clone(), 64, centre);
        prop_assert_eq!((m.image.width, m.image.height), (128, 128));
        prop_assert!(boxes_inside(&m.instances, 128, 128, 0.0));
        for (i, t) in tiles(sizes, 64, centre).iter().enumerate() {
            let (dx, dy) = t.offset();
            for (cx, cy) in [(t.canvas[0], t.canvas[1]), (t.canvas[2] - 1, t.canvas[3] - 1)] {
                let at = ((cy * 128 + cx) * 3) as usize;
                let (sx, sy) = (cx - dx, cy - dy);
                prop_assert_eq!(&m.image.data[at..at + 3], &[sx as u8, sy as u8, i as u8][..]);
            }
        }
    }

    #[test]
    fn perspective_maps_points_and_keeps_valid_boxes(
        degrees in -30f64..30.0,
        scale in 0.5f64..1.5,
        shear in prop::array::uniform2(-5f64..5.0),
        translate in prop::array::uniform2(0.35f64..0.65),
        persp in prop::array::uniform2(-0.0005f64..0.0005),
        fracs in prop::collection::vec(prop::array::uniform4(0f32..1.0), 0..6),
    ) {
        let (w, h) = (200u32, 160u32);
        let boxes = fracs.iter().map(|f| inner_box(w, h, *f)).collect();
        let s = sample_with(ramp(w, h), boxes);
        let d = AffineDraw { perspective: persp, degrees, scale, shear, translate };
        let m = d.matrix((w, h), (128, 128));
        let out = random_perspective(&s, &m, (128, 128), scale);
        prop_assert!(boxes_inside(&out.instances, 128, 128, 2.0));
        let inv = invert(&m);
        for (qx, qy) in [(64u32, 64u32), (10, 100), (120, 5)] {
            let p = apply(&inv, [qx as f32, qy as f32]);
            if p[0] >= 1.0 && p[1] >= 1.0 && p[0] <= (w - 2) as f32 && p[1] <= (h - 2) as f32 {
                let at = ((qy * 128 + qx) * 3) as usize;
                prop_assert!((f32::from(out.image.data[at]) - p[0]).abs() <= 1.0, "x {p:?}");
                prop_assert!((f32::from(out.image.data[at + 1]) - p[1]).abs() <= 1.0, "y {p:?}");
            }
        }
    }

    #[test]
    fn flips_are_involutions_keeping_boxes_inside(
        (w, h) in (1u32..40, 1u32..40),
        fracs in prop::collection::vec(prop::array::uniform4(0f32..1.0), 0..5),
    ) {
        let boxes = fracs.iter().map(|f| inner_box(w, h, *f)).collect();
        let s = sample_with(ramp(w, h), boxes);
        let mut t = s.clone();
        yolo_data::flip::fliplr(&mut t);
        prop_assert!(boxes_inside(&t.instances, w, h, 0.0));
        yolo_data::flip::flipud(&mut t);
        prop_assert!(boxes_inside(&t.instances, w, h, 0.0));
        // Pixel (0, 0) moved to (w − 1, h − 1).
        let last = t.image.data.len() - 3;
        prop_assert_eq!(&t.image.data[last..], &s.image.data[..3]);
        yolo_data::flip::flipud(&mut t);
        yolo_data::flip::fliplr(&mut t);
        prop_assert_eq!(&t.image, &s.image);
        for (a, b) in t.instances.boxes.iter().zip(&s.instances.boxes) {
            prop_assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4), "{a:?} {b:?}");
        }
    }

    #[test]
    fn letterbox_maps_boxes_by_gain_and_pad(
        (w, h) in (8u32..300, 8u32..300),
        f in prop::array::uniform4(0f32..1.0),
        side in (1u32..=10).prop_map(|k| k * 32),
    ) {
        let b = inner_box(w, h, f);
        let s = sample_with(Image::filled(w, h, 9), vec![b]);
        let (out, info) = letterbox_sample(&s, &LetterBox::new((side, side)));
        prop_assert_eq!((out.image.width, out.image.height), (side, side));
        let n = out.instances.boxes[0];
        prop_assert!((n[0] - (b[0] * info.gain + info.pad.0)).abs() < 1e-3);
        prop_assert!((n[3] - (b[3] * info.gain + info.pad.1)).abs() < 1e-3);
        prop_assert!(n[0] >= 0.0 && n[1] >= 0.0 && n[2] <= side as f32 + 0.5 && n[3] <= side as f32 + 0.5);
        prop_assert!(n[2] > n[0] && n[3] > n[1]);
    }
}

fn invert(m: &Matrix) -> Matrix {
    let m64 = m.map(|r| r.map(f64::from));
    let c = |a: usize, b: usize, x: usize, y: usize| m64[a][x] * m64[b][y] - m64[a][y] * m64[b][x];
    let adj = [
        [c(1, 2, 1, 2), -c(0, 2, 1, 2), c(0, 1, 1, 2)],
        [-c(1, 2, 0, 2), c(0, 2, 0, 2), -c(0, 1, 0, 2)],
        [c(1, 2, 0, 1), -c(0, 2, 0, 1), c(0, 1, 0, 1)],
    ];
    let det = m64[0][0] * adj[0][0] + m64[0][1] * adj[1][0] + m64[0][2] * adj[2][0];
    adj.map(|r| r.map(|v| (v / det) as f32))
}

/// An in-memory source: `n` images of varied sizes (long side `imgsz`), 1–3 boxes each,
/// optionally with a polygon per box.
struct MemSource {
    samples: Vec<Sample>,
}

impl MemSource {
    fn new(n: usize, imgsz: u32, polygons: bool) -> MemSource {
        let samples = (0..n)
            .map(|i| {
                let (w, h) = if i % 2 == 0 {
                    (imgsz, imgsz * 3 / 4)
                } else {
                    (imgsz / 2, imgsz)
                };
                let mut img = ramp(w.min(255), h.min(255));
                img = resize_long_side(&img, imgsz);
                let (w, h) = (img.width as f32, img.height as f32);
                let k = (i % 3 + 1) as u32;
                let boxes: Vec<[f32; 4]> = (0..k)
                    .map(|j| {
                        let f = j as f32 / 4.0;
                        [
                            w * (0.05 + f),
                            h * (0.1 + f / 2.0),
                            w * (0.3 + f),
                            h * (0.6 + f / 2.0),
                        ]
                    })
                    .collect();
                let segments = if polygons {
                    boxes
                        .iter()
                        .map(|b| vec![[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]])
                        .collect()
                } else {
                    vec![]
                };
                Sample {
                    image: img,
                    instances: Instances {
                        cls: (0..k).map(|j| (i as u32 + j) % 5).collect(),
                        boxes,
                        segments,
                    },
                }
            })
            .collect();
        MemSource { samples }
    }
}

impl ImageSource for MemSource {
    fn len(&self) -> usize {
        self.samples.len()
    }

    fn load(&self, index: usize) -> Result<Sample, DataError> {
        Ok(self.samples[index].clone())
    }
}

fn heavy_config(mode: CopyPasteMode) -> AugmentConfig {
    AugmentConfig {
        degrees: 10.0,
        shear: 2.0,
        perspective: 0.0002,
        flipud: 0.5,
        mixup: 0.5,
        cutmix: 0.5,
        copy_paste: 0.5,
        copy_paste_mode: mode,
        bgr: 0.5,
        ..AugmentConfig::default()
    }
}

#[test]
fn same_seed_same_sample() {
    for polygons in [false, true] {
        let src = MemSource::new(7, 96, polygons);
        for mode in [CopyPasteMode::Flip, CopyPasteMode::Mixup] {
            let t = TrainTransform::new(&heavy_config(mode), 96, false).unwrap();
            for index in 0..7 {
                let a = t
                    .sample(&src, index, &mut ChaCha8Rng::seed_from_u64(index as u64))
                    .unwrap();
                let b = t
                    .sample(&src, index, &mut ChaCha8Rng::seed_from_u64(index as u64))
                    .unwrap();
                assert_eq!(a, b);
                let c = t
                    .sample(
                        &src,
                        index,
                        &mut ChaCha8Rng::seed_from_u64(100 + index as u64),
                    )
                    .unwrap();
                assert_ne!(a.image, c.image);
            }
        }
    }
}

#[test]
fn windowed_mosaic_equals_warping_the_whole_canvas() {
    // Only mosaic and the affine step (with rotation, shear, wide scale): the pipeline composes
    // just the canvas window the warp reads; the reference composes all of it, from the same
    // draws in the same order (mosaic gate, 3 partners, centre, affine).
    let cfg = AugmentConfig {
        degrees: 15.0,
        shear: 3.0,
        scale: 0.9,
        hsv_h: 0.0,
        hsv_s: 0.0,
        hsv_v: 0.0,
        fliplr: 0.0,
        ..AugmentConfig::default()
    };
    let imgsz = 96;
    let src = MemSource::new(9, imgsz, false);
    let t = TrainTransform::new(&cfg, imgsz, false).unwrap();
    for seed in 0..40u64 {
        let index = seed as usize % 9;
        let got = t
            .sample(&src, index, &mut ChaCha8Rng::seed_from_u64(seed))
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let _gate: f64 = rand::Rng::random(&mut rng);
        let partners: [usize; 3] = std::array::from_fn(|_| rand::Rng::random_range(&mut rng, 0..9));
        let centre = yolo_data::mosaic::draw_centre(&mut rng, imgsz);
        let parts = [index, partners[0], partners[1], partners[2]].map(|i| src.load(i).unwrap());
        let canvas = mosaic4(parts, imgsz, centre);
        let draw = AffineDraw::draw(&mut rng, &cfg);
        let m = draw.matrix((2 * imgsz, 2 * imgsz), (imgsz, imgsz));
        let want = random_perspective(&canvas, &m, (imgsz, imgsz), draw.scale);
        assert!(got == want, "seed {seed}");
    }
}

#[test]
fn pipeline_outputs_valid_samples_in_every_mode() {
    for polygons in [false, true] {
        let src = MemSource::new(9, 64, polygons);
        for mode in [CopyPasteMode::Flip, CopyPasteMode::Mixup] {
            let t = TrainTransform::new(&heavy_config(mode), 64, false).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            for index in 0..60 {
                let s = t.sample(&src, index % 9, &mut rng).unwrap();
                assert_eq!((s.image.width, s.image.height), (64, 64));
                assert!(
                    boxes_inside(&s.instances, 64, 64, 0.0),
                    "{:?}",
                    s.instances.boxes
                );
                assert_eq!(s.instances.cls.len(), s.instances.boxes.len());
                let segs = &s.instances.segments;
                assert!(segs.is_empty() || segs.len() == s.instances.len());
                let f = t.sample_formatted(&src, index % 9, None, &mut rng).unwrap();
                assert_eq!(f.chw.len(), 64 * 64 * 3);
                assert!(
                    f.labels
                        .iter()
                        .all(|l| l[1..].iter().all(|v| (0.0..=1.0).contains(v)))
                );
            }
        }
    }
}

#[test]
fn rect_and_closed_mosaic_use_the_letterbox_path() {
    let src = MemSource::new(3, 64, false);
    let t = TrainTransform::new(&AugmentConfig::default(), 64, true).unwrap();
    let s = t
        .sample_in(&src, 0, Some((64, 96)), &mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    assert_eq!((s.image.width, s.image.height), (96, 64));
    // Every augmentation off: the no-mosaic path is exactly the letterbox (identity affine).
    let off = AugmentConfig {
        hsv_h: 0.0,
        hsv_s: 0.0,
        hsv_v: 0.0,
        translate: 0.0,
        scale: 0.0,
        fliplr: 0.0,
        ..AugmentConfig::default()
    };
    let mut t = TrainTransform::new(&off, 64, false).unwrap();
    t.close_mosaic();
    let s = t
        .sample(&src, 0, &mut ChaCha8Rng::seed_from_u64(2))
        .unwrap();
    let (want, _) = letterbox_sample(&src.samples[0], &LetterBox::new((64, 64)));
    assert_eq!(s, want);
    let (val, info) = ValTransform::new(64).sample(&src, 1, None).unwrap();
    assert_eq!(
        (val.image.width, val.image.height, info.gain),
        (64, 64, 1.0)
    );
}

/// coco8 train images decoded and resized like Ultralytics `load_image`.
struct Coco8 {
    images: Vec<PathBuf>,
    imgsz: u32,
}

impl ImageSource for Coco8 {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn load(&self, index: usize) -> Result<Sample, DataError> {
        let path = &self.images[index];
        let img = decode_image(path)?;
        let resized = resize_long_side(&img, self.imgsz);
        let (w, h) = (resized.width as f32, resized.height as f32);
        let labels = parse_labels(&label_path(path), Some(80))?.labels;
        let boxes = labels
            .boxes
            .iter()
            .map(|b| {
                [
                    (b[0] - b[2] / 2.0) * w,
                    (b[1] - b[3] / 2.0) * h,
                    (b[0] + b[2] / 2.0) * w,
                    (b[1] + b[3] / 2.0) * h,
                ]
            })
            .collect();
        let segments = labels
            .segments
            .iter()
            .map(|s| s.iter().map(|p| [p[0] * w, p[1] * h]).collect())
            .collect();
        Ok(Sample {
            image: resized,
            instances: Instances {
                cls: labels.cls,
                boxes,
                segments,
            },
        })
    }
}

#[test]
fn coco8_train_images_through_the_pipeline() {
    let Some(shared) = common::shared_dir() else {
        eprintln!("skipped: ../shared (coco8) not found");
        return;
    };
    let dir = shared.join("data/coco8/images/train");
    let mut images: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    let src = Coco8 { images, imgsz: 320 };
    let t = TrainTransform::new(
        &AugmentConfig {
            mixup: 0.3,
            ..AugmentConfig::default()
        },
        320,
        false,
    )
    .unwrap();
    let mut objects = 0;
    for (k, index) in (0..src.len()).cycle().take(12).enumerate() {
        let s = t
            .sample(&src, index, &mut ChaCha8Rng::seed_from_u64(k as u64))
            .unwrap();
        assert_eq!((s.image.width, s.image.height), (320, 320));
        assert!(boxes_inside(&s.instances, 320, 320, 2.0));
        assert!(s.image.data.iter().any(|&v| v != 114));
        objects += s.instances.len();
    }
    assert!(objects > 12, "{objects}");
}
