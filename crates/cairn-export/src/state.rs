//! An exporter's persisted state: its cursor and its dead-letter file.
//!
//! # Layout
//!
//! ```text
//! <state dir>/                      = <data_dir>/exporters/<exporter name>/
//!   cursor.json                     {"origin": "<ledger origin>", "next_index": N}
//!   dead-letter.jsonl               one JSON object per permanently rejected record
//! ```
//!
//! `cursor.json` is replaced atomically: written to `cursor.json.tmp`, fsynced, renamed over the
//! old file, and the directory fsynced. It names the ledger origin so that pointing an exporter
//! at a different ledger is an error instead of a silent gap or replay.
//!
//! # Dead-letter records
//!
//! ```json
//! {"exporter":"es","kind":"elasticsearch","ledger_origin":"cairn/…","ledger_index":42,
//!  "reason":"mapper_parsing_exception: …","rejected_at":"2025-01-01T00:00:00.000000000Z",
//!  "record":{…the span as `cairn inspect --json` shows it…},"entry":"<base64 ledger bytes>"}
//! ```
//!
//! `entry` holds the exact ledger bytes, so a record can be re-sent after the destination is
//! fixed; `record` is absent when the entry could not be decoded. Lines are appended and fsynced
//! before the cursor moves past them. On open, a torn last line (from a crash mid-write) is cut,
//! and the indices already present at or after the cursor are remembered, so a replay after a
//! crash does not write the same record twice: the file holds every rejected record exactly once.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Why an exporter's state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A state file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `cursor.json` is not valid.
    #[error("{path}: invalid cursor file: {reason}")]
    Corrupt {
        /// The cursor file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The cursor belongs to another ledger.
    #[error(
        "{path} belongs to ledger {stored:?}, not {current:?}; remove it to export this ledger from the start"
    )]
    OriginMismatch {
        /// The cursor file.
        path: PathBuf,
        /// Origin in the cursor file.
        stored: String,
        /// Origin of the ledger being exported.
        current: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorFile {
    origin: String,
    next_index: u64,
}

/// The persisted "next ledger index to export".
#[derive(Debug)]
pub(crate) struct Cursor {
    path: PathBuf,
    origin: String,
    next_index: u64,
}

impl Cursor {
    /// Loads `<dir>/cursor.json`, or starts at 0 when there is none.
    pub(crate) fn load(dir: &Path, origin: &str) -> Result<Self, StateError> {
        let path = dir.join("cursor.json");
        let next_index = match fs::read(&path) {
            Ok(bytes) => {
                let file: CursorFile =
                    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if file.origin != origin {
                    return Err(StateError::OriginMismatch {
                        path,
                        stored: file.origin,
                        current: origin.to_owned(),
                    });
                }
                file.next_index
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(Self {
            path,
            origin: origin.to_owned(),
            next_index,
        })
    }

    pub(crate) fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Durably replaces the cursor (temp file, fsync, rename, directory fsync).
    pub(crate) fn save(&mut self, next_index: u64) -> Result<(), StateError> {
        let body = serde_json::to_vec(&CursorFile {
            origin: self.origin.clone(),
            next_index,
        })
        .map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.path, &body).map_err(io_err(&self.path))?;
        self.next_index = next_index;
        Ok(())
    }
}

/// Replaces `path` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Cuts everything after the last newline of `file` (a line torn by a crash); returns the new
/// length.
pub(crate) fn truncate_torn_tail(file: &mut File) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0_u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..usize::try_from(end - start).unwrap_or(0)];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(pos) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + pos as u64 + 1;
            break;
        }
        end = start;
    }
    if end != len {
        file.set_len(end)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::End(0))?;
    Ok(end)
}

#[derive(Debug, Serialize)]
struct DeadLetterLine<'a> {
    exporter: &'a str,
    kind: &'a str,
    ledger_origin: &'a str,
    ledger_index: u64,
    reason: &'a str,
    rejected_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<serde_json::Value>,
    entry: String,
}

#[derive(Debug, Deserialize)]
struct DeadLetterIndex {
    ledger_index: u64,
}

/// The append-only dead-letter file (see the module docs).
#[derive(Debug)]
pub(crate) struct DeadLetters {
    path: PathBuf,
    file: File,
    /// Indices at or after the cursor already in the file: skipped on replay.
    present: HashSet<u64>,
    dirty: bool,
}

/// One record to dead-letter.
pub(crate) struct DeadLetter<'a> {
    pub(crate) exporter: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) origin: &'a str,
    pub(crate) index: u64,
    pub(crate) reason: &'a str,
    pub(crate) record: Option<serde_json::Value>,
    pub(crate) entry: &'a [u8],
}

impl DeadLetters {
    /// Opens (creating) `<dir>/dead-letter.jsonl`, cuts a torn tail and remembers the indices
    /// `>= cursor` it already holds.
    pub(crate) fn open(dir: &Path, cursor: u64) -> Result<Self, StateError> {
        let path = dir.join("dead-letter.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        truncate_torn_tail(&mut file).map_err(io_err(&path))?;
        let mut present = HashSet::new();
        let reader = BufReader::new(File::open(&path).map_err(io_err(&path))?);
        for line in reader.lines() {
            let line = line.map_err(io_err(&path))?;
            // A line that is not ours (edited by hand) is ignored rather than fatal: it can only
            // cause a duplicate dead letter, never a lost one.
            if let Ok(DeadLetterIndex { ledger_index }) = serde_json::from_str(&line) {
                if ledger_index >= cursor {
                    present.insert(ledger_index);
                }
            }
        }
        Ok(Self {
            path,
            file,
            present,
            dirty: false,
        })
    }

    /// Appends one record unless the file already holds its index; returns whether it wrote.
    pub(crate) fn write(&mut self, letter: &DeadLetter<'_>) -> Result<bool, StateError> {
        if self.present.contains(&letter.index) {
            return Ok(false);
        }
        let line = DeadLetterLine {
            exporter: letter.exporter,
            kind: letter.kind,
            ledger_origin: letter.origin,
            ledger_index: letter.index,
            reason: letter.reason,
            rejected_at: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            record: letter.record.clone(),
            entry: base64::engine::general_purpose::STANDARD.encode(letter.entry),
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(io_err(&self.path))?;
        self.present.insert(letter.index);
        self.dirty = true;
        Ok(true)
    }

    /// Makes written lines durable.
    pub(crate) fn sync(&mut self) -> Result<(), StateError> {
        if self.dirty {
            self.file.sync_data().map_err(io_err(&self.path))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Forgets indices below the new cursor (they can no longer be replayed).
    pub(crate) fn forget_below(&mut self, cursor: u64) {
        if !self.present.is_empty() {
            self.present.retain(|&i| i >= cursor);
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_another_origin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cursor = Cursor::load(dir.path(), "cairn/a").expect("load");
        assert_eq!(cursor.next_index(), 0);
        cursor.save(42).expect("save");
        assert_eq!(
            Cursor::load(dir.path(), "cairn/a")
                .expect("reload")
                .next_index(),
            42
        );
        assert!(matches!(
            Cursor::load(dir.path(), "cairn/b"),
            Err(StateError::OriginMismatch { .. })
        ));
        fs::write(dir.path().join("cursor.json"), b"{not json").expect("write");
        assert!(matches!(
            Cursor::load(dir.path(), "cairn/a"),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn torn_tail_is_cut_at_the_last_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        fs::write(&path, b"one\ntwo\nthr").expect("write");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        assert_eq!(truncate_torn_tail(&mut file).expect("truncate"), 8);
        assert_eq!(fs::read(&path).expect("read"), b"one\ntwo\n");
        fs::write(&path, b"no newline at all").expect("write");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        assert_eq!(truncate_torn_tail(&mut file).expect("truncate"), 0);
    }

    #[test]
    fn dead_letters_are_written_once_per_index_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let letter = |index| DeadLetter {
            exporter: "es",
            kind: "elasticsearch",
            origin: "cairn/a",
            index,
            reason: "mapper_parsing_exception",
            record: None,
            entry: b"\x01\x01",
        };
        let mut dl = DeadLetters::open(dir.path(), 0).expect("open");
        assert!(dl.write(&letter(3)).expect("write"));
        assert!(!dl.write(&letter(3)).expect("write"));
        dl.sync().expect("sync");
        drop(dl);
        // A torn line from a crash mid-write is cut.
        let path = dir.path().join("dead-letter.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"ledger_index\":9").expect("write");
        drop(f);
        let mut dl = DeadLetters::open(dir.path(), 2).expect("reopen");
        assert!(!dl.write(&letter(3)).expect("write"));
        assert!(dl.write(&letter(4)).expect("write"));
        dl.sync().expect("sync");
        let text = fs::read_to_string(&path).expect("read");
        let indices: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<DeadLetterIndex>(l)
                    .expect("valid line")
                    .ledger_index
            })
            .collect();
        assert_eq!(indices, vec![3, 4]);
    }
}
