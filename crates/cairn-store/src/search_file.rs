//! The full-text index in a file of its own, written by a second connection on a thread of its
//! own.
//!
//! SQLite allows one writer per database file, and the index writer is the indexing pipeline's
//! bottleneck: during a catch-up it kept one core busy while the other sat half idle, and FTS5
//! was about 40% of its work (`docs/performance.md`). So the FTS5 table lives in
//! `<index stem>-search[.<ext>]` next to the index file (`index-search.sqlite` beside
//! `index.sqlite`), and [`crate::Store`] hands each batch's search text to a [`SearchWriter`]
//! thread, which owns this file's connection, while the main connection writes the rest of the
//! batch. The texts are moved out of the prepared batch when it is prepared (on the collector's
//! reader thread) into a shared list, so handing them over copies nothing, and the thread is
//! started once: a thread per batch made the server's peak RSS grow by ≈190 MiB (each new
//! thread took another of the C allocator's arenas, which SQLite allocates from).
//!
//! ```text
//! meta    (key TEXT PRIMARY KEY, value INTEGER)   `cursor`: next ledger index to index here
//! search  contentless FTS5, rowid = ledger index  columns reasoning, tool_io, messages, errors
//! PRAGMA user_version = 1
//! ```
//!
//! Every connection to the index attaches this file as `fts`. The main file has had no `search`
//! table since schema version 6, so the unqualified `search` of every query, of erasure and of
//! retention resolves to it; those statements run in one transaction over both files.
//!
//! # Invariants
//! - The two files commit separately, each with its own cursor, and [`crate::Store::cursor`] is
//!   the lower one. A batch interrupted between the two commits is therefore applied again: the
//!   main file ignores the rows it holds (ledger indexes, and spans by trace and span id, are
//!   unique there) and this file skips the entries below its cursor, so nothing is indexed
//!   twice. Deleting either file rebuilds just that file from the ledger.
//! - Every full-text row belongs to a span or log record of the main file: a span the main file
//!   ignores as a duplicate (the same trace and span id as an indexed span, at another ledger
//!   index) has its text deleted again in the same transaction of this file that inserted it.
//!   Erasure and retention find full-text rows through the main file's rows, so an orphan would
//!   outlive them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, params};

use crate::StoreError;
use crate::extract::SearchText;
use crate::query;
use crate::write::{META_CURSOR, SET_META, from_sql_int, to_sql_int};

/// The search text of a batch: (ledger index, text) of every record that has any.
pub(crate) type Texts = Arc<Vec<(u64, SearchText)>>;

/// Schema of the search file (its own `user_version` 1).
const SCHEMA: &str = r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE VIRTUAL TABLE search USING fts5 (
    reasoning, tool_io, messages, errors,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search (search, rank) VALUES ('automerge', 8);
";

/// The search file's schema version.
const VERSION: i64 = 1;

/// The schema name the search file is attached under.
pub(crate) const SCHEMA_NAME: &str = "fts";

/// Adds a record's search text (the table name resolves to this file when it is attached).
pub(crate) const INSERT_SEARCH: &str =
    "INSERT INTO search (rowid, reasoning, tool_io, messages, errors) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Removes a record's search text. The table is contentless with `contentless_delete`, so an
/// ordinary `DELETE` by rowid removes its tokens without the indexed values.
pub(crate) const DELETE_SEARCH: &str = "DELETE FROM search WHERE rowid = ?1";

/// The search file of the index at `index`: `<stem>-search` plus the index's extension.
pub(crate) fn path_for(index: &Path) -> PathBuf {
    let stem = index.file_stem().unwrap_or_default().to_string_lossy();
    let name = match index.extension() {
        Some(ext) => format!("{stem}-search.{}", ext.to_string_lossy()),
        None => format!("{stem}-search"),
    };
    index.with_file_name(name)
}

/// Opens (creating it if needed) the search file of the index at `index` for writing.
pub(crate) fn open(index: &Path) -> Result<(Connection, PathBuf), StoreError> {
    let path = path_for(index);
    let mut conn = Connection::open(&path)?;
    crate::schema::configure_writer(&conn)?;
    // A quarter of the main writer's page cache: this file holds only the full-text index,
    // whose writes are appends of new segments and merges that read each input once.
    conn.execute_batch("PRAGMA cache_size = -16384")?;
    let tx = conn.transaction()?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    match found {
        0 => {
            let tables: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
            if tables > 0 {
                return Err(StoreError::NotAnIndex);
            }
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", VERSION)?;
        }
        VERSION => {}
        found => {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: VERSION,
            });
        }
    }
    tx.commit()?;
    Ok((conn, path))
}

/// Attaches the search file at `path` to `conn` as [`SCHEMA_NAME`]. A read-only connection
/// attaches it read-only.
pub(crate) fn attach(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let path = path.to_str().ok_or_else(|| {
        StoreError::SearchFile(format!("path {} is not valid UTF-8", path.display()))
    })?;
    conn.execute(&format!("ATTACH DATABASE ?1 AS {SCHEMA_NAME}"), [path])?;
    // An attached file has SQLite's default page cache (2 MB); searches read its doclists.
    conn.execute_batch(&format!("PRAGMA {SCHEMA_NAME}.cache_size = -16384"))?;
    let found: i64 = conn.query_row(&format!("PRAGMA {SCHEMA_NAME}.user_version"), [], |row| {
        row.get(0)
    })?;
    if found != VERSION {
        return Err(StoreError::SchemaOutdated {
            found,
            supported: VERSION,
        });
    }
    Ok(())
}

/// The next ledger index to index into the search file, read through a connection that has
/// it attached as [`SCHEMA_NAME`].
pub(crate) fn cursor(conn: &Connection) -> Result<u64, StoreError> {
    Ok(query::meta_in(conn, SCHEMA_NAME, META_CURSOR)?.map_or(0, from_sql_int))
}

/// Empties the search file and sets its cursor to 0, through a connection that has it attached
/// as [`SCHEMA_NAME`] (in that connection's transaction, if one is open).
pub(crate) fn reset(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(&format!(
        "INSERT INTO {SCHEMA_NAME}.search (search) VALUES ('delete-all'); \
         DELETE FROM {SCHEMA_NAME}.meta;"
    ))?;
    Ok(())
}

/// One batch for the [`SearchWriter`].
struct Job {
    texts: Texts,
    next_cursor: u64,
    /// The spans the main file dropped as duplicates; closed without a value when the main
    /// file's part failed.
    dropped: mpsc::Receiver<Vec<i64>>,
}

/// The thread that owns the search file's writer connection and applies one batch at a time.
#[derive(Debug)]
pub(crate) struct SearchWriter {
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Result<(), StoreError>>,
    thread: Option<JoinHandle<()>>,
}

impl SearchWriter {
    /// Starts the thread, which takes `conn` (the search file's writer connection).
    pub(crate) fn start(mut conn: Connection) -> Result<Self, StoreError> {
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(0);
        let (done_tx, done) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("cairn-index-search".to_owned())
            .spawn(move || {
                for job in job_rx {
                    let result = apply(&mut conn, &job.texts, job.next_cursor, || {
                        job.dropped.recv().ok()
                    });
                    // This thread's reference goes before the answer: the batch's last one is
                    // then the caller's, and the texts are freed by the thread that made them.
                    drop(job);
                    if done_tx.send(result).is_err() {
                        return;
                    }
                }
            })
            .map_err(|err| {
                StoreError::SearchFile(format!("cannot start its writer thread: {err}"))
            })?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    /// Applies `texts` on the thread (see [`apply`]) and returns its result once it has
    /// committed or rolled back. `dropped` must be sent to, or closed, before this returns.
    pub(crate) fn run(
        &self,
        texts: Texts,
        next_cursor: u64,
        dropped: mpsc::Receiver<Vec<i64>>,
        main: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let gone = || StoreError::SearchFile("its writer thread stopped".to_owned());
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        jobs.send(Job {
            texts,
            next_cursor,
            dropped,
        })
        .map_err(|_| gone())?;
        let main = main();
        let search = self.done.recv().map_err(|_| gone())?;
        main.and(search)
    }
}

impl Drop for SearchWriter {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Inserts the search text of the entries of a batch at or above this file's cursor, waits for
/// `dropped` (the ledger indexes of spans the main file ignored as duplicates; `None` when the
/// main file's part failed, and then nothing is committed), deletes their text again, sets the
/// cursor to `next_cursor` and commits.
fn apply(
    conn: &mut Connection,
    texts: &[(u64, SearchText)],
    next_cursor: u64,
    dropped: impl FnOnce() -> Option<Vec<i64>>,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let from = query::meta(&tx, META_CURSOR)?.map_or(0, from_sql_int);
    let mut inserted = HashSet::new();
    {
        let mut insert = tx.prepare_cached(INSERT_SEARCH)?;
        for (index, text) in texts {
            if *index < from {
                continue;
            }
            let rowid = to_sql_int(*index);
            insert_text(&mut insert, rowid, text)?;
            inserted.insert(rowid);
        }
    }
    let Some(dropped) = dropped() else {
        // The main file's part failed: roll back, the batch is retried whole.
        return Ok(());
    };
    delete_dropped(&tx, &dropped, &inserted)?;
    tx.prepare_cached(SET_META)?
        .execute(params![META_CURSOR, to_sql_int(next_cursor)])?;
    tx.commit()?;
    Ok(())
}

/// Deletes the text of the spans the main file dropped, among those this transaction inserted
/// (a dropped entry below the cursor was dropped, and its text deleted, the first time).
fn delete_dropped(
    tx: &Transaction<'_>,
    dropped: &[i64],
    inserted: &HashSet<i64>,
) -> Result<(), StoreError> {
    let mut delete = tx.prepare_cached(DELETE_SEARCH)?;
    for rowid in dropped.iter().filter(|r| inserted.contains(r)) {
        delete.execute([rowid])?;
    }
    Ok(())
}

/// Inserts one record's search text; nothing when it has none.
pub(crate) fn insert_text(
    stmt: &mut rusqlite::CachedStatement<'_>,
    ledger_index: i64,
    text: &SearchText,
) -> Result<(), StoreError> {
    if text.is_empty() {
        return Ok(());
    }
    stmt.execute(params![
        ledger_index,
        text.reasoning,
        text.tool_io,
        text.messages,
        text.errors,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use cairn_model::{KeyValue, Record, Span, SpanId, TraceId};

    use super::*;
    use crate::{Store, TraceQuery};

    fn span(trace: u8, id: u8, words: &str) -> Record {
        Record::Span(Span {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([id; 8]),
            name: "step".into(),
            start_unix_nano: 1_000 + u64::from(id),
            end_unix_nano: 2_000,
            attributes: vec![KeyValue::new("cairn.reasoning.content", words)],
            ..Span::default()
        })
    }

    fn batch() -> Vec<(u64, Record)> {
        vec![
            (0, span(1, 1, "alpha bravo")),
            (1, span(1, 2, "charlie")),
            (2, span(2, 1, "delta")),
        ]
    }

    /// Traces found by a full-text search for `term`, by their first id byte.
    fn found(store: &Store, term: &str) -> Vec<u8> {
        let query = TraceQuery {
            q: Some(term.to_owned()),
            ..TraceQuery::default()
        };
        let mut ids: Vec<u8> = store
            .reader()
            .expect("reader")
            .list_traces(None, &query)
            .expect("search")
            .traces
            .iter()
            .map(|t| t.trace_id.0[0])
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Rows in the full-text index (one per record with search text).
    fn rows(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM fts.search_docsize", [], |r| r.get(0))
            .expect("count")
    }

    /// Occurrences of `term` in the full-text index, over all rows (a row indexed twice
    /// counts twice).
    fn occurrences(store: &Store, term: &str) -> i64 {
        store
            .conn
            .execute_batch(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.terms USING fts5vocab(fts, search, row)",
            )
            .expect("vocab");
        store
            .conn
            .query_row(
                "SELECT coalesce(sum(cnt), 0) FROM temp.terms WHERE term = ?1",
                [term],
                |r| r.get(0),
            )
            .expect("count")
    }

    fn spans(store: &Store) -> i64 {
        store
            .conn
            .query_row("SELECT count(*) FROM spans", [], |r| r.get(0))
            .expect("count")
    }

    fn remove_file(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }

    /// A lost search file (or a crash between the two commits, which leaves its cursor behind)
    /// is filled again from the ledger; the main file ignores the entries it already holds.
    #[test]
    fn a_lost_search_file_is_rebuilt_without_duplicates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.sqlite");
        let mut store = Store::open(&path).expect("open");
        store.apply(&batch(), 3).expect("apply");
        assert_eq!(found(&store, "charlie"), [1]);
        assert_eq!(rows(&store), 3);
        drop(store);

        remove_file(&path_for(&path));
        let mut store = Store::open(&path).expect("reopen");
        assert_eq!(store.cursor().expect("cursor"), 0, "the lower cursor");
        assert!(found(&store, "charlie").is_empty());
        store.apply(&batch(), 3).expect("apply again");
        assert_eq!(store.cursor().expect("cursor"), 3);
        assert_eq!(found(&store, "charlie"), [1]);
        assert_eq!(found(&store, "delta"), [2]);
        assert_eq!((rows(&store), spans(&store)), (3, 3));
        assert_eq!(occurrences(&store, "charlie"), 1);
        // Applied once more (a replay), nothing changes.
        store.apply(&batch(), 3).expect("replay");
        assert_eq!((rows(&store), spans(&store)), (3, 3));
        assert_eq!(occurrences(&store, "charlie"), 1);
        let summary = store
            .reader()
            .expect("reader")
            .list_traces(None, &TraceQuery::default())
            .expect("list");
        let counts: Vec<u64> = summary.traces.iter().map(|t| t.span_count).collect();
        assert_eq!(counts.iter().sum::<u64>(), 3, "no double-counted summary");
    }

    /// A replay (the main file behind after a crash) leaves the search file's rows below its
    /// cursor alone: a row removed there since (as erasure does) does not come back.
    #[test]
    fn a_replay_skips_what_the_search_file_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("index.sqlite")).expect("open");
        store.apply(&batch(), 3).expect("apply");
        store
            .conn
            .execute("DELETE FROM fts.search WHERE rowid = 1", [])
            .expect("delete");
        store.apply(&batch(), 3).expect("replay");
        assert!(found(&store, "charlie").is_empty());
        assert_eq!(found(&store, "alpha"), [1]);
    }

    /// A lost main file is refilled while the search file, already ahead, skips the batch.
    #[test]
    fn a_lost_main_file_is_rebuilt_against_the_kept_search_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.sqlite");
        let mut store = Store::open(&path).expect("open");
        store.apply(&batch(), 3).expect("apply");
        drop(store);

        remove_file(&path);
        let mut store = Store::open(&path).expect("reopen");
        assert_eq!(store.cursor().expect("cursor"), 0);
        assert!(found(&store, "alpha").is_empty(), "no span rows yet");
        store.apply(&batch(), 3).expect("apply again");
        assert_eq!(found(&store, "alpha"), [1]);
        assert_eq!((rows(&store), spans(&store)), (3, 3));
    }

    /// A span resent at a later ledger index (same trace and span id) is dropped by the main
    /// file, and its text leaves the search file in the same batch: a word only it carries
    /// finds nothing, and every full-text row has its span.
    #[test]
    fn a_duplicate_span_leaves_no_full_text_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("index.sqlite")).expect("open");
        store.apply(&batch(), 3).expect("apply");
        let resent = vec![(3, span(1, 2, "echo")), (4, span(3, 1, "foxtrot"))];
        store.apply(&resent, 5).expect("apply duplicate");
        assert!(found(&store, "echo").is_empty());
        assert_eq!(found(&store, "foxtrot"), [3]);
        assert_eq!((rows(&store), spans(&store)), (4, 4));
        let orphans: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM fts.search_docsize d WHERE NOT EXISTS \
                 (SELECT 1 FROM spans s WHERE s.ledger_index = d.id)",
                [],
                |r| r.get(0),
            )
            .expect("orphans");
        assert_eq!(orphans, 0);
    }

    #[test]
    fn the_search_file_sits_beside_the_index() {
        assert_eq!(
            path_for(Path::new("/data/index.sqlite")),
            Path::new("/data/index-search.sqlite")
        );
        assert_eq!(path_for(Path::new("v5.db")), Path::new("v5-search.db"));
        assert_eq!(
            path_for(Path::new("/x/index")),
            Path::new("/x/index-search")
        );
    }
}
