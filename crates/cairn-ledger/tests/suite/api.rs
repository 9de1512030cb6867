//! Behaviour of the public API: appends, reads, checkpoints, proofs, tiles, reopen, recovery.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_ledger::merkle::{MemoryTree, leaf_hash, verify_consistency, verify_inclusion};
use cairn_ledger::{
    AppendError, CheckpointVerifier, FsyncPolicy, Ledger, LedgerOptions, OpenError, ReadError,
    verify_bundle,
};

use super::{entry, fill, open, opts, segments};

fn reference(n: u64) -> MemoryTree {
    let mut t = MemoryTree::default();
    for i in 0..n {
        t.push_entry(&entry(i));
    }
    t
}

#[test]
fn appended_entries_read_back_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    assert_eq!(ledger.size(), 0);
    assert_eq!(ledger.append::<Vec<u8>>(&[]).unwrap(), 0..0);
    fill(&ledger, 0, 700, 37);
    assert_eq!(ledger.size(), 700);
    assert!(segments(dir.path()).len() > 5, "small segments must rotate");
    for i in [0, 1, 36, 37, 255, 256, 699] {
        assert_eq!(ledger.read_entry(i).unwrap(), entry(i));
    }
    let all = ledger.read_range(0, 10_000).unwrap();
    assert_eq!(all.len(), 700);
    assert!(all.iter().enumerate().all(|(i, e)| *e == entry(i as u64)));
    // The visiting read sees the same entries, in order, with their indices, across segments.
    // One buffer serves reads of every size: a large read, then smaller ones in the space left.
    let mut buf = Vec::new();
    for (start, max) in [(30, 400), (650, 5), (100, 200)] {
        let mut visited = Vec::new();
        let n = ledger
            .read_range_with(start, max, &mut buf, |index, bytes| {
                visited.push((index, bytes.to_vec()));
            })
            .unwrap();
        assert_eq!((n, visited.len()), (max as u64, max));
        assert!(
            visited
                .iter()
                .zip(start..)
                .all(|((index, e), i)| *index == i && *e == entry(i))
        );
    }
    let nothing = ledger.read_range_with(700, 5, &mut buf, |_, _| panic!("nothing to visit"));
    assert_eq!(nothing.unwrap(), 0);
    assert_eq!(ledger.read_range(650, 20).unwrap().len(), 20);
    assert_eq!(ledger.read_range(690, 20).unwrap().len(), 10);
    assert!(ledger.read_range(700, 5).unwrap().is_empty());
    assert!(matches!(
        ledger.read_entry(700),
        Err(ReadError::OutOfRange {
            index: 700,
            size: 700
        })
    ));
    let stats = ledger.stats();
    assert_eq!(stats.entries, 700);
    assert_eq!(
        stats.bytes,
        (0..700).map(|i| entry(i).len() as u64).sum::<u64>()
    );
    assert!(stats.fsyncs > 0);
}

#[test]
fn roots_and_proofs_match_the_reference_tree() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    fill(&ledger, 0, 1100, 100);
    let tree = reference(1100);
    for size in [1, 2, 3, 255, 256, 257, 511, 512, 1000, 1100] {
        assert_eq!(ledger.root_at(size).unwrap(), tree.root(size).unwrap());
    }
    for (index, size) in [
        (0, 1),
        (5, 1100),
        (255, 256),
        (256, 1100),
        (1099, 1100),
        (700, 1024),
    ] {
        let proof = ledger.inclusion_proof(index, size).unwrap();
        assert_eq!(proof, tree.inclusion_proof(index, size).unwrap());
        verify_inclusion(
            index,
            size,
            &leaf_hash(&entry(index)),
            &proof,
            &tree.root(size).unwrap(),
        )
        .unwrap();
    }
    for (a, b) in [
        (1, 1100),
        (256, 1100),
        (300, 1024),
        (1099, 1100),
        (1100, 1100),
    ] {
        let proof = ledger.consistency_proof(a, b).unwrap();
        assert_eq!(proof, tree.consistency_proof(a, b).unwrap());
        verify_consistency(a, b, &proof, &tree.root(a).unwrap(), &tree.root(b).unwrap()).unwrap();
    }
    assert!(ledger.inclusion_proof(1100, 1100).is_err());
    assert!(ledger.consistency_proof(0, 5).is_err());
    assert!(ledger.consistency_proof(5, 1101).is_err());
}

#[test]
fn checkpoints_are_signed_and_proof_bundles_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    // A fresh ledger starts with a signed checkpoint of the empty tree.
    let first = ledger.latest_checkpoint().unwrap();
    assert!(first.starts_with("cairn/test\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"));
    fill(&ledger, 0, 300, 50);
    assert!(ledger.checkpoint().unwrap());
    assert!(!ledger.checkpoint().unwrap(), "nothing new to sign");
    let vkey = ledger.verifier_key();
    assert!(vkey.starts_with("cairn/test+"));
    let verifier = CheckpointVerifier::new(&vkey).unwrap();
    let cp = verifier.open(&ledger.latest_checkpoint().unwrap()).unwrap();
    assert_eq!(cp.size, 300);
    assert_eq!(cp.root, reference(300).root(300).unwrap());

    let bundle = ledger.proof_bundle(123, None).unwrap();
    assert!(bundle.starts_with("c2sp.org/tlog-proof@v1\nindex 123\n"));
    let ok = verify_bundle(&bundle, &vkey, Some(&entry(123))).unwrap();
    assert_eq!((ok.index, ok.checkpoint.size), (123, 300));
    assert!(verify_bundle(&bundle, &vkey, Some(&entry(124))).is_err());
    assert!(
        verify_bundle(
            &bundle.replacen("index 123", "index 122", 1),
            &vkey,
            Some(&entry(123))
        )
        .is_err()
    );
    let other = Ledger::open(&dir.path().join("other"), LedgerOptions::default()).unwrap();
    assert!(verify_bundle(&bundle, &other.verifier_key(), Some(&entry(123))).is_err());
    // Without the entry only the signature and the proof's shape are checked.
    assert_eq!(verify_bundle(&bundle, &vkey, None).unwrap().leaf_hash, None);

    // Entries past the latest checkpoint are not yet provable; older checkpoints still are.
    fill(&ledger, 300, 310, 10);
    assert!(ledger.proof_bundle(305, None).is_err());
    ledger.checkpoint().unwrap();
    let old = ledger.proof_bundle(5, Some(300)).unwrap();
    assert_eq!(
        verify_bundle(&old, &vkey, Some(&entry(5)))
            .unwrap()
            .checkpoint
            .size,
        300
    );
    assert!(ledger.proof_bundle(5, Some(299)).is_err());
}

#[test]
fn background_signer_checkpoints_new_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(
        dir.path(),
        LedgerOptions {
            checkpoint_interval: Duration::from_millis(20),
            ..LedgerOptions::default()
        },
    )
    .unwrap();
    assert!(ledger.origin().starts_with("cairn/"));
    fill(&ledger, 0, 50, 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.stats().last_checkpoint_size != Some(50) {
        assert!(Instant::now() < deadline, "no checkpoint within 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ledger.stats().checkpoints_signed >= 2);
    assert!(ledger.stats().last_checkpoint_unix_secs.is_some());
}

#[test]
fn tiles_serve_stored_hashes_and_entry_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    fill(&ledger, 0, 600, 100);
    let tree = reference(600);

    let full = ledger.tile("tile/0/001").unwrap().unwrap();
    assert_eq!(full.len(), 256 * 32);
    assert_eq!(full[..32], leaf_hash(&entry(256)));
    let partial = ledger.tile("tile/0/002.p/88").unwrap().unwrap();
    assert_eq!(partial.len(), 88 * 32);
    assert_eq!(partial[87 * 32..], leaf_hash(&entry(599)));
    assert_eq!(ledger.tile("tile/0/002").unwrap(), None, "not full yet");
    assert_eq!(ledger.tile("tile/0/002.p/89").unwrap(), None);
    // Level 1 holds the roots of 256-leaf subtrees.
    let l1 = ledger.tile("tile/1/000.p/2").unwrap().unwrap();
    assert_eq!(l1[..32], tree.root(256).unwrap());
    assert_eq!(ledger.tile("tile/1/000.p/3").unwrap(), None);

    let bundle = ledger.tile("tile/entries/000.p/3").unwrap().unwrap();
    let mut expected = Vec::new();
    for i in 0..3 {
        let e = entry(i);
        expected.extend_from_slice(&(e.len() as u16).to_be_bytes());
        expected.extend_from_slice(&e);
    }
    assert_eq!(bundle, expected);
    assert!(ledger.tile("tile/entries/001").unwrap().is_some());
    assert!(matches!(
        ledger.tile("tile/0/1"),
        Err(ReadError::InvalidTilePath(_))
    ));

    // Entries of 64 KiB or more cannot be bundled; they stay readable one by one.
    let big = vec![7u8; 70_000];
    ledger.append(&[&big]).unwrap();
    assert!(matches!(
        ledger.tile("tile/entries/002.p/89"),
        Err(ReadError::EntryTooLargeForBundle {
            index: 600,
            len: 70_000
        })
    ));
    assert_eq!(ledger.read_entry(600).unwrap(), big);
}

#[test]
fn reopen_restores_state_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let (vkey, root) = {
        let ledger = open(dir.path());
        fill(&ledger, 0, 400, 64);
        ledger.checkpoint().unwrap();
        fill(&ledger, 400, 450, 50);
        ledger.close().unwrap();
        assert!(matches!(ledger.append(&[b"x"]), Err(AppendError::Closed)));
        (ledger.verifier_key(), ledger.root_at(450).unwrap())
    };
    let ledger = open(dir.path());
    assert_eq!(ledger.size(), 450);
    assert_eq!(ledger.verifier_key(), vkey);
    assert_eq!(ledger.root_at(450).unwrap(), root);
    assert_eq!(ledger.latest_checkpoint_parsed().unwrap().size, 450);
    assert!(ledger.checkpoint_of_size(400).unwrap().is_some());
    assert!(ledger.checkpoint_of_size(401).unwrap().is_none());
    fill(&ledger, 450, 500, 10);
    assert_eq!(
        ledger.root_at(500).unwrap(),
        reference(500).root(500).unwrap()
    );
    let mode = std::fs::metadata(dir.path().join("signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn lost_derived_files_are_rebuilt_from_segments() {
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let ledger = open(dir.path());
        fill(&ledger, 0, 800, 100);
        ledger.close().unwrap();
        ledger.root_at(800).unwrap()
    };
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    let ledger = open(dir.path());
    assert_eq!(ledger.size(), 800);
    assert_eq!(ledger.root_at(800).unwrap(), root);
    assert_eq!(ledger.read_entry(777).unwrap(), entry(777));
}

#[test]
fn torn_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = open(dir.path());
        fill(&ledger, 0, 100, 10);
        ledger.close().unwrap();
    }
    let last = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let clean = bytes.len();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]); // a record cut short
    std::fs::write(&last, &bytes).unwrap();
    let ledger = open(dir.path());
    assert_eq!(ledger.size(), 100);
    assert_eq!(ledger.stats().recovered_tail_bytes, 10);
    assert_eq!(std::fs::metadata(&last).unwrap().len() as usize, clean);
    fill(&ledger, 100, 120, 20);
    assert_eq!(ledger.read_entry(119).unwrap(), entry(119));
}

#[test]
fn rollback_is_refused_unless_recovery_is_requested() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = open(dir.path());
        fill(&ledger, 0, 200, 50);
        ledger.close().unwrap();
    }
    // Lose the last segment: the signed checkpoint covers entries that are gone.
    let segs = segments(dir.path());
    assert!(segs.len() > 2);
    std::fs::remove_file(segs.last().unwrap()).unwrap();
    match Ledger::open(dir.path(), opts()) {
        Err(OpenError::Rollback {
            checkpoint_size: 200,
            entries,
        }) => assert!(entries < 200),
        other => panic!("expected a rollback error, got {other:?}"),
    }
    let ledger = Ledger::open(
        dir.path(),
        LedgerOptions {
            allow_rollback_recovery: true,
            ..opts()
        },
    )
    .unwrap();
    let size = ledger.size();
    assert!(size < 200);
    assert_eq!(ledger.latest_checkpoint_parsed().unwrap().size, size);
    let moved_aside = std::fs::read_dir(dir.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("checkpoints.log.rolled-back-")
    });
    assert!(moved_aside);
}

#[test]
fn modified_checkpointed_entry_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = open(dir.path());
        fill(&ledger, 0, 50, 50);
        ledger.close().unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("tree")).unwrap();
    let seg = segments(dir.path()).remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    // Rewrite entry 0's payload and fix its checksum, as an attacker would.
    let len = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    bytes[40] ^= 0x20;
    let mut crc = crc32c::crc32c(&bytes[32..36]);
    crc = crc32c::crc32c_append(crc, &bytes[40..40 + len]);
    bytes[36..40].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), opts()),
        Err(OpenError::CheckpointMismatch { size: 50 })
    ));
}

#[test]
fn open_validates_options_lock_origin_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    assert!(matches!(
        Ledger::open(dir.path(), opts()),
        Err(OpenError::Locked { .. })
    ));
    drop(ledger);
    assert!(matches!(
        Ledger::open(
            dir.path(),
            LedgerOptions {
                origin: Some("cairn/other".to_owned()),
                ..opts()
            }
        ),
        Err(OpenError::OriginMismatch { .. })
    ));
    assert!(matches!(
        Ledger::open(
            dir.path(),
            LedgerOptions {
                checkpoint_interval: Duration::ZERO,
                ..opts()
            }
        ),
        Err(OpenError::InvalidOptions(_))
    ));
    let key = dir.path().join("signing.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), opts()),
        Err(OpenError::Key { .. })
    ));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Ledger::open(dir.path(), opts()).is_ok());
}

#[test]
fn oversized_entries_are_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    let huge = vec![0u8; cairn_ledger::MAX_ENTRY_LEN + 1];
    let batch: [&[u8]; 2] = [b"ok", &huge];
    assert!(matches!(
        ledger.append(&batch),
        Err(AppendError::EntryTooLarge { position: 1, .. })
    ));
    assert_eq!(ledger.size(), 0);
}

#[test]
fn concurrent_appends_get_distinct_contiguous_indices() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for b in 0..50u64 {
                    let batch: Vec<Vec<u8>> = (0..5)
                        .map(|k| format!("{t}/{b}/{k}").into_bytes())
                        .collect();
                    let range = ledger.append(&batch).unwrap();
                    assert_eq!(range.end - range.start, 5);
                    got.push((range, batch));
                }
                got
            })
        })
        .collect();
    let mut seen = vec![false; 1000];
    for t in threads {
        for (range, batch) in t.join().unwrap() {
            for (i, e) in range.clone().zip(batch) {
                assert!(!seen[i as usize]);
                seen[i as usize] = true;
                assert_eq!(ledger.read_entry(i).unwrap(), e);
            }
        }
    }
    assert!(seen.iter().all(|s| *s));
    assert_eq!(ledger.size(), 1000);
}

#[test]
fn wait_for_size_wakes_on_append_and_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(open(dir.path()));
    let started = Instant::now();
    assert_eq!(ledger.wait_for_size(0, Duration::from_millis(50)), 0);
    assert!(started.elapsed() >= Duration::from_millis(50));
    let writer = {
        let ledger = Arc::clone(&ledger);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            ledger.append(&[b"hello"]).unwrap();
        })
    };
    assert_eq!(ledger.wait_for_size(0, Duration::from_secs(10)), 1);
    writer.join().unwrap();
}

#[test]
fn before_checkpoint_policy_syncs_before_signing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(
            dir.path(),
            LedgerOptions {
                fsync: FsyncPolicy::BeforeCheckpoint,
                ..opts()
            },
        )
        .unwrap();
        fill(&ledger, 0, 300, 100);
        assert_eq!(ledger.stats().fsyncs, 0, "no fsync per batch");
        ledger.checkpoint().unwrap();
        assert!(ledger.stats().fsyncs >= 1);
    }
    let ledger = open(dir.path());
    assert_eq!(ledger.size(), 300);
}

#[test]
fn reader_works_while_the_ledger_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    fill(&ledger, 0, 260, 20);
    ledger.checkpoint().unwrap();
    fill(&ledger, 260, 270, 10); // not yet checkpointed
    let reader = cairn_ledger::LedgerReader::open(dir.path()).unwrap();
    assert_eq!(reader.origin(), "cairn/test");
    assert_eq!(reader.verifier_key(), ledger.verifier_key());
    let (note, cp) = reader.latest_checkpoint().unwrap().unwrap();
    assert_eq!(cp.size, 260);
    assert_eq!(Some(note), ledger.latest_checkpoint());
    let bundle = reader.proof_bundle(259, None).unwrap();
    assert_eq!(bundle, ledger.proof_bundle(259, None).unwrap());
    verify_bundle(&bundle, reader.verifier_key(), Some(&entry(259))).unwrap();
    assert!(reader.proof_bundle(260, None).is_err());
    assert!(reader.proof_bundle(3, Some(0)).is_err());
    assert!(reader.checkpoint_of_size(0).unwrap().is_some());
}

#[test]
fn reader_reads_entries_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(dir.path());
    fill(&ledger, 0, 120, 30);
    let reader = cairn_ledger::LedgerReader::open(dir.path()).unwrap();
    for i in [0, 59, 119] {
        assert_eq!(reader.read_entry(i).unwrap(), entry(i));
    }
    assert!(matches!(
        reader.read_entry(120),
        Err(ReadError::OutOfRange { .. })
    ));
}
