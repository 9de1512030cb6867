//! Reliability suites over the real `cairn` binary: kill -9 at random moments, a full disk,
//! overload, hostile clients.
//!
//! The quick versions run with `cargo test`; `CAIRN_LONG_TESTS=1` runs the long ones (100 crash
//! rounds instead of 20, longer overload). The disk-full test mounts a tmpfs and so needs root; where
//! it cannot mount, it fails with instructions unless `CAIRN_SKIP_DISKFULL=1` says to skip it (it
//! then prints a loud SKIPPED line) — a skip is never silent. See `docs/performance.md`.

#[allow(dead_code)]
#[path = "../serve/harness.rs"]
mod harness;

mod common;
mod crash;
mod diskfull;
mod hostile;
mod overload;
