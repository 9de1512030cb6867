//! Per-thread span buffers: the hot path's only shared-memory contact.
//!
//! Each (thread, tracer) pair owns a bounded single-producer/single-consumer ring ([`rtrb`]):
//! the thread pushes the pointer of each finished span, the tracer's exporter thread pops. A push
//! is a couple of atomic loads and one release store on cache lines that only this thread and the
//! exporter touch, so recording threads never contend with each other and never take a lock or
//! make a syscall.
//!
//! - Registration (first span a thread ends for a tracer) takes the global registry lock and the
//!   tracer's ring-list lock once; the thread-local entry then holds an `Arc` to the tracer's
//!   [`Shared`] so the hot path never touches a shared reference count.
//! - Memory is bounded by `queue_capacity` spans per recording thread, plus what the exporter
//!   holds (see the exporter's module docs).
//!   When a ring is full the span is dropped and counted ([`QueuePolicy::DropNewest`]) or the
//!   thread waits up to a timeout for room ([`QueuePolicy::Block`]).
//! - The exporter is woken once every `queue_capacity / 2` pushes on a ring (and once when a ring
//!   is found full, not again until a push succeeds, so an overloaded tracer does not make every
//!   recording thread hit the shared wake channel), otherwise it drains on its flush interval.
//! - Spans that end while the thread's locals are being destroyed go to a small mutex-protected
//!   overflow list (the rare path, bounded by the same capacity).
//! - After shutdown, spans are dropped and counted.
//! - Span records are recycled: after encoding, the exporter clears each record and hands it back
//!   to the thread it came from over a second ring, and builders on that thread reuse it. Without
//!   this every span would be allocated on one thread and freed on another, which general-purpose
//!   allocators handle badly (remote frees, heap trimming and page faults on the hot path). Each
//!   thread keeps at most `queue_capacity` spare records, plus at most 32 records of spans it
//!   dropped for lack of room (reused first, so an overloaded exporter does not cost the
//!   recording thread a free and two allocations per span).
//! - Drop counts for full rings are per thread (written only by that thread, summed on read,
//!   folded into a shared counter when the thread's ring goes away), so an overloaded tracer does
//!   not make recording threads contend on one counter. The fields every push reads (`id`, `open`,
//!   `capacity`, `policy`) share no cache line with anything written while spans are recorded.

// Spans travel as the boxes the recording threads allocated: moving a pointer instead of the
// ~200-byte record keeps ring slots small and avoids a copy per span.
#![allow(clippy::vec_box)]

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rtrb::{Consumer, Producer, PushError, RingBuffer};

use crate::span::SpanData;

/// What recording threads do when their buffer is full (the exporter is behind or the endpoint
/// is down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Drop the new span and count it in [`Tracer::dropped_spans`](crate::Tracer::dropped_spans).
    DropNewest,
    /// Wait up to `timeout` for room, then drop and count.
    Block {
        /// The longest a recording thread waits.
        timeout: Duration,
    },
}

/// The state a tracer shares between recording threads and its exporter.
///
/// The fields recording threads read on every span (`id`, `capacity`, `policy`, `open`) are never
/// written while spans are recorded; the counters written on the rare paths live on their own cache
/// line so they cannot invalidate the hot ones.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) id: u64,
    capacity: usize,
    policy: QueuePolicy,
    open: AtomicBool,
    wake: Sender<()>,
    /// The exporter's ends of every thread's rings. Locked by the exporter and by a thread
    /// registering its rings, never on the recording path.
    rings: Mutex<Vec<RemoteRing>>,
    /// Spans ended during thread-local destruction.
    overflow: Mutex<Vec<Box<SpanData>>>,
    cold: Padded<ColdCounters>,
}

/// Keeps its content on cache lines of its own (128 bytes covers adjacent-line prefetching).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

/// Drop counters shared by all threads (per-thread counts are folded in when a thread exits).
#[derive(Debug, Default)]
struct ColdCounters {
    dropped_full: AtomicU64,
    dropped_closed: AtomicU64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static REGISTRY: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<Vec<LocalRing>> = const { RefCell::new(Vec::new()) };
}

static NEXT_RING: AtomicU64 = AtomicU64::new(1);

/// A recording thread's ends: finished spans out, cleared records back.
struct LocalRing {
    /// The tracer's id, copied here so finding the ring does not dereference `shared`.
    tracer_id: u64,
    id: u64,
    shared: Arc<Shared>,
    producer: Producer<Box<SpanData>>,
    spares: Consumer<Box<SpanData>>,
    until_wake: usize,
    /// Spans this thread dropped because its ring was full: written by this thread only (a plain
    /// load and store, no shared read-modify-write), read by [`Shared::dropped`], folded into the
    /// shared counter when the thread's ring goes away.
    dropped: Arc<AtomicU64>,
    /// Records of spans this thread dropped, kept for reuse (at most [`STASH_MAX`]) so that an
    /// overloaded exporter does not turn every span into a free and two allocations.
    stash: Vec<Box<SpanData>>,
    /// Set when a push found the ring full and woke the exporter; cleared by the next successful
    /// push. While set, further full pushes do not touch the (shared) wake channel again.
    woke_full: bool,
}

/// The most dropped-span records a thread keeps for reuse per tracer.
const STASH_MAX: usize = 32;

impl Drop for LocalRing {
    fn drop(&mut self) {
        let n = self.dropped.swap(0, Ordering::AcqRel);
        self.shared
            .cold
            .0
            .dropped_full
            .fetch_add(n, Ordering::AcqRel);
    }
}

/// The exporter's ends of one thread's rings.
#[derive(Debug)]
struct RemoteRing {
    id: u64,
    spans: Consumer<Box<SpanData>>,
    spares: Producer<Box<SpanData>>,
    dropped: Arc<AtomicU64>,
}

impl Shared {
    /// Creates and registers the shared state of a new tracer.
    pub(crate) fn register(capacity: usize, policy: QueuePolicy, wake: Sender<()>) -> Arc<Shared> {
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            capacity: capacity.max(2),
            policy,
            open: AtomicBool::new(true),
            wake,
            rings: Mutex::new(Vec::new()),
            overflow: Mutex::new(Vec::new()),
            cold: Padded::default(),
        });
        let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
        registry.retain(|w| w.strong_count() > 0);
        registry.push(Arc::downgrade(&shared));
        shared
    }

    /// Stops accepting spans; later spans are dropped and counted.
    pub(crate) fn close(&self) {
        self.open.store(false, Ordering::Release);
    }

    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Spans dropped because a buffer was full or the tracer was shut down.
    pub(crate) fn dropped(&self) -> u64 {
        let per_thread: u64 = self
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|r| r.dropped.load(Ordering::Acquire))
            .sum();
        per_thread
            + self.cold.0.dropped_full.load(Ordering::Acquire)
            + self.cold.0.dropped_closed.load(Ordering::Relaxed)
    }

    /// Spans waiting in buffers.
    pub(crate) fn buffered(&self) -> usize {
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let in_rings: usize = rings.iter().map(|r| r.spans.slots()).sum();
        in_rings
            + self
                .overflow
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
    }

    /// Moves up to `max - out.len()` spans from the buffers into `out`; returns how many moved.
    /// Forgets rings whose thread has exited and that are empty.
    pub(crate) fn drain_into(&self, out: &mut Vec<Box<SpanData>>, max: usize) -> usize {
        let before = out.len();
        {
            let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
            let room = max.saturating_sub(out.len()).min(overflow.len());
            out.extend(overflow.drain(..room));
        }
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        for ring in rings.iter_mut() {
            let room = max.saturating_sub(out.len());
            if room == 0 {
                break;
            }
            let n = ring.spans.slots().min(room);
            if let Ok(chunk) = ring.spans.read_chunk(n) {
                out.extend(chunk);
            }
        }
        rings.retain(|r| !(r.spans.is_abandoned() && r.spans.is_empty()));
        // Start with a different ring next time so a busy thread cannot starve the others.
        if rings.len() > 1 {
            rings.rotate_left(1);
        }
        out.len() - before
    }

    /// Hands exported span records back to the threads they came from (which clear them on
    /// reuse, so their cache lines and owned strings stay on that thread); records whose thread
    /// is gone or has enough spares are freed.
    pub(crate) fn recycle(&self, spans: Vec<Box<SpanData>>) {
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut at = 0;
        for span in spans {
            if rings.get(at).is_none_or(|r| r.id != span.home) {
                match rings.iter().position(|r| r.id == span.home) {
                    Some(i) => at = i,
                    None => continue,
                }
            }
            let _ = rings[at].spares.push(span);
        }
    }

    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    fn count_closed(&self) {
        self.cold.0.dropped_closed.fetch_add(1, Ordering::Relaxed);
    }

    fn push_overflow(&self, span: Box<SpanData>) {
        if !self.is_open() {
            self.count_closed();
            return;
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        if overflow.len() < self.capacity {
            overflow.push(span);
        } else {
            self.cold.0.dropped_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn lookup(id: u64) -> Option<Arc<Shared>> {
    let registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    registry
        .iter()
        .filter_map(Weak::upgrade)
        .find(|s| s.id == id)
}

impl LocalRing {
    fn new(shared: Arc<Shared>) -> LocalRing {
        let (producer, consumer) = RingBuffer::new(shared.capacity);
        let (spare_producer, spare_consumer) = RingBuffer::new(shared.capacity);
        let id = NEXT_RING.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(AtomicU64::new(0));
        shared
            .rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(RemoteRing {
                id,
                spans: consumer,
                spares: spare_producer,
                dropped: Arc::clone(&dropped),
            });
        let until_wake = shared.capacity / 2;
        LocalRing {
            tracer_id: shared.id,
            id,
            shared,
            producer,
            spares: spare_consumer,
            until_wake,
            dropped,
            stash: Vec::new(),
            woke_full: false,
        }
    }

    #[inline]
    fn push(&mut self, mut span: Box<SpanData>) {
        span.home = self.id;
        if !self.shared.is_open() {
            self.shared.count_closed();
            return;
        }
        match self.producer.push(span) {
            Ok(()) => self.pushed(),
            Err(PushError::Full(span)) => self.full(span),
        }
    }

    #[inline]
    fn pushed(&mut self) {
        self.woke_full = false;
        self.until_wake -= 1;
        if self.until_wake == 0 {
            self.wake_exporter();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_exporter(&mut self) {
        self.until_wake = (self.shared.capacity / 2).max(1);
        self.shared.wake();
    }

    #[cold]
    #[inline(never)]
    fn full(&mut self, span: Box<SpanData>) {
        if !self.woke_full {
            self.woke_full = true;
            self.shared.wake();
        }
        match self.shared.policy {
            QueuePolicy::DropNewest => self.discard(span),
            QueuePolicy::Block { timeout } => self.push_blocking(span, timeout),
        }
    }

    /// Drops a span for lack of room: counts it and keeps the record for reuse.
    fn discard(&mut self, span: Box<SpanData>) {
        // Only this thread writes its counter, so a load and a store suffice.
        let n = self.dropped.load(Ordering::Relaxed);
        self.dropped.store(n + 1, Ordering::Release);
        if self.stash.len() < STASH_MAX {
            self.stash.push(span);
        }
    }

    fn push_blocking(&mut self, mut span: Box<SpanData>, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            std::thread::sleep(Duration::from_micros(200));
            match self.producer.push(span) {
                Ok(()) => return self.pushed(),
                Err(PushError::Full(back)) => span = back,
            }
            if Instant::now() >= deadline || !self.shared.is_open() {
                self.discard(span);
                return;
            }
            self.shared.wake();
        }
    }
}

/// A cleared span record to reuse, if this thread has one for the tracer.
#[inline]
pub(crate) fn spare(tracer_id: u64) -> Option<Box<SpanData>> {
    LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            let ring = local.iter_mut().find(|r| r.tracer_id == tracer_id)?;
            let mut span = match ring.stash.pop() {
                Some(span) => span,
                None => ring.spares.pop().ok()?,
            };
            span.clear();
            Some(span)
        })
        .ok()
        .flatten()
}

/// Hands a finished span to its tracer's exporter (the hot path).
#[inline]
pub(crate) fn submit(span: Box<SpanData>) {
    let id = span.tracer_id;
    let mut slot = Some(span);
    let _ = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return;
        };
        if let Some(ring) = local.iter_mut().find(|r| r.tracer_id == id) {
            if let Some(span) = slot.take() {
                ring.push(span);
            }
        }
    });
    if let Some(span) = slot {
        submit_slow(span);
    }
}

/// First span this thread ends for this tracer, or thread-local storage is being torn down (or
/// re-entered).
#[cold]
#[inline(never)]
fn submit_slow(span: Box<SpanData>) {
    let id = span.tracer_id;
    let mut slot = Some(span);
    let _ = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return;
        };
        let Some(span) = slot.take() else {
            return;
        };
        local.retain(|r| r.shared.is_open());
        match lookup(id) {
            Some(shared) => {
                let mut ring = LocalRing::new(shared);
                ring.push(span);
                local.push(ring);
            }
            None => drop(span), // the tracer no longer exists
        }
    });
    if let Some(span) = slot {
        // Thread-local storage is being torn down (or re-entered).
        if let Some(shared) = lookup(id) {
            shared.push_overflow(span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Stamp;
    use crate::ids::{SpanContext, SpanId, TraceId};
    use crate::span::{SpanKind, Status};
    use crate::tracer::Parent;

    fn blank(tracer_id: u64) -> Box<SpanData> {
        Box::new(SpanData {
            tracer_id,
            home: 0,
            context: SpanContext::new(TraceId::INVALID, SpanId::INVALID, false, false),
            parent_span_id: None,
            parent_is_remote: false,
            name_prefix: None,
            name: "s".into(),
            span_kind: SpanKind::Internal,
            parent: Parent::Current,
            start: Stamp::Unset,
            end: Stamp::Unset,
            attributes: Vec::new(),
            attributes_own_heap: false,
            content: Vec::new(),
            events: Vec::new(),
            status: Status::Unset,
            capture_content: false,
        })
    }

    #[test]
    fn drops_are_counted_per_thread_and_survive_the_thread() {
        let (tx, _rx) = crossbeam_channel::bounded(1);
        let shared = Shared::register(2, QueuePolicy::DropNewest, tx);
        let theirs = Arc::clone(&shared);
        std::thread::spawn(move || {
            let mut ring = LocalRing::new(Arc::clone(&theirs));
            for _ in 0..40 {
                ring.push(blank(theirs.id));
            }
            // Two fit; 38 were dropped, counted, and at most 32 records kept for reuse.
            assert_eq!(theirs.dropped(), 38);
            assert_eq!(ring.stash.len(), STASH_MAX);
        })
        .join()
        .expect("recording thread");
        // The thread's ring is gone; its count was folded into the shared counter.
        assert_eq!(shared.dropped(), 38);
        let mut out = Vec::new();
        assert_eq!(shared.drain_into(&mut out, usize::MAX), 2);
        assert_eq!(shared.dropped(), 38);
    }
}
