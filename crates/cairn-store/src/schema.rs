//! The SQL schema, its versions and connection settings. The crate docs describe the tables.

use rusqlite::Connection;

use crate::StoreError;

/// Schema version 1.
const V1: &str = r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE spans (
    ledger_index   INTEGER PRIMARY KEY,
    trace_id       BLOB NOT NULL,
    span_id        BLOB NOT NULL,
    parent_span_id BLOB,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    is_error       INTEGER NOT NULL,
    agent          TEXT,
    tool           TEXT,
    model          TEXT,
    conversation   TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    attributes     TEXT NOT NULL,
    events         TEXT NOT NULL
);
CREATE UNIQUE INDEX spans_by_id ON spans (trace_id, span_id);
CREATE INDEX spans_by_tool ON spans (tool, start_ns) WHERE tool IS NOT NULL;
CREATE INDEX spans_by_model ON spans (model, start_ns) WHERE model IS NOT NULL;

CREATE TABLE logs (
    ledger_index    INTEGER PRIMARY KEY,
    trace_id        BLOB,
    span_id         BLOB,
    time_ns         INTEGER NOT NULL,
    observed_ns     INTEGER NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text   TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attributes      TEXT NOT NULL
);
CREATE INDEX logs_by_trace ON logs (trace_id, time_ns) WHERE trace_id IS NOT NULL;

CREATE TABLE traces (
    trace_id           BLOB PRIMARY KEY NOT NULL,
    start_ns           INTEGER NOT NULL,
    end_ns             INTEGER NOT NULL,
    span_count         INTEGER NOT NULL,
    error_count        INTEGER NOT NULL,
    tool_call_count    INTEGER NOT NULL,
    llm_input_tokens   INTEGER NOT NULL,
    llm_output_tokens  INTEGER NOT NULL,
    llm_usage_spans    INTEGER NOT NULL,
    other_input_tokens INTEGER NOT NULL,
    other_output_tokens INTEGER NOT NULL,
    root_name          TEXT NOT NULL,
    root_has_parent    INTEGER NOT NULL,
    root_start         INTEGER NOT NULL,
    root_ledger        INTEGER NOT NULL,
    agent              TEXT,
    agent_start        INTEGER,
    agent_ledger       INTEGER,
    duration_ns   INTEGER GENERATED ALWAYS AS (end_ns - start_ns) VIRTUAL,
    input_tokens  INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_input_tokens ELSE other_input_tokens END) VIRTUAL,
    output_tokens INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_output_tokens ELSE other_output_tokens END) VIRTUAL
) WITHOUT ROWID;
CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_agent ON traces (agent, start_ns) WHERE agent IS NOT NULL;

CREATE TABLE trace_facets (
    facet    INTEGER NOT NULL,
    value    TEXT NOT NULL,
    trace_id BLOB NOT NULL,
    PRIMARY KEY (facet, value, trace_id)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE search USING fts5 (
    reasoning, tool_io, messages, errors,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
";

/// Schema version 2: every row carries its `project` (the `cairn.project` resource attribute,
/// `default` when absent). Traces are keyed by (trace id, project), so two projects that use the
/// same trace id never see each other's spans; the FTS table allows deletes (retention). The old
/// tables cannot be filled in place (version 1 never stored the resource), so this drops them and
/// the cursor: the collector rebuilds the index from the ledger on its next start.
const V2: &str = r"
DROP TABLE IF EXISTS spans;
DROP TABLE IF EXISTS logs;
DROP TABLE IF EXISTS traces;
DROP TABLE IF EXISTS trace_facets;
DROP TABLE IF EXISTS search;
DELETE FROM meta;

CREATE TABLE spans (
    ledger_index   INTEGER PRIMARY KEY,
    project        TEXT NOT NULL,
    trace_id       BLOB NOT NULL,
    span_id        BLOB NOT NULL,
    parent_span_id BLOB,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    is_error       INTEGER NOT NULL,
    agent          TEXT,
    tool           TEXT,
    model          TEXT,
    conversation   TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    attributes     TEXT NOT NULL,
    events         TEXT NOT NULL
);
CREATE UNIQUE INDEX spans_by_id ON spans (trace_id, span_id, project);
CREATE INDEX spans_by_tool ON spans (tool, start_ns) WHERE tool IS NOT NULL;
CREATE INDEX spans_by_model ON spans (model, start_ns) WHERE model IS NOT NULL;

CREATE TABLE logs (
    ledger_index    INTEGER PRIMARY KEY,
    project         TEXT NOT NULL,
    trace_id        BLOB,
    span_id         BLOB,
    time_ns         INTEGER NOT NULL,
    observed_ns     INTEGER NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text   TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attributes      TEXT NOT NULL
);
CREATE INDEX logs_by_trace ON logs (trace_id, time_ns) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_by_event ON logs (event_name, time_ns);
CREATE INDEX logs_by_time ON logs (time_ns);

CREATE TABLE traces (
    trace_id           BLOB NOT NULL,
    project            TEXT NOT NULL,
    start_ns           INTEGER NOT NULL,
    end_ns             INTEGER NOT NULL,
    span_count         INTEGER NOT NULL,
    error_count        INTEGER NOT NULL,
    tool_call_count    INTEGER NOT NULL,
    llm_input_tokens   INTEGER NOT NULL,
    llm_output_tokens  INTEGER NOT NULL,
    llm_usage_spans    INTEGER NOT NULL,
    other_input_tokens INTEGER NOT NULL,
    other_output_tokens INTEGER NOT NULL,
    root_name          TEXT NOT NULL,
    root_has_parent    INTEGER NOT NULL,
    root_start         INTEGER NOT NULL,
    root_ledger        INTEGER NOT NULL,
    agent              TEXT,
    agent_start        INTEGER,
    agent_ledger       INTEGER,
    duration_ns   INTEGER GENERATED ALWAYS AS (end_ns - start_ns) VIRTUAL,
    input_tokens  INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_input_tokens ELSE other_input_tokens END) VIRTUAL,
    output_tokens INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_output_tokens ELSE other_output_tokens END) VIRTUAL,
    PRIMARY KEY (trace_id, project)
) WITHOUT ROWID;
CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_project ON traces (project, start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_end ON traces (end_ns);
CREATE INDEX traces_by_agent ON traces (agent, start_ns) WHERE agent IS NOT NULL;

CREATE TABLE trace_facets (
    facet    INTEGER NOT NULL,
    value    TEXT NOT NULL,
    trace_id BLOB NOT NULL,
    project  TEXT NOT NULL,
    PRIMARY KEY (facet, value, trace_id, project)
) WITHOUT ROWID;
CREATE INDEX trace_facets_by_trace ON trace_facets (trace_id, project);

CREATE VIRTUAL TABLE search USING fts5 (
    reasoning, tool_io, messages, errors,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
";

/// Schema version 3: the FTS table merges its segments 8 at a time instead of FTS5's default 4
/// (`automerge`, a persistent setting of the table). Every `apply` commit flushes the terms of
/// its rows as a new level-0 segment, and FTS5 merges a level once it holds `automerge`
/// segments; merging 8 at a time rewrites each posting list about half as often, which cut the
/// write path's instructions by about 4 % (`benches/index.rs`), while a search reads at most
/// twice as many segments per level. In place: no data changes, no reindex.
const V3: &str = r"
INSERT INTO search (search, rank) VALUES ('automerge', 8);
";

/// Schema version 4: traces get a `trace_no`, the ledger index of the first span indexed for
/// the trace (fixed when the summary row is created, unique, and the same on every rebuild,
/// because the index is applied in ledger order). Spans and facets are keyed by it instead of
/// by the 16 random bytes of the trace id.
///
/// Why: trace ids are random, so every index keyed by them takes its inserts at random pages.
/// On a store of a million realistic spans, the unique `(trace_id, span_id, project)` index of
/// `spans` and the `trace_facets` keys dirtied a random page per trace per commit, and writing
/// those pages to the WAL and checkpointing them back cost more than the inserts themselves
/// (`benches/index.rs` with random trace ids). A `trace_no` is close to the ledger's tail for
/// every trace that is still receiving spans, so those inserts land on the same few pages at
/// the right edge of each B-tree. The trace id stays in `traces` (primary key, the one random
/// lookup per trace per batch) and in `spans` (the answers need it).
///
/// The derived tables cannot be refilled in place (no `trace_no` was stored), so this drops
/// them and the cursor, like version 2: the collector rebuilds the index from the ledger.
const V4: &str = r"
DROP TABLE IF EXISTS spans;
DROP TABLE IF EXISTS logs;
DROP TABLE IF EXISTS traces;
DROP TABLE IF EXISTS trace_facets;
DROP TABLE IF EXISTS search;
DELETE FROM meta;

CREATE TABLE spans (
    ledger_index   INTEGER PRIMARY KEY,
    project        TEXT NOT NULL,
    trace_no       INTEGER NOT NULL,
    trace_id       BLOB NOT NULL,
    span_id        BLOB NOT NULL,
    parent_span_id BLOB,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    is_error       INTEGER NOT NULL,
    agent          TEXT,
    tool           TEXT,
    model          TEXT,
    conversation   TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    attributes     TEXT NOT NULL,
    events         TEXT NOT NULL
);
CREATE UNIQUE INDEX spans_by_trace ON spans (trace_no, span_id);
CREATE INDEX spans_by_tool ON spans (tool, start_ns) WHERE tool IS NOT NULL;
CREATE INDEX spans_by_model ON spans (model, start_ns) WHERE model IS NOT NULL;

CREATE TABLE logs (
    ledger_index    INTEGER PRIMARY KEY,
    project         TEXT NOT NULL,
    trace_id        BLOB,
    span_id         BLOB,
    time_ns         INTEGER NOT NULL,
    observed_ns     INTEGER NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text   TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attributes      TEXT NOT NULL
);
CREATE INDEX logs_by_trace ON logs (trace_id, time_ns) WHERE trace_id IS NOT NULL;
CREATE INDEX logs_by_event ON logs (event_name, time_ns);
CREATE INDEX logs_by_time ON logs (time_ns);

CREATE TABLE traces (
    trace_id           BLOB NOT NULL,
    project            TEXT NOT NULL,
    trace_no           INTEGER NOT NULL,
    start_ns           INTEGER NOT NULL,
    end_ns             INTEGER NOT NULL,
    span_count         INTEGER NOT NULL,
    error_count        INTEGER NOT NULL,
    tool_call_count    INTEGER NOT NULL,
    llm_input_tokens   INTEGER NOT NULL,
    llm_output_tokens  INTEGER NOT NULL,
    llm_usage_spans    INTEGER NOT NULL,
    other_input_tokens INTEGER NOT NULL,
    other_output_tokens INTEGER NOT NULL,
    root_name          TEXT NOT NULL,
    root_has_parent    INTEGER NOT NULL,
    root_start         INTEGER NOT NULL,
    root_ledger        INTEGER NOT NULL,
    agent              TEXT,
    agent_start        INTEGER,
    agent_ledger       INTEGER,
    duration_ns   INTEGER GENERATED ALWAYS AS (end_ns - start_ns) VIRTUAL,
    input_tokens  INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_input_tokens ELSE other_input_tokens END) VIRTUAL,
    output_tokens INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_output_tokens ELSE other_output_tokens END) VIRTUAL,
    PRIMARY KEY (trace_id, project)
) WITHOUT ROWID;
CREATE UNIQUE INDEX traces_by_no ON traces (trace_no);
CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_project ON traces (project, start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_end ON traces (end_ns);
CREATE INDEX traces_by_agent ON traces (agent, start_ns) WHERE agent IS NOT NULL;

CREATE TABLE trace_facets (
    facet    INTEGER NOT NULL,
    value    TEXT NOT NULL,
    trace_no INTEGER NOT NULL,
    PRIMARY KEY (facet, value, trace_no)
) WITHOUT ROWID;
CREATE INDEX trace_facets_by_trace ON trace_facets (trace_no);

CREATE VIRTUAL TABLE search USING fts5 (
    reasoning, tool_io, messages, errors,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search (search, rank) VALUES ('automerge', 8);
";

/// Schema version 5: `traces` is a rowid table keyed by `trace_no` (`INTEGER PRIMARY KEY`),
/// with a unique index on (`trace_id`, `project`), instead of a `WITHOUT ROWID` table keyed by
/// (`trace_id`, `project`).
///
/// Why: a trace's summary row is rewritten by every batch that holds one of its spans. Keyed by
/// the random trace id, each rewrite dirtied a random page of the whole table (≈100 summaries
/// per 16 KiB page), so when many traces are in progress at once (many agent runs behind one
/// exporter: `cairn bench ingest --interleave`) almost every span rewrote a page of its own.
/// Keyed by `trace_no`, the summaries of live traces sit together at the table's tail; the
/// random key is only in the narrow (`trace_id`, `project`) index, which changes when a trace
/// is created, not when it is updated. In place: the rows are copied, no reindex.
const V5: &str = r"
CREATE TABLE traces_v5 (
    trace_no           INTEGER PRIMARY KEY,
    trace_id           BLOB NOT NULL,
    project            TEXT NOT NULL,
    start_ns           INTEGER NOT NULL,
    end_ns             INTEGER NOT NULL,
    span_count         INTEGER NOT NULL,
    error_count        INTEGER NOT NULL,
    tool_call_count    INTEGER NOT NULL,
    llm_input_tokens   INTEGER NOT NULL,
    llm_output_tokens  INTEGER NOT NULL,
    llm_usage_spans    INTEGER NOT NULL,
    other_input_tokens INTEGER NOT NULL,
    other_output_tokens INTEGER NOT NULL,
    root_name          TEXT NOT NULL,
    root_has_parent    INTEGER NOT NULL,
    root_start         INTEGER NOT NULL,
    root_ledger        INTEGER NOT NULL,
    agent              TEXT,
    agent_start        INTEGER,
    agent_ledger       INTEGER,
    duration_ns   INTEGER GENERATED ALWAYS AS (end_ns - start_ns) VIRTUAL,
    input_tokens  INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_input_tokens ELSE other_input_tokens END) VIRTUAL,
    output_tokens INTEGER GENERATED ALWAYS AS
        (CASE WHEN llm_usage_spans > 0 THEN llm_output_tokens ELSE other_output_tokens END) VIRTUAL
);
INSERT INTO traces_v5 (trace_no, trace_id, project, start_ns, end_ns, span_count, error_count,
    tool_call_count, llm_input_tokens, llm_output_tokens, llm_usage_spans, other_input_tokens,
    other_output_tokens, root_name, root_has_parent, root_start, root_ledger, agent, agent_start,
    agent_ledger)
SELECT trace_no, trace_id, project, start_ns, end_ns, span_count, error_count,
    tool_call_count, llm_input_tokens, llm_output_tokens, llm_usage_spans, other_input_tokens,
    other_output_tokens, root_name, root_has_parent, root_start, root_ledger, agent, agent_start,
    agent_ledger
FROM traces ORDER BY trace_no;
DROP TABLE traces;
ALTER TABLE traces_v5 RENAME TO traces;
CREATE UNIQUE INDEX traces_by_id ON traces (trace_id, project);
CREATE INDEX traces_by_start ON traces (start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_project ON traces (project, start_ns DESC, trace_id DESC);
CREATE INDEX traces_by_end ON traces (end_ns);
CREATE INDEX traces_by_agent ON traces (agent, start_ns) WHERE agent IS NOT NULL;
";

/// Schema version 6: the full-text index moves to a file of its own (see the `search_file`
/// module), written by a second connection beside this one. The new file starts empty with its
/// own cursor at 0, so the collector reads the ledger again from the start once: this file's
/// rows are kept and ignored as already indexed while the search file is filled.
const V6: &str = r"
DROP TABLE IF EXISTS search;
";

/// Schema version 7: spans keep no content. Their `attributes` and `events` (84% of the
/// `spans` table's bytes on a store of realistic spans) are read from the ledger when a trace is
/// fetched (see [`crate::ContentSource`]); the index keeps the filter columns, the summaries and
/// the full-text index. `subject_key` (the data-key id of an encrypted span, `cairn.subject_key`)
/// replaces the JSON scan that erasure used to find a subject's rows.
///
/// The rows are copied into a new table in place, with `subject_key` taken from the old
/// attributes, so no reindex is needed. A copy rather than `ALTER TABLE … DROP COLUMN`, which
/// rewrites each row where it is and leaves every page as full as before minus the content:
/// the copy packs the rows, and the old table's pages go to the free list, where later inserts
/// reuse them (the file itself keeps its size; `VACUUM` with the server stopped returns them
/// to the file system). Measured on an index of 1.51M realistic spans (1.81 GB, while other
/// work ran): the server was ready 15 s after starting on it (26 s with `DROP COLUMN`), and 83%
/// of the file's pages were then free. The file grows by the packed table (≈10%) on the way.
const V7: &str = r#"
CREATE TABLE spans_v7 (
    ledger_index   INTEGER PRIMARY KEY,
    project        TEXT NOT NULL,
    trace_no       INTEGER NOT NULL,
    trace_id       BLOB NOT NULL,
    span_id        BLOB NOT NULL,
    parent_span_id BLOB,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    is_error       INTEGER NOT NULL,
    agent          TEXT,
    tool           TEXT,
    model          TEXT,
    conversation   TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    subject_key    TEXT
);
INSERT INTO spans_v7 (ledger_index, project, trace_no, trace_id, span_id, parent_span_id, name,
    kind, start_ns, end_ns, status_code, status_message, is_error, agent, tool, model,
    conversation, input_tokens, output_tokens, subject_key)
SELECT ledger_index, project, trace_no, trace_id, span_id, parent_span_id, name, kind, start_ns,
    end_ns, status_code, status_message, is_error, agent, tool, model, conversation, input_tokens,
    output_tokens,
    CASE WHEN instr(attributes, '"cairn.subject_key"') > 0
        THEN json_extract(attributes, '$."cairn.subject_key"') END
FROM spans ORDER BY ledger_index;
DROP TABLE spans;
ALTER TABLE spans_v7 RENAME TO spans;
CREATE UNIQUE INDEX spans_by_trace ON spans (trace_no, span_id);
CREATE INDEX spans_by_tool ON spans (tool, start_ns) WHERE tool IS NOT NULL;
CREATE INDEX spans_by_model ON spans (model, start_ns) WHERE model IS NOT NULL;
CREATE INDEX spans_by_subject_key ON spans (subject_key) WHERE subject_key IS NOT NULL;
"#;

/// `MIGRATIONS[v]` upgrades a database at `user_version` `v` to `v + 1`.
///
/// Rules for adding a version: append a script, never edit a released one. A script may alter
/// tables in place; when a change needs data the index never stored, the script can instead drop
/// the derived tables and delete the `cursor` row, and the collector then rebuilds the index from
/// the ledger (the index holds nothing the ledger does not).
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema version this build writes.
#[allow(clippy::cast_possible_wrap)] // a handful of migrations
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Tables that `reset` drops before recreating the schema (with `search`, which files before
/// version 6 held).
const TABLES: &[&str] = &["meta", "spans", "logs", "traces", "trace_facets", "search"];

/// Page size of a new index file, in bytes (SQLite's default is 4,096).
///
/// Measured rebuilding the index of the same ledger (1.27M realistic spans, 4,096 entries per
/// transaction) with each size: the writer thread spent 22.2–22.8 s at 16 KiB against 26.3–28.9 s
/// at 4 KiB (24.2 s at 8 KiB, 24.3 s at 32 KiB, 30.0 s at 64 KiB), and the file was 11% smaller.
/// Every commit appends to the right edge of the `spans` B-tree and its indexes; larger pages
/// mean fewer page splits, fewer cells to shift and fewer WAL frames (each with its header and
/// checksum) per span, while spans of about 1 KB still fit several to a page. The price is on
/// random reads: fetching a 10,000-span trace from that store took p50 36 ms against 31 ms.
pub(crate) const PAGE_SIZE: i64 = 16_384;

/// Settings of the writer connection.
///
/// `synchronous = NORMAL`, not `OFF`: in WAL mode `NORMAL` already skips the sync at each commit
/// and syncs only around checkpoints, so `OFF` saves no CPU on the write path (measured: the
/// same instruction count within 0.1 %; the syncs are waiting, not work). What `OFF` would drop
/// is the sync that puts a checkpoint's database writes on disk before the WAL is reused, so an
/// OS crash or power loss could then corrupt the file instead of only losing the last
/// transactions (which, with their cursor, are indexed again from the ledger). Likewise a
/// larger `wal_autocheckpoint` measured no difference in write-path CPU; `mmap_size` did once
/// spans stopped carrying their content, see [`WRITER_MMAP_BYTES`].
/// [`crate::Store::open`] then raises `wal_autocheckpoint` to a backstop when the background
/// checkpoint thread runs (see the `checkpoint` module).
pub(crate) fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Takes effect only while the file is still empty (before the schema exists and before WAL
    // mode); an existing index keeps the page size it was created with.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // `journal_mode` returns the resulting mode as a row.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "cannot switch to wal journal mode (got {mode})"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = 8192;
         PRAGMA foreign_keys = OFF;",
    )?;
    // Answers the size in effect (clamped to SQLite's build limit; 0 where mmap is off).
    let _: i64 = conn.query_row(
        &format!("PRAGMA main.mmap_size = {WRITER_MMAP_BYTES}"),
        [],
        |row| row.get(0),
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// How much of its file each writer connection (the index file's and the search file's) reads
/// through a memory map (`PRAGMA mmap_size`): 2 GiB, the bundled SQLite's limit on Linux (about 5 million spans at
/// ≈400 bytes each; pages past it are read with `pread` as before).
///
/// Added when the schema-7 writer was found rereading B-tree pages (`pread` under
/// `sqlite3BtreeIndexMoveto` → `moveToRoot` → `readDbPage`, 22% of the writer thread in a
/// rebuild profile): read through the map, a page that the WAL does not hold costs a copy from
/// the map instead of a system call. The rereads themselves turned out to come from SQLite's
/// process-wide page cache (see [`separate_page_caches`]); with a cache per connection they are
/// gone, and the map is kept for the pages the cache does not hold. Measured with both builds
/// rebuilding the same ledger at once (1.07M realistic spans, two rounds, separate caches):
/// 20,644 / 17,808 spans/s with the map against 19,446 / 17,062 without, 36.3 / 41.0 µs of CPU per
/// entry against 37.0 / 41.6 — a few percent, near the noise. SQLite still writes with `pwrite`;
/// only reads use the map.
pub(crate) const WRITER_MMAP_BYTES: i64 = 2 << 30;

/// Whether this process's SQLite gives each connection a page cache of its own.
///
/// SQLite built with `SQLITE_ENABLE_MEMORY_MANAGEMENT` (libsqlite3-sys's bundled build turns it
/// on) keeps one page cache for every connection of the process. The index's connections then
/// evict each other's pages, and once their pages together pass the sum of their
/// `cache_size`s, every page a statement releases is freed at once: the index writer read the
/// same B-tree root pages from the file again for almost every row it inserted (a rebuild of
/// 1.07M realistic spans: 1.77M page misses, 28% of the writer thread's samples in `pread`;
/// without the option, `pread` is not in the writer's profile at all). The workspace's
/// `.cargo/config.toml` builds SQLite without it; [`crate::Store::open`] warns when a build that
/// links this crate elsewhere did not.
pub(crate) fn separate_page_caches() -> bool {
    // `sqlite3_compileoption_used` through SQL: rusqlite has no safe wrapper for it.
    Connection::open_in_memory()
        .and_then(|conn| {
            conn.query_row(
                "SELECT sqlite_compileoption_used('ENABLE_MEMORY_MANAGEMENT')",
                [],
                |row| row.get::<_, bool>(0),
            )
        })
        .is_ok_and(|shared| !shared)
}

/// Settings of a reader connection.
pub(crate) fn configure_reader(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA query_only = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16384;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the schema to [`SCHEMA_VERSION`], in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let found = user_version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == 0 {
        let tables: i64 =
            tx.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
        if tables > 0 {
            return Err(StoreError::NotAnIndex);
        }
    }
    let from = usize::try_from(found).unwrap_or(0);
    for script in &MIGRATIONS[from..] {
        tx.execute_batch(script)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Checks that a reader opens a database at exactly [`SCHEMA_VERSION`].
pub(crate) fn check_version(conn: &Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    match found.cmp(&SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        }),
        std::cmp::Ordering::Less => Err(StoreError::SchemaOutdated {
            found,
            supported: SCHEMA_VERSION,
        }),
    }
}

/// Drops every table and recreates the current schema, in one transaction.
pub(crate) fn reset(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for table in TABLES {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {table}"))?;
    }
    for script in MIGRATIONS {
        tx.execute_batch(script)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    /// A database file left at `version` by an older build, with the cursor at 42.
    fn old_database(dir: &std::path::Path, version: usize) -> std::path::PathBuf {
        let path = dir.join(format!("v{version}.db"));
        let conn = Connection::open(&path).expect("open");
        for script in &MIGRATIONS[..version] {
            conn.execute_batch(script).expect("old schema");
        }
        conn.execute("INSERT INTO meta (key, value) VALUES ('cursor', 42)", [])
            .expect("cursor");
        conn.pragma_update(None, "user_version", version)
            .expect("version");
        path
    }

    fn automerge(store: &Store) -> Option<i64> {
        store
            .conn
            .query_row(
                "SELECT v FROM search_config WHERE k = 'automerge'",
                [],
                |r| r.get(0),
            )
            .ok()
    }

    #[test]
    fn versions_2_and_3_upgrade_by_reindexing() {
        for version in [2, 3] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = old_database(dir.path(), version);
            let store = Store::open(&path).expect("upgrade");
            assert_eq!(user_version(&store.conn).expect("version"), SCHEMA_VERSION);
            // Version 4 keys spans and facets by a `trace_no` the old rows lack: the
            // collector rebuilds from 0.
            assert_eq!(store.cursor().expect("cursor"), 0, "from version {version}");
            assert_eq!(automerge(&store), Some(8));
            let columns: i64 = store
                .conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('trace_facets') WHERE name = 'trace_no'",
                    [],
                    |r| r.get(0),
                )
                .expect("columns");
            assert_eq!(columns, 1);
            assert!(Store::open_reader(&path).is_ok());
        }
    }

    #[test]
    fn version_1_upgrades_by_reindexing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = old_database(dir.path(), 1);
        let store = Store::open(&path).expect("upgrade");
        assert_eq!(user_version(&store.conn).expect("version"), SCHEMA_VERSION);
        // Version 2 could not fill its tables in place: the collector rebuilds from 0.
        assert_eq!(store.cursor().expect("cursor"), 0);
        assert_eq!(automerge(&store), Some(8));
    }

    /// Version 5 re-keys `traces` by `trace_no` in place: the rows, the cursor and the other
    /// tables stay, and a later batch updates a migrated summary.
    #[test]
    fn version_4_upgrades_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = old_database(dir.path(), 4);
        let conn = Connection::open(&path).expect("open");
        let trace = [7u8; 16];
        conn.execute(
            "INSERT INTO traces (trace_id, project, trace_no, start_ns, end_ns, span_count, \
             error_count, tool_call_count, llm_input_tokens, llm_output_tokens, llm_usage_spans, \
             other_input_tokens, other_output_tokens, root_name, root_has_parent, root_start, \
             root_ledger, agent, agent_start, agent_ledger) \
             VALUES (?1, 'default', 3, 100, 200, 2, 1, 0, 10, 20, 1, 0, 0, 'run', 0, 100, 3, \
             'planner', 100, 3), (?2, 'other', 9, 50, 60, 1, 0, 0, 0, 0, 0, 0, 0, 'x', 1, 50, 9, \
             NULL, NULL, NULL)",
            rusqlite::params![&trace[..], &[8u8; 16][..]],
        )
        .expect("v4 rows");
        drop(conn);

        let mut store = Store::open(&path).expect("upgrade");
        assert_eq!(user_version(&store.conn).expect("version"), SCHEMA_VERSION);
        assert_eq!(main_cursor(&store), Some(42), "no reindex of the main file");
        // Version 6 moves the full-text index to a new file, filled from the ledger's start.
        assert_eq!(store.cursor().expect("cursor"), 0);
        /// trace_no, trace_id, project, span_count, duration_ns, agent
        type Row = (i64, Vec<u8>, String, i64, i64, Option<String>);
        let rows: Vec<Row> = store
            .conn
            .prepare(
                "SELECT trace_no, trace_id, project, span_count, duration_ns, agent \
                 FROM traces ORDER BY rowid",
            )
            .expect("select")
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (
                    3,
                    trace.to_vec(),
                    "default".into(),
                    2,
                    100,
                    Some("planner".into())
                ),
                (9, vec![8; 16], "other".into(), 1, 10, None),
            ]
        );
        let rowid_is_trace_no: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM traces WHERE rowid = trace_no",
                [],
                |r| r.get(0),
            )
            .expect("rowid");
        assert_eq!(rowid_is_trace_no, 2);
        let duplicate = store.conn.execute(
            "INSERT INTO traces (trace_no, trace_id, project, start_ns, end_ns, span_count, \
             error_count, tool_call_count, llm_input_tokens, llm_output_tokens, llm_usage_spans, \
             other_input_tokens, other_output_tokens, root_name, root_has_parent, root_start, \
             root_ledger) VALUES (77, ?1, 'default', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '', 0, 0, 0)",
            [&trace[..]],
        );
        assert!(duplicate.is_err(), "(trace_id, project) stays unique");

        // A later span of the migrated trace updates its summary.
        let span = cairn_model::Span {
            trace_id: cairn_model::TraceId(trace),
            span_id: cairn_model::SpanId([1; 8]),
            parent_span_id: Some(cairn_model::SpanId([2; 8])),
            name: "step".into(),
            start_unix_nano: 150,
            end_unix_nano: 250,
            ..cairn_model::Span::default()
        };
        store
            .apply(&[(42, cairn_model::Record::Span(span))], 43)
            .expect("apply");
        let (count, end, root): (i64, i64, String) = store
            .conn
            .query_row(
                "SELECT span_count, end_ns, root_name FROM traces WHERE trace_no = 3",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("summary");
        assert_eq!((count, end, root.as_str()), (3, 250, "run"));
        let traces: i64 = store
            .conn
            .query_row("SELECT count(*) FROM traces", [], |r| r.get(0))
            .expect("count");
        assert_eq!(traces, 2);
    }

    #[test]
    fn fresh_and_reset_stores_get_the_fts_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("new.db")).expect("create");
        assert_eq!(automerge(&store), Some(8));
        store.reset().expect("reset");
        assert_eq!(automerge(&store), Some(8));
    }

    fn page_size(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size")
    }

    #[test]
    fn new_index_files_use_large_pages_and_old_ones_keep_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("new.db")).expect("create");
        assert_eq!(page_size(&store.conn), PAGE_SIZE);
        // The WAL backstop is a size in bytes, whatever the pages.
        let backstop = |conn: &Connection| -> i64 {
            conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
                .expect("wal_autocheckpoint")
        };
        assert_eq!(backstop(&store.conn), (1 << 30) / PAGE_SIZE);

        // An index written by a build with SQLite's default pages opens as it is, and what it
        // already holds stays readable.
        let path = old_database(dir.path(), MIGRATIONS.len());
        assert_eq!(page_size(&Connection::open(&path).expect("open")), 4096);
        let store = Store::open(&path).expect("open old");
        assert_eq!(page_size(&store.conn), 4096);
        assert_eq!(backstop(&store.conn), (1 << 30) / 4096);
        assert_eq!(main_cursor(&store), Some(42));
        // The search file is new, with the large pages and its own backstop.
        let search = Connection::open(crate::search_file::path_for(&path)).expect("search file");
        assert_eq!(page_size(&search), PAGE_SIZE);
    }

    fn main_cursor(store: &Store) -> Option<i64> {
        crate::query::meta(&store.conn, crate::write::META_CURSOR).expect("meta")
    }

    /// Version 6 drops the main file's full-text table; the search file replaces it and is
    /// filled from the start of the ledger, while the main file's rows and cursor stay.
    #[test]
    fn version_5_moves_the_full_text_index_to_its_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = old_database(dir.path(), 5);
        let store = Store::open(&path).expect("upgrade");
        let in_main: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM main.sqlite_schema WHERE name = 'search'",
                [],
                |r| r.get(0),
            )
            .expect("schema");
        assert_eq!(in_main, 0);
        assert!(crate::search_file::path_for(&path).exists());
        assert_eq!(main_cursor(&store), Some(42));
        assert_eq!(store.cursor().expect("cursor"), 0);
        assert_eq!(automerge(&store), Some(8));
    }

    /// Version 7 drops the spans' content columns in place: the rows, the cursors, the filter
    /// columns and the indexes stay, `subject_key` is filled from the old attributes, erasure
    /// finds the subject's rows through it, and the old table's pages are free for reuse.
    #[test]
    fn version_6_drops_span_content_and_keeps_the_subject_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = old_database(dir.path(), 6);
        let conn = Connection::open(&path).expect("open");
        for (index, attributes) in [
            (
                3,
                r#"{"cairn.subject_key":"k-1","gen_ai.tool.name":"search"}"#,
            ),
            (
                4,
                r#"{"gen_ai.tool.name":"search","note":"cairn.subject_key"}"#,
            ),
        ] {
            conn.execute(
                "INSERT INTO spans (ledger_index, project, trace_no, trace_id, span_id, name, \
                 kind, start_ns, end_ns, status_code, status_message, is_error, tool, \
                 attributes, events) VALUES (?1, 'default', 3, ?2, ?3, 'tool', 'tool', 1, 2, 0, \
                 '', 0, 'search', ?4, '[]')",
                rusqlite::params![index, &[7u8; 16][..], &[index as u8; 8][..], attributes],
            )
            .expect("v6 row");
        }
        drop(conn);

        let mut store = Store::open(&path).expect("upgrade");
        assert_eq!(user_version(&store.conn).expect("version"), SCHEMA_VERSION);
        assert_eq!(main_cursor(&store), Some(42), "no reindex");
        let columns: Vec<String> = store
            .conn
            .prepare("SELECT name FROM pragma_table_info('spans')")
            .expect("columns")
            .query_map([], |r| r.get(0))
            .expect("columns")
            .collect::<Result<_, _>>()
            .expect("columns");
        assert!(columns.contains(&"subject_key".to_owned()), "{columns:?}");
        assert!(!columns.contains(&"attributes".to_owned()), "{columns:?}");
        assert!(!columns.contains(&"events".to_owned()), "{columns:?}");
        let tools: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM spans WHERE tool = 'search'",
                [],
                |r| r.get(0),
            )
            .expect("rows");
        assert_eq!(tools, 2);
        assert_eq!(store.rows_with_subject_key("k-1").expect("rows"), vec![3]);
        assert!(store.rows_with_subject_key("k-2").expect("rows").is_empty());
        let indexes: Vec<String> = store
            .conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'spans'")
            .expect("indexes")
            .query_map([], |r| r.get(0))
            .expect("indexes")
            .collect::<Result<_, _>>()
            .expect("indexes");
        for name in [
            "spans_by_trace",
            "spans_by_tool",
            "spans_by_model",
            "spans_by_subject_key",
        ] {
            assert!(indexes.iter().any(|i| i == name), "{name}: {indexes:?}");
        }
        // The unique key still holds: the same span of the same trace is ignored.
        let dup = store.conn.execute(
            "INSERT OR IGNORE INTO spans (ledger_index, project, trace_no, trace_id, span_id, \
             name, kind, start_ns, end_ns, status_code, status_message, is_error) \
             VALUES (9, 'default', 3, ?1, ?2, 'tool', 'tool', 1, 2, 0, '', 0)",
            rusqlite::params![&[7u8; 16][..], &[3u8; 8][..]],
        );
        assert_eq!(dup.expect("insert"), 0);
        let free: i64 = store
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .expect("freelist");
        assert!(free > 0, "the old table's pages are free");
    }

    #[test]
    fn every_connection_has_a_page_cache_of_its_own() {
        // Fails when SQLite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT (see
        // `separate_page_caches`): build through the workspace, whose `.cargo/config.toml`
        // removes it.
        assert!(separate_page_caches());
        let options: Vec<String> = Connection::open_in_memory()
            .unwrap()
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o.starts_with("THREADSAFE=")),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    /// The writer reads its file through a memory map (where SQLite's build allows it).
    #[test]
    fn the_writer_maps_the_index_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("index.db")).expect("open");
        let size: i64 = store
            .conn
            .query_row("PRAGMA main.mmap_size", [], |r| r.get(0))
            .expect("mmap_size");
        if cfg!(target_os = "linux") {
            assert_eq!(size, 0x7fff_0000, "clamped to the build's limit");
        } else {
            assert!(size >= 0);
        }
    }
}
