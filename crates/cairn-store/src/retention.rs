//! Index retention: deleting old rows from the index (never from the ledger).
//!
//! A trace is deleted whole, once its last span ended before the cutoff: its summary, spans, log
//! records, facets and search rows go in one transaction. Log records outside any indexed trace
//! are deleted by their own time. The ledger keeps everything; `cairn reindex` brings deleted
//! rows back (and the next retention pass removes them again).

use rusqlite::{Transaction, params_from_iter};

use crate::StoreError;
use crate::write::to_sql_int;

/// Which projects a retention pass covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSelection<'a> {
    /// Exactly this project.
    Only(&'a str),
    /// Every project except these (the ones with their own retention).
    AllExcept(&'a [String]),
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Trace summaries deleted.
    pub traces: u64,
    /// Spans deleted.
    pub spans: u64,
    /// Log records deleted.
    pub logs: u64,
}

/// SQL condition on a `project` column (with `alias.` prefix) and its parameters.
fn project_condition(selection: ProjectSelection<'_>, column: &str) -> (String, Vec<String>) {
    match selection {
        ProjectSelection::Only(p) => (format!("{column} = ?2"), vec![p.to_owned()]),
        ProjectSelection::AllExcept([]) => ("1".to_owned(), Vec::new()),
        ProjectSelection::AllExcept(list) => {
            let holes: Vec<String> = (0..list.len()).map(|i| format!("?{}", i + 2)).collect();
            (
                format!("{column} NOT IN ({})", holes.join(", ")),
                list.to_vec(),
            )
        }
    }
}

pub(crate) fn delete_before(
    tx: &Transaction<'_>,
    selection: ProjectSelection<'_>,
    cutoff_unix_nano: u64,
) -> Result<RetentionReport, StoreError> {
    let cutoff = rusqlite::types::Value::Integer(to_sql_int(cutoff_unix_nano));
    let (cond, projects) = project_condition(selection, "project");
    let mut args: Vec<rusqlite::types::Value> = vec![cutoff];
    args.extend(projects.into_iter().map(rusqlite::types::Value::Text));
    let run = |sql: &str| -> Result<u64, StoreError> {
        Ok(tx.execute(sql, params_from_iter(args.iter()))? as u64)
    };
    tx.execute_batch("DROP TABLE IF EXISTS temp.doomed")?;
    run(&format!(
        "CREATE TEMP TABLE doomed AS SELECT trace_id, project, trace_no FROM traces \
         WHERE end_ns < ?1 AND {cond}"
    ))?;
    let in_doomed = "(trace_id, project) IN (SELECT trace_id, project FROM temp.doomed)";
    let no_doomed = "trace_no IN (SELECT trace_no FROM temp.doomed)";
    tx.execute(
        &format!(
            "DELETE FROM search WHERE rowid IN (SELECT ledger_index FROM spans WHERE {no_doomed} \
             UNION ALL SELECT ledger_index FROM logs WHERE {in_doomed})"
        ),
        [],
    )?;
    let spans = tx.execute(&format!("DELETE FROM spans WHERE {no_doomed}"), [])? as u64;
    let mut logs = tx.execute(&format!("DELETE FROM logs WHERE {in_doomed}"), [])? as u64;
    tx.execute(&format!("DELETE FROM trace_facets WHERE {no_doomed}"), [])?;
    let traces = tx.execute(&format!("DELETE FROM traces WHERE {in_doomed}"), [])? as u64;
    tx.execute_batch("DROP TABLE temp.doomed")?;
    // Log records outside any indexed trace, by their own time.
    let orphan = format!(
        "time_ns < ?1 AND {cond} AND (trace_id IS NULL OR (trace_id, project) NOT IN \
         (SELECT trace_id, project FROM traces))"
    );
    run(&format!(
        "DELETE FROM search WHERE rowid IN (SELECT ledger_index FROM logs WHERE {orphan})"
    ))?;
    logs += run(&format!("DELETE FROM logs WHERE {orphan}"))?;
    Ok(RetentionReport {
        traces,
        spans,
        logs,
    })
}
