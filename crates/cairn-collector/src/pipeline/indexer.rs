//! The index consumer: tails the ledger from the store's saved cursor.
//!
//! Two threads form a pipeline. `cairn-index-read` reads up to `index_batch_entries` entries
//! from its cursor, decodes and decrypts them and derives what the index stores
//! ([`Store::prepare`]: filter columns, JSON text, search text — about a third of the CPU of
//! indexing a span, and none of it needs the database). `cairn-indexer` owns the [`Store`] (the
//! single SQLite writer) and applies each prepared batch with [`Store::apply_prepared`], which
//! inserts it *and* saves the next cursor in one transaction — so after a crash the index
//! resumes exactly where its last committed transaction ended, and re-applying an entry never
//! duplicates it. The hand-over is a rendezvous channel: one batch is prepared while one is
//! written, never more, so the pipeline holds at most two batches in memory. When caught up,
//! the reader blocks in [`Ledger::wait_for_size`]. [`catch_up`] (before serving, `cairn reindex`)
//! runs the same two stages. The writer hands each applied batch back over a second, bounded
//! channel and the reader frees it (memory is freed by the thread that allocated it); when the
//! reader has not taken the previous one yet, the writer frees it itself.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_ledger::Ledger;
use cairn_model::Record;
use cairn_store::{PreparedBatch, Store};
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
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Ready>(0);
    let (spent_tx, spent_rx) = mpsc::sync_channel::<Ready>(SPENT);
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("cairn-index-read".to_owned())
            .spawn_scoped(scope, move || {
                // The writer publishes the cursor and the lag; this side only hands batches over
                // (the channel holds nothing: one batch is prepared while one is written) and
                // frees the batches the writer hands back.
                read_loop(ctx, batch, &mut |_| free_spent(&spent_rx), &mut |ready| {
                    let sent = ready_tx.send(ready).is_ok();
                    free_spent(&spent_rx);
                    sent
                });
            });
        match reader {
            // The receiver is moved in, so it is dropped when the writer stops, which wakes a
            // reader blocked in `send` before the scope joins it.
            Ok(_) => write_loop(ctx, store, ready_rx, &spent_tx),
            Err(err) => {
                tracing::warn!(error = %err, "cannot start the index reader thread; indexing on one thread");
                let (ledger, status, watch) = (ctx.ledger, ctx.status, ctx.watch);
                read_loop(
                    ctx,
                    batch,
                    &mut |cursor| {
                        status.observe(ledger.size(), cursor);
                        watch.refresh(ledger, status);
                    },
                    &mut |ready| write_batch(ctx, store, &ready),
                );
            }
        }
    });
}

/// Spent batches the writer can hand back before it frees one itself.
const SPENT: usize = 1;

/// Drops the batches the writer has handed back. A batch's records and derived text were
/// allocated on the reader thread; freeing them here, not on the writer, keeps the allocator's
/// cross-thread frees (arena locks, consolidation: about a seventh of the writer's time when it
/// freed them) off the SQLite writer, the pipeline's bottleneck.
fn free_spent(spent: &mpsc::Receiver<Ready>) {
    spent.try_iter().for_each(drop);
}

/// Hands an applied batch back to the thread that allocated it; frees it here when that
/// thread has not taken the previous one yet (or has stopped).
fn hand_back(spent: &mpsc::SyncSender<Ready>, ready: Ready) {
    // A refused batch comes back inside the error, which is dropped here.
    let _ = spent.try_send(ready);
}

/// Reads, decodes and prepares batch after batch from the status cursor; the agent metrics
/// observe each one, then `deliver` takes it (false: stop). `tick(cursor)` runs before every
/// step. Returns when shutting down and caught up, or when `deliver` refuses a batch.
fn read_loop(
    ctx: &Context<'_>,
    max: usize,
    tick: &mut dyn FnMut(u64),
    deliver: &mut dyn FnMut(Ready) -> bool,
) {
    let Context {
        ledger,
        status,
        stop,
        privacy,
        ..
    } = *ctx;
    let mut cursor = status.cursor();
    let mut backoff = Duration::from_millis(50);
    let mut buf = Vec::new();
    loop {
        tick(cursor);
        if cursor >= ledger.size() {
            if stop.load(Ordering::Acquire) {
                return;
            }
            ledger.wait_for_size(cursor, POLL);
            continue;
        }
        match read_batch(ledger, cursor, max, privacy, &mut buf) {
            Ok(batch) => {
                cursor = batch.next;
                backoff = Duration::from_millis(50);
                observe(ctx.agents, &batch);
                if !deliver(batch) {
                    return;
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "indexing failed; retrying");
                *status.last_error.lock() = Some(err.to_string());
                if stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The writer side: applies each prepared batch (retrying the same batch while the store
/// refuses it), publishes the new cursor and hands the batch back to the reader to free.
/// Returns when the reader has finished, or when shutting down while the store keeps failing.
fn write_loop(
    ctx: &Context<'_>,
    store: &mut Store,
    ready: mpsc::Receiver<Ready>,
    spent: &mpsc::SyncSender<Ready>,
) {
    let Context {
        ledger,
        status,
        watch,
        ..
    } = *ctx;
    let mut cursor = status.cursor();
    loop {
        status.observe(ledger.size(), cursor);
        watch.refresh(ledger, status);
        let batch = match ready.recv_timeout(POLL) {
            Ok(batch) => batch,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if !write_batch(ctx, store, &batch) {
            return;
        }
        cursor = batch.next;
        hand_back(spent, batch);
    }
}

/// The agent metrics observe the records of a batch once it is read, before it is applied:
/// exactly once per process, because a batch the store refuses is retried as it is and never
/// read again, and before the cursor that makes its spans queryable is published. The metrics
/// derive from the ledger (the source of truth), like the index; an index that fails to apply
/// a batch does not hold them back. Observing here, not on the writer thread, keeps about a
/// tenth of the per-span work off the SQLite writer, the pipeline's bottleneck.
fn observe(agents: &AgentMetrics, batch: &Ready) {
    for (_, record) in batch.prepared.entries() {
        agents.observe(record);
    }
}

/// Applies `batch`, retrying with backoff while the store refuses it; then the cursor is
/// published. False when shutting down before it applied.
fn write_batch(ctx: &Context<'_>, store: &mut Store, batch: &Ready) -> bool {
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.apply_prepared(&batch.prepared, batch.next) {
            Ok(()) => break,
            Err(source) => {
                let err = IndexError::Store {
                    start: batch.start,
                    source,
                };
                tracing::error!(error = %err, "indexing failed; retrying");
                *ctx.status.last_error.lock() = Some(err.to_string());
                if ctx.stop.load(Ordering::Acquire) {
                    // Shutting down: the ledger keeps everything, the next start resumes here.
                    return false;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    ctx.status.advanced(batch.next);
    true
}

/// Indexes everything the ledger holds from `cursor` (used before serving and by the offline
/// commands), reading and preparing the next batch on a second thread while this one writes;
/// `progress(cursor, total)` after each batch. Agent metrics are not fed (they count from
/// process start).
pub(crate) fn catch_up(
    ledger: &Ledger,
    store: &mut Store,
    cursor: u64,
    max: usize,
    privacy: &Privacy,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, IndexError> {
    let total = ledger.size();
    let max = max.max(1);
    let (tx, rx) = mpsc::sync_channel::<Result<Ready, IndexError>>(0);
    let (spent_tx, spent_rx) = mpsc::sync_channel::<Ready>(SPENT);
    std::thread::scope(|scope| {
        // Owned by this closure: dropped when it returns (also on an error), which wakes a
        // reader blocked in `send` before the scope joins it.
        let rx = rx;
        let reader = move || {
            for batch in batches(ledger, cursor, total, max, privacy) {
                if tx.send(batch).is_err() {
                    return;
                }
                free_spent(&spent_rx);
            }
        };
        match std::thread::Builder::new()
            .name("cairn-index-read".to_owned())
            .spawn_scoped(scope, reader)
        {
            Ok(_) => {
                let spent = &mut |ready| hand_back(&spent_tx, ready);
                apply_all(store, rx.iter(), cursor, total, progress, spent)
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot start the index reader thread; indexing on one thread");
                let batches = batches(ledger, cursor, total, max, privacy);
                apply_all(store, batches, cursor, total, progress, &mut drop)
            }
        }
    })
}

/// The batches `[cursor, total)` of the ledger, read and prepared one after the other; ends
/// after the first error.
fn batches<'a>(
    ledger: &'a Ledger,
    cursor: u64,
    total: u64,
    max: usize,
    privacy: &'a Privacy,
) -> impl Iterator<Item = Result<Ready, IndexError>> + 'a {
    let (mut at, mut failed) = (cursor, false);
    let mut buf = Vec::new();
    std::iter::from_fn(move || {
        if failed || at >= total {
            return None;
        }
        let batch = read_batch(ledger, at, max, privacy, &mut buf);
        match &batch {
            Ok(ready) => at = ready.next,
            Err(_) => failed = true,
        }
        Some(batch)
    })
}

/// Applies every batch in order, calling `progress(cursor, total)` after each and then
/// `spent(batch)`; returns the cursor after the last one.
fn apply_all(
    store: &mut Store,
    batches: impl Iterator<Item = Result<Ready, IndexError>>,
    mut cursor: u64,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
    spent: &mut dyn FnMut(Ready),
) -> Result<u64, IndexError> {
    for batch in batches {
        let batch = batch?;
        store
            .apply_prepared(&batch.prepared, batch.next)
            .map_err(|source| IndexError::Store {
                start: batch.start,
                source,
            })?;
        cursor = batch.next;
        progress(cursor, total);
        spent(batch);
    }
    Ok(cursor)
}

/// A batch read from the ledger, decoded, decrypted and prepared for the store.
#[derive(Debug)]
struct Ready {
    /// Ledger index of its first entry.
    start: u64,
    /// The cursor once it is applied.
    next: u64,
    prepared: PreparedBatch,
}

/// The largest read buffer the index reader keeps between batches (a batch of 4,096 realistic
/// spans reads about 4.5 MB).
const RETAINED_READ_BUFFER: usize = 32 << 20;

/// Reads up to `max` entries from `cursor`, decodes them, reveals encrypted content and derives
/// what the index stores. An entry that does not decode is logged and skipped (the cursor
/// still moves past it).
fn read_batch(
    ledger: &Ledger,
    cursor: u64,
    max: usize,
    privacy: &Privacy,
    buf: &mut Vec<u8>,
) -> Result<Ready, IndexError> {
    let mut records: Vec<(u64, Record)> = Vec::with_capacity(max.min(1 << 16));
    let mut undecodable = 0;
    // Entries are decoded straight from the ledger's read buffer (no copy per entry).
    let read = ledger.read_range_with(cursor, max, buf, |index, bytes| {
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
    });
    // A batch of unusually large entries does not pin its buffer for the life of the process.
    if buf.len() > RETAINED_READ_BUFFER {
        *buf = Vec::new();
    }
    let read = read.map_err(|source| IndexError::Read {
        start: cursor,
        source,
    })?;
    if undecodable > 0 {
        tracing::warn!(
            undecodable,
            start = cursor,
            "ledger entries skipped by the index"
        );
    }
    Ok(Ready {
        start: cursor,
        next: cursor + read,
        prepared: Store::prepare(records),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_ledger::LedgerOptions;

    #[test]
    fn the_read_buffer_is_kept_between_batches_unless_a_batch_was_unusually_large() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).expect("ledger");
        let small = cairn_model::codec::encode(&Record::Span(cairn_model::Span::default()));
        let large = vec![b'x'; RETAINED_READ_BUFFER / 3 + 1];
        ledger
            .append(&[small.clone(), small, large.clone(), large.clone(), large])
            .expect("append");
        let privacy = Privacy::disabled();
        let mut buf = Vec::new();

        let ready = read_batch(&ledger, 0, 2, &privacy, &mut buf).expect("small entries");
        assert_eq!(ready.next, 2);
        assert!(buf.capacity() > 0, "a small batch keeps its buffer");

        // The three large entries do not decode (they are skipped, and the cursor moves past
        // them); their read is over the limit, so the buffer is let go.
        let ready = read_batch(&ledger, 2, 3, &privacy, &mut buf).expect("large entries");
        assert_eq!(ready.next, 5);
        assert_eq!(buf.capacity(), 0);
    }
}
