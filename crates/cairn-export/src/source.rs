//! Where the runner reads ledger entries from.
//!
//! - [`cairn_ledger::Ledger`]: the ledger a running `cairn serve` holds open (live tailing with
//!   [`cairn_ledger::Ledger::wait_for_size`]).
//! - [`ReadOnlyLedger`]: a ledger directory another process holds open, read without a lock up to
//!   its latest signed checkpoint (what `cairn export` uses while `cairn serve` runs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_ledger::{Ledger, LedgerReader, OpenError, ReadError};

/// A readable, append-only sequence of ledger entries.
pub trait EntrySource: Send + Sync {
    /// The ledger's origin (part of every exported record's identity).
    fn origin(&self) -> &str;

    /// Number of entries that can be read.
    fn size(&self) -> u64;

    /// Up to `max` entries starting at `start` (fewer at the end).
    fn read_range(&self, start: u64, max: usize) -> Result<Vec<Vec<u8>>, ReadError>;

    /// Blocks until the size exceeds `greater_than` or `timeout` passes; returns the size.
    fn wait_for_size(&self, greater_than: u64, timeout: Duration) -> u64;
}

impl EntrySource for Ledger {
    fn origin(&self) -> &str {
        Ledger::origin(self)
    }

    fn size(&self) -> u64 {
        Ledger::size(self)
    }

    fn read_range(&self, start: u64, max: usize) -> Result<Vec<Vec<u8>>, ReadError> {
        Ledger::read_range(self, start, max)
    }

    fn wait_for_size(&self, greater_than: u64, timeout: Duration) -> u64 {
        Ledger::wait_for_size(self, greater_than, timeout)
    }
}

impl<S: EntrySource + ?Sized> EntrySource for Arc<S> {
    fn origin(&self) -> &str {
        (**self).origin()
    }

    fn size(&self) -> u64 {
        (**self).size()
    }

    fn read_range(&self, start: u64, max: usize) -> Result<Vec<Vec<u8>>, ReadError> {
        (**self).read_range(start, max)
    }

    fn wait_for_size(&self, greater_than: u64, timeout: Duration) -> u64 {
        (**self).wait_for_size(greater_than, timeout)
    }
}

/// A ledger directory read without taking its lock, up to the latest signed checkpoint.
///
/// Entries past the latest checkpoint may not be fsynced yet and are not read. Each entry is
/// read on its own (a few file opens per entry), which suits backfills, not live tailing. The
/// directory's reader is reopened per call (it is cheap, and not `Send`).
#[derive(Debug)]
pub struct ReadOnlyLedger {
    dir: PathBuf,
    origin: String,
}

impl ReadOnlyLedger {
    /// Opens the ledger directory `dir` read-only.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let reader = LedgerReader::open(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            origin: reader.origin().to_owned(),
        })
    }

    fn reader(&self) -> Result<LedgerReader, ReadError> {
        LedgerReader::open(&self.dir)
            .map_err(|e| ReadError::Io(std::io::Error::other(e.to_string())))
    }
}

impl EntrySource for ReadOnlyLedger {
    fn origin(&self) -> &str {
        &self.origin
    }

    fn size(&self) -> u64 {
        match self.reader().and_then(|r| r.latest_checkpoint()) {
            Ok(Some((_, checkpoint))) => checkpoint.size,
            Ok(None) | Err(_) => 0,
        }
    }

    fn read_range(&self, start: u64, max: usize) -> Result<Vec<Vec<u8>>, ReadError> {
        let reader = self.reader()?;
        let size = match reader.latest_checkpoint()? {
            Some((_, checkpoint)) => checkpoint.size,
            None => 0,
        };
        let end = size.min(start.saturating_add(u64::try_from(max).unwrap_or(u64::MAX)));
        (start..end).map(|index| reader.read_entry(index)).collect()
    }

    fn wait_for_size(&self, greater_than: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let size = self.size();
            let now = Instant::now();
            if size > greater_than || now >= deadline {
                return size;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(200)));
        }
    }
}
