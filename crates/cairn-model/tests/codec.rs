//! The canonical encoding: layout, round-trip and determinism (property tests), error cases.

use cairn_model::codec::{self, CodecError};
use cairn_model::otlp::{self, Format, Limits};
use cairn_model::{
    AnyValue, EntityRef, Event, InstrumentationScope, KeyValue, Link, LogRecord, Record, Resource,
    Span, SpanId, SpanKind, Status, StatusCode, TraceId,
};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use proptest::prelude::*;
use prost::Message as _;

use crate::support::fixture;

/// Doubles without NaN, so that `PartialEq` can compare round-tripped values.
fn comparable_double() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN is never equal to itself", |d| !d.is_nan())
}

/// Every bit pattern, NaN payloads and negative zero included.
pub(crate) fn any_bits_double() -> impl Strategy<Value = f64> {
    any::<u64>().prop_map(f64::from_bits)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("gen_ai.operation.name".to_owned()),
        Just("openinference.span.kind".to_owned()),
        Just("cairn.kind".to_owned()),
        Just("gen_ai.tool.name".to_owned()),
        ".{0,12}",
    ]
}

fn any_value(double: BoxedStrategy<f64>) -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        Just(AnyValue::Empty),
        prop_oneof![
            Just("chat".to_owned()),
            Just("execute_tool".to_owned()),
            Just("TOOL".to_owned()),
            ".{0,16}"
        ]
        .prop_map(AnyValue::String),
        any::<bool>().prop_map(AnyValue::Bool),
        any::<i64>().prop_map(AnyValue::Int),
        double.prop_map(AnyValue::Double),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(AnyValue::Bytes),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(AnyValue::Array),
            proptest::collection::vec((key(), inner), 0..4).prop_map(|kvs| {
                AnyValue::KvList(
                    kvs.into_iter()
                        .map(|(key, value)| KeyValue {
                            key: key.into(),
                            value,
                        })
                        .collect(),
                )
            }),
        ]
    })
}

fn attributes(double: BoxedStrategy<f64>) -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        (key(), any_value(double)).prop_map(|(key, value)| KeyValue {
            key: key.into(),
            value,
        }),
        0..5,
    )
}

fn resource(double: BoxedStrategy<f64>) -> impl Strategy<Value = Resource> {
    (
        attributes(double),
        any::<u32>(),
        ".{0,8}",
        proptest::collection::vec(
            (
                ".{0,4}",
                ".{0,4}",
                proptest::collection::vec(".{0,4}", 0..2),
            )
                .prop_map(|(schema_url, entity_type, id_keys)| EntityRef {
                    schema_url,
                    entity_type,
                    id_keys,
                    description_keys: vec!["d".to_owned()],
                }),
            0..2,
        ),
    )
        .prop_map(
            |(attributes, dropped_attributes_count, schema_url, entity_refs)| Resource {
                attributes,
                dropped_attributes_count,
                schema_url,
                entity_refs,
            },
        )
}

fn scope(double: BoxedStrategy<f64>) -> impl Strategy<Value = InstrumentationScope> {
    (
        ".{0,8}",
        ".{0,4}",
        attributes(double),
        any::<u32>(),
        ".{0,4}",
    )
        .prop_map(
            |(name, version, attributes, dropped_attributes_count, schema_url)| {
                InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count,
                    schema_url,
                }
            },
        )
}

fn span(double: BoxedStrategy<f64>) -> impl Strategy<Value = Span> {
    let ids = (
        any::<[u8; 16]>(),
        any::<[u8; 8]>(),
        proptest::option::of(any::<[u8; 8]>()),
        ".{0,8}",
        any::<u32>(),
    );
    let body = (
        prop_oneof![Just("chat gpt-4o".to_owned()), ".{0,16}"],
        0..=5_i32,
        any::<u64>(),
        any::<u64>(),
        (0..=2_i32, ".{0,8}"),
        attributes(double.clone()),
        any::<u32>(),
    );
    let children = (
        proptest::collection::vec(
            (
                any::<u64>(),
                ".{0,8}",
                attributes(double.clone()),
                any::<u32>(),
            ),
            0..3,
        ),
        any::<u32>(),
        proptest::collection::vec(
            (
                any::<[u8; 16]>(),
                any::<[u8; 8]>(),
                ".{0,4}",
                attributes(double.clone()),
                any::<u32>(),
                any::<u32>(),
            ),
            0..3,
        ),
        any::<u32>(),
        resource(double.clone()),
        scope(double),
    );
    (ids, body, children).prop_map(
        |(
            (trace_id, span_id, parent, trace_state, flags),
            (name, kind, start, end, (code, message), attributes, dropped_attributes_count),
            (events, dropped_events_count, links, dropped_links_count, resource, scope),
        )| {
            let mut span = Span {
                trace_id: TraceId(trace_id),
                span_id: SpanId(span_id),
                parent_span_id: parent.map(SpanId),
                trace_state,
                flags,
                name,
                span_kind: SpanKind::from_i32(kind).unwrap_or_default(),
                agent_kind: cairn_model::AgentKind::Other,
                start_unix_nano: start,
                end_unix_nano: end,
                status: Status {
                    code: StatusCode::from_i32(code).unwrap_or_default(),
                    message,
                },
                attributes,
                dropped_attributes_count,
                events: events
                    .into_iter()
                    .map(
                        |(time_unix_nano, name, attributes, dropped_attributes_count)| Event {
                            time_unix_nano,
                            name,
                            attributes,
                            dropped_attributes_count,
                        },
                    )
                    .collect(),
                dropped_events_count,
                links: links
                    .into_iter()
                    .map(
                        |(t, s, trace_state, attributes, dropped_attributes_count, flags)| Link {
                            trace_id: TraceId(t),
                            span_id: SpanId(s),
                            trace_state,
                            attributes,
                            dropped_attributes_count,
                            flags,
                        },
                    )
                    .collect(),
                dropped_links_count,
                resource,
                scope,
            };
            span.refresh_agent_kind();
            span
        },
    )
}

fn log(double: BoxedStrategy<f64>) -> impl Strategy<Value = LogRecord> {
    (
        (any::<u64>(), any::<u64>(), any::<i32>(), ".{0,8}", ".{0,8}"),
        (
            any_value(double.clone()),
            attributes(double.clone()),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            proptest::option::of(any::<[u8; 16]>()),
            proptest::option::of(any::<[u8; 8]>()),
        ),
        (resource(double.clone()), scope(double)),
    )
        .prop_map(
            |(
                (
                    time_unix_nano,
                    observed_time_unix_nano,
                    severity_number,
                    severity_text,
                    event_name,
                ),
                (body, attributes, dropped_attributes_count, flags),
                (trace_id, span_id),
                (resource, scope),
            )| LogRecord {
                time_unix_nano,
                observed_time_unix_nano,
                severity_number,
                severity_text,
                event_name,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id: trace_id.map(TraceId),
                span_id: span_id.map(SpanId),
                resource,
                scope,
            },
        )
}

pub(crate) fn record(double: BoxedStrategy<f64>) -> impl Strategy<Value = Record> {
    prop_oneof![
        span(double.clone()).prop_map(Record::Span),
        log(double).prop_map(Record::Log),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trip_gives_back_the_record(record in record(comparable_double().boxed())) {
        let bytes = codec::encode(&record);
        prop_assert_eq!(bytes[0], codec::FORMAT_VERSION);
        let decoded = codec::decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(decoded, record);
    }

    #[test]
    fn encoding_is_deterministic_and_bit_exact(record in record(any_bits_double().boxed())) {
        let bytes = codec::encode(&record);
        prop_assert_eq!(&codec::encode(&record.clone()), &bytes);
        let decoded = codec::decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(codec::encode(&decoded), bytes);
    }

    #[test]
    fn otlp_re_encoding_is_lossless(spans in proptest::collection::vec(span(comparable_double().boxed()), 0..4)) {
        // Only spans that pass validation: real ids, end after start, bounded values.
        let spans: Vec<Span> = spans
            .into_iter()
            .filter(|s| s.trace_id.is_valid() && s.span_id.is_valid() && s.end_unix_nano >= s.start_unix_nano)
            .filter(|s| s.parent_span_id.is_none_or(|p| p.is_valid()))
            .filter(|s| s.links.iter().all(|l| l.trace_id.is_valid() && l.span_id.is_valid()))
            .collect();
        let bytes = otlp::spans_to_request(&spans).encode_to_vec();
        let decoded = otlp::decode_traces(&bytes, Format::Protobuf, &Limits::default())
            .expect("re-encoded request decodes");
        prop_assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
        prop_assert_eq!(decoded.spans, spans);
    }

    #[test]
    fn the_invalid_utf8_fallback_decodes_like_the_strict_decoder(
        spans in proptest::collection::vec(span(comparable_double().boxed()), 0..4),
        logs in proptest::collection::vec(log(comparable_double().boxed()), 0..4),
    ) {
        // Every span and record, valid or not, must come out of the fallback decoder (taken
        // because of the one bad span or record appended) exactly as out of the strict one.
        let good = otlp::spans_to_request(&spans).encode_to_vec();
        let strict = otlp::decode_traces(&good, Format::Protobuf, &Limits::default())
            .expect("re-encoded request decodes");
        let body = [good.as_slice(), &crate::utf8::bad_resource_spans()].concat();
        let mut lenient = otlp::decode_traces(&body, Format::Protobuf, &Limits::default())
            .expect("the fallback decodes");
        let bad = lenient.rejected.pop().expect("the bad span is rejected");
        prop_assert_eq!(bad.field, "name");
        prop_assert_eq!(lenient, strict);

        let good = otlp::logs_to_request(&logs).encode_to_vec();
        let strict = otlp::decode_logs(&good, Format::Protobuf, &Limits::default())
            .expect("re-encoded request decodes");
        let body = [good.as_slice(), &crate::utf8::bad_resource_logs()].concat();
        let mut lenient = otlp::decode_logs(&body, Format::Protobuf, &Limits::default())
            .expect("the fallback decodes");
        let bad = lenient.rejected.pop().expect("the bad record is rejected");
        prop_assert_eq!(bad.field, "severity_text");
        prop_assert_eq!(lenient, strict);
    }
}

/// The canonical encoding as it was first written: prost's derived encoding of the OTLP message
/// built by cloning the record (`otlp::spans_to_request` / `logs_to_request` of one record build
/// exactly the `ResourceSpans` / `ResourceLogs` that encoding used). The ledger hashes these bytes,
/// so the direct encoder must reproduce them exactly.
fn clone_based_encoding(record: &Record) -> Vec<u8> {
    let (record_type, payload) = match record {
        Record::Span(span) => {
            let request = otlp::spans_to_request(std::slice::from_ref(span));
            let [message] = <[_; 1]>::try_from(request.resource_spans).expect("one resource");
            (codec::RECORD_TYPE_SPAN, message.encode_to_vec())
        }
        Record::Log(log) => {
            let request = otlp::logs_to_request(std::slice::from_ref(log));
            let [message] = <[_; 1]>::try_from(request.resource_logs).expect("one resource");
            (codec::RECORD_TYPE_LOG, message.encode_to_vec())
        }
        other => panic!("no reference encoding for {other:?}"),
    };
    [&[codec::FORMAT_VERSION, record_type][..], &payload].concat()
}

/// Sets groups of fields to their defaults (one bit each), so that the absent-message and
/// omitted-default cases (empty resource, scope, status, body, zero counts, flags and times)
/// are generated as often as the filled ones.
fn sparse(mut record: Record, mask: u16) -> Record {
    let bit = |n: u16| mask & (1 << n) != 0;
    let (resource, scope, attributes) = match &mut record {
        Record::Span(span) => {
            if bit(3) {
                span.status = Status::default();
            }
            if bit(4) {
                (span.flags, span.dropped_attributes_count) = (0, 0);
                (span.dropped_events_count, span.dropped_links_count) = (0, 0);
            }
            if bit(5) {
                (span.start_unix_nano, span.end_unix_nano) = (0, 0);
                span.span_kind = SpanKind::Unspecified;
            }
            for event in &mut span.events {
                if bit(6) {
                    (event.time_unix_nano, event.dropped_attributes_count) = (0, 0);
                }
            }
            for link in &mut span.links {
                if bit(6) {
                    (link.flags, link.dropped_attributes_count) = (0, 0);
                }
            }
            (&mut span.resource, &mut span.scope, &mut span.attributes)
        }
        Record::Log(log) => {
            if bit(3) {
                log.body = AnyValue::Empty;
            }
            if bit(4) {
                (log.flags, log.dropped_attributes_count) = (0, 0);
            }
            if bit(5) {
                (log.time_unix_nano, log.observed_time_unix_nano) = (0, 0);
                log.severity_number = 0;
            }
            (&mut log.resource, &mut log.scope, &mut log.attributes)
        }
        other => panic!("no sparse variant of {other:?}"),
    };
    if bit(0) {
        resource.attributes.clear();
        resource.dropped_attributes_count = 0;
        resource.entity_refs.clear();
    }
    if bit(1) {
        *scope = InstrumentationScope {
            schema_url: std::mem::take(&mut scope.schema_url),
            ..InstrumentationScope::default()
        };
    }
    if bit(2) {
        attributes.clear();
    }
    if bit(7) {
        resource.schema_url.clear();
        scope.schema_url.clear();
    }
    record
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn direct_encoding_equals_the_clone_based_one(
        record in record(any_bits_double().boxed()),
        mask in any::<u16>(),
    ) {
        let record = sparse(record, mask);
        prop_assert_eq!(codec::encode(&record), clone_based_encoding(&record));
    }
}

#[test]
fn direct_encoding_equals_the_clone_based_one_for_the_otlp_examples() {
    let mut records = Vec::new();
    for (name, format) in [
        ("trace.json", Format::Json),
        ("trace.binpb", Format::Protobuf),
        ("genai_agent.json", Format::Json),
        ("genai_agent.binpb", Format::Protobuf),
    ] {
        let decoded = otlp::decode_traces(&fixture(name), format, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!decoded.spans.is_empty(), "{name}");
        records.extend(decoded.spans.into_iter().map(Record::Span));
    }
    for (name, format) in [
        ("logs.json", Format::Json),
        ("logs.binpb", Format::Protobuf),
        ("events.json", Format::Json),
        ("events.binpb", Format::Protobuf),
    ] {
        let decoded = otlp::decode_logs(&fixture(name), format, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!decoded.logs.is_empty(), "{name}");
        records.extend(decoded.logs.into_iter().map(Record::Log));
    }
    for record in &records {
        assert_eq!(
            codec::encode(record),
            clone_based_encoding(record),
            "{record:?}"
        );
    }
    // Edge values the generators rarely reach: a negative severity (a 10-byte varint), empty
    // strings and defaults inside a oneof, empty array elements, an empty key-value.
    let log = LogRecord {
        severity_number: -1,
        body: AnyValue::Array(vec![
            AnyValue::Empty,
            AnyValue::String(String::new()),
            AnyValue::Bool(false),
            AnyValue::Int(0),
            AnyValue::Double(0.0),
            AnyValue::Bytes(Vec::new()),
            AnyValue::Array(Vec::new()),
            AnyValue::KvList(vec![KeyValue::new("", AnyValue::Empty)]),
        ]),
        ..LogRecord::default()
    };
    let record = Record::Log(log);
    assert_eq!(codec::encode(&record), clone_based_encoding(&record));
}

fn fixture_span() -> Span {
    let decoded = otlp::decode_traces(&fixture("trace.json"), Format::Json, &Limits::default())
        .expect("fixture decodes");
    decoded.spans.into_iter().next().expect("one span")
}

#[test]
fn layout_is_version_type_then_one_resource_spans() {
    let span = fixture_span();
    let bytes = codec::encode(&Record::Span(span.clone()));
    assert_eq!(&bytes[..2], &[1, 1]);
    assert_eq!(bytes, codec::encode_span(&span));
    let payload = ResourceSpans::decode(&bytes[2..]).expect("payload is plain OTLP");
    assert_eq!(payload.scope_spans.len(), 1);
    assert_eq!(payload.scope_spans[0].spans.len(), 1);
    assert_eq!(payload.scope_spans[0].spans[0].name, "I'm a server span");

    let log = LogRecord::default();
    assert_eq!(&codec::encode(&Record::Log(log.clone()))[..2], &[1, 2]);
    // An empty log record: ScopeLogs (field 2) holding an empty LogRecord (field 2).
    assert_eq!(codec::encode_log(&log), [1, 2, 0x12, 2, 0x12, 0]);
}

#[test]
fn golden_v1_span_bytes_never_change() {
    // Version 1 is frozen: entries already in ledgers must keep hashing to the same value. The
    // payload equals what the Python protobuf runtime writes for the fixture's `ResourceSpans`
    // (`SerializeToString(deterministic=True)`), an encoder independent of prost.
    let bytes = codec::encode(&Record::Span(fixture_span()));
    assert_eq!(hex::encode(&bytes), GOLDEN_V1_TRACE_JSON_SPAN);
}

const GOLDEN_V1_TRACE_JSON_SPAN: &str = concat!(
    "0101",
    "0a1e0a1c0a0c736572766963652e6e616d65120c0a0a6d792e73657276696365",
    "12b0010a410a0a6d792e6c6962726172791205312e302e301a2c0a126d792e73",
    "636f70652e61747472696275746512160a14736f6d652073636f706520617474",
    "726962757465126b0a105b8efff798038103d269b633813fc60c1208eee19b7e",
    "c3c1b1742208eee19b7ec3c1b1732a1149276d206120736572766572207370616e",
    "300239004859e3faeb6f15410012f41efbeb6f154a1c0a0c6d792e7370616e2e",
    "61747472120c0a0a736f6d652076616c7565",
);

#[test]
fn agent_kind_is_rederived_on_decode() {
    let mut span = fixture_span();
    span.attributes
        .push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
    span.refresh_agent_kind();
    let decoded = codec::decode(&codec::encode_span(&span)).expect("decodes");
    let Record::Span(decoded) = decoded else {
        panic!("a span");
    };
    assert_eq!(decoded.agent_kind, cairn_model::AgentKind::Tool);
    assert_eq!(decoded, span);
}

#[test]
fn decode_rejects_bad_headers_and_shapes() {
    assert!(matches!(codec::decode(&[]), Err(CodecError::Truncated(0))));
    assert!(matches!(codec::decode(&[1]), Err(CodecError::Truncated(1))));
    assert!(matches!(
        codec::decode(&[2, 1]),
        Err(CodecError::UnsupportedVersion(2))
    ));
    assert!(matches!(
        codec::decode(&[1, 9]),
        Err(CodecError::UnknownRecordType(9))
    ));
    // An empty payload holds no scope and no span.
    assert!(matches!(
        codec::decode(&[1, 1]),
        Err(CodecError::Shape {
            scopes: 0,
            records: 0
        })
    ));
    assert!(matches!(
        codec::decode(&[1, 1, 0xff]),
        Err(CodecError::Protobuf(_))
    ));

    let request = otlp::spans_to_request(&[fixture_span(), fixture_span()]);
    let mut two_spans = vec![1, 1];
    two_spans.extend(request.resource_spans[0].encode_to_vec());
    assert!(matches!(
        codec::decode(&two_spans),
        Err(CodecError::Shape {
            scopes: 1,
            records: 2
        })
    ));

    let mut bad_id = request.resource_spans[0].clone();
    bad_id.scope_spans[0].spans.truncate(1);
    bad_id.scope_spans[0].spans[0].trace_id.truncate(3);
    let mut bytes = vec![1, 1];
    bytes.extend(bad_id.encode_to_vec());
    let error = codec::decode(&bytes).expect_err("bad id");
    assert_eq!(
        error.to_string(),
        "invalid trace_id: must be 16 bytes, got 3 bytes"
    );

    // An attribute key that is not UTF-8 fails as any string field does, well-known or not.
    for key in ["zz.custom.key", "gen_ai.tool.name"] {
        let mut span = fixture_span();
        span.attributes.push(KeyValue::new(key, "v"));
        let mut bytes = codec::encode_span(&span);
        let at = bytes
            .windows(key.len())
            .rposition(|w| w == key.as_bytes())
            .expect("key in the encoding");
        bytes[at + 1] = 0xff;
        let error = codec::decode(&bytes).expect_err("key is not UTF-8");
        let (strict, prost) = (error.to_string(), codec::decode_with_prost(&bytes));
        assert!(strict.contains("invalid string value"), "{strict}");
        assert_eq!(strict, prost.expect_err("prost rejects it too").to_string());
    }
}
