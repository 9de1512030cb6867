//! What the index derives from a span or log record: filter columns, token counts, the error flag
//! and the text that full-text search covers.
//!
//! Filter columns and counts come from `cairn_model`'s typed accessors (`agent_name`, `tool`,
//! `model`, `usage`, `conversation_id`, `is_error`), so every naming convention the model knows
//! is indexed alike. Search text is split over four FTS columns:
//!
//! | column | sources |
//! |---|---|
//! | `reasoning` | [`Span::reasoning`], the decision rationale |
//! | `tool_io` | tool name, arguments and result ([`Span::tool`]) |
//! | `messages` | `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`, deprecated `gen_ai.prompt`/`gen_ai.completion` and their flattened `gen_ai.prompt.N.*` forms, OpenInference `llm.input_messages.*`/`llm.output_messages.*` and (off tool spans) `input.value`/`output.value`, message events (`gen_ai.*` span events), log bodies |
//! | `errors` | status message, [`Span::error`] type and message |
//!
//! Content may be a JSON string or a structured value. Search text keeps only its leaves
//! (strings and numbers), not the JSON keys, and skips structural fields such as `role` and
//! `type`, so searching `user` or `text` does not match every message. Leaves come in document
//! order, every member of an object included (a repeated key's values too). A JSON string is
//! read with a streaming visitor that copies its leaves straight into the search text: parsing
//! it into a `serde_json::Value` tree first (an allocation per string, array and object) was a
//! tenth of the collector's index reader thread (`docs/performance.md`).

use cairn_model::{AgentKind, AnyValue, KeyValue, Resource, Span};
use serde_json::Value;

/// Whole-message content keys.
const MESSAGES: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
];
/// Prefixes of flattened message attributes (OpenLLMetry, OpenInference).
const MESSAGE_PREFIXES: &[&str] = &[
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
];
/// OpenInference's generic input and output; a tool's arguments and result on tool spans (read
/// by [`Span::tool`]), prompt and completion elsewhere.
const IO_VALUES: &[&str] = &["input.value", "output.value"];
/// Tool call content keys, for log records (spans use [`Span::tool`]).
const TOOL_IO: &[&str] = &["gen_ai.tool.call.arguments", "gen_ai.tool.call.result"];
/// The output messages, whose `reasoning` parts are [`Span::reasoning`]'s fallback.
const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// Cairn's own reasoning attributes, which [`Span::reasoning`] prefers, in order.
const REASONING_KEYS: &[&str] = &["cairn.reasoning.content", "cairn.reasoning.summary"];
/// Attribute prefixes [`Span::decision`] reads.
const DECISION_PREFIXES: &[&str] = &["cairn.decision.", "decision."];
/// Keys inside message JSON whose values are structure, not content.
const STRUCTURAL_KEYS: &[&str] = &["role", "type", "finish_reason", "id", "tool_call_id"];

/// The resource attribute naming a record's project.
pub(crate) const PROJECT_ATTRIBUTE: &str = "cairn.project";
/// The project of records without a (string) `cairn.project` resource attribute.
pub const DEFAULT_PROJECT: &str = "default";

/// A record's project: its `cairn.project` resource attribute, else [`DEFAULT_PROJECT`].
pub(crate) fn project(resource: &Resource) -> &str {
    resource
        .attributes
        .iter()
        .rev()
        .find(|kv| kv.key == PROJECT_ATTRIBUTE)
        .and_then(|kv| match &kv.value {
            AnyValue::String(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or(DEFAULT_PROJECT)
}

/// Everything the index derives from one span.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct SpanFacts {
    /// [`Span::agent_name`].
    pub(crate) agent: Option<String>,
    /// Tool name of [`Span::tool`].
    pub(crate) tool: Option<String>,
    /// Display model: the response model, else the request model.
    pub(crate) model: Option<String>,
    /// Every distinct model name the span mentions (for the `model` filter).
    pub(crate) models: Vec<String>,
    /// [`Span::conversation_id`].
    pub(crate) conversation: Option<String>,
    /// Input tokens of [`Span::usage`].
    pub(crate) input_tokens: Option<u64>,
    /// Output tokens of [`Span::usage`].
    pub(crate) output_tokens: Option<u64>,
    /// [`Span::is_error`].
    pub(crate) is_error: bool,
    /// The `cairn.subject_key` attribute (the span's `subject_key` column, for erasure).
    pub(crate) subject_key: Option<String>,
    /// Search text, one field per FTS column.
    pub(crate) text: SearchText,
}

/// Search text of one span or log record, split by FTS column.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct SearchText {
    /// Reasoning content and decision rationale.
    pub(crate) reasoning: String,
    /// Tool name, arguments and results.
    pub(crate) tool_io: String,
    /// Prompts, completions and messages.
    pub(crate) messages: String,
    /// Status message, error types and exception messages.
    pub(crate) errors: String,
}

impl SearchText {
    /// True when there is nothing to index.
    pub(crate) fn is_empty(&self) -> bool {
        self.reasoning.is_empty()
            && self.tool_io.is_empty()
            && self.messages.is_empty()
            && self.errors.is_empty()
    }
}

/// Derives the indexed facts of a span.
pub(crate) fn span_facts(span: &Span) -> SpanFacts {
    let mut text = SearchText::default();
    let tool = span.tool();
    if let Some(tool) = &tool {
        push_piece(&mut text.tool_io, &tool.name);
        for content in [&tool.arguments, &tool.result].into_iter().flatten() {
            push_json_leaves(content, &mut text.tool_io);
        }
    }
    let is_tool = span.agent_kind == AgentKind::Tool;
    // The first `gen_ai.output.messages` is kept for the reasoning fallback.
    let mut output_messages: Option<&AnyValue> = None;
    let mut has_decision = false;
    let mut subject_key = None;
    for kv in &span.attributes {
        let key = kv.key.as_str();
        has_decision |= DECISION_PREFIXES.iter().any(|p| key.starts_with(p));
        if key == crate::SUBJECT_KEY_ATTRIBUTE
            && subject_key.is_none()
            && let AnyValue::String(id) = &kv.value
        {
            subject_key = Some(id.clone());
        }
        if is_message_key(key) || (!is_tool && IO_VALUES.contains(&key)) {
            push_content_leaves(&kv.value, &mut text.messages);
            if key == OUTPUT_MESSAGES && output_messages.is_none() {
                output_messages = Some(&kv.value);
            }
        }
    }
    if let Some(reasoning) = reasoning(span, output_messages) {
        push_piece(&mut text.reasoning, &reasoning);
    }
    // `Span::decision` reads only attributes under these prefixes: skip it when there are none.
    if has_decision && let Some(rationale) = span.decision().and_then(|d| d.rationale) {
        push_piece(&mut text.reasoning, &rationale);
    }
    for event in &span.events {
        // Older GenAI conventions carried messages as span events (`gen_ai.user.message` …).
        if event.name.starts_with("gen_ai.") {
            for kv in &event.attributes {
                push_content_leaves(&kv.value, &mut text.messages);
            }
        }
    }
    push_piece(&mut text.errors, &span.status.message);
    if let Some(error) = span.error() {
        for piece in [error.error_type, error.message].into_iter().flatten() {
            if piece != span.status.message {
                push_piece(&mut text.errors, &piece);
            }
        }
    }

    let names = span.model_names();
    let mut models: Vec<String> = Vec::new();
    for name in [names.response_model, names.request_model]
        .into_iter()
        .flatten()
    {
        if !models.iter().any(|m| m == name) {
            models.push(name.to_owned());
        }
    }
    SpanFacts {
        agent: span.agent_name(),
        tool: tool.map(|t| t.name),
        model: models.first().cloned(),
        models,
        conversation: span.conversation_id(),
        input_tokens: span.input_tokens(),
        output_tokens: span.output_tokens(),
        is_error: span.is_error(),
        subject_key,
        text,
    }
}

/// [`Span::reasoning`], given the span's first `gen_ai.output.messages` (read only when no
/// reasoning attribute answers first).
fn reasoning(span: &Span, output_messages: Option<&AnyValue>) -> Option<String> {
    if let Some(text) = REASONING_KEYS
        .iter()
        .find_map(|key| span.attribute(key).and_then(AnyValue::as_str))
    {
        return Some(text.to_owned());
    }
    cairn_model::genai::reasoning_of_output_attribute(output_messages?)
}

/// Search text of a log record: its body, and content and exception attributes.
pub(crate) fn log_text(body: &AnyValue, attributes: &[KeyValue]) -> SearchText {
    let mut text = SearchText::default();
    push_content_leaves(body, &mut text.messages);
    for kv in attributes {
        let key = kv.key.as_str();
        let column = if TOOL_IO.contains(&key) {
            &mut text.tool_io
        } else if is_message_key(key) || IO_VALUES.contains(&key) {
            &mut text.messages
        } else if key.starts_with("cairn.reasoning.") {
            &mut text.reasoning
        } else if matches!(key, "exception.message" | "exception.type" | "error.type") {
            &mut text.errors
        } else {
            continue;
        };
        push_content_leaves(&kv.value, column);
    }
    text
}

fn is_message_key(key: &str) -> bool {
    MESSAGES.contains(&key) || MESSAGE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Appends `piece` to `out`, newline-separated.
fn push_piece(out: &mut String, piece: &str) {
    if piece.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(piece);
}

/// Appends the leaves of content: of the JSON a string holds when it opens with `{` or `[` and
/// parses (the texts `AnyValue::to_content_json` reads as JSON), else of the value itself.
fn push_content_leaves(value: &AnyValue, out: &mut String) {
    match value {
        AnyValue::String(s) => {
            let json = value.json_content_text();
            if !json.is_some_and(|json| leaves::push_json_text(json, out)) {
                push_piece(out, s);
            }
        }
        other => push_value_leaves(other, out),
    }
}

/// Appends the string and number leaves of a structured value in order (every member of a
/// key-value list, a repeated key's too), skipping structural fields; a string inside it is a
/// leaf, not parsed. Scalars other than strings are written as their JSON.
fn push_value_leaves(value: &AnyValue, out: &mut String) {
    match value {
        AnyValue::Empty | AnyValue::Bool(_) => {}
        AnyValue::String(s) => push_piece(out, s),
        AnyValue::Array(items) => items.iter().for_each(|v| push_value_leaves(v, out)),
        AnyValue::KvList(kvs) => kvs
            .iter()
            .filter(|kv| !STRUCTURAL_KEYS.contains(&kv.key.as_str()))
            .for_each(|kv| push_value_leaves(&kv.value, out)),
        AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Bytes(_) => {
            push_json_leaves(&value.to_json(), out);
        }
    }
}

/// Appends the string and number leaves of `value`, skipping structural object fields.
fn push_json_leaves(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => push_piece(out, s),
        Value::Number(n) => push_piece(out, &n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| push_json_leaves(v, out)),
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| !STRUCTURAL_KEYS.contains(&key.as_str()))
            .for_each(|(_, v)| push_json_leaves(v, out)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// The leaves of a JSON text, read by a streaming visitor (no `Value` tree).
mod leaves {
    use std::fmt;

    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{STRUCTURAL_KEYS, push_piece};

    /// Appends the string and number leaves of the JSON text `json` to `out`, in document
    /// order, skipping the values of structural object fields. False, with `out` as it was, when
    /// `json` is not one JSON value.
    pub(super) fn push_json_text(json: &str, out: &mut String) -> bool {
        let before = out.len();
        let mut de = serde_json::Deserializer::from_str(json);
        let read = Leaves(&mut *out)
            .deserialize(&mut de)
            .and_then(|()| de.end());
        if read.is_err() {
            out.truncate(before);
        }
        read.is_ok()
    }

    /// Appends the leaves of the value it visits.
    struct Leaves<'a>(&'a mut String);

    impl<'de> DeserializeSeed<'de> for Leaves<'_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
            de.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Leaves<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }

        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }

        // Numbers are written as `serde_json::Number` displays them, as the `Value` walk does.
        fn visit_i64<E>(self, v: i64) -> Result<(), E> {
            push_piece(self.0, &serde_json::Number::from(v).to_string());
            Ok(())
        }

        fn visit_u64<E>(self, v: u64) -> Result<(), E> {
            push_piece(self.0, &serde_json::Number::from(v).to_string());
            Ok(())
        }

        fn visit_f64<E>(self, v: f64) -> Result<(), E> {
            if let Some(n) = serde_json::Number::from_f64(v) {
                push_piece(self.0, &n.to_string());
            }
            Ok(())
        }

        fn visit_str<E>(self, v: &str) -> Result<(), E> {
            push_piece(self.0, v);
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Leaves(&mut *self.0))?.is_some() {}
            Ok(())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(structural) = map.next_key_seed(Structural)? {
                if structural {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    map.next_value_seed(Leaves(&mut *self.0))?;
                }
            }
            Ok(())
        }
    }

    /// Reads an object key (without copying it): whether it names a structural field.
    struct Structural;

    impl<'de> DeserializeSeed<'de> for Structural {
        type Value = bool;

        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
            de.deserialize_str(self)
        }
    }

    impl Visitor<'_> for Structural {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object key")
        }

        fn visit_str<E>(self, key: &str) -> Result<bool, E> {
            Ok(STRUCTURAL_KEYS.contains(&key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::{Event, StatusCode};

    fn with_attributes(attributes: Vec<KeyValue>) -> Span {
        Span {
            attributes,
            ..Span::default()
        }
    }

    #[test]
    fn models_are_deduplicated_and_response_model_wins() {
        let span = with_attributes(vec![
            KeyValue::new("gen_ai.request.model", "gpt-4o"),
            KeyValue::new("gen_ai.response.model", "gpt-4o-2024-08-06"),
        ]);
        let facts = span_facts(&span);
        assert_eq!(facts.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(facts.models, ["gpt-4o-2024-08-06", "gpt-4o"]);
        // OpenInference names one model for both.
        let span = with_attributes(vec![KeyValue::new("llm.model_name", "claude")]);
        assert_eq!(span_facts(&span).models, ["claude"]);
    }

    #[test]
    fn search_text_keeps_content_leaves_per_column() {
        let mut span = with_attributes(vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", "get_weather"),
            KeyValue::new("gen_ai.tool.call.arguments", r#"{"city":"Paris","days":3}"#),
            KeyValue::new(
                "gen_ai.input.messages",
                r#"[{"role":"user","parts":[{"type":"text","content":"hello there"}]}]"#,
            ),
            KeyValue::new("cairn.reasoning.content", "compare the forecasts"),
            KeyValue::new("cairn.decision.rationale", "cheapest option"),
            KeyValue::new("unrelated", "not indexed"),
        ]);
        span.agent_kind = AgentKind::Tool;
        span.status.code = StatusCode::Error;
        span.status.message = "upstream timeout".into();
        span.events = vec![Event {
            name: "exception".into(),
            attributes: vec![
                KeyValue::new("exception.type", "SocketError"),
                KeyValue::new("exception.message", "socket closed"),
            ],
            ..Event::default()
        }];
        let facts = span_facts(&span);
        assert!(facts.is_error);
        assert_eq!(facts.tool.as_deref(), Some("get_weather"));
        assert_eq!(facts.text.tool_io, "get_weather\nParis\n3");
        assert_eq!(facts.text.messages, "hello there");
        assert_eq!(
            facts.text.reasoning,
            "compare the forecasts\ncheapest option"
        );
        assert_eq!(
            facts.text.errors,
            "upstream timeout\nSocketError\nsocket closed"
        );
    }

    /// The reasoning column is exactly what the model's accessors give: `Span::reasoning`, then
    /// the rationale of `Span::decision`.
    #[test]
    fn reasoning_column_matches_the_span_accessors() {
        let output = |content: &str| {
            KeyValue::new(
                "gen_ai.output.messages",
                format!(
                    r#"[{{"role":"assistant","parts":[{{"type":"reasoning","content":"{content}"}},{{"type":"text","content":"x"}},{{"type":"reasoning","content":"more"}}]}}]"#
                ),
            )
        };
        let structured = KeyValue::new(
            "gen_ai.output.messages",
            vec![AnyValue::KvList(vec![KeyValue::new(
                "parts",
                vec![AnyValue::KvList(vec![
                    KeyValue::new("type", "reasoning"),
                    KeyValue::new("content", "structured thought"),
                ])],
            )])],
        );
        let cases = vec![
            vec![],
            vec![output("first")],
            vec![output("first"), output("second")],
            vec![structured],
            vec![KeyValue::new("gen_ai.output.messages", "not json")],
            vec![KeyValue::new(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[{"type":"text","content":"no thinking"}]}]"#,
            )],
            // The word spelled with an escape is still a reasoning part.
            vec![KeyValue::new(
                "gen_ai.output.messages",
                r#"[{"parts":[{"type":"\u0072easoning","content":"escaped"}]}]"#,
            )],
            vec![
                KeyValue::new("cairn.reasoning.content", AnyValue::Int(3)),
                KeyValue::new("cairn.reasoning.summary", "summary wins"),
                output("ignored"),
            ],
            vec![
                KeyValue::new("cairn.reasoning.content", "content wins"),
                output("no"),
            ],
            vec![KeyValue::new("decision.rationale", "plain prefix")],
            vec![
                KeyValue::new("cairn.decision.name", "pick"),
                KeyValue::new("decision.rationale", "shadowed by the cairn prefix"),
            ],
            vec![
                KeyValue::new("cairn.decision.confidence", AnyValue::Double(7.0)),
                KeyValue::new("decision.rationale", "invalid confidence falls through"),
                output("both"),
            ],
        ];
        for attributes in cases {
            let span = with_attributes(attributes);
            let mut expected = String::new();
            if let Some(r) = span.reasoning() {
                push_piece(&mut expected, &r);
            }
            if let Some(r) = span.decision().and_then(|d| d.rationale) {
                push_piece(&mut expected, &r);
            }
            assert_eq!(span_facts(&span).text.reasoning, expected, "{span:?}");
        }
        let span = with_attributes(vec![output("first")]);
        assert_eq!(span_facts(&span).text.reasoning, "first\n\nmore");
        let escaped = r#"[{"parts":[{"type":"\u0072easoning","content":"escaped"}]}]"#;
        let span = with_attributes(vec![KeyValue::new("gen_ai.output.messages", escaped)]);
        assert_eq!(span_facts(&span).text.reasoning, "escaped");
    }

    #[test]
    fn structured_and_string_content_index_alike() {
        let as_string = with_attributes(vec![KeyValue::new(
            "gen_ai.output.messages",
            r#"[{"role":"assistant","parts":[{"type":"text","content":"sunny"}]}]"#,
        )]);
        let structured = with_attributes(vec![KeyValue::new(
            "gen_ai.output.messages",
            vec![AnyValue::KvList(vec![
                KeyValue::new("role", "assistant"),
                KeyValue::new(
                    "parts",
                    vec![AnyValue::KvList(vec![
                        KeyValue::new("type", "text"),
                        KeyValue::new("content", "sunny"),
                    ])],
                ),
            ])],
        )]);
        assert_eq!(span_facts(&as_string).text.messages, "sunny");
        assert_eq!(span_facts(&structured).text, span_facts(&as_string).text);
    }

    fn content_text(value: &AnyValue) -> String {
        let mut out = String::new();
        push_content_leaves(value, &mut out);
        out
    }

    /// The `Value`-tree walk the streaming reader replaced (keys sorted, last duplicate kept).
    fn tree_text(value: &AnyValue) -> String {
        let mut out = String::new();
        push_json_leaves(&value.to_content_json(), &mut out);
        out
    }

    fn sorted_pieces(text: &str) -> Vec<&str> {
        let mut pieces: Vec<&str> = text.split('\n').collect();
        pieces.sort_unstable();
        pieces
    }

    /// Streaming leaves come in document order, skip structural fields, and a JSON string and
    /// the same content as a structured value give the same text.
    #[test]
    fn content_leaves_keep_document_order_in_both_encodings() {
        let json = AnyValue::from(
            r#"[{"role":"user","parts":[{"type":"text","content":"zebra"}],"name":"alpha","id":"x1"}]"#,
        );
        let structured = AnyValue::Array(vec![AnyValue::KvList(vec![
            KeyValue::new("role", "user"),
            KeyValue::new(
                "parts",
                AnyValue::Array(vec![AnyValue::KvList(vec![
                    KeyValue::new("type", "text"),
                    KeyValue::new("content", "zebra"),
                ])]),
            ),
            KeyValue::new("name", "alpha"),
            KeyValue::new("id", "x1"),
        ])]);
        assert_eq!(content_text(&json), "zebra\nalpha");
        assert_eq!(content_text(&structured), "zebra\nalpha");
        // A repeated key keeps every value (a `Value` tree keeps only the last).
        assert_eq!(
            content_text(&AnyValue::from(r#"{"k":"one","k":"two"}"#)),
            "one\ntwo"
        );
    }

    /// Text that opens like JSON but is not one JSON value is a leaf itself, and nothing a
    /// failed read had appended stays behind.
    #[test]
    fn content_that_is_not_json_is_kept_whole() {
        for text in [
            r#"{"a":"partial", broken"#,
            "[1] trailing",
            "{",
            "[\"unterminated]",
        ] {
            let mut out = String::from("before");
            push_content_leaves(&AnyValue::from(text), &mut out);
            assert_eq!(out, format!("before\n{text}"), "{text}");
        }
        assert_eq!(content_text(&AnyValue::from("plain text")), "plain text");
    }

    /// The same leaves, numbers written alike, as the `Value` walk it replaced (order aside).
    #[test]
    fn content_leaves_match_the_tree_walk() {
        let cases = [
            r#"{"b":[1,-2,2.5,0,-0,1.0,1e-7,1.5e300,18446744073709551615,-9223372036854775808]}"#,
            r#"{"big":123456789012345678901234567890,"t":true,"n":null,"s":"caf\u00e9 \"q\""}"#,
            r#"  [{"role":"assistant","parts":[{"type":"reasoning","content":"because"}],"finish_reason":"stop"}]"#,
            r#"{"nested":{"deep":[[["x"]]],"id":"skip","tool_call_id":"skip"},"a":{}}"#,
        ];
        for case in cases {
            let value = AnyValue::from(case);
            assert_eq!(
                sorted_pieces(&content_text(&value)),
                sorted_pieces(&tree_text(&value)),
                "{case}"
            );
        }
        let structured = AnyValue::KvList(vec![
            KeyValue::new("i", AnyValue::Int(-7)),
            KeyValue::new("d", AnyValue::Double(f64::NAN)),
            KeyValue::new("f", AnyValue::Double(0.25)),
            KeyValue::new("raw", AnyValue::Bytes(vec![1, 2, 3])),
            KeyValue::new("inner", r#"{"not":"parsed"}"#),
            KeyValue::new("b", AnyValue::Bool(true)),
            KeyValue::new("e", AnyValue::Empty),
        ]);
        assert_eq!(
            sorted_pieces(&content_text(&structured)),
            sorted_pieces(&tree_text(&structured))
        );
    }

    #[test]
    fn log_text_covers_body_and_content_attributes() {
        let text = log_text(
            &AnyValue::from(r#"{"score": 0.9, "explanation": "relevant"}"#),
            &[
                KeyValue::new("gen_ai.tool.call.arguments", r#"{"q":"rust"}"#),
                KeyValue::new("exception.message", "boom"),
                KeyValue::new("other", "ignored"),
            ],
        );
        // In document order (a `Value` tree would have sorted the keys).
        assert_eq!(text.messages, "0.9\nrelevant");
        assert_eq!(text.tool_io, "rust");
        assert_eq!(text.errors, "boom");
        assert!(text.reasoning.is_empty());
    }
}
