//! C2SP `tlog-cosignature` (Ed25519 `cosignature/v1`): witness cosignatures on checkpoints.
//!
//! A cosignature is a signed-note signature line on a checkpoint note, by a witness key:
//!
//! ```text
//! — <witness name> base64(key id(4) || timestamp(8, u64 big-endian) || Ed25519 signature(64))
//!
//! key id   = SHA-256(<witness name> || "\n" || 0x04 || 32-byte public key)[..4]
//! message  = "cosignature/v1\n" || "time " <timestamp, ASCII decimal> "\n" || checkpoint body
//! ```
//!
//! The checkpoint body is the note text up to (not including) the blank line, with its final
//! newline; extension lines are included. The timestamp is POSIX seconds at signing and must not
//! exceed 2^63 - 1. A cosignature states that, as of that time, this is the largest checkpoint
//! of the log the witness has seen, and that it is consistent with every earlier one it saw.
//!
//! Keys use the `signed-note` encodings with signature type `0x04`:
//!
//! ```text
//! verifier key  <name>+<8 hex digits of key id>+<base64(0x04 || public key)>
//! signing key   PRIVATE+KEY+<name>+<8 hex digits of key id>+<base64(0x04 || seed)>
//! ```
//!
//! Signature lines and note parsing come from the `signed_note` crate; this module implements
//! its `Signer`/`Verifier` traits for the cosignature message, which the crate does not know.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use signed_note::{Note, Signature, VerifierList};

use crate::checkpoint::Checkpoint;

/// The signed-note signature type of Ed25519 `cosignature/v1` keys.
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;

/// Why a cosignature key, note or signature could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The key string is malformed (fields, base64, type byte, key id).
    #[error("malformed cosignature key: {0}")]
    BadKey(String),
    /// The note is malformed.
    #[error("malformed signed note")]
    MalformedNote,
    /// The note carries no valid cosignature by the key.
    #[error("no valid cosignature by {key}: {reason}")]
    NotCosigned {
        /// `<name>+<hex key id>` of the witness key.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// Signing failed.
    #[error("cosigning failed: {0}")]
    Sign(String),
}

/// Why a cosigned checkpoint could not be stored with the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreCosignedError {
    /// The note is not a checkpoint validly signed by this log.
    #[error("not a checkpoint of this log: {0}")]
    NotSigned(#[source] crate::checkpoint::CheckpointError),
    /// The checkpoint is larger than the latest one the log signed.
    #[error(
        "cosigned checkpoint of size {size} is ahead of the latest signed checkpoint ({latest})"
    )]
    AheadOfLog {
        /// Its size.
        size: u64,
        /// The latest signed size.
        latest: u64,
    },
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The message a `cosignature/v1` signs: header line, time line, checkpoint body.
pub fn cosigned_message(timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    msg.extend_from_slice(body);
    msg
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut key = Vec::with_capacity(33);
    key.push(COSIGNATURE_V1_TYPE);
    key.extend_from_slice(public);
    signed_note::key_id(name, &key)
}

/// Encodes a witness verifier key: `<name>+<hex id>+<base64(0x04 || public key)>`.
pub fn cosigner_vkey(name: &str, public: &VerifyingKey) -> String {
    let mut key = vec![COSIGNATURE_V1_TYPE];
    key.extend_from_slice(public.as_bytes());
    format!(
        "{name}+{:08x}+{}",
        key_id(name, public.as_bytes()),
        BASE64.encode(key)
    )
}

/// Splits `<name>+<hex id>+<base64 key>` (base64 may itself contain `+`).
fn split_key<'a>(fields: &'a str, what: &str) -> Result<(&'a str, u32, Vec<u8>), CosignError> {
    let mut parts = fields.splitn(3, '+');
    let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CosignError::BadKey(format!(
            "{what} must be <name>+<hex key id>+<base64 key>"
        )));
    };
    if !signed_note::is_key_name_valid(name) {
        return Err(CosignError::BadKey(format!(
            "{name:?} is not a valid key name"
        )));
    }
    if id.len() != 8 {
        return Err(CosignError::BadKey(
            "key id must be 8 hex digits".to_owned(),
        ));
    }
    let id = u32::from_str_radix(id, 16)
        .map_err(|_| CosignError::BadKey("key id must be 8 hex digits".to_owned()))?;
    let raw = BASE64
        .decode(b64)
        .map_err(|_| CosignError::BadKey("key is not base64".to_owned()))?;
    if raw.len() != 33 {
        return Err(CosignError::BadKey(format!(
            "key must be 33 bytes (type byte and 32-byte Ed25519 key), got {}",
            raw.len()
        )));
    }
    if raw[0] != COSIGNATURE_V1_TYPE {
        return Err(CosignError::BadKey(format!(
            "key type is 0x{:02x}, expected 0x04 (Ed25519 cosignature/v1)",
            raw[0]
        )));
    }
    Ok((name, id, raw[1..].to_vec()))
}

/// A witness's signing key.
pub struct CosignatureSigner {
    name: String,
    id: u32,
    key: SigningKey,
    /// Fixed timestamp for tests; `None` uses the clock.
    fixed_time: Option<u64>,
}

impl std::fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("vkey", &self.vkey())
            .finish_non_exhaustive()
    }
}

impl CosignatureSigner {
    /// Generates a fresh key named `name`; returns it with its encoded signing key.
    pub fn generate(name: &str) -> Result<(Self, String), CosignError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CosignError::BadKey(format!(
                "{name:?} cannot name a key (empty, or contains spaces or '+')"
            )));
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let signer = Self::from_parts(name, key);
        let skey = signer.skey();
        Ok((signer, skey))
    }

    fn from_parts(name: &str, key: SigningKey) -> Self {
        Self {
            name: name.to_owned(),
            id: key_id(name, key.verifying_key().as_bytes()),
            key,
            fixed_time: None,
        }
    }

    /// Loads `PRIVATE+KEY+<name>+<hex id>+<base64(0x04 || seed)>`.
    pub fn from_skey(skey: &str) -> Result<Self, CosignError> {
        let rest = skey.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            CosignError::BadKey("signing key must start with PRIVATE+KEY+".into())
        })?;
        let (name, id, seed) = split_key(rest, "signing key")?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| CosignError::BadKey("seed must be 32 bytes".to_owned()))?;
        let signer = Self::from_parts(name, SigningKey::from_bytes(&seed));
        if signer.id != id {
            return Err(CosignError::BadKey(format!(
                "key id {id:08x} does not match the key (expected {:08x})",
                signer.id
            )));
        }
        Ok(signer)
    }

    /// The encoded signing key (keep it secret).
    pub fn skey(&self) -> String {
        let mut raw = vec![COSIGNATURE_V1_TYPE];
        raw.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64.encode(raw)
        )
    }

    /// The encoded verifier key.
    pub fn vkey(&self) -> String {
        cosigner_vkey(&self.name, &self.key.verifying_key())
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs with this timestamp instead of the clock (tests, reproducible examples).
    pub fn with_fixed_time(mut self, timestamp: u64) -> Self {
        self.fixed_time = Some(timestamp);
        self
    }

    fn now(&self) -> u64 {
        self.fixed_time.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        })
    }

    /// Cosigns a checkpoint body; returns the signature line (`— <name> <base64>\n`).
    pub fn cosign(&self, checkpoint: &Checkpoint) -> Result<String, CosignError> {
        let mut note = Note::new(checkpoint.to_body().as_bytes(), &[])
            .map_err(|e| CosignError::Sign(e.to_string()))?;
        note.add_sigs(&[self as &dyn signed_note::Signer])
            .map_err(|e| CosignError::Sign(e.to_string()))?;
        let bytes = note.to_bytes();
        let text = String::from_utf8(bytes).map_err(|_| CosignError::MalformedNote)?;
        let (_, sig) = text.rsplit_once("\n\n").ok_or(CosignError::MalformedNote)?;
        Ok(sig.to_owned())
    }
}

impl signed_note::Signer for CosignatureSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        let timestamp = self.now().min(i64::MAX as u64);
        let sig = self.key.try_sign(&cosigned_message(timestamp, msg))?;
        let mut out = timestamp.to_be_bytes().to_vec();
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

/// A verified cosignature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cosignature {
    /// The witness name.
    pub name: String,
    /// The witness key id, 8 hex digits.
    pub key_id: String,
    /// When the witness cosigned, POSIX seconds.
    pub timestamp: u64,
}

/// Checks cosignatures by one witness key.
#[derive(Clone)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
    vkey: String,
}

impl std::fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignatureVerifier")
            .field("vkey", &self.vkey)
            .finish()
    }
}

impl CosignatureVerifier {
    /// Parses `<name>+<hex id>+<base64(0x04 || public key)>`.
    pub fn new(vkey: &str) -> Result<Self, CosignError> {
        let vkey = vkey.trim();
        let (name, id, public) = split_key(vkey, "verifier key")?;
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| CosignError::BadKey("public key must be 32 bytes".to_owned()))?;
        if key_id(name, &public) != id {
            return Err(CosignError::BadKey(format!(
                "key id {id:08x} does not match the key"
            )));
        }
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|e| CosignError::BadKey(format!("not an Ed25519 public key: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
            vkey: vkey.to_owned(),
        })
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `<name>+<hex key id>`, for messages.
    pub fn key_ref(&self) -> String {
        format!("{}+{:08x}", self.name, self.id)
    }

    /// The encoded verifier key.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// Finds and checks this witness's cosignature on `note`. Signatures by other keys are
    /// ignored; a signature line with this key's name and id that does not verify is an error.
    pub fn verify_note(&self, note: &str) -> Result<Cosignature, CosignError> {
        let parsed = Note::from_bytes(note.as_bytes()).map_err(|_| CosignError::MalformedNote)?;
        let not_cosigned = |reason: String| CosignError::NotCosigned {
            key: self.key_ref(),
            reason,
        };
        let list = VerifierList::new(vec![Box::new(self.clone())]);
        let (verified, _) = parsed.verify(&list).map_err(|e| match e {
            signed_note::NoteError::UnverifiedNote => {
                not_cosigned("the note has no signature by this key".to_owned())
            }
            other => not_cosigned(other.to_string()),
        })?;
        let sig = verified
            .first()
            .ok_or_else(|| not_cosigned("no signature".to_owned()))?;
        Ok(Cosignature {
            name: self.name.clone(),
            key_id: format!("{:08x}", self.id),
            timestamp: timestamp_of(sig).unwrap_or_default(),
        })
    }

    /// Checks one signature line (`— <name> <base64>`) on `checkpoint`.
    pub fn verify_line(
        &self,
        checkpoint: &Checkpoint,
        line: &str,
    ) -> Result<Cosignature, CosignError> {
        let note = format!(
            "{}\n{}\n",
            checkpoint.to_body(),
            line.trim_end_matches('\n')
        );
        self.verify_note(&note)
    }
}

fn timestamp_of(sig: &Signature) -> Option<u64> {
    let raw = sig.signature();
    Some(u64::from_be_bytes(raw.get(..8)?.try_into().ok()?))
}

impl signed_note::Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 8 + 64 {
            return false;
        }
        let timestamp = u64::from_be_bytes(sig[..8].try_into().unwrap_or_default());
        if timestamp > i64::MAX as u64 {
            return false;
        }
        let Ok(raw) = <[u8; 64]>::try_from(&sig[8..]) else {
            return false;
        };
        self.key
            .verify(
                &cosigned_message(timestamp, msg),
                &ed25519_dalek::Signature::from_bytes(&raw),
            )
            .is_ok()
    }
}

/// The signature lines of a note (each ending in a newline), or an error if it is malformed.
pub fn signature_lines(note: &str) -> Result<Vec<String>, CosignError> {
    let (_, sigs) = note.rsplit_once("\n\n").ok_or(CosignError::MalformedNote)?;
    let sigs = sigs.strip_suffix('\n').ok_or(CosignError::MalformedNote)?;
    Ok(sigs.split('\n').map(|l| format!("{l}\n")).collect())
}

/// Adds signature lines to a note, skipping any line it already has.
pub fn append_signature_lines(note: &str, lines: &[String]) -> String {
    let mut out = note.to_owned();
    for line in lines {
        let line = format!("{}\n", line.trim_end_matches('\n'));
        if !out.contains(&line) {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::empty_root;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "example.com/behind-the-sofa".to_owned(),
            size: 20852163,
            root: BASE64
                .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
                .unwrap()
                .try_into()
                .unwrap(),
            extensions: vec![],
        }
    }

    /// The signed message example of c2sp.org/tlog-cosignature.
    #[test]
    fn message_matches_the_spec_example() {
        let msg = cosigned_message(1679315147, checkpoint().to_body().as_bytes());
        assert_eq!(
            String::from_utf8(msg).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    /// The spec's example cosignature line carries key id, 8-byte big-endian timestamp and a
    /// 64-byte signature; its timestamp is the one in the spec's message example.
    #[test]
    fn the_spec_example_line_has_the_documented_layout() {
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let sig = Signature::from_bytes(line.as_bytes()).unwrap();
        assert_eq!(sig.name(), "witness.example.com/w1");
        assert_eq!(sig.signature().len(), 8 + 64);
        assert_eq!(timestamp_of(&sig), Some(1679315147));
    }

    #[test]
    fn key_id_uses_type_byte_4_and_keys_round_trip() {
        let (signer, skey) = CosignatureSigner::generate("witness.example/w1").unwrap();
        let reloaded = CosignatureSigner::from_skey(&skey).unwrap();
        assert_eq!(reloaded.vkey(), signer.vkey());
        let vkey = signer.vkey();
        let parts: Vec<&str> = vkey.splitn(3, '+').collect();
        let key = BASE64.decode(parts[2]).unwrap();
        assert_eq!(key[0], 0x04);
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"witness.example/w1\n");
        h.update(&key);
        assert_eq!(parts[1], hex::encode(&h.finalize()[..4]));
        // A log key (type 0x01) is not a cosigner key.
        let (_, log_vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "log");
        assert!(matches!(
            CosignatureVerifier::new(&log_vkey),
            Err(CosignError::BadKey(_))
        ));
        assert!(CosignatureVerifier::new("w+0000000+AAAA").is_err());
    }

    #[test]
    fn cosign_and_verify() {
        let (signer, _) = CosignatureSigner::generate("witness.example/w1").unwrap();
        let signer = signer.with_fixed_time(1679315147);
        let cp = Checkpoint {
            origin: "cairn/test".to_owned(),
            size: 3,
            root: empty_root(),
            extensions: vec!["ext".to_owned()],
        };
        let line = signer.cosign(&cp).unwrap();
        assert!(line.starts_with("\u{2014} witness.example/w1 "));
        let raw = BASE64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(raw.len(), 4 + 8 + 64);
        assert_eq!(raw[4..12], 1679315147u64.to_be_bytes());

        let verifier = CosignatureVerifier::new(&signer.vkey()).unwrap();
        let got = verifier.verify_line(&cp, &line).unwrap();
        assert_eq!(got.timestamp, 1679315147);

        // Another checkpoint, another key, a flipped bit: all fail.
        let mut other = cp.clone();
        other.size = 4;
        assert!(verifier.verify_line(&other, &line).is_err());
        let (stranger, _) = CosignatureSigner::generate("witness.example/w1").unwrap();
        assert!(
            CosignatureVerifier::new(&stranger.vkey())
                .unwrap()
                .verify_line(&cp, &line)
                .is_err()
        );
        let mut bad = raw.clone();
        bad[40] ^= 1;
        let forged = format!("\u{2014} witness.example/w1 {}\n", BASE64.encode(&bad));
        assert!(verifier.verify_line(&cp, &forged).is_err());
        // A plain Ed25519 note signature over the body by the same key is not a cosignature.
        let mut plain = raw[..4].to_vec();
        plain.extend_from_slice(&[0u8; 8]);
        plain.extend_from_slice(&signer.key.sign(cp.to_body().as_bytes()).to_bytes());
        let plain = format!("\u{2014} witness.example/w1 {}\n", BASE64.encode(&plain));
        assert!(verifier.verify_line(&cp, &plain).is_err());
    }

    #[test]
    fn notes_collect_cosignatures() {
        let (w1, _) = CosignatureSigner::generate("w1").unwrap();
        let (w2, _) = CosignatureSigner::generate("w2").unwrap();
        let cp = checkpoint();
        let note = format!("{}\n", cp.to_body());
        let l1 = w1.cosign(&cp).unwrap();
        let l2 = w2.cosign(&cp).unwrap();
        // Start with one signature line so the note is well-formed.
        let with1 = format!("{note}{l1}");
        let both = append_signature_lines(&with1, &[l1.clone(), l2.clone()]);
        assert_eq!(signature_lines(&both).unwrap(), vec![l1, l2]);
        for w in [&w1, &w2] {
            let v = CosignatureVerifier::new(&w.vkey()).unwrap();
            v.verify_note(&both).unwrap();
            assert!(v.verify_note(&note).is_err());
        }
    }
}
