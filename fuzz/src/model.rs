//! Checks for `cairn-model`: OTLP decode + normalize (protobuf and JSON, traces and logs) and the
//! canonical codec.
//!
//! Invariants checked on every input:
//! - decoding never panics, under the default limits and under tight ones (so the rejection
//!   paths are reached by small inputs);
//! - protobuf: every span / log record of a well-formed request is either accepted or rejected,
//!   none is dropped (`accepted + rejected == records in the request`);
//! - accepted records re-encoded to OTLP (`spans_to_request` / `logs_to_request`) decode again
//!   under the same limits to the same records, with no rejection (normalization is idempotent);
//! - accepted records survive the canonical codec: `encode(decode(encode(r))) == encode(r)`;
//! - codec: any bytes `decode` accepts re-encode to bytes that decode and re-encode identically.

use cairn_model::codec;
use cairn_model::otlp::{self, Format, Limits};
use cairn_model::{LogRecord, Record, Span};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// Limits small enough that fuzz inputs of a few hundred bytes exceed every one of them.
pub fn tight_limits() -> Limits {
    Limits {
        max_attribute_value_bytes: 32,
        max_attributes: 4,
        max_events: 2,
        max_links: 2,
        max_depth: 3,
        max_array_len: 4,
        max_key_bytes: 16,
        max_name_bytes: 24,
        max_record_bytes: 256,
    }
}

/// The limit sets every OTLP input is decoded under.
fn limit_sets() -> [Limits; 2] {
    [Limits::default(), tight_limits()]
}

/// Fuzz target `otlp_proto`: the input as an OTLP/protobuf traces body and as a logs body.
pub fn otlp_proto(data: &[u8]) {
    let span_count = ExportTraceServiceRequest::decode(data).ok().map(|r| {
        r.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum::<usize>()
    });
    let log_count = ExportLogsServiceRequest::decode(data).ok().map(|r| {
        r.resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .map(|sl| sl.log_records.len())
            .sum::<usize>()
    });
    for limits in limit_sets() {
        let traces = otlp::decode_traces(data, Format::Protobuf, &limits);
        assert_eq!(
            traces.is_ok(),
            span_count.is_some(),
            "decode_traces and prost disagree on well-formedness"
        );
        if let Ok(decoded) = traces {
            assert_eq!(
                Some(decoded.spans.len() + decoded.rejected.len()),
                span_count,
                "spans dropped: accepted + rejected != spans in the request"
            );
            check_spans(&decoded.spans, &limits);
        }
        let logs = otlp::decode_logs(data, Format::Protobuf, &limits);
        assert_eq!(
            logs.is_ok(),
            log_count.is_some(),
            "decode_logs and prost disagree on well-formedness"
        );
        if let Ok(decoded) = logs {
            assert_eq!(
                Some(decoded.logs.len() + decoded.rejected.len()),
                log_count,
                "log records dropped: accepted + rejected != records in the request"
            );
            check_logs(&decoded.logs, &limits);
        }
    }
}

/// Fuzz target `otlp_json`: the input as an OTLP/JSON traces body and as a logs body.
pub fn otlp_json(data: &[u8]) {
    for limits in limit_sets() {
        if let Ok(decoded) = otlp::decode_traces(data, Format::Json, &limits) {
            check_spans(&decoded.spans, &limits);
        }
        if let Ok(decoded) = otlp::decode_logs(data, Format::Json, &limits) {
            check_logs(&decoded.logs, &limits);
        }
    }
}

/// Fuzz target `codec`: the input as a canonical ledger entry.
pub fn codec(data: &[u8]) {
    let Ok(record) = codec::decode(data) else {
        return;
    };
    let encoded = codec::encode(&record);
    let again = codec::decode(&encoded).expect("re-encoded record does not decode");
    assert_eq!(
        codec::encode(&again),
        encoded,
        "encode(decode(encode(r))) != encode(r)"
    );
}

fn check_spans(spans: &[Span], limits: &Limits) {
    if spans.is_empty() {
        return;
    }
    let body = otlp::spans_to_request(spans).encode_to_vec();
    let again = otlp::decode_traces(&body, Format::Protobuf, limits)
        .expect("re-encoded accepted spans are not a valid request");
    assert_eq!(
        again.rejected,
        Vec::new(),
        "accepted spans are rejected once re-encoded"
    );
    let first: Vec<Vec<u8>> = spans.iter().map(codec::encode_span).collect();
    let second: Vec<Vec<u8>> = again.spans.iter().map(codec::encode_span).collect();
    assert_eq!(first, second, "normalization is not idempotent");
    for bytes in &first {
        codec_round_trip(bytes);
    }
}

fn check_logs(records: &[LogRecord], limits: &Limits) {
    if records.is_empty() {
        return;
    }
    let body = otlp::logs_to_request(records).encode_to_vec();
    let again = otlp::decode_logs(&body, Format::Protobuf, limits)
        .expect("re-encoded accepted log records are not a valid request");
    assert_eq!(
        again.rejected,
        Vec::new(),
        "accepted log records are rejected once re-encoded"
    );
    let first: Vec<Vec<u8>> = records.iter().map(codec::encode_log).collect();
    let second: Vec<Vec<u8>> = again.logs.iter().map(codec::encode_log).collect();
    assert_eq!(first, second, "normalization is not idempotent");
    for bytes in &first {
        codec_round_trip(bytes);
    }
}

/// Bytes written by `encode` decode, and re-encode to themselves.
fn codec_round_trip(bytes: &[u8]) {
    let record: Record = codec::decode(bytes).expect("an encoded accepted record does not decode");
    assert_eq!(
        codec::encode(&record),
        bytes,
        "the codec does not round-trip an accepted record"
    );
}
