//! Host (RAM) bytes of a training run: image cache, batches in flight, loader workers' scratch,
//! label index, checkpoint copies of the model, and the device's share on the CPU backend.

use serde::{Deserialize, Serialize};

/// Where decoded images are kept between epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// Decoded on every use.
    #[default]
    None,
    /// In RAM (counted in the process).
    Ram,
    /// A memory-mapped file (in the OS page cache, reclaimable).
    Disk,
}

/// Facts about the dataset the host estimate needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DatasetFacts {
    /// Training images.
    pub train_images: u64,
    /// Validation images.
    pub val_images: u64,
    /// Labels (boxes) over both splits.
    pub labels: u64,
    /// Most labels in one training image.
    pub max_labels: u64,
    /// Pixels of the largest source image (its decode buffer), px.
    pub max_source_pixels: u64,
    /// Bytes of the resized training images (`yolo_data::image_cache::cache_bytes`).
    pub cache_bytes: u64,
}

/// What the host estimate is for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// Training image side, px.
    pub imgsz: u64,
    /// Training micro-batch.
    pub batch: u64,
    /// Validation batch.
    pub val_batch: u64,
    /// Loader threads (0: batches built on the training thread).
    pub workers: u64,
    /// Image cache.
    pub cache: CacheKind,
    /// Dataset.
    pub data: DatasetFacts,
    /// Bytes of one model copy (parameters and buffers).
    pub model_bytes: u64,
    /// Optimizer state tensors per parameter.
    pub optimizer_slots: u64,
    /// The device's peak when the device is this host (the CPU backend), bytes.
    pub device_on_host: u64,
}

/// Host bytes by consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HostEstimate {
    /// RAM image cache, bytes.
    pub cache: u64,
    /// Training batches in flight and recycled, plus the step's upload copies, bytes.
    pub train_batches: u64,
    /// Validation batches in flight and the float copy of one, bytes.
    pub val_batches: u64,
    /// Scratch of the loader threads (mosaic canvas, decoded sources, warp output), bytes.
    pub workers: u64,
    /// Label index, bytes.
    pub labels: u64,
    /// Host copies made while writing a checkpoint (model, EMA, optimizer state), bytes.
    pub checkpoint: u64,
    /// Device memory living on the host (CPU backend), bytes.
    pub device: u64,
    /// Sum, bytes.
    pub total: u64,
}

/// Per label in the index (class, box, bookkeeping), bytes.
const LABEL_BYTES: u64 = 48;
/// Per image in the index (path, sizes, vectors), bytes.
const IMAGE_BYTES: u64 = 256;

impl HostConfig {
    fn batch_bytes(&self, batch: u64) -> u64 {
        batch * 3 * self.imgsz * self.imgsz
    }

    /// Scratch of one loader thread: a 2s × 2s mosaic canvas, four resized sources, the warped
    /// output and the decode buffer of the largest source image (u8 RGB), bytes.
    pub fn worker_scratch(&self) -> u64 {
        let s2 = self.imgsz * self.imgsz * 3;
        4 * s2 + 4 * s2 + s2 + 3 * self.data.max_source_pixels
    }

    /// Batches in flight of a loader with `workers` threads: 2 per worker (at least 1), plus the
    /// recycled buffer.
    fn in_flight(&self, per_worker: u64) -> u64 {
        (per_worker * self.workers).max(1) + 1
    }
}

/// Estimates the host bytes of `cfg`.
pub fn estimate_host(cfg: &HostConfig) -> HostEstimate {
    let cache = if cfg.cache == CacheKind::Ram { cfg.data.cache_bytes } else { 0 };
    // The step copies the batch (u8) and widens it to i32 before the upload.
    let train_batches = (cfg.in_flight(2) + 5) * cfg.batch_bytes(cfg.batch);
    // The validator converts one batch to f32 on the host.
    let val_batches = (cfg.in_flight(1) + 4) * cfg.batch_bytes(cfg.val_batch);
    let workers = cfg.workers.max(1) * cfg.worker_scratch();
    let labels = (cfg.data.train_images + cfg.data.val_images) * IMAGE_BYTES + cfg.data.labels * LABEL_BYTES;
    let checkpoint = (2 + cfg.optimizer_slots) * cfg.model_bytes * 2;
    let parts = [cache, train_batches, val_batches, workers, labels, checkpoint, cfg.device_on_host];
    HostEstimate {
        cache,
        train_batches,
        val_batches,
        workers,
        labels,
        checkpoint,
        device: cfg.device_on_host,
        total: parts.iter().sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_bytes_add_up_from_their_parts() {
        let data = DatasetFacts { train_images: 1000, val_images: 100, labels: 7000, max_labels: 20, max_source_pixels: 640 * 480, cache_bytes: 900 << 20 };
        let cfg = HostConfig { imgsz: 640, batch: 16, val_batch: 32, workers: 4, cache: CacheKind::Ram, data, model_bytes: 10 << 20, optimizer_slots: 1, device_on_host: 0 };
        let h = estimate_host(&cfg);
        let batch = 16 * 3 * 640 * 640;
        assert_eq!(h.cache, 900 << 20);
        assert_eq!(h.train_batches, (8 + 1 + 5) * batch);
        assert_eq!(h.val_batches, (4 + 1 + 4) * 2 * batch);
        assert_eq!(h.workers, 4 * (9 * 640 * 640 * 3 + 3 * 640 * 480));
        assert_eq!(h.total, h.cache + h.train_batches + h.val_batches + h.workers + h.labels + h.checkpoint);
        let none = estimate_host(&HostConfig { cache: CacheKind::Disk, workers: 0, ..cfg });
        assert_eq!(none.cache, 0, "a disk cache lives in the page cache");
        assert_eq!(none.workers, cfg.worker_scratch(), "the training thread builds the batches");
    }
}
