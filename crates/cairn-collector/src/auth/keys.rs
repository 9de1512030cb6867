//! The API key file: `<data_dir>/keys.json`, written by `cairn keys`, read by the server.
//!
//! Format (JSON, mode 0600, replaced atomically by write-to-temp + rename):
//!
//! ```json
//! {"version":1,"keys":[{"id":"3f9a0c1d2e4b","project":"shop","scope":"read",
//!   "secret_sha256":"<64 hex>","created_unix":1733500000,"revoked_unix":null,
//!   "rate_limit_per_sec":null}]}
//! ```
//!
//! A key as handed to clients is `cairn_<id>_<secret>`: `id` is 12 lowercase hex digits (48 random
//! bits, unique within the file, not secret), `secret` 64 lowercase hex digits (256 random bits
//! from the OS generator). Only SHA-256 of the secret is stored; a plain hash (no slow KDF) is
//! enough because the secret is uniformly random with 256 bits of entropy, so there is nothing
//! to brute-force. The presented secret's hash is compared in constant time (`subtle`).
//!
//! Invariants: ids are unique; revoked keys stay in the file (with `revoked_unix`) so `list`
//! shows them and a revoked id is never reused.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::Scope;

/// File name of the key file inside the data dir.
pub const KEYS_FILE: &str = "keys.json";
/// Prefix of every key.
pub const KEY_PREFIX: &str = "cairn_";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;
const FILE_VERSION: u32 = 1;

/// Reading or changing the key file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("cannot {action} key file {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a key file of this version.
    #[error("invalid key file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No key with this id.
    #[error("no key with id {0:?}")]
    NoSuchKey(String),
    /// The project name is empty or has characters outside `[A-Za-z0-9._-]`, or is too long.
    #[error("invalid project name {0:?}: use 1 to 64 characters from A-Z a-z 0-9 . _ -")]
    InvalidProject(String),
    /// The rate limit is zero.
    #[error("rate limit must be at least 1 request per second")]
    InvalidRateLimit,
}

/// One key as stored (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Public key id (12 hex digits).
    pub id: String,
    /// The project every span ingested and every query made with this key belongs to.
    pub project: String,
    /// What the key may do.
    pub scope: Scope,
    /// SHA-256 of the secret part, lowercase hex.
    pub secret_sha256: String,
    /// Creation time, unix seconds.
    pub created_unix: u64,
    /// Revocation time, unix seconds; `None` while the key is valid.
    pub revoked_unix: Option<u64>,
    /// Requests per second this key may make (token bucket, burst of the same size); `None` means
    /// unlimited.
    pub rate_limit_per_sec: Option<u32>,
}

impl KeyRecord {
    /// Whether `secret`'s hash equals the stored one, compared in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        presented
            .as_bytes()
            .ct_eq(self.secret_sha256.as_bytes())
            .into()
    }
}

/// The whole key file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Format version (1).
    pub version: u32,
    /// Every key ever created, revoked ones included.
    pub keys: Vec<KeyRecord>,
}

/// A freshly created key: its record and the full key string, shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// What was stored.
    pub record: KeyRecord,
    /// `cairn_<id>_<secret>`: give it to the client; it cannot be recovered later.
    pub key: String,
}

/// Splits `cairn_<id>_<secret>` into id and secret; `None` when the shape is wrong.
pub fn parse_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_of = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(id, ID_BYTES * 2) && hex_of(secret, SECRET_BYTES * 2)).then_some((id, secret))
}

/// Checks a project name: 1–64 of `[A-Za-z0-9._-]`.
pub fn validate_project(project: &str) -> Result<(), KeyError> {
    let ok = !project.is_empty()
        && project.len() <= 64
        && project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidProject(project.to_owned()))
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl KeyFile {
    /// The key file of a data dir.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(KEYS_FILE)
    }

    /// Reads the file; a missing file is an empty key set.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    version: FILE_VERSION,
                    keys: Vec::new(),
                });
            }
            Err(source) => {
                return Err(KeyError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file: Self = serde_json::from_str(&text).map_err(|e| KeyError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if file.version != FILE_VERSION {
            return Err(KeyError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "version {} is not supported (expected {FILE_VERSION})",
                    file.version
                ),
            });
        }
        Ok(file)
    }

    /// Writes the file atomically with mode 0600 (the parent directory must exist).
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        let text = serde_json::to_string_pretty(self).map_err(|e| KeyError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    /// Adds a new random key (not saved; call [`KeyFile::save`]).
    pub fn create(
        &mut self,
        project: &str,
        scope: Scope,
        rate_limit_per_sec: Option<u32>,
    ) -> Result<NewKey, KeyError> {
        validate_project(project)?;
        if rate_limit_per_sec == Some(0) {
            return Err(KeyError::InvalidRateLimit);
        }
        let mut rng = rand::rngs::OsRng;
        let id = loop {
            let mut bytes = [0u8; ID_BYTES];
            rng.fill_bytes(&mut bytes);
            let id = hex::encode(bytes);
            if !self.keys.iter().any(|k| k.id == id) {
                break id;
            }
        };
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        let record = KeyRecord {
            id: id.clone(),
            project: project.to_owned(),
            scope,
            secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            created_unix: now_unix(),
            revoked_unix: None,
            rate_limit_per_sec,
        };
        self.version = FILE_VERSION;
        self.keys.push(record.clone());
        Ok(NewKey {
            record,
            key: format!("{KEY_PREFIX}{id}_{secret}"),
        })
    }

    /// Marks a key revoked (idempotent; not saved).
    pub fn revoke(&mut self, id: &str) -> Result<&KeyRecord, KeyError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| KeyError::NoSuchKey(id.to_owned()))?;
        if key.revoked_unix.is_none() {
            key.revoked_unix = Some(now_unix());
        }
        Ok(key)
    }

    /// The record a presented key matches: shape, id, secret (constant time) and not revoked.
    pub fn find(&self, key: &str) -> Option<&KeyRecord> {
        let (id, secret) = parse_key(key)?;
        let record = self.keys.iter().find(|k| k.id == id)?;
        (record.secret_matches(secret) && record.revoked_unix.is_none()).then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_find_revoke_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = KeyFile::path_in(dir.path());
        let mut file = KeyFile::load(&path).unwrap();
        assert!(file.keys.is_empty());
        let new = file.create("shop", Scope::Read, Some(5)).unwrap();
        file.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let secret = parse_key(&new.key).unwrap().1;
        assert!(!text.contains(secret), "the secret is never stored");

        let mut file = KeyFile::load(&path).unwrap();
        let found = file.find(&new.key).unwrap();
        assert_eq!(found.project, "shop");
        assert_eq!(found.scope, Scope::Read);
        let mut wrong = new.key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert!(file.find(&wrong).is_none());
        assert!(file.find("cairn_nope").is_none());

        file.revoke(&new.record.id).unwrap();
        assert!(file.find(&new.key).is_none());
        assert!(matches!(file.revoke("ffffff"), Err(KeyError::NoSuchKey(_))));
    }

    #[test]
    fn bad_projects_and_limits_are_refused() {
        let mut file = KeyFile::default();
        for bad in ["", "a b", "x/y", &"p".repeat(65)] {
            assert!(matches!(
                file.create(bad, Scope::Read, None),
                Err(KeyError::InvalidProject(_))
            ));
        }
        assert!(matches!(
            file.create("p", Scope::Read, Some(0)),
            Err(KeyError::InvalidRateLimit)
        ));
    }
}
