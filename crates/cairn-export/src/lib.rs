//! Cairn's exporters: ledger consumers that ship spans to Elasticsearch/OpenSearch, to another
//! OTLP endpoint, and to rotating JSONL files for Fluentd / Fluent Bit.
//!
//! # Architecture
//!
//! ```text
//!  Ledger ──wait_for_size/read_range──▶ ExportRunner ──send/commit──▶ dyn Exporter ──▶ destination
//!                                       │  cursor.json (temp+fsync+rename)
//!                                       │  dead-letter.jsonl (fsynced before the cursor moves)
//!                                       └─ ExporterStats (atomics → Prometheus)
//! ```
//!
//! - [`Exporter`] is the one trait a destination implements; its doc comment states the
//!   threading, blocking, retry and idempotence contract. Hooks other than `send` default to
//!   no-ops.
//! - [`ExportRunner`] is generic over the [`EntrySource`] and the exporter: it tails the ledger
//!   from a persisted cursor, batches by count and bytes, retries with exponential backoff and
//!   jitter, isolates and dead-letters permanently rejected records, and keeps the counters
//!   (see [`runner`] for the delivery guarantee: at least once, across `kill -9`).
//! - One folder per exporter, split by role: [`elasticsearch`], [`otlp`], [`jsonl`]. The
//!   Elasticsearch documents and the JSONL lines share one format ([`document`]).
//!
//! # Use from the server
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn demo(ledger: Arc<cairn_ledger::Ledger>, configs: Vec<cairn_export::ExporterConfig>)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! let shutdown = cairn_export::Shutdown::new();
//! let handles = cairn_export::spawn_exporters(
//!     ledger,
//!     &configs,
//!     std::path::Path::new("./cairn-data"),
//!     &shutdown,
//! )?;
//! // … serve; read `handles[i].stats.snapshot()` for /metrics …
//! shutdown.trigger();
//! for handle in handles {
//!     let summary = handle.join()?;
//!     println!("exporter stopped at {}", summary.next_index);
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod backoff;
pub mod config;
pub mod document;
pub mod elasticsearch;
mod exporter;
mod http;
pub mod jsonl;
pub mod otlp;
pub mod runner;
mod shutdown;
mod source;
pub mod state;
mod stats;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use config::{BatchConfig, ExporterConfig, RetryConfig};
pub use elasticsearch::ElasticsearchExporter;
pub use exporter::{Exporter, Item, ItemOutcome, SendError, SendReport};
pub use http::TlsError;
pub use jsonl::JsonlExporter;
pub use otlp::OtlpExporter;
pub use runner::{ExportRunner, RunError, RunSummary, RunnerOptions, StopReason};
pub use shutdown::Shutdown;
pub use source::{EntrySource, ReadOnlyLedger};
pub use stats::{ExporterStats, StatsSnapshot};

/// Why exporters could not be set up. Nothing is started when this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// One exporter's configuration is unusable.
    #[error("exporter {name}: {reason}")]
    Invalid {
        /// The exporter's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two exporters share a name (and would share a state directory).
    #[error("two exporters are named {0:?}; give each a distinct `name`")]
    DuplicateName(String),
    /// The exporter thread could not be started.
    #[error("starting the thread of exporter {name}: {source}")]
    Spawn {
        /// The exporter's name.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running exporter.
#[derive(Debug)]
pub struct ExporterHandle {
    /// The exporter's name.
    pub name: String,
    /// Its kind (`elasticsearch`, `otlp`, `jsonl`).
    pub kind: &'static str,
    /// Live counters (map them to `cairn_exporter_*{exporter="<name>"}`).
    pub stats: Arc<ExporterStats>,
    thread: JoinHandle<Result<RunSummary, RunError>>,
}

impl ExporterHandle {
    /// Waits for the exporter thread to stop (trigger the [`Shutdown`] first).
    pub fn join(self) -> Result<RunSummary, RunError> {
        self.thread.join().unwrap_or(Err(RunError::Panicked))
    }

    /// `true` once the thread has returned.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// The state directory of the exporter `name`: `<data_dir>/exporters/<name>`.
pub fn state_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("exporters").join(name)
}

/// `true` for names usable as a directory name: `[A-Za-z0-9_.-]`, not starting with `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// A secret given inline or through an environment variable (the variable wins).
pub(crate) fn secret(inline: Option<&str>, env: Option<&str>) -> Result<Option<String>, String> {
    match env {
        Some(var) => std::env::var(var)
            .map(Some)
            .map_err(|_| format!("environment variable {var} is not set")),
        None => Ok(inline.map(str::to_owned)),
    }
}

/// Builds the exporter of one configuration for the ledger `origin` (no I/O besides reading a
/// CA file). JSONL files default to `<data_dir>/jsonl`.
pub fn build_exporter(
    config: &ExporterConfig,
    origin: &str,
    data_dir: &Path,
) -> Result<Box<dyn Exporter>, SetupError> {
    Ok(match config {
        ExporterConfig::Elasticsearch(c) => {
            Box::new(ElasticsearchExporter::new(c.clone(), origin)?)
        }
        ExporterConfig::Otlp(c) => Box::new(OtlpExporter::new(c.clone())?),
        ExporterConfig::Jsonl(c) => {
            let dir = c.path.clone().unwrap_or_else(|| data_dir.join("jsonl"));
            Box::new(JsonlExporter::new(c.clone(), dir, origin)?)
        }
    })
}

/// Runner options of one configuration: tail from the persisted cursor, forever.
pub fn runner_options(config: &ExporterConfig, data_dir: &Path) -> RunnerOptions {
    RunnerOptions {
        name: config.name().to_owned(),
        state_dir: state_dir(data_dir, config.name()),
        batch: config.batch().clone(),
        retry: config.retry().clone(),
        start_at: None,
        stop_at: None,
        follow: true,
    }
}

/// Erasure: asks the exporter described by `config` to delete an erased subject's documents
/// (those whose `cairn.subject_key` is `key_id`). Elasticsearch/OpenSearch: `_delete_by_query`,
/// `Ok(Some(deleted))`. OTLP and JSONL copies live downstream where Cairn cannot reach them:
/// `Ok(None)`, and the operator must handle them (see `docs/privacy.md`).
pub fn delete_subject(
    config: &ExporterConfig,
    origin: &str,
    key_id: &str,
) -> Result<Option<u64>, String> {
    match config {
        ExporterConfig::Elasticsearch(es) => {
            let exporter = elasticsearch::ElasticsearchExporter::new(es.clone(), origin)
                .map_err(|e| e.to_string())?;
            exporter
                .delete_subject(key_id)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        ExporterConfig::Otlp(_) | ExporterConfig::Jsonl(_) => Ok(None),
    }
}

/// Validates every configuration, then starts one thread per exporter tailing `source` (the
/// server passes its `Arc<Ledger>`). Each keeps its state in `<data_dir>/exporters/<name>/` and
/// runs until `shutdown` is triggered; join the handles afterwards. Every configuration is
/// validated (and its exporter built) before the first thread starts.
pub fn spawn_exporters<S>(
    source: Arc<S>,
    configs: &[ExporterConfig],
    data_dir: &Path,
    shutdown: &Shutdown,
) -> Result<Vec<ExporterHandle>, SetupError>
where
    S: EntrySource + ?Sized + 'static,
{
    let mut names = HashSet::new();
    let mut built = Vec::with_capacity(configs.len());
    for config in configs {
        let name = config.name();
        if !valid_name(name) {
            return Err(SetupError::Invalid {
                name: name.to_owned(),
                reason: "names may only hold letters, digits, '_', '.', '-'".to_owned(),
            });
        }
        if !names.insert(name.to_owned()) {
            return Err(SetupError::DuplicateName(name.to_owned()));
        }
        let exporter = build_exporter(config, source.origin(), data_dir)?;
        built.push((config, exporter));
    }
    let mut handles = Vec::with_capacity(built.len());
    for (config, exporter) in built {
        let runner = ExportRunner::new(
            Arc::clone(&source),
            exporter,
            runner_options(config, data_dir),
            shutdown.clone(),
        );
        let stats = runner.stats();
        let thread = runner.spawn().map_err(|source| SetupError::Spawn {
            name: config.name().to_owned(),
            source,
        })?;
        handles.push(ExporterHandle {
            name: config.name().to_owned(),
            kind: config.kind(),
            stats,
            thread,
        });
    }
    Ok(handles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_directory_names() {
        assert!(valid_name("es-prod_1.a"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
    }
}
