//! Lossless conversion between the OTLP proto messages and the model.
//!
//! `*_from_proto` moves data out of the messages (no copies of strings or bytes) and checks only
//! what the model's types require: id lengths and enum values. Limits and all-zero ids are the
//! business of validation ([`super::validate`]). `*_to_proto` is the exact inverse, so
//! `from_proto(to_proto(x)) == x` for every model value — the property [`crate::codec`] relies on.
//!
//! Two OTLP fields exist only for the profiling signal and are, as the specification asks of
//! receivers for other signals, processed as if absent: `KeyValue.key_strindex` and
//! `AnyValue.string_value_strindex` (the latter becomes [`AnyValue::Empty`]).

use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PValue;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;

use crate::span::{
    EntityRef, Event, InstrumentationScope, Link, LogRecord, Resource, Span, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use crate::value::{AnyValue, KeyValue};

/// A problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// Path of the field, e.g. `attributes["llm.output"]` or `links[2].trace_id`.
    pub(crate) field: String,
    /// What is wrong, naming the limit when one was exceeded.
    pub(crate) detail: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// Prefixes the field path (`events[2]` + `.name`).
    pub(crate) fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

pub(crate) fn value_from_proto(value: common::AnyValue) -> AnyValue {
    match value.value {
        None | Some(PValue::StringValueStrindex(_)) => AnyValue::Empty,
        Some(PValue::StringValue(s)) => AnyValue::String(s),
        Some(PValue::BoolValue(b)) => AnyValue::Bool(b),
        Some(PValue::IntValue(i)) => AnyValue::Int(i),
        Some(PValue::DoubleValue(d)) => AnyValue::Double(d),
        Some(PValue::BytesValue(b)) => AnyValue::Bytes(b),
        Some(PValue::ArrayValue(array)) => {
            AnyValue::Array(array.values.into_iter().map(value_from_proto).collect())
        }
        Some(PValue::KvlistValue(list)) => AnyValue::KvList(attributes_from_proto(list.values)),
    }
}

pub(crate) fn value_to_proto(value: &AnyValue) -> common::AnyValue {
    let value = match value {
        AnyValue::Empty => None,
        AnyValue::String(s) => Some(PValue::StringValue(s.clone())),
        AnyValue::Bool(b) => Some(PValue::BoolValue(*b)),
        AnyValue::Int(i) => Some(PValue::IntValue(*i)),
        AnyValue::Double(d) => Some(PValue::DoubleValue(*d)),
        AnyValue::Bytes(b) => Some(PValue::BytesValue(b.clone())),
        AnyValue::Array(values) => Some(PValue::ArrayValue(common::ArrayValue {
            values: values.iter().map(value_to_proto).collect(),
        })),
        AnyValue::KvList(kvs) => Some(PValue::KvlistValue(common::KeyValueList {
            values: attributes_to_proto(kvs),
        })),
    };
    common::AnyValue { value }
}

pub(crate) fn attributes_from_proto(attributes: Vec<common::KeyValue>) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .map(|kv| KeyValue {
            key: kv.key.into(),
            value: kv.value.map_or(AnyValue::Empty, value_from_proto),
        })
        .collect()
}

/// An empty value is written as an absent `value` field (the canonical choice of the two
/// encodings OTLP allows).
pub(crate) fn attributes_to_proto(attributes: &[KeyValue]) -> Vec<common::KeyValue> {
    attributes
        .iter()
        .map(|kv| common::KeyValue {
            key: kv.key.as_str().to_owned(),
            value: match kv.value {
                AnyValue::Empty => None,
                ref other => Some(value_to_proto(other)),
            },
            key_strindex: 0,
        })
        .collect()
}

pub(crate) fn resource_from_proto(
    resource: Option<resource::Resource>,
    schema_url: String,
) -> Resource {
    let resource = resource.unwrap_or_default();
    Resource {
        attributes: attributes_from_proto(resource.attributes),
        dropped_attributes_count: resource.dropped_attributes_count,
        schema_url,
        entity_refs: resource
            .entity_refs
            .into_iter()
            .map(|e| EntityRef {
                schema_url: e.schema_url,
                entity_type: e.r#type,
                id_keys: e.id_keys,
                description_keys: e.description_keys,
            })
            .collect(),
    }
}

/// Returns the `resource` message (absent when empty) and the schema URL.
pub(crate) fn resource_to_proto(resource: &Resource) -> (Option<resource::Resource>, String) {
    let message = resource::Resource {
        attributes: attributes_to_proto(&resource.attributes),
        dropped_attributes_count: resource.dropped_attributes_count,
        entity_refs: resource
            .entity_refs
            .iter()
            .map(|e| common::EntityRef {
                schema_url: e.schema_url.clone(),
                r#type: e.entity_type.clone(),
                id_keys: e.id_keys.clone(),
                description_keys: e.description_keys.clone(),
            })
            .collect(),
    };
    let message = (message != resource::Resource::default()).then_some(message);
    (message, resource.schema_url.clone())
}

pub(crate) fn scope_from_proto(
    scope: Option<common::InstrumentationScope>,
    schema_url: String,
) -> InstrumentationScope {
    let scope = scope.unwrap_or_default();
    InstrumentationScope {
        name: scope.name,
        version: scope.version,
        attributes: attributes_from_proto(scope.attributes),
        dropped_attributes_count: scope.dropped_attributes_count,
        schema_url,
    }
}

/// Returns the `scope` message (absent when empty) and the schema URL.
pub(crate) fn scope_to_proto(
    scope: &InstrumentationScope,
) -> (Option<common::InstrumentationScope>, String) {
    let message = common::InstrumentationScope {
        name: scope.name.clone(),
        version: scope.version.clone(),
        attributes: attributes_to_proto(&scope.attributes),
        dropped_attributes_count: scope.dropped_attributes_count,
    };
    let message = (message != common::InstrumentationScope::default()).then_some(message);
    (message, scope.schema_url.clone())
}

fn trace_id(bytes: &[u8], field: &str) -> Result<TraceId, FieldError> {
    TraceId::from_slice(bytes).ok_or_else(|| {
        FieldError::new(
            field,
            format!("must be 16 bytes, got {} bytes", bytes.len()),
        )
    })
}

fn span_id(bytes: &[u8], field: &str) -> Result<SpanId, FieldError> {
    SpanId::from_slice(bytes).ok_or_else(|| {
        FieldError::new(field, format!("must be 8 bytes, got {} bytes", bytes.len()))
    })
}

fn optional_trace_id(bytes: &[u8], field: &str) -> Result<Option<TraceId>, FieldError> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        trace_id(bytes, field).map(Some)
    }
}

fn optional_span_id(bytes: &[u8], field: &str) -> Result<Option<SpanId>, FieldError> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        span_id(bytes, field).map(Some)
    }
}

/// Converts a span; the resource and scope are those of its `ResourceSpans`/`ScopeSpans`.
/// The agent kind is left at its default; callers derive it.
pub(crate) fn span_from_proto(
    span: trace::Span,
    resource: Resource,
    scope: InstrumentationScope,
) -> Result<Span, FieldError> {
    let status = span.status.unwrap_or_default();
    let links = span
        .links
        .into_iter()
        .enumerate()
        .map(|(i, link)| {
            Ok(Link {
                trace_id: trace_id(&link.trace_id, &format!("links[{i}].trace_id"))?,
                span_id: span_id(&link.span_id, &format!("links[{i}].span_id"))?,
                trace_state: link.trace_state,
                attributes: attributes_from_proto(link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: link.flags,
            })
        })
        .collect::<Result<Vec<_>, FieldError>>()?;
    Ok(Span {
        trace_id: trace_id(&span.trace_id, "trace_id")?,
        span_id: span_id(&span.span_id, "span_id")?,
        parent_span_id: optional_span_id(&span.parent_span_id, "parent_span_id")?,
        trace_state: span.trace_state,
        flags: span.flags,
        name: span.name,
        span_kind: SpanKind::from_i32(span.kind).ok_or_else(|| {
            FieldError::new("kind", format!("{} is not a span kind (0..=5)", span.kind))
        })?,
        agent_kind: crate::AgentKind::default(),
        start_unix_nano: span.start_time_unix_nano,
        end_unix_nano: span.end_time_unix_nano,
        status: Status {
            code: StatusCode::from_i32(status.code).ok_or_else(|| {
                FieldError::new(
                    "status.code",
                    format!("{} is not a status code (0..=2)", status.code),
                )
            })?,
            message: status.message,
        },
        attributes: attributes_from_proto(span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span
            .events
            .into_iter()
            .map(|event| Event {
                time_unix_nano: event.time_unix_nano,
                name: event.name,
                attributes: attributes_from_proto(event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
        resource,
        scope,
    })
}

/// The span message alone (its resource and scope go in the enclosing messages).
pub(crate) fn span_to_proto(span: &Span) -> trace::Span {
    let status = trace::Status {
        message: span.status.message.clone(),
        code: span.status.code.as_i32(),
    };
    trace::Span {
        trace_id: span.trace_id.0.to_vec(),
        span_id: span.span_id.0.to_vec(),
        trace_state: span.trace_state.clone(),
        parent_span_id: span
            .parent_span_id
            .map_or_else(Vec::new, |id| id.0.to_vec()),
        flags: span.flags,
        name: span.name.clone(),
        kind: span.span_kind.as_i32(),
        start_time_unix_nano: span.start_unix_nano,
        end_time_unix_nano: span.end_unix_nano,
        attributes: attributes_to_proto(&span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span
            .events
            .iter()
            .map(|event| trace::span::Event {
                time_unix_nano: event.time_unix_nano,
                name: event.name.clone(),
                attributes: attributes_to_proto(&event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: span.dropped_events_count,
        links: span
            .links
            .iter()
            .map(|link| trace::span::Link {
                trace_id: link.trace_id.0.to_vec(),
                span_id: link.span_id.0.to_vec(),
                trace_state: link.trace_state.clone(),
                attributes: attributes_to_proto(&link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: link.flags,
            })
            .collect(),
        dropped_links_count: span.dropped_links_count,
        status: (status != trace::Status::default()).then_some(status),
    }
}

/// Converts a log record; the resource and scope are those of its `ResourceLogs`/`ScopeLogs`.
pub(crate) fn log_from_proto(
    log: logs::LogRecord,
    resource: Resource,
    scope: InstrumentationScope,
) -> Result<LogRecord, FieldError> {
    Ok(LogRecord {
        time_unix_nano: log.time_unix_nano,
        observed_time_unix_nano: log.observed_time_unix_nano,
        severity_number: log.severity_number,
        severity_text: log.severity_text,
        event_name: log.event_name,
        body: log.body.map_or(AnyValue::Empty, value_from_proto),
        attributes: attributes_from_proto(log.attributes),
        dropped_attributes_count: log.dropped_attributes_count,
        flags: log.flags,
        trace_id: optional_trace_id(&log.trace_id, "trace_id")?,
        span_id: optional_span_id(&log.span_id, "span_id")?,
        resource,
        scope,
    })
}

/// The log record message alone (its resource and scope go in the enclosing messages).
pub(crate) fn log_to_proto(log: &LogRecord) -> logs::LogRecord {
    logs::LogRecord {
        time_unix_nano: log.time_unix_nano,
        observed_time_unix_nano: log.observed_time_unix_nano,
        severity_number: log.severity_number,
        severity_text: log.severity_text.clone(),
        body: match log.body {
            AnyValue::Empty => None,
            ref body => Some(value_to_proto(body)),
        },
        attributes: attributes_to_proto(&log.attributes),
        dropped_attributes_count: log.dropped_attributes_count,
        flags: log.flags,
        trace_id: log.trace_id.map_or_else(Vec::new, |id| id.0.to_vec()),
        span_id: log.span_id.map_or_else(Vec::new, |id| id.0.to_vec()),
        event_name: log.event_name.clone(),
    }
}
