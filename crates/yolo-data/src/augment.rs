//! Training augmentation settings and the Ultralytics 8.3 `v8_transforms` pipeline (+ `Format`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::copy_paste::{copy_paste, copy_paste_flip};
use crate::error::DataError;
use crate::flip::{fliplr, flipud};
use crate::hsv::{HsvLuts, apply_hsv, draw_gains};
use crate::instances;
use crate::letterbox::{LetterBox, LetterboxInfo};
use crate::mixup::{cutmix, draw_ratio, mixup};
use crate::mosaic::{self, draw_centre, mosaic_border, mosaic4};
use crate::perspective::{AffineDraw, is_affine, perspective_instances, random_perspective};
use crate::sample::{ImageSource, Sample};
use crate::segments::{resample_all, resample_count};
use crate::warp::{source_window, warp_affine_window, warp_perspective};

/// Where copy-paste takes its objects from (`copy_paste_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyPasteMode {
    /// The sample's own left-right mirror image, before the affine step.
    #[default]
    Flip,
    /// A second sample through mosaic + affine, after the affine step.
    Mixup,
}

/// Training augmentation hyper-parameters, with Ultralytics' names and `default.yaml`
/// defaults. Unknown keys are ignored, so a full Ultralytics `args.yaml` deserialises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AugmentConfig {
    /// Hue gain range, fraction of the hue circle (`±hsv_h · 180` OpenCV hue units).
    pub hsv_h: f64,
    /// Saturation gain range, fraction.
    pub hsv_s: f64,
    /// Value (brightness) gain range, fraction.
    pub hsv_v: f64,
    /// Rotation range, ± degrees.
    pub degrees: f64,
    /// Translation range, ± fraction of the output size.
    pub translate: f64,
    /// Scale range: σ ~ U(1 − scale, 1 + scale).
    pub scale: f64,
    /// Shear range, ± degrees.
    pub shear: f64,
    /// Perspective range, ± 1/px (0 keeps the transform affine).
    pub perspective: f64,
    /// Probability of a top-bottom flip.
    pub flipud: f64,
    /// Probability of a left-right flip.
    pub fliplr: f64,
    /// Probability of returning BGR instead of RGB planes (`Format`).
    pub bgr: f64,
    /// Probability of a 4-image mosaic.
    pub mosaic: f64,
    /// Probability of MixUp.
    pub mixup: f64,
    /// Probability of CutMix.
    pub cutmix: f64,
    /// Fraction of eligible objects copy-pasted (applied to every sample when > 0).
    pub copy_paste: f64,
    /// Where copy-paste objects come from.
    pub copy_paste_mode: CopyPasteMode,
    /// Epochs at the end of training without mosaic, MixUp, CutMix and copy-paste
    /// (the trainer calls [`TrainTransform::close_mosaic`]).
    pub close_mosaic: u32,
}

impl Default for AugmentConfig {
    fn default() -> AugmentConfig {
        AugmentConfig {
            hsv_h: 0.015,
            hsv_s: 0.7,
            hsv_v: 0.4,
            degrees: 0.0,
            translate: 0.1,
            scale: 0.5,
            shear: 0.0,
            perspective: 0.0,
            flipud: 0.0,
            fliplr: 0.5,
            bgr: 0.0,
            mosaic: 1.0,
            mixup: 0.0,
            cutmix: 0.0,
            copy_paste: 0.0,
            copy_paste_mode: CopyPasteMode::Flip,
            close_mosaic: 10,
        }
    }
}

/// An augmentation setting outside its valid range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid augmentation setting: {0}")]
pub struct ConfigError(pub String);

impl AugmentConfig {
    /// Checks Ultralytics' rules: fraction settings in `[0, 1]`, angles finite.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fractions = [
            ("hsv_h", self.hsv_h),
            ("hsv_s", self.hsv_s),
            ("hsv_v", self.hsv_v),
            ("translate", self.translate),
            ("scale", self.scale),
            ("perspective", self.perspective),
            ("flipud", self.flipud),
            ("fliplr", self.fliplr),
            ("bgr", self.bgr),
            ("mosaic", self.mosaic),
            ("mixup", self.mixup),
            ("cutmix", self.cutmix),
            ("copy_paste", self.copy_paste),
        ];
        for (name, v) in fractions {
            if !(0.0..=1.0).contains(&v) {
                return Err(ConfigError(format!("{name}={v} must be in [0, 1]")));
            }
        }
        for (name, v) in [("degrees", self.degrees), ("shear", self.shear)] {
            if !v.is_finite() {
                return Err(ConfigError(format!("{name}={v} must be finite")));
            }
        }
        Ok(())
    }
}

/// Ultralytics' mix gate `random.uniform(0, 1) > p → skip`: one draw, true with probability p.
fn mix_gate<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    let u: f64 = rng.random();
    p > 0.0 && u <= p
}

/// Ultralytics' flip gate `random.random() < p`: one draw.
fn flip_gate<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// A uniformly drawn image index (one draw).
fn draw_index<R: Rng + ?Sized>(rng: &mut R, source: &dyn ImageSource) -> usize {
    rng.random_range(0..source.len().max(1))
}

/// The training pipeline (`v8_transforms` + `Format`) for one image size, over an
/// [`ImageSource`].
///
/// Differences from Ultralytics 8.3.253, all deliberate:
/// * mosaic partners are drawn uniformly from the whole source (Ultralytics' `cache='ram'`
///   behaviour since ~8.3.150) in every mode, never from a recent-image buffer;
/// * copy-paste also works on samples without polygons, pasting mirrored box crops
///   (Ultralytics silently does nothing there), see [`crate::copy_paste::copy_paste`];
/// * Albumentations (an optional package Ultralytics skips when absent) is not applied;
/// * every random draw comes from one caller-given rng in a fixed order (see
///   [`TrainTransform::sample_in`]), so a `(seed, epoch, index)`-seeded rng reproduces a
///   sample exactly; Ultralytics mixes Python's and numpy's global generators.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTransform {
    cfg: AugmentConfig,
    imgsz: u32,
}

impl TrainTransform {
    /// A pipeline producing `imgsz × imgsz` px samples (or rect shapes, see
    /// [`TrainTransform::sample_in`]). `rect` turns mosaic, MixUp and CutMix off, as
    /// Ultralytics' `build_transforms` does for rectangular training.
    pub fn new(cfg: &AugmentConfig, imgsz: u32, rect: bool) -> Result<TrainTransform, ConfigError> {
        cfg.validate()?;
        if imgsz == 0 {
            return Err(ConfigError("imgsz must be > 0".into()));
        }
        let mut cfg = cfg.clone();
        if rect {
            (cfg.mosaic, cfg.mixup, cfg.cutmix) = (0.0, 0.0, 0.0);
        }
        Ok(TrainTransform { cfg, imgsz })
    }

    /// Ultralytics `close_mosaic`: mosaic, MixUp, CutMix and copy-paste off from now on.
    pub fn close_mosaic(&mut self) {
        let c = &mut self.cfg;
        (c.mosaic, c.mixup, c.cutmix, c.copy_paste) = (0.0, 0.0, 0.0, 0.0);
    }

    /// The settings in effect (after `rect` and [`TrainTransform::close_mosaic`]).
    pub fn config(&self) -> &AugmentConfig {
        &self.cfg
    }

    /// Output side in px.
    pub fn imgsz(&self) -> u32 {
        self.imgsz
    }

    /// Sample `index` augmented to `imgsz × imgsz` px (see [`TrainTransform::sample_in`]).
    pub fn sample(
        &self,
        source: &dyn ImageSource,
        index: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        self.sample_in(source, index, None, rng)
    }

    /// Sample `index` augmented, objects in final px. `shape` `(h, w)` px is the letterbox
    /// target of non-mosaic samples (a rect batch shape; `None` = `imgsz × imgsz`); mosaic
    /// samples are always `imgsz` square.
    ///
    /// Random draws, in this order (gates are always drawn, a skipped step draws nothing
    /// more): pre-transform of `index` (mosaic gate; if taken 3 partner indices then centre
    /// y, x; 8 affine draws; in copy-paste `mixup` mode a donor index and the donor's own
    /// pre-transform without copy-paste); MixUp gate (index, partner pre-transform, ratio);
    /// CutMix gate (index, partner pre-transform, 3 × (λ, cx, cy), area choice); 3 HSV gains
    /// when any HSV range is non-zero; flip-up-down gate; flip-left-right gate.
    pub fn sample_in(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: Option<(u32, u32)>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Sample, DataError> {
        let cfg = &self.cfg;
        let mut s = self.pre_transform(source, index, shape, rng, true)?;
        if mix_gate(rng, cfg.mixup) {
            let j = draw_index(rng, source);
            let other = self.pre_transform(source, j, shape, rng, true)?;
            mixup(&mut s, other, draw_ratio(rng));
        }
        if mix_gate(rng, cfg.cutmix) {
            let j = draw_index(rng, source);
            let donor = self.pre_transform(source, j, shape, rng, true)?;
            cutmix(&mut s, donor, rng);
        }
        let ranges = [cfg.hsv_h, cfg.hsv_s, cfg.hsv_v];
        if ranges.iter().any(|&g| g != 0.0) {
            apply_hsv(&mut s.image, &HsvLuts::new(draw_gains(rng, ranges)));
        }
        if flip_gate(rng, cfg.flipud) {
            flipud(&mut s);
        }
        if flip_gate(rng, cfg.fliplr) {
            fliplr(&mut s);
        }
        Ok(s)
    }

    /// [`TrainTransform::sample_in`] then [`format()`], with Ultralytics' BGR gate (one more
    /// draw, BGR planes with probability `bgr`).
    pub fn sample_formatted(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: Option<(u32, u32)>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Formatted, DataError> {
        let s = self.sample_in(source, index, shape, rng)?;
        Ok(format(&s, mix_gate(rng, self.cfg.bgr)))
    }

    /// Loads image `index` and resamples its polygons (Ultralytics `update_labels_info`).
    fn load(&self, source: &dyn ImageSource, index: usize) -> Result<Sample, DataError> {
        let mut s = source.load(index)?;
        if !s.instances.segments.is_empty() {
            let n = resample_count(&s.instances.segments);
            resample_all(&mut s.instances.segments, n);
        }
        Ok(s)
    }

    /// Mosaic → copy-paste (flip) → letterbox unless mosaic → affine → copy-paste (mixup).
    fn pre_transform(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: Option<(u32, u32)>,
        rng: &mut ChaCha8Rng,
        with_mixup_paste: bool,
    ) -> Result<Sample, DataError> {
        let cfg = &self.cfg;
        let base = self.load(source, index)?;
        let paste = cfg.copy_paste > 0.0;
        let flip_paste = paste && cfg.copy_paste_mode == CopyPasteMode::Flip;
        let mosaic = mix_gate(rng, cfg.mosaic);
        let mut s = if mosaic {
            let (parts, centre) = self.mosaic_parts(source, base, rng)?;
            if !flip_paste {
                return self.warp_mosaic(source, &parts, centre, shape, rng, with_mixup_paste);
            }
            // Copy-paste (flip) paints on the whole canvas: compose all of it.
            mosaic4(parts, self.imgsz, centre)
        } else {
            base
        };
        if flip_paste {
            copy_paste_flip(&mut s, cfg.copy_paste);
        }
        let (input, out) = if mosaic {
            (s, self.mosaic_out())
        } else {
            let target = shape.unwrap_or((self.imgsz, self.imgsz));
            let (lb, _) = letterbox_sample(&s, &LetterBox::new(target));
            let size = (lb.image.width, lb.image.height);
            (lb, size)
        };
        let draw = AffineDraw::draw(rng, cfg);
        let m = draw.matrix((input.image.width, input.image.height), out);
        let s = random_perspective(&input, &m, out, draw.scale);
        self.finish_pre_transform(source, s, shape, rng, with_mixup_paste)
    }

    /// The mosaic's affine step without composing the whole `2s × 2s` canvas: only the window
    /// the warp reads is composed (about a third of the canvas on average), with the same
    /// pixels as [`mosaic4`] + [`random_perspective`] (see `warp::source_window`); a
    /// perspective matrix takes the whole canvas.
    fn warp_mosaic(
        &self,
        source: &dyn ImageSource,
        parts: &[Sample; 4],
        centre: (i64, i64),
        shape: Option<(u32, u32)>,
        rng: &mut ChaCha8Rng,
        with_mixup_paste: bool,
    ) -> Result<Sample, DataError> {
        let (placed, objects) = mosaic::layout(parts, self.imgsz, centre);
        let canvas = 2 * self.imgsz;
        let out = self.mosaic_out();
        let draw = AffineDraw::draw(rng, &self.cfg);
        let m = draw.matrix((canvas, canvas), out);
        let image = if is_affine(&m) {
            let window = source_window(&m, out, (canvas, canvas));
            let part = mosaic::compose_window(parts, &placed, window);
            warp_affine_window(&part, (window[0], window[1]), &m, out)
        } else {
            let whole = mosaic::compose_window(parts, &placed, [0, 0, canvas, canvas]);
            warp_perspective(&whole, &m, out)
        };
        let s = Sample {
            image,
            instances: perspective_instances(&objects, &m, out, draw.scale),
        };
        self.finish_pre_transform(source, s, shape, rng, with_mixup_paste)
    }

    /// Copy-paste in `mixup` mode (a donor's objects pasted onto `s`) when enabled.
    fn finish_pre_transform(
        &self,
        source: &dyn ImageSource,
        mut s: Sample,
        shape: Option<(u32, u32)>,
        rng: &mut ChaCha8Rng,
        with_mixup_paste: bool,
    ) -> Result<Sample, DataError> {
        let cfg = &self.cfg;
        if with_mixup_paste && cfg.copy_paste > 0.0 && cfg.copy_paste_mode == CopyPasteMode::Mixup {
            let j = draw_index(rng, source);
            let donor = self.pre_transform(source, j, shape, rng, false)?;
            copy_paste(&mut s, &donor, cfg.copy_paste);
        }
        Ok(s)
    }

    /// Size `(w, h)` px of a mosaic sample after the affine step: the `2s` canvas less the
    /// mosaic border on each side, `s` square.
    fn mosaic_out(&self) -> (u32, u32) {
        let side = (2 * i64::from(self.imgsz) + 2 * mosaic_border(self.imgsz)) as u32;
        (side, side)
    }

    /// `base` and three uniformly drawn partners, and a random centre to tile them around.
    fn mosaic_parts(
        &self,
        source: &dyn ImageSource,
        base: Sample,
        rng: &mut ChaCha8Rng,
    ) -> Result<([Sample; 4], (i64, i64)), DataError> {
        let idx: [usize; 3] = std::array::from_fn(|_| draw_index(rng, source));
        let parts = [
            base,
            self.load(source, idx[0])?,
            self.load(source, idx[1])?,
            self.load(source, idx[2])?,
        ];
        Ok((parts, draw_centre(rng, self.imgsz)))
    }
}

/// Letterboxes a sample (cv2-exact resize + pad 114) and maps its objects:
/// `px · gain + pad`.
pub fn letterbox_sample(sample: &Sample, letterbox: &LetterBox) -> (Sample, LetterboxInfo) {
    let (image, info) = letterbox.apply(&sample.image);
    let mut inst = sample.instances.clone();
    instances::scale(&mut inst, info.gain, info.gain);
    instances::shift(&mut inst, info.pad.0, info.pad.1);
    (
        Sample {
            image,
            instances: inst,
        },
        info,
    )
}

/// The validation transform: Ultralytics' val `LetterBox` (no enlarging, centred, pad 114).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValTransform {
    imgsz: u32,
}

impl ValTransform {
    /// Letterbox to `imgsz × imgsz` px unless a rect shape is given per call.
    pub fn new(imgsz: u32) -> ValTransform {
        ValTransform { imgsz }
    }

    /// Image `index` letterboxed to `shape` `(h, w)` px (a rect batch shape; `None` =
    /// `imgsz × imgsz`), with how it maps to the loaded image.
    pub fn sample(
        &self,
        source: &dyn ImageSource,
        index: usize,
        shape: Option<(u32, u32)>,
    ) -> Result<(Sample, LetterboxInfo), DataError> {
        let s = source.load(index)?;
        let shape = shape.unwrap_or((self.imgsz, self.imgsz));
        Ok(letterbox_sample(&s, &LetterBox::val(shape)))
    }
}

/// A sample as the model consumes it (Ultralytics `Format`).
#[derive(Debug, Clone, PartialEq)]
pub struct Formatted {
    /// Width in px.
    pub width: u32,
    /// Height in px.
    pub height: u32,
    /// Planar u8 image `[3, height, width]`: R, G, B planes (B, G, R when BGR was drawn).
    pub chw: Vec<u8>,
    /// `[cls, cx, cy, w, h]` per object, box normalised by the image width / height.
    pub labels: Vec<[f32; 5]>,
}

/// Ultralytics `Format(bbox_format="xywh", normalize=True)`: HWC → CHW planes (`bgr`
/// reverses the channel order), boxes clipped to the image, zero-area ones dropped (a safety
/// net; the pipeline never produces them), then normalised `[cls, cx, cy, w, h]`.
pub fn format(sample: &Sample, bgr: bool) -> Formatted {
    let img = &sample.image;
    let mut chw = vec![0u8; img.width as usize * img.height as usize * 3];
    img.write_planes(&mut chw, bgr);
    Formatted {
        width: img.width,
        height: img.height,
        chw,
        labels: format_labels(sample),
    }
}

/// The labels half of [`format()`]: `[cls, cx, cy, w, h]` per object, boxes clipped to the
/// image and normalised by its size, zero-area boxes dropped.
pub fn format_labels(sample: &Sample) -> Vec<[f32; 5]> {
    let img = &sample.image;
    let (w, h) = (img.width as f32, img.height as f32);
    sample
        .instances
        .boxes
        .iter()
        .zip(&sample.instances.cls)
        .map(|(bx, &c)| {
            (
                c,
                [
                    bx[0].clamp(0.0, w),
                    bx[1].clamp(0.0, h),
                    bx[2].clamp(0.0, w),
                    bx[3].clamp(0.0, h),
                ],
            )
        })
        .filter(|(_, bx)| instances::area(bx) > 0.0)
        .map(|(c, bx)| {
            let (bw, bh) = (bx[2] - bx[0], bx[3] - bx[1]);
            [
                c as f32,
                (bx[0] + bx[2]) / 2.0 / w,
                (bx[1] + bx[3]) / 2.0 / h,
                bw / w,
                bh / h,
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;
    use crate::sample::Instances;

    #[test]
    fn defaults_and_yaml_names() {
        let c: AugmentConfig =
            serde_yaml::from_str("mosaic: 0.5\ncopy_paste_mode: mixup\nlr0: 0.01\n").unwrap();
        assert_eq!(c.mosaic, 0.5);
        assert_eq!(c.copy_paste_mode, CopyPasteMode::Mixup);
        assert_eq!(
            AugmentConfig {
                mosaic: 1.0,
                copy_paste_mode: CopyPasteMode::Flip,
                ..c
            },
            AugmentConfig::default()
        );
        let d = AugmentConfig::default();
        assert_eq!(
            (d.hsv_h, d.hsv_s, d.hsv_v, d.translate, d.scale),
            (0.015, 0.7, 0.4, 0.1, 0.5)
        );
        assert_eq!((d.fliplr, d.close_mosaic), (0.5, 10));
        let bad = AugmentConfig { fliplr: 1.5, ..d };
        assert!(bad.validate().unwrap_err().to_string().contains("fliplr"));
    }

    #[test]
    fn rect_and_close_mosaic_switch_mixing_off() {
        let cfg = AugmentConfig {
            mixup: 0.2,
            cutmix: 0.1,
            copy_paste: 0.3,
            ..Default::default()
        };
        let t = TrainTransform::new(&cfg, 64, true).unwrap();
        assert_eq!(
            (t.config().mosaic, t.config().mixup, t.config().copy_paste),
            (0.0, 0.0, 0.3)
        );
        let mut t = TrainTransform::new(&cfg, 64, false).unwrap();
        t.close_mosaic();
        let c = t.config();
        assert_eq!(
            (c.mosaic, c.mixup, c.cutmix, c.copy_paste),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn format_planes_and_normalised_labels() {
        let s = Sample {
            image: Image {
                width: 2,
                height: 1,
                data: vec![1, 2, 3, 4, 5, 6],
            },
            instances: Instances {
                cls: vec![3, 4, 5],
                boxes: vec![
                    [0.0, 0.0, 1.0, 1.0],
                    [1.5, 0.0, 9.0, 1.0],
                    [2.0, 0.0, 3.0, 1.0],
                ],
                segments: vec![],
            },
        };
        let f = format(&s, false);
        assert_eq!(f.chw, vec![1, 4, 2, 5, 3, 6]);
        // The third box lies right of the image: zero area after clipping, dropped.
        assert_eq!(
            f.labels,
            vec![[3.0, 0.25, 0.5, 0.5, 1.0], [4.0, 0.875, 0.5, 0.25, 1.0]]
        );
        assert_eq!(format(&s, true).chw, vec![3, 6, 2, 5, 1, 4]);
    }
}
