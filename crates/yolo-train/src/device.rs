//! Choosing the compute device at run time (`device=cpu|wgpu|cuda[:N]`) and running a job on it.

use std::fmt;
use std::str::FromStr;

use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::tensor::backend::AutodiffBackend;
use thiserror::Error;

/// A device named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceArg {
    /// burn's Flex CPU backend (every core, SIMD).
    Cpu,
    /// wgpu (Vulkan, Metal, DX12); `None` = the best available adapter.
    Wgpu(Option<usize>),
    /// CUDA device index.
    Cuda(usize),
}

/// A device that cannot be used by this build or was misspelled.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// Not `cpu`, `wgpu[:N]`, `cuda[:N]` or a bare CUDA index.
    #[error("device '{0}' is not one of cpu, wgpu, wgpu:N, cuda, cuda:N or N (a CUDA index)")]
    Unknown(String),
    /// The backend was not compiled in.
    #[error("device={device} needs a build with `--features {feature}` (this binary was built without it)")]
    NotCompiled {
        /// What the user asked for.
        device: String,
        /// The cargo feature that provides it.
        feature: &'static str,
    },
}

impl FromStr for DeviceArg {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let index = |rest: &str| rest.parse::<usize>().map_err(|_| DeviceError::Unknown(s.into()));
        match lower.as_str() {
            "" | "cpu" => Ok(DeviceArg::Cpu),
            "wgpu" => Ok(DeviceArg::Wgpu(None)),
            "cuda" => Ok(DeviceArg::Cuda(0)),
            other => {
                if let Some(rest) = other.strip_prefix("wgpu:") {
                    Ok(DeviceArg::Wgpu(Some(index(rest)?)))
                } else if let Some(rest) = other.strip_prefix("cuda:") {
                    Ok(DeviceArg::Cuda(index(rest)?))
                } else {
                    Ok(DeviceArg::Cuda(index(other)?))
                }
            }
        }
    }
}

impl fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceArg::Cpu => write!(f, "cpu"),
            DeviceArg::Wgpu(None) => write!(f, "wgpu"),
            DeviceArg::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceArg::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Device memory as the backend's allocator reports it, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceMemory {
    /// Bytes in live tensors.
    pub in_use: u64,
    /// Bytes the pool holds from the device (in use + cached).
    pub reserved: u64,
}

/// Reads the current device memory; `None` on backends that do not report it (the CPU).
pub type MemoryProbe = std::sync::Arc<dyn Fn() -> Option<DeviceMemory> + Send + Sync>;

/// The highest memory in use while it runs: a thread reads a [`MemoryProbe`] every `interval`
/// and keeps the maximum. Allocators report only the present (CubeCL's pools, the C heap), so
/// this is how a step's peak inside backward or the optimizer update is seen at all; a peak
/// shorter than the interval can still slip between two reads.
pub struct PeakSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl PeakSampler {
    /// Starts reading `probe` every `interval`.
    pub fn start(probe: MemoryProbe, interval: std::time::Duration) -> PeakSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = probe().map_or(peak, |m| peak.max(m.in_use));
                std::thread::sleep(interval);
            }
            peak
        });
        PeakSampler { stop, thread }
    }

    /// Stops the thread and returns the highest in-use bytes it read (0 if none).
    pub fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// A probe for backends without device memory.
pub fn no_memory_probe() -> MemoryProbe {
    std::sync::Arc::new(|| None)
}

/// The message of a caught panic (`panic!` with a string or a format), empty for other payloads.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The CPU backend's "device" memory: the C heap its tensors live on
/// ([`yolo_memory::process::heap_bytes`]; in use = allocated, reserved = held from the system).
/// For measurements only: the planner does not probe the CPU (its budget is the host's RAM).
pub fn heap_memory_probe() -> MemoryProbe {
    std::sync::Arc::new(|| {
        yolo_memory::process::heap_bytes().map(|(in_use, reserved)| DeviceMemory { in_use, reserved })
    })
}

/// Work that is generic over the backend; [`run_on`] picks the backend at run time.
/// Inference-only jobs use `B::InnerBackend`.
pub trait BackendJob {
    /// What the job returns.
    type Output;
    /// Runs the job on `device`; `memory` reads that device's allocator.
    fn run<B: AutodiffBackend>(self, device: B::Device, memory: MemoryProbe) -> Self::Output;
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn cubecl_probe<R: burn::cubecl::Runtime>(device: R::Device) -> MemoryProbe {
    std::sync::Arc::new(move || {
        let usage = R::client(&device).memory_usage().ok()?;
        Some(DeviceMemory { in_use: usage.bytes_in_use, reserved: usage.bytes_reserved })
    })
}

/// The CPU backend type.
#[cfg(feature = "flex")]
pub type CpuBackend = burn::backend::Autodiff<burn::backend::Flex>;

/// Runs `job` on the backend behind `device` (on GPU devices after installing our CubeCL
/// configuration, [`crate::cubecl_config::apply`]: a per-user autotune and kernel cache).
pub fn run_on<J: BackendJob>(device: DeviceArg, job: J) -> Result<J::Output, DeviceError> {
    run_with::<J, NoCheckpointing>(device, job)
}

/// [`run_on`], with burn's `BalancedCheckpointing` when `checkpointing`: backward recomputes the
/// memory-bound ops instead of keeping their outputs (less memory, more time).
pub fn run_on_checkpointed<J: BackendJob>(device: DeviceArg, checkpointing: bool, job: J) -> Result<J::Output, DeviceError> {
    if checkpointing { run_with::<J, BalancedCheckpointing>(device, job) } else { run_on(device, job) }
}

fn run_with<J: BackendJob, C: CheckpointStrategy>(device: DeviceArg, job: J) -> Result<J::Output, DeviceError> {
    use burn::backend::Autodiff;
    match device {
        #[cfg(feature = "flex")]
        DeviceArg::Cpu => Ok(job.run::<Autodiff<burn::backend::Flex, C>>(Default::default(), no_memory_probe())),
        #[cfg(feature = "wgpu")]
        DeviceArg::Wgpu(index) => {
            crate::cubecl_config::apply();
            let dev = wgpu_device(index);
            let probe = cubecl_probe::<burn::cubecl::wgpu::WgpuRuntime>(dev.clone());
            Ok(job.run::<Autodiff<burn::backend::Wgpu, C>>(dev, probe))
        }
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda(index) => {
            crate::cubecl_config::apply();
            let dev = burn::backend::cuda::CudaDevice::new(index);
            let probe = cubecl_probe::<burn::cubecl::cuda::CudaRuntime>(dev.clone());
            Ok(job.run::<Autodiff<burn::backend::Cuda, C>>(dev, probe))
        }
        #[allow(unreachable_patterns)]
        other => Err(DeviceError::NotCompiled { device: other.to_string(), feature: feature_of(other) }),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device(index: Option<usize>) -> burn::backend::wgpu::WgpuDevice {
    use burn::backend::wgpu::WgpuDevice;
    index.map_or(WgpuDevice::DefaultDevice, WgpuDevice::DiscreteGpu)
}

/// What a device's allocator can give.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Total memory, bytes, when known (CUDA: 4 × CubeCL's largest page; the CPU: physical RAM;
    /// wgpu does not say).
    pub total: Option<u64>,
    /// CubeCL's largest page, bytes: no single buffer can be larger (wgpu: the binding size).
    pub max_page: Option<u64>,
    /// CubeCL's slice alignment, bytes.
    pub alignment: Option<u64>,
}

/// The limits of `device` (starts its runtime client on GPU backends).
pub fn device_limits(device: DeviceArg) -> DeviceLimits {
    match device {
        DeviceArg::Cpu => DeviceLimits { total: yolo_memory::process::total_ram(), ..Default::default() },
        #[cfg(feature = "wgpu")]
        DeviceArg::Wgpu(index) => cubecl_limits::<burn::cubecl::wgpu::WgpuRuntime>(&wgpu_device(index), 0),
        #[cfg(feature = "cuda")]
        DeviceArg::Cuda(index) => cubecl_limits::<burn::cubecl::cuda::CudaRuntime>(&burn::backend::cuda::CudaDevice::new(index), 4),
        #[allow(unreachable_patterns)]
        _ => DeviceLimits::default(),
    }
}

/// `pages_in_total`: CubeCL's largest page is this fraction of the device (0: unknown).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn cubecl_limits<R: burn::cubecl::Runtime>(device: &R::Device, pages_in_total: u64) -> DeviceLimits {
    let memory = R::client(device).properties().memory.clone();
    let total = (pages_in_total > 0).then(|| memory.max_page_size.saturating_mul(pages_in_total));
    DeviceLimits { total, max_page: Some(memory.max_page_size), alignment: Some(memory.alignment) }
}

fn feature_of(device: DeviceArg) -> &'static str {
    match device {
        DeviceArg::Cpu => "flex",
        DeviceArg::Wgpu(_) => "wgpu",
        DeviceArg::Cuda(_) => "cuda",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_sampler_sees_a_peak_between_reads() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let level = std::sync::Arc::new(AtomicU64::new(5));
        let read = level.clone();
        let probe: MemoryProbe =
            std::sync::Arc::new(move || Some(DeviceMemory { in_use: read.load(Ordering::Relaxed), reserved: 0 }));
        let sampler = PeakSampler::start(probe, std::time::Duration::from_micros(200));
        std::thread::sleep(std::time::Duration::from_millis(20));
        level.store(100, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(20));
        level.store(1, Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(sampler.finish(), 100);
    }

    #[test]
    fn parses_ultralytics_style_devices() {
        assert_eq!("cpu".parse::<DeviceArg>().unwrap(), DeviceArg::Cpu);
        assert_eq!("0".parse::<DeviceArg>().unwrap(), DeviceArg::Cuda(0));
        assert_eq!("cuda:1".parse::<DeviceArg>().unwrap(), DeviceArg::Cuda(1));
        assert_eq!("wgpu".parse::<DeviceArg>().unwrap(), DeviceArg::Wgpu(None));
        assert_eq!("wgpu:2".parse::<DeviceArg>().unwrap(), DeviceArg::Wgpu(Some(2)));
        assert!("tpu".parse::<DeviceArg>().is_err());
        assert!("cuda:x".parse::<DeviceArg>().is_err());
    }
}
