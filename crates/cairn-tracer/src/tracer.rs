//! The [`Tracer`]: configuration, span creation, flush and shutdown.
//!
//! A tracer owns one exporter thread and a set of per-thread buffers (see [`crate::buffer`]).
//! `Tracer` is a cheap `Clone` handle; when the last handle drops, the exporter gets up to five
//! seconds to deliver what is buffered. Call [`Tracer::shutdown`] for an explicit deadline.
//!
//! Concurrency contract: every method is callable from any thread, inside or outside an async
//! runtime. Span recording never blocks (unless [`QueuePolicy::Block`] is chosen and the buffer is
//! full). [`Tracer::flush`] and [`Tracer::shutdown`] block the caller until the exporter answers or
//! the timeout passes; in async code call them from `spawn_blocking` or at the end of `main`.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::buffer::{self, QueuePolicy, Shared};
use crate::clock::{self, Stamp};
use crate::context;
use crate::exporter::{self, Control, Counters, Exporter, Settings, encode, http};
use crate::ids::{SpanContext, SpanId, TraceId};
use crate::semconv;
use crate::span::{ATTRIBUTES_RESERVED, Attributes, Kind, Span, SpanData, SpanKind, Status};
use crate::value::{Content, Key, Value};

/// The redaction callback: given a content attribute's key and text, returns the text to export
/// (`None` removes the attribute). Runs on the exporter thread, before encoding.
pub type Redactor = dyn Fn(&str, String) -> Option<String> + Send + Sync;

/// The default OTLP/HTTP base endpoint (Cairn's collector, and the OTLP default port).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4318";

/// Configures and builds a [`Tracer`].
#[must_use]
pub struct TracerBuilder {
    service_name: String,
    traces_url: String,
    headers: Vec<(String, String)>,
    resource: Vec<(Key, Value)>,
    batch_size: usize,
    queue_capacity: usize,
    flush_interval: Duration,
    queue_policy: QueuePolicy,
    sampling_ratio: f64,
    capture_content: bool,
    redactor: Option<Arc<Redactor>>,
    export_timeout: Duration,
    max_retry_elapsed: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    gzip: bool,
    discard: bool,
}

impl fmt::Debug for TracerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerBuilder")
            .field("service_name", &self.service_name)
            .field("traces_url", &self.traces_url)
            .field("batch_size", &self.batch_size)
            .field("queue_capacity", &self.queue_capacity)
            .field("flush_interval", &self.flush_interval)
            .field("queue_policy", &self.queue_policy)
            .field("sampling_ratio", &self.sampling_ratio)
            .field("capture_content", &self.capture_content)
            .field("redactor", &self.redactor.is_some())
            .finish_non_exhaustive()
    }
}

/// Turns an OTLP base endpoint into the traces URL (`{base}/v1/traces`), as the OTel
/// `OTEL_EXPORTER_OTLP_ENDPOINT` convention does.
fn traces_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

impl TracerBuilder {
    fn new(service_name: impl Into<String>) -> TracerBuilder {
        TracerBuilder {
            service_name: service_name.into(),
            traces_url: traces_url(DEFAULT_ENDPOINT),
            headers: Vec::new(),
            resource: Vec::new(),
            batch_size: 512,
            queue_capacity: 2048,
            flush_interval: Duration::from_secs(1),
            queue_policy: QueuePolicy::DropNewest,
            sampling_ratio: 1.0,
            capture_content: false,
            redactor: None,
            export_timeout: Duration::from_secs(10),
            max_retry_elapsed: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            gzip: true,
            discard: false,
        }
    }

    /// The OTLP/HTTP base endpoint, e.g. `http://127.0.0.1:4318`; `/v1/traces` is appended
    /// unless already there. Default: [`DEFAULT_ENDPOINT`].
    pub fn endpoint(mut self, base: impl AsRef<str>) -> Self {
        self.traces_url = traces_url(base.as_ref());
        self
    }

    /// The full traces URL, used as is.
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.traces_url = url.into();
        self
    }

    /// Applies the standard OpenTelemetry environment variables when set:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (base),
    /// `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`) and `OTEL_SERVICE_NAME`.
    pub fn from_env(mut self) -> Self {
        if let Ok(url) = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            self.traces_url = url;
        } else if let Ok(base) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.traces_url = traces_url(&base);
        }
        if let Ok(headers) = std::env::var("OTEL_EXPORTER_OTLP_HEADERS") {
            for pair in headers.split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    self.headers
                        .push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
        }
        if let Ok(name) = std::env::var("OTEL_SERVICE_NAME") {
            self.service_name = name;
        }
        self
    }

    /// Adds an HTTP header to every export request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends `Authorization: Bearer {key}` with every export request.
    pub fn api_key(self, key: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", key.as_ref());
        self.header("Authorization", value)
    }

    /// Adds a resource attribute (e.g. `deployment.environment.name`).
    pub fn resource_attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Spans per export request. Default 512.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Finished spans each recording thread may buffer. Default 2048.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// How often partial batches are exported. Default 1 s.
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }

    /// What to do when a thread's buffer is full. Default [`QueuePolicy::DropNewest`].
    pub fn queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.queue_policy = policy;
        self
    }

    /// The share of new traces recorded, 0..=1 (children follow their parent). Default 1.
    pub fn sampling_ratio(mut self, ratio: f64) -> Self {
        self.sampling_ratio = ratio;
        self
    }

    /// Records prompts, completions, tool arguments and results, reasoning text and decision
    /// rationales. Off by default.
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }

    /// Sets the redaction callback applied to every content attribute before export.
    pub fn redact(
        mut self,
        f: impl Fn(&str, String) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.redactor = Some(Arc::new(f));
        self
    }

    /// Timeout of one export request. Default 10 s.
    pub fn export_timeout(mut self, d: Duration) -> Self {
        self.export_timeout = d;
        self
    }

    /// How long one batch is retried before it is dropped. Default 30 s.
    pub fn max_retry_elapsed(mut self, d: Duration) -> Self {
        self.max_retry_elapsed = d;
        self
    }

    /// The first and the largest retry backoff. Default 250 ms and 5 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Whether request bodies are gzipped. Default true.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Drops finished spans on the exporter thread instead of encoding and sending them, counting
    /// them as exported: measures the recording overhead alone (benchmarks, dry runs).
    pub fn discard_exports(mut self, on: bool) -> Self {
        self.discard = on;
        self
    }

    /// Validates the configuration and starts the exporter thread.
    pub fn build(self) -> Result<Tracer, BuildError> {
        if !(self.traces_url.starts_with("http://") || self.traces_url.starts_with("https://")) {
            return Err(BuildError::Endpoint(self.traces_url));
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return Err(BuildError::SamplingRatio(self.sampling_ratio));
        }
        for (name, what) in [
            (self.batch_size, "batch size"),
            (self.queue_capacity, "queue capacity"),
        ] {
            if name == 0 {
                return Err(BuildError::Zero(what));
            }
        }
        if self.flush_interval.is_zero() {
            return Err(BuildError::Zero("flush interval"));
        }
        for (name, _) in &self.headers {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid {
                return Err(BuildError::Header(name.clone()));
            }
        }
        let mut resource = vec![
            (
                Key::Borrowed(semconv::SERVICE_NAME),
                Value::from(self.service_name.clone()),
            ),
            (
                Key::Borrowed("telemetry.sdk.name"),
                Value::from("cairn-tracer"),
            ),
            (Key::Borrowed("telemetry.sdk.language"), Value::from("rust")),
            (
                Key::Borrowed("telemetry.sdk.version"),
                Value::from(env!("CARGO_PKG_VERSION")),
            ),
        ];
        resource.extend(self.resource);
        let settings = Settings {
            endpoint: http::Endpoint {
                url: self.traces_url.clone(),
                headers: self.headers,
                gzip: self.gzip,
            },
            envelope: encode::Envelope::new(&resource),
            redactor: self.redactor,
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            export_timeout: self.export_timeout,
            max_retry_elapsed: self.max_retry_elapsed,
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            discard: self.discard,
        };
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let shared = Shared::register(self.queue_capacity, self.queue_policy, wake_tx);
        let counters = Arc::new(Counters::default());
        let exporter = Exporter::new(
            Arc::clone(&shared),
            settings,
            Arc::clone(&counters),
            control_rx,
            wake_rx,
        );
        let worker = std::thread::Builder::new()
            .name("cairn-tracer-export".into())
            .spawn(move || exporter.run())
            .map_err(BuildError::Spawn)?;
        let sample_threshold = if self.sampling_ratio >= 1.0 {
            u64::MAX
        } else {
            // Truncation is intended: the ratio maps onto the u64 range.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let t = (self.sampling_ratio * 18_446_744_073_709_551_616.0) as u64;
            t
        };
        Ok(Tracer {
            inner: Arc::new(Inner {
                shared,
                counters,
                control: control_tx,
                worker: Mutex::new(Some(worker)),
                shut_down: AtomicBool::new(false),
                sample_all: self.sampling_ratio >= 1.0,
                sample_threshold,
                capture_content: self.capture_content,
                service_name: self.service_name,
                traces_url: self.traces_url,
            }),
        })
    }
}

/// Why a tracer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("endpoint {0:?} is not an http or https url")]
    Endpoint(String),
    /// The sampling ratio is outside 0..=1.
    #[error("sampling ratio {0} is not between 0 and 1")]
    SamplingRatio(f64),
    /// A size or interval is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// A header name is not a valid HTTP token.
    #[error("header name {0:?} is not a valid http token")]
    Header(String),
    /// The exporter thread could not be started.
    #[error("cannot start the exporter thread")]
    Spawn(#[source] std::io::Error),
}

/// Why [`Tracer::flush`] did not confirm delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The exporter did not finish in time (it keeps going in the background).
    #[error("flush did not finish within {0:?}")]
    Timeout(Duration),
    /// The tracer was shut down.
    #[error("tracer is shut down")]
    ShutDown,
}

/// Why [`Tracer::shutdown`] did not confirm delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The exporter did not finish in time; what was left is dropped.
    #[error("shutdown did not finish within {0:?}")]
    Timeout(Duration),
    /// The tracer was already shut down.
    #[error("tracer is already shut down")]
    AlreadyShutDown,
}

/// Counters describing what happened to recorded spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TracerStats {
    /// Spans the endpoint accepted.
    pub exported: u64,
    /// Spans dropped because a buffer was full or the tracer was shut down.
    pub dropped_queue: u64,
    /// Spans dropped because their export failed permanently or ran out of retries.
    pub dropped_export: u64,
    /// Spans the endpoint reported as rejected in `partial_success`.
    pub rejected: u64,
    /// Export requests sent (including retries).
    pub requests: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Export requests that failed.
    pub failed_requests: u64,
    /// Spans currently waiting in buffers or in the exporter's pending batch.
    pub buffered: u64,
}

struct Inner {
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    control: Sender<Control>,
    worker: Mutex<Option<JoinHandle<()>>>,
    shut_down: AtomicBool,
    sample_all: bool,
    sample_threshold: u64,
    capture_content: bool,
    service_name: String,
    traces_url: String,
}

impl Inner {
    fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(ShutdownError::AlreadyShutDown);
        }
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let deadline = Instant::now() + timeout;
        let sent = self.control.send(Control::Shutdown {
            deadline,
            reply: reply_tx,
        });
        let result = match sent {
            Ok(()) => match reply_rx.recv_timeout(timeout) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => Ok(()),
                Err(RecvTimeoutError::Timeout) => Err(ShutdownError::Timeout(timeout)),
            },
            Err(_) => Ok(()),
        };
        self.shared.close();
        if result.is_ok() {
            let worker = self
                .worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(worker) = worker {
                let _ = worker.join();
            }
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::Acquire) {
            let _ = self.shutdown(exporter::DROP_SHUTDOWN_TIMEOUT);
        }
    }
}

/// Records agent spans and exports them over OTLP/HTTP. Cheap to clone.
///
/// ```no_run
/// use cairn_tracer::Tracer;
/// use serde_json::json;
///
/// let tracer = Tracer::builder("my-agent")
///     .endpoint("http://127.0.0.1:4318")
///     .capture_content(true)
///     .build()?;
/// let run = tracer.agent("planner").conversation_id("c-42").start();
/// let _current = run.enter();
/// let mut call = tracer.tool("web_search").arguments(json!({"q": "rust otlp"})).start();
/// call.set_result(json!({"hits": 3}));
/// call.end();
/// drop(_current);
/// run.end();
/// tracer.shutdown(std::time::Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("service_name", &self.inner.service_name)
            .field("endpoint", &self.inner.traces_url)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// Starts configuring a tracer for `service_name` (the `service.name` resource attribute).
    pub fn builder(service_name: impl Into<String>) -> TracerBuilder {
        TracerBuilder::new(service_name)
    }

    /// A generic span; see the typed helpers ([`agent`](Tracer::agent), [`llm`](Tracer::llm),
    /// [`tool`](Tracer::tool), …) for agent work.
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder::new(self, None, name.into())
    }

    /// Spans dropped so far: full buffers, spans ended after shutdown, and batches whose export
    /// failed for good.
    pub fn dropped_spans(&self) -> u64 {
        self.inner.shared.dropped() + self.inner.counters.dropped_export.load(Ordering::Relaxed)
    }

    /// A snapshot of the export counters.
    pub fn stats(&self) -> TracerStats {
        let c = &self.inner.counters;
        let buffered = u64::try_from(self.inner.shared.buffered()).unwrap_or(u64::MAX)
            + c.pending.load(Ordering::Relaxed);
        TracerStats {
            exported: c.exported.load(Ordering::Relaxed),
            dropped_queue: self.inner.shared.dropped(),
            dropped_export: c.dropped_export.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            failed_requests: c.failed_requests.load(Ordering::Relaxed),
            buffered,
        }
    }

    /// The most recent export error, if any (for diagnostics).
    pub fn last_export_error(&self) -> Option<String> {
        self.inner
            .counters
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The traces URL spans are sent to.
    pub fn endpoint(&self) -> &str {
        &self.inner.traces_url
    }

    /// Exports every span ended before this call and waits up to `timeout` for the exporter to
    /// finish (delivered, or dropped after retries; see [`stats`](Tracer::stats)).
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(FlushError::ShutDown);
        }
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        if self.inner.control.send(Control::Flush(reply_tx)).is_err() {
            return Err(FlushError::ShutDown);
        }
        match reply_rx.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(FlushError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(FlushError::ShutDown),
        }
    }

    /// Exports every span ended before this call, then stops the exporter. Spans ended later are
    /// dropped and counted. Waits at most `timeout`.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.inner.shutdown(timeout)
    }

    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.inner.shared.id
    }

    #[inline]
    fn sample(&self, trace_id: TraceId) -> bool {
        self.inner.sample_all || trace_id.low_u64() < self.inner.sample_threshold
    }

    /// A fresh span record for a builder: one allocation, filled in by the builder's methods.
    #[inline]
    pub(crate) fn new_span_data(
        &self,
        name_prefix: Option<&'static str>,
        name: Cow<'static, str>,
        span_kind: SpanKind,
    ) -> Box<SpanData> {
        if let Some(mut data) = buffer::spare(self.id()) {
            data.name_prefix = name_prefix;
            data.name = name;
            data.span_kind = span_kind;
            data.capture_content = self.inner.capture_content;
            return data;
        }
        Box::new(SpanData {
            tracer_id: self.id(),
            home: 0,
            context: SpanContext::new(TraceId::INVALID, SpanId::INVALID, false, false),
            parent_span_id: None,
            parent_is_remote: false,
            name_prefix,
            name,
            span_kind,
            parent: Parent::Current,
            start: Stamp::Unset,
            end: Stamp::Unset,
            attributes: Attributes::with_capacity(ATTRIBUTES_RESERVED),
            attributes_own_heap: false,
            content: Vec::new(),
            events: Vec::new(),
            status: Status::Unset,
            capture_content: self.inner.capture_content,
        })
    }

    /// Starts a span: resolves the parent, draws ids, samples, stamps the start time (unless the
    /// record already has one). The shared path of every builder and of the `tracing` bridge.
    #[inline]
    pub(crate) fn start_span(&self, mut data: Box<SpanData>, parent: Parent) -> Span {
        let parent = match parent {
            Parent::Current => context::current(),
            Parent::Explicit(ctx) => Some(ctx),
            Parent::Root => None,
        };
        let (trace_id, sampled, parent_span_id, parent_is_remote) = match parent {
            Some(p) if p.is_valid() => (
                p.trace_id(),
                p.is_sampled(),
                Some(p.span_id()),
                p.is_remote(),
            ),
            _ => {
                let trace_id = TraceId::random();
                (trace_id, self.sample(trace_id), None, false)
            }
        };
        let ctx = SpanContext::new(trace_id, SpanId::random(), sampled, false);
        if !sampled {
            return Span::new(ctx, None);
        }
        data.context = ctx;
        data.parent_span_id = parent_span_id;
        data.parent_is_remote = parent_is_remote;
        if data.start == Stamp::Unset {
            data.start = Stamp::now();
        }
        data.end = data.start;
        Span::new(ctx, Some(data))
    }
}

/// Where a new span's parent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parent {
    /// The current span of the thread or instrumented future (the default).
    Current,
    /// An explicit parent (possibly remote).
    Explicit(SpanContext),
    /// No parent: a new trace.
    Root,
}

/// Configures a span before it starts. Returned by [`Tracer::span`] and wrapped by the typed
/// helpers.
#[derive(Debug)]
#[must_use = "a span is only recorded once started"]
pub struct SpanBuilder<'t> {
    tracer: &'t Tracer,
    /// The record being configured (the parent choice included); builder methods write into it,
    /// so moving the builder moves two pointers.
    data: Box<SpanData>,
}

impl<'t> SpanBuilder<'t> {
    #[inline]
    pub(crate) fn new(
        tracer: &'t Tracer,
        name_prefix: Option<&'static str>,
        name: Cow<'static, str>,
    ) -> Self {
        SpanBuilder {
            tracer,
            data: tracer.new_span_data(name_prefix, name, SpanKind::Internal),
        }
    }

    /// Sets `cairn.kind`.
    #[inline]
    pub fn kind(self, kind: Kind) -> Self {
        self.attribute(semconv::CAIRN_KIND, kind.as_str())
    }

    /// Sets the OpenTelemetry span kind (default internal).
    #[inline]
    pub fn span_kind(mut self, kind: SpanKind) -> Self {
        self.data.span_kind = kind;
        self
    }

    /// Uses `parent` instead of the current span (e.g. a context extracted from `traceparent`,
    /// or a span started on another thread).
    #[inline]
    pub fn parent(mut self, parent: SpanContext) -> Self {
        self.data.parent = Parent::Explicit(parent);
        self
    }

    /// Starts a new trace even if a span is current.
    #[inline]
    pub fn root(mut self) -> Self {
        self.data.parent = Parent::Root;
        self
    }

    /// Adds an attribute.
    #[inline]
    pub fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.data.push_attribute(key.into(), value.into());
        self
    }

    /// Adds a content attribute (recorded only when the tracer captures content).
    #[inline]
    pub fn content(mut self, key: impl Into<Key>, content: impl Into<Content>) -> Self {
        if self.data.capture_content {
            self.data.content.push((key.into(), content.into()));
        }
        self
    }

    /// Starts the span at an explicit time instead of now (for replaying or simulating work).
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.data.start = Stamp::Unix(clock::system_time_nanos(time));
        self
    }

    /// Starts the span.
    #[inline]
    pub fn start(self) -> Span {
        let parent = self.data.parent;
        self.tracer.start_span(self.data, parent)
    }

    pub(crate) fn start_stamp(&self) -> Option<Stamp> {
        (self.data.start != Stamp::Unset).then_some(self.data.start)
    }
}
