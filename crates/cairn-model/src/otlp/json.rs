//! OTLP/JSON → proto messages, per the OTLP specification's JSON encoding rules.
//!
//! Hand-written rather than `opentelemetry-proto`'s serde support: that feature is off in this
//! workspace (it silently drops fields, opentelemetry-rust issue #3527), and doing it here lets a
//! bad field reject only its own span instead of the whole request.
//!
//! Rules implemented (OTLP spec, "JSON Protobuf Encoding"):
//! - keys are lowerCamelCase; the original snake_case proto names are accepted too;
//! - trace and span ids are hex strings (either case), not base64;
//! - enums are integers; the proto enum names (`SPAN_KIND_SERVER`) are accepted too;
//! - 64-bit integers may be decimal strings or numbers; doubles may be numbers or the strings
//!   `"NaN"`, `"Infinity"`, `"-Infinity"`; `bytesValue` is base64 (standard or URL-safe alphabet,
//!   padding optional);
//! - unknown keys are ignored and `null` means "absent".
//!
//! A structural error above the record level (the body is not a JSON object, `resourceSpans` is
//! not an array …) fails the whole request. Anything wrong inside a resource, scope or record
//! becomes a per-record rejection. Nesting depth is bounded by `serde_json`'s recursion limit
//! (128) while parsing, which bounds the recursion in [`any_value`].

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::common::v1::any_value::Value as PValue;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;
use serde_json::{Map, Value};

use super::convert::FieldError;
use super::{Batch, OtlpError, ResourceGroup, ScopeGroup};

type Object = Map<String, Value>;

const PADDING_INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, PADDING_INDIFFERENT);
const BASE64_URL_SAFE: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, PADDING_INDIFFERENT);

/// The key names of one signal's envelope.
struct Envelope {
    resources: (&'static str, &'static str),
    scopes: (&'static str, &'static str),
    items: (&'static str, &'static str),
}

pub(super) fn traces(body: &[u8]) -> Result<Batch<trace::Span>, OtlpError> {
    let envelope = Envelope {
        resources: ("resourceSpans", "resource_spans"),
        scopes: ("scopeSpans", "scope_spans"),
        items: ("spans", "spans"),
    };
    batch(body, &envelope, span)
}

pub(super) fn logs(body: &[u8]) -> Result<Batch<logs::LogRecord>, OtlpError> {
    let envelope = Envelope {
        resources: ("resourceLogs", "resource_logs"),
        scopes: ("scopeLogs", "scope_logs"),
        items: ("logRecords", "log_records"),
    };
    batch(body, &envelope, log_record)
}

fn structure(path: impl Into<String>, expected: &'static str) -> OtlpError {
    OtlpError::JsonStructure {
        path: path.into(),
        expected,
    }
}

/// An optional array under one of two key spellings, as a slice (absent or `null` = empty).
fn array_of<'a>(
    obj: &'a Object,
    names: (&str, &str),
    path: &str,
) -> Result<&'a [Value], OtlpError> {
    match get(obj, names.0, names.1) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(structure(format!("{path}.{}", names.0), "an array")),
    }
}

fn batch<T>(
    body: &[u8],
    envelope: &Envelope,
    item: fn(&Value) -> Result<T, FieldError>,
) -> Result<Batch<T>, OtlpError> {
    let root: Value = serde_json::from_slice(body).map_err(OtlpError::Json)?;
    let Value::Object(root) = &root else {
        return Err(structure("(body)", "an object"));
    };
    let mut resources = Vec::new();
    for (ri, rs) in array_of(root, envelope.resources, "(body)")?
        .iter()
        .enumerate()
    {
        let path = format!("{}[{ri}]", envelope.resources.0);
        let Value::Object(rs) = rs else {
            return Err(structure(path, "an object"));
        };
        let resource = resource_message(rs);
        let mut scopes = Vec::new();
        for (si, ss) in array_of(rs, envelope.scopes, &path)?.iter().enumerate() {
            let path = format!("{path}.{}[{si}]", envelope.scopes.0);
            let Value::Object(ss) = ss else {
                return Err(structure(path, "an object"));
            };
            let items = array_of(ss, envelope.items, &path)?
                .iter()
                .map(item)
                .collect();
            scopes.push(ScopeGroup {
                scope: scope_message(ss),
                items,
            });
        }
        resources.push(ResourceGroup { resource, scopes });
    }
    Ok(Batch { resources })
}

fn resource_message(rs: &Object) -> Result<(Option<resource::Resource>, String), FieldError> {
    let schema_url = string(rs, "schemaUrl", "schema_url").map_err(|e| e.within("resource"))?;
    let Some(value) = get(rs, "resource", "resource") else {
        return Ok((None, schema_url));
    };
    let r = object(value, "resource")?;
    let within = |e: FieldError| e.within("resource");
    let entity_refs = match get(r, "entityRefs", "entity_refs") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, e)| entity_ref(e).map_err(|err| err.within(&format!("entity_refs[{i}]"))))
            .collect::<Result<_, _>>()
            .map_err(within)?,
        Some(_) => return Err(FieldError::new("resource.entity_refs", "must be an array")),
    };
    Ok((
        Some(resource::Resource {
            attributes: attributes(r, "attributes").map_err(within)?,
            dropped_attributes_count: u32_field(
                r,
                "droppedAttributesCount",
                "dropped_attributes_count",
            )
            .map_err(within)?,
            entity_refs,
        }),
        schema_url,
    ))
}

fn entity_ref(value: &Value) -> Result<common::EntityRef, FieldError> {
    let e = object(value, "")?;
    let strings = |camel: &str, snake: &str| -> Result<Vec<String>, FieldError> {
        match get(e, camel, snake) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| FieldError::new(snake, "must be an array of strings"))
                })
                .collect(),
            Some(_) => Err(FieldError::new(snake, "must be an array of strings")),
        }
    };
    Ok(common::EntityRef {
        schema_url: string(e, "schemaUrl", "schema_url")?,
        r#type: string(e, "type", "type")?,
        id_keys: strings("idKeys", "id_keys")?,
        description_keys: strings("descriptionKeys", "description_keys")?,
    })
}

fn scope_message(
    ss: &Object,
) -> Result<(Option<common::InstrumentationScope>, String), FieldError> {
    let schema_url = string(ss, "schemaUrl", "schema_url").map_err(|e| e.within("scope"))?;
    let Some(value) = get(ss, "scope", "scope") else {
        return Ok((None, schema_url));
    };
    let s = object(value, "scope")?;
    let within = |e: FieldError| e.within("scope");
    Ok((
        Some(common::InstrumentationScope {
            name: string(s, "name", "name").map_err(within)?,
            version: string(s, "version", "version").map_err(within)?,
            attributes: attributes(s, "attributes").map_err(within)?,
            dropped_attributes_count: u32_field(
                s,
                "droppedAttributesCount",
                "dropped_attributes_count",
            )
            .map_err(within)?,
        }),
        schema_url,
    ))
}

fn span(value: &Value) -> Result<trace::Span, FieldError> {
    let s = object(value, "(span)")?;
    let events = list(s, "events", "events", |e| {
        let e = object(e, "")?;
        Ok(trace::span::Event {
            time_unix_nano: u64_field(e, "timeUnixNano", "time_unix_nano")?,
            name: string(e, "name", "name")?,
            attributes: attributes(e, "attributes")?,
            dropped_attributes_count: u32_field(
                e,
                "droppedAttributesCount",
                "dropped_attributes_count",
            )?,
        })
    })?;
    let links = list(s, "links", "links", |l| {
        let l = object(l, "")?;
        Ok(trace::span::Link {
            trace_id: hex_id(l, "traceId", "trace_id")?,
            span_id: hex_id(l, "spanId", "span_id")?,
            trace_state: string(l, "traceState", "trace_state")?,
            attributes: attributes(l, "attributes")?,
            dropped_attributes_count: u32_field(
                l,
                "droppedAttributesCount",
                "dropped_attributes_count",
            )?,
            flags: u32_field(l, "flags", "flags")?,
        })
    })?;
    let status = match get(s, "status", "status") {
        None => None,
        Some(status) => {
            let st = object(status, "status")?;
            let within = |e: FieldError| e.within("status");
            Some(trace::Status {
                message: string(st, "message", "message").map_err(within)?,
                code: enum_field(st, "code", "code", |name| {
                    trace::status::StatusCode::from_str_name(name).map(|c| c as i32)
                })
                .map_err(within)?,
            })
        }
    };
    Ok(trace::Span {
        trace_id: hex_id(s, "traceId", "trace_id")?,
        span_id: hex_id(s, "spanId", "span_id")?,
        trace_state: string(s, "traceState", "trace_state")?,
        parent_span_id: hex_id(s, "parentSpanId", "parent_span_id")?,
        flags: u32_field(s, "flags", "flags")?,
        name: string(s, "name", "name")?,
        kind: enum_field(s, "kind", "kind", |name| {
            trace::span::SpanKind::from_str_name(name).map(|k| k as i32)
        })?,
        start_time_unix_nano: u64_field(s, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: u64_field(s, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(s, "attributes")?,
        dropped_attributes_count: u32_field(
            s,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        events,
        dropped_events_count: u32_field(s, "droppedEventsCount", "dropped_events_count")?,
        links,
        dropped_links_count: u32_field(s, "droppedLinksCount", "dropped_links_count")?,
        status,
    })
}

fn log_record(value: &Value) -> Result<logs::LogRecord, FieldError> {
    let l = object(value, "(log record)")?;
    Ok(logs::LogRecord {
        time_unix_nano: u64_field(l, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: u64_field(l, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: enum_field(l, "severityNumber", "severity_number", |name| {
            logs::SeverityNumber::from_str_name(name).map(|s| s as i32)
        })?,
        severity_text: string(l, "severityText", "severity_text")?,
        body: get(l, "body", "body")
            .map(|body| any_value(body).map_err(|e| e.within("body")))
            .transpose()?,
        attributes: attributes(l, "attributes")?,
        dropped_attributes_count: u32_field(
            l,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        flags: u32_field(l, "flags", "flags")?,
        trace_id: hex_id(l, "traceId", "trace_id")?,
        span_id: hex_id(l, "spanId", "span_id")?,
        event_name: string(l, "eventName", "event_name")?,
    })
}

/// A key under its lowerCamelCase or snake_case name; `null` counts as absent.
fn get<'a>(obj: &'a Object, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Object, FieldError> {
    value
        .as_object()
        .ok_or_else(|| FieldError::new(field, "must be an object"))
}

fn list<T>(
    obj: &Object,
    camel: &str,
    snake: &str,
    item: impl Fn(&Value) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    match get(obj, camel, snake) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| item(v).map_err(|e| e.within(&format!("{snake}[{i}]"))))
            .collect(),
        Some(_) => Err(FieldError::new(snake, "must be an array")),
    }
}

fn string(obj: &Object, camel: &str, snake: &str) -> Result<String, FieldError> {
    match get(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(FieldError::new(snake, "must be a string")),
    }
}

/// Bytes of a hex id; the length is checked by validation, which knows whether it is optional.
fn hex_id(obj: &Object, camel: &str, snake: &str) -> Result<Vec<u8>, FieldError> {
    let s = string(obj, camel, snake)?;
    hex::decode(&s).map_err(|_| {
        FieldError::new(
            snake,
            format!(
                "must be a hex string, got {:?}",
                super::validate::excerpt(&s)
            ),
        )
    })
}

/// A JSON number that is an exact integer, including forms such as `1e3` or `10.0`.
fn integral(n: &serde_json::Number) -> Option<i128> {
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    let f = n.as_f64()?;
    // Beyond 2^63 an f64 can no longer be told apart from its neighbours; refuse rather than guess.
    if f.fract() == 0.0 && f.abs() < 9.2e18 {
        #[allow(clippy::cast_possible_truncation)] // integral and in range, checked above
        return Some(f as i128);
    }
    None
}

fn integer<T: TryFrom<i128> + std::str::FromStr>(
    value: &Value,
    field: &str,
    type_name: &str,
) -> Result<T, FieldError> {
    let parsed = match value {
        Value::String(s) => s.trim().parse::<T>().ok(),
        Value::Number(n) => integral(n).and_then(|i| T::try_from(i).ok()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        FieldError::new(
            field,
            format!("must be a {type_name} as a number or a decimal string"),
        )
    })
}

fn u64_field(obj: &Object, camel: &str, snake: &str) -> Result<u64, FieldError> {
    get(obj, camel, snake).map_or(Ok(0), |v| integer(v, snake, "uint64"))
}

fn u32_field(obj: &Object, camel: &str, snake: &str) -> Result<u32, FieldError> {
    get(obj, camel, snake).map_or(Ok(0), |v| integer(v, snake, "uint32"))
}

fn enum_field(
    obj: &Object,
    camel: &str,
    snake: &str,
    from_name: impl Fn(&str) -> Option<i32>,
) -> Result<i32, FieldError> {
    match get(obj, camel, snake) {
        None => Ok(0),
        Some(Value::String(name)) if from_name(name).is_some() => {
            Ok(from_name(name).unwrap_or_default())
        }
        Some(v @ Value::Number(_)) => integer(v, snake, "int32 enum value"),
        Some(_) => Err(FieldError::new(
            snake,
            "must be an enum value (integer) or enum name",
        )),
    }
}

fn attributes(obj: &Object, name: &str) -> Result<Vec<common::KeyValue>, FieldError> {
    let items = match get(obj, name, name) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(FieldError::new(name, "must be an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, kv)| {
            key_value(kv).map_err(|e| {
                // Errors inside a value are already labelled `["key"]…`.
                if e.field.starts_with('[') {
                    e.within(name)
                } else {
                    e.within(&format!("{name}[{i}]"))
                }
            })
        })
        .collect()
}

fn key_value(value: &Value) -> Result<common::KeyValue, FieldError> {
    let kv = object(value, "")?;
    let key = string(kv, "key", "key")?;
    let value = get(kv, "value", "value")
        .map(|v| {
            any_value(v).map_err(|e| e.within(&format!("[\"{}\"]", super::validate::excerpt(&key))))
        })
        .transpose()?;
    Ok(common::KeyValue {
        key,
        value,
        key_strindex: 0,
    })
}

fn double(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.trim().parse().ok(),
        },
        _ => None,
    }
}

fn base64_bytes(s: &str) -> Option<Vec<u8>> {
    let engine = if s.contains(['-', '_']) {
        &BASE64_URL_SAFE
    } else {
        &BASE64_STANDARD
    };
    engine.decode(s).ok()
}

/// One `AnyValue`. The field of a returned error is relative to the value (empty, or
/// `[3]`/`["key"]` for nested ones).
fn any_value(value: &Value) -> Result<common::AnyValue, FieldError> {
    let obj = object(value, "")?;
    let err = |detail: &str| FieldError::new("", detail);
    let value = if let Some(v) = get(obj, "stringValue", "string_value") {
        PValue::StringValue(
            v.as_str()
                .ok_or_else(|| err("stringValue must be a string"))?
                .to_owned(),
        )
    } else if let Some(v) = get(obj, "boolValue", "bool_value") {
        PValue::BoolValue(
            v.as_bool()
                .ok_or_else(|| err("boolValue must be a boolean"))?,
        )
    } else if let Some(v) = get(obj, "intValue", "int_value") {
        PValue::IntValue(
            integer(v, "", "int64")
                .map_err(|_| err("intValue must be an int64 as a number or a decimal string"))?,
        )
    } else if let Some(v) = get(obj, "doubleValue", "double_value") {
        PValue::DoubleValue(
            double(v)
                .ok_or_else(|| err("doubleValue must be a number, \"NaN\" or \"Infinity\""))?,
        )
    } else if let Some(v) = get(obj, "bytesValue", "bytes_value") {
        let s = v
            .as_str()
            .ok_or_else(|| err("bytesValue must be a base64 string"))?;
        PValue::BytesValue(
            base64_bytes(s).ok_or_else(|| err("bytesValue must be a base64 string"))?,
        )
    } else if let Some(v) = get(obj, "arrayValue", "array_value") {
        let values = list(object(v, "")?, "values", "values", any_value)
            .map_err(|e| FieldError::new(e.field.trim_start_matches("values"), e.detail))?;
        PValue::ArrayValue(common::ArrayValue { values })
    } else if let Some(v) = get(obj, "kvlistValue", "kvlist_value") {
        let values = list(object(v, "")?, "values", "values", key_value)
            .map_err(|e| FieldError::new(e.field.trim_start_matches("values"), e.detail))?;
        PValue::KvlistValue(common::KeyValueList { values })
    } else {
        return Ok(common::AnyValue { value: None });
    };
    Ok(common::AnyValue { value: Some(value) })
}
