//! Agent kinds and how a span's kind is derived.
//!
//! [`derive()`] classifies a span from its name and attributes. The rows below are tried top to
//! bottom and **the first matching row wins**. Attribute values are compared ASCII
//! case-insensitively and must be strings; an attribute whose value matches no row of its
//! convention (e.g. `gen_ai.operation.name = "custom_op"`) falls through to the next rows.
//!
//! | #  | Source                      | Condition                                                                                 | Kind         |
//! |----|-----------------------------|-------------------------------------------------------------------------------------------|--------------|
//! | 1  | OTel GenAI                  | `gen_ai.operation.name` = `invoke_agent` \| `create_agent`                                | `agent`      |
//! | 2  | OTel GenAI                  | `gen_ai.operation.name` = `invoke_workflow`                                               | `workflow`   |
//! | 3  | OTel GenAI                  | `gen_ai.operation.name` = `chat` \| `text_completion` \| `generate_content` \| `embeddings` | `llm`        |
//! | 4  | OTel GenAI                  | `gen_ai.operation.name` = `execute_tool`                                                  | `tool`       |
//! | 5  | OTel GenAI                  | `gen_ai.operation.name` = `retrieval`                                                     | `retrieval`  |
//! | 6  | OTel GenAI                  | `gen_ai.operation.name` = `plan`                                                          | `reasoning`  |
//! | 7  | OTel GenAI                  | `gen_ai.operation.name` contains `memory` (`search_memory`, `create_memory_store` …)      | `memory`     |
//! | 8  | OpenInference               | `openinference.span.kind` = `AGENT`                                                       | `agent`      |
//! | 9  | OpenInference               | `openinference.span.kind` = `CHAIN`                                                       | `workflow`   |
//! | 10 | OpenInference               | `openinference.span.kind` = `LLM` \| `EMBEDDING`                                          | `llm`        |
//! | 11 | OpenInference               | `openinference.span.kind` = `TOOL`                                                        | `tool`       |
//! | 12 | OpenInference               | `openinference.span.kind` = `RETRIEVER` \| `RERANKER`                                     | `retrieval`  |
//! | 13 | OpenInference               | `openinference.span.kind` = `GUARDRAIL`                                                   | `guardrail`  |
//! | 14 | OpenInference               | `openinference.span.kind` = `EVALUATOR`                                                   | `evaluation` |
//! | 15 | OpenInference               | `openinference.span.kind` = `DECISION`                                                    | `decision`   |
//! | 16 | Langfuse                    | `langfuse.observation.type` = `agent`                                                     | `agent`      |
//! | 17 | Langfuse                    | `langfuse.observation.type` = `chain`                                                     | `workflow`   |
//! | 18 | Langfuse                    | `langfuse.observation.type` = `generation` \| `embedding`                                 | `llm`        |
//! | 19 | Langfuse                    | `langfuse.observation.type` = `tool`                                                      | `tool`       |
//! | 20 | Langfuse                    | `langfuse.observation.type` = `retriever`                                                 | `retrieval`  |
//! | 21 | Langfuse                    | `langfuse.observation.type` = `guardrail`                                                 | `guardrail`  |
//! | 22 | Langfuse                    | `langfuse.observation.type` = `evaluator`                                                 | `evaluation` |
//! | 23 | OpenLLMetry                 | `traceloop.span.kind` = `workflow` \| `task`                                              | `workflow`   |
//! | 24 | OpenLLMetry                 | `traceloop.span.kind` = `agent`                                                           | `agent`      |
//! | 25 | OpenLLMetry                 | `traceloop.span.kind` = `tool`                                                            | `tool`       |
//! | 26 | Cairn                       | `cairn.kind` = any kind name below (`reasoning`, `decision`, `memory` …)                  | that kind    |
//! | 27 | fallback: attributes        | `gen_ai.tool.name` or `gen_ai.tool.call.id` present                                       | `tool`       |
//! | 28 | fallback: attributes        | `gen_ai.request.model` or `llm.model_name` present                                        | `llm`        |
//! | 29 | fallback: attributes        | `gen_ai.agent.name` or `gen_ai.agent.id` present                                          | `agent`      |
//! | 30 | fallback: span name         | first word of the name is a `gen_ai.operation.name` value of rows 1–7 (`chat gpt-4o`)     | as row 1–7   |
//! | 31 | default                     | nothing above matched                                                                     | `other`      |
//!
//! Notes on the order: the rows follow the order of conventions (OTel GenAI, then
//! OpenInference, Langfuse, OpenLLMetry, Cairn). Instrumentations of one convention rarely set
//! another's attribute, so the order matters only for spans that mix them. The fallbacks come last
//! because they infer a kind from the *presence* of attributes: an LLM call inside an agent often
//! carries `gen_ai.agent.name`, which is why the model fallback (row 28) precedes the agent one.
//! Values not listed (`PROMPT`, `UNKNOWN`, Langfuse `span`/`event`) do not match any row.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::value::{AnyValue, KeyValue, find};

/// What an agent's span represents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// An agent invocation.
    Agent,
    /// A workflow / chain.
    Workflow,
    /// An LLM call (chat, completion, embeddings).
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
    #[default]
    Other,
}

/// The string is not an agent kind name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown agent kind {0:?} (expected one of agent, workflow, llm, tool, retrieval, reasoning, decision, guardrail, evaluation, memory, other)"
)]
pub struct ParseAgentKindError(String);

impl AgentKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 11] = [
        Self::Agent,
        Self::Workflow,
        Self::Llm,
        Self::Tool,
        Self::Retrieval,
        Self::Reasoning,
        Self::Decision,
        Self::Guardrail,
        Self::Evaluation,
        Self::Memory,
        Self::Other,
    ];

    /// The snake_case name, as serialized (`"agent"`, `"llm"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Workflow => "workflow",
            Self::Llm => "llm",
            Self::Tool => "tool",
            Self::Retrieval => "retrieval",
            Self::Reasoning => "reasoning",
            Self::Decision => "decision",
            Self::Guardrail => "guardrail",
            Self::Evaluation => "evaluation",
            Self::Memory => "memory",
            Self::Other => "other",
        }
    }

    /// Parses a kind name, ASCII case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentKind {
    type Err = ParseAgentKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| ParseAgentKindError(s.to_owned()))
    }
}

/// Derives a span's agent kind from its name and attributes (the table in the module docs).
pub fn derive(name: &str, attributes: &[KeyValue]) -> AgentKind {
    let value = |key: &str| find(attributes, key).and_then(AnyValue::as_str);
    let present = |key: &str| find(attributes, key).is_some();

    // Rows 1-7.
    if let Some(kind) = value("gen_ai.operation.name").and_then(from_genai_operation) {
        return kind;
    }
    // Rows 8-15.
    if let Some(kind) = value("openinference.span.kind").and_then(from_openinference) {
        return kind;
    }
    // Rows 16-22.
    if let Some(kind) = value("langfuse.observation.type").and_then(from_langfuse) {
        return kind;
    }
    // Rows 23-25.
    if let Some(kind) = value("traceloop.span.kind").and_then(from_traceloop) {
        return kind;
    }
    // Row 26.
    if let Some(kind) = value("cairn.kind").and_then(AgentKind::parse) {
        return kind;
    }
    // Rows 27-29.
    if present("gen_ai.tool.name") || present("gen_ai.tool.call.id") {
        return AgentKind::Tool;
    }
    if present("gen_ai.request.model") || present("llm.model_name") {
        return AgentKind::Llm;
    }
    if present("gen_ai.agent.name") || present("gen_ai.agent.id") {
        return AgentKind::Agent;
    }
    // Row 30.
    name.split_whitespace()
        .next()
        .and_then(from_genai_operation)
        // Row 31.
        .unwrap_or(AgentKind::Other)
}

fn from_genai_operation(op: &str) -> Option<AgentKind> {
    let op = op.trim().to_ascii_lowercase();
    Some(match op.as_str() {
        "invoke_agent" | "create_agent" => AgentKind::Agent,
        "invoke_workflow" => AgentKind::Workflow,
        "chat" | "text_completion" | "generate_content" | "embeddings" => AgentKind::Llm,
        "execute_tool" => AgentKind::Tool,
        "retrieval" => AgentKind::Retrieval,
        "plan" => AgentKind::Reasoning,
        other if other.contains("memory") => AgentKind::Memory,
        _ => return None,
    })
}

fn from_openinference(kind: &str) -> Option<AgentKind> {
    let kind = kind.trim().to_ascii_uppercase();
    Some(match kind.as_str() {
        "AGENT" => AgentKind::Agent,
        "CHAIN" => AgentKind::Workflow,
        "LLM" | "EMBEDDING" => AgentKind::Llm,
        "TOOL" => AgentKind::Tool,
        "RETRIEVER" | "RERANKER" => AgentKind::Retrieval,
        "GUARDRAIL" => AgentKind::Guardrail,
        "EVALUATOR" => AgentKind::Evaluation,
        "DECISION" => AgentKind::Decision,
        _ => return None,
    })
}

fn from_langfuse(kind: &str) -> Option<AgentKind> {
    let kind = kind.trim().to_ascii_lowercase();
    Some(match kind.as_str() {
        "agent" => AgentKind::Agent,
        "chain" => AgentKind::Workflow,
        "generation" | "embedding" => AgentKind::Llm,
        "tool" => AgentKind::Tool,
        "retriever" => AgentKind::Retrieval,
        "guardrail" => AgentKind::Guardrail,
        "evaluator" => AgentKind::Evaluation,
        _ => return None,
    })
}

fn from_traceloop(kind: &str) -> Option<AgentKind> {
    let kind = kind.trim().to_ascii_lowercase();
    Some(match kind.as_str() {
        "workflow" | "task" => AgentKind::Workflow,
        "agent" => AgentKind::Agent,
        "tool" => AgentKind::Tool,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentKind::*;

    fn kind_of(attrs: &[(&str, &str)]) -> AgentKind {
        kind_named("span", attrs)
    }

    fn kind_named(name: &str, attrs: &[(&str, &str)]) -> AgentKind {
        let attrs: Vec<KeyValue> = attrs.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect();
        derive(name, &attrs)
    }

    fn op(value: &str) -> AgentKind {
        kind_of(&[("gen_ai.operation.name", value)])
    }

    #[test]
    fn row_01_genai_invoke_and_create_agent() {
        assert_eq!(op("invoke_agent"), Agent);
        assert_eq!(op("create_agent"), Agent);
    }

    #[test]
    fn row_02_genai_invoke_workflow() {
        assert_eq!(op("invoke_workflow"), Workflow);
    }

    #[test]
    fn row_03_genai_llm_operations() {
        for value in [
            "chat",
            "text_completion",
            "generate_content",
            "embeddings",
            "CHAT",
        ] {
            assert_eq!(op(value), Llm, "{value}");
        }
    }

    #[test]
    fn row_04_genai_execute_tool() {
        assert_eq!(op("execute_tool"), Tool);
    }

    #[test]
    fn row_05_genai_retrieval() {
        assert_eq!(op("retrieval"), Retrieval);
    }

    #[test]
    fn row_06_genai_plan() {
        assert_eq!(op("plan"), Reasoning);
    }

    #[test]
    fn row_07_genai_memory_operations() {
        for value in [
            "search_memory",
            "create_memory_store",
            "update_memory",
            "delete_memory",
        ] {
            assert_eq!(op(value), Memory, "{value}");
        }
    }

    fn oi(value: &str) -> AgentKind {
        kind_of(&[("openinference.span.kind", value)])
    }

    #[test]
    fn row_08_openinference_agent() {
        assert_eq!(oi("AGENT"), Agent);
    }

    #[test]
    fn row_09_openinference_chain() {
        assert_eq!(oi("CHAIN"), Workflow);
    }

    #[test]
    fn row_10_openinference_llm_and_embedding() {
        assert_eq!(oi("LLM"), Llm);
        assert_eq!(oi("EMBEDDING"), Llm);
        assert_eq!(oi("llm"), Llm);
    }

    #[test]
    fn row_11_openinference_tool() {
        assert_eq!(oi("TOOL"), Tool);
    }

    #[test]
    fn row_12_openinference_retriever_and_reranker() {
        assert_eq!(oi("RETRIEVER"), Retrieval);
        assert_eq!(oi("RERANKER"), Retrieval);
    }

    #[test]
    fn row_13_openinference_guardrail() {
        assert_eq!(oi("GUARDRAIL"), Guardrail);
    }

    #[test]
    fn row_14_openinference_evaluator() {
        assert_eq!(oi("EVALUATOR"), Evaluation);
    }

    #[test]
    fn row_15_openinference_decision() {
        assert_eq!(oi("DECISION"), Decision);
    }

    fn lf(value: &str) -> AgentKind {
        kind_of(&[("langfuse.observation.type", value)])
    }

    #[test]
    fn row_16_langfuse_agent() {
        assert_eq!(lf("agent"), Agent);
    }

    #[test]
    fn row_17_langfuse_chain() {
        assert_eq!(lf("chain"), Workflow);
    }

    #[test]
    fn row_18_langfuse_generation_and_embedding() {
        assert_eq!(lf("generation"), Llm);
        assert_eq!(lf("embedding"), Llm);
    }

    #[test]
    fn row_19_langfuse_tool() {
        assert_eq!(lf("tool"), Tool);
    }

    #[test]
    fn row_20_langfuse_retriever() {
        assert_eq!(lf("retriever"), Retrieval);
    }

    #[test]
    fn row_21_langfuse_guardrail() {
        assert_eq!(lf("guardrail"), Guardrail);
    }

    #[test]
    fn row_22_langfuse_evaluator() {
        assert_eq!(lf("evaluator"), Evaluation);
    }

    fn tl(value: &str) -> AgentKind {
        kind_of(&[("traceloop.span.kind", value)])
    }

    #[test]
    fn row_23_openllmetry_workflow_and_task() {
        assert_eq!(tl("workflow"), Workflow);
        assert_eq!(tl("task"), Workflow);
    }

    #[test]
    fn row_24_openllmetry_agent() {
        assert_eq!(tl("agent"), Agent);
    }

    #[test]
    fn row_25_openllmetry_tool() {
        assert_eq!(tl("tool"), Tool);
    }

    #[test]
    fn row_26_cairn_kind_accepts_every_kind_name() {
        for kind in AgentKind::ALL {
            assert_eq!(kind_of(&[("cairn.kind", kind.as_str())]), kind);
        }
    }

    #[test]
    fn row_27_fallback_tool_attributes() {
        assert_eq!(kind_of(&[("gen_ai.tool.name", "web_search")]), Tool);
        assert_eq!(kind_of(&[("gen_ai.tool.call.id", "call_1")]), Tool);
    }

    #[test]
    fn row_28_fallback_model_attributes() {
        assert_eq!(kind_of(&[("gen_ai.request.model", "gpt-4o")]), Llm);
        assert_eq!(kind_of(&[("llm.model_name", "gpt-4o")]), Llm);
        // An LLM call made inside an agent is still an LLM call.
        assert_eq!(
            kind_of(&[
                ("gen_ai.agent.name", "planner"),
                ("gen_ai.request.model", "gpt-4o")
            ]),
            Llm
        );
    }

    #[test]
    fn row_29_fallback_agent_attributes() {
        assert_eq!(kind_of(&[("gen_ai.agent.name", "planner")]), Agent);
        assert_eq!(kind_of(&[("gen_ai.agent.id", "asst_1")]), Agent);
    }

    #[test]
    fn row_30_fallback_span_name() {
        assert_eq!(kind_named("chat gpt-4o", &[]), Llm);
        assert_eq!(kind_named("execute_tool get_weather", &[]), Tool);
        assert_eq!(kind_named("invoke_agent Planner", &[]), Agent);
        assert_eq!(kind_named("search_memory", &[]), Memory);
    }

    #[test]
    fn row_31_default_other() {
        assert_eq!(kind_named("GET /users", &[("http.method", "GET")]), Other);
        assert_eq!(kind_named("", &[]), Other);
    }

    #[test]
    fn first_match_wins_across_conventions() {
        assert_eq!(
            kind_of(&[
                ("cairn.kind", "decision"),
                ("gen_ai.operation.name", "chat")
            ]),
            Llm
        );
        assert_eq!(
            kind_of(&[
                ("traceloop.span.kind", "tool"),
                ("openinference.span.kind", "AGENT")
            ]),
            Agent
        );
        assert_eq!(
            kind_named("chat x", &[("cairn.kind", "reasoning")]),
            Reasoning
        );
    }

    #[test]
    fn unknown_values_fall_through() {
        assert_eq!(
            kind_of(&[
                ("gen_ai.operation.name", "custom"),
                ("openinference.span.kind", "TOOL")
            ]),
            Tool
        );
        assert_eq!(oi("UNKNOWN"), Other);
        assert_eq!(lf("span"), Other);
        assert_eq!(kind_of(&[("cairn.kind", "bogus")]), Other);
    }

    #[test]
    fn non_string_values_do_not_match() {
        let attrs = vec![KeyValue::new("gen_ai.operation.name", 3_i64)];
        assert_eq!(derive("span", &attrs), Other);
    }

    #[test]
    fn kind_names_parse_and_serialize_consistently() {
        for kind in AgentKind::ALL {
            assert_eq!(kind.as_str().parse::<AgentKind>().ok(), Some(kind));
            let json = serde_json::to_string(&kind).expect("serializable");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("nope".parse::<AgentKind>().is_err());
    }
}
