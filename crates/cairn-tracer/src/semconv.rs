//! Attribute names the SDK emits: the OpenTelemetry GenAI semantic conventions (the current names,
//! not the deprecated `gen_ai.system` / `prompt_tokens` ones) plus Cairn's own `cairn.*` names for
//! what the conventions do not cover yet (reasoning steps, decisions, guardrails).
//!
//! | span                       | `gen_ai.operation.name` | `cairn.kind` | OTel span kind |
//! |----------------------------|-------------------------|--------------|----------------|
//! | `invoke_agent {agent}`     | `invoke_agent`          | `agent`      | internal       |
//! | `chat {model}`             | `chat`                  | `llm`        | client         |
//! | `execute_tool {tool}`      | `execute_tool`          | `tool`       | internal       |
//! | `retrieval {source}`       | `retrieval`             | `retrieval`  | client         |
//! | `reasoning {step}`         | —                       | `reasoning`  | internal       |
//! | `decision {name}`          | —                       | `decision`   | internal       |
//! | `guardrail {name}`         | —                       | `guardrail`  | internal       |

/// `gen_ai.operation.name`.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.provider.name` (e.g. `openai`, `anthropic`, `aws.bedrock`).
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.request.model`.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.response.model`.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.response.id`.
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";
/// `gen_ai.response.finish_reasons` (string array).
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// `gen_ai.request.temperature`.
pub const GEN_AI_REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
/// `gen_ai.request.top_p`.
pub const GEN_AI_REQUEST_TOP_P: &str = "gen_ai.request.top_p";
/// `gen_ai.request.max_tokens`.
pub const GEN_AI_REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
/// `gen_ai.usage.input_tokens`.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.usage.cache_read.input_tokens`.
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// `gen_ai.usage.cache_creation.input_tokens`.
pub const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_creation.input_tokens";
/// `gen_ai.usage.reasoning.output_tokens` (the reasoning subset of the output tokens).
pub const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// `gen_ai.input.messages` (content, JSON).
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// `gen_ai.output.messages` (content, JSON).
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// `gen_ai.system_instructions` (content, JSON).
pub const GEN_AI_SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// `gen_ai.agent.name`.
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// `gen_ai.agent.id`.
pub const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
/// `gen_ai.agent.description`.
pub const GEN_AI_AGENT_DESCRIPTION: &str = "gen_ai.agent.description";
/// `gen_ai.conversation.id`.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// `gen_ai.data_source.id` (retrieval).
pub const GEN_AI_DATA_SOURCE_ID: &str = "gen_ai.data_source.id";
/// `gen_ai.tool.name`.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// `gen_ai.tool.call.id`.
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// `gen_ai.tool.type` (`function`, `extension`, `datastore`).
pub const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
/// `gen_ai.tool.description`.
pub const GEN_AI_TOOL_DESCRIPTION: &str = "gen_ai.tool.description";
/// `gen_ai.tool.call.arguments` (content, JSON).
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
/// `gen_ai.tool.call.result` (content, JSON).
pub const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
/// `user.id` (OTel general conventions; replaces `enduser.id`).
pub const USER_ID: &str = "user.id";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";
/// `service.name` (resource).
pub const SERVICE_NAME: &str = "service.name";

/// `cairn.kind`: the agent kind of the span (`agent`, `llm`, `tool`, `reasoning`, …).
pub const CAIRN_KIND: &str = "cairn.kind";
/// `cairn.reasoning.step`: the 1-based step number within the enclosing agent run.
pub const CAIRN_REASONING_STEP: &str = "cairn.reasoning.step";
/// `cairn.reasoning.content` (content, text).
pub const CAIRN_REASONING_CONTENT: &str = "cairn.reasoning.content";
/// `cairn.decision.name`.
pub const CAIRN_DECISION_NAME: &str = "cairn.decision.name";
/// `cairn.decision.options` (string array).
pub const CAIRN_DECISION_OPTIONS: &str = "cairn.decision.options";
/// `cairn.decision.chosen`.
pub const CAIRN_DECISION_CHOSEN: &str = "cairn.decision.chosen";
/// `cairn.decision.confidence` (double, 0..=1).
pub const CAIRN_DECISION_CONFIDENCE: &str = "cairn.decision.confidence";
/// `cairn.decision.rationale` (content, text).
pub const CAIRN_DECISION_RATIONALE: &str = "cairn.decision.rationale";
/// `cairn.retrieval.query` (content, text).
pub const CAIRN_RETRIEVAL_QUERY: &str = "cairn.retrieval.query";
/// `cairn.retrieval.top_k`.
pub const CAIRN_RETRIEVAL_TOP_K: &str = "cairn.retrieval.top_k";
/// `cairn.retrieval.documents`: how many documents came back.
pub const CAIRN_RETRIEVAL_DOCUMENTS: &str = "cairn.retrieval.documents";
/// `cairn.guardrail.name`.
pub const CAIRN_GUARDRAIL_NAME: &str = "cairn.guardrail.name";
/// `cairn.guardrail.passed` (bool).
pub const CAIRN_GUARDRAIL_PASSED: &str = "cairn.guardrail.passed";
/// `cairn.guardrail.reason`.
pub const CAIRN_GUARDRAIL_REASON: &str = "cairn.guardrail.reason";
/// `cairn.tool.attempt`: 1 for the first call of a tool, 2+ for retries.
pub const CAIRN_TOOL_ATTEMPT: &str = "cairn.tool.attempt";

/// The `exception` event and its attributes (OTel exception conventions).
pub const EXCEPTION_EVENT: &str = "exception";
/// `exception.type`.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// `exception.message`.
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// `exception.stacktrace`.
pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
