//! OTLP/gRPC: `opentelemetry.proto.collector.{trace,logs,metrics}.v1.*Service/Export` (metrics:
//! see [`super::metrics`]).
//!
//! | Situation | gRPC status |
//! |---|---|
//! | accepted (some records may be rejected) | `OK` with `partial_success` |
//! | message above `max_body_bytes` as sent | `OUT_OF_RANGE` (tonic's decoder limit; not retryable) |
//! | compressed message above `max_body_bytes` once inflated | `RESOURCE_EXHAUSTED` without `RetryInfo` (tonic stops inflating at the limit) |
//! | ingest queue full | `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` (so OTLP clients retry) |
//! | ledger disk full, server shutting down | `UNAVAILABLE` with a `google.rpc.RetryInfo` |
//! | every record in the request invalid | `INVALID_ARGUMENT` with the reasons |
//! | message that is not valid protobuf | `INVALID_ARGUMENT` with the decoder's message |
//! | ledger failure | `INTERNAL` |
//!
//! Requests may be gzip-compressed (`grpc-encoding: gzip`); answers are compressed when the client
//! accepts it.
//!
//! Traces and logs are served by [`RawExportServer`], not by the servers `opentelemetry-proto`
//! generates: those decode the message with prost before Cairn sees it, and prost refuses a whole
//! message for one invalid UTF-8 string. `RawExportServer` hands Cairn the message bytes (after
//! tonic's framing, decompression and size limit) and decodes them with
//! [`cairn_model::otlp::decode_traces`] / [`decode_logs`](cairn_model::otlp::decode_logs), the
//! decoder OTLP/HTTP uses, so a record with a bad string is rejected alone (`partial_success`) over
//! both transports.

use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;
use std::marker::PhantomData;

use bytes::{Buf as _, Bytes};
use cairn_model::otlp::Format;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};

use cairn_metrics::{Protocol, RejectReason};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;

use super::rpc::status_with_retry;
use super::{ExportResult, Ingest, Prepared, Signal};
use crate::auth::Principal;
use crate::pipeline::appender::SubmitError;

/// Messages of at least this many bytes are decoded and normalized on the blocking pool.
const BLOCKING_BYTES: usize = 256 * 1024;

/// The OTLP gRPC service implementation (one value serves both signals).
#[derive(Debug, Clone)]
pub(crate) struct OtlpGrpc {
    ingest: Arc<Ingest>,
}

impl OtlpGrpc {
    pub(crate) fn new(ingest: Arc<Ingest>) -> Self {
        Self { ingest }
    }

    pub(super) fn ingest(&self) -> &Ingest {
        &self.ingest
    }

    /// The tonic services for the three signals, with gzip and the body limit configured.
    pub(crate) fn services(
        self,
    ) -> (
        RawExportServer<Traces>,
        RawExportServer<Logs>,
        MetricsServiceServer<OtlpGrpc>,
    ) {
        let limit = self.ingest.max_body_bytes;
        let metrics = MetricsServiceServer::new(self.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        let traces = RawExportServer::new(self.clone());
        let logs = RawExportServer::new(self);
        (traces, logs, metrics)
    }

    /// Handles one request and counts it; `received` is the message's encoded size.
    async fn run(
        &self,
        signal: Signal,
        received: u64,
        prepare: impl FnOnce() -> Result<Prepared, Status> + Send + 'static,
    ) -> Result<ExportResult, Status> {
        let started = std::time::Instant::now();
        let blocking = usize::try_from(received).is_ok_and(|n| n >= BLOCKING_BYTES);
        let result = self.run_uncounted(signal, blocking, prepare).await;
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        self.ingest.count_request(
            Protocol::Grpc,
            signal.metric(),
            grpc_code_name(code),
            started,
            received,
        );
        result
    }

    async fn run_uncounted(
        &self,
        signal: Signal,
        blocking: bool,
        prepare: impl FnOnce() -> Result<Prepared, Status> + Send + 'static,
    ) -> Result<ExportResult, Status> {
        let prepared = if blocking {
            tokio::task::spawn_blocking(prepare)
                .await
                .map_err(|e| Status::internal(format!("decoding task failed: {e}")))?
        } else {
            prepare()
        };
        let mut prepared = prepared.inspect_err(|_| {
            self.ingest.metrics.health().spans_rejected(
                signal.metric(),
                RejectReason::Malformed,
                1,
            );
        })?;
        if let Some(message) = prepared.internal.take() {
            return Err(Status::internal(message));
        }
        if prepared.entries.is_empty() && prepared.rejected > 0 {
            self.ingest.metrics.health().spans_rejected(
                signal.metric(),
                RejectReason::Validation,
                prepared.rejected as u64,
            );
            return Err(Status::invalid_argument(prepared.message));
        }
        self.ingest
            .commit(prepared, signal)
            .await
            .map_err(|err| status_for(&err, Duration::from_secs(self.ingest.retry_after_secs)))
    }
}

/// The gRPC status for a failed commit. Retryable answers carry a `RetryInfo` with the configured
/// delay: OTLP clients retry `RESOURCE_EXHAUSTED` only when it is present.
fn status_for(err: &SubmitError, retry_after: Duration) -> Status {
    match err {
        SubmitError::QueueFull { .. } => {
            status_with_retry(Code::ResourceExhausted, err.to_string(), retry_after)
        }
        SubmitError::DiskFull(_) | SubmitError::ShuttingDown => {
            status_with_retry(Code::Unavailable, err.to_string(), retry_after)
        }
        SubmitError::Ledger(_) => Status::internal(err.to_string()),
    }
}

/// The gRPC code name used as the `code` label (`OK`, `RESOURCE_EXHAUSTED` …).
pub(super) fn grpc_code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The project the [`crate::auth::GrpcAuth`] interceptor authenticated.
fn project_of<T>(request: &Request<T>) -> String {
    request.extensions().get::<Principal>().map_or_else(
        || crate::auth::DEFAULT_PROJECT.to_owned(),
        |p| p.project.clone(),
    )
}

fn partial(result: &ExportResult) -> Option<(i64, String)> {
    (result.rejected > 0 || !result.message.is_empty()).then(|| {
        (
            i64::try_from(result.rejected).unwrap_or(i64::MAX),
            result.message.clone(),
        )
    })
}

impl OtlpGrpc {
    /// `TraceService/Export` with the message as bytes.
    async fn export_traces(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let project = project_of(&request);
        let body = request.into_inner();
        let limits = self.ingest.limits.clone();
        let privacy = Arc::clone(&self.ingest.privacy);
        let result = self
            .run(Signal::Traces, body.len() as u64, move || {
                cairn_model::otlp::decode_traces(&body, Format::Protobuf, &limits)
                    .map(|decoded| Prepared::spans(decoded, &project, &privacy))
                    .map_err(|e| {
                        Status::invalid_argument(format!("invalid OTLP traces request: {e}"))
                    })
            })
            .await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: partial(&result).map(|(rejected_spans, error_message)| {
                ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }
            }),
        }))
    }

    /// `LogsService/Export` with the message as bytes.
    async fn export_logs(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let project = project_of(&request);
        let body = request.into_inner();
        let limits = self.ingest.limits.clone();
        let privacy = Arc::clone(&self.ingest.privacy);
        let result = self
            .run(Signal::Logs, body.len() as u64, move || {
                cairn_model::otlp::decode_logs(&body, Format::Protobuf, &limits)
                    .map(|decoded| Prepared::logs(decoded, &project, &privacy))
                    .map_err(|e| {
                        Status::invalid_argument(format!("invalid OTLP logs request: {e}"))
                    })
            })
            .await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: partial(&result).map(|(rejected_log_records, error_message)| {
                ExportLogsPartialSuccess {
                    rejected_log_records,
                    error_message,
                }
            }),
        }))
    }
}

/// One OTLP signal served by [`RawExportServer`]: its gRPC names and its export handler.
pub(crate) trait ExportSignal: Send + Sync + 'static {
    /// Fully qualified service name.
    const SERVICE: &'static str;
    /// Path of the unary `Export` method.
    const PATH: &'static str;
    /// The `Export*ServiceResponse` message.
    type Response: prost::Message + Default + Send + 'static;
    /// Handles one export.
    fn export(
        grpc: OtlpGrpc,
        request: Request<Bytes>,
    ) -> BoxFuture<Response<Self::Response>, Status>;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traces;

impl ExportSignal for Traces {
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Response = ExportTraceServiceResponse;
    fn export(
        grpc: OtlpGrpc,
        request: Request<Bytes>,
    ) -> BoxFuture<Response<Self::Response>, Status> {
        Box::pin(async move { grpc.export_traces(request).await })
    }
}

/// `opentelemetry.proto.collector.logs.v1.LogsService`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Logs;

impl ExportSignal for Logs {
    const SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    type Response = ExportLogsServiceResponse;
    fn export(
        grpc: OtlpGrpc,
        request: Request<Bytes>,
    ) -> BoxFuture<Response<Self::Response>, Status> {
        Box::pin(async move { grpc.export_logs(request).await })
    }
}

/// A gRPC server for one OTLP `Export` service whose request message reaches Cairn as bytes (see
/// the module docs for why). Framing, gzip, the message size limit and the response encoding
/// are tonic's, configured as for the generated servers.
#[derive(Debug)]
pub(crate) struct RawExportServer<S> {
    grpc: OtlpGrpc,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for RawExportServer<S> {
    fn clone(&self) -> Self {
        Self {
            grpc: self.grpc.clone(),
            signal: PhantomData,
        }
    }
}

impl<S: ExportSignal> RawExportServer<S> {
    fn new(grpc: OtlpGrpc) -> Self {
        Self {
            grpc,
            signal: PhantomData,
        }
    }
}

impl<S: ExportSignal> NamedService for RawExportServer<S> {
    const NAME: &'static str = S::SERVICE;
}

impl<S: ExportSignal> Service<http::Request<tonic::body::Body>> for RawExportServer<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let grpc = self.grpc.clone();
        Box::pin(async move {
            if req.uri().path() != S::PATH {
                return Ok(
                    Status::unimplemented(format!("unknown method {}", req.uri().path()))
                        .into_http(),
                );
            }
            let limit = grpc.ingest.max_body_bytes;
            let mut server = tonic::server::Grpc::new(BytesCodec::<S::Response>(PhantomData))
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(limit);
            Ok(server.unary(ExportMethod::<S>::new(grpc), req).await)
        })
    }
}

/// The `Export` method of one signal as tonic's unary service.
struct ExportMethod<S> {
    grpc: OtlpGrpc,
    signal: PhantomData<fn() -> S>,
}

impl<S> ExportMethod<S> {
    fn new(grpc: OtlpGrpc) -> Self {
        Self {
            grpc,
            signal: PhantomData,
        }
    }
}

impl<S: ExportSignal> UnaryService<Bytes> for ExportMethod<S> {
    type Response = S::Response;
    type Future = BoxFuture<Response<S::Response>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        S::export(self.grpc.clone(), request)
    }
}

/// Decodes a request message as its raw bytes and encodes responses with prost.
struct BytesCodec<E>(PhantomData<fn() -> E>);

impl<E: prost::Message + Send + 'static> Codec for BytesCodec<E> {
    type Encode = E;
    type Decode = Bytes;
    type Encoder = ProstEncoder<E>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

struct ProstEncoder<E>(PhantomData<fn() -> E>);

impl<E: prost::Message> Encoder for ProstEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(format!("cannot encode the response: {e}")))
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}
