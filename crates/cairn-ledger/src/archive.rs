//! Segment archival: sealed segments at the start of the log are compressed (gzip) into another
//! directory and removed locally, while the stored tree hashes stay, so every checkpoint, proof
//! and `verify` of what remains still works.
//!
//! ```text
//! <ledger dir>/archive.json   {"format_version": 1, "segments": [ArchivedSegment, …]}
//! <archive dir>/<20-digit first index>.seg.gz   the segment file, byte for byte, gzipped
//! ```
//!
//! Invariants:
//! * Only a prefix of the log is archived, one whole sealed segment at a time, and only
//!   segments that end strictly below the latest signed checkpoint — so reopening the ledger
//!   never needs an archived entry (recovery starts after the checkpoint's last entry).
//! * Order of a step: write the `.gz` (fsync file and directory), read it back and check that it
//!   decompresses to bytes with the segment's SHA-256, record it in `archive.json` (atomic
//!   replace), and only then delete the local segment (directory fsynced). A crash leaves either
//!   the local segment, or both it and its archive, never neither.
//! * The ledger must be closed (its lock is taken).
//!
//! Archived entries cannot be read, proven by inclusion from their bytes, or re-indexed; their
//! leaf hashes (`tree/level-0.hash`) remain and are authenticated by the signed checkpoints,
//! which `verify` recomputes. Copying a `.seg.gz` back (decompressed) into `segments/` and
//! removing its manifest entry restores it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};

use crate::checkpoint::parse_decimal;
use crate::fsutil;
use crate::layout;

/// The manifest file in the ledger directory.
pub const ARCHIVE_FILE: &str = "archive.json";

/// One archived segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchivedSegment {
    /// Index of its first entry.
    pub first: u64,
    /// One past its last entry.
    pub end: u64,
    /// Where the compressed file was written (as given to [`archive_segments`]).
    pub location: PathBuf,
    /// File name in that directory.
    pub file: String,
    /// SHA-256 (hex) of the uncompressed segment file.
    pub sha256: String,
    /// Size of the uncompressed segment file.
    pub bytes: u64,
    /// Size of the compressed file.
    pub compressed_bytes: u64,
    /// When it was archived, unix seconds.
    pub archived_at: u64,
}

/// `archive.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveManifest {
    /// Format version (1).
    pub format_version: u32,
    /// Archived segments, in log order, contiguous from entry 0.
    pub segments: Vec<ArchivedSegment>,
}

impl ArchiveManifest {
    /// One past the last archived entry (0 if nothing is archived).
    pub fn end(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.end)
    }
}

/// Why archiving failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The ledger is open in another process.
    #[error("the ledger is open (stop cairn serve before archiving)")]
    Busy,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The ledger or manifest is not in a state archival can work with.
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads `archive.json` (an empty manifest if there is none).
pub fn read_manifest(dir: &Path) -> io::Result<ArchiveManifest> {
    match fs::read(dir.join(ARCHIVE_FILE)) {
        Ok(bytes) => {
            let m: ArchiveManifest = serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut next = 0;
            for s in &m.segments {
                if s.first != next || s.end <= s.first {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{ARCHIVE_FILE}: archived segments are not contiguous from entry 0 \
                             (segment {}..{} after {next})",
                            s.first, s.end
                        ),
                    ));
                }
                next = s.end;
            }
            Ok(m)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ArchiveManifest::default()),
        Err(e) => Err(e),
    }
}

/// What [`archive_segments`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveReport {
    /// Segments archived by this call.
    pub archived: Vec<ArchivedSegment>,
    /// One past the last archived entry, after this call.
    pub archived_end: u64,
    /// Size of the latest signed checkpoint (archival stays below it).
    pub checkpoint_size: u64,
}

fn sha256_file(path: &Path) -> Result<(String, u64), ArchiveError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h).map_err(io_err(path))?;
    Ok((hex::encode(h.finalize()), n))
}

/// Archives every sealed segment whose entries all lie below `before_index` (and strictly
/// below the latest signed checkpoint) into `to`, then removes them from the ledger. The
/// ledger in `dir` must be closed.
pub fn archive_segments(
    dir: &Path,
    before_index: u64,
    to: &Path,
) -> Result<ArchiveReport, ArchiveError> {
    if !dir.join(layout::META_FILE).is_file() {
        return Err(ArchiveError::Invalid(format!(
            "{} is not a ledger directory (no ledger.json)",
            dir.display()
        )));
    }
    let _lock = fsutil::lock_dir(dir)
        .map_err(io_err(dir))?
        .ok_or(ArchiveError::Busy)?;
    let mut manifest = read_manifest(dir).map_err(io_err(&dir.join(ARCHIVE_FILE)))?;
    manifest.format_version = 1;

    let ckpt_path = dir.join(layout::CHECKPOINTS_FILE);
    let ckpt = File::open(&ckpt_path).map_err(io_err(&ckpt_path))?;
    let (last, _) = layout::last_checkpoint_record(&ckpt).map_err(io_err(&ckpt_path))?;
    let checkpoint_size = last
        .as_ref()
        .and_then(|r| r.note.split('\n').nth(1).and_then(parse_decimal))
        .unwrap_or(0);

    let segments_dir = dir.join(layout::SEGMENTS_DIR);
    let segments = layout::list_segments(&segments_dir).map_err(io_err(&segments_dir))?;
    if let Some((first, _)) = segments.first() {
        if *first != manifest.end() {
            return Err(ArchiveError::Invalid(format!(
                "the first local segment starts at entry {first} but {} entries are archived",
                manifest.end()
            )));
        }
    }
    fs::create_dir_all(to).map_err(io_err(to))?;
    let mut archived = Vec::new();
    // Never the last (active) segment; each one's end is the next one's first entry.
    for pair in segments.windows(2) {
        let ((first, path), (end, _)) = (&pair[0], &pair[1]);
        if *end > before_index || *end >= checkpoint_size {
            break;
        }
        let (sha256, bytes) = sha256_file(path)?;
        let name = format!("{}.gz", layout::segment_file_name(*first));
        let target = to.join(&name);
        let tmp = to.join(format!("{name}.tmp"));
        {
            let mut src = File::open(path).map_err(io_err(path))?;
            let out = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut enc = GzEncoder::new(out, Compression::default());
            io::copy(&mut src, &mut enc).map_err(io_err(&tmp))?;
            let mut out = enc.finish().map_err(io_err(&tmp))?;
            out.flush().map_err(io_err(&tmp))?;
            out.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &target).map_err(io_err(&target))?;
        fsutil::sync_dir(to).map_err(io_err(to))?;
        // Read the archive back before anything is deleted.
        let compressed_bytes = fs::metadata(&target).map_err(io_err(&target))?.len();
        let mut dec = GzDecoder::new(File::open(&target).map_err(io_err(&target))?);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = dec.read(&mut buf).map_err(io_err(&target))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        if hex::encode(h.finalize()) != sha256 || n != bytes {
            return Err(ArchiveError::Invalid(format!(
                "{} does not decompress to the segment it archives; nothing was removed",
                target.display()
            )));
        }
        let seg = ArchivedSegment {
            first: *first,
            end: *end,
            location: to.to_owned(),
            file: name,
            sha256,
            bytes,
            compressed_bytes,
            archived_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        manifest.segments.push(seg.clone());
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ArchiveError::Invalid(format!("encoding {ARCHIVE_FILE}: {e}")))?;
        let manifest_path = dir.join(ARCHIVE_FILE);
        fsutil::write_atomic(&manifest_path, &json, 0o644).map_err(io_err(&manifest_path))?;
        fs::remove_file(path).map_err(io_err(path))?;
        fsutil::sync_dir(&segments_dir).map_err(io_err(&segments_dir))?;
        archived.push(seg);
    }
    Ok(ArchiveReport {
        archived,
        archived_end: manifest.end(),
        checkpoint_size,
    })
}
