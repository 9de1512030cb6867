//! The master key and the keystore of per-subject data keys.
//!
//! # Master key
//! 32 random bytes, written as standard base64 (one line) to a file created with mode 0600
//! (`cairn privacy init-master-key FILE`), or given as base64 in `CAIRN_MASTER_KEY`. Losing it
//! makes every encrypted value unreadable; it never leaves the process.
//!
//! # Keystore layout (`<data_dir>/keystore/`)
//! One file per data subject, `<subject hash>.key`, where the subject hash is
//! `hex(HMAC-SHA256(HMAC-SHA256(master, "cairn/subject-hash/v1"), subject))` — a salted hash: the
//! subject id itself is never written to disk, and without the master key the file name cannot be
//! linked to a subject. The file is JSON:
//!
//! ```json
//! {"version":1,"key_id":"<32 hex: 16 random bytes>","wrapped":"<base64(nonce24 || ciphertext)>","created_unix_secs":1733500000}
//! ```
//!
//! `wrapped` is the 32-byte data key sealed with XChaCha20-Poly1305 under the master key, with the
//! associated data `cairn/keystore/v1:<key_id>` (so a wrapped key cannot be moved to another id).
//! The key id is random, not derived from the subject: ciphertexts in the ledger name it in clear
//! and must not reveal whose they are.
//!
//! # Durability
//! A new key is written to `<hash>.key.tmp`, fsynced, renamed into place and the directory is
//! fsynced, all before the key is used — so no ledger entry can ever be encrypted with a key that
//! a crash could lose. Destroying a key overwrites the file with zeros, fsyncs it, unlinks it and
//! fsyncs the directory. (Overwriting is best effort on copy-on-write file systems and SSDs; the
//! guarantee rests on the wrapped key being gone and the master key not being in the file.)

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{KeystoreError, MasterKeyError};

/// The environment variable holding a base64 master key.
pub const MASTER_KEY_ENV: &str = "CAIRN_MASTER_KEY";

const NONCE_LEN: usize = 24;

/// The 32-byte master key that wraps every data key. Zeroed on drop; `Debug` shows nothing.
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// Parses base64 (standard alphabet, surrounding whitespace ignored) of exactly 32 bytes.
    pub fn from_base64(text: &str, from: &str) -> Result<Self, MasterKeyError> {
        let bytes =
            Zeroizing::new(
                STANDARD
                    .decode(text.trim())
                    .map_err(|e| MasterKeyError::Invalid {
                        from: from.to_owned(),
                        message: format!("not base64: {e}"),
                    })?,
            );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::Invalid {
                from: from.to_owned(),
                message: format!("must be 32 bytes, got {}", bytes.len()),
            })?;
        Ok(Self(key))
    }

    /// The key as base64.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Loads the key from `file` when given, else from `env` (the value of `CAIRN_MASTER_KEY`);
    /// `None` when neither is set.
    pub fn load(file: Option<&Path>, env: Option<&str>) -> Result<Option<Self>, MasterKeyError> {
        if let Some(path) = file {
            let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| {
                MasterKeyError::Read {
                    path: path.to_owned(),
                    source,
                }
            })?);
            return Self::from_base64(&text, &path.display().to_string()).map(Some);
        }
        match env.map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => Self::from_base64(value, MASTER_KEY_ENV).map(Some),
            None => Ok(None),
        }
    }

    /// Generates a key and writes it to a new file (never overwriting one), mode 0600, synced.
    pub fn generate_file(path: &Path) -> Result<Self, MasterKeyError> {
        let key = Self::generate();
        let err = |source| MasterKeyError::Write {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(err)?;
        file.write_all(format!("{}\n", key.to_base64()).as_bytes())
            .map_err(err)?;
        file.sync_all().map_err(err)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(err)?;
        }
        Ok(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// The salted hash naming a subject on disk and in erasure records.
    pub fn subject_hash(&self, subject: &str) -> String {
        let mut salt = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("hmac takes any key");
        salt.update(b"cairn/subject-hash/v1");
        let salt: Zeroizing<[u8; 32]> = Zeroizing::new(salt.finalize().into_bytes().into());
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&salt[..]).expect("hmac takes any key");
        mac.update(subject.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// One subject's data key. Zeroed on drop; `Debug` shows only the id.
pub struct DataKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("id", &self.id).finish()
    }
}

impl DataKey {
    /// The key id (32 hex digits), as written in ciphertexts.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.key).into())
    }
}

/// Seals `plaintext` with a random nonce: `nonce || ciphertext`.
pub(crate) fn seal(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("xchacha20poly1305 encryption does not fail for in-memory buffers");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens `nonce || ciphertext`; `None` when it does not authenticate.
pub(crate) fn open(cipher: &XChaCha20Poly1305, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    key_id: String,
    wrapped: String,
    created_unix_secs: u64,
}

/// A data key that was destroyed: still in memory, so the caller can find what it encrypted
/// (to remove the plaintext from the index) before dropping it.
#[derive(Debug)]
pub struct Destroyed {
    /// The destroyed key (zeroed when the last reference drops).
    pub key: Arc<DataKey>,
    /// The subject's salted hash (the key file's name).
    pub subject_hash: String,
}

#[derive(Debug, Default)]
struct State {
    by_subject: HashMap<String, Arc<DataKey>>,
    by_id: HashMap<String, Arc<DataKey>>,
}

/// The data keys of every subject, unwrapped in memory, persisted under `<data_dir>/keystore/`.
#[derive(Debug)]
pub struct Keystore {
    dir: PathBuf,
    master: MasterKey,
    state: Mutex<State>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keystore {
    /// Opens (creating) the keystore directory and unwraps every key in it. A key that does not
    /// unwrap with `master` is an error: running with the wrong master key would otherwise create
    /// new keys beside unreadable old ones.
    pub fn open(dir: &Path, master: MasterKey) -> Result<Self, KeystoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
        }
        let mut state = State::default();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.ends_with(".key.tmp") {
                // A key that never finished being written was never used: remove it.
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let Some(hash) = name.strip_suffix(".key") else {
                continue;
            };
            let key = Arc::new(read_key(&path, &master)?);
            state.by_id.insert(key.id.clone(), Arc::clone(&key));
            state.by_subject.insert(hash.to_owned(), key);
        }
        Ok(Self {
            dir: dir.to_owned(),
            master,
            state: Mutex::new(state),
        })
    }

    /// The keystore directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The master key.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Number of live data keys.
    pub fn len(&self) -> usize {
        self.state.lock().by_id.len()
    }

    /// `true` when there is no data key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The subject's key, created (and durably written) on first use.
    pub fn key_for_subject(&self, subject: &str) -> Result<Arc<DataKey>, KeystoreError> {
        let hash = self.master.subject_hash(subject);
        let mut state = self.state.lock();
        if let Some(key) = state.by_subject.get(&hash) {
            return Ok(Arc::clone(key));
        }
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut *raw);
        let key = Arc::new(DataKey {
            id: hex::encode(id),
            key: raw,
        });
        let wrapped = seal(
            &self.master.cipher(),
            wrap_aad(&key.id).as_bytes(),
            &*key.key,
        );
        let file = KeyFile {
            version: 1,
            key_id: key.id.clone(),
            wrapped: STANDARD.encode(wrapped),
            created_unix_secs: unix_now(),
        };
        let json = serde_json::to_vec(&file).expect("key file serializes");
        let path = self.dir.join(format!("{hash}.key"));
        let tmp = self.dir.join(format!("{hash}.key.tmp"));
        {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&json).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        state.by_id.insert(key.id.clone(), Arc::clone(&key));
        state.by_subject.insert(hash, Arc::clone(&key));
        Ok(key)
    }

    /// The key with this id, if it exists (was not destroyed).
    pub fn key_by_id(&self, id: &str) -> Option<Arc<DataKey>> {
        self.state.lock().by_id.get(id).cloned()
    }

    /// The subject's key, if it has one (never creates).
    pub fn existing_key(&self, subject: &str) -> Option<Arc<DataKey>> {
        let hash = self.master.subject_hash(subject);
        self.state.lock().by_subject.get(&hash).cloned()
    }

    /// Destroys the subject's key: overwrites the file with zeros, syncs it, unlinks it and syncs
    /// the directory, then forgets it in memory. `None` when the subject has no key.
    pub fn destroy(&self, subject: &str) -> Result<Option<Destroyed>, KeystoreError> {
        let hash = self.master.subject_hash(subject);
        let mut state = self.state.lock();
        let path = self.dir.join(format!("{hash}.key"));
        let Some(key) = state.by_subject.get(&hash).cloned() else {
            return Ok(None);
        };
        match fs::metadata(&path) {
            Ok(meta) => {
                let len = usize::try_from(meta.len()).unwrap_or(0);
                let mut f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.write_all(&vec![0u8; len]).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
                drop(f);
                fs::remove_file(&path).map_err(io_err(&path))?;
                sync_dir(&self.dir).map_err(io_err(&self.dir))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        state.by_subject.remove(&hash);
        state.by_id.remove(&key.id);
        Ok(Some(Destroyed {
            key,
            subject_hash: hash,
        }))
    }
}

fn wrap_aad(key_id: &str) -> String {
    format!("cairn/keystore/v1:{key_id}")
}

fn read_key(path: &Path, master: &MasterKey) -> Result<DataKey, KeystoreError> {
    let corrupt = |message: String| KeystoreError::Corrupt {
        path: path.to_owned(),
        message,
    };
    let bytes = fs::read(path).map_err(io_err(path))?;
    let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != 1 {
        return Err(corrupt(format!("unknown version {}", file.version)));
    }
    let sealed = STANDARD
        .decode(&file.wrapped)
        .map_err(|e| corrupt(format!("wrapped key is not base64: {e}")))?;
    let raw = Zeroizing::new(
        open(&master.cipher(), wrap_aad(&file.key_id).as_bytes(), &sealed).ok_or_else(|| {
            KeystoreError::Unwrap {
                path: path.to_owned(),
            }
        })?,
    );
    let key: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| corrupt(format!("data key is {} bytes, not 32", raw.len())))?;
    Ok(DataKey {
        id: file.key_id,
        key: Zeroizing::new(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master_from(seed: u8) -> MasterKey {
        MasterKey([seed; 32])
    }

    #[test]
    fn keys_persist_unwrap_and_are_destroyed() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::open(dir.path(), master_from(1)).unwrap();
        let a = ks.key_for_subject("alice").unwrap();
        let a2 = ks.key_for_subject("alice").unwrap();
        assert_eq!(a.id(), a2.id());
        let b = ks.key_for_subject("bob").unwrap();
        assert_ne!(a.id(), b.id());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(
            names
                .iter()
                .all(|n| !n.contains("alice") && n.ends_with(".key"))
        );

        // Reopen: same keys.
        drop(ks);
        let ks = Keystore::open(dir.path(), master_from(1)).unwrap();
        assert_eq!(ks.existing_key("alice").unwrap().id(), a.id());
        assert_eq!(ks.key_by_id(b.id()).unwrap().id(), b.id());

        // Destroy alice: file gone, bob intact, after reopen too.
        let gone = ks.destroy("alice").unwrap().unwrap();
        assert_eq!(gone.key.id(), a.id());
        assert!(ks.key_by_id(a.id()).is_none());
        assert!(ks.destroy("alice").unwrap().is_none());
        drop(ks);
        let ks = Keystore::open(dir.path(), master_from(1)).unwrap();
        assert!(ks.existing_key("alice").is_none());
        assert!(ks.existing_key("bob").is_some());
        assert_eq!(ks.len(), 1);
        // A new key for alice gets a new id.
        assert_ne!(ks.key_for_subject("alice").unwrap().id(), a.id());
    }

    #[test]
    fn a_wrong_master_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::open(dir.path(), master_from(1)).unwrap();
        ks.key_for_subject("alice").unwrap();
        drop(ks);
        let err = Keystore::open(dir.path(), master_from(2)).unwrap_err();
        assert!(matches!(err, KeystoreError::Unwrap { .. }), "{err}");
    }

    #[test]
    fn master_key_files_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::generate_file(&path).unwrap();
        assert!(MasterKey::generate_file(&path).is_err(), "never overwrites");
        let loaded = MasterKey::load(Some(&path), None).unwrap().unwrap();
        assert_eq!(loaded.to_base64(), key.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let from_env = MasterKey::load(None, Some(&key.to_base64()))
            .unwrap()
            .unwrap();
        assert_eq!(from_env.subject_hash("x"), key.subject_hash("x"));
        assert!(MasterKey::load(None, None).unwrap().is_none());
        let err = MasterKey::load(None, Some("c2hvcnQ=")).unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
        assert!(format!("{key:?}") == "MasterKey(..)");
    }
}
