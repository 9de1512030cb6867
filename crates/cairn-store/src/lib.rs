//! Cairn's embedded index: a SQLite database derived from the ledger, for queries.
//!
//! The ledger is the source of truth; this index holds nothing the ledger does not and can always
//! be rebuilt from it ([`Store::reset`], then apply every entry again). The collector tails the
//! ledger from [`Store::cursor`] and calls [`Store::apply`] with batches of decoded entries.
//!
//! # Invariants
//! - Two files: the index (`index.sqlite`) and, beside it, the full-text index
//!   (`index-search.sqlite`, see the `search_file` module), each written by its own connection
//!   so that a batch is written on two threads at once. One writer ([`Store`]); any number of
//!   [`Reader`]s, each with its own read-only connection that attaches the search file. Both
//!   files run in WAL mode, so readers see the last committed `apply` and never block it.
//! - `apply` is one transaction in each file: the rows of a batch, the trace summaries and the
//!   cursor commit together or not at all in the index, the search text and its own cursor in
//!   the search file. [`Store::cursor`] is the lower of the two cursors, so a batch that only
//!   one file committed is applied again (each file skips what it holds). `synchronous =
//!   NORMAL`: a power loss can undo the last transactions, never corrupt a file; the cursors go
//!   back with them and the entries are indexed again from the ledger.
//! - Idempotent: a ledger index is a primary key, and a span is unique by (trace id, project,
//!   span id), through the trace's `trace_no`.
//!   Rows that already exist are ignored, and only newly inserted rows update summaries and
//!   facets; the search file skips entries below its own cursor and deletes the text of a span
//!   the main file dropped as a resent duplicate. So replaying entries after a crash (or a
//!   client resending a span) never duplicates or double-counts.
//! - Order-independent: spans may arrive in any order and batch split (children before
//!   parents); summaries are merged with commutative rules (see [`TraceSummary`]).
//!
//! # Projects
//! Every row carries `project`, the `cairn.project` resource attribute of its record (the
//! collector stamps it at ingest from the API key), `default` when absent. Traces are keyed by
//! (trace id, project). Every [`Reader`] query takes the project to see (`None` = all).
//!
//! # Span content
//! The index holds what queries filter, sort, search and summarize on, not the spans' attributes
//! and events: [`Reader::get_trace`] and [`Reader::get_trace_json`] read those from the ledger
//! through a [`ContentSource`] (the `content` module says why and how).
//!
//! # Retention
//! [`Store::delete_before`] deletes old rows of some projects from the index; the ledger keeps
//! everything and a reindex restores them.
//!
//! # Schema (version 7, `PRAGMA user_version`)
//! A new file is created with 16 KiB pages (an older one keeps the page size it was created
//! with; both work). Integers are SQLite 64-bit; times are unix nanoseconds (saturating at `i64::MAX`, the year
//! 2262), ids are raw bytes (`BLOB`); JSON columns hold text in `cairn_model`'s
//! `AnyValue::to_json` mapping, the same JSON the query API returns.
//!
//! | table | key | contents |
//! |---|---|---|
//! | `meta` | `key` | `cursor` (next ledger index to index), `last_apply_unix_nano` |
//! | `spans` | `ledger_index`, unique (`trace_no`, `span_id`) | `project`, `trace_no`, ids, parent, name, agent `kind`, `start_ns`/`end_ns`, `status_code` (0 unset, 1 ok, 2 error), `status_message`, `is_error`, `agent`/`tool`/`model`/`conversation` (filter columns), `input_tokens`/`output_tokens`, `subject_key` (the `cairn.subject_key` of an encrypted span, for erasure; partial index). No attributes or events: a fetch reads them from the ledger through a [`ContentSource`] (see the `content` module) |
//! | `logs` | `ledger_index` | `project`, optional `trace_id`/`span_id`, times, severity, `event_name`, `body` (JSON), `attributes` (JSON object) |
//! | `traces` | `trace_no` (the rowid), unique (`trace_id`, `project`) | `trace_no` (the ledger index of the first span indexed for the trace: fixed at creation, the same on every rebuild, and near the ledger's tail for live traces, so the keys below insert at the right edge of their B-trees instead of at random pages, and the summaries of live traces sit together at the table's tail); per-trace summary: first start, last end, span/error/tool-call counts, token sums (LLM spans with usage separately from others), root name and rank, agent name and rank; generated `duration_ns`, `input_tokens`, `output_tokens` |
//! | `trace_facets` | (`facet`, `value`, `trace_no`) | the distinct agents (1), agent kinds (2), tools (3), models (4) and conversations (5) each trace mentions, for the list filters and the conversation grouping |
//! | `search` (in the search file, attached as `fts`) | `rowid` = ledger index | contentless FTS5 (`unicode61`, diacritics folded, `contentless_delete`, `automerge` 8): columns `reasoning`, `tool_io`, `messages`, `errors` of a span or log record; the search file has its own `meta` (`cursor`) |
//!
//! Log records carrying trace and span ids are attached to that span at query time (the span may
//! arrive later); the others of a trace are listed beside its spans; records without a trace id
//! are stored but belong to no trace. Record kinds the index does not know are skipped (the
//! cursor still advances over them).
//!
//! # Versions and migration
//! `PRAGMA user_version` holds the schema version. [`Store::open`] creates the schema in an
//! empty file and upgrades older versions by running each later migration script in one
//! transaction; a newer version ([`StoreError::SchemaTooNew`]) or a foreign database
//! ([`StoreError::NotAnIndex`]) is refused. Because the index is derived data, a migration may
//! also drop tables and reset the cursor, and the collector then rebuilds from the ledger.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod checkpoint;
mod content;
mod conversations;
mod erase;
mod error;
mod extract;
mod fts;
mod ids;
mod query;
mod retention;
mod schema;
mod search_file;
mod stats;
mod write;

use std::path::{Path, PathBuf};

use cairn_model::{Record, TraceId};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

pub use content::{Content, ContentSource};
pub use conversations::{ConversationPage, ConversationQuery, ConversationSummary};
pub use erase::{EraseReport, ErasedRow, SUBJECT_KEY_ATTRIBUTE};
pub use error::StoreError;
pub use extract::DEFAULT_PROJECT;
pub use query::{
    DEFAULT_LIMIT, EventDetail, LogDetail, MAX_LIMIT, SearchPlan, SortOrder, SpanDetail,
    StatusFilter, TraceDetail, TracePage, TraceQuery, TraceSort, TraceStatus, TraceSummary,
    UnknownValue,
};
pub use retention::{ProjectSelection, RetentionReport};
pub use stats::{GroupBy, GroupStats, StatsQuery, StatsReport};

/// What the index derives from `batch`: per entry for the main file, and the search texts moved
/// out of it for the search file.
fn derive(batch: &[(u64, Record)]) -> (Vec<write::Derived>, search_file::Texts) {
    let mut texts = Vec::new();
    let derived = batch
        .iter()
        .map(|(index, record)| {
            let mut derived = write::derive(record);
            write::take_search_text(*index, &mut derived, &mut texts);
            derived
        })
        .collect();
    (derived, std::sync::Arc::new(texts))
}

/// The index writer. There must be one per database file; it is `Send` but not `Sync` (move it
/// to the thread that tails the ledger).
#[derive(Debug)]
pub struct Store {
    /// The writer connection (WAL, `synchronous = NORMAL`, prepared statements cached), with the
    /// search file attached (erasure and retention reach both files in one transaction).
    conn: Connection,
    /// The thread that writes the search file, on its own connection (see the `search_file`
    /// module).
    search: search_file::SearchWriter,
    /// Database file, for opening readers.
    path: PathBuf,
    /// The search file.
    search_path: PathBuf,
    /// The background WAL checkpoints of the two files (see the `checkpoint` module); `None`
    /// when a thread could not be started, and that file's writer then checkpoints as SQLite
    /// does by default.
    checkpointers: [Option<checkpoint::Checkpointer>; 2],
}

/// A batch of decoded ledger entries with what the index derives from them already computed
/// (see [`Store::prepare`]). `Send`, so it can be built on one thread and applied on another.
#[derive(Debug)]
pub struct PreparedBatch {
    entries: Vec<(u64, Record)>,
    /// What the main file stores of each entry (its search text moved out into `texts`).
    derived: Vec<write::Derived>,
    /// The search text of the entries that have any, for the search file.
    texts: search_file::Texts,
}

impl PreparedBatch {
    /// The entries, as given to [`Store::prepare`].
    pub fn entries(&self) -> &[(u64, Record)] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the batch holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Store {
    /// Opens or creates the index at `path` and its search file beside it (the parent directory
    /// must exist), creating or migrating the schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !schema::separate_page_caches() {
            tracing::warn!(
                "SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT: the index's connections share one page cache and the index writer rereads pages it should keep; build with LIBSQLITE3_FLAGS=-USQLITE_ENABLE_MEMORY_MANAGEMENT (the workspace's .cargo/config.toml does)"
            );
        }
        let mut conn = Connection::open(path)?;
        schema::configure_writer(&conn)?;
        schema::migrate(&mut conn)?;
        let (search, search_path) = search_file::open(path)?;
        // After the migration: its scripts name the main file's old `search` table.
        search_file::attach(&conn, &search_path)?;
        let checkpointers = [
            Self::checkpointer(&conn, path)?,
            Self::checkpointer(&search, &search_path)?,
        ];
        let search = search_file::SearchWriter::start(search)?;
        Ok(Store {
            conn,
            search,
            path: path.to_owned(),
            search_path,
            checkpointers,
        })
    }

    /// Starts the checkpoint thread of the file at `path`, whose writer is `conn`, and moves
    /// the writer's own checkpoints to the backstop size.
    fn checkpointer(
        conn: &Connection,
        path: &Path,
    ) -> Result<Option<checkpoint::Checkpointer>, StoreError> {
        let checkpointer = checkpoint::Checkpointer::start(path).ok();
        if checkpointer.is_some() {
            let page_size: i64 = conn.query_row("PRAGMA main.page_size", [], |row| row.get(0))?;
            conn.pragma_update(
                Some(rusqlite::DatabaseName::Main),
                "wal_autocheckpoint",
                checkpoint::BACKSTOP_BYTES / page_size.max(512),
            )?;
        }
        Ok(checkpointer)
    }

    /// Tells the checkpoint threads that the WALs have new frames.
    fn committed(&self) {
        for checkpointer in self.checkpointers.iter().flatten() {
            checkpointer.shared().committed();
        }
    }

    /// WAL checkpoints of the background thread that failed so far (each is retried; SQLite's
    /// own checkpoint at a larger WAL size is the backstop).
    pub fn checkpoint_failures(&self) -> u64 {
        self.checkpointers
            .iter()
            .flatten()
            .map(|c| c.shared().failures())
            .sum()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next ledger index to index: 0 on a fresh store, else the `next_cursor` of the last
    /// successful [`Store::apply`]. The lower of the main file's and the search file's cursors
    /// (see the `search_file` module): after a crash between their two commits, or with one of
    /// the files deleted, the entries from there are applied again.
    pub fn cursor(&self) -> Result<u64, StoreError> {
        let main = query::meta(&self.conn, write::META_CURSOR)?.map_or(0, write::from_sql_int);
        Ok(main.min(search_file::cursor(&self.conn)?))
    }

    /// Indexes `batch` (pairs of ledger index and decoded entry) and sets the cursor to
    /// `next_cursor`. Entries already indexed are skipped, so a batch may be replayed. Every
    /// index in the batch must be below `next_cursor` ([`StoreError::EntryBeyondCursor`]
    /// otherwise, and nothing is written).
    pub fn apply(&mut self, batch: &[(u64, Record)], next_cursor: u64) -> Result<(), StoreError> {
        let (derived, texts) = derive(batch);
        self.write(batch, &derived, texts, next_cursor)
    }

    /// Derives everything the index stores of `entries` (filter columns, JSON text, search
    /// text) without touching the database. [`Store::apply_prepared`] then only writes; a
    /// pipeline prepares the next batch on another thread while this one is written.
    pub fn prepare(entries: Vec<(u64, Record)>) -> PreparedBatch {
        let (derived, texts) = derive(&entries);
        PreparedBatch {
            entries,
            derived,
            texts,
        }
    }

    /// [`Store::apply`] for a batch made by [`Store::prepare`]: same writes, same result.
    /// The batch is not consumed, so a failed apply can be retried with it.
    pub fn apply_prepared(
        &mut self,
        batch: &PreparedBatch,
        next_cursor: u64,
    ) -> Result<(), StoreError> {
        self.write(
            &batch.entries,
            &batch.derived,
            batch.texts.clone(),
            next_cursor,
        )
    }

    /// Writes a batch into both files at once: the search text into the search file on its
    /// thread, everything else into the main file on this one, each in one transaction (see the
    /// `search_file` module for why, and for what a failure between the two commits leaves).
    /// The main file's transaction reports the spans it dropped as duplicates before it
    /// commits, and the search file deletes their text before its own commit.
    fn write(
        &mut self,
        batch: &[(u64, Record)],
        derived: &[write::Derived],
        texts: search_file::Texts,
        next_cursor: u64,
    ) -> Result<(), StoreError> {
        if let Some((index, _)) = batch.iter().find(|(index, _)| *index >= next_cursor) {
            return Err(StoreError::EntryBeyondCursor {
                index: *index,
                next_cursor,
            });
        }
        let conn = &mut self.conn;
        let (dropped_tx, dropped_rx) = std::sync::mpsc::sync_channel::<Vec<i64>>(1);
        let result = self.search.run(texts, next_cursor, dropped_rx, move || {
            let tx = conn.transaction()?;
            let dropped = write::apply_derived(&tx, batch, derived, next_cursor)?;
            // Sent before the commit, so that the two commits overlap; if this one then fails,
            // the search file holds the same text a retry would write. When the main part fails
            // before this, the sender is dropped unsent and the search part rolls back.
            let _ = dropped_tx.send(dropped);
            tx.commit()?;
            Ok(())
        });
        self.committed();
        result
    }

    /// Deletes the index rows of the selected projects older than `cutoff_unix_nano` (whole
    /// traces whose last span ended before it, and log records outside any indexed trace), in one
    /// transaction. The ledger is untouched; see `retention`'s docs.
    pub fn delete_before(
        &mut self,
        projects: ProjectSelection<'_>,
        cutoff_unix_nano: u64,
    ) -> Result<RetentionReport, StoreError> {
        let tx = self.conn.transaction()?;
        let report = retention::delete_before(&tx, projects, cutoff_unix_nano)?;
        tx.commit()?;
        self.committed();
        Ok(report)
    }

    /// Ledger indices of the span and log rows marked with `cairn.subject_key = key_id` (see
    /// the `erase` module docs).
    pub fn rows_with_subject_key(&mut self, key_id: &str) -> Result<Vec<u64>, StoreError> {
        let tx = self.conn.transaction()?;
        let rows = erase::rows_with_subject_key(&tx, key_id)?;
        tx.commit()?;
        self.committed();
        Ok(rows)
    }

    /// Rewrites the rows of an erased subject, in one transaction (see [`ErasedRow`]).
    pub fn erase_rows(&mut self, rows: &[ErasedRow]) -> Result<EraseReport, StoreError> {
        let tx = self.conn.transaction()?;
        let report = erase::erase_rows(&tx, rows)?;
        tx.commit()?;
        self.committed();
        Ok(report)
    }

    /// Drops everything and recreates an empty index with cursor 0 (for rebuilding from the
    /// ledger). Readers opened before keep working and see the empty index.
    pub fn reset(&mut self) -> Result<(), StoreError> {
        // Detached while the migration scripts run: they name the main file's old `search`.
        self.conn
            .execute_batch(&format!("DETACH DATABASE {}", search_file::SCHEMA_NAME))?;
        schema::reset(&mut self.conn)?;
        search_file::attach(&self.conn, &self.search_path)?;
        search_file::reset(&self.conn)
    }

    /// Opens a reader on this store's database.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Self::open_reader(&self.path)
    }

    /// Opens a read-only connection to an existing index. Its schema must be the current version.
    pub fn open_reader(path: &Path) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        schema::configure_reader(&conn)?;
        schema::check_version(&conn)?;
        search_file::attach(&conn, &search_file::path_for(path))?;
        Ok(Reader { conn })
    }
}

/// A read-only view of the index with its own connection. `Send`, not `Sync`: give each thread
/// (or each request handler from a pool) its own. Each query sees the last committed `apply`.
#[derive(Debug)]
pub struct Reader {
    /// Read-only connection (`query_only`, prepared statements cached).
    conn: Connection,
}

/// Indexing progress, for measuring lag against the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStatus {
    /// Next ledger index to index; entries below it are queryable.
    pub cursor: u64,
    /// Wall-clock time of the last successful `apply`, unix nanoseconds; `None` before the first.
    pub last_apply_unix_nano: Option<u64>,
}

/// Every query takes `project`: `Some(p)` sees only rows of project `p` (another project's trace
/// is indistinguishable from one that does not exist); `None` sees every project.
impl Reader {
    /// One page of trace summaries matching `query`, in its sort order (default: newest start
    /// first).
    pub fn list_traces(
        &self,
        project: Option<&str>,
        query: &TraceQuery,
    ) -> Result<TracePage, StoreError> {
        query::list_traces(&self.conn, project, query)
    }

    /// [`Reader::list_traces`] with the full-text plan chosen by the caller instead of by the
    /// term's frequency. Every plan returns the same page; this exists so benchmarks and tests
    /// can compare them.
    pub fn list_traces_with(
        &self,
        project: Option<&str>,
        query: &TraceQuery,
        plan: SearchPlan,
    ) -> Result<TracePage, StoreError> {
        query::list_traces_with(&self.conn, project, query, plan)
    }

    /// A whole trace, its spans' attributes and events read from `content` (see the `content`
    /// module); `None` when the index has neither spans nor log records for it (in `project`).
    pub fn get_trace(
        &self,
        project: Option<&str>,
        trace_id: &TraceId,
        content: &dyn ContentSource,
    ) -> Result<Option<TraceDetail>, StoreError> {
        query::get_trace(&self.conn, project, trace_id, content)
    }

    /// Runs grouped by conversation id, most recently active first (see the `conversations`
    /// module docs).
    pub fn list_conversations(
        &self,
        project: Option<&str>,
        query: &ConversationQuery,
    ) -> Result<ConversationPage, StoreError> {
        conversations::list_conversations(&self.conn, project, query)
    }

    /// [`Reader::get_trace`] as the query API's JSON document (what `serde_json::to_vec` makes of
    /// the [`TraceDetail`]), rendered straight from the rows and the records without building
    /// the typed detail; `None` when the trace is unknown.
    pub fn get_trace_json(
        &self,
        project: Option<&str>,
        trace_id: &TraceId,
        content: &dyn ContentSource,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        query::get_trace_json(&self.conn, project, trace_id, content)
    }

    /// Aggregates per agent, tool or model (see [`GroupBy`] for what each counts).
    pub fn stats(
        &self,
        project: Option<&str>,
        query: &StatsQuery,
    ) -> Result<StatsReport, StoreError> {
        stats::stats(&self.conn, project, query)
    }

    /// Log records named `event_name` (e.g. `cairn.audit.access`) with a time in
    /// `[since, until)`, oldest first, at most `limit`.
    pub fn logs_by_event(
        &self,
        project: Option<&str>,
        event_name: &str,
        since: Option<u64>,
        until: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LogDetail>, StoreError> {
        query::logs_by_event(&self.conn, project, event_name, since, until, limit)
    }

    /// The project of the indexed span or log record at `ledger_index`; `None` when not indexed.
    pub fn project_of_entry(&self, ledger_index: u64) -> Result<Option<String>, StoreError> {
        query::project_of_entry(&self.conn, ledger_index)
    }

    /// The indexed cursor and the time of the last apply.
    pub fn index_status(&self) -> Result<IndexStatus, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let main = query::meta(&tx, write::META_CURSOR)?.map_or(0, write::from_sql_int);
        let search = query::meta_in(&tx, search_file::SCHEMA_NAME, write::META_CURSOR)?
            .map_or(0, write::from_sql_int);
        let cursor = main.min(search);
        let last = query::meta(&tx, write::META_LAST_APPLY)?.map(write::from_sql_int);
        tx.finish()?;
        Ok(IndexStatus {
            cursor,
            last_apply_unix_nano: last,
        })
    }
}
