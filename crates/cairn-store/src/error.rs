//! The store's error type.

/// Why a store operation failed.
///
/// [`StoreError::is_invalid_input`] separates the caller's mistakes (a malformed cursor, an
/// inconsistent batch; an HTTP server answers 400) from failures of the index itself (500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error (I/O, corruption, a locked database …).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer Cairn whose schema this build does not know.
    #[error("index schema version {found} is newer than the supported version {supported}")]
    SchemaTooNew {
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// A read-only connection found an older schema; opening a [`crate::Store`] migrates it.
    #[error("index schema version {found} is older than {supported}; open the store to migrate it")]
    SchemaOutdated {
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The schema version this build reads.
        supported: i64,
    },
    /// The database has Cairn's version stamp missing but already contains tables.
    #[error("database is not a cairn index (user_version 0 but tables exist)")]
    NotAnIndex,
    /// A pagination cursor was not one this store produced.
    #[error("invalid cursor: {0}")]
    InvalidCursor(&'static str),
    /// `apply` was given an entry whose ledger index is not below the cursor it should advance to.
    #[error("ledger index {index} is not below the next cursor {next_cursor}")]
    EntryBeyondCursor {
        /// The offending entry's ledger index.
        index: u64,
        /// The cursor the batch claimed to advance to.
        next_cursor: u64,
    },
    /// A stored row could not be decoded (the index is damaged; `cairn reindex` rebuilds it).
    #[error("corrupt index row: {0}")]
    Corrupt(String),
    /// A span's content could not be read from its source (the ledger): an I/O error, not a
    /// record that is merely unavailable (see [`crate::Content`]).
    #[error("span content: {0}")]
    Content(String),
    /// The search file (the full-text index beside the index file) cannot be used: its path is
    /// not UTF-8, or its writer thread could not start or has stopped.
    #[error("search index: {0}")]
    SearchFile(String),
}

impl StoreError {
    /// True when the error was caused by the caller's input rather than by the index.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidCursor(_) | Self::EntryBeyondCursor { .. }
        )
    }
}
