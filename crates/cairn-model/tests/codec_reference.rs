//! The direct decoder against the prost-based one it replaced: same value, same acceptance and
//! the same error (compared through `Debug`, which shows prost's error kind and field stack) on
//! encodings of random records, on random corruptions of them, and on hand-made edge cases
//! (duplicate fields, unknown fields and groups, nesting at the recursion limit).
//! The reference decoder is `codec::decode_with_prost` (the `reference-decoder` feature, which
//! the crate's dev-dependency on itself turns on); the record strategies are `tests/codec.rs`'s.

use proptest::prelude::*;
use prost::encoding::{WireType, encode_key, encode_varint};

use cairn_model::codec::{
    FORMAT_VERSION, RECORD_TYPE_LOG, RECORD_TYPE_SPAN, decode, decode_with_prost, encode,
};
use cairn_model::{AnyValue, Record, SpanKind, StatusCode};

/// Both decoders on `bytes`: equal results, values compared through their canonical bytes too
/// (so NaN payloads count) and errors through `Debug`.
fn assert_same(bytes: &[u8]) -> Result<(), TestCaseError> {
    match (decode(bytes), decode_with_prost(bytes)) {
        (Ok(new), Ok(old)) => {
            prop_assert_eq!(format!("{new:?}"), format!("{old:?}"));
            prop_assert_eq!(encode(&new), encode(&old));
            if let (Record::Span(new), Record::Span(old)) = (&new, &old) {
                prop_assert_eq!(new.agent_kind, old.agent_kind);
            }
        }
        (Err(new), Err(old)) => prop_assert_eq!(format!("{new:?}"), format!("{old:?}")),
        (new, old) => prop_assert!(false, "new {new:?}, old {old:?} for {bytes:02x?}"),
    }
    Ok(())
}

fn same(bytes: &[u8]) {
    if let Err(e) = assert_same(bytes) {
        panic!("{e}");
    }
}

fn record() -> impl Strategy<Value = Record> {
    crate::codec::record(crate::codec::any_bits_double().boxed())
}

/// One corruption of an encoding; positions are taken modulo the length.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    /// Copies a range to right after itself: repeated fields when it falls on field boundaries.
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..64_usize).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    // The header stays valid so that the payload is what gets corrupted.
    let n = bytes.len().saturating_sub(2).max(1);
    let at = |i: usize| 2 + i % n;
    match *mutation {
        Mutation::Set(i, b) if bytes.len() > 2 => bytes[at(i)] = b,
        Mutation::Insert(i, b) => bytes.insert(at(i).min(bytes.len()), b),
        Mutation::Remove(i) if bytes.len() > 2 => {
            bytes.remove(at(i));
        }
        Mutation::Truncate(i) => bytes.truncate(at(i)),
        Mutation::Duplicate(i, len) if bytes.len() > 2 => {
            let start = at(i);
            let end = (start + len).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoders_agree_on_encoded_records(record in record()) {
        let bytes = encode(&record);
        assert_same(&bytes)?;
        // And the value is the record (NaN-safe: compared through the encoding).
        let decoded = decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(encode(&decoded), bytes);
    }

    #[test]
    fn decoders_agree_on_corrupted_encodings(
        record in record(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = encode(&record);
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        assert_same(&bytes)?;
    }

    #[test]
    fn decoders_agree_on_concatenated_payloads(a in record(), b in record(), cut in any::<usize>()) {
        // Payloads joined after one header: two resources' fields merged by protobuf rules.
        let (a, b) = (encode(&a), encode(&b));
        let mut bytes = a.clone();
        bytes.extend_from_slice(&b[2..]);
        assert_same(&bytes)?;
        bytes.truncate(2 + cut % (bytes.len() - 1));
        assert_same(&bytes)?;
    }
}

// --- hand-made payloads --------------------------------------------------------------------

/// A length-delimited field.
fn field(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(tag, WireType::LengthDelimited, &mut out);
    encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

fn varint_field(tag: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(tag, WireType::Varint, &mut out);
    encode_varint(value, &mut out);
    out
}

/// A span entry whose span message body is `span` (resource and scope absent).
fn span_entry(span: &[u8]) -> Vec<u8> {
    let scope_spans = field(2, span);
    [
        &[FORMAT_VERSION, RECORD_TYPE_SPAN][..],
        &field(2, &scope_spans),
    ]
    .concat()
}

fn log_entry(log: &[u8]) -> Vec<u8> {
    let scope_logs = field(2, log);
    [
        &[FORMAT_VERSION, RECORD_TYPE_LOG][..],
        &field(2, &scope_logs),
    ]
    .concat()
}

fn ids() -> Vec<u8> {
    [field(1, &[1; 16]), field(2, &[2; 8])].concat()
}

fn attribute(key: &str, value: &[u8]) -> Vec<u8> {
    field(9, &[field(1, key.as_bytes()), field(2, value)].concat())
}

#[test]
fn duplicate_fields_follow_protobuf_rules() {
    let array = |items: &[&[u8]]| {
        field(
            5,
            &items
                .iter()
                .flat_map(|item| field(1, item))
                .collect::<Vec<_>>(),
        )
    };
    let string = |s: &str| field(1, s.as_bytes());
    let span = [
        ids(),
        field(5, b"first"),
        field(5, b"chat"),
        // Two array values in one AnyValue append; a second `value` field merges into the first.
        attribute(
            "a",
            &[array(&[&string("x")]), array(&[&string("y")])].concat(),
        ),
        field(
            9,
            &[
                field(1, b"b"),
                field(2, &array(&[&string("z")])),
                field(2, &array(&[&string("w")])),
            ]
            .concat(),
        ),
        // A member replacing another one, the profiles-only string index, `key_strindex`.
        attribute("d", &[string("gone"), varint_field(3, 7)].concat()),
        attribute("e", &[array(&[]), varint_field(8, 1)].concat()),
        [
            field(9, &[field(1, b"f"), varint_field(3, 5)].concat()),
            attribute(
                "g",
                &[varint_field(8, 1), array(&[&varint_field(2, 1)])].concat(),
            ),
        ]
        .concat(),
        // Status twice merges: the message of the first, the code of the second.
        field(15, &[field(2, b"broken"), varint_field(3, 9)].concat()),
        field(15, &varint_field(3, 2)),
        // Kind: the last one wins, and 9 would be invalid.
        varint_field(6, 9),
        varint_field(6, 3),
        // Unknown fields: varint, fixed, bytes and a group holding a group.
        varint_field(99, 1),
        vec![0xa5, 0x06, 1, 2, 3, 4],
        field(100, b"anything"),
        vec![0xa3, 0x06, 0xab, 0x06, 0xac, 0x06, 0xa4, 0x06],
    ]
    .concat();
    let bytes = span_entry(&span);
    same(&bytes);
    let Ok(Record::Span(span)) = decode(&bytes) else {
        panic!("decodes: {:?}", decode(&bytes));
    };
    assert_eq!(span.name, "chat");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status.code, StatusCode::Error);
    assert_eq!(span.status.message, "broken");
    let values: Vec<_> = span.attributes.iter().map(|kv| kv.value.clone()).collect();
    let s = |s: &str| AnyValue::String(s.to_owned());
    assert_eq!(
        values,
        [
            AnyValue::Array(vec![s("x"), s("y")]),
            AnyValue::Array(vec![s("z"), s("w")]),
            AnyValue::Int(7),
            AnyValue::Empty,
            AnyValue::Empty,
            AnyValue::Array(vec![AnyValue::Bool(true)]),
        ]
    );
}

#[test]
fn errors_match_the_prost_decoder() {
    let cases: Vec<Vec<u8>> = vec![
        // Invalid UTF-8 in a string, also one later overwritten.
        span_entry(&[ids(), field(5, &[0xff]), field(5, b"ok")].concat()),
        // Wrong wire types: a string as a varint, a message as a fixed64, an id as a varint.
        span_entry(&[ids(), varint_field(5, 1)].concat()),
        span_entry(&[ids(), vec![0x79, 0, 0, 0, 0, 0, 0, 0, 0]].concat()),
        span_entry(&[varint_field(1, 1), ids()].concat()),
        // Truncated: a varint, a fixed64, a length.
        span_entry(&[ids(), vec![0x30, 0x80]].concat()),
        span_entry(&[ids(), vec![0x39, 1, 2]].concat()),
        span_entry(&[ids(), vec![0x2a, 0x10, b'a']].concat()),
        // Wire types 6 and 7, tag 0, an end group without a start.
        span_entry(&[ids(), vec![0x2e]].concat()),
        span_entry(&[ids(), vec![0x07]].concat()),
        span_entry(&[ids(), vec![0x00]].concat()),
        span_entry(&[ids(), vec![0xa4, 0x06]].concat()),
        // A group ended by the wrong tag, a group never ended.
        span_entry(&[ids(), vec![0xa3, 0x06, 0xac, 0x06]].concat()),
        span_entry(&[ids(), vec![0xa3, 0x06]].concat()),
        // Field errors, in the conversion's order.
        span_entry(&[field(1, &[1; 3]), field(2, &[2; 3])].concat()),
        span_entry(&[ids(), field(13, &field(1, &[1; 15]))].concat()),
        span_entry(&[ids(), field(13, &ids()), field(13, &field(2, &[1; 2]))].concat()),
        span_entry(&[ids(), field(4, &[1; 7])].concat()),
        span_entry(&[ids(), varint_field(6, u64::MAX)].concat()),
        span_entry(&[ids(), field(15, &varint_field(3, 3))].concat()),
        log_entry(&field(9, &[1; 4])),
        log_entry(&[field(9, &[1; 16]), field(10, &[1; 9])].concat()),
        // Shapes: no scope, two records, two scopes.
        vec![1, 2],
        span_entry(&[ids(), field(5, b"x")].concat())
            .into_iter()
            .chain(field(2, &field(2, &ids())))
            .collect(),
        [
            &[FORMAT_VERSION, RECORD_TYPE_LOG][..],
            &field(2, &[field(2, &[]), field(2, &[])].concat()),
        ]
        .concat(),
        // A delimited length that ends inside a field.
        [
            &[FORMAT_VERSION, RECORD_TYPE_SPAN][..],
            &[0x12, 0x02, 0x12, 0x05, 1, 2, 3, 4, 5],
        ]
        .concat(),
    ];
    for bytes in &cases {
        same(bytes);
        assert!(decode(bytes).is_err(), "{bytes:02x?}");
    }
    same(&log_entry(&[field(9, &[1; 4]), field(9, &[])].concat()));
}

/// A log entry whose body is `depth` arrays nested in each other.
fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut value = Vec::new();
    for _ in 0..depth {
        value = field(5, &field(1, &value));
    }
    log_entry(&field(5, &value))
}

/// A log entry whose body holds an unknown field with `depth` nested groups.
fn nested_groups(depth: usize) -> Vec<u8> {
    let mut groups = [0xcb_u8, 0x01].repeat(depth); // field 25, start group
    groups.extend([0xcc_u8, 0x01].repeat(depth)); // field 25, end group
    log_entry(&field(5, &groups))
}

#[test]
fn nesting_is_limited_exactly_where_prost_limits_it() {
    let mut outcomes = Vec::new();
    for depth in 40..52 {
        for bytes in [nested_arrays(depth), nested_groups(2 * depth)] {
            same(&bytes);
            outcomes.push(decode(&bytes).is_ok());
        }
    }
    // Both limits fall inside the range: some depths decode, deeper ones do not.
    assert!(outcomes.iter().any(|ok| *ok));
    assert!(outcomes.iter().any(|ok| !*ok));
    let error = decode(&nested_arrays(60)).expect_err("too deep");
    assert!(
        error.to_string().contains("recursion limit reached"),
        "{error}"
    );
}
