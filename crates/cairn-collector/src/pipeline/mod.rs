//! The ingest pipeline behind both OTLP transports.
//!
//! ```text
//!  request task                 cairn-ledger-writer            cairn-indexer
//!  decode → validate →  ──job──▶ drain queue, one      ledger ─▶ read_range(cursor, N)
//!  normalize → encode           ledger.append (fsync)  (source   decode, store.apply
//!  ◀──── ack (durable) ──────── answer every job        of truth) (one transaction + cursor)
//! ```
//!
//! Acknowledged means durable: a request is answered only after the writer's `append` returned
//! (with `ledger.fsync = "always"`, the default; with `"before_checkpoint"`, acknowledged records
//! are written to the operating system and fsynced before the next checkpoint is signed).
//! The index is derived state; it can always be rebuilt from the ledger ([`reindex`]).

pub(crate) mod appender;
pub(crate) mod indexer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_ledger::Ledger;
use cairn_metrics::{CairnMetrics, Metrics};
use cairn_store::Store;

pub use indexer::IndexError;

/// What [`reindex`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReindexReport {
    /// Ledger entries read and indexed.
    pub entries: u64,
}

/// Rebuilding the index failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReindexError {
    /// The ledger could not be opened (e.g. a running `cairn serve` holds it).
    #[error("cannot open the ledger at {path}: {source}")]
    Ledger {
        /// The ledger directory.
        path: std::path::PathBuf,
        /// The ledger's error.
        source: cairn_ledger::OpenError,
    },
    /// The index could not be opened or cleared.
    #[error("cannot open or clear the index at {path}: {source}")]
    Store {
        /// The index file.
        path: std::path::PathBuf,
        /// The store's error.
        source: cairn_store::StoreError,
    },
    /// Indexing a batch failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The privacy layer (master key, keystore) could not be set up.
    #[error(transparent)]
    Privacy(#[from] cairn_privacy::PrivacyError),
}

/// Drops the index at `config.index_path()` and rebuilds it from every ledger entry, calling
/// `progress(done, total)` after each batch. Must not run while a server uses the data dir.
pub fn reindex(
    config: &crate::Config,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ReindexReport, ReindexError> {
    let privacy = open_privacy(config)?;
    let ledger_dir = config.ledger_dir();
    let ledger = open_ledger(&ledger_dir, config, None).map_err(|source| ReindexError::Ledger {
        path: ledger_dir.clone(),
        source,
    })?;
    let index_path = config.index_path();
    let store_err = |source| ReindexError::Store {
        path: index_path.clone(),
        source,
    };
    let mut store = Store::open(&index_path).map_err(store_err)?;
    store.reset().map_err(store_err)?;
    progress(0, ledger.size());
    let cursor = indexer::catch_up(
        &ledger,
        &mut store,
        0,
        config.pipeline.index_batch_entries,
        &privacy,
        progress,
    )?;
    drop(store);
    if let Err(err) = ledger.close() {
        tracing::warn!(error = %err, "closing the ledger after reindex failed");
    }
    Ok(ReindexReport { entries: cursor })
}

/// The privacy layer of `config`: redaction rules and, with a master key (`privacy.master_key_file`
/// or `CAIRN_MASTER_KEY`), the keystore in `<data_dir>/keystore/`.
pub fn open_privacy(
    config: &crate::Config,
) -> Result<cairn_privacy::Privacy, cairn_privacy::PrivacyError> {
    let env = std::env::var(cairn_privacy::MASTER_KEY_ENV).ok();
    let privacy = cairn_privacy::Privacy::open(&config.privacy, &config.data_dir, env.as_deref())?;
    for rule in privacy.redactor().map_or(&[][..], |r| r.slow_rules()) {
        tracing::warn!(
            rule = %rule,
            "redaction rule cannot run in the fast regex engine (a Unicode word boundary? write \
             (?-u:\\b)); redacting text with non-ASCII characters will be much slower"
        );
    }
    Ok(privacy)
}

/// Opens the ledger with the options from `config` (origin, checkpoint interval, fsync policy,
/// rollback recovery). `health`, when given, observes every fsync. A rollback recovery that
/// actually happened is logged as a warning naming the checkpoint history moved aside.
pub(crate) fn open_ledger(
    dir: &Path,
    config: &crate::Config,
    health: Option<Arc<CairnMetrics>>,
) -> Result<Ledger, cairn_ledger::OpenError> {
    let fsync_observer = health.map(|health| -> cairn_ledger::FsyncObserver {
        Arc::new(move |took| health.ledger_fsync(took))
    });
    let opts = cairn_ledger::LedgerOptions {
        origin: config.ledger.origin.clone(),
        checkpoint_interval: config.ledger.checkpoint_interval,
        fsync: config.ledger.fsync,
        allow_rollback_recovery: config.ledger.allow_rollback_recovery,
        fsync_observer,
        ..cairn_ledger::LedgerOptions::default()
    };
    if config.ledger.fsync != cairn_ledger::FsyncPolicy::Always {
        tracing::warn!(
            "ledger.fsync = before_checkpoint: records are acknowledged before they are fsynced; \
             a machine crash can lose acknowledged records that no checkpoint covers yet"
        );
    }
    if !config.ledger.allow_rollback_recovery {
        return Ledger::open(dir, opts);
    }
    let before = rolled_back_histories(dir);
    let ledger = Ledger::open(dir, opts)?;
    let new: Vec<String> = rolled_back_histories(dir)
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect();
    if new.is_empty() {
        tracing::info!(
            "ledger.allow_rollback_recovery is set but was not needed: the ledger opened intact; \
             remove the setting"
        );
    } else {
        tracing::warn!(
            moved_aside = ?new,
            entries = ledger.size(),
            "rollback recovery: the last signed checkpoint covered entries that are gone; its \
             checkpoint history was moved aside and a new one starts at the entries on disk. \
             Remove ledger.allow_rollback_recovery / --allow-rollback-recovery now"
        );
    }
    Ok(ledger)
}

/// Names of the checkpoint histories the ledger moved aside in rollback recoveries
/// (`checkpoints.log.rolled-back-<unix time>`, see `docs/ledger.md`).
fn rolled_back_histories(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with("checkpoints.log.rolled-back-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The shared handles of a running pipeline.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) appender: Arc<appender::Appender>,
    pub(crate) indexer: indexer::Indexer,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) watch: Arc<LedgerWatch>,
    pub(crate) privacy: Arc<cairn_privacy::Privacy>,
}

/// Copies the ledger's counters and the index lag into the health gauges; called by the indexer
/// after each step and at scrape time.
#[derive(Debug)]
pub(crate) struct LedgerWatch {
    health: Arc<CairnMetrics>,
    /// `checkpoints_signed` already counted, so concurrent refreshes count each checkpoint once.
    checkpoints_seen: AtomicU64,
}

impl LedgerWatch {
    /// Starts from the ledger as opened: its latest checkpoint sets the timestamp gauge without
    /// being counted as signed by this process.
    pub(crate) fn new(health: Arc<CairnMetrics>, ledger: &Ledger) -> Self {
        let stats = ledger.stats();
        health.set_ledger_size(stats.entries, stats.bytes);
        if let Some(at) = stats.last_checkpoint_unix_secs {
            health.set_last_checkpoint(at as f64);
        }
        Self {
            health,
            checkpoints_seen: AtomicU64::new(stats.checkpoints_signed),
        }
    }

    pub(crate) fn refresh(&self, ledger: &Ledger, index: &indexer::IndexStatus) {
        let stats = ledger.stats();
        self.health.set_ledger_size(stats.entries, stats.bytes);
        let seen = self
            .checkpoints_seen
            .fetch_max(stats.checkpoints_signed, Ordering::AcqRel);
        if let Some(at) = stats.last_checkpoint_unix_secs {
            if stats.checkpoints_signed > seen {
                for _ in seen..stats.checkpoints_signed {
                    self.health.checkpoint_signed(at as f64);
                }
            } else {
                self.health.set_last_checkpoint(at as f64);
            }
        }
        self.health.set_index_lag(
            stats.entries.saturating_sub(index.cursor()),
            index.lag_seconds(),
        );
    }
}

impl Pipeline {
    /// Stops accepting, writes what is queued, lets the index catch up and signs the final
    /// checkpoint.
    pub(crate) fn shutdown(&self) -> Result<(), cairn_ledger::CloseError> {
        self.appender.close();
        self.indexer.finish();
        self.metrics.agents().flush();
        self.ledger.close()
    }
}
