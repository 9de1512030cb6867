//! OTLP ingest, shared by both transports: from decoded records to durable ledger entries.
//!
//! The transports ([`http`], [`grpc`]) only differ in how bytes arrive and how answers are
//! encoded. Here each accepted span or log record becomes one ledger entry
//! (the canonical `cairn_model::codec` encoding), per-record validation failures become the
//! `partial_success` answer, and queue or ledger failures become [`SubmitError`]s the transports
//! map to 429/503/500 or `RESOURCE_EXHAUSTED`/`UNAVAILABLE`/`INTERNAL`.

pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod metrics;
mod rpc;

use std::sync::Arc;

use cairn_ledger::MAX_ENTRY_LEN;
use cairn_model::codec;
use cairn_model::otlp::{DecodedLogs, DecodedSpans, Limits, Rejection};

use cairn_metrics::{Metrics, Protocol, RejectReason};
use cairn_privacy::Privacy;

use crate::pipeline::appender::{Appender, SubmitError};

/// At most this many rejection reasons are spelled out in a `partial_success` message.
const MAX_REASONS: usize = 5;

/// The OTLP signal a trace or log request carries (`/v1/metrics` is handled by [`metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
}

impl Signal {
    /// The `signal` label value.
    pub(crate) fn metric(self) -> cairn_metrics::Signal {
        match self {
            Self::Traces => cairn_metrics::Signal::Traces,
            Self::Logs => cairn_metrics::Signal::Logs,
        }
    }
}

/// Records ready to append, and what was rejected on the way.
#[derive(Debug)]
pub(crate) struct Prepared {
    entries: Vec<Vec<u8>>,
    rejected: usize,
    message: String,
    /// A server-side failure that refuses the whole request (a data key could not be written:
    /// the records must not be stored unencrypted). Answered 500 / `INTERNAL`.
    pub(crate) internal: Option<String>,
}

impl Prepared {
    /// Encodes spans for the ledger. Each is first stamped with `project` (see [`set_project`]),
    /// then privacy (redact, then encrypt; see `cairn_privacy`) runs on it.
    pub(crate) fn spans(decoded: DecodedSpans, project: &str, privacy: &Privacy) -> Self {
        let DecodedSpans {
            mut spans,
            mut rejected,
        } = decoded;
        for span in &mut spans {
            set_project(&mut span.resource, project);
            if let Err(err) = privacy.protect_span(span) {
                return Self::failed(err);
            }
        }
        let total = spans.len() + rejected.len();
        let mut entries = Vec::with_capacity(spans.len());
        for span in &spans {
            let entry = codec::encode_span(span);
            match check_entry_len(&entry) {
                Ok(()) => entries.push(entry),
                Err(detail) => rejected.push(Rejection {
                    field: "span".to_owned(),
                    message: format!(
                        "span (trace_id {}, span_id {}): {detail}",
                        span.trace_id, span.span_id
                    ),
                }),
            }
        }
        Self {
            entries,
            message: rejection_message(&rejected, total, "spans"),
            rejected: rejected.len(),
            internal: None,
        }
    }

    /// Encodes log records for the ledger; each is stamped with `project`, then protected.
    pub(crate) fn logs(decoded: DecodedLogs, project: &str, privacy: &Privacy) -> Self {
        let DecodedLogs {
            mut logs,
            mut rejected,
        } = decoded;
        for log in &mut logs {
            set_project(&mut log.resource, project);
            if let Err(err) = privacy.protect_log(log) {
                return Self::failed(err);
            }
        }
        let total = logs.len() + rejected.len();
        let mut entries = Vec::with_capacity(logs.len());
        for log in &logs {
            let entry = codec::encode_log(log);
            match check_entry_len(&entry) {
                Ok(()) => entries.push(entry),
                Err(detail) => rejected.push(Rejection {
                    field: "log_record".to_owned(),
                    message: match log.trace_id {
                        Some(trace_id) => format!("log record (trace_id {trace_id}): {detail}"),
                        None => format!("log record: {detail}"),
                    },
                }),
            }
        }
        Self {
            entries,
            message: rejection_message(&rejected, total, "log records"),
            rejected: rejected.len(),
            internal: None,
        }
    }

    fn failed(err: cairn_privacy::KeystoreError) -> Self {
        tracing::error!(error = %err, "cannot protect records; request refused");
        Self {
            entries: Vec::new(),
            rejected: 0,
            message: String::new(),
            internal: Some(format!("cannot encrypt records: {err}")),
        }
    }
}

/// Sets the resource attribute `cairn.project` to the ingest key's project, replacing whatever
/// the sender put there (a sender cannot write into another project).
pub(crate) fn set_project(resource: &mut cairn_model::Resource, project: &str) {
    resource
        .attributes
        .retain(|kv| kv.key != crate::auth::PROJECT_ATTRIBUTE);
    resource.attributes.push(cairn_model::KeyValue {
        key: crate::auth::PROJECT_ATTRIBUTE.into(),
        value: cairn_model::AnyValue::String(project.to_owned()),
    });
}

/// The gRPC answer to a key over its rate limit: `RESOURCE_EXHAUSTED` with a `RetryInfo`.
pub(crate) fn rate_limited_status(retry_after_secs: u64) -> tonic::Status {
    rpc::status_with_retry(
        tonic::Code::ResourceExhausted,
        "this key's rate limit is exhausted; retry later".to_owned(),
        std::time::Duration::from_secs(retry_after_secs.max(1)),
    )
}

/// A record whose canonical encoding exceeds the ledger's entry limit is rejected here, on its
/// own: handed to the ledger it would fail the whole group commit it was batched into.
fn check_entry_len(entry: &[u8]) -> Result<(), String> {
    if entry.len() > MAX_ENTRY_LEN {
        return Err(format!(
            "its ledger entry is {} bytes, over the ledger's maximum entry size of {MAX_ENTRY_LEN} bytes",
            entry.len()
        ));
    }
    Ok(())
}

/// The answer to a successful export: how many records were rejected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportResult {
    pub(crate) rejected: usize,
    pub(crate) message: String,
}

/// Everything an ingest request needs, shared by all requests of both transports.
#[derive(Debug)]
pub(crate) struct Ingest {
    pub(crate) appender: Arc<Appender>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    /// Request bodies / messages larger than this (after decompression) are refused.
    pub(crate) max_body_bytes: usize,
    /// Seconds sent in `Retry-After`.
    pub(crate) retry_after_secs: u64,
    /// Redaction and encryption applied before encoding.
    pub(crate) privacy: Arc<Privacy>,
}

impl Ingest {
    /// Makes the prepared records durable and counts accepted and rejected records (the
    /// transport counts the request itself, once it knows its answer).
    pub(crate) async fn commit(
        &self,
        prepared: Prepared,
        signal: Signal,
    ) -> Result<ExportResult, SubmitError> {
        let health = self.metrics.health();
        let signal = signal.metric();
        let accepted = prepared.entries.len() as u64;
        if prepared.rejected > 0 {
            health.spans_rejected(signal, RejectReason::Validation, prepared.rejected as u64);
        }
        match self.appender.submit(prepared.entries).await {
            Ok(_) => {
                health.spans_accepted(signal, accepted);
                Ok(ExportResult {
                    rejected: prepared.rejected,
                    message: prepared.message,
                })
            }
            Err(err) => {
                let reason = match err {
                    SubmitError::QueueFull { .. } => RejectReason::Overload,
                    SubmitError::DiskFull(_)
                    | SubmitError::ShuttingDown
                    | SubmitError::Ledger(_) => RejectReason::Unavailable,
                };
                health.spans_rejected(signal, reason, accepted);
                Err(err)
            }
        }
    }

    /// Counts one request: `code` is the HTTP status or gRPC code name of its answer.
    pub(crate) fn count_request(
        &self,
        protocol: Protocol,
        signal: cairn_metrics::Signal,
        code: &str,
        started: std::time::Instant,
        body_len: u64,
    ) {
        self.metrics
            .health()
            .ingest_request(protocol, signal, code, started.elapsed(), body_len);
    }
}

/// `"rejected 2 of 5 spans: <reason>; <reason>"` (each reason names the record, the field and the
/// limit), or empty when nothing was rejected.
fn rejection_message(rejected: &[Rejection], total: usize, what: &str) -> String {
    if rejected.is_empty() {
        return String::new();
    }
    let mut message = format!("rejected {} of {total} {what}: ", rejected.len());
    let reasons: Vec<String> = rejected
        .iter()
        .take(MAX_REASONS)
        .map(|r| r.message.clone())
        .collect();
    message.push_str(&reasons.join("; "));
    if rejected.len() > MAX_REASONS {
        message.push_str(&format!("; and {} more", rejected.len() - MAX_REASONS));
    }
    message
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn proto_span(seed: u8, attribute_bytes: &[usize]) -> Span {
        Span {
            trace_id: vec![seed; 16],
            span_id: vec![seed; 8],
            name: format!("span {seed}"),
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            attributes: attribute_bytes
                .iter()
                .enumerate()
                .map(|(i, len)| KeyValue {
                    key: format!("big.{i}"),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("x".repeat(*len))),
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_record_over_the_ledger_entry_limit_is_rejected_alone() {
        // Each attribute is within the model's per-value limit, the span as a whole is not
        // within the ledger's entry limit.
        let third = MAX_ENTRY_LEN / 3 + 1;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![
                        proto_span(1, &[]),
                        proto_span(2, &[third, third, third]),
                        proto_span(3, &[10]),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let decoded = cairn_model::otlp::spans_from_request(request, &Limits::default());
        assert_eq!(decoded.spans.len(), 3, "the model accepts all three");
        let prepared = Prepared::spans(decoded, "p", &Privacy::disabled());
        assert_eq!(prepared.entries.len(), 2);
        assert!(prepared.entries.iter().all(|e| e.len() <= MAX_ENTRY_LEN));
        assert_eq!(prepared.rejected, 1);
        assert!(
            prepared
                .message
                .starts_with("rejected 1 of 3 spans: span (trace_id 0202"),
            "{}",
            prepared.message
        );
        assert!(
            prepared.message.contains(&MAX_ENTRY_LEN.to_string()),
            "{}",
            prepared.message
        );
    }

    fn rejection(i: usize) -> Rejection {
        Rejection {
            field: format!("spans[{i}].trace_id"),
            message: "trace id must not be all zeros".to_owned(),
        }
    }

    #[test]
    fn rejection_message_counts_and_caps_reasons() {
        assert_eq!(rejection_message(&[], 3, "spans"), "");
        let one = rejection_message(&[rejection(1)], 3, "spans");
        assert_eq!(one, "rejected 1 of 3 spans: trace id must not be all zeros");
        let many: Vec<Rejection> = (0..8).map(rejection).collect();
        let msg = rejection_message(&many, 10, "spans");
        assert!(msg.starts_with("rejected 8 of 10 spans: "), "{msg}");
        assert!(msg.ends_with("; and 3 more"), "{msg}");
        assert_eq!(msg.matches("trace id must not").count(), MAX_REASONS);
    }
}
