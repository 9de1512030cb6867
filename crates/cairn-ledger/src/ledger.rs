//! The ledger: group-committed appends, incremental tree state, background checkpoint signing,
//! crash recovery on open, entry reads, tiles and proofs.
//!
//! # Concurrency
//!
//! * Callers frame and leaf-hash their batch on their own thread, then take the writer lock
//!   just long enough to extend the tree's right edge and `pwrite` the records and derived
//!   hashes. With [`FsyncPolicy::Always`] they then enter the group commit: the first caller to
//!   reach the sync lock fsyncs everything written so far (its batch and any batches queued
//!   behind it); the others find their batch already durable and return without a syscall.
//! * The size visible to readers only moves after the covering fsync, so nothing is ever read,
//!   served as a tile or signed before it is durable.
//! * A background thread signs a checkpoint at most every `checkpoint_interval` while the size
//!   grows: it syncs the data and the derived hash files, signs, appends the note to
//!   `checkpoints.log`, fsyncs it, and only then publishes the checkpoint. Checkpoints are signed
//!   from one continuously extended tree, so each is consistent with every earlier one.
//! * A failed fsync or an unrecoverable partial write marks the ledger failed: later appends
//!   and checkpoints are refused until it is reopened (after a failed fsync the page cache can
//!   no longer be trusted to reflect the disk).
//!
//! Lock order: `ckpt_log` → `sync_lock` → `writer` → `levels`/`segments`; `durable`, `latest`,
//! `failed` and the condition-variable mutexes are leaves held only briefly.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use crate::bundle::ProofBundle;
use crate::checkpoint::{Checkpoint, CheckpointSigner, CheckpointVerifier};
use crate::cosign::StoreCosignedError;
use crate::error::{
    AppendError, CheckpointWriteError, CloseError, OpenError, ProofError, ReadError,
};
use crate::fsutil;
use crate::layout::{self, MAX_ENTRY_LEN, Meta, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, Scan};
use crate::merkle::{self, Frontier, HASH_LEN, Hash, NodeSource};
use crate::tile::{TILE_HEIGHT, TILE_WIDTH, TilePath};

/// When appended data is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `append` returns only after its batch is fsynced (group commit across concurrent callers).
    #[default]
    Always,
    /// `append` returns once its batch is written to the operating system; data is fsynced
    /// before every checkpoint is signed. A process crash loses nothing; a machine crash can
    /// lose acknowledged entries that no checkpoint covers yet. For benchmarks and bulk imports.
    BeforeCheckpoint,
}

/// Called with the duration of every data fsync (e.g. to feed a histogram).
pub type FsyncObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// Options for [`Ledger::open`].
#[derive(Clone)]
pub struct LedgerOptions {
    /// The log origin (and signing key name). `None`: `cairn/<random instance id>` on creation,
    /// the stored origin afterwards. A different origin than the stored one is an error.
    pub origin: Option<String>,
    /// Minimum time between two checkpoints while entries arrive. Default 1 s.
    pub checkpoint_interval: Duration,
    /// When data is fsynced. Default [`FsyncPolicy::Always`].
    pub fsync: FsyncPolicy,
    /// Open even if the last signed checkpoint covers entries that are no longer on disk. The
    /// old checkpoint history is moved aside (`checkpoints.log.rolled-back-<unix time>`) and a
    /// new one starts; anyone holding a newer checkpoint will see a fork, as they should.
    pub allow_rollback_recovery: bool,
    /// Size at which a new segment file is started. Default 256 MiB; at least 4 KiB.
    pub segment_size: u64,
    /// Observer of data fsync durations.
    pub fsync_observer: Option<FsyncObserver>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            origin: None,
            checkpoint_interval: Duration::from_secs(1),
            fsync: FsyncPolicy::Always,
            allow_rollback_recovery: false,
            segment_size: 256 << 20,
            fsync_observer: None,
        }
    }
}

impl std::fmt::Debug for LedgerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerOptions")
            .field("origin", &self.origin)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("fsync", &self.fsync)
            .field("allow_rollback_recovery", &self.allow_rollback_recovery)
            .field("segment_size", &self.segment_size)
            .field(
                "fsync_observer",
                &self.fsync_observer.as_ref().map(|_| "<fn>"),
            )
            .finish()
    }
}

/// A snapshot of the ledger's counters.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LedgerStats {
    /// Durable (visible) entries.
    pub entries: u64,
    /// Total bytes of those entries (payload only).
    pub bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Size covered by the latest signed checkpoint.
    pub last_checkpoint_size: Option<u64>,
    /// When the latest checkpoint was signed.
    pub last_checkpoint_unix_secs: Option<u64>,
    /// Checkpoints signed since open.
    pub checkpoints_signed: u64,
    /// The last background signing failure, if the latest attempt failed.
    pub last_checkpoint_error: Option<String>,
    /// Data fsyncs since open.
    pub fsyncs: u64,
    /// Time spent in data fsyncs since open.
    pub fsync_seconds_total: f64,
    /// Bytes of torn tail cut when the ledger was opened.
    pub recovered_tail_bytes: u64,
    /// Why the ledger stopped accepting entries, if it did.
    pub failed: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    size: u64,
    root: Hash,
}

#[derive(Debug)]
struct Latest {
    checkpoint: Checkpoint,
    note: String,
    signed_at: u64,
}

#[derive(Debug)]
struct ActiveSegment {
    first: u64,
    path: PathBuf,
    file: Arc<File>,
    len: u64,
}

/// State owned by the writer lock.
#[derive(Debug)]
struct Writer {
    frontier: Frontier,
    /// Root of `frontier`, kept so the group commit can publish it without rehashing.
    root: Hash,
    seg: ActiveSegment,
}

/// Segment files as readers see them.
#[derive(Debug)]
struct SegmentTable {
    /// `(first index, path)` of every sealed segment, in order.
    sealed: Vec<(u64, PathBuf)>,
    /// The segment being appended to.
    active_first: u64,
    active: Arc<File>,
}

#[derive(Debug)]
struct CheckpointLog {
    path: PathBuf,
    file: File,
    len: u64,
}

impl CheckpointLog {
    fn append(&mut self, signed_at: u64, note: &str) -> io::Result<()> {
        let rec = layout::encode_checkpoint_record(signed_at, note);
        let res = self
            .file
            .write_all_at(&rec, self.len)
            .and_then(|()| self.file.sync_data());
        match res {
            Ok(()) => {
                self.len += rec.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }
}

/// Node hashes read from the stored level files: a node at height `h` is folded from the
/// `2^(h mod 8)` stored hashes of level `h / 8` below it, so any node costs one read.
pub(crate) struct FileNodes<'a> {
    pub(crate) levels: &'a [Arc<File>],
}

impl NodeSource for FileNodes<'_> {
    type Error = io::Error;

    fn node(&self, height: u32, index: u64) -> io::Result<Hash> {
        let level = (height / TILE_HEIGHT) as usize;
        let rel = height % TILE_HEIGHT;
        let file = self.levels.get(level).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("tree level file {level} is missing"),
            )
        })?;
        let count = 1usize << rel;
        let mut buf = vec![0u8; count * HASH_LEN];
        file.read_exact_at(&mut buf, (index << rel) * HASH_LEN as u64)?;
        let mut hashes: Vec<Hash> = buf
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            })
            .collect();
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|pair| merkle::node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(hashes[0])
    }
}

struct Inner {
    dir: PathBuf,
    origin: String,
    opts: LedgerOptions,
    signer: CheckpointSigner,
    /// Holds the directory's `flock` for the ledger's lifetime.
    _lock: File,
    segments_dir: PathBuf,
    tree_dir: PathBuf,

    writer: Mutex<Writer>,
    /// Serializes fsyncs: whoever holds it syncs for everyone queued behind it.
    sync_lock: Mutex<()>,
    /// Size and root of what is known durable.
    durable: Mutex<Head>,
    /// Size readers may see (durable, or written with [`FsyncPolicy::BeforeCheckpoint`]).
    visible: AtomicU64,
    visible_mx: Mutex<()>,
    visible_cv: Condvar,

    segments: RwLock<SegmentTable>,
    /// A few open sealed segments for readers (sealed segments are otherwise not kept open, so
    /// a large ledger does not exhaust file descriptors).
    sealed_cache: Mutex<Vec<(u64, Arc<File>)>>,
    offsets: File,
    levels: RwLock<Vec<Arc<File>>>,

    ckpt_log: Mutex<CheckpointLog>,
    latest: RwLock<Option<Latest>>,

    closed: AtomicBool,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    failed: Mutex<Option<String>>,

    bytes: AtomicU64,
    segment_count: AtomicU64,
    checkpoints_signed: AtomicU64,
    last_checkpoint_error: Mutex<Option<String>>,
    /// Serializes replacements of `cosigned.checkpoint`.
    cosigned_lock: Mutex<()>,
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
    recovered_tail_bytes: u64,
}

/// The append-only, tamper-evident log. `Send + Sync`; share it with an `Arc`.
///
/// Dropping it closes it (best effort); call [`Ledger::close`] to see errors.
pub struct Ledger {
    inner: Arc<Inner>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.inner.dir)
            .field("origin", &self.inner.origin)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_owned(),
        source,
    }
}

fn fatal_io(path: &Path) -> impl FnOnce(io::Error) -> RecoverFailure + '_ {
    move |source| {
        RecoverFailure::Fatal(OpenError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

fn classify(err: io::Error) -> AppendError {
    if fsutil::is_disk_full(&err) {
        AppendError::DiskFull { source: err }
    } else {
        AppendError::Io { source: err }
    }
}

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)
}

/// Creates a segment file holding only its header, durably (file and directory entry).
fn create_segment(dir: &Path, first: u64) -> io::Result<(PathBuf, File)> {
    let path = dir.join(layout::segment_file_name(first));
    let result = (|| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)?;
        file.write_all_at(&layout::segment_header(first), 0)?;
        file.sync_all()?;
        fsutil::sync_dir(dir)?;
        Ok(file)
    })();
    match result {
        Ok(file) => Ok((path, file)),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Result of replaying the segments from the trusted prefix on open.
struct Recovered {
    frontier: Frontier,
    /// Segment files after recovery (a torn, header-less last segment is removed).
    segments: Vec<(u64, PathBuf)>,
    tail_cut: u64,
}

enum RecoverFailure {
    /// The trusted prefix could not be confirmed; replay everything.
    Untrusted,
    Fatal(OpenError),
}

/// Writes derived data (offsets and level hashes) for entries starting at `start`. Positions
/// are absolute, so a rewrite after a failed batch simply overwrites.
fn write_derived(
    offsets_file: &File,
    levels: &mut Vec<Arc<File>>,
    tree_dir: &Path,
    start: u64,
    offsets: &[u8],
    level_bufs: &[Vec<u8>],
) -> io::Result<()> {
    offsets_file.write_all_at(offsets, start * 8)?;
    for (level, buf) in level_bufs.iter().enumerate() {
        if buf.is_empty() {
            continue;
        }
        while levels.len() <= level {
            let path = layout::level_file(tree_dir, levels.len());
            levels.push(Arc::new(open_rw(&path)?));
        }
        let first = start >> (TILE_HEIGHT as usize * level);
        levels[level].write_all_at(buf, first * HASH_LEN as u64)?;
    }
    Ok(())
}

/// Pushes leaves into `frontier`, returning the stored-level hashes they complete.
fn extend_frontier(frontier: &mut Frontier, leaves: &[Hash]) -> Vec<Vec<u8>> {
    let mut level_bufs: Vec<Vec<u8>> = Vec::new();
    for leaf in leaves {
        frontier.push(*leaf, |height, _, hash| {
            if height % TILE_HEIGHT == 0 {
                let level = (height / TILE_HEIGHT) as usize;
                if level_bufs.len() <= level {
                    level_bufs.resize_with(level + 1, Vec::new);
                }
                level_bufs[level].extend_from_slice(hash);
            }
        });
    }
    level_bufs
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`, recovering from a crash: a torn tail is
    /// cut, derived hashes past the last checkpoint are rebuilt from the segments, and the
    /// result is checked against the last signed checkpoint.
    pub fn open(dir: &Path, opts: LedgerOptions) -> Result<Self, OpenError> {
        if opts.checkpoint_interval.is_zero() {
            return Err(OpenError::InvalidOptions(
                "checkpoint_interval must be positive".to_owned(),
            ));
        }
        if opts.segment_size < 4096 {
            return Err(OpenError::InvalidOptions(
                "segment_size must be at least 4096 bytes".to_owned(),
            ));
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock =
            fsutil::lock_dir(dir)
                .map_err(io_err(dir))?
                .ok_or_else(|| OpenError::Locked {
                    path: dir.to_owned(),
                })?;
        let segments_dir = dir.join(layout::SEGMENTS_DIR);
        let tree_dir = dir.join(layout::TREE_DIR);
        let meta_path = dir.join(layout::META_FILE);
        let key_path = dir.join(layout::SIGNING_KEY_FILE);
        let vkey_path = dir.join(layout::VERIFIER_KEY_FILE);
        let ckpt_path = dir.join(layout::CHECKPOINTS_FILE);

        if !meta_path.exists() {
            Self::initialize(dir, &opts)?;
        }
        let meta_bytes = fs::read(&meta_path).map_err(io_err(&meta_path))?;
        let meta: Meta = serde_json::from_slice(&meta_bytes).map_err(|e| OpenError::Corrupt {
            path: meta_path.clone(),
            offset: 0,
            reason: format!("unreadable ledger.json: {e}"),
        })?;
        if meta.format_version != layout::FORMAT_VERSION {
            return Err(OpenError::UnsupportedFormat {
                found: meta.format_version,
                supported: layout::FORMAT_VERSION,
            });
        }
        if let Some(requested) = &opts.origin {
            if *requested != meta.origin {
                return Err(OpenError::OriginMismatch {
                    stored: meta.origin,
                    requested: requested.clone(),
                });
            }
        }
        let signer = Self::load_key(&key_path, &vkey_path, &meta.origin)?;
        let verifier = CheckpointVerifier::new(signer.vkey()).map_err(|e| OpenError::Key {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;

        // The last signed checkpoint (a torn record from a crash mid-append is cut).
        let ckpt_file = open_rw(&ckpt_path).map_err(io_err(&ckpt_path))?;
        let (last_record, valid_len) =
            layout::last_checkpoint_record(&ckpt_file).map_err(io_err(&ckpt_path))?;
        let file_len = ckpt_file.metadata().map_err(io_err(&ckpt_path))?.len();
        if valid_len < file_len {
            ckpt_file.set_len(valid_len).map_err(io_err(&ckpt_path))?;
            ckpt_file.sync_data().map_err(io_err(&ckpt_path))?;
        }
        drop(ckpt_file);
        let mut latest = match last_record {
            Some(rec) => {
                let checkpoint = verifier.open(&rec.note).map_err(|e| OpenError::Corrupt {
                    path: ckpt_path.clone(),
                    offset: rec.offset,
                    reason: format!("last checkpoint does not verify: {e}"),
                })?;
                Some(Latest {
                    checkpoint,
                    note: rec.note,
                    signed_at: rec.signed_at,
                })
            }
            None => None,
        };

        // Derived files.
        fs::create_dir_all(&tree_dir).map_err(io_err(&tree_dir))?;
        fs::create_dir_all(&segments_dir).map_err(io_err(&segments_dir))?;
        let offsets_path = tree_dir.join(layout::OFFSETS_FILE);
        let offsets = open_rw(&offsets_path).map_err(io_err(&offsets_path))?;
        let mut levels = Vec::new();
        loop {
            let path = layout::level_file(&tree_dir, levels.len());
            if !path.exists() {
                break;
            }
            levels.push(Arc::new(open_rw(&path).map_err(io_err(&path))?));
        }

        let mut segments = layout::list_segments(&segments_dir).map_err(io_err(&segments_dir))?;
        if segments.is_empty() {
            let (path, _) = create_segment(&segments_dir, 0).map_err(io_err(&segments_dir))?;
            segments.push((0, path));
        }
        // Segments archived away (`archive.json`) leave a prefix of the log without local
        // segments; the stored hashes still cover it.
        let archive_path = dir.join(crate::archive::ARCHIVE_FILE);
        let archived_end = crate::archive::read_manifest(dir)
            .map_err(io_err(&archive_path))?
            .end();
        if segments[0].0 != archived_end {
            return Err(OpenError::Corrupt {
                path: segments[0].1.clone(),
                offset: 0,
                reason: if archived_end == 0 {
                    "the first segment does not start at entry 0".to_owned()
                } else {
                    format!(
                        "the first local segment does not start at entry {archived_end}, where \
                         the archived segments end"
                    )
                },
            });
        }

        let checkpoint_head = latest.as_ref().map(|l| Head {
            size: l.checkpoint.size,
            root: l.checkpoint.root,
        });
        let trusted = Self::trusted_prefix(checkpoint_head, &offsets, &levels, &tree_dir)?;
        let ctx = RecoverCtx {
            segments_dir: &segments_dir,
            tree_dir: &tree_dir,
            offsets: &offsets,
            checkpoint: checkpoint_head,
        };
        let recovered = match ctx.recover(trusted, segments.clone(), &mut levels) {
            Ok(r) => r,
            Err(RecoverFailure::Untrusted) if archived_end > 0 => {
                return Err(OpenError::Corrupt {
                    path: tree_dir.clone(),
                    offset: 0,
                    reason: format!(
                        "the stored tree hashes do not match the last checkpoint and entries \
                         0..{archived_end} are archived, so they cannot be rebuilt; restore the \
                         archived segments into segments/ and remove archive.json"
                    ),
                });
            }
            Err(RecoverFailure::Untrusted) => match ctx.recover(0, segments, &mut levels) {
                Ok(r) => r,
                Err(RecoverFailure::Fatal(e)) => return Err(e),
                Err(RecoverFailure::Untrusted) => {
                    return Err(OpenError::Corrupt {
                        path: segments_dir.clone(),
                        offset: 0,
                        reason: "segments cannot be replayed".to_owned(),
                    });
                }
            },
            Err(RecoverFailure::Fatal(e)) => return Err(e),
        };
        let size = recovered.frontier.size();

        if let Some(cp) = checkpoint_head {
            if cp.size > size {
                if !opts.allow_rollback_recovery {
                    return Err(OpenError::Rollback {
                        checkpoint_size: cp.size,
                        entries: size,
                    });
                }
                let aside = dir.join(format!(
                    "{}.rolled-back-{}",
                    layout::CHECKPOINTS_FILE,
                    unix_now()
                ));
                fs::rename(&ckpt_path, &aside).map_err(io_err(&ckpt_path))?;
                fsutil::sync_dir(dir).map_err(io_err(dir))?;
                latest = None;
            }
        }
        let ckpt_file = open_rw(&ckpt_path).map_err(io_err(&ckpt_path))?;
        let ckpt_len = ckpt_file.metadata().map_err(io_err(&ckpt_path))?.len();

        let Some((active_first, active_path)) = recovered.segments.last().cloned() else {
            return Err(OpenError::Corrupt {
                path: segments_dir.clone(),
                offset: 0,
                reason: "no segment files".to_owned(),
            });
        };
        let active_file = open_rw(&active_path).map_err(io_err(&active_path))?;
        // Whatever the replay found is acknowledged from now on: make it durable.
        active_file.sync_data().map_err(io_err(&active_path))?;
        let active_len = active_file.metadata().map_err(io_err(&active_path))?.len();
        let mut segment_bytes = 0u64;
        for (_, path) in &recovered.segments {
            let len = fs::metadata(path).map_err(io_err(path))?.len();
            segment_bytes += len.saturating_sub(SEGMENT_HEADER_LEN);
        }
        let bytes = segment_bytes.saturating_sub(size * RECORD_HEADER_LEN);
        let active_file = Arc::new(active_file);
        let root = recovered.frontier.root();
        let segment_count = recovered.segments.len() as u64;
        let sealed = recovered.segments[..recovered.segments.len() - 1].to_vec();

        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            origin: meta.origin,
            signer,
            _lock: lock,
            segments_dir,
            tree_dir,
            writer: Mutex::new(Writer {
                frontier: recovered.frontier,
                root,
                seg: ActiveSegment {
                    first: active_first,
                    path: active_path,
                    file: Arc::clone(&active_file),
                    len: active_len,
                },
            }),
            sync_lock: Mutex::new(()),
            durable: Mutex::new(Head { size, root }),
            visible: AtomicU64::new(size),
            visible_mx: Mutex::new(()),
            visible_cv: Condvar::new(),
            segments: RwLock::new(SegmentTable {
                sealed,
                active_first,
                active: active_file,
            }),
            sealed_cache: Mutex::new(Vec::new()),
            offsets,
            levels: RwLock::new(levels),
            ckpt_log: Mutex::new(CheckpointLog {
                path: ckpt_path,
                file: ckpt_file,
                len: ckpt_len,
            }),
            latest: RwLock::new(latest),
            closed: AtomicBool::new(false),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            failed: Mutex::new(None),
            bytes: AtomicU64::new(bytes),
            segment_count: AtomicU64::new(segment_count),
            checkpoints_signed: AtomicU64::new(0),
            last_checkpoint_error: Mutex::new(None),
            cosigned_lock: Mutex::new(()),
            fsyncs: AtomicU64::new(0),
            fsync_nanos: AtomicU64::new(0),
            recovered_tail_bytes: recovered.tail_cut,
            opts,
        });

        // A new log (or one whose history was moved aside) starts with a checkpoint at once.
        if inner.latest.read().is_none() {
            inner.checkpoint_now().map_err(|e| OpenError::Io {
                path: inner.dir.join(layout::CHECKPOINTS_FILE),
                source: io::Error::other(e.to_string()),
            })?;
        }

        let thread_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("cairn-ledger-checkpointer".to_owned())
            .spawn(move || thread_inner.checkpoint_loop())
            .map_err(io_err(dir))?;
        Ok(Self {
            inner,
            checkpointer: Mutex::new(Some(handle)),
        })
    }

    /// Creates `ledger.json`, the key pair and the directories of a new ledger. `ledger.json` is
    /// written last, so a crash midway leaves a directory that is initialized again.
    fn initialize(dir: &Path, opts: &LedgerOptions) -> Result<(), OpenError> {
        let ckpt_path = dir.join(layout::CHECKPOINTS_FILE);
        let segments_dir = dir.join(layout::SEGMENTS_DIR);
        let has_segments = layout::list_segments(&segments_dir).is_ok_and(|s| !s.is_empty());
        let has_checkpoints = fs::metadata(&ckpt_path).is_ok_and(|m| m.len() > 0);
        if has_segments || has_checkpoints {
            return Err(OpenError::Corrupt {
                path: dir.join(layout::META_FILE),
                offset: 0,
                reason: "ledger.json is missing but the directory holds ledger data".to_owned(),
            });
        }
        let origin = match &opts.origin {
            Some(o) => o.clone(),
            None => format!("cairn/{}", hex::encode(rand::random::<[u8; 8]>())),
        };
        let (signer, skey) = CheckpointSigner::generate(&origin).map_err(|e| {
            OpenError::InvalidOptions(format!("origin {origin:?} is not usable: {e}"))
        })?;
        fs::create_dir_all(&segments_dir).map_err(io_err(&segments_dir))?;
        let tree_dir = dir.join(layout::TREE_DIR);
        fs::create_dir_all(&tree_dir).map_err(io_err(&tree_dir))?;
        let key_path = dir.join(layout::SIGNING_KEY_FILE);
        fsutil::write_atomic(&key_path, format!("{skey}\n").as_bytes(), 0o600)
            .map_err(io_err(&key_path))?;
        let vkey_path = dir.join(layout::VERIFIER_KEY_FILE);
        fsutil::write_atomic(&vkey_path, format!("{}\n", signer.vkey()).as_bytes(), 0o644)
            .map_err(io_err(&vkey_path))?;
        let meta = Meta {
            format_version: layout::FORMAT_VERSION,
            origin,
        };
        let meta_path = dir.join(layout::META_FILE);
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| OpenError::Io {
            path: meta_path.clone(),
            source: io::Error::other(e),
        })?;
        fsutil::write_atomic(&meta_path, &json, 0o644).map_err(io_err(&meta_path))
    }

    fn load_key(
        key_path: &Path,
        vkey_path: &Path,
        origin: &str,
    ) -> Result<CheckpointSigner, OpenError> {
        let key_err = |reason: String| OpenError::Key {
            path: key_path.to_owned(),
            reason,
        };
        let meta = fs::metadata(key_path).map_err(|e| key_err(e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_err(format!(
                "file mode is {mode:o}; the signing key must not be accessible to group or \
                 others (chmod 600)"
            )));
        }
        let skey = fs::read_to_string(key_path).map_err(|e| key_err(e.to_string()))?;
        let signer = CheckpointSigner::from_skey(&skey).map_err(|e| key_err(e.to_string()))?;
        if signer.name() != origin {
            return Err(key_err(format!(
                "key name {:?} differs from the ledger origin {origin:?}",
                signer.name()
            )));
        }
        match fs::read_to_string(vkey_path) {
            Ok(stored) if stored.trim() == signer.vkey() => {}
            Ok(_) => {
                return Err(key_err(format!(
                    "{} does not match the signing key",
                    vkey_path.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fsutil::write_atomic(vkey_path, format!("{}\n", signer.vkey()).as_bytes(), 0o644)
                    .map_err(io_err(vkey_path))?;
            }
            Err(e) => return Err(io_err(vkey_path)(e)),
        }
        Ok(signer)
    }

    /// How many entries the derived files may be trusted for: the last checkpoint's size if
    /// they are long enough (they were fsynced before it was signed), else none.
    fn trusted_prefix(
        checkpoint: Option<Head>,
        offsets: &File,
        levels: &[Arc<File>],
        tree_dir: &Path,
    ) -> Result<u64, OpenError> {
        let Some(cp) = checkpoint else { return Ok(0) };
        let have = offsets.metadata().map_err(io_err(tree_dir))?.len() / 8;
        if have < cp.size {
            return Ok(0);
        }
        for level in 0..8u32 {
            let need = cp.size.checked_shr(TILE_HEIGHT * level).unwrap_or(0);
            if need == 0 {
                break;
            }
            let Some(file) = levels.get(level as usize) else {
                return Ok(0);
            };
            let got = file.metadata().map_err(io_err(tree_dir))?.len() / HASH_LEN as u64;
            if got < need {
                return Ok(0);
            }
        }
        Ok(cp.size)
    }

    /// Appends a batch and returns the indices it was given, once the batch is durable (per
    /// the [`FsyncPolicy`]). Thread-safe; concurrent batches share fsyncs (group commit).
    /// On error nothing of the batch is visible.
    pub fn append<E: AsRef<[u8]>>(&self, entries: &[E]) -> Result<Range<u64>, AppendError> {
        self.inner.append(entries)
    }

    /// Number of durable entries (readable, provable, covered by the next checkpoint).
    pub fn size(&self) -> u64 {
        self.inner.visible.load(Ordering::Acquire)
    }

    /// Blocks until the size exceeds `greater_than`, the ledger is closed or `timeout` passes;
    /// returns the size.
    pub fn wait_for_size(&self, greater_than: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut guard = self.inner.visible_mx.lock();
        loop {
            let size = self.size();
            if size > greater_than || self.inner.closed.load(Ordering::Acquire) {
                return size;
            }
            if self
                .inner
                .visible_cv
                .wait_until(&mut guard, deadline)
                .timed_out()
            {
                return self.size();
            }
        }
    }

    /// Reads one entry.
    pub fn read_entry(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        let mut entries = self.read_range(index, 1)?;
        entries.pop().ok_or(ReadError::OutOfRange {
            index,
            size: self.size(),
        })
    }

    /// Reads up to `max` entries starting at `start` (fewer at the end of the log; none if
    /// `start == size`).
    pub fn read_range(&self, start: u64, max: usize) -> Result<Vec<Vec<u8>>, ReadError> {
        let mut out = Vec::new();
        self.inner
            .read_range_with(start, max, &mut Vec::new(), |_, entry| {
                out.push(entry.to_vec());
            })?;
        Ok(out)
    }

    /// [`Ledger::read_range`] without a copy per entry: calls `visit` with each entry's index
    /// and bytes (borrowed from one read of every run of neighbouring records, into `buf`), in
    /// order, and returns how many it visited. Each entry's checksum is checked before it is
    /// visited; on a read or checksum error the entries already visited stay visited. `buf` is
    /// only grown, never shrunk: a caller reading batch after batch passes the same one.
    pub fn read_range_with(
        &self,
        start: u64,
        max: usize,
        buf: &mut Vec<u8>,
        visit: impl FnMut(u64, &[u8]),
    ) -> Result<u64, ReadError> {
        self.inner.read_range_with(start, max, buf, visit)
    }

    /// The latest signed checkpoint note.
    pub fn latest_checkpoint(&self) -> Option<String> {
        self.inner.latest.read().as_ref().map(|l| l.note.clone())
    }

    /// The latest signed checkpoint, parsed.
    pub fn latest_checkpoint_parsed(&self) -> Option<Checkpoint> {
        self.inner
            .latest
            .read()
            .as_ref()
            .map(|l| l.checkpoint.clone())
    }

    /// The signed checkpoint of exactly `size` entries from the history, if one was signed.
    /// Scans `checkpoints.log` (except for the latest checkpoint).
    pub fn checkpoint_of_size(&self, size: u64) -> Result<Option<String>, ReadError> {
        if let Some(l) = &*self.inner.latest.read() {
            if l.checkpoint.size == size {
                return Ok(Some(l.note.clone()));
            }
        }
        self.inner.checkpoint_of_size(size)
    }

    /// Signs a checkpoint now if the log grew since the last one; returns whether it did.
    pub fn checkpoint(&self) -> Result<bool, CheckpointWriteError> {
        self.inner.checkpoint_now()
    }

    /// The verifier key: `<origin>+<hex key id>+<base64(0x01 || Ed25519 public key)>`.
    pub fn verifier_key(&self) -> String {
        self.inner.signer.vkey().to_owned()
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// Stores `note` — one of this log's checkpoints carrying witness cosignature lines — as
    /// `cosigned.checkpoint` (atomic replace, fsynced). The log signature must verify, the
    /// checkpoint must not be ahead of the latest signed one, and a cosigned checkpoint never
    /// replaces a larger one. Returns whether the file was replaced.
    pub fn store_cosigned_checkpoint(&self, note: &str) -> Result<bool, StoreCosignedError> {
        let verifier = CheckpointVerifier::new(self.inner.signer.vkey())
            .map_err(StoreCosignedError::NotSigned)?;
        let cp = verifier.open(note).map_err(StoreCosignedError::NotSigned)?;
        let latest = self.latest_checkpoint_parsed().map_or(0, |l| l.size);
        if cp.size > latest {
            return Err(StoreCosignedError::AheadOfLog {
                size: cp.size,
                latest,
            });
        }
        let _guard = self.inner.cosigned_lock.lock();
        if let Some(old) = self.cosigned_checkpoint() {
            if let Ok(old_cp) = verifier.open(&old) {
                if old_cp.size > cp.size {
                    return Ok(false);
                }
            }
        }
        let path = self.inner.dir.join(layout::COSIGNED_FILE);
        crate::fsutil::write_atomic(&path, note.as_bytes(), 0o644)
            .map_err(|source| StoreCosignedError::Io { path, source })?;
        Ok(true)
    }

    /// The stored cosigned checkpoint (`cosigned.checkpoint`), if any.
    pub fn cosigned_checkpoint(&self) -> Option<String> {
        std::fs::read_to_string(self.inner.dir.join(layout::COSIGNED_FILE)).ok()
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A `tlog-proof@v1` bundle proving entry `index` is in the signed checkpoint of `size`
    /// entries (default: the latest checkpoint).
    pub fn proof_bundle(&self, index: u64, size: Option<u64>) -> Result<String, ProofError> {
        let (note, tree_size) = match size {
            None => {
                let latest = self.inner.latest.read();
                let l = latest
                    .as_ref()
                    .ok_or(ProofError::NoSuchCheckpoint { size: self.size() })?;
                (l.note.clone(), l.checkpoint.size)
            }
            Some(s) => {
                let note = self
                    .checkpoint_of_size(s)
                    .map_err(|e| match e {
                        ReadError::Io(io) => ProofError::Io(io),
                        other => ProofError::Io(io::Error::other(other.to_string())),
                    })?
                    .ok_or(ProofError::NoSuchCheckpoint { size: s })?;
                (note, s)
            }
        };
        if index >= tree_size {
            return Err(ProofError::NotCovered {
                index,
                size: tree_size,
            });
        }
        let proof = self.inclusion_proof(index, tree_size)?;
        Ok(ProofBundle {
            extra: None,
            index,
            proof,
            checkpoint: note,
        }
        .to_text())
    }

    /// The RFC 6962 inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if index >= size || size > self.size() {
            return Err(ProofError::InvalidSizes {
                size1: index,
                size2: size,
                log_size: self.size(),
            });
        }
        let levels = self.inner.levels.read().clone();
        Ok(merkle::inclusion_proof(
            &FileNodes { levels: &levels },
            index,
            size,
        )?)
    }

    /// The RFC 6962 consistency proof between the trees of `size1` and `size2` entries
    /// (`0 < size1 <= size2 <= size`).
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, ProofError> {
        if size1 == 0 || size1 > size2 || size2 > self.size() {
            return Err(ProofError::InvalidSizes {
                size1,
                size2,
                log_size: self.size(),
            });
        }
        let levels = self.inner.levels.read().clone();
        Ok(merkle::consistency_proof(
            &FileNodes { levels: &levels },
            size1,
            size2,
        )?)
    }

    /// The root of the first `size` entries (`size <= self.size()`).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size() {
            return Err(ProofError::InvalidSizes {
                size1: size,
                size2: size,
                log_size: self.size(),
            });
        }
        let levels = self.inner.levels.read().clone();
        Ok(merkle::tree_root(&FileNodes { levels: &levels }, size)?)
    }

    /// A tlog-tiles resource: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    /// `Ok(None)` if the tile does not exist (yet).
    pub fn tile(&self, path: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let tile = TilePath::parse(path)?;
        let size = self.size();
        let width = tile.width();
        match tile {
            TilePath::Hashes { level, index, .. } => {
                let stored = size
                    .checked_shr(u32::from(level) * TILE_HEIGHT)
                    .unwrap_or(0);
                let Some(first) = index.checked_mul(TILE_WIDTH) else {
                    return Ok(None);
                };
                if first.saturating_add(width) > stored {
                    return Ok(None);
                }
                let levels = self.inner.levels.read();
                let Some(file) = levels.get(usize::from(level)) else {
                    return Ok(None);
                };
                let mut buf = vec![0u8; width as usize * HASH_LEN];
                file.read_exact_at(&mut buf, first * HASH_LEN as u64)?;
                Ok(Some(buf))
            }
            TilePath::Entries { index, .. } => {
                let Some(first) = index.checked_mul(TILE_WIDTH) else {
                    return Ok(None);
                };
                if first.saturating_add(width) > size {
                    return Ok(None);
                }
                let entries = self.read_range(first, width as usize)?;
                let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
                for (i, entry) in entries.iter().enumerate() {
                    let len = u16::try_from(entry.len()).map_err(|_| {
                        ReadError::EntryTooLargeForBundle {
                            index: first + i as u64,
                            len: entry.len(),
                        }
                    })?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(entry);
                }
                Ok(Some(out))
            }
        }
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> LedgerStats {
        let inner = &self.inner;
        let latest = inner.latest.read();
        LedgerStats {
            entries: self.size(),
            bytes: inner.bytes.load(Ordering::Relaxed),
            segments: inner.segment_count.load(Ordering::Relaxed),
            last_checkpoint_size: latest.as_ref().map(|l| l.checkpoint.size),
            last_checkpoint_unix_secs: latest.as_ref().map(|l| l.signed_at),
            checkpoints_signed: inner.checkpoints_signed.load(Ordering::Relaxed),
            last_checkpoint_error: inner.last_checkpoint_error.lock().clone(),
            fsyncs: inner.fsyncs.load(Ordering::Relaxed),
            fsync_seconds_total: inner.fsync_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            recovered_tail_bytes: inner.recovered_tail_bytes,
            failed: inner.failed.lock().clone(),
        }
    }

    /// Stops accepting entries, stops the background signer and signs a final checkpoint
    /// covering everything appended. Idempotent.
    pub fn close(&self) -> Result<(), CloseError> {
        self.inner.closed.store(true, Ordering::Release);
        {
            let mut stop = self.inner.stop.lock();
            *stop = true;
            self.inner.stop_cv.notify_all();
        }
        {
            let _g = self.inner.visible_mx.lock();
            self.inner.visible_cv.notify_all();
        }
        if let Some(handle) = self.checkpointer.lock().take() {
            let _ = handle.join();
        }
        self.inner.checkpoint_now()?;
        Ok(())
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

struct RecoverCtx<'a> {
    segments_dir: &'a Path,
    tree_dir: &'a Path,
    offsets: &'a File,
    checkpoint: Option<Head>,
}

/// Derived data of replayed entries not yet written.
#[derive(Default)]
struct Pending {
    start: u64,
    offsets: Vec<u8>,
    leaves: Vec<Hash>,
}

impl RecoverCtx<'_> {
    fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> RecoverFailure {
        RecoverFailure::Fatal(OpenError::Corrupt {
            path: path.to_owned(),
            offset,
            reason: reason.into(),
        })
    }

    fn flush(
        &self,
        frontier: &mut Frontier,
        levels: &mut Vec<Arc<File>>,
        pending: &mut Pending,
    ) -> Result<(), RecoverFailure> {
        let level_bufs = extend_frontier(frontier, &pending.leaves);
        write_derived(
            self.offsets,
            levels,
            self.tree_dir,
            pending.start,
            &pending.offsets,
            &level_bufs,
        )
        .map_err(fatal_io(self.tree_dir))?;
        pending.offsets.clear();
        pending.leaves.clear();
        pending.start = frontier.size();
        Ok(())
    }

    /// Replays segments from entry `trusted` on, rebuilding derived files past it.
    fn recover(
        &self,
        trusted: u64,
        mut segments: Vec<(u64, PathBuf)>,
        levels: &mut Vec<Arc<File>>,
    ) -> Result<Recovered, RecoverFailure> {
        // Cut derived files to the trusted prefix.
        self.offsets
            .set_len(trusted * 8)
            .map_err(fatal_io(self.tree_dir))?;
        for (level, file) in levels.iter().enumerate() {
            let keep = trusted.checked_shr(TILE_HEIGHT * level as u32).unwrap_or(0);
            file.set_len(keep * HASH_LEN as u64)
                .map_err(fatal_io(self.tree_dir))?;
        }
        // Tree state at the trusted prefix, from stored hashes.
        let mut frontier = if trusted == 0 {
            Frontier::default()
        } else {
            let nodes = FileNodes {
                levels: levels.as_slice(),
            };
            let mut peaks = Vec::new();
            for (h, i) in Frontier::peak_positions(trusted) {
                peaks.push(nodes.node(h, i).map_err(|_| RecoverFailure::Untrusted)?);
            }
            Frontier::from_peaks(trusted, peaks).ok_or(RecoverFailure::Untrusted)?
        };
        if let Some(cp) = self.checkpoint {
            if cp.size == trusted && trusted > 0 && frontier.root() != cp.root {
                return Err(RecoverFailure::Untrusted);
            }
        }

        // Replay starts just after entry `trusted - 1`.
        let (mut seg_idx, mut offset) = if trusted == 0 {
            (0usize, SEGMENT_HEADER_LEN)
        } else {
            let last = trusted - 1;
            let seg_idx = segments
                .partition_point(|(first, _)| *first <= last)
                .saturating_sub(1);
            let mut buf = [0u8; 8];
            self.offsets
                .read_exact_at(&mut buf, last * 8)
                .map_err(|_| RecoverFailure::Untrusted)?;
            let off = u64::from_le_bytes(buf);
            let path = &segments[seg_idx].1;
            let file = File::open(path).map_err(fatal_io(path))?;
            let stored_leaf = FileNodes {
                levels: levels.as_slice(),
            }
            .node(0, last)
            .map_err(|_| RecoverFailure::Untrusted)?;
            match layout::read_record_at(&file, off) {
                Ok(Ok(entry)) if merkle::leaf_hash(&entry) == stored_leaf => {
                    (seg_idx, off + RECORD_HEADER_LEN + entry.len() as u64)
                }
                Ok(_) => return Err(RecoverFailure::Untrusted),
                Err(e) => return Err(fatal_io(path)(e)),
            }
        };

        let mut tail_cut = 0u64;
        let mut entry = Vec::new();
        let mut pending = Pending {
            start: frontier.size(),
            ..Pending::default()
        };
        while seg_idx < segments.len() {
            let (first, path) = segments[seg_idx].clone();
            let is_last = seg_idx + 1 == segments.len();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(fatal_io(&path))?;
            let len = file.metadata().map_err(fatal_io(&path))?.len();
            if offset == SEGMENT_HEADER_LEN {
                let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
                let parsed = match file.read_exact_at(&mut header, 0) {
                    Ok(()) => layout::parse_segment_header(&header),
                    Err(_) => Err("segment header is truncated"),
                };
                match parsed {
                    Ok(h) if h == first => {}
                    Ok(_) => {
                        return Err(Self::corrupt(
                            &path,
                            0,
                            "segment header names another first entry",
                        ));
                    }
                    Err(_) if is_last && len <= SEGMENT_HEADER_LEN && seg_idx > 0 => {
                        // A crash while a new segment was being created: it holds nothing.
                        fs::remove_file(&path).map_err(fatal_io(&path))?;
                        fsutil::sync_dir(self.segments_dir).map_err(fatal_io(&path))?;
                        segments.pop();
                        break;
                    }
                    Err(reason) => return Err(Self::corrupt(&path, 0, reason)),
                }
                let expected = pending.start + pending.leaves.len() as u64;
                if first != expected {
                    return Err(Self::corrupt(
                        &path,
                        0,
                        format!("segment starts at entry {first} but entry {expected} comes next"),
                    ));
                }
            }
            let reader = file.try_clone().map_err(fatal_io(&path))?;
            let mut scanner =
                layout::SegmentScanner::new(reader, len, offset).map_err(fatal_io(&path))?;
            loop {
                let step = scanner.next(&mut entry).map_err(fatal_io(&path))?;
                let (at, reason) = match step {
                    Scan::End => break,
                    Scan::Record {
                        offset,
                        crc_ok: true,
                    } => {
                        pending.offsets.extend_from_slice(&offset.to_le_bytes());
                        pending.leaves.push(merkle::leaf_hash(&entry));
                        let index = pending.start + pending.leaves.len() as u64;
                        if let Some(cp) = self.checkpoint.filter(|cp| cp.size == index) {
                            self.flush(&mut frontier, levels, &mut pending)?;
                            if frontier.root() != cp.root {
                                return Err(RecoverFailure::Fatal(OpenError::CheckpointMismatch {
                                    size: cp.size,
                                }));
                            }
                        } else if pending.leaves.len() >= 1 << 16 {
                            self.flush(&mut frontier, levels, &mut pending)?;
                        }
                        continue;
                    }
                    Scan::Record {
                        offset,
                        crc_ok: false,
                    } => (offset, "record checksum mismatch"),
                    Scan::Broken { offset, reason } => (offset, reason),
                };
                if !is_last {
                    return Err(Self::corrupt(&path, at, reason));
                }
                // A torn tail from a crash mid-write: nothing past it was acknowledged.
                tail_cut = len - at;
                file.set_len(at)
                    .and_then(|()| file.sync_data())
                    .map_err(fatal_io(&path))?;
                break;
            }
            seg_idx += 1;
            offset = SEGMENT_HEADER_LEN;
        }
        self.flush(&mut frontier, levels, &mut pending)?;
        Ok(Recovered {
            frontier,
            segments,
            tail_cut,
        })
    }
}

impl Inner {
    fn check_failed(&self) -> Result<(), AppendError> {
        match &*self.failed.lock() {
            Some(reason) => Err(AppendError::Failed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail(&self, reason: String) {
        let mut failed = self.failed.lock();
        if failed.is_none() {
            *failed = Some(reason);
        }
    }

    fn publish_visible(&self, size: u64) {
        self.visible.fetch_max(size, Ordering::AcqRel);
        let _g = self.visible_mx.lock();
        self.visible_cv.notify_all();
    }

    fn append<E: AsRef<[u8]>>(&self, entries: &[E]) -> Result<Range<u64>, AppendError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AppendError::Closed);
        }
        self.check_failed()?;
        if entries.is_empty() {
            let size = self.visible.load(Ordering::Acquire);
            return Ok(size..size);
        }
        // Frame and hash on the caller's thread, outside every lock.
        let mut total = 0usize;
        for (position, e) in entries.iter().enumerate() {
            let len = e.as_ref().len();
            if len > MAX_ENTRY_LEN {
                return Err(AppendError::EntryTooLarge {
                    position,
                    len,
                    max: MAX_ENTRY_LEN,
                });
            }
            total += len + RECORD_HEADER_LEN as usize;
        }
        let mut buf = Vec::with_capacity(total);
        let mut rel_offsets = Vec::with_capacity(entries.len());
        let mut leaves = Vec::with_capacity(entries.len());
        for e in entries {
            let e = e.as_ref();
            rel_offsets.push(buf.len() as u64);
            layout::frame_record(&mut buf, e);
            leaves.push(merkle::leaf_hash(e));
        }
        let payload = (total - entries.len() * RECORD_HEADER_LEN as usize) as u64;

        let range = {
            let mut w = self.writer.lock();
            self.check_failed()?;
            self.write_batch(&mut w, &buf, &rel_offsets, &leaves, payload)?
        };
        if self.opts.fsync == FsyncPolicy::Always {
            self.sync_to(Some(range.end))?;
        }
        Ok(range)
    }

    fn write_batch(
        &self,
        w: &mut Writer,
        buf: &[u8],
        rel_offsets: &[u64],
        leaves: &[Hash],
        payload: u64,
    ) -> Result<Range<u64>, AppendError> {
        let start = w.frontier.size();
        if w.seg.len > SEGMENT_HEADER_LEN && w.seg.len + buf.len() as u64 > self.opts.segment_size {
            self.rotate(w, start)?;
        }
        let seg_off = w.seg.len;
        let mut frontier = w.frontier.clone();
        let level_bufs = extend_frontier(&mut frontier, leaves);
        let mut offsets = Vec::with_capacity(rel_offsets.len() * 8);
        for rel in rel_offsets {
            offsets.extend_from_slice(&(seg_off + rel).to_le_bytes());
        }

        let written = w.seg.file.write_all_at(buf, seg_off).and_then(|()| {
            let mut levels = self.levels.write();
            write_derived(
                &self.offsets,
                &mut levels,
                &self.tree_dir,
                start,
                &offsets,
                &level_bufs,
            )
        });
        if let Err(e) = written {
            // Derived files are written at absolute positions and rewritten by the next batch;
            // only the segment must not keep a partial batch.
            if let Err(trunc) = w.seg.file.set_len(seg_off) {
                self.fail(format!(
                    "cannot roll back a failed write to {}: {trunc}",
                    w.seg.path.display()
                ));
            }
            return Err(classify(e));
        }

        w.seg.len += buf.len() as u64;
        w.frontier = frontier;
        w.root = w.frontier.root();
        self.bytes.fetch_add(payload, Ordering::Relaxed);
        let end = w.frontier.size();
        if self.opts.fsync == FsyncPolicy::BeforeCheckpoint {
            self.publish_visible(end);
        }
        Ok(start..end)
    }

    /// Seals the active segment (fsynced first, so no newer segment exists while it holds
    /// unsynced entries) and starts a new one at entry `start`.
    fn rotate(&self, w: &mut Writer, start: u64) -> Result<(), AppendError> {
        if let Err(e) = w.seg.file.sync_data() {
            self.fail(format!("fsync of {} failed: {e}", w.seg.path.display()));
            return Err(classify(e));
        }
        let (path, file) = create_segment(&self.segments_dir, start).map_err(classify)?;
        let file = Arc::new(file);
        {
            let mut table = self.segments.write();
            table.sealed.push((w.seg.first, w.seg.path.clone()));
            table.active_first = start;
            table.active = Arc::clone(&file);
        }
        self.segment_count.fetch_add(1, Ordering::Relaxed);
        w.seg = ActiveSegment {
            first: start,
            path,
            file,
            len: SEGMENT_HEADER_LEN,
        };
        Ok(())
    }

    /// Group commit: makes everything written so far durable, unless entries up to `need`
    /// already are (`None`: always sync what is written).
    fn sync_to(&self, need: Option<u64>) -> Result<(), AppendError> {
        let _serial = self.sync_lock.lock();
        if let Some(need) = need {
            if self.durable.lock().size >= need {
                return Ok(());
            }
        }
        self.check_failed()?;
        let (head, file, path) = {
            let w = self.writer.lock();
            (
                Head {
                    size: w.frontier.size(),
                    root: w.root,
                },
                Arc::clone(&w.seg.file),
                w.seg.path.clone(),
            )
        };
        if self.durable.lock().size >= head.size {
            return Ok(());
        }
        let started = Instant::now();
        if let Err(e) = file.sync_data() {
            self.fail(format!("fsync of {} failed: {e}", path.display()));
            return Err(classify(e));
        }
        let took = started.elapsed();
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if let Some(observer) = &self.opts.fsync_observer {
            observer(took);
        }
        *self.durable.lock() = head;
        if self.opts.fsync == FsyncPolicy::Always {
            self.publish_visible(head.size);
        }
        Ok(())
    }

    /// Signs a checkpoint of everything durable if the log grew since the last one.
    fn checkpoint_now(&self) -> Result<bool, CheckpointWriteError> {
        let mut log = self.ckpt_log.lock();
        self.sync_to(None).map_err(|e| match e {
            AppendError::Io { source } | AppendError::DiskFull { source } => {
                CheckpointWriteError::Io(source)
            }
            other => CheckpointWriteError::Failed(other.to_string()),
        })?;
        if let Some(reason) = self.failed.lock().clone() {
            return Err(CheckpointWriteError::Failed(reason));
        }
        let head = *self.durable.lock();
        if let Some(latest) = &*self.latest.read() {
            if latest.checkpoint.size >= head.size {
                return Ok(false);
            }
        }
        // Derived hashes up to `head.size` become trusted state for the next open.
        self.offsets.sync_data()?;
        for level in self.levels.read().iter() {
            level.sync_data()?;
        }
        fsutil::sync_dir(&self.tree_dir)?;

        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: head.size,
            root: head.root,
            extensions: Vec::new(),
        };
        let note = self
            .signer
            .sign(&checkpoint)
            .map_err(|e| CheckpointWriteError::Sign(e.to_string()))?;
        let signed_at = unix_now();
        log.append(signed_at, &note)?;
        *self.latest.write() = Some(Latest {
            checkpoint,
            note,
            signed_at,
        });
        self.checkpoints_signed.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn checkpoint_loop(&self) {
        let mut stop = self.stop.lock();
        loop {
            if *stop {
                return;
            }
            self.stop_cv
                .wait_for(&mut stop, self.opts.checkpoint_interval);
            if *stop {
                return;
            }
            let signed = self.latest.read().as_ref().map_or(0, |l| l.checkpoint.size);
            let grown = self.writer.lock().frontier.size() > signed;
            if grown && self.failed.lock().is_none() {
                let result = MutexGuard::unlocked(&mut stop, || self.checkpoint_now());
                *self.last_checkpoint_error.lock() = result.err().map(|e| e.to_string());
            }
        }
    }

    fn checkpoint_of_size(&self, size: u64) -> Result<Option<String>, ReadError> {
        let path = self.ckpt_log.lock().path.clone();
        let file = File::open(&path)?;
        let (records, _) = layout::read_checkpoint_log(&file)?;
        Ok(records.into_iter().rev().find_map(|rec| {
            let cp_size = rec
                .note
                .split('\n')
                .nth(1)
                .and_then(crate::checkpoint::parse_decimal);
            (cp_size == Some(size)).then_some(rec.note)
        }))
    }

    /// The file holding entry `index` (which must be below the visible size).
    fn segment_for(&self, index: u64) -> io::Result<Arc<File>> {
        let (first, path) = {
            let table = self.segments.read();
            if index >= table.active_first {
                return Ok(Arc::clone(&table.active));
            }
            let pos = table.sealed.partition_point(|(first, _)| *first <= index);
            let Some((first, path)) = pos.checked_sub(1).and_then(|p| table.sealed.get(p)) else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no local segment holds entry {index} (archived segments are listed in \
                         archive.json)"
                    ),
                ));
            };
            let cache = self.sealed_cache.lock();
            if let Some((_, file)) = cache.iter().find(|(f, _)| f == first) {
                return Ok(Arc::clone(file));
            }
            (*first, path.clone())
        };
        let file = Arc::new(File::open(&path)?);
        let mut cache = self.sealed_cache.lock();
        if cache.len() >= 16 {
            cache.remove(0);
        }
        cache.push((first, Arc::clone(&file)));
        Ok(file)
    }

    fn read_range_with(
        &self,
        start: u64,
        max: usize,
        buf: &mut Vec<u8>,
        mut visit: impl FnMut(u64, &[u8]),
    ) -> Result<u64, ReadError> {
        let size = self.visible.load(Ordering::Acquire);
        if start > size {
            return Err(ReadError::OutOfRange { index: start, size });
        }
        let n = (size - start).min(max as u64);
        if n == 0 {
            return Ok(0);
        }
        let mut raw = vec![0u8; n as usize * 8];
        self.offsets.read_exact_at(&mut raw, start * 8)?;
        let offsets: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        let mut i = 0usize;
        while i < offsets.len() {
            let index = start + i as u64;
            let file = self.segment_for(index)?;
            // Entries stored back to back in one segment are read with one pread; a smaller
            // offset means the next entry starts a new segment.
            let mut j = i + 1;
            while j < offsets.len() && offsets[j] > offsets[j - 1] {
                j += 1;
            }
            let first_off = offsets[i];
            let last_off = offsets[j - 1];
            let mut header = [0u8; RECORD_HEADER_LEN as usize];
            file.read_exact_at(&mut header, last_off)?;
            let (last_len, _) = layout::parse_record_header(&header);
            let span_end = last_off + RECORD_HEADER_LEN + u64::from(last_len);
            let span_len = span_end
                .checked_sub(first_off)
                .filter(|l| *l <= (MAX_ENTRY_LEN as u64 + RECORD_HEADER_LEN) * (j - i) as u64)
                .ok_or_else(|| ReadError::Corrupt {
                    index,
                    reason: "stored record offsets are inconsistent".to_owned(),
                })?;
            // The buffer only grows: its pages stay mapped from one call to the next instead of
            // being faulted in and zeroed by the kernel for every batch (8.8% of the index
            // reader thread when each call allocated its own).
            let span_len = span_len as usize;
            if buf.len() < span_len {
                buf.resize(span_len, 0);
            }
            let span = &mut buf[..span_len];
            file.read_exact_at(span, first_off)?;
            let span = &*span;
            for (k, off) in offsets[i..j].iter().enumerate() {
                let at = (off - first_off) as usize;
                let index = index + k as u64;
                let corrupt = |reason: &str| ReadError::Corrupt {
                    index,
                    reason: reason.to_owned(),
                };
                let head: [u8; 8] = span
                    .get(at..at + 8)
                    .and_then(|h| h.try_into().ok())
                    .ok_or_else(|| corrupt("record header out of bounds"))?;
                let (len, crc) = layout::parse_record_header(&head);
                let entry = span
                    .get(at + 8..at + 8 + len as usize)
                    .ok_or_else(|| corrupt("record extends past its neighbours"))?;
                if layout::record_crc(entry) != crc {
                    return Err(corrupt("record checksum mismatch"));
                }
                visit(index, entry);
            }
            i = j;
        }
        Ok(n)
    }
}
