//! The JSONL exporter: rotation, restarts, a rewound cursor, log records skipped.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_export::config::JsonlConfig;
use cairn_export::{BatchConfig, ExportRunner, JsonlExporter, RunnerOptions, Shutdown};
use cairn_ledger::Ledger;

use crate::support::ledger::{self, ORIGIN};

pub(crate) fn jsonl_options(state: &Path, follow: bool) -> RunnerOptions {
    RunnerOptions {
        batch: BatchConfig {
            max_records: 64,
            poll_interval: Duration::from_millis(20),
            ..BatchConfig::default()
        },
        follow,
        ..RunnerOptions::follow("jsonl", state)
    }
}

/// Every `cairn.ledger.index` in the files, in file then line order, and the file count.
/// Also checks each file's name gives its first index.
pub(crate) fn jsonl_indices(dir: &Path, prefix: &str) -> (Vec<u64>, usize) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut indices = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "torn line left in {path:?}"
        );
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let first: u64 = name
            .strip_prefix(&format!("{prefix}-"))
            .and_then(|d| d.parse().ok())
            .expect("file name holds the first index");
        for (n, line) in text.lines().enumerate() {
            let doc: serde_json::Value = serde_json::from_str(line).expect("json line");
            let index = doc["cairn"]["ledger"]["index"].as_u64().expect("index");
            if n == 0 {
                assert_eq!(index, first, "{path:?}");
            }
            indices.push(index);
        }
    }
    (indices, files.len())
}

fn run(
    ledger: &Arc<Ledger>,
    config: JsonlConfig,
    out: &Path,
    state: &Path,
) -> cairn_export::RunSummary {
    let exporter = JsonlExporter::new(config, out.to_owned(), ORIGIN).expect("exporter");
    ExportRunner::new(
        Arc::clone(ledger),
        exporter,
        jsonl_options(state, false),
        Shutdown::new(),
    )
    .run()
    .expect("run")
}

#[test]
fn every_span_exactly_once_across_rotations_restarts_and_a_rewound_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let mut contents = ledger::fill(&ledger, 1500, 0, 10);
    let out = dir.path().join("out");
    let state = dir.path().join("state");
    let config = JsonlConfig {
        max_file_bytes: 32 * 1024,
        ..JsonlConfig::default()
    };
    let summary = run(&ledger, config.clone(), &out, &state);
    assert_eq!(summary.next_index, 1500);
    assert_eq!(summary.stats.skipped, contents.logs.len() as u64);
    let (indices, files) = jsonl_indices(&out, "cairn-spans");
    assert!(files > 3, "rotation by size: {files} files");
    assert_eq!(indices, contents.spans);

    // New entries, and a cursor rewound to 0 (as after a crash between write and cursor save).
    contents
        .spans
        .extend(ledger::fill(&ledger, 700, 0, 10).spans);
    std::fs::write(
        state.join("cursor.json"),
        format!("{{\"origin\":\"{ORIGIN}\",\"next_index\":0}}"),
    )
    .expect("rewind cursor");
    let summary = run(&ledger, config.clone(), &out, &state);
    assert_eq!(summary.next_index, 2200);
    let (indices, _) = jsonl_indices(&out, "cairn-spans");
    assert_eq!(indices, contents.spans);

    // A torn last line (crash mid-write) is cut and rewritten once.
    let (_, last) = {
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        ((), files.pop().expect("a file"))
    };
    let text = std::fs::read_to_string(&last).expect("read");
    let cut = text.trim_end_matches('\n').rfind('\n').map_or(0, |p| p + 1) + 20;
    std::fs::write(&last, &text.as_bytes()[..cut]).expect("tear");
    std::fs::write(
        state.join("cursor.json"),
        format!("{{\"origin\":\"{ORIGIN}\",\"next_index\":2100}}"),
    )
    .expect("rewind cursor");
    run(&ledger, config, &out, &state);
    let (indices, _) = jsonl_indices(&out, "cairn-spans");
    assert_eq!(indices, contents.spans);
}

#[test]
fn rotation_by_age_and_same_fields_as_elasticsearch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let out = dir.path().join("out");
    let state = dir.path().join("state");
    let config = JsonlConfig {
        max_file_age: Duration::from_millis(50),
        ..JsonlConfig::default()
    };
    let mut spans = ledger::fill(&ledger, 10, 0, 0).spans;
    run(&ledger, config.clone(), &out, &state);
    std::thread::sleep(Duration::from_millis(80));
    spans.extend(ledger::fill(&ledger, 10, 0, 0).spans);
    run(&ledger, config, &out, &state);
    let (indices, files) = jsonl_indices(&out, "cairn-spans");
    assert_eq!(files, 2, "the second run starts a new file");
    assert_eq!(indices, spans);

    let text =
        std::fs::read_to_string(out.join(format!("cairn-spans-{:020}.jsonl", 0))).expect("read");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().nth(1).expect("line")).expect("json");
    let span = ledger::span(1, false);
    let id = cairn_export::document::document_id(ORIGIN, 1);
    let expected = cairn_export::document::span_document(
        &span,
        &cairn_export::document::DocumentContext {
            origin: ORIGIN,
            index: 1,
            id: &id,
            namespace: "default",
        },
    );
    assert_eq!(line, expected);
}
