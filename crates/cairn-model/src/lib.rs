//! Cairn's agent event model: the one data model every other Cairn crate uses.
//!
//! - [`Span`] is a normalized OpenTelemetry span: nothing the sender sent is dropped.
//! - [`AgentKind`] classifies a span as agent, llm, tool, reasoning, decision … (see [`kind`]).
//! - [`LogRecord`] is a normalized OpenTelemetry log record (GenAI events, exceptions).
//! - [`Record`] is what the ledger stores; [`codec`] is its canonical, versioned binary encoding.
//! - [`otlp`] decodes OTLP protobuf and OTLP/JSON and validates each span against [`Limits`].
//! - Typed accessors on [`Span`] (`agent_name`, `tool`, `model`, `usage`, `decision`, `reasoning`,
//!   `error` …) hide the naming differences between GenAI conventions (table in [`genai`]).
//!
//! This crate does no I/O and pulls in no async runtime: every function is a pure transformation.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod codec;
pub mod genai;
pub mod key;
pub mod kind;
pub mod otlp;
mod span;
mod value;

pub use genai::{Decision, ErrorInfo, GenAiInfo, ModelInfo, ModelNames, TokenUsage, ToolCall};
pub use key::Key;
pub use kind::{AgentKind, ParseAgentKindError};
pub use otlp::Limits;
pub use span::{
    EntityRef, Event, InstrumentationScope, Link, LogRecord, ParseIdError, Record, Resource, Span,
    SpanId, SpanKind, Status, StatusCode, TraceId,
};
pub use value::{AnyValue, KeyValue, attributes_to_json};
