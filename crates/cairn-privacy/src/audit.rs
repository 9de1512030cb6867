//! The `cairn.audit.erasure` ledger record.
//!
//! An ordinary `Record::Log` (no new codec record type), shared shape with the other audit records:
//! `event_name = "cairn.audit.erasure"`, resource `service.name = "cairn"` and
//! `cairn.project = <project>`, scope name `cairn`, no trace or span id, and the attributes:
//!
//! | attribute | value |
//! |---|---|
//! | `cairn.audit.subject_hash` | the subject's salted hash (never the subject id) |
//! | `cairn.audit.key_id` | the destroyed data key's id (the id in the ciphertexts) |
//! | `cairn.audit.actor` | who asked (API key name, `cli`, …) |
//! | `cairn.audit.index_rows_erased` | index rows rewritten to `[erased]` |
//! | `cairn.audit.exporters_notified` | exporters asked to delete (e.g. Elasticsearch delete-by-query) |
//!
//! The record's time is the erasure time; the body is empty.

use cairn_model::{AnyValue, InstrumentationScope, KeyValue, LogRecord, Resource};

/// The event name of an erasure record.
pub const ERASURE_EVENT: &str = "cairn.audit.erasure";

/// What one erasure did, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The subject's salted hash.
    pub subject_hash: String,
    /// The destroyed key's id.
    pub key_id: String,
    /// Who asked.
    pub actor: String,
    /// The project the record belongs to (`default` without auth).
    pub project: String,
    /// Index rows rewritten.
    pub index_rows_erased: u64,
    /// Exporters asked to delete downstream copies.
    pub exporters_notified: u64,
    /// Erasure time, unix nanoseconds.
    pub time_unix_nano: u64,
}

impl Erasure {
    /// The ledger record.
    pub fn to_log_record(&self) -> LogRecord {
        let count = |n: u64| AnyValue::Int(i64::try_from(n).unwrap_or(i64::MAX));
        LogRecord {
            time_unix_nano: self.time_unix_nano,
            observed_time_unix_nano: self.time_unix_nano,
            severity_number: 9,
            severity_text: "INFO".to_owned(),
            event_name: ERASURE_EVENT.to_owned(),
            attributes: vec![
                KeyValue::new("cairn.audit.subject_hash", self.subject_hash.clone()),
                KeyValue::new("cairn.audit.key_id", self.key_id.clone()),
                KeyValue::new("cairn.audit.actor", self.actor.clone()),
                KeyValue::new(
                    "cairn.audit.index_rows_erased",
                    count(self.index_rows_erased),
                ),
                KeyValue::new(
                    "cairn.audit.exporters_notified",
                    count(self.exporters_notified),
                ),
            ],
            resource: Resource {
                attributes: vec![
                    KeyValue::new("service.name", "cairn"),
                    KeyValue::new("cairn.project", self.project.clone()),
                ],
                ..Resource::default()
            },
            scope: InstrumentationScope {
                name: "cairn".to_owned(),
                ..InstrumentationScope::default()
            },
            ..LogRecord::default()
        }
    }
}
