//! Aggregates per agent, tool or model.
//!
//! What one group counts depends on `group_by`:
//! - `agent`: traces (agent runs), keyed by the trace summary's agent; duration, error and token
//!   figures are the trace's.
//! - `tool`: tool spans, keyed by tool name.
//! - `model`: spans that name a model (the response model, else the request model).
//!
//! Rows without a key are left out. The time window applies to the trace start (`agent`) or the
//! span start (`tool`, `model`): `since` inclusive, `until` exclusive. Percentiles use the
//! nearest-rank method: the smallest duration with at least `p`% of the group at or below it.

use std::str::FromStr;

use rusqlite::Connection;
use rusqlite::params_from_iter;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::query::UnknownValue;
use crate::write::{from_sql_int, to_sql_int};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsQuery {
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
    /// Number of runs / calls.
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
    // (key column, duration, failed, input tokens, output tokens, table)
    let (key, duration, failed, input, output, table) = match query.group_by {
        GroupBy::Agent => (
            "agent",
            "duration_ns",
            "error_count > 0",
            "input_tokens",
            "output_tokens",
            "traces",
        ),
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
    if let Some(since) = query.since {
        args.push(to_sql_int(since).into());
        sql += &format!(" AND start_ns >= ?{}", args.len());
    }
    if let Some(until) = query.until {
        args.push(to_sql_int(until).into());
        sql += &format!(" AND start_ns < ?{}", args.len());
    }
    sql += &format!(" ORDER BY {key}, d");

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut groups = Vec::new();
    let mut current: Option<Group> = None;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if current.as_ref().is_none_or(|g| g.key != key) {
            groups.extend(current.take().map(Group::finish));
            current = Some(Group {
                key,
                durations: Vec::new(),
                errors: 0,
                input: 0,
                output: 0,
            });
        }
        if let Some(group) = current.as_mut() {
            group.durations.push(from_sql_int(row.get(1)?));
            group.errors += u64::from(row.get::<_, bool>(2)?);
            group.input = group.input.saturating_add(from_sql_int(row.get(3)?));
            group.output = group.output.saturating_add(from_sql_int(row.get(4)?));
        }
    }
    groups.extend(current.map(Group::finish));
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    Ok(StatsReport {
        group_by: query.group_by,
        since: query.since,
        until: query.until,
        groups,
    })
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
