//! Runs grouped by conversation (session) id, from the `trace_facets` table (facet 5).
//!
//! A conversation is every trace that has at least one span naming the conversation id
//! (`gen_ai.conversation.id`, `session.id`, …); a trace naming two ids counts in both. Only traces
//! starting in `[since, until)` count, so the figures of a conversation are those of its runs in
//! the window. Groups are ordered by their latest run start, newest first (ties by id,
//! descending), and paged with a keyset cursor on that order.
//!
//! Cost: each page groups every conversation facet of the traces in the window (an index scan of
//! `trace_facets` joined to `traces` by `trace_no`), then reads the agents of the page's
//! conversations only.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::query::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::write::{Facet, from_sql_int, to_sql_int};

/// Parameters of [`crate::Reader::list_conversations`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationQuery {
    /// Only runs starting at or after this time, unix nanoseconds.
    pub since: Option<u64>,
    /// Only runs starting before this time, unix nanoseconds.
    pub until: Option<u64>,
    /// Page size: [`DEFAULT_LIMIT`] when unset, clamped to `1..=`[`MAX_LIMIT`].
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of conversations, most recently active first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationPage {
    /// The conversations of this page.
    pub conversations: Vec<ConversationSummary>,
    /// Opaque cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The runs of one conversation id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// The conversation / session id.
    pub conversation_id: String,
    /// Number of runs (traces).
    pub runs: u64,
    /// Start of the earliest run, unix nanoseconds.
    pub first_start_unix_nano: u64,
    /// Start of the latest run, unix nanoseconds.
    pub last_start_unix_nano: u64,
    /// End of the run that ended last, unix nanoseconds.
    pub last_end_unix_nano: u64,
    /// Input tokens of its runs (each summed like [`crate::TraceSummary::input_tokens`]).
    pub input_tokens: u64,
    /// Output tokens of its runs.
    pub output_tokens: u64,
    /// Failed spans over its runs.
    pub error_count: u64,
    /// Runs with at least one failed span.
    pub failed_runs: u64,
    /// Every agent named in its runs, sorted.
    pub agents: Vec<String>,
}

/// Keyset position: conversations strictly after this one (latest start, then id, descending).
/// Encoding: the latest start as 16 hex characters (8 big-endian bytes), then the id's UTF-8
/// bytes in hex.
fn encode_cursor(last_start: i64, id: &str) -> String {
    let mut bytes = last_start.to_be_bytes().to_vec();
    bytes.extend_from_slice(id.as_bytes());
    hex::encode(bytes)
}

fn decode_cursor(s: &str) -> Result<(i64, String), StoreError> {
    let bytes = hex::decode(s).map_err(|_| StoreError::InvalidCursor("not hex"))?;
    if bytes.len() < 8 {
        return Err(StoreError::InvalidCursor("too short"));
    }
    let (start, id) = bytes.split_at(8);
    let start = i64::from_be_bytes(start.try_into().unwrap_or_default());
    if start < 0 {
        return Err(StoreError::InvalidCursor("negative start time"));
    }
    let id = String::from_utf8(id.to_vec())
        .map_err(|_| StoreError::InvalidCursor("conversation id is not utf-8"))?;
    Ok((start, id))
}

pub(crate) fn list_conversations(
    conn: &Connection,
    project: Option<&str>,
    query: &ConversationQuery,
) -> Result<ConversationPage, StoreError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut args: Vec<SqlValue> = vec![i64::from(Facet::Conversation as u8).into()];
    let mut window = String::new();
    if let Some(project) = project {
        args.push(project.to_owned().into());
        window += &format!(" AND t.project = ?{}", args.len());
    }
    if let Some(since) = query.since {
        args.push(to_sql_int(since).into());
        window += &format!(" AND t.start_ns >= ?{}", args.len());
    }
    if let Some(until) = query.until {
        args.push(to_sql_int(until).into());
        window += &format!(" AND t.start_ns < ?{}", args.len());
    }
    let window_args = args.clone();
    let mut sql = format!(
        "SELECT f.value, count(*), min(t.start_ns), max(t.start_ns), max(t.end_ns), \
         sum(t.input_tokens), sum(t.output_tokens), sum(t.error_count), \
         sum(t.error_count > 0) FROM trace_facets f JOIN traces t ON t.trace_no = f.trace_no \
         WHERE f.facet = ?1{window} GROUP BY f.value"
    );
    if let Some(cursor) = &query.cursor {
        let (start, id) = decode_cursor(cursor)?;
        args.push(start.into());
        args.push(id.into());
        sql += &format!(
            " HAVING (max(t.start_ns), f.value) < (?{}, ?{})",
            args.len() - 1,
            args.len()
        );
    }
    args.push(i64::try_from(limit + 1).unwrap_or(i64::MAX).into());
    sql += &format!(
        " ORDER BY max(t.start_ns) DESC, f.value DESC LIMIT ?{}",
        args.len()
    );

    let mut conversations = Vec::new();
    let mut more = false;
    {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            if conversations.len() == limit {
                more = true;
                break;
            }
            conversations.push(ConversationSummary {
                conversation_id: row.get(0)?,
                runs: from_sql_int(row.get(1)?),
                first_start_unix_nano: from_sql_int(row.get(2)?),
                last_start_unix_nano: from_sql_int(row.get(3)?),
                last_end_unix_nano: from_sql_int(row.get(4)?),
                input_tokens: from_sql_int(row.get(5)?),
                output_tokens: from_sql_int(row.get(6)?),
                error_count: from_sql_int(row.get(7)?),
                failed_runs: from_sql_int(row.get(8)?),
                agents: Vec::new(),
            });
        }
    }

    // The agents of each conversation on the page, over the same window.
    let value_arg = window_args.len() + 1;
    let agents_sql = format!(
        "SELECT DISTINCT a.value FROM trace_facets f JOIN traces t ON t.trace_no = f.trace_no \
         JOIN trace_facets a ON a.trace_no = f.trace_no AND a.facet = {} WHERE f.facet = ?1{window} \
         AND f.value = ?{value_arg} ORDER BY a.value",
        Facet::Agent as u8
    );
    let mut stmt = conn.prepare_cached(&agents_sql)?;
    for c in &mut conversations {
        let mut args = window_args.clone();
        args.push(c.conversation_id.clone().into());
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            c.agents.push(row.get(0)?);
        }
    }

    let next_cursor = match conversations.last() {
        Some(last) if more => Some(encode_cursor(
            to_sql_int(last.last_start_unix_nano),
            &last.conversation_id,
        )),
        _ => None,
    };
    Ok(ConversationPage {
        conversations,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = encode_cursor(42, "conv-é");
        assert_eq!(decode_cursor(&c).unwrap(), (42, "conv-é".to_owned()));
        for bad in ["", "zz", "00", &"f".repeat(16), "0000000000000000ff"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
