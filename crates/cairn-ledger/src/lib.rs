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
pub use layout::{FORMAT_VERSION, MAX_ENTRY_LEN};
pub use ledger::{FsyncObserver, FsyncPolicy, Ledger, LedgerOptions, LedgerStats};
pub use merkle::{Hash, ProofVerifyError};
pub use reader::LedgerReader;
pub use verify::{VerifyIoError, VerifyOptions, VerifyReport, verify_dir};
