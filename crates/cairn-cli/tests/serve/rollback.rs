//! `cairn serve` on a ledger that lost checkpointed entries: refused without the recovery flag,
//! opened (new checkpoint history, old one moved aside) with it; the fsync policy flag.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs `cairn serve` that is expected to exit by itself; returns its exit success and stderr.
fn serve_expecting_exit(data_dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut child = cairn()
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(EPHEMERAL_PORTS)
        .args(extra)
        .env_remove("CAIRN_CONFIG")
        .env_remove("CAIRN_LEDGER_ALLOW_ROLLBACK_RECOVERY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "cairn serve kept running: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn checkpoint_size(serve: &Serve) -> Option<u64> {
    let (status, note) = serve.get("/api/v1/audit/checkpoint");
    assert_eq!(status, 200, "{note}");
    note.lines().nth(1).and_then(|l| l.parse().ok())
}

fn moved_aside(ledger_dir: &Path) -> Vec<String> {
    std::fs::read_dir(ledger_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("checkpoints.log.rolled-back-"))
        .collect()
}

#[test]
fn serve_refuses_a_rolled_back_ledger_and_recovers_only_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ledger_dir = data.join("ledger");

    // Three spans, acknowledged under the relaxed fsync policy (the flag reaches the ledger; a
    // clean stop still makes everything durable and checkpointed).
    let serve = Serve::start(dir.path(), &["--ledger-fsync", "before-checkpoint"]);
    let url = format!("{}/v1/traces", serve.http);
    assert_eq!(
        post(&url, &[PROTOBUF], &tool_span_request(0..3)).status,
        200
    );
    serve.wait_indexed(3);
    assert!(
        serve.logs().contains("before_checkpoint"),
        "the relaxed policy is announced: {}",
        serve.logs()
    );
    serve.stop();
    let backup = dir.path().join("backup");
    copy_dir(&data, &backup);

    // Five more, signed in a checkpoint of size 8.
    let serve = Serve::start(dir.path(), &[]);
    let url = format!("{}/v1/traces", serve.http);
    assert_eq!(
        post(&url, &[PROTOBUF], &tool_span_request(3..8)).status,
        200
    );
    serve.wait_indexed(8);
    serve.stop();

    // The older copy comes back, but the signed history that covers 8 entries survives.
    let history = std::fs::read(ledger_dir.join("checkpoints.log")).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    std::fs::write(ledger_dir.join("checkpoints.log"), &history).unwrap();

    // Refused, with the reason and the way out; nothing was changed.
    let (ok, stderr) = serve_expecting_exit(&data, &[]);
    assert!(!ok, "serve must refuse a rolled-back ledger: {stderr}");
    assert!(
        stderr.contains("covers 8 entries but only 3 are on disk"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-rollback-recovery"), "{stderr}");
    assert!(moved_aside(&ledger_dir).is_empty());
    assert_eq!(
        std::fs::read(ledger_dir.join("checkpoints.log")).unwrap(),
        history
    );

    // With the flag: opens at the 3 entries on disk, under a new history; the old one is kept.
    let serve = Serve::start(dir.path(), &["--allow-rollback-recovery"]);
    let aside = moved_aside(&ledger_dir);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(ledger_dir.join(&aside[0])).unwrap(), history);
    assert!(
        serve.logs().contains("rollback recovery"),
        "{}",
        serve.logs()
    );
    assert_eq!(checkpoint_size(&serve), Some(3));
    let url = format!("{}/v1/traces", serve.http);
    assert_eq!(
        post(&url, &[PROTOBUF], &tool_span_request(8..10)).status,
        200
    );
    serve.wait_indexed(5);
    let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(0)));
    assert_eq!(status, 200, "kept entries are still there");
    let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(9)));
    assert_eq!(status, 200, "new entries are accepted");
    serve.stop();
    assert_verify(&data);

    // The next start needs no flag; with the flag left on, a reminder is logged.
    let serve = Serve::start(dir.path(), &[]);
    serve.stop();
    let serve = Serve::start(dir.path(), &["--allow-rollback-recovery"]);
    assert!(serve.logs().contains("was not needed"), "{}", serve.logs());
    serve.stop();
    assert_eq!(moved_aside(&ledger_dir).len(), 1);
}
