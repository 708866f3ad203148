//! Ultralytics 8.3.79+ `RandomHSV` through OpenCV's exact 8-bit RGB ↔ HSV round trip.

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
    /// The inverse of `slot`, packed: factor index of R | G << 8 | B << 16.
    pick: [i32; 256],
}

impl Backward {
    fn new() -> Backward {
        let hscale = 6.0f32 / 180.0;
        let mut t = Backward {
            unit: std::array::from_fn(|v| v as f32 * (1.0 / 255.0f32)),
            g: [0.0; 256],
            slot: [[0; 3]; 256],
            pick: [0; 256],
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
            for (factor, &channel) in slot.iter().enumerate() {
                t.pick[h] |= (factor as i32) << (8 * channel);
            }
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
/// exactly as OpenCV.
///
/// OpenCV converts `COLOR_BGR2HSV` with integer tables (H in `[0, 180)`) and `COLOR_HSV2BGR`
/// in f32. Its x86-64 build (AVX2 dispatch) converts each row in blocks of 32 pixels with
/// fused multiply-adds and *truncates* to u8; the remaining `width % 32` pixels of a row go
/// through its scalar code, which *rounds*. Both paths are reproduced, bit-exact against
/// opencv-python 4.10 and 5.0 over every input (all 2²⁴ colours forward, all 2²⁴ HSV
/// triples back); AVX2 + FMA CPUs run an equivalent vector kernel.
pub fn apply_hsv(img: &mut Image, luts: &HsvLuts) {
    let width = img.width as usize;
    if width == 0 {
        return;
    }
    let block_end = (width - width % SIMD_BLOCK) * 3;
    let wide = avx2::available().then(|| avx2::Tables::new(luts));
    for row in img.data.chunks_exact_mut(width * 3) {
        let (blocks, tail) = row.split_at_mut(block_end);
        match &wide {
            // SAFETY: `wide` exists only when the CPU has AVX2 and FMA.
            Some(wide) => unsafe { avx2::map_blocks(blocks, luts, wide) },
            None => map_pixels::<true>(blocks, luts),
        }
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

/// AVX2 + FMA kernel for OpenCV's block path (x86-64 only).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{BACKWARD, HSV_SHIFT, HsvLuts, map_pixels};
    use crate::warp::avx2::store_rgb;

    /// Whether the running CPU has AVX2 and FMA (cached by `std`).
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// One draw's LUTs fused with OpenCV's tables, indexed by the *unmapped* h, s, v.
    pub(super) struct Tables {
        /// Mapped saturation · (1/255).
        sat: [f32; 256],
        /// Mapped value · (1/255).
        val: [f32; 256],
        /// The sector fraction `g` of the mapped hue.
        g: [f32; 256],
        /// The factor picks of the mapped hue.
        pick: [i32; 256],
        /// What the block path makes of the grey pixel `(v, v, v)`, per v: 8 copies of it, so
        /// a run of 8 identical grey pixels (the mosaic's 114 padding, flat grey) is one copy.
        grey: Vec<[u8; 24]>,
    }

    impl Tables {
        pub(super) fn new(luts: &HsvLuts) -> Tables {
            let b = &*BACKWARD;
            let mut greys: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
            map_pixels::<true>(&mut greys, luts);
            Tables {
                sat: luts.sat.map(|x| f32::from(x) * (1.0 / 255.0)),
                val: luts.val.map(|x| f32::from(x) * (1.0 / 255.0)),
                g: luts.hue.map(|h| b.g[usize::from(h)]),
                pick: luts.hue.map(|h| b.pick[usize::from(h)]),
                grey: greys
                    .chunks_exact(3)
                    .map(|px| std::array::from_fn(|i| px[i % 3]))
                    .collect(),
            }
        }
    }

    /// [`map_pixels::<true>`] 8 pixels at a time; the last group, whose 32-byte load would
    /// leave `pixels`, goes through the scalar code.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn map_blocks(pixels: &mut [u8], luts: &HsvLuts, t: &Tables) {
        let mut at = 0;
        while at + 32 <= pixels.len() {
            let px = &mut pixels[at..at + 32];
            // SAFETY: `px` holds 32 bytes; unaligned load.
            let raw = unsafe { _mm256_loadu_si256(px.as_ptr().cast()) };
            let first = _mm256_set1_epi8(px[0] as i8);
            let same = _mm256_movemask_epi8(_mm256_cmpeq_epi8(raw, first)) as u32;
            if same & 0x00FF_FFFF == 0x00FF_FFFF {
                // 8 pixels of one grey: the table has their conversion.
                let grey = &t.grey[usize::from(px[0])];
                px[..24].copy_from_slice(grey);
            } else {
                // SAFETY: AVX2 and FMA are enabled here.
                let rgb = unsafe { convert(raw, t) };
                store_rgb(rgb, px);
            }
            at += 24;
        }
        map_pixels::<true>(&mut pixels[at..], luts);
    }

    /// The first 8 RGB pixels of `raw` converted, as `r | g << 8 | b << 16` lanes
    /// (lane 0: pixels 0–3, lane 1: 4–7).
    ///
    /// # Safety
    /// AVX2 and FMA must be available.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn convert(raw: __m256i, t: &Tables) -> __m256i {
        // Bytes 0–11 to lane 0, 12–23 to lane 1, then one pixel per 32-bit lane.
        let halves = _mm256_permutevar8x32_epi32(raw, _mm256_setr_epi32(0, 1, 2, 0, 3, 4, 5, 0));
        let spread = _mm256_setr_epi8(
            0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1, 0, 1, 2, -1, 3, 4, 5, -1, 6, 7,
            8, -1, 9, 10, 11, -1,
        );
        let px = _mm256_shuffle_epi8(halves, spread);
        let byte = _mm256_set1_epi32(0xFF);
        let r = _mm256_and_si256(px, byte);
        let g = _mm256_and_si256(_mm256_srli_epi32::<8>(px), byte);
        let b = _mm256_srli_epi32::<16>(px);
        let [h, s, v] = forward(r, g, b);
        // SAFETY: h, s and v are in 0..=255 and every table holds 256 entries.
        unsafe {
            backward(
                _mm256_i32gather_ps::<4>(t.sat.as_ptr(), s),
                _mm256_i32gather_ps::<4>(t.val.as_ptr(), v),
                _mm256_i32gather_ps::<4>(t.g.as_ptr(), h),
                _mm256_i32gather_epi32::<4>(t.pick.as_ptr(), h),
            )
        }
    }

    /// OpenCV `RGB2HSV_b` on 8 pixels (i32 lanes in 0..=255). Its division tables
    /// `round(255·2¹²/v)` and `round(180·2¹²/(6·d))` are recomputed by f32 division, which
    /// rounds to the same integers for every v, d in 1..=255 (0 lanes are multiplied by 0).
    #[target_feature(enable = "avx2")]
    fn forward(r: __m256i, g: __m256i, b: __m256i) -> [__m256i; 3] {
        let v = _mm256_max_epi32(r, _mm256_max_epi32(g, b));
        let diff = _mm256_sub_epi32(v, _mm256_min_epi32(r, _mm256_min_epi32(g, b)));
        let div = |num: f32, d: __m256i| {
            _mm256_cvtps_epi32(_mm256_div_ps(_mm256_set1_ps(num), _mm256_cvtepi32_ps(d)))
        };
        let (sdiv, hdiv) = (div(1_044_480.0, v), div(122_880.0, diff));
        let half = _mm256_set1_epi32(1 << (HSV_SHIFT - 1));
        let s = _mm256_srai_epi32::<{ HSV_SHIFT as i32 }>(_mm256_add_epi32(
            _mm256_mullo_epi32(diff, sdiv),
            half,
        ));
        let when_r = _mm256_sub_epi32(g, b);
        let when_g = _mm256_add_epi32(_mm256_sub_epi32(b, r), _mm256_slli_epi32::<1>(diff));
        let when_b = _mm256_add_epi32(_mm256_sub_epi32(r, g), _mm256_slli_epi32::<2>(diff));
        let num = _mm256_blendv_epi8(
            _mm256_blendv_epi8(when_b, when_g, _mm256_cmpeq_epi32(v, g)),
            when_r,
            _mm256_cmpeq_epi32(v, r),
        );
        let h = _mm256_srai_epi32::<{ HSV_SHIFT as i32 }>(_mm256_add_epi32(
            _mm256_mullo_epi32(num, hdiv),
            half,
        ));
        let wrap = _mm256_and_si256(
            _mm256_cmpgt_epi32(_mm256_setzero_si256(), h),
            _mm256_set1_epi32(180),
        );
        [_mm256_add_epi32(h, wrap), s, v]
    }

    /// OpenCV's AVX2 `HSV2RGB_b` on 8 pixels from mapped `s/255`, `v/255`, the hue's `g`
    /// and factor picks: `r | g << 8 | b << 16` per lane, truncated.
    #[target_feature(enable = "avx2,fma")]
    fn backward(s: __m256, v: __m256, g: __m256, pick: __m256i) -> __m256i {
        let one = _mm256_set1_ps(1.0);
        let k255 = _mm256_set1_ps(255.0);
        let cast = |x: __m256| _mm256_cvttps_epi32(_mm256_mul_ps(x, k255));
        let o = [
            cast(v),
            cast(_mm256_mul_ps(v, _mm256_sub_ps(one, s))),
            cast(_mm256_mul_ps(v, _mm256_fnmadd_ps(s, g, one))),
        ];
        let byte = _mm256_set1_epi32(0xFF);
        let channel = |k: __m256i| {
            let k = _mm256_and_si256(k, byte);
            let o01 = _mm256_blendv_epi8(o[0], o[1], _mm256_cmpeq_epi32(k, _mm256_set1_epi32(1)));
            _mm256_blendv_epi8(o01, o[2], _mm256_cmpeq_epi32(k, _mm256_set1_epi32(2)))
        };
        let rgb = [
            channel(pick),
            channel(_mm256_srli_epi32::<8>(pick)),
            channel(_mm256_srli_epi32::<16>(pick)),
        ];
        _mm256_or_si256(
            rgb[0],
            _mm256_or_si256(
                _mm256_slli_epi32::<8>(rgb[1]),
                _mm256_slli_epi32::<16>(rgb[2]),
            ),
        )
    }
}

/// Stand-in where AVX2 cannot exist.
#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    pub(super) fn available() -> bool {
        false
    }

    /// Never built off x86-64.
    pub(super) enum Tables {}

    impl Tables {
        pub(super) fn new(_: &super::HsvLuts) -> Tables {
            unreachable!("AVX2 is x86-64 only")
        }
    }

    pub(super) unsafe fn map_blocks(pixels: &mut [u8], luts: &super::HsvLuts, _: &Tables) {
        super::map_pixels::<true>(pixels, luts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luts_follow_ultralytics() {
        let l = HsvLuts::new([-0.01, 0.5, -0.25]);
        // hue: (x − 1.8) mod 180 -> x = 0: 178.2 -> 178; x = 2: 0.2 -> 0.
        assert_eq!(
            (l.hue[0], l.hue[1], l.hue[2], l.hue[181]),
            (178, 179, 0, 179)
        );
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

    /// [`apply_hsv`] on `data` as rows of `width` px (a multiple of 32: OpenCV's block path
    /// only) equals the scalar block conversion of every pixel.
    fn assert_rows_match_scalar(data: &[u8], width: u32, gains: [f64; 3]) {
        let luts = HsvLuts::new(gains);
        let mut img = Image {
            width,
            height: (data.len() / 3 / width as usize) as u32,
            data: data.to_vec(),
        };
        apply_hsv(&mut img, &luts);
        let mut want = data.to_vec();
        map_pixels::<true>(&mut want, &luts);
        assert!(img.data == want, "{gains:?}");
    }

    #[test]
    fn grey_runs_equal_the_scalar_conversion() {
        // Rows of 64 px: uniform greys (the fast path), a colour among greys, a grey ramp,
        // and runs that start mid-group.
        let mut data = Vec::new();
        for v in 0..=255u8 {
            let mut row: Vec<[u8; 3]> = vec![[v, v, v]; 64];
            match v % 4 {
                1 => row[v as usize % 64] = [v, v.wrapping_add(1), v],
                2 => row
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, p)| *p = [(i as u8) * 3; 3]),
                3 => row[..5].iter_mut().for_each(|p| *p = [114, 114, 114]),
                _ => {}
            }
            data.extend(row.into_iter().flatten());
        }
        for gains in [[0.0123, -0.456, 0.321], [-0.5, 0.9, -0.9], [0.0, 0.0, 0.0]] {
            assert_rows_match_scalar(&data, 64, gains);
        }
    }

    #[test]
    fn block_kernel_equals_scalar_for_every_colour() {
        // All 2^24 colours in rows of 4096 px (a multiple of 32: OpenCV's block path only).
        let data: Vec<u8> = (0..1u32 << 24)
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, c as u8])
            .collect();
        for gains in [[0.0123, -0.456, 0.321], [-0.5, 0.9, -0.9]] {
            assert_rows_match_scalar(&data, 4096, gains);
        }
    }
}
