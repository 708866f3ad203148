//! Memory of this process as the kernel counts it (Linux `/proc/self/status`).

/// Resident set size now, bytes (`VmRSS`); `None` where `/proc` is unavailable.
pub fn rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|k| k * 1024)
}

/// Peak resident set size since the process started, bytes (`VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|k| k * 1024)
}

fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// Bytes as GiB.
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_grows_when_memory_is_touched() {
        let before = rss_bytes().expect("linux /proc");
        let block = vec![1u8; 64 << 20];
        let after = rss_bytes().unwrap();
        assert!(after >= before + (48 << 20), "{before} → {after}");
        assert!(peak_rss_bytes().unwrap() >= after);
        drop(block);
    }
}
