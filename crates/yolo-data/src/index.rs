//! Label index of a split: every image's size and labels, scanned in parallel and cached.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cache::{self, CACHE_VERSION, CacheKey, FileStamps, Scan, Stamp};
use crate::dataset::{DatasetConfig, Split};
use crate::error::DataError;
use crate::image::probe_image;
use crate::labels::{LabelStatus, Labels, label_path, parse_labels};

/// How to build a [`LabelIndex`] (Ultralytics names where they exist).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexOptions {
    /// Map every class to 0 (and skip the class-id range check, as Ultralytics does).
    pub single_cls: bool,
    /// Keep only objects of these classes (images left without objects stay as backgrounds).
    pub classes: Option<Vec<u32>>,
    /// Use only the first `round(N · fraction)` images of the sorted list (clamped to 0..=1).
    pub fraction: f64,
    /// Read and write the label cache file.
    pub cache: bool,
    /// Show a progress bar and print counts and messages to stderr.
    pub verbose: bool,
    /// Scanner threads; 0 = all cores.
    pub workers: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            single_cls: false,
            classes: None,
            fraction: 1.0,
            cache: true,
            verbose: true,
            workers: 0,
        }
    }
}

/// One usable image of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedImage {
    /// Image file.
    pub path: PathBuf,
    /// Original width in px, after EXIF orientation.
    pub width: u32,
    /// Original height in px, after EXIF orientation.
    pub height: u32,
    /// Its objects (after the `classes` filter and `single_cls`).
    pub labels: Labels,
}

/// What the scan found, one count per image (duplicates: rows removed in all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexCounts {
    /// Images whose label file has valid rows.
    pub found: usize,
    /// Images without a label file (backgrounds).
    pub missing: usize,
    /// Images with an empty label file (backgrounds).
    pub empty: usize,
    /// Images skipped because the image or its label file is corrupt.
    pub corrupt: usize,
    /// Duplicate label rows removed, over all files.
    pub duplicates: usize,
}

/// Every usable image of a split with its original size and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelIndex {
    /// Usable images in sorted path order (corrupt ones skipped).
    pub images: Vec<IndexedImage>,
    /// Scan counts.
    pub counts: IndexCounts,
    /// Corrupt items and warnings, each naming its file (and line).
    pub messages: Vec<String>,
    /// Where the label cache lives (whether or not it could be written).
    pub cache_path: Option<PathBuf>,
    /// True if the scan came from a valid cache.
    pub from_cache: bool,
}

impl LabelIndex {
    /// Lists `split` of `config` and indexes it.
    pub fn load(
        config: &DatasetConfig,
        split: Split,
        opts: &IndexOptions,
    ) -> Result<LabelIndex, DataError> {
        let images = config.images(split)?;
        LabelIndex::build(&images, config.nc(), opts)
    }

    /// Indexes `images` (sorted), checking labels against `nc` classes. Corrupt items are
    /// skipped and reported; it is an error only if every image is corrupt.
    pub fn build(
        images: &[PathBuf],
        nc: usize,
        opts: &IndexOptions,
    ) -> Result<LabelIndex, DataError> {
        let images = &images[..fraction_len(images.len(), opts.fraction)];
        let labels: Vec<PathBuf> = images.iter().map(|p| label_path(p)).collect();
        let key = cache_key(images, &labels, nc, opts.single_cls);
        let cache_path = labels.first().and_then(|l| cache::cache_path(l));
        let mut notes = Vec::new();
        let cached = match (&cache_path, opts.cache) {
            (Some(path), true) => read_cache(path, &key, &mut notes),
            _ => None,
        };
        let from_cache = cached.is_some();
        let scans = cached.unwrap_or_else(|| {
            let scans = scan_all(images, &labels, scan_nc(nc, opts), opts);
            if let (Some(path), true) = (&cache_path, opts.cache) {
                write_cache(path, &key, &scans, &mut notes);
            }
            scans
        });
        let index = assemble(images, scans, opts, cache_path, from_cache, notes);
        if opts.verbose {
            index.report(labels.first().and_then(|l| l.parent()));
        }
        match images.first() {
            Some(first) if index.is_empty() => Err(DataError::image(
                first.parent().unwrap_or(first),
                format!(
                    "no usable images: all {} are corrupt (see the messages above)",
                    images.len()
                ),
            )),
            _ => Ok(index),
        }
    }

    /// Number of usable images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True if no image is usable.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// `h / w` of every image (original size), for [`crate::rect::rect_batch_shapes`].
    pub fn aspect_ratios(&self) -> Vec<f64> {
        self.images
            .iter()
            .map(|i| f64::from(i.height) / f64::from(i.width.max(1)))
            .collect()
    }

    fn report(&self, labels_dir: Option<&Path>) {
        let c = &self.counts;
        let dir = labels_dir.map_or_else(String::new, |d| d.display().to_string());
        let source = if self.from_cache { " (from cache)" } else { "" };
        eprintln!(
            "Scanning {dir}{source}: {} images: {} found, {} missing, {} empty, {} corrupt, {} duplicates removed",
            self.images.len() + c.corrupt,
            c.found,
            c.missing,
            c.empty,
            c.corrupt,
            c.duplicates
        );
        for m in &self.messages {
            eprintln!("WARNING: {m}");
        }
        if c.found == 0 {
            eprintln!("WARNING: no labels found in {dir}, training may not work correctly");
        }
    }
}

/// `round(n · fraction)` (Python rounding) when `fraction < 1`, else `n`.
fn fraction_len(n: usize, fraction: f64) -> usize {
    if fraction >= 1.0 || fraction.is_nan() {
        return n;
    }
    ((n as f64 * fraction.max(0.0)).round_ties_even() as usize).min(n)
}

/// What a cached scan depends on: settings plus every file's size and mtime.
fn cache_key(images: &[PathBuf], labels: &[PathBuf], nc: usize, single_cls: bool) -> CacheKey {
    let files = images
        .iter()
        .zip(labels)
        .map(|(i, l)| FileStamps {
            image: i.clone(),
            image_stamp: Stamp::of(i),
            label_stamp: Stamp::of(l),
        })
        .collect();
    CacheKey {
        version: CACHE_VERSION,
        nc,
        single_cls,
        files,
    }
}

fn scan_nc(nc: usize, opts: &IndexOptions) -> Option<usize> {
    if opts.single_cls { None } else { Some(nc) }
}

fn read_cache(path: &Path, key: &CacheKey, notes: &mut Vec<String>) -> Option<Vec<Scan>> {
    match cache::load(path, key) {
        Ok(scans) => scans,
        Err(e) => {
            notes.push(format!("{e}; rebuilding it"));
            None
        }
    }
}

fn write_cache(path: &Path, key: &CacheKey, scans: &[Scan], notes: &mut Vec<String>) {
    if let Err(e) = cache::save(path, key, scans) {
        notes.push(format!("labels not cached (folder not writeable?): {e}"));
    }
}

/// Checks one image + label pair (Ultralytics `verify_image_label`).
fn scan_one(image: &Path, label: &Path, nc: Option<usize>) -> Scan {
    let corrupt = |e: DataError| Scan::Corrupt {
        message: format!("ignoring corrupt image/label: {e}"),
    };
    let probe = match probe_image(image) {
        Ok(p) => p,
        Err(e) => return corrupt(e),
    };
    let parsed = match parse_labels(label, nc) {
        Ok(p) => p,
        Err(e) => return corrupt(e),
    };
    let warnings = probe.warning.into_iter().chain(parsed.warnings).collect();
    Scan::Ok {
        width: probe.width,
        height: probe.height,
        status: parsed.status,
        labels: parsed.labels,
        duplicates: parsed.duplicates,
        warnings,
    }
}

/// Scans all pairs on `opts.workers` threads (all cores if 0), with a progress bar.
fn scan_all(
    images: &[PathBuf],
    labels: &[PathBuf],
    nc: Option<usize>,
    opts: &IndexOptions,
) -> Vec<Scan> {
    let bar = progress_bar(
        images.len(),
        opts.verbose,
        labels.first().and_then(|l| l.parent()),
    );
    let workers = match opts.workers {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, images.len().max(1));
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Scan)> = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let (Some(image), Some(label)) = (images.get(i), labels.get(i)) else {
                            break out;
                        };
                        out.push((i, scan_one(image, label, nc)));
                        bar.inc(1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    bar.finish_and_clear();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, s)| s).collect()
}

fn progress_bar(len: usize, visible: bool, labels_dir: Option<&Path>) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} [{elapsed}<{eta}, {per_sec}]")
    {
        bar.set_style(style);
    }
    bar.set_message(format!(
        "Scanning {}",
        labels_dir.map_or_else(String::new, |d| d.display().to_string())
    ));
    bar
}

/// Turns per-image scans into the index: counts, messages, filters.
fn assemble(
    images: &[PathBuf],
    scans: Vec<Scan>,
    opts: &IndexOptions,
    cache_path: Option<PathBuf>,
    from_cache: bool,
    mut messages: Vec<String>,
) -> LabelIndex {
    let mut counts = IndexCounts::default();
    let mut out = Vec::with_capacity(images.len());
    for (path, scan) in images.iter().zip(scans) {
        match scan {
            Scan::Corrupt { message } => {
                counts.corrupt += 1;
                messages.push(message);
            }
            Scan::Ok {
                width,
                height,
                status,
                mut labels,
                duplicates,
                warnings,
            } => {
                count_status(&mut counts, status);
                counts.duplicates += duplicates;
                messages.extend(warnings);
                apply_filters(&mut labels, opts);
                out.push(IndexedImage {
                    path: path.clone(),
                    width,
                    height,
                    labels,
                });
            }
        }
    }
    LabelIndex {
        images: out,
        counts,
        messages,
        cache_path,
        from_cache,
    }
}

fn count_status(counts: &mut IndexCounts, status: LabelStatus) {
    match status {
        LabelStatus::Found => counts.found += 1,
        LabelStatus::Missing => counts.missing += 1,
        LabelStatus::Empty => counts.empty += 1,
    }
}

/// Ultralytics `update_labels`: the `classes` filter first, then `single_cls`.
fn apply_filters(labels: &mut Labels, opts: &IndexOptions) {
    if let Some(classes) = &opts.classes {
        labels.retain_classes(classes);
    }
    if opts.single_cls {
        labels.set_single_class();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_uses_python_rounding() {
        assert_eq!(fraction_len(10, 1.0), 10);
        assert_eq!(fraction_len(10, 0.25), 2); // 2.5 -> 2
        assert_eq!(fraction_len(10, 0.75), 8); // 7.5 -> 8
        assert_eq!(fraction_len(10, -1.0), 0);
        assert_eq!(fraction_len(3, 2.0), 3);
    }
}
