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
#[expect(
    clippy::too_many_arguments,
    reason = "plain slices and the loader's B, H, W, as callers hold them"
)]
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
    let grid =
        Grid::new(images.len(), (b, h, w), max_side).map_err(|message| PlotError::Input {
            path: path.into(),
            message,
        })?;
    let (mw, mh) = (grid.n * grid.tile.0, grid.n * grid.tile.1);
    let mut mosaic = vec![255u8; mw * mh * 3];
    // Ultralytics' annotation sizes: font ≥ 18 px per em, line width a tenth of it.
    let em_px = (((grid.tile.0 + grid.tile.1) * grid.n) as f64 * 0.01)
        .floor()
        .max(18.0);
    let lw = (em_px / 10.0).round_ties_even() as u32;
    let chw_len = 3 * h * w;
    for (i, chw) in images.chunks_exact(chw_len).take(grid.shown).enumerate() {
        let cell = grid.cell(i);
        paste(&mut mosaic, mw, cell, &tile_rgb(chw, (w, h), grid.tile));
        let mut canvas = Canvas::new(&mut mosaic, mw as u32, mh as u32);
        canvas.set_clip(cell);
        canvas.stroke(cell, 2, [255, 255, 255]);
        draw_boxes(
            &mut canvas,
            &tile_annotations(labels, i, cell, names),
            lw,
            em_px,
        );
    }
    save_rgb(path, &mosaic, mw as u32, mh as u32)
}

/// Where the images go: `n`×`n` cells of `tile` (width, height) pixels, the first `shown` filled.
struct Grid {
    n: usize,
    shown: usize,
    tile: (usize, usize),
}

impl Grid {
    /// The grid for `b` images of `h`×`w`, checking that `len` bytes hold them as `[B, 3, H, W]`.
    fn new(len: usize, (b, h, w): (usize, usize, usize), max_side: u32) -> Result<Grid, String> {
        let need = b
            .checked_mul(3)
            .and_then(|v| v.checked_mul(h))
            .and_then(|v| v.checked_mul(w));
        match need {
            Some(0) => return Err(format!("no image to draw (b={b}, h={h}, w={w})")),
            _ if u32::try_from(h.max(w)).is_err() => {
                return Err(format!("{h}×{w} images are too large"));
            }
            Some(need) if need == len => {}
            _ => {
                return Err(format!(
                    "images hold {len} bytes, [{b}, 3, {h}, {w}] needs {need:?}"
                ));
            }
        }
        let shown = b.min(MAX_IMAGES);
        let n = (shown as f64).sqrt().ceil() as usize;
        let scale = f64::from(max_side.max(1)) / n as f64 / h.max(w) as f64;
        let fit = |side: usize| {
            if scale < 1.0 {
                (scale * side as f64).ceil() as usize
            } else {
                side
            }
        };
        Ok(Grid {
            n,
            shown,
            tile: (fit(w), fit(h)),
        })
    }

    /// Pixel cell of image `i`, filled column by column as Ultralytics does.
    fn cell(&self, i: usize) -> Rect {
        let (x, y) = (
            (self.tile.0 * (i / self.n)) as i64,
            (self.tile.1 * (i % self.n)) as i64,
        );
        Rect {
            x0: x,
            y0: y,
            x1: x + self.tile.0 as i64,
            y1: y + self.tile.1 as i64,
        }
    }
}

/// Copies the HWC `tile` into `cell` of the `mosaic_w`-pixel-wide mosaic.
fn paste(mosaic: &mut [u8], mosaic_w: usize, cell: Rect, tile: &[u8]) {
    let row_len = (cell.x1 - cell.x0) as usize * 3;
    for (row, src) in tile.chunks_exact(row_len).enumerate() {
        let at = ((cell.y0 as usize + row) * mosaic_w + cell.x0 as usize) * 3;
        mosaic[at..at + row_len].copy_from_slice(src);
    }
}

/// One CHW image of `w`×`h` as HWC RGB, resized to `tw`×`th` when that differs.
fn tile_rgb(chw: &[u8], (w, h): (usize, usize), (tw, th): (usize, usize)) -> Vec<u8> {
    let plane = w * h;
    let hwc: Vec<u8> = (0..plane)
        .flat_map(|p| [chw[p], chw[plane + p], chw[2 * plane + p]])
        .collect();
    if (tw, th) == (w, h) {
        return hwc;
    }
    let img = RgbImage::from_raw(w as u32, h as u32, hwc).expect("buffer is w·h·3 bytes");
    imageops::resize(&img, tw as u32, th as u32, imageops::FilterType::Triangle).into_raw()
}

/// The boxes of image `i`, in mosaic pixels of its `cell`.
fn tile_annotations(
    labels: &[[f32; 6]],
    i: usize,
    cell: Rect,
    names: &[String],
) -> Vec<Annotation> {
    let (cw, ch) = ((cell.x1 - cell.x0) as f32, (cell.y1 - cell.y0) as f32);
    labels
        .iter()
        .filter(|l| {
            l.iter().all(|v| v.is_finite())
                && l[0] >= 0.0
                && l[1] >= 0.0
                && l[0].round() as usize == i
        })
        .map(|&[_, class, cx, cy, bw, bh]| {
            let class = class.round() as usize;
            let (x, y) = (cell.x0 as f32 + cx * cw, cell.y0 as f32 + cy * ch);
            Annotation {
                bbox: [
                    x - bw * cw / 2.0,
                    y - bh * ch / 2.0,
                    x + bw * cw / 2.0,
                    y + bh * ch / 2.0,
                ],
                label: names
                    .get(class)
                    .cloned()
                    .unwrap_or_else(|| class.to_string()),
                class,
            }
        })
        .collect()
}
