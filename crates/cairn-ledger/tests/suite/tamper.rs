//! The tamper suite: each manipulation of a closed ledger is found by `verify_dir`, with the
//! right kind of problem at the right place.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_ledger::verify::{ProblemKind, VerifyReport};
use cairn_ledger::{VerifyOptions, verify_dir};

use super::{copy_dir, entry, fill, open, segments};

const ENTRIES: u64 = 300;

/// A closed ledger of 300 entries with checkpoints at 100, 200 and 300.
fn build(dir: &Path) {
    let ledger = open(dir);
    for (from, to) in [(0, 100), (100, 200), (200, ENTRIES)] {
        fill(&ledger, from, to, 25);
        ledger.checkpoint().unwrap();
    }
    ledger.close().unwrap();
}

fn verify(dir: &Path, opts: &VerifyOptions) -> VerifyReport {
    verify_dir(dir, opts, &mut |_, _| {}).unwrap()
}

fn kinds(r: &VerifyReport) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

fn pristine() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    build(&dir);
    (tmp, dir)
}

/// `(segment path, record offset, entry length)` of entry `index`, from the segment files.
fn locate(dir: &Path, index: u64) -> (std::path::PathBuf, u64, usize) {
    let mut i = 0u64;
    for seg in segments(dir) {
        let bytes = std::fs::read(&seg).unwrap();
        let mut at = 32usize;
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            if i == index {
                return (seg, at as u64, len);
            }
            i += 1;
            at += 8 + len;
        }
    }
    panic!("entry {index} not found");
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap().display().to_string()
}

#[test]
fn pristine_ledger_verifies_clean() {
    let (_tmp, dir) = pristine();
    let r = verify(&dir, &VerifyOptions::default());
    assert!(r.ok, "{:?}", r.problems);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.entries, ENTRIES);
    // Sizes 0 (on creation), 100, 200, 300; close adds none (nothing new).
    assert_eq!(r.checkpoints, 4);
    assert_eq!(r.latest_checkpoint_size, Some(ENTRIES));
    assert!(r.segments > 3);
}

#[test]
fn flipped_entry_bit_is_located() {
    let (_tmp, dir) = pristine();
    let (seg, offset, _) = locate(&dir, 150);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[offset as usize + 8 + 3] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    assert!(!r.ok);
    let bad = r.first_bad_entry.clone().unwrap();
    assert_eq!(
        (bad.index, bad.file.as_str(), bad.offset),
        (150, rel(&dir, &seg).as_str(), offset)
    );
    assert_eq!(r.problems[0].kind, ProblemKind::EntryChecksum);
    // The checkpoints covering it no longer match; the one before it still does.
    let mismatched: Vec<_> = r
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::CheckpointRootMismatch)
        .map(|p| p.index)
        .collect();
    assert_eq!(mismatched, vec![Some(100), Some(100)]);
}

#[test]
fn rewritten_entry_with_fixed_checksum_is_located() {
    let (_tmp, dir) = pristine();
    let (seg, offset, len) = locate(&dir, 42);
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = offset as usize;
    bytes[at + 8] ^= 0x02;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[at..at + 4]),
        &bytes[at + 8..at + 8 + len],
    );
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    assert!(
        kinds(&r).contains(&ProblemKind::EntryAltered),
        "{:?}",
        r.problems
    );
    let bad = r.first_bad_entry.clone().unwrap();
    assert_eq!((bad.index, bad.offset), (42, offset));
    assert!(kinds(&r).contains(&ProblemKind::CheckpointRootMismatch));
}

#[test]
fn flipped_stored_hash_is_blamed_on_the_hash_file() {
    let (_tmp, dir) = pristine();
    let path = dir.join("tree/level-0.hash");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[77 * 32 + 5] ^= 0x80;
    std::fs::write(&path, &bytes).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::StoredHashMismatch],
        "{:?}",
        r.problems
    );
    let p = &r.problems[0];
    assert_eq!(p.index, Some(77));
    assert_eq!(p.file.as_deref(), Some("tree/level-0.hash"));
    assert_eq!(p.offset, Some(77 * 32));
    assert!(
        r.first_bad_entry.is_none(),
        "the entries themselves are intact"
    );
}

/// Rewrites checkpoint record `n` of `checkpoints.log` with `edit` applied to its note, fixing
/// the record checksum (format documented in the crate docs).
fn rewrite_checkpoint(dir: &Path, n: usize, edit: impl FnOnce(String) -> String) {
    let path = dir.join("checkpoints.log");
    let bytes = std::fs::read(&path).unwrap();
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut i = 0usize;
    let mut edit = Some(edit);
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let signed_at = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        let mut note = String::from_utf8(bytes[at + 20..at + 20 + len].to_vec()).unwrap();
        if i == n {
            if let Some(edit) = edit.take() {
                note = edit(note);
            }
        }
        out.extend_from_slice(&record(signed_at, &note));
        at += 28 + len;
        i += 1;
    }
    std::fs::write(&path, out).unwrap();
}

fn record(signed_at: u64, note: &str) -> Vec<u8> {
    let mut r = b"CKPT".to_vec();
    r.extend_from_slice(&(note.len() as u32).to_le_bytes());
    r.extend_from_slice(&signed_at.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&r[4..16]), note.as_bytes());
    r.extend_from_slice(&crc.to_le_bytes());
    r.extend_from_slice(note.as_bytes());
    r.extend_from_slice(&(note.len() as u32).to_le_bytes());
    r.extend_from_slice(b"TPKC");
    r
}

#[test]
fn flipped_checkpoint_signature_is_located() {
    let (_tmp, dir) = pristine();
    rewrite_checkpoint(&dir, 2, |note| {
        let (text, sig_line) = note.split_once("\n\n").unwrap();
        let (prefix, b64) = sig_line.trim_end().rsplit_once(' ').unwrap();
        let mut sig = BASE64.decode(b64).unwrap();
        sig[20] ^= 0x04;
        format!("{text}\n\n{prefix} {}\n", BASE64.encode(sig))
    });
    let r = verify(&dir, &VerifyOptions::default());
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::CheckpointSignature],
        "{:?}",
        r.problems
    );
    assert_eq!(r.problems[0].checkpoint, Some(2));
}

#[test]
fn truncated_tail_is_reported_as_lost_entries() {
    let (_tmp, dir) = pristine();
    let (seg, offset, _) = locate(&dir, 290);
    let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(offset + 5).unwrap(); // mid-record
    drop(f);
    // Remove any later segment too.
    for s in segments(&dir) {
        if s > seg {
            std::fs::remove_file(s).unwrap();
        }
    }
    let r = verify(&dir, &VerifyOptions::default());
    assert_eq!(r.entries, 290);
    let k = kinds(&r);
    assert!(k.contains(&ProblemKind::TornTail), "{k:?}");
    let beyond = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointBeyondLog)
        .unwrap();
    assert_eq!(beyond.index, Some(290));
    let torn = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::TornTail)
        .unwrap();
    assert_eq!((torn.index, torn.offset), (Some(290), Some(offset)));
}

#[test]
fn deleted_segment_is_reported_as_a_gap() {
    let (_tmp, dir) = pristine();
    let segs = segments(&dir);
    let victim = &segs[2];
    let first: u64 = victim
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    std::fs::remove_file(victim).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    let gap = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::SegmentGap)
        .unwrap();
    assert_eq!(gap.index, Some(first));
    assert!(gap.message.contains("missing"), "{}", gap.message);
    assert_eq!(r.first_bad_entry.unwrap().index, first);
}

#[test]
fn swapped_segments_are_reported() {
    let (_tmp, dir) = pristine();
    let segs = segments(&dir);
    let (a, b) = (&segs[1], &segs[2]);
    let tmp = dir.join("segments/tmp");
    std::fs::rename(a, &tmp).unwrap();
    std::fs::rename(b, a).unwrap();
    std::fs::rename(&tmp, b).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    let first_a: u64 = a.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let header = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::SegmentHeader)
        .unwrap();
    assert_eq!(header.index, Some(first_a));
    assert_eq!(header.file.as_deref(), Some(rel(&dir, a).as_str()));
    assert!(!r.ok);
}

#[test]
fn swapped_entries_are_located() {
    let (_tmp, dir) = pristine();
    // Entries 10 and 11 are in one segment; swap their records (checksums stay valid).
    let (seg, off10, len10) = locate(&dir, 10);
    let (seg11, off11, len11) = locate(&dir, 11);
    assert_eq!(seg, seg11);
    let mut bytes = std::fs::read(&seg).unwrap();
    let r10 = bytes[off10 as usize..off10 as usize + 8 + len10].to_vec();
    let r11 = bytes[off11 as usize..off11 as usize + 8 + len11].to_vec();
    let mut swapped = r11.clone();
    swapped.extend_from_slice(&r10);
    bytes.splice(off10 as usize..off11 as usize + 8 + len11, swapped);
    std::fs::write(&seg, &bytes).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    let altered: Vec<u64> = r
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::EntryAltered)
        .filter_map(|p| p.index)
        .collect();
    assert_eq!(altered, vec![10, 11], "{:?}", r.problems);
    assert_eq!(r.first_bad_entry.unwrap().index, 10);
}

#[test]
fn restored_older_copy_is_caught_by_the_auditors_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let old = tmp.path().join("old");
    build(&dir);
    copy_dir(&dir, &old);
    let newer = {
        let ledger = open(&dir);
        fill(&ledger, ENTRIES, ENTRIES + 50, 25);
        ledger.close().unwrap();
        ledger.latest_checkpoint().unwrap()
    };
    // The operator restores the old copy; the auditor kept the newer checkpoint.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&old, &dir).unwrap();
    let opts = VerifyOptions {
        trusted_checkpoint: Some(newer),
        ..VerifyOptions::default()
    };
    let r = verify(&dir, &opts);
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::TrustedCheckpointRollback],
        "{:?}",
        r.problems
    );
    assert_eq!(r.problems[0].index, Some(ENTRIES));
    // Without the auditor's checkpoint the copy is self-consistent.
    assert!(verify(&dir, &VerifyOptions::default()).ok);
}

#[test]
fn forked_checkpoint_signed_by_the_same_key_is_caught() {
    let (_tmp, dir) = pristine();
    // An insider with the key signs a second checkpoint of size 200 with another root.
    let skey = std::fs::read_to_string(dir.join("signing.key")).unwrap();
    let signer = signed_note::StandardSigner::new(skey.trim()).unwrap();
    let fake_root = BASE64.encode([9u8; 32]);
    let mut note =
        signed_note::Note::new(format!("cairn/test\n200\n{fake_root}\n").as_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let forged = String::from_utf8(note.to_bytes()).unwrap();

    // As the auditor's trusted checkpoint:
    let r = verify(
        &dir,
        &VerifyOptions {
            trusted_checkpoint: Some(forged.clone()),
            ..VerifyOptions::default()
        },
    );
    assert!(
        kinds(&r).contains(&ProblemKind::TrustedCheckpointFork),
        "{:?}",
        r.problems
    );

    // Appended to the stored history (after the genuine 200 and 300 checkpoints):
    let path = dir.join("checkpoints.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&record(0, &forged));
    std::fs::write(&path, bytes).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    let k = kinds(&r);
    assert!(
        k.contains(&ProblemKind::CheckpointSizeDecreased)
            || k.contains(&ProblemKind::CheckpointFork),
        "{k:?}"
    );
    let mismatch = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointRootMismatch)
        .unwrap();
    assert_eq!(mismatch.checkpoint, Some(4));
}

#[test]
fn forged_checkpoint_next_to_its_twin_is_a_fork() {
    let (_tmp, dir) = pristine();
    let skey = std::fs::read_to_string(dir.join("signing.key")).unwrap();
    let signer = signed_note::StandardSigner::new(skey.trim()).unwrap();
    let fake_root = BASE64.encode([7u8; 32]);
    let mut note =
        signed_note::Note::new(format!("cairn/test\n300\n{fake_root}\n").as_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let path = dir.join("checkpoints.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&record(0, &String::from_utf8(note.to_bytes()).unwrap()));
    std::fs::write(&path, bytes).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    let fork = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::CheckpointFork)
        .unwrap();
    assert_eq!(fork.checkpoint, Some(4));
    assert!(fork.message.contains("300"));
}

#[test]
fn locate_finds_the_stored_entry_bytes() {
    // The helpers above must point at what the ledger stored, or the tests prove nothing.
    let (_tmp, dir) = pristine();
    let (seg, offset, len) = locate(&dir, 7);
    let bytes = std::fs::read(seg).unwrap();
    assert_eq!(
        &bytes[offset as usize + 8..offset as usize + 8 + len],
        entry(7).as_slice()
    );
}

/// A run that opened the tree files before the writer created `level-1.hash` (the first node of
/// 256 entries) can read that node's last leaf afterwards. While no signed checkpoint covers the
/// node, its missing stored hash is still in flight: a warning, not tampering (the collector's
/// background verification raced a live writer into exactly this).
#[test]
fn a_missing_node_hash_past_the_last_checkpoint_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let ledger = open(&live);
    fill(&ledger, 0, 200, 25);
    ledger.checkpoint().unwrap();
    fill(&ledger, 200, ENTRIES, 25);
    // What a reader sees while the writer runs: closing would sign the tail.
    let dir = tmp.path().join("ledger");
    copy_dir(&live, &dir);
    drop(ledger);
    let signed = verify(&dir, &VerifyOptions::default())
        .latest_checkpoint_size
        .unwrap();
    assert!(signed < 256, "a checkpoint covers the node: {signed}");
    std::fs::remove_file(dir.join("tree/level-1.hash")).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == ProblemKind::StoredHashMissing),
        "{:?}",
        r.warnings
    );

    // Once a signed checkpoint covers the node, the same missing file is a problem.
    let (_tmp, dir) = pristine();
    std::fs::remove_file(dir.join("tree/level-1.hash")).unwrap();
    let r = verify(&dir, &VerifyOptions::default());
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::StoredHashMissing],
        "{:?}",
        r.problems
    );
}
