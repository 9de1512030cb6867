//! Attribute values: the full OTLP `AnyValue`.
//!
//! Invariants:
//! - Values keep everything the sender sent: attribute order, duplicate keys inside a `kvlist`,
//!   the exact bits of doubles (including `-0.0` and NaN payloads) and raw bytes.
//! - Nesting depth is bounded by validation ([`crate::Limits::max_depth`]) before a value reaches the
//!   model, so the recursive helpers here (`to_json`, `PartialEq`, `Drop`) cannot exhaust the stack
//!   for values produced by [`crate::otlp`] or [`crate::codec`].

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Key;

/// An OTLP `AnyValue`: every variant the protocol can carry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnyValue {
    /// No value was set (OTLP allows an empty `AnyValue`).
    #[default]
    Empty,
    /// A UTF-8 string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An ordered array of values.
    Array(Vec<AnyValue>),
    /// An ordered list of key-value pairs (duplicates and order preserved).
    KvList(Vec<KeyValue>),
}

/// One attribute: a key and its value. Attribute lists keep the sender's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The attribute key, e.g. `gen_ai.operation.name` (well-known keys borrow a static string).
    pub key: Key,
    /// The attribute value.
    pub value: AnyValue,
}

impl KeyValue {
    /// Builds a key-value pair.
    pub fn new(key: impl Into<Key>, value: impl Into<AnyValue>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl AnyValue {
    /// The string, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, when this is a bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, when this is an int value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// A number, from an int or a double value.
    #[allow(clippy::cast_precision_loss)] // an attribute read as a float is an approximation anyway
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// A non-negative count, from an int, an integral double or a decimal string (senders differ).
    pub fn as_count(&self) -> Option<u64> {
        match self {
            Self::Int(i) => u64::try_from(*i).ok(),
            Self::Double(d) if d.is_finite() && *d >= 0.0 && d.fract() == 0.0 && *d < 2e19 => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
                Some(*d as u64)
            }
            Self::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A human-readable rendering of a scalar (strings unquoted); composite values as compact JSON.
    pub fn to_display_string(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            other => other.to_json().to_string(),
        }
    }

    /// Converts to JSON for display and APIs.
    ///
    /// Mapping: empty → `null`; string, bool, int → the same JSON type; finite doubles → numbers,
    /// NaN/±infinity → the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (as in proto3 JSON); bytes →
    /// standard base64 string; array → array; kvlist → object (on duplicate keys the last one wins,
    /// so use the model itself, not this view, when duplicates matter).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Empty => Value::Null,
            Self::String(s) => Value::String(s.clone()),
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Double(d) => double_to_json(*d),
            Self::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            Self::Array(values) => Value::Array(values.iter().map(Self::to_json).collect()),
            Self::KvList(kvs) => Value::Object(attributes_to_json(kvs)),
        }
    }

    /// Converts a *content* attribute (tool arguments, messages, results) to JSON, accepting both
    /// encodings senders use: a string holding a JSON object or array is parsed; a structured
    /// `AnyValue` is converted with [`AnyValue::to_json`]; any other string stays a JSON string.
    pub fn to_content_json(&self) -> Value {
        if let Self::String(s) = self {
            if let Some(json) = self.json_content_text()
                && let Ok(parsed) = serde_json::from_str::<Value>(json)
            {
                return parsed;
            }
            return Value::String(s.clone());
        }
        self.to_json()
    }

    /// The text [`AnyValue::to_content_json`] tries to read as JSON: a string that opens (after
    /// whitespace) with `{` or `[`.
    pub fn json_content_text(&self) -> Option<&str> {
        let Self::String(s) = self else { return None };
        let opening = s.trim_start();
        (opening.starts_with('{') || opening.starts_with('[')).then_some(s.as_str())
    }
}

fn double_to_json(d: f64) -> Value {
    if d.is_nan() {
        Value::String("NaN".to_owned())
    } else if d.is_infinite() {
        Value::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.to_owned())
    } else {
        serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
    }
}

/// Converts an attribute list to a JSON object (see [`AnyValue::to_json`]; last duplicate key wins).
pub fn attributes_to_json(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.to_json()))
        .collect()
}

/// The first attribute with this key (OTLP requires unique keys; on duplicates the first wins).
pub(crate) fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

impl From<&str> for AnyValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for AnyValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<bool> for AnyValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<i64> for AnyValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<f64> for AnyValue {
    fn from(value: f64) -> Self {
        Self::Double(value)
    }
}

impl From<Vec<u8>> for AnyValue {
    fn from(value: Vec<u8>) -> Self {
        Self::Bytes(value)
    }
}

impl From<Vec<AnyValue>> for AnyValue {
    fn from(value: Vec<AnyValue>) -> Self {
        Self::Array(value)
    }
}

impl From<Vec<KeyValue>> for AnyValue {
    fn from(value: Vec<KeyValue>) -> Self {
        Self::KvList(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn to_json_maps_every_variant() {
        let value = AnyValue::KvList(vec![
            KeyValue::new("s", "x"),
            KeyValue::new("b", true),
            KeyValue::new("i", 7_i64),
            KeyValue::new("d", 1.5),
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("inf", f64::NEG_INFINITY),
            KeyValue::new("bytes", vec![1_u8, 2, 3]),
            KeyValue::new("arr", vec![AnyValue::Int(1), AnyValue::Empty]),
        ]);
        assert_eq!(
            value.to_json(),
            json!({"s":"x","b":true,"i":7,"d":1.5,"nan":"NaN","inf":"-Infinity","bytes":"AQID","arr":[1,null]})
        );
    }

    #[test]
    fn content_json_accepts_json_strings_and_structured_values() {
        let from_string = AnyValue::from(r#"{"city":"Paris"}"#);
        let structured = AnyValue::KvList(vec![KeyValue::new("city", "Paris")]);
        assert_eq!(from_string.to_content_json(), structured.to_content_json());
        assert_eq!(
            AnyValue::from("plain text").to_content_json(),
            json!("plain text")
        );
        assert_eq!(
            AnyValue::from("{not json").to_content_json(),
            json!("{not json")
        );
    }

    #[test]
    fn counts_accept_ints_integral_doubles_and_strings() {
        assert_eq!(AnyValue::Int(12).as_count(), Some(12));
        assert_eq!(AnyValue::Int(-1).as_count(), None);
        assert_eq!(AnyValue::Double(12.0).as_count(), Some(12));
        assert_eq!(AnyValue::Double(12.5).as_count(), None);
        assert_eq!(AnyValue::from("34").as_count(), Some(34));
        assert_eq!(AnyValue::Bool(true).as_count(), None);
    }
}
