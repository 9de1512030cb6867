//! Replays the committed seed corpora of the `otlp_proto`, `otlp_json` and `codec` fuzz targets
//! (`fuzz/corpus/<target>/seed-*`) through the very checks the fuzz targets run
//! (`fuzz/src/model.rs`, included below), so those checks run on stable Rust in the normal test
//! suite. Fuzzing itself needs nightly and cargo-fuzz; see `docs/fuzzing.md`.

use std::path::{Path, PathBuf};

use cairn_model::otlp::{self, Format, Limits};

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/model.rs"]
mod checks;

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

/// Records accepted from a seed as traces plus as logs.
fn accepted(data: &[u8], format: Format) -> usize {
    let limits = Limits::default();
    let spans = otlp::decode_traces(data, format, &limits).map_or(0, |d| d.spans.len());
    let logs = otlp::decode_logs(data, format, &limits).map_or(0, |d| d.logs.len());
    spans + logs
}

#[test]
fn otlp_proto_seeds_pass_the_fuzz_checks() {
    for (path, data) in seeds("otlp_proto") {
        eprintln!("{}", path.display());
        assert!(
            accepted(&data, Format::Protobuf) > 0,
            "seed accepts nothing"
        );
        checks::otlp_proto(&data);
    }
}

#[test]
fn otlp_json_seeds_pass_the_fuzz_checks() {
    for (path, data) in seeds("otlp_json") {
        eprintln!("{}", path.display());
        assert!(accepted(&data, Format::Json) > 0, "seed accepts nothing");
        checks::otlp_json(&data);
    }
}

#[test]
fn codec_seeds_pass_the_fuzz_checks() {
    for (path, data) in seeds("codec") {
        eprintln!("{}", path.display());
        cairn_model::codec::decode(&data).expect("seed is a valid entry");
        checks::codec(&data);
    }
}
