//! `cv2.warpAffine` / `cv2.warpPerspective` (bilinear, border 114) with OpenCV's fixed-point maths.

use crate::image::Image;

/// Value of every channel of output pixels that map outside the input.
pub const BORDER_VALUE: u8 = 114;

/// A 3×3 transform in px, row-major, f32 like Ultralytics' numpy matrices.
pub type Matrix = [[f32; 3]; 3];

/// Sub-pixel precision of OpenCV's warp maps: 1/32 px (`INTER_BITS`).
const INTER_BITS: i32 = 5;
/// Output columns warped as one strip, px.
const STRIP: usize = 128;
/// Taps per pixel per axis of the weight table: `1 << INTER_BITS`.
const TAB: i32 = 1 << INTER_BITS;
/// OpenCV's `AB_BITS` for affine warps: coordinates carried in 1/1024 px.
const AB_BITS: i32 = 10;
/// `AB_SCALE / INTER_TAB_SIZE / 2`: rounds 1/1024 px to the nearest 1/32 px.
const ROUND_DELTA: i32 = 16;
/// The border value times the weight of one axis (a fully-border vertical blend).
const BORDER_MIX: u16 = BORDER_VALUE as u16 * TAB as u16;

/// `saturate_cast<int>(double)`: round half to even, saturating.
fn cv_round(v: f64) -> i32 {
    v.round_ties_even() as i32
}

/// `cv2.warpAffine(img, m[:2], out, INTER_LINEAR, BORDER_CONSTANT, 114)` for a forward `m`,
/// bit-exact against opencv-python 4.10 and earlier.
///
/// OpenCV inverts the matrix in f64, rounds every source position to 1/32 px (through 1/1024
/// px row and column terms, `AB_BITS = 10`) and blends the 4 taps with integer weights
/// `(32 − f)·f'` in 1/1024, taps outside the image reading the border value. OpenCV 4.11+
/// replaced this with an f32 kernel whose pixels differ by a few levels on textured images
/// (same geometry). AVX2 CPUs run an equivalent 8-pixel kernel; elsewhere axis-aligned maps
/// (no rotation or shear, Ultralytics' default) take a separable path with identical results.
pub fn warp_affine(img: &Image, m: &Matrix, out: (u32, u32)) -> Image {
    warp_affine_window(img, (0, 0), m, out)
}

/// [`warp_affine`] of a larger source of which `window` is the part at `origin` px: `m` maps
/// source coordinates, and the result is the same as warping the whole source provided the
/// warp reads nothing of it outside `window` ([`source_window`] gives such a window) — taps
/// outside the window read the border value, as taps outside the source do.
pub fn warp_affine_window(
    window: &Image,
    origin: (u32, u32),
    m: &Matrix,
    out: (u32, u32),
) -> Image {
    let a = invert_affine(m);
    // The origin moves every source position by a whole number of px, exactly: in OpenCV's
    // 1/1024-px row terms that is `origin << AB_BITS`.
    let shift = ((origin.0 as i32) << AB_BITS, (origin.1 as i32) << AB_BITS);
    if a[1] == 0.0 && a[3] == 0.0 && !avx2::available() {
        warp_axis_aligned(window, &a, shift, out)
    } else {
        warp_general(window, &a, shift, out)
    }
}

/// The part `[x0, y0, x1, y1]` px (half-open) of a `src` `(w, h)` px source that
/// [`warp_affine`] with `m` to `out` px can read: the bounding box of the output rectangle
/// mapped back, widened by 2 px for the second bilinear tap and OpenCV's rounding, clipped to
/// the source.
pub fn source_window(m: &Matrix, (w, h): (u32, u32), src: (u32, u32)) -> [u32; 4] {
    let a = invert_affine(m);
    let corners = [
        (0.0, 0.0),
        (f64::from(w), 0.0),
        (0.0, f64::from(h)),
        (f64::from(w), f64::from(h)),
    ];
    let map = |(x, y): (f64, f64)| (a[0] * x + a[1] * y + a[2], a[3] * x + a[4] * y + a[5]);
    let (mut lo, mut hi) = (
        (f64::INFINITY, f64::INFINITY),
        (f64::NEG_INFINITY, f64::NEG_INFINITY),
    );
    for (x, y) in corners.map(map) {
        (lo, hi) = ((lo.0.min(x), lo.1.min(y)), (hi.0.max(x), hi.1.max(y)));
    }
    let clip = |v: f64, side: u32| v.clamp(0.0, f64::from(side)) as u32;
    [
        clip(lo.0.floor() - 2.0, src.0),
        clip(lo.1.floor() - 2.0, src.1),
        clip(hi.0.ceil() + 2.0, src.0),
        clip(hi.1.ceil() + 2.0, src.1),
    ]
}

/// Source position in 1/32 px of output `(x, y)` from OpenCV's row term `r = round(row·1024)
/// + 16` and column term `c = round(col·1024)`.
#[inline]
fn fixed(r: i32, c: i32) -> i32 {
    (r + c) >> (AB_BITS - INTER_BITS)
}

/// The general affine path: per pixel 4 taps with 2-D weights (8 pixels at a time with AVX2).
fn warp_general(img: &Image, a: &[f64; 6], (sx, sy): (i32, i32), (w, h): (u32, u32)) -> Image {
    let ab = f64::from(1 << AB_BITS);
    let adelta: Vec<i32> = (0..w).map(|x| cv_round(a[0] * f64::from(x) * ab)).collect();
    let bdelta: Vec<i32> = (0..w).map(|x| cv_round(a[3] * f64::from(x) * ab)).collect();
    let mut out = Image::filled(w, h, 0);
    let sampler = Bilinear::new(img);
    let rows: Vec<(i32, i32)> = (0..h)
        .map(|y| {
            let y = f64::from(y);
            let x0 = cv_round((a[1] * y + a[2]) * ab) + ROUND_DELTA - sx;
            (x0, cv_round((a[4] * y + a[5]) * ab) + ROUND_DELTA - sy)
        })
        .collect();
    // Column strips keep a rotated source footprint in cache (OpenCV works in blocks too).
    let stride = w as usize * 3;
    for x in (0..w as usize).step_by(STRIP) {
        let cols = x..(x + STRIP).min(w as usize);
        let (ad, bd) = (&adelta[cols.clone()], &bdelta[cols.clone()]);
        for (row, &origin) in out.data.chunks_exact_mut(stride).zip(&rows) {
            let px = &mut row[cols.start * 3..cols.end * 3];
            if avx2::available() {
                // SAFETY: the CPU supports AVX2.
                unsafe { avx2::sample_row(&sampler, origin, ad, bd, px) };
            } else {
                sampler.sample_row(origin, ad, bd, px);
            }
        }
    }
    out
}

/// An axis-aligned affine map: source x depends on output x only, y on y only, so each
/// output row blends two source rows (vectorisable) and then columns. Exact: both passes
/// are integer and the 2-D weights are the products of the 1-D ones.
fn warp_axis_aligned(
    img: &Image,
    a: &[f64; 6],
    (shift_x, shift_y): (i32, i32),
    (w, h): (u32, u32),
) -> Image {
    let ab = f64::from(1 << AB_BITS);
    let (sw, sh) = (img.width as i32, img.height as i32);
    let x0 = cv_round(a[2] * ab) + ROUND_DELTA - shift_x;
    // The source row padded with one border column on the left and two on the right; per
    // output column the first tap's byte offset in it and the second tap's weight (the
    // first's is 32 minus it). Positions with both taps outside read the border at full
    // weight.
    let cols: Vec<(usize, u32)> = (0..w)
        .map(|x| {
            let p = fixed(x0, cv_round(a[0] * f64::from(x) * ab));
            let (sx, fx) = (p >> INTER_BITS, p & (TAB - 1));
            match sx {
                ..-1 => (0, 0),
                _ if sx >= sw => ((sw as usize + 1) * 3, 0),
                _ => ((sx + 1) as usize * 3, fx as u32),
            }
        })
        .collect();
    let mut mix = vec![BORDER_MIX; (sw as usize + 3) * 3];
    let stride = sw as usize * 3;
    let source_row = |y: i32| {
        (0..sh)
            .contains(&y)
            .then(|| &img.data[y as usize * stride..][..stride])
    };
    let mut out = Image::filled(w, h, 0);
    for (y, row) in out.data.chunks_exact_mut(w as usize * 3).enumerate() {
        let p = fixed(
            cv_round((a[4] * y as f64 + a[5]) * ab) + ROUND_DELTA - shift_y,
            0,
        );
        let (sy, fy) = (p >> INTER_BITS, (p & (TAB - 1)) as u16);
        mix_rows(
            [source_row(sy), source_row(sy + 1)],
            fy,
            &mut mix[3..3 + stride],
        );
        for (px, &(at, w1)) in row.chunks_exact_mut(3).zip(&cols) {
            let taps = &mix[at..at + 6];
            let w0 = TAB as u32 - w1;
            for c in 0..3 {
                let v = u32::from(taps[c]) * w0 + u32::from(taps[c + 3]) * w1;
                px[c] = ((v + 512) >> 10) as u8;
            }
        }
    }
    out
}

/// `out = top·(32 − fy) + bottom·fy` per byte; a missing row reads the border value.
fn mix_rows([top, bottom]: [Option<&[u8]>; 2], fy: u16, out: &mut [u16]) {
    let (w0, w1) = (TAB as u16 - fy, fy);
    let border = u16::from(BORDER_VALUE);
    match (top, bottom) {
        (Some(t), Some(b)) => {
            for ((o, &t), &b) in out.iter_mut().zip(t).zip(b) {
                *o = u16::from(t) * w0 + u16::from(b) * w1;
            }
        }
        (Some(t), None) => out
            .iter_mut()
            .zip(t)
            .for_each(|(o, &t)| *o = u16::from(t) * w0 + border * w1),
        (None, Some(b)) => out
            .iter_mut()
            .zip(b)
            .for_each(|(o, &b)| *o = border * w0 + u16::from(b) * w1),
        (None, None) => out.fill(BORDER_MIX),
    }
}

/// `cv2.warpPerspective(img, m, out, INTER_LINEAR, BORDER_CONSTANT, 114)`: `m` inverted in
/// f64, each source position rounded to 1/32 px, then sampled bilinearly.
pub fn warp_perspective(img: &Image, m: &Matrix, (w, h): (u32, u32)) -> Image {
    let a = invert3(m);
    let tab = f64::from(TAB);
    let mut out = Image::filled(w, h, 0);
    let sampler = Bilinear::new(img);
    let to_fixed = |v: f64| cv_round(v.clamp(f64::from(i32::MIN), f64::from(i32::MAX)));
    for (y, row) in out.data.chunks_exact_mut(w as usize * 3).enumerate() {
        let y = y as f64;
        let (x0, y0, w0) = (
            a[0][1] * y + a[0][2],
            a[1][1] * y + a[1][2],
            a[2][1] * y + a[2][2],
        );
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let x = x as f64;
            let wz = w0 + a[2][0] * x;
            let wz = if wz != 0.0 { tab / wz } else { 0.0 };
            let sx = to_fixed((x0 + a[0][0] * x) * wz);
            let sy = to_fixed((y0 + a[1][0] * x) * wz);
            sampler.sample(sx, sy, px);
        }
    }
    out
}

/// OpenCV's in-place inversion of a 2×3 affine matrix (`warpAffine` without
/// `WARP_INVERSE_MAP`): `[a00, a01, a02, a10, a11, a12]`, f64.
fn invert_affine(m: &Matrix) -> [f64; 6] {
    let [m0, m1, m2] = m[0].map(f64::from);
    let [m3, m4, m5] = m[1].map(f64::from);
    let d = m0 * m4 - m1 * m3;
    let d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (a0, a1, a3, a4) = (m4 * d, -m1 * d, -m3 * d, m0 * d);
    [a0, a1, -a0 * m2 - a1 * m5, a3, a4, -a3 * m2 - a4 * m5]
}

/// Inverse of a 3×3 matrix in f64 (adjugate / determinant); zeros if singular.
fn invert3(m: &Matrix) -> [[f64; 3]; 3] {
    let m = m.map(|r| r.map(f64::from));
    let cof =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let adj = [
        [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    let det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
    let inv = if det != 0.0 { 1.0 / det } else { 0.0 };
    adj.map(|r| r.map(|v| v * inv))
}

/// OpenCV `remapBilinear` for 8-bit RGB with a constant border: weights
/// `(32 − f)·f'` in 1/1024, result `(Σ + 512) >> 10`.
struct Bilinear<'a> {
    data: &'a [u8],
    stride: usize,
    w: i32,
    h: i32,
}

impl<'a> Bilinear<'a> {
    fn new(img: &'a Image) -> Bilinear<'a> {
        Bilinear {
            data: &img.data,
            stride: img.width as usize * 3,
            w: img.width as i32,
            h: img.height as i32,
        }
    }

    /// Samples one output row: pixel `x` at `(fixed(x0, adelta[x]), fixed(y0, bdelta[x]))`.
    fn sample_row(&self, (x0, y0): (i32, i32), adelta: &[i32], bdelta: &[i32], row: &mut [u8]) {
        for ((px, &dx), &dy) in row.chunks_exact_mut(3).zip(adelta).zip(bdelta) {
            self.sample(fixed(x0, dx), fixed(y0, dy), px);
        }
    }

    /// Writes the pixel at source position `(x, y)` in 1/32 px into `px`.
    #[inline(always)]
    fn sample(&self, x: i32, y: i32, px: &mut [u8]) {
        let (sx, sy) = (x >> INTER_BITS, y >> INTER_BITS);
        let (fx, fy) = (x & (TAB - 1), y & (TAB - 1));
        let wts = [
            (TAB - fy) * (TAB - fx),
            (TAB - fy) * fx,
            fy * (TAB - fx),
            fy * fx,
        ];
        if sx >= 0 && sy >= 0 && sx < self.w - 1 && sy < self.h - 1 {
            let at = sy as usize * self.stride + sx as usize * 3;
            let top = &self.data[at..at + 6];
            let bottom = &self.data[at + self.stride..at + self.stride + 6];
            for c in 0..3 {
                let v = i32::from(top[c]) * wts[0]
                    + i32::from(top[c + 3]) * wts[1]
                    + i32::from(bottom[c]) * wts[2]
                    + i32::from(bottom[c + 3]) * wts[3];
                px[c] = ((v + 512) >> 10) as u8;
            }
        } else {
            self.sample_edge(sx, sy, &wts, px);
        }
    }

    /// Positions whose taps leave the image: those taps read the border value.
    #[cold]
    fn sample_edge(&self, sx: i32, sy: i32, wts: &[i32; 4], px: &mut [u8]) {
        let tap = |x: i32, y: i32, c: usize| {
            if x >= 0 && y >= 0 && x < self.w && y < self.h {
                i32::from(self.data[y as usize * self.stride + x as usize * 3 + c])
            } else {
                i32::from(BORDER_VALUE)
            }
        };
        for (c, p) in px.iter_mut().enumerate() {
            let v = tap(sx, sy, c) * wts[0]
                + tap(sx + 1, sy, c) * wts[1]
                + tap(sx, sy + 1, c) * wts[2]
                + tap(sx + 1, sy + 1, c) * wts[3];
            *p = ((v + 512) >> 10) as u8;
        }
    }
}

/// AVX2 kernels (x86-64 only; elsewhere [`avx2::available`] is false).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    use super::{Bilinear, INTER_BITS, TAB};

    /// Whether the running CPU has AVX2 (cached by `std`).
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2")
    }

    /// [`Bilinear::sample_row`] 8 pixels at a time; groups with any tap near or outside the
    /// image edge go through the scalar sampler. Identical results.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sample_row(
        s: &Bilinear,
        (x0, y0): (i32, i32),
        adelta: &[i32],
        bdelta: &[i32],
        row: &mut [u8],
    ) {
        let n = adelta.len().min(bdelta.len()).min(row.len() / 3);
        let mut x = 0;
        while x + 8 <= n {
            let px = &mut row[x * 3..x * 3 + 24];
            let (a, b) = (&adelta[x..x + 8], &bdelta[x..x + 8]);
            // SAFETY: AVX2 is enabled here; `a`, `b` hold 8 values.
            if !unsafe { group(s, (x0, y0), a, b, px) } {
                s.sample_row((x0, y0), a, b, px);
            }
            x += 8;
        }
        s.sample_row((x0, y0), &adelta[x..n], &bdelta[x..n], &mut row[x * 3..]);
    }

    /// Eight output pixels whose four taps all lie inside the image and above its last row
    /// (so 4-byte gathers stay in bounds); false, writing nothing, otherwise.
    ///
    /// # Safety
    /// AVX2 must be available; `adelta` and `bdelta` must hold at least 8 values.
    #[target_feature(enable = "avx2")]
    unsafe fn group(
        s: &Bilinear,
        (x0, y0): (i32, i32),
        adelta: &[i32],
        bdelta: &[i32],
        px: &mut [u8],
    ) -> bool {
        // SAFETY: both slices hold ≥ 8 i32 (caller); unaligned loads.
        let (ad, bd) = unsafe {
            (
                _mm256_loadu_si256(adelta.as_ptr().cast()),
                _mm256_loadu_si256(bdelta.as_ptr().cast()),
            )
        };
        let xq = _mm256_srai_epi32::<{ super::AB_BITS - INTER_BITS }>(_mm256_add_epi32(
            _mm256_set1_epi32(x0),
            ad,
        ));
        let yq = _mm256_srai_epi32::<{ super::AB_BITS - INTER_BITS }>(_mm256_add_epi32(
            _mm256_set1_epi32(y0),
            bd,
        ));
        let (sx, sy) = (
            _mm256_srai_epi32::<INTER_BITS>(xq),
            _mm256_srai_epi32::<INTER_BITS>(yq),
        );
        let inside = |v: __m256i, end: i32| {
            _mm256_and_si256(
                _mm256_cmpgt_epi32(_mm256_set1_epi32(end), v),
                _mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)),
            )
        };
        let ok = _mm256_and_si256(inside(sx, s.w - 1), inside(sy, s.h - 2));
        if _mm256_movemask_epi8(ok) != -1 {
            return false;
        }
        let stride = s.stride as i32;
        let off = _mm256_add_epi32(
            _mm256_mullo_epi32(sy, _mm256_set1_epi32(stride)),
            _mm256_mullo_epi32(sx, _mm256_set1_epi32(3)),
        );
        let base: *const i64 = s.data.as_ptr().cast();
        let (lo, hi) = (
            _mm256_castsi256_si128(off),
            _mm256_extracti128_si256::<1>(off),
        );
        let down = _mm_set1_epi32(stride);
        // 8 bytes at each tap row: the two horizontal taps (6 bytes) and 2 spare. SAFETY:
        // taps are at most (h − 2, w − 1) px (sx ≤ w − 2, sy ≤ h − 3), so the furthest read
        // ends at byte (h − 1)·stride + 2 ≤ h·stride = data.len().
        let rows = unsafe {
            [
                _mm256_i32gather_epi64::<1>(base, lo),
                _mm256_i32gather_epi64::<1>(base, hi),
                _mm256_i32gather_epi64::<1>(base, _mm_add_epi32(lo, down)),
                _mm256_i32gather_epi64::<1>(base, _mm_add_epi32(hi, down)),
            ]
        };
        let mask = _mm256_set1_epi32(TAB - 1);
        let rgbx = blend(rows, _mm256_and_si256(xq, mask), _mm256_and_si256(yq, mask));
        store_rgb(rgbx, px);
        true
    }

    /// `(Σ taps·(32 − fx or fx)·(32 − fy or fy) + 512) >> 10` per channel from the tap rows
    /// `[top 0–3, top 4–7, bottom 0–3, bottom 4–7]` (one `r g b r' g' b'` qword per pixel):
    /// `r g b x` bytes, lane 0 pixels 0–3, lane 1 pixels 4–7.
    #[target_feature(enable = "avx2")]
    fn blend(rows: [__m256i; 4], fx: __m256i, fy: __m256i) -> __m256i {
        // Horizontal: pair each channel with its right neighbour, weigh by (32 − fx, fx).
        let pairs = _mm256_setr_epi8(
            0, 3, 1, 4, 2, 5, -1, -1, 8, 11, 9, 12, 10, 13, -1, -1, 0, 3, 1, 4, 2, 5, -1, -1, 8,
            11, 9, 12, 10, 13, -1, -1,
        );
        let wx = _mm256_or_si256(
            _mm256_sub_epi32(_mm256_set1_epi32(TAB), fx),
            _mm256_slli_epi32::<8>(fx),
        );
        let wx = _mm256_or_si256(wx, _mm256_slli_epi32::<16>(wx));
        let per_px = |d: __m128i| {
            let q = _mm256_cvtepu32_epi64(d);
            _mm256_or_si256(q, _mm256_slli_epi64::<32>(q))
        };
        let wxs = [
            per_px(_mm256_castsi256_si128(wx)),
            per_px(_mm256_extracti128_si256::<1>(wx)),
        ];
        let horizontal =
            |r: __m256i, w: __m256i| _mm256_maddubs_epi16(_mm256_shuffle_epi8(r, pairs), w);
        let top = [horizontal(rows[0], wxs[0]), horizontal(rows[1], wxs[1])];
        let bottom = [horizontal(rows[2], wxs[0]), horizontal(rows[3], wxs[1])];
        // Vertical: interleave (top, bottom) words, weigh by (32 − fy, fy) into i32.
        let wy = _mm256_or_si256(
            _mm256_sub_epi32(_mm256_set1_epi32(TAB), fy),
            _mm256_slli_epi32::<16>(fy),
        );
        let round = _mm256_set1_epi32(512);
        let vertical = |tb: __m256i, a: i32, b: i32| {
            let w = _mm256_permutevar8x32_epi32(wy, _mm256_setr_epi32(a, a, a, a, b, b, b, b));
            _mm256_srli_epi32::<10>(_mm256_add_epi32(_mm256_madd_epi16(tb, w), round))
        };
        let p02 = vertical(_mm256_unpacklo_epi16(top[0], bottom[0]), 0, 2);
        let p13 = vertical(_mm256_unpackhi_epi16(top[0], bottom[0]), 1, 3);
        let p46 = vertical(_mm256_unpacklo_epi16(top[1], bottom[1]), 4, 6);
        let p57 = vertical(_mm256_unpackhi_epi16(top[1], bottom[1]), 5, 7);
        let bytes = _mm256_packus_epi16(_mm256_packs_epi32(p02, p13), _mm256_packs_epi32(p46, p57));
        // Qwords are pixels (0 1), (4 5), (2 3), (6 7): restore the order.
        _mm256_permute4x64_epi64::<0b11_01_10_00>(bytes)
    }

    /// Writes the `r g b` of 8 `r g b x` pixels (lane 0: 0–3, lane 1: 4–7) to `px[..24]`.
    #[target_feature(enable = "avx2")]
    pub(crate) fn store_rgb(rgbx: __m256i, px: &mut [u8]) {
        let drop_x = _mm256_setr_epi8(
            0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12,
            13, 14, -1, -1, -1, -1,
        );
        let mut tmp = [0u8; 32];
        // SAFETY: `tmp` holds 32 bytes; unaligned store.
        unsafe { _mm256_storeu_si256(tmp.as_mut_ptr().cast(), _mm256_shuffle_epi8(rgbx, drop_x)) };
        px[..12].copy_from_slice(&tmp[..12]);
        px[12..24].copy_from_slice(&tmp[16..28]);
    }
}

/// Stand-in where AVX2 cannot exist.
#[cfg(not(target_arch = "x86_64"))]
mod avx2 {
    pub(super) fn available() -> bool {
        false
    }

    pub(super) unsafe fn sample_row(
        s: &super::Bilinear,
        origin: (i32, i32),
        adelta: &[i32],
        bdelta: &[i32],
        row: &mut [u8],
    ) {
        s.sample_row(origin, adelta, bdelta, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(im: &Image, x: usize, y: usize) -> u8 {
        im.data[(y * im.width as usize + x) * 3]
    }

    #[test]
    fn integer_shift_copies_pixels_and_pads() {
        let mut img = Image::filled(4, 3, 0);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = i as u8;
        }
        // Translate by (+1, +2): out(x, y) = in(x − 1, y − 2).
        let m = [[1.0, 0.0, 1.0], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0]];
        let out = warp_affine(&img, &m, (5, 5));
        assert_eq!(at(&out, 1, 2), at(&img, 0, 0));
        assert_eq!(at(&out, 4, 4), at(&img, 3, 2));
        assert_eq!(
            (at(&out, 0, 0), at(&out, 0, 2)),
            (BORDER_VALUE, BORDER_VALUE)
        );
        assert_eq!(warp_perspective(&img, &m, (5, 5)), out);
        assert_eq!(warp_general(&img, &invert_affine(&m), (0, 0), (5, 5)), out);
    }

    #[test]
    fn half_pixel_shift_blends_with_the_border() {
        // x' = x + 0.5: out(0) mixes border (114) and in(0) = 10 half and half -> 62.
        let img = Image::filled(3, 3, 10);
        let m = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let out = warp_affine(&img, &m, (3, 3));
        assert_eq!(&out.data[..6], &[62, 62, 62, 10, 10, 10]);
    }

    /// The `[x0, y0, x1, y1]` part of `img`.
    fn crop(img: &Image, [x0, y0, x1, y1]: [u32; 4]) -> Image {
        let stride = img.width as usize * 3;
        let mut data = Vec::new();
        for y in y0 as usize..y1 as usize {
            data.extend_from_slice(
                &img.data[y * stride + x0 as usize * 3..y * stride + x1 as usize * 3],
            );
        }
        Image {
            width: x1 - x0,
            height: y1 - y0,
            data,
        }
    }

    #[test]
    fn warping_the_source_window_equals_warping_the_source() {
        let mut img = Image::filled(160, 120, 0);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i * 2654435761 % 251) as u8;
        }
        // Mosaic-like maps to 80 × 80: zooms in and out, rotation + shear, translations that
        // put the window inside, across an edge and partly off the source.
        for m in [
            [[1.3f32, 0.0, -60.0], [0.0, 1.3, -40.0], [0.0, 0.0, 1.0]],
            [[0.6, 0.0, -10.0], [0.0, 0.6, -5.0], [0.0, 0.0, 1.0]],
            [[0.93, 0.21, -70.3], [-0.18, 1.02, -20.7], [0.0, 0.0, 1.0]],
            [[1.0, 0.0, 30.5], [0.0, 1.0, 50.25], [0.0, 0.0, 1.0]],
            [[2.0, 0.0, -300.0], [0.0, 2.0, -220.0], [0.0, 0.0, 1.0]],
        ] {
            let window = source_window(&m, (80, 80), (160, 120));
            assert!(
                window[0] <= window[2] && window[1] <= window[3],
                "{window:?}"
            );
            let part = crop(&img, window);
            let got = warp_affine_window(&part, (window[0], window[1]), &m, (80, 80));
            assert!(
                got == warp_affine(&img, &m, (80, 80)),
                "{m:?} window {window:?}"
            );
            let a = invert_affine(&m);
            let shift = ((window[0] as i32) << AB_BITS, (window[1] as i32) << AB_BITS);
            if a[1] == 0.0 && a[3] == 0.0 {
                assert!(
                    warp_axis_aligned(&part, &a, shift, (80, 80)) == got,
                    "{m:?} separable"
                );
            }
        }
    }

    #[test]
    fn separable_path_equals_the_general_one() {
        let mut img = Image::filled(37, 29, 0);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i * 7919 % 251) as u8;
        }
        for (sx, sy, tx, ty) in [
            (0.61, 0.73, 3.3, -2.7),
            (1.37, 1.9, -20.2, 4.1),
            (0.5, 0.5, 40.0, 30.0),
        ] {
            let m = [[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]];
            let a = invert_affine(&m);
            assert_eq!(
                warp_axis_aligned(&img, &a, (0, 0), (41, 23)),
                warp_general(&img, &a, (0, 0), (41, 23))
            );
        }
    }

    #[test]
    fn avx2_rows_equal_scalar_rows() {
        if !avx2::available() {
            return;
        }
        let mut img = Image::filled(97, 61, 0);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i * 2654435761 % 251) as u8;
        }
        let sampler = Bilinear::new(&img);
        let ab = f64::from(1 << AB_BITS);
        for m in [
            [
                [0.8123f32, 0.2311, 3.37],
                [-0.1932, 0.7021, 4.91],
                [0.0, 0.0, 1.0],
            ],
            [[1.37, -0.2, -30.5], [0.25, 1.41, -13.25], [0.0, 0.0, 1.0]],
            [[0.5, 0.0, 20.0], [0.0, 0.5, 10.0], [0.0, 0.0, 1.0]],
        ] {
            let a = invert_affine(&m);
            let adelta: Vec<i32> = (0..83)
                .map(|x| cv_round(a[0] * f64::from(x) * ab))
                .collect();
            let bdelta: Vec<i32> = (0..83)
                .map(|x| cv_round(a[3] * f64::from(x) * ab))
                .collect();
            for y in 0..70 {
                let y = f64::from(y);
                let origin = (
                    cv_round((a[1] * y + a[2]) * ab) + ROUND_DELTA,
                    cv_round((a[4] * y + a[5]) * ab) + ROUND_DELTA,
                );
                let (mut want, mut got) = (vec![0u8; 83 * 3], vec![0u8; 83 * 3]);
                sampler.sample_row(origin, &adelta, &bdelta, &mut want);
                // SAFETY: checked above.
                unsafe { avx2::sample_row(&sampler, origin, &adelta, &bdelta, &mut got) };
                assert_eq!(got, want, "{m:?} row {y}");
            }
        }
    }
}
