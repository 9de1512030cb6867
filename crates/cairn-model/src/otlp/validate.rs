//! Per-record validation of OTLP messages against [`Limits`].
//!
//! Runs on the proto messages *before* conversion, so a hostile record is rejected without being
//! copied. `AnyValue` trees are walked with an explicit stack: a value nested deeper than any
//! decoder would allow (a caller can build one in memory) cannot overflow the stack here, and
//! everything after validation may recurse because depth is then bounded by `max_depth`.

use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PValue;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use prost::Message as _;

use super::Limits;
use super::convert::FieldError;

/// Shortens attacker-controlled text (keys, names) used inside an error message.
pub(super) fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn over(what: String, limit_name: &str, limit: usize) -> String {
    format!("{what}, over the limit {limit_name} = {limit}")
}

fn check_len(field: &str, len: usize, limit_name: &str, limit: usize) -> Result<(), FieldError> {
    if len > limit {
        return Err(FieldError::new(
            field,
            over(format!("is {len} bytes"), limit_name, limit),
        ));
    }
    Ok(())
}

fn check_name(field: &str, value: &str, limits: &Limits) -> Result<(), FieldError> {
    check_len(field, value.len(), "max_name_bytes", limits.max_name_bytes)
}

fn check_count(
    field: &str,
    count: usize,
    limit_name: &str,
    limit: usize,
) -> Result<(), FieldError> {
    if count > limit {
        return Err(FieldError::new(
            field,
            over(format!("has {count} entries"), limit_name, limit),
        ));
    }
    Ok(())
}

/// Checks an attribute list: count, key sizes and every value.
pub(super) fn check_attributes(
    field: &str,
    attributes: &[common::KeyValue],
    limits: &Limits,
) -> Result<(), FieldError> {
    check_count(
        field,
        attributes.len(),
        "max_attributes",
        limits.max_attributes,
    )?;
    for (i, kv) in attributes.iter().enumerate() {
        if kv.key.len() > limits.max_key_bytes {
            return Err(FieldError::new(
                format!("{field}[{i}].key"),
                over(
                    format!("is {} bytes", kv.key.len()),
                    "max_key_bytes",
                    limits.max_key_bytes,
                ),
            ));
        }
        if let Some(value) = &kv.value {
            check_value(value, limits).map_err(|detail| {
                FieldError::new(format!("{field}[\"{}\"]", excerpt(&kv.key)), detail)
            })?;
        }
    }
    Ok(())
}

/// Checks one value tree iteratively; returns what is wrong (the caller names the field).
///
/// The stack of pending children is only allocated for an array or a key-value list: most
/// attribute values are scalars and are checked without an allocation.
pub(super) fn check_value(value: &common::AnyValue, limits: &Limits) -> Result<(), String> {
    let mut stack: Vec<(&common::AnyValue, usize)> = Vec::new();
    check_node(value, 1, limits, &mut stack)?;
    while let Some((value, depth)) = stack.pop() {
        check_node(value, depth, limits, &mut stack)?;
    }
    Ok(())
}

/// Checks one node of a value tree at `depth` and pushes its children.
fn check_node<'a>(
    value: &'a common::AnyValue,
    depth: usize,
    limits: &Limits,
    stack: &mut Vec<(&'a common::AnyValue, usize)>,
) -> Result<(), String> {
    if depth > limits.max_depth {
        return Err(over(
            format!("nests values {depth} levels deep"),
            "max_depth",
            limits.max_depth,
        ));
    }
    match &value.value {
        Some(PValue::StringValue(s)) if s.len() > limits.max_attribute_value_bytes => {
            return Err(over(
                format!("has a string of {} bytes", s.len()),
                "max_attribute_value_bytes",
                limits.max_attribute_value_bytes,
            ));
        }
        Some(PValue::BytesValue(b)) if b.len() > limits.max_attribute_value_bytes => {
            return Err(over(
                format!("has a bytes value of {} bytes", b.len()),
                "max_attribute_value_bytes",
                limits.max_attribute_value_bytes,
            ));
        }
        Some(PValue::ArrayValue(array)) => {
            if array.values.len() > limits.max_array_len {
                return Err(over(
                    format!("has an array of {} values", array.values.len()),
                    "max_array_len",
                    limits.max_array_len,
                ));
            }
            stack.extend(array.values.iter().map(|v| (v, depth + 1)));
        }
        Some(PValue::KvlistValue(list)) => {
            if list.values.len() > limits.max_array_len {
                return Err(over(
                    format!("has a key-value list of {} entries", list.values.len()),
                    "max_array_len",
                    limits.max_array_len,
                ));
            }
            for kv in &list.values {
                if kv.key.len() > limits.max_key_bytes {
                    return Err(over(
                        format!("has a nested key of {} bytes", kv.key.len()),
                        "max_key_bytes",
                        limits.max_key_bytes,
                    ));
                }
                if let Some(v) = &kv.value {
                    stack.push((v, depth + 1));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

pub(super) fn check_resource(
    resource: Option<&resource::Resource>,
    schema_url: &str,
    limits: &Limits,
) -> Result<(), FieldError> {
    check_name("resource.schema_url", schema_url, limits)?;
    let Some(resource) = resource else {
        return Ok(());
    };
    check_attributes("resource.attributes", &resource.attributes, limits)?;
    check_count(
        "resource.entity_refs",
        resource.entity_refs.len(),
        "max_attributes",
        limits.max_attributes,
    )
}

pub(super) fn check_scope(
    scope: Option<&common::InstrumentationScope>,
    schema_url: &str,
    limits: &Limits,
) -> Result<(), FieldError> {
    check_name("scope.schema_url", schema_url, limits)?;
    let Some(scope) = scope else {
        return Ok(());
    };
    check_name("scope.name", &scope.name, limits)?;
    check_name("scope.version", &scope.version, limits)?;
    check_attributes("scope.attributes", &scope.attributes, limits)
}

fn check_trace_id(field: &str, bytes: &[u8]) -> Result<(), FieldError> {
    match bytes.len() {
        16 if bytes.iter().all(|b| *b == 0) => Err(FieldError::new(field, "must not be all zeros")),
        16 => Ok(()),
        n => Err(FieldError::new(
            field,
            format!("must be 16 bytes, got {n} bytes"),
        )),
    }
}

fn check_span_id(field: &str, bytes: &[u8]) -> Result<(), FieldError> {
    match bytes.len() {
        8 if bytes.iter().all(|b| *b == 0) => Err(FieldError::new(field, "must not be all zeros")),
        8 => Ok(()),
        n => Err(FieldError::new(
            field,
            format!("must be 8 bytes, got {n} bytes"),
        )),
    }
}

fn check_record_size(field: &str, len: usize, limits: &Limits) -> Result<(), FieldError> {
    if len > limits.max_record_bytes {
        return Err(FieldError::new(
            field,
            over(
                format!("encodes to {len} bytes"),
                "max_record_bytes",
                limits.max_record_bytes,
            ),
        ));
    }
    Ok(())
}

/// Validates one span and normalizes its all-zero parent id (W3C "invalid", i.e. no parent) to
/// an absent one.
pub(super) fn check_span(span: &mut trace::Span, limits: &Limits) -> Result<(), FieldError> {
    check_trace_id("trace_id", &span.trace_id)?;
    check_span_id("span_id", &span.span_id)?;
    match span.parent_span_id.len() {
        0 => {}
        8 if span.parent_span_id.iter().all(|b| *b == 0) => span.parent_span_id.clear(),
        8 => {}
        n => {
            return Err(FieldError::new(
                "parent_span_id",
                format!("must be empty or 8 bytes, got {n} bytes"),
            ));
        }
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(FieldError::new(
            "end_time_unix_nano",
            format!(
                "({}) is before start_time_unix_nano ({})",
                span.end_time_unix_nano, span.start_time_unix_nano
            ),
        ));
    }
    if !(0..=5).contains(&span.kind) {
        return Err(FieldError::new(
            "kind",
            format!("{} is not a span kind (0..=5)", span.kind),
        ));
    }
    let code = span.status.as_ref().map_or(0, |s| s.code);
    if !(0..=2).contains(&code) {
        return Err(FieldError::new(
            "status.code",
            format!("{code} is not a status code (0..=2)"),
        ));
    }
    check_name("name", &span.name, limits)?;
    check_name("trace_state", &span.trace_state, limits)?;
    if let Some(status) = &span.status {
        check_len(
            "status.message",
            status.message.len(),
            "max_attribute_value_bytes",
            limits.max_attribute_value_bytes,
        )?;
    }
    check_attributes("attributes", &span.attributes, limits)?;
    check_count("events", span.events.len(), "max_events", limits.max_events)?;
    for (i, event) in span.events.iter().enumerate() {
        let within = |e: FieldError| e.within(&format!("events[{i}]"));
        check_name("name", &event.name, limits).map_err(within)?;
        check_attributes("attributes", &event.attributes, limits).map_err(within)?;
    }
    check_count("links", span.links.len(), "max_links", limits.max_links)?;
    for (i, link) in span.links.iter().enumerate() {
        let within = |e: FieldError| e.within(&format!("links[{i}]"));
        check_trace_id("trace_id", &link.trace_id).map_err(within)?;
        check_span_id("span_id", &link.span_id).map_err(within)?;
        check_name("trace_state", &link.trace_state, limits).map_err(within)?;
        check_attributes("attributes", &link.attributes, limits).map_err(within)?;
    }
    check_record_size("span", span.encoded_len(), limits)
}

/// Validates one log record and normalizes all-zero trace/span ids (W3C "invalid", i.e. not
/// part of a trace) to absent ones.
pub(super) fn check_log(log: &mut logs::LogRecord, limits: &Limits) -> Result<(), FieldError> {
    match log.trace_id.len() {
        0 => {}
        16 if log.trace_id.iter().all(|b| *b == 0) => log.trace_id.clear(),
        16 => {}
        n => {
            return Err(FieldError::new(
                "trace_id",
                format!("must be empty or 16 bytes, got {n} bytes"),
            ));
        }
    }
    match log.span_id.len() {
        0 => {}
        8 if log.span_id.iter().all(|b| *b == 0) => log.span_id.clear(),
        8 => {}
        n => {
            return Err(FieldError::new(
                "span_id",
                format!("must be empty or 8 bytes, got {n} bytes"),
            ));
        }
    }
    check_name("event_name", &log.event_name, limits)?;
    check_name("severity_text", &log.severity_text, limits)?;
    if let Some(body) = &log.body {
        check_value(body, limits).map_err(|detail| FieldError::new("body", detail))?;
    }
    check_attributes("attributes", &log.attributes, limits)?;
    check_record_size("log_record", log.encoded_len(), limits)
}
