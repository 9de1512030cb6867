//! Several exporters at once (`spawn_exporters` with a list, as `cairn serve` runs them): an
//! Elasticsearch exporter and a JSONL exporter tail the same ledger, each with its own cursor, and
//! both deliver every span exactly once — also for entries appended while they run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_export::config::JsonlConfig;
use cairn_export::{BatchConfig, ExporterConfig, RetryConfig, Shutdown, spawn_exporters};

use crate::elasticsearch::{assert_exactly_once, es_config};
use crate::jsonl::jsonl_indices;
use crate::support::bulk::{BulkServer, Faults};
use crate::support::ledger;

#[test]
fn two_exporters_each_deliver_every_span_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let mut contents = ledger::fill(&ledger, 1_000, 0, 10);
    // Some item-level 429s, so the two exporters progress at different speeds.
    let server = BulkServer::start(Faults {
        item_429: 0.05,
        ..Faults::default()
    });
    let batch = BatchConfig {
        max_records: 100,
        poll_interval: Duration::from_millis(20),
        ..BatchConfig::default()
    };
    let retry = RetryConfig {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        max_attempts: 0,
    };
    let out = dir.path().join("jsonl");
    let configs = vec![
        ExporterConfig::Elasticsearch(cairn_export::config::ElasticsearchConfig {
            name: Some("search".to_owned()),
            batch: batch.clone(),
            retry: retry.clone(),
            ..es_config(&server.url())
        }),
        ExporterConfig::Jsonl(JsonlConfig {
            name: Some("files".to_owned()),
            path: Some(out.clone()),
            max_file_bytes: 64 * 1024,
            batch,
            retry,
            ..JsonlConfig::default()
        }),
    ];
    let shutdown = Shutdown::new();
    let handles = spawn_exporters(Arc::clone(&ledger), &configs, &data, &shutdown).expect("spawn");
    assert_eq!(handles.len(), 2);

    // More entries while both run.
    contents
        .spans
        .extend(ledger::fill(&ledger, 500, 0, 10).spans);
    let total = ledger.size();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !handles.iter().all(|h| h.stats.snapshot().cursor >= total) {
        assert!(
            Instant::now() < deadline,
            "exporters did not catch up: {:?}",
            handles
                .iter()
                .map(|h| (h.name.clone(), h.stats.snapshot()))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    shutdown.trigger();
    for handle in handles {
        let name = handle.name.clone();
        let summary = handle.join().expect("exporter stops cleanly");
        assert_eq!(summary.next_index, total, "{name}");
        assert_eq!(summary.stats.sent, contents.spans.len() as u64, "{name}");
        assert_eq!(summary.stats.dead_lettered, 0, "{name}");
    }
    assert_exactly_once(&server, &contents.spans);
    let (indices, files) = jsonl_indices(&out, "cairn-spans");
    assert!(files > 1, "the JSONL exporter rotated: {files} file(s)");
    assert_eq!(indices, contents.spans, "every span once, in ledger order");
    // Each kept its own cursor.
    for name in ["search", "files"] {
        let cursor = std::fs::read_dir(&data)
            .expect("data dir")
            .filter_map(Result::ok)
            .flat_map(|e| walk(&e.path()))
            .find(|p| p.ends_with("cursor.json") && p.parent().is_some_and(|d| d.ends_with(name)));
        assert!(cursor.is_some(), "no cursor for {name}");
    }
}

fn walk(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|d| {
                d.filter_map(Result::ok)
                    .flat_map(|e| walk(&e.path()))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![path.to_path_buf()]
    }
}
