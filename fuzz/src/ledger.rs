//! Checks for `cairn-ledger`: the on-disk scanners (segment files, the checkpoint log) and the
//! text formats (checkpoint bodies, signed notes, verifier keys, `tlog-proof` bundles, tile
//! paths), plus Merkle proof verification with arbitrary proofs.
//!
//! Invariants checked on every input:
//! - `ledger_files`: the input is both a segment file and a checkpoint log. Segment records are
//!   contiguous from the header, a clean end is the end of the file, and the random-access read
//!   agrees with the scan (same bytes when the checksum matches, an error when it does not). The
//!   checkpoint log's records are contiguous from offset 0 and end at the valid prefix; when the
//!   whole file is valid, the read-from-the-end fast path finds the same last record.
//! - `ledger_text`: every parser accepts only what its formatter writes back byte for byte
//!   (checkpoint bodies, bundles, tile paths), and nothing panics, including signature checks
//!   with the input as note or as verifier key and proof verification with the parsed proof.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use cairn_ledger::checkpoint::{Checkpoint, CheckpointVerifier};
use cairn_ledger::fuzzing;
use cairn_ledger::tile::TilePath;
use cairn_ledger::{ProofBundle, merkle, verify_bundle};

/// The verifier key of the ledger the seed files come from (`fuzz/corpus/*/seed-*`).
pub const SEED_VKEY: &str =
    "cairn/fuzzseed00000000+b824d6b6+AXcmEVhbQ5puPKB+B/+DgghTcnWlV9C6epAXYzyw9oWA";

/// Length of a segment header.
const SEGMENT_HEADER_LEN: u64 = 32;

/// Fuzz target `ledger_files`. `scratch` is a reusable file (its content is replaced).
pub fn ledger_files(data: &[u8], scratch: &File) {
    scratch.set_len(0).expect("truncate scratch file");
    scratch.write_all_at(data, 0).expect("write scratch file");
    let len = data.len() as u64;
    segment(data, scratch, len);
    checkpoint_log(scratch, len);
}

fn segment(data: &[u8], scratch: &File, len: u64) {
    let _ = fuzzing::parse_segment_header(data);
    let start = SEGMENT_HEADER_LEN.min(len);
    let file = scratch.try_clone().expect("clone scratch file");
    let (records, broken) = fuzzing::scan_segment(file, len, start).expect("scan segment");
    let mut expected_offset = start;
    for (offset, crc_ok, entry) in &records {
        assert_eq!(
            *offset, expected_offset,
            "segment records are not contiguous"
        );
        expected_offset = offset + 8 + entry.len() as u64;
        assert!(expected_offset <= len, "a record extends past the file");
        let read = fuzzing::read_record_at(scratch, *offset).expect("read record");
        if *crc_ok {
            assert_eq!(
                read.as_ref(),
                Ok(entry),
                "random access disagrees with the scan"
            );
        } else {
            assert!(
                read.is_err(),
                "random access accepts a record failing its checksum"
            );
        }
    }
    match broken {
        None => assert_eq!(expected_offset, len, "clean end before the end of the file"),
        Some((offset, reason)) => {
            assert_eq!(
                offset, expected_offset,
                "broken framing reported at the wrong offset"
            );
            assert!(!reason.is_empty());
        }
    }
    // Random access at an offset the input chooses (its last 8 bytes), bounded near the file.
    if let Some(tail) = data.last_chunk::<8>() {
        let at = u64::from_le_bytes(*tail) % (len + 16);
        let _ = fuzzing::read_record_at(scratch, at).expect("read record");
    }
}

fn checkpoint_log(scratch: &File, len: u64) {
    let (records, valid) = fuzzing::read_checkpoint_log(scratch).expect("read checkpoint log");
    assert!(valid <= len, "valid prefix longer than the file");
    let mut at = 0;
    for (offset, _signed_at, note) in &records {
        assert_eq!(*offset, at, "checkpoint log records are not contiguous");
        at = offset + 28 + note.len() as u64;
    }
    assert_eq!(at, valid, "valid prefix does not end after the last record");
    let (last, last_valid) = fuzzing::last_checkpoint_record(scratch).expect("last checkpoint");
    if valid == len {
        assert_eq!(last_valid, len, "fast path disagrees on the valid prefix");
        assert_eq!(
            last.as_ref(),
            records.last(),
            "fast path finds another last record"
        );
    }
}

/// Fuzz target `ledger_text`: the input (when UTF-8) through every ledger text parser.
pub fn ledger_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(checkpoint) = Checkpoint::parse_body(text) {
        assert_eq!(
            checkpoint.to_body(),
            text,
            "checkpoint body does not round-trip"
        );
    }

    if let Ok(tile) = TilePath::parse(text) {
        let canonical = text.strip_prefix('/').unwrap_or(text);
        assert_eq!(tile.to_string(), canonical, "tile path does not round-trip");
        assert!((1..=256).contains(&tile.width()));
    }

    let seed_verifier = CheckpointVerifier::new(SEED_VKEY).expect("seed verifier key");
    let _ = seed_verifier.open(text);
    if let Ok(verifier) = CheckpointVerifier::new(text) {
        let _ = verifier.open(SEED_NOTE);
    }

    if let Ok(bundle) = ProofBundle::parse(text) {
        assert_eq!(bundle.to_text(), text, "proof bundle does not round-trip");
        proofs(&bundle);
    }
    let _ = verify_bundle(text, SEED_VKEY, None);
    let _ = verify_bundle(text, SEED_VKEY, Some(b"entry"));
}

/// Runs the bundle's proof through both verifiers, with the tree size and root of its checkpoint
/// body when that parses (the signature is not needed to exercise the proof code).
fn proofs(bundle: &ProofBundle) {
    let body = bundle
        .checkpoint
        .split_once("\n\n")
        .map(|(body, _)| format!("{body}\n"));
    let (size, root) = match body.as_deref().map(Checkpoint::parse_body) {
        Some(Ok(c)) => (c.size, c.root),
        _ => (bundle.index.saturating_add(1), [0u8; 32]),
    };
    let leaf = merkle::leaf_hash(b"entry");
    let _ = merkle::verify_inclusion(bundle.index, size, &leaf, &bundle.proof, &root);
    let old_root = bundle.proof.first().copied().unwrap_or([0u8; 32]);
    let _ = merkle::verify_consistency(bundle.index, size, &bundle.proof, &old_root, &root);
}

/// A signed note of the seed ledger (checkpoint of size 3).
pub const SEED_NOTE: &str = include_str!("../corpus/ledger_text/seed-note");

/// A fresh anonymous temporary file to pass to [`ledger_files`] as its scratch file.
pub fn scratch_file() -> File {
    tempfile::tempfile().expect("create scratch file")
}
