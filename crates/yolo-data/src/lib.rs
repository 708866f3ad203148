//! YOLO-format datasets for YOLO11 training, exact to Ultralytics 8.3 where users expect it:
//! dataset yaml, label checks and cache, image decoding, long-side resize, letterbox and
//! rectangular batch shapes. Plain arrays only; no ML framework.

mod cache;
pub mod dataset;
pub mod error;
pub mod image;
pub mod index;
pub mod labels;
pub mod letterbox;
pub mod rect;
pub mod sample;

pub use dataset::{DatasetConfig, IMG_FORMATS, Split, is_image_file};
pub use error::DataError;
pub use image::{Image, ImageProbe, decode_image, probe_image, resize_bilinear, resize_long_side};
pub use index::{IndexCounts, IndexOptions, IndexedImage, LabelIndex};
pub use labels::{LabelStatus, Labels, ParsedLabels, label_path, parse_label_text, parse_labels};
pub use letterbox::{
    LetterBox, LetterboxGeometry, LetterboxInfo, letterbox_resized, predict_letterbox,
    scale_boxes_to_original, val_letterbox,
};
pub use rect::{
    RECT_BUCKET_PX, RECT_PAD_TRAIN, RECT_PAD_VAL, bucket_rect_shape, rect_batch_shapes,
};
pub use sample::{ImageSource, Instances, Sample};

pub mod collate;
pub mod image_cache;
mod jpeg;
pub mod loader;

pub use collate::{Batch, BatchBuilder, batch_image_bytes};
pub use image::long_side_size;
pub use image_cache::{
    CacheMode, CacheOptions, DecodingSource, ImageCache, cache_bytes, choose_mode, disk_cache_path,
    open_source,
};
pub use loader::{
    Epoch, Loader, LoaderConfig, LoaderSource, SampleTransform, planned_batches, release_free_heap,
    sample_rng,
};

pub mod augment;
pub mod copy_paste;
pub mod flip;
pub mod hsv;
mod instances;
pub mod mixup;
pub mod mosaic;
pub mod perspective;
pub mod segments;
pub mod warp;

pub use augment::{
    AugmentConfig, ConfigError, CopyPasteMode, Formatted, TrainTransform, ValTransform, format,
    format_labels, letterbox_sample,
};
