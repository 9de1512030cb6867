//! Every Merkle proof vector in `tests/fixtures/merkle` (from transparency-dev/merkle, Apache-2.0):
//! positive ones must verify, `wantErr: true` ones must fail.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_ledger::merkle::{verify_consistency, verify_inclusion};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/merkle")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64(v: &Value) -> Vec<u8> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => BASE64.decode(s).expect("vector base64"),
        other => panic!("unexpected value {other}"),
    }
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(b64).collect(),
        other => panic!("unexpected proof {other}"),
    }
}

fn run(kind: &str) -> (usize, usize) {
    let mut files = Vec::new();
    json_files(&fixtures().join(kind), &mut files);
    files.sort();
    let (mut positive, mut negative) = (0, 0);
    for file in files {
        let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let result = if kind == "inclusion" {
            verify_inclusion(
                v["leafIdx"].as_u64().unwrap(),
                v["treeSize"].as_u64().unwrap(),
                &b64(&v["leafHash"]),
                &proof(&v["proof"]),
                &b64(&v["root"]),
            )
        } else {
            verify_consistency(
                v["size1"].as_u64().unwrap(),
                v["size2"].as_u64().unwrap(),
                &proof(&v["proof"]),
                &b64(&v["root1"]),
                &b64(&v["root2"]),
            )
        };
        assert_eq!(
            result.is_err(),
            want_err,
            "{}: {} -> {result:?}",
            file.display(),
            v["desc"]
        );
        if want_err {
            negative += 1;
        } else {
            positive += 1;
        }
    }
    (positive, negative)
}

#[test]
fn all_inclusion_vectors() {
    let (positive, negative) = run("inclusion");
    assert!(positive >= 5 && negative >= 50, "{positive} + {negative}");
}

#[test]
fn all_consistency_vectors() {
    let (positive, negative) = run("consistency");
    assert!(positive >= 5 && negative >= 50, "{positive} + {negative}");
}
