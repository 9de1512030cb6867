//! Cairn's Rust SDK for AI agents: record agent runs, LLM calls, tool calls, reasoning steps,
//! decisions, retrieval and guardrail checks as OpenTelemetry spans (GenAI semantic conventions
//! plus `cairn.*` attributes, see [`semconv`]) and export them over OTLP/HTTP protobuf to Cairn or
//! any OTLP endpoint (Grafana Alloy, Tempo, an OpenTelemetry Collector).
//!
//! # Design
//!
//! - **Hot path** (`buffer`): a span is a boxed record owned by its [`Span`] handle while it
//!   records; when it ends, the pointer goes onto a bounded single-producer ring owned by the
//!   ending thread. No lock shared between recording threads, no syscall, no encoding there. Ids
//!   come from a per-thread RNG; timestamps are raw TSC readings, converted to wall time (an
//!   anchor taken once per process) on the exporter thread.
//! - **Exporter** (`exporter`): one background thread per [`Tracer`] drains the rings, batches,
//!   encodes protobuf, gzips, sends with `ureq` and retries per the OTLP spec. It never touches an
//!   async runtime, so the SDK works with or without tokio.
//! - **Bounded memory**: at most `queue_capacity` finished spans per recording thread plus the
//!   spans being exported (one batch, or what a flush took from the buffers), plus per thread at
//!   most `queue_capacity` recycled records and 32 records of dropped spans kept for reuse; beyond
//!   that spans are dropped and counted ([`Tracer::dropped_spans`]) or the recording
//!   thread waits with a timeout ([`QueuePolicy::Block`]).
//! - **Context**: explicit parents ([`SpanBuilder::parent`]), an implicit current span per thread
//!   ([`Span::enter`]) that follows futures when they are wrapped ([`FutureExt`]), and W3C
//!   `traceparent` ([`SpanContext::to_traceparent`], [`SpanContext::from_traceparent`]).
//! - **Content** (prompts, completions, tool arguments and results, reasoning text, rationales) is
//!   recorded only with [`TracerBuilder::capture_content`], and passes through the
//!   [`TracerBuilder::redact`] callback before export.
//! - **`tracing`**: [`CairnLayer`] records `tracing` spans and events through a tracer.
//!
//! ```no_run
//! use std::time::Duration;
//! use cairn_tracer::{Tracer, Usage};
//!
//! let tracer = Tracer::builder("support-agent").endpoint("http://127.0.0.1:4318").build()?;
//! let run = tracer.agent("planner").conversation_id("c-17").user_id("u-3").start();
//! let _in_run = run.enter();
//! let mut llm = tracer.llm("openai", "gpt-4o").temperature(0.2).start();
//! llm.set_usage(Usage { input_tokens: 812, output_tokens: 95, ..Usage::default() });
//! llm.set_finish_reasons(["stop"]);
//! llm.end();
//! tracer.decision("route").options(["research", "code"]).chosen("research").confidence(0.82).record();
//! drop(_in_run);
//! run.end();
//! tracer.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod bridge;
mod buffer;
mod clock;
mod context;
#[cfg(feature = "demo")]
pub mod demo;
mod exporter;
mod helpers;
mod ids;
pub mod semconv;
mod span;
mod tracer;
mod value;

pub use bridge::CairnLayer;
pub use buffer::QueuePolicy;
pub use context::{ContextGuard, FutureExt, Instrumented, WithContext};
pub use helpers::{
    AgentBuilder, DecisionBuilder, GuardrailBuilder, GuardrailCheck, LlmBuilder, LlmCall,
    ReasoningBuilder, RetrievalBuilder, ToolBuilder, ToolCall, Usage,
};
pub use ids::{SpanContext, SpanId, TraceId, TraceparentError};
pub use span::{Kind, Span, SpanKind, Status};
pub use tracer::{
    BuildError, DEFAULT_ENDPOINT, FlushError, Redactor, ShutdownError, SpanBuilder, Tracer,
    TracerBuilder, TracerStats,
};
pub use value::{Content, Key, Value};
