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

#[cfg(test)]
mod tests {
    use cairn_model::{AnyValue, KeyValue, Record, Span, SpanId, TraceId};

    use super::*;

    fn span(trace: u8, project: &str, end: u64) -> Record {
        let mut s = Span {
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([trace; 8]),
            name: "invoke_agent a".to_owned(),
            start_unix_nano: end - 1,
            end_unix_nano: end,
            ..Span::default()
        };
        s.resource.attributes.push(KeyValue {
            key: "cairn.project".into(),
            value: AnyValue::String(project.to_owned()),
        });
        Record::Span(s)
    }

    #[test]
    fn per_project_days_override_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("index.sqlite")).unwrap();
        let now = 100 * DAY_NANOS;
        let batch = vec![
            (0, span(1, "keep-long", now - 10 * DAY_NANOS)),
            (1, span(2, "other", now - 10 * DAY_NANOS)),
            (2, span(3, "other", now - DAY_NANOS)),
        ];
        store.apply(&batch, 3).unwrap();
        let config = RetentionConfig {
            index_days: Some(5),
            projects: [("keep-long".to_owned(), 30)].into_iter().collect(),
            ..RetentionConfig::default()
        };
        let report = run_once(&mut store, &config, now).unwrap();
        assert_eq!((report.traces, report.spans), (1, 1));
        let reader = store.reader().unwrap();
        let left: Vec<String> = reader
            .list_traces(None, &cairn_store::TraceQuery::default())
            .unwrap()
            .traces
            .into_iter()
            .map(|t| format!("{}:{}", t.project, t.trace_id))
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().any(|t| t.starts_with("keep-long:")));
        assert!(left.contains(&format!("other:{}", TraceId([3; 16]))));
    }
}
