//! Encodes records as `_bulk` NDJSON: one `create` action line and one document line each.
//!
//! ```text
//! {"create":{"_index":"traces-cairn.agent-default","_id":"<16 hex of sha256(origin)>-<index>"}}
//! {"@timestamp":"…","trace":{"id":"…"},…}
//! ```
//!
//! Data streams accept only `create`; with an `_id` derived from the ledger, replaying an entry
//! yields a 409 instead of a duplicate.

use cairn_model::Record;
use serde::Serialize;

use crate::document::{DocumentContext, DocumentIds, data_stream_name, span_document};
use crate::exporter::Item;

#[derive(Serialize)]
struct Action<'a> {
    create: ActionMeta<'a>,
}

#[derive(Serialize)]
struct ActionMeta<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
}

/// Turns items into NDJSON action/document pairs.
#[derive(Debug, Clone)]
pub(crate) struct BulkEncoder {
    data_stream: String,
    namespace: String,
    origin: String,
    ids: DocumentIds,
}

impl BulkEncoder {
    pub(crate) fn new(origin: &str, namespace: &str) -> Self {
        Self {
            data_stream: data_stream_name(namespace),
            namespace: namespace.to_owned(),
            origin: origin.to_owned(),
            ids: DocumentIds::new(origin),
        }
    }

    /// The data stream written to.
    pub(crate) fn data_stream(&self) -> &str {
        &self.data_stream
    }

    /// The two NDJSON lines of one span (with their newlines); `None` for other records.
    pub(crate) fn encode(&self, item: &Item) -> Option<Vec<u8>> {
        let Record::Span(span) = &item.record else {
            return None;
        };
        let id = self.ids.id(item.index);
        let doc = span_document(
            span,
            &DocumentContext {
                origin: &self.origin,
                index: item.index,
                id: &id,
                namespace: &self.namespace,
            },
        );
        let mut out = Vec::with_capacity(512);
        let action = Action {
            create: ActionMeta {
                index: &self.data_stream,
                id: &id,
            },
        };
        // Serializing maps with string keys into a Vec cannot fail.
        serde_json::to_writer(&mut out, &action).ok()?;
        out.push(b'\n');
        serde_json::to_writer(&mut out, &doc).ok()?;
        out.push(b'\n');
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use cairn_model::{LogRecord, Span, SpanId, TraceId};

    use super::*;

    #[test]
    fn encodes_a_create_action_and_a_document() {
        let encoder = BulkEncoder::new("cairn/test", "prod");
        let span = Span {
            trace_id: TraceId([7; 16]),
            span_id: SpanId([8; 8]),
            name: "tool web_search".to_owned(),
            ..Span::default()
        };
        let bytes = encoder
            .encode(&Item {
                index: 5,
                record: Record::Span(span),
            })
            .expect("span encodes");
        let text = String::from_utf8(bytes).expect("utf-8");
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        let action: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(action["create"]["_index"], "traces-cairn.agent-prod");
        assert_eq!(
            action["create"]["_id"],
            crate::document::document_id("cairn/test", 5)
        );
        let doc: serde_json::Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(doc["span"]["name"], "tool web_search");
        let log = Item {
            index: 6,
            record: Record::Log(LogRecord::default()),
        };
        assert!(encoder.encode(&log).is_none());
    }
}
