//! Shared helpers for the cross-crate tests: locating ../shared and the fixture JSON.

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` beside the checkout, or `None` (the test then prints a note and passes).
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("../shared is absent: test skipped");
        None
    }
}

/// `fixtures/fixtures.json`.
pub fn fixtures(shared: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(shared.join("fixtures/fixtures.json")).expect("fixtures.json");
    serde_json::from_str(&text).expect("fixtures.json parses")
}
