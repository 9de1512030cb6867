//! Invalid UTF-8 in OTLP/protobuf string fields rejects only the records holding it; the other
//! records of the body take the fallback decoder and must come out exactly as the strict decoder
//! gives them.

use cairn_model::otlp::{self, DecodedLogs, DecodedSpans, Format, Limits, OtlpError};
use cairn_model::{LogRecord, Span};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as ProtoLog, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as ProtoSpan, Status};
use prost::Message as _;

use crate::support::fixture;

/// Marks the string to corrupt: `corrupt` replaces its first byte with 0xff.
const BAD: &str = "\u{1}BAD";

/// The encoding of `message` with every occurrence of [`BAD`] made invalid UTF-8 (`\xffBAD`).
pub(crate) fn corrupt(mut bytes: Vec<u8>) -> Vec<u8> {
    let mut found = false;
    for at in 0..bytes.len().saturating_sub(3) {
        if &bytes[at..at + 4] == BAD.as_bytes() {
            bytes[at] = 0xff;
            found = true;
        }
    }
    assert!(found, "marker not in the encoding");
    bytes
}

fn str_value(s: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.to_owned())),
    }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        key_strindex: 0,
    }
}

fn proto_span(n: u8) -> ProtoSpan {
    ProtoSpan {
        trace_id: vec![1; 16],
        span_id: vec![n; 8],
        name: format!("span {n}"),
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        ..ProtoSpan::default()
    }
}

fn scope_spans(scope: Option<InstrumentationScope>, spans: Vec<ProtoSpan>) -> ScopeSpans {
    ScopeSpans {
        scope,
        spans,
        schema_url: String::new(),
    }
}

fn resource_spans(resource: Option<Resource>, scopes: Vec<ScopeSpans>) -> ResourceSpans {
    ResourceSpans {
        resource,
        scope_spans: scopes,
        schema_url: String::new(),
    }
}

fn traces(body: &[u8]) -> DecodedSpans {
    otlp::decode_traces(body, Format::Protobuf, &Limits::default()).expect("body decodes")
}

fn logs(body: &[u8]) -> DecodedLogs {
    otlp::decode_logs(body, Format::Protobuf, &Limits::default()).expect("body decodes")
}

/// One request with a good span, then `bad`, then another good span.
fn between_good_spans(bad: ProtoSpan) -> Vec<u8> {
    corrupt(
        ExportTraceServiceRequest {
            resource_spans: vec![resource_spans(
                None,
                vec![scope_spans(None, vec![proto_span(1), bad, proto_span(3)])],
            )],
        }
        .encode_to_vec(),
    )
}

#[test]
fn each_string_field_of_a_span_rejects_that_span_naming_the_field() {
    let nested = AnyValue {
        value: Some(Value::ArrayValue(ArrayValue {
            values: vec![
                str_value("fine"),
                AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: vec![kv("inner", str_value(BAD))],
                    })),
                },
            ],
        })),
    };
    let event = |name: &str, attributes| Event {
        time_unix_nano: 15,
        name: name.to_owned(),
        attributes,
        dropped_attributes_count: 0,
    };
    let link = |trace_state: &str, attributes| Link {
        trace_id: vec![7; 16],
        span_id: vec![8; 8],
        trace_state: trace_state.to_owned(),
        attributes,
        ..Link::default()
    };
    let base = || proto_span(2);
    let cases: Vec<(ProtoSpan, &str)> = vec![
        (
            ProtoSpan {
                name: BAD.to_owned(),
                ..base()
            },
            "name",
        ),
        (
            ProtoSpan {
                trace_state: BAD.to_owned(),
                ..base()
            },
            "trace_state",
        ),
        (
            ProtoSpan {
                status: Some(Status {
                    message: BAD.to_owned(),
                    code: 2,
                }),
                ..base()
            },
            "status.message",
        ),
        (
            ProtoSpan {
                attributes: vec![kv("ok", str_value("fine")), kv("x", str_value(BAD))],
                ..base()
            },
            r#"attributes["x"].string_value"#,
        ),
        (
            ProtoSpan {
                attributes: vec![kv(BAD, str_value("fine"))],
                ..base()
            },
            "attributes[0].key",
        ),
        (
            ProtoSpan {
                attributes: vec![kv("deep", nested)],
                ..base()
            },
            r#"attributes["deep"].array_value[1].kvlist_value["inner"].string_value"#,
        ),
        (
            ProtoSpan {
                events: vec![event("ok", vec![]), event(BAD, vec![])],
                ..base()
            },
            "events[1].name",
        ),
        (
            ProtoSpan {
                events: vec![event("ok", vec![kv("e", str_value(BAD))])],
                ..base()
            },
            r#"events[0].attributes["e"].string_value"#,
        ),
        (
            ProtoSpan {
                links: vec![link(BAD, vec![])],
                ..base()
            },
            "links[0].trace_state",
        ),
        (
            ProtoSpan {
                links: vec![link("", vec![kv(BAD, str_value("v"))])],
                ..base()
            },
            "links[0].attributes[0].key",
        ),
    ];
    for (bad, field) in cases {
        let body = between_good_spans(bad);
        // The strict decoder refuses the whole body; this is what the fallback is for.
        assert!(ExportTraceServiceRequest::decode(body.as_slice()).is_err());
        let decoded = traces(&body);
        let names: Vec<&str> = decoded.spans.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["span 1", "span 3"], "{field}");
        let [rejection] = decoded.rejected.as_slice() else {
            panic!("{field}: {:?}", decoded.rejected);
        };
        assert_eq!(rejection.field, field);
        assert_eq!(
            rejection.message,
            format!(
                "span resource_spans[0].scope_spans[0].spans[1]: {field} is not valid UTF-8 \
                 (first bad byte at offset 0)"
            )
        );
    }
}

#[test]
fn the_offset_of_the_first_bad_byte_is_reported() {
    let body = between_good_spans(ProtoSpan {
        name: format!("héllo{BAD}"),
        ..proto_span(2)
    });
    let decoded = traces(&body);
    assert_eq!(decoded.spans.len(), 2);
    assert!(
        decoded.rejected[0]
            .message
            .ends_with("name is not valid UTF-8 (first bad byte at offset 6)"),
        "{:?}",
        decoded.rejected
    );
}

#[test]
fn a_bad_resource_or_scope_string_rejects_every_span_under_it() {
    let bad_resource = Resource {
        attributes: vec![kv("service.name", str_value(BAD))],
        ..Resource::default()
    };
    let bad_scope = InstrumentationScope {
        name: BAD.to_owned(),
        ..InstrumentationScope::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans(
                Some(bad_resource),
                vec![scope_spans(None, vec![proto_span(1), proto_span(2)])],
            ),
            resource_spans(
                None,
                vec![
                    scope_spans(Some(bad_scope), vec![proto_span(3)]),
                    scope_spans(None, vec![proto_span(4)]),
                ],
            ),
        ],
    };
    let decoded = traces(&corrupt(request.encode_to_vec()));
    let names: Vec<&str> = decoded.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["span 4"]);
    let fields: Vec<&str> = decoded.rejected.iter().map(|r| r.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            r#"resource.attributes["service.name"].string_value"#,
            r#"resource.attributes["service.name"].string_value"#,
            "scope.name",
        ]
    );
    // The span itself decoded, so its ids are named too.
    assert_eq!(
        decoded.rejected[1].message,
        "span resource_spans[0].scope_spans[0].spans[1] (trace_id 01010101010101010101010101010101, \
         span_id 0202020202020202): resource.attributes[\"service.name\"].string_value is not \
         valid UTF-8 (first bad byte at offset 0)"
    );

    // Every other string of a resource and scope is checked too.
    let entity = EntityRef {
        id_keys: vec!["ok".to_owned(), BAD.to_owned()],
        ..EntityRef::default()
    };
    let cases = [
        (
            resource_spans(
                Some(Resource {
                    entity_refs: vec![entity],
                    ..Resource::default()
                }),
                vec![scope_spans(None, vec![proto_span(1)])],
            ),
            "resource.entity_refs[0].id_keys[1]",
        ),
        (
            ResourceSpans {
                schema_url: BAD.to_owned(),
                ..resource_spans(None, vec![scope_spans(None, vec![proto_span(1)])])
            },
            "resource.schema_url",
        ),
        (
            resource_spans(
                None,
                vec![ScopeSpans {
                    schema_url: BAD.to_owned(),
                    ..scope_spans(None, vec![proto_span(1)])
                }],
            ),
            "scope.schema_url",
        ),
        (
            resource_spans(
                None,
                vec![scope_spans(
                    Some(InstrumentationScope {
                        version: BAD.to_owned(),
                        attributes: vec![],
                        ..InstrumentationScope::default()
                    }),
                    vec![proto_span(1)],
                )],
            ),
            "scope.version",
        ),
    ];
    for (group, field) in cases {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![group],
        };
        let decoded = traces(&corrupt(request.encode_to_vec()));
        assert!(decoded.spans.is_empty(), "{field}");
        let fields: Vec<&str> = decoded.rejected.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, [field]);
    }
}

#[test]
fn log_records_are_rejected_one_by_one() {
    let good = |n: u8| ProtoLog {
        time_unix_nano: 5,
        severity_text: format!("INFO {n}"),
        body: Some(str_value("hello")),
        ..ProtoLog::default()
    };
    let cases: Vec<(ProtoLog, &str)> = vec![
        (
            ProtoLog {
                body: Some(str_value(BAD)),
                ..good(2)
            },
            "body.string_value",
        ),
        (
            ProtoLog {
                severity_text: BAD.to_owned(),
                ..good(2)
            },
            "severity_text",
        ),
        (
            ProtoLog {
                event_name: BAD.to_owned(),
                ..good(2)
            },
            "event_name",
        ),
        (
            ProtoLog {
                attributes: vec![kv("a", str_value(BAD))],
                ..good(2)
            },
            r#"attributes["a"].string_value"#,
        ),
    ];
    for (bad, field) in cases {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![good(1), bad, good(3)],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        };
        let decoded = logs(&corrupt(request.encode_to_vec()));
        let texts: Vec<&str> = decoded
            .logs
            .iter()
            .map(|l| l.severity_text.as_str())
            .collect();
        assert_eq!(texts, ["INFO 1", "INFO 3"], "{field}");
        let [rejection] = decoded.rejected.as_slice() else {
            panic!("{field}: {:?}", decoded.rejected);
        };
        assert_eq!(rejection.field, field);
        assert!(
            rejection.message.starts_with(&format!(
                "log record resource_logs[0].scope_logs[0].log_records[1]: {field} is not valid UTF-8"
            )),
            "{}",
            rejection.message
        );
    }
}

#[test]
fn other_malformations_still_fail_the_whole_body() {
    let body = between_good_spans(ProtoSpan {
        name: BAD.to_owned(),
        ..proto_span(2)
    });
    // Truncated as well as holding invalid UTF-8: the fallback must not hide the truncation.
    for cut in [1, 3, 10] {
        let result = otlp::decode_traces(
            &body[..body.len() - cut],
            Format::Protobuf,
            &Limits::default(),
        );
        assert!(
            matches!(result, Err(OtlpError::Protobuf(_))),
            "cut {cut}: {result:?}"
        );
    }
    // Invalid UTF-8 plus a wrong wire type (`Span.kind` length-delimited): not only UTF-8.
    let mut span = corrupt(
        ProtoSpan {
            name: BAD.to_owned(),
            ..proto_span(2)
        }
        .encode_to_vec(),
    );
    span.extend_from_slice(&[6 << 3 | 2, 0]);
    let body = field(1, &field(2, &field(2, &span)));
    let result = otlp::decode_traces(&body, Format::Protobuf, &Limits::default());
    assert!(matches!(result, Err(OtlpError::Protobuf(_))), "{result:?}");
    // The same body without the wrong field is accepted, with the span rejected.
    span.truncate(span.len() - 2);
    let decoded = traces(&field(1, &field(2, &field(2, &span))));
    assert_eq!(decoded.rejected.len(), 1);
}

/// A length-delimited protobuf field.
fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    prost::encoding::encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

#[test]
fn json_that_is_not_utf8_stays_a_whole_body_error() {
    // RFC 8259 §8.1: JSON text exchanged between systems must be UTF-8; such a body is not JSON.
    let mut body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"#.to_vec();
    body.extend_from_slice(b"\"\xff\"}]}]}]}");
    let result = otlp::decode_traces(&body, Format::Json, &Limits::default());
    assert!(matches!(result, Err(OtlpError::Json(_))), "{result:?}");
    // A lone surrogate escape is the only way to spell invalid UTF-8 in valid JSON text.
    let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\ud800"}]}]}]}"#;
    let result = otlp::decode_traces(body, Format::Json, &Limits::default());
    assert!(matches!(result, Err(OtlpError::Json(_))), "{result:?}");
}

/// Asserts two spans equal field by field (the destructuring fails to compile when `Span` gains a
/// field, so none is forgotten).
pub(crate) fn assert_same_span(lenient: &Span, strict: &Span, what: &str) {
    let Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        flags,
        name,
        span_kind,
        agent_kind,
        start_unix_nano,
        end_unix_nano,
        status,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        resource,
        scope,
    } = lenient;
    assert_eq!(trace_id, &strict.trace_id, "{what}: trace_id");
    assert_eq!(span_id, &strict.span_id, "{what}: span_id");
    assert_eq!(
        parent_span_id, &strict.parent_span_id,
        "{what}: parent_span_id"
    );
    assert_eq!(trace_state, &strict.trace_state, "{what}: trace_state");
    assert_eq!(flags, &strict.flags, "{what}: flags");
    assert_eq!(name, &strict.name, "{what}: name");
    assert_eq!(span_kind, &strict.span_kind, "{what}: span_kind");
    assert_eq!(agent_kind, &strict.agent_kind, "{what}: agent_kind");
    assert_eq!(start_unix_nano, &strict.start_unix_nano, "{what}: start");
    assert_eq!(end_unix_nano, &strict.end_unix_nano, "{what}: end");
    assert_eq!(status, &strict.status, "{what}: status");
    assert_eq!(attributes, &strict.attributes, "{what}: attributes");
    assert_eq!(
        dropped_attributes_count, &strict.dropped_attributes_count,
        "{what}: dropped_attributes_count"
    );
    assert_eq!(events, &strict.events, "{what}: events");
    assert_eq!(
        dropped_events_count, &strict.dropped_events_count,
        "{what}: dropped_events_count"
    );
    assert_eq!(links, &strict.links, "{what}: links");
    assert_eq!(
        dropped_links_count, &strict.dropped_links_count,
        "{what}: dropped_links_count"
    );
    assert_eq!(resource, &strict.resource, "{what}: resource");
    assert_eq!(scope, &strict.scope, "{what}: scope");
}

fn assert_same_log(lenient: &LogRecord, strict: &LogRecord, what: &str) {
    let LogRecord {
        time_unix_nano,
        observed_time_unix_nano,
        severity_number,
        severity_text,
        event_name,
        body,
        attributes,
        dropped_attributes_count,
        flags,
        trace_id,
        span_id,
        resource,
        scope,
    } = lenient;
    assert_eq!(time_unix_nano, &strict.time_unix_nano, "{what}: time");
    assert_eq!(
        observed_time_unix_nano, &strict.observed_time_unix_nano,
        "{what}: observed_time"
    );
    assert_eq!(
        severity_number, &strict.severity_number,
        "{what}: severity_number"
    );
    assert_eq!(
        severity_text, &strict.severity_text,
        "{what}: severity_text"
    );
    assert_eq!(event_name, &strict.event_name, "{what}: event_name");
    assert_eq!(body, &strict.body, "{what}: body");
    assert_eq!(attributes, &strict.attributes, "{what}: attributes");
    assert_eq!(
        dropped_attributes_count, &strict.dropped_attributes_count,
        "{what}: dropped_attributes_count"
    );
    assert_eq!(flags, &strict.flags, "{what}: flags");
    assert_eq!(trace_id, &strict.trace_id, "{what}: trace_id");
    assert_eq!(span_id, &strict.span_id, "{what}: span_id");
    assert_eq!(resource, &strict.resource, "{what}: resource");
    assert_eq!(scope, &strict.scope, "{what}: scope");
}

/// A traces request of one resource with one bad span, as bytes to append to another request
/// (concatenated protobuf messages merge; repeated fields append).
pub(crate) fn bad_resource_spans() -> Vec<u8> {
    corrupt(
        ExportTraceServiceRequest {
            resource_spans: vec![resource_spans(
                None,
                vec![scope_spans(
                    None,
                    vec![ProtoSpan {
                        name: BAD.to_owned(),
                        ..proto_span(9)
                    }],
                )],
            )],
        }
        .encode_to_vec(),
    )
}

/// A logs request of one resource with one bad record (see [`bad_resource_spans`]).
pub(crate) fn bad_resource_logs() -> Vec<u8> {
    corrupt(
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![ProtoLog {
                        severity_text: BAD.to_owned(),
                        ..ProtoLog::default()
                    }],
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        }
        .encode_to_vec(),
    )
}

#[test]
fn the_fallback_decodes_the_fixtures_exactly_as_the_strict_decoder() {
    for name in ["trace", "genai_agent"] {
        let good = fixture(&format!("{name}.binpb"));
        let strict = traces(&good);
        assert!(
            !strict.spans.is_empty() && strict.rejected.is_empty(),
            "{name}"
        );
        // The bad resource before and after the fixture's: the fixture's spans take the fallback.
        for body in [
            [good.as_slice(), &bad_resource_spans()].concat(),
            [bad_resource_spans().as_slice(), &good].concat(),
        ] {
            assert!(ExportTraceServiceRequest::decode(body.as_slice()).is_err());
            let lenient = traces(&body);
            assert_eq!(lenient.rejected.len(), 1, "{name}");
            assert_eq!(lenient.rejected[0].field, "name");
            assert_eq!(lenient.spans.len(), strict.spans.len(), "{name}");
            for (i, (l, s)) in lenient.spans.iter().zip(&strict.spans).enumerate() {
                assert_same_span(l, s, &format!("{name} span {i}"));
            }
        }
    }
    let bad_logs = bad_resource_logs();
    for name in ["logs", "events"] {
        let good = fixture(&format!("{name}.binpb"));
        let strict = logs(&good);
        assert!(
            !strict.logs.is_empty() && strict.rejected.is_empty(),
            "{name}"
        );
        let lenient = logs(&[good.as_slice(), &bad_logs].concat());
        assert_eq!(lenient.rejected.len(), 1, "{name}");
        assert_eq!(lenient.logs.len(), strict.logs.len(), "{name}");
        for (i, (l, s)) in lenient.logs.iter().zip(&strict.logs).enumerate() {
            assert_same_log(l, s, &format!("{name} record {i}"));
        }
    }
}
