//! Witness cosignatures: `cosigned.checkpoint` is stored by the ledger and `verify_dir` requires
//! the given witnesses' cosignatures on it, matching the entries.

use cairn_ledger::cosign::append_signature_lines;
use cairn_ledger::verify::{ProblemKind, VerifyReport};
use cairn_ledger::{CosignatureSigner, StoreCosignedError, VerifyOptions, verify_dir};

use super::{fill, open};

fn verify(dir: &std::path::Path, keys: &[String], quorum: Option<usize>) -> VerifyReport {
    let opts = VerifyOptions {
        witness_keys: keys.to_vec(),
        witness_quorum: quorum,
        ..VerifyOptions::default()
    };
    verify_dir(dir, &opts, &mut |_, _| {}).unwrap()
}

fn kinds(r: &VerifyReport) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn verify_requires_the_witness_cosignatures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let (w1, _) = CosignatureSigner::generate("witness.example/w1").unwrap();
    let (w2, _) = CosignatureSigner::generate("witness.example/w2").unwrap();
    let (stranger, _) = CosignatureSigner::generate("witness.example/w1").unwrap();
    let ledger = open(&dir);
    fill(&ledger, 0, 50, 10);
    assert!(ledger.checkpoint().unwrap());
    let note = ledger.latest_checkpoint().unwrap();
    let cp = ledger.latest_checkpoint_parsed().unwrap();

    // Nothing cosigned yet.
    let r = verify(&dir, &[w1.vkey()], None);
    assert_eq!(kinds(&r), vec![ProblemKind::WitnessCosignature], "{r:#?}");

    // Only w1 cosigned: w1 alone passes; w1+w2 fails; quorum 1 of 2 passes.
    let one = append_signature_lines(&note, &[w1.cosign(&cp).unwrap()]);
    assert!(ledger.store_cosigned_checkpoint(&one).unwrap());
    let r = verify(&dir, &[w1.vkey()], None);
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.witnessed_size, Some(50));
    assert!(r.witnesses[0].cosigned);
    let r = verify(&dir, &[w1.vkey(), w2.vkey()], None);
    assert_eq!(kinds(&r), vec![ProblemKind::WitnessCosignature]);
    assert!(
        r.problems[0].message.contains("witness.example/w2"),
        "{r:#?}"
    );
    assert!(verify(&dir, &[w1.vkey(), w2.vkey()], Some(1)).ok);
    // Another key with the same name is not the witness.
    assert!(!verify(&dir, &[stranger.vkey()], None).ok);

    // Both cosigned a larger checkpoint; the log then grows past it: a warning, not a problem.
    fill(&ledger, 50, 80, 10);
    assert!(ledger.checkpoint().unwrap());
    let note = ledger.latest_checkpoint().unwrap();
    let cp = ledger.latest_checkpoint_parsed().unwrap();
    let both = append_signature_lines(&note, &[w1.cosign(&cp).unwrap(), w2.cosign(&cp).unwrap()]);
    assert!(ledger.store_cosigned_checkpoint(&both).unwrap());
    // An older cosigned checkpoint never replaces a newer one.
    assert!(!ledger.store_cosigned_checkpoint(&one).unwrap());
    fill(&ledger, 80, 90, 10);
    assert!(ledger.checkpoint().unwrap());
    let r = verify(&dir, &[w1.vkey(), w2.vkey()], None);
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.witnessed_size, Some(80));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == ProblemKind::WitnessCosignature && w.message.contains("80..90")),
        "{r:#?}"
    );

    // A note not signed by the log, or ahead of it, is refused.
    let forged = both.replacen("\n80\n", "\n81\n", 1);
    assert!(matches!(
        ledger.store_cosigned_checkpoint(&forged),
        Err(StoreCosignedError::NotSigned(_))
    ));
    ledger.close().unwrap();
    drop(ledger);

    // A witnessed checkpoint whose entries were later rewritten: the fork is found.
    let path = dir.join("cosigned.checkpoint");
    let text = std::fs::read_to_string(&path).unwrap();
    // Swap the root line for another base64 root: the log signature breaks first.
    let tampered = text.replacen(
        &base64_root(&text),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        1,
    );
    std::fs::write(&path, tampered).unwrap();
    let r = verify(&dir, &[w1.vkey()], None);
    assert!(
        kinds(&r).contains(&ProblemKind::CosignedCheckpointInvalid),
        "{r:#?}"
    );
}

fn base64_root(note: &str) -> String {
    note.split('\n').nth(2).unwrap().to_owned()
}

/// The cosigned checkpoint covers more than the log holds after a rollback (an older copy of
/// the ledger restored under the newer cosigned file).
#[test]
fn a_rolled_back_log_fails_against_its_witnessed_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let old = tmp.path().join("old");
    let (w1, _) = CosignatureSigner::generate("w1").unwrap();
    let ledger = open(&dir);
    fill(&ledger, 0, 40, 10);
    assert!(ledger.checkpoint().unwrap());
    ledger.close().unwrap();
    drop(ledger);
    super::copy_dir(&dir, &old);
    let ledger = open(&dir);
    fill(&ledger, 40, 60, 10);
    assert!(ledger.checkpoint().unwrap());
    let cp = ledger.latest_checkpoint_parsed().unwrap();
    let note = append_signature_lines(
        &ledger.latest_checkpoint().unwrap(),
        &[w1.cosign(&cp).unwrap()],
    );
    ledger.store_cosigned_checkpoint(&note).unwrap();
    ledger.close().unwrap();
    drop(ledger);
    std::fs::copy(
        dir.join("cosigned.checkpoint"),
        old.join("cosigned.checkpoint"),
    )
    .unwrap();
    assert!(verify(&dir, &[w1.vkey()], None).ok);
    let r = verify(&old, &[w1.vkey()], None);
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::CosignedCheckpointInvalid],
        "{r:#?}"
    );
    assert!(r.problems[0].message.contains("rolled back"), "{r:#?}");
}
