//! Cairn's server library: OTLP ingest over HTTP and gRPC, the durable ledger pipeline, the index
//! consumer and the query API. The `cairn serve` command is a thin wrapper around [`run`].
//!
//! ```text
//!   OTLP/HTTP :4318 ─┐                                        ┌─▶ index (SQLite) ─▶ query API :7070
//!                    ├─▶ decode → validate → normalize → ledger (durable, Merkle) ─┤
//!   OTLP/gRPC :4317 ─┘          (request task)     (group commit, then ack)      └─▶ audit API, tlog tiles
//! ```
//!
//! Invariants:
//! - **Acknowledged means durable.** A client gets 200 / `OK` only after its records are in the
//!   ledger and fsynced; a record that was not acknowledged may or may not be there.
//! - **The ledger is the source of truth.** The index is rebuilt from it by [`reindex`] and resumes
//!   from its saved cursor after a crash; nothing accepted is thrown away (log records included).
//! - **Batching, not per-record work.** One ledger append (one fsync) per writer batch across many
//!   requests; one SQLite transaction per index batch.
//!
//! Layout: [`config`] (TOML + `CAIRN_*`), [`auth`] (API keys, projects, scopes, rate limits,
//! access records), `otlp` (the two transports), `pipeline` (ledger writer and indexer threads),
//! `api` (query, audit, admin, health, metrics, landing page), `retention` (index retention),
//! `privacy` (decryption for exporters, erasure), `verifier` (background ledger verification),
//! `server` (start, graceful shutdown).
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod api;
pub mod auth;
pub mod config;
mod content;
mod otlp;
mod pipeline;
mod privacy;
mod retention;
mod server;
mod tls;
mod verifier;

pub use config::{Config, ConfigError};
pub use pipeline::{IndexError, ReindexError, ReindexReport, open_privacy, reindex};
pub use privacy::{EraseError, EraseOutcome, ExporterErasure, RevealingSource, erase_offline};
pub use server::{
    BoundAddrs, DRAIN_TIMEOUT, RunningServer, ServeError, Server, run, shutdown_signal,
};

/// Parses a `since`/`until` value as the query API does: RFC 3339 or a duration before now
/// (`1h`), into unix nanoseconds.
pub fn parse_time(text: &str) -> Result<u64, String> {
    api::parse_time(text, std::time::SystemTime::now())
}

/// Entry point for the query-parameter fuzz target in the repository's `fuzz/` folder. Not a
/// stable API.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::SystemTime;

    /// One accepted parameter read every way a handler reads one: `(name, string, u64, time)`,
    /// each `Err(message)` when that reading is a 400.
    pub type ParamReadings = (
        String,
        Option<String>,
        Result<Option<u64>, String>,
        Result<Option<u64>, String>,
    );

    /// Parses `query` (the text after `?`) as the query API does for an endpoint accepting
    /// `allowed`, then reads every allowed name as a string, a `u64` and a time. `None` when
    /// `/?<query>` is not a valid URI (the HTTP layer rejects those before any handler runs);
    /// `Some(Err((status, message)))` when the API answers an error.
    pub fn query_params(
        query: &str,
        allowed: &[&str],
        now: SystemTime,
    ) -> Option<Result<Vec<ParamReadings>, (u16, String)>> {
        let uri: axum::http::Uri = format!("/?{query}").parse().ok()?;
        let params = match crate::api::Params::parse(&uri, allowed) {
            Ok(params) => params,
            Err(e) => return Some(Err((e.status.as_u16(), e.message))),
        };
        let readings = allowed
            .iter()
            .map(|name| {
                (
                    (*name).to_owned(),
                    params.string(name),
                    params.number::<u64>(name).map_err(|e| e.message),
                    params.time(name, now).map_err(|e| e.message),
                )
            })
            .collect();
        Some(Ok(readings))
    }
}
