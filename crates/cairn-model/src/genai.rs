//! Typed accessors that hide the naming differences between GenAI conventions.
//!
//! Each accessor reads the attribute names below in order; the first one present (with a usable
//! value) wins. "Deprecated" names are older OTel GenAI semantic-convention names; senders still use
//! them, so a span using them normalizes to exactly the same typed values as one using the new names.
//!
//! | Accessor                     | Attributes, in order                                                                                                   |
//! |------------------------------|------------------------------------------------------------------------------------------------------------------------|
//! | [`Span::agent_name`]         | `gen_ai.agent.name`, `cairn.agent.name`, `agent.name` (OpenInference), `traceloop.entity.name` on `traceloop.span.kind=agent` |
//! | [`Span::tool`] name          | `gen_ai.tool.name`, `tool.name` (OpenInference), `traceloop.entity.name` on `traceloop.span.kind=tool`                  |
//! | [`Span::tool`] call id       | `gen_ai.tool.call.id`, `tool_call.id` (OpenInference)                                                                   |
//! | [`Span::tool`] arguments     | `gen_ai.tool.call.arguments`; on tool spans also `input.value` (OpenInference), `traceloop.entity.input`               |
//! | [`Span::tool`] result        | `gen_ai.tool.call.result`; on tool spans also `output.value` (OpenInference), `traceloop.entity.output`                |
//! | [`Span::model`] provider     | `gen_ai.provider.name`, `gen_ai.system` (deprecated), `llm.provider`, `llm.system` (OpenInference)                    |
//! | [`Span::model`] request      | `gen_ai.request.model`, `llm.model_name` (OpenInference)                                                               |
//! | [`Span::model`] response     | `gen_ai.response.model`, `llm.model_name` (OpenInference)                                                              |
//! | [`Span::usage`] input        | `gen_ai.usage.input_tokens`, `gen_ai.usage.prompt_tokens` (deprecated), `llm.token_count.prompt`                        |
//! | [`Span::usage`] output       | `gen_ai.usage.output_tokens`, `gen_ai.usage.completion_tokens` (deprecated), `llm.token_count.completion`               |
//! | [`Span::usage`] cache read   | `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_read_input_tokens`, `llm.token_count.prompt_details.cache_read` |
//! | [`Span::usage`] cache write  | `gen_ai.usage.cache_creation.input_tokens`, `gen_ai.usage.cache_creation_input_tokens`, `llm.token_count.prompt_details.cache_write` |
//! | [`Span::usage`] reasoning    | `gen_ai.usage.reasoning.output_tokens`, `gen_ai.usage.reasoning_tokens`, `llm.token_count.completion_details.reasoning` |
//! | [`Span::conversation_id`]    | `gen_ai.conversation.id`, `session.id` (OpenInference), `langfuse.session.id`                                         |
//! | [`Span::user_id`]            | `user.id`, `enduser.id` (deprecated), `langfuse.user.id`                                                               |
//! | [`Span::decision`]           | `cairn.decision.{name,options,chosen,confidence,rationale}`, then OpenInference `decision.{…}`                        |
//! | [`Span::reasoning`]          | `cairn.reasoning.content`, `cairn.reasoning.summary`, then `reasoning` parts of `gen_ai.output.messages`               |
//! | [`Span::error`]              | `error.type`, the first `exception` event's `exception.{type,message,stacktrace}`, span-level `exception.*`, status message |
//!
//! Content attributes (tool arguments and results, messages, decision options) may be a JSON
//! string or a structured `AnyValue`; both give the same result (see [`AnyValue::to_content_json`]).
//! Token counts accept ints, integral doubles and decimal strings. A decision confidence outside
//! `0..=1` is not reported (the raw attribute is still on the span).

use serde::Serialize;
use serde_json::Value;

use crate::kind::AgentKind;
use crate::span::{Span, StatusCode};
use crate::value::{AnyValue, find};

/// A tool call made by an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// Tool name, e.g. `web_search`.
    pub name: String,
    /// Call id that joins the LLM's tool request to this execution.
    pub call_id: Option<String>,
    /// Arguments, parsed from JSON when sent as a JSON string.
    pub arguments: Option<Value>,
    /// Result, parsed from JSON when sent as a JSON string.
    pub result: Option<Value>,
}

/// The provider and models of an LLM call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ModelInfo {
    /// Provider, e.g. `openai`.
    pub provider: Option<String>,
    /// Model the caller asked for.
    pub request_model: Option<String>,
    /// Model that answered.
    pub response_model: Option<String>,
}

/// [`ModelInfo`] borrowed from the span's attributes ([`Span::model_names`]), for hot paths that
/// need not copy the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelNames<'a> {
    /// Provider, e.g. `openai`.
    pub provider: Option<&'a str>,
    /// Model the caller asked for.
    pub request_model: Option<&'a str>,
    /// Model that answered.
    pub response_model: Option<&'a str>,
}

/// Token usage of an LLM call. Cache and reasoning counts are subsets of input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TokenUsage {
    /// Input (prompt) tokens.
    pub input: Option<u64>,
    /// Output (completion) tokens.
    pub output: Option<u64>,
    /// Input tokens served from the provider's cache.
    pub cache_read: Option<u64>,
    /// Input tokens written to the provider's cache.
    pub cache_creation: Option<u64>,
    /// Output tokens spent on reasoning.
    pub reasoning: Option<u64>,
}

impl TokenUsage {
    /// `true` when no count was reported.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Input plus output, when at least one is known.
    pub fn total(&self) -> Option<u64> {
        match (self.input, self.output) {
            (None, None) => None,
            (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
        }
    }
}

/// A decision an agent recorded.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Decision {
    /// What was decided, e.g. `route_request`.
    pub name: Option<String>,
    /// The options considered.
    pub options: Vec<String>,
    /// The option chosen.
    pub chosen: Option<String>,
    /// Confidence in `0..=1`.
    pub confidence: Option<f64>,
    /// Why.
    pub rationale: Option<String>,
}

/// What went wrong in a failed span.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ErrorInfo {
    /// Error class (`error.type` or `exception.type`).
    pub error_type: Option<String>,
    /// Message (`exception.message`, else the status message).
    pub message: Option<String>,
    /// Stack trace (`exception.stacktrace`).
    pub stacktrace: Option<String>,
}

/// Every typed accessor at once: two spans that differ only in attribute naming conventions have
/// equal `GenAiInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenAiInfo {
    /// The agent kind.
    pub kind: AgentKind,
    /// See [`Span::agent_name`].
    pub agent_name: Option<String>,
    /// See [`Span::tool`].
    pub tool: Option<ToolCall>,
    /// See [`Span::model`].
    pub model: Option<ModelInfo>,
    /// See [`Span::usage`].
    pub usage: TokenUsage,
    /// See [`Span::conversation_id`].
    pub conversation_id: Option<String>,
    /// See [`Span::user_id`].
    pub user_id: Option<String>,
    /// See [`Span::decision`].
    pub decision: Option<Decision>,
    /// See [`Span::reasoning`].
    pub reasoning: Option<String>,
    /// See [`Span::error`].
    pub error: Option<ErrorInfo>,
}

impl Span {
    fn first_value(&self, keys: &[&str]) -> Option<&AnyValue> {
        keys.iter().find_map(|key| self.attribute(key))
    }

    fn first_str(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|key| self.attribute(key).and_then(AnyValue::as_str))
    }

    fn first_string(&self, keys: &[&str]) -> Option<String> {
        self.first_str(keys).map(str::to_owned)
    }

    fn first_count(&self, keys: &[&str]) -> Option<u64> {
        keys.iter()
            .find_map(|key| self.attribute(key).and_then(AnyValue::as_count))
    }

    fn traceloop_entity(&self, kind: &str) -> Option<&str> {
        (self.attribute_str("traceloop.span.kind") == Some(kind))
            .then(|| self.first_str(&["traceloop.entity.name"]))
            .flatten()
    }

    /// The agent's name.
    pub fn agent_name(&self) -> Option<String> {
        self.first_string(&["gen_ai.agent.name", "cairn.agent.name", "agent.name"])
            .or_else(|| self.traceloop_entity("agent").map(str::to_owned))
    }

    /// The name of [`Span::tool`], borrowed, without reading the call's arguments and result.
    pub fn tool_name(&self) -> Option<&str> {
        self.first_str(&["gen_ai.tool.name", "tool.name"])
            .or_else(|| self.traceloop_entity("tool"))
    }

    /// The tool call, when the span names a tool.
    pub fn tool(&self) -> Option<ToolCall> {
        let name = self.tool_name()?.to_owned();
        let is_tool_span = self.agent_kind == AgentKind::Tool;
        let content = |primary: &str, span_level: [&str; 2]| {
            self.attribute(primary)
                .or_else(|| {
                    is_tool_span
                        .then(|| self.first_value(&span_level))
                        .flatten()
                })
                .map(AnyValue::to_content_json)
        };
        Some(ToolCall {
            name,
            call_id: self.first_string(&["gen_ai.tool.call.id", "tool_call.id"]),
            arguments: content(
                "gen_ai.tool.call.arguments",
                ["input.value", "traceloop.entity.input"],
            ),
            result: content(
                "gen_ai.tool.call.result",
                ["output.value", "traceloop.entity.output"],
            ),
        })
    }

    /// Provider and models, when any is named.
    pub fn model(&self) -> Option<ModelInfo> {
        let names = self.model_names();
        (names != ModelNames::default()).then(|| ModelInfo {
            provider: names.provider.map(str::to_owned),
            request_model: names.request_model.map(str::to_owned),
            response_model: names.response_model.map(str::to_owned),
        })
    }

    /// [`Span::model`] borrowed (every field `None` when the span names none).
    pub fn model_names(&self) -> ModelNames<'_> {
        ModelNames {
            provider: self.first_str(&[
                "gen_ai.provider.name",
                "gen_ai.system",
                "llm.provider",
                "llm.system",
            ]),
            request_model: self.first_str(&["gen_ai.request.model", "llm.model_name"]),
            response_model: self.first_str(&["gen_ai.response.model", "llm.model_name"]),
        }
    }

    /// Input tokens, as in [`Span::usage`] (without looking up the other counts).
    pub fn input_tokens(&self) -> Option<u64> {
        self.first_count(&[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
        ])
    }

    /// Output tokens, as in [`Span::usage`].
    pub fn output_tokens(&self) -> Option<u64> {
        self.first_count(&[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ])
    }

    /// Token usage (all fields `None` when the span reports none).
    pub fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.input_tokens(),
            output: self.output_tokens(),
            cache_read: self.first_count(&[
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_read_input_tokens",
                "llm.token_count.prompt_details.cache_read",
            ]),
            cache_creation: self.first_count(&[
                "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.cache_creation_input_tokens",
                "llm.token_count.prompt_details.cache_write",
            ]),
            reasoning: self.first_count(&[
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
                "llm.token_count.completion_details.reasoning",
            ]),
        }
    }

    /// Conversation (session, thread) id.
    pub fn conversation_id(&self) -> Option<String> {
        self.first_string(&[
            "gen_ai.conversation.id",
            "session.id",
            "langfuse.session.id",
        ])
    }

    /// End-user id.
    pub fn user_id(&self) -> Option<String> {
        self.first_string(&["user.id", "enduser.id", "langfuse.user.id"])
    }

    /// The recorded decision, from Cairn's `cairn.decision.*` or OpenInference's `decision.*`.
    pub fn decision(&self) -> Option<Decision> {
        DECISION_KEYS
            .iter()
            .find_map(|keys| self.decision_with_keys(keys))
    }

    fn decision_with_keys(&self, keys: &DecisionKeys) -> Option<Decision> {
        let string = |key: &str| self.attribute(key).map(AnyValue::to_display_string);
        let decision = Decision {
            name: string(keys.name),
            options: self
                .attribute(keys.options)
                .map(options_list)
                .unwrap_or_default(),
            chosen: string(keys.chosen),
            confidence: self
                .attribute(keys.confidence)
                .and_then(|v| match v {
                    AnyValue::String(s) => s.trim().parse().ok(),
                    other => other.as_f64(),
                })
                .filter(|c| (0.0..=1.0).contains(c)),
            rationale: string(keys.rationale),
        };
        (decision != Decision::default()).then_some(decision)
    }

    /// Reasoning content: Cairn's `cairn.reasoning.*`, else the `reasoning` parts of
    /// `gen_ai.output.messages` joined by blank lines.
    pub fn reasoning(&self) -> Option<String> {
        if let Some(text) =
            self.first_string(&["cairn.reasoning.content", "cairn.reasoning.summary"])
        {
            return Some(text);
        }
        reasoning_of_output_attribute(self.attribute("gen_ai.output.messages")?)
    }

    /// `true` when the status is error or the span carries `error.type` (the GenAI/HTTP
    /// conventions' way of marking a failed operation).
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error || self.attribute("error.type").is_some()
    }

    /// What went wrong: `Some` for failed spans and spans with an `exception` event.
    pub fn error(&self) -> Option<ErrorInfo> {
        let exception = self
            .events
            .iter()
            .find(|event| event.name == "exception")
            .map(|event| event.attributes.as_slice());
        if !self.is_error() && exception.is_none() {
            return None;
        }
        let exception_field = |field: &str| {
            exception
                .and_then(|attrs| find(attrs, field))
                .or_else(|| self.attribute(field))
                .map(AnyValue::to_display_string)
        };
        let status_message = (!self.status.message.is_empty()).then(|| self.status.message.clone());
        Some(ErrorInfo {
            error_type: self
                .attribute("error.type")
                .map(AnyValue::to_display_string)
                .or_else(|| exception_field("exception.type")),
            message: exception_field("exception.message").or(status_message),
            stacktrace: exception_field("exception.stacktrace"),
        })
    }

    /// Every typed accessor at once.
    pub fn genai_info(&self) -> GenAiInfo {
        GenAiInfo {
            kind: self.agent_kind,
            agent_name: self.agent_name(),
            tool: self.tool(),
            model: self.model(),
            usage: self.usage(),
            conversation_id: self.conversation_id(),
            user_id: self.user_id(),
            decision: self.decision(),
            reasoning: self.reasoning(),
            error: self.error(),
        }
    }
}

/// Decision options: an array (of any values) or a JSON string holding an array.
fn options_list(value: &AnyValue) -> Vec<String> {
    match value.to_content_json() {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        Value::String(s) => vec![s],
        Value::Null => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// The `reasoning` parts of a `gen_ai.output.messages` attribute as sent (JSON text or a
/// structured value), joined by blank lines; `None` when there are none.
///
/// A reasoning part has `"type": "reasoning"`, so JSON text without that word (and without `\u`
/// escapes, which could spell it) has none, and is not parsed into a tree: most output messages
/// have no reasoning part, and that parse was about 4% of the index's reader thread
/// (`docs/performance.md`).
pub fn reasoning_of_output_attribute(messages: &AnyValue) -> Option<String> {
    if let AnyValue::String(text) = messages
        && !text.contains("reasoning")
        && !text.contains("\\u")
    {
        return None;
    }
    reasoning_of_output_messages(&messages.to_content_json())
}

/// The `reasoning` parts of a parsed `gen_ai.output.messages` value, joined by blank lines; `None`
/// when there are none.
pub fn reasoning_of_output_messages(messages: &Value) -> Option<String> {
    let parts: Vec<&str> = messages
        .as_array()?
        .iter()
        .filter_map(|message| message.get("parts")?.as_array())
        .flatten()
        .filter(|part| part.get("type").and_then(Value::as_str) == Some("reasoning"))
        .filter_map(|part| part.get("content").and_then(Value::as_str))
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// The attribute keys of one spelling of a decision (spelled out, so that looking a decision up
/// builds no key strings).
struct DecisionKeys {
    name: &'static str,
    options: &'static str,
    chosen: &'static str,
    confidence: &'static str,
    rationale: &'static str,
}

/// Cairn's `cairn.decision.*`, then the bare `decision.*`: the first with any field wins.
const DECISION_KEYS: [DecisionKeys; 2] = [
    DecisionKeys {
        name: "cairn.decision.name",
        options: "cairn.decision.options",
        chosen: "cairn.decision.chosen",
        confidence: "cairn.decision.confidence",
        rationale: "cairn.decision.rationale",
    },
    DecisionKeys {
        name: "decision.name",
        options: "decision.options",
        chosen: "decision.chosen",
        confidence: "decision.confidence",
        rationale: "decision.rationale",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Event, Status};
    use crate::value::KeyValue;
    use serde_json::json;

    fn span(attrs: Vec<KeyValue>) -> Span {
        let mut span = Span {
            name: "span".to_owned(),
            attributes: attrs,
            ..Span::default()
        };
        span.refresh_agent_kind();
        span
    }

    #[test]
    fn new_and_deprecated_genai_names_normalize_equally() {
        let new = span(vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("gen_ai.usage.input_tokens", 120_i64),
            KeyValue::new("gen_ai.usage.output_tokens", 45_i64),
            KeyValue::new("gen_ai.conversation.id", "conv-1"),
            KeyValue::new("user.id", "u-1"),
        ]);
        let deprecated = span(vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.system", "openai"),
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("gen_ai.usage.prompt_tokens", 120_i64),
            KeyValue::new("gen_ai.usage.completion_tokens", 45_i64),
            KeyValue::new("gen_ai.conversation.id", "conv-1"),
            KeyValue::new("enduser.id", "u-1"),
        ]);
        let info = new.genai_info();
        assert_eq!(info, deprecated.genai_info());
        assert_eq!(info.kind, AgentKind::Llm);
        assert_eq!(info.usage.input, Some(120));
        assert_eq!(info.usage.total(), Some(165));
        assert_eq!(
            info.model.and_then(|m| m.provider),
            Some("openai".to_owned())
        );
        assert_eq!(info.user_id.as_deref(), Some("u-1"));
    }

    #[test]
    fn openinference_names_normalize_like_genai() {
        let genai = span(vec![
            KeyValue::new("gen_ai.usage.input_tokens", 10_i64),
            KeyValue::new("gen_ai.usage.output_tokens", 5_i64),
            KeyValue::new("gen_ai.usage.cache_read.input_tokens", 3_i64),
            KeyValue::new("gen_ai.usage.reasoning.output_tokens", 2_i64),
        ]);
        let openinference = span(vec![
            KeyValue::new("llm.token_count.prompt", 10_i64),
            KeyValue::new("llm.token_count.completion", "5"),
            KeyValue::new("llm.token_count.prompt_details.cache_read", 3.0),
            KeyValue::new("llm.token_count.completion_details.reasoning", 2_i64),
        ]);
        assert_eq!(genai.usage(), openinference.usage());
        assert_eq!(genai.usage().cache_read, Some(3));
        assert!(span(vec![]).usage().is_empty());
    }

    #[test]
    fn tool_arguments_accept_json_strings_and_structured_values() {
        let as_string = span(vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", "web_search"),
            KeyValue::new("gen_ai.tool.call.id", "call_1"),
            KeyValue::new("gen_ai.tool.call.arguments", r#"{"q":"rust","n":3}"#),
            KeyValue::new("gen_ai.tool.call.result", "plain text result"),
        ]);
        let structured = span(vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", "web_search"),
            KeyValue::new("gen_ai.tool.call.id", "call_1"),
            KeyValue::new(
                "gen_ai.tool.call.arguments",
                vec![KeyValue::new("q", "rust"), KeyValue::new("n", 3_i64)],
            ),
            KeyValue::new("gen_ai.tool.call.result", "plain text result"),
        ]);
        let tool = as_string.tool().expect("a tool call");
        assert_eq!(Some(tool.clone()), structured.tool());
        assert_eq!(tool.name, "web_search");
        assert_eq!(tool.call_id.as_deref(), Some("call_1"));
        assert_eq!(tool.arguments, Some(json!({"q":"rust","n":3})));
        assert_eq!(tool.result, Some(json!("plain text result")));
    }

    #[test]
    fn openinference_tool_span_reads_input_and_output_values() {
        let tool = span(vec![
            KeyValue::new("openinference.span.kind", "TOOL"),
            KeyValue::new("tool.name", "calculator"),
            KeyValue::new("input.value", r#"{"expr":"1+1"}"#),
            KeyValue::new("output.value", "2"),
        ])
        .tool()
        .expect("a tool call");
        assert_eq!(tool.name, "calculator");
        assert_eq!(tool.arguments, Some(json!({"expr":"1+1"})));
        assert_eq!(tool.result, Some(json!("2")));
        assert!(
            span(vec![KeyValue::new("input.value", "x")])
                .tool()
                .is_none()
        );
    }

    #[test]
    fn agent_name_from_each_convention() {
        let names = [
            span(vec![KeyValue::new("gen_ai.agent.name", "planner")]),
            span(vec![KeyValue::new("agent.name", "planner")]),
            span(vec![
                KeyValue::new("traceloop.span.kind", "agent"),
                KeyValue::new("traceloop.entity.name", "planner"),
            ]),
        ];
        for s in &names {
            assert_eq!(s.agent_name().as_deref(), Some("planner"));
        }
        assert_eq!(span(vec![]).agent_name(), None);
    }

    #[test]
    fn decision_from_cairn_and_openinference_attributes() {
        let cairn = span(vec![
            KeyValue::new("cairn.kind", "decision"),
            KeyValue::new("cairn.decision.name", "route"),
            KeyValue::new(
                "cairn.decision.options",
                vec![AnyValue::from("search"), AnyValue::from("answer")],
            ),
            KeyValue::new("cairn.decision.chosen", "search"),
            KeyValue::new("cairn.decision.confidence", 0.82),
            KeyValue::new("cairn.decision.rationale", "needs fresh data"),
        ]);
        let openinference = span(vec![
            KeyValue::new("cairn.kind", "decision"),
            KeyValue::new("decision.name", "route"),
            KeyValue::new("decision.options", r#"["search","answer"]"#),
            KeyValue::new("decision.chosen", "search"),
            KeyValue::new("decision.confidence", "0.82"),
            KeyValue::new("decision.rationale", "needs fresh data"),
        ]);
        let decision = cairn.decision().expect("a decision");
        assert_eq!(Some(decision.clone()), openinference.decision());
        assert_eq!(decision.options, ["search", "answer"]);
        assert_eq!(decision.confidence, Some(0.82));
    }

    #[test]
    fn decision_confidence_out_of_range_is_not_reported() {
        let s = span(vec![
            KeyValue::new("cairn.decision.chosen", "a"),
            KeyValue::new("cairn.decision.confidence", 1.5),
        ]);
        assert_eq!(s.decision().and_then(|d| d.confidence), None);
        assert_eq!(span(vec![]).decision(), None);
    }

    #[test]
    fn reasoning_from_cairn_attribute_or_output_message_parts() {
        let cairn = span(vec![KeyValue::new("cairn.reasoning.content", "think")]);
        assert_eq!(cairn.reasoning().as_deref(), Some("think"));
        let messages = json!([{
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "step 1"},
                {"type": "text", "content": "answer"},
                {"type": "reasoning", "content": "step 2"}
            ]
        }]);
        let from_string = span(vec![KeyValue::new(
            "gen_ai.output.messages",
            messages.to_string(),
        )]);
        assert_eq!(from_string.reasoning().as_deref(), Some("step 1\n\nstep 2"));
        let structured = span(vec![KeyValue::new(
            "gen_ai.output.messages",
            vec![AnyValue::KvList(vec![
                KeyValue::new("role", "assistant"),
                KeyValue::new(
                    "parts",
                    vec![AnyValue::KvList(vec![
                        KeyValue::new("type", "reasoning"),
                        KeyValue::new("content", "step 1"),
                    ])],
                ),
            ])],
        )]);
        assert_eq!(structured.reasoning().as_deref(), Some("step 1"));
        assert_eq!(span(vec![]).reasoning(), None);
    }

    #[test]
    fn error_from_status_error_type_and_exception_event() {
        let mut failed = span(vec![KeyValue::new("error.type", "TimeoutError")]);
        failed.status = Status {
            code: StatusCode::Error,
            message: "deadline exceeded".to_owned(),
        };
        failed.events.push(Event {
            name: "exception".to_owned(),
            attributes: vec![
                KeyValue::new("exception.type", "builtins.TimeoutError"),
                KeyValue::new("exception.message", "timed out after 30s"),
                KeyValue::new("exception.stacktrace", "Traceback ..."),
            ],
            ..Event::default()
        });
        assert!(failed.is_error());
        assert_eq!(
            failed.error(),
            Some(ErrorInfo {
                error_type: Some("TimeoutError".to_owned()),
                message: Some("timed out after 30s".to_owned()),
                stacktrace: Some("Traceback ...".to_owned()),
            })
        );

        let mut status_only = span(vec![]);
        status_only.status.code = StatusCode::Error;
        status_only.status.message = "boom".to_owned();
        let info = status_only.error().expect("an error");
        assert_eq!(info.message.as_deref(), Some("boom"));
        assert_eq!(info.error_type, None);

        assert!(span(vec![KeyValue::new("error.type", "500")]).is_error());
        assert!(!span(vec![]).is_error());
        assert_eq!(span(vec![]).error(), None);
    }
}
