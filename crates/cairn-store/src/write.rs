//! The write path of the main index file: one `apply` = one transaction there (the full-text
//! index is written beside it, into its own file, by `search_file`).
//!
//! Spans and logs are inserted with `INSERT OR IGNORE`. A row that already exists (same ledger
//! index, or for spans the same trace and span id) changes nothing, and only rows that were
//! actually inserted feed the facet table and the trace summaries; a span dropped as a duplicate
//! is reported, so that the search file deletes its text again. Summaries are merged with
//! commutative, order-independent rules (sums, min start, max end, and a total order for choosing
//! the root and the agent), so any arrival order and any replay of the same entries leaves the
//! same summary.
//!
//! Since schema version 7 a span row holds no attributes or events (they stay in the ledger; see
//! the `content` module), so the JSON writer below serves log rows and the trace fetch.
//!
//! # Cost per span, and what bounds it
//! Measured with `benches/index.rs` (512 realistic GenAI spans per `apply`, a fresh store,
//! `valgrind --tool=callgrind` instructions inside `Store::apply`, 5,120 spans):
//!
//! | part | before | now |
//! |---|---|---|
//! | whole `apply` | 162 k instr/span | 121 k instr/span (1.34x fewer) |
//! | FTS5 insert (unicode61 tokenizer, term hash) | 38 k | 38 k |
//! | `extract::span_facts` (content JSON parsing, accessors) | 43 k | 26 k |
//! | `attributes`/`events` JSON text | 20 k | 12 k |
//! | commit (FTS5 segment flush and merge, WAL frames) | 19 k | 8 k |
//! | B-tree inserts (`spans`, `spans_by_*`, traces, facets) | 11 k | 11 k |
//!
//! Two later changes matter once the store is large (see `docs/performance.md`, "Index at
//! scale"): spans and facets are keyed by the trace's `trace_no` (schema v4) instead of the
//! random trace id, so a live trace's inserts stay on the last pages of those B-trees; and
//! [`derive`] (facts, JSON text, search text) runs before the transaction, on the collector's
//! reader thread when it pipelines, so [`apply_derived`] holds only the SQL work.
//!
//! What changed: JSON columns are written straight from the model's attribute types into a
//! `String` (no `serde_json::Value` tree; byte-identical output, tested), message content is
//! read once per span, by a streaming visitor that copies its leaves into the search text (the
//! reasoning fallback parses `gen_ai.output.messages` again only when it can hold a reasoning
//! part; see `extract`), `Span::decision` runs only when a decision attribute exists, and the
//! FTS table merges 8 segments at a time (schema v3; the commit row above is smaller than the
//! long-run saving, about 4 % of instructions at 10,240 spans, because a short run merges less).
//!
//! Thread CPU time (`/proc/thread-self/schedstat`) moves less than instructions on a loaded
//! 2-core machine: 5 alternating runs of 10,240 spans gave a median 47.9 us/span (20.9 k spans per
//! CPU-second) before and 41.3 us/span (24.2 k) now. The rest is SQLite's own work: FTS5
//! tokenizing and posting lists (about a third of the instructions, the largest single cost),
//! B-tree page writes and memory copies of ~2-3 KB rows, and the kernel side of WAL writes.
//! `synchronous = OFF`, a larger `wal_autocheckpoint` and `mmap_size` measured no change in
//! instructions (see `schema::configure_writer`). A much larger gain needs less FTS work per span
//! (e.g. `detail=column`, which breaks the multi-token phrase queries `fts.rs` builds for terms
//! like `order-123`) or fewer secondary indexes (`spans_by_tool`/`spans_by_model` serve the
//! `stats` tool and model groupings).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_model::{AgentKind, LogRecord, Record, Span, TraceId};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::StoreError;
use crate::extract::{self, SearchText, SpanFacts};

/// `meta` key of the next ledger index to index.
pub(crate) const META_CURSOR: &str = "cursor";
/// `meta` key of the wall-clock time of the last apply, unix nanoseconds.
pub(crate) const META_LAST_APPLY: &str = "last_apply_unix_nano";

/// Facet ids of the `trace_facets` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Facet {
    Agent = 1,
    Kind = 2,
    Tool = 3,
    Model = 4,
    Conversation = 5,
}

const INSERT_SPAN: &str = "INSERT OR IGNORE INTO spans (ledger_index, trace_id, span_id, \
    parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, is_error, agent, \
    tool, model, conversation, input_tokens, output_tokens, subject_key, project, trace_no) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
    ?20)";

const INSERT_LOG: &str = "INSERT OR IGNORE INTO logs (ledger_index, trace_id, span_id, time_ns, \
    observed_ns, severity_number, severity_text, event_name, body, attributes, project) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

const INSERT_FACET: &str =
    "INSERT OR IGNORE INTO trace_facets (facet, value, trace_no) VALUES (?1, ?2, ?3)";

/// Whether a span row holds this ledger index.
const SPAN_INDEXED: &str = "SELECT 1 FROM spans WHERE ledger_index = ?1";

/// The `trace_no` of a trace that already has a summary row.
const TRACE_NO: &str = "SELECT trace_no FROM traces WHERE trace_id = ?1 AND project = ?2";

pub(crate) const SET_META: &str = "INSERT INTO meta (key, value) VALUES (?1, ?2) \
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Creates the summary of a trace this batch is the first to touch (its `trace_no` lookup found
/// no row, and this connection is the only writer, so nothing can conflict).
const INSERT_TRACE: &str = "INSERT INTO traces (trace_id, start_ns, end_ns, span_count, \
    error_count, tool_call_count, llm_input_tokens, llm_output_tokens, llm_usage_spans, \
    other_input_tokens, other_output_tokens, root_name, root_has_parent, root_start, root_ledger, \
    agent, agent_start, agent_ledger, project, trace_no) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
    ?20)";

/// Merges a batch's per-trace delta into the stored summary of trace `?20` (its rowid), with
/// the parameters of [`INSERT_TRACE`] (`?1` and `?19`, the trace id and project, are not used).
/// Unqualified columns are the stored row; every `SET` expression sees the stored values from
/// before the update. The root is the span ranked lowest by (has a parent, start, ledger index);
/// the agent is the agent name of the span ranked lowest by (start, ledger index) among spans
/// that name one.
const UPDATE_TRACE: &str = "UPDATE traces SET \
    start_ns = min(start_ns, ?2), \
    end_ns = max(end_ns, ?3), \
    span_count = span_count + ?4, \
    error_count = error_count + ?5, \
    tool_call_count = tool_call_count + ?6, \
    llm_input_tokens = llm_input_tokens + ?7, \
    llm_output_tokens = llm_output_tokens + ?8, \
    llm_usage_spans = llm_usage_spans + ?9, \
    other_input_tokens = other_input_tokens + ?10, \
    other_output_tokens = other_output_tokens + ?11, \
    root_name = CASE WHEN (?13, ?14, ?15) < (root_has_parent, root_start, root_ledger) \
        THEN ?12 ELSE root_name END, \
    root_has_parent = CASE WHEN (?13, ?14, ?15) < (root_has_parent, root_start, root_ledger) \
        THEN ?13 ELSE root_has_parent END, \
    root_start = CASE WHEN (?13, ?14, ?15) < (root_has_parent, root_start, root_ledger) \
        THEN ?14 ELSE root_start END, \
    root_ledger = CASE WHEN (?13, ?14, ?15) < (root_has_parent, root_start, root_ledger) \
        THEN ?15 ELSE root_ledger END, \
    agent = CASE WHEN ?16 IS NOT NULL AND (agent IS NULL OR \
        (?17, ?18) < (agent_start, agent_ledger)) THEN ?16 ELSE agent END, \
    agent_start = CASE WHEN ?16 IS NOT NULL AND (agent IS NULL OR \
        (?17, ?18) < (agent_start, agent_ledger)) THEN ?17 ELSE agent_start END, \
    agent_ledger = CASE WHEN ?16 IS NOT NULL AND (agent IS NULL OR \
        (?17, ?18) < (agent_start, agent_ledger)) THEN ?18 ELSE agent_ledger END \
    WHERE trace_no = ?20";

/// Largest token count taken from one span. Larger (nonsensical) values are capped so that sums
/// over billions of spans stay within SQLite's 64-bit integers; the raw attribute is kept intact.
const MAX_TOKENS_PER_SPAN: u64 = 1 << 32;

/// Unix nanoseconds (and ledger indexes) as SQLite integers. Values past `i64::MAX` (year 2262)
/// saturate.
pub(crate) fn to_sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored non-negative integer back to `u64` (negative values cannot be stored; 0 if they are).
pub(crate) fn from_sql_int(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A root or agent candidate: lower rank wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ranked<K: Ord> {
    rank: K,
    value: String,
}

/// Keeps `(rank, value)` in `slot` when it ranks lower than what is there (`value` is only
/// copied then).
fn keep_lower<K: Ord>(slot: &mut Option<Ranked<K>>, rank: K, value: &str) {
    if slot.as_ref().is_none_or(|cur| rank < cur.rank) {
        *slot = Some(Ranked {
            rank,
            value: value.to_owned(),
        });
    }
}

/// What one batch adds to one trace's summary.
#[derive(Debug, Default)]
struct TraceDelta {
    /// The trace's `trace_no` (stored, or the ledger index of its first span in this batch).
    trace_no: i64,
    /// The trace had a summary row before this batch.
    stored: bool,
    start: i64,
    end: i64,
    spans: i64,
    errors: i64,
    tool_calls: i64,
    llm_input: i64,
    llm_output: i64,
    llm_usage_spans: i64,
    other_input: i64,
    other_output: i64,
    /// Rank: (has a parent, start, ledger index).
    root: Option<Ranked<(bool, i64, i64)>>,
    /// Rank: (start, ledger index).
    agent: Option<Ranked<(i64, i64)>>,
    /// Distinct facet values this batch saw for the trace.
    facets: Vec<(Facet, String)>,
}

impl TraceDelta {
    fn add(&mut self, ledger_index: i64, span: &Span, facts: &SpanFacts, kind: &str) {
        let start = to_sql_int(span.start_unix_nano);
        let end = to_sql_int(span.end_unix_nano);
        if self.spans == 0 {
            self.start = start;
            self.end = end;
        } else {
            self.start = self.start.min(start);
            self.end = self.end.max(end);
        }
        self.spans += 1;
        self.errors += i64::from(facts.is_error);
        self.tool_calls += i64::from(span.agent_kind == AgentKind::Tool);
        let tokens = |t: Option<u64>| to_sql_int(t.unwrap_or(0).min(MAX_TOKENS_PER_SPAN));
        let (input, output) = (tokens(facts.input_tokens), tokens(facts.output_tokens));
        let has_usage = facts.input_tokens.is_some() || facts.output_tokens.is_some();
        if span.agent_kind == AgentKind::Llm && has_usage {
            self.llm_input = self.llm_input.saturating_add(input);
            self.llm_output = self.llm_output.saturating_add(output);
            self.llm_usage_spans += 1;
        } else {
            self.other_input = self.other_input.saturating_add(input);
            self.other_output = self.other_output.saturating_add(output);
        }
        keep_lower(
            &mut self.root,
            (span.parent_span_id.is_some(), start, ledger_index),
            &span.name,
        );
        if let Some(agent) = &facts.agent {
            keep_lower(&mut self.agent, (start, ledger_index), agent);
        }
        self.add_facet(Facet::Kind, kind);
        for (facet, value) in [
            (Facet::Agent, &facts.agent),
            (Facet::Tool, &facts.tool),
            (Facet::Conversation, &facts.conversation),
        ] {
            if let Some(value) = value {
                self.add_facet(facet, value);
            }
        }
        for model in &facts.models {
            self.add_facet(Facet::Model, model);
        }
    }

    fn add_facet(&mut self, facet: Facet, value: &str) {
        // A trace has few distinct facet values; a linear scan beats hashing here.
        if !self.facets.iter().any(|(f, v)| *f == facet && v == value) {
            self.facets.push((facet, value.to_owned()));
        }
    }
}

/// Span events as the JSON array of `EventDetail`s (the query API's `events`).
#[cfg(test)]
pub(crate) fn events_json(span: &Span) -> String {
    json::to_string(&json::Events(&span.events))
}

/// Appends an attribute list as the query API's JSON object (what serializing
/// `cairn_model::attributes_to_json` produces).
pub(crate) fn push_attributes_json(out: &mut String, list: &[cairn_model::KeyValue]) {
    use json::WriteJson as _;
    let attributes = json::Attributes(list);
    out.reserve(attributes.len_hint());
    attributes.write_json(out);
}

/// Appends span events as the query API's JSON array of `EventDetail`s.
pub(crate) fn push_events_json(out: &mut String, events: &[cairn_model::Event]) {
    use json::WriteJson as _;
    let events = json::Events(events);
    out.reserve(events.len_hint());
    events.write_json(out);
}

/// What the index derives from one record: filter columns, JSON text and search text. Computing
/// it needs no database, so [`crate::PreparedBatch`] does it before the transaction (and, in a
/// pipeline, on another thread).
#[derive(Debug)]
pub(crate) enum Derived {
    /// A span's facts (its attributes and events stay in the ledger; see the crate docs).
    Span { facts: SpanFacts },
    /// A log record's `attributes` and `body` JSON and its search text.
    Log {
        attributes: String,
        body: String,
        text: SearchText,
    },
    /// A record kind this index does not cover.
    Other,
}

/// Derives what the index stores of `record`.
pub(crate) fn derive(record: &Record) -> Derived {
    match record {
        Record::Span(span) => Derived::Span {
            facts: extract::span_facts(span),
        },
        Record::Log(log) => Derived::Log {
            attributes: json::to_string(&json::Attributes(&log.attributes)),
            body: json::to_string(&json::Value(&log.body)),
            text: extract::log_text(&log.body, &log.attributes),
        },
        _ => Derived::Other,
    }
}

/// Moves the search text out of `derived` (entry at ledger index `index`) into `texts`, for the
/// search file (see `search_file`); records without any text add nothing.
pub(crate) fn take_search_text(
    index: u64,
    derived: &mut Derived,
    texts: &mut Vec<(u64, SearchText)>,
) {
    let text = match derived {
        Derived::Span { facts, .. } => std::mem::take(&mut facts.text),
        Derived::Log { text, .. } => std::mem::take(text),
        Derived::Other => return,
    };
    if !text.is_empty() {
        texts.push((index, text));
    }
}

/// Applies the main file's part of a batch of ledger entries (everything but the full-text
/// index, which `search_file` writes) in `tx` and advances its cursor; `derived[i]` is
/// [`derive`] of `batch[i]`. Returns the ledger indexes of the spans it dropped as duplicates:
/// the insert found a span with the same trace and span id at another ledger index (a span
/// ignored because its own ledger index is already indexed, when a batch is applied again, is
/// not dropped).
pub(crate) fn apply_derived(
    tx: &Transaction<'_>,
    batch: &[(u64, Record)],
    derived: &[Derived],
    next_cursor: u64,
) -> Result<Vec<i64>, StoreError> {
    debug_assert_eq!(batch.len(), derived.len());
    let mut dropped = Vec::new();
    let mut deltas: HashMap<(TraceId, &str), TraceDelta> = HashMap::new();
    // The `trace_no` of every trace this batch touches: looked up once per trace, or, for a
    // trace without a summary yet, the ledger index of its first span here (entries are
    // applied in ledger order, so that is the trace's first indexed span).
    let mut trace_nos: HashMap<(TraceId, &str), (i64, bool)> = HashMap::new();
    {
        let mut trace_no_of = tx.prepare_cached(TRACE_NO)?;
        let mut insert_span = tx.prepare_cached(INSERT_SPAN)?;
        let mut insert_log_stmt = tx.prepare_cached(INSERT_LOG)?;
        let mut indexed = tx.prepare_cached(SPAN_INDEXED)?;
        for ((index, record), derived) in batch.iter().zip(derived) {
            let ledger_index = to_sql_int(*index);
            match (record, derived) {
                (Record::Span(span), Derived::Span { facts }) => {
                    let kind = span.agent_kind.as_str();
                    let project = extract::project(&span.resource);
                    let key = (span.trace_id, project);
                    let (trace_no, stored) = match trace_nos.get(&key) {
                        Some(found) => *found,
                        None => {
                            let found = trace_no_of
                                .query_row(params![&span.trace_id.0[..], project], |row| {
                                    row.get::<_, i64>(0)
                                })
                                .optional()?
                                .map_or((ledger_index, false), |no| (no, true));
                            trace_nos.insert(key, found);
                            found
                        }
                    };
                    let inserted = insert_span.execute(params![
                        ledger_index,
                        &span.trace_id.0[..],
                        &span.span_id.0[..],
                        span.parent_span_id.as_ref().map(|p| &p.0[..]),
                        span.name,
                        kind,
                        to_sql_int(span.start_unix_nano),
                        to_sql_int(span.end_unix_nano),
                        span.status.code.as_i32(),
                        span.status.message,
                        facts.is_error,
                        facts.agent,
                        facts.tool,
                        facts.model,
                        facts.conversation,
                        facts.input_tokens.map(to_sql_int),
                        facts.output_tokens.map(to_sql_int),
                        facts.subject_key,
                        project,
                        trace_no,
                    ])?;
                    if inserted == 0 {
                        if !indexed.exists([ledger_index])? {
                            dropped.push(ledger_index);
                        }
                        continue;
                    }
                    deltas
                        .entry(key)
                        .or_insert_with(|| TraceDelta {
                            trace_no,
                            stored,
                            ..TraceDelta::default()
                        })
                        .add(ledger_index, span, facts, kind);
                }
                (
                    Record::Log(log),
                    Derived::Log {
                        attributes, body, ..
                    },
                ) => {
                    insert_log(&mut insert_log_stmt, ledger_index, log, body, attributes)?;
                }
                // Record kinds this index does not cover yet are skipped; the cursor still moves.
                _ => {}
            }
        }
    }
    {
        let mut insert = tx.prepare_cached(INSERT_TRACE)?;
        let mut update = tx.prepare_cached(UPDATE_TRACE)?;
        let mut insert_facet = tx.prepare_cached(INSERT_FACET)?;
        // In `trace_no` order: summaries and facets are keyed by it, so the writes walk each
        // B-tree once from left to right instead of jumping between its pages.
        let mut deltas: Vec<_> = deltas.into_iter().collect();
        deltas.sort_unstable_by_key(|(_, delta)| delta.trace_no);
        for ((trace_id, project), delta) in &deltas {
            let root = delta.root.as_ref();
            let agent = delta.agent.as_ref();
            let statement = if delta.stored {
                &mut update
            } else {
                &mut insert
            };
            let written = statement.execute(params![
                &trace_id.0[..],
                delta.start,
                delta.end,
                delta.spans,
                delta.errors,
                delta.tool_calls,
                delta.llm_input,
                delta.llm_output,
                delta.llm_usage_spans,
                delta.other_input,
                delta.other_output,
                root.map_or("", |r| r.value.as_str()),
                root.is_none_or(|r| r.rank.0),
                root.map_or(i64::MAX, |r| r.rank.1),
                root.map_or(i64::MAX, |r| r.rank.2),
                agent.map(|a| a.value.as_str()),
                agent.map(|a| a.rank.0),
                agent.map(|a| a.rank.1),
                project,
                delta.trace_no,
            ])?;
            // The summary was looked up in this transaction; an update that finds no row
            // would drop the batch's counts without a word.
            if written != 1 {
                return Err(StoreError::Corrupt(format!(
                    "trace summary {} not written ({written} rows)",
                    delta.trace_no
                )));
            }
            for (facet, value) in &delta.facets {
                insert_facet.execute(params![*facet as u8, value, delta.trace_no])?;
            }
        }
    }
    let mut set_meta = tx.prepare_cached(SET_META)?;
    set_meta.execute(params![META_CURSOR, to_sql_int(next_cursor)])?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    set_meta.execute(params![META_LAST_APPLY, to_sql_int(now)])?;
    Ok(dropped)
}

fn insert_log(
    stmt: &mut rusqlite::CachedStatement<'_>,
    ledger_index: i64,
    log: &LogRecord,
    body: &str,
    attributes: &str,
) -> Result<usize, StoreError> {
    Ok(stmt.execute(params![
        ledger_index,
        log.trace_id.as_ref().map(|t| &t.0[..]),
        log.span_id.as_ref().map(|s| &s.0[..]),
        to_sql_int(log.time_unix_nano),
        to_sql_int(log.observed_time_unix_nano),
        log.severity_number,
        log.severity_text,
        log.event_name,
        body,
        attributes,
        extract::project(&log.resource),
    ])?)
}

/// JSON text of attribute lists and events, written straight from the model's types.
///
/// The output is byte for byte what serializing `cairn_model::attributes_to_json` (a
/// `serde_json::Map`) produces, without building the intermediate `Value` tree: object keys in
/// the `Map`'s iteration order (sorted when `serde_json` is built without `preserve_order`, else
/// the position of the key's first occurrence), the last duplicate's value, doubles as JSON
/// numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`, bytes as base64 (through `AnyValue::to_json`).
///
/// Written by hand rather than through `serde_json`'s serializer, for its strings: `serde_json`
/// looks every byte of a string up in an escape table, and that loop (with the copies of the
/// runs between escapes) was about 14% of the index reader thread's samples in a rebuild, where
/// almost all of this text is string content. [`push_str`] checks 16 bytes at a time, which the
/// compiler turns into vector compares, and escapes exactly the bytes `serde_json` escapes, the
/// same way; the text goes into one allocation sized up front. Measured with callgrind on the
/// index bench's spans: 11.6% fewer instructions than `serde_json` for these columns (message
/// attributes hold JSON text, whose quotes make escapes dense, so the block check helps less
/// there than on prose; see `docs/performance.md`). Numbers other than integers are still
/// written by `serde_json`, so float formatting stays its own. The tests compare the output
/// with the `serde_json::Value` path byte for byte.
mod json {
    use std::fmt::Write as _;
    use std::sync::OnceLock;

    use cairn_model::{AnyValue, Event, KeyValue};

    /// Whether `serde_json::Map` iterates in key order (no `preserve_order` feature in the
    /// build) rather than insertion order. Checked once at run time, because cargo unifies
    /// `serde_json`'s features across the whole build.
    fn map_is_sorted() -> bool {
        static SORTED: OnceLock<bool> = OnceLock::new();
        *SORTED.get_or_init(|| {
            let mut map = serde_json::Map::new();
            map.insert("b".to_owned(), serde_json::Value::Null);
            map.insert("a".to_owned(), serde_json::Value::Null);
            map.keys().next().is_some_and(|k| k == "a")
        })
    }

    /// Something this module writes as JSON.
    pub(super) trait WriteJson {
        fn write_json(&self, out: &mut String);

        /// About the length of the JSON text (a few bytes over it for strings without
        /// escapes), so that the text is written into one allocation: growing the buffer as it
        /// filled was about a third of writing it.
        fn len_hint(&self) -> usize;
    }

    fn list_hint(list: &[KeyValue]) -> usize {
        // `"key":` and a comma per member, the braces.
        2 + list
            .iter()
            .map(|kv| kv.key.len() + 4 + value_hint(&kv.value))
            .sum::<usize>()
    }

    fn value_hint(value: &AnyValue) -> usize {
        match value {
            AnyValue::String(s) => s.len() + 2,
            AnyValue::Array(items) => 2 + items.iter().map(|v| value_hint(v) + 1).sum::<usize>(),
            AnyValue::KvList(kvs) => list_hint(kvs),
            AnyValue::Bytes(b) => b.len().div_ceil(3) * 4 + 2,
            _ => 24,
        }
    }

    /// An attribute list as a JSON object.
    pub(super) struct Attributes<'a>(pub(super) &'a [KeyValue]);

    impl WriteJson for Attributes<'_> {
        fn write_json(&self, out: &mut String) {
            let list = self.0;
            if map_is_sorted() && list.windows(2).all(|w| w[0].key < w[1].key) {
                // Keys already unique and in order (the common case for small lists, and for
                // lists a sorted map produced): the map's order is the list's.
                write_object(out, list.iter());
                return;
            }
            // Each key once, with its last value.
            let mut entries: Vec<&KeyValue> = Vec::with_capacity(list.len());
            if map_is_sorted() {
                entries.extend(list);
                // Stable: duplicates keep their order, so the last one of a run wins below.
                entries.sort_by(|a, b| a.key.cmp(&b.key));
                entries.dedup_by(|next, kept| {
                    let same = next.key == kept.key;
                    if same {
                        *kept = *next;
                    }
                    same
                });
            } else {
                for kv in list {
                    match entries.iter_mut().find(|e| e.key == kv.key) {
                        Some(slot) => *slot = kv,
                        None => entries.push(kv),
                    }
                }
            }
            write_object(out, entries.into_iter());
        }

        fn len_hint(&self) -> usize {
            list_hint(self.0)
        }
    }

    fn write_object<'a>(out: &mut String, entries: impl Iterator<Item = &'a KeyValue>) {
        out.push('{');
        for (i, kv) in entries.enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, &kv.key);
            out.push(':');
            Value(&kv.value).write_json(out);
        }
        out.push('}');
    }

    /// One value as JSON (`AnyValue::to_json`).
    pub(super) struct Value<'a>(pub(super) &'a AnyValue);

    impl WriteJson for Value<'_> {
        fn write_json(&self, out: &mut String) {
            match self.0 {
                AnyValue::Empty => out.push_str("null"),
                AnyValue::String(v) => push_str(out, v),
                AnyValue::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
                // Integers print the same digits through `Display` as through `serde_json`.
                AnyValue::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                AnyValue::Double(v) if v.is_nan() => push_str(out, "NaN"),
                AnyValue::Double(v) if v.is_infinite() => {
                    push_str(out, if *v > 0.0 { "Infinity" } else { "-Infinity" });
                }
                AnyValue::Double(v) => out.push_str(&serde_json::to_string(v).unwrap_or_default()),
                AnyValue::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        Value(item).write_json(out);
                    }
                    out.push(']');
                }
                AnyValue::KvList(kvs) => Attributes(kvs).write_json(out),
                AnyValue::Bytes(_) => {
                    out.push_str(&self.0.to_json().to_string());
                }
            }
        }

        fn len_hint(&self) -> usize {
            value_hint(self.0)
        }
    }

    /// Span events as the JSON array of `EventDetail`s the query API returns (span events carry
    /// none of the optional log fields): `name`, `time_unix_nano`, `attributes`, in that order.
    pub(super) struct Events<'a>(pub(super) &'a [Event]);

    impl WriteJson for Events<'_> {
        fn write_json(&self, out: &mut String) {
            out.push('[');
            for (i, event) in self.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                push_str(out, &event.name);
                let _ = write!(
                    out,
                    ",\"time_unix_nano\":{},\"attributes\":",
                    event.time_unix_nano
                );
                Attributes(&event.attributes).write_json(out);
                out.push('}');
            }
            out.push(']');
        }

        fn len_hint(&self) -> usize {
            // `{"name":…,"time_unix_nano":…,"attributes":…}` and a comma per event.
            2 + self
                .0
                .iter()
                .map(|e| e.name.len() + 64 + list_hint(&e.attributes))
                .sum::<usize>()
        }
    }

    /// The JSON text of `value`.
    pub(super) fn to_string(value: &impl WriteJson) -> String {
        let hint = value.len_hint();
        // A little room for escapes and longer numbers.
        let mut out = String::with_capacity(hint + hint / 32 + 16);
        value.write_json(&mut out);
        out
    }

    /// Whether `serde_json` escapes this byte in a string: `"`, `\` and the control
    /// characters below 0x20 (not DEL, nor anything outside ASCII).
    fn needs_escape(b: u8) -> bool {
        b < 0x20 || b == b'"' || b == b'\\'
    }

    /// Appends `s` as a JSON string literal, escaped exactly as `serde_json` escapes it: `\"`,
    /// `\\`, `\b`, `\t`, `\n`, `\f`, `\r` by name and the other control characters as `\u00xx`
    /// (lowercase hex). Runs without escapes are copied whole; a 16-byte block is checked at
    /// once (a fold without early exit, which compiles to vector compares).
    fn push_str(out: &mut String, s: &str) {
        const BLOCK: usize = 16;
        let bytes = s.as_bytes();
        out.push('"');
        // `run` is where the bytes not yet copied start; every index it takes is just past an
        // escaped ASCII byte, so slicing `s` there stays on a character boundary.
        let (mut run, mut at) = (0, 0);
        while at < bytes.len() {
            let end = (at + BLOCK).min(bytes.len());
            let block = &bytes[at..end];
            let clean = <&[u8; BLOCK]>::try_from(block)
                .is_ok_and(|b| !b.iter().fold(false, |any, &c| any | needs_escape(c)));
            if !clean {
                for (i, &b) in block.iter().enumerate() {
                    if needs_escape(b) {
                        out.push_str(&s[run..at + i]);
                        push_escape(out, b);
                        run = at + i + 1;
                    }
                }
            }
            at = end;
        }
        out.push_str(&s[run..]);
        out.push('"');
    }

    fn push_escape(out: &mut String, b: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_model::{AnyValue, Event, KeyValue, attributes_to_json};

    use super::json;

    fn attrs(list: &[KeyValue]) -> String {
        json::to_string(&json::Attributes(list))
    }

    /// The direct writer produces exactly the text of the `serde_json::Value` path (the erase
    /// path compares stored JSON with freshly written JSON byte for byte).
    #[test]
    fn json_text_matches_the_value_path() {
        let nested = AnyValue::KvList(vec![
            KeyValue::new(
                "z",
                AnyValue::Array(vec![AnyValue::Empty, AnyValue::Bool(true)]),
            ),
            KeyValue::new("a", AnyValue::Double(-0.0)),
            KeyValue::new("z", "last z wins"),
        ]);
        let cases: Vec<Vec<KeyValue>> = vec![
            vec![],
            vec![KeyValue::new("k", "v")],
            vec![
                KeyValue::new("b", AnyValue::Int(i64::MIN)),
                KeyValue::new("a", AnyValue::Double(0.1)),
                KeyValue::new(
                    "é",
                    "quote \" backslash \\ newline \n tab \t nul \u{0} emoji 🦀",
                ),
                KeyValue::new("b", AnyValue::Int(2)),
                KeyValue::new("c", AnyValue::Double(f64::NAN)),
                KeyValue::new("d", AnyValue::Double(f64::INFINITY)),
                KeyValue::new("e", AnyValue::Double(f64::NEG_INFINITY)),
                KeyValue::new("f", AnyValue::Double(1e300)),
                KeyValue::new("g", AnyValue::Bytes(vec![0, 1, 2, 255])),
                KeyValue::new("h", AnyValue::Empty),
                KeyValue::new("i", nested.clone()),
                KeyValue::new("j", AnyValue::Array(vec![nested, AnyValue::Int(-1)])),
                KeyValue::new("", AnyValue::Bool(false)),
                KeyValue::new("B", "upper sorts first"),
            ],
        ];
        for list in cases {
            let expected = serde_json::Value::Object(attributes_to_json(&list)).to_string();
            assert_eq!(attrs(&list), expected);
        }
    }

    /// Strings escape exactly as `serde_json` escapes them: every ASCII control byte, quotes and
    /// backslashes at every offset around the 16-byte blocks the writer checks at once,
    /// multi-byte characters across block edges, DEL and U+2028 (which neither escapes).
    #[test]
    fn strings_escape_like_serde_json() {
        let mut cases: Vec<String> = (0u8..0x20).map(|b| char::from(b).to_string()).collect();
        cases.extend(["", "plain", "\u{7f}", "\u{2028}", "é🦀", "\"\\"].map(str::to_owned));
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}", "é", "🦀"] {
            for offset in 0..40 {
                let mut text = "x".repeat(offset);
                text.push_str(special);
                text.push_str(&"y".repeat(40 - offset));
                cases.push(text);
            }
        }
        cases.push("a\"b\\c\u{0}d".repeat(50));
        for text in cases {
            let written = json::to_string(&json::Value(&AnyValue::from(text.as_str())));
            assert_eq!(
                written,
                serde_json::to_string(&text).expect("serialize"),
                "{text:?}"
            );
        }
    }

    /// The length hint covers text without escapes (one allocation), and is not far over it.
    #[test]
    fn the_length_hint_covers_plain_text() {
        use json::WriteJson;
        let list = vec![
            KeyValue::new("gen_ai.input.messages", "x".repeat(700)),
            KeyValue::new("k", AnyValue::Array(vec!["a".into(), "bc".into()])),
            KeyValue::new("nested", AnyValue::KvList(vec![KeyValue::new("z", "y")])),
        ];
        let attributes = json::Attributes(&list);
        let written = json::to_string(&attributes);
        assert!(attributes.len_hint() >= written.len(), "{written}");
        assert!(attributes.len_hint() <= written.len() + 4, "{written}");
        assert_eq!(json::Attributes(&[]).len_hint(), "{}".len());
    }

    /// Generated lists (sorted, unsorted, duplicate keys, nested lists) against the
    /// `serde_json::Value` path: covers the already-sorted shortcut and the sorting path alike.
    #[test]
    fn generated_attribute_lists_match_the_value_path() {
        // A small deterministic generator (xorshift): the same 2,000 lists on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let keys = ["", "a", "a.b", "b", "B", "gen_ai.x", "z", "é"];
        let mut shortcut = 0;
        for _ in 0..2000 {
            let len = next(6);
            let mut list: Vec<KeyValue> = (0..len)
                .map(|i| {
                    let key = keys[usize::try_from(next(keys.len() as u64)).expect("small")];
                    let value = match next(5) {
                        0 => AnyValue::Int(i64::try_from(i).expect("small")),
                        1 => AnyValue::from("v\"\n"),
                        2 => AnyValue::Double(0.5),
                        3 => AnyValue::KvList(vec![
                            KeyValue::new(keys[1], AnyValue::Bool(true)),
                            KeyValue::new(keys[0], "x"),
                        ]),
                        _ => AnyValue::Empty,
                    };
                    KeyValue::new(key, value)
                })
                .collect();
            if next(2) == 0 {
                list.sort_by(|a, b| a.key.cmp(&b.key));
                list.dedup_by(|a, b| a.key == b.key);
            }
            if list.len() > 1 && list.windows(2).all(|w| w[0].key < w[1].key) {
                shortcut += 1;
            }
            let expected = serde_json::Value::Object(attributes_to_json(&list)).to_string();
            assert_eq!(attrs(&list), expected, "{list:?}");
        }
        assert!(
            shortcut > 100,
            "the sorted shortcut was exercised {shortcut} times"
        );
    }

    #[test]
    fn events_json_matches_event_details() {
        let span = cairn_model::Span {
            events: vec![
                Event {
                    name: "gen_ai.user.message".into(),
                    time_unix_nano: u64::MAX,
                    attributes: vec![KeyValue::new("content", "hi"), KeyValue::new("a", 1i64)],
                    dropped_attributes_count: 3,
                },
                Event::default(),
            ],
            ..cairn_model::Span::default()
        };
        let expected: Vec<crate::query::EventDetail> = span
            .events
            .iter()
            .map(crate::query::EventDetail::from)
            .collect();
        let expected = serde_json::to_string(&expected).expect("serialize");
        assert_eq!(super::events_json(&span), expected);
        assert_eq!(
            super::events_json(&cairn_model::Span::default()),
            serde_json::to_string(&Vec::<crate::query::EventDetail>::new()).expect("empty")
        );
    }

    #[test]
    fn log_body_json_matches_the_value_path() {
        for body in [
            AnyValue::Empty,
            AnyValue::from("text"),
            AnyValue::Double(2.5),
            AnyValue::KvList(vec![KeyValue::new("b", 1i64), KeyValue::new("a", "x")]),
        ] {
            assert_eq!(
                json::to_string(&json::Value(&body)),
                body.to_json().to_string()
            );
        }
    }
}
