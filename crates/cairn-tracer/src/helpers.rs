//! Typed helpers that make an agent's work first-class: agent runs, LLM calls, tool calls,
//! reasoning steps, decisions, retrieval and guardrail checks.
//!
//! Each helper is a builder (`Tracer::agent`, `Tracer::llm`, …) that presets the span name,
//! `gen_ai.operation.name`, `cairn.kind` and the OTel span kind from the table in
//! [`semconv`](crate::semconv), and a few typed setters. Builders share `parent`, `root`,
//! `attribute` and `start_time`. Guards ([`LlmCall`], [`ToolCall`], [`GuardrailCheck`])
//! dereference to [`Span`], so every span method is available on them; they end on drop.
//!
//! Content setters (messages, tool arguments and results, reasoning text, rationales, queries)
//! record nothing unless the tracer was built with `capture_content(true)`.

use std::borrow::Cow;
use std::error::Error;
use std::ops::{Deref, DerefMut};
use std::time::SystemTime;

use crate::ids::SpanContext;
use crate::semconv as sc;
use crate::span::{Kind, Span, SpanKind, Status};
use crate::tracer::{SpanBuilder, Tracer};
use crate::value::{Content, Key, Value};

macro_rules! common_builder_methods {
    () => {
        /// Uses `parent` instead of the current span.
        #[inline]
        pub fn parent(mut self, parent: SpanContext) -> Self {
            self.inner = self.inner.parent(parent);
            self
        }

        /// Starts a new trace even if a span is current.
        #[inline]
        pub fn root(mut self) -> Self {
            self.inner = self.inner.root();
            self
        }

        /// Adds an attribute.
        #[inline]
        pub fn attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
            self.inner = self.inner.attribute(key, value);
            self
        }

        /// Starts the span at an explicit time instead of now.
        #[inline]
        pub fn start_time(mut self, time: SystemTime) -> Self {
            self.inner = self.inner.start_time(time);
            self
        }
    };
}

macro_rules! guard {
    ($name:ident) => {
        impl Deref for $name {
            type Target = Span;
            #[inline]
            fn deref(&self) -> &Span {
                &self.span
            }
        }

        impl DerefMut for $name {
            #[inline]
            fn deref_mut(&mut self) -> &mut Span {
                &mut self.span
            }
        }

        impl $name {
            /// Ends the span now.
            #[inline]
            pub fn end(self) {
                self.span.end();
            }

            /// Ends the span at an explicit time.
            #[inline]
            pub fn end_at(self, time: SystemTime) {
                self.span.end_at(time);
            }

            /// The underlying span.
            #[inline]
            pub fn into_span(self) -> Span {
                self.span
            }
        }
    };
}

#[inline]
fn genai<'t>(
    tracer: &'t Tracer,
    operation: &'static str,
    kind: Kind,
    span_kind: SpanKind,
    name: Cow<'static, str>,
) -> SpanBuilder<'t> {
    SpanBuilder::new(tracer, Some(operation), name)
        .span_kind(span_kind)
        .attribute(sc::CAIRN_KIND, kind.as_str())
        .attribute(sc::GEN_AI_OPERATION_NAME, operation)
}

impl Tracer {
    /// An agent run: `invoke_agent {name}`.
    #[inline]
    pub fn agent(&self, name: impl Into<Cow<'static, str>>) -> AgentBuilder<'_> {
        let name = name.into();
        let inner = genai(
            self,
            "invoke_agent",
            Kind::Agent,
            SpanKind::Internal,
            name.clone(),
        )
        .attribute(sc::GEN_AI_AGENT_NAME, name);
        AgentBuilder { inner }
    }

    /// An LLM call: `chat {model}` with `gen_ai.provider.name` and `gen_ai.request.model`.
    #[inline]
    pub fn llm(
        &self,
        provider: impl Into<Cow<'static, str>>,
        model: impl Into<Cow<'static, str>>,
    ) -> LlmBuilder<'_> {
        let model = model.into();
        let inner = genai(self, "chat", Kind::Llm, SpanKind::Client, model.clone())
            .attribute(sc::GEN_AI_PROVIDER_NAME, provider.into())
            .attribute(sc::GEN_AI_REQUEST_MODEL, model);
        LlmBuilder { inner }
    }

    /// A tool call: `execute_tool {name}`.
    #[inline]
    pub fn tool(&self, name: impl Into<Cow<'static, str>>) -> ToolBuilder<'_> {
        let name = name.into();
        let inner = genai(
            self,
            "execute_tool",
            Kind::Tool,
            SpanKind::Internal,
            name.clone(),
        )
        .attribute(sc::GEN_AI_TOOL_NAME, name);
        ToolBuilder { inner }
    }

    /// A reasoning step: `reasoning {step}` with `cairn.reasoning.step`.
    #[inline]
    pub fn reasoning(&self, step: u32) -> ReasoningBuilder<'_> {
        let inner = SpanBuilder::new(self, Some("reasoning"), Cow::Owned(step.to_string()))
            .kind(Kind::Reasoning)
            .attribute(sc::CAIRN_REASONING_STEP, step);
        ReasoningBuilder { inner }
    }

    /// A decision: `decision {name}` with options, the chosen option, confidence and rationale.
    #[inline]
    pub fn decision(&self, name: impl Into<Cow<'static, str>>) -> DecisionBuilder<'_> {
        let name = name.into();
        let inner = SpanBuilder::new(self, Some("decision"), name.clone())
            .kind(Kind::Decision)
            .attribute(sc::CAIRN_DECISION_NAME, name);
        DecisionBuilder { inner }
    }

    /// A retrieval step: `retrieval {data source}`.
    #[inline]
    pub fn retrieval(&self, data_source: impl Into<Cow<'static, str>>) -> RetrievalBuilder<'_> {
        let source = data_source.into();
        let inner = genai(
            self,
            "retrieval",
            Kind::Retrieval,
            SpanKind::Client,
            source.clone(),
        )
        .attribute(sc::GEN_AI_DATA_SOURCE_ID, source);
        RetrievalBuilder { inner }
    }

    /// A guardrail check: `guardrail {name}`, finished with [`GuardrailCheck::pass`] or
    /// [`GuardrailCheck::block`].
    #[inline]
    pub fn guardrail(&self, name: impl Into<Cow<'static, str>>) -> GuardrailBuilder<'_> {
        let name = name.into();
        let inner = SpanBuilder::new(self, Some("guardrail"), name.clone())
            .kind(Kind::Guardrail)
            .attribute(sc::CAIRN_GUARDRAIL_NAME, name);
        GuardrailBuilder { inner }
    }
}

/// Builds an agent-run span. See [`Tracer::agent`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started"]
pub struct AgentBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl AgentBuilder<'_> {
    common_builder_methods!();

    /// `gen_ai.agent.id`.
    #[inline]
    pub fn id(mut self, id: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_AGENT_ID, id.into());
        self
    }

    /// `gen_ai.agent.description`.
    #[inline]
    pub fn description(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self
            .inner
            .attribute(sc::GEN_AI_AGENT_DESCRIPTION, text.into());
        self
    }

    /// `gen_ai.conversation.id`.
    #[inline]
    pub fn conversation_id(mut self, id: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_CONVERSATION_ID, id.into());
        self
    }

    /// `user.id`.
    #[inline]
    pub fn user_id(mut self, id: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self.inner.attribute(sc::USER_ID, id.into());
        self
    }

    /// Starts the run.
    #[inline]
    pub fn start(self) -> Span {
        self.inner.start()
    }
}

/// Token usage of an LLM call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// `gen_ai.usage.input_tokens` (including cached ones).
    pub input_tokens: u64,
    /// `gen_ai.usage.output_tokens` (including reasoning ones).
    pub output_tokens: u64,
    /// `gen_ai.usage.cache_read.input_tokens`.
    pub cache_read_input_tokens: Option<u64>,
    /// `gen_ai.usage.cache_creation.input_tokens`.
    pub cache_creation_input_tokens: Option<u64>,
    /// `gen_ai.usage.reasoning.output_tokens`.
    pub reasoning_output_tokens: Option<u64>,
}

/// Builds an LLM-call span. See [`Tracer::llm`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started"]
pub struct LlmBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl LlmBuilder<'_> {
    common_builder_methods!();

    /// `gen_ai.request.temperature`.
    #[inline]
    pub fn temperature(mut self, t: f64) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_REQUEST_TEMPERATURE, t);
        self
    }

    /// `gen_ai.request.top_p`.
    #[inline]
    pub fn top_p(mut self, p: f64) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_REQUEST_TOP_P, p);
        self
    }

    /// `gen_ai.request.max_tokens`.
    #[inline]
    pub fn max_tokens(mut self, n: u64) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_REQUEST_MAX_TOKENS, n);
        self
    }

    /// `gen_ai.system_instructions` (content).
    #[inline]
    pub fn system_instructions(mut self, content: impl Into<Content>) -> Self {
        self.inner = self.inner.content(sc::GEN_AI_SYSTEM_INSTRUCTIONS, content);
        self
    }

    /// `gen_ai.input.messages` (content).
    #[inline]
    pub fn input_messages(mut self, content: impl Into<Content>) -> Self {
        self.inner = self.inner.content(sc::GEN_AI_INPUT_MESSAGES, content);
        self
    }

    /// Starts the call.
    #[inline]
    pub fn start(self) -> LlmCall {
        LlmCall {
            span: self.inner.start(),
        }
    }
}

/// An LLM call in progress. Dereferences to [`Span`]; ends on drop.
#[derive(Debug)]
#[must_use = "the call is recorded when this guard ends"]
pub struct LlmCall {
    span: Span,
}

guard!(LlmCall);

impl LlmCall {
    /// Records token usage.
    #[inline]
    pub fn set_usage(&mut self, usage: Usage) {
        self.span
            .set_attribute(sc::GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens);
        self.span
            .set_attribute(sc::GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens);
        let optional = [
            (
                sc::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
                usage.cache_read_input_tokens,
            ),
            (
                sc::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
                usage.cache_creation_input_tokens,
            ),
            (
                sc::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
                usage.reasoning_output_tokens,
            ),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                self.span.set_attribute(key, v);
            }
        }
    }

    /// `gen_ai.response.model`.
    #[inline]
    pub fn set_response_model(&mut self, model: impl Into<Cow<'static, str>>) {
        self.span
            .set_attribute(sc::GEN_AI_RESPONSE_MODEL, model.into());
    }

    /// `gen_ai.response.id`.
    #[inline]
    pub fn set_response_id(&mut self, id: impl Into<Cow<'static, str>>) {
        self.span.set_attribute(sc::GEN_AI_RESPONSE_ID, id.into());
    }

    /// `gen_ai.response.finish_reasons`.
    #[inline]
    pub fn set_finish_reasons<S: Into<Cow<'static, str>>>(
        &mut self,
        reasons: impl IntoIterator<Item = S>,
    ) {
        let reasons: Vec<Value> = reasons.into_iter().map(|r| Value::Str(r.into())).collect();
        self.span
            .set_attribute(sc::GEN_AI_RESPONSE_FINISH_REASONS, Value::Array(reasons));
    }

    /// `gen_ai.output.messages` (content).
    #[inline]
    pub fn set_output_messages(&mut self, content: impl Into<Content>) {
        self.span.set_content(sc::GEN_AI_OUTPUT_MESSAGES, content);
    }

    /// Records `error` (see [`Span::record_error`]) and ends the call.
    #[inline]
    pub fn fail<E: Error + ?Sized>(mut self, error: &E) {
        self.span.record_error(error);
        self.span.end();
    }
}

/// Builds a tool-call span. See [`Tracer::tool`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started"]
pub struct ToolBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl ToolBuilder<'_> {
    common_builder_methods!();

    /// `gen_ai.tool.call.id`.
    #[inline]
    pub fn call_id(mut self, id: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_TOOL_CALL_ID, id.into());
        self
    }

    /// `gen_ai.tool.type` (`function`, `extension` or `datastore`).
    #[inline]
    pub fn tool_type(mut self, kind: &'static str) -> Self {
        self.inner = self.inner.attribute(sc::GEN_AI_TOOL_TYPE, kind);
        self
    }

    /// `gen_ai.tool.description`.
    #[inline]
    pub fn description(mut self, text: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self
            .inner
            .attribute(sc::GEN_AI_TOOL_DESCRIPTION, text.into());
        self
    }

    /// `cairn.tool.attempt`: 1 for a first call, 2+ for retries.
    #[inline]
    pub fn attempt(mut self, n: u32) -> Self {
        self.inner = self.inner.attribute(sc::CAIRN_TOOL_ATTEMPT, n);
        self
    }

    /// `gen_ai.tool.call.arguments` (content).
    #[inline]
    pub fn arguments(mut self, content: impl Into<Content>) -> Self {
        self.inner = self.inner.content(sc::GEN_AI_TOOL_CALL_ARGUMENTS, content);
        self
    }

    /// Starts the call; its latency is the span's duration.
    #[inline]
    pub fn start(self) -> ToolCall {
        ToolCall {
            span: self.inner.start(),
        }
    }
}

/// A tool call in progress. Dereferences to [`Span`]; ends on drop.
#[derive(Debug)]
#[must_use = "the call is recorded when this guard ends"]
pub struct ToolCall {
    span: Span,
}

guard!(ToolCall);

impl ToolCall {
    /// Records the result (content) and marks the call successful.
    #[inline]
    pub fn set_result(&mut self, result: impl Into<Content>) {
        self.span.set_content(sc::GEN_AI_TOOL_CALL_RESULT, result);
        self.span.set_status(Status::Ok);
    }

    /// Records the result and ends the call.
    #[inline]
    pub fn ok(mut self, result: impl Into<Content>) {
        self.set_result(result);
        self.span.end();
    }

    /// Records `error` (see [`Span::record_error`]) and ends the call.
    #[inline]
    pub fn fail<E: Error + ?Sized>(mut self, error: &E) {
        self.span.record_error(error);
        self.span.end();
    }
}

/// Builds a reasoning-step span. See [`Tracer::reasoning`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started or recorded"]
pub struct ReasoningBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl ReasoningBuilder<'_> {
    common_builder_methods!();

    /// `cairn.reasoning.content` (content).
    #[inline]
    pub fn content(mut self, text: impl Into<Content>) -> Self {
        self.inner = self.inner.content(sc::CAIRN_REASONING_CONTENT, text);
        self
    }

    /// Starts the step (for steps that take time).
    #[inline]
    pub fn start(self) -> Span {
        self.inner.start()
    }

    /// Records an instantaneous step; returns its context.
    #[inline]
    pub fn record(self) -> SpanContext {
        record_now(self.inner)
    }
}

/// Builds a decision span. See [`Tracer::decision`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started or recorded"]
pub struct DecisionBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl DecisionBuilder<'_> {
    common_builder_methods!();

    /// `cairn.decision.options`.
    #[inline]
    pub fn options<S: Into<Cow<'static, str>>>(
        mut self,
        options: impl IntoIterator<Item = S>,
    ) -> Self {
        let options: Vec<Value> = options.into_iter().map(|o| Value::Str(o.into())).collect();
        self.inner = self
            .inner
            .attribute(sc::CAIRN_DECISION_OPTIONS, Value::Array(options));
        self
    }

    /// `cairn.decision.chosen`.
    #[inline]
    pub fn chosen(mut self, option: impl Into<Cow<'static, str>>) -> Self {
        self.inner = self
            .inner
            .attribute(sc::CAIRN_DECISION_CHOSEN, option.into());
        self
    }

    /// `cairn.decision.confidence`, clamped to 0..=1 (NaN is not recorded).
    #[inline]
    pub fn confidence(mut self, confidence: f64) -> Self {
        if !confidence.is_nan() {
            self.inner = self
                .inner
                .attribute(sc::CAIRN_DECISION_CONFIDENCE, confidence.clamp(0.0, 1.0));
        }
        self
    }

    /// `cairn.decision.rationale` (content).
    #[inline]
    pub fn rationale(mut self, text: impl Into<Content>) -> Self {
        self.inner = self.inner.content(sc::CAIRN_DECISION_RATIONALE, text);
        self
    }

    /// Starts the decision (for decisions that take time).
    #[inline]
    pub fn start(self) -> Span {
        self.inner.start()
    }

    /// Records an instantaneous decision; returns its context.
    #[inline]
    pub fn record(self) -> SpanContext {
        record_now(self.inner)
    }
}

/// Builds a retrieval span. See [`Tracer::retrieval`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started"]
pub struct RetrievalBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl RetrievalBuilder<'_> {
    common_builder_methods!();

    /// `cairn.retrieval.query` (content).
    #[inline]
    pub fn query(mut self, text: impl Into<Content>) -> Self {
        self.inner = self.inner.content(sc::CAIRN_RETRIEVAL_QUERY, text);
        self
    }

    /// `cairn.retrieval.top_k`.
    #[inline]
    pub fn top_k(mut self, k: u32) -> Self {
        self.inner = self.inner.attribute(sc::CAIRN_RETRIEVAL_TOP_K, k);
        self
    }

    /// Starts the retrieval; record the hit count with
    /// `span.set_attribute(semconv::CAIRN_RETRIEVAL_DOCUMENTS, n)`.
    #[inline]
    pub fn start(self) -> Span {
        self.inner.start()
    }
}

/// Builds a guardrail span. See [`Tracer::guardrail`].
#[derive(Debug)]
#[must_use = "a span is only recorded once started"]
pub struct GuardrailBuilder<'t> {
    inner: SpanBuilder<'t>,
}

impl GuardrailBuilder<'_> {
    common_builder_methods!();

    /// Starts the check.
    #[inline]
    pub fn start(self) -> GuardrailCheck {
        GuardrailCheck {
            span: self.inner.start(),
        }
    }
}

/// A guardrail check in progress. Dereferences to [`Span`]; ends on drop.
#[derive(Debug)]
#[must_use = "the check is recorded when this guard ends"]
pub struct GuardrailCheck {
    span: Span,
}

guard!(GuardrailCheck);

impl GuardrailCheck {
    /// Records that the input passed.
    #[inline]
    pub fn set_passed(&mut self) {
        self.span.set_attribute(sc::CAIRN_GUARDRAIL_PASSED, true);
    }

    /// Records that the input was blocked, and why.
    #[inline]
    pub fn set_blocked(&mut self, reason: impl Into<Cow<'static, str>>) {
        self.span.set_attribute(sc::CAIRN_GUARDRAIL_PASSED, false);
        self.span
            .set_attribute(sc::CAIRN_GUARDRAIL_REASON, reason.into());
    }

    /// Records a pass and ends the check.
    #[inline]
    pub fn pass(mut self) {
        self.set_passed();
        self.span.end();
    }

    /// Records a block and ends the check.
    #[inline]
    pub fn block(mut self, reason: impl Into<Cow<'static, str>>) {
        self.set_blocked(reason);
        self.span.end();
    }
}

/// Starts and ends a span at once: at its explicit start time if it has one, else now.
fn record_now(builder: SpanBuilder<'_>) -> SpanContext {
    let at = builder.start_stamp();
    let span = builder.start();
    let ctx = span.context();
    match at {
        Some(stamp) => span.end_at_stamp(stamp),
        None => span.end(),
    }
    ctx
}
