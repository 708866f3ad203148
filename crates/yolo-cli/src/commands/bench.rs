//! `yolo bench`: time full training steps (forward, loss, backward, optimizer, EMA) for a grid of models, image sizes and batches on synthetic or real batches; print img/s, first-step time and host and device memory, optionally as JSON.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Deserializer, Serialize};
use yolo_model::ModelSpec;
use yolo_train::bench::{time_train_steps, StepBench, StepTiming};
use yolo_train::device::{BackendJob, MemoryProbe};

use crate::error::CliError;

/// `yolo bench` arguments. `model`, `imgsz` and `batch` take one value or a list (`[16,64]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BenchArgs {
    /// `yolo11n` … `yolo11x`.
    #[serde(deserialize_with = "one_or_many")]
    pub model: Vec<String>,
    /// Classes (ignored with `data`, which sets them).
    pub nc: usize,
    /// Image sizes to time, px (rounded up to a multiple of 32).
    #[serde(deserialize_with = "one_or_many")]
    pub imgsz: Vec<usize>,
    /// Batch sizes to time.
    #[serde(deserialize_with = "one_or_many")]
    pub batch: Vec<usize>,
    /// Timed steps per configuration (after the first).
    pub steps: usize,
    /// Synthetic objects per image.
    pub boxes: usize,
    /// Dataset yaml: real, augmented batches of its train split instead of synthetic ones.
    pub data: Option<String>,
    /// Loader threads for `data`.
    pub workers: usize,
    /// Device.
    pub device: String,
    /// Also write the rows as JSON here.
    pub json: Option<String>,
}

impl Default for BenchArgs {
    fn default() -> Self {
        Self {
            model: vec!["yolo11n".into()],
            nc: 80,
            imgsz: vec![160, 320],
            batch: vec![8],
            steps: 5,
            boxes: 8,
            data: None,
            workers: 4,
            device: "cpu".into(),
            json: None,
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    })
}

impl BenchArgs {
    /// Classes: the dataset's with `data`, else `nc`.
    fn classes(&self) -> Result<usize, CliError> {
        match &self.data {
            Some(yaml) => Ok(yolo_data::DatasetConfig::load(std::path::Path::new(yaml))?.nc()),
            None => Ok(self.nc),
        }
    }
}

const GIB: f64 = (1u64 << 30) as f64;

fn print_header() {
    println!(
        "{:>8} {:>6} {:>6} {:>10} {:>13} {:>9} {:>9} {:>10} {:>24}",
        "model", "imgsz", "batch", "fused BN", "first step s", "step s", "img/s", "host GiB", "device peak use/res GiB"
    );
}

fn print_row(t: &StepTiming) {
    let gib = |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{:.2}", b as f64 / GIB));
    println!(
        "{:>8} {:>6} {:>6} {:>10} {:>13.2} {:>9.3} {:>9.1} {:>10} {:>24}",
        t.model,
        t.imgsz,
        t.batch,
        t.fused_bn,
        t.first_step_s,
        t.step_s,
        t.img_per_s,
        gib(t.host_peak_rss),
        format!("{}/{}", gib(t.device_peak_in_use), gib(t.device_peak_reserved)),
    );
}

impl BackendJob for BenchArgs {
    type Output = Result<Vec<StepTiming>, CliError>;

    fn run<B: AutodiffBackend>(self, device: B::Device, memory: MemoryProbe) -> Self::Output {
        let nc = self.classes()?;
        println!("{} batches on {}", self.data.as_deref().unwrap_or("synthetic"), self.device);
        print_header();
        let mut rows = Vec::new();
        for model in &self.model {
            let mut spec = ModelSpec::from_name(model)?;
            spec.nc = nc;
            for &imgsz in &self.imgsz {
                for &batch in &self.batch {
                    let cfg = StepBench {
                        spec,
                        imgsz: imgsz.div_ceil(32) * 32,
                        batch,
                        steps: self.steps,
                        boxes_per_image: self.boxes,
                        data: self.data.as_ref().map(Into::into),
                        workers: self.workers,
                    };
                    let t = time_train_steps::<B>(&cfg, &device, &memory)?;
                    print_row(&t);
                    rows.push(t);
                }
            }
        }
        if let Some(path) = &self.json {
            let text = serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?;
            std::fs::write(path, text).map_err(|e| CliError::io(std::path::Path::new(path), e))?;
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::KeyValues;

    fn parse(args: &[&str]) -> BenchArgs {
        KeyValues::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap().into_config("bench").unwrap()
    }

    #[test]
    fn grid_arguments_take_one_value_or_a_list() {
        let a = parse(&["model=yolo11s", "imgsz=640", "batch=[16,64]"]);
        assert_eq!((a.model, a.imgsz, a.batch), (vec!["yolo11s".to_string()], vec![640], vec![16, 64]));
        let b = parse(&["model=[yolo11n,yolo11s]", "data=coco8.yaml"]);
        assert_eq!(b.model.len(), 2);
        assert_eq!(b.data.as_deref(), Some("coco8.yaml"));
    }
}
