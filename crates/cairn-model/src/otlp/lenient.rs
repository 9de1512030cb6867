//! The fallback protobuf decoder for bodies with invalid UTF-8 in a `string` field.
//!
//! `prost` rejects a whole message when any `string` field holds invalid UTF-8 and has no option
//! to accept such bytes, so the generated `opentelemetry-proto` messages cannot say which record
//! held the bad string. This module therefore mirrors the OTLP trace and logs messages by hand:
//! the same messages, fields and field numbers as `opentelemetry-proto` (proto v1.x as generated
//! into `opentelemetry-proto` 0.33), with `bytes` (`Vec<u8>`) wherever the proto says `string`,
//! and `int32` wherever it says `enum` (the same varint on the wire).
//!
//! Invariants:
//! - The mirror accepts exactly the bodies the generated messages accept, plus those whose only
//!   problem is invalid UTF-8 in a string field: wire types, nesting and prost's recursion limit
//!   are the same. So when the strict decode fails and this one succeeds, the failure was UTF-8,
//!   and any other malformed body still fails here and stays a whole-body error.
//! - A record whose own strings are valid converts, by moving the bytes into `String`s (no copy),
//!   to the very message the strict decoder would have produced, and then goes through the normal
//!   validation and normalization.
//! - A record with an invalid string becomes a [`FieldError`] naming the field path, e.g.
//!   `attributes["llm.output"].string_value is not valid UTF-8 (first bad byte at offset 7)`;
//!   invalid UTF-8 in a resource (scope) makes every record under it a rejection naming the
//!   `resource.` (`scope.`) field.
//! - Only the first bad string of a record is reported.
//!
//! Cost (`cargo bench -p cairn-model --bench codec`, 1 000 tool-call spans; instruction counts
//! from `valgrind --tool=callgrind <bench binary> --bench --test 'spans/<name>$'`, inclusive
//! count of `decode_traces`, one call each):
//!
//! | body | `decode_traces` instructions | criterion wall time (same run, loaded 2-core machine) |
//! |---|---|---|
//! | valid, before this fallback existed | 17.50 M | 9.8 ms, 10.4 ms |
//! | valid, with it (the code path is unchanged) | 17.49 M | 9.6 ms, 8.0 ms |
//! | last span's name not UTF-8 (strict decode fails at the end, fallback decodes again) | 35.16 M (2.01× valid) | 16.3 ms, 20.7 ms |
//!
//! Valid bodies never reach this module; a body with invalid UTF-8 costs about two decodes.

use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PValue;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use prost::Message as _;

use super::convert::FieldError;
use super::validate::excerpt;
use super::{Batch, ResourceGroup, ScopeGroup};

/// Mirror of `opentelemetry.proto.common.v1` and `resource.v1`.
mod wire {
    #[derive(prost::Message)]
    pub(super) struct AnyValue {
        #[prost(oneof = "ValueOneof", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
        pub(super) value: Option<ValueOneof>,
    }

    /// `AnyValue.value` (named apart from the proto so clippy accepts the variant names).
    #[derive(prost::Oneof)]
    pub(super) enum ValueOneof {
        #[prost(bytes, tag = "1")]
        StringValue(Vec<u8>),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(KeyValueList),
        #[prost(bytes, tag = "7")]
        BytesValue(Vec<u8>),
        #[prost(int32, tag = "8")]
        StringValueStrindex(i32),
    }

    #[derive(prost::Message)]
    pub(super) struct ArrayValue {
        #[prost(message, repeated, tag = "1")]
        pub(super) values: Vec<AnyValue>,
    }

    #[derive(prost::Message)]
    pub(super) struct KeyValueList {
        #[prost(message, repeated, tag = "1")]
        pub(super) values: Vec<KeyValue>,
    }

    #[derive(prost::Message)]
    pub(super) struct KeyValue {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) key: Vec<u8>,
        #[prost(message, optional, tag = "2")]
        pub(super) value: Option<AnyValue>,
        #[prost(int32, tag = "3")]
        pub(super) key_strindex: i32,
    }

    #[derive(prost::Message)]
    pub(super) struct InstrumentationScope {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) name: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub(super) version: Vec<u8>,
        #[prost(message, repeated, tag = "3")]
        pub(super) attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "4")]
        pub(super) dropped_attributes_count: u32,
    }

    #[derive(prost::Message)]
    pub(super) struct EntityRef {
        #[prost(bytes = "vec", tag = "1")]
        pub(super) schema_url: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub(super) r#type: Vec<u8>,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub(super) id_keys: Vec<Vec<u8>>,
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub(super) description_keys: Vec<Vec<u8>>,
    }

    #[derive(prost::Message)]
    pub(super) struct Resource {
        #[prost(message, repeated, tag = "1")]
        pub(super) attributes: Vec<KeyValue>,
        #[prost(uint32, tag = "2")]
        pub(super) dropped_attributes_count: u32,
        #[prost(message, repeated, tag = "3")]
        pub(super) entity_refs: Vec<EntityRef>,
    }

    /// Mirror of `opentelemetry.proto.trace.v1` and the traces collector request.
    pub(super) mod trace {
        use super::{InstrumentationScope, KeyValue, Resource};

        #[derive(prost::Message)]
        pub(in super::super) struct ExportTraceServiceRequest {
            #[prost(message, repeated, tag = "1")]
            pub(in super::super) resource_spans: Vec<ResourceSpans>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct ResourceSpans {
            #[prost(message, optional, tag = "1")]
            pub(in super::super) resource: Option<Resource>,
            #[prost(message, repeated, tag = "2")]
            pub(in super::super) scope_spans: Vec<ScopeSpans>,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) schema_url: Vec<u8>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct ScopeSpans {
            #[prost(message, optional, tag = "1")]
            pub(in super::super) scope: Option<InstrumentationScope>,
            #[prost(message, repeated, tag = "2")]
            pub(in super::super) spans: Vec<Span>,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) schema_url: Vec<u8>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct Span {
            #[prost(bytes = "vec", tag = "1")]
            pub(in super::super) trace_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub(in super::super) span_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) trace_state: Vec<u8>,
            #[prost(bytes = "vec", tag = "4")]
            pub(in super::super) parent_span_id: Vec<u8>,
            #[prost(fixed32, tag = "16")]
            pub(in super::super) flags: u32,
            #[prost(bytes = "vec", tag = "5")]
            pub(in super::super) name: Vec<u8>,
            #[prost(int32, tag = "6")]
            pub(in super::super) kind: i32,
            #[prost(fixed64, tag = "7")]
            pub(in super::super) start_time_unix_nano: u64,
            #[prost(fixed64, tag = "8")]
            pub(in super::super) end_time_unix_nano: u64,
            #[prost(message, repeated, tag = "9")]
            pub(in super::super) attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "10")]
            pub(in super::super) dropped_attributes_count: u32,
            #[prost(message, repeated, tag = "11")]
            pub(in super::super) events: Vec<Event>,
            #[prost(uint32, tag = "12")]
            pub(in super::super) dropped_events_count: u32,
            #[prost(message, repeated, tag = "13")]
            pub(in super::super) links: Vec<Link>,
            #[prost(uint32, tag = "14")]
            pub(in super::super) dropped_links_count: u32,
            #[prost(message, optional, tag = "15")]
            pub(in super::super) status: Option<Status>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct Event {
            #[prost(fixed64, tag = "1")]
            pub(in super::super) time_unix_nano: u64,
            #[prost(bytes = "vec", tag = "2")]
            pub(in super::super) name: Vec<u8>,
            #[prost(message, repeated, tag = "3")]
            pub(in super::super) attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "4")]
            pub(in super::super) dropped_attributes_count: u32,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct Link {
            #[prost(bytes = "vec", tag = "1")]
            pub(in super::super) trace_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub(in super::super) span_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) trace_state: Vec<u8>,
            #[prost(message, repeated, tag = "4")]
            pub(in super::super) attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "5")]
            pub(in super::super) dropped_attributes_count: u32,
            #[prost(fixed32, tag = "6")]
            pub(in super::super) flags: u32,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct Status {
            #[prost(bytes = "vec", tag = "2")]
            pub(in super::super) message: Vec<u8>,
            #[prost(int32, tag = "3")]
            pub(in super::super) code: i32,
        }
    }

    /// Mirror of `opentelemetry.proto.logs.v1` and the logs collector request.
    pub(super) mod logs {
        use super::{AnyValue, InstrumentationScope, KeyValue, Resource};

        #[derive(prost::Message)]
        pub(in super::super) struct ExportLogsServiceRequest {
            #[prost(message, repeated, tag = "1")]
            pub(in super::super) resource_logs: Vec<ResourceLogs>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct ResourceLogs {
            #[prost(message, optional, tag = "1")]
            pub(in super::super) resource: Option<Resource>,
            #[prost(message, repeated, tag = "2")]
            pub(in super::super) scope_logs: Vec<ScopeLogs>,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) schema_url: Vec<u8>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct ScopeLogs {
            #[prost(message, optional, tag = "1")]
            pub(in super::super) scope: Option<InstrumentationScope>,
            #[prost(message, repeated, tag = "2")]
            pub(in super::super) log_records: Vec<LogRecord>,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) schema_url: Vec<u8>,
        }

        #[derive(prost::Message)]
        pub(in super::super) struct LogRecord {
            #[prost(fixed64, tag = "1")]
            pub(in super::super) time_unix_nano: u64,
            #[prost(fixed64, tag = "11")]
            pub(in super::super) observed_time_unix_nano: u64,
            #[prost(int32, tag = "2")]
            pub(in super::super) severity_number: i32,
            #[prost(bytes = "vec", tag = "3")]
            pub(in super::super) severity_text: Vec<u8>,
            #[prost(message, optional, tag = "5")]
            pub(in super::super) body: Option<AnyValue>,
            #[prost(message, repeated, tag = "6")]
            pub(in super::super) attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "7")]
            pub(in super::super) dropped_attributes_count: u32,
            #[prost(fixed32, tag = "8")]
            pub(in super::super) flags: u32,
            #[prost(bytes = "vec", tag = "9")]
            pub(in super::super) trace_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "10")]
            pub(in super::super) span_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "12")]
            pub(in super::super) event_name: Vec<u8>,
        }
    }
}

/// Decodes a traces body with the mirror messages. `None` when the body is malformed in some
/// other way, or holds no invalid UTF-8 at all (then the strict decoder's error stands).
pub(super) fn traces(body: &[u8]) -> Option<Batch<trace::Span>> {
    let request = wire::trace::ExportTraceServiceRequest::decode(body).ok()?;
    let resources = request
        .resource_spans
        .into_iter()
        .map(|rs| ResourceGroup {
            resource: resource(rs.resource, rs.schema_url),
            scopes: rs
                .scope_spans
                .into_iter()
                .map(|ss| ScopeGroup {
                    scope: scope(ss.scope, ss.schema_url),
                    items: ss.spans.into_iter().map(span).collect(),
                })
                .collect(),
        })
        .collect();
    let batch = Batch { resources };
    has_invalid_utf8(&batch).then_some(batch)
}

/// Decodes a logs body with the mirror messages (see [`traces`]).
pub(super) fn logs(body: &[u8]) -> Option<Batch<logs::LogRecord>> {
    let request = wire::logs::ExportLogsServiceRequest::decode(body).ok()?;
    let resources = request
        .resource_logs
        .into_iter()
        .map(|rl| ResourceGroup {
            resource: resource(rl.resource, rl.schema_url),
            scopes: rl
                .scope_logs
                .into_iter()
                .map(|sl| ScopeGroup {
                    scope: scope(sl.scope, sl.schema_url),
                    items: sl.log_records.into_iter().map(log).collect(),
                })
                .collect(),
        })
        .collect();
    let batch = Batch { resources };
    has_invalid_utf8(&batch).then_some(batch)
}

/// Whether the conversion found a bad string anywhere (it fails on nothing else).
fn has_invalid_utf8<T>(batch: &Batch<T>) -> bool {
    batch.resources.iter().any(|group| {
        group.resource.is_err()
            || group
                .scopes
                .iter()
                .any(|scope| scope.scope.is_err() || scope.items.iter().any(Result::is_err))
    })
}

/// The string, or an error naming `field` and the offset of the first bad byte.
fn text(bytes: Vec<u8>, field: impl FnOnce() -> String) -> Result<String, FieldError> {
    String::from_utf8(bytes).map_err(|e| {
        FieldError::new(
            field(),
            format!(
                "is not valid UTF-8 (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn texts(values: Vec<Vec<u8>>, field: &str) -> Result<Vec<String>, FieldError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| text(value, || format!("{field}[{i}]")))
        .collect()
}

/// A value; error paths are relative to it (`string_value`, `array_value[2].string_value`).
fn any_value(value: wire::AnyValue) -> Result<common::AnyValue, FieldError> {
    let value = match value.value {
        None => None,
        Some(wire::ValueOneof::StringValue(s)) => {
            Some(PValue::StringValue(text(s, || "string_value".to_owned())?))
        }
        Some(wire::ValueOneof::BoolValue(b)) => Some(PValue::BoolValue(b)),
        Some(wire::ValueOneof::IntValue(i)) => Some(PValue::IntValue(i)),
        Some(wire::ValueOneof::DoubleValue(d)) => Some(PValue::DoubleValue(d)),
        Some(wire::ValueOneof::BytesValue(b)) => Some(PValue::BytesValue(b)),
        Some(wire::ValueOneof::StringValueStrindex(i)) => Some(PValue::StringValueStrindex(i)),
        Some(wire::ValueOneof::ArrayValue(array)) => Some(PValue::ArrayValue(common::ArrayValue {
            values: array
                .values
                .into_iter()
                .enumerate()
                .map(|(i, v)| any_value(v).map_err(|e| e.within(&format!("array_value[{i}]"))))
                .collect::<Result<_, _>>()?,
        })),
        Some(wire::ValueOneof::KvlistValue(list)) => {
            Some(PValue::KvlistValue(common::KeyValueList {
                values: key_values(list.values).map_err(|e| e.within("kvlist_value"))?,
            }))
        }
    };
    Ok(common::AnyValue { value })
}

/// A key-value list; error paths are relative to it (`[3].key`, `["k"].string_value`).
fn key_values(values: Vec<wire::KeyValue>) -> Result<Vec<common::KeyValue>, FieldError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, kv)| {
            let key = text(kv.key, || format!("[{i}].key"))?;
            let value = kv
                .value
                .map(any_value)
                .transpose()
                .map_err(|e| e.within(&format!("[\"{}\"]", excerpt(&key))))?;
            Ok(common::KeyValue {
                key,
                value,
                key_strindex: kv.key_strindex,
            })
        })
        .collect()
}

fn attributes(
    values: Vec<wire::KeyValue>,
    field: &str,
) -> Result<Vec<common::KeyValue>, FieldError> {
    key_values(values).map_err(|e| e.within(field))
}

type Envelope<M> = Result<(Option<M>, String), FieldError>;

fn resource(message: Option<wire::Resource>, schema_url: Vec<u8>) -> Envelope<resource::Resource> {
    let schema_url = text(schema_url, || "resource.schema_url".to_owned())?;
    let message = message
        .map(|r| {
            Ok(resource::Resource {
                attributes: attributes(r.attributes, "resource.attributes")?,
                dropped_attributes_count: r.dropped_attributes_count,
                entity_refs: r
                    .entity_refs
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let field = format!("resource.entity_refs[{i}]");
                        Ok(common::EntityRef {
                            schema_url: text(e.schema_url, || format!("{field}.schema_url"))?,
                            r#type: text(e.r#type, || format!("{field}.type"))?,
                            id_keys: texts(e.id_keys, &format!("{field}.id_keys"))?,
                            description_keys: texts(
                                e.description_keys,
                                &format!("{field}.description_keys"),
                            )?,
                        })
                    })
                    .collect::<Result<_, FieldError>>()?,
            })
        })
        .transpose()?;
    Ok((message, schema_url))
}

fn scope(
    message: Option<wire::InstrumentationScope>,
    schema_url: Vec<u8>,
) -> Envelope<common::InstrumentationScope> {
    let schema_url = text(schema_url, || "scope.schema_url".to_owned())?;
    let message = message
        .map(|s| {
            Ok::<_, FieldError>(common::InstrumentationScope {
                name: text(s.name, || "scope.name".to_owned())?,
                version: text(s.version, || "scope.version".to_owned())?,
                attributes: attributes(s.attributes, "scope.attributes")?,
                dropped_attributes_count: s.dropped_attributes_count,
            })
        })
        .transpose()?;
    Ok((message, schema_url))
}

fn span(span: wire::trace::Span) -> Result<trace::Span, FieldError> {
    let status = span
        .status
        .map(|s| {
            Ok::<_, FieldError>(trace::Status {
                message: text(s.message, || "status.message".to_owned())?,
                code: s.code,
            })
        })
        .transpose()?;
    let events = span
        .events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            Ok(trace::span::Event {
                time_unix_nano: event.time_unix_nano,
                name: text(event.name, || format!("events[{i}].name"))?,
                attributes: attributes(event.attributes, &format!("events[{i}].attributes"))?,
                dropped_attributes_count: event.dropped_attributes_count,
            })
        })
        .collect::<Result<_, FieldError>>()?;
    let links = span
        .links
        .into_iter()
        .enumerate()
        .map(|(i, link)| {
            Ok(trace::span::Link {
                trace_id: link.trace_id,
                span_id: link.span_id,
                trace_state: text(link.trace_state, || format!("links[{i}].trace_state"))?,
                attributes: attributes(link.attributes, &format!("links[{i}].attributes"))?,
                dropped_attributes_count: link.dropped_attributes_count,
                flags: link.flags,
            })
        })
        .collect::<Result<_, FieldError>>()?;
    Ok(trace::Span {
        trace_id: span.trace_id,
        span_id: span.span_id,
        trace_state: text(span.trace_state, || "trace_state".to_owned())?,
        parent_span_id: span.parent_span_id,
        flags: span.flags,
        name: text(span.name, || "name".to_owned())?,
        kind: span.kind,
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes: attributes(span.attributes, "attributes")?,
        dropped_attributes_count: span.dropped_attributes_count,
        events,
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
        status,
    })
}

fn log(log: wire::logs::LogRecord) -> Result<logs::LogRecord, FieldError> {
    Ok(logs::LogRecord {
        time_unix_nano: log.time_unix_nano,
        observed_time_unix_nano: log.observed_time_unix_nano,
        severity_number: log.severity_number,
        severity_text: text(log.severity_text, || "severity_text".to_owned())?,
        body: log
            .body
            .map(any_value)
            .transpose()
            .map_err(|e| e.within("body"))?,
        attributes: attributes(log.attributes, "attributes")?,
        dropped_attributes_count: log.dropped_attributes_count,
        flags: log.flags,
        trace_id: log.trace_id,
        span_id: log.span_id,
        event_name: text(log.event_name, || "event_name".to_owned())?,
    })
}
