//! The OTLP forwarder against an in-test OTLP/HTTP receiver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_export::config::OtlpConfig;
use cairn_export::{ExportRunner, OtlpExporter, RetryConfig, RunnerOptions, Shutdown};
use cairn_model::otlp::{Limits, logs_from_request, spans_from_request};
use cairn_model::{LogRecord, Record, Span};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::support::http::{Handler, Reply, Request, Server};
use crate::support::ledger;

#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    logs: Vec<LogRecord>,
    headers: Vec<Option<String>>,
}

#[test]
fn forwards_spans_and_logs_losslessly_through_503_and_400() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 400, 53, 9);
    let received = Arc::new(Mutex::new(Received::default()));
    let requests = Arc::new(AtomicU64::new(0));
    let sink = Arc::clone(&received);
    let counter = Arc::clone(&requests);
    let handler: Handler = Arc::new(move |req: &Request| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            return Reply::Respond {
                status: 503,
                headers: vec![("Retry-After".into(), "0".into())],
                body: b"busy".to_vec(),
            };
        }
        if req.header("content-type") != Some("application/x-protobuf") {
            return Reply::json(415, &serde_json::json!({}));
        }
        let mut sink = sink.lock().expect("sink");
        sink.headers
            .push(req.header("x-scope-orgid").map(str::to_owned));
        match req.path.as_str() {
            "/v1/traces" => {
                let Ok(request) = ExportTraceServiceRequest::decode(&req.body[..]) else {
                    return Reply::json(400, &serde_json::json!({}));
                };
                let decoded = spans_from_request(request, &Limits::default());
                if decoded.spans.iter().any(|s| s.name.starts_with("poison")) {
                    return Reply::Respond {
                        status: 400,
                        headers: vec![],
                        body: b"invalid span".to_vec(),
                    };
                }
                sink.spans.extend(decoded.spans);
            }
            "/v1/logs" => {
                let Ok(request) = ExportLogsServiceRequest::decode(&req.body[..]) else {
                    return Reply::json(400, &serde_json::json!({}));
                };
                sink.logs
                    .extend(logs_from_request(request, &Limits::default()).logs);
            }
            _ => return Reply::json(404, &serde_json::json!({})),
        }
        Reply::Respond {
            status: 200,
            headers: vec![("Content-Type".into(), "application/x-protobuf".into())],
            body: Vec::new(),
        }
    });
    let server = Server::start(handler);
    let config = OtlpConfig {
        endpoint: server.url(),
        headers: [("x-scope-orgid".to_owned(), "tenant-1".to_owned())].into(),
        timeout: Duration::from_secs(5),
        ..OtlpConfig::default()
    };
    let state = dir.path().join("state");
    let options = RunnerOptions {
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(10),
            max_attempts: 0,
        },
        follow: false,
        ..RunnerOptions::follow("otlp", &state)
    };
    let exporter = OtlpExporter::new(config).expect("exporter");
    let summary = ExportRunner::new(Arc::clone(&ledger), exporter, options, Shutdown::new())
        .run()
        .expect("run");
    assert_eq!(summary.next_index, 400);

    let received = received.lock().expect("received");
    let expected_spans: Vec<Span> = contents
        .spans
        .iter()
        .map(
            |&i| match cairn_model::codec::decode(&ledger.read_entry(i).expect("read")) {
                Ok(Record::Span(span)) => span,
                other => panic!("entry {i} is not a span: {other:?}"),
            },
        )
        .collect();
    assert_eq!(
        received.spans, expected_spans,
        "spans arrive once, unchanged, in order"
    );
    assert_eq!(received.logs.len(), contents.logs.len());
    assert!(
        received
            .headers
            .iter()
            .all(|h| h.as_deref() == Some("tenant-1"))
    );
    let dead = crate::elasticsearch::dead_letter_indices(&state);
    assert_eq!(dead, contents.poison);
    assert_eq!(summary.stats.dead_lettered, contents.poison.len() as u64);
}
