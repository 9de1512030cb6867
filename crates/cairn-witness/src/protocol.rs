//! The `add-checkpoint` request body of C2SP `tlog-witness`:
//!
//! ```text
//! old <size>\n                  the size the client believes the witness has (decimal, no leading 0)
//! <base64 hash>\n               0..=63 consistency proof lines, RFC 6962 from <size> to the checkpoint
//! \n
//! <signed checkpoint note>      C2SP tlog-checkpoint in a signed-note, any number of signatures
//! ```
//!
//! A `409 Conflict` answer carries `<size>\n` (`Content-Type: text/x.tlog.size`), the size of
//! the witness's latest cosigned checkpoint for the log; a `200` answer carries one or more
//! cosignature lines (`— <witness name> <base64>\n`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_ledger::Hash;

/// Most consistency proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body the witness reads (a checkpoint note is a few hundred bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Content type of the `409` body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size the client believes the witness has.
    pub old: u64,
    /// Consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: String,
}

/// Why a request body is malformed (answered `400`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed add-checkpoint body: {0}")]
pub struct MalformedRequest(pub String);

impl AddCheckpoint {
    /// Encodes the request body.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old);
        for h in &self.proof {
            body.push_str(&BASE64.encode(h));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }

    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Self, MalformedRequest> {
        let bad = |m: &str| MalformedRequest(m.to_owned());
        if body.len() > MAX_BODY_BYTES {
            return Err(MalformedRequest(format!(
                "body is {} bytes, the limit is {MAX_BODY_BYTES}",
                body.len()
            )));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
        let (first, mut rest) = text
            .split_once('\n')
            .ok_or_else(|| bad("missing the old size line"))?;
        let old = first
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| {
                bad("first line must be \"old <size>\" with a canonical decimal size")
            })?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("missing the empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(MalformedRequest(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or_else(|| {
                    MalformedRequest(format!(
                        "proof line {} is not a base64 32-byte hash",
                        proof.len() + 1
                    ))
                })?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(bad("missing the checkpoint"));
        }
        Ok(Self {
            old,
            proof,
            note: rest.to_owned(),
        })
    }
}

/// Parses an ASCII decimal with no sign and no leading zeroes (except `0` itself).
pub fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// Parses a `409` body (`<size>\n`).
pub fn parse_size_body(body: &str) -> Option<u64> {
    parse_decimal(body.strip_suffix('\n')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example request of c2sp.org/tlog-witness.
    #[test]
    fn the_spec_example_parses_and_round_trips() {
        let body = "old 20852014\n\
            PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
            jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
            5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
            /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
            \n\
            example.com/behind-the-sofa\n\
            20852163\n\
            CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
            \n\
            \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let req = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(req.old, 20852014);
        assert_eq!(req.proof.len(), 4);
        assert!(
            req.note
                .starts_with("example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(req.to_body(), body);
    }

    #[test]
    fn malformed_bodies_are_rejected_with_a_reason() {
        let note = "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u{2014} o AAAA\n";
        for (body, why) in [
            (format!("old 01\n\n{note}"), "canonical"),
            (format!("new 1\n\n{note}"), "old <size>"),
            (format!("old 1\nnot-base64!\n\n{note}"), "proof line 1"),
            (format!("old 1\nAAAA\n\n{note}"), "proof line 1"),
            ("old 1\n\n".to_owned(), "missing the checkpoint"),
            ("old 1\n".to_owned(), "empty line"),
            (
                format!(
                    "old 1\n{}\n{note}",
                    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".repeat(64)
                ),
                "more than 63",
            ),
        ] {
            let err = AddCheckpoint::parse(body.as_bytes()).unwrap_err();
            assert!(err.0.contains(why), "{body:?}: {err}");
        }
        assert!(AddCheckpoint::parse(&vec![b'a'; MAX_BODY_BYTES + 1]).is_err());
        assert_eq!(parse_size_body("42\n"), Some(42));
        assert_eq!(parse_size_body("42"), None);
    }
}
