//! Span content read from the ledger when a trace is fetched (see `cairn_store::ContentSource`).
//!
//! The index keeps no span attributes or events; [`LedgerContent`] reads the records of the
//! spans being answered and decrypts them with the keystore exactly as the indexer does
//! (`Privacy::reveal`), so the answer shows what the ledger holds, and a subject whose key was
//! destroyed reads `[erased]`.
//!
//! Reads: the wanted indices (ascending) are grouped into runs whose neighbours are at most
//! [`MAX_GAP`] entries apart, and each run is one `Ledger::read_range_with` (one `pread` per run of
//! neighbouring records, checksums checked), of at most [`MAX_RUN`] entries. A trace written
//! while no other trace was in progress is one run; the spans of traces that interleaved with
//! others cost one read per cluster. Entries in the gaps are read and skipped, not decoded.
//!
//! An entry of an archived segment (`cairn archive`) cannot be read; its span is answered with
//! `content_unavailable: "archived"`. An entry that does not decode gets the decode error as
//! its reason. Any other read failure fails the fetch.

use std::io;

use cairn_ledger::{Ledger, ReadError};
use cairn_privacy::Privacy;
use cairn_store::{Content, ContentSource, StoreError};

/// Largest distance between two wanted entries that one read spans (the entries between are
/// read and skipped: about 1 KB each for agent spans).
const MAX_GAP: u64 = 32;
/// Most entries one read spans, so that a run's buffer stays a few MB.
const MAX_RUN: u64 = 4_096;

/// Reads span content from `ledger`, decrypted with `privacy`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LedgerContent<'a> {
    ledger: &'a Ledger,
    privacy: &'a Privacy,
}

impl<'a> LedgerContent<'a> {
    pub(crate) fn new(ledger: &'a Ledger, privacy: &'a Privacy) -> Self {
        Self { ledger, privacy }
    }

    /// Reads `wanted` (ascending, within one run starting at `wanted[0]`), visiting each one it
    /// reads; returns how many of `wanted` it visited before an error.
    fn read_run(
        &self,
        wanted: &[u64],
        buf: &mut Vec<u8>,
        visit: &mut dyn FnMut(u64, Content),
    ) -> (usize, Result<u64, ReadError>) {
        let start = wanted[0];
        let span = wanted[wanted.len() - 1] - start + 1;
        let mut next = 0;
        let result = self.ledger.read_range_with(
            start,
            usize::try_from(span).unwrap_or(usize::MAX),
            buf,
            |index, bytes| {
                if wanted.get(next) != Some(&index) {
                    return;
                }
                next += 1;
                visit(
                    index,
                    match cairn_model::codec::decode(bytes) {
                        Ok(mut record) => {
                            self.privacy.reveal(&mut record);
                            Content::Record(record)
                        }
                        Err(err) => {
                            Content::Unavailable(format!("the ledger entry does not decode: {err}"))
                        }
                    },
                );
            },
        );
        (next, result)
    }
}

impl ContentSource for LedgerContent<'_> {
    fn load(&self, indices: &[u64], visit: &mut dyn FnMut(u64, Content)) -> Result<(), StoreError> {
        let size = self.ledger.size();
        let mut buf = Vec::new();
        let mut rest = indices;
        while let Some(&start) = rest.first() {
            if start >= size {
                // The index is ahead of this ledger (it belongs to another data directory).
                visit(start, Content::Unavailable("not in the ledger".to_owned()));
                rest = &rest[1..];
                continue;
            }
            let mut len = 1;
            while let Some(&index) = rest.get(len) {
                if index >= size || index - rest[len - 1] > MAX_GAP || index - start >= MAX_RUN {
                    break;
                }
                len += 1;
            }
            let run = &rest[..len];
            rest = &rest[len..];
            let (read, result) = self.read_run(run, &mut buf, visit);
            match result {
                Ok(_) if read == run.len() => {}
                Ok(_) => {
                    return Err(StoreError::Content(format!(
                        "ledger read from {start} ended early"
                    )));
                }
                Err(ReadError::Io(err)) if err.kind() == io::ErrorKind::NotFound => {
                    // Part of the run is in an archived segment: read the rest one by one, so
                    // that only the archived entries go without content.
                    for &index in &run[read..] {
                        match self.read_run(&[index], &mut buf, visit) {
                            (1, Ok(_)) => {}
                            (_, Err(ReadError::Io(err)))
                                if err.kind() == io::ErrorKind::NotFound =>
                            {
                                visit(index, Content::Unavailable("archived".to_owned()));
                            }
                            (_, Err(err)) => return Err(StoreError::Content(err.to_string())),
                            (_, Ok(_)) => {
                                return Err(StoreError::Content(format!(
                                    "ledger entry {index} was not read"
                                )));
                            }
                        }
                    }
                }
                Err(err) => return Err(StoreError::Content(err.to_string())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cairn_ledger::LedgerOptions;
    use cairn_model::{KeyValue, Record, Span, SpanId, TraceId, codec};

    use super::*;

    fn span(n: u64) -> Record {
        Record::Span(Span {
            trace_id: TraceId([1; 16]),
            span_id: SpanId(n.to_be_bytes()),
            name: format!("span {n}"),
            attributes: vec![KeyValue::new("n", i64::try_from(n).unwrap())],
            ..Span::default()
        })
    }

    /// Wanted entries near each other, far apart, at the end and past it: each is visited once,
    /// with its own record, and one past the ledger is unavailable.
    #[test]
    fn reads_each_wanted_entry_once_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        let entries: Vec<Vec<u8>> = (0..300).map(|n| codec::encode(&span(n))).collect();
        ledger.append(&entries).unwrap();
        let privacy = Privacy::disabled();
        let source = LedgerContent::new(&ledger, &privacy);
        let wanted = [0, 1, 5, 37, 38, 100, 250, 299, 300, 1_000];
        let mut seen = Vec::new();
        source
            .load(&wanted, &mut |index, content| seen.push((index, content)))
            .unwrap();
        let indices: Vec<u64> = seen.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, wanted);
        for (index, content) in seen {
            if index < 300 {
                assert_eq!(content, Content::Record(span(index)), "{index}");
            } else {
                assert_eq!(
                    content,
                    Content::Unavailable("not in the ledger".to_owned())
                );
            }
        }
    }

    /// A run that starts in an archived segment and ends in a local one: only the archived
    /// entries go without content.
    #[test]
    fn archived_entries_are_unavailable_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger_dir, archive_dir) = (dir.path().join("ledger"), dir.path().join("archive"));
        let options = || LedgerOptions {
            segment_size: 4_096,
            ..LedgerOptions::default()
        };
        let ledger = Ledger::open(&ledger_dir, options()).unwrap();
        let entries: Vec<Vec<u8>> = (0..200).map(|n| codec::encode(&span(n))).collect();
        for chunk in entries.chunks(10) {
            ledger.append(chunk).unwrap();
        }
        ledger.checkpoint().unwrap();
        ledger.close().unwrap();
        drop(ledger);
        let report = cairn_ledger::archive::archive_segments(&ledger_dir, 100, &archive_dir)
            .expect("archive");
        let ledger = Ledger::open(&ledger_dir, options()).unwrap();
        let privacy = Privacy::disabled();
        let mut seen = Vec::new();
        let wanted: Vec<u64> = (0..200).step_by(7).collect();
        LedgerContent::new(&ledger, &privacy)
            .load(&wanted, &mut |index, content| seen.push((index, content)))
            .unwrap();
        seen.sort_by_key(|(index, _)| *index);
        assert_eq!(seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), wanted);
        let archived = seen
            .iter()
            .filter(|(_, c)| *c == Content::Unavailable("archived".to_owned()))
            .count();
        assert!(archived > 0, "{report:?}");
        for (index, content) in &seen[archived..] {
            assert_eq!(*content, Content::Record(span(*index)), "{index}");
        }
        assert!(
            seen[..archived]
                .iter()
                .all(|(_, c)| *c == Content::Unavailable("archived".to_owned()))
        );
    }

    #[test]
    fn an_entry_that_does_not_decode_is_unavailable_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), LedgerOptions::default()).unwrap();
        ledger
            .append(&[codec::encode(&span(0)), b"\xffnot a record".to_vec()])
            .unwrap();
        let privacy = Privacy::disabled();
        let mut seen = Vec::new();
        LedgerContent::new(&ledger, &privacy)
            .load(&[0, 1], &mut |index, content| seen.push((index, content)))
            .unwrap();
        assert_eq!(seen[0], (0, Content::Record(span(0))));
        assert!(
            matches!(&seen[1], (1, Content::Unavailable(why)) if why.starts_with("the ledger entry does not decode")),
            "{:?}",
            seen[1]
        );
    }
}
