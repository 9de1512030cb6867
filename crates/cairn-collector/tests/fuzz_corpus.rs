//! Replays the committed seed corpora of the `ledger_files`, `ledger_text` and `query_params`
//! fuzz targets (`fuzz/corpus/<target>/seed-*`) through the very checks the fuzz targets run
//! (`fuzz/src/ledger.rs` and `fuzz/src/query.rs`, included below), so those checks run on stable
//! Rust in the normal test suite. Fuzzing itself needs nightly and cargo-fuzz; see
//! `docs/fuzzing.md`.
//!
//! The ledger targets are replayed here rather than in `cairn-ledger`'s own tests because the
//! collector already depends on the ledger and on `tempfile`, and the ledger crate's only fuzzing
//! hook is the small `cairn_ledger::fuzzing` module.

use std::path::{Path, PathBuf};

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/ledger.rs"]
mod ledger_checks;

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/query.rs"]
mod query_checks;

/// The seed files of one fuzz target, sorted by name.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .map(|path| {
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

#[test]
fn ledger_files_seeds_pass_the_fuzz_checks() {
    let scratch = ledger_checks::scratch_file();
    for (path, data) in seeds("ledger_files") {
        eprintln!("{}", path.display());
        ledger_checks::ledger_files(&data, &scratch);
    }
    // The seeds are a real segment and checkpoint log: they scan cleanly.
    let segment = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ledger_files/seed-segment"),
    )
    .unwrap();
    let file = ledger_checks::scratch_file();
    std::os::unix::fs::FileExt::write_all_at(&file, &segment, 0).unwrap();
    let (records, broken) =
        cairn_ledger::fuzzing::scan_segment(file, segment.len() as u64, 32).unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|(_, crc_ok, _)| *crc_ok));
    assert_eq!(broken, None);
}

#[test]
fn ledger_text_seeds_pass_the_fuzz_checks() {
    for (path, data) in seeds("ledger_text") {
        eprintln!("{}", path.display());
        ledger_checks::ledger_text(&data);
    }
    // The seed note and bundle are genuine: they verify with the seed key.
    let verifier =
        cairn_ledger::CheckpointVerifier::new(ledger_checks::SEED_VKEY).expect("seed key");
    assert_eq!(verifier.open(ledger_checks::SEED_NOTE).unwrap().size, 3);
    let bundle = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ledger_text/seed-bundle"),
    )
    .unwrap();
    let verified = cairn_ledger::verify_bundle(&bundle, ledger_checks::SEED_VKEY, None).unwrap();
    assert_eq!(verified.index, 1);
}

#[test]
fn query_params_seeds_pass_the_fuzz_checks() {
    for (path, data) in seeds("query_params") {
        eprintln!("{}", path.display());
        query_checks::query_params(&data);
        let query = std::str::from_utf8(&data).unwrap();
        let now = std::time::SystemTime::now();
        let parsed = cairn_collector::fuzzing::query_params(query, query_checks::ALLOWED, now);
        assert!(
            matches!(parsed, Some(Ok(_))),
            "seed is rejected: {parsed:?}"
        );
    }
}
