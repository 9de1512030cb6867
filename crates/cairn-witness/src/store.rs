//! The witness's durable state.
//!
//! ```text
//! <state dir>/
//!   witness.key                         "PRIVATE+KEY+<name>+<hex id>+<base64(0x04 || seed)>\n"  mode 0600
//!   logs/<hex SHA-256 of origin>.checkpoint   the latest checkpoint cosigned for that log: the
//!                                       signed note as the log sent it (replaced atomically)
//! ```
//!
//! Every replacement writes a temporary file, fsyncs it, renames it over the old one and fsyncs
//! the directory, so after a crash the file holds either the old or the new checkpoint, and a
//! cosignature is only returned after the new one is durable.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cairn_ledger::{Checkpoint, CosignatureSigner};
use sha2::Digest as _;

/// The witness's signing key file.
pub const KEY_FILE: &str = "witness.key";
const LOGS_DIR: &str = "logs";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A state file is damaged.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Loads `<dir>/witness.key`, or generates it (mode 0600) named `name` if it does not exist.
/// Returns the signer and whether it was generated now.
pub fn load_or_generate_key(
    dir: &Path,
    name: &str,
) -> Result<(CosignatureSigner, bool), StoreError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let signer = CosignatureSigner::from_skey(&text).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            Ok((signer, false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (signer, skey) =
                CosignatureSigner::generate(name).map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            write_atomic(&path, format!("{skey}\n").as_bytes(), 0o600)?;
            Ok((signer, true))
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Replaces `path` with `bytes` atomically and durably (the ledger's temp file, fsync, rename,
/// directory fsync).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    cairn_ledger::write_atomic(path, bytes, mode).map_err(io_err(path))
}

/// The latest cosigned checkpoint of every log, in memory and on disk.
#[derive(Debug)]
pub struct LogStates {
    dir: PathBuf,
    latest: HashMap<String, Checkpoint>,
}

fn checkpoint_of_note(note: &str) -> Option<Checkpoint> {
    let (text, _) = note.split_once("\n\n")?;
    Checkpoint::parse_body(&format!("{text}\n")).ok()
}

impl LogStates {
    /// Reads every `logs/*.checkpoint` under `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let logs = dir.join(LOGS_DIR);
        fs::create_dir_all(&logs).map_err(io_err(&logs))?;
        let mut latest = HashMap::new();
        for entry in fs::read_dir(&logs).map_err(io_err(&logs))? {
            let path = entry.map_err(io_err(&logs))?.path();
            if path.extension().is_none_or(|e| e != "checkpoint") {
                continue;
            }
            let note = fs::read_to_string(&path).map_err(io_err(&path))?;
            let cp = checkpoint_of_note(&note).ok_or_else(|| StoreError::Corrupt {
                path: path.clone(),
                reason: "not a checkpoint note".to_owned(),
            })?;
            latest.insert(cp.origin.clone(), cp);
        }
        Ok(Self { dir: logs, latest })
    }

    /// The latest cosigned checkpoint of `origin`.
    pub fn get(&self, origin: &str) -> Option<&Checkpoint> {
        self.latest.get(origin)
    }

    /// Durably records `note` (whose checkpoint is `cp`) as the latest of its log.
    pub fn put(&mut self, cp: &Checkpoint, note: &str) -> Result<(), StoreError> {
        let name = hex::encode(sha2::Sha256::digest(cp.origin.as_bytes()));
        write_atomic(
            &self.dir.join(format!("{name}.checkpoint")),
            note.as_bytes(),
            0o644,
        )?;
        self.latest.insert(cp.origin.clone(), cp.clone());
        Ok(())
    }

    /// Number of logs with a recorded checkpoint.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// Whether no log has a recorded checkpoint.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}
