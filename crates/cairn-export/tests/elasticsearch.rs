//! The Elasticsearch exporter against the in-test bulk server.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_export::config::ElasticsearchConfig;
use cairn_export::document::document_id;
use cairn_export::{
    BatchConfig, ElasticsearchExporter, ExportRunner, RetryConfig, RunSummary, RunnerOptions,
    Shutdown, StopReason,
};
use cairn_ledger::Ledger;

use crate::support::bulk::{BulkServer, Faults};
use crate::support::ledger::{self, ORIGIN};

pub(crate) fn es_config(url: &str) -> ElasticsearchConfig {
    ElasticsearchConfig {
        endpoint: url.to_owned(),
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        max_request_bytes: 16 * 1024,
        ..ElasticsearchConfig::default()
    }
}

pub(crate) fn options(state: &Path, follow: bool) -> RunnerOptions {
    RunnerOptions {
        batch: BatchConfig {
            max_records: 100,
            poll_interval: Duration::from_millis(50),
            ..BatchConfig::default()
        },
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            max_attempts: 0,
        },
        follow,
        ..RunnerOptions::follow("es", state)
    }
}

pub(crate) fn run_es(
    ledger: Arc<Ledger>,
    config: ElasticsearchConfig,
    options: RunnerOptions,
) -> RunSummary {
    let exporter = ElasticsearchExporter::new(config, ORIGIN).expect("exporter");
    ExportRunner::new(ledger, exporter, options, Shutdown::new())
        .run()
        .expect("runner")
}

/// Ledger indices in the dead-letter file, in file order.
pub(crate) fn dead_letter_indices(state: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(state.join("dead-letter.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("dead letter is json");
            assert!(v["entry"].as_str().is_some_and(|e| !e.is_empty()));
            assert!(v["reason"].as_str().is_some());
            v["ledger_index"].as_u64().expect("ledger_index")
        })
        .collect()
}

/// Asserts the cluster holds exactly the `expected` indices, each created once.
pub(crate) fn assert_exactly_once(server: &BulkServer, expected: &[u64]) {
    let state = server.state.lock().expect("state");
    let want: BTreeSet<String> = expected.iter().map(|&i| document_id(ORIGIN, i)).collect();
    let have: BTreeSet<String> = state.docs.keys().cloned().collect();
    assert_eq!(have.len(), want.len(), "document count");
    assert!(have == want, "stored ids differ from the expected ones");
    assert!(
        state.creates.values().all(|&n| n == 1),
        "a document was created twice"
    );
    for (id, doc) in &state.docs {
        let index = doc["cairn"]["ledger"]["index"].as_u64().expect("index");
        assert_eq!(id, &document_id(ORIGIN, index));
        assert_eq!(state.indices[id], "traces-cairn.agent-default");
    }
}

#[test]
fn clean_run_installs_templates_and_delivers_with_gzip_and_auth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 500, 0, 50);
    let server = BulkServer::start(Faults::default());
    let config = ElasticsearchConfig {
        username: Some("cairn".to_owned()),
        password: Some("s3cret".to_owned()),
        ..es_config(&server.url())
    };
    let state_dir = dir.path().join("state");
    let summary = run_es(
        Arc::clone(&ledger),
        config.clone(),
        options(&state_dir, false),
    );
    assert_eq!(summary.stopped, StopReason::ReachedEnd);
    assert_eq!(summary.next_index, 500);
    assert_eq!(summary.stats.sent, contents.spans.len() as u64);
    assert_eq!(summary.stats.skipped, contents.logs.len() as u64);
    assert_eq!(summary.stats.failed, 0);
    assert_eq!(summary.stats.lag, 0);
    assert_exactly_once(&server, &contents.spans);

    let state = server.state.lock().expect("state");
    let paths: Vec<&str> = state.puts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "_ilm/policy/cairn-traces",
            "_component_template/cairn-traces-settings",
            "_component_template/cairn-traces-mappings",
            "_index_template/cairn-traces",
        ]
    );
    let objects = cairn_export::elasticsearch::templates::objects(&config);
    for ((_, body), object) in state.puts.iter().zip(&objects) {
        assert_eq!(body, &object.body);
    }
    // Bounded by bytes: 16 KiB per request means several requests per 100-record batch.
    assert!(state.bulk_requests > 5, "{} requests", state.bulk_requests);
    assert_eq!(state.gzip_requests, state.bulk_requests);
    assert!(
        state
            .auth_headers
            .iter()
            .all(|h| h.as_deref() == Some("Basic Y2Fpcm46czNjcmV0"))
    );
    let doc = &state.docs[&document_id(ORIGIN, 1)];
    assert_eq!(doc["gen_ai"]["request"]["model"], "gpt-4o");
    assert_eq!(doc["event"]["duration"], 500_000);
}

#[test]
fn mixed_item_statuses_and_connection_faults_end_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 2000, 37, 0);
    let server = BulkServer::start(Faults {
        seed: 7,
        request_429: 0.05,
        retry_after_secs: Some(0),
        drop_before: 0.05,
        drop_after: 0.08,
        slow: 0.03,
        slow_delay: Duration::from_millis(800),
        item_429: 0.1,
        item_503: 0.03,
        ..Faults::default()
    });
    let state_dir = dir.path().join("state");
    let summary = run_es(
        Arc::clone(&ledger),
        es_config(&server.url()),
        options(&state_dir, false),
    );
    assert_eq!(summary.next_index, 2000);
    assert_exactly_once(&server, &contents.spans);
    assert_eq!(dead_letter_indices(&state_dir), contents.poison);
    assert_eq!(summary.stats.sent, contents.spans.len() as u64);
    assert_eq!(summary.stats.dead_lettered, contents.poison.len() as u64);
    assert!(summary.stats.failed > 0 && summary.stats.retried > 0);
    let state = server.state.lock().expect("state");
    assert!(
        state.conflicts > 0,
        "dropped answers must cause 409 replays"
    );
    assert!(state.item_failures > 0);
}

#[test]
fn a_request_refused_for_its_body_is_split_until_the_culprits_are_isolated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 600, 97, 0);
    let server = BulkServer::start(Faults {
        reject_request_with_poison: true,
        ..Faults::default()
    });
    let state_dir = dir.path().join("state");
    let summary = run_es(
        Arc::clone(&ledger),
        es_config(&server.url()),
        options(&state_dir, false),
    );
    assert_eq!(summary.next_index, 600);
    assert_exactly_once(&server, &contents.spans);
    assert_eq!(dead_letter_indices(&state_dir), contents.poison);
}

#[test]
fn request_level_429_backs_off_for_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 10, 0, 0);
    let server = BulkServer::start(Faults {
        first_requests_429: 1,
        retry_after_secs: Some(1),
        ..Faults::default()
    });
    let mut opts = options(&dir.path().join("state"), false);
    opts.retry.max_backoff = Duration::from_secs(5);
    let summary = run_es(Arc::clone(&ledger), es_config(&server.url()), opts);
    assert_eq!(summary.stats.failed, 1);
    assert_exactly_once(&server, &contents.spans);
    let state = server.state.lock().expect("state");
    let gap = state.bulk_request_times[1] - state.bulk_request_times[0];
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[test]
fn restart_resumes_from_the_persisted_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 1000, 0, 0);
    let server = BulkServer::start(Faults::default());
    let state_dir = dir.path().join("state");
    let mut first = options(&state_dir, false);
    first.stop_at = Some(450);
    let summary = run_es(Arc::clone(&ledger), es_config(&server.url()), first);
    assert_eq!(summary.next_index, 450);
    assert_eq!(server.doc_count(), 450);
    let cursor = std::fs::read_to_string(state_dir.join("cursor.json")).expect("cursor");
    assert!(cursor.contains("\"next_index\":450"), "{cursor}");
    let summary = run_es(
        Arc::clone(&ledger),
        es_config(&server.url()),
        options(&state_dir, false),
    );
    assert_eq!(summary.next_index, 1000);
    assert_eq!(summary.stats.sent, 550);
    assert_exactly_once(&server, &contents.spans);
    assert_eq!(server.state.lock().expect("state").conflicts, 0);
}

#[test]
fn follows_new_entries_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let mut expected = ledger::fill(&ledger, 100, 0, 0).spans;
    let server = BulkServer::start(Faults::default());
    let shutdown = Shutdown::new();
    let exporter = ElasticsearchExporter::new(es_config(&server.url()), ORIGIN).expect("exporter");
    let runner = ExportRunner::new(
        Arc::clone(&ledger),
        exporter,
        options(&dir.path().join("state"), true),
        shutdown.clone(),
    );
    let stats = runner.stats();
    let thread = runner.spawn().expect("spawn");
    expected.extend(ledger::fill(&ledger, 150, 0, 0).spans);
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.snapshot().cursor < 250 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    shutdown.trigger();
    let summary = thread.join().expect("join").expect("run");
    assert_eq!(summary.stopped, StopReason::Shutdown);
    assert_eq!(summary.next_index, 250);
    assert_eq!(stats.snapshot().lag, 0);
    assert_exactly_once(&server, &expected);
}

#[test]
fn an_unreachable_cluster_is_retried_until_shutdown_without_losing_the_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    ledger::fill(&ledger, 10, 0, 0);
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let shutdown = Shutdown::new();
    let exporter = ElasticsearchExporter::new(es_config(&url), ORIGIN).expect("exporter");
    let runner = ExportRunner::new(
        Arc::clone(&ledger),
        exporter,
        options(&dir.path().join("state"), true),
        shutdown.clone(),
    );
    let stats = runner.stats();
    let thread = runner.spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    assert!(stats.snapshot().failed > 0);
    shutdown.trigger();
    let summary = thread.join().expect("join").expect("run");
    assert_eq!(summary.next_index, 0);
    assert_eq!(summary.stats.sent, 0);
}

#[test]
fn erasure_deletes_the_subjects_documents_by_query() {
    use std::sync::Mutex;

    use crate::support::http::{Reply, Request, Server};

    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let server = Server::start({
        let seen = Arc::clone(&seen);
        Arc::new(move |request: &Request| {
            seen.lock().unwrap().push(request.clone());
            if request.path.contains("/_delete_by_query") {
                Reply::json(200, &serde_json::json!({"deleted": 3, "failures": []}))
            } else {
                Reply::json(404, &serde_json::json!({"error": "no"}))
            }
        })
    });
    let config = cairn_export::ExporterConfig::Elasticsearch(es_config(&server.url()));
    let deleted =
        cairn_export::delete_subject(&config, ORIGIN, "00112233445566778899aabbccddeeff").unwrap();
    assert_eq!(deleted, Some(3));
    let requests = seen.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        "/traces-cairn.agent-default/_delete_by_query?conflicts=proceed&refresh=true"
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"query": {"term": {"cairn.subject_key": "00112233445566778899aabbccddeeff"}}})
    );
    drop(requests);

    // A failing cluster is reported, not hidden.
    let failing = Server::start(Arc::new(|_: &Request| {
        Reply::json(500, &serde_json::json!({"error": "boom"}))
    }));
    let config = cairn_export::ExporterConfig::Elasticsearch(es_config(&failing.url()));
    let err = cairn_export::delete_subject(&config, ORIGIN, "k").unwrap_err();
    assert!(err.contains("500"), "{err}");
}
