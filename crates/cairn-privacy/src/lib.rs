//! Cairn's privacy layer, applied at ingest before anything is written, and undone (as far as the
//! keys allow) when reading.
//!
//! - [`redact`]: detectors (emails, phone numbers, Luhn-valid card numbers, `sk-…` API keys, AWS
//!   access keys, JWTs, bearer tokens), custom regexes, per-attribute allow and deny lists. Every
//!   match becomes `[REDACTED:<rule>]`; `cairn.redacted` lists `<attribute>:<rule>` pairs, never
//!   the value. Redaction is irreversible: the ledger never sees the original.
//! - [`shred`]: crypto-shredding (GDPR Art. 17). Content attributes are encrypted with the data
//!   subject's own key (XChaCha20-Poly1305) before the ledger append; destroying the key erases
//!   the content everywhere the ledger's bytes are kept, without changing those bytes — so the
//!   Merkle tree, every checkpoint and every old proof stay valid.
//! - [`keystore`]: the master key (file or `CAIRN_MASTER_KEY`) and the per-subject data keys it
//!   wraps, in `<data_dir>/keystore/`.
//! - [`audit`]: the `cairn.audit.erasure` ledger record.
//!
//! # Invariants
//! - Order at ingest: redact, then encrypt, then encode (so redaction sees plaintext, and
//!   `cairn.redacted` itself is never encrypted).
//! - A data key is durable (fsynced, directory fsynced) before any value is encrypted with it.
//! - No subject → no encryption. No master key → no encryption, and values that are already
//!   encrypted (from an earlier configuration) are shown as stored.
//! - Nothing here ever logs or records a redacted value, a plaintext subject id or key material.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod audit;
mod config;
mod error;
mod keys;
pub mod keystore;
pub mod redact;
pub mod shred;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use cairn_model::{LogRecord, Record, Span};
use parking_lot::Mutex;

pub use config::{
    BUILTIN_RULES, CustomRule, DEFAULT_CONTENT_ATTRIBUTES, DEFAULT_SUBJECT_ATTRIBUTES,
    EncryptionConfig, PrivacyConfig, RedactionConfig,
};
pub use error::{ConfigError, KeystoreError, MasterKeyError, PrivacyError};
pub use keystore::{Keystore, MASTER_KEY_ENV, MasterKey};
pub use redact::{REDACTED_ATTRIBUTE, RedactionReport, Redactor};
pub use shred::{ENCRYPTED_PREFIX, ERASED, RevealReport, SUBJECT_KEY_ATTRIBUTE, Shredder};

/// The keystore's directory under the data dir.
pub fn keystore_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("keystore")
}

/// Redaction and crypto-shredding as configured, shared by ingest, the indexer and erasure.
#[derive(Debug)]
pub struct Privacy {
    redactor: Option<Redactor>,
    shredder: Option<Shredder>,
    redactions: Mutex<BTreeMap<String, u64>>,
}

impl Privacy {
    /// Builds the privacy layer: compiles the redaction rules and, when a master key is
    /// configured (`master_key_file`, else `env_master_key` — the value of `CAIRN_MASTER_KEY`),
    /// opens the keystore in `<data_dir>/keystore/`.
    pub fn open(
        config: &PrivacyConfig,
        data_dir: &Path,
        env_master_key: Option<&str>,
    ) -> Result<Self, PrivacyError> {
        let redactor = if config.redaction.enabled {
            Some(Redactor::new(&config.redaction)?)
        } else {
            None
        };
        let shredder = match MasterKey::load(config.master_key_file.as_deref(), env_master_key)? {
            Some(master) => {
                let keystore = Arc::new(Keystore::open(&keystore_dir(data_dir), master)?);
                Some(Shredder::new(keystore, &config.encryption)?)
            }
            None => None,
        };
        Ok(Self {
            redactor,
            shredder,
            redactions: Mutex::new(BTreeMap::new()),
        })
    }

    /// Neither redaction nor encryption.
    pub fn disabled() -> Self {
        Self {
            redactor: None,
            shredder: None,
            redactions: Mutex::new(BTreeMap::new()),
        }
    }

    /// `true` when content is encrypted (a master key is configured).
    pub fn encrypts(&self) -> bool {
        self.shredder.is_some()
    }

    /// The redactor, when redaction is enabled.
    pub fn redactor(&self) -> Option<&Redactor> {
        self.redactor.as_ref()
    }

    /// The shredder, when a master key is configured.
    pub fn shredder(&self) -> Option<&Shredder> {
        self.shredder.as_ref()
    }

    /// The keystore, when a master key is configured.
    pub fn keystore(&self) -> Option<&Arc<Keystore>> {
        self.shredder.as_ref().map(Shredder::keystore)
    }

    fn count(&self, report: &RedactionReport) {
        if report.is_empty() {
            return;
        }
        let mut totals = self.redactions.lock();
        for (rule, n) in &report.counts {
            *totals.entry(rule.clone()).or_default() += n;
        }
    }

    /// Redacts, then encrypts a span (ingest, before encoding). Fails only when a new data key
    /// cannot be written; the span must then not be stored.
    pub fn protect_span(&self, span: &mut Span) -> Result<RedactionReport, KeystoreError> {
        let report = self
            .redactor
            .as_ref()
            .map(|r| r.redact_span(span))
            .unwrap_or_default();
        self.count(&report);
        if let Some(shredder) = &self.shredder {
            shredder.encrypt_span(span)?;
        }
        Ok(report)
    }

    /// Redacts, then encrypts a log record (ingest, before encoding).
    pub fn protect_log(&self, log: &mut LogRecord) -> Result<RedactionReport, KeystoreError> {
        let report = self
            .redactor
            .as_ref()
            .map(|r| r.redact_log(log))
            .unwrap_or_default();
        self.count(&report);
        if let Some(shredder) = &self.shredder {
            shredder.encrypt_log(log)?;
        }
        Ok(report)
    }

    /// Decrypts a record read from the ledger (for the index and exporters); values whose key
    /// was destroyed read `[erased]`. A no-op without a master key.
    pub fn reveal(&self, record: &mut Record) -> RevealReport {
        match &self.shredder {
            Some(shredder) => shredder.reveal(record),
            None => RevealReport::default(),
        }
    }

    /// Redactions since start, per rule.
    pub fn redaction_counts(&self) -> BTreeMap<String, u64> {
        self.redactions.lock().clone()
    }
}
