//! Ultralytics `CopyPaste` (flip / mixup modes, polygon masks) plus a box-crop variant.

use crate::flip;
use crate::instances::{self, area};
use crate::sample::Sample;

/// Candidates must overlap every existing box by less than this IoA.
pub const IOA_THR: f32 = 0.30;

/// Ultralytics `bbox_ioa(box1, box2)`: intersection of two xyxy boxes over the area of
/// `box2` (+1e-7), f32.
pub fn ioa(box1: &[f32; 4], box2: &[f32; 4]) -> f32 {
    let iw = (box1[2].min(box2[2]) - box1[0].max(box2[0])).max(0.0);
    let ih = (box1[3].min(box2[3]) - box1[1].max(box2[1])).max(0.0);
    iw * ih / (area(box2) + 1e-7)
}

/// Donor objects to paste, in paste order: those whose IoA with every box of `existing` is
/// below [`IOA_THR`], sorted by their largest IoA (ascending; a stable sort, where numpy's
/// quicksort may order ties differently beyond 16 candidates), the first `round(p · n)`
/// (half to even). With no existing box every donor object is a candidate.
pub fn select(donor: &[[f32; 4]], existing: &[[f32; 4]], p: f64) -> Vec<usize> {
    let worst = |d: &[f32; 4]| {
        existing
            .iter()
            .map(|e| ioa(d, e))
            .fold(f32::NEG_INFINITY, f32::max)
    };
    let mut cand: Vec<(usize, f32)> = donor
        .iter()
        .enumerate()
        .filter(|(_, d)| existing.iter().all(|e| ioa(d, e) < IOA_THR))
        .map(|(j, d)| (j, worst(d)))
        .collect();
    cand.sort_by(|a, b| a.1.total_cmp(&b.1));
    let keep = (p * cand.len() as f64).round_ties_even() as usize;
    cand.into_iter().take(keep).map(|(j, _)| j).collect()
}

/// Flip mode: pastes objects of the sample's own left-right mirror image.
pub fn copy_paste_flip(sample: &mut Sample, p: f64) {
    let mut donor = sample.clone();
    flip::fliplr(&mut donor);
    copy_paste(sample, &donor, p);
}

/// Pastes the [`select`]ed objects of `donor` (same image size as `sample`) into `sample`:
/// pixels under their polygons (or boxes, if the donor has none) are copied from the donor
/// image and the objects appended.
///
/// The donor is the sample's own mirror image (`flip` mode, [`copy_paste_flip`]) or a second
/// pre-transformed sample (`mixup` mode). Polygons are filled with their vertices truncated
/// to integers (`astype(int32)`), outline included, as `cv2.drawContours(FILLED)`; this
/// scanline fill may differ from OpenCV's by a pixel on slanted edges. Without polygons —
/// where Ultralytics does nothing — every pixel the donor box touches is copied instead.
pub fn copy_paste(sample: &mut Sample, donor: &Sample, p: f64) {
    let chosen = select(&donor.instances.boxes, &sample.instances.boxes, p);
    if chosen.is_empty() {
        return;
    }
    let (w, h) = (sample.image.width as usize, sample.image.height as usize);
    let mut spans = Vec::new();
    let mut parts = vec![std::mem::take(&mut sample.instances)];
    for &j in &chosen {
        match donor.instances.segments.get(j) {
            Some(poly) => polygon_spans(poly, w, h, &mut spans),
            None => box_spans(&donor.instances.boxes[j], w, h, &mut spans),
        }
        parts.push(instances::pick(&donor.instances, j));
    }
    sample.instances = instances::concat(parts);
    let stride = w * 3;
    for (y, x0, x1) in spans {
        let (a, b) = (y * stride + x0 * 3, y * stride + (x1 + 1) * 3);
        sample.image.data[a..b].copy_from_slice(&donor.image.data[a..b]);
    }
}

/// A horizontal run of pixels: row, first and last column (inclusive).
type Span = (usize, usize, usize);

/// Every pixel the box touches, clipped to the image.
fn box_spans(b: &[f32; 4], w: usize, h: usize, spans: &mut Vec<Span>) {
    let x0 = b[0].floor().max(0.0) as usize;
    let x1 = (b[2].ceil().min(w as f32) as usize).min(w);
    let y0 = b[1].floor().max(0.0) as usize;
    let y1 = (b[3].ceil().min(h as f32) as usize).min(h);
    if x0 < x1 {
        spans.extend((y0..y1).map(|y| (y, x0, x1 - 1)));
    }
}

/// Pixels of a filled polygon (vertices truncated toward zero): even-odd scanline interior
/// at integer rows, plus the 8-connected outline; clipped to the `w × h` image.
fn polygon_spans(poly: &[[f32; 2]], w: usize, h: usize, spans: &mut Vec<Span>) {
    if poly.is_empty() || w == 0 || h == 0 {
        return;
    }
    let pts: Vec<[i64; 2]> = poly
        .iter()
        .map(|p| [p[0] as i32 as i64, p[1] as i32 as i64])
        .collect();
    let ymin = pts.iter().map(|p| p[1]).min().unwrap_or(0).max(0);
    let ymax = pts
        .iter()
        .map(|p| p[1])
        .max()
        .unwrap_or(0)
        .min(h as i64 - 1);
    if ymin > ymax {
        return;
    }
    let mut rows: Vec<Vec<f64>> = vec![Vec::new(); (ymax - ymin + 1) as usize];
    for (i, &p) in pts.iter().enumerate() {
        let q = pts[(i + 1) % pts.len()];
        crossings(p, q, ymin, ymax, &mut rows);
        outline(p, q, w, h, spans);
    }
    let last = w as f64 - 1.0;
    for (r, xs) in rows.iter_mut().enumerate() {
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            let (a, b) = (pair[0].ceil().max(0.0), pair[1].floor().min(last));
            if a <= b {
                spans.push((ymin as usize + r, a as usize, b as usize));
            }
        }
    }
}

/// Where edge `p → q` crosses each integer row in `[ymin, ymax]` (rows half-open at the
/// edge's lower end so shared vertices count once).
fn crossings(p: [i64; 2], q: [i64; 2], ymin: i64, ymax: i64, rows: &mut [Vec<f64>]) {
    if p[1] == q[1] {
        return;
    }
    let (a, b) = if p[1] < q[1] { (p, q) } else { (q, p) };
    let slope = (b[0] - a[0]) as f64 / (b[1] - a[1]) as f64;
    for y in a[1].max(ymin)..b[1].min(ymax + 1) {
        rows[(y - ymin) as usize].push(a[0] as f64 + (y - a[1]) as f64 * slope);
    }
}

/// Bresenham line `p → q` (both ends included) as one-pixel spans inside the image.
fn outline(p: [i64; 2], q: [i64; 2], w: usize, h: usize, spans: &mut Vec<Span>) {
    let (dx, dy) = ((q[0] - p[0]).abs(), -(q[1] - p[1]).abs());
    let (sx, sy) = ((q[0] - p[0]).signum(), (q[1] - p[1]).signum());
    let (mut x, mut y, mut err) = (p[0], p[1], dx + dy);
    loop {
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            spans.push((y as usize, x as usize, x as usize));
        }
        if x == q[0] && y == q[1] {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;
    use crate::sample::Instances;

    fn mask(poly: &[[f32; 2]], w: usize, h: usize) -> Vec<Vec<u8>> {
        let mut spans = Vec::new();
        polygon_spans(poly, w, h, &mut spans);
        let mut m = vec![vec![0u8; w]; h];
        for (y, a, b) in spans {
            m[y][a..=b].fill(1);
        }
        m
    }

    #[test]
    fn square_fill_includes_its_outline() {
        let m = mask(&[[1.0, 1.0], [4.9, 1.0], [4.9, 3.0], [1.0, 3.0]], 6, 5);
        let want = [
            [0, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 0],
        ];
        assert_eq!(m, want.map(|r| r.to_vec()).to_vec());
    }

    #[test]
    fn triangle_and_clipping() {
        // Right triangle (0,0), (4,0), (0,4): pixels with x + y <= 4.
        let m = mask(&[[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], 6, 6);
        for (y, row) in m.iter().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                assert_eq!(v == 1, x + y <= 4, "({x}, {y})");
            }
        }
        // Partly outside: clipped, no panic.
        let m = mask(
            &[[-5.0, -5.0], [10.0, -5.0], [10.0, 2.0], [-5.0, 2.0]],
            4,
            4,
        );
        assert_eq!(m[2], vec![1, 1, 1, 1]);
        assert_eq!(m[3], vec![0, 0, 0, 0]);
    }

    #[test]
    fn select_applies_the_ioa_rule() {
        let existing = [[0.0, 0.0, 10.0, 10.0]];
        let donor = [
            [8.0, 0.0, 18.0, 10.0],   // covers 20 % of the existing box: candidate
            [5.0, 0.0, 15.0, 10.0],   // 50 %: rejected
            [20.0, 0.0, 30.0, 10.0],  // 0 %: candidate, sorted first
            [9.0, 9.0, 100.0, 100.0], // 1 %: candidate
        ];
        assert_eq!(select(&donor, &existing, 1.0), vec![2, 3, 0]);
        // round(0.5 · 3) = round(1.5) = 2 (half to even).
        assert_eq!(select(&donor, &existing, 0.5), vec![2, 3]);
        assert_eq!(select(&donor, &existing, 0.1), Vec::<usize>::new());
        assert!((ioa(&donor[0], &existing[0]) - 0.2).abs() < 1e-6);
    }

    fn sample_with(boxes: Vec<[f32; 4]>, segments: Vec<Vec<[f32; 2]>>) -> Sample {
        let mut image = Image::filled(20, 10, 0);
        for (i, px) in image.data.chunks_exact_mut(3).enumerate() {
            px.fill((i % 20) as u8); // value = column
        }
        Sample {
            image,
            instances: Instances {
                cls: (0..boxes.len() as u32).collect(),
                boxes,
                segments,
            },
        }
    }

    #[test]
    fn flip_mode_with_polygons_pastes_the_mirror() {
        let poly = vec![[1.0, 1.0], [4.0, 1.0], [4.0, 4.0], [1.0, 4.0]];
        let mut s = sample_with(vec![[1.0, 1.0, 4.0, 4.0]], vec![poly]);
        copy_paste_flip(&mut s, 1.0);
        assert_eq!(s.instances.cls, vec![0, 0]);
        assert_eq!(s.instances.boxes[1], [16.0, 1.0, 19.0, 4.0]);
        assert_eq!(s.instances.segments.len(), 2);
        let at = |x: usize, y: usize| s.image.data[(y * 20 + x) * 3];
        // Mirrored polygon x in [16, 19] (outline included): pixel (16, 2) shows column 3.
        assert_eq!((at(16, 2), at(19, 4), at(15, 2), at(16, 5)), (3, 0, 15, 16));
    }

    #[test]
    fn box_mode_pastes_crops_where_ioa_is_low() {
        // Two boxes: the left one mirrors onto free space, the central one onto itself.
        let mut s = sample_with(vec![[0.0, 0.0, 3.0, 2.0], [8.0, 0.0, 12.0, 10.0]], vec![]);
        copy_paste_flip(&mut s, 1.0);
        assert_eq!(s.instances.boxes.len(), 3);
        assert_eq!(s.instances.boxes[2], [17.0, 0.0, 20.0, 2.0]);
        let at = |x: usize, y: usize| s.image.data[(y * 20 + x) * 3];
        assert_eq!((at(17, 0), at(19, 1), at(17, 2)), (2, 0, 17));
    }

    #[test]
    fn mixup_mode_pastes_donor_pixels_where_ioa_is_low() {
        let mut s = sample_with(vec![[0.0, 0.0, 10.0, 10.0]], vec![]);
        let mut donor = sample_with(vec![[5.0, 0.0, 15.0, 10.0], [14.0, 2.0, 18.0, 6.0]], vec![]);
        donor.image.data.fill(200);
        donor.instances.cls = vec![7, 8];
        copy_paste(&mut s, &donor, 1.0);
        // Donor 0 covers half the existing box (IoA 0.5): skipped; donor 1 is pasted.
        assert_eq!(s.instances.cls, vec![0, 8]);
        assert_eq!(s.instances.boxes[1], [14.0, 2.0, 18.0, 6.0]);
        let at = |x: usize, y: usize| s.image.data[(y * 20 + x) * 3];
        assert_eq!(
            (at(14, 2), at(17, 5), at(13, 2), at(7, 5)),
            (200, 200, 13, 7)
        );
    }
}
