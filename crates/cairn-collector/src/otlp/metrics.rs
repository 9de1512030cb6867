//! OTLP metrics: `POST /v1/metrics` and `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
//!
//! Metric data points are not audit records: they skip the ledger and go straight to
//! [`cairn_metrics::OtlpMetricsSink`], which re-exposes them on `/metrics` under their
//! OpenTelemetry → Prometheus names. Answers follow OTLP: `200`/`OK`, with `partial_success`
//! (`rejected_data_points` and the reasons) when some points were dropped.
//!
//! Over HTTP both OTLP encodings are accepted, optionally gzip: `application/x-protobuf`, and
//! OTLP/JSON (`application/json`, the protobuf JSON mapping: lowerCamelCase keys, 64-bit integers
//! as strings or numbers, `"NaN"`/`"Infinity"` for special doubles), decoded with
//! `opentelemetry-proto`'s serde support — metrics never reach the ledger, so Cairn's own
//! span JSON decoder (which keeps every value for the audit record) is not needed here. The answer
//! uses the request's encoding. Requests are counted with `signal="metrics"`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_metrics::{IngestReport, Protocol, RejectReason, Signal};
use cairn_model::otlp::Format;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message as _;
use std::sync::Arc;
use tonic::{Request, Status};

use super::Ingest;
use super::grpc::{OtlpGrpc, grpc_code_name};
use super::http::{Reject, decode_body, error_response, reject_status};

/// `POST /v1/metrics`.
pub(super) async fn export_http(
    State(ingest): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut received = 0;
    let response = export_counted(&ingest, &headers, body, &mut received).await;
    ingest.count_request(
        Protocol::Http,
        Signal::Metrics,
        response.status().as_str(),
        started,
        received,
    );
    response
}

async fn export_counted(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
    received: &mut u64,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(format) = Format::from_content_type(content_type) else {
        let message = format!(
            "unsupported content-type {content_type:?} on /v1/metrics: use application/x-protobuf \
             or application/json"
        );
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response();
    };
    let health = ingest.metrics.health();
    match decode_and_ingest(ingest, format, headers, body, received).await {
        Ok(report) => {
            count_report(ingest, &report);
            let response = response_for(report);
            let body = match format {
                Format::Protobuf => response.encode_to_vec(),
                Format::Json => json_response(&response),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, format.content_type())],
                body,
            )
                .into_response()
        }
        Err(reject) => {
            let (status, message) = reject_status(reject, health, Signal::Metrics);
            error_response(format, status, &message, None)
        }
    }
}

async fn decode_and_ingest(
    ingest: &Ingest,
    format: Format,
    headers: &HeaderMap,
    body: Body,
    received: &mut u64,
) -> Result<IngestReport, Reject> {
    let sink = Arc::clone(ingest.metrics.otlp());
    decode_body(ingest, headers, body, received, move |body| {
        let request = decode_request(&body, format)?;
        Ok(sink.ingest(request))
    })
    .await
}

/// Decodes one `ExportMetricsServiceRequest` in either OTLP encoding.
fn decode_request(body: &[u8], format: Format) -> Result<ExportMetricsServiceRequest, Reject> {
    match format {
        Format::Protobuf => ExportMetricsServiceRequest::decode(body)
            .map_err(|e| Reject::Malformed(format!("invalid OTLP metrics request: {e}"))),
        // serde_json's recursion limit (128) bounds nesting, so hostile depth is an error.
        Format::Json => serde_json::from_slice(body)
            .map_err(|e| Reject::Malformed(format!("invalid OTLP/JSON metrics request: {e}"))),
    }
}

/// The OTLP/JSON answer: `{}` or `{"partialSuccess":{"rejectedDataPoints":"N","errorMessage":…}}`
/// (int64 as a string, as the protobuf JSON mapping writes it).
fn json_response(response: &ExportMetricsServiceResponse) -> Vec<u8> {
    let value = match &response.partial_success {
        Some(partial) => serde_json::json!({
            "partialSuccess": {
                "rejectedDataPoints": partial.rejected_data_points.to_string(),
                "errorMessage": partial.error_message,
            }
        }),
        None => serde_json::json!({}),
    };
    value.to_string().into_bytes()
}

/// Counts accepted and rejected data points.
fn count_report(ingest: &Ingest, report: &IngestReport) {
    let health = ingest.metrics.health();
    health.spans_accepted(Signal::Metrics, report.accepted);
    health.spans_rejected(Signal::Metrics, RejectReason::Validation, report.rejected);
}

fn response_for(report: IngestReport) -> ExportMetricsServiceResponse {
    ExportMetricsServiceResponse {
        partial_success: (report.rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(report.rejected).unwrap_or(i64::MAX),
            error_message: report.message,
        }),
    }
}

#[tonic::async_trait]
impl MetricsService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let received = request.encoded_len() as u64;
        let ingest = self.ingest();
        let sink = Arc::clone(ingest.metrics.otlp());
        let result = tokio::task::spawn_blocking(move || sink.ingest(request))
            .await
            .map_err(|e| Status::internal(format!("ingest task failed: {e}")));
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        ingest.count_request(
            Protocol::Grpc,
            Signal::Metrics,
            grpc_code_name(code),
            started,
            received,
        );
        let report = result?;
        count_report(ingest, &report);
        Ok(tonic::Response::new(response_for(report)))
    }
}
