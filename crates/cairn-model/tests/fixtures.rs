//! The OTLP example files and their independently produced protobuf encodings.

use cairn_model::otlp::{self, Format, Limits};
use cairn_model::{AgentKind, AnyValue, KeyValue, SpanId, SpanKind, StatusCode, TraceId};
use prost::Message as _;
use serde_json::json;

use crate::support::fixture;

fn traces(name: &str, format: Format) -> otlp::DecodedSpans {
    otlp::decode_traces(&fixture(name), format, &Limits::default()).expect("fixture decodes")
}

fn logs(name: &str, format: Format) -> otlp::DecodedLogs {
    otlp::decode_logs(&fixture(name), format, &Limits::default()).expect("fixture decodes")
}

#[test]
fn trace_json_decodes_every_field() {
    let decoded = traces("trace.json", Format::Json);
    assert!(decoded.rejected.is_empty());
    let [span] = decoded.spans.as_slice() else {
        panic!("expected one span, got {}", decoded.spans.len());
    };
    assert_eq!(
        span.trace_id,
        TraceId::from_hex("5b8efff798038103d269b633813fc60c").expect("hex")
    );
    assert_eq!(span.span_id.to_hex(), "eee19b7ec3c1b174");
    assert_eq!(span.parent_span_id, SpanId::from_hex("eee19b7ec3c1b173"));
    assert_eq!(span.name, "I'm a server span");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.agent_kind, AgentKind::Other);
    assert_eq!(span.start_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.duration_ns(), 1_000_000_000);
    assert_eq!(span.status.code, StatusCode::Unset);
    assert_eq!(
        span.attributes,
        [KeyValue::new("my.span.attr", "some value")]
    );
    assert_eq!(
        span.resource.attributes,
        [KeyValue::new("service.name", "my.service")]
    );
    assert_eq!(span.scope.name, "my.library");
    assert_eq!(span.scope.version, "1.0.0");
    assert_eq!(
        span.scope.attributes,
        [KeyValue::new("my.scope.attribute", "some scope attribute")]
    );
}

#[test]
fn logs_json_decodes_every_value_type() {
    let decoded = logs("logs.json", Format::Json);
    assert!(decoded.rejected.is_empty());
    let [log] = decoded.logs.as_slice() else {
        panic!("expected one record, got {}", decoded.logs.len());
    };
    assert_eq!(log.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(log.severity_number, 10);
    assert_eq!(log.severity_text, "Information");
    assert_eq!(log.body, AnyValue::from("Example log record"));
    assert_eq!(
        log.trace_id.map(|t| t.to_hex()).as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(
        log.span_id.map(|s| s.to_hex()).as_deref(),
        Some("eee19b7ec3c1b174")
    );
    assert_eq!(
        log.attributes,
        [
            KeyValue::new("string.attribute", "some string"),
            KeyValue::new("boolean.attribute", true),
            KeyValue::new("int.attribute", 10_i64),
            KeyValue::new("double.attribute", 637.704),
            KeyValue::new(
                "array.attribute",
                vec![AnyValue::from("many"), AnyValue::from("values")]
            ),
            KeyValue::new(
                "map.attribute",
                vec![KeyValue::new("some.map.key", "some value")]
            ),
        ]
    );
}

#[test]
fn events_json_decodes_event_name_and_structured_body() {
    let decoded = logs("events.json", Format::Json);
    let [event] = decoded.logs.as_slice() else {
        panic!("expected one record, got {}", decoded.logs.len());
    };
    assert_eq!(event.event_name, "browser.page_view");
    assert_eq!(event.trace_id, None);
    assert_eq!(
        event.body.to_json(),
        json!({
            "type": 0,
            "url": "https://www.guidgenerator.com/online-guid-generator.aspx",
            "referrer": "https://wwww.google.com",
            "title": "Free Online GUID Generator"
        })
    );
}

#[test]
fn protobuf_fixtures_decode_to_the_same_records_as_json() {
    for name in ["trace", "genai_agent"] {
        let from_json = traces(&format!("{name}.json"), Format::Json);
        let from_pb = traces(&format!("{name}.binpb"), Format::Protobuf);
        assert!(!from_json.spans.is_empty(), "{name}");
        assert_eq!(from_json, from_pb, "{name}");
    }
    for name in ["logs", "events"] {
        let from_json = logs(&format!("{name}.json"), Format::Json);
        let from_pb = logs(&format!("{name}.binpb"), Format::Protobuf);
        assert!(!from_json.logs.is_empty(), "{name}");
        assert_eq!(from_json, from_pb, "{name}");
    }
}

#[test]
fn re_encoding_reproduces_the_independent_protobuf_bytes() {
    // The .binpb files come from the Python protobuf runtime; re-encoding our decoded model must
    // give byte-identical requests, which shows the conversion drops and invents nothing.
    for name in ["trace", "genai_agent"] {
        let decoded = traces(&format!("{name}.json"), Format::Json);
        let bytes = otlp::spans_to_request(&decoded.spans).encode_to_vec();
        assert_eq!(bytes, fixture(&format!("{name}.binpb")), "{name}");
    }
    for name in ["logs", "events"] {
        let decoded = logs(&format!("{name}.json"), Format::Json);
        let bytes = otlp::logs_to_request(&decoded.logs).encode_to_vec();
        assert_eq!(bytes, fixture(&format!("{name}.binpb")), "{name}");
    }
}

#[test]
fn genai_agent_run_normalizes_kinds_and_typed_values() {
    let decoded = traces("genai_agent.json", Format::Json);
    assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
    let kinds: Vec<AgentKind> = decoded.spans.iter().map(|s| s.agent_kind).collect();
    assert_eq!(
        kinds,
        [
            AgentKind::Agent,
            AgentKind::Llm,
            AgentKind::Tool,
            AgentKind::Decision,
            AgentKind::Llm
        ]
    );
    let [agent, chat, tool, decision, chat2] = decoded.spans.as_slice() else {
        panic!("five spans");
    };
    assert_eq!(agent.parent_span_id, None);
    for child in [chat, tool, decision, chat2] {
        assert_eq!(child.parent_span_id, Some(agent.span_id));
    }
    assert_eq!(agent.agent_name().as_deref(), Some("travel_planner"));
    assert_eq!(agent.conversation_id().as_deref(), Some("conv-42"));
    assert_eq!(agent.user_id().as_deref(), Some("user-7"));

    let model = chat.model().expect("model info");
    assert_eq!(model.provider.as_deref(), Some("openai"));
    assert_eq!(model.response_model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(
        (chat.usage().input, chat.usage().output),
        (Some(812), Some(64))
    );
    assert_eq!(
        chat.reasoning().as_deref(),
        Some("The user wants weather for Lisbon before booking.")
    );
    // The second call uses the deprecated names.
    assert_eq!(
        chat2.model().and_then(|m| m.provider).as_deref(),
        Some("openai")
    );
    assert_eq!(
        (chat2.usage().input, chat2.usage().output),
        (Some(950), Some(120))
    );
    assert_eq!(
        chat2.attribute("cairn.request.digest"),
        Some(&AnyValue::Bytes(vec![0xde, 0xad, 0xbe, 0xef]))
    );

    let call = tool.tool().expect("tool call");
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.call_id.as_deref(), Some("call_9"));
    assert_eq!(call.arguments, Some(json!({"city": "Lisbon"})));
    assert!(tool.is_error());
    let error = tool.error().expect("error info");
    assert_eq!(error.error_type.as_deref(), Some("TimeoutError"));
    assert_eq!(
        error.message.as_deref(),
        Some("weather service did not answer within 1s")
    );
    assert!(error.stacktrace.is_some_and(|s| s.contains("tools.py")));

    let choice = decision.decision().expect("decision");
    assert_eq!(choice.chosen.as_deref(), Some("answer_without_weather"));
    assert_eq!(choice.options, ["retry", "answer_without_weather"]);
    assert_eq!(choice.confidence, Some(0.82));
    assert_eq!(decision.links.len(), 1);
    assert_eq!(decision.links[0].span_id, tool.span_id);
    assert!(!agent.is_error() && !decision.is_error());
}

#[test]
fn span_json_view_has_the_api_shape() {
    let decoded = traces("genai_agent.json", Format::Json);
    let view = decoded.spans[2].to_json();
    assert_eq!(view["span_id"], "a1b2c3d4e5f60718");
    assert_eq!(view["parent_span_id"], "b7ad6b7169203331");
    assert_eq!(view["kind"], "tool");
    assert_eq!(
        view["status"],
        json!({"code": "error", "message": "upstream timeout"})
    );
    assert_eq!(view["attributes"]["gen_ai.tool.name"], "get_weather");
    assert_eq!(view["events"][0]["name"], "exception");
    assert_eq!(view["duration_ns"], 1_000_000_000_u64);
}
