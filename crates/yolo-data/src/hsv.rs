//! Ultralytics 8.3.79+ `RandomHSV` through OpenCV's exact 8-bit RGB ↔ HSV round trip.
//!
//! OpenCV converts `COLOR_BGR2HSV` with integer tables (H in `[0, 180)`), and `COLOR_HSV2BGR`
//! in f32. Its x86-64 build (AVX2 dispatch) converts each row in blocks of 32 pixels with
//! fused multiply-adds and *truncates* to u8; the remaining `width % 32` pixels of a row go
//! through the scalar code, which *rounds*. Both paths are reproduced here, bit-exact against
//! opencv-python over every input (all 16.7 M colours forward, all 11.8 M HSV triples back).

use std::sync::LazyLock;

use rand::Rng;

use crate::image::Image;

static DIV: LazyLock<DivTables> = LazyLock::new(DivTables::new);
static HUE: LazyLock<HueTable> = LazyLock::new(HueTable::new);

/// Pixels per row that OpenCV's AVX2 `HSV2BGR` kernel converts as one block (4 × 8 lanes).
const SIMD_BLOCK: usize = 32;

/// Fixed-point shift of OpenCV's `RGB2HSV_b` tables.
const HSV_SHIFT: u32 = 12;

/// OpenCV's `sdiv_table` (`255·2¹² / v`) and `hdiv_table180` (`180·2¹² / 6·d`), rounded half
/// to even like `saturate_cast<int>`.
struct DivTables {
    sdiv: [i32; 256],
    hdiv: [i32; 256],
}

impl DivTables {
    fn new() -> DivTables {
        let mut t = DivTables {
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
    fn rgb_to_hsv(&self, [r, g, b]: [u8; 3]) -> [u8; 3] {
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
        let mut h = (h * self.hdiv[diff as usize] + half) >> HSV_SHIFT;
        if h < 0 {
            h += 180;
        }
        [h as u8, s as u8, v as u8]
    }
}

/// Per-hue constants of OpenCV's `HSV2RGB`: the sector (0..6) and the fraction within it
/// (every u8 hue, as OpenCV wraps hues ≥ 180 modulo 6 sectors).
struct HueTable {
    sector: [u8; 256],
    frac: [f32; 256],
}

impl HueTable {
    fn new() -> HueTable {
        let mut t = HueTable {
            sector: [0; 256],
            frac: [0.0; 256],
        };
        let hscale = 6.0f32 / 180.0;
        for h in 0..256 {
            let x = h as f32 * hscale;
            let pre = x.trunc();
            t.frac[h] = x - pre;
            t.sector[h] = (pre - (pre * (1.0 / 6.0f32)).trunc() * 6.0) as u8;
        }
        t
    }

    /// OpenCV `HSV2RGB_b` for one pixel, scaled to `[0, 255]` before the final cast.
    fn hsv_to_rgb_f(&self, [h, s, v]: [u8; 3]) -> [f32; 3] {
        let s = f32::from(s) * (1.0 / 255.0f32);
        let v = f32::from(v) * (1.0 / 255.0f32);
        let f = self.frac[usize::from(h)];
        // `1 − s·f` as a fused multiply-add (single rounding): exact via f64 for these inputs.
        let fnma = |a: f32, b: f32| (1.0 - f64::from(a) * f64::from(b)) as f32;
        let tab = [v, v * (1.0 - s), v * fnma(s, f), v * fnma(s, 1.0 - f)];
        let [r, g, b] = match self.sector[usize::from(h)] {
            0 => [tab[0], tab[3], tab[1]],
            1 => [tab[2], tab[0], tab[1]],
            2 => [tab[1], tab[0], tab[3]],
            3 => [tab[1], tab[2], tab[0]],
            4 => [tab[3], tab[1], tab[0]],
            _ => [tab[0], tab[1], tab[2]],
        };
        [r * 255.0, g * 255.0, b * 255.0]
    }
}

/// OpenCV `cvtColor(COLOR_RGB2HSV)` of one 8-bit pixel: `[h, s, v]`, h in `[0, 180)`.
pub fn rgb_to_hsv(rgb: [u8; 3]) -> [u8; 3] {
    DIV.rgb_to_hsv(rgb)
}

/// OpenCV `cvtColor(COLOR_HSV2RGB)` of one 8-bit pixel: `truncate` selects
/// the AVX2 block path (the first `width − width % 32` pixels of a row), else the scalar
/// path, which rounds half to even.
pub fn hsv_to_rgb(hsv: [u8; 3], truncate: bool) -> [u8; 3] {
    let f = HUE.hsv_to_rgb_f(hsv);
    f.map(|c| to_u8(c, truncate))
}

fn to_u8(c: f32, truncate: bool) -> u8 {
    if truncate {
        c as u8
    } else {
        c.round_ties_even() as u8
    }
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
    let (div, hue) = (&*DIV, &*HUE);
    let width = img.width as usize;
    let block_end = width - width % SIMD_BLOCK;
    for row in img.data.chunks_exact_mut(width * 3) {
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let [h, s, v] = div.rgb_to_hsv([px[0], px[1], px[2]]);
            let mapped = [
                luts.hue[usize::from(h)],
                luts.sat[usize::from(s)],
                luts.val[usize::from(v)],
            ];
            let f = hue.hsv_to_rgb_f(mapped);
            let truncate = x < block_end;
            px.copy_from_slice(&f.map(|c| to_u8(c, truncate)));
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
