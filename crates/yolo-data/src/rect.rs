//! Rectangular batch shapes (Ultralytics `set_rectangle`), used for validation and `rect=True`.

/// Ultralytics `pad` for rect batches in training.
pub const RECT_PAD_TRAIN: f64 = 0.0;
/// Ultralytics `pad` for rect batches in validation.
pub const RECT_PAD_VAL: f64 = 0.5;

/// Sorts images by aspect ratio and gives each batch one padded shape, as Ultralytics
/// `set_rectangle`.
///
/// * `aspect_ratios`: `h / w` of every image (original size).
/// * returns `(order, shapes)`: `order[k]` is the input index of the k-th image in the
///   sorted sequence (batch `k / batch`); `shapes[b]` is batch b's `(height, width)` in px:
///   `ceil(shape · imgsz / stride + pad) · stride` with shape `[max_ar, 1]` if all ar < 1,
///   `[1, 1 / min_ar]` if all ar > 1, else `[1, 1]`.
///
/// Ties keep their input order (a stable sort; numpy's `argsort` is not stable, so the
/// order of equal ratios may differ from Ultralytics). `batch` and `stride` of 0 count as 1.
pub fn rect_batch_shapes(
    aspect_ratios: &[f64],
    batch: usize,
    imgsz: u32,
    stride: u32,
    pad: f64,
) -> (Vec<usize>, Vec<(u32, u32)>) {
    let mut order: Vec<usize> = (0..aspect_ratios.len()).collect();
    order.sort_by(|&a, &b| aspect_ratios[a].total_cmp(&aspect_ratios[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| aspect_ratios[i]).collect();
    let shapes = sorted
        .chunks(batch.max(1))
        .map(|ar| batch_shape(ar, imgsz, stride.max(1), pad))
        .collect();
    (order, shapes)
}

/// One batch's `(height, width)` px from its (sorted) aspect ratios.
fn batch_shape(sorted_ar: &[f64], imgsz: u32, stride: u32, pad: f64) -> (u32, u32) {
    let (min, max) = (sorted_ar[0], sorted_ar[sorted_ar.len() - 1]);
    let (h, w) = if max < 1.0 {
        (max, 1.0)
    } else if min > 1.0 {
        (1.0, 1.0 / min)
    } else {
        (1.0, 1.0)
    };
    let side = |s: f64| ((s * f64::from(imgsz) / f64::from(stride) + pad).ceil() as u32) * stride;
    (side(h), side(w))
}

/// Rect shape bucket for GPU runs, px: short sides rounded up to a multiple of this.
pub const RECT_BUCKET_PX: u32 = 128;

/// A rect batch shape `(h, w)` with its short side rounded up to a multiple of `step` px,
/// capped at the long side (`step` 0 leaves it unchanged).
///
/// Validation letterboxes without up-scaling, so a larger shape only adds padding. At imgsz 640
/// (long side 672 with pad 0.5) the short side takes 6 values instead of up to 21, i.e. at most
/// 11 distinct shapes.
pub fn bucket_rect_shape((h, w): (u32, u32), step: u32) -> (u32, u32) {
    if step == 0 {
        return (h, w);
    }
    let long = h.max(w);
    let up = |s: u32| s.div_ceil(step).saturating_mul(step).min(long);
    if h < w { (up(h), w) } else { (h, up(w)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_the_short_side_up_and_keep_the_long_one() {
        assert_eq!(bucket_rect_shape((544, 672), 128), (640, 672));
        assert_eq!(bucket_rect_shape((512, 672), 128), (512, 672));
        assert_eq!(bucket_rect_shape((672, 160), 128), (672, 256));
        assert_eq!(bucket_rect_shape((672, 672), 128), (672, 672));
        assert_eq!(
            bucket_rect_shape((672, 650), 128),
            (672, 672),
            "capped at the long side"
        );
        assert_eq!(bucket_rect_shape((480, 640), 0), (480, 640));
        let shorts: std::collections::BTreeSet<u32> = (1..=21)
            .map(|k| bucket_rect_shape((k * 32, 672), RECT_BUCKET_PX).0)
            .collect();
        assert_eq!(
            shorts.into_iter().collect::<Vec<_>>(),
            vec![128, 256, 384, 512, 640, 672]
        );
    }

    #[test]
    fn landscape_640x480_val_is_512x672() {
        // Spec §5.6: ar = 480/640 = 0.75 -> h = ceil(0.75·20 + 0.5)·32 = 16·32 = 512,
        // w = ceil(20 + 0.5)·32 = 21·32 = 672. The spec's (512, 672) is right.
        let (order, shapes) = rect_batch_shapes(&[0.75], 1, 640, 32, RECT_PAD_VAL);
        assert_eq!(order, vec![0]);
        assert_eq!(shapes, vec![(512, 672)]);
        // Train pad 0: 480x640.
        assert_eq!(
            rect_batch_shapes(&[0.75], 1, 640, 32, RECT_PAD_TRAIN).1,
            vec![(480, 640)]
        );
    }

    #[test]
    fn sorted_batches_with_mixed_ratios() {
        let ars = [1.5, 0.75, 1.0, 0.5, 2.0];
        let (order, shapes) = rect_batch_shapes(&ars, 2, 640, 32, 0.0);
        assert_eq!(order, vec![3, 1, 2, 0, 4]);
        // batch 0: [0.5, 0.75] -> [0.75, 1]; batch 1: [1.0, 1.5] -> square; batch 2: [2.0] -> [1, 0.5].
        assert_eq!(shapes, vec![(480, 640), (640, 640), (640, 320)]);
    }

    #[test]
    fn ties_keep_input_order_and_empty_is_empty() {
        let (order, _) = rect_batch_shapes(&[1.0, 0.5, 1.0, 0.5], 4, 320, 32, 0.5);
        assert_eq!(order, vec![1, 3, 0, 2]);
        assert_eq!(rect_batch_shapes(&[], 4, 640, 32, 0.5), (vec![], vec![]));
    }
}
