//! File names and byte formats of the on-disk layout (format version 1); see the crate docs for
//! the diagram. Everything here is pure encoding and scanning, shared by the ledger and `verify`.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The on-disk format version written to `ledger.json` and every segment header.
pub const FORMAT_VERSION: u32 = 1;

pub(crate) const META_FILE: &str = "ledger.json";
pub(crate) const SIGNING_KEY_FILE: &str = "signing.key";
pub(crate) const VERIFIER_KEY_FILE: &str = "verifier.key";
pub(crate) const CHECKPOINTS_FILE: &str = "checkpoints.log";
pub(crate) const COSIGNED_FILE: &str = "cosigned.checkpoint";
pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const SEGMENTS_DIR: &str = "segments";
pub(crate) const TREE_DIR: &str = "tree";
pub(crate) const OFFSETS_FILE: &str = "offsets.idx";

/// Largest entry the ledger accepts (16 MiB).
pub const MAX_ENTRY_LEN: usize = 16 << 20;

/// `ledger.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Meta {
    pub(crate) format_version: u32,
    pub(crate) origin: String,
}

/// `tree/level-<L>.hash`: node hashes at height `8 * L`, 32 bytes each, in index order.
pub(crate) fn level_file(tree_dir: &Path, level: usize) -> PathBuf {
    tree_dir.join(format!("level-{level}.hash"))
}

// ---------------------------------------------------------------------------------------------
// Segments

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"CAIRNSEG";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 32;
pub(crate) const RECORD_HEADER_LEN: u64 = 8;

/// `segments/<first index, 20 digits>.seg`.
pub(crate) fn segment_file_name(first: u64) -> String {
    format!("{first:020}.seg")
}

/// Parses a segment file name back into its first index.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The segment files of a ledger, sorted by first index. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push((first, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Encodes a segment header.
pub(crate) fn segment_header(first: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first.to_le_bytes());
    let crc = crc32c::crc32c(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a segment header into its first index.
pub(crate) fn parse_segment_header(h: &[u8]) -> Result<u64, &'static str> {
    if h.len() < SEGMENT_HEADER_LEN as usize {
        return Err("segment header is truncated");
    }
    if &h[..8] != SEGMENT_MAGIC {
        return Err("bad segment magic");
    }
    if crc32c::crc32c(&h[..24]) != u32_at(h, 24) {
        return Err("segment header checksum mismatch");
    }
    if u32_at(h, 8) != FORMAT_VERSION {
        return Err("unsupported segment format version");
    }
    Ok(u64_at(h, 16))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// CRC32C of a record: over the little-endian length, then the entry.
pub(crate) fn record_crc(entry: &[u8]) -> u32 {
    let len = (entry.len() as u32).to_le_bytes();
    crc32c::crc32c_append(crc32c::crc32c(&len), entry)
}

/// Appends one framed record (`len u32 LE | crc32c u32 LE | entry`) to `buf`.
/// The caller has checked `entry.len() <= MAX_ENTRY_LEN`.
pub(crate) fn frame_record(buf: &mut Vec<u8>, entry: &[u8]) {
    buf.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record_crc(entry).to_le_bytes());
    buf.extend_from_slice(entry);
}

/// Parses a record header into `(len, crc)`.
pub(crate) fn parse_record_header(h: &[u8; RECORD_HEADER_LEN as usize]) -> (u32, u32) {
    (u32_at(h, 0), u32_at(h, 4))
}

/// One step of a segment scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A record; its entry is in the caller's buffer.
    Record {
        /// Offset of the record header in the segment file.
        offset: u64,
        /// Whether its checksum matched.
        crc_ok: bool,
    },
    /// Clean end of the segment.
    End,
    /// The framing is broken at `offset` (torn write or corruption); nothing after it is usable.
    Broken {
        /// Offset of the first unusable byte.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Reads records sequentially from a segment file through a large buffer.
#[derive(Debug)]
pub(crate) struct SegmentScanner {
    reader: io::BufReader<File>,
    offset: u64,
    len: u64,
}

impl SegmentScanner {
    /// Starts scanning `file` (of length `len`) at `offset`.
    pub(crate) fn new(file: File, len: u64, offset: u64) -> io::Result<Self> {
        use std::io::Seek;
        let mut file = file;
        file.seek(io::SeekFrom::Start(offset))?;
        Ok(Self {
            reader: io::BufReader::with_capacity(1 << 20, file),
            offset,
            len,
        })
    }

    /// Reads the next record into `entry`. A checksum mismatch is reported but does not stop
    /// the scan (the framing is still intact); a length that does not fit the file does.
    pub(crate) fn next(&mut self, entry: &mut Vec<u8>) -> io::Result<Scan> {
        let offset = self.offset;
        if offset == self.len {
            return Ok(Scan::End);
        }
        if offset + RECORD_HEADER_LEN > self.len {
            return Ok(Scan::Broken {
                offset,
                reason: "truncated record header",
            });
        }
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        self.reader.read_exact(&mut header)?;
        let (len, crc) = parse_record_header(&header);
        if len as usize > MAX_ENTRY_LEN {
            return Ok(Scan::Broken {
                offset,
                reason: "record length exceeds the maximum entry size",
            });
        }
        if offset + RECORD_HEADER_LEN + u64::from(len) > self.len {
            return Ok(Scan::Broken {
                offset,
                reason: "record extends past the end of the segment",
            });
        }
        entry.clear();
        entry.resize(len as usize, 0);
        self.reader.read_exact(entry)?;
        self.offset = offset + RECORD_HEADER_LEN + u64::from(len);
        Ok(Scan::Record {
            offset,
            crc_ok: record_crc(entry) == crc,
        })
    }
}

/// Reads and checks one record at `offset`: the entry, or why it is unusable.
pub(crate) fn read_record_at(file: &File, offset: u64) -> io::Result<Result<Vec<u8>, String>> {
    let mut header = [0u8; RECORD_HEADER_LEN as usize];
    if let Err(e) = file.read_exact_at(&mut header, offset) {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Err(format!("no record header at offset {offset}")))
        } else {
            Err(e)
        };
    }
    let (len, crc) = parse_record_header(&header);
    if len as usize > MAX_ENTRY_LEN {
        return Ok(Err(format!(
            "record length {len} at offset {offset} is too large"
        )));
    }
    let mut entry = vec![0u8; len as usize];
    if let Err(e) = file.read_exact_at(&mut entry, offset + RECORD_HEADER_LEN) {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Err(format!("record at offset {offset} is truncated")))
        } else {
            Err(e)
        };
    }
    if record_crc(&entry) != crc {
        return Ok(Err(format!("record at offset {offset} fails its checksum")));
    }
    Ok(Ok(entry))
}

// ---------------------------------------------------------------------------------------------
// Checkpoint log

const CKPT_MAGIC: &[u8; 4] = b"CKPT";
const CKPT_TRAILER_MAGIC: &[u8; 4] = b"TPKC";
const CKPT_HEADER_LEN: usize = 20;
const CKPT_TRAILER_LEN: usize = 8;
/// Upper bound on a stored note, far above any real checkpoint.
const CKPT_MAX_NOTE: usize = 1 << 20;

/// One record of `checkpoints.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointRecord {
    /// Offset of the record in the file.
    pub(crate) offset: u64,
    /// Unix seconds when it was signed.
    pub(crate) signed_at: u64,
    /// The signed note.
    pub(crate) note: String,
}

/// Encodes a checkpoint log record.
pub(crate) fn encode_checkpoint_record(signed_at: u64, note: &str) -> Vec<u8> {
    let n = note.len() as u32;
    let mut out = Vec::with_capacity(CKPT_HEADER_LEN + note.len() + CKPT_TRAILER_LEN);
    out.extend_from_slice(CKPT_MAGIC);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&signed_at.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[4..16]), note.as_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(note.as_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(CKPT_TRAILER_MAGIC);
    out
}

/// Decodes the record starting at `buf[0]`; returns it and its encoded length.
fn decode_checkpoint_record(buf: &[u8], offset: u64) -> Option<(CheckpointRecord, usize)> {
    if buf.len() < CKPT_HEADER_LEN || &buf[..4] != CKPT_MAGIC {
        return None;
    }
    let n = u32_at(buf, 4) as usize;
    if n > CKPT_MAX_NOTE {
        return None;
    }
    let total = CKPT_HEADER_LEN + n + CKPT_TRAILER_LEN;
    if buf.len() < total {
        return None;
    }
    let signed_at = u64_at(buf, 8);
    let note = &buf[CKPT_HEADER_LEN..CKPT_HEADER_LEN + n];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[4..16]), note);
    let trailer = &buf[CKPT_HEADER_LEN + n..total];
    if crc != u32_at(buf, 16)
        || u32_at(trailer, 0) as usize != n
        || &trailer[4..] != CKPT_TRAILER_MAGIC
    {
        return None;
    }
    let note = String::from_utf8(note.to_vec()).ok()?;
    Some((
        CheckpointRecord {
            offset,
            signed_at,
            note,
        },
        total,
    ))
}

/// All records of a checkpoint log, and the offset where the valid prefix ends (less than the
/// file length if the tail is torn or damaged).
pub(crate) fn read_checkpoint_log(file: &File) -> io::Result<(Vec<CheckpointRecord>, u64)> {
    let mut buf = Vec::new();
    let mut reader = io::BufReader::new(file.try_clone()?);
    {
        use std::io::Seek;
        reader.seek(io::SeekFrom::Start(0))?;
    }
    reader.read_to_end(&mut buf)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some((rec, len)) = decode_checkpoint_record(&buf[at..], at as u64) {
        records.push(rec);
        at += len;
    }
    Ok((records, at as u64))
}

/// The last record of a checkpoint log, found from the end without reading the whole file, and
/// the length of the valid prefix. Falls back to a full scan when the tail is torn.
pub(crate) fn last_checkpoint_record(file: &File) -> io::Result<(Option<CheckpointRecord>, u64)> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((None, 0));
    }
    if len >= (CKPT_HEADER_LEN + CKPT_TRAILER_LEN) as u64 {
        let mut trailer = [0u8; CKPT_TRAILER_LEN];
        file.read_exact_at(&mut trailer, len - CKPT_TRAILER_LEN as u64)?;
        let n = u32_at(&trailer, 0) as usize;
        let total = (CKPT_HEADER_LEN + n + CKPT_TRAILER_LEN) as u64;
        if &trailer[4..] == CKPT_TRAILER_MAGIC && n <= CKPT_MAX_NOTE && total <= len {
            let start = len - total;
            let mut buf = vec![0u8; total as usize];
            file.read_exact_at(&mut buf, start)?;
            if let Some((rec, _)) = decode_checkpoint_record(&buf, start) {
                return Ok((Some(rec), len));
            }
        }
    }
    let (mut records, valid) = read_checkpoint_log(file)?;
    Ok((records.pop(), valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn segment_names_and_headers_round_trip() {
        assert_eq!(segment_file_name(42), "00000000000000000042.seg");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.seg"),
            Some(42)
        );
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.seg"), None);
        let h = segment_header(1234);
        assert_eq!(parse_segment_header(&h), Ok(1234));
        let mut bad = h;
        bad[17] ^= 1;
        assert!(parse_segment_header(&bad).is_err());
    }

    #[test]
    fn records_frame_and_scan_with_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut buf = segment_header(0).to_vec();
        frame_record(&mut buf, b"first");
        frame_record(&mut buf, b"second");
        let second_at = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 5;
        std::fs::write(&path, &buf).unwrap();
        let len = buf.len() as u64;
        let mut s =
            SegmentScanner::new(File::open(&path).unwrap(), len, SEGMENT_HEADER_LEN).unwrap();
        let mut e = Vec::new();
        assert_eq!(
            s.next(&mut e).unwrap(),
            Scan::Record {
                offset: SEGMENT_HEADER_LEN,
                crc_ok: true
            }
        );
        assert_eq!(e, b"first");
        assert_eq!(
            s.next(&mut e).unwrap(),
            Scan::Record {
                offset: second_at,
                crc_ok: true
            }
        );
        assert_eq!(s.next(&mut e).unwrap(), Scan::End);

        // A flipped payload bit keeps the framing; a cut record breaks it.
        let last = buf.len() - 1;
        buf[last] ^= 1;
        std::fs::write(&path, &buf[..buf.len() - 1]).unwrap();
        let mut s =
            SegmentScanner::new(File::open(&path).unwrap(), len - 1, SEGMENT_HEADER_LEN).unwrap();
        assert!(matches!(
            s.next(&mut e).unwrap(),
            Scan::Record { crc_ok: true, .. }
        ));
        assert_eq!(
            s.next(&mut e).unwrap(),
            Scan::Broken {
                offset: second_at,
                reason: "record extends past the end of the segment"
            }
        );
        std::fs::write(&path, &buf).unwrap();
        let f = File::open(&path).unwrap();
        assert!(read_record_at(&f, second_at).unwrap().is_err());
        assert_eq!(
            read_record_at(&f, SEGMENT_HEADER_LEN).unwrap().unwrap(),
            b"first"
        );
    }

    #[test]
    fn checkpoint_log_finds_last_record_and_survives_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let mut f = File::create(&path).unwrap();
        for i in 0..3u64 {
            f.write_all(&encode_checkpoint_record(i, &format!("note {i}\n")))
                .unwrap();
        }
        let full = f.metadata().unwrap().len();
        let f = File::open(&path).unwrap();
        let (last, valid) = last_checkpoint_record(&f).unwrap();
        assert_eq!(last.unwrap().note, "note 2\n");
        assert_eq!(valid, full);

        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 3).unwrap();
        let f = File::open(&path).unwrap();
        let (last, valid) = last_checkpoint_record(&f).unwrap();
        let last = last.unwrap();
        assert_eq!(last.note, "note 1\n");
        assert_eq!(last.signed_at, 1);
        assert!(valid < full - 3);
        let (all, _) = read_checkpoint_log(&f).unwrap();
        assert_eq!(all.len(), 2);
    }
}
