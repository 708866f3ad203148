//! Ultralytics `RandomFlip`: mirror an image and its objects left-right or top-bottom.

use crate::image::Image;
use crate::instances;
use crate::sample::Sample;

/// Mirrors `sample` left-right (`np.fliplr` + `Instances.fliplr`): pixel column `c` moves to
/// `w − 1 − c`, coordinates `x` to `w − x` px.
pub fn fliplr(sample: &mut Sample) {
    mirror_rows(&mut sample.image);
    instances::fliplr(&mut sample.instances, sample.image.width as f32);
}

/// Mirrors `sample` top-bottom (`np.flipud` + `Instances.flipud`): row `r` moves to
/// `h − 1 − r`, coordinates `y` to `h − y` px.
pub fn flipud(sample: &mut Sample) {
    let stride = sample.image.width as usize * 3;
    let rows = sample.image.height as usize;
    let data = &mut sample.image.data;
    for r in 0..rows / 2 {
        let (top, bottom) = data.split_at_mut((rows - 1 - r) * stride);
        top[r * stride..(r + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
    instances::flipud(&mut sample.instances, sample.image.height as f32);
}

/// Reverses the pixel order of every row in place.
pub(crate) fn mirror_rows(img: &mut Image) {
    let stride = img.width as usize * 3;
    if stride == 0 {
        return;
    }
    for row in img.data.chunks_exact_mut(stride) {
        row.as_chunks_mut::<3>().0.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Instances;

    fn sample() -> Sample {
        let data = (0..2 * 3 * 3).map(|v| v as u8).collect();
        Sample {
            image: Image {
                width: 3,
                height: 2,
                data,
            },
            instances: Instances {
                cls: vec![7],
                boxes: vec![[0.5, 0.0, 1.5, 1.0]],
                segments: vec![vec![[0.5, 0.0], [1.5, 1.0]]],
            },
        }
    }

    #[test]
    fn lr_moves_pixels_and_boxes() {
        let mut s = sample();
        fliplr(&mut s);
        assert_eq!(&s.image.data[..9], &[6, 7, 8, 3, 4, 5, 0, 1, 2]);
        assert_eq!(s.instances.boxes[0], [1.5, 0.0, 2.5, 1.0]);
        assert_eq!(s.instances.segments[0], vec![[2.5, 0.0], [1.5, 1.0]]);
        fliplr(&mut s);
        assert_eq!(s, sample());
    }

    #[test]
    fn ud_moves_rows_and_boxes() {
        let mut s = sample();
        flipud(&mut s);
        assert_eq!(&s.image.data[..3], &[9, 10, 11]);
        assert_eq!(s.instances.boxes[0], [0.5, 1.0, 1.5, 2.0]);
        flipud(&mut s);
        assert_eq!(s, sample());
    }
}
