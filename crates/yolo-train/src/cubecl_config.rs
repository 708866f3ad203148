//! CubeCL runtime settings for GPU runs: autotune results and compiled kernels persist in one per-user folder, so later processes skip both.
//!
//! CubeCL's defaults put the autotune cache in the `target/` of the nearest Cargo project above
//! the working directory (else `~/.cache/cubecl`) and keep no compiled kernels, so the first step
//! of every process recompiles every kernel (nvrtc on CUDA) and a run started from another folder
//! re-tunes everything. [`apply`] installs, before the first GPU client exists:
//!
//! * `autotune.cache = file(<dir>)`: tuning results in `<dir>/autotune/<cubecl version>/<device>/…`;
//! * `compilation.cache = file(<dir>)`: CUDA PTX in `<dir>/cuda/<cubecl version>/ptx` (wgpu keeps
//!   compiling WGSL per process: its cache needs the SPIR-V compiler);
//!
//! with `<dir>` from [`cache_dir`], a kernel profile when `YOLO_CUBECL_PROFILE=<file>` is set, and
//! CubeCL's own environment variables (`CUBECL_DEBUG_OPTION`, `CUBECL_DEBUG_LOG`,
//! `CUBECL_AUTOTUNE_LEVEL`) still applied on top. A `cubecl.toml` (or
//! `CubeCL.toml`, `burn.toml`, `Burn.toml`) in the working directory or above wins: CubeCL then
//! reads that file as usual.

use std::path::{Path, PathBuf};

/// Environment variable naming the cache folder (overrides the XDG location).
pub const CACHE_ENV: &str = "YOLO_CUBECL_CACHE";
/// Environment variable naming a file for CubeCL's kernel profile: every kernel with its device
/// time, and per `sync` (each training step) a table of kernels by total time.
pub const PROFILE_ENV: &str = "YOLO_CUBECL_PROFILE";

/// Environment variable naming a file for CubeCL's memory log: every page its pools allocate,
/// with the state of the pools, and every cleanup (where a pool's reservation comes from).
pub const MEMORY_LOG_ENV: &str = "YOLO_CUBECL_MEMORY_LOG";
/// Environment variable that, when set, makes the memory log name every allocation and its size.
pub const MEMORY_LOG_FULL_ENV: &str = "YOLO_CUBECL_MEMORY_LOG_FULL";

/// CubeCL configuration files, looked up from the working directory to the root.
const CONFIG_FILES: [&str; 4] = ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"];

/// The CubeCL cache folder: `$YOLO_CUBECL_CACHE`, else `$XDG_CACHE_HOME/yolo-rs/cubecl`, else
/// `$HOME/.cache/yolo-rs/cubecl`; `None` without any of these variables.
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_with(|k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn cache_dir_with(var: impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    var(CACHE_ENV)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("yolo-rs/cubecl")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/yolo-rs/cubecl")))
}

/// Whether `dir` holds any file (a previous run left autotune results or kernels there).
pub fn has_entries(dir: &Path) -> bool {
    fn walk(dir: &Path) -> bool {
        std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { true }
        })
    }
    walk(dir)
}

/// A CubeCL configuration file in `dir` or above, if any.
pub fn user_config_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().flat_map(|d| CONFIG_FILES.iter().map(move |f| d.join(f))).find(|p| p.is_file())
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CubeclSetup {
    /// Our settings with this cache folder; `warm` when it already held entries.
    Cache {
        /// The folder.
        dir: PathBuf,
        /// A previous process left results there.
        warm: bool,
    },
    /// The user's configuration file is in charge.
    UserFile(PathBuf),
    /// CubeCL was configured before (by an earlier call, or read already): left as it is.
    AlreadySet,
    /// No cache folder could be named (no `HOME`): CubeCL's defaults.
    Defaults,
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod install {
    use std::path::PathBuf;
    use std::sync::Arc;

    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::memory::MemoryLogLevel;
    use burn::cubecl::config::profiling::ProfilingLogLevel;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

    /// Sets the global CubeCL configuration unless it is set; false when it was.
    pub(super) fn install(dir: PathBuf) -> bool {
        let mut config = CubeClRuntimeConfig::default();
        config.autotune.cache = CacheConfig::File(dir.clone());
        config.compilation.cache = Some(CacheConfig::File(dir));
        if let Some(file) = std::env::var_os(super::PROFILE_ENV).filter(|v| !v.is_empty()) {
            config.profiling.logger.level = ProfilingLogLevel::Basic;
            config.profiling.logger.file = Some(file.into());
        }
        if let Some(file) = std::env::var_os(super::MEMORY_LOG_ENV).filter(|v| !v.is_empty()) {
            let every_allocation = std::env::var_os(super::MEMORY_LOG_FULL_ENV).is_some();
            config.memory.logger.level = if every_allocation { MemoryLogLevel::Full } else { MemoryLogLevel::Basic };
            config.memory.logger.file = Some(file.into());
        }
        let config = config.override_from_env();
        let mut slot = CubeClRuntimeConfig::storage().lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(Arc::new(config));
        true
    }
}

static SETUP: std::sync::OnceLock<CubeclSetup> = std::sync::OnceLock::new();

/// What [`apply`] did in this process, if it ran.
pub fn current() -> Option<CubeclSetup> {
    SETUP.get().cloned()
}

/// Installs the CubeCL configuration of this module, once per process (later calls return the
/// first outcome). Call before the first GPU tensor: once CubeCL has read its configuration it
/// stays as read ([`CubeclSetup::AlreadySet`]).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn apply() -> CubeclSetup {
    SETUP.get_or_init(|| {
        if let Some(file) = std::env::current_dir().ok().and_then(|d| user_config_file(&d)) {
            return CubeclSetup::UserFile(file);
        }
        let Some(dir) = cache_dir() else { return CubeclSetup::Defaults };
        let warm = has_entries(&dir);
        if install::install(dir.clone()) { CubeclSetup::Cache { dir, warm } } else { CubeclSetup::AlreadySet }
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("yolo-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_cache_folder_follows_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| PathBuf::from(v))
        };
        assert_eq!(cache_dir_with(env(&[("HOME", "/h")])), Some(PathBuf::from("/h/.cache/yolo-rs/cubecl")));
        assert_eq!(cache_dir_with(env(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")])), Some(PathBuf::from("/x/yolo-rs/cubecl")));
        assert_eq!(cache_dir_with(env(&[("XDG_CACHE_HOME", "/x"), (CACHE_ENV, "/c")])), Some(PathBuf::from("/c")));
        assert_eq!(cache_dir_with(env(&[])), None);
    }

    #[test]
    fn config_files_are_found_upwards_and_entries_anywhere_below() {
        let tmp = TempDir::new("cubecl-config");
        let deep = tmp.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(user_config_file(&deep), None);
        std::fs::write(tmp.path().join("a/cubecl.toml"), "").unwrap();
        assert_eq!(user_config_file(&deep), Some(tmp.path().join("a/cubecl.toml")));
        assert!(!has_entries(&tmp.path().join("a/b")), "empty folders are not a warm cache");
        std::fs::write(deep.join("chunk0.cbor"), b"x").unwrap();
        assert!(has_entries(&tmp.path().join("a/b")));
        assert!(!has_entries(&tmp.path().join("missing")));
    }
}
