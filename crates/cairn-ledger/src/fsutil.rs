//! Small durable-file helpers: atomic replacement, directory fsync, the directory lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Makes a directory's entries (new, renamed or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` atomically and durably: write a temporary file, fsync it, rename
/// it over `path`, fsync the directory. `mode` applies to the new file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Takes an exclusive, non-blocking `flock` on `<dir>/LOCK`. The lock lives as long as the
/// returned file and is released by the kernel if the process dies.
///
/// Returns `Ok(None)` if another process (or another `Ledger` in this one) holds it.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(dir.join(crate::layout::LOCK_FILE))?;
    if flock_exclusive_nonblocking(&file)? {
        Ok(Some(file))
    } else {
        Ok(None)
    }
}

// `File::try_lock` would do this without `unsafe`, but it needs Rust 1.89 and the workspace
// promises 1.85; this is the crate's only FFI call.
#[allow(unsafe_code)]
fn flock_exclusive_nonblocking(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` only reads the descriptor number, which stays valid for the duration of
    // the call because `file` is borrowed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Whether an I/O error means the disk (or quota) is full.
pub(crate) fn is_disk_full(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}
