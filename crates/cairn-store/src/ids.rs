//! Trace and span ids stored as SQLite blobs (16 and 8 raw bytes).

use cairn_model::{SpanId, TraceId};

use crate::StoreError;

/// A stored trace id; anything but 16 bytes means a damaged row.
pub(crate) fn trace_id_from_blob(blob: &[u8]) -> Result<TraceId, StoreError> {
    <[u8; 16]>::try_from(blob)
        .map(TraceId)
        .map_err(|_| StoreError::Corrupt(format!("trace id of {} bytes", blob.len())))
}

/// A stored span id; anything but 8 bytes means a damaged row.
pub(crate) fn span_id_from_blob(blob: &[u8]) -> Result<SpanId, StoreError> {
    <[u8; 8]>::try_from(blob)
        .map(SpanId)
        .map_err(|_| StoreError::Corrupt(format!("span id of {} bytes", blob.len())))
}
