//! Test modules and shared helpers.

mod api;
mod archive;
mod cosigned;
mod interop;
mod model;
mod tamper;
mod vectors;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_ledger::{Ledger, LedgerOptions};

/// Deterministic entry `i`, 20..=420 bytes.
pub(crate) fn entry(i: u64) -> Vec<u8> {
    let len = 20 + (i.wrapping_mul(7919) % 400) as usize;
    let mut e = format!("entry-{i}:").into_bytes();
    e.resize(len, b'a' + (i % 26) as u8);
    e
}

/// Options for tests: small segments, a long interval so only explicit checkpoints happen.
pub(crate) fn opts() -> LedgerOptions {
    LedgerOptions {
        origin: Some("cairn/test".to_owned()),
        checkpoint_interval: Duration::from_secs(3600),
        segment_size: 8 << 10,
        ..LedgerOptions::default()
    }
}

pub(crate) fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, opts()).expect("open ledger")
}

/// Appends entries `from..to` in batches of `batch`.
pub(crate) fn fill(ledger: &Ledger, from: u64, to: u64, batch: u64) {
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        let entries: Vec<Vec<u8>> = (i..end).map(entry).collect();
        let range = ledger.append(&entries).expect("append");
        assert_eq!(range, i..end);
        i = end;
    }
}

/// Recursively copies a directory.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut s: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    s.sort();
    s
}
