//! The unit the transforms and the loader exchange: an image with its objects in pixels.

use crate::error::DataError;
use crate::image::Image;

/// The objects of one image in pixel coordinates of that image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Instances {
    /// Class id per object.
    pub cls: Vec<u32>,
    /// `x1, y1, x2, y2` per object, px.
    pub boxes: Vec<[f32; 4]>,
    /// Polygon per object, px (`[x, y]` points); empty when the dataset has box rows only,
    /// otherwise exactly one polygon per box.
    pub segments: Vec<Vec<[f32; 2]>>,
}

impl Instances {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.cls.len()
    }

    /// Whether there are no objects.
    pub fn is_empty(&self) -> bool {
        self.cls.is_empty()
    }
}

/// An RGB image and its objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Pixels, RGB HWC.
    pub image: Image,
    /// Objects in `image`'s pixels.
    pub instances: Instances,
}

/// Where transforms get their images: image `index` of a split, decoded and resized so its long
/// side is `imgsz` (Ultralytics `load_image`), with its objects scaled to the resized pixels.
/// Implementations are shared by every loader thread.
pub trait ImageSource: Sync {
    /// Number of images.
    fn len(&self) -> usize;

    /// Whether there are no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Image `index` resized to the source's `imgsz`, with its objects in its pixels.
    fn load(&self, index: usize) -> Result<Sample, DataError>;
}
