//! Training progress like Ultralytics' epoch bar: epoch, memory, running losses, instances,
//! image size, with rate and ETA.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much a run prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing (tests, library use).
    Quiet,
    /// Progress bars, tables and messages.
    Normal,
}

impl Verbosity {
    /// Whether anything is printed.
    pub fn is_on(self) -> bool {
        self == Verbosity::Normal
    }
}

/// The per-epoch bar.
pub struct EpochBar {
    bar: Option<ProgressBar>,
    epoch: usize,
    epochs: usize,
}

impl EpochBar {
    /// A bar over `batches` for 0-based `epoch` of `epochs`.
    pub fn new(verbosity: Verbosity, epoch: usize, epochs: usize, batches: usize) -> Self {
        let bar = verbosity.is_on().then(|| {
            println!(
                "{:>11}{:>28}{:>11}{:>11}{:>11}{:>11}{:>7}",
                "Epoch", "Memory", "box_loss", "cls_loss", "dfl_loss", "Instances", "Size"
            );
            let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{msg} {bar:20} {pos}/{len} [{elapsed}<{eta}, {per_sec}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self { bar, epoch, epochs }
    }

    /// After batch `done` of the epoch: running mean losses, instances in the batch, its
    /// width in px and a memory summary.
    pub fn update(&mut self, done: usize, losses: [f32; 3], instances: usize, size: u32, memory: String) {
        let Some(bar) = &self.bar else { return };
        bar.set_message(format!(
            "{:>11}{:>28}{:>11.4}{:>11.4}{:>11.4}{:>11}{:>7}",
            format!("{}/{}", self.epoch + 1, self.epochs),
            memory,
            losses[0],
            losses[1],
            losses[2],
            instances,
            size
        ));
        bar.set_position(done as u64);
    }

    /// Leaves the final state of the bar on screen (printed as a line when stderr is not a
    /// terminal, so logs keep one line per epoch).
    pub fn finish(self) {
        let Some(bar) = self.bar else { return };
        if bar.is_hidden() {
            println!("{}", bar.message());
        }
        bar.finish();
    }
}
