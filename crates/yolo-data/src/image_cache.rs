//! Image cache: every image decoded once, shrunk to long side `imgsz` (never enlarged), packed in one mmap.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::thread;

use indicatif::{ProgressBar, ProgressStyle};
use memmap2::{Mmap, MmapMut, MmapOptions};
use serde::{Deserialize, Serialize};

use crate::cache::Stamp;
use crate::error::DataError;
use crate::image::{Image, decode_image, long_side_size, resize_bilinear, resize_pixels};
use crate::index::{IndexedImage, LabelIndex};
use crate::labels::{Labels, label_path};
use crate::loader::LoaderSource;
use crate::sample::{ImageSource, Instances, Sample};

/// Bumped whenever the disk-cache layout or the resize changes.
const CACHE_VERSION: u32 = 2;
/// First 8 bytes of a disk cache file.
const MAGIC: &[u8; 8] = b"YOLOIMC\0";
/// Bytes before the pixels in a disk cache file (magic, header offset and length, padding).
const DATA_OFFSET: usize = 4096;
/// Safety margin on RAM / disk space checks: need `bytes · (1 + MARGIN)`.
const MARGIN: f64 = 0.10;

/// Where decoded images live (Ultralytics `cache=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Anonymous memory mapping, built every run.
    Ram,
    /// One file next to the labels, reused while its sources are unchanged.
    Disk,
    /// No cache: decode and resize on every load.
    None,
}

impl FromStr for CacheMode {
    type Err = String;

    /// `ram` / `true`, `disk`, `false` / `none` (any case), as Ultralytics' `cache=`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ram" | "true" => Ok(CacheMode::Ram),
            "disk" => Ok(CacheMode::Disk),
            "false" | "none" | "" => Ok(CacheMode::None),
            other => Err(format!("cache={other}: expected ram, disk, true or false")),
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CacheMode::Ram => "ram",
            CacheMode::Disk => "disk",
            CacheMode::None => "none",
        })
    }
}

/// How to open a split's images.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheOptions {
    /// Long side of every image after loading, px.
    pub imgsz: u32,
    /// Requested mode; may fall back (ram → disk → none) when it does not fit.
    pub mode: CacheMode,
    /// Decoder threads for building; 0 = all cores.
    pub workers: usize,
    /// Progress bar and messages on stderr.
    pub verbose: bool,
    /// Disk cache file; `None` = [`disk_cache_path`] next to the labels.
    pub disk_path: Option<PathBuf>,
}

impl CacheOptions {
    /// `imgsz` px and `mode`, all cores, verbose, default disk path.
    pub fn new(imgsz: u32, mode: CacheMode) -> CacheOptions {
        CacheOptions {
            imgsz,
            mode,
            workers: 0,
            verbose: true,
            disk_path: None,
        }
    }
}

/// Place of image `i`'s pixels in the cache: `height × width × 3` bytes RGB HWC at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    /// Byte offset from the start of the pixel data.
    offset: u64,
    /// Stored width, px (the original's, or the resized one when the original is larger).
    width: u32,
    /// Stored height, px.
    height: u32,
}

impl Slot {
    fn len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }
}

/// Size an image is stored at: shrunk to long side `imgsz` when larger, else as it is. Images
/// smaller than `imgsz` are enlarged on load instead (the same resize of the same pixels, so
/// the result is identical), which keeps the cache no larger than the decoded originals.
fn stored_size(width: u32, height: u32, imgsz: u32) -> (u32, u32) {
    if width.max(height) > imgsz {
        long_side_size(width, height, imgsz)
    } else {
        (width, height)
    }
}

/// Slots of every image at its stored size and their total size in bytes.
fn plan_slots(images: &[IndexedImage], imgsz: u32) -> (Vec<Slot>, u64) {
    let mut offset = 0u64;
    let slots = images
        .iter()
        .map(|im| {
            let (width, height) = stored_size(im.width, im.height, imgsz);
            let slot = Slot {
                offset,
                width,
                height,
            };
            offset += slot.len() as u64;
            slot
        })
        .collect();
    (slots, offset)
}

/// Exact pixel bytes of a cache of `index` at `imgsz`: Σ stored `w · h · 3` (images larger than
/// `imgsz` shrunk to long side `imgsz`, smaller ones kept at their size).
pub fn cache_bytes(index: &LabelIndex, imgsz: u32) -> u64 {
    plan_slots(&index.images, imgsz).1
}

/// Default disk cache file: `<labels>/<split>.imgcache-<imgsz>` beside the split's label
/// folder, e.g. `labels/train2017.imgcache-640`.
pub fn disk_cache_path(index: &LabelIndex, imgsz: u32) -> Option<PathBuf> {
    let labels = label_path(&index.images.first()?.path);
    let dir = labels.parent()?;
    let name = dir.file_name()?.to_string_lossy().into_owned();
    Some(dir.with_file_name(format!("{name}.imgcache-{imgsz}")))
}

/// Decoded, resized images of a split in one read-only memory map, with their labels.
///
/// `cache=ram` keeps the pixels in an anonymous mapping (never written to disk); `cache=disk`
/// in one file next to the labels (`labels/train2017.imgcache-640`: pixels at byte 4096, a
/// JSON header with the version, `imgsz`, every source's size + mtime and the slots at the
/// end), reused while it matches. Loader threads read the same read-only mapping: the memory
/// is the cache's size once, whatever the number of workers. `cache=none` is
/// [`DecodingSource`].
pub struct ImageCache {
    images: Vec<IndexedImage>,
    slots: Vec<Slot>,
    /// Per image: `None` if usable, else why it was skipped (names the file).
    errors: Vec<Option<String>>,
    map: Mmap,
    /// Offset of the pixels in `map`, bytes.
    data_offset: usize,
    bytes: u64,
    mode: CacheMode,
    path: Option<PathBuf>,
    /// Long side of the images [`ImageSource::load`] returns, px.
    imgsz: u32,
}

impl fmt::Debug for ImageCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageCache")
            .field("images", &self.images.len())
            .field("bytes", &self.bytes)
            .field("mode", &self.mode)
            .field("path", &self.path)
            .finish()
    }
}

impl ImageCache {
    /// Builds a `cache=ram` cache of `index`: decodes every image once on `opts.workers`
    /// threads into an anonymous mapping. No space check (see [`open_source`]).
    pub fn build_ram(index: &LabelIndex, opts: &CacheOptions) -> Result<ImageCache, DataError> {
        let (slots, bytes) = plan_slots(&index.images, opts.imgsz);
        let mut map = MmapOptions::new()
            .len(bytes.max(1) as usize)
            .map_anon()
            .map_err(|e| DataError::io(Path::new("<anonymous image cache>"), e))?;
        let errors = fill(&mut map, &index.images, &slots, opts, "ram")?;
        let map = map
            .make_read_only()
            .map_err(|e| DataError::io(Path::new("<anonymous image cache>"), e))?;
        Ok(ImageCache {
            images: index.images.clone(),
            slots,
            errors,
            map,
            data_offset: 0,
            bytes,
            mode: CacheMode::Ram,
            path: None,
            imgsz: opts.imgsz,
        })
    }

    /// Opens the `cache=disk` file at `path` if it is valid for `index` and `opts.imgsz`,
    /// else (with a warning when it exists) builds it. No space check (see [`open_source`]).
    pub fn open_disk(
        index: &LabelIndex,
        opts: &CacheOptions,
        path: &Path,
    ) -> Result<ImageCache, DataError> {
        let (slots, bytes) = plan_slots(&index.images, opts.imgsz);
        let header = DiskHeader::new(index, opts.imgsz, &slots);
        match read_disk(path, &header) {
            Ok(Some((map, errors))) => {
                if opts.verbose {
                    let skipped = errors.iter().flatten().count();
                    eprintln!(
                        "Image cache (disk): reusing {} ({}, {skipped} images skipped)",
                        path.display(),
                        fmt_bytes(bytes)
                    );
                    for msg in errors.iter().flatten() {
                        eprintln!("WARNING: image cache: skipping corrupt image: {msg}");
                    }
                }
                Ok(Self::disk(
                    index, opts.imgsz, slots, errors, map, bytes, path,
                ))
            }
            found => {
                if let (Err(e), true) = (&found, opts.verbose) {
                    eprintln!("WARNING: {e}; rebuilding it");
                }
                let (map, errors) = write_disk(index, opts, path, header)?;
                Ok(Self::disk(
                    index, opts.imgsz, slots, errors, map, bytes, path,
                ))
            }
        }
    }

    fn disk(
        index: &LabelIndex,
        imgsz: u32,
        slots: Vec<Slot>,
        errors: Vec<Option<String>>,
        map: Mmap,
        bytes: u64,
        path: &Path,
    ) -> ImageCache {
        ImageCache {
            images: index.images.clone(),
            slots,
            errors,
            map,
            data_offset: DATA_OFFSET,
            bytes,
            mode: CacheMode::Disk,
            path: Some(path.to_path_buf()),
            imgsz,
        }
    }

    /// Pixel bytes held (mapped), Σ `w · h · 3` of the stored images.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// [`CacheMode::Ram`] or [`CacheMode::Disk`].
    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    /// The disk cache file (`None` for ram).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Why each skipped image is unusable (each message names its file).
    pub fn errors(&self) -> impl Iterator<Item = &str> {
        self.errors.iter().flatten().map(String::as_str)
    }

    /// True if image `index` decoded when the cache was built.
    pub fn is_usable(&self, index: usize) -> bool {
        self.errors.get(index).is_some_and(Option::is_none)
    }

    /// The cached pixels of image `index` (RGB HWC), borrowed from the mapping.
    pub fn pixels(&self, index: usize) -> &[u8] {
        let slot = &self.slots[index];
        let start = self.data_offset + slot.offset as usize;
        &self.map[start..start + slot.len()]
    }
}

impl ImageSource for ImageCache {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn load(&self, index: usize) -> Result<Sample, DataError> {
        let entry = &self.images[index];
        if let Some(Some(msg)) = self.errors.get(index) {
            return Err(DataError::image(&entry.path, format!("skipped: {msg}")));
        }
        let slot = &self.slots[index];
        let stored = (slot.width, slot.height);
        let size = long_side_size(slot.width, slot.height, self.imgsz);
        let image = if size == stored {
            Image {
                width: slot.width,
                height: slot.height,
                data: self.pixels(index).to_vec(),
            }
        } else {
            resize_pixels(self.pixels(index), stored, size)
        };
        Ok(sample(image, &entry.labels))
    }
}

impl LoaderSource for ImageCache {
    fn path(&self, index: usize) -> &Path {
        &self.images[index].path
    }

    fn original_size(&self, index: usize) -> (u32, u32) {
        (self.images[index].width, self.images[index].height)
    }
}

/// `cache=none`: decodes and resizes an image on every load (Ultralytics without cache).
#[derive(Debug, Clone)]
pub struct DecodingSource {
    images: Vec<IndexedImage>,
    imgsz: u32,
}

impl DecodingSource {
    /// Images of `index`, resized on load so the long side is `imgsz` px.
    pub fn new(index: &LabelIndex, imgsz: u32) -> DecodingSource {
        DecodingSource {
            images: index.images.clone(),
            imgsz,
        }
    }
}

impl ImageSource for DecodingSource {
    fn len(&self) -> usize {
        self.images.len()
    }

    fn load(&self, index: usize) -> Result<Sample, DataError> {
        let entry = &self.images[index];
        let image = load_resized(&entry.path, self.imgsz)?;
        Ok(sample(image, &entry.labels))
    }
}

impl LoaderSource for DecodingSource {
    fn path(&self, index: usize) -> &Path {
        &self.images[index].path
    }

    fn original_size(&self, index: usize) -> (u32, u32) {
        (self.images[index].width, self.images[index].height)
    }
}

/// Ultralytics `load_image`: decode, then long side → `imgsz` (cv2 `INTER_LINEAR`).
fn load_resized(path: &Path, imgsz: u32) -> Result<Image, DataError> {
    let img = decode_image(path)?;
    let (w, h) = long_side_size(img.width, img.height, imgsz);
    Ok(if (w, h) == (img.width, img.height) {
        img
    } else {
        resize_bilinear(&img, w, h)
    })
}

/// An image with its normalised labels mapped to its pixels.
fn sample(image: Image, labels: &Labels) -> Sample {
    let instances = instances_px(labels, image.width as f32, image.height as f32);
    Sample { image, instances }
}

/// Normalised `cxcywh` boxes and polygons → px `xyxy` and px polygons of a `w × h` image, in
/// Ultralytics' order (`xywh2xyxy` on normalised values, then `denormalize`).
pub fn instances_px(labels: &Labels, w: f32, h: f32) -> Instances {
    let boxes = labels
        .boxes
        .iter()
        .map(|&[cx, cy, bw, bh]| {
            let (hw, hh) = (bw / 2.0, bh / 2.0);
            [(cx - hw) * w, (cy - hh) * h, (cx + hw) * w, (cy + hh) * h]
        })
        .collect();
    let segments = labels
        .segments
        .iter()
        .map(|poly| poly.iter().map(|&[x, y]| [x * w, y * h]).collect())
        .collect();
    Instances {
        cls: labels.cls.clone(),
        boxes,
        segments,
    }
}

/// Decodes every image into its slot of `data` on `opts.workers` threads with a progress
/// bar. Returns per image `None` or why it is unusable; an error if none is usable.
fn fill(
    data: &mut [u8],
    images: &[IndexedImage],
    slots: &[Slot],
    opts: &CacheOptions,
    what: &str,
) -> Result<Vec<Option<String>>, DataError> {
    let bar = progress_bar(images.len(), opts.verbose, what, slots);
    let mut rest = data;
    let mut jobs = Vec::with_capacity(slots.len());
    for (i, slot) in slots.iter().enumerate() {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(slot.len());
        jobs.push((i, head));
        rest = tail;
    }
    let queue = Mutex::new(jobs.into_iter());
    let workers = worker_count(opts.workers, images.len());
    let mut errors: Vec<(usize, String)> = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| s.spawn(|| fill_worker(&queue, images, slots, opts.imgsz, &bar)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    bar.finish_and_clear();
    errors.sort_by_key(|(i, _)| *i);
    report_fill(images, &errors, opts.verbose, what, slots)?;
    let mut out = vec![None; images.len()];
    for (i, msg) in errors {
        out[i] = Some(msg);
    }
    Ok(out)
}

type Jobs<'a> = Mutex<std::vec::IntoIter<(usize, &'a mut [u8])>>;

/// One cache-building thread: takes slots off `queue` until it is empty.
fn fill_worker(
    queue: &Jobs<'_>,
    images: &[IndexedImage],
    slots: &[Slot],
    imgsz: u32,
    bar: &ProgressBar,
) -> Vec<(usize, String)> {
    let mut errors = Vec::new();
    loop {
        let Some((i, dst)) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else {
            return errors;
        };
        if let Err(msg) = fill_slot(&images[i].path, &slots[i], imgsz, dst) {
            errors.push((i, msg));
        }
        bar.inc(1);
    }
}

/// Decodes one image into `dst`; the message (naming the file) if it cannot.
fn fill_slot(path: &Path, slot: &Slot, imgsz: u32, dst: &mut [u8]) -> Result<(), String> {
    let img = decode_image(path).map_err(|e| e.to_string())?;
    let (w, h) = stored_size(img.width, img.height, imgsz);
    let img = if (w, h) == (img.width, img.height) {
        img
    } else {
        resize_bilinear(&img, w, h)
    };
    if (img.width, img.height) != (slot.width, slot.height) {
        return Err(format!(
            "{}: decoded to {}x{} px but the label index expects {}x{} (stale label cache?)",
            path.display(),
            img.width,
            img.height,
            slot.width,
            slot.height
        ));
    }
    dst.copy_from_slice(&img.data);
    Ok(())
}

/// Prints skipped images; an error naming the folder if every image is unusable.
fn report_fill(
    images: &[IndexedImage],
    errors: &[(usize, String)],
    verbose: bool,
    what: &str,
    slots: &[Slot],
) -> Result<(), DataError> {
    if verbose {
        for (_, msg) in errors {
            eprintln!("WARNING: image cache: skipping corrupt image: {msg}");
        }
        let total: u64 = slots.iter().map(|s| s.len() as u64).sum();
        eprintln!(
            "Image cache ({what}): {} images, {}, {} skipped",
            images.len(),
            fmt_bytes(total),
            errors.len()
        );
    }
    match images.first() {
        Some(first) if errors.len() == images.len() => Err(DataError::image(
            first.path.parent().unwrap_or(&first.path),
            format!("image cache: all {} images are unreadable", images.len()),
        )),
        _ => Ok(()),
    }
}

fn worker_count(requested: usize, items: usize) -> usize {
    match requested {
        0 => thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, items.max(1))
}

fn progress_bar(len: usize, visible: bool, what: &str, slots: &[Slot]) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} [{elapsed}<{eta}, {per_sec}]")
    {
        bar.set_style(style);
    }
    let total: u64 = slots.iter().map(|s| s.len() as u64).sum();
    bar.set_message(format!("Caching images ({}, {what})", fmt_bytes(total)));
    bar
}

/// What a disk cache was built from; it is reused only if this matches exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DiskHeader {
    version: u32,
    imgsz: u32,
    /// Every source image with its size and mtime when cached.
    files: Vec<(PathBuf, Option<Stamp>)>,
    slots: Vec<Slot>,
    /// Per image: why it was skipped, if it was.
    errors: Vec<Option<String>>,
}

impl DiskHeader {
    fn new(index: &LabelIndex, imgsz: u32, slots: &[Slot]) -> DiskHeader {
        DiskHeader {
            version: CACHE_VERSION,
            imgsz,
            files: index
                .images
                .iter()
                .map(|im| (im.path.clone(), Stamp::of(&im.path)))
                .collect(),
            slots: slots.to_vec(),
            errors: Vec::new(),
        }
    }

    /// True if `self` (read from a file) was built from exactly `want`'s sources.
    fn matches(&self, want: &DiskHeader) -> bool {
        self.version == want.version
            && self.imgsz == want.imgsz
            && self.files == want.files
            && self.slots == want.slots
            && self.errors.len() == self.slots.len()
    }
}

/// The mapping and skip list of a valid disk cache; `Ok(None)` if there is no file; an error
/// (naming the file and the reason) if it is unreadable or stale.
type DiskCache = (Mmap, Vec<Option<String>>);

fn read_disk(path: &Path, want: &DiskHeader) -> Result<Option<DiskCache>, DataError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let bad = |msg: &str| DataError::cache(path, format!("image cache {msg}"));
    let mut head = [0u8; 24];
    file.read_exact(&mut head)
        .map_err(|_| bad("is truncated"))?;
    if &head[..8] != MAGIC {
        return Err(bad("has an unknown format"));
    }
    let at = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default()) as usize;
    let len = u64::from_le_bytes(head[16..24].try_into().unwrap_or_default()) as usize;
    // SAFETY: the file is opened read-only and only read through this mapping; a concurrent
    // writer would break the cache's contents, never memory safety of this process (pages
    // are plain bytes). Rebuilds replace the file by rename, so a mapped file is never
    // rewritten in place by this crate.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| DataError::io(path, e))?;
    if map.len() != at.saturating_add(len) || at < DATA_OFFSET {
        return Err(bad("has the wrong size (interrupted build?)"));
    }
    let header: DiskHeader =
        serde_json::from_slice(&map[at..at + len]).map_err(|_| bad("header is unreadable"))?;
    let data_end = DATA_OFFSET as u64 + want.slots.last().map_or(0, |s| s.offset + s.len() as u64);
    if !header.matches(want) || data_end != at as u64 {
        return Err(bad("is stale (images, sizes or imgsz changed)"));
    }
    Ok(Some((map, header.errors)))
}

/// Builds the disk cache into `path.tmp<pid>` and renames it into place.
fn write_disk(
    index: &LabelIndex,
    opts: &CacheOptions,
    path: &Path,
    mut header: DiskHeader,
) -> Result<DiskCache, DataError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = write_disk_at(index, opts, &tmp, &mut header);
    let map = result.and_then(|map| {
        fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))?;
        Ok(map)
    });
    if map.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok((map?, header.errors))
}

fn write_disk_at(
    index: &LabelIndex,
    opts: &CacheOptions,
    tmp: &Path,
    header: &mut DiskHeader,
) -> Result<Mmap, DataError> {
    let data_len = header.slots.last().map_or(0, |s| s.offset + s.len() as u64);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| DataError::io(tmp, e))?;
    let data_end = DATA_OFFSET as u64 + data_len;
    file.set_len(data_end).map_err(|e| DataError::io(tmp, e))?;
    // SAFETY: `tmp` was just created by this process (its pid in the name) and nothing else
    // opens it until it is renamed; the mapping is the only writer.
    let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| DataError::io(tmp, e))?;
    header.errors = fill(
        &mut map[DATA_OFFSET..],
        &index.images,
        &header.slots,
        opts,
        "disk",
    )?;
    let json = serde_json::to_vec(header)
        .map_err(|e| DataError::cache(tmp, format!("cannot encode the header: {e}")))?;
    map[..8].copy_from_slice(MAGIC);
    map[8..16].copy_from_slice(&data_end.to_le_bytes());
    map[16..24].copy_from_slice(&(json.len() as u64).to_le_bytes());
    map.flush().map_err(|e| DataError::io(tmp, e))?;
    drop(map);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(tmp)
        .map_err(|e| DataError::io(tmp, e))?;
    file.write_all(&json).map_err(|e| DataError::io(tmp, e))?;
    file.sync_all().map_err(|e| DataError::io(tmp, e))?;
    // SAFETY: as in `read_disk`: read-only mapping of a file only this process writes.
    unsafe { Mmap::map(&file) }.map_err(|e| DataError::io(tmp, e))
}

/// Bytes of RAM the kernel says can be allocated without swapping (`MemAvailable`).
pub fn available_ram() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes free for an unprivileged user on the file system holding `dir` (`statvfs`).
pub fn free_disk(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` is plain C data, valid when zeroed, and filled in by the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated path and `st` a valid, exclusive out-pointer.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// `bytes` with the 10 % margin fits in `free` (unknown `free` counts as fitting).
fn fits(bytes: u64, free: Option<u64>) -> bool {
    free.is_none_or(|free| bytes as f64 * (1.0 + MARGIN) <= free as f64)
}

/// The mode to use for a cache of `bytes`: the requested one if it fits, else the next of
/// ram → disk → none that does, saying the numbers when `verbose`.
pub fn choose_mode(
    requested: CacheMode,
    bytes: u64,
    disk_path: Option<&Path>,
    verbose: bool,
) -> CacheMode {
    let say = |msg: String| {
        if verbose {
            eprintln!("{msg}");
        }
    };
    let need = fmt_bytes((bytes as f64 * (1.0 + MARGIN)) as u64);
    if requested == CacheMode::None && fits(bytes, available_ram()) {
        say(format!(
            "Images are decoded on every load (cache=false; a mosaic sample decodes 4). \
             cache=ram would keep them decoded in {need} of RAM, which is available, and feed \
             several times more images per second"
        ));
    }
    if requested == CacheMode::Ram {
        let ram = available_ram();
        let have = ram.map_or("unknown".into(), fmt_bytes);
        if fits(bytes, ram) {
            say(format!(
                "Image cache (ram): {} + 10 % = {need} of {have} available RAM",
                fmt_bytes(bytes)
            ));
            return CacheMode::Ram;
        }
        say(format!(
            "WARNING: cache=ram needs {} + 10 % = {need} but only {have} RAM is available; trying cache=disk",
            fmt_bytes(bytes)
        ));
    }
    if requested != CacheMode::None {
        let Some(path) = disk_path else {
            say("WARNING: cache=disk has no place for its file; not caching images".into());
            return CacheMode::None;
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        // A rebuild replaces an existing file, whose space counts as free.
        let existing = fs::metadata(path).map_or(0, |m| m.len());
        let disk = free_disk(dir).map(|free| free + existing);
        let have = disk.map_or("unknown".into(), fmt_bytes);
        if fits(bytes, disk) {
            say(format!(
                "Image cache (disk): {} + 10 % = {need} of {have} free in {}",
                fmt_bytes(bytes),
                dir.display()
            ));
            return CacheMode::Disk;
        }
        say(format!(
            "WARNING: cache=disk needs {} + 10 % = {need} but {} has only {have} free; not caching images",
            fmt_bytes(bytes),
            dir.display()
        ));
    }
    CacheMode::None
}

/// The images of `index` as a loader source: an [`ImageCache`] in the mode [`choose_mode`]
/// picks, or a [`DecodingSource`] for none. A disk cache that cannot be written falls back to
/// decoding with a warning.
pub fn open_source(
    index: &LabelIndex,
    opts: &CacheOptions,
) -> Result<Arc<dyn LoaderSource>, DataError> {
    let bytes = cache_bytes(index, opts.imgsz);
    let disk_path = opts
        .disk_path
        .clone()
        .or_else(|| disk_cache_path(index, opts.imgsz));
    match choose_mode(opts.mode, bytes, disk_path.as_deref(), opts.verbose) {
        CacheMode::Ram => Ok(Arc::new(ImageCache::build_ram(index, opts)?)),
        CacheMode::Disk => {
            let path = disk_path.unwrap_or_default();
            match ImageCache::open_disk(index, opts, &path) {
                Ok(cache) => Ok(Arc::new(cache)),
                Err(e @ (DataError::Io { .. } | DataError::Cache { .. })) => {
                    if opts.verbose {
                        eprintln!("WARNING: cache=disk failed ({e}); not caching images");
                    }
                    Ok(Arc::new(DecodingSource::new(index, opts.imgsz)))
                }
                Err(e) => Err(e),
            }
        }
        CacheMode::None => Ok(Arc::new(DecodingSource::new(index, opts.imgsz))),
    }
}

/// `1536` → `1.5 KiB`.
pub fn fmt_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
