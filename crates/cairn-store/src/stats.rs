//! Aggregates per agent, tool or model.
//!
//! # Attribution
//! Every span belongs to an agent: the nearest span, itself or an ancestor, that names one
//! (`gen_ai.agent.name`, the `agent` column). The LLM calls, tool calls and other steps under a
//! sub-agent's `invoke_agent` span belong to that sub-agent, not to the agent that invoked it.
//! Spans with no named ancestor (or whose parent has not arrived and that name no agent
//! themselves) belong to no agent.
//!
//! # What one group counts
//! - `agent`: runs — the distinct traces the agent took part in (it names at least one of their
//!   spans), sub-agents included, so one trace counts for every agent in it. Per run of an agent:
//!   the duration runs from the earliest start to the latest end of the spans that name it (its
//!   `invoke_agent` spans); the run failed when any span belonging to it failed; tokens are those
//!   of the spans belonging to it, summed like a trace's (LLM spans that report usage when any
//!   does, else every span that reports usage, so an agent span repeating its children's total is
//!   not counted twice).
//! - `tool`: tool spans, keyed by tool name.
//! - `model`: spans that name a model (the response model, else the request model).
//!
//! The `agent` filter keeps the spans belonging to that agent (by the attribution above): tool and
//! model stats of one agent, or the one group of that agent.
//!
//! Rows without a key are left out. The time window applies to the trace start (`agent`) or the
//! span start (`tool`, `model`): `since` inclusive, `until` exclusive. Percentiles use the
//! nearest-rank method: the smallest duration with at least `p`% of the group at or below it.
//!
//! Cost: `agent` stats, and `tool`/`model` stats with the `agent` filter, read every span of the
//! traces in the window (attribution needs the whole tree); `tool`/`model` stats without it read
//! only the spans that name a tool or model.

use std::collections::HashMap;
use std::str::FromStr;

use rusqlite::Connection;
use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::query::UnknownValue;
use crate::write::{Facet, from_sql_int, to_sql_int};

/// What [`StatsQuery`] groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Agent runs (traces) by agent name.
    #[default]
    Agent,
    /// Tool calls by tool name.
    Tool,
    /// Model calls by model name.
    Model,
}

impl FromStr for GroupBy {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Self::Agent),
            "tool" => Ok(Self::Tool),
            "model" => Ok(Self::Model),
            _ => Err(UnknownValue {
                expected: "agent|tool|model",
            }),
        }
    }
}

/// Parameters of [`crate::Reader::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsQuery {
    /// Only spans belonging to this agent (see the module docs for attribution).
    pub agent: Option<String>,
    /// Grouping.
    pub group_by: GroupBy,
    /// Only rows starting at or after this time, unix nanoseconds.
    pub since: Option<u64>,
    /// Only rows starting before this time, unix nanoseconds.
    pub until: Option<u64>,
}

/// Aggregates, one entry per group, most frequent first (ties by key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// The grouping used.
    pub group_by: GroupBy,
    /// Window start, as asked.
    pub since: Option<u64>,
    /// Window end, as asked.
    pub until: Option<u64>,
    /// The groups.
    pub groups: Vec<GroupStats>,
}

/// Aggregates of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Agent, tool or model name.
    pub key: String,
    /// Number of runs (traces the agent took part in) / calls.
    pub count: u64,
    /// How many of them failed.
    pub error_count: u64,
    /// `error_count / count`.
    pub error_rate: f64,
    /// Median duration, nanoseconds.
    pub p50_duration_ns: u64,
    /// 95th percentile duration, nanoseconds.
    pub p95_duration_ns: u64,
    /// 99th percentile duration, nanoseconds.
    pub p99_duration_ns: u64,
    /// Sum of input tokens.
    pub input_tokens: u64,
    /// Sum of output tokens.
    pub output_tokens: u64,
}

/// Nearest-rank percentile of ascending `sorted` (`p` in 1..=100); 0 for an empty slice.
pub(crate) fn percentile(sorted: &[u64], p: u32) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // rank = ceil(p/100 * n), in integers; 1 <= rank <= n.
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

/// Accumulates one group while rows stream in, ordered by key then duration.
#[derive(Debug)]
struct Group {
    key: String,
    durations: Vec<u64>,
    errors: u64,
    input: u64,
    output: u64,
}

impl Group {
    fn new(key: String) -> Self {
        Group {
            key,
            durations: Vec::new(),
            errors: 0,
            input: 0,
            output: 0,
        }
    }

    fn add(&mut self, duration: u64, failed: bool, input: u64, output: u64) {
        self.durations.push(duration);
        self.errors += u64::from(failed);
        self.input = self.input.saturating_add(input);
        self.output = self.output.saturating_add(output);
    }

    /// For groups filled in any order: sorts the durations first.
    fn finish_unsorted(mut self) -> GroupStats {
        self.durations.sort_unstable();
        self.finish()
    }

    fn finish(self) -> GroupStats {
        let count = self.durations.len() as u64;
        #[allow(clippy::cast_precision_loss)] // a rate, not an exact count
        let error_rate = if count == 0 {
            0.0
        } else {
            self.errors as f64 / count as f64
        };
        GroupStats {
            key: self.key,
            count,
            error_count: self.errors,
            error_rate,
            p50_duration_ns: percentile(&self.durations, 50),
            p95_duration_ns: percentile(&self.durations, 95),
            p99_duration_ns: percentile(&self.durations, 99),
            input_tokens: self.input,
            output_tokens: self.output,
        }
    }
}

pub(crate) fn stats(
    conn: &Connection,
    project: Option<&str>,
    query: &StatsQuery,
) -> Result<StatsReport, StoreError> {
    let mut groups = if query.group_by == GroupBy::Agent || query.agent.is_some() {
        attributed_stats(conn, project, query)?
    } else {
        span_stats(conn, project, query)?
    };
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    Ok(StatsReport {
        group_by: query.group_by,
        since: query.since,
        until: query.until,
        groups,
    })
}

/// `tool` and `model` stats over every agent: one pass over the spans naming a tool or model.
fn span_stats(
    conn: &Connection,
    project: Option<&str>,
    query: &StatsQuery,
) -> Result<Vec<GroupStats>, StoreError> {
    // (key column, duration, failed, input tokens, output tokens, table)
    let (key, duration, failed, input, output, table) = match query.group_by {
        GroupBy::Agent => {
            return Err(StoreError::Corrupt(
                "agent stats go through attribution".to_owned(),
            ));
        }
        GroupBy::Tool => (
            "tool",
            "end_ns - start_ns",
            "is_error",
            "coalesce(input_tokens, 0)",
            "coalesce(output_tokens, 0)",
            "spans",
        ),
        GroupBy::Model => (
            "model",
            "end_ns - start_ns",
            "is_error",
            "coalesce(input_tokens, 0)",
            "coalesce(output_tokens, 0)",
            "spans",
        ),
    };
    let mut sql = format!(
        "SELECT {key}, {duration} AS d, {failed}, {input}, {output} FROM {table} \
         WHERE {key} IS NOT NULL"
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(project) = project {
        args.push(project.to_owned().into());
        sql += &format!(" AND project = ?{}", args.len());
    }
    push_window(&mut sql, &mut args, query);
    sql += &format!(" ORDER BY {key}, d");

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut groups = Vec::new();
    let mut current: Option<Group> = None;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if current.as_ref().is_none_or(|g| g.key != key) {
            groups.extend(current.take().map(Group::finish));
            current = Some(Group::new(key));
        }
        if let Some(group) = current.as_mut() {
            group.add(
                from_sql_int(row.get(1)?),
                row.get::<_, bool>(2)?,
                from_sql_int(row.get(3)?),
                from_sql_int(row.get(4)?),
            );
        }
    }
    groups.extend(current.map(Group::finish));
    Ok(groups)
}

/// One span as attribution reads it.
#[derive(Debug)]
struct SpanRow {
    span_id: Vec<u8>,
    parent: Option<Vec<u8>>,
    agent: Option<String>,
    is_llm: bool,
    tool: Option<String>,
    model: Option<String>,
    start: i64,
    end: i64,
    is_error: bool,
    input: Option<i64>,
    output: Option<i64>,
}

/// The agent each span of one trace belongs to: index into `spans` of the nearest span (itself
/// or an ancestor) that names an agent. Parent cycles and missing parents end the walk.
fn owners(spans: &[SpanRow]) -> Vec<Option<usize>> {
    let by_id: HashMap<&[u8], usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_slice(), i))
        .collect();
    // None: not resolved yet; Some(x): resolved to x.
    let mut owner: Vec<Option<Option<usize>>> = vec![None; spans.len()];
    let mut chain = Vec::new();
    for start in 0..spans.len() {
        chain.clear();
        let mut at = Some(start);
        let found = loop {
            let Some(i) = at else { break None };
            if let Some(known) = owner[i] {
                break known;
            }
            if spans[i].agent.is_some() {
                break Some(i);
            }
            if chain.contains(&i) {
                break None;
            }
            chain.push(i);
            at = spans[i]
                .parent
                .as_deref()
                .and_then(|p| by_id.get(p).copied());
        };
        for &i in &chain {
            owner[i] = Some(found);
        }
        if spans[start].agent.is_some() {
            owner[start] = Some(Some(start));
        }
    }
    owner.into_iter().map(Option::flatten).collect()
}

/// One agent's part in one trace.
#[derive(Debug, Default)]
struct Participation {
    start: i64,
    end: i64,
    named: bool,
    failed: bool,
    llm_input: u64,
    llm_output: u64,
    llm_usage: bool,
    other_input: u64,
    other_output: u64,
}

fn tokens(v: Option<i64>) -> u64 {
    v.map_or(0, from_sql_int)
}

/// Stats that need each span's agent: `group_by=agent`, or any grouping with the agent filter.
fn attributed_stats(
    conn: &Connection,
    project: Option<&str>,
    query: &StatsQuery,
) -> Result<Vec<GroupStats>, StoreError> {
    let mut sql = String::from(
        "SELECT s.trace_id, s.project, s.span_id, s.parent_span_id, s.agent, s.kind, s.tool, \
         s.model, s.start_ns, s.end_ns, s.is_error, s.input_tokens, s.output_tokens FROM spans s \
         WHERE s.trace_no IN (SELECT trace_no FROM traces WHERE 1",
    );
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(project) = project {
        args.push(project.to_owned().into());
        sql += &format!(" AND project = ?{}", args.len());
    }
    if query.group_by == GroupBy::Agent {
        push_window(&mut sql, &mut args, query);
    }
    sql += ")";
    if let Some(agent) = &query.agent {
        args.push(i64::from(Facet::Agent as u8).into());
        args.push(agent.clone().into());
        sql += &format!(
            " AND s.trace_no IN (SELECT trace_no FROM trace_facets WHERE facet = ?{} \
             AND value = ?{})",
            args.len() - 1,
            args.len()
        );
    }
    // One trace's spans are contiguous (a `trace_no` is one (trace id, project)).
    sql += " ORDER BY s.trace_no";

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut trace: Option<(Vec<u8>, String)> = None;
    let mut spans: Vec<SpanRow> = Vec::new();
    while let Some(row) = rows.next()? {
        let key = (row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?);
        if trace.as_ref().is_some_and(|t| *t != key) {
            add_trace(&spans, query, &mut groups);
            spans.clear();
        }
        trace = Some(key);
        spans.push(SpanRow {
            span_id: row.get(2)?,
            parent: row.get(3)?,
            agent: row.get(4)?,
            is_llm: row.get::<_, String>(5)? == "llm",
            tool: row.get(6)?,
            model: row.get(7)?,
            start: row.get(8)?,
            end: row.get(9)?,
            is_error: row.get(10)?,
            input: row.get(11)?,
            output: row.get(12)?,
        });
    }
    add_trace(&spans, query, &mut groups);
    Ok(groups.into_values().map(Group::finish_unsorted).collect())
}

/// Adds one trace's spans to the groups of an attributed query.
fn add_trace(spans: &[SpanRow], query: &StatsQuery, groups: &mut HashMap<String, Group>) {
    if spans.is_empty() {
        return;
    }
    let owners = owners(spans);
    let agent_of = |i: usize| owners[i].and_then(|o| spans[o].agent.as_deref());
    let wanted = |i: usize| match &query.agent {
        Some(agent) => agent_of(i) == Some(agent.as_str()),
        None => true,
    };
    match query.group_by {
        GroupBy::Agent => {
            let mut parts: HashMap<&str, Participation> = HashMap::new();
            for (i, span) in spans.iter().enumerate() {
                let Some(agent) = agent_of(i) else { continue };
                if !wanted(i) {
                    continue;
                }
                let p = parts.entry(agent).or_default();
                if span.agent.as_deref() == Some(agent) {
                    if p.named {
                        p.start = p.start.min(span.start);
                        p.end = p.end.max(span.end);
                    } else {
                        (p.start, p.end, p.named) = (span.start, span.end, true);
                    }
                }
                p.failed |= span.is_error;
                let (input, output) = (tokens(span.input), tokens(span.output));
                if span.is_llm && (span.input.is_some() || span.output.is_some()) {
                    p.llm_input = p.llm_input.saturating_add(input);
                    p.llm_output = p.llm_output.saturating_add(output);
                    p.llm_usage = true;
                } else {
                    p.other_input = p.other_input.saturating_add(input);
                    p.other_output = p.other_output.saturating_add(output);
                }
            }
            for (agent, p) in parts {
                let (input, output) = if p.llm_usage {
                    (p.llm_input, p.llm_output)
                } else {
                    (p.other_input, p.other_output)
                };
                let duration = from_sql_int(p.end.saturating_sub(p.start));
                groups
                    .entry(agent.to_owned())
                    .or_insert_with(|| Group::new(agent.to_owned()))
                    .add(duration, p.failed, input, output);
            }
        }
        GroupBy::Tool | GroupBy::Model => {
            let since = query.since.map_or(i64::MIN, to_sql_int);
            let until = query.until.map_or(i64::MAX, to_sql_int);
            for (i, span) in spans.iter().enumerate() {
                let key = match query.group_by {
                    GroupBy::Tool => span.tool.as_deref(),
                    _ => span.model.as_deref(),
                };
                let Some(key) = key else { continue };
                if !wanted(i) || span.start < since || span.start >= until {
                    continue;
                }
                groups
                    .entry(key.to_owned())
                    .or_insert_with(|| Group::new(key.to_owned()))
                    .add(
                        from_sql_int(span.end.saturating_sub(span.start)),
                        span.is_error,
                        tokens(span.input),
                        tokens(span.output),
                    );
            }
        }
    }
}

/// Appends the query's `since`/`until` bounds on `start_ns` as numbered parameters.
fn push_window(sql: &mut String, args: &mut Vec<rusqlite::types::Value>, query: &StatsQuery) {
    if let Some(since) = query.since {
        args.push(to_sql_int(since).into());
        *sql += &format!(" AND start_ns >= ?{}", args.len());
    }
    if let Some(until) = query.until {
        args.push(to_sql_int(until).into());
        *sql += &format!(" AND start_ns < ?{}", args.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[5], 99), 5);
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 95), 95);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 50), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 99), 4);
    }

    #[test]
    fn group_by_parses() {
        assert_eq!("tool".parse(), Ok(GroupBy::Tool));
        assert!("tools".parse::<GroupBy>().is_err());
    }
}
