//! Access records (HIPAA §164.312(b)): every read of span content through the API is appended to
//! the ledger as a `cairn.audit.access` log record.
//!
//! Record shape (an ordinary `Record::Log`, no new codec type):
//!
//! | field | value |
//! |---|---|
//! | `event_name` | `cairn.audit.access` |
//! | resource | `service.name = "cairn"`, `cairn.project = <the reader's project>` |
//! | scope | name `cairn` |
//! | `time_unix_nano` | when the read was answered |
//! | trace / span id | none (the trace read is an attribute, so the record is not shown inside it) |
//! | attributes | `cairn.audit.key_id`, `cairn.audit.project`, `cairn.audit.route` (route template, e.g. `GET /api/v1/traces/{trace_id}`), and when present `cairn.audit.trace_id`, `cairn.audit.query` (the query string), `cairn.audit.ledger_index` |
//!
//! Recording never waits for the ledger: handlers hand the record to a bounded queue (capacity
//! [`QUEUE_CAPACITY`]) and answer; one task drains it and appends everything waiting in one
//! submit to the ledger writer (one group commit, not one fsync per read), at the latest
//! [`FLUSH_INTERVAL`] after the read. A record that cannot be queued (queue full) or appended
//! (ledger failure, shutdown) is counted in `cairn_audit_access_failures_total` and logged.
//! Consequence: a crash within the flush interval can lose the access records of the last reads;
//! they are never silently dropped while the server runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_metrics::Metrics;
use cairn_model::{AnyValue, InstrumentationScope, KeyValue, LogRecord, Resource, codec};
use tokio::sync::{mpsc, oneshot};

use super::{PROJECT_ATTRIBUTE, Principal};
use crate::pipeline::appender::Appender;

/// The `event_name` of access records.
pub const ACCESS_EVENT: &str = "cairn.audit.access";
/// Access records waiting to be appended; more are counted as failures.
pub(crate) const QUEUE_CAPACITY: usize = 65_536;
/// Longest time an access record waits before its batch is appended.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Most records per append.
const MAX_BATCH: usize = 4096;

/// One read to record.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub(crate) key_id: String,
    pub(crate) project: String,
    pub(crate) route: &'static str,
    pub(crate) trace_id: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) ledger_index: Option<u64>,
    pub(crate) at_unix_nano: u64,
}

impl Access {
    pub(crate) fn new(principal: &Principal, route: &'static str) -> Self {
        Self {
            key_id: principal.key_id.clone(),
            project: principal.project.clone(),
            route,
            trace_id: None,
            query: None,
            ledger_index: None,
            at_unix_nano: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    /// The ledger record.
    pub(crate) fn to_log(&self) -> LogRecord {
        let s = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: AnyValue::String(v.to_owned()),
        };
        let mut attributes = vec![
            s("cairn.audit.key_id", &self.key_id),
            s("cairn.audit.project", &self.project),
            s("cairn.audit.route", self.route),
        ];
        if let Some(t) = &self.trace_id {
            attributes.push(s("cairn.audit.trace_id", t));
        }
        if let Some(q) = &self.query {
            attributes.push(s("cairn.audit.query", q));
        }
        if let Some(i) = self.ledger_index {
            attributes.push(KeyValue {
                key: "cairn.audit.ledger_index".into(),
                value: AnyValue::Int(i64::try_from(i).unwrap_or(i64::MAX)),
            });
        }
        LogRecord {
            time_unix_nano: self.at_unix_nano,
            observed_time_unix_nano: self.at_unix_nano,
            severity_number: 9,
            severity_text: "INFO".to_owned(),
            event_name: ACCESS_EVENT.to_owned(),
            body: AnyValue::String(format!("{} read {}", self.key_id, self.route)),
            attributes,
            resource: Resource {
                attributes: vec![
                    s("service.name", "cairn"),
                    s(PROJECT_ATTRIBUTE, &self.project),
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

enum Msg {
    Record(Access),
    /// Append everything queued before this message, answer, and stop.
    Stop(oneshot::Sender<()>),
}

/// The queue handlers record into.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Record(a) => write!(f, "Record({})", a.route),
            Self::Stop(_) => f.write_str("Stop"),
        }
    }
}

impl AccessLog {
    /// Starts the appending task on the current runtime.
    pub(crate) fn start(appender: Arc<Appender>, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(drain(rx, appender, Arc::clone(&metrics)));
        Self { tx, metrics }
    }

    /// Queues one record without waiting.
    pub(crate) fn record(&self, access: Access) {
        if let Err(err) = self.tx.try_send(Msg::Record(access)) {
            self.metrics.health().audit_access_failed(1);
            tracing::error!(error = %err, "cannot queue an access record; it is lost");
        }
    }

    /// Appends everything queued so far and stops the task (call before the ledger writer
    /// closes). Records made after this are counted as failures.
    pub(crate) async fn stop(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Stop(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn drain(mut rx: mpsc::Receiver<Msg>, appender: Arc<Appender>, metrics: Arc<Metrics>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut stop = None;
        match first {
            Msg::Record(access) => batch.push(access),
            Msg::Stop(reply) => stop = Some(reply),
        }
        let deadline = tokio::time::Instant::now() + FLUSH_INTERVAL;
        while stop.is_none() && batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Msg::Record(access))) => batch.push(access),
                Ok(Some(Msg::Stop(reply))) => stop = Some(reply),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let entries: Vec<Vec<u8>> = batch
                .drain(..)
                .map(|a| codec::encode_log(&a.to_log()))
                .collect();
            let n = entries.len() as u64;
            match appender.submit(entries).await {
                Ok(_) => metrics.health().audit_access_written(n),
                Err(err) => {
                    metrics.health().audit_access_failed(n);
                    tracing::error!(error = %err, records = n, "cannot append access records");
                }
            }
        }
        if let Some(reply) = stop {
            rx.close();
            let _ = reply.send(());
            return;
        }
    }
}
