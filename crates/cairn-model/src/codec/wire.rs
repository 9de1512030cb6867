//! The canonical payload written straight from the borrowed model, with `prost::encoding`.
//!
//! Why hand-written: prost's derived `Message::encode` needs owned OTLP messages, so encoding a
//! model record that way meant cloning every key, value, id and name into a `ResourceSpans`
//! (three to six allocations per attribute) only to serialize it and drop it. This module writes
//! the same bytes from `&Span` / `&LogRecord` with prost's own field encoders and no
//! intermediate message: for each message a `*_len` function gives the encoded body length and
//! a `write_*` function writes the body, and a nested message is its key, its length as a varint,
//! then its body (the lengths are computed before writing, as prost's derived code does).
//!
//! It must reproduce, byte for byte, what prost's derived encoding of the messages built by
//! `otlp::convert::*_to_proto` writes (the ledger hashes these bytes; `tests/codec.rs` checks
//! equality against that clone-based encoding over arbitrary records and the OTLP examples).
//! The rules that encoding follows, mirrored here:
//! - fields in tag order (prost sorts by tag, so `Span.flags`, tag 16, comes after `status`);
//! - proto3 scalars, strings and bytes are omitted when zero / empty; repeated fields write
//!   every element, empty strings and empty messages included;
//! - a oneof member (`AnyValue.value`) is written even when it holds a default (`""`, `false`,
//!   `0`), and an empty `AnyValue` inside an array is an empty message;
//! - `KeyValue.value` and a log body are absent for [`AnyValue::Empty`]; the resource, scope and
//!   span status messages are absent when every field in them is default;
//! - enums are `int32` varints (a negative value takes 10 bytes), doubles their 8 raw bytes.

use prost::encoding::{
    WireType, bool as pbool, double, encode_key, encode_varint, encoded_len_varint, fixed32,
    fixed64, int32, int64, key_len, string, uint32,
};

use crate::span::{
    EntityRef, Event, InstrumentationScope, Link, LogRecord, Resource, Span, SpanId, Status,
    TraceId,
};
use crate::value::{AnyValue, KeyValue};

type Buf = Vec<u8>;

/// Length of a length-delimited field (key, length varint, body) whose body is `len` bytes.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// Writes the key and the length of a length-delimited field; the caller writes the body.
fn delimited_header(tag: u32, len: usize, buf: &mut Buf) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

fn str_len(tag: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        delimited_len(tag, value.len())
    }
}

fn write_str(tag: u32, value: &str, buf: &mut Buf) {
    if !value.is_empty() {
        delimited_header(tag, value.len(), buf);
        buf.extend_from_slice(value.as_bytes());
    }
}

fn write_bytes(tag: u32, value: &[u8], buf: &mut Buf) {
    if !value.is_empty() {
        delimited_header(tag, value.len(), buf);
        buf.extend_from_slice(value);
    }
}

fn u32_len(tag: u32, value: u32) -> usize {
    if value == 0 {
        0
    } else {
        uint32::encoded_len(tag, &value)
    }
}

fn write_u32(tag: u32, value: u32, buf: &mut Buf) {
    if value != 0 {
        uint32::encode(tag, &value, buf);
    }
}

fn enum_len(tag: u32, value: i32) -> usize {
    if value == 0 {
        0
    } else {
        int32::encoded_len(tag, &value)
    }
}

fn write_enum(tag: u32, value: i32, buf: &mut Buf) {
    if value != 0 {
        int32::encode(tag, &value, buf);
    }
}

fn fixed64_len(tag: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        fixed64::encoded_len(tag, &value)
    }
}

fn write_fixed64(tag: u32, value: u64, buf: &mut Buf) {
    if value != 0 {
        fixed64::encode(tag, &value, buf);
    }
}

fn fixed32_len(tag: u32, value: u32) -> usize {
    if value == 0 {
        0
    } else {
        fixed32::encoded_len(tag, &value)
    }
}

fn write_fixed32(tag: u32, value: u32, buf: &mut Buf) {
    if value != 0 {
        fixed32::encode(tag, &value, buf);
    }
}

// --- common.v1.AnyValue, KeyValue, ArrayValue, KeyValueList ---------------------------------

/// Body of an `AnyValue` message (its oneof; nothing for [`AnyValue::Empty`]).
fn any_value_len(value: &AnyValue) -> usize {
    match value {
        AnyValue::Empty => 0,
        AnyValue::String(s) => string::encoded_len(1, s),
        AnyValue::Bool(b) => pbool::encoded_len(2, b),
        AnyValue::Int(i) => int64::encoded_len(3, i),
        AnyValue::Double(d) => double::encoded_len(4, d),
        AnyValue::Array(values) => delimited_len(5, array_len(values)),
        AnyValue::KvList(kvs) => delimited_len(6, attributes_len(1, kvs)),
        AnyValue::Bytes(b) => delimited_len(7, b.len()),
    }
}

fn write_any_value(value: &AnyValue, buf: &mut Buf) {
    match value {
        AnyValue::Empty => {}
        AnyValue::String(s) => string::encode(1, s, buf),
        AnyValue::Bool(b) => pbool::encode(2, b, buf),
        AnyValue::Int(i) => int64::encode(3, i, buf),
        AnyValue::Double(d) => double::encode(4, d, buf),
        AnyValue::Array(values) => {
            delimited_header(5, array_len(values), buf);
            for value in values {
                delimited_header(1, any_value_len(value), buf);
                write_any_value(value, buf);
            }
        }
        AnyValue::KvList(kvs) => {
            delimited_header(6, attributes_len(1, kvs), buf);
            write_attributes(1, kvs, buf);
        }
        AnyValue::Bytes(b) => {
            delimited_header(7, b.len(), buf);
            buf.extend_from_slice(b);
        }
    }
}

/// Body of an `ArrayValue`: every element, empty ones as empty messages.
fn array_len(values: &[AnyValue]) -> usize {
    values
        .iter()
        .map(|v| delimited_len(1, any_value_len(v)))
        .sum()
}

/// Body of a `KeyValue`: the key, then the value unless it is empty.
fn key_value_len(kv: &KeyValue) -> usize {
    str_len(1, &kv.key)
        + match kv.value {
            AnyValue::Empty => 0,
            ref value => delimited_len(2, any_value_len(value)),
        }
}

fn write_key_value(kv: &KeyValue, buf: &mut Buf) {
    write_str(1, &kv.key, buf);
    if !matches!(kv.value, AnyValue::Empty) {
        delimited_header(2, any_value_len(&kv.value), buf);
        write_any_value(&kv.value, buf);
    }
}

/// A repeated `KeyValue` field.
fn attributes_len(tag: u32, attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| delimited_len(tag, key_value_len(kv)))
        .sum()
}

fn write_attributes(tag: u32, attributes: &[KeyValue], buf: &mut Buf) {
    for kv in attributes {
        delimited_header(tag, key_value_len(kv), buf);
        write_key_value(kv, buf);
    }
}

// --- resource.v1.Resource, common.v1.EntityRef, common.v1.InstrumentationScope --------------

fn repeated_str_len(tag: u32, values: &[String]) -> usize {
    values.iter().map(|s| string::encoded_len(tag, s)).sum()
}

fn write_repeated_str(tag: u32, values: &[String], buf: &mut Buf) {
    for s in values {
        string::encode(tag, s, buf);
    }
}

fn entity_ref_len(e: &EntityRef) -> usize {
    str_len(1, &e.schema_url)
        + str_len(2, &e.entity_type)
        + repeated_str_len(3, &e.id_keys)
        + repeated_str_len(4, &e.description_keys)
}

fn write_entity_ref(e: &EntityRef, buf: &mut Buf) {
    write_str(1, &e.schema_url, buf);
    write_str(2, &e.entity_type, buf);
    write_repeated_str(3, &e.id_keys, buf);
    write_repeated_str(4, &e.description_keys, buf);
}

/// Body of the `Resource` message (its schema URL belongs to the enclosing message).
fn resource_len(r: &Resource) -> usize {
    attributes_len(1, &r.attributes)
        + u32_len(2, r.dropped_attributes_count)
        + r.entity_refs
            .iter()
            .map(|e| delimited_len(3, entity_ref_len(e)))
            .sum::<usize>()
}

fn write_resource(r: &Resource, buf: &mut Buf) {
    write_attributes(1, &r.attributes, buf);
    write_u32(2, r.dropped_attributes_count, buf);
    for e in &r.entity_refs {
        delimited_header(3, entity_ref_len(e), buf);
        write_entity_ref(e, buf);
    }
}

/// The optional `resource` field (tag 1 of `ResourceSpans`/`ResourceLogs`): absent when every
/// field of the message would be default, which is exactly when its body is empty.
fn resource_field_len(r: &Resource) -> usize {
    match resource_len(r) {
        0 => 0,
        len => delimited_len(1, len),
    }
}

fn write_resource_field(r: &Resource, buf: &mut Buf) {
    let len = resource_len(r);
    if len != 0 {
        delimited_header(1, len, buf);
        write_resource(r, buf);
    }
}

/// Body of the `InstrumentationScope` message (its schema URL belongs to the enclosing message).
fn scope_len(s: &InstrumentationScope) -> usize {
    str_len(1, &s.name)
        + str_len(2, &s.version)
        + attributes_len(3, &s.attributes)
        + u32_len(4, s.dropped_attributes_count)
}

fn write_scope(s: &InstrumentationScope, buf: &mut Buf) {
    write_str(1, &s.name, buf);
    write_str(2, &s.version, buf);
    write_attributes(3, &s.attributes, buf);
    write_u32(4, s.dropped_attributes_count, buf);
}

/// The optional `scope` field (tag 1 of `ScopeSpans`/`ScopeLogs`), absent when empty.
fn scope_field_len(s: &InstrumentationScope) -> usize {
    match scope_len(s) {
        0 => 0,
        len => delimited_len(1, len),
    }
}

fn write_scope_field(s: &InstrumentationScope, buf: &mut Buf) {
    let len = scope_len(s);
    if len != 0 {
        delimited_header(1, len, buf);
        write_scope(s, buf);
    }
}

// --- trace.v1 ------------------------------------------------------------------------------

fn trace_id_len(tag: u32, _: &TraceId) -> usize {
    delimited_len(tag, TraceId::LEN)
}

fn span_id_len(tag: u32, _: &SpanId) -> usize {
    delimited_len(tag, SpanId::LEN)
}

fn status_len(s: &Status) -> usize {
    str_len(2, &s.message) + enum_len(3, s.code.as_i32())
}

fn event_len(e: &Event) -> usize {
    fixed64_len(1, e.time_unix_nano)
        + str_len(2, &e.name)
        + attributes_len(3, &e.attributes)
        + u32_len(4, e.dropped_attributes_count)
}

fn write_event(e: &Event, buf: &mut Buf) {
    write_fixed64(1, e.time_unix_nano, buf);
    write_str(2, &e.name, buf);
    write_attributes(3, &e.attributes, buf);
    write_u32(4, e.dropped_attributes_count, buf);
}

fn link_len(l: &Link) -> usize {
    trace_id_len(1, &l.trace_id)
        + span_id_len(2, &l.span_id)
        + str_len(3, &l.trace_state)
        + attributes_len(4, &l.attributes)
        + u32_len(5, l.dropped_attributes_count)
        + fixed32_len(6, l.flags)
}

fn write_link(l: &Link, buf: &mut Buf) {
    write_bytes(1, l.trace_id.as_bytes(), buf);
    write_bytes(2, l.span_id.as_bytes(), buf);
    write_str(3, &l.trace_state, buf);
    write_attributes(4, &l.attributes, buf);
    write_u32(5, l.dropped_attributes_count, buf);
    write_fixed32(6, l.flags, buf);
}

/// Body of the `Span` message.
fn span_len(s: &Span) -> usize {
    trace_id_len(1, &s.trace_id)
        + span_id_len(2, &s.span_id)
        + str_len(3, &s.trace_state)
        + s.parent_span_id.as_ref().map_or(0, |id| span_id_len(4, id))
        + str_len(5, &s.name)
        + enum_len(6, s.span_kind.as_i32())
        + fixed64_len(7, s.start_unix_nano)
        + fixed64_len(8, s.end_unix_nano)
        + attributes_len(9, &s.attributes)
        + u32_len(10, s.dropped_attributes_count)
        + s.events
            .iter()
            .map(|e| delimited_len(11, event_len(e)))
            .sum::<usize>()
        + u32_len(12, s.dropped_events_count)
        + s.links
            .iter()
            .map(|l| delimited_len(13, link_len(l)))
            .sum::<usize>()
        + u32_len(14, s.dropped_links_count)
        + match status_len(&s.status) {
            0 => 0,
            len => delimited_len(15, len),
        }
        + fixed32_len(16, s.flags)
}

fn write_span(s: &Span, buf: &mut Buf) {
    write_bytes(1, s.trace_id.as_bytes(), buf);
    write_bytes(2, s.span_id.as_bytes(), buf);
    write_str(3, &s.trace_state, buf);
    if let Some(parent) = &s.parent_span_id {
        write_bytes(4, parent.as_bytes(), buf);
    }
    write_str(5, &s.name, buf);
    write_enum(6, s.span_kind.as_i32(), buf);
    write_fixed64(7, s.start_unix_nano, buf);
    write_fixed64(8, s.end_unix_nano, buf);
    write_attributes(9, &s.attributes, buf);
    write_u32(10, s.dropped_attributes_count, buf);
    for e in &s.events {
        delimited_header(11, event_len(e), buf);
        write_event(e, buf);
    }
    write_u32(12, s.dropped_events_count, buf);
    for l in &s.links {
        delimited_header(13, link_len(l), buf);
        write_link(l, buf);
    }
    write_u32(14, s.dropped_links_count, buf);
    let status = status_len(&s.status);
    if status != 0 {
        delimited_header(15, status, buf);
        write_str(2, &s.status.message, buf);
        write_enum(3, s.status.code.as_i32(), buf);
    }
    write_fixed32(16, s.flags, buf);
}

/// Body of a `ScopeSpans` holding the span's scope and the span.
fn scope_spans_len(s: &Span, span_len: usize) -> usize {
    scope_field_len(&s.scope) + delimited_len(2, span_len) + str_len(3, &s.scope.schema_url)
}

/// The length of the `ResourceSpans` payload of a span entry (see the `codec` module docs) and
/// of the span message in it, to pass on to [`write_resource_spans`].
pub(super) fn resource_spans_len(s: &Span) -> (usize, usize) {
    let span = span_len(s);
    let total = resource_field_len(&s.resource)
        + delimited_len(2, scope_spans_len(s, span))
        + str_len(3, &s.resource.schema_url);
    (total, span)
}

/// Writes the `ResourceSpans` payload; `span` is the length [`resource_spans_len`] returned.
pub(super) fn write_resource_spans(s: &Span, span: usize, buf: &mut Buf) {
    write_resource_field(&s.resource, buf);
    delimited_header(2, scope_spans_len(s, span), buf);
    write_scope_field(&s.scope, buf);
    delimited_header(2, span, buf);
    write_span(s, buf);
    write_str(3, &s.scope.schema_url, buf);
    write_str(3, &s.resource.schema_url, buf);
}

// --- logs.v1 -------------------------------------------------------------------------------

/// Body of the `LogRecord` message.
fn log_len(l: &LogRecord) -> usize {
    fixed64_len(1, l.time_unix_nano)
        + enum_len(2, l.severity_number)
        + str_len(3, &l.severity_text)
        + match l.body {
            AnyValue::Empty => 0,
            ref body => delimited_len(5, any_value_len(body)),
        }
        + attributes_len(6, &l.attributes)
        + u32_len(7, l.dropped_attributes_count)
        + fixed32_len(8, l.flags)
        + l.trace_id.as_ref().map_or(0, |id| trace_id_len(9, id))
        + l.span_id.as_ref().map_or(0, |id| span_id_len(10, id))
        + fixed64_len(11, l.observed_time_unix_nano)
        + str_len(12, &l.event_name)
}

fn write_log(l: &LogRecord, buf: &mut Buf) {
    write_fixed64(1, l.time_unix_nano, buf);
    write_enum(2, l.severity_number, buf);
    write_str(3, &l.severity_text, buf);
    if !matches!(l.body, AnyValue::Empty) {
        delimited_header(5, any_value_len(&l.body), buf);
        write_any_value(&l.body, buf);
    }
    write_attributes(6, &l.attributes, buf);
    write_u32(7, l.dropped_attributes_count, buf);
    write_fixed32(8, l.flags, buf);
    if let Some(id) = &l.trace_id {
        write_bytes(9, id.as_bytes(), buf);
    }
    if let Some(id) = &l.span_id {
        write_bytes(10, id.as_bytes(), buf);
    }
    write_fixed64(11, l.observed_time_unix_nano, buf);
    write_str(12, &l.event_name, buf);
}

/// Body of a `ScopeLogs` holding the record's scope and the record.
fn scope_logs_len(l: &LogRecord, log_len: usize) -> usize {
    scope_field_len(&l.scope) + delimited_len(2, log_len) + str_len(3, &l.scope.schema_url)
}

/// The length of the `ResourceLogs` payload of a log entry (see the `codec` module docs) and
/// of the log record message in it, to pass on to [`write_resource_logs`].
pub(super) fn resource_logs_len(l: &LogRecord) -> (usize, usize) {
    let log = log_len(l);
    let total = resource_field_len(&l.resource)
        + delimited_len(2, scope_logs_len(l, log))
        + str_len(3, &l.resource.schema_url);
    (total, log)
}

/// Writes the `ResourceLogs` payload; `log` is the length [`resource_logs_len`] returned.
pub(super) fn write_resource_logs(l: &LogRecord, log: usize, buf: &mut Buf) {
    write_resource_field(&l.resource, buf);
    delimited_header(2, scope_logs_len(l, log), buf);
    write_scope_field(&l.scope, buf);
    delimited_header(2, log, buf);
    write_log(l, buf);
    write_str(3, &l.scope.schema_url, buf);
    write_str(3, &l.resource.schema_url, buf);
}
