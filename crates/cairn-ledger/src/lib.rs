//! Cairn's audit ledger: an append-only, tamper-evident log of opaque entries.
//!
//! Every entry is a leaf of an RFC 6962 Merkle tree. The ledger signs C2SP `tlog-checkpoint`s
//! (origin, size, root) as C2SP `signed-note`s with Ed25519, serves C2SP `tlog-tiles` and
//! `tlog-proof@v1` bundles, and [`verify::verify_dir`] re-checks everything offline. An auditor
//! who holds only the verifier key can check any entry's inclusion, and any later state of the
//! log against a checkpoint they kept.
//!
//! # Guarantees
//!
//! * [`Ledger::append`] returns only after the batch is durable (default [`FsyncPolicy::Always`];
//!   concurrent batches share one fsync).
//! * A checkpoint is never signed before the entries it covers are durable, and every checkpoint
//!   is consistent with all earlier ones (they are cut from one growing tree).
//! * A witness cosignature ([`cosign`]) is only stored on a checkpoint this log signed, and
//!   `cosigned.checkpoint` never moves back to a smaller checkpoint.
//! * After a crash, [`Ledger::open`] cuts a torn tail (only unacknowledged bytes), rebuilds
//!   derived hashes past the last checkpoint from the entries, and refuses to open if a signed
//!   checkpoint covers entries that are gone ([`OpenError::Rollback`]) or differ
//!   ([`OpenError::CheckpointMismatch`]).
//!
//! # On-disk layout (format version 1)
//!
//! ```text
//! <dir>/
//!   LOCK                     flock'ed by the process that has the ledger open
//!   ledger.json              {"format_version": 1, "origin": "cairn/<16 hex>"}   (written once)
//!   signing.key              "PRIVATE+KEY+<origin>+<hex key id>+<base64(0x01 || seed)>\n"  mode 0600
//!   verifier.key             "<origin>+<hex key id>+<base64(0x01 || public key)>\n"
//!   checkpoints.log          every signed checkpoint, appended, never rewritten
//!   cosigned.checkpoint      the latest checkpoint witnesses cosigned: the signed note plus their
//!                            C2SP tlog-cosignature lines (replaced atomically; absent without witnesses)
//!   segments/<20-digit first index>.seg    the entries (the source of truth)
//!   archive.json             segments archived elsewhere (see [`archive`]); absent if none
//!   tree/level-<L>.hash      stored node hashes (derived; rebuilt from segments if needed)
//!   tree/offsets.idx         record offset of every entry in its segment (derived)
//!
//! segment file
//!   0       8  magic "CAIRNSEG"
//!   8       4  format version, u32 LE (1)
//!   12      4  reserved, zero
//!   16      8  index of the segment's first entry, u64 LE (equals the file name)
//!   24      4  CRC32C of bytes 0..24, u32 LE
//!   28      4  reserved, zero
//!   32      …  records, back to back:
//!              0   4  entry length n, u32 LE (at most 16 MiB)
//!              4   4  CRC32C of (length field || entry), u32 LE
//!              8   n  entry bytes
//!   A new segment starts when the active one would exceed `segment_size`; the old one is
//!   fsynced first, and the new file and its directory entry are fsynced before use.
//!
//! tree/level-<L>.hash        L = 0, 1, 2, …
//!   hash i (32 bytes at offset 32·i) = the node at height 8·L covering leaves
//!   [i·256^L, (i+1)·256^L). Level 0 holds the leaf hashes. Level L holds size >> 8L hashes, so
//!   tlog-tiles hash tile L/N is exactly bytes [N·256·32, …) of level L, and any node needed for
//!   a proof is folded from at most 128 consecutive stored hashes: O(log n) reads per proof.
//!
//! tree/offsets.idx
//!   u64 LE per entry: offset of its record within the segment that holds it.
//!
//! checkpoints.log record
//!   0       4  magic "CKPT"
//!   4       4  note length n, u32 LE
//!   8       8  signed at, unix seconds, u64 LE
//!   16      4  CRC32C of (bytes 4..16 || note), u32 LE
//!   20      n  the signed note (tlog-checkpoint text, blank line, signature line)
//!   20+n    4  n again, u32 LE        } lets the latest record be read from the end
//!   24+n    4  magic "TPKC"           }
//! ```
//!
//! Derived files are written with every batch but fsynced only before a checkpoint is signed;
//! on open they are trusted up to the last checkpoint's size (after checking that they hash to
//! its root) and rebuilt from the segments beyond it.
//!
//! Entries of 64 KiB or more are stored and proven like any other, but cannot appear in a
//! tlog-tiles entry bundle (16-bit lengths): [`Ledger::tile`] refuses such a bundle with
//! [`ReadError::EntryTooLargeForBundle`] and the entry is read with [`Ledger::read_entry`].
//!
//! # Hand-rolled pieces
//!
//! Signed notes use the `signed_note` crate. The checkpoint body, tile paths and proof bundles
//! are small text formats implemented here, and the Merkle proofs are generated straight from
//! the stored levels above: the `tlog_tiles` crate would pull in `url`/`idna` and a Go-style
//! stored-hash index layout that does not fit this storage.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod archive;
pub mod bundle;
pub mod checkpoint;
pub mod cosign;
mod error;
mod fsutil;
mod layout;
mod ledger;
pub mod merkle;
mod reader;
pub mod tile;
pub mod verify;

pub use bundle::{BundleError, ProofBundle, VerifiedBundle, verify_bundle};
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointVerifier};
pub use cosign::{
    CosignError, Cosignature, CosignatureSigner, CosignatureVerifier, StoreCosignedError,
};
pub use error::{AppendError, CheckpointWriteError, CloseError, OpenError, ProofError, ReadError};
/// Durable whole-file replacement (temp file, fsync, rename, directory fsync), shared with the
/// witness's state files.
pub use fsutil::write_atomic;
pub use layout::{FORMAT_VERSION, MAX_ENTRY_LEN};
pub use ledger::{FsyncObserver, FsyncPolicy, Ledger, LedgerOptions, LedgerStats};
pub use merkle::{Hash, ProofVerifyError};
pub use reader::LedgerReader;
pub use verify::{VerifyIoError, VerifyOptions, VerifyReport, verify_dir};

/// Entry points for the fuzz targets in the repository's `fuzz/` folder: the segment and
/// checkpoint-log scanners, which are otherwise crate-private. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use std::fs::File;
    use std::io;

    use crate::layout::{self, Scan};

    /// A scanned segment record `(offset, crc_ok, entry)`.
    pub type ScannedRecord = (u64, bool, Vec<u8>);
    /// A checkpoint log record `(offset, signed_at, note)`.
    pub type LogRecord = (u64, u64, String);
    /// Where and why a segment's framing broke.
    pub type Broken = (u64, &'static str);

    /// Parses a segment header into its first index.
    pub fn parse_segment_header(header: &[u8]) -> Result<u64, &'static str> {
        layout::parse_segment_header(header)
    }

    /// Scans the records of `file` (of length `len`) from `offset` as recovery and `verify` do;
    /// returns them and, if the framing broke, where and why.
    pub fn scan_segment(
        file: File,
        len: u64,
        offset: u64,
    ) -> io::Result<(Vec<ScannedRecord>, Option<Broken>)> {
        let mut scanner = layout::SegmentScanner::new(file, len, offset)?;
        let mut records = Vec::new();
        let mut entry = Vec::new();
        loop {
            match scanner.next(&mut entry)? {
                Scan::Record { offset, crc_ok } => records.push((offset, crc_ok, entry.clone())),
                Scan::End => return Ok((records, None)),
                Scan::Broken { offset, reason } => return Ok((records, Some((offset, reason)))),
            }
        }
    }

    /// Reads and checks the record at `offset` (the random-access read path).
    pub fn read_record_at(file: &File, offset: u64) -> io::Result<Result<Vec<u8>, String>> {
        layout::read_record_at(file, offset)
    }

    /// Every record of a checkpoint log and the length of its valid prefix (full scan).
    pub fn read_checkpoint_log(file: &File) -> io::Result<(Vec<LogRecord>, u64)> {
        let (records, valid) = layout::read_checkpoint_log(file)?;
        Ok((
            records
                .into_iter()
                .map(|r| (r.offset, r.signed_at, r.note))
                .collect(),
            valid,
        ))
    }

    /// The last record of a checkpoint log found from the end, and the valid prefix length.
    pub fn last_checkpoint_record(file: &File) -> io::Result<(Option<LogRecord>, u64)> {
        let (record, valid) = layout::last_checkpoint_record(file)?;
        Ok((record.map(|r| (r.offset, r.signed_at, r.note)), valid))
    }
}
