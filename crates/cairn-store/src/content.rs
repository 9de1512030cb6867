//! Span content: where a fetched trace's attributes and events come from.
//!
//! The index does not store a span's attributes and events. They were 84% of the `spans`
//! table's bytes on a store of realistic agent spans, and writing them (into the WAL, then again
//! at each checkpoint) was most of the index writer's work; yet the ledger already holds every
//! one of them, verbatim and verifiable. So a span row keeps what queries filter, sort and
//! summarize on (ids, name, kind, times, status, the filter columns, token counts) and its ledger
//! index, and [`crate::Reader::get_trace`] / [`crate::Reader::get_trace_json`] ask a
//! [`ContentSource`] for the records of the spans they return. The collector's source reads them
//! from the ledger and decrypts them as the indexer does, so a trace shows exactly what the
//! ledger holds, and a subject whose key was destroyed reads `[erased]` there without the index
//! being rewritten. Log records keep their `body` and `attributes` in the index.
//!
//! A source that cannot produce a span's record (its ledger segment was archived, or the entry
//! does not decode) says why with [`Content::Unavailable`]; the span is then answered with
//! empty attributes and events and that reason in `content_unavailable`, never dropped.

use std::collections::BTreeMap;

use cairn_model::{Record, Span};

use crate::StoreError;

/// One span's content, as a [`ContentSource`] found it.
#[derive(Debug, Clone, PartialEq)]
// Nearly every value is a `Record`; boxing it would add an allocation per span for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Content {
    /// The record at that ledger index (for a span row, a span).
    Record(Record),
    /// The record cannot be read; the reason is shown to the reader (e.g. `archived`).
    Unavailable(String),
}

/// Reads the records of spans being answered, by ledger index.
pub trait ContentSource {
    /// Calls `visit` once for each of `indices` (ascending and distinct), in any order. An error
    /// fails the whole fetch (the API answers 500); a record that merely cannot be read is
    /// [`Content::Unavailable`].
    fn load(&self, indices: &[u64], visit: &mut dyn FnMut(u64, Content)) -> Result<(), StoreError>;
}

/// Records held in memory, by ledger index: for tests, tools and embedders that apply records
/// to a store without a ledger. An index it does not hold is `Unavailable("not found")`.
impl ContentSource for BTreeMap<u64, Record> {
    fn load(&self, indices: &[u64], visit: &mut dyn FnMut(u64, Content)) -> Result<(), StoreError> {
        for &index in indices {
            visit(
                index,
                self.get(&index).map_or_else(
                    || Content::Unavailable("not found".to_owned()),
                    |record| Content::Record(record.clone()),
                ),
            );
        }
        Ok(())
    }
}

/// `content_unavailable` of a span row whose ledger entry holds another kind of record (the index
/// does not belong to this ledger).
pub(crate) const NOT_A_SPAN: &str = "the ledger entry is not a span";

/// `content_unavailable` of a span whose entry the source never visited.
const NOT_READ: &str = "not read";

/// The spans' contents of one fetch, looked up by ledger index.
pub(crate) struct Contents {
    /// Sorted and distinct.
    indices: Vec<u64>,
    contents: Vec<Content>,
}

impl Contents {
    /// Loads the contents of `indices` (any order, duplicates allowed) from `source`.
    pub(crate) fn load(
        source: &dyn ContentSource,
        mut indices: Vec<u64>,
    ) -> Result<Self, StoreError> {
        indices.sort_unstable();
        indices.dedup();
        let mut slots: Vec<Option<Content>> = vec![None; indices.len()];
        source.load(&indices, &mut |index, content| {
            if let Ok(at) = indices.binary_search(&index) {
                slots[at] = Some(content);
            }
        })?;
        let contents = slots
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| Content::Unavailable(NOT_READ.to_owned())))
            .collect();
        Ok(Self { indices, contents })
    }

    /// The span recorded at `index`, or why it cannot be shown.
    pub(crate) fn span(&self, index: u64) -> Result<&Span, &str> {
        match self
            .indices
            .binary_search(&index)
            .map(|at| &self.contents[at])
        {
            Ok(Content::Record(Record::Span(span))) => Ok(span),
            Ok(Content::Record(_)) => Err(NOT_A_SPAN),
            Ok(Content::Unavailable(why)) => Err(why),
            Err(_) => Err(NOT_READ),
        }
    }
}
