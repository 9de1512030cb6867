//! SpanData to OTLP protobuf (`opentelemetry-proto` prost messages), on the exporter thread.
//!
//! One request carries one `ResourceSpans` (the tracer's resource) with one `ScopeSpans`
//! (`cairn-tracer` and its version). Content attributes pass through the redaction callback here,
//! the last step before bytes leave the process; a callback returning `None` removes the attribute.
//! Backtraces captured by `record_error` are symbolized here into `exception.stacktrace`.

// Spans travel as the boxes the recording threads allocated: moving a pointer instead of the
// ~200-byte record keeps ring slots small and avoids a copy per span.
#![allow(clippy::vec_box)]

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, span, status};

use crate::semconv;
use crate::span::{SpanData, SpanKind, Status};
use crate::tracer::Redactor;
use crate::value::{Key, Value};

/// OTLP span flags: bit 8 says whether bit 9 (parent is remote) is known.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// The static parts of every request.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub(crate) resource: Resource,
    pub(crate) scope: InstrumentationScope,
}

impl Envelope {
    pub(crate) fn new(resource: &[(Key, Value)]) -> Envelope {
        Envelope {
            resource: Resource {
                attributes: resource.iter().map(|(k, v)| key_value(k, v)).collect(),
                ..Default::default()
            },
            scope: InstrumentationScope {
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..Default::default()
            },
        }
    }
}

/// Builds the export request for a batch.
pub(crate) fn request(
    envelope: &Envelope,
    spans: &[Box<SpanData>],
    redactor: Option<&Redactor>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(envelope.resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(envelope.scope.clone()),
                spans: spans.iter().map(|s| to_proto(s, redactor)).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn to_proto(
    data: &SpanData,
    redactor: Option<&Redactor>,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    let mut attributes: Vec<KeyValue> = data
        .attributes
        .iter()
        .map(|(k, v)| key_value(k, v))
        .collect();
    for (key, content) in &data.content {
        let text = content.to_text();
        let text = match redactor {
            Some(redact) => redact(key, text),
            None => Some(text),
        };
        if let Some(text) = text {
            attributes.push(KeyValue {
                key: key.to_string(),
                value: Some(string_value(text)),
                ..Default::default()
            });
        }
    }
    let events = data
        .events
        .iter()
        .map(|e| {
            let mut attributes: Vec<KeyValue> =
                e.attributes.iter().map(|(k, v)| key_value(k, v)).collect();
            if let Some(bt) = &e.backtrace {
                attributes.push(KeyValue {
                    key: semconv::EXCEPTION_STACKTRACE.to_owned(),
                    value: Some(string_value(bt.to_string())),
                    ..Default::default()
                });
            }
            span::Event {
                time_unix_nano: e.time_ns,
                name: e.name.to_string(),
                attributes,
                dropped_attributes_count: 0,
            }
        })
        .collect();
    let (code, message) = match &data.status {
        Status::Unset => (status::StatusCode::Unset, String::new()),
        Status::Ok => (status::StatusCode::Ok, String::new()),
        Status::Error(m) => (status::StatusCode::Error, m.to_string()),
    };
    let mut flags = u32::from(data.context.is_sampled()) | FLAG_HAS_IS_REMOTE;
    if data.parent_is_remote {
        flags |= FLAG_IS_REMOTE;
    }
    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: data.context.trace_id().to_bytes().to_vec(),
        span_id: data.context.span_id().to_bytes().to_vec(),
        trace_state: String::new(),
        parent_span_id: data
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags,
        name: match data.name_prefix {
            Some(prefix) => format!("{prefix} {}", data.name),
            None => data.name.to_string(),
        },
        kind: span_kind(data.span_kind) as i32,
        start_time_unix_nano: data.start.unix_nanos(),
        end_time_unix_nano: data.end.unix_nanos(),
        attributes,
        dropped_attributes_count: 0,
        events,
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Some(opentelemetry_proto::tonic::trace::v1::Status {
            message,
            code: code as i32,
        }),
    }
}

fn span_kind(kind: SpanKind) -> span::SpanKind {
    match kind {
        SpanKind::Internal => span::SpanKind::Internal,
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
        SpanKind::Producer => span::SpanKind::Producer,
        SpanKind::Consumer => span::SpanKind::Consumer,
    }
}

fn key_value(key: &Key, value: &Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(any_value(value)),
        ..Default::default()
    }
}

fn string_value(s: String) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    }
}

pub(crate) fn any_value(value: &Value) -> AnyValue {
    let v = match value {
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::I64(i) => any_value::Value::IntValue(*i),
        Value::F64(f) => any_value::Value::DoubleValue(*f),
        Value::Str(s) => any_value::Value::StringValue(s.to_string()),
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(any_value).collect(),
        }),
        Value::Json(json) => any_value::Value::StringValue(json.to_string()),
    };
    AnyValue { value: Some(v) }
}
