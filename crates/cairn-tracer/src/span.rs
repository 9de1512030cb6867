//! Spans: the recording handle ([`Span`]) and the finished record handed to the exporter.
//!
//! A [`Span`] owns a boxed [`SpanData`] while it records. Records are recycled (see
//! [`crate::buffer`]): a record and its attribute vector (room for eight) are allocated once and
//! reused, so in steady state a span allocates nothing. Attributes are stored as given (static keys
//! and values are not copied or converted); the name prefix, timestamps and values are turned into
//! OTLP on the exporter thread.
//! Setting attributes writes into that box; nothing is shared with other threads until the span ends, when the box
//! pointer is pushed onto the ending thread's ring buffer (see [`crate::buffer`]). A span that is
//! not sampled carries a valid [`SpanContext`] (so children and `traceparent` still propagate)
//! but no data, and every setter is a no-op.
//!
//! A span ends exactly once: on [`Span::end`], [`Span::end_at`], or when it is dropped.

use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::error::Error;
use std::time::SystemTime;

use crate::clock::{self, Stamp};
use crate::context::{self, ContextGuard};
use crate::ids::{SpanContext, SpanId};
use crate::semconv;
use crate::value::{Content, Key, Value};

/// A span's attributes, in the order set.
pub(crate) type Attributes = Vec<(Key, Value)>;

/// Attribute slots a new record reserves (a recycled record keeps whatever it grew to).
pub(crate) const ATTRIBUTES_RESERVED: usize = 8;

/// The agent kind of a span, emitted as `cairn.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// An agent invocation.
    Agent,
    /// A workflow or chain.
    Workflow,
    /// An LLM call.
    Llm,
    /// A tool call.
    Tool,
    /// A retrieval step.
    Retrieval,
    /// A reasoning step.
    Reasoning,
    /// A decision.
    Decision,
    /// A guardrail check.
    Guardrail,
    /// An evaluation.
    Evaluation,
    /// A memory operation.
    Memory,
    /// Anything else.
    Other,
}

impl Kind {
    /// The `cairn.kind` value: `agent`, `workflow`, `llm`, `tool`, … (snake case).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Agent => "agent",
            Kind::Workflow => "workflow",
            Kind::Llm => "llm",
            Kind::Tool => "tool",
            Kind::Retrieval => "retrieval",
            Kind::Reasoning => "reasoning",
            Kind::Decision => "decision",
            Kind::Guardrail => "guardrail",
            Kind::Evaluation => "evaluation",
            Kind::Memory => "memory",
            Kind::Other => "other",
        }
    }

    /// Parses a `cairn.kind` value.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "agent" => Kind::Agent,
            "workflow" => Kind::Workflow,
            "llm" => Kind::Llm,
            "tool" => Kind::Tool,
            "retrieval" => Kind::Retrieval,
            "reasoning" => Kind::Reasoning,
            "decision" => Kind::Decision,
            "guardrail" => Kind::Guardrail,
            "evaluation" => Kind::Evaluation,
            "memory" => Kind::Memory,
            "other" => Kind::Other,
            _ => return None,
        })
    }
}

/// The OpenTelemetry span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// An in-process operation (agents, tools, reasoning).
    #[default]
    Internal,
    /// The server side of a remote call.
    Server,
    /// The client side of a remote call (LLM requests).
    Client,
    /// A message producer.
    Producer,
    /// A message consumer.
    Consumer,
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    /// Not set: the operation is assumed to have succeeded.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed, with a description.
    Error(Cow<'static, str>),
}

/// An event within a span (e.g. an `exception`).
#[derive(Debug)]
pub(crate) struct EventData {
    pub(crate) time_ns: u64,
    pub(crate) name: Cow<'static, str>,
    pub(crate) attributes: Vec<(Key, Value)>,
    /// Captured on the caller's thread, symbolized into `exception.stacktrace` on export.
    pub(crate) backtrace: Option<Box<Backtrace>>,
}

/// A span's recorded data. Built on the caller's thread, encoded on the exporter thread.
#[derive(Debug)]
pub(crate) struct SpanData {
    /// Routes the finished span to its tracer's buffers.
    pub(crate) tracer_id: u64,
    /// The ring the span was submitted to (for recycling the record).
    pub(crate) home: u64,
    pub(crate) context: SpanContext,
    pub(crate) parent_span_id: Option<SpanId>,
    pub(crate) parent_is_remote: bool,
    /// Exported as `"{prefix} {name}"` when set (e.g. `execute_tool` + `web_search`), so helpers
    /// do not format a string on the caller's thread.
    pub(crate) name_prefix: Option<&'static str>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) span_kind: SpanKind,
    /// Where the parent comes from; read once, when the span starts.
    pub(crate) parent: crate::tracer::Parent,
    pub(crate) start: Stamp,
    pub(crate) end: Stamp,
    pub(crate) attributes: Attributes,
    /// Whether some attribute may own heap memory (an owned key or string, an array, JSON). When
    /// false, [`SpanData::clear`] forgets the attributes without running their destructors.
    pub(crate) attributes_own_heap: bool,
    /// Content attributes, kept apart so the redaction callback sees exactly these.
    pub(crate) content: Vec<(Key, Content)>,
    pub(crate) events: Vec<EventData>,
    pub(crate) status: Status,
    /// Copied from the tracer at start: whether content setters record anything.
    pub(crate) capture_content: bool,
}

impl SpanData {
    /// Appends an attribute, noting whether it owns heap memory. For the usual static key and
    /// scalar or static-string value the check folds away at compile time.
    #[inline]
    pub(crate) fn push_attribute(&mut self, key: Key, value: Value) {
        self.attributes_own_heap |= matches!(key, Cow::Owned(_)) || value.owns_heap();
        self.attributes.push((key, value));
    }

    /// Appends attributes that may own heap memory.
    pub(crate) fn extend_attributes(&mut self, attributes: impl IntoIterator<Item = (Key, Value)>) {
        self.attributes_own_heap = true;
        self.attributes.extend(attributes);
    }

    /// Empties the record for reuse, keeping its allocations.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.name = Cow::Borrowed("");
        self.name_prefix = None;
        if self.attributes_own_heap {
            self.attributes.clear();
            self.attributes_own_heap = false;
        } else {
            // Nothing to free: every key and value is static or scalar, so skip their
            // destructors (this compiles to resetting the length).
            self.attributes.drain(..).for_each(std::mem::forget);
        }
        self.content.clear();
        self.events.clear();
        self.status = Status::Unset;
        self.parent_span_id = None;
        self.parent_is_remote = false;
        self.parent = crate::tracer::Parent::Current;
        self.start = Stamp::Unset;
        self.end = Stamp::Unset;
    }
}

/// A span being recorded. Ends when dropped, or explicitly with [`end`](Span::end).
///
/// Obtain one from a [`Tracer`](crate::Tracer) helper (`agent`, `llm`, `tool`, …) or
/// [`Tracer::span`](crate::Tracer::span).
#[derive(Debug)]
pub struct Span {
    context: SpanContext,
    data: Option<Box<SpanData>>,
}

impl Span {
    #[inline]
    pub(crate) fn new(context: SpanContext, data: Option<Box<SpanData>>) -> Span {
        Span { context, data }
    }

    /// This span's context: pass it as an explicit parent or inject it as `traceparent`.
    pub fn context(&self) -> SpanContext {
        self.context
    }

    /// Whether the span records anything (false when not sampled or already ended).
    pub fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    /// Sets (appends) an attribute.
    #[inline]
    pub fn set_attribute(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(data) = &mut self.data {
            data.push_attribute(key.into(), value.into());
        }
    }

    /// Records content (prompts, tool results, reasoning text) under `key` if the tracer captures
    /// content; it passes through the redaction callback on export.
    pub fn set_content(&mut self, key: impl Into<Key>, content: impl Into<Content>) {
        if let Some(data) = &mut self.data {
            if data.capture_content {
                data.content.push((key.into(), content.into()));
            }
        }
    }

    /// Whether content setters record anything on this span.
    pub fn captures_content(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.capture_content)
    }

    /// Adds an event with attributes, timestamped now.
    pub fn add_event(&mut self, name: impl Into<Cow<'static, str>>, attributes: Vec<(Key, Value)>) {
        if let Some(data) = &mut self.data {
            data.events.push(EventData {
                time_ns: clock::now_unix_nanos(),
                name: name.into(),
                attributes,
                backtrace: None,
            });
        }
    }

    /// Sets the status.
    pub fn set_status(&mut self, status: Status) {
        if let Some(data) = &mut self.data {
            data.status = status;
        }
    }

    /// Records an error: an `exception` event with `exception.type` (the Rust type name),
    /// `exception.message` (the error and its `source()` chain, joined by `: `) and
    /// `exception.stacktrace` (a backtrace captured here, symbolized on the exporter thread),
    /// sets `error.type` and the status to error.
    pub fn record_error<E: Error + ?Sized>(&mut self, error: &E) {
        if self.data.is_none() {
            return;
        }
        let error_type = std::any::type_name::<E>();
        let message = error_chain(error);
        self.record_exception_inner(
            Cow::Borrowed(error_type),
            message,
            Some(Box::new(Backtrace::force_capture())),
            None,
        );
    }

    /// Records an exception from its parts (for errors that are not `std::error::Error`, or
    /// that come from another runtime with their own stack trace).
    pub fn record_exception(
        &mut self,
        error_type: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        stacktrace: Option<String>,
    ) {
        if self.data.is_none() {
            return;
        }
        self.record_exception_inner(error_type.into(), message.into(), None, stacktrace);
    }

    fn record_exception_inner(
        &mut self,
        error_type: Cow<'static, str>,
        message: String,
        backtrace: Option<Box<Backtrace>>,
        stacktrace: Option<String>,
    ) {
        let Some(data) = &mut self.data else {
            return;
        };
        let mut attributes = vec![
            (
                Key::Borrowed(semconv::EXCEPTION_TYPE),
                Value::Str(error_type.clone()),
            ),
            (
                Key::Borrowed(semconv::EXCEPTION_MESSAGE),
                Value::from(message.clone()),
            ),
        ];
        if let Some(trace) = stacktrace {
            attributes.push((
                Key::Borrowed(semconv::EXCEPTION_STACKTRACE),
                Value::from(trace),
            ));
        }
        data.events.push(EventData {
            time_ns: clock::now_unix_nanos(),
            name: Cow::Borrowed(semconv::EXCEPTION_EVENT),
            attributes,
            backtrace,
        });
        data.push_attribute(Key::Borrowed(semconv::ERROR_TYPE), Value::Str(error_type));
        data.status = Status::Error(Cow::Owned(message));
    }

    /// Makes this span the current one on this thread until the guard drops: spans started
    /// meanwhile without an explicit parent become its children.
    pub fn enter(&self) -> ContextGuard {
        context::attach(self.context)
    }

    /// Runs `f` with this span current on this thread.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Ends the span now.
    #[inline]
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends the span at an explicit time (for replaying or simulating past work).
    pub fn end_at(mut self, time: SystemTime) {
        self.finish(Some(Stamp::Unix(clock::system_time_nanos(time))));
    }

    pub(crate) fn end_at_stamp(mut self, end: Stamp) {
        self.finish(Some(end));
    }

    #[inline]
    fn finish(&mut self, end: Option<Stamp>) {
        if let Some(mut data) = self.data.take() {
            let end = end.unwrap_or_else(Stamp::now);
            data.end = end.not_before(data.start);
            crate::buffer::submit(data);
        }
    }

    /// Time since the span started (zero when not recording).
    pub fn elapsed(&self) -> std::time::Duration {
        self.data.as_ref().map_or(std::time::Duration::ZERO, |d| {
            std::time::Duration::from_nanos(
                clock::now_unix_nanos().saturating_sub(d.start.unix_nanos()),
            )
        })
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// `error: source: source …`, the way `anyhow` prints `{:#}`.
pub(crate) fn error_chain<E: Error + ?Sized>(error: &E) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
