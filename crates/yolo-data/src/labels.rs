//! YOLO label files: image→label path mapping and the Ultralytics 8.3 row checks.

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;

/// How far (normalised units) a coordinate may lie outside `[0, 1]` before the file is
/// rejected; values inside the tolerance are clipped (Ultralytics 8.4 allows ±0.01).
pub const COORD_TOLERANCE: f32 = 0.01;

/// Label file of an image, as Ultralytics `img2label_paths`: the last `images` folder
/// component becomes `labels` and the extension becomes `.txt`.
pub fn label_path(image: &Path) -> PathBuf {
    let comps: Vec<Component> = image.components().collect();
    let last_dir = comps.len().saturating_sub(1);
    // `/images/` needs a separator on both sides: not the first nor the last component.
    let swap = (1..last_dir)
        .rev()
        .find(|&i| comps[i].as_os_str() == "images");
    let mut out = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        out.push(if Some(i) == swap {
            OsStr::new("labels")
        } else {
            c.as_os_str()
        });
    }
    out.set_extension("txt");
    out
}

/// The objects of one image, all normalised to `[0, 1]` by the image width / height.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// Class id per object.
    pub cls: Vec<u32>,
    /// Box per object: `[cx, cy, w, h]`, normalised.
    pub boxes: Vec<[f32; 4]>,
    /// Polygon per object as normalised `[x, y]` points; empty when the file has box rows.
    pub segments: Vec<Vec<[f32; 2]>>,
}

impl Labels {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.cls.len()
    }

    /// True when the image has no objects (a background image).
    pub fn is_empty(&self) -> bool {
        self.cls.is_empty()
    }

    /// Keeps only objects whose class is in `classes` (Ultralytics `update_labels`).
    pub fn retain_classes(&mut self, classes: &[u32]) {
        let keep: Vec<bool> = self.cls.iter().map(|c| classes.contains(c)).collect();
        retain_by(&mut self.cls, &keep);
        retain_by(&mut self.boxes, &keep);
        if !self.segments.is_empty() {
            retain_by(&mut self.segments, &keep);
        }
    }

    /// Sets every class to 0 (`single_cls`).
    pub fn set_single_class(&mut self) {
        self.cls.iter_mut().for_each(|c| *c = 0);
    }

    fn select(&self, order: &[usize]) -> Labels {
        Labels {
            cls: order.iter().map(|&i| self.cls[i]).collect(),
            boxes: order.iter().map(|&i| self.boxes[i]).collect(),
            segments: if self.segments.is_empty() {
                Vec::new()
            } else {
                order.iter().map(|&i| self.segments[i].clone()).collect()
            },
        }
    }
}

fn retain_by<T>(items: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    items.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

/// Whether an image's label file exists and has rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelStatus {
    /// The label file has at least one valid row.
    Found,
    /// No label file: a background image.
    Missing,
    /// The label file has no rows: a background image.
    Empty,
}

/// Result of [`parse_labels`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLabels {
    /// Found / missing / empty.
    pub status: LabelStatus,
    /// The objects (empty unless `Found`).
    pub labels: Labels,
    /// Number of duplicate rows removed.
    pub duplicates: usize,
    /// Non-fatal findings, each naming the file (e.g. duplicates removed).
    pub warnings: Vec<String>,
}

impl ParsedLabels {
    fn background(status: LabelStatus) -> Self {
        ParsedLabels {
            status,
            labels: Labels::default(),
            duplicates: 0,
            warnings: Vec::new(),
        }
    }
}

/// Reads and checks one label file with the Ultralytics 8.3 `verify_image_label` rules.
///
/// `nc`: class ids must be `< nc`; `None` skips that check (Ultralytics does so for
/// `single_cls`). Any bad row rejects the whole file with an error naming file and line.
pub fn parse_labels(path: &Path, nc: Option<usize>) -> Result<ParsedLabels, DataError> {
    if !path.is_file() {
        return Ok(ParsedLabels::background(LabelStatus::Missing));
    }
    let text = fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse_label_text(path, &text, nc)
}

/// [`parse_labels`] on text already read from `path` (used in messages only).
pub fn parse_label_text(
    path: &Path,
    text: &str,
    nc: Option<usize>,
) -> Result<ParsedLabels, DataError> {
    let rows: Vec<(usize, Vec<&str>)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>()))
        .filter(|(_, tokens)| !tokens.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(ParsedLabels::background(LabelStatus::Empty));
    }
    let polygons = rows.iter().any(|(_, t)| t.len() > 6);
    let row_rules = RowRules { path, nc, polygons };
    let mut labels = Labels::default();
    for (line, tokens) in &rows {
        row_rules.parse(*line, tokens, &mut labels)?;
    }
    Ok(dedupe(path, labels))
}

/// Checks applied to every row of one file.
struct RowRules<'a> {
    path: &'a Path,
    nc: Option<usize>,
    polygons: bool,
}

impl RowRules<'_> {
    fn parse(&self, line: usize, tokens: &[&str], out: &mut Labels) -> Result<(), DataError> {
        let err = |msg: String| DataError::label(self.path, line, msg);
        self.check_count(tokens.len()).map_err(err)?;
        let values = tokens
            .iter()
            .map(|t| parse_value(t))
            .collect::<Result<Vec<f32>, _>>()
            .map_err(err)?;
        let cls = self.class_id(values[0]).map_err(err)?;
        let coords = &values[1..];
        check_range(coords).map_err(err)?;
        if self.polygons {
            let points: Vec<[f32; 2]> = coords
                .chunks_exact(2)
                .map(|p| [clip01(p[0]), clip01(p[1])])
                .collect();
            out.boxes
                .push(check_size(polygon_box(&points)).map_err(err)?);
            out.segments.push(points);
        } else {
            check_size([coords[0], coords[1], coords[2], coords[3]]).map_err(err)?;
            out.boxes.push(
                check_size(clip_box([coords[0], coords[1], coords[2], coords[3]])).map_err(err)?,
            );
        }
        out.cls.push(cls);
        Ok(())
    }

    fn check_count(&self, n: usize) -> Result<(), String> {
        match (self.polygons, n) {
            (false, 5) => Ok(()),
            (false, n) => Err(format!(
                "expected 5 values (class x_center y_center width height), got {n}"
            )),
            (true, 5) => Err(
                "box row (5 values) in a file of polygon rows (another row has > 6 values)".into(),
            ),
            (true, n) if n >= 7 && (n - 1) % 2 == 0 => Ok(()),
            (true, n) => Err(format!(
                "polygon row needs class + an even number (>= 6) of coordinates, got {} coordinates",
                n - 1
            )),
        }
    }

    fn class_id(&self, v: f32) -> Result<u32, String> {
        if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f32 {
            return Err(format!("class id {v} is not a non-negative integer"));
        }
        let id = v as u32;
        match self.nc {
            Some(nc) if id as usize >= nc => Err(format!("class id {id} >= nc {nc}")),
            _ => Ok(id),
        }
    }
}

/// Parses one field like Python `float()` then float32 (f64 first, as numpy does).
fn parse_value(token: &str) -> Result<f32, String> {
    let v: f64 = token
        .parse()
        .map_err(|_| format!("value '{token}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!("value '{token}' is not a finite number"));
    }
    Ok(v as f32)
}

fn check_range(coords: &[f32]) -> Result<(), String> {
    match coords
        .iter()
        .find(|&&v| !(-COORD_TOLERANCE..=1.0 + COORD_TOLERANCE).contains(&v))
    {
        Some(v) => Err(format!(
            "coordinate {v} outside [0, 1] (non-normalised or out-of-bounds; tolerance {COORD_TOLERANCE})"
        )),
        None => Ok(()),
    }
}

fn check_size(b: [f32; 4]) -> Result<[f32; 4], String> {
    if b[2] > 0.0 && b[3] > 0.0 {
        Ok(b)
    } else {
        Err(format!(
            "box width and height must be > 0, got w={} h={}",
            b[2], b[3]
        ))
    }
}

fn clip01(v: f32) -> f32 {
    v.clamp(0.0, 1.0)
}

/// Clips an xywh box's extent to `[0, 1]`; in-range boxes are returned bit-for-bit.
fn clip_box(b: [f32; 4]) -> [f32; 4] {
    let (x1, y1, x2, y2) = (
        b[0] - b[2] / 2.0,
        b[1] - b[3] / 2.0,
        b[0] + b[2] / 2.0,
        b[1] + b[3] / 2.0,
    );
    if x1 >= 0.0 && y1 >= 0.0 && x2 <= 1.0 && y2 <= 1.0 {
        return b;
    }
    xyxy_to_xywh([clip01(x1), clip01(y1), clip01(x2), clip01(y2)])
}

/// Min/max extent of a polygon as xywh (Ultralytics `segments2boxes`).
fn polygon_box(points: &[[f32; 2]]) -> [f32; 4] {
    let init = [
        f32::INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ];
    let e = points.iter().fold(init, |e, p| {
        [
            e[0].min(p[0]),
            e[1].min(p[1]),
            e[2].max(p[0]),
            e[3].max(p[1]),
        ]
    });
    xyxy_to_xywh(e)
}

fn xyxy_to_xywh(b: [f32; 4]) -> [f32; 4] {
    [
        (b[0] + b[2]) / 2.0,
        (b[1] + b[3]) / 2.0,
        b[2] - b[0],
        b[3] - b[1],
    ]
}

/// Removes duplicate `(cls, box)` rows like `np.unique(lb, axis=0)`: when any are found the
/// remaining rows come out sorted by `(cls, cx, cy, w, h)`, as Ultralytics leaves them.
fn dedupe(path: &Path, labels: Labels) -> ParsedLabels {
    let key = |i: usize| -> [f32; 5] {
        let b = labels.boxes[i];
        [labels.cls[i] as f32, b[0], b[1], b[2], b[3]]
    };
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| cmp_rows(&key(a), &key(b)).then(a.cmp(&b)));
    order.dedup_by(|b, a| cmp_rows(&key(*a), &key(*b)) == Ordering::Equal);
    let duplicates = labels.len() - order.len();
    if duplicates == 0 {
        return ParsedLabels {
            status: LabelStatus::Found,
            labels,
            duplicates,
            warnings: Vec::new(),
        };
    }
    ParsedLabels {
        status: LabelStatus::Found,
        labels: labels.select(&order),
        duplicates,
        warnings: vec![format!(
            "{}: {duplicates} duplicate labels removed",
            path.display()
        )],
    }
}

fn cmp_rows(a: &[f32; 5], b: &[f32; 5]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, nc: usize) -> Result<ParsedLabels, DataError> {
        parse_label_text(Path::new("labels/train/x.txt"), text, Some(nc))
    }

    fn err(text: &str, nc: usize) -> String {
        parse(text, nc)
            .expect_err("expected a label error")
            .to_string()
    }

    #[test]
    fn label_path_swaps_last_images_component() {
        assert_eq!(
            label_path(Path::new("/d/images/train/a.jpg")),
            PathBuf::from("/d/labels/train/a.txt")
        );
        assert_eq!(
            label_path(Path::new("/images/d/images/x/a.b.PNG")),
            PathBuf::from("/images/d/labels/x/a.b.txt")
        );
        // A file called "images" and a path without an images folder keep their folders.
        assert_eq!(
            label_path(Path::new("/d/train/images.jpg")),
            PathBuf::from("/d/train/images.txt")
        );
        assert_eq!(
            label_path(Path::new("/d/imgs/a.jpg")),
            PathBuf::from("/d/imgs/a.txt")
        );
    }

    #[test]
    fn box_rows_parse() {
        let p = parse("0 0.5 0.5 0.2 0.4\n\n3 0.1 0.2 0.1 0.1\n", 80).unwrap();
        assert_eq!(p.status, LabelStatus::Found);
        assert_eq!(p.labels.cls, vec![0, 3]);
        assert_eq!(p.labels.boxes[0], [0.5, 0.5, 0.2, 0.4]);
        assert!(p.labels.segments.is_empty());
        assert_eq!(p.duplicates, 0);
    }

    #[test]
    fn polygon_rows_give_extent_boxes() {
        let p = parse(
            "1 0.1 0.2 0.5 0.2 0.5 0.6\n2 0.0 0.0 1.0 0.0 1.0 1.0 0.0 1.0\n",
            80,
        )
        .unwrap();
        assert_eq!(p.labels.segments.len(), 2);
        assert_eq!(
            p.labels.segments[0],
            vec![[0.1, 0.2], [0.5, 0.2], [0.5, 0.6]]
        );
        let b = p.labels.boxes[0];
        assert!((b[0] - 0.3).abs() < 1e-6 && (b[1] - 0.4).abs() < 1e-6);
        assert!((b[2] - 0.4).abs() < 1e-6 && (b[3] - 0.4).abs() < 1e-6);
        assert_eq!(p.labels.boxes[1], [0.5, 0.5, 1.0, 1.0]);
    }

    #[test]
    fn duplicates_removed_and_sorted_like_np_unique() {
        let p = parse(
            "5 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n5 0.50 0.5 0.2 0.2\n",
            80,
        )
        .unwrap();
        assert_eq!(p.duplicates, 1);
        assert_eq!(p.labels.cls, vec![1, 5]);
        assert_eq!(p.warnings.len(), 1);
        assert!(
            p.warnings[0].contains("x.txt: 1 duplicate labels removed"),
            "{}",
            p.warnings[0]
        );
    }

    #[test]
    fn empty_and_whitespace_files_are_empty() {
        assert_eq!(parse("", 80).unwrap().status, LabelStatus::Empty);
        assert_eq!(parse(" \n\t\n", 80).unwrap().status, LabelStatus::Empty);
    }

    #[test]
    fn tolerance_clips() {
        let p = parse("0 0.5 0.5 1.005 0.2\n", 80).unwrap();
        let b = p.labels.boxes[0];
        assert!(
            (b[0] - 0.5).abs() < 1e-6 && (b[2] - 1.0).abs() < 1e-6,
            "{b:?}"
        );
        let p = parse("0 -0.005 0.1 0.5 0.1 0.5 0.5\n", 80).unwrap();
        assert_eq!(p.labels.segments[0][0], [0.0, 0.1]);
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let cases = [
            ("0 0.5 0.5 0.2\n", "x.txt:1: expected 5 values"),
            ("0 0.5 0.5 0.2 0.2 0.1\n", "x.txt:1: expected 5 values"),
            (
                "0 0.5 0.5 0.2 0.2\n0 0.5 abc 0.2 0.2\n",
                "x.txt:2: value 'abc' is not a number",
            ),
            (
                "0 0.5 0.5 0.2 nan\n",
                "x.txt:1: value 'nan' is not a finite number",
            ),
            ("\n\n91 0.5 0.5 0.2 0.2\n", "x.txt:3: class id 91 >= nc 80"),
            (
                "-1 0.5 0.5 0.2 0.2\n",
                "x.txt:1: class id -1 is not a non-negative integer",
            ),
            (
                "1.5 0.5 0.5 0.2 0.2\n",
                "x.txt:1: class id 1.5 is not a non-negative integer",
            ),
            (
                "0 1.2 0.5 0.2 0.2\n",
                "x.txt:1: coordinate 1.2 outside [0, 1]",
            ),
            (
                "0 0.5 -0.2 0.2 0.2\n",
                "x.txt:1: coordinate -0.2 outside [0, 1]",
            ),
            (
                "0 0.5 0.5 0 0.2\n",
                "x.txt:1: box width and height must be > 0",
            ),
            (
                "0 0.5 0.5 0.2 -0.005\n",
                "x.txt:1: box width and height must be > 0",
            ),
            (
                "0 0.1 0.1 0.2 0.1 0.3 0.3\n0 0.5 0.5 0.2 0.2\n",
                "x.txt:2: box row (5 values) in a file of polygon rows",
            ),
            (
                "0 0.1 0.1 0.2 0.1 0.3 0.3 0.4\n",
                "x.txt:1: polygon row needs class + an even number",
            ),
            (
                "0 0.1 0.1 0.2 0.1 0.3 0.1\n",
                "x.txt:1: box width and height must be > 0",
            ),
        ];
        for (text, want) in cases {
            let got = err(text, 80);
            assert!(got.contains(want), "{text:?}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn missing_file_is_missing() {
        let p = parse_labels(Path::new("/nonexistent/labels/a.txt"), Some(80)).unwrap();
        assert_eq!(p.status, LabelStatus::Missing);
    }

    #[test]
    fn no_nc_skips_class_check() {
        let p = parse_label_text(Path::new("x.txt"), "500 0.5 0.5 0.2 0.2", None).unwrap();
        assert_eq!(p.labels.cls, vec![500]);
    }

    #[test]
    fn class_filter_and_single_cls() {
        let mut l = parse(
            "0 0.5 0.5 0.2 0.2\n3 0.1 0.1 0.1 0.1\n7 0.2 0.2 0.1 0.1",
            80,
        )
        .unwrap()
        .labels;
        l.retain_classes(&[3, 7]);
        assert_eq!(l.cls, vec![3, 7]);
        assert_eq!(l.boxes.len(), 2);
        l.set_single_class();
        assert_eq!(l.cls, vec![0, 0]);
    }
}
