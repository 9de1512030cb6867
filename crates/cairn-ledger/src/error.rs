//! Error types, one per operation family.

use std::io;
use std::path::PathBuf;

/// Why [`Ledger::open`](crate::Ledger::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Another process (or another open `Ledger`) holds the directory.
    #[error("ledger directory {path} is locked by another process")]
    Locked {
        /// The ledger directory.
        path: PathBuf,
    },
    /// The options are unusable.
    #[error("invalid ledger options: {0}")]
    InvalidOptions(String),
    /// The directory was written by an unknown format version.
    #[error(
        "ledger format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedFormat {
        /// Version found in `ledger.json`.
        found: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// The configured origin differs from the one the ledger was created with.
    #[error("ledger origin is {stored:?} but {requested:?} was configured")]
    OriginMismatch {
        /// Origin stored in the ledger.
        stored: String,
        /// Origin in the options.
        requested: String,
    },
    /// The signing key is missing, malformed or unsafe.
    #[error("signing key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Stored data is damaged in a way that open cannot repair (anything but a torn tail).
    #[error("{path} is corrupt at offset {offset}: {reason} (run `cairn verify` for details)")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A signed checkpoint covers more entries than are on disk: entries were lost or an older
    /// copy of the directory was restored. Opening anyway needs
    /// [`LedgerOptions::allow_rollback_recovery`](crate::LedgerOptions::allow_rollback_recovery).
    #[error(
        "the last signed checkpoint covers {checkpoint_size} entries but only {entries} are on \
         disk: data was lost or rolled back; refusing to open without explicit rollback recovery"
    )]
    Rollback {
        /// Size of the last signed checkpoint.
        checkpoint_size: u64,
        /// Entries found on disk.
        entries: u64,
    },
    /// The entries on disk do not hash to the root of the last signed checkpoint.
    #[error(
        "entries on disk do not match the signed checkpoint of size {size}: the log was modified \
         (run `cairn verify` for details)"
    )]
    CheckpointMismatch {
        /// Size of the mismatching checkpoint.
        size: u64,
    },
}

/// Why [`Ledger::append`](crate::Ledger::append) failed. Nothing of a failed batch is visible.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The disk or quota is full; the batch was rolled back and may be retried later.
    #[error("ledger disk is full: {source}")]
    DiskFull {
        /// The underlying error (`ENOSPC` or `EDQUOT`).
        source: io::Error,
    },
    /// An entry exceeds [`MAX_ENTRY_LEN`](crate::MAX_ENTRY_LEN).
    #[error("entry {position} of the batch is {len} bytes, more than the maximum {max}")]
    EntryTooLarge {
        /// Position in the batch.
        position: usize,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The ledger was closed.
    #[error("ledger is closed")]
    Closed,
    /// An earlier I/O failure left the ledger's state uncertain (e.g. a failed fsync); it
    /// accepts no more entries until it is reopened, which recovers from disk.
    #[error("ledger failed and must be reopened: {reason}")]
    Failed {
        /// The original failure.
        reason: String,
    },
    /// Any other I/O error; the batch was rolled back.
    #[error("ledger write failed: {source}")]
    Io {
        /// The underlying error.
        source: io::Error,
    },
}

/// Why reading entries or tiles failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The index is not below the ledger's size.
    #[error("entry {index} does not exist (ledger size {size})")]
    OutOfRange {
        /// The requested index.
        index: u64,
        /// The ledger size.
        size: u64,
    },
    /// A stored record fails its checksum or framing.
    #[error("entry {index} is corrupt: {reason}")]
    Corrupt {
        /// The entry.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The tile path is not a canonical tlog-tiles path.
    #[error(transparent)]
    InvalidTilePath(#[from] crate::tile::TilePathError),
    /// An entry bundle cannot hold an entry of 64 KiB or more (tlog-tiles uses 16-bit lengths);
    /// such entries are only available through [`Ledger::read_entry`](crate::Ledger::read_entry).
    #[error("entry {index} is {len} bytes, too large for a tlog-tiles entry bundle (max 65535)")]
    EntryTooLargeForBundle {
        /// The entry.
        index: u64,
        /// Its length.
        len: usize,
    },
    /// An I/O error.
    #[error("ledger read failed: {0}")]
    Io(#[from] io::Error),
}

/// Why a proof could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// No signed checkpoint of the requested size exists.
    #[error("no signed checkpoint has size {size}")]
    NoSuchCheckpoint {
        /// The requested tree size.
        size: u64,
    },
    /// The entry is not (yet) covered by the checkpoint.
    #[error("entry {index} is not covered by the checkpoint of size {size}")]
    NotCovered {
        /// The entry.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Sizes out of order or beyond the log.
    #[error("invalid tree sizes {size1} and {size2} (log size {log_size})")]
    InvalidSizes {
        /// First size (or leaf index).
        size1: u64,
        /// Second size.
        size2: u64,
        /// Current log size.
        log_size: u64,
    },
    /// An I/O error.
    #[error("reading tree hashes failed: {0}")]
    Io(#[from] io::Error),
}

/// Why [`Ledger::close`](crate::Ledger::close) could not sign its final checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// Signing or storing the final checkpoint failed.
    #[error("final checkpoint failed: {0}")]
    Checkpoint(#[from] CheckpointWriteError),
}

/// Why a checkpoint could not be signed and stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointWriteError {
    /// Syncing the covered data, or storing the checkpoint, failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The ledger has failed (see [`AppendError::Failed`]); nothing is signed after that.
    #[error("ledger failed: {0}")]
    Failed(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}
