//! Trace listing and trace detail: the query types and the JSON shapes of the query API.
//!
//! # Full-text listing
//! A listing with a search term (`q`) has two plans that return the same pages ([`SearchPlan`];
//! a property test pages through random stores with both). *Collect* finds every matching span
//! and log record, maps each to its trace, then sorts and pages the traces: its cost grows with
//! the number of matches, fine for a rare term and slow for a common one. *Walk*, chosen once a
//! term has at least 10,000 matching records, reads the filtered traces in page order a chunk at
//! a time and asks the full-text index only for the ledger range those traces can occupy (every
//! span of a trace sits at or after the trace's `trace_no`), newest first, stopping when the
//! page is full; after 4,096 traces without a full page it collects instead. When start times
//! follow arrival, as in live traffic, a newest-first page reads only the tail of the index.
//! Measured with `cairn bench query` on a release server holding 250,000 realistic spans (15,625
//! traces), a term in most spans: p50 586 ms collecting, 5.2 ms walking. When every trace
//! starts at the same instant (the order is then by random trace id, unrelated to arrival) the
//! walk covers the whole ledger in its first chunk and costs what collecting does (593 vs 614
//! ms p50, same run).
//!
//! # Trace detail as JSON
//! [`get_trace`] builds a typed [`TraceDetail`]; [`get_trace_json`] renders the same document as
//! `serde_json::to_vec` of it, for the query API, without building it: the fixed span fields are
//! serialized from borrowed row values, and each span's attributes and events are written
//! straight from its record (read from the ledger through a [`ContentSource`]) by the writer that
//! produces `serde_json`'s bytes (the `write` module's `json`). Only a span that has log records
//! attached takes a slower path: its events are merged with the records and serialized again.
//! Each log record goes to the last span (in answer order) with its span id, as in
//! [`get_trace`]. A span whose record cannot be read is answered without content and with
//! `content_unavailable` (see the `content` module), in both renderings.
//!
//! The spans' fixed fields are read in index order and rendered into one buffer, then put in
//! answer order (start, ledger index) by sorting small keys: an SQL `ORDER BY` pushes every row
//! through SQLite's sorter. `benches/fetch.rs` measures the path on a 10,000-span trace (see
//! `docs/performance.md`).

use std::collections::HashMap;
use std::str::FromStr;

use cairn_model::{AgentKind, SpanId, Status, StatusCode, TraceId, attributes_to_json};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StoreError;
use crate::content::{ContentSource, Contents};
use crate::fts::{FtsQuery, fts_query};
use crate::ids;
use crate::write::{self, Facet, from_sql_int, to_sql_int};

/// Page size when [`TraceQuery::limit`] is not set.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size; larger limits are clamped to it.
pub const MAX_LIMIT: usize = 1000;

/// A trace's overall status: `error` when any of its spans failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceStatus {
    /// No span failed.
    Ok,
    /// At least one span has an error status or an `error.type` attribute.
    Error,
}

/// The `status` filter of [`TraceQuery`]: matches traces whose [`TraceStatus`] is this.
pub type StatusFilter = TraceStatus;

impl FromStr for TraceStatus {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => Ok(Self::Ok),
            "error" => Ok(Self::Error),
            _ => Err(UnknownValue {
                expected: "ok|error",
            }),
        }
    }
}

/// A query-string value that is not one of the accepted names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value, expected {expected}")]
pub struct UnknownValue {
    /// The accepted values, `|`-separated.
    pub expected: &'static str,
}

/// Filters and paging of [`crate::Reader::list_traces`]. Every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    /// Some span of the trace names this agent (`gen_ai.agent.name`).
    pub agent: Option<String>,
    /// The trace's status.
    pub status: Option<StatusFilter>,
    /// Some span of the trace has this agent kind.
    pub kind: Option<AgentKind>,
    /// Some span of the trace calls this tool (`gen_ai.tool.name`).
    pub tool: Option<String>,
    /// Some span of the trace uses this model (request or response model).
    pub model: Option<String>,
    /// Some span of the trace belongs to this conversation / session id.
    pub conversation: Option<String>,
    /// Full-text search over reasoning, tool arguments and results, messages and errors (of the
    /// trace's spans and log records). Whitespace-separated terms must all match; a trailing `*`
    /// makes a term a prefix. Any other character is searched literally.
    pub q: Option<String>,
    /// The trace starts at or after this time, unix nanoseconds.
    pub since: Option<u64>,
    /// The trace starts before this time, unix nanoseconds.
    pub until: Option<u64>,
    /// The trace (first span start to last span end) lasts at least this long.
    pub min_duration_ms: Option<u64>,
    /// Page size: [`DEFAULT_LIMIT`] when unset, clamped to `1..=`[`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (of the same sort and order).
    pub cursor: Option<String>,
    /// The column traces are ordered by.
    pub sort: TraceSort,
    /// Descending (the default) or ascending.
    pub order: SortOrder,
}

/// What [`TraceQuery`] orders by; ties are broken by trace id in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceSort {
    /// Earliest span start.
    #[default]
    Start,
    /// Trace duration (first span start to last span end).
    Duration,
    /// Input plus output tokens.
    Tokens,
    /// Number of failed spans.
    Errors,
}

impl TraceSort {
    /// The SQL expression over the `traces` table this sort orders by (never NULL).
    fn column(self) -> &'static str {
        match self {
            Self::Start => "start_ns",
            Self::Duration => "duration_ns",
            // min(): the sum of two saturated counts would overflow to a REAL.
            Self::Tokens => "min(input_tokens + output_tokens, 9223372036854775807)",
            Self::Errors => "error_count",
        }
    }

    /// The sort key of a summary, as stored (saturated to `i64`).
    fn key_of(self, t: &TraceSummary) -> i64 {
        match self {
            Self::Start => to_sql_int(t.start_unix_nano),
            Self::Duration => to_sql_int(t.duration_ns),
            Self::Tokens => to_sql_int(t.input_tokens.saturating_add(t.output_tokens)),
            Self::Errors => to_sql_int(t.error_count),
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Start => 0,
            Self::Duration => 1,
            Self::Tokens => 2,
            Self::Errors => 3,
        }
    }
}

impl FromStr for TraceSort {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "start" => Ok(Self::Start),
            "duration" => Ok(Self::Duration),
            "tokens" => Ok(Self::Tokens),
            "errors" => Ok(Self::Errors),
            _ => Err(UnknownValue {
                expected: "start|duration|tokens|errors",
            }),
        }
    }
}

/// Direction of [`TraceQuery::sort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Largest first.
    #[default]
    Desc,
    /// Smallest first.
    Asc,
}

impl FromStr for SortOrder {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "desc" => Ok(Self::Desc),
            "asc" => Ok(Self::Asc),
            _ => Err(UnknownValue {
                expected: "desc|asc",
            }),
        }
    }
}

/// One page of traces, in the query's sort order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracePage {
    /// The traces of this page.
    pub traces: Vec<TraceSummary>,
    /// Opaque cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A trace summary, kept up to date as spans arrive in any order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Trace id, lowercase hex.
    pub trace_id: TraceId,
    /// The project the trace belongs to (`cairn.project` of its spans).
    pub project: String,
    /// Name of the root span: the earliest span without a parent, or the earliest span when
    /// every span has one (the root has not arrived, or was never sent).
    pub name: String,
    /// Agent name of the earliest span that names an agent.
    pub agent: Option<String>,
    /// Earliest span start, unix nanoseconds.
    pub start_unix_nano: u64,
    /// Latest span end minus earliest span start.
    pub duration_ns: u64,
    /// Number of spans.
    pub span_count: u64,
    /// Number of failed spans.
    pub error_count: u64,
    /// Number of tool spans.
    pub tool_call_count: u64,
    /// Input tokens: the sum over LLM spans that report usage; when none does, the sum over all
    /// spans (an agent span that reports its run's total). Summing both would count twice.
    pub input_tokens: u64,
    /// Output tokens, summed like `input_tokens`.
    pub output_tokens: u64,
    /// `error` when `error_count > 0`.
    pub status: TraceStatus,
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceDetail {
    /// Trace id, lowercase hex.
    pub trace_id: TraceId,
    /// The spans, by start time (ties by ledger index).
    pub spans: Vec<SpanDetail>,
    /// Log records of the trace not attached to one of its spans (no span id, or a span that has
    /// not arrived), by time.
    pub logs: Vec<LogDetail>,
}

/// One span of [`TraceDetail`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanDetail {
    /// Span id, lowercase hex.
    pub span_id: SpanId,
    /// Parent span id, `null` for a root.
    pub parent_span_id: Option<SpanId>,
    /// Span name.
    pub name: String,
    /// Agent kind.
    pub kind: AgentKind,
    /// Start, unix nanoseconds.
    pub start_unix_nano: u64,
    /// End, unix nanoseconds.
    pub end_unix_nano: u64,
    /// Status code (`unset`, `ok`, `error`) and message.
    pub status: Status,
    /// Attributes as a JSON object (see the crate docs for the value mapping).
    pub attributes: Map<String, Value>,
    /// Span events, then log records attached to this span, by time.
    pub events: Vec<EventDetail>,
    /// Index of the span's entry in the ledger.
    pub ledger_index: u64,
    /// Why `attributes` and `events` are empty when the span's record could not be read from
    /// the ledger (e.g. `archived`); absent when they were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_unavailable: Option<String>,
}

/// A span event, or a log record attached to a span (those carry `body` and the log fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    /// Event name; for a log record its `event_name`, else its severity text, else `"log"`.
    pub name: String,
    /// Time, unix nanoseconds.
    pub time_unix_nano: u64,
    /// Attributes as a JSON object.
    pub attributes: Map<String, Value>,
    /// Log record body (log records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Log severity number (log records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_number: Option<i32>,
    /// Log severity text (log records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_text: Option<String>,
    /// Ledger index of the log record (log records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

impl From<&cairn_model::Event> for EventDetail {
    /// A span event as the API shows it: none of the log fields.
    fn from(event: &cairn_model::Event) -> Self {
        Self {
            name: event.name.clone(),
            time_unix_nano: event.time_unix_nano,
            attributes: attributes_to_json(&event.attributes),
            body: None,
            severity_number: None,
            severity_text: None,
            ledger_index: None,
        }
    }
}

/// A log record of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogDetail {
    /// Span id the record names, if any.
    pub span_id: Option<SpanId>,
    /// Time the event occurred, unix nanoseconds (0 when unknown).
    pub time_unix_nano: u64,
    /// Time the event was observed, unix nanoseconds.
    pub observed_time_unix_nano: u64,
    /// OTLP severity number.
    pub severity_number: i32,
    /// Severity text.
    pub severity_text: String,
    /// Event name (e.g. `gen_ai.evaluation.result`), empty when none.
    pub event_name: String,
    /// Body as JSON.
    pub body: Value,
    /// Attributes as a JSON object.
    pub attributes: Map<String, Value>,
    /// Index of the record's entry in the ledger.
    pub ledger_index: u64,
}

impl LogDetail {
    fn into_event(self) -> EventDetail {
        let name = if !self.event_name.is_empty() {
            self.event_name
        } else if !self.severity_text.is_empty() {
            self.severity_text.clone()
        } else {
            "log".to_owned()
        };
        EventDetail {
            name,
            time_unix_nano: self.time_unix_nano,
            attributes: self.attributes,
            body: Some(self.body),
            severity_number: Some(self.severity_number),
            severity_text: Some(self.severity_text),
            ledger_index: Some(self.ledger_index),
        }
    }
}

/// Keyset position: traces strictly after this one in the page's sort order.
///
/// Encoding: for the default order (start, descending) 48 hex characters, the start as 8
/// big-endian bytes then the trace id (the format older servers issued). For any other order 52
/// hex characters: one byte naming the sort (0 start, 1 duration, 2 tokens, 3 errors), one byte
/// the order (0 desc, 1 asc), the key as 8 big-endian bytes, then the trace id. A cursor of
/// another order is refused, so a client cannot silently skip or repeat rows by changing the sort
/// while paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageCursor {
    sort: TraceSort,
    order: SortOrder,
    key: i64,
    trace_id: TraceId,
}

impl PageCursor {
    fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(26);
        if (self.sort, self.order) != (TraceSort::Start, SortOrder::Desc) {
            bytes.push(self.sort.code());
            bytes.push(u8::from(self.order == SortOrder::Asc));
        }
        bytes.extend_from_slice(&self.key.to_be_bytes());
        bytes.extend_from_slice(&self.trace_id.0);
        hex::encode(bytes)
    }

    fn decode(s: &str, sort: TraceSort, order: SortOrder) -> Result<Self, StoreError> {
        let bytes = match s.len() {
            48 | 52 => hex::decode(s).map_err(|_| StoreError::InvalidCursor("not hex"))?,
            _ => {
                return Err(StoreError::InvalidCursor(
                    "expected 48 or 52 hex characters",
                ));
            }
        };
        let (header, rest) = bytes.split_at(bytes.len() - 24);
        let (found_sort, found_order) = match header {
            [] => (TraceSort::Start, SortOrder::Desc),
            [s, o] => {
                let sort = [
                    TraceSort::Start,
                    TraceSort::Duration,
                    TraceSort::Tokens,
                    TraceSort::Errors,
                ]
                .into_iter()
                .find(|x| x.code() == *s)
                .ok_or(StoreError::InvalidCursor("unknown sort"))?;
                let order = match o {
                    0 => SortOrder::Desc,
                    1 => SortOrder::Asc,
                    _ => return Err(StoreError::InvalidCursor("unknown order")),
                };
                (sort, order)
            }
            _ => return Err(StoreError::InvalidCursor("bad length")),
        };
        if (found_sort, found_order) != (sort, order) {
            return Err(StoreError::InvalidCursor(
                "the cursor belongs to another sort or order",
            ));
        }
        let (key, trace) = rest.split_at(8);
        let key = i64::from_be_bytes(key.try_into().unwrap_or_default());
        if key < 0 {
            return Err(StoreError::InvalidCursor("negative sort key"));
        }
        let trace_id = ids::trace_id_from_blob(trace)
            .map_err(|_| StoreError::InvalidCursor("bad trace id"))?;
        Ok(Self {
            sort,
            order,
            key,
            trace_id,
        })
    }
}

/// Numbered parameters of a SQL statement under construction.
#[derive(Debug, Default)]
struct SqlArgs {
    args: Vec<SqlValue>,
}

impl SqlArgs {
    /// Adds a parameter and returns its placeholder (`?N`).
    fn arg(&mut self, value: impl Into<SqlValue>) -> String {
        self.args.push(value.into());
        format!("?{}", self.args.len())
    }
}

/// How a trace listing answers a full-text query ([`crate::Reader::list_traces_with`]). Every
/// plan gives the same page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchPlan {
    /// [`SearchPlan::Walk`] when the term is common (at least 10,000 matching records), else
    /// [`SearchPlan::Collect`].
    #[default]
    Auto,
    /// Collect every trace with a match, then sort and page them: cost grows with the number of
    /// matching records, so it suits rare terms.
    Collect,
    /// Walk the filtered traces in page order and keep those with a match, stopping once the
    /// page is full: cost grows with the traces walked, so it suits common terms. Falls back to
    /// collecting after 4,096 traces without a full page.
    Walk,
}

/// Matching records from which [`SearchPlan::Auto`] walks instead of collecting.
const WALK_MIN_HITS: i64 = 10_000;

/// How far one walk goes.
#[derive(Debug, Clone, Copy)]
struct WalkLimits {
    /// Traces read per step.
    chunk: usize,
    /// Traces examined before the walk gives up and collects instead (a term that is common
    /// overall but rare among the traces of this order and these filters).
    max_traces: usize,
    /// Ledger entries per trace of a step above which the step asks the full-text index about
    /// each trace's own records instead of reading the whole range (see [`walk`]).
    probe_spread: usize,
    /// Traces asked about one by one before the walk reads ranges only (a probe costs a
    /// fraction of a millisecond; a range read of everything is then about what collecting
    /// costs).
    max_probed: usize,
}

impl WalkLimits {
    const DEFAULT: Self = Self {
        chunk: 256,
        max_traces: 4096,
        probe_spread: 512,
        max_probed: 512,
    };
}

const LIST_COLUMNS: &str = "SELECT trace_id, root_name, agent, start_ns, duration_ns, span_count, \
    error_count, tool_call_count, input_tokens, output_tokens, project, trace_no FROM traces \
    WHERE 1";

/// A listed trace and its `trace_no`.
struct ListedTrace {
    summary: TraceSummary,
    trace_no: i64,
}

/// The filters of a listing (everything but the full-text term and the page position).
struct ListFilters {
    sql: String,
    args: SqlArgs,
    sort: TraceSort,
    order: SortOrder,
}

impl ListFilters {
    fn new(project: Option<&str>, query: &TraceQuery) -> Self {
        let mut b = SqlArgs::default();
        let mut sql = String::new();
        if let Some(project) = project {
            sql += &format!(" AND project = {}", b.arg(project.to_owned()));
        }
        if let Some(since) = query.since {
            sql += &format!(" AND start_ns >= {}", b.arg(to_sql_int(since)));
        }
        if let Some(until) = query.until {
            sql += &format!(" AND start_ns < {}", b.arg(to_sql_int(until)));
        }
        if let Some(ms) = query.min_duration_ms {
            let ns = to_sql_int(ms.saturating_mul(1_000_000));
            sql += &format!(" AND duration_ns >= {}", b.arg(ns));
        }
        match query.status {
            Some(TraceStatus::Ok) => sql += " AND error_count = 0",
            Some(TraceStatus::Error) => sql += " AND error_count > 0",
            None => {}
        }
        let kind = query.kind.map(|k| k.as_str().to_owned());
        for (facet, value) in [
            (Facet::Agent, &query.agent),
            (Facet::Kind, &kind),
            (Facet::Tool, &query.tool),
            (Facet::Model, &query.model),
            (Facet::Conversation, &query.conversation),
        ] {
            if let Some(value) = value {
                sql += &format!(
                    " AND trace_no IN (SELECT trace_no FROM trace_facets WHERE facet = {} AND \
                     value = {})",
                    b.arg(i64::from(facet as u8)),
                    b.arg(value.clone())
                );
            }
        }
        Self {
            sql,
            args: b,
            sort: query.sort,
            order: query.order,
        }
    }

    /// Adds the collect plan's full-text filter: the trace has a matching span or log record.
    fn with_match(mut self, expr: &str) -> Self {
        let p = self.args.arg(expr.to_owned());
        // `UNION ALL`: the `IN` list is a set anyway.
        self.sql += &format!(
            " AND trace_no IN (SELECT s.trace_no FROM search JOIN spans s ON s.ledger_index = \
             search.rowid WHERE search MATCH {p} UNION ALL \
             SELECT t.trace_no FROM search JOIN logs l ON l.ledger_index = search.rowid JOIN \
             traces t ON t.trace_id = l.trace_id AND t.project = l.project WHERE search MATCH {p})"
        );
        self
    }

    /// Up to `n` traces strictly after `after` (sort key, trace id) in page order.
    fn rows(
        &self,
        conn: &Connection,
        after: Option<(i64, TraceId)>,
        n: usize,
    ) -> Result<Vec<ListedTrace>, StoreError> {
        let mut b = SqlArgs {
            args: self.args.args.clone(),
        };
        let mut sql = format!("{LIST_COLUMNS}{}", self.sql);
        let column = self.sort.column();
        let (cmp, dir) = match self.order {
            SortOrder::Desc => ("<", "DESC"),
            SortOrder::Asc => (">", "ASC"),
        };
        if let Some((key, trace_id)) = after {
            sql += &format!(
                " AND ({column}, trace_id) {cmp} ({}, {})",
                b.arg(key),
                b.arg(trace_id.0.to_vec())
            );
        }
        sql += &format!(
            " ORDER BY {column} {dir}, trace_id {dir} LIMIT {}",
            b.arg(i64::try_from(n).unwrap_or(i64::MAX))
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(b.args))?;
        let mut out = Vec::with_capacity(n.min(64));
        while let Some(row) = rows.next()? {
            let trace_id = ids::trace_id_from_blob(&row.get::<_, Vec<u8>>(0)?)?;
            let error_count = from_sql_int(row.get(6)?);
            out.push(ListedTrace {
                summary: TraceSummary {
                    trace_id,
                    project: row.get(10)?,
                    name: row.get(1)?,
                    agent: row.get(2)?,
                    start_unix_nano: from_sql_int(row.get(3)?),
                    duration_ns: from_sql_int(row.get(4)?),
                    span_count: from_sql_int(row.get(5)?),
                    error_count,
                    tool_call_count: from_sql_int(row.get(7)?),
                    input_tokens: from_sql_int(row.get(8)?),
                    output_tokens: from_sql_int(row.get(9)?),
                    status: if error_count > 0 {
                        TraceStatus::Error
                    } else {
                        TraceStatus::Ok
                    },
                },
                trace_no: row.get(11)?,
            });
        }
        Ok(out)
    }
}

pub(crate) fn list_traces(
    conn: &Connection,
    project: Option<&str>,
    query: &TraceQuery,
) -> Result<TracePage, StoreError> {
    list_traces_with(conn, project, query, SearchPlan::Auto)
}

/// [`list_traces`] with a chosen plan for the full-text term.
pub(crate) fn list_traces_with(
    conn: &Connection,
    project: Option<&str>,
    query: &TraceQuery,
    plan: SearchPlan,
) -> Result<TracePage, StoreError> {
    list_traces_walking(conn, project, query, plan, WalkLimits::DEFAULT)
}

fn list_traces_walking(
    conn: &Connection,
    project: Option<&str>,
    query: &TraceQuery,
    plan: SearchPlan,
    limits: WalkLimits,
) -> Result<TracePage, StoreError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let after = query
        .cursor
        .as_deref()
        .map(|c| PageCursor::decode(c, query.sort, query.order))
        .transpose()?
        .map(|c| (c.key, c.trace_id));
    let filters = ListFilters::new(project, query);
    let mut rows = match query.q.as_deref().map_or(FtsQuery::Any, fts_query) {
        FtsQuery::Any => filters.rows(conn, after, limit + 1)?,
        FtsQuery::Nothing => Vec::new(),
        FtsQuery::Match(expr) => {
            let walk_first = match plan {
                SearchPlan::Auto => common_term(conn, &expr)?,
                SearchPlan::Collect => false,
                SearchPlan::Walk => true,
            };
            let walked = if walk_first {
                walk(conn, &filters, after, limit + 1, &expr, limits)?
            } else {
                None
            };
            match walked {
                Some(rows) => rows,
                None => filters.with_match(&expr).rows(conn, after, limit + 1)?,
            }
        }
    };
    let more = rows.len() > limit;
    rows.truncate(limit);
    let traces: Vec<TraceSummary> = rows.into_iter().map(|r| r.summary).collect();
    let next_cursor = match traces.last() {
        Some(last) if more => Some(
            PageCursor {
                sort: query.sort,
                order: query.order,
                key: query.sort.key_of(last),
                trace_id: last.trace_id,
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(TracePage {
        traces,
        next_cursor,
    })
}

/// Whether at least [`WALK_MIN_HITS`] records match (reads at most that many FTS rowids).
fn common_term(conn: &Connection, expr: &str) -> Result<bool, StoreError> {
    let hits: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM search WHERE search MATCH ?1 LIMIT ?2)",
        )?
        .query_row(rusqlite::params![expr, WALK_MIN_HITS], |r| r.get(0))?;
    Ok(hits >= WALK_MIN_HITS)
}

/// The walk plan (see [`SearchPlan::Walk`]): up to `want` matching traces after `after`, in page
/// order, or `None` after `limits.max_traces` traces without filling the page.
///
/// Which traces have a match is learned from the full-text index one ledger range at a time,
/// newest first, and only as far back as the walk needs: every span of a trace sits at a ledger
/// index at or after the trace's `trace_no` (the ledger index of its first indexed span; the
/// indexer applies the ledger in order), and its log records at or after the lowest ledger index
/// among them, so the matches at or after the lowest of those bounds over the traces walked so
/// far decide all of them. When start times follow arrival, as live traffic does, the traces of
/// a newest-first page sit near the ledger's tail and the walk reads a small part of the index.
///
/// When they do not (traces backfilled or sent with skewed clocks, or sorted by duration or
/// tokens), that range can be most of the ledger, and reading every match in it costs what
/// collecting does. So a step whose range holds more than `limits.probe_spread` ledger entries
/// per trace of the step asks instead, trace by trace, whether one of the trace's own records
/// matches: its spans lie between its `trace_no` and its last span's ledger index, so one range
/// query of the full-text index joined on `trace_no` answers for them (it stops at the first
/// match), and its log records are looked up by rowid. Such a step leaves the covered range as
/// it was, so later range steps stay correct. After `limits.max_probed` traces the walk reads
/// ranges only: a term that is common overall but rare among these traces is then answered at
/// about the cost of collecting, as before.
fn walk(
    conn: &Connection,
    filters: &ListFilters,
    mut after: Option<(i64, TraceId)>,
    want: usize,
    expr: &str,
    limits: WalkLimits,
) -> Result<Option<Vec<ListedTrace>>, StoreError> {
    let traced_logs: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM logs WHERE trace_id IS NOT NULL)")?
        .query_row([], |r| r.get(0))?;
    let mut first_log = conn.prepare_cached(
        "SELECT min(ledger_index) FROM logs WHERE trace_id = ?1 AND project = ?2",
    )?;
    let mut matches = conn.prepare_cached(
        "SELECT s.trace_no FROM search JOIN spans s ON s.ledger_index = search.rowid WHERE \
         search MATCH ?1 AND search.rowid >= ?2 AND \
         search.rowid < ?3 UNION ALL SELECT t.trace_no FROM search JOIN logs l ON \
         l.ledger_index = search.rowid JOIN traces t ON t.trace_id = l.trace_id AND \
         t.project = l.project WHERE search MATCH ?1 AND search.rowid >= ?2 AND \
         search.rowid < ?3",
    )?;
    let mut last_span =
        conn.prepare_cached("SELECT max(ledger_index) FROM spans WHERE trace_no = ?1")?;
    let mut span_matches = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM search JOIN spans s ON s.ledger_index = search.rowid \
         WHERE search MATCH ?1 AND search.rowid >= ?2 AND search.rowid <= ?3 AND \
         s.trace_no = ?2)",
    )?;
    let mut log_matches = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM logs l WHERE l.trace_id = ?2 AND l.project = ?3 AND \
         EXISTS (SELECT 1 FROM search WHERE search MATCH ?1 AND search.rowid = l.ledger_index))",
    )?;
    // One past the last indexed record: the end of the first range.
    let end: i64 = conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT max(ledger_index) FROM spans), -1), \
             coalesce((SELECT max(ledger_index) FROM logs), -1)) + 1",
        )?
        .query_row([], |r| r.get(0))?;
    // Traces with a match at a ledger index >= `covered`.
    let mut hits = std::collections::HashSet::new();
    let mut covered = end;
    let mut probed = 0;
    let mut out = Vec::new();
    let mut walked = 0;
    loop {
        let chunk = filters.rows(conn, after, limits.chunk)?;
        let mut low = i64::MAX;
        for row in &chunk {
            low = low.min(row.trace_no);
            if traced_logs {
                let first: Option<i64> = first_log.query_row(
                    rusqlite::params![&row.summary.trace_id.0[..], &row.summary.project],
                    |r| r.get(0),
                )?;
                low = low.min(first.unwrap_or(i64::MAX));
            }
        }
        let spread = usize::try_from(covered.saturating_sub(low)).unwrap_or(0);
        if spread > chunk.len().saturating_mul(limits.probe_spread) && probed < limits.max_probed {
            probed += chunk.len();
            for row in &chunk {
                if hits.contains(&row.trace_no) {
                    continue;
                }
                let last: Option<i64> = last_span.query_row([row.trace_no], |r| r.get(0))?;
                let matched = match last {
                    Some(last) => span_matches
                        .query_row(rusqlite::params![expr, row.trace_no, last], |r| r.get(0))?,
                    None => false,
                } || (traced_logs
                    && log_matches.query_row(
                        rusqlite::params![expr, &row.summary.trace_id.0[..], &row.summary.project],
                        |r| r.get(0),
                    )?);
                if matched {
                    hits.insert(row.trace_no);
                }
            }
        } else if low < covered {
            let mut rows = matches.query(rusqlite::params![expr, low, covered])?;
            while let Some(row) = rows.next()? {
                hits.insert(row.get::<_, i64>(0)?);
            }
            covered = low;
        }
        let last_chunk = chunk.len() < limits.chunk;
        walked += chunk.len();
        after = chunk
            .last()
            .map(|r| (filters.sort.key_of(&r.summary), r.summary.trace_id));
        for row in chunk {
            if hits.contains(&row.trace_no) {
                out.push(row);
                if out.len() == want {
                    return Ok(Some(out));
                }
            }
        }
        if last_chunk {
            return Ok(Some(out));
        }
        if walked >= limits.max_traces {
            return Ok(None);
        }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn status_from_sql(code: i32, message: String) -> Result<Status, StoreError> {
    let code = StatusCode::from_i32(code)
        .ok_or_else(|| StoreError::Corrupt(format!("status code {code}")))?;
    Ok(Status { code, message })
}

fn kind_from_sql(name: &str) -> Result<AgentKind, StoreError> {
    AgentKind::parse(name).ok_or_else(|| StoreError::Corrupt(format!("agent kind {name:?}")))
}

pub(crate) fn get_trace(
    conn: &Connection,
    project: Option<&str>,
    trace_id: &TraceId,
    content: &dyn ContentSource,
) -> Result<Option<TraceDetail>, StoreError> {
    // One read transaction so spans and logs come from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    let mut spans = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT ledger_index, span_id, parent_span_id, name, kind, start_ns, end_ns, \
             status_code, status_message FROM spans WHERE trace_no IN \
             (SELECT trace_no FROM traces WHERE trace_id = ?1 AND (?2 IS NULL OR project = ?2)) \
             ORDER BY start_ns, ledger_index",
        )?;
        let mut rows = stmt.query(rusqlite::params![&trace_id.0[..], project])?;
        while let Some(row) = rows.next()? {
            let parent: Option<Vec<u8>> = row.get(2)?;
            spans.push(SpanDetail {
                ledger_index: from_sql_int(row.get(0)?),
                span_id: ids::span_id_from_blob(&row.get::<_, Vec<u8>>(1)?)?,
                parent_span_id: parent.as_deref().map(ids::span_id_from_blob).transpose()?,
                name: row.get(3)?,
                kind: kind_from_sql(&row.get::<_, String>(4)?)?,
                start_unix_nano: from_sql_int(row.get(5)?),
                end_unix_nano: from_sql_int(row.get(6)?),
                status: status_from_sql(row.get(7)?, row.get(8)?)?,
                attributes: Map::new(),
                events: Vec::new(),
                content_unavailable: None,
            });
        }
    }
    let logs = trace_logs(&tx, project, trace_id)?;
    tx.finish()?;
    if spans.is_empty() && logs.is_empty() {
        return Ok(None);
    }
    let contents = Contents::load(content, spans.iter().map(|s| s.ledger_index).collect())?;
    for span in &mut spans {
        match contents.span(span.ledger_index) {
            Ok(record) => {
                span.attributes = attributes_to_json(&record.attributes);
                span.events = record.events.iter().map(EventDetail::from).collect();
            }
            Err(why) => span.content_unavailable = Some(why.to_owned()),
        }
    }

    let position: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut standalone = Vec::new();
    let mut touched = Vec::new();
    for log in logs {
        match log.span_id.and_then(|id| position.get(&id)) {
            Some(&i) => {
                spans[i].events.push(log.into_event());
                touched.push(i);
            }
            None => standalone.push(log),
        }
    }
    for i in touched {
        // Stable: span events keep their order among equal times, logs come after them.
        spans[i].events.sort_by_key(|e| e.time_unix_nano);
    }
    Ok(Some(TraceDetail {
        trace_id: *trace_id,
        spans,
        logs: standalone,
    }))
}

/// The fixed fields of a span in the API's JSON (the order of [`SpanDetail`]), borrowed from the
/// row; `attributes`, `events` and `ledger_index` are appended after them.
#[derive(Serialize)]
struct SpanHead<'a> {
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    name: &'a str,
    kind: AgentKind,
    start_unix_nano: u64,
    end_unix_nano: u64,
    status: StatusOut<'a>,
}

/// [`Status`] with a borrowed message; serializes identically.
#[derive(Serialize)]
struct StatusOut<'a> {
    code: StatusCode,
    message: &'a str,
}

fn text_column<'r>(
    row: &'r rusqlite::Row<'_>,
    i: usize,
    what: &str,
) -> Result<&'r str, StoreError> {
    row.get_ref(i)?
        .as_str()
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn blob_column<'r>(
    row: &'r rusqlite::Row<'_>,
    i: usize,
    what: &str,
) -> Result<Option<&'r [u8]>, StoreError> {
    row.get_ref(i)?
        .as_blob_or_null()
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn write_json(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), StoreError> {
    serde_json::to_writer(out, value)
        .map_err(|e| StoreError::Corrupt(format!("rendering json: {e}")))
}

/// [`get_trace`] rendered straight to the query API's JSON: the document
/// `serde_json::to_vec(&get_trace(..))` produces, built without the typed detail (see the module
/// docs).
pub(crate) fn get_trace_json(
    conn: &Connection,
    project: Option<&str>,
    trace_id: &TraceId,
    content: &dyn ContentSource,
) -> Result<Option<Vec<u8>>, StoreError> {
    let tx = conn.unchecked_transaction()?;
    // Log records first (few): each one with a span id goes to the last span (in answer order)
    // with that id, exactly as `get_trace` attaches them; the rest are listed beside the spans.
    let logs = trace_logs(&tx, project, trace_id)?;
    let mut attached: HashMap<i64, Vec<EventDetail>> = HashMap::new();
    let mut standalone = Vec::new();
    if !logs.is_empty() {
        let mut target = tx.prepare_cached(
            "SELECT ledger_index FROM spans WHERE trace_no IN (SELECT trace_no FROM traces \
             WHERE trace_id = ?1 AND (?3 IS NULL OR project = ?3)) AND span_id = ?2 \
             ORDER BY start_ns DESC, ledger_index DESC LIMIT 1",
        )?;
        let mut targets: HashMap<SpanId, Option<i64>> = HashMap::new();
        for log in logs {
            let span = match log.span_id {
                Some(id) => match targets.get(&id) {
                    Some(found) => *found,
                    None => {
                        let found = target
                            .query_row(
                                rusqlite::params![&trace_id.0[..], &id.0[..], project],
                                |row| row.get::<_, i64>(0),
                            )
                            .optional()?;
                        targets.insert(id, found);
                        found
                    }
                },
                None => None,
            };
            match span {
                Some(index) => attached.entry(index).or_default().push(log.into_event()),
                None => standalone.push(log),
            }
        }
    }

    // The fixed fields are rendered in index order into one buffer and put in answer order
    // afterwards: an `ORDER BY` would make SQLite copy every row through its sorter.
    let mut heads = Vec::with_capacity(16 * 1024);
    // (start, ledger index, where its head begins and ends in `heads`)
    let mut order: Vec<(i64, i64, usize, usize)> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT ledger_index, span_id, parent_span_id, name, kind, start_ns, end_ns, \
             status_code, status_message FROM spans WHERE trace_no IN \
             (SELECT trace_no FROM traces WHERE trace_id = ?1 AND (?2 IS NULL OR project = ?2))",
        )?;
        let mut rows = stmt.query(rusqlite::params![&trace_id.0[..], project])?;
        while let Some(row) = rows.next()? {
            let begin = heads.len();
            let ledger_index: i64 = row.get(0)?;
            let start: i64 = row.get(5)?;
            let code: i32 = row.get(7)?;
            let head = SpanHead {
                span_id: ids::span_id_from_blob(
                    blob_column(row, 1, "span id")?.unwrap_or_default(),
                )?,
                parent_span_id: blob_column(row, 2, "parent span id")?
                    .map(ids::span_id_from_blob)
                    .transpose()?,
                name: text_column(row, 3, "span name")?,
                kind: kind_from_sql(text_column(row, 4, "agent kind")?)?,
                start_unix_nano: from_sql_int(start),
                end_unix_nano: from_sql_int(row.get(6)?),
                status: StatusOut {
                    code: StatusCode::from_i32(code)
                        .ok_or_else(|| StoreError::Corrupt(format!("status code {code}")))?,
                    message: text_column(row, 8, "status message")?,
                },
            };
            write_json(&mut heads, &head)?;
            // A serialized struct ends with its closing brace; the span's object continues.
            heads.pop();
            order.push((start, ledger_index, begin, heads.len()));
        }
    }
    tx.finish()?;
    if order.is_empty() && standalone.is_empty() {
        return Ok(None);
    }
    let contents = Contents::load(content, order.iter().map(|o| from_sql_int(o.1)).collect())?;

    // The order of `get_trace`: by start, ties by ledger index (unique).
    order.sort_unstable_by_key(|&(start, index, _, _)| (start, index));
    let mut out = Vec::with_capacity(heads.len() + order.len() * 1024 + 256);
    out.extend_from_slice(b"{\"trace_id\":");
    write_json(&mut out, trace_id)?;
    out.extend_from_slice(b",\"spans\":[");
    let mut text = String::new();
    for (n, &(_, ledger_index, begin, end)) in order.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&heads[begin..end]);
        let index = from_sql_int(ledger_index);
        let (record, unavailable) = match contents.span(index) {
            Ok(span) => (Some(span), None),
            Err(why) => (None, Some(why)),
        };
        text.clear();
        text.push_str(",\"attributes\":");
        match record {
            Some(span) => write::push_attributes_json(&mut text, &span.attributes),
            None => text.push_str("{}"),
        }
        text.push_str(",\"events\":");
        match (attached.remove(&ledger_index), record) {
            (None, Some(span)) => write::push_events_json(&mut text, &span.events),
            (None, None) => text.push_str("[]"),
            (Some(logs), record) => {
                let mut merged: Vec<EventDetail> = record
                    .map(|span| span.events.iter().map(EventDetail::from).collect())
                    .unwrap_or_default();
                merged.extend(logs);
                // Stable: span events keep their order among equal times, logs come after.
                merged.sort_by_key(|e| e.time_unix_nano);
                out.extend_from_slice(text.as_bytes());
                text.clear();
                write_json(&mut out, &merged)?;
            }
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b",\"ledger_index\":");
        write_json(&mut out, &index)?;
        if let Some(why) = unavailable {
            out.extend_from_slice(b",\"content_unavailable\":");
            write_json(&mut out, &why)?;
        }
        out.push(b'}');
    }
    drop(heads);
    out.extend_from_slice(b"],\"logs\":");
    write_json(&mut out, &standalone)?;
    out.push(b'}');
    Ok(Some(out))
}

fn trace_logs(
    conn: &Connection,
    project: Option<&str>,
    trace_id: &TraceId,
) -> Result<Vec<LogDetail>, StoreError> {
    let stmt = conn.prepare_cached(
        "SELECT ledger_index, span_id, time_ns, observed_ns, severity_number, severity_text, \
         event_name, body, attributes FROM logs WHERE trace_id = ?1 \
         AND (?2 IS NULL OR project = ?2) ORDER BY time_ns, ledger_index",
    )?;
    read_logs(stmt, rusqlite::params![&trace_id.0[..], project])
}

/// Log records with `event_name`, in `[since, until)` by time, oldest first, at most `limit`.
pub(crate) fn logs_by_event(
    conn: &Connection,
    project: Option<&str>,
    event_name: &str,
    since: Option<u64>,
    until: Option<u64>,
    limit: usize,
) -> Result<Vec<LogDetail>, StoreError> {
    let stmt = conn.prepare_cached(
        "SELECT ledger_index, span_id, time_ns, observed_ns, severity_number, severity_text, \
         event_name, body, attributes FROM logs WHERE event_name = ?1 AND time_ns >= ?2 \
         AND time_ns < ?3 AND (?4 IS NULL OR project = ?4) ORDER BY time_ns, ledger_index \
         LIMIT ?5",
    )?;
    read_logs(
        stmt,
        rusqlite::params![
            event_name,
            to_sql_int(since.unwrap_or(0)),
            to_sql_int(until.unwrap_or(u64::MAX)),
            project,
            i64::try_from(limit).unwrap_or(i64::MAX),
        ],
    )
}

/// The project of the span or log record at `ledger_index`; `None` when the index has neither.
pub(crate) fn project_of_entry(
    conn: &Connection,
    ledger_index: u64,
) -> Result<Option<String>, StoreError> {
    let index = to_sql_int(ledger_index);
    Ok(conn
        .query_row(
            "SELECT project FROM spans WHERE ledger_index = ?1 \
             UNION ALL SELECT project FROM logs WHERE ledger_index = ?1 LIMIT 1",
            [index],
            |row| row.get(0),
        )
        .optional()?)
}

fn read_logs(
    mut stmt: rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<LogDetail>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut logs = Vec::new();
    while let Some(row) = rows.next()? {
        let span_id: Option<Vec<u8>> = row.get(1)?;
        logs.push(LogDetail {
            ledger_index: from_sql_int(row.get(0)?),
            span_id: span_id.as_deref().map(ids::span_id_from_blob).transpose()?,
            time_unix_nano: from_sql_int(row.get(2)?),
            observed_time_unix_nano: from_sql_int(row.get(3)?),
            severity_number: row.get(4)?,
            severity_text: row.get(5)?,
            event_name: row.get(6)?,
            body: parse_json(&row.get::<_, String>(7)?, "log body")?,
            attributes: parse_json(&row.get::<_, String>(8)?, "log attributes")?,
        });
    }
    Ok(logs)
}

/// Reads one `meta` value.
pub(crate) fn meta(conn: &Connection, key: &str) -> Result<Option<i64>, StoreError> {
    meta_in(conn, "main", key)
}

/// Reads one `meta` value of the attached database `schema`.
pub(crate) fn meta_in(
    conn: &Connection,
    schema: &str,
    key: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT value FROM {schema}.meta WHERE key = ?1"))?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = PageCursor {
            sort: TraceSort::Start,
            order: SortOrder::Desc,
            key: 1_700_000_000_123_456_789,
            trace_id: TraceId([7; 16]),
        };
        assert_eq!(c.encode().len(), 48);
        let (sort, order) = (TraceSort::Start, SortOrder::Desc);
        assert_eq!(PageCursor::decode(&c.encode(), sort, order).ok(), Some(c));
        let d = PageCursor {
            sort: TraceSort::Errors,
            order: SortOrder::Asc,
            key: 3,
            trace_id: TraceId([9; 16]),
        };
        assert_eq!(d.encode().len(), 52);
        let (sort, order) = (TraceSort::Errors, SortOrder::Asc);
        assert_eq!(PageCursor::decode(&d.encode(), sort, order).ok(), Some(d));
        assert!(PageCursor::decode(&d.encode(), sort, SortOrder::Desc).is_err());
        assert!(PageCursor::decode(&c.encode(), sort, order).is_err());
        for bad in ["", "zz", &"0".repeat(47), &"f".repeat(48), &"0".repeat(50)] {
            let err = PageCursor::decode(bad, TraceSort::Start, SortOrder::Desc).err();
            assert!(
                matches!(err, Some(StoreError::InvalidCursor(_))),
                "{bad}: {err:?}"
            );
        }
    }

    use std::collections::BTreeMap;

    use cairn_model::{AnyValue, Event, KeyValue, LogRecord, Record, Resource, Span};

    use crate::content::{Content, NOT_A_SPAN};

    const TRACE: TraceId = TraceId([0xab; 16]);
    const T0: u64 = 1_735_689_600_000_000_000;

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
        }
    }

    fn resource(project: &str) -> Resource {
        Resource {
            attributes: vec![kv(
                crate::extract::PROJECT_ATTRIBUTE,
                AnyValue::String(project.to_owned()),
            )],
            ..Resource::default()
        }
    }

    /// A span with content that exercises the JSON mapping: escapes, unicode, floats, big and
    /// negative integers, nested arrays and maps, bytes, and an event.
    fn span(n: u8, project: &str, start: u64) -> Span {
        Span {
            trace_id: TRACE,
            span_id: SpanId([n; 8]),
            parent_span_id: (n > 1).then_some(SpanId([1; 8])),
            name: format!("chat \"model\" {n}"),
            agent_kind: if n % 2 == 0 {
                AgentKind::Tool
            } else {
                AgentKind::Llm
            },
            start_unix_nano: start,
            end_unix_nano: start + 5,
            status: if n % 3 == 0 {
                Status {
                    code: StatusCode::Error,
                    message: "boom \u{1F4A5}\n".into(),
                }
            } else {
                Status::default()
            },
            attributes: vec![
                kv(
                    "gen_ai.input.messages",
                    AnyValue::String(r#"[{"role":"user","content":"café \"quoted\"\n\t"}]"#.into()),
                ),
                kv(
                    "gen_ai.request.temperature",
                    AnyValue::Double(0.1 + f64::from(n)),
                ),
                kv("big", AnyValue::Int(i64::MIN + i64::from(n))),
                kv(
                    "list",
                    AnyValue::Array(vec![AnyValue::Bool(true), AnyValue::Double(1e300)]),
                ),
                kv(
                    "map",
                    AnyValue::KvList(vec![
                        kv("z", AnyValue::Int(1)),
                        kv("a", AnyValue::Bytes(vec![0, 255])),
                    ]),
                ),
            ],
            events: (n % 2 == 1)
                .then(|| Event {
                    time_unix_nano: start + 2,
                    name: "exception".into(),
                    attributes: vec![kv("exception.message", AnyValue::String("<&>".into()))],
                    dropped_attributes_count: 0,
                })
                .into_iter()
                .collect(),
            resource: resource(project),
            ..Span::default()
        }
    }

    fn log(span: Option<u8>, project: &str, time: u64, name: &str) -> LogRecord {
        LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: time + 1,
            severity_number: 9,
            severity_text: if name.is_empty() {
                "INFO".into()
            } else {
                String::new()
            },
            event_name: name.into(),
            body: AnyValue::KvList(vec![kv("score", AnyValue::Double(0.5))]),
            attributes: vec![kv("k", AnyValue::String("v\u{0}".into()))],
            trace_id: Some(TRACE),
            span_id: span.map(|n| SpanId([n; 8])),
            resource: resource(project),
            ..LogRecord::default()
        }
    }

    /// Spans of two projects (span 5 exists in both, so a log on it attaches to the later one
    /// when both projects are visible), span events, log records on spans (one at the same time
    /// as a span event) and beside them (no span id, an unknown span id).
    fn store() -> (tempfile::TempDir, crate::Store, BTreeMap<u64, Record>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::Store::open(&dir.path().join("index.db")).unwrap();
        let mut records = Vec::new();
        for n in 1..=40u8 {
            records.push(Record::Span(span(n, "alpha", T0 + u64::from(n % 7) * 10)));
        }
        records.push(Record::Span(span(5, "beta", T0 + 1_000)));
        records.push(Record::Span(span(41, "beta", T0)));
        records.push(Record::Log(log(
            Some(3),
            "alpha",
            T0 + 30 + 2,
            "gen_ai.evaluation.result",
        )));
        records.push(Record::Log(log(Some(3), "alpha", T0 + 30 + 1, "")));
        records.push(Record::Log(log(Some(5), "alpha", T0 + 1, "")));
        records.push(Record::Log(log(Some(5), "beta", T0 + 2, "on beta")));
        records.push(Record::Log(log(None, "alpha", T0 + 3, "run finished")));
        records.push(Record::Log(log(Some(99), "beta", T0, "orphan")));
        let batch: Vec<(u64, Record)> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r))
            .collect();
        store.apply(&batch, batch.len() as u64).unwrap();
        (dir, store, batch.into_iter().collect())
    }

    #[test]
    fn trace_json_is_the_typed_trace_serialized() {
        let (_dir, store, ledger) = store();
        let reader = store.reader().unwrap();
        for project in [None, Some("alpha"), Some("beta"), Some("gamma")] {
            let typed = reader.get_trace(project, &TRACE, &ledger).unwrap();
            let json = reader.get_trace_json(project, &TRACE, &ledger).unwrap();
            let old = typed.as_ref().map(|t| serde_json::to_vec(t).unwrap());
            assert_eq!(
                json.as_deref().map(String::from_utf8_lossy),
                old.as_deref().map(String::from_utf8_lossy),
                "{project:?}"
            );
            if let (Some(typed), Some(json)) = (typed, json) {
                let back: TraceDetail = serde_json::from_slice(&json).unwrap();
                assert_eq!(back, typed, "{project:?}");
            }
        }
        // The data exercised both paths: logs merged into span events, and logs beside spans.
        let all = reader.get_trace(None, &TRACE, &ledger).unwrap().unwrap();
        assert_eq!(all.spans.len(), 42);
        assert_eq!(all.logs.len(), 2);
        let merged: Vec<_> = all
            .spans
            .iter()
            .filter(|s| s.events.iter().any(|e| e.ledger_index.is_some()))
            .collect();
        assert_eq!(merged.len(), 2, "span 3 and the later span 5");
        assert!(merged.iter().all(|s| s.events.len() >= 2));
        // The content is the records' own: attributes and events as the model maps them.
        for span in &all.spans {
            let Some(Record::Span(record)) = ledger.get(&span.ledger_index) else {
                panic!("span {} has no record", span.ledger_index);
            };
            assert_eq!(span.attributes, attributes_to_json(&record.attributes));
            assert!(span.events.len() >= record.events.len());
            assert_eq!(span.content_unavailable, None);
        }
        assert_eq!(
            reader
                .get_trace_json(None, &TraceId([1; 16]), &ledger)
                .unwrap(),
            None
        );
    }

    /// A span whose record cannot be read (missing from the source, or another kind of record
    /// at its index) is answered without content and with the reason, in both renderings.
    #[test]
    fn unreadable_content_is_reported_and_the_span_kept() {
        let (_dir, store, mut ledger) = store();
        let reader = store.reader().unwrap();
        ledger.remove(&0);
        let log = ledger[&42].clone();
        ledger.insert(1, log);
        // Span 3 (index 2) has logs attached: they still merge into its events.
        let attached = ledger.remove(&2);
        assert!(matches!(attached, Some(Record::Span(_))));
        let typed = reader.get_trace(None, &TRACE, &ledger).unwrap().unwrap();
        let json = reader
            .get_trace_json(None, &TRACE, &ledger)
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&json),
            serde_json::to_string(&typed).unwrap()
        );
        assert_eq!(typed.spans.len(), 42, "no span is dropped");
        let by_index = |i: u64| typed.spans.iter().find(|s| s.ledger_index == i).unwrap();
        assert_eq!(
            by_index(0).content_unavailable.as_deref(),
            Some("not found")
        );
        assert!(by_index(0).attributes.is_empty() && by_index(0).events.is_empty());
        assert_eq!(by_index(1).content_unavailable.as_deref(), Some(NOT_A_SPAN));
        let three = by_index(2);
        assert_eq!(three.content_unavailable.as_deref(), Some("not found"));
        assert_eq!(three.events.len(), 2, "its two log records");
        assert!(three.events.iter().all(|e| e.ledger_index.is_some()));
        assert_eq!(
            typed
                .spans
                .iter()
                .filter(|s| s.content_unavailable.is_some())
                .count(),
            3
        );
        // A source that fails fails the fetch.
        struct Broken;
        impl ContentSource for Broken {
            fn load(&self, _: &[u64], _: &mut dyn FnMut(u64, Content)) -> Result<(), StoreError> {
                Err(StoreError::Content("disk on fire".to_owned()))
            }
        }
        assert!(matches!(
            reader.get_trace_json(None, &TRACE, &Broken),
            Err(StoreError::Content(_))
        ));
        assert!(matches!(
            reader.get_trace(None, &TRACE, &Broken),
            Err(StoreError::Content(_))
        ));
    }

    #[test]
    fn trace_json_refuses_damaged_rows() {
        let (dir, store, ledger) = store();
        let reader = store.reader().unwrap();
        let raw = Connection::open(dir.path().join("index.db")).unwrap();
        for (column, bad) in [("kind", "wizard"), ("status_code", "7"), ("span_id", "x")] {
            let good: SqlValue = raw
                .query_row(
                    &format!("SELECT {column} FROM spans WHERE ledger_index = 0"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            raw.execute(
                &format!("UPDATE spans SET {column} = ?1 WHERE ledger_index = 0"),
                [bad],
            )
            .unwrap();
            let err = reader.get_trace_json(None, &TRACE, &ledger).err();
            assert!(
                matches!(err, Some(StoreError::Corrupt(_) | StoreError::Sqlite(_))),
                "{column} {bad}: {err:?}"
            );
            raw.execute(
                &format!("UPDATE spans SET {column} = ?1 WHERE ledger_index = 0"),
                [good],
            )
            .unwrap();
        }
        assert!(
            reader
                .get_trace_json(None, &TRACE, &ledger)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn sort_and_order_parse() {
        assert_eq!("duration".parse(), Ok(TraceSort::Duration));
        assert_eq!("asc".parse(), Ok(SortOrder::Asc));
        assert!("cost".parse::<TraceSort>().is_err());
        assert!("ascending".parse::<SortOrder>().is_err());
    }

    #[test]
    fn status_parses() {
        assert_eq!("ok".parse(), Ok(TraceStatus::Ok));
        assert_eq!("error".parse(), Ok(TraceStatus::Error));
        assert!("OK ".parse::<TraceStatus>().is_err());
    }

    /// The walk and collect plans of a full-text listing give the same pages, page after page,
    /// for any store, filter, sort and page size, including walks that take many small steps
    /// and walks that give up and collect.
    mod search_plans {
        use super::*;
        use crate::Store;
        use proptest::prelude::*;

        const WORDS: [&str; 3] = ["common", "middling", "scarce"];

        /// One generated record: a span of trace `trace` (or a log record on it) whose text
        /// holds the words of `mask`.
        #[derive(Debug, Clone)]
        struct Gen {
            trace: u8,
            log: bool,
            mask: u8,
            error: bool,
        }

        fn text(mask: u8) -> String {
            let words: Vec<&str> = (0..3)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| WORDS[i])
                .collect();
            format!("filler {}", words.join(" "))
        }

        fn mask() -> impl Strategy<Value = u8> {
            (
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.3),
                prop::bool::weighted(0.05),
            )
                .prop_map(|(a, b, c)| u8::from(a) | u8::from(b) << 1 | u8::from(c) << 2)
        }

        fn records() -> impl Strategy<Value = (Vec<Gen>, Vec<u64>, bool)> {
            let one = (
                0u8..24,
                prop::bool::weighted(0.1),
                mask(),
                prop::bool::weighted(0.2),
            )
                .prop_map(|(trace, log, mask, error)| Gen {
                    trace,
                    log,
                    mask,
                    error,
                });
            (
                prop::collection::vec(one, 1..120),
                prop::collection::vec(0u64..5, 24),
                any::<bool>(),
            )
        }

        fn build(gens: &[Gen], jitter: &[u64], arrival_order: bool) -> (tempfile::TempDir, Store) {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(&dir.path().join("index.db")).unwrap();
            let mut batch = Vec::new();
            for (i, g) in gens.iter().enumerate() {
                let trace_id = TraceId([g.trace + 1; 16]);
                let project = if g.trace % 3 == 0 { "beta" } else { "alpha" };
                // Start times that follow arrival (live traffic) or that tie and jump around.
                let start = if arrival_order {
                    T0 + u64::from(g.trace) * 1_000 + jitter[usize::from(g.trace)]
                } else {
                    T0 + jitter[usize::from(g.trace)] * 1_000
                };
                let record = if g.log {
                    Record::Log(LogRecord {
                        time_unix_nano: start,
                        observed_time_unix_nano: start,
                        body: AnyValue::String(text(g.mask)),
                        trace_id: Some(trace_id),
                        resource: resource(project),
                        ..LogRecord::default()
                    })
                } else {
                    Record::Span(Span {
                        trace_id,
                        span_id: SpanId((i as u64 + 1).to_be_bytes()),
                        name: "step".into(),
                        start_unix_nano: start + i as u64,
                        end_unix_nano: start + i as u64 * 7,
                        status: if g.error {
                            Status {
                                code: StatusCode::Error,
                                message: String::new(),
                            }
                        } else {
                            Status::default()
                        },
                        attributes: vec![kv(
                            "cairn.reasoning.content",
                            AnyValue::String(text(g.mask)),
                        )],
                        resource: resource(project),
                        ..Span::default()
                    })
                };
                batch.push((i as u64, record));
            }
            // Several transactions, as the indexer applies them.
            for part in batch.chunks(17) {
                let next = part.last().map_or(0, |(i, _)| i + 1);
                store.apply(part, next).unwrap();
            }
            (dir, store)
        }

        fn pages(
            store: &Store,
            project: Option<&str>,
            query: &TraceQuery,
            plan: SearchPlan,
            limits: WalkLimits,
        ) -> Vec<TracePage> {
            let mut query = query.clone();
            let mut out = Vec::new();
            loop {
                let page = list_traces_walking(&store.conn, project, &query, plan, limits).unwrap();
                let next = page.next_cursor.clone();
                out.push(page);
                match next {
                    Some(cursor) if out.len() < 200 => query.cursor = Some(cursor),
                    _ => return out,
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            #[test]
            fn walk_and_collect_agree(
                (gens, jitter, arrival_order) in records(),
                q in prop::sample::select(vec![
                    "common", "middling", "scarce", "common middling", "midd*", "absent",
                ]),
                sort in prop::sample::select(vec![
                    TraceSort::Start, TraceSort::Duration, TraceSort::Tokens, TraceSort::Errors,
                ]),
                asc in any::<bool>(),
                limit in 1usize..7,
                project in prop::sample::select(vec![None, Some("alpha"), Some("beta")]),
                errors_only in any::<bool>(),
                chunk in 1usize..6,
                max_traces in 1usize..16,
                probe_spread in prop::sample::select(vec![0usize, 1, 4, usize::MAX]),
                max_probed in prop::sample::select(vec![0usize, 1, 3, usize::MAX]),
            ) {
                let (_dir, store) = build(&gens, &jitter, arrival_order);
                // The walk relies on every span sitting at or after its trace's `trace_no`.
                let early: i64 = store
                    .conn
                    .query_row(
                        "SELECT count(*) FROM spans s JOIN traces t ON t.trace_no = s.trace_no \
                         WHERE s.ledger_index < t.trace_no",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                prop_assert_eq!(early, 0);
                let query = TraceQuery {
                    q: Some(q.to_owned()),
                    sort,
                    order: if asc { SortOrder::Asc } else { SortOrder::Desc },
                    limit: Some(limit),
                    status: errors_only.then_some(TraceStatus::Error),
                    ..TraceQuery::default()
                };
                let want = pages(&store, project, &query, SearchPlan::Collect, WalkLimits::DEFAULT);
                let small = WalkLimits {
                    chunk,
                    max_traces,
                    probe_spread,
                    max_probed,
                };
                prop_assert_eq!(
                    &pages(&store, project, &query, SearchPlan::Walk, small),
                    &want
                );
                prop_assert_eq!(
                    &pages(&store, project, &query, SearchPlan::Walk, WalkLimits::DEFAULT),
                    &want
                );
                prop_assert_eq!(
                    &pages(&store, project, &query, SearchPlan::Auto, WalkLimits::DEFAULT),
                    &want
                );
            }
        }

        /// Paging happens, and a walk gives up when the matches are older than it may go (the
        /// plan then collects: same page).
        #[test]
        fn the_generator_covers_the_cases() {
            let gens: Vec<Gen> = (0..200u32)
                .map(|i| Gen {
                    trace: (i % 24) as u8,
                    log: i % 11 == 0,
                    // Only the six oldest traces mention the middling word.
                    mask: if i % 24 < 6 { 0b11 } else { 0b1 },
                    error: i % 4 == 0,
                })
                .collect();
            let (_dir, store) = build(&gens, &[0; 24], true);
            let query = TraceQuery {
                q: Some("middling".into()),
                limit: Some(3),
                ..TraceQuery::default()
            };
            let want = pages(
                &store,
                None,
                &query,
                SearchPlan::Collect,
                WalkLimits::DEFAULT,
            );
            assert_eq!(want.len(), 2);
            let found: usize = want.iter().map(|p| p.traces.len()).sum();
            assert_eq!(found, 6);
            let tight = WalkLimits {
                chunk: 1,
                max_traces: 2,
                probe_spread: usize::MAX,
                max_probed: 0,
            };
            let first =
                list_traces_walking(&store.conn, None, &query, SearchPlan::Walk, tight).unwrap();
            assert_eq!(first, want[0]);
            let filters = ListFilters::new(None, &query);
            let expr = match fts_query("middling") {
                FtsQuery::Match(e) => e,
                other => panic!("{other:?}"),
            };
            assert!(
                walk(&store.conn, &filters, None, 4, &expr, tight)
                    .unwrap()
                    .is_none()
            );
            assert!(
                walk(&store.conn, &filters, None, 4, &expr, WalkLimits::DEFAULT)
                    .unwrap()
                    .is_some()
            );
        }
    }
}
