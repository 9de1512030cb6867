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
//! | message that is not valid protobuf | `INTERNAL`, from tonic's decoder before Cairn sees the message (what gRPC's status-code guide prescribes for a parse error; OTLP would prefer `INVALID_ARGUMENT`) |
//! | ledger failure | `INTERNAL` |
//!
//! Requests may be gzip-compressed (`grpc-encoding: gzip`); answers are compressed when the client
//! accepts it.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};

use cairn_metrics::{Protocol, RejectReason};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
use prost::Message as _;

use super::rpc::status_with_retry;
use super::{ExportResult, Ingest, Prepared, Signal};
use crate::auth::Principal;
use crate::pipeline::appender::SubmitError;

/// Requests with at least this many spans or log records are normalized on the blocking pool.
const BLOCKING_RECORDS: usize = 1000;

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
        TraceServiceServer<OtlpGrpc>,
        LogsServiceServer<OtlpGrpc>,
        MetricsServiceServer<OtlpGrpc>,
    ) {
        let limit = self.ingest.max_body_bytes;
        let metrics = MetricsServiceServer::new(self.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        let traces = TraceServiceServer::new(self.clone())
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        let logs = LogsServiceServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit);
        (traces, logs, metrics)
    }

    /// Handles one request and counts it; `received` is the message's encoded size.
    async fn run(
        &self,
        signal: Signal,
        count: usize,
        received: u64,
        prepare: impl FnOnce() -> Prepared + Send + 'static,
    ) -> Result<ExportResult, Status> {
        let started = std::time::Instant::now();
        let result = self.run_uncounted(signal, count, prepare).await;
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
        count: usize,
        prepare: impl FnOnce() -> Prepared + Send + 'static,
    ) -> Result<ExportResult, Status> {
        let mut prepared = if count >= BLOCKING_RECORDS {
            tokio::task::spawn_blocking(prepare)
                .await
                .map_err(|e| Status::internal(format!("decoding task failed: {e}")))?
        } else {
            prepare()
        };
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

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let project = project_of(&request);
        let request = request.into_inner();
        let received = request.encoded_len() as u64;
        let count = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let limits = self.ingest.limits.clone();
        let privacy = Arc::clone(&self.ingest.privacy);
        let result = self
            .run(Signal::Traces, count, received, move || {
                Prepared::spans(
                    cairn_model::otlp::spans_from_request(request, &limits),
                    &project,
                    &privacy,
                )
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
}

#[tonic::async_trait]
impl LogsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let project = project_of(&request);
        let request = request.into_inner();
        let received = request.encoded_len() as u64;
        let count = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        let limits = self.ingest.limits.clone();
        let privacy = Arc::clone(&self.ingest.privacy);
        let result = self
            .run(Signal::Logs, count, received, move || {
                Prepared::logs(
                    cairn_model::otlp::logs_from_request(request, &limits),
                    &project,
                    &privacy,
                )
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
