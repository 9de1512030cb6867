//! Offline verification of a ledger directory (`cairn verify`): a full fsck that trusts nothing
//! but the verifier key.
//!
//! One pass over the segments re-hashes every entry, checks every record checksum and segment
//! header, compares every stored leaf hash, node hash and offset with the recomputed ones, and
//! recomputes the root at the size of every stored checkpoint (and of an auditor's trusted
//! checkpoint). Every checkpoint signature is checked with the verifier key. Sizes must not
//! shrink along the history, and two checkpoints of one size must agree (else: a fork).
//! Because every checkpoint root is recomputed from the same entry sequence, consecutive
//! checkpoints that match are consistent by construction — a strictly stronger check than
//! verifying consistency proofs between them. The trusted checkpoint is additionally checked
//! with an RFC 6962 consistency proof against the latest stored one, the way a remote auditor
//! would.
//!
//! Reading and leaf hashing run on one thread, tree building and comparisons on another, so
//! verification uses two cores.
//!
//! Verification is safe to run while a ledger is open and appending: what lies past the last
//! signed checkpoint may still be in flight, so a torn tail or missing derived hashes there
//! are warnings, not problems.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::{Checkpoint, CheckpointVerifier};
use crate::cosign::CosignatureVerifier;
use crate::layout::{self, Meta, SEGMENT_HEADER_LEN, Scan};
use crate::ledger::FileNodes;
use crate::merkle::{self, Frontier, HASH_LEN, Hash};
use crate::tile::TILE_HEIGHT;

/// Problems reported in full; more are only counted.
const MAX_PROBLEMS: usize = 100;

/// What to verify against.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A signed checkpoint note the auditor kept elsewhere (e.g. from an earlier
    /// `cairn checkpoint`). The ledger must contain it: same root at its size.
    pub trusted_checkpoint: Option<String>,
    /// The verifier key to trust. Default: the ledger's own `verifier.key`, which only proves
    /// self-consistency; an auditor passes the key they obtained independently.
    pub verifier_key: Option<String>,
    /// Witness verifier keys (`<name>+<hex id>+<base64(0x04 || key)>`, C2SP `tlog-cosignature`).
    /// When given, the ledger's `cosigned.checkpoint` must be one of its signed checkpoints,
    /// match the entries, and carry valid cosignatures by at least `witness_quorum` of them.
    pub witness_keys: Vec<String>,
    /// How many of `witness_keys` must have cosigned. `None`: all of them.
    pub witness_quorum: Option<usize>,
}

/// The outcome for one witness key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WitnessCheck {
    /// `<name>+<hex key id>` of the witness key.
    pub key: String,
    /// Whether a valid cosignature by it is on the cosigned checkpoint.
    pub cosigned: bool,
    /// When it cosigned (POSIX seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A kind of integrity problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// `ledger.json`, the verifier key or a required directory is missing or unreadable.
    Metadata,
    /// A segment header is damaged or names the wrong first entry.
    SegmentHeader,
    /// Entries are missing between segments, or segments overlap.
    SegmentGap,
    /// A record's checksum does not match its bytes.
    EntryChecksum,
    /// A record's framing is broken before the end of a segment.
    BrokenFraming,
    /// The last segment ends in a partial record.
    TornTail,
    /// An entry's hash differs from the stored leaf hash and a signed checkpoint disagrees
    /// with the entry: the entry was altered, moved or swapped.
    EntryAltered,
    /// A stored leaf or node hash differs from the one recomputed from the entries, which the
    /// signed checkpoints confirm: the derived hash file was altered.
    StoredHashMismatch,
    /// Stored hashes or offsets are missing.
    StoredHashMissing,
    /// A stored record offset is wrong.
    OffsetMismatch,
    /// A stored checkpoint cannot be parsed.
    CheckpointMalformed,
    /// A stored checkpoint's signature does not verify.
    CheckpointSignature,
    /// A stored checkpoint's root differs from the root recomputed from the entries.
    CheckpointRootMismatch,
    /// A stored checkpoint covers more entries than the log holds (deletion or rollback).
    CheckpointBeyondLog,
    /// Two stored checkpoints of one size have different roots.
    CheckpointFork,
    /// A stored checkpoint is smaller than one signed before it.
    CheckpointSizeDecreased,
    /// The checkpoint log ends in a partial record.
    CheckpointLogTorn,
    /// The trusted checkpoint is malformed or not signed by the verifier key.
    TrustedCheckpointInvalid,
    /// The trusted checkpoint covers more entries than the log holds: the log was rolled back
    /// or truncated after the auditor saw it.
    TrustedCheckpointRollback,
    /// The log's root at the trusted checkpoint's size differs from the trusted root: the log
    /// was rewritten (forked) after the auditor saw it.
    TrustedCheckpointFork,
    /// A witness key is malformed, or fewer witnesses than required cosigned the log's
    /// cosigned checkpoint (or there is none).
    WitnessCosignature,
    /// The cosigned checkpoint is not validly signed by the log, covers more entries than the
    /// log holds, or signs a root the entries do not hash to.
    CosignedCheckpointInvalid,
}

/// One finding, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Human-readable description.
    pub message: String,
    /// The entry concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The file concerned, relative to the ledger directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Byte offset in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Position of the checkpoint concerned in `checkpoints.log` (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<usize>,
}

/// Where an entry lives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EntryLocation {
    /// The entry's index.
    pub index: u64,
    /// Its segment file, relative to the ledger directory.
    pub file: String,
    /// Offset of its record in that file.
    pub offset: u64,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerifyReport {
    /// No problems (warnings allowed).
    pub ok: bool,
    /// The ledger's origin.
    pub origin: Option<String>,
    /// The key signatures were checked with.
    pub verifier_key: Option<String>,
    /// Entries found.
    pub entries: u64,
    /// Entry bytes hashed.
    pub bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Base64 root of all entries found.
    pub root: String,
    /// Stored checkpoints checked.
    pub checkpoints: u64,
    /// Size of the latest stored checkpoint.
    pub latest_checkpoint_size: Option<u64>,
    /// Size of the trusted checkpoint, if one was given and valid.
    pub trusted_checkpoint_size: Option<u64>,
    /// Size of the cosigned checkpoint checked against the witness keys, if any were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witnessed_size: Option<u64>,
    /// One result per witness key given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<WitnessCheck>,
    /// Segments archived away (`archive.json`): their entries were not re-hashed; their stored
    /// leaf hashes were checked against the signed checkpoints instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub archived: Vec<crate::archive::ArchivedSegment>,
    /// The first entry found bad, if any.
    pub first_bad_entry: Option<EntryLocation>,
    /// Integrity problems, in the order found (at most 100).
    pub problems: Vec<Problem>,
    /// Problems beyond the first 100.
    pub problems_omitted: u64,
    /// Findings that are expected in a live or crashed-but-not-reopened ledger.
    pub warnings: Vec<Problem>,
    /// Wall time of the verification.
    pub elapsed_secs: f64,
}

/// Verification could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyIoError {
    /// The directory does not exist or holds no ledger.
    #[error("{path} is not a ledger directory (no ledger.json)")]
    NotALedger {
        /// The directory.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> VerifyIoError + '_ {
    move |source| VerifyIoError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a recomputed root must equal at some size.
#[derive(Debug, Clone)]
enum Target {
    Stored { position: usize, root: Hash },
    Trusted { root: Hash },
    Cosigned { root: Hash },
}

/// Messages from the reader thread.
enum Msg {
    Segment {
        idx: usize,
        header: Result<u64, &'static str>,
    },
    Records {
        idx: usize,
        records: Vec<Rec>,
    },
    Broken {
        idx: usize,
        offset: u64,
        reason: &'static str,
    },
    Failed(VerifyIoError),
}

struct Rec {
    offset: u64,
    len: u64,
    crc_ok: bool,
    leaf: Hash,
}

/// Sequential reader of a stored hash or offset file.
struct Stored {
    reader: Option<BufReader<File>>,
    position: u64,
}

impl Stored {
    fn open(path: &Path) -> Self {
        Self {
            reader: File::open(path)
                .ok()
                .map(|f| BufReader::with_capacity(1 << 20, f)),
            position: 0,
        }
    }

    fn next<const N: usize>(&mut self) -> Option<[u8; N]> {
        let reader = self.reader.as_mut()?;
        let mut buf = [0u8; N];
        match reader.read_exact(&mut buf) {
            Ok(()) => {
                self.position += 1;
                Some(buf)
            }
            Err(_) => {
                self.reader = None;
                None
            }
        }
    }
}

struct Pass<'a> {
    dir: &'a Path,
    problems: Vec<Problem>,
    omitted: u64,
    warnings: Vec<Problem>,
    /// Entry-level findings, kept until we know which checkpoints held up.
    leaf_mismatches: Vec<(u64, String, u64)>,
    /// Stored node hashes that differ: `(level, node index)`, classified like leaves.
    node_mismatches: Vec<(usize, u64)>,
    first_bad: Option<EntryLocation>,
}

impl Pass<'_> {
    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn problem(&mut self, p: Problem) {
        if let (Some(index), Some(file), Some(offset)) = (p.index, &p.file, p.offset) {
            if self.first_bad.as_ref().is_none_or(|b| index < b.index)
                && matches!(
                    p.kind,
                    ProblemKind::EntryChecksum
                        | ProblemKind::EntryAltered
                        | ProblemKind::BrokenFraming
                        | ProblemKind::SegmentGap
                        | ProblemKind::SegmentHeader
                )
            {
                self.first_bad = Some(EntryLocation {
                    index,
                    file: file.clone(),
                    offset,
                });
            }
        }
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.omitted += 1;
        }
    }
}

fn problem(kind: ProblemKind, message: impl Into<String>) -> Problem {
    Problem {
        kind,
        message: message.into(),
        index: None,
        file: None,
        offset: None,
        checkpoint: None,
    }
}

/// Verifies the ledger in `dir`. `progress(done, total)` is called with bytes of segment data.
///
/// Integrity problems are reported in the [`VerifyReport`]; `Err` means verification could not
/// run (no ledger there, unreadable files).
pub fn verify_dir(
    dir: &Path,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, VerifyIoError> {
    let started = Instant::now();
    let meta_path = dir.join(layout::META_FILE);
    if !meta_path.is_file() {
        return Err(VerifyIoError::NotALedger {
            path: dir.to_owned(),
        });
    }
    let mut pass = Pass {
        dir,
        problems: Vec::new(),
        omitted: 0,
        warnings: Vec::new(),
        leaf_mismatches: Vec::new(),
        node_mismatches: Vec::new(),
        first_bad: None,
    };

    let meta_bytes = std::fs::read(&meta_path).map_err(io_err(&meta_path))?;
    let origin = match serde_json::from_slice::<Meta>(&meta_bytes) {
        Ok(meta) => Some(meta.origin),
        Err(e) => {
            pass.problem(problem(
                ProblemKind::Metadata,
                format!("ledger.json is unreadable: {e}"),
            ));
            None
        }
    };

    // The key to trust.
    let vkey = match &opts.verifier_key {
        Some(k) => Some(k.trim().to_owned()),
        None => {
            let path = dir.join(layout::VERIFIER_KEY_FILE);
            match std::fs::read_to_string(&path) {
                Ok(k) => Some(k.trim().to_owned()),
                Err(e) => {
                    pass.problem(problem(
                        ProblemKind::Metadata,
                        format!(
                            "no verifier key given and {} is unreadable: {e}",
                            path.display()
                        ),
                    ));
                    None
                }
            }
        }
    };
    let verifier = match vkey.as_deref().map(CheckpointVerifier::new) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            pass.problem(problem(ProblemKind::Metadata, e.to_string()));
            None
        }
        None => None,
    };
    if let (Some(v), Some(o)) = (&verifier, &origin) {
        if v.name() != o {
            pass.problem(problem(
                ProblemKind::Metadata,
                format!(
                    "the verifier key is for {:?} but the ledger's origin is {o:?}",
                    v.name()
                ),
            ));
        }
    }

    // Stored checkpoints.
    let ckpt_path = dir.join(layout::CHECKPOINTS_FILE);
    let mut stored: Vec<(usize, Checkpoint)> = Vec::new();
    let mut checkpoint_count = 0u64;
    match File::open(&ckpt_path) {
        Ok(file) => {
            let (records, valid) =
                layout::read_checkpoint_log(&file).map_err(io_err(&ckpt_path))?;
            let len = file.metadata().map_err(io_err(&ckpt_path))?.len();
            let rest = {
                let mut buf = Vec::new();
                let mut f = &file;
                io::Seek::seek(&mut f, io::SeekFrom::Start(valid)).map_err(io_err(&ckpt_path))?;
                f.read_to_end(&mut buf).map_err(io_err(&ckpt_path))?;
                buf
            };
            if valid < len && rest.windows(4).skip(1).any(|w| w == b"CKPT") {
                // Not a torn append: a damaged record with more history after it.
                pass.problem(Problem {
                    file: Some(layout::CHECKPOINTS_FILE.to_owned()),
                    offset: Some(valid),
                    checkpoint: Some(records.len()),
                    ..problem(
                        ProblemKind::CheckpointMalformed,
                        format!(
                            "checkpoint record #{} at offset {valid} is damaged and later \
                             records follow it",
                            records.len()
                        ),
                    )
                });
            } else if valid < len {
                pass.warnings.push(Problem {
                    file: Some(layout::CHECKPOINTS_FILE.to_owned()),
                    offset: Some(valid),
                    ..problem(
                        ProblemKind::CheckpointLogTorn,
                        format!(
                            "checkpoints.log ends in {} bytes that are not a complete record \
                             (cut at the next open)",
                            len - valid
                        ),
                    )
                });
            }
            checkpoint_count = records.len() as u64;
            for (position, rec) in records.iter().enumerate() {
                let Some(verifier) = &verifier else { break };
                match verifier.open(&rec.note) {
                    Ok(cp) => stored.push((position, cp)),
                    Err(e) => {
                        let kind = match e {
                            crate::checkpoint::CheckpointError::BadSignature { .. } => {
                                ProblemKind::CheckpointSignature
                            }
                            _ => ProblemKind::CheckpointMalformed,
                        };
                        pass.problem(Problem {
                            file: Some(layout::CHECKPOINTS_FILE.to_owned()),
                            offset: Some(rec.offset),
                            checkpoint: Some(position),
                            ..problem(kind, format!("checkpoint #{position}: {e}"))
                        });
                    }
                }
            }
        }
        Err(e) => pass.problem(problem(
            ProblemKind::Metadata,
            format!("{}: {e}", ckpt_path.display()),
        )),
    }
    for pair in stored.windows(2) {
        let ((pa, a), (pb, b)) = (&pair[0], &pair[1]);
        if b.size < a.size {
            pass.problem(Problem {
                checkpoint: Some(*pb),
                ..problem(
                    ProblemKind::CheckpointSizeDecreased,
                    format!(
                        "checkpoint #{pb} has size {} after checkpoint #{pa} of size {}",
                        b.size, a.size
                    ),
                )
            });
        } else if b.size == a.size && b.root != a.root {
            pass.problem(Problem {
                checkpoint: Some(*pb),
                ..problem(
                    ProblemKind::CheckpointFork,
                    format!(
                        "checkpoints #{pa} and #{pb} both cover {} entries but sign different \
                         roots: the log was forked",
                        a.size
                    ),
                )
            });
        }
    }

    // The auditor's checkpoint.
    let trusted = match (&opts.trusted_checkpoint, &verifier) {
        (Some(note), Some(v)) => match v.open(note) {
            Ok(cp) => Some(cp),
            Err(e) => {
                pass.problem(problem(
                    ProblemKind::TrustedCheckpointInvalid,
                    format!("trusted checkpoint: {e}"),
                ));
                None
            }
        },
        (Some(_), None) => {
            pass.problem(problem(
                ProblemKind::TrustedCheckpointInvalid,
                "trusted checkpoint cannot be checked without a verifier key",
            ));
            None
        }
        _ => None,
    };

    let (cosigned, witnesses) = check_witnesses(&mut pass, dir, opts, verifier.as_ref());

    let mut targets: BTreeMap<u64, Vec<Target>> = BTreeMap::new();
    if let Some(cp) = &cosigned {
        targets
            .entry(cp.size)
            .or_default()
            .push(Target::Cosigned { root: cp.root });
    }
    for (position, cp) in &stored {
        targets.entry(cp.size).or_default().push(Target::Stored {
            position: *position,
            root: cp.root,
        });
    }
    if let Some(cp) = &trusted {
        targets
            .entry(cp.size)
            .or_default()
            .push(Target::Trusted { root: cp.root });
    }
    let last_signed = stored.iter().map(|(_, cp)| cp.size).max().unwrap_or(0);

    // Segments.
    let segments_dir = dir.join(layout::SEGMENTS_DIR);
    let segments = match layout::list_segments(&segments_dir) {
        Ok(s) => s,
        Err(e) => {
            pass.problem(problem(
                ProblemKind::Metadata,
                format!("{}: {e}", segments_dir.display()),
            ));
            Vec::new()
        }
    };
    let mut total_bytes = 0u64;
    for (_, path) in &segments {
        total_bytes += std::fs::metadata(path).map_err(io_err(path))?.len();
    }

    let tree_dir = dir.join(layout::TREE_DIR);
    let mut offsets = Stored::open(&tree_dir.join(layout::OFFSETS_FILE));
    let mut levels: Vec<Stored> = (0..8)
        .map(|l| Stored::open(&layout::level_file(&tree_dir, l)))
        .collect();

    // The pass.
    let mut frontier = Frontier::default();
    // Recomputed roots at every target size reached.
    let mut roots: BTreeMap<u64, Hash> = BTreeMap::from([(0, merkle::empty_root())]);
    let mut bytes = 0u64;
    let mut done = 0u64;
    let mut entry_locs: BTreeMap<u64, EntryLocation> = BTreeMap::new();

    // Archived segments: no entries to re-hash, so the tree is rebuilt from their stored leaf
    // hashes, which the signed checkpoint roots recomputed below authenticate.
    let archived = match crate::archive::read_manifest(dir) {
        Ok(m) => m.segments,
        Err(e) => {
            pass.problem(problem(
                ProblemKind::Metadata,
                format!("{}: {e}", crate::archive::ARCHIVE_FILE),
            ));
            Vec::new()
        }
    };
    let archived_end = archived.last().map_or(0, |s| s.end);
    for index in 0..archived_end {
        let Some(leaf) = levels[0].next::<HASH_LEN>() else {
            pass.problem(Problem {
                index: Some(index),
                file: Some(format!("{}/level-0.hash", layout::TREE_DIR)),
                ..problem(
                    ProblemKind::StoredHashMissing,
                    format!(
                        "entry {index} is archived and its stored leaf hash is missing: the \
                         archived range cannot be checked"
                    ),
                )
            });
            break;
        };
        let _ = offsets.next::<8>();
        absorb_leaf(
            &mut pass,
            &mut levels,
            &mut frontier,
            &mut roots,
            &targets,
            leaf,
            last_signed,
        );
    }

    let (tx, rx) = mpsc::sync_channel::<Msg>(8);
    let segs = Arc::new(segments.clone());
    let reader_segs = Arc::clone(&segs);
    std::thread::scope(|scope| -> Result<(), VerifyIoError> {
        scope.spawn(move || read_segments(&reader_segs, &tx));
        for msg in rx {
            match msg {
                Msg::Failed(e) => return Err(e),
                Msg::Segment { idx, header } => {
                    let (first, path) = &segs[idx];
                    let file = pass.rel(path);
                    done += SEGMENT_HEADER_LEN;
                    let expected = frontier.size();
                    match header {
                        Err(reason) => pass.problem(Problem {
                            index: Some(expected),
                            file: Some(file),
                            offset: Some(0),
                            ..problem(ProblemKind::SegmentHeader, reason)
                        }),
                        Ok(h) if h != *first => pass.problem(Problem {
                            index: Some(expected),
                            file: Some(file),
                            offset: Some(0),
                            ..problem(
                                ProblemKind::SegmentHeader,
                                format!(
                                    "segment file is named for entry {first} but its header \
                                     says {h} (segments swapped or renamed)"
                                ),
                            )
                        }),
                        Ok(_) => {}
                    }
                    if *first != expected {
                        let message = if *first > expected {
                            format!(
                                "entries {expected}..{first} are missing: no segment holds them \
                                 (segment deleted?)"
                            )
                        } else {
                            format!(
                                "segment starts at entry {first} but entry {expected} comes next \
                                 (segments overlap or were swapped)"
                            )
                        };
                        pass.problem(Problem {
                            index: Some(expected),
                            file: Some(pass.rel(path)),
                            offset: Some(0),
                            ..problem(ProblemKind::SegmentGap, message)
                        });
                    }
                }
                Msg::Records { idx, records } => {
                    let path = &segs[idx].1;
                    for rec in records {
                        let index = frontier.size();
                        bytes += rec.len;
                        done += rec.len + layout::RECORD_HEADER_LEN;
                        if targets.contains_key(&index) || index == 0 {
                            entry_locs.insert(
                                index,
                                EntryLocation {
                                    index,
                                    file: pass.rel(path),
                                    offset: rec.offset,
                                },
                            );
                        }
                        if !rec.crc_ok {
                            pass.problem(Problem {
                                index: Some(index),
                                file: Some(pass.rel(path)),
                                offset: Some(rec.offset),
                                ..problem(
                                    ProblemKind::EntryChecksum,
                                    format!(
                                        "entry {index}: record checksum mismatch (the entry's \
                                         bytes were changed)"
                                    ),
                                )
                            });
                        }
                        check_offset(&mut pass, &mut offsets, index, rec.offset, last_signed);
                        match levels[0].next::<HASH_LEN>() {
                            Some(stored) if stored == rec.leaf => {}
                            // A checksum failure already explains a different leaf hash.
                            Some(_) if !rec.crc_ok => {}
                            Some(_) => {
                                pass.leaf_mismatches
                                    .push((index, pass.rel(path), rec.offset));
                            }
                            None => missing_hash(&mut pass, 0, index, index >= last_signed),
                        }
                        absorb_leaf(
                            &mut pass,
                            &mut levels,
                            &mut frontier,
                            &mut roots,
                            &targets,
                            rec.leaf,
                            last_signed,
                        );
                    }
                    progress(done, total_bytes);
                }
                Msg::Broken {
                    idx,
                    offset,
                    reason,
                } => {
                    let path = &segs[idx].1;
                    let is_last = idx + 1 == segs.len();
                    let index = frontier.size();
                    let p = Problem {
                        index: Some(index),
                        file: Some(pass.rel(path)),
                        offset: Some(offset),
                        ..problem(
                            if is_last {
                                ProblemKind::TornTail
                            } else {
                                ProblemKind::BrokenFraming
                            },
                            format!("entry {index}: {reason}"),
                        )
                    };
                    if is_last && index >= last_signed {
                        pass.warnings.push(Problem {
                            message: format!(
                                "{} (a partial write past the last checkpoint; cut at the next \
                                 open)",
                                p.message
                            ),
                            ..p
                        });
                    } else {
                        pass.problem(p);
                    }
                }
            }
        }
        Ok(())
    })?;
    progress(total_bytes, total_bytes);
    let entries = frontier.size();

    // Root checks, now that every target size was reached or not.
    let root_ok = |size: u64, root: &Hash| roots.get(&size) == Some(root);
    let mut prev_ok = 0u64;
    for (&size, list) in &targets {
        if size > entries {
            for t in list {
                match t {
                    Target::Stored { position, .. } => pass.problem(Problem {
                        checkpoint: Some(*position),
                        index: Some(entries),
                        ..problem(
                            ProblemKind::CheckpointBeyondLog,
                            format!(
                                "checkpoint #{position} covers {size} entries but the log holds \
                                 only {entries}: entries were deleted or truncated, or an older \
                                 copy of the ledger was restored"
                            ),
                        )
                    }),
                    Target::Cosigned { .. } => pass.problem(Problem {
                        index: Some(entries),
                        ..problem(
                            ProblemKind::CosignedCheckpointInvalid,
                            format!(
                                "the witnesses cosigned {size} entries but the log holds only \
                                 {entries}: the ledger was rolled back or truncated"
                            ),
                        )
                    }),
                    Target::Trusted { .. } => pass.problem(Problem {
                        index: Some(entries),
                        ..problem(
                            ProblemKind::TrustedCheckpointRollback,
                            format!(
                                "the trusted checkpoint covers {size} entries but the log holds \
                                 only {entries}: the ledger was rolled back or truncated"
                            ),
                        )
                    }),
                }
            }
            continue;
        }
        let mut all_ok = true;
        for t in list {
            let root = match t {
                Target::Stored { root, .. }
                | Target::Trusted { root }
                | Target::Cosigned { root } => root,
            };
            if root_ok(size, root) {
                continue;
            }
            all_ok = false;
            let loc = entry_locs.get(&prev_ok).cloned();
            match t {
                Target::Stored { position, .. } => pass.problem(Problem {
                    checkpoint: Some(*position),
                    index: Some(prev_ok),
                    file: loc.as_ref().map(|l| l.file.clone()),
                    offset: loc.as_ref().map(|l| l.offset),
                    ..problem(
                        ProblemKind::CheckpointRootMismatch,
                        format!(
                            "checkpoint #{position} (size {size}) signs a root that the entries \
                             do not hash to: an entry in {prev_ok}..{size} was altered, moved \
                             or removed"
                        ),
                    )
                }),
                Target::Cosigned { .. } => pass.problem(Problem {
                    index: Some(prev_ok),
                    file: loc.as_ref().map(|l| l.file.clone()),
                    offset: loc.as_ref().map(|l| l.offset),
                    ..problem(
                        ProblemKind::CosignedCheckpointInvalid,
                        format!(
                            "the log's root at size {size} differs from the checkpoint the \
                             witnesses cosigned: the log was rewritten after they saw it \
                             (entries {prev_ok}..{size} differ)"
                        ),
                    )
                }),
                Target::Trusted { .. } => pass.problem(Problem {
                    index: Some(prev_ok),
                    file: loc.as_ref().map(|l| l.file.clone()),
                    offset: loc.as_ref().map(|l| l.offset),
                    ..problem(
                        ProblemKind::TrustedCheckpointFork,
                        format!(
                            "the log's root at size {size} differs from the trusted checkpoint: \
                             the log was rewritten after the auditor saw it (entries \
                             {prev_ok}..{size} differ)"
                        ),
                    )
                }),
            }
        }
        if all_ok {
            prev_ok = size;
        }
    }

    // Entry-vs-stored-hash mismatches: blame the side the signed checkpoints disagree with.
    let confirmed: Vec<u64> = stored
        .iter()
        .filter(|(_, cp)| root_ok(cp.size, &cp.root))
        .map(|(_, cp)| cp.size)
        .collect();
    for (index, file, offset) in std::mem::take(&mut pass.leaf_mismatches) {
        if confirmed.iter().any(|s| *s > index) {
            pass.problem(Problem {
                index: Some(index),
                file: Some(format!("{}/level-0.hash", layout::TREE_DIR)),
                offset: Some(index * HASH_LEN as u64),
                ..problem(
                    ProblemKind::StoredHashMismatch,
                    format!(
                        "entry {index}: the stored leaf hash is wrong (the entry itself matches \
                         the signed checkpoints)"
                    ),
                )
            });
        } else if index >= last_signed {
            pass.warnings.push(Problem {
                index: Some(index),
                file: Some(file),
                offset: Some(offset),
                ..problem(
                    ProblemKind::StoredHashMismatch,
                    format!(
                        "entry {index}: stored leaf hash differs from the entry (past the last \
                         checkpoint; rebuilt at the next open)"
                    ),
                )
            });
        } else {
            pass.problem(Problem {
                index: Some(index),
                file: Some(file),
                offset: Some(offset),
                ..problem(
                    ProblemKind::EntryAltered,
                    format!(
                        "entry {index}: its hash differs from the stored leaf hash and the \
                         signed checkpoints (entry altered, moved or swapped)"
                    ),
                )
            });
        }
    }

    for (level, node_index) in std::mem::take(&mut pass.node_mismatches) {
        let (first, end) = node_leaves(level, node_index);
        let p = Problem {
            index: Some(first),
            file: Some(format!("{}/level-{level}.hash", layout::TREE_DIR)),
            offset: Some(node_index * HASH_LEN as u64),
            ..problem(
                ProblemKind::StoredHashMismatch,
                format!(
                    "stored level-{level} hash {node_index} (entries {first}..{end}) differs from \
                     the one recomputed from the entries"
                ),
            )
        };
        let explained = pass.problems.iter().any(|q| {
            q.index.is_some_and(|i| (first..end).contains(&i))
                && q.offset.is_some()
                && q.kind != ProblemKind::StoredHashMismatch
        });
        if confirmed.iter().any(|s| *s >= end) {
            pass.problem(p);
        } else if first >= last_signed {
            pass.warnings.push(p);
        } else if !explained {
            pass.problem(p);
        }
    }

    // The auditor's path: a consistency proof from the trusted checkpoint to the latest one.
    let latest = stored
        .iter()
        .max_by_key(|(_, cp)| cp.size)
        .map(|(_, cp)| cp.clone());
    if let (Some(t), Some(l)) = (&trusted, &latest) {
        if 0 < t.size && t.size <= l.size && l.size <= entries && pass.problems.is_empty() {
            let level_files: Vec<Arc<File>> = (0..8)
                .map_while(|lvl| File::open(layout::level_file(&tree_dir, lvl)).ok())
                .map(Arc::new)
                .collect();
            let proof = merkle::consistency_proof(
                &FileNodes {
                    levels: &level_files,
                },
                t.size,
                l.size,
            );
            let verdict = proof.map_err(|e| e.to_string()).and_then(|p| {
                merkle::verify_consistency(t.size, l.size, &p, &t.root, &l.root)
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = verdict {
                pass.problem(problem(
                    ProblemKind::TrustedCheckpointFork,
                    format!(
                        "no valid consistency proof from the trusted checkpoint (size {}) to the \
                         latest checkpoint (size {}): {e}",
                        t.size, l.size
                    ),
                ));
            }
        }
    }

    if let (Some(c), Some(l)) = (&cosigned, &latest) {
        if c.size < l.size {
            pass.warnings.push(problem(
                ProblemKind::WitnessCosignature,
                format!(
                    "entries {}..{} are signed by the log but not yet cosigned by the witnesses \
                     (the latest cosigned checkpoint has size {})",
                    c.size, l.size, c.size
                ),
            ));
        }
    }

    let ok = pass.problems.is_empty();
    Ok(VerifyReport {
        ok,
        origin,
        verifier_key: verifier.as_ref().map(|v| v.vkey().to_owned()),
        entries,
        bytes,
        segments: segments.len() as u64,
        root: BASE64.encode(frontier.root()),
        checkpoints: checkpoint_count,
        latest_checkpoint_size: latest.map(|c| c.size),
        trusted_checkpoint_size: trusted.map(|c| c.size),
        witnessed_size: cosigned.map(|c| c.size),
        archived,
        witnesses,
        first_bad_entry: pass.first_bad.clone(),
        problems: pass.problems,
        problems_omitted: pass.omitted,
        warnings: pass.warnings,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// Checks `cosigned.checkpoint` against the witness keys; returns the checkpoint (for the root
/// check against the entries) and one result per key.
fn check_witnesses(
    pass: &mut Pass<'_>,
    dir: &Path,
    opts: &VerifyOptions,
    verifier: Option<&CheckpointVerifier>,
) -> (Option<Checkpoint>, Vec<WitnessCheck>) {
    if opts.witness_keys.is_empty() {
        return (None, Vec::new());
    }
    let mut keys = Vec::new();
    for k in &opts.witness_keys {
        match CosignatureVerifier::new(k) {
            Ok(v) => keys.push(v),
            Err(e) => pass.problem(problem(
                ProblemKind::WitnessCosignature,
                format!("witness key {k:?}: {e}"),
            )),
        }
    }
    let quorum = opts.witness_quorum.unwrap_or(opts.witness_keys.len());
    if quorum > opts.witness_keys.len() {
        pass.problem(problem(
            ProblemKind::WitnessCosignature,
            format!(
                "witness quorum {quorum} is more than the {} witness keys given",
                opts.witness_keys.len()
            ),
        ));
    }
    let path = dir.join(layout::COSIGNED_FILE);
    let note = match std::fs::read_to_string(&path) {
        Ok(n) => n,
        Err(e) => {
            pass.problem(Problem {
                file: Some(layout::COSIGNED_FILE.to_owned()),
                ..problem(
                    ProblemKind::WitnessCosignature,
                    format!("no cosigned checkpoint ({e}): no witness has cosigned this log yet"),
                )
            });
            return (None, Vec::new());
        }
    };
    let Some(verifier) = verifier else {
        return (None, Vec::new());
    };
    let cp = match verifier.open(&note) {
        Ok(cp) => cp,
        Err(e) => {
            pass.problem(Problem {
                file: Some(layout::COSIGNED_FILE.to_owned()),
                ..problem(
                    ProblemKind::CosignedCheckpointInvalid,
                    format!("cosigned checkpoint: {e}"),
                )
            });
            return (None, Vec::new());
        }
    };
    let results: Vec<WitnessCheck> = keys
        .iter()
        .map(|k| match k.verify_note(&note) {
            Ok(c) => WitnessCheck {
                key: k.key_ref(),
                cosigned: true,
                timestamp: Some(c.timestamp),
                error: None,
            },
            Err(e) => WitnessCheck {
                key: k.key_ref(),
                cosigned: false,
                timestamp: None,
                error: Some(e.to_string()),
            },
        })
        .collect();
    let valid = results.iter().filter(|r| r.cosigned).count();
    if valid < quorum {
        let missing: Vec<&str> = results
            .iter()
            .filter(|r| !r.cosigned)
            .map(|r| r.key.as_str())
            .collect();
        pass.problem(Problem {
            file: Some(layout::COSIGNED_FILE.to_owned()),
            ..problem(
                ProblemKind::WitnessCosignature,
                format!(
                    "the cosigned checkpoint (size {}) has {valid} valid witness cosignatures, \
                     {quorum} required; missing or invalid: {}",
                    cp.size,
                    missing.join(", ")
                ),
            )
        });
    }
    (Some(cp), results)
}

fn check_offset(
    pass: &mut Pass<'_>,
    offsets: &mut Stored,
    index: u64,
    actual: u64,
    last_signed: u64,
) {
    match offsets.next::<8>() {
        Some(raw) if u64::from_le_bytes(raw) == actual => {}
        Some(raw) => {
            let p = Problem {
                index: Some(index),
                file: Some(format!("{}/{}", layout::TREE_DIR, layout::OFFSETS_FILE)),
                offset: Some(index * 8),
                ..problem(
                    ProblemKind::OffsetMismatch,
                    format!(
                        "entry {index}: stored record offset {} but the record is at {actual}",
                        u64::from_le_bytes(raw)
                    ),
                )
            };
            if index >= last_signed {
                pass.warnings.push(p);
            } else {
                pass.problem(p);
            }
        }
        None => missing_hash(pass, usize::MAX, index, index >= last_signed),
    }
}

/// Reports a stored hash (or record offset) that is missing for entry `index`: a warning when
/// it is `pending` (not yet covered by a signed checkpoint, so the writer may still be storing
/// it), a problem otherwise.
fn missing_hash(pass: &mut Pass<'_>, level: usize, index: u64, pending: bool) {
    let what = if level == usize::MAX {
        "record offset".to_owned()
    } else {
        format!("level-{level} hash")
    };
    let p = Problem {
        index: Some(index),
        ..problem(
            ProblemKind::StoredHashMissing,
            format!("entry {index}: the stored {what} is missing"),
        )
    };
    // Past the last checkpoint derived files may trail the data; report only the first.
    if pending {
        if !pass
            .warnings
            .iter()
            .any(|w| w.kind == ProblemKind::StoredHashMissing)
        {
            pass.warnings.push(Problem {
                message: format!(
                    "{} (past the last checkpoint; rebuilt at the next open)",
                    p.message
                ),
                ..p
            });
        }
    } else if !pass
        .problems
        .iter()
        .any(|w| w.kind == ProblemKind::StoredHashMissing)
    {
        pass.problem(p);
    }
}

/// Adds one leaf to the recomputed tree, checks every stored tile-level node it completes, and
/// records the root when the new size is one a checkpoint (or the auditor) names.
fn absorb_leaf(
    pass: &mut Pass<'_>,
    levels: &mut [Stored],
    frontier: &mut Frontier,
    roots: &mut BTreeMap<u64, Hash>,
    targets: &BTreeMap<u64, Vec<Target>>,
    leaf: Hash,
    last_signed: u64,
) {
    let mut node_checks: Vec<(usize, u64, Hash)> = Vec::new();
    frontier.push(leaf, |height, node_index, hash| {
        if height > 0 && height % TILE_HEIGHT == 0 {
            node_checks.push(((height / TILE_HEIGHT) as usize, node_index, *hash));
        }
    });
    for (level, node_index, hash) in node_checks {
        check_node(pass, levels, level, node_index, &hash, last_signed);
    }
    let size = frontier.size();
    if targets.contains_key(&size) {
        roots.insert(size, frontier.root());
    }
}

fn check_node(
    pass: &mut Pass<'_>,
    levels: &mut [Stored],
    level: usize,
    node_index: u64,
    hash: &Hash,
    last_signed: u64,
) {
    let Some(stored) = levels.get_mut(level) else {
        return;
    };
    match stored.next::<HASH_LEN>() {
        Some(h) if h == *hash => {}
        Some(_) => pass.node_mismatches.push((level, node_index)),
        // The writer stores a node when its last leaf arrives, and a run that opened the tree
        // files before that can read the leaf afterwards: a node that ends past the last signed
        // checkpoint may still be in flight even though its first leaf is signed.
        None => {
            let (first, end) = node_leaves(level, node_index);
            missing_hash(pass, level, first, end > last_signed);
        }
    }
}

/// The entries `first..end` that stored node `node_index` of tile level `level` covers.
fn node_leaves(level: usize, node_index: u64) -> (u64, u64) {
    let shift = TILE_HEIGHT as usize * level;
    (node_index << shift, (node_index + 1) << shift)
}

/// The reader thread: segment headers, record framing, checksums and leaf hashes.
fn read_segments(segments: &[(u64, PathBuf)], tx: &mpsc::SyncSender<Msg>) {
    let mut entry = Vec::new();
    for (idx, (_, path)) in segments.iter().enumerate() {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Msg::Failed(io_err(path)(e)));
                return;
            }
        };
        let len = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                let _ = tx.send(Msg::Failed(io_err(path)(e)));
                return;
            }
        };
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        let parsed = {
            use std::os::unix::fs::FileExt;
            match file.read_exact_at(&mut header, 0) {
                Ok(()) => layout::parse_segment_header(&header),
                Err(_) => Err("segment header is truncated"),
            }
        };
        if tx
            .send(Msg::Segment {
                idx,
                header: parsed,
            })
            .is_err()
        {
            return;
        }
        if len < SEGMENT_HEADER_LEN {
            continue;
        }
        let mut scanner = match layout::SegmentScanner::new(file, len, SEGMENT_HEADER_LEN) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Msg::Failed(io_err(path)(e)));
                return;
            }
        };
        let mut records = Vec::with_capacity(4096);
        loop {
            match scanner.next(&mut entry) {
                Ok(Scan::Record { offset, crc_ok }) => {
                    records.push(Rec {
                        offset,
                        len: entry.len() as u64,
                        crc_ok,
                        leaf: merkle::leaf_hash(&entry),
                    });
                    if records.len() == 4096 {
                        let batch = std::mem::replace(&mut records, Vec::with_capacity(4096));
                        if tx
                            .send(Msg::Records {
                                idx,
                                records: batch,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                Ok(Scan::End) => break,
                Ok(Scan::Broken { offset, reason }) => {
                    if !records.is_empty() {
                        let batch = std::mem::take(&mut records);
                        if tx
                            .send(Msg::Records {
                                idx,
                                records: batch,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                    if tx
                        .send(Msg::Broken {
                            idx,
                            offset,
                            reason,
                        })
                        .is_err()
                    {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    let _ = tx.send(Msg::Failed(io_err(path)(e)));
                    return;
                }
            }
        }
        if !records.is_empty() && tx.send(Msg::Records { idx, records }).is_err() {
            return;
        }
    }
}
