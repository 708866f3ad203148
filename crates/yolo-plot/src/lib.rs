//! Ultralytics-style run-folder pictures from plain slices, with an embedded font (no system fonts).

mod annotate;
mod charts;
mod error;
mod font;
mod palette;
mod raster;
mod save;

pub use annotate::{Annotation, draw_detections, line_width};
pub use charts::{
    DEFAULT_MAX_SIDE, RESULTS_COLUMNS, batch_grid, curve_png, labels_png, memory_png, pr_curve_png,
    results_png,
};
pub use error::PlotError;
pub use palette::{LEGACY_PALETTE, PALETTE, class_color, text_color};
pub use save::save_rgb;
