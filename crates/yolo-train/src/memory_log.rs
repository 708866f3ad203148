//! Memory over a run: the `mem/*` columns of results.csv drawn as memory.png, and whether they
//! creep up (growth per 10 epochs after the first 3).

use std::path::Path;

use yolo_plot::PlotError;

use crate::results::Row;

/// results.csv memory columns and their legend names (GiB).
pub const MEMORY_COLUMNS: [(&str, &str); 3] = [
    ("mem/host_rss_gib", "host RSS"),
    ("mem/device_in_use_gib", "device in use"),
    ("mem/device_reserved_gib", "device reserved"),
];

/// Epochs skipped before the trend is measured (caches, autotuning and pools fill up first).
pub const WARMUP_EPOCHS: usize = 3;

/// The per-epoch values of `column` (NaN where a row lacks it).
pub fn series(rows: &[Row], column: &str) -> Vec<f64> {
    rows.iter().map(|r| r.get(column).copied().unwrap_or(f64::NAN)).collect()
}

/// Writes `dir/memory.png`: every memory column present, GiB against epoch.
pub fn memory_png(dir: &Path, rows: &[Row]) -> Result<(), PlotError> {
    let x: Vec<f64> = series(rows, "epoch");
    let columns: Vec<(&str, Vec<f64>)> = MEMORY_COLUMNS
        .iter()
        .map(|(key, name)| (*name, series(rows, key)))
        .filter(|(_, v)| v.iter().any(|y| y.is_finite()))
        .collect();
    let refs: Vec<(&str, &[f64])> = columns.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    yolo_plot::memory_png(dir.join("memory.png"), &refs, &x, "epoch", "GiB")
}

/// Growth per 10 epochs after [`WARMUP_EPOCHS`], as a fraction of the mean, of every memory
/// column present (`0.01` = 1 %).
pub fn growth(rows: &[Row]) -> Vec<(&'static str, f64)> {
    MEMORY_COLUMNS
        .iter()
        .filter_map(|(key, name)| {
            let v = series(rows, key);
            let v: Vec<f64> = v.into_iter().filter(|y| y.is_finite()).collect();
            yolo_memory::trend::relative_growth(&v, WARMUP_EPOCHS, 10.0).map(|g| (*name, g))
        })
        .collect()
}
