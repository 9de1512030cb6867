//! Attribute values as recorded on the caller's thread.
//!
//! Values are plain enums: static strings are borrowed (no allocation), JSON content is kept as a
//! [`serde_json::Value`] and only serialized to text on the exporter thread. The OTLP mapping is:
//! `Bool`/`I64`/`F64`/`Str` to the matching `AnyValue` scalar, `Array` to `ArrayValue`, and `Json`
//! to a string holding compact JSON (the GenAI conventions carry messages and tool arguments as
//! JSON strings).

use std::borrow::Cow;

/// An attribute key: usually a `&'static str` constant from [`semconv`](crate::semconv).
pub type Key = Cow<'static, str>;

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A signed integer (unsigned values saturate at `i64::MAX`).
    I64(i64),
    /// A float.
    F64(f64),
    /// A string.
    Str(Cow<'static, str>),
    /// A homogeneous or mixed array.
    Array(Vec<Value>),
    /// Structured content, exported as a compact JSON string.
    Json(Box<serde_json::Value>),
}

impl Value {
    /// Whether dropping the value frees heap memory.
    #[inline]
    pub(crate) fn owns_heap(&self) -> bool {
        matches!(
            self,
            Value::Str(Cow::Owned(_)) | Value::Array(_) | Value::Json(_)
        )
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

macro_rules! int_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::I64(i64::from(v))
            }
        }
    )*};
}
int_from!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! sat_int_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Value {
            fn from(v: $ty) -> Self {
                Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
    )*};
}
sat_int_from!(u64, usize);

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::F64(f64::from(v))
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Self {
        Value::Str(Cow::Borrowed(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Cow::Owned(v))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Self {
        Value::Str(v)
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        Value::Json(Box::new(v))
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

/// Captured content (prompts, completions, tool arguments and results, reasoning text): either
/// free text or structured JSON. Content is only recorded when the tracer enables
/// [`capture_content`](crate::TracerBuilder::capture_content), and passes through the
/// [redaction callback](crate::TracerBuilder::redact) before export.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Free text.
    Text(Cow<'static, str>),
    /// Structured JSON, serialized on the exporter thread.
    Json(serde_json::Value),
}

impl Content {
    /// The content as exported text: the text itself, or compact JSON.
    pub fn to_text(&self) -> String {
        match self {
            Content::Text(t) => t.to_string(),
            Content::Json(v) => v.to_string(),
        }
    }
}

impl From<&'static str> for Content {
    fn from(v: &'static str) -> Self {
        Content::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Content {
    fn from(v: String) -> Self {
        Content::Text(Cow::Owned(v))
    }
}

impl From<serde_json::Value> for Content {
    fn from(v: serde_json::Value) -> Self {
        Content::Json(v)
    }
}
