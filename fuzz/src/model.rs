//! Checks for `cairn-model`: OTLP decode + normalize (protobuf and JSON, traces and logs) and the
//! canonical codec.
//!
//! Invariants checked on every input:
//! - decoding never panics, under the default limits and under tight ones (so the rejection
//!   paths are reached by small inputs);
//! - protobuf: every span / log record of a well-formed request is either accepted or rejected,
//!   none is dropped (`accepted + rejected == records in the request`); a body prost refuses is
//!   decoded only when prost refused it for invalid UTF-8 (then the records holding a bad string
//!   are rejected, and still none is dropped), and a body prost accepts is never refused;
//! - accepted records re-encoded to OTLP (`spans_to_request` / `logs_to_request`) decode again
//!   under the same limits to the same records, with no rejection (normalization is idempotent);
//! - accepted records survive the canonical codec: `encode(decode(encode(r))) == encode(r)`;
//! - codec: `decode` agrees with the prost-based reference decoder (same record, or the same
//!   error); any bytes `decode` accepts re-encode to bytes that decode and re-encode identically.

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

/// Counts the records of a traces or logs request without decoding them, so invalid UTF-8 inside
/// does not matter (both requests nest records at field 1 → 2 → 2).
mod shallow {
    #[derive(prost::Message)]
    pub struct Request {
        #[prost(message, repeated, tag = "1")]
        pub resources: Vec<Resource>,
    }

    #[derive(prost::Message)]
    pub struct Resource {
        #[prost(message, repeated, tag = "2")]
        pub scopes: Vec<Scope>,
    }

    #[derive(prost::Message)]
    pub struct Scope {
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub records: Vec<Vec<u8>>,
    }

    pub fn count(data: &[u8]) -> Option<usize> {
        use prost::Message as _;
        let request = Request::decode(data).ok()?;
        Some(
            request
                .resources
                .iter()
                .flat_map(|r| &r.scopes)
                .map(|s| s.records.len())
                .sum(),
        )
    }
}

/// What prost alone says of a body: the record count, or its error message.
fn strict_count<M: prost::Message + Default>(
    data: &[u8],
    count: impl Fn(&M) -> usize,
) -> Result<usize, String> {
    M::decode(data)
        .map(|m| count(&m))
        .map_err(|e| e.to_string())
}

/// The invariants shared by traces and logs for one decode outcome (`Ok(accepted, rejected)`).
fn check_counts(
    signal: &str,
    data: &[u8],
    strict: &Result<usize, String>,
    decoded: Result<(usize, usize), String>,
) {
    match (strict, decoded) {
        (Ok(count), Ok((accepted, rejected))) => assert_eq!(
            accepted + rejected,
            *count,
            "{signal}: records dropped: accepted + rejected != records in the request"
        ),
        (Ok(_), Err(error)) => panic!("{signal}: prost decodes a body cairn refuses: {error}"),
        // The invalid-UTF-8 fallback: prost refused the body for a bad string and for nothing
        // else, and every record is still accepted or rejected.
        (Err(strict_error), Ok((accepted, rejected))) => {
            assert!(
                strict_error.contains("UTF-8"),
                "{signal}: cairn accepts a body prost refuses for another reason: {strict_error}"
            );
            assert_eq!(
                Some(accepted + rejected),
                shallow::count(data),
                "{signal}: records dropped by the fallback decoder"
            );
        }
        (Err(_), Err(_)) => {}
    }
}

/// Fuzz target `otlp_proto`: the input as an OTLP/protobuf traces body and as a logs body.
pub fn otlp_proto(data: &[u8]) {
    let span_count = strict_count(data, |r: &ExportTraceServiceRequest| {
        r.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum::<usize>()
    });
    let log_count = strict_count(data, |r: &ExportLogsServiceRequest| {
        r.resource_logs
            .iter()
            .flat_map(|rl| &rl.scope_logs)
            .map(|sl| sl.log_records.len())
            .sum::<usize>()
    });
    for limits in limit_sets() {
        let traces = otlp::decode_traces(data, Format::Protobuf, &limits);
        let counts = traces
            .as_ref()
            .map(|d| (d.spans.len(), d.rejected.len()))
            .map_err(ToString::to_string);
        check_counts("traces", data, &span_count, counts);
        if let Ok(decoded) = traces {
            check_spans(&decoded.spans, &limits);
        }
        let logs = otlp::decode_logs(data, Format::Protobuf, &limits);
        let counts = logs
            .as_ref()
            .map(|d| (d.logs.len(), d.rejected.len()))
            .map_err(ToString::to_string);
        check_counts("logs", data, &log_count, counts);
        if let Ok(decoded) = logs {
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
    let decoded = codec::decode(data);
    match (&decoded, &codec::decode_with_prost(data)) {
        (Ok(new), Ok(old)) => assert_eq!(
            (format!("{new:?}"), codec::encode(new)),
            (format!("{old:?}"), codec::encode(old)),
            "the decoder and the prost-based reference decode to different records"
        ),
        (Err(new), Err(old)) => assert_eq!(
            format!("{new:?}"),
            format!("{old:?}"),
            "the decoder and the prost-based reference fail differently"
        ),
        (new, old) => panic!("decoder: {new:?}, prost-based reference: {old:?}"),
    }
    let Ok(record) = decoded else {
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
