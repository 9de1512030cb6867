//! WAL checkpoints on a background thread.
//!
//! In WAL mode every committed page is appended to `index.sqlite-wal`, and a checkpoint copies
//! the newest version of each page back into the database file and syncs it. SQLite's automatic
//! checkpoint runs inside the commit that crosses `wal_autocheckpoint` pages, on the writer's
//! thread: with the index on a large store that was about 15 % of the writer's CPU
//! (`perf`, `benches/index.rs` with random trace ids), plus the wait for the database file's
//! fsync, during which nothing was indexed.
//!
//! A [`Checkpointer`] thread with its own connection runs `PRAGMA wal_checkpoint(PASSIVE)` after
//! the writer has committed, at most every [`INTERVAL`]. A passive checkpoint never waits for
//! (or blocks) the writer or the readers: it copies the frames it can and leaves the rest for
//! the next round. The writer keeps SQLite's automatic checkpoint as a backstop at
//! [`BACKSTOP_BYTES`], so the WAL stays bounded even if the thread falls behind or stops.
//! Durability is unchanged: commits are as durable as before (`synchronous = NORMAL`), and a
//! checkpoint still syncs the WAL before copying and the database file after.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Longest time between a commit and the checkpoint that copies it (also the shortest time
/// between two checkpoints, so repeated writes of a hot page are copied once per round).
///
/// 250 ms. An earlier round chose 1 s, measured at 10K realistic spans/s on a build that spent
/// about twice today's CPU per span: this thread's CPU went from 5.9–6.6 to 4.4 µs per
/// span, because the pages every commit rewrites (the right edges of the indexes, the FTS
/// structure, `meta`) were copied a quarter as often. Measured again on the two-file index
/// (`scripts/bench-peer.sh`, 8×512 realistic spans for 15 s, then until all were indexed;
/// alternating runs): the index caught up at 40.2–45.8K spans/s (mean 43.3K, six runs) with
/// 250 ms against 36.0–41.8K (mean 38.8K, seven runs) with 1 s, and kept 1.53–1.58 cores busy
/// against 1.42–1.53. A rebuild with both builds running at once was 2.4–3.9% faster, for
/// 8–10% more bytes written (hot pages are copied four times as often). At 10K spans/s the
/// server's CPU was the same: 10.22–11.15 s for 200K spans against 10.35–11.14 s.
/// An OS crash loses at most the index's commits since the last checkpoint, which the
/// collector indexes again from the ledger (the cursor commits with them).
pub(crate) const INTERVAL: Duration = Duration::from_millis(250);

/// WAL size from which the writer connection checkpoints by itself when a checkpoint thread
/// runs (`wal_autocheckpoint`, converted to pages of the file): a backstop, not the normal path.
///
/// Whenever the writer commits more often than a passive round takes (at 10K spans/s it commits
/// about every 50 ms), no round finds every frame copied when the next transaction begins, and
/// SQLite does not restart the WAL from its beginning: under sustained load it grows to this
/// size (272 MB after 20 s at 10K realistic spans/s; 1.16 GB in a rebuild of 1.27M spans), and
/// from there the writer runs a checkpoint after every commit, with its syncs, on the serial
/// stage. 1 GiB rather than the 256 MiB of earlier builds: measured end to end at the maximum
/// (8×512 realistic spans for 15 s, then until all were indexed), durable and indexed was
/// 37.7 / 34.7K spans/s with 1 GiB against 29.0 / 29.9K with 256 MiB (16 KiB pages both), and
/// the previous main, whose backstop was 256 MiB of 4 KiB pages, 30.9 / 29.8K. The price is up
/// to 1 GiB of WAL file on disk while load lasts. Larger is worse: with 4 GiB the main writer
/// spent 24–25 µs per entry in a catch-up instead of 11 (likely because its page lookups search
/// a larger WAL index), and the catch-up ran at 32–36K spans/s instead of 45–49K.
///
/// Measured and not adopted: the writer running a `RESTART`
/// checkpoint whenever this thread found more than 64 MiB in the WAL kept it small but made
/// a rebuild 11% slower than with the 1 GiB backstop (writer thread 21.3–22.8 → 24.1–24.5 s),
/// as each restart waits for its copy and the syncs on the writer's thread. A `RESTART` from
/// this thread's connection waited until the writer stopped. Nor is the file truncated when the
/// WAL does restart (`journal_size_limit` 64 MiB): a catch-up while ingest competed for the CPU
/// restarted it often enough that regrowing the file cost 17% of the indexing rate (30.6K
/// against 36.9K spans/s, and 29.0–31.1K against 34.7–37.7K durable and indexed end to end), so
/// the file keeps its size until the server stops.
pub(crate) const BACKSTOP_BYTES: i64 = 1 << 30;

/// State shared by the writer and the checkpoint thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Commits by the writer so far.
    commits: AtomicU64,
    /// Set when the thread must stop.
    stop: Mutex<bool>,
    wake: Condvar,
    /// Checkpoints that failed (each is retried on the next round).
    failures: AtomicU64,
}

impl Shared {
    /// Called by the writer after each commit.
    pub(crate) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// The background checkpoint thread of one database; stops (after a last checkpoint) on drop.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to `path`.
    pub(crate) fn start(path: &Path) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("cairn-index-checkpoint".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&path, &shared)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panic in the thread has nothing to hand back; the backstop still checkpoints.
            let _ = thread.join();
        }
    }
}

fn run(path: &Path, shared: &Shared) {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(err) => {
            shared.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "index checkpoint thread cannot open the database; the writer checkpoints instead");
            return;
        }
    };
    let mut done = shared.commits.load(Ordering::Acquire);
    let mut failing = false;
    loop {
        let stopping = {
            let stop = shared
                .stop
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *stop {
                true
            } else {
                let (stop, _) = shared
                    .wake
                    .wait_timeout(stop, INTERVAL)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *stop
            }
        };
        let commits = shared.commits.load(Ordering::Acquire);
        if commits != done {
            match checkpoint(&conn) {
                Ok(()) => {
                    done = commits;
                    if failing {
                        tracing::info!("index checkpoints succeed again");
                        failing = false;
                    }
                }
                Err(err) => {
                    shared.failures.fetch_add(1, Ordering::Relaxed);
                    if !failing {
                        tracing::warn!(error = %err, "index checkpoint failed; retrying");
                        failing = true;
                    }
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// One passive checkpoint. The pragma answers (busy, WAL frames, frames checkpointed); a busy
/// or partial round is not an error, the next round continues.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        row.get::<_, i64>(0).map(|_| ())
    })
}
