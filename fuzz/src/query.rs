//! Checks for the collector's query-string parsing (`api/params.rs`).
//!
//! Invariants checked on every input:
//! - a query string the HTTP layer accepts is either parsed or answered 400 (malformed, unknown
//!   or repeated parameter) or 413 (longer than 8 KiB), with a message; never a panic;
//! - every accepted parameter read as a string, a number and a time never panics; a number or
//!   time error names the parameter; a present, non-empty value is returned unchanged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_collector::fuzzing;

/// Every parameter name the query and audit endpoints accept.
pub const ALLOWED: &[&str] = &[
    "limit",
    "agent",
    "status",
    "kind",
    "tool",
    "model",
    "conversation",
    "q",
    "since",
    "until",
    "min_duration_ms",
    "cursor",
    "group_by",
    "index",
    "size",
];

/// Longest query string the API parses (larger is a 413).
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Fuzz target `query_params`: the input (when UTF-8) as the query string of an API request.
pub fn query_params(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    // A fixed clock keeps the check deterministic; a second one near the epoch reaches the
    // clamping of durations longer than the time since 1970.
    for now in [
        UNIX_EPOCH + Duration::from_secs(1_750_000_000),
        UNIX_EPOCH + Duration::from_secs(5),
    ] {
        check(query, now);
    }
    let _ = cairn_collector::parse_time(query);
}

fn check(query: &str, now: SystemTime) {
    let Some(result) = fuzzing::query_params(query, ALLOWED, now) else {
        return;
    };
    match result {
        Err((status, message)) => {
            assert!(
                status == 400 || (status == 413 && query.len() > MAX_QUERY_BYTES),
                "unexpected status {status}: {message}"
            );
            assert!(!message.is_empty(), "error without a message");
        }
        Ok(readings) => {
            assert!(
                query.len() <= MAX_QUERY_BYTES,
                "oversized query string accepted"
            );
            for (name, string, number, time) in readings {
                if let Some(value) = &string {
                    assert!(!value.is_empty(), "empty value reported as present");
                }
                for reading in [&number, &time] {
                    match reading {
                        Ok(Some(_)) => assert!(string.is_some(), "a value read from nothing"),
                        Ok(None) => assert!(string.is_none(), "a present value read as absent"),
                        Err(message) => {
                            assert!(message.contains(&name), "error does not name {name}")
                        }
                    }
                }
            }
        }
    }
}
