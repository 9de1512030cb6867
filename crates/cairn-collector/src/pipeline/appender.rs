//! The batching ledger appender: many requests, one group commit.
//!
//! Request tasks [`Appender::submit`] their encoded records; a dedicated `cairn-ledger-writer`
//! thread takes every job that is waiting (up to `max_batch_records` records), calls
//! [`Ledger::append`] once for all of them and answers each job through its oneshot channel with the
//! ledger indices of its records. A job is answered `Ok` only after its records are durable, so a
//! request acknowledged to its client is never lost.
//!
//! Invariants:
//! - The queue is bounded in records, not jobs: `queued` counts records submitted and not yet
//!   answered (including the batch being written). A job that would take it past `capacity` is
//!   refused with [`SubmitError::QueueFull`] — unless nothing is queued, so that one request larger
//!   than the capacity still makes progress instead of being refused forever.
//! - Jobs are appended in the order they were queued; each job's records are contiguous.
//! - After [`Appender::close`] no new job is accepted; jobs queued before it are written, jobs that
//!   raced with it are answered [`SubmitError::ShuttingDown`] and were not written.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use cairn_ledger::Ledger;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use cairn_metrics::CairnMetrics as Metrics;

/// Why records were not made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The ingest queue is full: retry later (429 / `RESOURCE_EXHAUSTED`).
    #[error("ingest queue is full ({queued} records waiting, capacity {capacity})")]
    QueueFull { queued: usize, capacity: usize },
    /// The ledger's disk is full (503 / `UNAVAILABLE`).
    #[error("ledger disk is full: {0}")]
    DiskFull(String),
    /// The server is shutting down (503 / `UNAVAILABLE`).
    #[error("server is shutting down")]
    ShuttingDown,
    /// Any other ledger failure (500 / `INTERNAL`).
    #[error("ledger append failed: {0}")]
    Ledger(String),
}

type Reply = Result<Range<u64>, SubmitError>;

enum Msg {
    Job {
        entries: Vec<Vec<u8>>,
        reply: oneshot::Sender<Reply>,
    },
    Close,
}

/// Handle to the ledger writer thread; shared by every ingest task.
#[derive(Debug)]
pub(crate) struct Appender {
    tx: mpsc::Sender<Msg>,
    /// Records submitted and not yet answered.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    closing: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Job { entries, .. } => write!(f, "Job({} entries)", entries.len()),
            Msg::Close => f.write_str("Close"),
        }
    }
}

impl Appender {
    /// Starts the ledger writer thread.
    pub(crate) fn start(
        ledger: Arc<Ledger>,
        capacity: usize,
        max_batch_records: usize,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("cairn-ledger-writer".to_owned())
            .spawn({
                let queued = Arc::clone(&queued);
                move || writer_loop(&ledger, &rx, &queued, max_batch_records.max(1), &metrics)
            })?;
        Ok(Self {
            tx,
            queued,
            capacity,
            closing: AtomicBool::new(false),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues `entries` for the ledger and waits until they are durable; returns their indices.
    pub(crate) async fn submit(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, SubmitError> {
        let n = entries.len();
        if n == 0 {
            return Ok(0..0);
        }
        if self.closing.load(Ordering::Acquire) {
            return Err(SubmitError::ShuttingDown);
        }
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.capacity {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(SubmitError::QueueFull {
                queued: before,
                capacity: self.capacity,
            });
        }
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Msg::Job { entries, reply }).is_err() {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(SubmitError::ShuttingDown);
        }
        // A dropped reply means the writer exited without writing this job.
        answer.await.unwrap_or(Err(SubmitError::ShuttingDown))
    }

    /// Records submitted and not yet durable.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Refuses new jobs, lets the writer finish every job queued so far, and joins it.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        // The writer may already be gone (it exits on a closed channel too).
        let _ = self.tx.send(Msg::Close);
        if let Some(thread) = self.thread.lock().take()
            && thread.join().is_err()
        {
            tracing::error!("ledger writer thread panicked");
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(
    ledger: &Ledger,
    rx: &mpsc::Receiver<Msg>,
    queued: &AtomicUsize,
    max_batch_records: usize,
    metrics: &Metrics,
) {
    let mut jobs: Vec<(Vec<Vec<u8>>, oneshot::Sender<Reply>)> = Vec::new();
    loop {
        let mut closing = false;
        match rx.recv() {
            Ok(Msg::Job { entries, reply }) => jobs.push((entries, reply)),
            Ok(Msg::Close) | Err(_) => break,
        }
        let mut records: usize = jobs.iter().map(|(e, _)| e.len()).sum();
        while records < max_batch_records {
            match rx.try_recv() {
                Ok(Msg::Job { entries, reply }) => {
                    records += entries.len();
                    jobs.push((entries, reply));
                }
                Ok(Msg::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        write_batch(ledger, &mut jobs, records, metrics);
        queued.fetch_sub(records, Ordering::AcqRel);
        if closing {
            break;
        }
    }
    // Jobs that raced with close: dropping their reply senders answers them `ShuttingDown`.
    while let Ok(msg) = rx.try_recv() {
        if let Msg::Job { entries, .. } = msg {
            queued.fetch_sub(entries.len(), Ordering::AcqRel);
        }
    }
}

/// One group commit for every job in `jobs` (drained), then one answer per job.
fn write_batch(
    ledger: &Ledger,
    jobs: &mut Vec<(Vec<Vec<u8>>, oneshot::Sender<Reply>)>,
    records: usize,
    metrics: &Metrics,
) {
    let mut refs: Vec<&[u8]> = Vec::with_capacity(records);
    for (entries, _) in jobs.iter() {
        refs.extend(entries.iter().map(Vec::as_slice));
    }
    let started = std::time::Instant::now();
    let result = ledger.append(&refs).map_err(|e| classify(&e));
    drop(refs);
    metrics.ledger_append(started.elapsed());
    let stats = ledger.stats();
    metrics.set_ledger_size(stats.entries, stats.bytes);
    match result {
        Ok(range) => {
            debug_assert_eq!(range.end - range.start, records as u64);
            let mut next = range.start;
            for (entries, reply) in jobs.drain(..) {
                let end = next + entries.len() as u64;
                // The requester may have gone away (client disconnected): its records are durable
                // anyway, nobody is waiting for the answer.
                let _ = reply.send(Ok(next..end));
                next = end;
            }
        }
        Err(err) => {
            tracing::error!(error = %err, records, "ledger append failed");
            for (_, reply) in jobs.drain(..) {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

/// Maps the ledger's error to what the client is told.
fn classify(err: &cairn_ledger::AppendError) -> SubmitError {
    if matches!(err, cairn_ledger::AppendError::DiskFull { .. }) {
        SubmitError::DiskFull(err.to_string())
    } else {
        SubmitError::Ledger(err.to_string())
    }
}
