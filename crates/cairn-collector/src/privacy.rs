//! The collector's side of `cairn-privacy`: decrypting ledger entries for exporters, and erasure.
//!
//! Redaction and encryption at ingest are in `otlp` (`Prepared::spans` / `Prepared::logs`), the
//! index's decryption in `pipeline::indexer`. This module holds:
//!
//! - [`RevealingSource`]: an exporter `EntrySource` over the ledger that hands exporters decrypted
//!   records (re-encoded with `cairn_model::codec`), marked with `cairn.subject_key`. Entries
//!   without encrypted values pass through byte for byte.
//! - Erasure ([`Eraser`] for a running server, [`erase_offline`] when none runs), in this order:
//!   1. destroy the subject's data key (overwrite, unlink, fsync the directory) — from here on
//!      every ledger copy of the content is unreadable;
//!   2. wait until the indexer has passed the ledger size seen at step 1, so every entry that
//!      could have been indexed in plaintext is in the index;
//!   3. rewrite the subject's index rows to `[erased]` (`Store::erase_rows`, including the FTS
//!      rows), computing what was indexed with the destroyed key still in memory;
//!   4. ask exporters to delete downstream copies (Elasticsearch `_delete_by_query` on
//!      `cairn.subject_key`; OTLP and JSONL copies are the operator's to handle);
//!   5. append a `cairn.audit.erasure` record to the ledger (the subject as a salted hash).
//!
//!   The ledger's bytes never change, so `cairn verify` and every earlier proof keep verifying.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_export::EntrySource;
use cairn_ledger::{Ledger, ReadError};
use cairn_model::{Record, codec};
use cairn_privacy::Privacy;
use cairn_privacy::audit::Erasure;
use cairn_privacy::keystore::Destroyed;
use cairn_privacy::shred::reveal_with;
use cairn_store::{EraseReport, ErasedRow, Store};
use serde::{Deserialize, Serialize};

use crate::pipeline::appender::Appender;
use crate::pipeline::indexer::IndexStatus;

/// Longest wait for the indexer to catch up before rewriting the index.
const INDEX_WAIT: Duration = Duration::from_secs(30);
/// Ledger entries read per step while rewriting.
const ERASE_BATCH: usize = 512;

/// Hands exporters decrypted records (see the module docs): the server's exporters, and
/// `cairn export` backfills when a master key is configured.
pub struct RevealingSource {
    source: Arc<dyn EntrySource>,
    privacy: Arc<Privacy>,
}

impl std::fmt::Debug for RevealingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevealingSource")
            .field("origin", &self.source.origin())
            .finish_non_exhaustive()
    }
}

impl RevealingSource {
    /// Wraps `source`; records are decrypted with `privacy`'s keystore.
    pub fn new(source: Arc<dyn EntrySource>, privacy: Arc<Privacy>) -> Self {
        Self { source, privacy }
    }
}

impl EntrySource for RevealingSource {
    fn origin(&self) -> &str {
        self.source.origin()
    }

    fn size(&self) -> u64 {
        self.source.size()
    }

    fn read_range(&self, start: u64, max: usize) -> Result<Vec<Vec<u8>>, ReadError> {
        let mut entries = self.source.read_range(start, max)?;
        for entry in &mut entries {
            if let Ok(mut record) = codec::decode(entry)
                && self.privacy.reveal(&mut record).key_id.is_some()
            {
                *entry = codec::encode(&record);
            }
        }
        Ok(entries)
    }

    fn wait_for_size(&self, greater_than: u64, timeout: Duration) -> u64 {
        self.source.wait_for_size(greater_than, timeout)
    }
}

/// Appends `cairn_redactions_total{rule}` (values redacted at ingest since start, per rule) to
/// an encoded `/metrics` answer: before the closing `# EOF` in OpenMetrics. Rule names are
/// `[A-Za-z0-9_-]` (checked when the configuration loads), so they need no escaping.
pub(crate) fn append_redaction_metrics(
    text: &mut String,
    openmetrics: bool,
    counts: &std::collections::BTreeMap<String, u64>,
) {
    use std::fmt::Write as _;
    let eof = openmetrics.then(|| text.rfind("# EOF")).flatten();
    let tail = eof.map(|at| text.split_off(at));
    let family = if openmetrics {
        "cairn_redactions"
    } else {
        "cairn_redactions_total"
    };
    let _ = writeln!(text, "# HELP {family} Values redacted at ingest, per rule.");
    let _ = writeln!(text, "# TYPE {family} counter");
    for (rule, n) in counts {
        let _ = writeln!(text, "cairn_redactions_total{{rule=\"{rule}\"}} {n}");
    }
    if let Some(tail) = tail {
        text.push_str(&tail);
    }
}

/// Why an erasure failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EraseError {
    /// No master key is configured, so nothing was ever encrypted per subject.
    #[error(
        "encryption is not configured (no privacy.master_key_file or CAIRN_MASTER_KEY): nothing can be erased by key"
    )]
    NotConfigured,
    /// The subject is empty or too long.
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// The subject has no data key (never seen, or already erased).
    #[error("no data key for this subject (never seen with encrypted content, or already erased)")]
    UnknownSubject,
    /// The keystore failed.
    #[error(transparent)]
    Keystore(#[from] cairn_privacy::KeystoreError),
    /// Setting up privacy failed (offline path).
    #[error(transparent)]
    Privacy(#[from] cairn_privacy::PrivacyError),
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The index failed.
    #[error("index: {0}")]
    Store(#[from] cairn_store::StoreError),
}

/// What an erasure did (the `POST /api/v1/admin/erase` answer and `cairn erase --json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EraseOutcome {
    /// The subject's salted hash (as recorded in the ledger).
    pub subject_hash: String,
    /// The destroyed key's id.
    pub key_id: String,
    /// Index rows rewritten to `[erased]`.
    pub index_rows_erased: u64,
    /// Index rows found but already without plaintext.
    pub index_rows_skipped: u64,
    /// Exporters that deleted downstream copies, with the count each deleted.
    pub exporters: Vec<ExporterErasure>,
    /// Ledger index of the `cairn.audit.erasure` record.
    pub audit_ledger_index: u64,
}

/// One exporter's part of an erasure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExporterErasure {
    /// The exporter's name.
    pub name: String,
    /// `deleted` (with `deleted` documents), `not_supported` (OTLP, JSONL: handle downstream
    /// copies yourself) or `failed` (with `error`; retry the erasure's exporter step by hand).
    pub status: String,
    /// Documents deleted.
    pub deleted: Option<u64>,
    /// The failure.
    pub error: Option<String>,
}

fn check_subject(subject: &str) -> Result<(), EraseError> {
    if subject.trim().is_empty() {
        return Err(EraseError::InvalidSubject(
            "subject must not be empty".to_owned(),
        ));
    }
    if subject.len() > 4096 {
        return Err(EraseError::InvalidSubject(format!(
            "subject is {} bytes, over the limit of 4096",
            subject.len()
        )));
    }
    Ok(())
}

/// Steps 3: rewrites the index rows encrypted with the destroyed key.
fn erase_index(
    ledger: &Ledger,
    store: &mut Store,
    privacy: &Privacy,
    destroyed: &Destroyed,
) -> Result<EraseReport, EraseError> {
    let key_id = destroyed.key.id().to_owned();
    let keystore = privacy.keystore().ok_or(EraseError::NotConfigured)?;
    let indices = store.rows_with_subject_key(&key_id)?;
    let mut total = EraseReport::default();
    for chunk in indices.chunks(ERASE_BATCH) {
        let mut rows = Vec::with_capacity(chunk.len());
        for &index in chunk {
            let entry = ledger
                .read_range(index, 1)
                .map_err(|e| EraseError::Ledger(e.to_string()))?;
            let Some(Ok(record)) = entry.first().map(|b| codec::decode(b)) else {
                continue;
            };
            let mut before: Record = record.clone();
            reveal_with(&mut before, &|id| {
                if id == key_id {
                    Some(Arc::clone(&destroyed.key))
                } else {
                    keystore.key_by_id(id)
                }
            });
            let mut after = record;
            reveal_with(&mut after, &|id| {
                if id == key_id {
                    None
                } else {
                    keystore.key_by_id(id)
                }
            });
            rows.push(ErasedRow {
                ledger_index: index,
                before,
                after,
            });
        }
        let report = store.erase_rows(&rows)?;
        total.rewritten += report.rewritten;
        total.skipped += report.skipped;
    }
    Ok(total)
}

/// Step 4.
fn notify_exporters(
    exporters: &[cairn_export::ExporterConfig],
    origin: &str,
    key_id: &str,
) -> Vec<ExporterErasure> {
    exporters
        .iter()
        .map(|config| {
            let name = config.name().to_owned();
            match cairn_export::delete_subject(config, origin, key_id) {
                Ok(Some(deleted)) => ExporterErasure {
                    name,
                    status: "deleted".to_owned(),
                    deleted: Some(deleted),
                    error: None,
                },
                Ok(None) => ExporterErasure {
                    name,
                    status: "not_supported".to_owned(),
                    deleted: None,
                    error: None,
                },
                Err(error) => {
                    tracing::error!(exporter = %name, %error, "exporter erasure failed");
                    ExporterErasure {
                        name,
                        status: "failed".to_owned(),
                        deleted: None,
                        error: Some(error),
                    }
                }
            }
        })
        .collect()
}

fn now_unix_nano() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What an erasure (online or offline) reports once its audit record is in the ledger.
fn outcome(
    destroyed: &Destroyed,
    report: EraseReport,
    exporters: Vec<ExporterErasure>,
    audit_ledger_index: u64,
) -> EraseOutcome {
    EraseOutcome {
        subject_hash: destroyed.subject_hash.clone(),
        key_id: destroyed.key.id().to_owned(),
        index_rows_erased: report.rewritten,
        index_rows_skipped: report.skipped,
        exporters,
        audit_ledger_index,
    }
}

fn audit_entry(
    destroyed: &Destroyed,
    actor: &str,
    report: EraseReport,
    exporters: &[ExporterErasure],
) -> Vec<u8> {
    let erasure = Erasure {
        subject_hash: destroyed.subject_hash.clone(),
        key_id: destroyed.key.id().to_owned(),
        actor: actor.to_owned(),
        project: "default".to_owned(),
        index_rows_erased: report.rewritten,
        exporters_notified: exporters.iter().filter(|e| e.status == "deleted").count() as u64,
        time_unix_nano: now_unix_nano(),
    };
    codec::encode_log(&erasure.to_log_record())
}

/// Erasure inside a running server (`POST /api/v1/admin/erase`).
#[derive(Debug)]
pub(crate) struct Eraser {
    pub(crate) privacy: Arc<Privacy>,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) appender: Arc<Appender>,
    pub(crate) index: Arc<IndexStatus>,
    pub(crate) index_path: PathBuf,
    pub(crate) exporters: Vec<cairn_export::ExporterConfig>,
    /// One erasure at a time.
    pub(crate) running: tokio::sync::Mutex<()>,
}

impl Eraser {
    /// Erases `subject` (see the module docs); `actor` is recorded as who asked.
    pub(crate) async fn erase(
        self: &Arc<Self>,
        subject: String,
        actor: String,
    ) -> Result<EraseOutcome, EraseError> {
        check_subject(&subject)?;
        let _one = self.running.lock().await;
        let this = Arc::clone(self);
        let (destroyed, report, exporters) = tokio::task::spawn_blocking(move || {
            let keystore = this.privacy.keystore().ok_or(EraseError::NotConfigured)?;
            let destroyed = keystore
                .destroy(&subject)?
                .ok_or(EraseError::UnknownSubject)?;
            let size = this.ledger.size();
            let deadline = Instant::now() + INDEX_WAIT;
            while this.index.cursor() < size && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if this.index.cursor() < size {
                tracing::warn!(
                    "erasure: the index did not catch up within {INDEX_WAIT:?}; rows indexed later read [erased] anyway"
                );
            }
            let mut store = Store::open(&this.index_path)?;
            let report = erase_index(&this.ledger, &mut store, &this.privacy, &destroyed)?;
            let exporters =
                notify_exporters(&this.exporters, this.ledger.origin(), destroyed.key.id());
            Ok::<_, EraseError>((destroyed, report, exporters))
        })
        .await
        .map_err(|e| EraseError::Ledger(format!("erasure task failed: {e}")))??;
        let entry = audit_entry(&destroyed, &actor, report, &exporters);
        let range = self
            .appender
            .submit(vec![entry])
            .await
            .map_err(|e| EraseError::Ledger(e.to_string()))?;
        Ok(outcome(&destroyed, report, exporters, range.start))
    }
}

/// Erasure with no server running: opens the data dir itself (the ledger lock makes this fail
/// while `cairn serve` holds it — use the API then), brings the index up to date with the ledger
/// first, and appends the audit record directly.
pub fn erase_offline(
    config: &crate::Config,
    subject: &str,
    actor: &str,
) -> Result<EraseOutcome, EraseError> {
    check_subject(subject)?;
    let privacy = crate::pipeline::open_privacy(config)?;
    let keystore = privacy.keystore().ok_or(EraseError::NotConfigured)?;
    if keystore.existing_key(subject).is_none() {
        return Err(EraseError::UnknownSubject);
    }
    let ledger_dir = config.ledger_dir();
    let ledger = crate::pipeline::open_ledger(&ledger_dir, config, None)
        .map_err(|e| EraseError::Ledger(format!("cannot open {}: {e}", ledger_dir.display())))?;
    let index_path: &Path = &config.index_path();
    let mut store = Store::open(index_path)?;
    // Index what the ledger holds first, so no plaintext row appears after the rewrite.
    let cursor = store.cursor()?;
    crate::pipeline::indexer::catch_up(
        &ledger,
        &mut store,
        cursor,
        config.pipeline.index_batch_entries,
        &privacy,
        &mut |_, _| {},
    )
    .map_err(|e| EraseError::Ledger(e.to_string()))?;
    let destroyed = keystore
        .destroy(subject)?
        .ok_or(EraseError::UnknownSubject)?;
    let report = erase_index(&ledger, &mut store, &privacy, &destroyed)?;
    let exporters = notify_exporters(&config.exporters, ledger.origin(), destroyed.key.id());
    let entry = audit_entry(&destroyed, actor, report, &exporters);
    let range = ledger
        .append(&[entry])
        .map_err(|e| EraseError::Ledger(e.to_string()))?;
    ledger
        .close()
        .map_err(|e| EraseError::Ledger(e.to_string()))?;
    Ok(outcome(&destroyed, report, exporters, range.start))
}
