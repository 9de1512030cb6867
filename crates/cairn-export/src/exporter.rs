//! The [`Exporter`] trait: what a destination implements; everything else is the runner's job.

use std::time::Duration;

use cairn_model::Record;

/// One ledger entry on its way to a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The entry's ledger index (unique within the ledger's origin).
    pub index: u64,
    /// The decoded entry.
    pub record: Record,
}

/// What became of one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// The destination has the record (newly, or already from an earlier attempt).
    Delivered,
    /// The exporter does not handle this kind of record (e.g. a log record for a span index).
    Skipped,
    /// A transient failure for this item only (ES 429/5xx item status): send it again later.
    Retry {
        /// Why, for logs.
        reason: String,
    },
    /// The destination will never accept this record as it is: it goes to the dead-letter file.
    Reject {
        /// Why (the destination's error), recorded in the dead-letter file.
        reason: String,
    },
}

/// The per-item result of [`Exporter::send`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// One outcome per item, in the batch's order.
    pub outcomes: Vec<ItemOutcome>,
    /// The destination asked to wait at least this long before retrying (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl SendReport {
    /// Every item delivered.
    pub fn all_delivered(len: usize) -> Self {
        Self {
            outcomes: vec![ItemOutcome::Delivered; len],
            retry_after: None,
        }
    }
}

/// A send attempt that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Worth retrying unchanged: connection errors, timeouts, 429, 5xx, and misconfiguration
    /// (401/403/404), which an operator can fix without losing data.
    #[error("{reason}")]
    Transient {
        /// What went wrong.
        reason: String,
        /// The destination's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The destination refused the request because of its content (400, 413, 422). The runner
    /// splits the batch in halves until it isolates the records at fault and dead-letters them.
    #[error("{reason}")]
    Rejected {
        /// What went wrong.
        reason: String,
    },
}

impl SendError {
    /// A transient error without a `Retry-After`.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// A destination for ledger records.
///
/// # Contract
///
/// - **Threading.** An exporter is driven by exactly one [`crate::ExportRunner`] on a dedicated
///   OS thread; methods take `&mut self` and are never called concurrently. It must be `Send`
///   (it is moved onto that thread), not `Sync`.
/// - **Blocking.** Methods may block (HTTP, `fsync`), but every blocking operation must be bounded
///   by a timeout: shutdown waits for the call in flight to return.
/// - **Retries belong to the runner.** An exporter makes one attempt per call and reports what
///   happened ([`SendReport`] per item, or a [`SendError`] for the whole batch). The runner
///   retries with exponential backoff and jitter, isolates rejected records, writes the
///   dead-letter file and keeps [`crate::ExporterStats`], so every destination behaves the same.
/// - **Idempotence.** Delivery is at least once: after a crash or a failed attempt the same item
///   (same ledger index) is sent again. A destination must make a replay harmless (Elasticsearch:
///   `_id` derived from the ledger; JSONL: resume after the last index in the file).
/// - **Order of calls.** [`Exporter::start`] (until it succeeds), [`Exporter::resume_from`] once,
///   then [`Exporter::send`] any number of times per batch followed by one [`Exporter::commit`]
///   before the runner persists its cursor, and [`Exporter::stop`] at the end.
///
/// Every hook except `send` has a no-op default, so a destination writes only what it needs.
pub trait Exporter: Send {
    /// The destination kind, for logs and the dead-letter file (`elasticsearch`, `otlp`, `jsonl`).
    fn kind(&self) -> &'static str;

    /// Prepares the destination (e.g. installs index templates). Retried with backoff until it
    /// succeeds or the runner stops. Must be idempotent.
    fn start(&mut self) -> Result<(), SendError> {
        Ok(())
    }

    /// The first ledger index to export, given the runner's persisted cursor. A destination that
    /// knows better (a JSONL file that holds entries past the cursor) returns a later index.
    fn resume_from(&mut self, cursor: u64) -> Result<u64, SendError> {
        Ok(cursor)
    }

    /// Makes one attempt to deliver `batch` (never empty). On `Ok`, the report holds exactly
    /// one outcome per item.
    fn send(&mut self, batch: &[Item]) -> Result<SendReport, SendError>;

    /// Makes everything sent so far durable at the destination; the runner persists its cursor
    /// right after. Called once per batch, after every item has a final outcome.
    fn commit(&mut self) -> Result<(), SendError> {
        Ok(())
    }

    /// Releases resources when the runner stops.
    fn stop(&mut self) {}
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    fn start(&mut self) -> Result<(), SendError> {
        (**self).start()
    }

    fn resume_from(&mut self, cursor: u64) -> Result<u64, SendError> {
        (**self).resume_from(cursor)
    }

    fn send(&mut self, batch: &[Item]) -> Result<SendReport, SendError> {
        (**self).send(batch)
    }

    fn commit(&mut self) -> Result<(), SendError> {
        (**self).commit()
    }

    fn stop(&mut self) {
        (**self).stop();
    }
}
