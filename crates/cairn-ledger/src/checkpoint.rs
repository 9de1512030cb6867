//! C2SP `tlog-checkpoint` bodies, signed as C2SP `signed-note`s with Ed25519.
//!
//! ```text
//! <origin>\n                      e.g. "cairn/4f2a9c0d1e7b3a65"
//! <tree size, decimal>\n          no leading zeroes (except "0")
//! <base64 root hash>\n            standard base64 of 32 bytes
//! [<extension line>\n ...]        optional, each non-empty; kept but not interpreted
//! \n                              the blank line that ends the note text
//! — <key name> <base64(key id(4) || Ed25519 signature(64))>\n
//! ```
//!
//! The key name is the origin. The key id is the first four bytes (big-endian) of
//! `SHA-256(name || "\n" || 0x01 || public key)`; the verifier key is printed as
//! `<name>+<8 hex digits of key id>+<base64(0x01 || public key)>`. Signature lines, key ids and
//! key encodings come from the `signed_note` crate (a port of Go's `sumdb/note`, the reference
//! implementation), so they interoperate with Go and other C2SP tooling.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use signed_note::{Note, Signer as _, StandardSigner, StandardVerifier, VerifierList};

use crate::merkle::Hash;

/// A parsed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Number of entries the checkpoint commits to.
    pub size: u64,
    /// The RFC 6962 root of the first `size` entries.
    pub root: Hash,
    /// Extension lines after the root, without their newlines.
    pub extensions: Vec<String>,
}

/// Why a checkpoint or note could not be parsed or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note envelope is malformed (no blank line, bad signature line, control characters).
    #[error("malformed signed note")]
    MalformedNote,
    /// The checkpoint body does not follow tlog-checkpoint.
    #[error("malformed checkpoint body: {0}")]
    MalformedBody(&'static str),
    /// No signature by the expected key, or a signature by it that does not verify.
    #[error("checkpoint is not validly signed by {key}: {reason}")]
    BadSignature {
        /// The expected key's name and id.
        key: String,
        /// What the note library reported.
        reason: String,
    },
    /// The verifier key string is malformed.
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(String),
    /// The origin line is not the expected one.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin {
        /// Expected origin.
        expected: String,
        /// Origin in the checkpoint.
        found: String,
    },
}

impl Checkpoint {
    /// The note text: origin, size and base64 root, each newline-terminated, then extensions.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body (the note text, ending in a newline).
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MalformedBody(
                "text does not end with a newline",
            ))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(CheckpointError::MalformedBody("missing origin line"))?;
        let size_line = lines
            .next()
            .ok_or(CheckpointError::MalformedBody("missing size line"))?;
        let size = parse_decimal(size_line).ok_or(CheckpointError::MalformedBody(
            "size is not a canonical decimal",
        ))?;
        let root_line = lines
            .next()
            .ok_or(CheckpointError::MalformedBody("missing root hash line"))?;
        let root = BASE64
            .decode(root_line)
            .ok()
            .and_then(|b| Hash::try_from(b.as_slice()).ok())
            .ok_or(CheckpointError::MalformedBody(
                "root is not 32 base64-encoded bytes",
            ))?;
        let extensions = lines.map(str::to_owned).collect::<Vec<_>>();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::MalformedBody("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Parses an ASCII decimal with no sign and no leading zeroes (except `0` itself).
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// Signs checkpoints with the log's Ed25519 key.
pub(crate) struct CheckpointSigner {
    signer: StandardSigner,
    vkey: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("vkey", &self.vkey)
            .finish_non_exhaustive()
    }
}

/// Why a signing key could not be created, loaded or used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct KeyError(String);

impl CheckpointSigner {
    /// Generates a fresh key named `name`; returns the signer and its encoded private key
    /// (`PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`, as Go's `note.GenerateKey`).
    pub(crate) fn generate(name: &str) -> Result<(Self, String), KeyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(KeyError(format!(
                "{name:?} cannot name a key (empty, or contains spaces or '+')"
            )));
        }
        let (skey, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, name);
        let signer =
            StandardSigner::new(&skey).map_err(|e| KeyError(format!("generated key: {e}")))?;
        Ok((Self { signer, vkey }, skey))
    }

    /// Loads an encoded private key.
    pub(crate) fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let skey = skey.trim_end();
        let signer = StandardSigner::new(skey)
            .map_err(|e| KeyError(format!("malformed signing key: {e}")))?;
        // The verifier key needs the public key, which `StandardSigner` does not expose.
        let secret = skey
            .splitn(5, '+')
            .nth(4)
            .and_then(|b64| BASE64.decode(b64).ok())
            .filter(|raw| raw.len() == 33 && raw[0] == 0x01)
            .ok_or_else(|| KeyError("malformed signing key: bad key bytes".to_owned()))?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&secret[1..]);
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let vkey = signed_note::new_ed25519_verifier_key(signer.name(), &signing.verifying_key());
        Ok(Self { signer, vkey })
    }

    /// The key name (the origin).
    pub(crate) fn name(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key in vkey format.
    pub(crate) fn vkey(&self) -> &str {
        &self.vkey
    }

    /// Returns the signed note for `checkpoint`.
    pub(crate) fn sign(&self, checkpoint: &Checkpoint) -> Result<String, KeyError> {
        let mut note = Note::new(checkpoint.to_body().as_bytes(), &[])
            .map_err(|e| KeyError(format!("checkpoint text: {e}")))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| KeyError(format!("signing: {e}")))?;
        String::from_utf8(note.to_bytes()).map_err(|_| KeyError("note is not utf-8".to_owned()))
    }
}

/// Verifies checkpoints signed by one known key. `Send + Sync + Clone`.
#[derive(Clone)]
pub struct CheckpointVerifier {
    vkey: String,
    name: String,
    verifier: StandardVerifier,
}

impl std::fmt::Debug for CheckpointVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointVerifier")
            .field("vkey", &self.vkey)
            .finish_non_exhaustive()
    }
}

impl CheckpointVerifier {
    /// Parses a verifier key (`<name>+<hex key id>+<base64 key>`).
    pub fn new(vkey: &str) -> Result<Self, CheckpointError> {
        let vkey = vkey.trim();
        let verifier = StandardVerifier::new(vkey)
            .map_err(|e| CheckpointError::BadVerifierKey(e.to_string()))?;
        let name = vkey.split('+').next().unwrap_or_default().to_owned();
        Ok(Self {
            vkey: vkey.to_owned(),
            name,
            verifier,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The encoded verifier key.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// Checks the note's signature by this key and parses its checkpoint body. The origin must
    /// equal the key name.
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let parsed =
            Note::from_bytes(note.as_bytes()).map_err(|_| CheckpointError::MalformedNote)?;
        parsed
            .verify(&VerifierList::new(vec![Box::new(self.verifier.clone())]))
            .map_err(|e| CheckpointError::BadSignature {
                key: self.vkey.split('+').take(2).collect::<Vec<_>>().join("+"),
                reason: e.to_string(),
            })?;
        let text =
            std::str::from_utf8(parsed.text()).map_err(|_| CheckpointError::MalformedNote)?;
        let checkpoint = Checkpoint::parse_body(text)?;
        if checkpoint.origin != self.name {
            return Err(CheckpointError::WrongOrigin {
                expected: self.name.clone(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::empty_root;

    #[test]
    fn body_round_trips_and_is_canonical() {
        let cp = Checkpoint {
            origin: "cairn/test".to_owned(),
            size: 42,
            root: empty_root(),
            extensions: vec!["ext line".to_owned()],
        };
        let body = cp.to_body();
        assert_eq!(
            body,
            "cairn/test\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next line\n"
        );
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
        for bad in [
            "cairn/test\n042\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "cairn/test\n+42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "cairn/test\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "cairn/test\n42\nV3JvbmdSb290\n",
            "\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "cairn/test\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
        ] {
            assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signed_note_has_spec_key_id_and_signature_line() {
        let (signer, skey) = CheckpointSigner::generate("cairn/test").unwrap();
        let reloaded = CheckpointSigner::from_skey(&skey).unwrap();
        assert_eq!(reloaded.vkey(), signer.vkey());

        // vkey = name + hex(key id) + base64(0x01 || pubkey); key id = SHA-256(name\n 0x01 pk)[..4].
        // The standard base64 alphabet contains '+', so only the first two '+' separate fields.
        let parts: Vec<&str> = signer.vkey().splitn(3, '+').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "cairn/test");
        let key = BASE64.decode(parts[2]).unwrap();
        assert_eq!(key.len(), 33);
        assert_eq!(key[0], 0x01);
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"cairn/test\n");
        h.update(&key);
        let id = h.finalize();
        assert_eq!(parts[1], hex::encode(&id[..4]));

        let cp = Checkpoint {
            origin: "cairn/test".to_owned(),
            size: 7,
            root: empty_root(),
            extensions: vec![],
        };
        let note = signer.sign(&cp).unwrap();
        let (text, sigs) = note.split_once("\n\n").unwrap();
        assert_eq!(format!("{text}\n"), cp.to_body());
        let line = sigs.strip_suffix('\n').unwrap();
        let rest = line.strip_prefix("\u{2014} cairn/test ").unwrap();
        let sig = BASE64.decode(rest).unwrap();
        assert_eq!(sig.len(), 4 + 64);
        assert_eq!(sig[..4], id[..4]);

        let verifier = CheckpointVerifier::new(signer.vkey()).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), cp);

        // A flipped bit anywhere in the signature fails.
        let mut raw = sig.clone();
        raw[10] ^= 1;
        let forged = format!("{text}\n\n\u{2014} cairn/test {}\n", BASE64.encode(&raw));
        assert!(matches!(
            verifier.open(&forged),
            Err(CheckpointError::BadSignature { .. })
        ));
        // A changed body fails.
        let tampered = note.replacen("\n7\n", "\n8\n", 1);
        assert!(verifier.open(&tampered).is_err());
        // Another key with the same name fails.
        let (other, _) = CheckpointSigner::generate("cairn/test").unwrap();
        let other_verifier = CheckpointVerifier::new(other.vkey()).unwrap();
        assert!(other_verifier.open(&note).is_err());
    }
}
