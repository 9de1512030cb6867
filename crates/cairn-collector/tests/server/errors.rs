//! Error answers not covered elsewhere: the query API's 429 (too many concurrent queries) and 500
//! (a corrupted index, an unreadable key file), and gRPC exports racing a graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// A GET answer with its `Retry-After` header.
fn get_with_retry_after(url: &str) -> (u16, Option<String>, String) {
    let response = match ureq::get(url).timeout(Duration::from_secs(60)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = response.status();
    let retry_after = response.header("retry-after").map(str::to_owned);
    (status, retry_after, response.into_string().expect("body"))
}

/// Asserts a JSON error body `{"error":{"code":…,"message":…}}` with the given code.
fn assert_error_body(body: &str, code: &str) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"]["code"], code, "{body}");
    assert!(
        !v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
}

/// Ingests `runs` agent runs (3 spans each) in requests of 100 runs and waits for the index.
fn ingest(srv: &TestServer, runs: u64) {
    for chunk in (0..runs).collect::<Vec<_>>().chunks(100) {
        let spans = chunk.iter().flat_map(|seed| agent_run(*seed)).collect();
        let answer = post(&srv.http_url("/v1/traces"), &[PROTOBUF], &protobuf(spans));
        assert_eq!(answer.status, 200);
    }
    srv.wait_indexed();
}

#[test]
fn too_many_concurrent_queries_answer_429_with_retry_after() {
    let srv = TestServer::start(|c| c.api.max_concurrent_queries = 1);
    ingest(&srv, 2_000);
    let url = srv.api_url("/api/v1/stats?group_by=tool");
    // With one permit, overlapping queries must be refused rather than queued. Many clients query
    // until one of them has been refused (polling, so a slow machine only takes longer).
    let refused = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(120);
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let (url, refused, ok) = (url.clone(), Arc::clone(&refused), Arc::clone(&ok));
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !refused.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let (status, retry_after, body) = get_with_retry_after(&url);
                    match status {
                        200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        429 => {
                            refused.store(true, Ordering::Relaxed);
                            seen.push((retry_after, body));
                        }
                        other => panic!("unexpected {other}: {body}"),
                    }
                }
                seen
            })
        })
        .collect();
    let refusals: Vec<(Option<String>, String)> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client thread"))
        .collect();
    assert!(
        !refusals.is_empty(),
        "no query was refused ({} answered)",
        ok.load(Ordering::Relaxed)
    );
    for (retry_after, body) in &refusals {
        assert_error_body(body, "too_many_requests");
        let secs: u64 = retry_after
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("429 without a numeric Retry-After: {retry_after:?}"));
        assert!(secs >= 1, "{secs}");
    }
    // The permit is released: once the load stops, a query succeeds again.
    let (status, _, body) = get_with_retry_after(&url);
    assert_eq!(status, 200, "{body}");
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert!(stats.to_string().contains("web_search"), "{stats}");
}

/// Overwrites `len` bytes of `path` at `offset` with garbage.
fn scribble(path: &std::path::Path, offset: u64, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open file");
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&vec![0xA5; len]).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn an_unreadable_index_answers_500_json_and_the_server_keeps_serving() {
    let srv = TestServer::start(|_| {});
    ingest(&srv, 10);
    // A clean stop closes the index, so SQLite folds its WAL into the main file: from then on,
    // the main file's header is what a new reader sees.
    let (dir, config) = srv.stop();
    let index = config.data_dir.join("index.sqlite");
    let srv = TestServer::start_in(dir, config);
    srv.wait_indexed();
    // No query has run yet, so no pooled reader holds the file open: the next query opens it.
    let len = std::fs::metadata(&index).expect("index file").len();
    assert!(len >= 100, "index file of {len} bytes");
    // Keep page 1 (header and schema) so the file still opens, and overwrite every other page
    // (the tables and indexes) with garbage.
    let header = std::fs::read(&index).expect("read index");
    let page = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    assert!(
        len > page,
        "index of {len} bytes has more than one page of {page}"
    );
    scribble(&index, page, usize::try_from(len - page).unwrap());
    for path in [
        "/api/v1/traces".to_owned(),
        "/api/v1/stats?group_by=agent".to_owned(),
        // A trace that was indexed.
        format!("/api/v1/traces/{}", hex::encode(trace_id(3))),
    ] {
        let (status, body) = srv.get(&path);
        assert_eq!(status, 500, "{path}: {body}");
        assert_error_body(&body, "internal");
    }
    // The server keeps answering what does not need the index.
    assert_eq!(srv.get("/healthz").0, 200);
    assert_eq!(srv.get("/api/v1/audit/entries/0").0, 200);
}

#[test]
fn an_unreadable_key_file_answers_500_json() {
    let srv = TestServer::start(|_| {});
    ingest(&srv, 1);
    assert_eq!(srv.get("/api/v1/traces").0, 200);
    // The key file is re-read when it changes; one that cannot be parsed fails closed.
    std::fs::write(srv.config.data_dir.join("keys.json"), b"{ not json").unwrap();
    let (status, body) = srv.get("/api/v1/traces");
    assert_eq!(status, 500, "{body}");
    assert_error_body(&body, "internal");
    assert!(body.contains("keys.json"), "{body}");
    // Ingest fails closed as well (no span accepted without a readable key file).
    let answer = post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(agent_run(77)),
    );
    assert_eq!(answer.status, 500);
    assert_eq!(srv.server().ledger_size(), 3);
}

/// What one gRPC export during the shutdown test got: the run's seed and the answer's code.
type Outcome = (u64, tonic::Code);

/// A client exporting over gRPC while the server shuts down gets only `OK` (durable: present after
/// a restart) or `UNAVAILABLE` (retryable under OTLP). The listener stops before the ledger writer
/// closes, so the refusals a client sees are its connection being refused (which tonic reports as
/// `UNAVAILABLE`), never a lost acknowledged export or another code.
#[test]
fn grpc_exports_during_shutdown_are_acknowledged_or_unavailable() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

    let srv = TestServer::start(|_| {});
    let endpoint = format!("http://{}", srv.grpc);
    let outcomes: Arc<std::sync::Mutex<Vec<Outcome>>> = Arc::default();
    // The client has its own runtime, so it keeps exporting while the server drains and after it
    // is gone.
    let client = {
        let outcomes = Arc::clone(&outcomes);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("client runtime");
            runtime.block_on(async move {
                let mut client = TraceServiceClient::connect(endpoint)
                    .await
                    .expect("connect");
                let mut refused_in_a_row = 0;
                for seed in 10_000u64.. {
                    let code = match client.export(request(agent_run(seed))).await {
                        Ok(_) => tonic::Code::Ok,
                        Err(status) => status.code(),
                    };
                    outcomes.lock().unwrap().push((seed, code));
                    refused_in_a_row = if code == tonic::Code::Ok {
                        0
                    } else {
                        refused_in_a_row + 1
                    };
                    if refused_in_a_row == 5 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        })
    };
    // Shut down once the client is under way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while outcomes.lock().unwrap().len() < 10 {
        assert!(Instant::now() < deadline, "the client made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (dir, config) = srv.stop();
    client.join().expect("client thread");
    let outcomes = outcomes.lock().unwrap().clone();
    let acked: Vec<u64> = outcomes
        .iter()
        .filter(|(_, code)| *code == tonic::Code::Ok)
        .map(|(seed, _)| *seed)
        .collect();
    for (seed, code) in &outcomes {
        // Retryable under OTLP: a client resends these to the next server.
        assert!(
            matches!(code, tonic::Code::Ok | tonic::Code::Unavailable),
            "export {seed} got {code:?}; all: {outcomes:?}"
        );
    }
    assert!(acked.len() >= 10, "{outcomes:?}");
    eprintln!(
        "{} exports acknowledged, then {} refused",
        acked.len(),
        outcomes.len() - acked.len()
    );
    // Acknowledged means durable: every acknowledged run is there after a restart.
    let srv = TestServer::start_in(dir, config);
    srv.wait_indexed();
    assert_eq!(srv.server().ledger_size(), 3 * acked.len() as u64);
    for seed in [acked[0], acked[acked.len() / 2], acked[acked.len() - 1]] {
        let trace = srv.get_json(&format!("/api/v1/traces/{}", hex::encode(trace_id(seed))));
        assert_eq!(trace["spans"].as_array().map(Vec::len), Some(3), "{seed}");
    }
}
