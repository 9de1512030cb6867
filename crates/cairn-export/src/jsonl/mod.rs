//! The JSONL exporter: rotating files of one JSON document per span, with the same field names
//! as the Elasticsearch documents, for Fluentd / Fluent Bit to tail and ship.
//!
//! - [`config`]: the `kind = "jsonl"` keys;
//! - `writer`: the rotating file set and its exactly-once recovery.
//!
//! Log records are skipped. Every span appears exactly once across rotations and restarts,
//! including after `kill -9` (see `writer`).

pub mod config;
mod writer;

use std::path::PathBuf;

use cairn_model::Record;
pub use config::JsonlConfig;

use crate::SetupError;
use crate::document::{DocumentContext, DocumentIds, span_document};
use crate::exporter::{Exporter, Item, ItemOutcome, SendError, SendReport};

/// Writes spans to rotating JSONL files (see the module docs).
#[derive(Debug)]
pub struct JsonlExporter {
    writer: writer::RotatingWriter,
    origin: String,
    ids: DocumentIds,
    namespace: String,
}

impl JsonlExporter {
    /// Builds the exporter writing into `dir` for the ledger `origin`. Touches no file.
    pub fn new(config: JsonlConfig, dir: PathBuf, origin: &str) -> Result<Self, SetupError> {
        let invalid = |reason: String| SetupError::Invalid {
            name: config.name.clone().unwrap_or_else(|| "jsonl".to_owned()),
            reason,
        };
        if config.file_prefix.is_empty()
            || config.file_prefix.contains(['/', '\\'])
            || config.file_prefix.starts_with('.')
        {
            return Err(invalid(format!(
                "file_prefix {:?} must be a plain, non-hidden file name",
                config.file_prefix
            )));
        }
        if config.max_file_bytes == 0 || config.max_file_age.is_zero() {
            return Err(invalid(
                "max_file_bytes and max_file_age must be positive".to_owned(),
            ));
        }
        Ok(Self {
            writer: writer::RotatingWriter::new(
                dir,
                config.file_prefix.clone(),
                writer::Rotation {
                    max_bytes: config.max_file_bytes,
                    max_age: config.max_file_age,
                    max_files: config.max_files,
                },
            ),
            origin: origin.to_owned(),
            ids: DocumentIds::new(origin),
            namespace: config.namespace,
        })
    }

    fn io_error(&self, what: &str, e: &std::io::Error) -> SendError {
        SendError::transient(format!("{what} in {}: {e}", self.writer.dir().display()))
    }
}

impl Exporter for JsonlExporter {
    fn kind(&self) -> &'static str {
        "jsonl"
    }

    fn resume_from(&mut self, cursor: u64) -> Result<u64, SendError> {
        let last = self
            .writer
            .recover()
            .map_err(|e| self.io_error("recovering the jsonl files", &e))?;
        Ok(last.map_or(cursor, |last| cursor.max(last.saturating_add(1))))
    }

    fn send(&mut self, batch: &[Item]) -> Result<SendReport, SendError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut lines = Vec::with_capacity(batch.len());
        for item in batch {
            let Record::Span(span) = &item.record else {
                outcomes.push(ItemOutcome::Skipped);
                continue;
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
            let mut line = serde_json::to_vec(&doc)
                .map_err(|e| SendError::transient(format!("encoding a document: {e}")))?;
            line.push(b'\n');
            lines.push((item.index, line));
            outcomes.push(ItemOutcome::Delivered);
        }
        self.writer
            .write_batch(&lines)
            .map_err(|e| self.io_error("writing", &e))?;
        Ok(SendReport {
            outcomes,
            retry_after: None,
        })
    }

    fn commit(&mut self) -> Result<(), SendError> {
        self.writer
            .sync()
            .map_err(|e| self.io_error("fsyncing", &e))
    }
}
