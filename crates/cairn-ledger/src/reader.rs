//! Read-only access to a ledger directory without opening it for writing: no lock, no
//! recovery. Works while another process (e.g. `cairn serve`) has the ledger open, because
//! everything it reads — checkpoints and the stored hashes they cover — is fsynced before a
//! checkpoint is published.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bundle::ProofBundle;
use crate::checkpoint::{Checkpoint, CheckpointVerifier};
use crate::error::{OpenError, ProofError, ReadError};
use crate::layout::{self, Meta};
use crate::ledger::FileNodes;
use crate::merkle;

/// A read-only view of a ledger directory.
#[derive(Debug)]
pub struct LedgerReader {
    dir: PathBuf,
    origin: String,
    verifier: CheckpointVerifier,
}

impl LedgerReader {
    /// Reads `ledger.json` and `verifier.key` from `dir`.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let meta_path = dir.join(layout::META_FILE);
        let bytes = std::fs::read(&meta_path).map_err(|source| OpenError::Io {
            path: meta_path.clone(),
            source,
        })?;
        let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| OpenError::Corrupt {
            path: meta_path.clone(),
            offset: 0,
            reason: format!("unreadable ledger.json: {e}"),
        })?;
        let vkey_path = dir.join(layout::VERIFIER_KEY_FILE);
        let vkey = std::fs::read_to_string(&vkey_path).map_err(|source| OpenError::Io {
            path: vkey_path.clone(),
            source,
        })?;
        let verifier = CheckpointVerifier::new(&vkey).map_err(|e| OpenError::Key {
            path: vkey_path,
            reason: e.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            origin: meta.origin,
            verifier,
        })
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key stored with the ledger.
    pub fn verifier_key(&self) -> &str {
        self.verifier.vkey()
    }

    /// The latest signed checkpoint note, checked against the verifier key.
    pub fn latest_checkpoint(&self) -> Result<Option<(String, Checkpoint)>, ReadError> {
        let path = self.dir.join(layout::CHECKPOINTS_FILE);
        let file = File::open(&path)?;
        let (record, _) = layout::last_checkpoint_record(&file)?;
        record.map(|r| self.check(r.note)).transpose()
    }

    /// The stored cosigned checkpoint (`cosigned.checkpoint`), checked against the log key; its
    /// witness cosignatures are not checked here (see [`crate::CosignatureVerifier`]).
    pub fn cosigned_checkpoint(&self) -> Result<Option<(String, Checkpoint)>, ReadError> {
        match std::fs::read_to_string(self.dir.join(layout::COSIGNED_FILE)) {
            Ok(note) => self.check(note).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// The signed checkpoint of exactly `size` entries, if one was signed.
    pub fn checkpoint_of_size(&self, size: u64) -> Result<Option<(String, Checkpoint)>, ReadError> {
        let path = self.dir.join(layout::CHECKPOINTS_FILE);
        let file = File::open(&path)?;
        let (records, _) = layout::read_checkpoint_log(&file)?;
        for record in records.into_iter().rev() {
            let size_line = record.note.split('\n').nth(1);
            if size_line.and_then(crate::checkpoint::parse_decimal) == Some(size) {
                return self.check(record.note).map(Some);
            }
        }
        Ok(None)
    }

    fn check(&self, note: String) -> Result<(String, Checkpoint), ReadError> {
        let checkpoint = self
            .verifier
            .open(&note)
            .map_err(|e| ReadError::Io(io::Error::other(format!("stored checkpoint: {e}"))))?;
        Ok((note, checkpoint))
    }

    /// Reads entry `index` through the stored offsets (entries past the last checkpoint may
    /// not be readable yet).
    pub fn read_entry(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        use std::os::unix::fs::FileExt;
        let offsets_path = self.dir.join(layout::TREE_DIR).join(layout::OFFSETS_FILE);
        let offsets = File::open(&offsets_path)?;
        let size = offsets.metadata()?.len() / 8;
        if index >= size {
            return Err(ReadError::OutOfRange { index, size });
        }
        let mut raw = [0u8; 8];
        offsets.read_exact_at(&mut raw, index * 8)?;
        let offset = u64::from_le_bytes(raw);
        let segments = layout::list_segments(&self.dir.join(layout::SEGMENTS_DIR))?;
        let Some((_, path)) = segments.iter().rev().find(|(first, _)| *first <= index) else {
            return Err(ReadError::OutOfRange { index, size });
        };
        layout::read_record_at(&File::open(path)?, offset)?
            .map_err(|reason| ReadError::Corrupt { index, reason })
    }

    /// A `tlog-proof@v1` bundle for entry `index` in the checkpoint of `size` entries (default:
    /// the latest). The stored hashes are checked against the checkpoint's root first.
    pub fn proof_bundle(&self, index: u64, size: Option<u64>) -> Result<String, ProofError> {
        let to_proof_err = |e: ReadError| match e {
            ReadError::Io(io) => ProofError::Io(io),
            other => ProofError::Io(io::Error::other(other.to_string())),
        };
        let found = match size {
            None => self.latest_checkpoint().map_err(to_proof_err)?,
            Some(s) => self.checkpoint_of_size(s).map_err(to_proof_err)?,
        };
        let (note, checkpoint) = found.ok_or(ProofError::NoSuchCheckpoint {
            size: size.unwrap_or(0),
        })?;
        if index >= checkpoint.size {
            return Err(ProofError::NotCovered {
                index,
                size: checkpoint.size,
            });
        }
        let tree_dir = self.dir.join(layout::TREE_DIR);
        let levels: Vec<Arc<File>> = (0..8)
            .map_while(|l| File::open(layout::level_file(&tree_dir, l)).ok())
            .map(Arc::new)
            .collect();
        let nodes = FileNodes { levels: &levels };
        if merkle::tree_root(&nodes, checkpoint.size)? != checkpoint.root {
            return Err(ProofError::Io(io::Error::other(
                "stored tree hashes do not match the signed checkpoint (run `cairn verify`)",
            )));
        }
        let proof = merkle::inclusion_proof(&nodes, index, checkpoint.size)?;
        Ok(ProofBundle {
            extra: None,
            index,
            proof,
            checkpoint: note,
        }
        .to_text())
    }
}
