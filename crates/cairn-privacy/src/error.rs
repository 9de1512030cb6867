//! Error enums, one per operation family.

use std::path::PathBuf;

/// The `[privacy]` configuration is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A pattern (custom rule or attribute-key glob) does not compile.
    #[error("invalid pattern in {field}: {message}")]
    Pattern {
        /// The configuration key.
        field: String,
        /// The regex compiler's message.
        message: String,
    },
    /// `privacy.redaction.builtins` names no built-in detector.
    #[error("unknown built-in redaction rule {name:?} in privacy.redaction.builtins (known: {known})", known = crate::BUILTIN_RULES.join(", "))]
    UnknownBuiltin {
        /// The name given.
        name: String,
    },
    /// A custom rule name is empty or has characters other than `[A-Za-z0-9_-]`.
    #[error(
        "invalid redaction rule name {name:?} in privacy.redaction.rules: use 1 or more of A-Z a-z 0-9 _ -"
    )]
    RuleName {
        /// The name given.
        name: String,
    },
}

/// The master key cannot be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// The key file cannot be read.
    #[error("cannot read the master key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file cannot be created.
    #[error("cannot create the master key file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not base64 of exactly 32 bytes.
    #[error("invalid master key from {from}: {message}")]
    Invalid {
        /// The file or `CAIRN_MASTER_KEY`.
        from: String,
        /// What is wrong.
        message: String,
    },
}

/// A keystore operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// Reading, writing, syncing or deleting a key file failed.
    #[error("keystore i/o on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file does not parse.
    #[error("corrupt key file {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A key file does not unwrap with the master key (a different master key wrapped it).
    #[error("key file {path} does not unwrap with the configured master key (wrong master key?)")]
    Unwrap {
        /// The file.
        path: PathBuf,
    },
}

/// Setting up privacy (configuration, master key, keystore) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrivacyError {
    /// See [`ConfigError`].
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// See [`MasterKeyError`].
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// See [`KeystoreError`].
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
}
