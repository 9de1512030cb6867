//! `kill -9` mid-stream: the runner runs in a child process (this test binary re-executed with
//! `CAIRN_EXPORT_CRASH_CHILD` set), is killed with SIGKILL at arbitrary points, and restarted.
//! The destination must end with every span exactly once and the dead-letter file with exactly
//! the rejected ones.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_export::config::JsonlConfig;
use cairn_export::{ExportRunner, JsonlExporter, Shutdown};

use crate::elasticsearch::{assert_exactly_once, dead_letter_indices, es_config, options, run_es};
use crate::jsonl::{jsonl_indices, jsonl_options};
use crate::support::bulk::{BulkServer, Faults};
use crate::support::ledger::{self, ORIGIN};

const CHILD_ENV: &str = "CAIRN_EXPORT_CRASH_CHILD";

/// The child's body: runs the exporter named by the environment until killed.
#[test]
fn crash_child_entry() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return; // not a child: nothing to do
    };
    let root = std::path::PathBuf::from(std::env::var("CAIRN_EXPORT_CRASH_DIR").expect("dir"));
    let ledger = Arc::new(ledger::open(&root.join("ledger")));
    let state = root.join("state");
    match kind.as_str() {
        "es" => {
            let url = std::env::var("CAIRN_EXPORT_CRASH_URL").expect("url");
            let _ = run_es(ledger, es_config(&url), options(&state, true));
        }
        "jsonl" => {
            let exporter =
                JsonlExporter::new(jsonl_config(), root.join("out"), ORIGIN).expect("exporter");
            let _ = ExportRunner::new(
                ledger,
                exporter,
                jsonl_options(&state, true),
                Shutdown::new(),
            )
            .run();
        }
        other => panic!("unknown child kind {other}"),
    }
}

fn jsonl_config() -> JsonlConfig {
    JsonlConfig {
        max_file_bytes: 64 * 1024,
        ..JsonlConfig::default()
    }
}

fn spawn_child(kind: &str, root: &Path, url: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash::crash_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, kind)
        .env("CAIRN_EXPORT_CRASH_DIR", root)
        .env("CAIRN_EXPORT_CRASH_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn elasticsearch_survives_kill_9_mid_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let contents = {
        let ledger = ledger::open(&root.join("ledger"));
        ledger::fill(&ledger, 3000, 41, 0)
    }; // the ledger is closed: the child takes its lock
    let server = BulkServer::start(Faults {
        seed: 3,
        item_429: 0.05,
        slow: 0.2,
        slow_delay: Duration::from_millis(30),
        ..Faults::default()
    });
    for threshold in [400, 1100, 1900] {
        let mut child = spawn_child("es", root, &server.url());
        wait_until("documents", || server.doc_count() >= threshold);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    let ledger = Arc::new(ledger::open(&root.join("ledger")));
    let summary = run_es(
        ledger,
        es_config(&server.url()),
        options(&root.join("state"), false),
    );
    assert_eq!(summary.next_index, 3000);
    assert_exactly_once(&server, &contents.spans);
    assert_eq!(dead_letter_indices(&root.join("state")), contents.poison);
}

#[test]
fn jsonl_survives_kill_9_mid_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let contents = {
        let ledger = ledger::open(&root.join("ledger"));
        ledger::fill(&ledger, 20_000, 0, 0)
    };
    let out = root.join("out");
    let lines = || {
        std::fs::read_dir(&out)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    for threshold in [300_000, 2_000_000, 4_500_000] {
        let mut child = spawn_child("jsonl", root, "");
        wait_until("jsonl bytes", || lines() >= threshold);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
    let ledger = Arc::new(ledger::open(&root.join("ledger")));
    let exporter = JsonlExporter::new(jsonl_config(), out.clone(), ORIGIN).expect("exporter");
    let summary = ExportRunner::new(
        ledger,
        exporter,
        jsonl_options(&root.join("state"), false),
        Shutdown::new(),
    )
    .run()
    .expect("run");
    assert_eq!(summary.next_index, 20_000);
    let (indices, files) = jsonl_indices(&out, "cairn-spans");
    assert!(files > 10, "{files} files: rotation expected");
    assert_eq!(indices, contents.spans);
}
