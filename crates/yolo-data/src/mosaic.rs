//! Ultralytics 4-image mosaic (`Mosaic._mosaic4`) on a `2s × 2s` canvas padded with 114.

use rand::Rng;

use crate::image::Image;
use crate::instances;
use crate::sample::{Instances, Sample};

/// Value of every channel of canvas pixels no tile covers.
pub const PAD_VALUE: u8 = 114;

/// Where one tile lands: `[x1, y1, x2, y2]` px on the canvas and in its own image
/// (half-open ranges of the same size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// Canvas rectangle, px.
    pub canvas: [i64; 4],
    /// Source-image rectangle, px.
    pub source: [i64; 4],
}

impl Tile {
    /// Shift from source to canvas coordinates `(padw, padh)`, px.
    pub fn offset(&self) -> (i64, i64) {
        (
            self.canvas[0] - self.source[0],
            self.canvas[1] - self.source[1],
        )
    }
}

/// Ultralytics' mosaic border `−imgsz // 2` (Python floor division), px: the affine step
/// crops it from each side of the `2s` canvas, so its output is `2s + 2·border = s` px.
pub fn mosaic_border(imgsz: u32) -> i64 {
    -(i64::from(imgsz) + 1) / 2
}

/// The mosaic centre `(xc, yc)` px: `int(U(−border, 2s + border))` per axis, `yc` drawn first
/// (Ultralytics' order). Two draws.
pub fn draw_centre<R: Rng + ?Sized>(rng: &mut R, imgsz: u32) -> (i64, i64) {
    let b = mosaic_border(imgsz) as f64;
    let s2 = 2.0 * f64::from(imgsz);
    let mut draw = || (-b + (s2 + 2.0 * b) * rng.random::<f64>()) as i64;
    let yc = draw();
    let xc = draw();
    (xc, yc)
}

/// Ultralytics' placement of four images of `sizes` `(w, h)` px around `centre` on the
/// `2·imgsz` canvas: 0 ends at the centre (top-left tile), 1 starts right of it (top-right),
/// 2 below-left, 3 below-right; each is cropped where it leaves the canvas.
pub fn tiles(sizes: [(u32, u32); 4], imgsz: u32, (xc, yc): (i64, i64)) -> [Tile; 4] {
    let s2 = 2 * i64::from(imgsz);
    std::array::from_fn(|i| {
        let (w, h) = (i64::from(sizes[i].0), i64::from(sizes[i].1));
        let (x1a, x2a) = if i % 2 == 0 {
            ((xc - w).max(0), xc)
        } else {
            (xc, (xc + w).min(s2))
        };
        let (y1a, y2a) = if i < 2 {
            ((yc - h).max(0), yc)
        } else {
            (yc, (yc + h).min(s2))
        };
        let (x1b, x2b) = if i % 2 == 0 {
            (w - (x2a - x1a), w)
        } else {
            (0, w.min(x2a - x1a))
        };
        let (y1b, y2b) = if i < 2 {
            (h - (y2a - y1a), h)
        } else {
            (0, (y2a - y1a).min(h))
        };
        Tile {
            canvas: [x1a, y1a, x2a, y2a],
            source: [x1b, y1b, x2b, y2b],
        }
    })
}

/// Tiles `parts` (main sample first) around `centre` on a `2·imgsz` canvas filled with
/// [`PAD_VALUE`]; objects are shifted with their tile, concatenated, clipped to the canvas
/// and zero-area boxes dropped (`_cat_labels`).
pub fn mosaic4(parts: [Sample; 4], imgsz: u32, centre: (i64, i64)) -> Sample {
    let s2 = 2 * imgsz;
    let (placed, instances) = layout(&parts, imgsz, centre);
    Sample {
        image: compose_window(&parts, &placed, [0, 0, s2, s2]),
        instances,
    }
}

/// Where the four tiles land and the mosaic's objects (shifted with their tile, concatenated,
/// clipped to the `2·imgsz` canvas, zero-area boxes dropped: `_cat_labels`), without the
/// canvas itself.
pub fn layout(parts: &[Sample; 4], imgsz: u32, centre: (i64, i64)) -> ([Tile; 4], Instances) {
    let s2 = (2 * imgsz) as f32;
    let sizes = parts.each_ref().map(|p| (p.image.width, p.image.height));
    let placed = tiles(sizes, imgsz, centre);
    let mut objects = Vec::with_capacity(4);
    for (part, tile) in parts.iter().zip(&placed) {
        let mut inst: Instances = part.instances.clone();
        let (dx, dy) = tile.offset();
        instances::shift(&mut inst, dx as f32, dy as f32);
        objects.push(inst);
    }
    let mut inst = instances::concat(objects);
    instances::clip(&mut inst, s2, s2);
    instances::remove_zero_area(&mut inst);
    (placed, inst)
}

/// The part `[x0, y0, x1, y1]` px (half-open) of the canvas with `parts` at `placed`, written
/// row by row (each byte once): tile pixels where a tile covers them, [`PAD_VALUE`] elsewhere.
/// Tiles come left before right in each half.
pub fn compose_window(
    parts: &[Sample; 4],
    placed: &[Tile; 4],
    [x0, y0, x1, y1]: [u32; 4],
) -> Image {
    let (x0, x1) = (i64::from(x0), i64::from(x1.max(x0)));
    let stride = (x1 - x0) as usize * 3;
    let mut data = Vec::with_capacity(stride * y1.saturating_sub(y0) as usize);
    for y in i64::from(y0)..i64::from(y1) {
        let row_start = data.len();
        for (part, t) in parts.iter().zip(placed) {
            let [x1a, y1a, x2a, y2a] = t.canvas;
            let (from, to) = (x1a.max(x0), x2a.min(x1));
            if (y1a..y2a).contains(&y) && from < to {
                data.resize(row_start + (from - x0) as usize * 3, PAD_VALUE);
                let src_y = (t.source[1] + y - y1a) as usize;
                let src_x = (t.source[0] + from - x1a) as usize;
                let at = (src_y * part.image.width as usize + src_x) * 3;
                data.extend_from_slice(&part.image.data[at..at + (to - from) as usize * 3]);
            }
        }
        data.resize(row_start + stride, PAD_VALUE);
    }
    Image {
        width: (x1 - x0) as u32,
        height: y1.saturating_sub(y0),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_for_a_fixed_centre() {
        // imgsz 640, centre (500, 700); sizes (w, h).
        let t = tiles(
            [(640, 480), (480, 640), (640, 427), (300, 200)],
            640,
            (500, 700),
        );
        // 0: canvas [max(500-640,0), max(700-480,0), 500, 700] = [0, 220, 500, 700];
        //    source [640-500, 480-480, 640, 480] = [140, 0, 640, 480].
        assert_eq!(t[0].canvas, [0, 220, 500, 700]);
        assert_eq!(t[0].source, [140, 0, 640, 480]);
        assert_eq!(t[0].offset(), (-140, 220));
        // 1: canvas [500, 60, min(980, 1280), 700]; source [0, 640-640, min(480, 480), 640].
        assert_eq!(t[1].canvas, [500, 60, 980, 700]);
        assert_eq!(t[1].source, [0, 0, 480, 640]);
        // 2: canvas [0, 700, 500, min(1280, 1127)]; source [640-500, 0, 640, min(427, 427)].
        assert_eq!(t[2].canvas, [0, 700, 500, 1127]);
        assert_eq!(t[2].source, [140, 0, 640, 427]);
        // 3: canvas [500, 700, 800, 900]; source [0, 0, 300, 200].
        assert_eq!(t[3].canvas, [500, 700, 800, 900]);
        assert_eq!(t[3].offset(), (500, 700));
    }

    #[test]
    fn border_and_centre_range() {
        assert_eq!(mosaic_border(640), -320);
        assert_eq!(mosaic_border(641), -321);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        for _ in 0..1000 {
            let (xc, yc) = draw_centre(&mut rng, 640);
            assert!((320..960).contains(&xc) && (320..960).contains(&yc));
        }
    }

    #[test]
    fn a_window_of_the_canvas_is_that_part_of_the_canvas() {
        let part = |seed: usize, (w, h): (u32, u32)| Sample {
            image: Image {
                width: w,
                height: h,
                data: (0..w as usize * h as usize * 3)
                    .map(|i| ((i * 31 + seed * 97) % 251) as u8)
                    .collect(),
            },
            instances: Instances::default(),
        };
        let parts = [
            part(1, (100, 80)),
            part(2, (70, 90)),
            part(3, (64, 50)),
            part(4, (30, 20)),
        ];
        let placed = tiles(
            parts.each_ref().map(|p| (p.image.width, p.image.height)),
            64,
            (60, 50),
        );
        let full = compose_window(&parts, &placed, [0, 0, 128, 128]);
        for window in [
            [0, 0, 128, 128],
            [10, 20, 90, 100],
            [59, 49, 61, 51],
            [100, 0, 128, 128],
            [5, 5, 5, 9],
        ] {
            let got = compose_window(&parts, &placed, window);
            let [x0, y0, x1, y1] = window.map(|v| v as usize);
            let want: Vec<u8> = (y0..y1)
                .flat_map(|y| full.data[(y * 128 + x0) * 3..(y * 128 + x1) * 3].to_vec())
                .collect();
            assert_eq!(
                (got.width, got.height),
                ((x1 - x0) as u32, (y1 - y0) as u32)
            );
            assert!(got.data == want, "window {window:?}");
        }
    }

    #[test]
    fn mosaic_shifts_clips_and_drops() {
        let part = |v: u8, (w, h): (u32, u32), b: [f32; 4]| Sample {
            image: Image::filled(w, h, v),
            instances: Instances {
                cls: vec![u32::from(v)],
                boxes: vec![b],
                segments: vec![],
            },
        };
        // imgsz 64 (canvas 128), centre (60, 50). Offsets: tile 0 (-40, -30), tile 1
        // (60, -30), tile 2 (-40, 50), tile 3 (60, 50).
        let parts = [
            part(1, (100, 80), [0.0, 0.0, 30.0, 30.0]), // shifted off the canvas: dropped
            part(2, (100, 80), [10.0, 40.0, 20.0, 60.0]),
            part(3, (100, 80), [0.0, 0.0, 100.0, 80.0]), // clipped to the canvas
            part(4, (30, 30), [0.0, 0.0, 30.0, 30.0]),
        ];
        let m = mosaic4(parts, 64, (60, 50));
        assert_eq!((m.image.width, m.image.height), (128, 128));
        assert_eq!(m.instances.cls, vec![2, 3, 4]);
        assert_eq!(
            m.instances.boxes,
            vec![
                [70.0, 10.0, 80.0, 30.0],
                [0.0, 50.0, 60.0, 128.0],
                [60.0, 50.0, 90.0, 80.0]
            ]
        );
        let px = |x: usize, y: usize| m.image.data[(y * 128 + x) * 3];
        assert_eq!((px(0, 0), px(127, 0), px(0, 127), px(89, 79)), (1, 2, 3, 4));
        assert_eq!((px(90, 79), px(127, 127)), (PAD_VALUE, PAD_VALUE));
    }
}
