//! Crypto-shredding: content attributes encrypted with the data subject's key before the ledger
//! append, decrypted for the index and exporters, unreadable forever once the key is destroyed.
//!
//! # Ciphertext format
//! An encrypted value is stored in place of the original as a string:
//!
//! ```text
//! cairn:enc:v1:<key id: 32 hex>:<base64url without padding of (nonce 24 bytes || ciphertext)>
//! ```
//!
//! The AEAD is XChaCha20-Poly1305 with the subject's data key and the attribute key as associated
//! data (`body` for a log body), so a ciphertext cannot be moved to another attribute unnoticed.
//! The plaintext is the `cairn_model::codec` encoding of a log record whose body is the original
//! value — the lossless OTLP `AnyValue` protobuf the ledger already uses, so strings, numbers,
//! arrays and key-value lists round-trip bit for bit.
//!
//! # Subject
//! The first of `subject_attributes` present on the record (its attributes, then its resource's)
//! with a non-empty value names the subject. A record with no subject is **not** encrypted (there
//! is nobody to erase it for); redaction still applies to it.
//!
//! Every content value is encrypted, including one a sender shaped like Cairn ciphertext: it is
//! wrapped like any other value and reads back as the sender's string, never decrypted twice.
//!
//! # Reading
//! [`Shredder::reveal`] replaces each ciphertext with its plaintext, or with `[erased]` when its
//! key no longer exists (or it does not authenticate), and sets `cairn.subject_key` to the key id
//! so the index and exporters can find a subject's records at erasure time.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_model::{AnyValue, KeyValue, LogRecord, Record, Span, codec};

use crate::keys::KeyPatterns;
use crate::keystore::{DataKey, Keystore, open, seal};
use crate::{ConfigError, EncryptionConfig, KeystoreError};

/// Prefix of every encrypted value.
pub const ENCRYPTED_PREFIX: &str = "cairn:enc:v1:";
/// What an encrypted value reads as once its key is destroyed.
pub const ERASED: &str = "[erased]";
/// Attribute the reading side sets to the key id of the record's encrypted values.
pub const SUBJECT_KEY_ATTRIBUTE: &str = "cairn.subject_key";
/// Associated data of an encrypted log body.
const BODY_AAD: &str = "body";

/// Splits `cairn:enc:v1:<key id>:<payload>`.
pub fn parse_ciphertext(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(ENCRYPTED_PREFIX)?;
    let (id, payload) = rest.split_once(':')?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some((id, payload))
}

fn seal_value(key: &DataKey, aad: &str, value: &AnyValue) -> String {
    let plaintext = codec::encode_log(&LogRecord {
        body: value.clone(),
        ..LogRecord::default()
    });
    let sealed = seal(&key.cipher(), aad.as_bytes(), &plaintext);
    format!(
        "{ENCRYPTED_PREFIX}{}:{}",
        key.id(),
        URL_SAFE_NO_PAD.encode(sealed)
    )
}

fn open_value(key: &DataKey, aad: &str, payload: &str) -> Option<AnyValue> {
    let sealed = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let plaintext = open(&key.cipher(), aad.as_bytes(), &sealed)?;
    match codec::decode(&plaintext).ok()? {
        Record::Log(log) => Some(log.body),
        _ => None,
    }
}

/// What [`Shredder::reveal`] found in one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevealReport {
    /// Values decrypted.
    pub decrypted: usize,
    /// Values whose key is gone (or that did not authenticate), now `[erased]`.
    pub erased: usize,
    /// The key id of the record's encrypted values (the first one seen).
    pub key_id: Option<String>,
}

/// Encrypts content attributes per subject and reverses it.
#[derive(Debug)]
pub struct Shredder {
    keystore: Arc<Keystore>,
    content: KeyPatterns,
    subjects: Vec<String>,
    log_body: bool,
}

impl Shredder {
    /// Builds a shredder over `keystore` with the patterns of `config`.
    pub fn new(keystore: Arc<Keystore>, config: &EncryptionConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            keystore,
            content: KeyPatterns::new("privacy.encryption.attributes", &config.attributes)?,
            subjects: config.subject_attributes.clone(),
            log_body: config.log_body,
        })
    }

    /// The keystore.
    pub fn keystore(&self) -> &Arc<Keystore> {
        &self.keystore
    }

    fn subject(&self, attrs: &[KeyValue], resource: &[KeyValue]) -> Option<String> {
        self.subjects.iter().find_map(|name| {
            attrs
                .iter()
                .chain(resource)
                .find(|kv| &kv.key == name)
                .map(|kv| kv.value.to_display_string())
                .filter(|s| !s.is_empty() && !s.starts_with(ENCRYPTED_PREFIX))
        })
    }

    fn encrypt_attributes(&self, key: &DataKey, attrs: &mut [KeyValue]) {
        for kv in attrs {
            if !self.content.matches(&kv.key) || matches!(kv.value, AnyValue::Empty) {
                continue;
            }
            kv.value = AnyValue::String(seal_value(key, &kv.key, &kv.value));
        }
    }

    /// Encrypts the content attributes of the span and its events with the subject's key
    /// (creating the key durably on first use). Returns the key id, `None` when the span has no
    /// subject.
    pub fn encrypt_span(&self, span: &mut Span) -> Result<Option<String>, KeystoreError> {
        let Some(subject) = self.subject(&span.attributes, &span.resource.attributes) else {
            return Ok(None);
        };
        let key = self.keystore.key_for_subject(&subject)?;
        self.encrypt_attributes(&key, &mut span.attributes);
        for event in &mut span.events {
            self.encrypt_attributes(&key, &mut event.attributes);
        }
        Ok(Some(key.id().to_owned()))
    }

    /// Encrypts the content attributes (and, with `log_body`, the body) of a log record.
    pub fn encrypt_log(&self, log: &mut LogRecord) -> Result<Option<String>, KeystoreError> {
        let Some(subject) = self.subject(&log.attributes, &log.resource.attributes) else {
            return Ok(None);
        };
        let key = self.keystore.key_for_subject(&subject)?;
        self.encrypt_attributes(&key, &mut log.attributes);
        if self.log_body && !matches!(log.body, AnyValue::Empty) {
            log.body = AnyValue::String(seal_value(&key, BODY_AAD, &log.body));
        }
        Ok(Some(key.id().to_owned()))
    }

    /// Decrypts every encrypted value with the keystore's live keys (see [`reveal_with`]).
    pub fn reveal(&self, record: &mut Record) -> RevealReport {
        reveal_with(record, &|id| self.keystore.key_by_id(id))
    }
}

/// Decrypts every encrypted top-level value of `record` (span and event attributes, log
/// attributes and body) with the keys `lookup` returns; a value whose key is unknown reads
/// `[erased]`. Sets `cairn.subject_key` when the record had any encrypted value.
pub fn reveal_with(
    record: &mut Record,
    lookup: &dyn Fn(&str) -> Option<Arc<DataKey>>,
) -> RevealReport {
    let mut report = RevealReport::default();
    match record {
        Record::Span(span) => {
            reveal_attributes(&mut span.attributes, lookup, &mut report);
            for event in &mut span.events {
                reveal_attributes(&mut event.attributes, lookup, &mut report);
            }
            mark_subject(&mut span.attributes, &report);
        }
        Record::Log(log) => {
            reveal_value(&mut log.body, BODY_AAD, lookup, &mut report);
            reveal_attributes(&mut log.attributes, lookup, &mut report);
            mark_subject(&mut log.attributes, &report);
        }
        _ => {}
    }
    report
}

fn reveal_value(
    value: &mut AnyValue,
    aad: &str,
    lookup: &dyn Fn(&str) -> Option<Arc<DataKey>>,
    report: &mut RevealReport,
) {
    let Some((id, payload)) = value.as_str().and_then(parse_ciphertext) else {
        return;
    };
    if report.key_id.is_none() {
        report.key_id = Some(id.to_owned());
    }
    match lookup(id).and_then(|key| open_value(&key, aad, payload)) {
        Some(plain) => {
            *value = plain;
            report.decrypted += 1;
        }
        None => {
            *value = AnyValue::String(ERASED.to_owned());
            report.erased += 1;
        }
    }
}

fn reveal_attributes(
    attrs: &mut [KeyValue],
    lookup: &dyn Fn(&str) -> Option<Arc<DataKey>>,
    report: &mut RevealReport,
) {
    for kv in attrs {
        reveal_value(&mut kv.value, &kv.key, lookup, report);
    }
}

/// Sets `cairn.subject_key` to the record's key id; a value the sender put there is removed
/// either way, so only Cairn's own marking is ever read.
fn mark_subject(attrs: &mut Vec<KeyValue>, report: &RevealReport) {
    attrs.retain(|kv| kv.key != SUBJECT_KEY_ATTRIBUTE);
    if let Some(id) = &report.key_id {
        attrs.push(KeyValue::new(SUBJECT_KEY_ATTRIBUTE, id.clone()));
    }
}
