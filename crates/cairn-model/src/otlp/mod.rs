//! OTLP decoding, validation and normalization; and re-encoding to OTLP.
//!
//! Pipeline: bytes → proto messages (`prost` for protobuf, a hand-written decoder for OTLP/JSON)
//! → per-record validation against [`Limits`] → lossless conversion to the model ([`Span`],
//! [`LogRecord`]) → agent kind derivation ([`crate::kind`]).
//!
//! Error granularity:
//! - [`OtlpError`]: the whole body is malformed (HTTP 400 / gRPC `InvalidArgument`). Protobuf
//!   nesting deeper than prost's recursion limit (100) and JSON nesting deeper than
//!   `serde_json`'s (128) are whole-body errors. So is an OTLP/JSON body that is not UTF-8: it is
//!   not JSON (RFC 8259 §8.1), and a JSON string escape (`\uXXXX`) cannot encode invalid UTF-8
//!   except as a lone surrogate, which `serde_json` also refuses.
//! - [`Rejection`]: one span or log record broke a rule or a limit; the rest are accepted. A
//!   problem in a resource or scope rejects every record under it. Nothing is ever truncated.
//!   This includes invalid UTF-8 in a protobuf `string` field: `prost` refuses the whole
//!   message, so [`decode_traces`] and [`decode_logs`] then decode the body again with
//!   hand-written mirror messages that keep strings as bytes (the `lenient` module), and reject
//!   only the records holding a bad string, naming the field (e.g.
//!   `attributes["x"].string_value is not valid UTF-8 (first bad byte at offset 3)`). A bad
//!   string in a resource or scope rejects every record under it. The gRPC path
//!   ([`spans_from_request`]) receives messages the gRPC library already decoded strictly, so
//!   there invalid UTF-8 still fails the whole message.
//!
//! Normalization rules (everything else is kept as sent):
//! - an all-zero parent span id (W3C "invalid") becomes `parent_span_id: None` (root span);
//! - all-zero trace/span ids on a log record become `None` (not part of a trace);
//! - the profiling-only fields `key_strindex` and `string_value_strindex` are ignored, as the OTLP
//!   specification asks of receivers of other signals.
//!
//! Rules that reject a span: trace id not 16 bytes or all zeros; span id not 8 bytes or all zeros;
//! parent span id neither empty nor 8 bytes; a link id likewise; `end_time_unix_nano` before
//! `start_time_unix_nano`; a span kind outside 0..=5 or status code outside 0..=2; any limit below.

mod convert;
mod json;
mod lenient;
mod validate;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::span::{InstrumentationScope, LogRecord, Resource, Span};

pub(crate) use convert::{
    FieldError, log_from_proto, log_to_proto, resource_from_proto, resource_to_proto,
    scope_from_proto, scope_to_proto, span_from_proto, span_to_proto,
};

/// Wire format of an OTLP body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Binary protobuf (`application/x-protobuf`).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

impl Format {
    /// The format for an HTTP `Content-Type` (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case("application/x-protobuf")
            || media_type.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Self::Protobuf)
        } else if media_type.eq_ignore_ascii_case("application/json") {
            Some(Self::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Per-record validation limits. Every limit rejects the record that exceeds it; none truncates.
///
/// The defaults are generous on purpose: LLM prompts and outputs of several megabytes are normal
/// attribute values. Body size is the collector's business (it limits the request before decoding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest string or bytes value anywhere in an attribute, event, link or log body (also
    /// the status message). Default 16 MiB.
    pub max_attribute_value_bytes: usize,
    /// Most attributes in one list (span, event, link, resource, scope, log record). Default 10 000.
    pub max_attributes: usize,
    /// Most events on one span. Default 10 000.
    pub max_events: usize,
    /// Most links on one span. Default 10 000.
    pub max_links: usize,
    /// Deepest nesting of `AnyValue`s; a scalar attribute is depth 1, an array of scalars 2.
    /// Default 32.
    pub max_depth: usize,
    /// Most elements in one array value or entries in one kvlist value. Default 100 000.
    pub max_array_len: usize,
    /// Longest attribute key. Default 8 KiB.
    pub max_key_bytes: usize,
    /// Longest span/event name, trace state, scope name/version, schema URL, severity text or
    /// event name. Default 64 KiB.
    pub max_name_bytes: usize,
    /// Largest protobuf encoding of one span or log record message (without its resource and
    /// scope). Default 64 MiB.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attribute_value_bytes: 16 << 20,
            max_attributes: 10_000,
            max_events: 10_000,
            max_links: 10_000,
            max_depth: 32,
            max_array_len: 100_000,
            max_key_bytes: 8 << 10,
            max_name_bytes: 64 << 10,
            max_record_bytes: 64 << 20,
        }
    }
}

/// One rejected span or log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The offending field, relative to the record, e.g. `attributes["gen_ai.prompt"]`,
    /// `events[2].name`, `end_time_unix_nano`, `resource.attributes[0].key`.
    pub field: String,
    /// A sentence naming the record, the field and (when one was exceeded) the limit.
    pub message: String,
}

/// The outcome of decoding a traces request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedSpans {
    /// Accepted, normalized spans in request order.
    pub spans: Vec<Span>,
    /// Rejected spans in request order.
    pub rejected: Vec<Rejection>,
}

/// The outcome of decoding a logs request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedLogs {
    /// Accepted, normalized log records in request order.
    pub logs: Vec<LogRecord>,
    /// Rejected log records in request order.
    pub rejected: Vec<Rejection>,
}

/// The whole body is malformed; nothing in it was accepted.
///
/// Messages are self-contained (they include the decoder's message), so the variants do not
/// chain a `source` that would print twice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// Not a valid protobuf encoding of the request message. Invalid UTF-8 in a string field
    /// alone is not this error: it rejects only the records holding the bad string.
    #[error("malformed otlp protobuf: {0}")]
    Protobuf(prost::DecodeError),
    /// Not valid JSON (or nested deeper than 128 levels).
    #[error("malformed otlp json: {0}")]
    Json(serde_json::Error),
    /// Valid JSON without the OTLP envelope structure.
    #[error("malformed otlp json: {path} must be {expected}")]
    JsonStructure {
        /// Where, e.g. `resourceSpans[0].scopeSpans`.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
}

/// Decodes an OTLP traces body (`ExportTraceServiceRequest`) and validates every span.
pub fn decode_traces(
    body: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<DecodedSpans, OtlpError> {
    match format {
        Format::Protobuf => {
            match ExportTraceServiceRequest::decode(body) {
                Ok(request) => Ok(spans_from_request(request, limits)),
                // Invalid UTF-8 somewhere: decode again, keeping strings as bytes, to reject
                // only the records that hold one. Any other error stands.
                Err(error) => lenient::traces(body)
                    .map(|batch| normalize_spans(batch, limits))
                    .ok_or(OtlpError::Protobuf(error)),
            }
        }
        Format::Json => Ok(normalize_spans(json::traces(body)?, limits)),
    }
}

/// Decodes an OTLP logs body (`ExportLogsServiceRequest`) and validates every record.
pub fn decode_logs(body: &[u8], format: Format, limits: &Limits) -> Result<DecodedLogs, OtlpError> {
    match format {
        Format::Protobuf => {
            match ExportLogsServiceRequest::decode(body) {
                Ok(request) => Ok(logs_from_request(request, limits)),
                // As for traces.
                Err(error) => lenient::logs(body)
                    .map(|batch| normalize_logs(batch, limits))
                    .ok_or(OtlpError::Protobuf(error)),
            }
        }
        Format::Json => Ok(normalize_logs(json::logs(body)?, limits)),
    }
}

/// Validates and normalizes an already decoded request (the gRPC path).
pub fn spans_from_request(request: ExportTraceServiceRequest, limits: &Limits) -> DecodedSpans {
    let resources = request
        .resource_spans
        .into_iter()
        .map(|rs| ResourceGroup {
            resource: Ok((rs.resource, rs.schema_url)),
            scopes: rs
                .scope_spans
                .into_iter()
                .map(|ss| ScopeGroup {
                    scope: Ok((ss.scope, ss.schema_url)),
                    items: ss.spans.into_iter().map(Ok).collect(),
                })
                .collect(),
        })
        .collect();
    normalize_spans(Batch { resources }, limits)
}

/// Validates and normalizes an already decoded request (the gRPC path).
pub fn logs_from_request(request: ExportLogsServiceRequest, limits: &Limits) -> DecodedLogs {
    let resources = request
        .resource_logs
        .into_iter()
        .map(|rl| ResourceGroup {
            resource: Ok((rl.resource, rl.schema_url)),
            scopes: rl
                .scope_logs
                .into_iter()
                .map(|sl| ScopeGroup {
                    scope: Ok((sl.scope, sl.schema_url)),
                    items: sl.log_records.into_iter().map(Ok).collect(),
                })
                .collect(),
        })
        .collect();
    normalize_logs(Batch { resources }, limits)
}

/// Re-encodes spans as one OTLP request, losslessly: `spans_from_request(spans_to_request(s))`
/// gives back `s`. Consecutive spans with equal resource and scope share one `ResourceSpans` /
/// `ScopeSpans`.
pub fn spans_to_request(spans: &[Span]) -> ExportTraceServiceRequest {
    let mut resource_spans: Vec<trace::ResourceSpans> = Vec::new();
    let mut previous: Option<&Span> = None;
    for span in spans {
        let same_resource = previous.is_some_and(|p| p.resource == span.resource);
        let same_scope = same_resource && previous.is_some_and(|p| p.scope == span.scope);
        match resource_spans.last_mut() {
            Some(rs) if same_resource => match rs.scope_spans.last_mut() {
                Some(ss) if same_scope => ss.spans.push(span_to_proto(span)),
                _ => rs.scope_spans.push(scope_spans(span)),
            },
            _ => {
                let (resource, schema_url) = resource_to_proto(&span.resource);
                resource_spans.push(trace::ResourceSpans {
                    resource,
                    scope_spans: vec![scope_spans(span)],
                    schema_url,
                });
            }
        }
        previous = Some(span);
    }
    ExportTraceServiceRequest { resource_spans }
}

fn scope_spans(span: &Span) -> trace::ScopeSpans {
    let (scope, schema_url) = scope_to_proto(&span.scope);
    trace::ScopeSpans {
        scope,
        spans: vec![span_to_proto(span)],
        schema_url,
    }
}

/// Re-encodes log records as one OTLP request, losslessly (see [`spans_to_request`]).
pub fn logs_to_request(records: &[LogRecord]) -> ExportLogsServiceRequest {
    let mut resource_logs: Vec<logs::ResourceLogs> = Vec::new();
    let mut previous: Option<&LogRecord> = None;
    for record in records {
        let same_resource = previous.is_some_and(|p| p.resource == record.resource);
        let same_scope = same_resource && previous.is_some_and(|p| p.scope == record.scope);
        match resource_logs.last_mut() {
            Some(rl) if same_resource => match rl.scope_logs.last_mut() {
                Some(sl) if same_scope => sl.log_records.push(log_to_proto(record)),
                _ => rl.scope_logs.push(scope_logs(record)),
            },
            _ => {
                let (resource, schema_url) = resource_to_proto(&record.resource);
                resource_logs.push(logs::ResourceLogs {
                    resource,
                    scope_logs: vec![scope_logs(record)],
                    schema_url,
                });
            }
        }
        previous = Some(record);
    }
    ExportLogsServiceRequest { resource_logs }
}

fn scope_logs(record: &LogRecord) -> logs::ScopeLogs {
    let (scope, schema_url) = scope_to_proto(&record.scope);
    logs::ScopeLogs {
        scope,
        log_records: vec![log_to_proto(record)],
        schema_url,
    }
}

/// A decoded request before validation: one format-independent shape for both decoders, where
/// the JSON decoder can already have failed on individual resources, scopes or records.
pub(crate) struct Batch<T> {
    pub(crate) resources: Vec<ResourceGroup<T>>,
}

pub(crate) struct ResourceGroup<T> {
    /// The resource message and the schema URL of its `Resource*` envelope.
    pub(crate) resource: Result<(Option<resource::Resource>, String), convert::FieldError>,
    pub(crate) scopes: Vec<ScopeGroup<T>>,
}

pub(crate) struct ScopeGroup<T> {
    /// The scope message and the schema URL of its `Scope*` envelope.
    pub(crate) scope: Result<(Option<common::InstrumentationScope>, String), convert::FieldError>,
    pub(crate) items: Vec<Result<T, convert::FieldError>>,
}

/// Names used in rejection messages for one signal.
struct Signal {
    resources: &'static str,
    scopes: &'static str,
    items: &'static str,
    item: &'static str,
}

const SPANS: Signal = Signal {
    resources: "resource_spans",
    scopes: "scope_spans",
    items: "spans",
    item: "span",
};

const LOGS: Signal = Signal {
    resources: "resource_logs",
    scopes: "scope_logs",
    items: "log_records",
    item: "log record",
};

/// Validates and converts every record of a batch.
fn normalize<T, R>(
    batch: Batch<T>,
    limits: &Limits,
    signal: &Signal,
    mut check: impl FnMut(&mut T, &Limits) -> Result<(), convert::FieldError>,
    describe: impl Fn(&T) -> String,
    convert: impl Fn(T, Resource, InstrumentationScope) -> Result<R, convert::FieldError>,
) -> (Vec<R>, Vec<Rejection>) {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (ri, group) in batch.resources.into_iter().enumerate() {
        let resource = group.resource.and_then(|(message, schema_url)| {
            validate::check_resource(message.as_ref(), &schema_url, limits)?;
            Ok(resource_from_proto(message, schema_url))
        });
        for (si, scope_group) in group.scopes.into_iter().enumerate() {
            let scope = scope_group.scope.and_then(|(message, schema_url)| {
                validate::check_scope(message.as_ref(), &schema_url, limits)?;
                Ok(scope_from_proto(message, schema_url))
            });
            for (i, item) in scope_group.items.into_iter().enumerate() {
                // The ids are formatted only for a rejection, off the hot path.
                let outcome = item.map_err(|e| (e, String::new())).and_then(|mut item| {
                    let checked = resource
                        .clone()
                        .and_then(|r| Ok((r, scope.clone()?)))
                        .and_then(|rs| check(&mut item, limits).map(|()| rs));
                    match checked {
                        Ok((resource, scope)) => {
                            convert(item, resource, scope).map_err(|e| (e, String::new()))
                        }
                        Err(error) => Err((error, describe(&item))),
                    }
                });
                match outcome {
                    Ok(record) => accepted.push(record),
                    Err((error, ids)) => rejected.push(Rejection {
                        message: format!(
                            "{} {}[{ri}].{}[{si}].{}[{i}]{ids}: {} {}",
                            signal.item,
                            signal.resources,
                            signal.scopes,
                            signal.items,
                            error.field,
                            error.detail
                        ),
                        field: error.field,
                    }),
                }
            }
        }
    }
    (accepted, rejected)
}

fn describe_ids(trace_id: &[u8], span_id: &[u8]) -> String {
    match (
        crate::TraceId::from_slice(trace_id),
        crate::SpanId::from_slice(span_id),
    ) {
        (Some(t), Some(s)) => format!(" (trace_id {t}, span_id {s})"),
        _ => String::new(),
    }
}

fn normalize_spans(batch: Batch<trace::Span>, limits: &Limits) -> DecodedSpans {
    let (spans, rejected) = normalize(
        batch,
        limits,
        &SPANS,
        validate::check_span,
        |span| describe_ids(&span.trace_id, &span.span_id),
        |span, resource, scope| {
            let mut span = span_from_proto(span, resource, scope)?;
            span.refresh_agent_kind();
            Ok(span)
        },
    );
    DecodedSpans { spans, rejected }
}

fn normalize_logs(batch: Batch<logs::LogRecord>, limits: &Limits) -> DecodedLogs {
    let (logs, rejected) = normalize(
        batch,
        limits,
        &LOGS,
        validate::check_log,
        |log| describe_ids(&log.trace_id, &log.span_id),
        log_from_proto,
    );
    DecodedLogs { logs, rejected }
}
