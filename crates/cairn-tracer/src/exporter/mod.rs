//! The exporter thread: drains the per-thread buffers, batches, encodes OTLP protobuf, gzips,
//! sends over HTTP and retries.
//!
//! Life cycle of a span after it ends: a recording thread pushes it onto its ring (see
//! [`crate::buffer`]); this thread moves it into `pending` (at most `batch_size` spans); a full
//! `pending` is exported at once, a partial one at the flush interval or on
//! [`Tracer::flush`](crate::Tracer::flush). Exports run one at a time, so memory is bounded by the
//! rings plus the spans being exported: one batch normally, or, during a flush, whatever the rings
//! held when it started (a flush takes everything at once so that it covers exactly the spans
//! ended before it). While an export is being retried the rings fill and further spans are dropped
//! and counted (or recording threads wait, per [`QueuePolicy`](crate::QueuePolicy)).
//!
//! Retries follow the OTLP specification: retryable outcomes (see [`http`]) are retried with
//! exponential backoff (doubling from `initial_backoff` up to `max_backoff`, with equal jitter) or
//! after `Retry-After` when the server sends it, until `max_retry_elapsed` has passed or the
//! shutdown deadline would be missed; then the batch is dropped and counted.
//!
//! The thread never touches a tokio runtime: it blocks on a `crossbeam` channel and on `ureq`, so
//! the SDK works the same inside and outside async code.

// Spans travel as the boxes the recording threads allocated: moving a pointer instead of the
// ~200-byte record keeps ring slots small and avoids a copy per span.
#![allow(clippy::vec_box)]

pub(crate) mod encode;
pub(crate) mod http;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::buffer::Shared;
use crate::span::SpanData;
use crate::tracer::Redactor;

/// How long the exporter keeps delivering when every tracer handle is dropped without an explicit
/// shutdown.
pub(crate) const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// A request from the tracer handle to its exporter.
#[derive(Debug)]
pub(crate) enum Control {
    /// Export everything buffered, then reply.
    Flush(Sender<()>),
    /// Export everything buffered before `deadline`, reply, and stop.
    Shutdown {
        deadline: Instant,
        reply: Sender<()>,
    },
}

/// Export counters, written by the exporter thread and read by [`Tracer::stats`](crate::Tracer::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped_export: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failed_requests: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    fn set_error(&self, message: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(message);
    }
}

/// Everything the exporter thread needs besides the buffers.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) endpoint: http::Endpoint,
    pub(crate) envelope: encode::Envelope,
    pub(crate) redactor: Option<Arc<Redactor>>,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) max_retry_elapsed: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    /// Drop batches instead of encoding and sending them (benchmarks and dry runs).
    pub(crate) discard: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint.url)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("redactor", &self.redactor.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Exporter {
    shared: Arc<Shared>,
    settings: Settings,
    counters: Arc<Counters>,
    control: Receiver<Control>,
    wake: Receiver<()>,
    agent: ureq::Agent,
    rng: SmallRng,
    pending: Vec<Box<SpanData>>,
    /// Flush replies owed once the current export round finishes.
    flush_replies: Vec<Sender<()>>,
    /// Set once shutdown is requested (or every tracer handle is gone).
    shutdown: Option<(Instant, Option<Sender<()>>)>,
}

impl Exporter {
    pub(crate) fn new(
        shared: Arc<Shared>,
        settings: Settings,
        counters: Arc<Counters>,
        control: Receiver<Control>,
        wake: Receiver<()>,
    ) -> Exporter {
        let agent = ureq::AgentBuilder::new()
            .timeout(settings.export_timeout)
            .user_agent(concat!("cairn-tracer/", env!("CARGO_PKG_VERSION")))
            .build();
        Exporter {
            shared,
            pending: Vec::with_capacity(settings.batch_size),
            settings,
            counters,
            control,
            wake,
            agent,
            rng: SmallRng::from_entropy(),
            flush_replies: Vec::new(),
            shutdown: None,
        }
    }

    /// The thread's main loop; returns after shutdown.
    pub(crate) fn run(mut self) {
        let mut next_flush = Instant::now() + self.settings.flush_interval;
        loop {
            if self.flush_replies.is_empty() && self.shutdown.is_none() {
                let timeout = next_flush.saturating_duration_since(Instant::now());
                select! {
                    recv(self.control) -> msg => self.on_control(msg.ok()),
                    recv(self.wake) -> _ => {}
                    default(timeout) => {}
                }
            }
            if let Some((deadline, reply)) = self.shutdown.take() {
                self.export_everything(Some(deadline));
                self.shared.close();
                // Spans that raced with `close` are still delivered if there is time left.
                if Instant::now() < deadline {
                    self.export_everything(Some(deadline));
                }
                for r in self.flush_replies.drain(..) {
                    let _ = r.send(());
                }
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
            if !self.flush_replies.is_empty() || Instant::now() >= next_flush {
                self.export_everything(None);
                for r in std::mem::take(&mut self.flush_replies) {
                    let _ = r.send(());
                }
                next_flush = Instant::now() + self.settings.flush_interval;
            } else {
                self.export_full_batches();
            }
        }
    }

    fn on_control(&mut self, msg: Option<Control>) {
        match msg {
            Some(Control::Flush(reply)) => self.flush_replies.push(reply),
            Some(Control::Shutdown { deadline, reply }) => {
                self.shutdown = Some((deadline, Some(reply)));
            }
            None => {
                if self.shutdown.is_none() {
                    self.shutdown = Some((Instant::now() + DROP_SHUTDOWN_TIMEOUT, None));
                }
            }
        }
    }

    fn shutdown_deadline(&self) -> Option<Instant> {
        self.shutdown.as_ref().map(|(d, _)| *d)
    }

    /// Exports full batches while the buffers hold that many; keeps the remainder pending.
    fn export_full_batches(&mut self) {
        loop {
            let want = self.settings.batch_size;
            self.shared.drain_into(&mut self.pending, want);
            self.note_pending();
            if self.pending.len() < want {
                return;
            }
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(want));
            self.export(batch, self.shutdown_deadline());
        }
    }

    /// Exports everything buffered right now, in batches.
    fn export_everything(&mut self, deadline: Option<Instant>) {
        let mut all = std::mem::take(&mut self.pending);
        self.shared.drain_into(&mut all, usize::MAX);
        self.note_pending();
        let size = self.settings.batch_size.max(1);
        let mut all = all.into_iter().peekable();
        while all.peek().is_some() {
            let batch: Vec<Box<SpanData>> = all.by_ref().take(size).collect();
            let deadline = match (deadline, self.shutdown_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.export(batch, deadline);
        }
        self.pending = Vec::with_capacity(size);
    }

    fn note_pending(&self) {
        let n = u64::try_from(self.pending.len()).unwrap_or(u64::MAX);
        self.counters.pending.store(n, Ordering::Relaxed);
    }

    /// Exports one batch, retrying per the OTLP spec; counts the outcome.
    fn export(&mut self, batch: Vec<Box<SpanData>>, deadline: Option<Instant>) {
        if batch.is_empty() {
            return;
        }
        let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        if self.settings.discard {
            self.counters.exported.fetch_add(count, Ordering::Relaxed);
            self.shared.recycle(batch);
            return;
        }
        let request = encode::request(
            &self.settings.envelope,
            &batch,
            self.settings.redactor.as_deref(),
        );
        self.shared.recycle(batch);
        let encoded = request.encode_to_vec();
        drop(request);
        let body = if self.settings.endpoint.gzip {
            match gzip(&encoded) {
                Ok(b) => b,
                Err(err) => {
                    self.fail(count, format!("cannot compress request: {err}"));
                    return;
                }
            }
        } else {
            encoded
        };
        let give_up_after = Instant::now() + self.settings.max_retry_elapsed;
        let mut backoff = self.settings.initial_backoff;
        loop {
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = http::send(&self.agent, &self.settings.endpoint, &body);
            match outcome {
                Ok(accepted) => {
                    let rejected = accepted.rejected.min(count);
                    self.counters
                        .exported
                        .fetch_add(count - rejected, Ordering::Relaxed);
                    self.counters
                        .rejected
                        .fetch_add(rejected, Ordering::Relaxed);
                    if let Some(message) = accepted.message {
                        self.counters
                            .set_error(format!("endpoint rejected {rejected} spans: {message}"));
                    }
                    return;
                }
                Err(http::AttemptError::Permanent { message }) => {
                    self.counters
                        .failed_requests
                        .fetch_add(1, Ordering::Relaxed);
                    self.fail(count, message);
                    return;
                }
                Err(http::AttemptError::Retryable {
                    message,
                    retry_after,
                }) => {
                    self.counters
                        .failed_requests
                        .fetch_add(1, Ordering::Relaxed);
                    self.counters.set_error(message.clone());
                    let wait = retry_after.unwrap_or_else(|| self.jitter(backoff));
                    backoff = (backoff * 2).min(self.settings.max_backoff);
                    let mut give_up = give_up_after;
                    for d in [deadline, self.shutdown_deadline()].into_iter().flatten() {
                        give_up = give_up.min(d);
                    }
                    if Instant::now() + wait > give_up {
                        self.fail(count, message);
                        return;
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.pause(wait);
                }
            }
        }
    }

    fn fail(&self, count: u64, message: String) {
        self.counters
            .dropped_export
            .fetch_add(count, Ordering::Relaxed);
        self.counters.set_error(message);
    }

    /// Equal jitter: half the backoff plus a random part of the other half.
    fn jitter(&mut self, backoff: Duration) -> Duration {
        let half = backoff / 2;
        let extra = self
            .rng
            .gen_range(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX));
        half + Duration::from_nanos(extra)
    }

    /// Waits before a retry while still taking flush and shutdown requests; a shutdown cuts the
    /// wait short so its deadline is respected.
    fn pause(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            let had_shutdown = self.shutdown.is_some();
            select! {
                recv(self.control) -> msg => self.on_control(msg.ok()),
                recv(self.wake) -> _ => {}
                default(until - now) => return,
            }
            if !had_shutdown && self.shutdown.is_some() {
                return;
            }
            if self.shutdown.is_some() && self.control.is_empty() {
                // A disconnected control channel is always ready: sleep instead of spinning.
                std::thread::sleep(
                    (until - Instant::now().min(until)).min(Duration::from_millis(50)),
                );
            }
        }
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}
