//! A directory of rotating JSONL files written exactly once per ledger index.
//!
//! # Format
//!
//! Files are `<prefix>-<first ledger index, zero-padded to 20 digits>.jsonl`, so name order is
//! ledger order. Each line is one JSON document (see [`crate::document`]) ending in `\n`; lines
//! appear in strictly increasing `cairn.ledger.index`. Files are never renamed or rewritten
//! (only the newest may lose a torn last line on recovery), which is what tailers such as
//! Fluent Bit and Fluentd `in_tail` handle best.
//!
//! # Exactly once
//!
//! - A batch is written with one `write` per file and fsynced ([`RotatingWriter::sync`]) before
//!   the runner moves its cursor.
//! - A failed write rolls the batch back: files created for it are removed and the file it
//!   started in is truncated to its previous length, so a retry cannot duplicate lines.
//! - On start, [`RotatingWriter::recover`] cuts a torn last line and reads the last complete
//!   line's `cairn.ledger.index`: export resumes right after it, even if the cursor is older
//!   (crash between write and cursor save).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::state::{sync_dir, truncate_torn_tail};

/// Rotation limits.
#[derive(Debug, Clone)]
pub(crate) struct Rotation {
    pub(crate) max_bytes: u64,
    pub(crate) max_age: Duration,
    pub(crate) max_files: usize,
}

#[derive(Debug)]
struct Active {
    path: PathBuf,
    file: File,
    len: u64,
    created: SystemTime,
}

/// The newest file is written; older ones are complete.
#[derive(Debug)]
pub(crate) struct RotatingWriter {
    dir: PathBuf,
    prefix: String,
    rotation: Rotation,
    current: Option<Active>,
    dirty: bool,
}

/// Where a batch started, to undo it.
struct Checkpoint {
    path: Option<(PathBuf, u64)>,
    created: Vec<PathBuf>,
}

impl RotatingWriter {
    pub(crate) fn new(dir: PathBuf, prefix: String, rotation: Rotation) -> Self {
        Self {
            dir,
            prefix,
            rotation,
            current: None,
            dirty: false,
        }
    }

    fn file_name(&self, first_index: u64) -> String {
        format!("{}-{first_index:020}.jsonl", self.prefix)
    }

    /// The files of this writer, oldest first, with their first index.
    pub(crate) fn files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut files = Vec::new();
        let lead = format!("{}-", self.prefix);
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(index) = name
                .strip_prefix(&lead)
                .and_then(|rest| rest.strip_suffix(".jsonl"))
                .filter(|digits| digits.len() == 20)
                .and_then(|digits| digits.parse::<u64>().ok())
            else {
                continue;
            };
            files.push((index, entry.path()));
        }
        files.sort_unstable();
        Ok(files)
    }

    /// Cuts a torn tail, opens the newest file for appending and returns the ledger index of
    /// the last complete line in any file (`None` when there is none).
    pub(crate) fn recover(&mut self) -> io::Result<Option<u64>> {
        fs::create_dir_all(&self.dir)?;
        self.current = None;
        let files = self.files()?;
        let mut last = None;
        for (i, (_, path)) in files.iter().enumerate().rev() {
            let mut file = OpenOptions::new().read(true).append(true).open(path)?;
            let is_newest = i + 1 == files.len();
            // Only the newest file can be torn by a crash (a file is fsynced before the next
            // one is created); cutting any torn tail met on the way back is harmless.
            let len = truncate_torn_tail(&mut file)?;
            if last.is_none() && len > 0 {
                let line = last_line(&mut file, len)?;
                last = Some(ledger_index(&line).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: the last line has no cairn.ledger.index; move the file away to continue",
                            path.display()
                        ),
                    )
                })?);
            }
            if is_newest {
                let meta = file.metadata()?;
                self.current = Some(Active {
                    path: path.clone(),
                    created: meta.created().or_else(|_| meta.modified())?,
                    file,
                    len,
                });
            }
            if last.is_some() {
                break;
            }
        }
        Ok(last)
    }

    /// `true` when `next_line` more bytes must go to a new file; `pending` bytes are buffered
    /// for the active file already. A file always takes at least one line.
    fn needs_rotation(&self, active: &Active, pending: usize, next_line: usize) -> bool {
        let age = SystemTime::now()
            .duration_since(active.created)
            .unwrap_or_default();
        let len = active.len.saturating_add(pending as u64);
        len > 0
            && (len.saturating_add(next_line as u64) > self.rotation.max_bytes
                || age >= self.rotation.max_age)
    }

    fn open_new(&mut self, first_index: u64, undo: &mut Checkpoint) -> io::Result<()> {
        let path = self.dir.join(self.file_name(first_index));
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let len = file.metadata()?.len();
        sync_dir(&self.dir)?;
        undo.created.push(path.clone());
        self.current = Some(Active {
            path,
            file,
            len,
            created: SystemTime::now(),
        });
        Ok(())
    }

    /// Appends `(ledger index, line)` pairs (each line ends in `\n`), rotating as needed. On
    /// error nothing of the batch remains.
    pub(crate) fn write_batch(&mut self, lines: &[(u64, Vec<u8>)]) -> io::Result<()> {
        let mut undo = Checkpoint {
            path: self.current.as_ref().map(|a| (a.path.clone(), a.len)),
            created: Vec::new(),
        };
        match self.write_inner(lines, &mut undo) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.rollback(undo);
                Err(e)
            }
        }
    }

    fn write_inner(&mut self, lines: &[(u64, Vec<u8>)], undo: &mut Checkpoint) -> io::Result<()> {
        let mut buffer: Vec<u8> = Vec::new();
        let mut rotated = false;
        for (index, line) in lines {
            let rotate = match &self.current {
                None => true,
                Some(active) => self.needs_rotation(active, buffer.len(), line.len()),
            };
            if rotate {
                if let Some(active) = &mut self.current {
                    active.file.write_all(&buffer)?;
                    active.len += buffer.len() as u64;
                    active.file.sync_data()?;
                    buffer.clear();
                    rotated = true;
                }
                self.open_new(*index, undo)?;
            }
            buffer.extend_from_slice(line);
        }
        if let Some(active) = &mut self.current {
            active.file.write_all(&buffer)?;
            active.len += buffer.len() as u64;
            self.dirty = true;
        }
        if rotated {
            self.enforce_retention()?;
        }
        Ok(())
    }

    fn rollback(&mut self, undo: Checkpoint) {
        self.current = None;
        for path in &undo.created {
            let _ = fs::remove_file(path);
        }
        if let Some((path, len)) = undo.path {
            let reopened = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .and_then(|file| {
                    file.set_len(len)?;
                    let meta = file.metadata()?;
                    Ok(Active {
                        created: meta.created().or_else(|_| meta.modified())?,
                        path,
                        file,
                        len,
                    })
                });
            // If even this fails, the next batch opens a new file; recovery at restart still
            // resumes after the last complete line on disk.
            self.current = reopened.ok();
        }
        let _ = sync_dir(&self.dir);
    }

    fn enforce_retention(&mut self) -> io::Result<()> {
        if self.rotation.max_files == 0 {
            return Ok(());
        }
        let files = self.files()?;
        let excess = files.len().saturating_sub(self.rotation.max_files);
        let current = self.current.as_ref().map(|a| a.path.clone());
        for (_, path) in files.into_iter().take(excess) {
            if Some(&path) != current.as_ref() {
                fs::remove_file(&path)?;
            }
        }
        sync_dir(&self.dir)
    }

    /// Makes every written line durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some(active) = &self.current {
                active.file.sync_data()?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// The directory written to.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The last line of a file of `len` bytes that ends in `\n`, without the newline.
fn last_line(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let end = len.saturating_sub(1); // the final newline
    let mut start = end;
    let mut chunk = 64 * 1024_u64;
    loop {
        let from = start.saturating_sub(chunk);
        let mut buf = vec![0_u8; usize::try_from(start - from).unwrap_or(0)];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut buf)?;
        if let Some(pos) = buf.iter().rposition(|&b| b == b'\n') {
            start = from + pos as u64 + 1;
            break;
        }
        start = from;
        if from == 0 {
            break;
        }
        chunk = chunk.saturating_mul(2);
    }
    let mut line = vec![0_u8; usize::try_from(end - start).unwrap_or(0)];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut line)?;
    file.seek(SeekFrom::End(0))?;
    Ok(line)
}

/// `cairn.ledger.index` of a document line.
pub(crate) fn ledger_index(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Doc {
        cairn: Cairn,
    }
    #[derive(serde::Deserialize)]
    struct Cairn {
        ledger: Ledger,
    }
    #[derive(serde::Deserialize)]
    struct Ledger {
        index: u64,
    }
    serde_json::from_slice::<Doc>(line)
        .ok()
        .map(|d| d.cairn.ledger.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(index: u64, pad: usize) -> (u64, Vec<u8>) {
        let text = format!(
            "{{\"cairn\":{{\"ledger\":{{\"index\":{index}}}}},\"pad\":\"{}\"}}\n",
            "x".repeat(pad)
        );
        (index, text.into_bytes())
    }

    fn writer(dir: &Path, max_bytes: u64, max_files: usize) -> RotatingWriter {
        RotatingWriter::new(
            dir.to_owned(),
            "t".to_owned(),
            Rotation {
                max_bytes,
                max_age: Duration::from_secs(3600),
                max_files,
            },
        )
    }

    fn all_indices(w: &RotatingWriter) -> Vec<u64> {
        let mut out = Vec::new();
        for (first, path) in w.files().expect("list") {
            let text = fs::read_to_string(&path).expect("read");
            let indices: Vec<u64> = text
                .lines()
                .map(|l| ledger_index(l.as_bytes()).expect("index"))
                .collect();
            if let Some(&head) = indices.first() {
                assert_eq!(head, first, "file name gives its first index");
            }
            out.extend(indices);
        }
        out
    }

    #[test]
    fn rotates_by_size_and_recovers_the_last_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = writer(dir.path(), 200, 0);
        assert_eq!(w.recover().expect("recover"), None);
        let lines: Vec<_> = (0..10).map(|i| line(i, 40)).collect();
        w.write_batch(&lines).expect("write");
        w.sync().expect("sync");
        assert!(w.files().expect("list").len() > 2);
        assert_eq!(all_indices(&w), (0..10).collect::<Vec<_>>());
        let mut again = writer(dir.path(), 200, 0);
        assert_eq!(again.recover().expect("recover"), Some(9));
    }

    #[test]
    fn recovery_cuts_a_torn_line_and_skips_an_empty_newest_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = writer(dir.path(), 1 << 20, 0);
        w.recover().expect("recover");
        w.write_batch(&[line(0, 1), line(1, 1)]).expect("write");
        w.sync().expect("sync");
        let path = w.files().expect("list")[0].1.clone();
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"{\"cairn\":{\"ledg").expect("write");
        fs::write(dir.path().join(format!("t-{:020}.jsonl", 2)), b"").expect("empty");
        let mut w = writer(dir.path(), 1 << 20, 0);
        assert_eq!(w.recover().expect("recover"), Some(1));
        assert_eq!(all_indices(&w), vec![0, 1]);
    }

    #[test]
    fn retention_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = writer(dir.path(), 100, 2);
        w.recover().expect("recover");
        let lines: Vec<_> = (0..8).map(|i| line(i, 40)).collect();
        w.write_batch(&lines).expect("write");
        let files = w.files().expect("list");
        assert_eq!(files.len(), 2);
        assert_eq!(all_indices(&w).last(), Some(&7));
    }

    #[test]
    fn last_line_handles_long_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w = writer(dir.path(), 1 << 30, 0);
        w.recover().expect("recover");
        w.write_batch(&[line(0, 10), line(1, 300_000)])
            .expect("write");
        let mut w = writer(dir.path(), 1 << 30, 0);
        assert_eq!(w.recover().expect("recover"), Some(1));
    }
}
