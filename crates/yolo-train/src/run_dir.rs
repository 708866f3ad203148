//! Run folders like Ultralytics: `runs/detect/train`, `train2`, … (or `project=`/`name=`).

use std::io;
use std::path::{Path, PathBuf};

/// `project/name`, made unique by appending 2, 3, … unless `exist_ok`; the folder is created.
pub fn increment_run_dir(project: &Path, name: &str, exist_ok: bool) -> io::Result<PathBuf> {
    let base = project.join(name);
    let dir = if exist_ok || !base.exists() {
        base
    } else {
        (2..)
            .map(|n| project.join(format!("{name}{n}")))
            .find(|p| !p.exists())
            .expect("an unused run folder exists")
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_like_ultralytics() {
        let tmp = std::env::temp_dir().join(format!("yolo-run-dir-{}", std::process::id()));
        let a = increment_run_dir(&tmp, "val", false).unwrap();
        let b = increment_run_dir(&tmp, "val", false).unwrap();
        let c = increment_run_dir(&tmp, "val", true).unwrap();
        assert_eq!(a, tmp.join("val"));
        assert_eq!(b, tmp.join("val2"));
        assert_eq!(c, tmp.join("val"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
