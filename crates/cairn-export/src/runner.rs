//! [`ExportRunner`]: tails the ledger from a persisted cursor and drives one [`Exporter`].
//!
//! # Delivery guarantee
//!
//! At least once, across restarts and `kill -9`; exactly once at destinations that make replays
//! harmless (every exporter in this crate does). The invariant: **the cursor never moves past a
//! record before that record is durable at the destination or in the dead-letter file.** Per
//! batch:
//!
//! 1. read up to `batch.max_records` entries (and `batch.max_bytes`) from the cursor;
//! 2. decode them; an undecodable entry goes straight to the dead-letter file;
//! 3. [`Exporter::send`] until every record has a final outcome: delivered, skipped, or
//!    dead-lettered. Items the destination reports as transient failures are re-sent alone,
//!    after an exponential backoff with jitter (honouring `Retry-After`). A batch the destination
//!    refuses for its content is split in halves until the records at fault are isolated;
//!    only those are dead-lettered;
//! 4. fsync the dead-letter file, [`Exporter::commit`], then persist the cursor (temp file,
//!    fsync, rename, directory fsync).
//!
//! A crash anywhere before step 4 replays the batch: Elasticsearch answers 409 for documents it
//! already has (counted as delivered), the JSONL exporter resumes after the last index in its
//! file, and the dead-letter file skips indices it already holds.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use cairn_ledger::ReadError;
use cairn_model::Record;

use crate::backoff::Backoff;
use crate::config::{BatchConfig, RetryConfig};
use crate::exporter::{Exporter, Item, ItemOutcome, SendError, SendReport};
use crate::shutdown::Shutdown;
use crate::source::EntrySource;
use crate::state::{Cursor, DeadLetter, DeadLetters, StateError};
use crate::stats::{ExporterStats, StatsSnapshot};

/// Options of one [`ExportRunner`].
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// The exporter's name (logs, dead-letter records).
    pub name: String,
    /// Where `cursor.json` and `dead-letter.jsonl` live (see [`crate::state`]).
    pub state_dir: PathBuf,
    /// Batching.
    pub batch: BatchConfig,
    /// Retries.
    pub retry: RetryConfig,
    /// Start at this index instead of the persisted cursor (backfills).
    pub start_at: Option<u64>,
    /// Stop once this index (exclusive) is exported (backfills).
    pub stop_at: Option<u64>,
    /// Keep tailing the ledger for new entries (`true` in the server); `false` stops at the
    /// ledger size seen at start.
    pub follow: bool,
}

impl RunnerOptions {
    /// Options for a long-running exporter tailing the ledger from its cursor.
    pub fn follow(name: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            state_dir: state_dir.into(),
            batch: BatchConfig::default(),
            retry: RetryConfig::default(),
            start_at: None,
            stop_at: None,
            follow: true,
        }
    }
}

/// Why a runner stopped with an error. Destination failures are never errors (they are retried
/// or dead-lettered); only local state and ledger problems are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The cursor or dead-letter file could not be read or written.
    #[error("exporter state: {0}")]
    State(#[from] StateError),
    /// The ledger could not be read.
    #[error("reading the ledger at index {index}: {source}")]
    Read {
        /// First index of the failed read.
        index: u64,
        /// The ledger's error.
        source: ReadError,
    },
    /// The runner thread panicked.
    #[error("exporter thread panicked")]
    Panicked,
}

/// Why a runner returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The shutdown signal was triggered.
    Shutdown,
    /// `stop_at` or (without `follow`) the end of the ledger was reached.
    ReachedEnd,
}

/// What a runner did before it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// The persisted cursor: the next index to export.
    pub next_index: u64,
    /// Why the runner stopped.
    pub stopped: StopReason,
    /// Final counters.
    pub stats: StatsSnapshot,
}

/// Drives one exporter from a ledger source (see the module docs).
#[derive(Debug)]
pub struct ExportRunner<S, E> {
    source: S,
    exporter: E,
    options: RunnerOptions,
    stats: Arc<ExporterStats>,
    shutdown: Shutdown,
}

/// The outcome of driving one batch.
enum Progress {
    Done,
    Interrupted,
}

impl<S: EntrySource, E: Exporter> ExportRunner<S, E> {
    /// A runner; nothing happens until [`ExportRunner::run`] or [`ExportRunner::spawn`].
    pub fn new(source: S, exporter: E, options: RunnerOptions, shutdown: Shutdown) -> Self {
        Self {
            source,
            exporter,
            options,
            stats: Arc::new(ExporterStats::default()),
            shutdown,
        }
    }

    /// The live counters (shared with the running thread).
    pub fn stats(&self) -> Arc<ExporterStats> {
        Arc::clone(&self.stats)
    }

    /// Runs on a new thread named `cairn-export-<name>`.
    pub fn spawn(self) -> std::io::Result<JoinHandle<Result<RunSummary, RunError>>>
    where
        S: 'static,
        E: 'static,
    {
        std::thread::Builder::new()
            .name(format!("cairn-export-{}", self.options.name))
            .spawn(move || self.run())
    }

    /// Runs until shutdown, `stop_at`, or (without `follow`) the end of the ledger. Blocks.
    pub fn run(mut self) -> Result<RunSummary, RunError> {
        let dir = self.options.state_dir.clone();
        let dir = dir.as_path();
        std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let origin = self.source.origin().to_owned();
        let mut cursor = Cursor::load(dir, &origin)?;
        let mut backoff = Backoff::new(
            self.options.retry.initial_backoff,
            self.options.retry.max_backoff,
        );
        let name = self.options.name.clone();

        // Prepare the destination; an unreachable destination at startup is not fatal.
        if !self.retry_until_ok(&mut backoff, "start", |e| e.start())? {
            return Ok(self.finish(cursor.next_index(), StopReason::Shutdown));
        }
        let requested = self.options.start_at.unwrap_or(cursor.next_index());
        let mut next = requested;
        if !self.retry_until_ok(&mut backoff, "resume", |e| {
            e.resume_from(requested).map(|n| next = n)
        })? {
            return Ok(self.finish(cursor.next_index(), StopReason::Shutdown));
        }
        if next != cursor.next_index() {
            cursor.save(next)?;
        }
        let mut dead_letters = DeadLetters::open(dir, next)?;
        let end = match (self.options.stop_at, self.options.follow) {
            (Some(stop), true) => Some(stop),
            (Some(stop), false) => Some(stop.min(self.source.size())),
            (None, true) => None,
            (None, false) => Some(self.source.size()),
        };
        tracing::info!(exporter = %name, kind = self.exporter.kind(), next, ?end, "exporter started");

        let stopped = loop {
            if self.shutdown.is_triggered() {
                break StopReason::Shutdown;
            }
            if end.is_some_and(|end| next >= end) {
                break StopReason::ReachedEnd;
            }
            let size = self.source.size();
            self.stats.set_position(next, size);
            if size <= next {
                self.source
                    .wait_for_size(next, self.options.batch.poll_interval);
                continue;
            }
            let limit = end.unwrap_or(u64::MAX).min(size) - next;
            let max = self
                .options
                .batch
                .max_records
                .max(1)
                .min(usize::try_from(limit).unwrap_or(usize::MAX));
            let mut entries =
                self.source
                    .read_range(next, max)
                    .map_err(|source| RunError::Read {
                        index: next,
                        source,
                    })?;
            let mut bytes = 0_usize;
            let keep = entries
                .iter()
                .take_while(|e| {
                    bytes = bytes.saturating_add(e.len());
                    bytes <= self.options.batch.max_bytes
                })
                .count()
                .max(1);
            entries.truncate(keep);
            if entries.is_empty() {
                // The source reported a size it could not serve yet; wait and retry.
                self.source
                    .wait_for_size(next, self.options.batch.poll_interval);
                continue;
            }
            let batch_end = next + entries.len() as u64;
            match self.export_batch(next, &entries, &mut dead_letters, &mut backoff)? {
                Progress::Done => {}
                Progress::Interrupted => break StopReason::Shutdown,
            }
            dead_letters.sync()?;
            if !self.retry_until_ok(&mut backoff, "commit", Exporter::commit)? {
                break StopReason::Shutdown;
            }
            cursor.save(batch_end)?;
            dead_letters.forget_below(batch_end);
            next = batch_end;
            self.stats.set_position(next, self.source.size());
        };
        self.exporter.stop();
        tracing::info!(exporter = %name, next = cursor.next_index(), ?stopped, "exporter stopped");
        Ok(self.finish(cursor.next_index(), stopped))
    }

    fn finish(&self, next_index: u64, stopped: StopReason) -> RunSummary {
        self.stats.set_position(next_index, self.source.size());
        RunSummary {
            next_index,
            stopped,
            stats: self.stats.snapshot(),
        }
    }

    /// Calls `op` until it succeeds; `Ok(false)` if shutdown came during a backoff. The first
    /// attempt is made even after shutdown was triggered, so finished work is committed.
    fn retry_until_ok(
        &mut self,
        backoff: &mut Backoff,
        what: &str,
        mut op: impl FnMut(&mut E) -> Result<(), SendError>,
    ) -> Result<bool, RunError> {
        loop {
            match op(&mut self.exporter) {
                Ok(()) => {
                    backoff.reset();
                    return Ok(true);
                }
                Err(e) => {
                    self.stats.add_failed(1);
                    let retry_after = match &e {
                        SendError::Transient { retry_after, .. } => *retry_after,
                        SendError::Rejected { .. } => None,
                    };
                    let delay = backoff.next_delay(retry_after);
                    tracing::warn!(exporter = %self.options.name, error = %e, ?delay, "{what} failed, retrying");
                    if self.shutdown.sleep(delay) {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Decodes and delivers one batch of entries starting at `first`.
    fn export_batch(
        &mut self,
        first: u64,
        entries: &[Vec<u8>],
        dead_letters: &mut DeadLetters,
        backoff: &mut Backoff,
    ) -> Result<Progress, RunError> {
        let mut items = Vec::with_capacity(entries.len());
        for (index, entry) in (first..).zip(entries) {
            match cairn_model::codec::decode(entry) {
                Ok(record) => items.push(Item { index, record }),
                Err(e) => self.dead_letter(
                    dead_letters,
                    index,
                    None,
                    entry,
                    &format!("undecodable ledger entry: {e}"),
                )?,
            }
        }
        let entry_of = |index: u64| -> &[u8] {
            usize::try_from(index - first)
                .ok()
                .and_then(|i| entries.get(i))
                .map_or(&[], Vec::as_slice)
        };
        let max_attempts = self.options.retry.max_attempts;
        let mut queue: VecDeque<Vec<Item>> = VecDeque::new();
        if !items.is_empty() {
            queue.push_back(items);
        }
        while let Some(mut pending) = queue.pop_front() {
            let mut attempts = 0_u32;
            loop {
                if self.shutdown.is_triggered() {
                    return Ok(Progress::Interrupted);
                }
                attempts = attempts.saturating_add(1);
                let result = self.exporter.send(&pending).and_then(|report| {
                    if report.outcomes.len() == pending.len() {
                        Ok(report)
                    } else {
                        Err(SendError::transient(format!(
                            "exporter returned {} outcomes for {} records",
                            report.outcomes.len(),
                            pending.len()
                        )))
                    }
                });
                let (retry, reason, retry_after) = match result {
                    Ok(SendReport {
                        outcomes,
                        retry_after,
                    }) => {
                        let mut retry = Vec::new();
                        let mut reason = String::new();
                        for (item, outcome) in pending.into_iter().zip(outcomes) {
                            match outcome {
                                ItemOutcome::Delivered => self.stats.add_sent(1),
                                ItemOutcome::Skipped => self.stats.add_skipped(1),
                                ItemOutcome::Reject { reason } => self.dead_letter(
                                    dead_letters,
                                    item.index,
                                    Some(&item.record),
                                    entry_of(item.index),
                                    &reason,
                                )?,
                                ItemOutcome::Retry { reason: why } => {
                                    reason = why;
                                    retry.push(item);
                                }
                            }
                        }
                        (retry, reason, retry_after)
                    }
                    Err(SendError::Transient {
                        reason,
                        retry_after,
                    }) => (pending, reason, retry_after),
                    Err(SendError::Rejected { reason }) => {
                        self.stats.add_failed(1);
                        if pending.len() == 1 {
                            for item in pending {
                                self.dead_letter(
                                    dead_letters,
                                    item.index,
                                    Some(&item.record),
                                    entry_of(item.index),
                                    &reason,
                                )?;
                            }
                        } else {
                            // Isolate the records at fault: each half is sent on its own.
                            let second = pending.split_off(pending.len() / 2);
                            queue.push_front(second);
                            queue.push_front(pending);
                        }
                        break;
                    }
                };
                if retry.is_empty() {
                    backoff.reset();
                    break;
                }
                self.stats.add_failed(1);
                if max_attempts != 0 && attempts >= max_attempts {
                    for item in retry {
                        self.dead_letter(
                            dead_letters,
                            item.index,
                            Some(&item.record),
                            entry_of(item.index),
                            &format!("gave up after {attempts} attempts: {reason}"),
                        )?;
                    }
                    break;
                }
                let delay = backoff.next_delay(retry_after);
                tracing::warn!(
                    exporter = %self.options.name,
                    records = retry.len(),
                    error = %reason,
                    ?delay,
                    "delivery failed, retrying"
                );
                if self.shutdown.sleep(delay) {
                    return Ok(Progress::Interrupted);
                }
                self.stats.add_retried(retry.len() as u64);
                pending = retry;
            }
        }
        Ok(Progress::Done)
    }

    fn dead_letter(
        &self,
        dead_letters: &mut DeadLetters,
        index: u64,
        record: Option<&Record>,
        entry: &[u8],
        reason: &str,
    ) -> Result<(), RunError> {
        let record = record.and_then(|r| match r {
            Record::Span(span) => Some(span.to_json()),
            Record::Log(log) => Some(log.to_json()),
            _ => None,
        });
        let written = dead_letters.write(&DeadLetter {
            exporter: &self.options.name,
            kind: self.exporter.kind(),
            origin: self.source.origin(),
            index,
            reason,
            record,
            entry,
        })?;
        if written {
            self.stats.add_dead_lettered(1);
            tracing::warn!(
                exporter = %self.options.name,
                index,
                reason,
                file = %dead_letters.path().display(),
                "record dead-lettered"
            );
        }
        Ok(())
    }
}
