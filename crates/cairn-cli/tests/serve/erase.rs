//! `cairn privacy init-master-key`, `cairn erase` (through the API and `--offline`) and
//! `cairn verify` on the real binary.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::Value;

use crate::harness::*;

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn user_request(seed: u64, user: &str, args: &str) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: hex::decode(trace_hex(seed)).unwrap(),
                    span_id: (seed + 1).to_be_bytes().to_vec(),
                    name: "execute_tool search".into(),
                    kind: 1,
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_000_050_000_000,
                    attributes: vec![
                        kv("gen_ai.tool.name", "search"),
                        kv("user.id", user),
                        kv("gen_ai.tool.call.arguments", args),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn trace_json(serve: &Serve, seed: u64) -> String {
    let out = serve.cli(&["trace", &trace_hex(seed), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn erase_through_the_api_and_offline_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    let out = cairn()
        .args(["privacy", "init-master-key", "--json"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["master_key_file"], key.display().to_string());
    let again = cairn()
        .args(["privacy", "init-master-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "never overwrites a key");

    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        format!(
            "[privacy]\nmaster_key_file = {:?}\n",
            key.display().to_string()
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let serve = Serve::start(dir.path(), &["-c", &config_arg]);
    for (seed, user, args) in [(1, "alice", "zanzibar trip"), (2, "bob", "marmalade jar")] {
        let answer = post(
            &format!("{}/v1/traces", serve.http),
            &[PROTOBUF],
            &user_request(seed, user, args),
        );
        assert_eq!(answer.status, 200);
    }
    serve.wait_indexed(2);
    assert!(trace_json(&serve, 1).contains("zanzibar trip"));

    let out = serve.cli(&["erase", "--subject", "alice", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["index_rows_erased"], 1);
    let alice_record = outcome["audit_ledger_index"].as_u64().unwrap();
    let alice = trace_json(&serve, 1);
    assert!(
        alice.contains("[erased]") && !alice.contains("zanzibar"),
        "{alice}"
    );
    assert!(trace_json(&serve, 2).contains("marmalade jar"));
    let again = serve.cli(&["erase", "--subject", "alice"]);
    assert_eq!(again.status.code(), Some(1), "no key left for alice");
    serve.stop();

    let data = dir.path().join("data");
    assert_verify(&data);

    // Backfills decrypt with the master key, and show ciphertext without it.
    let export = |path: &str, with_key: bool| {
        let mut cmd = cairn();
        cmd.args(["export", "--to", "jsonl", "--path"])
            .arg(dir.path().join(path))
            .arg("--data-dir")
            .arg(&data)
            .env_remove("CAIRN_MASTER_KEY")
            .env_remove("CAIRN_MASTER_KEY_FILE");
        if with_key {
            cmd.env("CAIRN_MASTER_KEY_FILE", &key);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_dir(dir.path().join(path))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<String>()
    };
    let plain = export("jsonl-key", true);
    assert!(
        plain.contains("marmalade jar") && !plain.contains("zanzibar"),
        "{plain}"
    );
    assert!(plain.contains("[erased]"), "{plain}");
    let sealed = export("jsonl-nokey", false);
    assert!(
        sealed.contains("cairn:enc:v1:") && !sealed.contains("marmalade"),
        "{sealed}"
    );

    // Offline, with the server stopped.
    let out = cairn()
        .args([
            "erase",
            "--subject",
            "bob",
            "--offline",
            "--json",
            "-c",
            &config_arg,
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcome: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["index_rows_erased"], 1);
    // Spans 0-1, then alice's erasure record and the access records of the reads in between.
    assert!(
        outcome["audit_ledger_index"].as_u64().unwrap() > alice_record,
        "after alice's erasure record ({alice_record}): {outcome}"
    );
    assert_verify(&data);

    let serve = Serve::start(dir.path(), &["-c", &config_arg]);
    serve.wait_indexed(4);
    let bob = trace_json(&serve, 2);
    assert!(
        bob.contains("[erased]") && !bob.contains("marmalade"),
        "{bob}"
    );
    serve.stop();
}
