//! `results.csv` (Ultralytics' columns, plus memory) and the `results.png` curves.

use std::collections::BTreeMap;
use std::path::Path;

use yolo_plot::{results_png, PlotError};

/// Ultralytics 8.3 `results.csv` columns, in order, then ours (memory in GiB).
pub const COLUMNS: [&str; 18] = [
    "epoch",
    "time",
    "train/box_loss",
    "train/cls_loss",
    "train/dfl_loss",
    "metrics/precision(B)",
    "metrics/recall(B)",
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
    "val/box_loss",
    "val/cls_loss",
    "val/dfl_loss",
    "lr/pg0",
    "lr/pg1",
    "lr/pg2",
    "mem/host_rss_gib",
    "mem/device_in_use_gib",
    "mem/device_reserved_gib",
];

/// One epoch's row keyed by column name.
pub type Row = BTreeMap<String, f64>;

/// The CSV text of `rows` (epochs 1-based, as Ultralytics writes them).
pub fn csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for row in rows {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| row.get(*c).map_or_else(String::new, |v| format_cell(c, *v)))
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn format_cell(column: &str, v: f64) -> String {
    if column == "epoch" {
        format!("{}", v as i64)
    } else {
        format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Writes `results.csv` atomically.
pub fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, csv(rows))?;
    std::fs::rename(tmp, path)
}

/// Draws `results.png` from the rows.
pub fn plot(path: &Path, rows: &[Row]) -> Result<(), PlotError> {
    let epochs: Vec<f64> = rows.iter().filter_map(|r| r.get("epoch").copied()).collect();
    let series: Vec<(&str, Vec<f64>)> = COLUMNS[2..12]
        .iter()
        .map(|c| (*c, rows.iter().map(|r| r.get(*c).copied().unwrap_or(f64::NAN)).collect()))
        .collect();
    let columns: Vec<(&str, &[f64])> = series.iter().map(|(c, v)| (*c, v.as_slice())).collect();
    results_png(path, &columns, &epochs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_ultralytics_header_and_rows() {
        let mut row = Row::new();
        row.insert("epoch".into(), 1.0);
        row.insert("train/box_loss".into(), 1.25);
        row.insert("lr/pg0".into(), 0.0700000);
        let text = csv(&[row]);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("epoch,time,train/box_loss,train/cls_loss"));
        assert_eq!(lines.next().unwrap(), "1,,1.25,,,,,,,,,,0.07,,,,,");
    }
}
