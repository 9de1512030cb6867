//! End-to-end tests of the collector library: a real server on ephemeral ports, real OTLP over
//! HTTP and gRPC, the query and audit API, shutdown, restart and reindex.

mod auth;
mod errors;
mod harness;
mod privacy;
mod ui_api;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use harness::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message as _;
use serde_json::Value;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(span_id, parent_span_id, name, kind)` of every span of a trace, sorted.
fn shape(trace: &Value) -> Vec<(String, Option<String>, String, String)> {
    let mut out: Vec<_> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["span_id"].as_str().unwrap().to_owned(),
                s["parent_span_id"].as_str().map(str::to_owned),
                s["name"].as_str().unwrap().to_owned(),
                s["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn expected_shape(seed: u64) -> Vec<(String, Option<String>, String, String)> {
    let root = hex(&span_id(seed * 10));
    let mut v = vec![
        (
            root.clone(),
            None,
            "invoke_agent planner".to_owned(),
            "agent".to_owned(),
        ),
        (
            hex(&span_id(seed * 10 + 1)),
            Some(root.clone()),
            "chat gpt-4o".to_owned(),
            "llm".to_owned(),
        ),
        (
            hex(&span_id(seed * 10 + 2)),
            Some(root),
            "execute_tool web_search".to_owned(),
            "tool".to_owned(),
        ),
    ];
    v.sort();
    v
}

#[test]
fn protobuf_export_is_durable_indexed_and_queryable() {
    let srv = TestServer::start(|_| {});
    let answer = post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(1)),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/x-protobuf");
    let response = ExportTraceServiceResponse::decode(answer.body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None);
    assert_eq!(srv.server().ledger_size(), 3, "acknowledged means durable");

    srv.wait_indexed();
    let trace = srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(1))));
    assert_eq!(trace["trace_id"], hex(&trace_id(1)));
    assert_eq!(shape(&trace), expected_shape(1));
    let mut ledger_indices: Vec<u64> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ledger_index"].as_u64().unwrap())
        .collect();
    ledger_indices.sort_unstable();
    assert_eq!(ledger_indices, vec![0, 1, 2]);

    let list = srv.get_json("/api/v1/traces?agent=planner");
    let traces = list["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0]["span_count"], 3);
    assert_eq!(traces[0]["tool_call_count"], 1);
    assert_eq!(traces[0]["input_tokens"], 100);
    assert_eq!(
        srv.get_json("/api/v1/traces?agent=nobody")["traces"],
        serde_json::json!([])
    );
}

#[test]
fn json_export_answers_json_and_gzip_is_inflated() {
    let srv = TestServer::start(|_| {});
    let t = hex(&trace_id(2));
    let body = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": t, "spanId": "00000000000000aa", "name": "execute_tool grep",
                "kind": 1, "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                    {"key": "gen_ai.tool.name", "value": {"stringValue": "grep"}}
                ]
            }]}]
        }]
    })
    .to_string();
    let answer = post(&srv.http_url("/v1/traces"), &[JSON], body.as_bytes());
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&answer.body).unwrap(),
        serde_json::json!({})
    );

    // The same over gzip, protobuf this time.
    let answer = post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF, GZIP],
        &gzip(&protobuf(agent_run(3))),
    );
    assert_eq!(answer.status, 200);
    // And JSON + gzip.
    let body = body.replace(&t, &hex(&trace_id(4)));
    let answer = post(
        &srv.http_url("/v1/traces"),
        &[JSON, GZIP],
        &gzip(body.as_bytes()),
    );
    assert_eq!(answer.status, 200);

    srv.wait_indexed();
    let trace = srv.get_json(&format!("/api/v1/traces/{t}"));
    assert_eq!(trace["spans"][0]["kind"], "tool");
    assert_eq!(trace["spans"][0]["attributes"]["gen_ai.tool.name"], "grep");
    assert_eq!(
        shape(&srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(3))))),
        expected_shape(3)
    );
    srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(4))));
}

#[test]
fn bad_requests_get_the_otlp_status_codes() {
    let srv = TestServer::start(|c| c.otlp.max_body_bytes = 64 * 1024);
    let url = srv.http_url("/v1/traces");

    // 400: not protobuf, with a google.rpc.Status message in the request's encoding.
    let answer = post(&url, &[PROTOBUF], b"\xff\xff\xff garbage");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.content_type, "application/x-protobuf");
    assert!(String::from_utf8_lossy(&answer.body).contains("protobuf"));
    let answer = post(&url, &[JSON], b"{\"resourceSpans\": 7}");
    assert_eq!(answer.status, 400);
    let status: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(status["code"], 3, "INVALID_ARGUMENT");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("resourceSpans"),
        "{status}"
    );
    assert_eq!(post(&url, &[PROTOBUF, GZIP], b"not gzip").status, 400);

    // 413: too large as sent, and too large only after decompression (a gzip bomb).
    // The server answers 413 from Content-Length without reading the body and closes the
    // connection, so a client still writing can see the connection reset before the answer (a
    // race in every HTTP server that refuses early); either way nothing may be accepted.
    match ureq::post(&url)
        .set(PROTOBUF.0, PROTOBUF.1)
        .send_bytes(&vec![0u8; 64 * 1024 + 1])
    {
        Err(ureq::Error::Status(status, _)) => assert_eq!(status, 413),
        Ok(r) => panic!("an oversized body was accepted: {}", r.status()),
        Err(ureq::Error::Transport(t)) => {
            let text = t.to_string();
            assert!(
                text.contains("Broken pipe") || text.contains("reset"),
                "unexpected transport error: {text}"
            );
        }
    }
    let bomb = gzip(&vec![0u8; 32 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "the bomb itself is small");
    let answer = post(&url, &[PROTOBUF, GZIP], &bomb);
    assert_eq!(answer.status, 413);
    assert!(String::from_utf8_lossy(&answer.body).contains("decompressed"));

    // 415: unsupported content type or encoding.
    assert_eq!(
        post(&url, &[("content-type", "text/plain")], b"x").status,
        415
    );
    assert_eq!(
        post(&url, &[PROTOBUF, ("content-encoding", "br")], b"x").status,
        415
    );
    assert_eq!(post(&url, &[], b"x").status, 415);

    // 400 too when every span is invalid; nothing reached the ledger.
    let mut bad = agent_run(5);
    for s in &mut bad {
        s.trace_id = vec![0; 16];
    }
    assert_eq!(post(&url, &[PROTOBUF], &protobuf(bad)).status, 400);
    assert_eq!(srv.server().ledger_size(), 0);
}

#[test]
fn a_bad_span_is_a_partial_success() {
    let srv = TestServer::start(|_| {});
    let mut spans = agent_run(6);
    spans[2].end_time_unix_nano = spans[2].start_time_unix_nano - 1;
    let answer = post(&srv.http_url("/v1/traces"), &[PROTOBUF], &protobuf(spans));
    assert_eq!(answer.status, 200);
    let partial = ExportTraceServiceResponse::decode(answer.body.as_slice())
        .unwrap()
        .partial_success
        .expect("partial_success set");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("rejected 1 of 3 spans"),
        "{}",
        partial.error_message
    );
    assert_eq!(srv.server().ledger_size(), 2);

    // JSON answers carry it too (int64 as a string, per the protobuf JSON mapping).
    let json = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": hex(&trace_id(7)), "spanId": "0000000000000001", "name": "ok",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": hex(&trace_id(7)), "spanId": "0000000000000000", "name": "zero span id",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
    ]}]}]});
    let answer = post(
        &srv.http_url("/v1/traces"),
        &[JSON],
        json.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200);
    let v: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
    assert!(
        !v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_loses_nothing_acknowledged() {
    let srv = Arc::new(TestServer::start(|c| c.pipeline.queue_capacity = 1));
    let acked = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (srv, acked, throttled) = (srv.clone(), acked.clone(), throttled.clone());
            std::thread::spawn(move || {
                for n in 0..40u64 {
                    let seed = 1000 + t * 100 + n;
                    let answer = post(
                        &srv.http_url("/v1/traces"),
                        &[PROTOBUF],
                        &protobuf(agent_run(seed)),
                    );
                    match answer.status {
                        200 => {
                            acked.fetch_add(3, Ordering::SeqCst);
                        }
                        429 => {
                            assert_eq!(answer.retry_after.as_deref(), Some("1"));
                            throttled.fetch_add(1, Ordering::SeqCst);
                        }
                        other => panic!("unexpected status {other}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        throttled.load(Ordering::SeqCst) > 0,
        "no request was throttled"
    );
    assert_eq!(
        srv.server().ledger_size() as usize,
        acked.load(Ordering::SeqCst)
    );
    let metrics = srv.get("/metrics").1;
    for needle in [
        "cairn_ingest_requests_total{protocol=\"http\",signal=\"traces\",code=\"429\"}",
        "cairn_ingest_spans_rejected_total{signal=\"traces\",reason=\"overload\"}",
    ] {
        assert!(metrics.contains(needle), "missing {needle}: {metrics}");
    }
}

#[test]
fn log_records_are_kept_and_attached_to_their_span() {
    let srv = TestServer::start(|_| {});
    post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(8)),
    );
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_100_000_000,
                    event_name: "gen_ai.evaluation.result".into(),
                    trace_id: trace_id(8).to_vec(),
                    span_id: span_id(81).to_vec(),
                    attributes: vec![kv("gen_ai.evaluation.score.value", i(1))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let answer = post(
        &srv.http_url("/v1/logs"),
        &[PROTOBUF],
        &logs.encode_to_vec(),
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(srv.server().ledger_size(), 4);
    srv.wait_indexed();
    let trace = srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(8))));
    let text = trace.to_string();
    assert!(text.contains("gen_ai.evaluation.result"), "{text}");
}

#[test]
fn grpc_export_and_status_codes() {
    let srv = TestServer::start(|_| {});
    let endpoint = format!("http://{}", srv.grpc);
    srv.runtime.block_on(async {
        let mut client = TraceServiceClient::connect(endpoint).await.unwrap();
        let response = client
            .export(request(agent_run(9)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.partial_success, None);

        let mut spans = agent_run(10);
        spans[1].span_id = vec![0; 8];
        let response = client.export(request(spans)).await.unwrap().into_inner();
        assert_eq!(response.partial_success.unwrap().rejected_spans, 1);

        let mut bad = agent_run(11);
        for s in &mut bad {
            s.trace_id = vec![1, 2, 3];
        }
        let err = client.export(request(bad)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    });
    srv.wait_indexed();
    let trace = srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(9))));
    assert_eq!(shape(&trace), expected_shape(9));
    let metrics = srv.get("/metrics").1;
    for needle in [
        "cairn_ingest_requests_total{protocol=\"grpc\",signal=\"traces\",code=\"OK\"} 2",
        "cairn_ingest_requests_total{protocol=\"grpc\",signal=\"traces\",code=\"INVALID_ARGUMENT\"} 1",
        "cairn_ingest_spans_accepted_total{signal=\"traces\"} 5",
        "cairn_ingest_spans_rejected_total{signal=\"traces\",reason=\"validation\"} 4",
    ] {
        assert!(metrics.contains(needle), "missing {needle}: {metrics}");
    }
}

#[test]
fn grpc_full_queue_is_resource_exhausted_with_retry_info() {
    let srv = TestServer::start(|c| c.pipeline.queue_capacity = 1);
    let endpoint = format!("http://{}", srv.grpc);
    let (acked, throttled) = srv.runtime.block_on(async {
        let client = TraceServiceClient::connect(endpoint).await.unwrap();
        let calls = (0..64u64).map(|seed| {
            let mut client = client.clone();
            tokio::spawn(async move { client.export(request(agent_run(2000 + seed))).await })
        });
        let mut acked = 0;
        let mut throttled = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                Ok(_) => acked += 3,
                Err(status) => throttled.push(status),
            }
        }
        (acked, throttled)
    });
    assert!(!throttled.is_empty(), "no export was throttled");
    for status in &throttled {
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
        // google.rpc.Status { details: [Any { type_url: ".../google.rpc.RetryInfo", .. }] }:
        // field 3 of the details holds the type URL as plain bytes.
        let details = String::from_utf8_lossy(status.details());
        assert!(
            details.contains("type.googleapis.com/google.rpc.RetryInfo"),
            "{status:?}"
        );
    }
    assert_eq!(srv.server().ledger_size(), acked);
}

#[test]
fn grpc_messages_above_the_limit_are_refused() {
    let srv = TestServer::start(|c| c.otlp.max_body_bytes = 1024);
    let endpoint = format!("http://{}", srv.grpc);
    srv.runtime.block_on(async {
        let mut client = TraceServiceClient::connect(endpoint).await.unwrap();
        let mut spans = agent_run(12);
        spans[0].attributes.push(kv("big", s(&"x".repeat(4096))));
        let err = client.export(request(spans)).await.unwrap_err();
        // tonic's decoder refuses the message before it reaches the service; OUT_OF_RANGE is
        // not retryable under OTLP, which is right: resending the same message cannot succeed.
        assert_eq!(err.code(), tonic::Code::OutOfRange, "{err}");
        assert!(err.message().contains("1024"), "{err}");

        // Small on the wire, too large once inflated: stopped while decompressing.
        let mut client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        let mut spans = agent_run(13);
        spans[0]
            .attributes
            .push(kv("big", s(&"x".repeat(64 * 1024))));
        let err = client.export(request(spans)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
        assert!(err.message().contains("decompressing"), "{err}");
    });
    assert_eq!(srv.server().ledger_size(), 0);
}

#[test]
fn query_api_errors_are_json() {
    let srv = TestServer::start(|_| {});
    let check = |path: &str, status: u16, code: &str| {
        let (got, body) = srv.get(path);
        assert_eq!(got, status, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], code, "{path}: {body}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    };
    check(
        &format!("/api/v1/traces/{}", hex(&trace_id(99))),
        404,
        "not_found",
    );
    check("/api/v1/traces/not-hex", 400, "bad_request");
    check("/api/v1/traces?status=maybe", 400, "bad_request");
    check("/api/v1/traces?since=someday", 400, "bad_request");
    check("/api/v1/traces?cursor=garbage", 400, "bad_request");
    check("/api/v1/stats?group_by=planet", 400, "bad_request");
    check(
        &format!("/api/v1/traces?q={}", "a".repeat(9000)),
        413,
        "too_large",
    );
    check("/api/v1/audit/entries/5", 404, "not_found");
    check("/api/v1/audit/proof", 400, "bad_request");
    check("/api/v1/nope", 404, "not_found");
    assert_eq!(
        srv.get("/api/v1/traces?since=1h&until=2025-01-01T00:00:00Z")
            .0,
        200
    );
}

#[test]
fn audit_endpoints_serve_the_ledger() {
    let srv = TestServer::start(|_| {});
    post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(13)),
    );
    // A checkpoint is signed within the (100 ms) interval.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let note = loop {
        let (status, body) = srv.get("/api/v1/audit/checkpoint");
        if status == 200 && body.lines().nth(1) == Some("3") {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of size 3: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let key = srv.get("/api/v1/audit/key").1;
    assert_eq!(key.trim(), srv.server().verifier_key());
    assert!(
        note.starts_with(key.split('+').next().unwrap()),
        "origin line names the key: {note}"
    );
    assert_eq!(srv.get("/tlog/checkpoint").1, note);

    let entry = ureq::get(&srv.api_url("/api/v1/audit/entries/1"))
        .call()
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut entry.into_reader(), &mut bytes).unwrap();
    match cairn_model::codec::decode(&bytes).unwrap() {
        cairn_model::Record::Span(span) => assert_eq!(span.name, "chat gpt-4o"),
        other => panic!("unexpected record {other:?}"),
    }

    // The proof bundle checks offline with nothing but the key and the entry bytes.
    let (status, proof) = srv.get("/api/v1/audit/proof?index=1");
    assert_eq!(status, 200, "{proof}");
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1"), "{proof}");
    let verified = cairn_ledger::verify_bundle(&proof, key.trim(), Some(&bytes)).unwrap();
    assert_eq!((verified.index, verified.checkpoint.size), (1, 3));
    let mut tampered = bytes.clone();
    tampered[bytes.len() - 1] ^= 1;
    assert!(cairn_ledger::verify_bundle(&proof, key.trim(), Some(&tampered)).is_err());

    // Tiles: a partial hash tile of 3 leaf hashes, an entry bundle of 3 length-prefixed entries.
    let tile = |path: &str| {
        let mut body = Vec::new();
        let r = ureq::get(&srv.api_url(path)).call().unwrap();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
        body
    };
    assert_eq!(tile("/tlog/tile/0/000.p/3").len(), 3 * 32);
    let bundle = tile("/tlog/tile/entries/000.p/3");
    let first_len = usize::from(u16::from_be_bytes([bundle[0], bundle[1]]));
    let second = &bundle[2 + first_len..];
    let second_len = usize::from(u16::from_be_bytes([second[0], second[1]]));
    assert_eq!(&second[2..2 + second_len], bytes.as_slice());

    for (path, status) in [
        ("/tlog/tile/0/001", 404),
        ("/tlog/tile/0/xyz", 400),
        ("/tlog/other", 404),
        ("/api/v1/audit/proof?index=1000000", 404),
        ("/api/v1/audit/proof?index=1&size=1000000", 400),
        ("/api/v1/audit/proof?index=one", 400),
    ] {
        let (got, body) = srv.get(path);
        assert_eq!(got, status, "{path}: {body}");
    }
}

#[test]
fn health_ready_metrics_and_web_ui() {
    let srv = TestServer::start(|_| {});
    post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(14)),
    );
    srv.wait_indexed();
    assert_eq!(srv.get("/healthz"), (200, "ok\n".to_owned()));
    let ready = srv.get_json("/readyz");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["ledger_entries"], 3);
    assert_eq!(ready["index_lag_entries"], 0);
    let metrics = srv.get("/metrics").1;
    for needle in [
        "cairn_ingest_requests_total{protocol=\"http\",signal=\"traces\",code=\"200\"} 1",
        "cairn_ingest_spans_accepted_total{signal=\"traces\"} 3",
        "cairn_ledger_entries 3",
        "cairn_index_lag_entries 0",
        "cairn_index_lag_seconds",
        "cairn_build_info{version=",
        "cairn_runtime_workers",
    ] {
        assert!(metrics.contains(needle), "missing {needle}: {metrics}");
    }
    // The indexed run's tool call shows up in the agent metrics.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cairn_tool_calls_total{")
                && l.contains("tool=\"web_search\"")
                && l.ends_with(" 1")),
        "no tool call counted: {metrics}"
    );
    let (status, page) = srv.get("/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<title>") && page.contains("app.js"),
        "{page}"
    );
    // A deep link into the UI falls back to index.html; an unknown API path stays a JSON 404.
    assert_eq!(srv.get("/traces/0123").1, page);
    let (status, body) = srv.get("/api/v1/nope");
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "{body}");
}

#[test]
fn shutdown_restart_and_reindex_keep_everything() {
    let srv = TestServer::start(|_| {});
    for seed in 20..25 {
        post(
            &srv.http_url("/v1/traces"),
            &[PROTOBUF],
            &protobuf(agent_run(seed)),
        );
    }
    let key = srv.server().verifier_key().to_owned();
    let (dir, config) = srv.stop();

    let srv = TestServer::start_in(dir, config);
    assert_eq!(srv.server().ledger_size(), 15);
    assert_eq!(srv.server().verifier_key(), key);
    // The final checkpoint at shutdown covers everything.
    assert_eq!(
        srv.get("/api/v1/audit/checkpoint").1.lines().nth(1),
        Some("15")
    );
    srv.wait_indexed();
    assert_eq!(
        srv.get_json("/api/v1/traces")["traces"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let (dir, config) = srv.stop();

    let mut seen = Vec::new();
    let report =
        cairn_collector::reindex(&config, &mut |done, total| seen.push((done, total))).unwrap();
    assert_eq!(report.entries, 15);
    assert_eq!(seen.last(), Some(&(15, 15)));

    let srv = TestServer::start_in(dir, config);
    srv.wait_indexed();
    for seed in 20..25 {
        let trace = srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(seed))));
        assert_eq!(shape(&trace), expected_shape(seed));
    }
}

#[test]
fn otlp_metrics_are_accepted_and_exposed() {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    };
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    use prost::Message as _;

    let srv = TestServer::start(|_| {});
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue.depth".to_owned(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![NumberDataPoint {
                            time_unix_nano: 1,
                            value: Some(number_data_point::Value::AsInt(7)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let answer = post(
        &srv.http_url("/v1/metrics"),
        &[PROTOBUF],
        &request.encode_to_vec(),
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let response = ExportMetricsServiceResponse::decode(answer.body.as_slice()).unwrap();
    assert_eq!(response.partial_success, None);

    // OTLP/JSON: the OpenTelemetry example payload (sum, gauge, histogram, exponential histogram).
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/otlp/metrics.json"),
    )
    .unwrap();
    let json = post(
        &srv.http_url("/v1/metrics"),
        &[("content-type", "application/json")],
        &fixture,
    );
    assert_eq!(json.status, 200, "{}", String::from_utf8_lossy(&json.body));
    assert_eq!(json.content_type, "application/json");
    // Exponential histograms have no Prometheus text form: that one point is rejected, by name.
    let answer: Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedDataPoints"], "1",
        "{answer}"
    );
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("my.exponential.histogram"),
        "{answer}"
    );

    let broken = post(
        &srv.http_url("/v1/metrics"),
        &[("content-type", "application/json")],
        br#"{"resourceMetrics": [{"scopeMetrics": 7}]}"#,
    );
    assert_eq!(
        broken.status,
        400,
        "{}",
        String::from_utf8_lossy(&broken.body)
    );
    let error: Value = serde_json::from_slice(&broken.body).unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP/JSON metrics request"),
        "{error}"
    );

    let text = post(
        &srv.http_url("/v1/metrics"),
        &[("content-type", "text/plain")],
        b"x",
    );
    assert_eq!(text.status, 415, "{}", String::from_utf8_lossy(&text.body));

    let endpoint = format!("http://{}", srv.grpc);
    let mut over_grpc = request.clone();
    over_grpc.resource_metrics[0].scope_metrics[0].metrics[0].name = "jobs.running".to_owned();
    let response = srv.runtime.block_on(async {
        let mut client = MetricsServiceClient::connect(endpoint).await.unwrap();
        client.export(over_grpc).await.unwrap().into_inner()
    });
    assert_eq!(response.partial_success, None);

    let metrics = srv.get("/metrics").1;
    assert!(
        metrics
            .lines()
            .any(|l| l == "queue_depth{job=\"unknown_service\"} 7.0"),
        "OTLP gauge not exposed: {metrics}"
    );
    for needle in [
        "cairn_ingest_requests_total{protocol=\"http\",signal=\"metrics\",code=\"200\"} 2",
        "cairn_ingest_requests_total{protocol=\"http\",signal=\"metrics\",code=\"400\"} 1",
        "cairn_ingest_requests_total{protocol=\"http\",signal=\"metrics\",code=\"415\"} 1",
        // OpenTelemetry -> Prometheus naming: unit "1" on a gauge is `_ratio`, a monotonic sum `_total`.
        "my_gauge_ratio{job=\"my.service\",my_gauge_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\"} 10.0",
        "my_counter_total{job=\"my.service\",my_counter_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\"} 5.0",
        "my_histogram_bucket{job=\"my.service\",my_histogram_attr=\"some value\",otel_scope_name=\"my.library\",otel_scope_version=\"1.0.0\",le=\"1\"} 1",
        "cairn_ingest_requests_total{protocol=\"grpc\",signal=\"metrics\",code=\"OK\"} 1",
        // 1 protobuf gauge point, 3 JSON points (the exponential histogram is rejected), 1 gRPC.
        "cairn_ingest_spans_accepted_total{signal=\"metrics\"} 5",
        "jobs_running{job=\"unknown_service\"} 7.0",
    ] {
        assert!(metrics.contains(needle), "missing {needle}: {metrics}");
    }
}

#[test]
fn configured_exporters_tail_the_ledger_and_report_metrics() {
    let exporter: cairn_export::ExporterConfig =
        toml::from_str("kind = \"jsonl\"\nname = \"files\"").unwrap();
    let srv = TestServer::start(|c| c.exporters = vec![exporter]);
    post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(31)),
    );
    srv.wait_indexed();
    let dir = srv.config.data_dir.join("jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let lines = loop {
        let lines: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        if lines.len() >= 3 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        lines.len(),
        3,
        "every span exactly once in {}",
        dir.display()
    );
    for line in &lines {
        let doc: Value = serde_json::from_str(line).unwrap();
        assert!(
            doc["trace"]["id"].is_string() || doc["trace.id"].is_string(),
            "{line}"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = srv.get("/metrics").1;
        if metrics.contains("cairn_exporter_sent_total{exporter=\"files\"} 3") {
            assert!(metrics.contains("cairn_exporter_lag_entries{exporter=\"files\"} 0"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn background_verification_reports_ok_then_catches_tampering() {
    let srv = TestServer::start(|c| c.ledger.verify_interval = Duration::from_millis(300));
    post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(41)),
    );
    srv.wait_indexed();

    let wait_for = |want: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let v = srv.get_json("/api/v1/audit/verification");
            if v["status"] == want {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "never {want}: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let ok = wait_for("ok");
    assert!(ok["last"]["entries"].as_u64().unwrap() >= 3, "{ok}");

    // Runs racing a live writer (new entries, segments, hashes and checkpoints while it reads)
    // must not report what is still being written as tampering.
    let runs_before = ok["runs"].as_u64().unwrap();
    let started = std::time::Instant::now();
    let mut seed = 100u64;
    while started.elapsed() < Duration::from_secs(3) {
        let answer = post(
            &srv.http_url("/v1/traces"),
            &[PROTOBUF],
            &protobuf(agent_run(seed)),
        );
        assert_eq!(answer.status, 200);
        seed += 1;
        let v = srv.get_json("/api/v1/audit/verification");
        assert_ne!(v["status"], "failed", "a run racing the writer failed: {v}");
    }
    let during = srv.get_json("/api/v1/audit/verification");
    assert!(
        during["runs"].as_u64().unwrap() >= runs_before + 3,
        "verification kept running during ingest: {during}"
    );
    srv.wait_indexed();
    assert_eq!(ok["last"]["problems"], 0, "{ok}");
    let metrics = srv.get("/metrics").1;
    assert!(
        metrics.contains("cairn_ledger_verify_last_success 1"),
        "{metrics}"
    );

    // Flip one byte inside the first segment's records: the next run must fail.
    let segments = srv.config.data_dir.join("ledger").join("segments");
    let first = std::fs::read_dir(&segments)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&first)
            .unwrap();
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&bytes[at..=at]).unwrap();
    }
    let failed = wait_for("failed");
    assert!(
        failed["last"]["problems"].as_u64().unwrap() >= 1,
        "{failed}"
    );
    assert!(failed["last"]["first_problem"].is_string(), "{failed}");
    let metrics = srv.get("/metrics").1;
    assert!(
        metrics.contains("cairn_ledger_verify_last_success 0"),
        "{metrics}"
    );
}
