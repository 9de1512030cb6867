//! `cairn traces`, `cairn trace ID` and `cairn stats`: clients of a running collector's query API.
//!
//! Humans get a table or an indented tree; `--json` prints the API's JSON unchanged (pretty), for
//! scripts. Exit codes: 0 success, 1 not found, 2 usage, connection or server errors.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use cairn_model::SpanId;
use cairn_store::{SpanDetail, StatsReport, TraceDetail, TracePage};
use serde_json::{Map, Value};

/// Where `cairn serve` answers by default.
const DEFAULT_URL: &str = "http://127.0.0.1:7070";

/// Connection flags shared by the query commands.
#[derive(Debug, clap::Args)]
pub(crate) struct Conn {
    /// Base URL of the collector's query API.
    #[arg(long, default_value = DEFAULT_URL, env = "CAIRN_URL")]
    pub(crate) url: String,
    /// API key (`cairn keys create`), sent as `Authorization: Bearer`; needed when the server has
    /// keys.
    #[arg(long, env = "CAIRN_API_KEY", hide_env_values = true)]
    pub(crate) api_key: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `cairn traces`.
#[derive(Debug, clap::Args)]
pub(crate) struct TracesArgs {
    #[command(flatten)]
    conn: Conn,
    /// Only runs of this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only traces with this status: ok or error.
    #[arg(long)]
    status: Option<String>,
    /// Only traces containing a span of this kind (agent, llm, tool, …).
    #[arg(long)]
    kind: Option<String>,
    /// Only traces that called this tool.
    #[arg(long)]
    tool: Option<String>,
    /// Only traces that used this model.
    #[arg(long)]
    model: Option<String>,
    /// Only traces of this conversation / session id.
    #[arg(long)]
    conversation: Option<String>,
    /// Full-text search over reasoning, tool arguments and results, messages and errors.
    #[arg(long, short = 'q', value_name = "TEXT")]
    query: Option<String>,
    /// Only traces starting at or after this time: RFC 3339 or a duration ago (1h, 30m).
    #[arg(long)]
    since: Option<String>,
    /// Only traces starting before this time: RFC 3339 or a duration ago.
    #[arg(long)]
    until: Option<String>,
    /// Only traces lasting at least this many milliseconds.
    #[arg(long, value_name = "MS")]
    min_duration_ms: Option<u64>,
    /// Sort by start time, duration, tokens or error count.
    #[arg(long, value_parser = ["start", "duration", "tokens", "errors"], default_value = "start")]
    sort: String,
    /// Sort order.
    #[arg(long, value_parser = ["desc", "asc"], default_value = "desc")]
    order: String,
    /// Page size (1..=1000).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Continue from a previous page's next cursor (of the same sort and order).
    #[arg(long)]
    cursor: Option<String>,
}

/// Flags of `cairn trace`.
#[derive(Debug, clap::Args)]
pub(crate) struct TraceArgs {
    /// Trace id (32 hex digits).
    trace_id: String,
    #[command(flatten)]
    conn: Conn,
}

/// Flags of `cairn stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Group by agent, tool or model.
    #[arg(long, default_value = "agent")]
    group_by: String,
    /// Window start: RFC 3339 or a duration ago (1h, 30m).
    #[arg(long)]
    since: Option<String>,
    /// Window end: RFC 3339 or a duration ago.
    #[arg(long)]
    until: Option<String>,
    /// Only spans of this agent (its own spans and those of its tools and LLM calls).
    #[arg(long)]
    agent: Option<String>,
}

/// A failed API call: the server's error message, or why it could not be reached.
#[derive(Debug)]
pub(crate) enum ApiCallError {
    Status {
        url: String,
        status: u16,
        code: String,
        message: String,
    },
    Transport {
        url: String,
        message: String,
    },
}

impl std::fmt::Display for ApiCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status {
                url,
                status,
                code,
                message,
            } => write!(f, "{url} answered {status} ({code}): {message}"),
            Self::Transport { url, message } => {
                write!(
                    f,
                    "cannot reach {url}: {message} (is `cairn serve` running?)"
                )
            }
        }
    }
}

impl std::error::Error for ApiCallError {}

/// GETs `base + path` with `query` pairs and returns the body.
pub(crate) fn get(
    conn: &Conn,
    path: &str,
    query: &[(&str, String)],
) -> Result<String, ApiCallError> {
    let url = format!("{}{path}", conn.url.trim_end_matches('/'));
    let mut request = ureq::get(&url).timeout(Duration::from_secs(30));
    if let Some(key) = &conn.api_key {
        request = request.set("authorization", &format!("Bearer {key}"));
    }
    for (k, v) in query {
        request = request.query(k, v);
    }
    match request.call() {
        Ok(response) => response.into_string().map_err(|e| ApiCallError::Transport {
            url,
            message: e.to_string(),
        }),
        Err(ureq::Error::Status(status, response)) => {
            let body = response.into_string().unwrap_or_default();
            let (code, message) = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| {
                    let e = v.get("error")?;
                    Some((
                        e.get("code")?.as_str()?.to_owned(),
                        e.get("message")?.as_str()?.to_owned(),
                    ))
                })
                .unwrap_or_else(|| (status.to_string(), body.trim().to_owned()));
            Err(ApiCallError::Status {
                url,
                status,
                code,
                message,
            })
        }
        Err(ureq::Error::Transport(t)) => Err(ApiCallError::Transport {
            url,
            message: t.to_string(),
        }),
    }
}

pub(crate) fn print_json(body: &str) -> anyhow::Result<()> {
    let value: Value = serde_json::from_str(body).context("the server sent invalid JSON")?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &value)?;
    writeln!(out)?;
    Ok(())
}

fn push(query: &mut Vec<(&'static str, String)>, key: &'static str, value: Option<&String>) {
    if let Some(v) = value {
        query.push((key, v.clone()));
    }
}

pub(crate) fn run_traces(args: TracesArgs) -> anyhow::Result<ExitCode> {
    let mut query = Vec::new();
    push(&mut query, "agent", args.agent.as_ref());
    push(&mut query, "status", args.status.as_ref());
    push(&mut query, "kind", args.kind.as_ref());
    push(&mut query, "tool", args.tool.as_ref());
    push(&mut query, "model", args.model.as_ref());
    push(&mut query, "conversation", args.conversation.as_ref());
    push(&mut query, "q", args.query.as_ref());
    push(&mut query, "since", args.since.as_ref());
    push(&mut query, "until", args.until.as_ref());
    push(&mut query, "cursor", args.cursor.as_ref());
    if let Some(ms) = args.min_duration_ms {
        query.push(("min_duration_ms", ms.to_string()));
    }
    query.push(("sort", args.sort));
    query.push(("order", args.order));
    query.push(("limit", args.limit.to_string()));
    let body = get(&args.conn, "/api/v1/traces", &query)?;
    if args.conn.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let page: TracePage =
        serde_json::from_str(&body).context("unexpected answer from the server")?;
    let mut out = std::io::stdout().lock();
    out.write_all(render_traces(&page).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_trace(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let path = format!("/api/v1/traces/{}", args.trace_id);
    let body = match get(&args.conn, &path, &[]) {
        Ok(body) => body,
        Err(ApiCallError::Status { status: 404, .. }) => {
            eprintln!("trace {} not found", args.trace_id);
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    if args.conn.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let trace: TraceDetail =
        serde_json::from_str(&body).context("unexpected answer from the server")?;
    let mut out = std::io::stdout().lock();
    out.write_all(render_tree(&trace).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.group_by.as_str(), "agent" | "tool" | "model") {
        bail!("--group-by must be agent, tool or model");
    }
    let mut query = vec![("group_by", args.group_by.clone())];
    push(&mut query, "since", args.since.as_ref());
    push(&mut query, "until", args.until.as_ref());
    push(&mut query, "agent", args.agent.as_ref());
    let body = get(&args.conn, "/api/v1/stats", &query)?;
    if args.conn.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report: StatsReport =
        serde_json::from_str(&body).context("unexpected answer from the server")?;
    let mut out = std::io::stdout().lock();
    out.write_all(render_stats(&report, &args.group_by).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Lays out rows as left-aligned columns separated by two spaces (the last column unpadded).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<&str> = cells.collect();
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn render_traces(page: &TracePage) -> String {
    if page.traces.is_empty() {
        return "no traces match\n".to_owned();
    }
    let rows: Vec<Vec<String>> = page
        .traces
        .iter()
        .map(|t| {
            vec![
                t.trace_id.to_hex(),
                format_time(t.start_unix_nano),
                truncate(&t.name, 32),
                t.agent.clone().unwrap_or_else(|| "-".to_owned()),
                format_duration(t.duration_ns),
                t.span_count.to_string(),
                t.error_count.to_string(),
                t.tool_call_count.to_string(),
                format!("{}/{}", t.input_tokens, t.output_tokens),
                serde_json::to_value(t.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TRACE ID",
            "START",
            "NAME",
            "AGENT",
            "DURATION",
            "SPANS",
            "ERRORS",
            "TOOLS",
            "TOKENS IN/OUT",
            "STATUS",
        ],
        &rows,
    );
    if let Some(cursor) = &page.next_cursor {
        let _ = writeln!(out, "more: --cursor {cursor}");
    }
    out
}

fn render_stats(report: &StatsReport, group_by: &str) -> String {
    if report.groups.is_empty() {
        return "no data in this window\n".to_owned();
    }
    let rows: Vec<Vec<String>> = report
        .groups
        .iter()
        .map(|g| {
            vec![
                g.key.clone(),
                g.count.to_string(),
                g.error_count.to_string(),
                format!("{:.1}%", g.error_rate * 100.0),
                format_duration(g.p50_duration_ns),
                format_duration(g.p95_duration_ns),
                format_duration(g.p99_duration_ns),
                g.input_tokens.to_string(),
                g.output_tokens.to_string(),
            ]
        })
        .collect();
    let key = group_by.to_ascii_uppercase();
    table(
        &[
            &key,
            "COUNT",
            "ERRORS",
            "ERROR RATE",
            "P50",
            "P95",
            "P99",
            "TOKENS IN",
            "TOKENS OUT",
        ],
        &rows,
    )
}

/// The run as a tree: children under their parent, ordered by start time. Spans whose parent is
/// not in the trace are shown as roots.
fn render_tree(trace: &TraceDetail) -> String {
    let ids: std::collections::HashSet<SpanId> = trace.spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<Option<SpanId>, Vec<&SpanDetail>> = HashMap::new();
    for span in &trace.spans {
        let parent = span.parent_span_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| (s.start_unix_nano, s.span_id));
    }
    let mut out = format!(
        "trace {}  ({} spans)\n",
        trace.trace_id.to_hex(),
        trace.spans.len()
    );
    // Iterative depth-first walk; a cycle of parents cannot occur among roots-first traversal
    // because every span is visited from exactly one parent list, but guard anyway.
    let mut visited = std::collections::HashSet::new();
    let mut stack: Vec<(&SpanDetail, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|s| (*s, 0)).collect())
        .unwrap_or_default();
    while let Some((span, depth)) = stack.pop() {
        if !visited.insert(span.span_id) {
            continue;
        }
        let _ = writeln!(out, "{}{}", "  ".repeat(depth + 1), span_line(span));
        if let Some(kids) = children.get(&Some(span.span_id)) {
            stack.extend(kids.iter().rev().map(|s| (*s, depth + 1)));
        }
    }
    // Spans only reachable through a parent cycle.
    for span in &trace.spans {
        if !visited.contains(&span.span_id) {
            let _ = writeln!(out, "  {} (parent cycle)", span_line(span));
        }
    }
    if !trace.logs.is_empty() {
        let _ = writeln!(out, "  + {} log records", trace.logs.len());
    }
    out
}

/// `tool execute_tool web_search  312.0ms  ok  args={"q":"…"}`.
fn span_line(span: &SpanDetail) -> String {
    let status = match span.status.code {
        cairn_model::StatusCode::Error if span.status.message.is_empty() => "ERROR".to_owned(),
        cairn_model::StatusCode::Error => format!("ERROR: {}", truncate(&span.status.message, 60)),
        cairn_model::StatusCode::Ok => "ok".to_owned(),
        cairn_model::StatusCode::Unset => "-".to_owned(),
    };
    let mut line = format!(
        "{} {}  {}  {}",
        span.kind.as_str(),
        span.name,
        format_duration(span.end_unix_nano.saturating_sub(span.start_unix_nano)),
        status
    );
    for detail in inline_details(&span.attributes) {
        line.push_str("  ");
        line.push_str(&detail);
    }
    line
}

/// The few attributes worth showing inline: model and tokens, tool name and arguments, decision.
fn inline_details(attrs: &Map<String, Value>) -> Vec<String> {
    let text = |key: &str| -> Option<String> {
        attrs.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let mut out = Vec::new();
    if let Some(model) = text("gen_ai.response.model").or_else(|| text("gen_ai.request.model")) {
        out.push(format!("model={model}"));
    }
    let input = text("gen_ai.usage.input_tokens").or_else(|| text("gen_ai.usage.prompt_tokens"));
    let output =
        text("gen_ai.usage.output_tokens").or_else(|| text("gen_ai.usage.completion_tokens"));
    if input.is_some() || output.is_some() {
        out.push(format!(
            "tokens={}/{}",
            input.unwrap_or_else(|| "?".into()),
            output.unwrap_or_else(|| "?".into())
        ));
    }
    if let Some(tool) = text("gen_ai.tool.name") {
        out.push(format!("tool={tool}"));
    }
    if let Some(args) = text("gen_ai.tool.call.arguments") {
        out.push(format!("args={}", truncate(&args, 80)));
    }
    if let Some(chosen) = text("cairn.decision.chosen").or_else(|| text("decision.chosen")) {
        out.push(format!("chose={}", truncate(&chosen, 40)));
    }
    if let Some(conf) = text("cairn.decision.confidence").or_else(|| text("decision.confidence")) {
        out.push(format!("confidence={conf}"));
    }
    if let Some(error) = text("error.type") {
        out.push(format!("error.type={error}"));
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

fn format_duration(ns: u64) -> String {
    match ns {
        0..1_000_000 => format!("{:.0}µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        1_000_000_000..60_000_000_000 => format!("{:.2}s", ns as f64 / 1e9),
        _ => format!("{:.1}m", ns as f64 / 6e10),
    }
}

fn format_time(unix_nanos: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_nanos(unix_nanos);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_duration(12_000), "12µs");
        assert_eq!(format_duration(1_500_000), "1.5ms");
        assert_eq!(format_duration(2_500_000_000), "2.50s");
        assert_eq!(format_duration(90_000_000_000), "1.5m");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["A", "BB"],
            &[
                vec!["xxx".into(), "1".into()],
                vec!["y".into(), "22".into()],
            ],
        );
        assert_eq!(t, "A    BB\nxxx  1\ny    22\n");
    }

    fn span(id: &str, parent: Option<&str>, kind: &str, start: u64, attrs: Value) -> Value {
        serde_json::json!({
            "span_id": id, "parent_span_id": parent, "name": format!("{kind} step"), "kind": kind,
            "start_unix_nano": start, "end_unix_nano": start + 2_000_000,
            "status": {"code": "unset", "message": ""},
            "attributes": attrs, "events": [], "ledger_index": 0
        })
    }

    #[test]
    fn tree_nests_children_by_start_and_shows_details_inline() {
        let mut failed = span(
            "00000000000000c3",
            Some("00000000000000a1"),
            "tool",
            30,
            serde_json::json!({"gen_ai.tool.name": "fetch", "error.type": "Timeout"}),
        );
        failed["status"] = serde_json::json!({"code": "error", "message": "timed out\nafter 30s"});
        let trace: TraceDetail = serde_json::from_value(serde_json::json!({
            "trace_id": "0123456789abcdef0123456789abcdef",
            "spans": [
                failed,
                span("00000000000000a1", None, "agent", 0, serde_json::json!({})),
                span("00000000000000b2", Some("00000000000000a1"), "decision", 10, serde_json::json!({
                    "cairn.decision.chosen": "research", "cairn.decision.confidence": 0.82
                })),
                span("00000000000000d4", Some("00000000000000ff"), "llm", 5, serde_json::json!({
                    "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12
                })),
            ],
            "logs": []
        }))
        .unwrap();
        let tree = render_tree(&trace);
        let lines: Vec<&str> = tree.lines().collect();
        assert_eq!(
            lines[0],
            "trace 0123456789abcdef0123456789abcdef  (4 spans)"
        );
        assert_eq!(lines[1], "  agent agent step  2.0ms  -");
        assert_eq!(
            lines[2],
            "    decision decision step  2.0ms  -  chose=research  confidence=0.82"
        );
        assert_eq!(
            lines[3],
            "    tool tool step  2.0ms  ERROR: timed out after 30s  tool=fetch  error.type=Timeout"
        );
        // A span whose parent never arrived is shown as a root.
        assert_eq!(
            lines[4],
            "  llm llm step  2.0ms  -  model=gpt-4o  tokens=12/?"
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn truncate_keeps_one_line() {
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
