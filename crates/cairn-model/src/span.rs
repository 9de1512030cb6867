//! Spans, log records and the ids that join them.
//!
//! Invariants of values produced by [`crate::otlp`] (validation):
//! - `trace_id`/`span_id` are never all zeros; an all-zero parent span id (W3C "invalid") is
//!   normalized to `parent_span_id: None`, as are all-zero trace/span ids on log records;
//! - `end_unix_nano >= start_unix_nano`;
//! - `agent_kind` equals [`crate::kind::derive()`] of the span's name and attributes.
//!
//! Ids display and serialize as lowercase hex; parsing accepts either case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kind::AgentKind;
use crate::value::{AnyValue, KeyValue, attributes_to_json, find};

/// A 16-byte trace id. Never all zeros once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id. Never all zeros once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

/// The string is not a hex id of the expected length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: expected {digits} hex digits")]
pub struct ParseIdError {
    what: &'static str,
    digits: usize,
}

macro_rules! hex_id {
    ($ty:ident, $len:literal, $what:literal) => {
        impl $ty {
            /// Number of bytes in this id.
            pub const LEN: usize = $len;

            /// Lowercase hex, as OTLP/JSON and W3C trace context write it.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses hex (either case) of exactly the right length.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut bytes = [0_u8; $len];
                hex::decode_to_slice(s, &mut bytes).ok()?;
                Some(Self(bytes))
            }

            /// Builds the id from a byte slice of exactly the right length.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }

            /// `false` for the all-zero id, which W3C trace context defines as invalid.
            pub fn is_valid(&self) -> bool {
                self.0 != [0_u8; $len]
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for byte in self.0 {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }

        impl FromStr for $ty {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s).ok_or(ParseIdError {
                    what: $what,
                    digits: $len * 2,
                })
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(TraceId, 16, "trace id");
hex_id!(SpanId, 8, "span id");

/// OpenTelemetry span kind (the OTLP enum values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// `SPAN_KIND_UNSPECIFIED` (0).
    #[default]
    Unspecified,
    /// `SPAN_KIND_INTERNAL` (1).
    Internal,
    /// `SPAN_KIND_SERVER` (2).
    Server,
    /// `SPAN_KIND_CLIENT` (3).
    Client,
    /// `SPAN_KIND_PRODUCER` (4).
    Producer,
    /// `SPAN_KIND_CONSUMER` (5).
    Consumer,
}

/// OpenTelemetry status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    /// `STATUS_CODE_UNSET` (0).
    #[default]
    Unset,
    /// `STATUS_CODE_OK` (1).
    Ok,
    /// `STATUS_CODE_ERROR` (2).
    Error,
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    /// The status code.
    pub code: StatusCode,
    /// The status message, empty when none was sent.
    pub message: String,
}

/// A timestamped event inside a span (e.g. an `exception` event).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// Event time, unix nanoseconds.
    pub time_unix_nano: u64,
    /// Event name.
    pub name: String,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender reported it had dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Link {
    /// Linked trace id.
    pub trace_id: TraceId,
    /// Linked span id.
    pub span_id: SpanId,
    /// W3C trace state of the link.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender reported it had dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags of the link.
    pub flags: u32,
}

/// The resource that produced telemetry (service name, host …).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    /// Resource attributes, e.g. `service.name`.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender reported it had dropped.
    pub dropped_attributes_count: u32,
    /// Schema URL of the `ResourceSpans`/`ResourceLogs` this came in.
    pub schema_url: String,
    /// Entities that participate in this resource (OTLP `entity_refs`, development status).
    pub entity_refs: Vec<EntityRef>,
}

/// A reference to an entity (service, host …) described by some of a resource's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityRef {
    /// Schema URL of the entity's data.
    pub schema_url: String,
    /// Entity type, e.g. `service`.
    pub entity_type: String,
    /// Attribute keys that identify the entity.
    pub id_keys: Vec<String>,
    /// Descriptive attribute keys of the entity.
    pub description_keys: Vec<String>,
}

/// The instrumentation scope (library) that produced telemetry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InstrumentationScope {
    /// Scope name.
    pub name: String,
    /// Scope version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender reported it had dropped.
    pub dropped_attributes_count: u32,
    /// Schema URL of the `ScopeSpans`/`ScopeLogs` this came in.
    pub schema_url: String,
}

/// A normalized span. Nothing the sender sent is dropped by normalization.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace state.
    pub trace_state: String,
    /// W3C trace flags.
    pub flags: u32,
    /// Span name.
    pub name: String,
    /// OpenTelemetry span kind.
    pub span_kind: SpanKind,
    /// Agent kind derived from the name and attributes (see [`crate::kind`]).
    ///
    /// Derived data: [`crate::codec`] does not store it but re-derives it on decode. To give a span
    /// an explicit kind, set the `cairn.kind` attribute and call [`Span::refresh_agent_kind`].
    pub agent_kind: AgentKind,
    /// Start time, unix nanoseconds.
    pub start_unix_nano: u64,
    /// End time, unix nanoseconds (never before start once validated).
    pub end_unix_nano: u64,
    /// Status.
    pub status: Status,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender reported it had dropped.
    pub dropped_attributes_count: u32,
    /// Events.
    pub events: Vec<Event>,
    /// Events the sender reported it had dropped.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links the sender reported it had dropped.
    pub dropped_links_count: u32,
    /// The resource that produced the span.
    pub resource: Resource,
    /// The instrumentation scope that produced the span.
    pub scope: InstrumentationScope,
}

/// A normalized log record (GenAI events, exceptions, plain logs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    /// Time the event occurred, unix nanoseconds (0 when unknown).
    pub time_unix_nano: u64,
    /// Time the event was observed, unix nanoseconds.
    pub observed_time_unix_nano: u64,
    /// Severity number (OTLP `SeverityNumber`).
    pub severity_number: i32,
    /// Severity text.
    pub severity_text: String,
    /// Event name (OTLP `event_name`, e.g. `gen_ai.evaluation.result`).
    pub event_name: String,
    /// Body.
    pub body: crate::AnyValue,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender reported it had dropped.
    pub dropped_attributes_count: u32,
    /// Flags.
    pub flags: u32,
    /// Trace id, when the record belongs to a trace.
    pub trace_id: Option<TraceId>,
    /// Span id, when the record belongs to a span.
    pub span_id: Option<SpanId>,
    /// The resource that produced the record.
    pub resource: Resource,
    /// The instrumentation scope that produced the record.
    pub scope: InstrumentationScope,
}

/// What one ledger entry holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// A span.
    Span(Span),
    /// A log record.
    Log(LogRecord),
}

impl From<Span> for Record {
    fn from(span: Span) -> Self {
        Self::Span(span)
    }
}

impl From<LogRecord> for Record {
    fn from(log: LogRecord) -> Self {
        Self::Log(log)
    }
}

impl SpanKind {
    /// The OTLP enum value.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The kind for an OTLP enum value; `None` for values the protocol does not define.
    pub fn from_i32(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Unspecified,
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => return None,
        })
    }

    /// Lowercase name (`server`, `client` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

impl StatusCode {
    /// The OTLP enum value.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code for an OTLP enum value; `None` for values the protocol does not define.
    pub fn from_i32(value: i32) -> Option<Self> {
        Some(match value {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            _ => return None,
        })
    }

    /// Lowercase name (`unset`, `ok`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

impl Span {
    /// The first attribute with this key (OTLP requires unique keys).
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        find(&self.attributes, key)
    }

    /// The string value of an attribute, when it is a string.
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        self.attribute(key).and_then(AnyValue::as_str)
    }

    /// End minus start, in nanoseconds (0 if the span ends before it starts, which validation
    /// rules out).
    pub fn duration_ns(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }

    /// Sets [`Span::agent_kind`] from the name and attributes (see [`crate::kind::derive()`]).
    pub fn refresh_agent_kind(&mut self) {
        self.agent_kind = crate::kind::derive(&self.name, &self.attributes);
    }

    /// A JSON view for APIs and `cairn inspect --json`: ids as hex, `kind` = the agent kind,
    /// attributes as an object (see [`AnyValue::to_json`]). This is a view, not the canonical
    /// encoding (see [`crate::codec`]).
    pub fn to_json(&self) -> Value {
        json!({
            "trace_id": self.trace_id.to_hex(),
            "span_id": self.span_id.to_hex(),
            "parent_span_id": self.parent_span_id.map(|id| id.to_hex()),
            "name": self.name,
            "kind": self.agent_kind.as_str(),
            "span_kind": self.span_kind.as_str(),
            "start_unix_nano": self.start_unix_nano,
            "end_unix_nano": self.end_unix_nano,
            "duration_ns": self.duration_ns(),
            "status": {"code": self.status.code.as_str(), "message": self.status.message},
            "attributes": attributes_to_json(&self.attributes),
            "events": self.events.iter().map(|e| json!({
                "time_unix_nano": e.time_unix_nano,
                "name": e.name,
                "attributes": attributes_to_json(&e.attributes),
            })).collect::<Vec<_>>(),
            "links": self.links.iter().map(|l| json!({
                "trace_id": l.trace_id.to_hex(),
                "span_id": l.span_id.to_hex(),
                "attributes": attributes_to_json(&l.attributes),
            })).collect::<Vec<_>>(),
            "resource": attributes_to_json(&self.resource.attributes),
            "scope": {"name": self.scope.name, "version": self.scope.version},
        })
    }
}

impl LogRecord {
    /// The first attribute with this key (OTLP requires unique keys).
    pub fn attribute(&self, key: &str) -> Option<&AnyValue> {
        find(&self.attributes, key)
    }

    /// A JSON view for APIs and `cairn inspect --json` (see [`Span::to_json`]).
    pub fn to_json(&self) -> Value {
        json!({
            "time_unix_nano": self.time_unix_nano,
            "observed_time_unix_nano": self.observed_time_unix_nano,
            "severity_number": self.severity_number,
            "severity_text": self.severity_text,
            "event_name": self.event_name,
            "trace_id": self.trace_id.map(|id| id.to_hex()),
            "span_id": self.span_id.map(|id| id.to_hex()),
            "body": self.body.to_json(),
            "attributes": attributes_to_json(&self.attributes),
            "resource": attributes_to_json(&self.resource.attributes),
            "scope": {"name": self.scope.name, "version": self.scope.version},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex_in_either_case() {
        let id = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").expect("valid hex");
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(id.to_string(), id.to_hex());
        assert_eq!(TraceId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(
            SpanId::from_hex("eee19b7ec3c1b174").map(|s| s.0[0]),
            Some(0xee)
        );
    }

    #[test]
    fn ids_reject_wrong_length_and_non_hex() {
        assert!(TraceId::from_hex("abcd").is_none());
        assert!(SpanId::from_hex("eee19b7ec3c1b17").is_none());
        assert!(SpanId::from_hex("zzz19b7ec3c1b174").is_none());
        assert!("nothex".parse::<SpanId>().is_err());
        assert!(!SpanId::default().is_valid());
    }

    #[test]
    fn ids_serialize_as_hex_strings() {
        let id = SpanId([0xab; 8]);
        let json = serde_json::to_string(&id).expect("serializable");
        assert_eq!(json, "\"abababababababab\"");
        assert_eq!(serde_json::from_str::<SpanId>(&json).ok(), Some(id));
    }

    #[test]
    fn enums_map_otlp_values() {
        for v in 0..=5 {
            assert_eq!(SpanKind::from_i32(v).map(SpanKind::as_i32), Some(v));
        }
        assert_eq!(SpanKind::from_i32(6), None);
        assert_eq!(StatusCode::from_i32(2), Some(StatusCode::Error));
        assert_eq!(StatusCode::from_i32(3), None);
    }
}
