//! Erasure: rewriting the index rows of an erased data subject (crypto-shredding, GDPR Art. 17).
//!
//! A span's attributes and events are not in the index: a trace fetch reads them from the
//! ledger, where the destroyed key leaves `[erased]` (see [`crate::ContentSource`]). What the
//! index does hold of a span's content is derived: the full-text entry, `status_message` and the
//! filter columns (`agent`, `tool`, `model`, `conversation`); a log row holds its `body` and
//! `attributes` too. The collector marks each decrypted record with the attribute
//! `cairn.subject_key` = the key id, and a span row keeps it in its `subject_key` column.
//!
//! When a subject's key is destroyed, the caller hands [`crate::Store::erase_rows`] each
//! affected entry twice: as it was indexed (`before`, decrypted with the destroyed key while it
//! is still in memory) and as it reads now (`after`, with `[erased]` in place of the content).
//! In one transaction each row then
//! - is skipped when it is missing or already erased: a span row whose `subject_key` is no
//!   longer set, a log row whose `body` and `attributes` differ from `before`'s. This makes
//!   erasure idempotent;
//! - has its full-text entry deleted (the `search` table is contentless with
//!   `contentless_delete = 1`, so a `DELETE` by rowid removes its tokens) and re-inserted from
//!   `after`;
//! - has `status_message` and the filter columns replaced from `after` (`body` and `attributes`
//!   for logs), and a span row's `subject_key` cleared;
//! - loses its conversation facet when the conversation id itself was erased and no other span of
//!   the trace still names it.
//!
//! Trace summaries (counts, tokens, names) hold no content and are left as they are.
//! [`crate::Store::rows_with_subject_key`] finds span rows through the partial index on
//! `subject_key` and log rows by a scan of their JSON attributes (logs are few, and erasure
//! rare).

use cairn_model::{Record, attributes_to_json};
use rusqlite::{OptionalExtension as _, Transaction, params};

use crate::StoreError;
use crate::extract::{self, SearchText};
use crate::search_file;
use crate::write::{from_sql_int, to_sql_int};

/// The attribute the collector sets to a record's data-key id.
pub const SUBJECT_KEY_ATTRIBUTE: &str = "cairn.subject_key";

/// One index row to rewrite: its ledger index, the record as indexed and as it reads now.
#[derive(Debug, Clone)]
pub struct ErasedRow {
    /// The ledger index (the row's key).
    pub ledger_index: u64,
    /// The record as it was indexed (decrypted).
    pub before: Record,
    /// The record as it reads after erasure.
    pub after: Record,
}

/// What [`crate::Store::erase_rows`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EraseReport {
    /// Rows rewritten.
    pub rewritten: u64,
    /// Rows left alone: missing, or not holding `before`'s content.
    pub skipped: u64,
}

pub(crate) fn rows_with_subject_key(
    tx: &Transaction<'_>,
    key_id: &str,
) -> Result<Vec<u64>, StoreError> {
    let path = format!("$.\"{SUBJECT_KEY_ATTRIBUTE}\"");
    let mut stmt = tx.prepare(
        "SELECT ledger_index FROM spans WHERE subject_key = ?2 \
         UNION ALL SELECT ledger_index FROM logs WHERE json_extract(attributes, ?1) = ?2 \
         ORDER BY 1",
    )?;
    let rows = stmt.query_map(params![path, key_id], |row| row.get::<_, i64>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(from_sql_int(row?));
    }
    Ok(out)
}

/// Removes a row's full-text entry (see [`search_file::DELETE_SEARCH`]).
fn delete_text(tx: &Transaction<'_>, ledger_index: i64) -> Result<(), StoreError> {
    tx.prepare_cached(search_file::DELETE_SEARCH)?
        .execute(params![ledger_index])?;
    Ok(())
}

fn insert_text(
    tx: &Transaction<'_>,
    ledger_index: i64,
    text: &SearchText,
) -> Result<(), StoreError> {
    search_file::insert_text(
        &mut tx.prepare_cached(search_file::INSERT_SEARCH)?,
        ledger_index,
        text,
    )
}

pub(crate) fn erase_rows(
    tx: &Transaction<'_>,
    rows: &[ErasedRow],
) -> Result<EraseReport, StoreError> {
    let mut report = EraseReport::default();
    for row in rows {
        let ledger_index = to_sql_int(row.ledger_index);
        let done = match (&row.before, &row.after) {
            (Record::Span(before), Record::Span(after)) => {
                let stored: Option<(Option<String>, i64)> = tx
                    .query_row(
                        "SELECT subject_key, trace_no FROM spans WHERE ledger_index = ?1",
                        params![ledger_index],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                match stored {
                    Some((Some(_), trace_no)) => {
                        let old = extract::span_facts(before);
                        let new = extract::span_facts(after);
                        delete_text(tx, ledger_index)?;
                        tx.prepare_cached(
                            "UPDATE spans SET subject_key = NULL, status_message = ?2, \
                             agent = ?3, tool = ?4, model = ?5, conversation = ?6 \
                             WHERE ledger_index = ?1",
                        )?
                        .execute(params![
                            ledger_index,
                            after.status.message,
                            new.agent,
                            new.tool,
                            new.model,
                            new.conversation,
                        ])?;
                        insert_text(tx, ledger_index, &new.text)?;
                        if let Some(conv) = old
                            .conversation
                            .filter(|c| Some(c) != new.conversation.as_ref())
                        {
                            let still: i64 = tx.query_row(
                                "SELECT count(*) FROM spans WHERE trace_no = ?1 AND conversation = ?2",
                                params![trace_no, conv],
                                |r| r.get(0),
                            )?;
                            if still == 0 {
                                tx.execute(
                                    "DELETE FROM trace_facets WHERE facet = 5 AND value = ?1 AND trace_no = ?2",
                                    params![conv, trace_no],
                                )?;
                            }
                        }
                        true
                    }
                    _ => false,
                }
            }
            (Record::Log(before), Record::Log(after)) => {
                let stored: Option<(String, String)> = tx
                    .query_row(
                        "SELECT body, attributes FROM logs WHERE ledger_index = ?1",
                        params![ledger_index],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let before_json = (
                    before.body.to_json().to_string(),
                    serde_json::Value::Object(attributes_to_json(&before.attributes)).to_string(),
                );
                if stored.as_ref() == Some(&before_json) {
                    delete_text(tx, ledger_index)?;
                    tx.prepare_cached(
                        "UPDATE logs SET body = ?2, attributes = ?3 WHERE ledger_index = ?1",
                    )?
                    .execute(params![
                        ledger_index,
                        after.body.to_json().to_string(),
                        serde_json::Value::Object(attributes_to_json(&after.attributes))
                            .to_string(),
                    ])?;
                    insert_text(
                        tx,
                        ledger_index,
                        &extract::log_text(&after.body, &after.attributes),
                    )?;
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if done {
            report.rewritten += 1;
        } else {
            report.skipped += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use cairn_model::{AnyValue, KeyValue, LogRecord, Span, SpanId, TraceId};

    use super::*;
    use crate::{Store, TraceQuery};

    fn span(content: &str) -> Span {
        Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([1; 8]),
            name: "tool".to_owned(),
            start_unix_nano: 1,
            end_unix_nano: 2,
            attributes: vec![
                KeyValue::new("gen_ai.tool.name", "search"),
                KeyValue::new("gen_ai.tool.call.arguments", content),
                KeyValue::new("gen_ai.conversation.id", content),
                KeyValue::new(SUBJECT_KEY_ATTRIBUTE, "k1"),
            ],
            ..Span::default()
        }
    }

    fn log(content: &str) -> LogRecord {
        LogRecord {
            trace_id: Some(TraceId([7; 16])),
            body: AnyValue::from(content),
            attributes: vec![KeyValue::new(SUBJECT_KEY_ATTRIBUTE, "k1")],
            ..LogRecord::default()
        }
    }

    fn hits(store: &Store, q: &str) -> usize {
        let reader = store.reader().unwrap();
        reader
            .list_traces(
                None,
                &TraceQuery {
                    q: Some(q.to_owned()),
                    ..TraceQuery::default()
                },
            )
            .unwrap()
            .traces
            .len()
    }

    #[test]
    fn erased_rows_lose_their_plaintext_and_search_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("i.sqlite")).unwrap();
        let before_span = Record::Span(span("zanzibar"));
        let before_log = Record::Log(log("zanzibar"));
        store
            .apply(&[(0, before_span.clone()), (1, before_log.clone())], 2)
            .unwrap();
        assert_eq!(hits(&store, "zanzibar"), 1);
        assert_eq!(store.rows_with_subject_key("k1").unwrap(), vec![0, 1]);
        assert!(store.rows_with_subject_key("k2").unwrap().is_empty());

        let rows = vec![
            ErasedRow {
                ledger_index: 0,
                before: before_span.clone(),
                after: Record::Span(span("[erased]")),
            },
            ErasedRow {
                ledger_index: 1,
                before: before_log,
                after: Record::Log(log("[erased]")),
            },
        ];
        let report = store.erase_rows(&rows).unwrap();
        assert_eq!(
            report,
            EraseReport {
                rewritten: 2,
                skipped: 0
            }
        );
        assert_eq!(hits(&store, "zanzibar"), 0);
        assert_eq!(hits(&store, "erased"), 1);
        let reader = store.reader().unwrap();
        // As the ledger reads once the key is gone.
        let ledger: std::collections::BTreeMap<u64, Record> = rows
            .iter()
            .map(|r| (r.ledger_index, r.after.clone()))
            .collect();
        let trace = reader
            .get_trace(None, &TraceId([7; 16]), &ledger)
            .unwrap()
            .unwrap();
        let json = serde_json::to_string(&trace).unwrap();
        assert!(!json.contains("zanzibar"), "{json}");
        let by_conversation = reader
            .list_traces(
                None,
                &TraceQuery {
                    conversation: Some("zanzibar".to_owned()),
                    ..TraceQuery::default()
                },
            )
            .unwrap();
        assert!(by_conversation.traces.is_empty(), "the facet is gone too");
        // Idempotent: a second pass finds nothing to do.
        let again = store.erase_rows(&rows).unwrap();
        assert_eq!(
            again,
            EraseReport {
                rewritten: 0,
                skipped: 2
            }
        );
        assert_eq!(hits(&store, "erased"), 1);
    }
}
