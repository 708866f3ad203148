//! Ultralytics-style `key=value` arguments, turned into typed settings with a clear error for
//! every unknown key or bad value.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::CliError;

/// The `key=value` pairs of one command line, values typed as YAML scalars (`true`, `0.5`,
/// `[0, 2]`, `null`), strings otherwise.
#[derive(Debug, Clone, Default)]
pub struct KeyValues {
    pairs: BTreeMap<String, Value>,
}

impl KeyValues {
    /// Parses `["model=yolo11n.pt", "imgsz=320", …]`.
    pub fn parse(args: &[String]) -> Result<Self, CliError> {
        let mut pairs = BTreeMap::new();
        for arg in args {
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("'{arg}' is not key=value (e.g. imgsz=640)")))?;
            let key = key.trim().trim_start_matches("--").replace('-', "_");
            if key.is_empty() {
                return Err(CliError::Usage(format!("'{arg}' has an empty key")));
            }
            pairs.insert(key, typed(value.trim()));
        }
        Ok(Self { pairs })
    }

    /// Takes one key out (for settings that are not part of a config struct).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.pairs.remove(key)
    }

    /// Takes one key as a string.
    pub fn take_string(&mut self, key: &str) -> Option<String> {
        self.take(key).map(|v| match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// Fills a settings struct from every remaining key; unknown keys are an error that lists
    /// the valid ones. `T::default()` supplies what is not given.
    pub fn into_config<T: DeserializeOwned + Serialize + Default>(self, command: &str) -> Result<T, CliError> {
        let valid = valid_keys::<T>();
        if let Some(bad) = self.pairs.keys().find(|k| !valid.contains(k)) {
            return Err(CliError::Usage(format!(
                "'{bad}' is not a valid `yolo {command}` argument; valid: {}",
                valid.join(", ")
            )));
        }
        let object: Map<String, Value> = self.pairs.into_iter().collect();
        serde_json::from_value(Value::Object(object)).map_err(|e| CliError::Usage(format!("yolo {command}: {e}")))
    }
}

/// The keys a settings struct accepts: the fields its default serialises to.
fn valid_keys<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

fn typed(raw: &str) -> Value {
    match raw {
        "None" | "none" | "null" | "" => return Value::Null,
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        _ => {}
    }
    match serde_yaml::from_str::<Value>(raw) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::Array(_))) => v,
        _ => Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Demo {
        imgsz: u32,
        conf: f32,
        rect: bool,
        classes: Option<Vec<usize>>,
        model: String,
    }

    fn kv(args: &[&str]) -> KeyValues {
        KeyValues::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn values_are_typed_like_ultralytics() {
        let d: Demo = kv(&["imgsz=320", "conf=0.5", "rect=True", "classes=[0,2]", "model=yolo11n.pt"])
            .into_config("val")
            .unwrap();
        assert_eq!((d.imgsz, d.conf, d.rect), (320, 0.5, true));
        assert_eq!(d.classes, Some(vec![0, 2]));
        assert_eq!(d.model, "yolo11n.pt");
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let err = kv(&["imgsz=320", "epoch=3"]).into_config::<Demo>("val").unwrap_err().to_string();
        assert!(err.contains("'epoch'") && err.contains("imgsz") && err.contains("classes"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = kv(&["imgsz=big"]).into_config::<Demo>("val").unwrap_err().to_string();
        assert!(err.contains("imgsz") || err.contains("big"), "{err}");
        assert!(KeyValues::parse(&["imgsz".to_string()]).is_err());
    }
}
