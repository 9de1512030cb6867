//! Splits a batch into OTLP requests: one `ExportTraceServiceRequest` for its spans and one
//! `ExportLogsServiceRequest` for its log records, re-encoded losslessly by
//! [`cairn_model::otlp::spans_to_request`] / [`cairn_model::otlp::logs_to_request`] (ids,
//! attributes, events, links, resource and scope as received).

use cairn_model::{LogRecord, Record, Span};
use prost::Message as _;

use crate::exporter::Item;

/// The protobuf bodies of one batch and which items each carries.
#[derive(Debug, Default)]
pub(crate) struct Encoded {
    /// `ExportTraceServiceRequest` bytes and the batch positions of its spans.
    pub(crate) traces: Option<(Vec<u8>, Vec<usize>)>,
    /// `ExportLogsServiceRequest` bytes and the batch positions of its log records.
    pub(crate) logs: Option<(Vec<u8>, Vec<usize>)>,
}

/// Encodes the spans (and, when `with_logs`, the log records) of `batch`.
pub(crate) fn encode(batch: &[Item], with_logs: bool) -> Encoded {
    let mut spans: Vec<&Span> = Vec::new();
    let mut span_positions = Vec::new();
    let mut logs: Vec<&LogRecord> = Vec::new();
    let mut log_positions = Vec::new();
    for (position, item) in batch.iter().enumerate() {
        match &item.record {
            Record::Span(span) => {
                spans.push(span);
                span_positions.push(position);
            }
            Record::Log(log) if with_logs => {
                logs.push(log);
                log_positions.push(position);
            }
            _ => {}
        }
    }
    let mut encoded = Encoded::default();
    if !spans.is_empty() {
        let owned: Vec<Span> = spans.into_iter().cloned().collect();
        let request = cairn_model::otlp::spans_to_request(&owned);
        encoded.traces = Some((request.encode_to_vec(), span_positions));
    }
    if !logs.is_empty() {
        let owned: Vec<LogRecord> = logs.into_iter().cloned().collect();
        let request = cairn_model::otlp::logs_to_request(&owned);
        encoded.logs = Some((request.encode_to_vec(), log_positions));
    }
    encoded
}
