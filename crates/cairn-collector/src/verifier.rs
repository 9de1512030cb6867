//! Background ledger verification: `cairn verify` on the live ledger, on a schedule.
//!
//! Shortly after startup ([`FIRST_RUN_DELAY`]) and then every `ledger.verify_interval`, the whole
//! ledger directory is re-verified with [`cairn_ledger::verify::verify_dir`] — every entry
//! re-hashed, every stored hash and checkpoint signature checked — against the verifier key the
//! running ledger holds in memory (so a replaced `verifier.key` file on disk is caught too).
//!
//! Invariants:
//! - verification only reads; it takes no lock and never delays ingest. What lies past the last
//!   signed checkpoint may still be in flight and is reported as warnings, not failures, by the
//!   ledger crate.
//! - one run at a time, on its own OS thread (verification is CPU-bound and uses two threads of
//!   its own); a run still going at shutdown is abandoned, never waited for.
//! - on Linux those threads run at nice [`BACKGROUND_NICE`]: when ingest or the index want the
//!   CPU, verification yields it to them and takes longer; on an idle machine it runs as fast.
//! - a run that falls due while the index is catching up with the ledger (a restart with a large
//!   ledger, a burst the index has not absorbed yet) waits until the index has caught up, polling
//!   every [`DEFERRAL_POLL`], for at most [`MAX_DEFERRAL`]; then it starts anyway. Both read the
//!   whole ledger and compete for the CPU and the disk; the catch-up is what makes spans
//!   queryable, so it goes first (a rebuild of 1.27M spans ran 6% faster without verification
//!   beside it, `docs/performance.md`).
//! - every finished run updates `cairn_ledger_verify_last_success` and
//!   `cairn_ledger_verify_last_run_timestamp_seconds`, logs its result, and is served as JSON
//!   by `GET /api/v1/audit/verification`. A run that cannot read the ledger at all counts as
//!   failed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_ledger::verify::{VerifyOptions, verify_dir};
use cairn_metrics::Metrics;
use parking_lot::RwLock;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Delay before the first run after startup, so startup itself stays fast.
pub(crate) const FIRST_RUN_DELAY: Duration = Duration::from_secs(5);

/// The longest a due run waits for the index to catch up before it starts anyway: bounded, so
/// that an index that never catches up (ingest faster than indexing, for hours) cannot hold
/// verification back, and short against the default interval of an hour.
pub(crate) const MAX_DEFERRAL: Duration = Duration::from_secs(600);

/// How often a deferred run looks at the index again.
pub(crate) const DEFERRAL_POLL: Duration = Duration::from_secs(1);

/// Nice value of the verification threads (Linux): the scheduler then gives a busy ingest or
/// index thread about nine times the CPU share of a verification thread.
///
/// Why: in the end-to-end benchmark (`scripts/bench-peer.sh`, 8×512 realistic spans for 15 s)
/// the first run, 5 s after startup, re-hashes the ledger written so far (≈420K entries in
/// 1.1 s on two threads) while ingest saturates both cores; a restart with a large ledger
/// re-verifies all of it while the index catches up. No throughput difference was measurable
/// in those 15 s runs (`docs/performance.md`); the point is that verification never competes
/// with ingest on equal terms.
pub(crate) const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`BACKGROUND_NICE`] (threads it starts afterwards
/// inherit it). Never raises it: a server already started with a higher nice value keeps it.
/// Linux only, where the nice value belongs to a thread; elsewhere it would apply to the
/// whole process, so verification keeps the normal priority there.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = Some(rustix::thread::gettid());
        let result = getpriority_process(tid).and_then(|current| {
            if current < BACKGROUND_NICE {
                setpriority_process(tid, BACKGROUND_NICE)
            } else {
                Ok(())
            }
        });
        if let Err(err) = result {
            tracing::debug!(error = %err, "cannot lower the verification thread's priority");
        }
    }
}

/// The outcome of one background verification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VerificationResult {
    /// No integrity problem was found.
    pub(crate) ok: bool,
    /// Unix time (seconds) the run finished.
    pub(crate) finished_at: f64,
    /// Wall time of the run.
    pub(crate) duration_seconds: f64,
    /// Entries re-hashed.
    pub(crate) entries: u64,
    /// Signed checkpoints checked.
    pub(crate) checkpoints: u64,
    /// Size of the latest signed checkpoint, when there is one.
    pub(crate) latest_checkpoint_size: Option<u64>,
    /// Integrity problems found (0 when `ok`).
    pub(crate) problems: u64,
    /// The first problem, or why the ledger could not be read.
    pub(crate) first_problem: Option<String>,
    /// Warnings (e.g. a tail still being written).
    pub(crate) warnings: u64,
}

/// The latest result, shared with the API.
#[derive(Debug, Default)]
pub(crate) struct VerificationStatus {
    last: RwLock<Option<VerificationResult>>,
    runs: std::sync::atomic::AtomicU64,
}

impl VerificationStatus {
    /// The latest finished run, if any.
    pub(crate) fn last(&self) -> Option<VerificationResult> {
        self.last.read().clone()
    }

    /// Finished runs since startup.
    pub(crate) fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn record(&self, result: VerificationResult) {
        *self.last.write() = Some(result);
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs one verification of `ledger_dir` against `verifier_key` (blocking).
pub(crate) fn verify_once(ledger_dir: &std::path::Path, verifier_key: &str) -> VerificationResult {
    let started = Instant::now();
    let opts = VerifyOptions {
        verifier_key: Some(verifier_key.to_owned()),
        ..VerifyOptions::default()
    };
    let outcome = verify_dir(ledger_dir, &opts, &mut |_, _| {});
    let finished_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let duration_seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(report) => VerificationResult {
            ok: report.ok,
            finished_at,
            duration_seconds,
            entries: report.entries,
            checkpoints: report.checkpoints,
            latest_checkpoint_size: report.latest_checkpoint_size,
            problems: report.problems.len() as u64 + report.problems_omitted,
            first_problem: report.problems.first().map(|p| p.message.clone()),
            warnings: report.warnings.len() as u64,
        },
        Err(err) => VerificationResult {
            ok: false,
            finished_at,
            duration_seconds,
            entries: 0,
            checkpoints: 0,
            latest_checkpoint_size: None,
            problems: 1,
            first_problem: Some(format!("cannot verify the ledger: {err}")),
            warnings: 0,
        },
    }
}

/// When runs start.
pub(crate) struct Schedule {
    /// Delay of the first run after startup.
    pub(crate) first_delay: Duration,
    /// Delay between the end of a run and the next one.
    pub(crate) interval: Duration,
    /// True while the index is catching up with the ledger: a due run then waits.
    pub(crate) index_behind: Box<dyn Fn() -> bool + Send + Sync>,
    /// How often a waiting run calls `index_behind` again ([`DEFERRAL_POLL`] in the server).
    pub(crate) poll: Duration,
    /// The longest a due run waits ([`MAX_DEFERRAL`] in the server).
    pub(crate) max_deferral: Duration,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("first_delay", &self.first_delay)
            .field("interval", &self.interval)
            .field("poll", &self.poll)
            .field("max_deferral", &self.max_deferral)
            .finish_non_exhaustive()
    }
}

impl Schedule {
    /// Waits while the index is behind, for at most `max_deferral`. Returns how long it waited,
    /// or `None` when the index was not behind.
    async fn defer(&self) -> Option<Duration> {
        if !(self.index_behind)() {
            return None;
        }
        let started = tokio::time::Instant::now();
        loop {
            let waited = started.elapsed();
            if waited >= self.max_deferral {
                return Some(waited);
            }
            tokio::time::sleep(self.poll.min(self.max_deferral - waited)).await;
            if !(self.index_behind)() {
                return Some(started.elapsed());
            }
        }
    }
}

/// Starts the schedule: a first run after `schedule.first_delay`, then one every
/// `schedule.interval`, each deferred while the index catches up (see the module docs), until
/// `shutdown` turns true.
pub(crate) fn spawn(
    ledger_dir: PathBuf,
    verifier_key: String,
    schedule: Schedule,
    status: Arc<VerificationStatus>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        let mut wait = schedule.first_delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
            let deferred = tokio::select! {
                deferred = schedule.defer() => deferred,
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            };
            if let Some(waited) = deferred {
                tracing::info!(
                    waited_seconds = waited.as_secs_f64(),
                    "background ledger verification starts after waiting for the index to catch up"
                );
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            let dir = ledger_dir.clone();
            let key = verifier_key.clone();
            std::thread::Builder::new()
                .name("cairn-verify".to_owned())
                .spawn(move || {
                    lower_thread_priority();
                    let _ = tx.send(verify_once(&dir, &key));
                })
                .map_err(|e| format!("cannot start the verification thread: {e}"))?;
            let result = tokio::select! {
                result = rx => result.map_err(|_| "the verification thread died".to_owned())?,
                // Abandon a run still going at shutdown; it only reads.
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            };
            metrics
                .health()
                .verify_finished(result.ok, result.finished_at);
            if result.ok {
                tracing::info!(
                    entries = result.entries,
                    checkpoints = result.checkpoints,
                    seconds = result.duration_seconds,
                    "background ledger verification passed"
                );
            } else {
                tracing::error!(
                    problems = result.problems,
                    first_problem = result.first_problem.as_deref().unwrap_or_default(),
                    "background ledger verification FAILED"
                );
            }
            status.record(result);
            wait = schedule.interval;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verification thread, and the thread `verify_dir` starts from it, run at the
    /// background nice value; the thread that started them keeps its own.
    #[cfg(target_os = "linux")]
    #[test]
    fn verification_threads_run_at_background_priority() {
        use rustix::process::getpriority_process;
        let own = || getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let before = own();
        let (lowered, child) = std::thread::spawn(move || {
            lower_thread_priority();
            (own(), std::thread::spawn(own).join().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(lowered, before.max(BACKGROUND_NICE));
        assert_eq!(child, lowered);
        assert_eq!(own(), before, "only the verification thread is lowered");
    }

    fn schedule(
        index_behind: impl Fn() -> bool + Send + Sync + 'static,
        max: Duration,
    ) -> Schedule {
        Schedule {
            first_delay: Duration::ZERO,
            interval: Duration::from_secs(3600),
            index_behind: Box::new(index_behind),
            poll: Duration::from_millis(5),
            max_deferral: max,
        }
    }

    /// A run due while the index is caught up starts at once.
    #[tokio::test]
    async fn a_run_is_not_deferred_when_the_index_is_caught_up() {
        let schedule = schedule(|| false, Duration::from_secs(60));
        assert_eq!(schedule.defer().await, None);
    }

    /// A run due while the index is behind starts once it has caught up, not before.
    #[tokio::test]
    async fn a_run_waits_until_the_index_has_caught_up() {
        let behind = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = Arc::clone(&behind);
        let schedule = schedule(
            move || flag.load(std::sync::atomic::Ordering::Acquire),
            Duration::from_secs(60),
        );
        let started = Instant::now();
        let catch_up = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            behind.store(false, std::sync::atomic::Ordering::Release);
        });
        let waited = schedule.defer().await.expect("deferred");
        catch_up.await.unwrap();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "it did not wait for the maximum"
        );
    }

    /// An index that never catches up holds a run back for the maximum deferral only.
    #[tokio::test]
    async fn a_run_waits_at_most_the_maximum_deferral() {
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let schedule = schedule(
            move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            },
            Duration::from_millis(120),
        );
        let waited = schedule.defer().await.expect("deferred");
        assert!(waited >= Duration::from_millis(120), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        assert!(
            calls.load(std::sync::atomic::Ordering::Relaxed) >= 2,
            "the index was looked at again while waiting"
        );
    }

    #[test]
    fn a_missing_ledger_counts_as_failed_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let result = verify_once(&dir.path().join("nope"), "k+00000000+AQ==");
        assert!(!result.ok);
        assert_eq!(result.problems, 1);
        assert!(
            result
                .first_problem
                .as_deref()
                .unwrap()
                .starts_with("cannot verify the ledger"),
            "{result:?}"
        );
    }
}
