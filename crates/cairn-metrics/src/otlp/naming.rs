//! OpenTelemetry → Prometheus naming (the OpenTelemetry specification's "Prometheus and
//! OpenMetrics Compatibility", metric points to Prometheus):
//!
//! - metric names: characters outside `[a-zA-Z0-9_:]` become `_`, runs of `_` collapse to one, a
//!   leading digit gets a `_` prefix;
//! - the unit becomes a suffix unless the name already ends with it: annotations in braces are
//!   dropped (`{token}` → no suffix), UCUM units are spelled out (`s` → `seconds`, `By` →
//!   `bytes`, `ms` → `milliseconds` …), `a/b` becomes `a_per_b` (`By/s` → `bytes_per_second`),
//!   and the unit `1` becomes `ratio` on gauges (nothing on other types); units are not converted;
//! - monotonic sums get `_total` (added by the encoder, so it is stripped from the base name);
//! - attribute keys become label names the same way, with `key_` before a leading digit; keys
//!   that collide after sanitizing have their values joined with `;` in the order of the original keys. Since runs of `_` collapse, no
//!   label name can start with the reserved `__`.

/// Sanitizes a metric name (no unit or type suffixes).
pub(crate) fn sanitize_metric_name(name: &str) -> String {
    let mut out = collapse(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Sanitizes an attribute key into a label name.
pub(crate) fn sanitize_label_name(key: &str) -> String {
    let out = collapse(key, |c| c.is_ascii_alphanumeric() || c == '_');
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{out}")
    } else if out.is_empty() {
        "key_".to_owned()
    } else {
        out
    }
}

/// Replaces characters not allowed by `keep` with `_` and collapses runs of `_`.
fn collapse(s: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if keep(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Drops `{annotations}` from a UCUM unit.
fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0_u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// The name suffix for a unit, if any.
pub(crate) fn unit_suffix(unit: &str, is_gauge: bool) -> Option<String> {
    let unit = strip_annotations(unit);
    if unit.is_empty() {
        return None;
    }
    if unit == "1" {
        return is_gauge.then(|| "ratio".to_owned());
    }
    let word = |u: &str, map: fn(&str) -> Option<&'static str>| {
        map(u).map_or_else(
            || {
                collapse(u, |c| c.is_ascii_alphanumeric())
                    .trim_matches('_')
                    .to_owned()
            },
            str::to_owned,
        )
    };
    let suffix = match unit.split_once('/') {
        Some((num, den)) => {
            let num = strip_annotations(num);
            let den = word(&strip_annotations(den), per_unit_word);
            if num.is_empty() || num == "1" {
                format!("per_{den}")
            } else {
                format!("{}_per_{den}", word(&num, unit_word))
            }
        }
        None => word(&unit, unit_word),
    };
    let suffix = suffix.trim_matches('_').to_owned();
    (!suffix.is_empty()).then_some(suffix)
}

/// The Prometheus family name of an OTLP metric: sanitized name plus unit suffix. For counters
/// this is the name *without* `_total` (the encoder appends it).
pub(crate) fn family_name(name: &str, unit: &str, is_gauge: bool, is_counter: bool) -> String {
    let mut base = sanitize_metric_name(name);
    if is_counter {
        if let Some(stripped) = base.strip_suffix("_total") {
            base = stripped.to_owned();
        }
    }
    if let Some(suffix) = unit_suffix(unit, is_gauge) {
        if !base.ends_with(&format!("_{suffix}")) && base != suffix {
            base = format!("{base}_{suffix}");
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genai_metric_names() {
        assert_eq!(
            family_name("gen_ai.client.operation.duration", "s", false, false),
            "gen_ai_client_operation_duration_seconds"
        );
        assert_eq!(
            family_name("gen_ai.client.token.usage", "{token}", false, false),
            "gen_ai_client_token_usage"
        );
    }

    #[test]
    fn units_and_counters() {
        assert_eq!(
            family_name("http.server.request.size", "By", false, true),
            "http_server_request_size_bytes"
        );
        assert_eq!(family_name("requests_total", "", false, true), "requests");
        assert_eq!(
            family_name("rx", "By/s", true, false),
            "rx_bytes_per_second"
        );
        assert_eq!(
            family_name("cpu.utilization", "1", true, false),
            "cpu_utilization_ratio"
        );
        assert_eq!(family_name("hits", "1", false, true), "hits");
        assert_eq!(
            family_name("latency_seconds", "s", false, false),
            "latency_seconds"
        );
        assert_eq!(
            family_name("queue", "{item}/s", true, false),
            "queue_per_second"
        );
        assert_eq!(
            family_name("weird", "furlongs", true, false),
            "weird_furlongs"
        );
    }

    #[test]
    fn sanitizing() {
        assert_eq!(sanitize_metric_name("a.b-c//d"), "a_b_c_d");
        assert_eq!(sanitize_metric_name("9lives"), "_9lives");
        assert_eq!(sanitize_metric_name(""), "_");
        assert_eq!(
            sanitize_label_name("gen_ai.request.model"),
            "gen_ai_request_model"
        );
        assert_eq!(sanitize_label_name("0day"), "key_0day");
        // Runs of `_` collapse, so no label starts with the reserved `__`.
        assert_eq!(sanitize_label_name("__x"), "_x");
        assert_eq!(sanitize_label_name("é"), "_");
    }
}
