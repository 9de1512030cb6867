//! OTLP/HTTP requests and how their answers map to outcomes.
//!
//! Following the OTLP/HTTP specification: 200 is success, possibly with a `partial_success`
//! whose rejected records must not be retried (they are counted and logged; the response does
//! not say which ones); 429, 502, 503 and 504 are retryable and may carry `Retry-After`.
//! 400 and 413 refuse the body: the runner splits the batch to isolate the records at fault.
//! Every other status (401, 403, 404, 500 …) is retried as well: the specification calls them
//! non-retryable, but dropping data because of a misconfigured or briefly broken receiver would
//! break Cairn's at-least-once promise; an operator sees the failures in the metrics and logs.

use prost::Message as _;

use crate::exporter::SendError;
use crate::http;

/// Responses are tiny; anything larger is read only in part.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// Which OTLP signal a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
}

/// The OTLP/HTTP client.
#[derive(Debug)]
pub(crate) struct OtlpService {
    agent: ureq::Agent,
    traces_url: String,
    logs_url: String,
    headers: Vec<(String, String)>,
    gzip: bool,
}

impl OtlpService {
    pub(crate) fn new(
        agent: ureq::Agent,
        endpoint: &str,
        headers: Vec<(String, String)>,
        gzip: bool,
    ) -> Self {
        let base = endpoint.trim_end_matches('/');
        Self {
            agent,
            traces_url: format!("{base}/v1/traces"),
            logs_url: format!("{base}/v1/logs"),
            headers,
            gzip,
        }
    }

    /// Posts one request body; `Ok(n)` is the number of records the receiver reported as
    /// rejected in a partial success.
    pub(crate) fn export(&self, signal: Signal, protobuf: &[u8]) -> Result<u64, SendError> {
        let url = match signal {
            Signal::Traces => &self.traces_url,
            Signal::Logs => &self.logs_url,
        };
        let mut request = self
            .agent
            .post(url)
            .set("Content-Type", "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.set(name, value);
        }
        let compressed;
        let body = if self.gzip {
            request = request.set("Content-Encoding", "gzip");
            compressed = http::gzip(protobuf);
            &compressed[..]
        } else {
            protobuf
        };
        let response = http::send(request, body, MAX_RESPONSE_BYTES)?;
        let reason = || {
            format!(
                "{url} answered {}: {}",
                response.status,
                response.body_excerpt()
            )
        };
        match response.status {
            200..=299 => Ok(rejected_count(signal, &response.body)),
            400 | 413 => Err(SendError::Rejected { reason: reason() }),
            _ => Err(SendError::Transient {
                reason: reason(),
                retry_after: response.retry_after,
            }),
        }
    }
}

/// `partial_success.rejected_spans` / `rejected_log_records` of a protobuf response (0 when the
/// body is empty or not protobuf, e.g. a JSON answer from a lenient receiver).
fn rejected_count(signal: Signal, body: &[u8]) -> u64 {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    let count = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| p.rejected_spans),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| p.rejected_log_records),
    };
    count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };

    use super::*;

    #[test]
    fn partial_success_counts_rejected_spans() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".to_owned(),
            }),
        }
        .encode_to_vec();
        assert_eq!(rejected_count(Signal::Traces, &body), 3);
        assert_eq!(rejected_count(Signal::Traces, b""), 0);
        assert_eq!(rejected_count(Signal::Logs, b"{}"), 0);
    }
}
