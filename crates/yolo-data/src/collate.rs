//! Collation (Ultralytics `Format` + `collate_fn`): samples into one `[B, 3, H, W]` u8 batch.

use std::path::{Path, PathBuf};

use crate::augment::format_labels;
use crate::error::DataError;
use crate::sample::Sample;

/// A batch as the trainer consumes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `[B, 3, H, W]` u8, contiguous, RGB planes per image (divide by 255 on the device).
    pub images: Vec<u8>,
    /// `(height, width)` px of every image of the batch.
    pub shape: (u32, u32),
    /// One row per object: `[batch_idx, cls, cx, cy, w, h]`, the box normalised by the
    /// image's width / height.
    pub labels: Vec<[f32; 6]>,
    /// Image file of each batch position.
    pub paths: Vec<PathBuf>,
    /// Source index of each batch position.
    pub indices: Vec<usize>,
    /// Epoch the batch belongs to (0-based).
    pub epoch: usize,
    /// Position of the batch in its epoch (0-based).
    pub index: usize,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// Bytes of a `[batch, 3, h, w]` u8 image tensor.
pub fn batch_image_bytes(batch: usize, (h, w): (u32, u32)) -> u64 {
    batch as u64 * 3 * u64::from(h) * u64::from(w)
}

/// Builds a [`Batch`] one sample at a time, writing pixels straight into the CHW buffer so a
/// batch never coexists with all its HWC samples.
#[derive(Debug)]
pub struct BatchBuilder {
    batch: Batch,
    capacity: usize,
}

impl BatchBuilder {
    /// An empty batch of up to `capacity` images of `shape` `(h, w)` px.
    pub fn new(shape: (u32, u32), capacity: usize, epoch: usize, index: usize) -> BatchBuilder {
        BatchBuilder::reusing(Vec::new(), shape, capacity, epoch, index)
    }

    /// [`BatchBuilder::new`] writing its pixels into `buffer` (cleared; grown if too small),
    /// e.g. the image buffer of a batch the trainer is done with.
    pub fn reusing(
        mut buffer: Vec<u8>,
        shape: (u32, u32),
        capacity: usize,
        epoch: usize,
        index: usize,
    ) -> BatchBuilder {
        buffer.clear();
        buffer.reserve_exact(batch_image_bytes(capacity, shape) as usize);
        BatchBuilder {
            batch: Batch {
                images: buffer,
                shape,
                labels: Vec::new(),
                paths: Vec::with_capacity(capacity),
                indices: Vec::with_capacity(capacity),
                epoch,
                index,
            },
            capacity,
        }
    }

    /// Appends `sample` (source index `index`, file `path`) through Ultralytics `Format`
    /// ([`format`](crate::augment::format): RGB planes; boxes clipped to the image, zero-area ones dropped, then
    /// normalised). The image must be `shape` px.
    pub fn push(&mut self, index: usize, path: &Path, sample: &Sample) -> Result<(), DataError> {
        let (h, w) = self.batch.shape;
        let img = &sample.image;
        if (img.height, img.width) != (h, w) || self.batch.len() == self.capacity {
            return Err(DataError::image(
                path,
                format!(
                    "transformed image is {}x{} px (h x w) but batch {} of epoch {} is {h}x{w} with room for {}",
                    img.height, img.width, self.batch.index, self.batch.epoch, self.capacity
                ),
            ));
        }
        let pos = self.batch.len() as f32;
        let images = &mut self.batch.images;
        let start = images.len();
        images.resize(start + img.data.len(), 0);
        img.write_planes(&mut images[start..], false);
        let labels = format_labels(sample);
        let rows = labels.iter();
        self.batch
            .labels
            .extend(rows.map(|&[c, x, y, w, h]| [pos, c, x, y, w, h]));
        self.batch.paths.push(path.to_path_buf());
        self.batch.indices.push(index);
        Ok(())
    }

    /// The finished batch.
    pub fn finish(self) -> Batch {
        self.batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;
    use crate::sample::Instances;

    fn sample(w: u32, h: u32, boxes: Vec<[f32; 4]>) -> Sample {
        let data = (0..w * h).flat_map(|i| [i as u8, 100, 200]).collect();
        Sample {
            image: Image {
                width: w,
                height: h,
                data,
            },
            instances: Instances {
                cls: (0..boxes.len() as u32).collect(),
                boxes,
                segments: vec![],
            },
        }
    }

    #[test]
    fn chw_planes_and_normalised_labels() {
        let mut b = BatchBuilder::new((2, 4), 2, 3, 7);
        b.push(5, Path::new("a.jpg"), &sample(4, 2, vec![]))
            .unwrap();
        let boxes = vec![
            [0.0, 0.0, 2.0, 1.0],
            [3.0, -1.0, 5.0, 1.0],
            [4.0, 0.0, 6.0, 2.0],
        ];
        b.push(9, Path::new("b.jpg"), &sample(4, 2, boxes)).unwrap();
        let batch = b.finish();
        assert_eq!(batch.images.len(), 2 * 3 * 8);
        assert_eq!(&batch.images[..8], &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert!(batch.images[8..16].iter().all(|&v| v == 100));
        assert!(batch.images[16..24].iter().all(|&v| v == 200));
        // Second box clipped to [3, 0, 4, 1]; the third (outside) dropped.
        assert_eq!(
            batch.labels,
            vec![
                [1.0, 0.0, 0.25, 0.25, 0.5, 0.5],
                [1.0, 1.0, 0.875, 0.25, 0.25, 0.5]
            ]
        );
        assert_eq!(
            (batch.indices, batch.epoch, batch.index),
            (vec![5, 9], 3, 7)
        );
    }

    #[test]
    fn wrong_shape_or_overflow_is_an_error() {
        let mut b = BatchBuilder::new((2, 4), 1, 0, 0);
        let e = b
            .push(0, Path::new("x.jpg"), &sample(2, 4, vec![]))
            .unwrap_err();
        assert!(
            e.to_string().starts_with("x.jpg: transformed image is 4x2"),
            "{e}"
        );
        b.push(0, Path::new("x.jpg"), &sample(4, 2, vec![]))
            .unwrap();
        assert!(
            b.push(1, Path::new("y.jpg"), &sample(4, 2, vec![]))
                .is_err()
        );
    }
}
