//! Crash test: a child process appends in a loop and reports every acknowledged batch on
//! stdout; the parent SIGKILLs it at random moments, reopens the ledger, and checks that every
//! acknowledged entry is present and that `verify` passes. Then it starts the next round on the
//! same directory.
//!
//! The binary re-executes itself as the child (selected by an environment variable), so it has
//! its own `main` (`harness = false`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_ledger::{Ledger, LedgerOptions, VerifyOptions, verify_dir};

const CHILD_ENV: &str = "CAIRN_LEDGER_CRASH_CHILD_DIR";
const ROUNDS: u32 = 24;
const ROUNDS_PER_DIR: u32 = 8;

/// Deterministic content of entry `i` (so the parent can check it without the child's help).
fn entry(i: u64) -> Vec<u8> {
    let len = 8 + (i.wrapping_mul(2_654_435_761) % 300) as usize;
    let mut e = format!("crash-entry-{i}|").into_bytes();
    e.resize(len, (i % 251) as u8);
    e
}

fn options() -> LedgerOptions {
    LedgerOptions {
        origin: Some("cairn/crash-test".to_owned()),
        // Frequent checkpoints and small segments, so kills land in every code path:
        // mid-record, mid-rotation, mid-checkpoint.
        checkpoint_interval: Duration::from_millis(15),
        segment_size: 32 << 10,
        ..LedgerOptions::default()
    }
}

/// Child: append batches of 1..64 entries forever, printing `ack <start> <end>` after each.
fn child(dir: &Path) -> ! {
    let ledger = match Ledger::open(dir, options()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("child: open failed: {e}");
            std::process::exit(3);
        }
    };
    let mut next = ledger.size();
    let mut rng = next.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    loop {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let n = 1 + (rng >> 58);
        let batch: Vec<Vec<u8>> = (next..next + n).map(entry).collect();
        match ledger.append(&batch) {
            Ok(range) => {
                assert_eq!(range, next..next + n, "indices must continue the log");
                println!("ack {} {}", range.start, range.end);
                next = range.end;
            }
            Err(e) => {
                eprintln!("child: append failed: {e}");
                std::process::exit(4);
            }
        }
    }
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
    }
    // `cargo test` passes harness flags (e.g. `--quiet`, filters); a filter that does not
    // match this test skips it, like the default harness would.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty()
        && !args
            .iter()
            .any(|a| "acknowledged_entries_survive_sigkill".contains(a.as_str()))
    {
        println!("0 passed, 0 failed");
        return;
    }
    let started = Instant::now();
    acknowledged_entries_survive_sigkill();
    println!(
        "test acknowledged_entries_survive_sigkill ... ok ({ROUNDS} rounds, {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!("1 passed, 0 failed");
}

fn acknowledged_entries_survive_sigkill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let mut acked_end = 0u64;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let mut total_acked = 0u64;
    for round in 0..ROUNDS {
        // Chains of crashes on one directory; a fresh directory every few rounds keeps the
        // per-round full verification cheap (debug builds hash slowly).
        let dir = tmp
            .path()
            .join(format!("ledger-{}", round / ROUNDS_PER_DIR));
        if round % ROUNDS_PER_DIR == 0 {
            total_acked += acked_end;
            acked_end = 0;
        }
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                if parts.next() == Some("ack") {
                    let start: u64 = parts.next().and_then(|s| s.parse().ok()).expect("start");
                    let end: u64 = parts.next().and_then(|s| s.parse().ok()).expect("end");
                    assert!(start < end);
                    if tx.send(end).is_err() {
                        break;
                    }
                }
            }
        });
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if round % 6 == 5 {
            // Sometimes kill it early, possibly while it is still recovering in `open`.
            std::thread::sleep(Duration::from_millis(seed % 40));
        } else {
            // Let it get going, then kill it at a random moment.
            let first = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("child acknowledged nothing");
            acked_end = acked_end.max(first);
            std::thread::sleep(Duration::from_millis(5 + seed % 120));
        }
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("wait for child");
        assert!(!status.success(), "child must have been killed");
        reader.join().expect("reader thread");
        for end in rx.try_iter() {
            acked_end = acked_end.max(end);
        }

        // Recovery: everything acknowledged is there, byte for byte.
        let ledger = Ledger::open(&dir, options())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let size = ledger.size();
        assert!(
            size >= acked_end,
            "round {round}: {acked_end} entries acknowledged but only {size} recovered"
        );
        let mut i = 0;
        while i < acked_end {
            let chunk = ledger.read_range(i, 4096).expect("read_range");
            for (k, e) in chunk.iter().enumerate() {
                assert_eq!(
                    *e,
                    entry(i + k as u64),
                    "round {round}: entry {} differs",
                    i + k as u64
                );
            }
            i += chunk.len() as u64;
        }
        ledger.close().expect("close");
        drop(ledger);

        let report = verify_dir(&dir, &VerifyOptions::default(), &mut |_, _| {}).expect("verify");
        assert!(
            report.ok,
            "round {round}: verify failed: {:#?}",
            report.problems
        );
        assert_eq!(report.entries, size);
        assert_eq!(report.latest_checkpoint_size, Some(size));
        if std::env::var_os("CAIRN_CRASH_VERBOSE").is_some() {
            eprintln!(
                "round {round}: {size} entries, verify {:.2} s",
                report.elapsed_secs
            );
        }
    }
    assert!(total_acked + acked_end > 0);
}
