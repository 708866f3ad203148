//! `train_batch0.jpg`: a square mosaic of loader images with their ground-truth boxes and names.

use crate::annotate::{Annotation, draw_boxes};
use crate::error::PlotError;
use crate::raster::{Canvas, Rect};
use crate::save::save_rgb;
use image::{RgbImage, imageops};
use std::path::Path;

/// Ultralytics' cap on the mosaic's longer side, in pixels.
pub const DEFAULT_MAX_SIDE: u32 = 1920;
/// Images shown at most (Ultralytics: 16, a 4×4 grid).
const MAX_IMAGES: usize = 16;

/// Writes an Ultralytics `train_batch0.jpg`-style mosaic to `path` (JPEG, quality 90, for
/// `.jpg`/`.jpeg`; PNG for `.png`).
///
/// `images` are `b` images as the loader emits them: `[B, 3, H, W]` CHW u8 planes, `h`×`w` pixels.
/// The first 16 go into an `n`×`n` grid (`n = ⌈√min(b, 16)⌉`, filled column by column, empty
/// cells white), each tile shrunk (bilinear) so the mosaic's side is at most `max_side` pixels
/// (use [`DEFAULT_MAX_SIDE`]); the picture is `n·w'` × `n·h'` for the tile size `w'`×`h'`.
/// `labels` rows are `batch_idx, class, cx, cy, w, h` (normalised to the image); each box is drawn
/// in its class colour with `names[class]` (or the class id when there is no name), clipped to
/// its tile. Rows with non-finite values or an out-of-grid index are skipped.
pub fn batch_grid(
    path: impl AsRef<Path>,
    images: &[u8],
    b: usize,
    h: usize,
    w: usize,
    labels: &[[f32; 6]],
    names: &[String],
    max_side: u32,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let input = |message: String| PlotError::Input { path: path.into(), message };
    let plane = h * w;
    if b == 0 || plane == 0 || u32::try_from(h.max(w)).is_err() {
        return Err(input(format!("no image to draw (b={b}, h={h}, w={w})")));
    }
    if images.len() != b * 3 * plane {
        return Err(input(format!("images hold {} bytes, [{b}, 3, {h}, {w}] needs {}", images.len(), b * 3 * plane)));
    }
    let shown = b.min(MAX_IMAGES);
    let n = (shown as f64).sqrt().ceil() as usize;
    let scale = f64::from(max_side.max(1)) / n as f64 / h.max(w) as f64;
    let (th, tw) = if scale < 1.0 { ((scale * h as f64).ceil() as usize, (scale * w as f64).ceil() as usize) } else { (h, w) };
    let (mw, mh) = (n * tw, n * th);
    let mut mosaic = vec![255u8; mw * mh * 3];
    // Ultralytics' annotation sizes: font ≥ 18 px per em, line width a tenth of it.
    let em_px = (((th + tw) * n) as f64 * 0.01).floor().max(18.0);
    let lw = (em_px / 10.0).round_ties_even() as u32;
    for i in 0..shown {
        let tile = tile_rgb(&images[i * 3 * plane..(i + 1) * 3 * plane], (w, h), (tw, th));
        let (x0, y0) = (tw * (i / n), th * (i % n));
        for (row, src) in tile.chunks_exact(tw * 3).enumerate() {
            let at = ((y0 + row) * mw + x0) * 3;
            mosaic[at..at + tw * 3].copy_from_slice(src);
        }
        let mut canvas = Canvas::new(&mut mosaic, mw as u32, mh as u32);
        let cell = Rect { x0: x0 as i64, y0: y0 as i64, x1: (x0 + tw) as i64, y1: (y0 + th) as i64 };
        canvas.set_clip(cell);
        canvas.stroke(cell, 2, [255, 255, 255]);
        draw_boxes(&mut canvas, &tile_annotations(labels, i, cell, names), lw, em_px);
    }
    save_rgb(path, &mosaic, mw as u32, mh as u32)
}

/// One CHW image as HWC RGB, resized from `src` to `dst` (width, height) when they differ.
fn tile_rgb(chw: &[u8], (w, h): (usize, usize), (tw, th): (usize, usize)) -> Vec<u8> {
    let plane = w * h;
    let hwc: Vec<u8> = (0..plane).flat_map(|p| [chw[p], chw[plane + p], chw[2 * plane + p]]).collect();
    if (tw, th) == (w, h) {
        return hwc;
    }
    let img = RgbImage::from_raw(w as u32, h as u32, hwc).expect("buffer is w·h·3 bytes");
    imageops::resize(&img, tw as u32, th as u32, imageops::FilterType::Triangle).into_raw()
}

/// The boxes of image `i`, in mosaic pixels of its `cell`.
fn tile_annotations(labels: &[[f32; 6]], i: usize, cell: Rect, names: &[String]) -> Vec<Annotation> {
    let (cw, ch) = ((cell.x1 - cell.x0) as f32, (cell.y1 - cell.y0) as f32);
    labels
        .iter()
        .filter(|l| l.iter().all(|v| v.is_finite()) && l[0] >= 0.0 && l[1] >= 0.0 && l[0].round() as usize == i)
        .map(|&[_, class, cx, cy, bw, bh]| {
            let class = class.round() as usize;
            let (x, y) = (cell.x0 as f32 + cx * cw, cell.y0 as f32 + cy * ch);
            Annotation {
                bbox: [x - bw * cw / 2.0, y - bh * ch / 2.0, x + bw * cw / 2.0, y + bh * ch / 2.0],
                label: names.get(class).cloned().unwrap_or_else(|| class.to_string()),
                class,
            }
        })
        .collect()
}
