//! `cairn serve` end to end: the real binary, the real Python OpenTelemetry SDK, restarts, kill -9
//! and the CLI query commands.

mod erase;
mod harness;
mod rollback;
mod utf8;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::*;
use serde_json::Value;

type SpanShape = BTreeSet<(String, Option<String>, String, String)>;

/// `(span_id, parent_span_id, name, kind)` of the spans in an API trace.
fn api_shape(trace: &Value) -> SpanShape {
    trace["spans"]
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
        .collect()
}

/// The same, from what `agent_run.py` reports it sent.
fn sent_shape(sent: &Value) -> SpanShape {
    sent["spans"]
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
        .collect()
}

/// Asserts the API holds exactly the run the Python SDK sent, with its GenAI attributes and log.
fn assert_python_run(serve: &Serve, sent: &Value) {
    // 4 spans + 1 log record.
    serve.wait_indexed(5);
    let trace_id = sent["trace_id"].as_str().unwrap();
    let trace = serve.get_json(&format!("/api/v1/traces/{trace_id}"));
    assert_eq!(api_shape(&trace), sent_shape(sent));
    let spans = trace["spans"].as_array().unwrap();
    let tool = spans.iter().find(|s| s["kind"] == "tool").unwrap();
    assert_eq!(tool["attributes"]["gen_ai.tool.name"], "web_search");
    assert_eq!(tool["status"]["code"], "ok");
    let chats: Vec<&Value> = spans.iter().filter(|s| s["kind"] == "llm").collect();
    assert_eq!(chats.len(), 2);
    assert!(
        chats
            .iter()
            .all(|c| c["attributes"]["gen_ai.request.model"] == "gpt-4o")
    );
    assert!(
        trace
            .to_string()
            .contains("gen_ai.client.inference.operation.details"),
        "the GenAI event log record is attached: {trace}"
    );

    let list = serve.get_json("/api/v1/traces?agent=planner");
    let summary = list["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == trace_id)
        .expect("trace listed");
    assert_eq!(summary["span_count"], 4);
    assert_eq!(summary["tool_call_count"], 1);
    assert_eq!(summary["input_tokens"], 412 + 530);
    assert_eq!(summary["output_tokens"], 37 + 121);
    assert_eq!(summary["status"], "ok");
}

#[test]
fn python_sdk_over_otlp_http_protobuf() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let sent = python_agent_run(&serve.http, "http", false);
    assert_python_run(&serve, &sent);
    serve.stop();
}

#[test]
fn python_sdk_over_otlp_grpc_with_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let sent = python_agent_run(&serve.grpc, "grpc", true);
    assert_python_run(&serve, &sent);
    // And OTLP/HTTP with gzip into the same server.
    let sent = python_agent_run(&serve.http, "http", true);
    serve.wait_indexed(10);
    let trace = serve.get_json(&format!(
        "/api/v1/traces/{}",
        sent["trace_id"].as_str().unwrap()
    ));
    assert_eq!(api_shape(&trace), sent_shape(&sent));
    serve.stop();
}

#[test]
fn cli_renders_traces_tree_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let sent = python_agent_run(&serve.http, "http", false);
    serve.wait_indexed(5);
    let trace_id = sent["trace_id"].as_str().unwrap();

    let out = serve.cli(&["traces"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("TRACE ID"), "{table}");
    assert!(
        table.contains(trace_id) && table.contains("planner"),
        "{table}"
    );

    let out = serve.cli(&["traces", "--json", "--tool", "web_search"]);
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["traces"][0]["trace_id"], trace_id);

    // Server-side sorting, and one agent's tools.
    let out = serve.cli(&["traces", "--json", "--sort", "duration", "--order", "asc"]);
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["traces"][0]["trace_id"], trace_id);
    let out = serve.cli(&["traces", "--sort", "cost"]);
    assert!(!out.status.success(), "an unknown sort key is refused");
    let out = serve.cli(&[
        "stats",
        "--json",
        "--group-by",
        "tool",
        "--agent",
        "planner",
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["groups"][0]["key"], "web_search", "{report}");
    let out = serve.cli(&["stats", "--json", "--group-by", "tool", "--agent", "nobody"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["groups"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );

    let out = serve.cli(&["trace", trace_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = tree.lines().collect();
    assert!(
        lines[1].starts_with("  agent invoke_agent planner"),
        "{tree}"
    );
    assert!(lines[2].starts_with("    llm chat gpt-4o"), "{tree}");
    assert!(
        lines[3].starts_with("    tool execute_tool web_search"),
        "{tree}"
    );
    assert!(
        lines[3].contains("tamper-evident audit logs"),
        "tool arguments inline: {tree}"
    );
    assert!(lines[4].starts_with("    llm chat gpt-4o"), "{tree}");

    let out = serve.cli(&["trace", trace_id, "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["spans"].as_array().unwrap().len(), 4);

    let out = serve.cli(&["trace", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(out.status.code(), Some(1), "unknown trace exits 1");

    let out = serve.cli(&["stats", "--group-by", "tool"]);
    let stats = String::from_utf8(out.stdout).unwrap();
    assert!(
        stats.starts_with("TOOL") && stats.contains("web_search"),
        "{stats}"
    );
    let out = serve.cli(&["stats", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["groups"][0]["key"], "planner");
    serve.stop();

    let out = cairn()
        .args(["traces", "--url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

#[test]
fn json_gzip_and_every_error_status_over_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(
        dir.path(),
        &["--max-body-bytes", "65536", "--queue-capacity", "1"],
    );
    let url = format!("{}/v1/traces", serve.http);

    // JSON + gzip: 200, JSON answer.
    let json = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": trace_hex(1), "spanId": "00000000000000a1", "name": "execute_tool grep",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000100000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}}]
    }]}]}]});
    let answer = post(&url, &[JSON, GZIP], &gzip(json.to_string().as_bytes()));
    assert_eq!(answer.status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&answer.body).unwrap(),
        serde_json::json!({})
    );

    // 400 malformed.
    assert_eq!(post(&url, &[PROTOBUF], b"\xff\xfe nonsense").status, 400);
    // 413: too big, and a gzip bomb (small on the wire, 16 MiB inflated).
    // (Refused from Content-Length before the body is read: a client still writing may see the
    // connection reset instead of the 413; either way nothing may be accepted.)
    match ureq::post(&url)
        .set(PROTOBUF.0, PROTOBUF.1)
        .send_bytes(&vec![1u8; 70_000])
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
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 65536);
    assert_eq!(post(&url, &[PROTOBUF, GZIP], &bomb).status, 413);
    // 415.
    assert_eq!(
        post(&url, &[("content-type", "text/csv")], b"a,b").status,
        415
    );
    // partial_success for one bad span (zero span id) among good ones.
    let bad = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace_hex(2), "spanId": "00000000000000b1", "name": "fine",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": trace_hex(2), "spanId": "0000000000000000", "name": "bad",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
    ]}]}]});
    let answer = post(&url, &[JSON], bad.to_string().as_bytes());
    assert_eq!(answer.status, 200);
    let v: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
    // 404 for an unknown trace, with the JSON error shape.
    let (status, body) = serve.get(&format!("/api/v1/traces/{}", trace_hex(77)));
    assert_eq!(status, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    // 429 with Retry-After once the (1-record) queue is busy.
    let throttled = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let (url, throttled) = (url.clone(), throttled.clone());
            std::thread::spawn(move || {
                for n in 0..30 {
                    let seed = 100 + t * 100 + n;
                    let a = post(&url, &[PROTOBUF], &tool_span_request(seed..seed + 1));
                    assert!(matches!(a.status, 200 | 429), "status {}", a.status);
                    if a.status == 429 {
                        throttled.lock().unwrap().push(a.retry_after);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let throttled = throttled.lock().unwrap();
    assert!(!throttled.is_empty(), "the full queue never answered 429");
    assert!(throttled.iter().all(|r| r.as_deref() == Some("1")));
    serve.stop();
}

#[test]
fn restart_keeps_everything_and_reindex_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let sent = python_agent_run(&serve.http, "http", false);
    serve.wait_indexed(5);
    let before = serve.get_json(&format!(
        "/api/v1/traces/{}",
        sent["trace_id"].as_str().unwrap()
    ));
    let key = serve.verifier_key.clone();
    serve.stop();

    let serve = Serve::start(dir.path(), &[]);
    assert_eq!(serve.verifier_key, key, "same ledger, same key");
    serve.wait_indexed(6);
    // 5 spans and the access record of the read above, flushed before the ledger closed.
    let (_, note) = serve.get("/api/v1/audit/checkpoint");
    let after = serve.get_json(&format!(
        "/api/v1/traces/{}",
        sent["trace_id"].as_str().unwrap()
    ));
    assert_eq!(before, after);
    assert_eq!(
        note.lines().nth(1),
        Some("6"),
        "final checkpoint covers every entry: {note}"
    );
    serve.stop();

    let out = cairn()
        .args(["reindex", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("reindexed 7 ledger entries"),
        "5 spans, 2 access records"
    );
    let serve = Serve::start(dir.path(), &[]);
    serve.wait_indexed(5);
    let rebuilt = serve.get_json(&format!(
        "/api/v1/traces/{}",
        sent["trace_id"].as_str().unwrap()
    ));
    assert_eq!(before, rebuilt);
    serve.stop();
}

#[test]
fn kill_9_during_ingest_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let url = format!("{}/v1/traces", serve.http);
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) && n < 100_000 {
                    // 10 traces of one span per request.
                    let first = w * 1_000_000 + n * 10;
                    let request = tool_span_request(first..first + 10);
                    let sent = ureq::post(&url)
                        .set("content-type", "application/x-protobuf")
                        .timeout(Duration::from_secs(5))
                        .send_bytes(&request);
                    match sent {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().extend(first..first + 10)
                        }
                        // Killed mid-request, or refused after death: not acknowledged.
                        _ => {}
                    }
                    n += 1;
                }
            })
        })
        .collect();
    // Let some requests be acknowledged, then kill without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 2_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "ingest too slow: {}",
            serve.logs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    serve.kill_9();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    let serve = Serve::start(dir.path(), &[]);
    serve.wait_indexed(acked.len() as u64);
    for seed in &acked {
        let (status, body) = serve.get(&format!("/api/v1/traces/{}", trace_hex(*seed)));
        assert_eq!(status, 200, "acknowledged trace {seed} lost: {body}");
    }
    serve.stop();

    assert_verify(&dir.path().join("data"));
}

#[test]
fn serve_demo_feeds_the_server_until_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--demo"]);
    assert!(
        serve.stdout().contains("demo running against"),
        "{}",
        serve.stdout()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let traces = loop {
        let page = serve.get_json("/api/v1/traces");
        let traces = page["traces"].as_array().unwrap().clone();
        if traces.len() >= 2 {
            break traces;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demo sent nothing: {}",
            serve.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        traces.iter().all(|t| t["span_count"].as_u64() > Some(1)),
        "{traces:?}"
    );
    assert!(traces.iter().any(|t| t["agent"].is_string()), "{traces:?}");
    // SIGTERM stops the demo first, flushes its spans into the server, then stops cleanly.
    let stdout = serve.stop();
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("demo: "))
        .unwrap_or_else(|| panic!("no demo summary: {stdout}"));
    assert!(!summary.contains(" 0 spans sent"), "{summary}");
    assert!(stdout.ends_with("cairn stopped cleanly\n"), "{stdout}");
}

/// A SIGTERM sent the moment the server has published its addresses (what a supervisor or this
/// harness does) stops it cleanly: the handler is installed before the server starts. A fresh-
/// clone CI run once saw `cairn serve` die of the signal's default action in that window.
#[test]
fn sigterm_right_after_startup_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..8 {
        let stdout = Serve::start(dir.path(), &[]).stop();
        assert!(
            stdout.ends_with("cairn stopped cleanly\n"),
            "round {round}: {stdout}"
        );
    }
}

/// `cairn keys` manages keys a running server picks up; the query commands send `--api-key`;
/// `cairn audit access` lists the reads they made.
#[test]
fn keys_api_key_and_audit_access_over_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = |args: &[&str]| {
        let out = cairn()
            .arg("keys")
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("CAIRN_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let created: Value = serde_json::from_str(&keys(&[
        "create",
        "--project",
        "ops",
        "--scope",
        "admin",
        "--json",
    ]))
    .unwrap();
    let admin = created["key"].as_str().unwrap().to_owned();
    let ingest = keys(&["create", "--project", "ops", "--scope", "ingest"]);
    let ingest = ingest.trim();
    assert!(ingest.starts_with("cairn_"), "{ingest}");

    let serve = Serve::start(dir.path(), &[]);
    let auth = format!("Bearer {ingest}");
    let answer = post(
        &format!("{}/v1/traces", serve.http),
        &[JSON, ("authorization", &auth)],
        serde_json::to_vec(
            &serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
                "traceId": trace_hex(42), "spanId": "00000000000000c1", "name": "invoke_agent ops",
                "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"
            }]}]}]}),
        )
        .unwrap()
        .as_slice(),
    );
    assert_eq!(answer.status, 200);
    let (status, _) = serve.get("/api/v1/traces");
    assert_eq!(status, 401, "the server has keys");

    let trace = trace_hex(42);
    let out = serve.cli(&["trace", &trace]);
    assert!(!out.status.success(), "no key");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = serve.cli(&["trace", &trace, "--api-key", &admin]);
        if out.status.success() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "trace never indexed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The read is in the ledger within the flush interval, then indexed.
    loop {
        let out = serve.cli(&[
            "audit",
            "access",
            "--since",
            "1h",
            "--api-key",
            &admin,
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: Value = serde_json::from_slice(&out.stdout).unwrap();
        let records = page["records"].as_array().unwrap();
        if records
            .iter()
            .any(|r| r["attributes"]["cairn.audit.trace_id"] == trace.as_str())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access record: {page}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = serve.cli(&["audit", "access", "--api-key", &admin]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("GET /api/v1/traces/{trace_id}") && table.contains(&trace),
        "{table}"
    );

    let listed: Value = serde_json::from_str(&keys(&["list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed
            .to_string()
            .contains(admin.split('_').nth(2).unwrap())
    );
    let id = created["id"].as_str().unwrap();
    keys(&["revoke", id]);
    let out = serve.cli(&["traces", "--api-key", &admin]);
    assert!(!out.status.success(), "a revoked key stops working at once");
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    serve.stop();
}
