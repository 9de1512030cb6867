//! OTLP/HTTP: `POST /v1/traces` and `POST /v1/logs`, per the OTLP specification (`POST /v1/metrics`:
//! see [`super::metrics`]). Every request is counted in `cairn_ingest_requests_total` with its
//! HTTP status as `code`.
//!
//! | Request | Answer |
//! |---|---|
//! | `Content-Type: application/x-protobuf` (or `application/protobuf`) | protobuf `Export*ServiceResponse` |
//! | `Content-Type: application/json` | OTLP/JSON `Export*ServiceResponse` |
//! | any other content type | 415 |
//! | `Content-Encoding: gzip` / `identity` / none | decompressed; anything else → 415 |
//! | body above `max_body_bytes` after decompression | 413 |
//! | body that does not decode | 400 with a `google.rpc.Status` message |
//! | some records invalid | 200 with `partial_success` (`rejected_*` count and message) |
//! | every record invalid | 400 with the reasons |
//! | ingest queue full | 429 with `Retry-After` |
//! | ledger disk full or server shutting down | 503 with `Retry-After` |
//!
//! Errors carry a `google.rpc.Status` body in the request's encoding (protobuf or JSON). The body is
//! read as a stream and gzip is inflated through a reader capped at `max_body_bytes + 1`, so neither
//! a large upload nor a gzip bomb can make the server allocate more than the limit.

use std::io::Read as _;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Bytes, BytesMut};
use cairn_model::otlp::Format;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio_stream::StreamExt as _;

use super::rpc::RpcStatus;
use super::{ExportResult, Ingest, Prepared, Signal};
use crate::auth::{Authenticator, Principal};
use crate::pipeline::appender::SubmitError;
use cairn_metrics::{Protocol, RejectReason};

/// Bodies at least this large are decompressed and decoded on the blocking pool, not the request
/// task.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// The OTLP/HTTP router.
pub(crate) fn router(ingest: Arc<Ingest>, auth: Arc<Authenticator>) -> Router {
    Router::new()
        .route("/v1/traces", post(export_traces))
        .route("/v1/logs", post(export_logs))
        .route("/v1/metrics", post(super::metrics::export_http))
        // The limit is enforced by `read_body`, after decompression.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::ingest_layer,
        ))
        .with_state(ingest)
}

async fn export_traces(
    State(ingest): State<Arc<Ingest>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&ingest, Signal::Traces, &principal.project, &headers, body).await
}

async fn export_logs(
    State(ingest): State<Arc<Ingest>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&ingest, Signal::Logs, &principal.project, &headers, body).await
}

/// Why a request failed before its records reached the ledger.
#[derive(Debug)]
pub(super) enum Reject {
    UnsupportedMediaType(String),
    TooLarge(String),
    Malformed(String),
    Internal(String),
}

/// Handles one request and counts it (`cairn_ingest_requests_total` and friends).
async fn export(
    ingest: &Ingest,
    signal: Signal,
    project: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let mut received = 0;
    let response = export_counted(ingest, signal, project, headers, body, &mut received).await;
    // The `code` label is the HTTP status number (`"200"`).
    ingest.count_request(
        Protocol::Http,
        signal.metric(),
        response.status().as_str(),
        started,
        received,
    );
    response
}

async fn export_counted(
    ingest: &Ingest,
    signal: Signal,
    project: &str,
    headers: &HeaderMap,
    body: Body,
    received: &mut u64,
) -> Response {
    let format = match content_format(headers) {
        Ok(format) => format,
        Err(message) => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                message,
            )
                .into_response();
        }
    };
    let health = ingest.metrics.health();
    let prepared = match prepare(ingest, signal, project, format, headers, body, received).await {
        // Nothing valid at all: the request as a whole is invalid (400), not a partial success.
        Ok(prepared) if prepared.entries.is_empty() && prepared.rejected > 0 => {
            health.spans_rejected(
                signal.metric(),
                RejectReason::Validation,
                prepared.rejected as u64,
            );
            return error_response(format, StatusCode::BAD_REQUEST, &prepared.message, None);
        }
        other => other,
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(reject) => {
            let (status, message) = reject_status(reject, health, signal.metric());
            return error_response(format, status, &message, None);
        }
    };
    match ingest.commit(prepared, signal).await {
        Ok(result) => success_response(format, signal, &result),
        Err(err) => {
            let status = match err {
                SubmitError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
                SubmitError::DiskFull(_) | SubmitError::ShuttingDown => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                SubmitError::Ledger(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let retry =
                (status != StatusCode::INTERNAL_SERVER_ERROR).then_some(ingest.retry_after_secs);
            error_response(format, status, &err.to_string(), retry)
        }
    }
}

/// The status and message for a request refused before decoding finished. Its records cannot be
/// counted, so a refused request counts as one rejected record (`too_large` or `malformed`).
pub(super) fn reject_status(
    reject: Reject,
    health: &cairn_metrics::CairnMetrics,
    signal: cairn_metrics::Signal,
) -> (StatusCode, String) {
    match reject {
        Reject::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
        Reject::TooLarge(m) => {
            health.spans_rejected(signal, RejectReason::TooLarge, 1);
            (StatusCode::PAYLOAD_TOO_LARGE, m)
        }
        Reject::Malformed(m) => {
            health.spans_rejected(signal, RejectReason::Malformed, 1);
            (StatusCode::BAD_REQUEST, m)
        }
        Reject::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
    }
}

/// Reads, decompresses, decodes, validates, normalizes and encodes the request's records.
async fn prepare(
    ingest: &Ingest,
    signal: Signal,
    project: &str,
    format: Format,
    headers: &HeaderMap,
    body: Body,
    received: &mut u64,
) -> Result<Prepared, Reject> {
    let limits = ingest.limits.clone();
    let project = project.to_owned();
    let privacy = Arc::clone(&ingest.privacy);
    let mut prepared = decode_body(ingest, headers, body, received, move |body| match signal {
        Signal::Traces => cairn_model::otlp::decode_traces(&body, format, &limits)
            .map(|decoded| Prepared::spans(decoded, &project, &privacy))
            .map_err(|e| Reject::Malformed(format!("invalid OTLP traces request: {e}"))),
        Signal::Logs => cairn_model::otlp::decode_logs(&body, format, &limits)
            .map(|decoded| Prepared::logs(decoded, &project, &privacy))
            .map_err(|e| Reject::Malformed(format!("invalid OTLP logs request: {e}"))),
    })
    .await?;
    match prepared.internal.take() {
        Some(message) => Err(Reject::Internal(message)),
        None => Ok(prepared),
    }
}

/// Reads a request body within `max_body_bytes` (a too-large `Content-Length` is refused before
/// reading), inflates gzip with the same limit, and runs `decode` on the result — on the blocking
/// pool when the body is big enough to stall the async workers. `received` is set to the bytes read
/// off the wire.
pub(super) async fn decode_body<T: Send + 'static>(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
    received: &mut u64,
    decode: impl FnOnce(Bytes) -> Result<T, Reject> + Send + 'static,
) -> Result<T, Reject> {
    let gzip = content_gzip(headers)?;
    let limit = ingest.max_body_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large(limit));
    }
    let raw = read_body(body, limit).await?;
    *received = raw.len() as u64;
    // Gzip inflates roughly tenfold on OTLP payloads.
    let blocking =
        raw.len() >= BLOCKING_THRESHOLD || (gzip && raw.len() >= BLOCKING_THRESHOLD / 16);
    let work = move || -> Result<T, Reject> {
        let body = if gzip {
            Bytes::from(gunzip(&raw, limit)?)
        } else {
            raw
        };
        decode(body)
    };
    if blocking {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Reject::Internal(format!("decoding task failed: {e}")))?
    } else {
        work()
    }
}

pub(super) fn too_large(limit: usize) -> Reject {
    Reject::TooLarge(format!("request body exceeds the limit of {limit} bytes"))
}

/// Collects the body, refusing it as soon as it exceeds `limit` bytes.
pub(super) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Reject> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Reject::Malformed(format!("cannot read request body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Inflates a gzip body (multi-member), allocating at most `limit + 1` bytes.
pub(super) fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, Reject> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(raw)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Reject::Malformed(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Reject::TooLarge(format!(
            "decompressed request body exceeds the limit of {limit} bytes"
        )));
    }
    Ok(out)
}

/// The request's OTLP encoding from its `Content-Type`.
fn content_format(headers: &HeaderMap) -> Result<Format, String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("missing content-type: use application/x-protobuf or application/json".into());
    };
    let value = value.to_str().unwrap_or_default();
    Format::from_content_type(value).ok_or_else(|| {
        format!(
            "unsupported content-type {value:?}: use application/x-protobuf or application/json"
        )
    })
}

/// Whether the body is gzip-compressed; other encodings are refused.
pub(super) fn content_gzip(headers: &HeaderMap) -> Result<bool, Reject> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let value = value
        .to_str()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match value.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        _ => Err(Reject::UnsupportedMediaType(format!(
            "unsupported content-encoding {value:?}: use gzip or none"
        ))),
    }
}

fn content_type(format: Format) -> HeaderValue {
    HeaderValue::from_static(format.content_type())
}

fn success_response(format: Format, signal: Signal, result: &ExportResult) -> Response {
    let rejected = i64::try_from(result.rejected).unwrap_or(i64::MAX);
    let partial = result.rejected > 0 || !result.message.is_empty();
    let body = match format {
        Format::Protobuf => match signal {
            Signal::Traces => ExportTraceServiceResponse {
                partial_success: partial.then(|| ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: result.message.clone(),
                }),
            }
            .encode_to_vec(),
            Signal::Logs => ExportLogsServiceResponse {
                partial_success: partial.then(|| ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: result.message.clone(),
                }),
            }
            .encode_to_vec(),
        },
        // OTLP/JSON is the protobuf JSON mapping: lowerCamelCase keys, int64 as a string.
        Format::Json => {
            let key = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Logs => "rejectedLogRecords",
            };
            let value = if partial {
                serde_json::json!({
                    "partialSuccess": { key: rejected.to_string(), "errorMessage": result.message }
                })
            } else {
                serde_json::json!({})
            };
            value.to_string().into_bytes()
        }
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type(format))],
        body,
    )
        .into_response()
}

pub(super) fn error_response(
    format: Format,
    status: StatusCode,
    message: &str,
    retry_after_secs: Option<u64>,
) -> Response {
    let code = grpc_code_for(status) as i32;
    let body = match format {
        Format::Protobuf => RpcStatus {
            code,
            message: message.to_owned(),
            details: Vec::new(),
        }
        .encode_to_vec(),
        Format::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    let mut response =
        (status, [(header::CONTENT_TYPE, content_type(format))], body).into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The gRPC code the OTLP specification pairs with an HTTP status.
fn grpc_code_for(status: StatusCode) -> tonic::Code {
    match status {
        StatusCode::BAD_REQUEST => tonic::Code::InvalidArgument,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => {
            tonic::Code::ResourceExhausted
        }
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => tonic::Code::Unimplemented,
        _ => tonic::Code::Internal,
    }
}

/// How long a client may take to send the headers of a request (HTTP/1), counted from the first
/// byte of the request (or from the end of the previous request on a kept-alive connection). A
/// client slower than that (slowloris) has its connection closed; hyper answers 408 when part of
/// the request arrived.
pub(crate) const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` turns true, then lets open connections finish
/// their requests (graceful shutdown) and returns.
///
/// This replaces `axum::serve`, which gives hyper no timer, so hyper's HTTP/1 header-read timeout
/// never fires and a client trickling header bytes holds its connection forever. Here each
/// connection is served by hyper-util's HTTP/1 + HTTP/2 builder with a Tokio timer and
/// [`HEADER_READ_TIMEOUT`]; everything else (upgrades, keep-alive, the 431 for oversized headers)
/// is hyper's default, as with `axum::serve`.
///
/// Any [`axum::serve::Listener`] works: plain TCP, or the TLS listener (`crate::tls`), whose
/// `accept` completes the handshake in its own task first. Accept errors (out of file
/// descriptors and the like) are handled inside `accept`, as `axum::serve` does.
pub(crate) async fn serve<L>(
    mut listener: L,
    router: Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String>
where
    L: axum::serve::Listener,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    // Every connection task holds a receiver; the sender's `closed()` completes when all are gone.
    let (connections, open) = tokio::sync::watch::channel(());
    loop {
        let stream = tokio::select! {
            (stream, _) = listener.accept() => stream,
            // (The `Ref` the wait returns is not `Send`; drop it inside the branch future.)
            () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let mut shutdown = shutdown.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::trace!(error = %err, "connection ended with an error");
                    }
                }
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open);
    connections.closed().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_round_trips_below_the_limit() {
        let data = b"hello otlp".repeat(100);
        assert_eq!(gunzip(&gzip(&data), data.len()).unwrap(), data);
    }

    #[test]
    fn gunzip_stops_a_bomb_at_the_limit() {
        let bomb = gzip(&vec![0u8; 8 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        match gunzip(&bomb, 1024 * 1024) {
            Err(Reject::TooLarge(m)) => assert!(m.contains("1048576"), "{m}"),
            other => panic!("expected too large, got {other:?}"),
        }
    }

    #[test]
    fn gunzip_rejects_garbage() {
        assert!(matches!(
            gunzip(b"not gzip at all", 1024),
            Err(Reject::Malformed(_))
        ));
    }

    #[test]
    fn content_types_and_encodings() {
        let mut h = HeaderMap::new();
        assert!(content_format(&h).is_err());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(matches!(content_format(&h), Ok(Format::Json)));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        assert!(matches!(content_format(&h), Ok(Format::Protobuf)));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        assert!(content_format(&h).unwrap_err().contains("text/xml"));

        assert!(matches!(content_gzip(&h), Ok(false)));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(matches!(content_gzip(&h), Ok(true)));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(matches!(
            content_gzip(&h),
            Err(Reject::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn error_bodies_are_rpc_status_in_the_request_encoding() {
        let r = error_response(
            Format::Protobuf,
            StatusCode::TOO_MANY_REQUESTS,
            "queue is full",
            Some(3),
        );
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/x-protobuf");
        let r = error_response(Format::Json, StatusCode::BAD_REQUEST, "bad", None);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
