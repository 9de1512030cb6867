//! Index retention: a periodic pass deletes index rows older than `[retention] index_days`
//! (per-project overrides in `[retention.projects]`). Only the index shrinks; the ledger keeps
//! every entry, so proofs and `cairn verify` are unaffected and `cairn reindex` restores the rows.
//!
//! The pass opens its own writer connection (SQLite serializes it with the indexer's through the
//! WAL write lock and a busy timeout), runs once at start and then every `check_interval`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_store::{ProjectSelection, RetentionReport, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::RetentionConfig;

const DAY_NANOS: u64 = 86_400 * 1_000_000_000;

/// One retention pass at `now_unix_nano`: each overridden project with its own cutoff, then every
/// other project with `index_days` (if set).
pub(crate) fn run_once(
    store: &mut Store,
    config: &RetentionConfig,
    now_unix_nano: u64,
) -> Result<RetentionReport, cairn_store::StoreError> {
    let cutoff = |days: u32| now_unix_nano.saturating_sub(u64::from(days) * DAY_NANOS);
    let mut total = RetentionReport::default();
    let mut add = |r: RetentionReport| {
        total.traces += r.traces;
        total.spans += r.spans;
        total.logs += r.logs;
    };
    for (project, days) in &config.projects {
        add(store.delete_before(ProjectSelection::Only(project), cutoff(*days))?);
    }
    if let Some(days) = config.index_days {
        let overridden: Vec<String> = config.projects.keys().cloned().collect();
        add(store.delete_before(ProjectSelection::AllExcept(&overridden), cutoff(days))?);
    }
    Ok(total)
}

/// Runs [`run_once`] now and every `check_interval` until shutdown.
pub(crate) fn spawn(
    index_path: PathBuf,
    config: RetentionConfig,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        loop {
            let path = index_path.clone();
            let cfg = config.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let mut store = Store::open(&path)?;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
                run_once(&mut store, &cfg, now)
            })
            .await;
            match outcome {
                Ok(Ok(r)) if r.traces + r.logs > 0 => tracing::info!(
                    traces = r.traces,
                    spans = r.spans,
                    logs = r.logs,
                    "index retention deleted old rows (the ledger keeps them)"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "index retention pass failed"),
                Err(err) => tracing::error!(error = %err, "index retention task failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(config.check_interval.max(Duration::from_secs(1))) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
        }
    })
}
