//! The canonical, versioned binary encoding of a [`Record`]: the bytes the ledger stores and hashes.
//!
//! # Layout (format version 1)
//!
//! ```text
//! +---------+-------------+---------------------------------------------------------------+
//! | byte 0  | byte 1      | bytes 2..                                                     |
//! +---------+-------------+---------------------------------------------------------------+
//! | version | record type | payload: protobuf (prost) encoding of one OTLP message        |
//! | = 0x01  | 0x01 span   |   opentelemetry.proto.trace.v1.ResourceSpans holding exactly  |
//! |         |             |   one ScopeSpans holding exactly one Span                     |
//! |         | 0x02 log    |   opentelemetry.proto.logs.v1.ResourceLogs holding exactly    |
//! |         |             |   one ScopeLogs holding exactly one LogRecord                 |
//! +---------+-------------+---------------------------------------------------------------+
//! ```
//!
//! Why this shape:
//! - **Lossless and self-describing.** The payload is OTLP's own schema with the record's resource
//!   and scope inlined, so an auditor can decode an entry with any OTLP tooling after skipping two
//!   bytes, and nothing the sender sent is missing.
//! - **Deterministic.** The bytes are prost's encoding of the OTLP message that the pure,
//!   order-preserving model → proto conversion (`otlp::convert`) builds: fields in tag order,
//!   repeated fields in list order, default scalars omitted, no maps; so equal records always give
//!   equal bytes. Empty resources, scopes, statuses, log bodies and attribute values are written
//!   as absent messages, the one canonical choice among the encodings OTLP allows. Doubles are
//!   written as their 8 raw bytes, so `-0.0` and every NaN payload survive bit for bit.
//!   The encoder (`codec/wire.rs`) writes those bytes straight from the borrowed record with
//!   `prost::encoding`, without building the message; the tests check it against prost's
//!   encoding of the converted message, byte for byte.
//! - **Versioned.** Entries are immutable and hashed: a decoder must keep accepting every version
//!   it ever wrote. A new version gets a new byte 0; version 1 never changes meaning.
//!
//! The agent kind is **not** stored: it is re-derived on decode with [`crate::kind::derive()`]. It is
//! an interpretation, not evidence; the ledger holds what the sender sent, and an improved
//! derivation table applies to old entries on the next reindex without rewriting the log. A span
//! whose `agent_kind` was set by hand to something the table would not derive does not round-trip
//! that field; set the `cairn.kind` attribute instead.
//!
//! Decoding checks the header, the one-scope-one-record shape, id lengths and enum values, and
//! does not re-apply [`crate::otlp::Limits`] (entries were validated when accepted). Its nesting is
//! bounded by prost's recursion limit. The decoder (`codec/read.rs`) reads the payload straight
//! into the model with `prost::encoding`, without building the OTLP message; it accepts, rejects
//! and returns exactly what prost's decoding of the message followed by the conversion does (the
//! tests compare the two, errors included, on records and on corrupted encodings).

use crate::span::{LogRecord, Record, Span};

mod read;
mod wire;

/// The format version this crate writes (byte 0).
pub const FORMAT_VERSION: u8 = 1;

/// Record type byte (byte 1) of a span.
pub const RECORD_TYPE_SPAN: u8 = 1;

/// Record type byte (byte 1) of a log record.
pub const RECORD_TYPE_LOG: u8 = 2;

/// Why bytes are not a valid encoded record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Fewer than the two header bytes.
    #[error("entry of {0} bytes is shorter than the 2-byte header")]
    Truncated(usize),
    /// Byte 0 is not a known format version.
    #[error("unsupported encoding version {0}")]
    UnsupportedVersion(u8),
    /// Byte 1 is not a known record type.
    #[error("unknown record type {0}")]
    UnknownRecordType(u8),
    /// The payload is not valid protobuf for the record type.
    #[error("invalid payload: {0}")]
    Protobuf(prost::DecodeError),
    /// The payload does not hold exactly one scope and one record.
    #[error("payload holds {scopes} scopes and {records} records, expected exactly one of each")]
    Shape {
        /// Number of scope messages found.
        scopes: usize,
        /// Number of records found.
        records: usize,
    },
    /// A field cannot be represented in the model (wrong id length, unknown enum value).
    #[error("invalid {field}: {detail}")]
    Field {
        /// The field, e.g. `trace_id`.
        field: String,
        /// What is wrong.
        detail: String,
    },
}

/// Encodes a record (see the module docs for the layout).
pub fn encode(record: &Record) -> Vec<u8> {
    match record {
        Record::Span(span) => encode_span(span),
        Record::Log(log) => encode_log(log),
    }
}

/// Encodes a span without wrapping it in a [`Record`] first.
pub fn encode_span(span: &Span) -> Vec<u8> {
    let (len, span_len) = wire::resource_spans_len(span);
    let mut buf = Vec::with_capacity(2 + len);
    buf.push(FORMAT_VERSION);
    buf.push(RECORD_TYPE_SPAN);
    wire::write_resource_spans(span, span_len, &mut buf);
    debug_assert_eq!(buf.len(), 2 + len, "computed and written lengths differ");
    buf
}

/// Encodes a log record without wrapping it in a [`Record`] first.
pub fn encode_log(log: &LogRecord) -> Vec<u8> {
    let (len, log_len) = wire::resource_logs_len(log);
    let mut buf = Vec::with_capacity(2 + len);
    buf.push(FORMAT_VERSION);
    buf.push(RECORD_TYPE_LOG);
    wire::write_resource_logs(log, log_len, &mut buf);
    debug_assert_eq!(buf.len(), 2 + len, "computed and written lengths differ");
    buf
}

/// Decodes bytes written by [`encode`] (any supported version).
pub fn decode(bytes: &[u8]) -> Result<Record, CodecError> {
    let [version, record_type, payload @ ..] = bytes else {
        return Err(CodecError::Truncated(bytes.len()));
    };
    if *version != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion(*version));
    }
    match *record_type {
        RECORD_TYPE_SPAN => read::decode_span(payload).map(Record::Span),
        RECORD_TYPE_LOG => read::decode_log(payload).map(Record::Log),
        other => Err(CodecError::UnknownRecordType(other)),
    }
}

/// The decoder as first written, kept as the reference [`decode`] must agree with: prost's
/// derived decoding of the OTLP message, then the conversion to the model (`otlp::convert`).
/// Not part of the API: compiled with the `reference-decoder` feature, for the crate's tests
/// (`tests/codec_reference.rs`) and the differential fuzz target.
#[cfg(feature = "reference-decoder")]
#[doc(hidden)]
pub fn decode_with_prost(bytes: &[u8]) -> Result<Record, CodecError> {
    use crate::otlp::{
        FieldError, log_from_proto, resource_from_proto, scope_from_proto, span_from_proto,
    };
    use opentelemetry_proto::tonic::logs::v1 as logs;
    use opentelemetry_proto::tonic::trace::v1 as trace;
    use prost::Message as _;

    let [version, record_type, payload @ ..] = bytes else {
        return Err(CodecError::Truncated(bytes.len()));
    };
    if *version != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion(*version));
    }
    let field_error = |e: FieldError| CodecError::Field {
        field: e.field,
        detail: e.detail,
    };
    match *record_type {
        RECORD_TYPE_SPAN => {
            let message = trace::ResourceSpans::decode(payload).map_err(CodecError::Protobuf)?;
            let [scope_spans] =
                <[_; 1]>::try_from(message.scope_spans).map_err(|all: Vec<_>| {
                    CodecError::Shape {
                        scopes: all.len(),
                        records: all.iter().map(|s: &trace::ScopeSpans| s.spans.len()).sum(),
                    }
                })?;
            let [span] =
                <[_; 1]>::try_from(scope_spans.spans).map_err(|all: Vec<_>| CodecError::Shape {
                    scopes: 1,
                    records: all.len(),
                })?;
            let resource = resource_from_proto(message.resource, message.schema_url);
            let scope = scope_from_proto(scope_spans.scope, scope_spans.schema_url);
            let mut span = span_from_proto(span, resource, scope).map_err(field_error)?;
            span.refresh_agent_kind();
            Ok(Record::Span(span))
        }
        RECORD_TYPE_LOG => {
            let message = logs::ResourceLogs::decode(payload).map_err(CodecError::Protobuf)?;
            let [scope_logs] = <[_; 1]>::try_from(message.scope_logs).map_err(|all: Vec<_>| {
                CodecError::Shape {
                    scopes: all.len(),
                    records: all
                        .iter()
                        .map(|s: &logs::ScopeLogs| s.log_records.len())
                        .sum(),
                }
            })?;
            let [log] = <[_; 1]>::try_from(scope_logs.log_records).map_err(|all: Vec<_>| {
                CodecError::Shape {
                    scopes: 1,
                    records: all.len(),
                }
            })?;
            let resource = resource_from_proto(message.resource, message.schema_url);
            let scope = scope_from_proto(scope_logs.scope, scope_logs.schema_url);
            let log = log_from_proto(log, resource, scope).map_err(field_error)?;
            Ok(Record::Log(log))
        }
        other => Err(CodecError::UnknownRecordType(other)),
    }
}
