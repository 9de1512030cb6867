//! The canonical payload read straight into the model, with `prost::encoding` primitives.
//!
//! Why hand-written: prost's derived `Message::decode` builds the whole OTLP message first
//! (`ResourceSpans` → `ScopeSpans` → `Span` → `KeyValue` → `AnyValue` …, each a heap object),
//! which the conversion then takes apart again. This module parses the same bytes into the
//! model types directly and allocates only what the model owns (strings, byte values, vectors);
//! ids are checked as borrowed slices of the input.
//!
//! It must accept and reject exactly what the prost-based decoder (`Message::decode` of the OTLP
//! message, then `otlp::convert`) accepts and rejects, and give the same value or the same error.
//! The tests in `codec/tests.rs` compare the two on random records and on random mutations and
//! truncations of their encodings, errors included (`prost::DecodeError` equality: kind and the
//! `Message.field` stack). The protobuf rules mirrored here, from prost 0.14:
//! - the payload is read field by field to its end; a nested message is a length-delimited field
//!   whose fields must end exactly at its length ([`merge_loop`]);
//! - every field's wire type is checked, strings must be UTF-8 (also in fields that are later
//!   overwritten), unknown fields are skipped (groups included) without looking inside;
//! - a repeated singular scalar, string or bytes field: the last one wins; a repeated singular
//!   message field (`resource`, `scope`, `status`, `KeyValue.value`, the log `body`) MERGES into
//!   the one already read; in the `AnyValue` oneof, a member replaces another member, but an
//!   `array_value` or `kvlist_value` following the same member appends to it;
//! - nesting: the top-level fields get a budget of 100 ([`RECURSION_LIMIT`]); a nested message,
//!   and skipping an unknown field, need a budget above 0 and give their fields one less;
//! - an error names the fields it happened in, innermost last, as prost's derived code does;
//! - after the protobuf is read: the shape (exactly one scope and one record), then the
//!   conversion's field checks in its order: link ids, trace id, span id, parent span id, span
//!   kind, status code (spans); trace id, span id (logs).
//!
//! Cost per decoded span, measured side by side with the prost-based decoder on the ack bench's
//! 512 realistic GenAI spans (`benches/ack.rs`, phase `entry`: `codec::decode` of each ~970-byte
//! canonical entry; 2-core machine, load average about 5 from other builds):
//!
//! | per span                                   | prost + convert | direct |
//! |--------------------------------------------|-----------------|--------|
//! | instructions in `codec::decode` (callgrind) | 21,666          | 14,054 (−35%) |
//! | instructions, decode + drop of the record   | 25,003          | 17,288 (−31%) |
//! | `malloc` / `realloc` calls                  | 32.6 / 3.1      | 24.7 / 1.1 |
//! | thread CPU time, median of 5 × 1000 rounds  | 2,983 ns        | 2,014 ns (−32%) |
//!
//! (Callgrind counts are the difference between runs of 3 and 1 rounds, so set-up is excluded.)
//! What is left is the model's own cost: about 25 allocations for the strings and vectors it
//! owns, and UTF-8 validation of the strings (`str::from_utf8`, about a third of the
//! instructions), which prost performs too.
//!
//! Canonical bytes never hold duplicate singular fields, unknown fields or groups; the rules above
//! matter only for what a corrupted or forged entry decodes to, which must not depend on which
//! decoder read it.

use prost::DecodeError;
use prost::encoding::{
    DecodeContext, WireType, bool as pbool, check_wire_type, decode_key, decode_varint, double,
    fixed32, fixed64, int32, int64, merge_loop, skip_field, string, uint32,
};

use super::CodecError;
use crate::Key;
use crate::otlp::FieldError;
use crate::span::{
    EntityRef, Event, InstrumentationScope, Link, LogRecord, Resource, Span, SpanId, SpanKind,
    StatusCode, TraceId,
};
use crate::value::{AnyValue, KeyValue};

type Buf<'a> = &'a [u8];
type Result<T> = std::result::Result<T, DecodeError>;

/// prost's recursion limit (`prost::RECURSION_LIMIT`, private there; 100 as in the C++ runtime).
const RECURSION_LIMIT: u32 = 100;

/// A context for prost's scalar decoders, which do not look at it.
fn cx() -> DecodeContext {
    DecodeContext::default()
}

/// Adds a `Message.field` location to an error, as prost's derived `merge_field` does.
fn at(message: &'static str, field: &'static str) -> impl FnOnce(DecodeError) -> DecodeError {
    move |mut error| {
        error.push(message, field);
        error
    }
}

/// prost's "recursion limit reached" error. prost has no public constructor for its error kinds,
/// so this takes it from prost itself: skipping 100 nested groups exceeds the limit.
#[cold]
fn recursion_limit_reached() -> DecodeError {
    const NESTED_GROUPS: [u8; RECURSION_LIMIT as usize] = [0x0b; RECURSION_LIMIT as usize];
    match skip_field(WireType::StartGroup, 1, &mut &NESTED_GROUPS[..], cx()) {
        Err(error) => error,
        Ok(()) => unreachable!("100 nested groups exceed prost's recursion limit"),
    }
}

/// prost's "buffer underflow" error (see [`recursion_limit_reached`]).
#[cold]
fn buffer_underflow() -> DecodeError {
    match fixed32::merge(WireType::ThirtyTwoBit, &mut 0, &mut &[][..], cx()) {
        Err(error) => error,
        Ok(()) => unreachable!("a fixed32 needs 4 bytes"),
    }
}

/// Reads a nested message into `value`, as prost's `message::merge`: `field` gets each field's
/// tag, wire type and the budget left for the field's own nested messages.
fn message<'a, T>(
    wire_type: WireType,
    value: &mut T,
    buf: &mut Buf<'a>,
    budget: u32,
    mut field: impl FnMut(&mut T, u32, WireType, &mut Buf<'a>, u32) -> Result<()>,
) -> Result<()> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    if budget == 0 {
        return Err(recursion_limit_reached());
    }
    merge_loop(value, buf, cx(), |value, buf, _| {
        let (tag, wire_type) = decode_key(buf)?;
        field(value, tag, wire_type, buf, budget - 1)
    })
}

/// Skips an unknown field, as prost's `skip_field` with a context of `budget`.
fn skip(wire_type: WireType, tag: u32, buf: &mut Buf<'_>, budget: u32) -> Result<()> {
    if budget == 0 {
        return Err(recursion_limit_reached());
    }
    if wire_type != WireType::StartGroup {
        // No recursion below here, so prost's own function with a fresh context is exact.
        return skip_field(wire_type, tag, buf, cx());
    }
    loop {
        let (inner_tag, inner_wire_type) = decode_key(buf)?;
        if inner_wire_type == WireType::EndGroup {
            if inner_tag != tag {
                // prost's "unexpected end group tag" error.
                return skip_field(WireType::EndGroup, tag, buf, cx());
            }
            return Ok(());
        }
        skip(inner_wire_type, inner_tag, buf, budget - 1)?;
    }
}

/// A `bytes` field as a slice of the input.
fn raw_bytes<'a>(wire_type: WireType, buf: &mut Buf<'a>) -> Result<&'a [u8]> {
    check_wire_type(WireType::LengthDelimited, wire_type)?;
    let len = decode_varint(buf)?;
    let rest: &'a [u8] = buf;
    if len > rest.len() as u64 {
        return Err(buffer_underflow());
    }
    let (bytes, rest) = rest.split_at(len as usize); // at most `rest.len()`, checked above
    *buf = rest;
    Ok(bytes)
}

/// A string field's text, borrowed from the input. On invalid UTF-8 the error is prost's
/// "invalid string value", from prost reading the same bytes.
fn read_str<'a>(wire_type: WireType, buf: &mut Buf<'a>) -> Result<&'a str> {
    let start = *buf;
    let bytes = raw_bytes(wire_type, buf)?;
    std::str::from_utf8(bytes).or_else(|_| {
        *buf = start;
        string::merge(wire_type, &mut String::new(), buf, cx())?;
        // prost rejects what `from_utf8` rejects; should it ever accept, the text is empty.
        Ok("")
    })
}

/// A string field, last one wins. Not prost's `string::merge`, which grows the existing string
/// through `Buf::take`: one exact allocation is about a third cheaper per string.
fn read_string(wire_type: WireType, value: &mut String, buf: &mut Buf<'_>) -> Result<()> {
    *value = read_str(wire_type, buf)?.to_owned();
    Ok(())
}

/// An attribute key: a well-known key borrows its static copy (see [`Key`]).
fn read_key(wire_type: WireType, key: &mut Key, buf: &mut Buf<'_>) -> Result<()> {
    *key = Key::from(read_str(wire_type, buf)?);
    Ok(())
}

fn read_u32(wire_type: WireType, value: &mut u32, buf: &mut Buf<'_>) -> Result<()> {
    uint32::merge(wire_type, value, buf, cx())
}

fn read_i32(wire_type: WireType, value: &mut i32, buf: &mut Buf<'_>) -> Result<()> {
    int32::merge(wire_type, value, buf, cx())
}

// --- common.v1.AnyValue, ArrayValue, KeyValueList, KeyValue --------------------------------

/// A field of an `AnyValue` merged into `value` (the oneof rules in the module docs).
fn any_value_field(
    value: &mut AnyValue,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    match tag {
        1 => {
            let mut s = String::new();
            read_string(wire_type, &mut s, buf)?;
            *value = AnyValue::String(s);
        }
        2 => {
            let mut b = false;
            pbool::merge(wire_type, &mut b, buf, cx())?;
            *value = AnyValue::Bool(b);
        }
        3 => {
            let mut i = 0;
            int64::merge(wire_type, &mut i, buf, cx())?;
            *value = AnyValue::Int(i);
        }
        4 => {
            let mut d = 0.0;
            double::merge(wire_type, &mut d, buf, cx())?;
            *value = AnyValue::Double(d);
        }
        5 => {
            let mut values = match value {
                AnyValue::Array(values) => std::mem::take(values),
                _ => Vec::new(),
            };
            message(wire_type, &mut values, buf, budget, array_value_field)?;
            *value = AnyValue::Array(values);
        }
        6 => {
            let mut kvs = match value {
                AnyValue::KvList(kvs) => std::mem::take(kvs),
                _ => Vec::new(),
            };
            message(wire_type, &mut kvs, buf, budget, key_value_list_field)?;
            *value = AnyValue::KvList(kvs);
        }
        7 => {
            *value = AnyValue::Bytes(raw_bytes(wire_type, buf)?.to_vec());
        }
        8 => {
            // `string_value_strindex` (profiles only) reads as no value (see `otlp::convert`).
            read_i32(wire_type, &mut 0, buf)?;
            *value = AnyValue::Empty;
        }
        _ => return skip(wire_type, tag, buf, budget),
    }
    Ok(())
}

/// Wraps [`any_value_field`] with its error location (all members are the one field `value`).
fn any_value(
    value: &mut AnyValue,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    if tag > 8 || tag == 0 {
        return skip(wire_type, tag, buf, budget);
    }
    any_value_field(value, tag, wire_type, buf, budget).map_err(at("AnyValue", "value"))
}

fn array_value_field(
    values: &mut Vec<AnyValue>,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    if tag != 1 {
        return skip(wire_type, tag, buf, budget);
    }
    let mut value = AnyValue::Empty;
    message(wire_type, &mut value, buf, budget, any_value).map_err(at("ArrayValue", "values"))?;
    values.push(value);
    Ok(())
}

fn key_value_list_field(
    kvs: &mut Vec<KeyValue>,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    if tag != 1 {
        return skip(wire_type, tag, buf, budget);
    }
    push_key_value(kvs, wire_type, buf, budget).map_err(at("KeyValueList", "values"))
}

fn key_value_field(
    kv: &mut KeyValue,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    match tag {
        1 => read_key(wire_type, &mut kv.key, buf).map_err(at("KeyValue", "key")),
        2 => message(wire_type, &mut kv.value, buf, budget, any_value)
            .map_err(at("KeyValue", "value")),
        // `key_strindex` (profiles only) is read and ignored (see `otlp::convert`).
        3 => read_i32(wire_type, &mut 0, buf).map_err(at("KeyValue", "key_strindex")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

/// One element of a repeated `KeyValue` field.
fn push_key_value(
    kvs: &mut Vec<KeyValue>,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    let mut kv = KeyValue {
        key: Key::default(),
        value: AnyValue::Empty,
    };
    message(wire_type, &mut kv, buf, budget, key_value_field)?;
    kvs.push(kv);
    Ok(())
}

// --- resource.v1.Resource, common.v1.EntityRef, common.v1.InstrumentationScope --------------

fn entity_ref_field(
    e: &mut EntityRef,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    match tag {
        1 => read_string(wire_type, &mut e.schema_url, buf).map_err(at("EntityRef", "schema_url")),
        2 => read_string(wire_type, &mut e.entity_type, buf).map_err(at("EntityRef", "r#type")),
        3 => string::merge_repeated(wire_type, &mut e.id_keys, buf, cx())
            .map_err(at("EntityRef", "id_keys")),
        4 => string::merge_repeated(wire_type, &mut e.description_keys, buf, cx())
            .map_err(at("EntityRef", "description_keys")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

/// A field of the `Resource` message (the schema URL is the enclosing message's).
fn resource_field(
    r: &mut Resource,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    match tag {
        1 => push_key_value(&mut r.attributes, wire_type, buf, budget)
            .map_err(at("Resource", "attributes")),
        2 => read_u32(wire_type, &mut r.dropped_attributes_count, buf)
            .map_err(at("Resource", "dropped_attributes_count")),
        3 => {
            let mut e = EntityRef::default();
            message(wire_type, &mut e, buf, budget, entity_ref_field)
                .map_err(at("Resource", "entity_refs"))?;
            r.entity_refs.push(e);
            Ok(())
        }
        _ => skip(wire_type, tag, buf, budget),
    }
}

/// A field of the `InstrumentationScope` message (the schema URL is the enclosing message's).
fn scope_field(
    s: &mut InstrumentationScope,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    const M: &str = "InstrumentationScope";
    match tag {
        1 => read_string(wire_type, &mut s.name, buf).map_err(at(M, "name")),
        2 => read_string(wire_type, &mut s.version, buf).map_err(at(M, "version")),
        3 => push_key_value(&mut s.attributes, wire_type, buf, budget).map_err(at(M, "attributes")),
        4 => read_u32(wire_type, &mut s.dropped_attributes_count, buf)
            .map_err(at(M, "dropped_attributes_count")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

// --- ResourceSpans / ResourceLogs and ScopeSpans / ScopeLogs ---------------------------------

/// Message and field names of the enclosing messages, for error locations.
struct Names {
    resource_message: &'static str,
    scopes_field: &'static str,
    scope_message: &'static str,
    records_field: &'static str,
}

const SPAN_NAMES: Names = Names {
    resource_message: "ResourceSpans",
    scopes_field: "scope_spans",
    scope_message: "ScopeSpans",
    records_field: "spans",
};

const LOG_NAMES: Names = Names {
    resource_message: "ResourceLogs",
    scopes_field: "scope_logs",
    scope_message: "ScopeLogs",
    records_field: "log_records",
};

/// A record message read into the model plus what the conversion checks after the read.
type ReadRecord<'a, R> = fn(WireType, &mut Buf<'a>, u32) -> Result<R>;

/// A `ScopeSpans`/`ScopeLogs`: its scope (schema URL included), its first record and the count.
struct Scoped<R> {
    scope: InstrumentationScope,
    first: Option<R>,
    records: usize,
}

/// A `ResourceSpans`/`ResourceLogs`: its resource (schema URL included), the first scope and the
/// counts the shape check needs.
struct Payload<R> {
    resource: Resource,
    first: Option<Scoped<R>>,
    scopes: usize,
    records: usize,
}

fn scoped<'a, R>(
    names: &Names,
    read_record: ReadRecord<'a, R>,
    wire_type: WireType,
    buf: &mut Buf<'a>,
    budget: u32,
) -> Result<Scoped<R>> {
    let mut scoped = Scoped {
        scope: InstrumentationScope::default(),
        first: None,
        records: 0,
    };
    message(
        wire_type,
        &mut scoped,
        buf,
        budget,
        |scoped, tag, wire_type, buf, budget| match tag {
            1 => message(wire_type, &mut scoped.scope, buf, budget, scope_field)
                .map_err(at(names.scope_message, "scope")),
            2 => check_wire_type(WireType::LengthDelimited, wire_type)
                .and_then(|()| read_record(wire_type, buf, budget))
                .map(|record| {
                    scoped.records += 1;
                    scoped.first.get_or_insert(record);
                })
                .map_err(at(names.scope_message, names.records_field)),
            3 => read_string(wire_type, &mut scoped.scope.schema_url, buf)
                .map_err(at(names.scope_message, "schema_url")),
            _ => skip(wire_type, tag, buf, budget),
        },
    )?;
    Ok(scoped)
}

fn payload<'a, R>(
    names: &Names,
    read_record: ReadRecord<'a, R>,
    mut buf: Buf<'a>,
) -> std::result::Result<Payload<R>, CodecError> {
    let mut payload = Payload {
        resource: Resource::default(),
        first: None,
        scopes: 0,
        records: 0,
    };
    let budget = RECURSION_LIMIT;
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).map_err(CodecError::Protobuf)?;
        let result = match tag {
            1 => message(
                wire_type,
                &mut payload.resource,
                &mut buf,
                budget,
                resource_field,
            )
            .map_err(at(names.resource_message, "resource")),
            2 => check_wire_type(WireType::LengthDelimited, wire_type)
                .and_then(|()| scoped(names, read_record, wire_type, &mut buf, budget))
                .map(|scoped| {
                    payload.scopes += 1;
                    payload.records += scoped.records;
                    payload.first.get_or_insert(scoped);
                })
                .map_err(at(names.resource_message, names.scopes_field)),
            3 => read_string(wire_type, &mut payload.resource.schema_url, &mut buf)
                .map_err(at(names.resource_message, "schema_url")),
            _ => skip(wire_type, tag, &mut buf, budget),
        };
        result.map_err(CodecError::Protobuf)?;
    }
    Ok(payload)
}

/// The shape check: exactly one scope holding exactly one record.
fn single<R>(
    payload: Payload<R>,
) -> std::result::Result<(Resource, InstrumentationScope, R), CodecError> {
    let shape = CodecError::Shape {
        scopes: payload.scopes,
        records: payload.records,
    };
    if payload.scopes != 1 || payload.records != 1 {
        return Err(shape);
    }
    match payload.first {
        Some(Scoped {
            scope,
            first: Some(record),
            ..
        }) => Ok((payload.resource, scope, record)),
        _ => Err(shape),
    }
}

/// The conversion's error (`otlp::convert`) for a field the model cannot represent.
fn field_error(field: impl Into<String>, detail: String) -> CodecError {
    let FieldError { field, detail } = FieldError::new(field, detail);
    CodecError::Field { field, detail }
}

/// The conversion's error for an id of the wrong length.
#[cold]
fn id_error(field: String, expected: usize, bytes: &[u8]) -> CodecError {
    field_error(
        field,
        format!("must be {expected} bytes, got {} bytes", bytes.len()),
    )
}

fn trace_id(bytes: &[u8], field: &str) -> std::result::Result<TraceId, CodecError> {
    TraceId::from_slice(bytes).ok_or_else(|| id_error(field.to_owned(), TraceId::LEN, bytes))
}

fn span_id(bytes: &[u8], field: &str) -> std::result::Result<SpanId, CodecError> {
    SpanId::from_slice(bytes).ok_or_else(|| id_error(field.to_owned(), SpanId::LEN, bytes))
}

// --- trace.v1 ------------------------------------------------------------------------------

/// A span as read: the model span, and its ids and enums unchecked.
struct SpanParts<'a> {
    span: Span,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
    kind: i32,
    status_code: i32,
    /// Link ids are checked as each link is read; the first failure is reported after the read.
    link_error: Option<CodecError>,
}

fn event_field(
    e: &mut Event,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    match tag {
        1 => fixed64::merge(wire_type, &mut e.time_unix_nano, buf, cx())
            .map_err(at("Event", "time_unix_nano")),
        2 => read_string(wire_type, &mut e.name, buf).map_err(at("Event", "name")),
        3 => push_key_value(&mut e.attributes, wire_type, buf, budget)
            .map_err(at("Event", "attributes")),
        4 => read_u32(wire_type, &mut e.dropped_attributes_count, buf)
            .map_err(at("Event", "dropped_attributes_count")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

/// A link as read, with its ids unchecked.
struct LinkParts<'a> {
    link: Link,
    trace_id: &'a [u8],
    span_id: &'a [u8],
}

fn link_field<'a>(
    l: &mut LinkParts<'a>,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'a>,
    budget: u32,
) -> Result<()> {
    match tag {
        1 => raw_bytes(wire_type, buf)
            .map(|id| l.trace_id = id)
            .map_err(at("Link", "trace_id")),
        2 => raw_bytes(wire_type, buf)
            .map(|id| l.span_id = id)
            .map_err(at("Link", "span_id")),
        3 => {
            read_string(wire_type, &mut l.link.trace_state, buf).map_err(at("Link", "trace_state"))
        }
        4 => push_key_value(&mut l.link.attributes, wire_type, buf, budget)
            .map_err(at("Link", "attributes")),
        5 => read_u32(wire_type, &mut l.link.dropped_attributes_count, buf)
            .map_err(at("Link", "dropped_attributes_count")),
        6 => fixed32::merge(wire_type, &mut l.link.flags, buf, cx()).map_err(at("Link", "flags")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

fn status_field(
    (message, code): &mut (&mut String, &mut i32),
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'_>,
    budget: u32,
) -> Result<()> {
    match tag {
        2 => read_string(wire_type, message, buf).map_err(at("Status", "message")),
        3 => read_i32(wire_type, code, buf).map_err(at("Status", "code")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

fn span_field<'a>(
    p: &mut SpanParts<'a>,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'a>,
    budget: u32,
) -> Result<()> {
    const M: &str = "Span";
    let s = &mut p.span;
    match tag {
        1 => raw_bytes(wire_type, buf)
            .map(|id| p.trace_id = id)
            .map_err(at(M, "trace_id")),
        2 => raw_bytes(wire_type, buf)
            .map(|id| p.span_id = id)
            .map_err(at(M, "span_id")),
        3 => read_string(wire_type, &mut s.trace_state, buf).map_err(at(M, "trace_state")),
        4 => raw_bytes(wire_type, buf)
            .map(|id| p.parent_span_id = id)
            .map_err(at(M, "parent_span_id")),
        5 => read_string(wire_type, &mut s.name, buf).map_err(at(M, "name")),
        6 => read_i32(wire_type, &mut p.kind, buf).map_err(at(M, "kind")),
        7 => fixed64::merge(wire_type, &mut s.start_unix_nano, buf, cx())
            .map_err(at(M, "start_time_unix_nano")),
        8 => fixed64::merge(wire_type, &mut s.end_unix_nano, buf, cx())
            .map_err(at(M, "end_time_unix_nano")),
        9 => push_key_value(&mut s.attributes, wire_type, buf, budget).map_err(at(M, "attributes")),
        10 => read_u32(wire_type, &mut s.dropped_attributes_count, buf)
            .map_err(at(M, "dropped_attributes_count")),
        11 => {
            let mut e = Event::default();
            message(wire_type, &mut e, buf, budget, event_field).map_err(at(M, "events"))?;
            s.events.push(e);
            Ok(())
        }
        12 => read_u32(wire_type, &mut s.dropped_events_count, buf)
            .map_err(at(M, "dropped_events_count")),
        13 => {
            let mut l = LinkParts {
                link: Link::default(),
                trace_id: &[],
                span_id: &[],
            };
            message(wire_type, &mut l, buf, budget, link_field).map_err(at(M, "links"))?;
            let i = s.links.len();
            match (
                TraceId::from_slice(l.trace_id),
                SpanId::from_slice(l.span_id),
            ) {
                (Some(t), Some(id)) => (l.link.trace_id, l.link.span_id) = (t, id),
                (None, _) => {
                    p.link_error.get_or_insert_with(|| {
                        id_error(format!("links[{i}].trace_id"), TraceId::LEN, l.trace_id)
                    });
                }
                (_, None) => {
                    p.link_error.get_or_insert_with(|| {
                        id_error(format!("links[{i}].span_id"), SpanId::LEN, l.span_id)
                    });
                }
            }
            s.links.push(l.link);
            Ok(())
        }
        14 => read_u32(wire_type, &mut s.dropped_links_count, buf)
            .map_err(at(M, "dropped_links_count")),
        15 => message(
            wire_type,
            &mut (&mut s.status.message, &mut p.status_code),
            buf,
            budget,
            status_field,
        )
        .map_err(at(M, "status")),
        16 => fixed32::merge(wire_type, &mut s.flags, buf, cx()).map_err(at(M, "flags")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

fn read_span<'a>(wire_type: WireType, buf: &mut Buf<'a>, budget: u32) -> Result<SpanParts<'a>> {
    let mut parts = SpanParts {
        span: Span::default(),
        trace_id: &[],
        span_id: &[],
        parent_span_id: &[],
        kind: 0,
        status_code: 0,
        link_error: None,
    };
    message(wire_type, &mut parts, buf, budget, span_field)?;
    Ok(parts)
}

/// Decodes the payload of a span entry (the bytes after the 2-byte header).
pub(super) fn decode_span(payload: &[u8]) -> std::result::Result<Span, CodecError> {
    let (resource, scope, parts) = single(self::payload(&SPAN_NAMES, read_span, payload)?)?;
    if let Some(error) = parts.link_error {
        return Err(error);
    }
    let mut span = parts.span;
    span.trace_id = trace_id(parts.trace_id, "trace_id")?;
    span.span_id = span_id(parts.span_id, "span_id")?;
    span.parent_span_id = if parts.parent_span_id.is_empty() {
        None
    } else {
        Some(span_id(parts.parent_span_id, "parent_span_id")?)
    };
    span.span_kind = SpanKind::from_i32(parts.kind)
        .ok_or_else(|| field_error("kind", format!("{} is not a span kind (0..=5)", parts.kind)))?;
    span.status.code = StatusCode::from_i32(parts.status_code).ok_or_else(|| {
        field_error(
            "status.code",
            format!("{} is not a status code (0..=2)", parts.status_code),
        )
    })?;
    span.resource = resource;
    span.scope = scope;
    span.refresh_agent_kind();
    Ok(span)
}

// --- logs.v1 -------------------------------------------------------------------------------

/// A log record as read, with its ids unchecked.
struct LogParts<'a> {
    log: LogRecord,
    trace_id: &'a [u8],
    span_id: &'a [u8],
}

fn log_field<'a>(
    p: &mut LogParts<'a>,
    tag: u32,
    wire_type: WireType,
    buf: &mut Buf<'a>,
    budget: u32,
) -> Result<()> {
    const M: &str = "LogRecord";
    let l = &mut p.log;
    match tag {
        1 => fixed64::merge(wire_type, &mut l.time_unix_nano, buf, cx())
            .map_err(at(M, "time_unix_nano")),
        2 => read_i32(wire_type, &mut l.severity_number, buf).map_err(at(M, "severity_number")),
        3 => read_string(wire_type, &mut l.severity_text, buf).map_err(at(M, "severity_text")),
        5 => message(wire_type, &mut l.body, buf, budget, any_value).map_err(at(M, "body")),
        6 => push_key_value(&mut l.attributes, wire_type, buf, budget).map_err(at(M, "attributes")),
        7 => read_u32(wire_type, &mut l.dropped_attributes_count, buf)
            .map_err(at(M, "dropped_attributes_count")),
        8 => fixed32::merge(wire_type, &mut l.flags, buf, cx()).map_err(at(M, "flags")),
        9 => raw_bytes(wire_type, buf)
            .map(|id| p.trace_id = id)
            .map_err(at(M, "trace_id")),
        10 => raw_bytes(wire_type, buf)
            .map(|id| p.span_id = id)
            .map_err(at(M, "span_id")),
        11 => fixed64::merge(wire_type, &mut l.observed_time_unix_nano, buf, cx())
            .map_err(at(M, "observed_time_unix_nano")),
        12 => read_string(wire_type, &mut l.event_name, buf).map_err(at(M, "event_name")),
        _ => skip(wire_type, tag, buf, budget),
    }
}

fn read_log<'a>(wire_type: WireType, buf: &mut Buf<'a>, budget: u32) -> Result<LogParts<'a>> {
    let mut parts = LogParts {
        log: LogRecord::default(),
        trace_id: &[],
        span_id: &[],
    };
    message(wire_type, &mut parts, buf, budget, log_field)?;
    Ok(parts)
}

/// Decodes the payload of a log entry (the bytes after the 2-byte header).
pub(super) fn decode_log(payload: &[u8]) -> std::result::Result<LogRecord, CodecError> {
    let (resource, scope, parts) = single(self::payload(&LOG_NAMES, read_log, payload)?)?;
    let mut log = parts.log;
    if !parts.trace_id.is_empty() {
        log.trace_id = Some(trace_id(parts.trace_id, "trace_id")?);
    }
    if !parts.span_id.is_empty() {
        log.span_id = Some(span_id(parts.span_id, "span_id")?);
    }
    log.resource = resource;
    log.scope = scope;
    Ok(log)
}
