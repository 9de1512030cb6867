//! C2SP `tlog-proof@v1` bundles: an offline-verifiable proof that one entry is in the log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1\n
//! [extra <base64 opaque data>\n]       accepted when parsing, never emitted by Cairn
//! index <decimal leaf index>\n
//! <base64 proof hash>\n                zero or more, leaf sibling first (RFC 6962 PATH order)
//! \n
//! <signed checkpoint note, verbatim>    see the checkpoint module
//! ```
//!
//! The tree size is the checkpoint's size. Verifying a bundle needs only the bundle, the log's
//! verifier key and (to check inclusion of particular bytes) the entry itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointVerifier, parse_decimal};
use crate::merkle::{self, Hash, ProofVerifyError};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed proof bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofBundle {
    /// Unauthenticated extra data, if the bundle carried an `extra` line.
    pub extra: Option<Vec<u8>>,
    /// Leaf index of the entry.
    pub index: u64,
    /// Inclusion proof hashes, leaf sibling first.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note the proof leads to.
    pub checkpoint: String,
}

/// Why a bundle is malformed or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The text does not follow tlog-proof@v1.
    #[error("malformed proof bundle: {0}")]
    Malformed(&'static str),
    /// The checkpoint is malformed or not signed by the given key.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not hold for the entry and the checkpoint.
    #[error("inclusion proof: {0}")]
    Proof(#[from] ProofVerifyError),
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The checkpoint, validly signed by the given key.
    pub checkpoint: Checkpoint,
    /// The entry's leaf index.
    pub index: u64,
    /// The entry's leaf hash, when an entry was given and its inclusion was proven.
    pub leaf_hash: Option<Hash>,
}

impl ProofBundle {
    /// The bundle's text form.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&BASE64.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&BASE64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a bundle's text form.
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let rest = text
            .strip_prefix(HEADER)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or(BundleError::Malformed(
                "first line is not c2sp.org/tlog-proof@v1",
            ))?;
        let (mut line, mut rest) = next_line(rest)?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                BASE64
                    .decode(b64)
                    .map_err(|_| BundleError::Malformed("extra is not base64"))?,
            );
            (line, rest) = next_line(rest)?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(BundleError::Malformed("missing or malformed index line"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = next_line(rest)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or(BundleError::Malformed(
                    "proof line is not a base64 32-byte hash",
                ))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(BundleError::Malformed("missing checkpoint"));
        }
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: rest.to_owned(),
        })
    }
}

fn next_line(s: &str) -> Result<(&str, &str), BundleError> {
    s.split_once('\n')
        .ok_or(BundleError::Malformed("truncated before the checkpoint"))
}

/// Verifies a bundle offline: the checkpoint's signature by `vkey`, then (when `entry` is given)
/// the inclusion of `entry` at the bundle's index in the checkpointed tree.
///
/// Without an entry only the checkpoint and the proof's shape can be checked; the result's
/// `leaf_hash` is then `None`.
pub fn verify_bundle(
    text: &str,
    vkey: &str,
    entry: Option<&[u8]>,
) -> Result<VerifiedBundle, BundleError> {
    let bundle = ProofBundle::parse(text)?;
    let verifier = CheckpointVerifier::new(vkey)?;
    let checkpoint = verifier.open(&bundle.checkpoint)?;
    let leaf_hash = match entry {
        Some(entry) => {
            let leaf = merkle::leaf_hash(entry);
            merkle::verify_inclusion(
                bundle.index,
                checkpoint.size,
                &leaf,
                &bundle.proof,
                &checkpoint.root,
            )?;
            Some(leaf)
        }
        None => {
            // Shape only: the proof must have the length the (index, size) pair demands.
            let probe = merkle::verify_inclusion(
                bundle.index,
                checkpoint.size,
                &[0u8; 32],
                &bundle.proof,
                &checkpoint.root,
            );
            match probe {
                Ok(()) | Err(ProofVerifyError::RootMismatch) => {}
                Err(e) => return Err(e.into()),
            }
            None
        }
    };
    Ok(VerifiedBundle {
        checkpoint,
        index: bundle.index,
        leaf_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_accepts_the_spec_example_shape() {
        let text = "c2sp.org/tlog-proof@v1\nextra aGk=\nindex 5\n\
            gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
            B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\nexample.com/log\n8\n\
            sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n\u{2014} example.com/log AAAA\n";
        let b = ProofBundle::parse(text).unwrap();
        assert_eq!(b.index, 5);
        assert_eq!(b.extra.as_deref(), Some(&b"hi"[..]));
        assert_eq!(b.proof.len(), 2);
        assert!(b.checkpoint.starts_with("example.com/log\n8\n"));
        assert_eq!(b.to_text(), text);
    }

    #[test]
    fn malformed_bundles_are_rejected() {
        for bad in [
            "",
            "c2sp.org/tlog-proof@v2\nindex 0\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nnot-base64!\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n",
            "c2sp.org/tlog-proof@v1\nindex 1\n\n",
            "c2sp.org/tlog-proof@v1\nindex 1\n",
        ] {
            assert!(ProofBundle::parse(bad).is_err(), "{bad:?}");
        }
    }
}
