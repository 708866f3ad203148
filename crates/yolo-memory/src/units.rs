//! Memory sizes as people write them: `memory=0.9` (a fraction of the device) or `memory=12GiB`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::MemoryError;

/// Bytes in a GiB.
pub const GIB: u64 = 1 << 30;

/// Bytes as GiB.
pub fn gib(bytes: u64) -> f64 {
    bytes as f64 / GIB as f64
}

/// A memory budget: a fraction of the device's total, or an amount. In settings files it is a
/// number (≤ 1: a fraction; more: bytes) or a string such as `12GiB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryArg {
    /// Fraction of the device's total memory, in (0, 1].
    Fraction(f64),
    /// Bytes.
    Bytes(u64),
}

impl MemoryArg {
    /// The budget in bytes on a device of `total` bytes (`None` when a fraction is given and
    /// the total is unknown).
    pub fn bytes(&self, total: Option<u64>) -> Option<u64> {
        match *self {
            MemoryArg::Bytes(b) => Some(b),
            MemoryArg::Fraction(f) => total.map(|t| (t as f64 * f) as u64),
        }
    }
}

impl Serialize for MemoryArg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            MemoryArg::Fraction(f) => s.serialize_f64(f),
            MemoryArg::Bytes(b) => s.serialize_u64(b),
        }
    }
}

impl<'de> Deserialize<'de> for MemoryArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(x) if x > 0.0 && x <= 1.0 => Ok(MemoryArg::Fraction(x)),
            Raw::Number(x) if x > 1.0 => Ok(MemoryArg::Bytes(x as u64)),
            Raw::Number(x) => Err(serde::de::Error::custom(MemoryError::BadSize(x.to_string()))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl FromStr for MemoryArg {
    type Err = MemoryError;

    /// `0.9`, `12GiB`, `12 GB`, `512MiB`, `1.5G` (G, GB, GiB are all 2³⁰; M, MB, MiB 2²⁰).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MemoryError::BadSize(s.to_string());
        let t = s.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num.trim().parse().map_err(|_| bad())?;
        let scale = match unit.trim().to_ascii_lowercase().as_str() {
            "" if value > 0.0 && value <= 1.0 => return Ok(MemoryArg::Fraction(value)),
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => (1u64 << 20) as f64,
            "g" | "gb" | "gib" => GIB as f64,
            "t" | "tb" | "tib" => (1u64 << 40) as f64,
            _ => return Err(bad()),
        };
        if value <= 0.0 {
            return Err(bad());
        }
        Ok(MemoryArg::Bytes((value * scale) as u64))
    }
}

impl fmt::Display for MemoryArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemoryArg::Fraction(x) => write!(f, "{:.0} % of the device", x * 100.0),
            MemoryArg::Bytes(b) => write!(f, "{:.2} GiB", gib(b)),
        }
    }
}

/// `bytes` as `1.23 GiB` / `456 MiB`.
pub fn human(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.2} GiB", gib(bytes))
    } else {
        format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractions_and_sizes() {
        assert_eq!("0.9".parse::<MemoryArg>().unwrap(), MemoryArg::Fraction(0.9));
        assert_eq!("12GiB".parse::<MemoryArg>().unwrap(), MemoryArg::Bytes(12 * GIB));
        assert_eq!("1.5 G".parse::<MemoryArg>().unwrap(), MemoryArg::Bytes(3 * GIB / 2));
        assert_eq!("512MiB".parse::<MemoryArg>().unwrap(), MemoryArg::Bytes(512 << 20));
        assert!("12 parsecs".parse::<MemoryArg>().is_err());
        assert!("-1".parse::<MemoryArg>().is_err());
        assert_eq!(MemoryArg::Fraction(0.5).bytes(Some(8 * GIB)), Some(4 * GIB));
        assert_eq!(MemoryArg::Fraction(0.5).bytes(None), None);
    }

    #[test]
    fn settings_files_take_numbers_and_strings() {
        let parse = |json: &str| serde_json::from_str::<MemoryArg>(json);
        assert_eq!(parse("0.9").unwrap(), MemoryArg::Fraction(0.9));
        assert_eq!(parse("\"12GiB\"").unwrap(), MemoryArg::Bytes(12 * GIB));
        assert_eq!(parse("1073741824").unwrap(), MemoryArg::Bytes(GIB));
        assert!(parse("-2").is_err());
        let back = serde_json::to_string(&MemoryArg::Bytes(12 * GIB)).unwrap();
        assert_eq!(parse(&back).unwrap(), MemoryArg::Bytes(12 * GIB));
    }
}
