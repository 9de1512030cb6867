//! The JSON document of one span, shared by the Elasticsearch exporter (the `_source`) and the
//! JSONL exporter (one line), so both destinations have the same field names.
//!
//! # Fields
//!
//! | Field                                   | From                                                         |
//! |-----------------------------------------|--------------------------------------------------------------|
//! | `@timestamp`, `event.start`             | start time, RFC 3339 with nanoseconds, UTC                   |
//! | `event.end`                             | end time                                                     |
//! | `event.duration`                        | end − start, **nanoseconds** (ECS)                           |
//! | `event.outcome`                         | `failure` if the span failed (status error or `error.type`), `success` for status ok, else `unknown` (as Elastic APM maps OTel status) |
//! | `event.kind`, `event.dataset`           | `event`, `cairn.agent`                                       |
//! | `data_stream.{type,dataset,namespace}`  | `traces`, `cairn.agent`, the configured namespace            |
//! | `trace.id`, `span.id`, `parent.id`      | ids as lowercase hex (`parent.id` absent on root spans)      |
//! | `span.name`, `span.kind`                | name; OTel span kind (`client`, `internal` …)                |
//! | `service.{name,version,namespace,instance.id}` | resource attributes `service.*`                       |
//! | `gen_ai.operation.name`                 | `gen_ai.operation.name`                                      |
//! | `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model` | [`Span::model`]              |
//! | `gen_ai.agent.{name,id}`                | [`Span::agent_name`], `gen_ai.agent.id`                      |
//! | `gen_ai.tool.name`, `gen_ai.tool.call.id` | [`Span::tool`]                                             |
//! | `gen_ai.usage.{input_tokens,output_tokens}`, `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens`, `gen_ai.usage.reasoning.output_tokens` | [`Span::usage`] |
//! | `gen_ai.conversation.id`                | [`Span::conversation_id`]                                    |
//! | `user.id`                               | [`Span::user_id`]                                            |
//! | `error.{type,message,stack_trace}`      | [`Span::error`]                                              |
//! | `cairn.kind`                            | the agent kind (`agent`, `llm`, `tool` …)                    |
//! | `cairn.status.{code,message}`           | OTel status                                                  |
//! | `cairn.decision.{name,options,chosen,confidence,rationale}` | [`Span::decision`]                       |
//! | `cairn.reasoning`                       | [`Span::reasoning`]                                          |
//! | `cairn.subject_key`                     | the data-key id of the span's encrypted content (set when Cairn decrypted it; erasure deletes by it) |
//! | `cairn.ledger.{origin,index,id}`        | where the span is in the ledger; `id` is the document `_id`  |
//! | `cairn.events`, `cairn.links`           | span events and links (stored, not indexed)                  |
//! | `attributes`                            | the remaining span attributes (`flattened`)                  |
//! | `resource.attributes`                   | every resource attribute (`flattened`)                       |
//! | `scope.{name,version}`                  | instrumentation scope                                        |
//!
//! "Remaining" attributes: the single-valued attributes in [`LIFTED`] are omitted from
//! `attributes` when the typed field above holds their value verbatim (a string, or a
//! non-negative integer count); everything else, including every alternative naming convention,
//! stays in `attributes`. So no attribute is lost and none is stored twice.
//!
//! Attribute values map to JSON as [`cairn_model::AnyValue::to_json`] does (bytes as base64,
//! NaN/±Infinity as strings).

use std::time::{Duration, SystemTime};

use cairn_model::{AnyValue, Span, StatusCode, attributes_to_json};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// `data_stream.type` of exported spans.
pub const DATA_STREAM_TYPE: &str = "traces";
/// `data_stream.dataset` of exported spans.
pub const DATA_STREAM_DATASET: &str = "cairn.agent";

/// Attributes lifted to typed fields (and omitted from `attributes` when lifted verbatim).
pub const LIFTED: &[&str] = &[
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.conversation.id",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "user.id",
    "error.type",
    "cairn.subject_key",
];

/// The data stream spans go to: `traces-cairn.agent-<namespace>`.
pub fn data_stream_name(namespace: &str) -> String {
    format!("{DATA_STREAM_TYPE}-{DATA_STREAM_DATASET}-{namespace}")
}

/// The document id of ledger entry `index` of the ledger `origin`: 16 hex digits of
/// SHA-256(origin) and the index, e.g. `3f2a…9c-1234`. Stable across restarts and exporters,
/// distinct across ledgers, so a replay of the same entry is recognised (409 on `create`).
pub fn document_id(origin: &str, index: u64) -> String {
    let digest = Sha256::digest(origin.as_bytes());
    format!("{}-{index}", hex::encode(&digest[..8]))
}

/// Like [`document_id`], with the origin's hash computed once.
#[derive(Debug, Clone)]
pub struct DocumentIds {
    prefix: String,
}

impl DocumentIds {
    /// Ids for the ledger `origin`.
    pub fn new(origin: &str) -> Self {
        let digest = Sha256::digest(origin.as_bytes());
        Self {
            prefix: hex::encode(&digest[..8]),
        }
    }

    /// The id of entry `index`.
    pub fn id(&self, index: u64) -> String {
        format!("{}-{index}", self.prefix)
    }
}

/// Where a span sits in the ledger and which stream it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct DocumentContext<'a> {
    /// The ledger origin.
    pub origin: &'a str,
    /// The ledger index.
    pub index: u64,
    /// The document id ([`document_id`]).
    pub id: &'a str,
    /// `data_stream.namespace`.
    pub namespace: &'a str,
}

/// RFC 3339 UTC with nanoseconds.
pub fn timestamp(unix_nanos: u64) -> String {
    humantime::format_rfc3339_nanos(SystemTime::UNIX_EPOCH + Duration::from_nanos(unix_nanos))
        .to_string()
}

/// Inserts `value` at a dotted path, creating objects on the way.
fn put(doc: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut current = doc;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), value);
            return;
        }
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        current = next;
    }
}

fn put_opt<T: Into<Value>>(doc: &mut Map<String, Value>, path: &str, value: Option<T>) {
    if let Some(v) = value {
        put(doc, path, v.into());
    }
}

/// `true` when the typed field holds the attribute's value verbatim.
fn lifted_verbatim(value: &AnyValue, typed: &Value) -> bool {
    match (value, typed) {
        (AnyValue::String(s), Value::String(t)) => s == t,
        (AnyValue::Int(i), Value::Number(n)) => u64::try_from(*i).ok() == n.as_u64(),
        _ => false,
    }
}

/// Looks up a dotted path.
fn get<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = doc.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The document of one span (see the module docs for the fields).
pub fn span_document(span: &Span, ctx: &DocumentContext<'_>) -> Value {
    let mut doc = Map::new();
    let start = timestamp(span.start_unix_nano);
    put(&mut doc, "@timestamp", Value::String(start.clone()));
    put(&mut doc, "data_stream.type", json!(DATA_STREAM_TYPE));
    put(&mut doc, "data_stream.dataset", json!(DATA_STREAM_DATASET));
    put(&mut doc, "data_stream.namespace", json!(ctx.namespace));
    put(&mut doc, "event.kind", json!("event"));
    put(&mut doc, "event.dataset", json!(DATA_STREAM_DATASET));
    put(&mut doc, "event.start", Value::String(start));
    put(&mut doc, "event.end", json!(timestamp(span.end_unix_nano)));
    put(&mut doc, "event.duration", json!(span.duration_ns()));
    let outcome = if span.is_error() {
        "failure"
    } else if span.status.code == StatusCode::Ok {
        "success"
    } else {
        "unknown"
    };
    put(&mut doc, "event.outcome", json!(outcome));
    put(&mut doc, "trace.id", json!(span.trace_id.to_hex()));
    put(&mut doc, "span.id", json!(span.span_id.to_hex()));
    put(&mut doc, "span.name", json!(span.name));
    put(&mut doc, "span.kind", json!(span.span_kind.as_str()));
    put_opt(
        &mut doc,
        "parent.id",
        span.parent_span_id.map(|id| id.to_hex()),
    );

    let resource_str = |key: &str| {
        span.resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_str())
            .map(str::to_owned)
    };
    for (field, key) in [
        ("service.name", "service.name"),
        ("service.version", "service.version"),
        ("service.namespace", "service.namespace"),
        ("service.instance.id", "service.instance.id"),
    ] {
        put_opt(&mut doc, field, resource_str(key));
    }

    put_opt(
        &mut doc,
        "gen_ai.operation.name",
        span.attribute_str("gen_ai.operation.name")
            .map(str::to_owned),
    );
    if let Some(model) = span.model() {
        put_opt(&mut doc, "gen_ai.provider.name", model.provider);
        put_opt(&mut doc, "gen_ai.request.model", model.request_model);
        put_opt(&mut doc, "gen_ai.response.model", model.response_model);
    }
    put_opt(&mut doc, "gen_ai.agent.name", span.agent_name());
    put_opt(
        &mut doc,
        "gen_ai.agent.id",
        span.attribute_str("gen_ai.agent.id").map(str::to_owned),
    );
    if let Some(tool) = span.tool() {
        put(&mut doc, "gen_ai.tool.name", json!(tool.name));
        put_opt(&mut doc, "gen_ai.tool.call.id", tool.call_id);
    }
    let usage = span.usage();
    put_opt(&mut doc, "gen_ai.usage.input_tokens", usage.input);
    put_opt(&mut doc, "gen_ai.usage.output_tokens", usage.output);
    put_opt(
        &mut doc,
        "gen_ai.usage.cache_read.input_tokens",
        usage.cache_read,
    );
    put_opt(
        &mut doc,
        "gen_ai.usage.cache_creation.input_tokens",
        usage.cache_creation,
    );
    put_opt(
        &mut doc,
        "gen_ai.usage.reasoning.output_tokens",
        usage.reasoning,
    );
    put_opt(&mut doc, "gen_ai.conversation.id", span.conversation_id());
    put_opt(&mut doc, "user.id", span.user_id());
    if let Some(error) = span.error() {
        put_opt(&mut doc, "error.type", error.error_type);
        put_opt(&mut doc, "error.message", error.message);
        put_opt(&mut doc, "error.stack_trace", error.stacktrace);
    }

    put(&mut doc, "cairn.kind", json!(span.agent_kind.as_str()));
    put(
        &mut doc,
        "cairn.status.code",
        json!(span.status.code.as_str()),
    );
    if !span.status.message.is_empty() {
        put(&mut doc, "cairn.status.message", json!(span.status.message));
    }
    if let Some(decision) = span.decision() {
        put_opt(&mut doc, "cairn.decision.name", decision.name);
        if !decision.options.is_empty() {
            put(&mut doc, "cairn.decision.options", json!(decision.options));
        }
        put_opt(&mut doc, "cairn.decision.chosen", decision.chosen);
        put_opt(&mut doc, "cairn.decision.confidence", decision.confidence);
        put_opt(&mut doc, "cairn.decision.rationale", decision.rationale);
    }
    put_opt(&mut doc, "cairn.reasoning", span.reasoning());
    put_opt(
        &mut doc,
        "cairn.subject_key",
        span.attribute_str("cairn.subject_key"),
    );
    put(&mut doc, "cairn.ledger.origin", json!(ctx.origin));
    put(&mut doc, "cairn.ledger.index", json!(ctx.index));
    put(&mut doc, "cairn.ledger.id", json!(ctx.id));
    if !span.events.is_empty() {
        let events: Vec<Value> = span
            .events
            .iter()
            .map(|e| {
                json!({
                    "time": timestamp(e.time_unix_nano),
                    "name": e.name,
                    "attributes": attributes_to_json(&e.attributes),
                })
            })
            .collect();
        put(&mut doc, "cairn.events", Value::Array(events));
    }
    if !span.links.is_empty() {
        let links: Vec<Value> = span
            .links
            .iter()
            .map(|l| {
                json!({
                    "trace_id": l.trace_id.to_hex(),
                    "span_id": l.span_id.to_hex(),
                    "attributes": attributes_to_json(&l.attributes),
                })
            })
            .collect();
        put(&mut doc, "cairn.links", Value::Array(links));
    }

    let remaining: Map<String, Value> = span
        .attributes
        .iter()
        .filter(|kv| {
            !(LIFTED.contains(&kv.key.as_str())
                && get(&doc, &kv.key).is_some_and(|typed| lifted_verbatim(&kv.value, typed)))
        })
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.to_json()))
        .collect();
    if !remaining.is_empty() {
        doc.insert("attributes".to_owned(), Value::Object(remaining));
    }
    if !span.resource.attributes.is_empty() {
        put(
            &mut doc,
            "resource.attributes",
            Value::Object(attributes_to_json(&span.resource.attributes)),
        );
    }
    if !span.scope.name.is_empty() {
        put(&mut doc, "scope.name", json!(span.scope.name));
    }
    if !span.scope.version.is_empty() {
        put(&mut doc, "scope.version", json!(span.scope.version));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use cairn_model::{KeyValue, SpanId, Status, TraceId};

    use super::*;

    fn llm_span() -> Span {
        let mut span = Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: Some(SpanId([3; 8])),
            name: "chat gpt-4o".to_owned(),
            start_unix_nano: 1_700_000_000_123_456_789,
            end_unix_nano: 1_700_000_001_123_456_789,
            status: Status {
                code: StatusCode::Error,
                message: "rate limited".to_owned(),
            },
            attributes: vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
                KeyValue::new("gen_ai.provider.name", "openai"),
                KeyValue::new("gen_ai.usage.input_tokens", 120_i64),
                // A deprecated name: lifted to a typed field but kept in `attributes`.
                KeyValue::new("gen_ai.usage.completion_tokens", 30_i64),
                KeyValue::new("gen_ai.agent.name", "planner"),
                KeyValue::new("error.type", "RateLimitError"),
                KeyValue::new("http.status_code", 429_i64),
            ],
            ..Span::default()
        };
        span.resource
            .attributes
            .push(KeyValue::new("service.name", "billing-agent"));
        span.refresh_agent_kind();
        span
    }

    #[test]
    fn span_document_has_ecs_gen_ai_and_cairn_fields() {
        let span = llm_span();
        let id = document_id("cairn/test", 7);
        let doc = span_document(
            &span,
            &DocumentContext {
                origin: "cairn/test",
                index: 7,
                id: &id,
                namespace: "default",
            },
        );
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.123456789Z");
        assert_eq!(doc["event"]["duration"], 1_000_000_000_u64);
        assert_eq!(doc["event"]["outcome"], "failure");
        assert_eq!(doc["trace"]["id"], "01".repeat(16));
        assert_eq!(doc["parent"]["id"], "03".repeat(8));
        assert_eq!(doc["service"]["name"], "billing-agent");
        assert_eq!(doc["gen_ai"]["request"]["model"], "gpt-4o");
        assert_eq!(doc["gen_ai"]["provider"]["name"], "openai");
        assert_eq!(doc["gen_ai"]["usage"]["input_tokens"], 120);
        assert_eq!(doc["gen_ai"]["usage"]["output_tokens"], 30);
        assert_eq!(doc["gen_ai"]["agent"]["name"], "planner");
        assert_eq!(doc["error"]["type"], "RateLimitError");
        assert_eq!(doc["cairn"]["kind"], "llm");
        assert_eq!(doc["cairn"]["ledger"]["index"], 7);
        assert_eq!(doc["cairn"]["ledger"]["id"], id);
        assert_eq!(doc["data_stream"]["namespace"], "default");
        let attributes = doc["attributes"].as_object().expect("attributes object");
        let mut keys: Vec<&str> = attributes.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["gen_ai.usage.completion_tokens", "http.status_code"]);
    }

    #[test]
    fn non_verbatim_primary_attributes_stay_in_attributes() {
        let mut span = llm_span();
        span.attributes = vec![KeyValue::new("gen_ai.usage.input_tokens", "12")];
        let doc = span_document(
            &span,
            &DocumentContext {
                origin: "o",
                index: 0,
                id: "x",
                namespace: "default",
            },
        );
        // Parsed from a string for the typed field, but the string itself is kept.
        assert_eq!(doc["gen_ai"]["usage"]["input_tokens"], 12);
        assert_eq!(doc["attributes"]["gen_ai.usage.input_tokens"], "12");
    }

    #[test]
    fn document_ids_are_stable_and_distinct_per_origin() {
        assert_eq!(document_id("a", 1), document_id("a", 1));
        assert_ne!(document_id("a", 1), document_id("b", 1));
        assert_ne!(document_id("a", 1), document_id("a", 2));
        assert_eq!(DocumentIds::new("a").id(9), document_id("a", 9));
        assert_eq!(
            data_stream_name("prod"),
            "traces-cairn.agent-prod".to_owned()
        );
    }

    #[test]
    fn the_subject_key_is_a_typed_field_not_an_attribute() {
        let mut span = llm_span();
        span.attributes.push(KeyValue::new(
            "cairn.subject_key",
            "00112233445566778899aabbccddeeff",
        ));
        let id = document_id("cairn/test", 1);
        let doc = span_document(
            &span,
            &DocumentContext {
                origin: "cairn/test",
                index: 1,
                id: &id,
                namespace: "default",
            },
        );
        assert_eq!(
            doc["cairn"]["subject_key"],
            "00112233445566778899aabbccddeeff"
        );
        assert!(doc["attributes"].get("cairn.subject_key").is_none());
    }
}
