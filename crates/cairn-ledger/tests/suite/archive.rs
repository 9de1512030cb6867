//! Segment archival: archived segments leave the ledger verifiable, reopenable and appendable;
//! the archives decompress to the original segments; a tampered hash in the archived range is
//! still found.

use std::io::Read as _;

use cairn_ledger::archive::{ArchiveError, archive_segments, read_manifest};
use cairn_ledger::verify::ProblemKind;
use cairn_ledger::{VerifyOptions, verify_dir};

use super::{entry, fill, open, segments};

#[test]
fn archived_segments_keep_the_rest_verifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let to = tmp.path().join("archive");
    let ledger = open(&dir);
    fill(&ledger, 0, 300, 25);
    assert!(ledger.checkpoint().unwrap());
    // While the ledger is open, archival refuses.
    assert!(matches!(
        archive_segments(&dir, 200, &to),
        Err(ArchiveError::Busy)
    ));
    ledger.close().unwrap();
    drop(ledger);
    let before: Vec<_> = segments(&dir)
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    assert!(before.len() > 4, "small segments: {}", before.len());

    let report = archive_segments(&dir, 200, &to).unwrap();
    assert!(!report.archived.is_empty());
    assert!(report.archived_end <= 200 && report.archived_end > 0);
    assert_eq!(read_manifest(&dir).unwrap().end(), report.archived_end);
    // Each archive decompresses to the segment it replaced, which is gone locally.
    for seg in &report.archived {
        let (path, original) = before
            .iter()
            .find(|(p, _)| {
                p.file_name().unwrap().to_str().unwrap() == seg.file.trim_end_matches(".gz")
            })
            .unwrap();
        assert!(!path.exists());
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(to.join(&seg.file)).unwrap())
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(&bytes, original);
        assert!(seg.compressed_bytes < seg.bytes);
    }

    let opts = VerifyOptions::default();
    let r = verify_dir(&dir, &opts, &mut |_, _| {}).unwrap();
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.entries, 300);
    assert_eq!(r.archived.len(), report.archived.len());

    // Reopen, read, append, checkpoint: the archived prefix is not needed.
    let ledger = open(&dir);
    assert_eq!(ledger.size(), 300);
    assert_eq!(ledger.read_entry(299).unwrap(), entry(299));
    let err = ledger.read_entry(0).unwrap_err().to_string();
    assert!(err.contains("archive.json"), "{err}");
    fill(&ledger, 300, 400, 25);
    assert!(ledger.checkpoint().unwrap());
    let proof = ledger.proof_bundle(350, None).unwrap();
    assert!(proof.contains("index 350"));
    // An inclusion proof for an archived entry still comes from the stored hashes.
    ledger.inclusion_proof(5, 400).unwrap();
    ledger.close().unwrap();
    drop(ledger);
    // A second archival continues where the first stopped.
    let second = archive_segments(&dir, 350, &to).unwrap();
    assert!(second.archived_end > report.archived_end);
    let r = verify_dir(&dir, &opts, &mut |_, _| {}).unwrap();
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.entries, 400);

    // A stored leaf hash in the archived range is altered: the signed roots disagree.
    let level0 = dir.join("tree/level-0.hash");
    let mut bytes = std::fs::read(&level0).unwrap();
    bytes[3 * 32] ^= 1;
    std::fs::write(&level0, bytes).unwrap();
    let r = verify_dir(&dir, &opts, &mut |_, _| {}).unwrap();
    assert!(!r.ok);
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == ProblemKind::CheckpointRootMismatch),
        "{r:#?}"
    );
}
