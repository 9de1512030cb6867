//! One OTLP/HTTP export attempt, and how its outcome is classified.
//!
//! Per the OTLP/HTTP specification: `200` is success (a `partial_success` in the protobuf
//! response body counts rejected spans); `429`, `502`, `503` and `504` are retryable and may carry
//! `Retry-After` (delta-seconds or an HTTP date); network errors are retryable; every other status
//! is permanent and the batch is dropped.

use std::io::Read;
use std::time::{Duration, SystemTime};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

/// Response bodies larger than this are not read (the body only carries `partial_success`).
const MAX_RESPONSE_BODY: u64 = 1 << 20;

/// A successful export.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    /// Spans the server reported as rejected in `partial_success`.
    pub(crate) rejected: u64,
    /// The server's `partial_success.error_message`, if any.
    pub(crate) message: Option<String>,
}

/// A failed export attempt.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AttemptError {
    /// Worth retrying, after `retry_after` if the server said so.
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Not worth retrying: the batch is dropped.
    #[error("{message}")]
    Permanent { message: String },
}

/// The request's static parts.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) gzip: bool,
}

/// Sends one encoded (and possibly gzipped) request body.
pub(crate) fn send(
    agent: &ureq::Agent,
    endpoint: &Endpoint,
    body: &[u8],
) -> Result<Accepted, AttemptError> {
    let mut request = agent
        .post(&endpoint.url)
        .set("Content-Type", "application/x-protobuf");
    if endpoint.gzip {
        request = request.set("Content-Encoding", "gzip");
    }
    for (name, value) in &endpoint.headers {
        request = request.set(name, value);
    }
    match request.send_bytes(body) {
        Ok(response) => Ok(accepted(response)),
        Err(ureq::Error::Status(code, response)) => {
            let retry_after = response.header("Retry-After").and_then(parse_retry_after);
            let detail = read_body(response)
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .chars()
                        .take(200)
                        .collect::<String>()
                })
                .unwrap_or_default();
            let message = if detail.trim().is_empty() {
                format!("endpoint answered http {code}")
            } else {
                format!("endpoint answered http {code}: {}", detail.trim())
            };
            if matches!(code, 429 | 502 | 503 | 504) {
                Err(AttemptError::Retryable {
                    message,
                    retry_after,
                })
            } else {
                Err(AttemptError::Permanent { message })
            }
        }
        Err(ureq::Error::Transport(transport)) => Err(AttemptError::Retryable {
            message: format!("cannot reach endpoint: {transport}"),
            retry_after: None,
        }),
    }
}

fn read_body(response: ureq::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_RESPONSE_BODY)
        .read_to_end(&mut body)
        .ok()?;
    Some(body)
}

fn accepted(response: ureq::Response) -> Accepted {
    let is_protobuf = response
        .header("Content-Type")
        .is_some_and(|ct| ct.starts_with("application/x-protobuf"));
    let Some(body) = read_body(response) else {
        return Accepted::default();
    };
    if !is_protobuf || body.is_empty() {
        return Accepted::default();
    }
    match ExportTraceServiceResponse::decode(body.as_slice()) {
        Ok(resp) => match resp.partial_success {
            Some(partial) => Accepted {
                rejected: u64::try_from(partial.rejected_spans).unwrap_or(0),
                message: (!partial.error_message.is_empty()).then_some(partial.error_message),
            },
            None => Accepted::default(),
        },
        Err(_) => Accepted::default(),
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&future).expect("http date");
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }
}
