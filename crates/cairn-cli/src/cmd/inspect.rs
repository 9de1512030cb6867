//! `cairn inspect FILE [--json]`: decode an OTLP file with the collector's own decoder and
//! validation, and print the normalized records.
//!
//! - Format: `--format`, else the extension (`.json` → OTLP/JSON; `.pb`, `.binpb`, `.protobuf` →
//!   protobuf), else sniffed (a body whose first non-blank byte is `{` is JSON).
//! - Signal: `--signal`, else detected: traces are tried first; a body that holds no spans and
//!   decodes as logs is shown as logs (the protobuf messages differ in wire types, so a logs body
//!   does not decode as spans).
//! - Output: one indented tree per trace (kind, name, duration, status and the key GenAI facts
//!   inline), or `--json` (`{"spans": [...], "rejected": [...]}` / `{"logs": [...], ...}`).
//! - Exit code: 0 when every record was accepted, 1 when some were rejected (listed with the field
//!   and limit), 2 when the file cannot be read or is malformed.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use cairn_model::otlp::{self, DecodedLogs, DecodedSpans, Format, Limits, Rejection};
use cairn_model::{LogRecord, Span, SpanId, SpanKind, StatusCode, TraceId};
use serde_json::json;

/// Arguments of `cairn inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// OTLP traces or logs request, as JSON or protobuf; `-` reads standard input.
    file: PathBuf,
    /// Print the normalized records as JSON instead of a tree.
    #[arg(long)]
    json: bool,
    /// Wire format [default: from the extension, else sniffed].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Signal [default: detected].
    #[arg(long, value_enum)]
    signal: Option<SignalArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    Json,
    Protobuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SignalArg {
    Traces,
    Logs,
}

/// What the file held.
#[derive(Debug)]
enum Decoded {
    Traces(DecodedSpans),
    Logs(DecodedLogs),
}

impl Decoded {
    fn rejected(&self) -> &[Rejection] {
        match self {
            Self::Traces(d) => &d.rejected,
            Self::Logs(d) => &d.rejected,
        }
    }
}

pub(crate) fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let body = read_input(&args.file)?;
    let format = match args.format {
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Protobuf) => Format::Protobuf,
        None => detect_format(&args.file, &body),
    };
    let decoded = decode(&body, format, args.signal, &Limits::default())
        .with_context(|| format!("cannot decode {}", args.file.display()))?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.json {
        write_json(&mut out, &decoded)?;
    } else {
        write_text(&mut out, &decoded)?;
    }
    out.flush()?;
    Ok(if decoded.rejected().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut body = Vec::new();
        io::stdin()
            .read_to_end(&mut body)
            .context("cannot read standard input")?;
        return Ok(body);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn detect_format(path: &Path, body: &[u8]) -> Format {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => Format::Json,
        Some("pb" | "binpb" | "protobuf") => Format::Protobuf,
        _ => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Protobuf,
        },
    }
}

fn decode(
    body: &[u8],
    format: Format,
    signal: Option<SignalArg>,
    limits: &Limits,
) -> Result<Decoded, otlp::OtlpError> {
    match signal {
        Some(SignalArg::Traces) => otlp::decode_traces(body, format, limits).map(Decoded::Traces),
        Some(SignalArg::Logs) => otlp::decode_logs(body, format, limits).map(Decoded::Logs),
        None => {
            let traces = otlp::decode_traces(body, format, limits);
            let found_spans = traces
                .as_ref()
                .is_ok_and(|t| !t.spans.is_empty() || !t.rejected.is_empty());
            if found_spans {
                return traces.map(Decoded::Traces);
            }
            match otlp::decode_logs(body, format, limits) {
                Ok(logs) if !logs.logs.is_empty() || !logs.rejected.is_empty() => {
                    Ok(Decoded::Logs(logs))
                }
                // Neither signal has records: report as traces (an error if traces failed).
                _ => traces.map(Decoded::Traces),
            }
        }
    }
}

fn write_json(out: &mut impl Write, decoded: &Decoded) -> anyhow::Result<()> {
    let value = match decoded {
        Decoded::Traces(d) => json!({
            "spans": d.spans.iter().map(Span::to_json).collect::<Vec<_>>(),
            "rejected": d.rejected,
        }),
        Decoded::Logs(d) => json!({
            "logs": d.logs.iter().map(LogRecord::to_json).collect::<Vec<_>>(),
            "rejected": d.rejected,
        }),
    };
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)?;
    Ok(())
}

fn write_text(out: &mut impl Write, decoded: &Decoded) -> io::Result<()> {
    match decoded {
        Decoded::Traces(d) => write_traces(out, &d.spans)?,
        Decoded::Logs(d) => write_logs(out, &d.logs)?,
    }
    let rejected = decoded.rejected();
    if !rejected.is_empty() {
        let what = match decoded {
            Decoded::Traces(_) => "span",
            Decoded::Logs(_) => "log record",
        };
        let plural = if rejected.len() == 1 { "" } else { "s" };
        writeln!(out, "\nrejected {} {what}{plural}:", rejected.len())?;
        for rejection in rejected {
            writeln!(out, "  - [{}] {}", rejection.field, rejection.message)?;
        }
    }
    Ok(())
}

/// Spans grouped by trace in order of first appearance, each trace as a tree.
fn write_traces(out: &mut impl Write, spans: &[Span]) -> io::Result<()> {
    if spans.is_empty() {
        return writeln!(out, "no spans");
    }
    let mut order: Vec<TraceId> = Vec::new();
    let mut by_trace: HashMap<TraceId, Vec<&Span>> = HashMap::new();
    for span in spans {
        by_trace
            .entry(span.trace_id)
            .or_insert_with(|| {
                order.push(span.trace_id);
                Vec::new()
            })
            .push(span);
    }
    for (i, trace_id) in order.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        if let Some(trace) = by_trace.get(trace_id) {
            write_trace(out, *trace_id, trace)?;
        }
    }
    Ok(())
}

fn write_trace(out: &mut impl Write, trace_id: TraceId, spans: &[&Span]) -> io::Result<()> {
    let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_unix_nano).max().unwrap_or(0);
    let errors = spans.iter().filter(|s| s.is_error()).count();
    let service = spans
        .iter()
        .find_map(|s| {
            s.resource
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
        })
        .map(|kv| format!("  service={}", kv.value.to_display_string()))
        .unwrap_or_default();
    let plural = if spans.len() == 1 { "" } else { "s" };
    let error_note = match errors {
        0 => String::new(),
        1 => "  1 error".to_owned(),
        n => format!("  {n} errors"),
    };
    writeln!(
        out,
        "trace {trace_id}  {} span{plural}  {}{error_note}{service}",
        spans.len(),
        format_duration(end.saturating_sub(start)),
    )?;

    // Children by parent, in start order; spans whose parent is absent from the file are roots.
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    let mut roots: Vec<usize> = Vec::new();
    let mut sorted: Vec<usize> = (0..spans.len()).collect();
    sorted.sort_by_key(|&i| spans[i].start_unix_nano);
    for &i in &sorted {
        match spans[i].parent_span_id {
            Some(parent) if ids.contains(&parent) && parent != spans[i].span_id => {
                children.entry(parent).or_default().push(i);
            }
            _ => roots.push(i),
        }
    }

    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, String, bool)> = roots
        .iter()
        .rev()
        .enumerate()
        .map(|(n, &i)| (i, String::new(), n == 0))
        .collect();
    let tree = Tree {
        spans,
        children: &children,
    };
    tree.walk(&mut stack, out, &mut visited)?;
    // Spans caught in a parent cycle are reachable from no root; show them rather than drop them.
    let unreachable: Vec<usize> = sorted.iter().copied().filter(|&i| !visited[i]).collect();
    if !unreachable.is_empty() {
        writeln!(out, "   (spans in a parent cycle)")?;
        for i in unreachable {
            let mut stack = vec![(i, "   ".to_owned(), true)];
            let tree = Tree {
                spans,
                children: &children,
            };
            tree.walk(&mut stack, out, &mut visited)?;
        }
    }
    Ok(())
}

/// One trace's spans and their children (indices into `spans`, in start order).
struct Tree<'a> {
    spans: &'a [&'a Span],
    children: &'a HashMap<SpanId, Vec<usize>>,
}

impl Tree<'_> {
    /// Prints the subtrees on `stack` (span index, line prefix, is last sibling) depth first,
    /// iteratively so that a long parent chain cannot overflow the stack.
    fn walk(
        &self,
        stack: &mut Vec<(usize, String, bool)>,
        out: &mut impl Write,
        visited: &mut [bool],
    ) -> io::Result<()> {
        while let Some((i, prefix, last)) = stack.pop() {
            if std::mem::replace(&mut visited[i], true) {
                continue;
            }
            let connector = if last { "└─ " } else { "├─ " };
            writeln!(out, "{prefix}{connector}{}", span_line(self.spans[i]))?;
            let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
            if let Some(kids) = self.children.get(&self.spans[i].span_id) {
                let pending: Vec<usize> = kids.iter().copied().filter(|&k| !visited[k]).collect();
                for (n, &k) in pending.iter().rev().enumerate() {
                    stack.push((k, child_prefix.clone(), n == 0));
                }
            }
        }
        Ok(())
    }
}

/// One line: kind, name, duration, status, then the GenAI facts present.
fn span_line(span: &Span) -> String {
    let mut line = format!(
        "[{}] {}  {}  {}",
        span.agent_kind,
        if span.name.is_empty() {
            "(unnamed)"
        } else {
            &span.name
        },
        format_duration(span.duration_ns()),
        match span.status.code {
            StatusCode::Error => "ERROR",
            StatusCode::Ok => "ok",
            StatusCode::Unset if span.is_error() => "ERROR",
            StatusCode::Unset => "unset",
        },
    );
    let mut facts: Vec<String> = Vec::new();
    if !matches!(span.span_kind, SpanKind::Unspecified | SpanKind::Internal) {
        facts.push(span.span_kind.as_str().to_owned());
    }
    if let Some(agent) = span.agent_name() {
        facts.push(format!("agent={agent}"));
    }
    if let Some(model) = span.model() {
        let provider = model.provider.map(|p| format!("{p}/")).unwrap_or_default();
        let requested = model
            .request_model
            .clone()
            .unwrap_or_else(|| "?".to_owned());
        let mut text = format!("model={provider}{requested}");
        if let Some(response) = model
            .response_model
            .filter(|r| Some(r) != model.request_model.as_ref())
        {
            text.push_str(&format!("→{response}"));
        }
        facts.push(text);
    }
    let usage = span.usage();
    if !usage.is_empty() {
        let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let mut text = format!("tokens={}→{}", count(usage.input), count(usage.output));
        if let Some(cached) = usage.cache_read {
            text.push_str(&format!(" cached={cached}"));
        }
        if let Some(reasoning) = usage.reasoning {
            text.push_str(&format!(" reasoning={reasoning}"));
        }
        facts.push(text);
    }
    if let Some(tool) = span.tool() {
        let mut text = format!("tool={}", tool.name);
        if let Some(arguments) = tool.arguments {
            text.push_str(&format!(" args={}", excerpt(&compact(&arguments), 80)));
        }
        facts.push(text);
        if let Some(result) = tool.result {
            facts.push(format!("result={}", excerpt(&compact(&result), 60)));
        }
    }
    if let Some(decision) = span.decision() {
        let mut text = format!("chose={}", decision.chosen.as_deref().unwrap_or("?"));
        if let Some(confidence) = decision.confidence {
            text.push_str(&format!(" ({confidence:.2})"));
        }
        if !decision.options.is_empty() {
            text.push_str(&format!(" of [{}]", decision.options.join(", ")));
        }
        facts.push(text);
    }
    if let Some(reasoning) = span.reasoning() {
        facts.push(format!("reasoning={:?}", excerpt(&reasoning, 60)));
    }
    if let Some(conversation) = span.conversation_id() {
        facts.push(format!("conversation={conversation}"));
    }
    if let Some(error) = span.error() {
        let text = match (error.error_type, error.message) {
            (Some(t), Some(m)) => format!("{t}: {m}"),
            (Some(t), None) => t,
            (None, Some(m)) => m,
            (None, None) => "(no details)".to_owned(),
        };
        facts.push(format!("error={}", excerpt(&text, 100)));
    }
    if !facts.is_empty() {
        line.push_str("  ");
        line.push_str(&facts.join("  "));
    }
    line
}

fn write_logs(out: &mut impl Write, logs: &[LogRecord]) -> io::Result<()> {
    if logs.is_empty() {
        return writeln!(out, "no log records");
    }
    let plural = if logs.len() == 1 { "" } else { "s" };
    writeln!(out, "{} log record{plural}", logs.len())?;
    for log in logs {
        let time = if log.time_unix_nano != 0 {
            log.time_unix_nano
        } else {
            log.observed_time_unix_nano
        };
        let severity = if log.severity_text.is_empty() {
            format!("severity={}", log.severity_number)
        } else {
            format!("{}({})", log.severity_text, log.severity_number)
        };
        let mut line = format!("{}  {severity}", format_time(time));
        if !log.event_name.is_empty() {
            line.push_str(&format!("  {}", log.event_name));
        }
        if !matches!(log.body, cairn_model::AnyValue::Empty) {
            line.push_str(&format!(
                "  body={}",
                excerpt(&log.body.to_display_string(), 100)
            ));
        }
        if let Some(trace_id) = log.trace_id {
            line.push_str(&format!("  trace={trace_id}"));
        }
        if let Some(span_id) = log.span_id {
            line.push_str(&format!("  span={span_id}"));
        }
        writeln!(out, "└─ {line}")?;
        for kv in &log.attributes {
            writeln!(
                out,
                "     {}={}",
                kv.key,
                excerpt(&kv.value.to_json().to_string(), 100)
            )?;
        }
    }
    Ok(())
}

fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Shortens text for one line: newlines shown as `⏎`, cut at `max` characters with `…`.
fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' { '⏎' } else { c })
        .collect();
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

fn format_duration(ns: u64) -> String {
    match ns {
        0..=999 => format!("{ns}ns"),
        1_000..=999_999 => format!("{:.1}µs", ns as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => format!("{:.3}s", ns as f64 / 1e9),
    }
}

fn format_time(unix_nano: u64) -> String {
    if unix_nano == 0 {
        return "-".to_owned();
    }
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(unix_nano)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> (PathBuf, Vec<u8>) {
        let path = PathBuf::from(format!(
            "{}/../../tests/fixtures/otlp/{name}",
            env!("CARGO_MANIFEST_DIR")
        ));
        let body = std::fs::read(&path).expect("fixture exists");
        (path, body)
    }

    fn inspect(name: &str, json: bool) -> (Decoded, String) {
        let (path, body) = fixture(name);
        let format = detect_format(&path, &body);
        let decoded = decode(&body, format, None, &Limits::default()).expect("decodes");
        let mut out = Vec::new();
        if json {
            write_json(&mut out, &decoded).expect("writes");
        } else {
            write_text(&mut out, &decoded).expect("writes");
        }
        (decoded, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn formats_are_detected_by_extension_then_content() {
        assert_eq!(detect_format(Path::new("a.json"), b"\x0a"), Format::Json);
        assert_eq!(detect_format(Path::new("a.binpb"), b"{"), Format::Protobuf);
        assert_eq!(detect_format(Path::new("a.PB"), b"{"), Format::Protobuf);
        assert_eq!(
            detect_format(Path::new("a.otlp"), b"  \n{\"resourceSpans\":[]}"),
            Format::Json
        );
        assert_eq!(detect_format(Path::new("a"), b"\x0a\x02"), Format::Protobuf);
    }

    #[test]
    fn signals_are_detected_for_both_formats() {
        for name in ["trace.json", "trace.binpb", "genai_agent.binpb"] {
            assert!(
                matches!(inspect(name, false).0, Decoded::Traces(_)),
                "{name}"
            );
        }
        for name in ["logs.json", "logs.binpb", "events.json", "events.binpb"] {
            assert!(matches!(inspect(name, false).0, Decoded::Logs(_)), "{name}");
        }
    }

    #[test]
    fn tree_shows_kinds_nesting_and_genai_facts() {
        let (_, text) = inspect("genai_agent.binpb", false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0]
                .starts_with("trace 0af7651916cd43dd8448eb211c80319c  5 spans  4.200s  1 error"),
            "{text}"
        );
        assert!(lines[0].ends_with("service=travel-agent"));
        assert!(lines[1].starts_with("└─ [agent] invoke_agent travel_planner  4.200s  ok"));
        assert!(lines[2].starts_with("   ├─ [llm] chat gpt-4o  1.200s  unset"));
        assert!(lines[2].contains("model=openai/gpt-4o→gpt-4o-2024-08-06"));
        assert!(lines[2].contains("tokens=812→64"));
        assert!(lines[3].starts_with("   ├─ [tool] execute_tool get_weather  1.000s  ERROR"));
        assert!(lines[3].contains(r#"args={"city":"Lisbon"}"#));
        assert!(lines[3].contains("error=TimeoutError: weather service did not answer within 1s"));
        assert!(lines[4].contains("[decision] decide fallback  10.0ms"));
        assert!(
            lines[4]
                .contains("chose=answer_without_weather (0.82) of [retry, answer_without_weather]")
        );
        assert!(lines[5].starts_with("   └─ [llm] chat gpt-4o  1.500s  ok"));
        assert!(lines[5].contains("tokens=950→120"));
        assert_eq!(lines.len(), 6, "{text}");
    }

    #[test]
    fn json_output_lists_normalized_spans() {
        let (_, text) = inspect("trace.json", true);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(value["spans"][0]["name"], "I'm a server span");
        assert_eq!(value["spans"][0]["span_kind"], "server");
        assert_eq!(value["spans"][0]["kind"], "other");
        assert_eq!(value["rejected"], json!([]));
        let (_, logs) = inspect("events.json", true);
        let logs: serde_json::Value = serde_json::from_str(&logs).expect("valid json");
        assert_eq!(logs["logs"][0]["event_name"], "browser.page_view");
    }

    #[test]
    fn logs_are_listed_with_event_name_body_and_ids() {
        let (_, text) = inspect("logs.json", false);
        assert!(
            text.starts_with("1 log record\n└─ 2018-12-13T14:51:00.300Z  Information(10)"),
            "{text}"
        );
        assert!(text.contains("body=Example log record"));
        assert!(text.contains("trace=5b8efff798038103d269b633813fc60c"));
        assert!(text.contains(r#"array.attribute=["many","values"]"#));
        let (_, events) = inspect("events.json", false);
        assert!(events.contains("browser.page_view"));
    }

    #[test]
    fn rejections_are_listed_with_field_and_limit() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok","startTimeUnixNano":"1","endTimeUnixNano":"2"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"bad","startTimeUnixNano":"5","endTimeUnixNano":"2"}
        ]}]}]}"#;
        let decoded = decode(body, Format::Json, None, &Limits::default()).expect("decodes");
        let mut out = Vec::new();
        write_text(&mut out, &decoded).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("rejected 1 span:"), "{text}");
        assert!(text.contains("[end_time_unix_nano]"), "{text}");
        assert!(
            text.contains("is before start_time_unix_nano (5)"),
            "{text}"
        );
        assert_eq!(decoded.rejected().len(), 1);
    }

    #[test]
    fn orphans_and_parent_cycles_are_still_shown() {
        let span = |id: u8, parent: Option<u8>| Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("s{id}"),
            ..Span::default()
        };
        // s2 is an orphan (parent 9 missing); s3 and s4 are each other's parent.
        let spans = vec![
            span(1, None),
            span(2, Some(9)),
            span(3, Some(4)),
            span(4, Some(3)),
        ];
        let mut out = Vec::new();
        write_traces(&mut out, &spans).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        for name in ["s1", "s2", "s3", "s4"] {
            assert!(
                text.contains(&format!("] {name} ")),
                "{name} missing:\n{text}"
            );
        }
        assert!(text.contains("parent cycle"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        let result = decode(b"{not json", Format::Json, None, &Limits::default());
        assert!(result.is_err());
    }
}
