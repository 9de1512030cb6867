//! Export throughput into the in-test bulk server and into JSONL files. Ignored by default
//! (timing, not correctness): `cargo test --release -p cairn-export --test integration
//! throughput -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_export::config::{ElasticsearchConfig, JsonlConfig};
use cairn_export::{
    BatchConfig, ElasticsearchExporter, ExportRunner, JsonlExporter, RunnerOptions, Shutdown,
};

use crate::support::bulk::{BulkServer, Faults};
use crate::support::ledger::{self, ORIGIN};

const SPANS: u64 = 100_000;

fn options(state: &std::path::Path) -> RunnerOptions {
    RunnerOptions {
        batch: BatchConfig {
            max_records: 2000,
            max_bytes: 8 << 20,
            poll_interval: Duration::from_millis(50),
        },
        follow: false,
        ..RunnerOptions::follow("bench", state)
    }
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn throughput() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    ledger::fill(&ledger, SPANS, 0, 0);

    let server = BulkServer::start(Faults::default());
    let config = ElasticsearchConfig {
        endpoint: server.url(),
        ..ElasticsearchConfig::default()
    };
    let exporter = ElasticsearchExporter::new(config, ORIGIN).expect("exporter");
    let started = Instant::now();
    let summary = ExportRunner::new(
        Arc::clone(&ledger),
        exporter,
        options(&dir.path().join("es-state")),
        Shutdown::new(),
    )
    .run()
    .expect("run");
    let es = started.elapsed();
    assert_eq!(summary.stats.sent, SPANS);

    let exporter = JsonlExporter::new(JsonlConfig::default(), dir.path().join("out"), ORIGIN)
        .expect("exporter");
    let started = Instant::now();
    let summary = ExportRunner::new(
        Arc::clone(&ledger),
        exporter,
        options(&dir.path().join("jsonl-state")),
        Shutdown::new(),
    )
    .run()
    .expect("run");
    let jsonl = started.elapsed();
    assert_eq!(summary.stats.sent, SPANS);

    let rate = |d: Duration| SPANS as f64 / d.as_secs_f64();
    println!(
        "elasticsearch (gzip, in-test bulk server): {SPANS} spans in {es:.2?} = {:.0} spans/s",
        rate(es)
    );
    println!(
        "jsonl (fsync per batch of 2000): {SPANS} spans in {jsonl:.2?} = {:.0} spans/s",
        rate(jsonl)
    );
}
