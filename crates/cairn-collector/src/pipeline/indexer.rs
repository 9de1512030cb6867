//! The index consumer: tails the ledger from the store's saved cursor.
//!
//! One `cairn-indexer` thread owns the [`Store`] (the single SQLite writer). Each step reads up to
//! `index_batch_entries` entries starting at the cursor, decodes them and hands them to
//! [`Store::apply`], which inserts them *and* saves the next cursor in one transaction — so after a
//! crash the index resumes exactly where its last committed transaction ended, and re-applying an
//! entry never duplicates it. When caught up, the thread blocks in [`Ledger::wait_for_size`].
//!
//! Index lag is measured two ways: entries (`ledger size - cursor`) and seconds — the time since
//! the indexer first saw, in the ledger, the oldest entry it has not indexed yet. The thread keeps a
//! short list of `(ledger size, first seen at)` observations to answer the latter without a clock
//! per entry.
//!
//! Encrypted content (see `cairn_privacy::shred`) is decrypted with the keystore before
//! `Store::apply`, so the index holds plaintext for search and display; a value whose key was
//! destroyed is indexed as `[erased]`.
//!
//! An entry that does not decode (e.g. written by a newer Cairn) is logged, counted and skipped: it
//! stays in the ledger, and `cairn reindex` with a newer binary picks it up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_ledger::Ledger;
use cairn_model::Record;
use cairn_store::Store;
use parking_lot::Mutex;

use cairn_metrics::AgentMetrics;
use cairn_privacy::Privacy;

use super::LedgerWatch;

/// How long the indexer sleeps in `wait_for_size` before re-checking for shutdown.
const POLL: Duration = Duration::from_millis(100);
/// Most `(size, seen at)` observations kept for the lag-in-seconds estimate.
const MAX_OBSERVATIONS: usize = 1024;

/// Indexing one batch failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading entries from the ledger failed.
    #[error("cannot read ledger entries from index {start}: {source}")]
    Read {
        /// First entry of the batch.
        start: u64,
        /// The ledger's error.
        source: cairn_ledger::ReadError,
    },
    /// The store refused the batch.
    #[error("cannot index ledger entries from index {start}: {source}")]
    Store {
        /// First entry of the batch.
        start: u64,
        /// The store's error.
        source: cairn_store::StoreError,
    },
}

/// Index progress, shared between the indexer thread and the API.
#[derive(Debug)]
pub(crate) struct IndexStatus {
    cursor: AtomicU64,
    /// `(ledger size, when that size was first seen)`, oldest first, only sizes above the cursor.
    observations: Mutex<VecDeque<(u64, Instant)>>,
    last_error: Mutex<Option<String>>,
}

impl IndexStatus {
    fn new(cursor: u64) -> Self {
        Self {
            cursor: AtomicU64::new(cursor),
            observations: Mutex::new(VecDeque::new()),
            last_error: Mutex::new(None),
        }
    }

    /// Next ledger index to index (= entries indexed).
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor.load(Ordering::Acquire)
    }

    /// Seconds since the oldest not-yet-indexed entry was first seen (0 when caught up).
    pub(crate) fn lag_seconds(&self) -> f64 {
        self.observations
            .lock()
            .front()
            .map_or(0.0, |(_, seen)| seen.elapsed().as_secs_f64())
    }

    /// The last indexing error, if the most recent attempt failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    fn observe(&self, ledger_size: u64, cursor: u64) {
        let mut obs = self.observations.lock();
        while obs.front().is_some_and(|(size, _)| *size <= cursor) {
            obs.pop_front();
        }
        let newer = obs.back().is_none_or(|(size, _)| *size < ledger_size);
        // When the list is full the newest observation is dropped: the estimate only gets more
        // conservative (older), never too young.
        if ledger_size > cursor && newer && obs.len() < MAX_OBSERVATIONS {
            obs.push_back((ledger_size, Instant::now()));
        }
    }

    fn advanced(&self, cursor: u64) {
        self.cursor.store(cursor, Ordering::Release);
        *self.last_error.lock() = None;
    }
}

/// The running indexer thread.
#[derive(Debug)]
pub(crate) struct Indexer {
    stop: Arc<AtomicBool>,
    status: Arc<IndexStatus>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Indexer {
    /// Starts tailing `ledger` into `store` from the store's cursor.
    pub(crate) fn start(
        ledger: Arc<Ledger>,
        mut store: Store,
        cursor: u64,
        batch: usize,
        agents: Arc<AgentMetrics>,
        watch: Arc<LedgerWatch>,
        privacy: Arc<Privacy>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(IndexStatus::new(cursor));
        let thread = std::thread::Builder::new()
            .name("cairn-indexer".to_owned())
            .spawn({
                let stop = Arc::clone(&stop);
                let status = Arc::clone(&status);
                move || {
                    let ctx = Context {
                        ledger: &ledger,
                        status: &status,
                        stop: &stop,
                        agents: &agents,
                        watch: &watch,
                        privacy: &privacy,
                    };
                    run(&ctx, &mut store, batch.max(1));
                }
            })?;
        Ok(Self {
            stop,
            status,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) fn status(&self) -> &Arc<IndexStatus> {
        &self.status
    }

    /// Lets the indexer catch up with the ledger, then stops it. Call after the appender is
    /// closed so the ledger no longer grows.
    pub(crate) fn finish(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.lock().take()
            && thread.join().is_err()
        {
            tracing::error!("indexer thread panicked");
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What the indexer thread works with.
struct Context<'a> {
    ledger: &'a Ledger,
    status: &'a IndexStatus,
    stop: &'a AtomicBool,
    agents: &'a AgentMetrics,
    watch: &'a LedgerWatch,
    privacy: &'a Privacy,
}

fn run(ctx: &Context<'_>, store: &mut Store, batch: usize) {
    let Context {
        ledger,
        status,
        stop,
        agents,
        watch,
        privacy,
    } = *ctx;
    let mut cursor = status.cursor();
    let mut backoff = Duration::from_millis(50);
    loop {
        let size = ledger.size();
        status.observe(size, cursor);
        watch.refresh(ledger, status);
        if cursor >= size {
            if stop.load(Ordering::Acquire) {
                return;
            }
            ledger.wait_for_size(cursor, POLL);
            continue;
        }
        match index_batch(ledger, store, cursor, batch, Some(agents), privacy) {
            Ok(next) => {
                cursor = next;
                status.advanced(next);
                backoff = Duration::from_millis(50);
            }
            Err(err) => {
                tracing::error!(error = %err, "indexing failed; retrying");
                *status.last_error.lock() = Some(err.to_string());
                if stop.load(Ordering::Acquire) {
                    // Shutting down: the ledger keeps everything, the next start resumes here.
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Reads up to `max` entries from `cursor`, applies them in one transaction and returns the new
/// cursor. Once the transaction is committed, `agents` observes each decoded record — exactly
/// once, because a failed batch is retried from the same cursor before anything is observed.
/// Entries indexed before a restart are not observed again: agent metrics count from process
/// start.
/// Indexes from `cursor` up to the ledger's size at the call, in batches of `max`, calling
/// `progress(done, total)` after each batch (offline paths: `reindex`, offline erasure).
pub(crate) fn catch_up(
    ledger: &Ledger,
    store: &mut Store,
    mut cursor: u64,
    max: usize,
    privacy: &Privacy,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, IndexError> {
    let total = ledger.size();
    while cursor < total {
        cursor = index_batch(ledger, store, cursor, max.max(1), None, privacy)?;
        progress(cursor, total);
    }
    Ok(cursor)
}

pub(crate) fn index_batch(
    ledger: &Ledger,
    store: &mut Store,
    cursor: u64,
    max: usize,
    agents: Option<&AgentMetrics>,
    privacy: &Privacy,
) -> Result<u64, IndexError> {
    let entries = ledger
        .read_range(cursor, max)
        .map_err(|source| IndexError::Read {
            start: cursor,
            source,
        })?;
    let mut records: Vec<(u64, Record)> = Vec::with_capacity(entries.len());
    let mut undecodable = 0;
    for (index, bytes) in (cursor..).zip(&entries) {
        match cairn_model::codec::decode(bytes) {
            Ok(mut record) => {
                privacy.reveal(&mut record);
                records.push((index, record));
            }
            Err(err) => {
                undecodable += 1;
                tracing::warn!(index, error = %err, "ledger entry does not decode; not indexed");
            }
        }
    }
    if undecodable > 0 {
        tracing::warn!(
            undecodable,
            start = cursor,
            "ledger entries skipped by the index"
        );
    }
    let next = cursor + entries.len() as u64;
    store
        .apply(&records, next)
        .map_err(|source| IndexError::Store {
            start: cursor,
            source,
        })?;
    if let Some(agents) = agents {
        for (_, record) in &records {
            agents.observe(record);
        }
    }
    Ok(next)
}
