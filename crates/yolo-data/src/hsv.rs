//! Ultralytics 8.3.79+ `RandomHSV` through OpenCV's exact 8-bit RGB ↔ HSV round trip.
//!
//! OpenCV converts `COLOR_BGR2HSV` with integer tables (H in `[0, 180)`), and `COLOR_HSV2BGR`
//! in f32. Its x86-64 build (AVX2 dispatch) converts each row in blocks of 32 pixels with
//! fused multiply-adds and *truncates* to u8; the remaining `width % 32` pixels of a row go
//! through the scalar code, which *rounds*. Both paths are reproduced here, bit-exact against
//! opencv-python 4.10 and 5.0 over every input (all 16.7 M colours forward, all 16.7 M
//! HSV triples back).

use std::sync::LazyLock;

use rand::Rng;

use crate::image::Image;

/// Pixels per row that OpenCV's AVX2 `HSV2BGR` kernel converts as one block (4 × 8 lanes).
const SIMD_BLOCK: usize = 32;

/// Fixed-point shift of OpenCV's `RGB2HSV_b` tables.
const HSV_SHIFT: u32 = 12;

static FORWARD: LazyLock<Forward> = LazyLock::new(Forward::new);
static BACKWARD: LazyLock<Backward> = LazyLock::new(Backward::new);

/// OpenCV's `sdiv_table` (`255·2¹² / v`) and `hdiv_table180` (`180·2¹² / 6·d`), rounded half
/// to even like `saturate_cast<int>`.
struct Forward {
    sdiv: [i32; 256],
    hdiv: [i32; 256],
}

impl Forward {
    fn new() -> Forward {
        let mut t = Forward {
            sdiv: [0; 256],
            hdiv: [0; 256],
        };
        for i in 1..256 {
            let f = i as f64;
            t.sdiv[i] = (f64::from(255 << HSV_SHIFT) / f).round_ties_even() as i32;
            t.hdiv[i] = (f64::from(180 << HSV_SHIFT) / (6.0 * f)).round_ties_even() as i32;
        }
        t
    }

    /// OpenCV `RGB2HSV_b` for one pixel: `[h, s, v]` with h in `[0, 180)`.
    #[inline]
    fn convert(&self, r: u8, g: u8, b: u8) -> [u8; 3] {
        let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
        let v = r.max(g).max(b);
        let diff = v - r.min(g).min(b);
        let half = 1 << (HSV_SHIFT - 1);
        let s = (diff * self.sdiv[v as usize] + half) >> HSV_SHIFT;
        let h = if v == r {
            g - b
        } else if v == g {
            b - r + 2 * diff
        } else {
            r - g + 4 * diff
        };
        let h = (h * self.hdiv[diff as usize] + half) >> HSV_SHIFT;
        [(h + if h < 0 { 180 } else { 0 }) as u8, s as u8, v as u8]
    }
}

/// OpenCV `HSV2RGB_b` as tables: each channel is `(v/255 · factor) · 255` with the factor
/// `1`, `1 − s` or a fused `1 − s·g` (`g` = the hue's fraction within its sector, or one
/// minus it); which factor feeds which channel depends on the hue's sector. Hues ≥ 180 wrap
/// modulo 6 sectors as in OpenCV.
struct Backward {
    /// `x · (1/255)` in f32, per u8 `x` (saturation and value).
    unit: [f32; 256],
    /// `g` per hue.
    g: [f32; 256],
    /// Per hue, the channel (0 = R, 1 = G, 2 = B) that each of `[1, 1 − s, 1 − s·g]` feeds.
    slot: [[u8; 3]; 256],
}

impl Backward {
    fn new() -> Backward {
        let hscale = 6.0f32 / 180.0;
        let mut t = Backward {
            unit: std::array::from_fn(|v| v as f32 * (1.0 / 255.0f32)),
            g: [0.0; 256],
            slot: [[0; 3]; 256],
        };
        for h in 0..256 {
            let x = h as f32 * hscale;
            let pre = x.trunc();
            let f = x - pre;
            // OpenCV's tab[0..4] = v·[1, 1 − s, 1 − s·f, 1 − s·(1 − f)]; each sector uses
            // tab[2] or tab[3], never both.
            // Slots: R, G, B position of the factors 1, 1 − s, 1 − s·g.
            let (g, slot) = match (pre - (pre * (1.0 / 6.0f32)).trunc() * 6.0) as u8 {
                0 => (1.0 - f, [0, 2, 1]),
                1 => (f, [1, 2, 0]),
                2 => (1.0 - f, [1, 0, 2]),
                3 => (f, [2, 0, 1]),
                4 => (1.0 - f, [2, 1, 0]),
                _ => (f, [0, 1, 2]),
            };
            (t.g[h], t.slot[h]) = (g, slot);
        }
        t
    }

    /// Writes the RGB pixel for `(h, s, v)` into `px`, each channel scaled to `[0, 255]`
    /// and cast by `cast` (OpenCV truncates in its SIMD blocks, rounds in the scalar tail).
    #[inline]
    fn convert(&self, h: u8, s: u8, v: u8, px: &mut [u8], cast: impl Fn(f32) -> u8) {
        let s = self.unit[usize::from(s)];
        let g = self.g[usize::from(h)];
        // `1 − s·g` with one rounding (OpenCV's FMA): exact through f64 for these inputs.
        let fused = (1.0 - f64::from(s) * f64::from(g)) as f32;
        let v = self.unit[usize::from(v)];
        let [a, b, c] = self.slot[usize::from(h)].map(usize::from);
        px[a] = cast(v * 255.0);
        px[b] = cast((v * (1.0 - s)) * 255.0);
        px[c] = cast((v * fused) * 255.0);
    }
}

/// OpenCV `cvtColor(COLOR_RGB2HSV)` of one 8-bit pixel: `[h, s, v]`, h in `[0, 180)`.
pub fn rgb_to_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    FORWARD.convert(r, g, b)
}

/// OpenCV `cvtColor(COLOR_HSV2RGB)` of one 8-bit pixel: `truncate` selects the AVX2 block
/// path (the first `width − width % 32` pixels of a row), else the scalar path, which rounds
/// half to even.
pub fn hsv_to_rgb([h, s, v]: [u8; 3], truncate: bool) -> [u8; 3] {
    let mut px = [0; 3];
    if truncate {
        BACKWARD.convert(h, s, v, &mut px, trunc_u8);
    } else {
        BACKWARD.convert(h, s, v, &mut px, round_u8);
    }
    px
}

/// OpenCV's `v_trunc` of a value in `[0, 255]`.
#[inline]
fn trunc_u8(c: f32) -> u8 {
    c as i32 as u8
}

/// OpenCV's `saturate_cast<uchar>(float)` of a value in `[0, 255]` (half to even).
#[inline]
fn round_u8(c: f32) -> u8 {
    c.round_ties_even() as u8
}

/// The three lookup tables of one `RandomHSV` draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsvLuts {
    /// Hue map, values in `[0, 180)`.
    pub hue: [u8; 256],
    /// Saturation map (`sat[0] = 0`).
    pub sat: [u8; 256],
    /// Value map.
    pub val: [u8; 256],
}

impl HsvLuts {
    /// LUTs for gains `[g_h, g_s, g_v]` (fractions): hue `(x + g_h·180) mod 180`, sat/val
    /// `clip(x·(1 + g), 0, 255)`, all truncated to u8 (`astype(uint8)`), and `sat[0] = 0`.
    pub fn new(gains: [f64; 3]) -> HsvLuts {
        let mut l = HsvLuts {
            hue: [0; 256],
            sat: [0; 256],
            val: [0; 256],
        };
        for i in 0..256 {
            let x = i as f64;
            l.hue[i] = (x + gains[0] * 180.0).rem_euclid(180.0) as u8;
            l.sat[i] = (x * (gains[1] + 1.0)).clamp(0.0, 255.0) as u8;
            l.val[i] = (x * (gains[2] + 1.0)).clamp(0.0, 255.0) as u8;
        }
        l.sat[0] = 0;
        l
    }
}

/// Ultralytics' gain draw `U(−1, 1)³ · [hsv_h, hsv_s, hsv_v]` (three draws, in that order).
pub fn draw_gains<R: Rng + ?Sized>(rng: &mut R, hsv: [f64; 3]) -> [f64; 3] {
    hsv.map(|g| rng.random_range(-1.0..1.0) * g)
}

/// Converts `img` to HSV, maps each channel through `luts` and converts back, in place,
/// exactly as OpenCV (see the module docs).
pub fn apply_hsv(img: &mut Image, luts: &HsvLuts) {
    let width = img.width as usize;
    if width == 0 {
        return;
    }
    let block_end = (width - width % SIMD_BLOCK) * 3;
    for row in img.data.chunks_exact_mut(width * 3) {
        let (blocks, tail) = row.split_at_mut(block_end);
        map_pixels::<true>(blocks, luts);
        map_pixels::<false>(tail, luts);
    }
}

/// One HSV round trip per pixel; `TRUNCATE` selects OpenCV's block (true) or scalar cast.
fn map_pixels<const TRUNCATE: bool>(pixels: &mut [u8], luts: &HsvLuts) {
    let (fwd, back) = (&*FORWARD, &*BACKWARD);
    for px in pixels.chunks_exact_mut(3) {
        let [h, s, v] = fwd.convert(px[0], px[1], px[2]);
        let (h, s, v) = (
            luts.hue[usize::from(h)],
            luts.sat[usize::from(s)],
            luts.val[usize::from(v)],
        );
        if TRUNCATE {
            back.convert(h, s, v, px, trunc_u8);
        } else {
            back.convert(h, s, v, px, round_u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luts_follow_ultralytics() {
        let l = HsvLuts::new([-0.01, 0.5, -0.25]);
        // hue: (x − 1.8) mod 180 -> x = 0: 178.2 -> 178; x = 2: 0.2 -> 0.
        assert_eq!((l.hue[0], l.hue[1], l.hue[2], l.hue[181]), (178, 179, 0, 179));
        assert_eq!((l.sat[0], l.sat[1], l.sat[3], l.sat[200]), (0, 1, 4, 255));
        assert_eq!((l.val[255], l.val[3]), (191, 2));
        let id = HsvLuts::new([0.0; 3]);
        assert_eq!(id.hue[179], 179);
        assert_eq!(id.hue[200], 20);
    }

    #[test]
    fn primaries_round_trip() {
        assert_eq!(rgb_to_hsv([255, 0, 0]), [0, 255, 255]);
        assert_eq!(rgb_to_hsv([0, 255, 0]), [60, 255, 255]);
        assert_eq!(rgb_to_hsv([0, 0, 255]), [120, 255, 255]);
        assert_eq!(rgb_to_hsv([114, 114, 114]), [0, 0, 114]);
        for t in [true, false] {
            assert_eq!(hsv_to_rgb([0, 255, 255], t), [255, 0, 0]);
            assert_eq!(hsv_to_rgb([120, 255, 255], t), [0, 0, 255]);
        }
    }
}
