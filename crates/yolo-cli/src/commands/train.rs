//! `yolo train`: train or fine-tune YOLO11 on a dataset, Ultralytics style, into
//! `runs/detect/train*` (args.yaml, results.csv, weights/last and best, plots).

use burn::tensor::backend::AutodiffBackend;
use yolo_train::args::TrainArgs;
use yolo_train::device::{BackendJob, MemoryProbe};
use yolo_train::progress::Verbosity;
use yolo_train::trainer::{TrainOutcome, Trainer};

use crate::error::CliError;

/// Runs [`Trainer`] with the parsed arguments.
pub struct TrainJob(pub TrainArgs);

impl BackendJob for TrainJob {
    type Output = Result<TrainOutcome, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, memory: MemoryProbe) -> Self::Output {
        let verbosity = if self.0.verbose { Verbosity::Normal } else { Verbosity::Quiet };
        let trainer = Trainer::<B>::new(self.0, device, memory, verbosity).map_err(|e| CliError::Other(e.to_string()))?;
        trainer.fit().map_err(|e| CliError::Other(e.to_string()))
    }
}
