//! Privacy end to end through the real server: redaction and encryption at ingest, plaintext in
//! the index, erasure by crypto-shredding, and the ledger's proofs untouched.

use std::time::{Duration, Instant};

use cairn_model::{Record, codec};
use serde_json::Value;

use crate::harness::*;

const TOOL_ALICE: &str = "zanzibar itinerary for alice";
const TOOL_BOB: &str = "marmalade recipe for bob";

fn user_span(
    seed: u64,
    user: &str,
    tool_args: &str,
) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
    vec![span(
        trace_id(seed),
        span_id(seed),
        None,
        "execute_tool search",
        vec![
            kv("gen_ai.operation.name", s("execute_tool")),
            kv("gen_ai.tool.name", s("search")),
            kv("user.id", s(user)),
            kv("gen_ai.tool.call.arguments", s(tool_args)),
            kv(
                "gen_ai.input.messages",
                s(&format!("please mail {user}@example.com the answer")),
            ),
        ],
    )]
}

fn entry_bytes(srv: &TestServer, index: u64) -> Vec<u8> {
    let r = ureq::get(&srv.api_url(&format!("/api/v1/audit/entries/{index}")))
        .call()
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
    bytes
}

fn span_attrs(srv: &TestServer, seed: u64) -> Value {
    let trace = srv.get_json(&format!("/api/v1/traces/{}", hex(&trace_id(seed))));
    trace["spans"][0]["attributes"].clone()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn search(srv: &TestServer, q: &str) -> usize {
    srv.get_json(&format!("/api/v1/traces?q={q}"))["traces"]
        .as_array()
        .unwrap()
        .len()
}

fn erase(srv: &TestServer, body: &str) -> (u16, Value) {
    let answer = post(
        &srv.api_url("/api/v1/admin/erase"),
        &[JSON],
        body.as_bytes(),
    );
    (
        answer.status,
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    )
}

fn with_master_key(dir: &std::path::Path) -> impl FnOnce(&mut cairn_collector::Config) {
    let key_file = dir.join("master.key");
    cairn_privacy::MasterKey::generate_file(&key_file).unwrap();
    move |c: &mut cairn_collector::Config| c.privacy.master_key_file = Some(key_file)
}

#[test]
fn erasure_end_to_end_keeps_the_ledger_and_its_proofs() {
    let keys = tempfile::tempdir().unwrap();
    let with_key = with_master_key(keys.path());
    let srv = TestServer::start(|c| {
        with_key(c);
        c.exporters = vec![toml::from_str("kind = \"jsonl\"\nname = \"files\"").unwrap()];
    });
    for (seed, user, args) in [(41, "alice", TOOL_ALICE), (42, "bob", TOOL_BOB)] {
        let answer = post(
            &srv.http_url("/v1/traces"),
            &[PROTOBUF],
            &protobuf(user_span(seed, user, args)),
        );
        assert_eq!(answer.status, 200);
    }
    srv.wait_indexed();

    // The ledger holds ciphertext only; the index holds plaintext (after redaction).
    let alice_entry = entry_bytes(&srv, 0);
    let text = String::from_utf8_lossy(&alice_entry);
    assert!(
        !text.contains("zanzibar") && !text.contains("alice"),
        "{text}"
    );
    assert!(text.contains("cairn:enc:v1:"));
    let attrs = span_attrs(&srv, 41);
    assert_eq!(attrs["user.id"], "alice");
    assert_eq!(attrs["gen_ai.tool.call.arguments"], TOOL_ALICE);
    assert_eq!(
        attrs["gen_ai.input.messages"],
        "please mail [REDACTED:email] the answer"
    );
    assert_eq!(
        attrs["cairn.redacted"],
        serde_json::json!(["gen_ai.input.messages:email"])
    );
    let key_id = attrs["cairn.subject_key"].as_str().unwrap().to_owned();
    assert_eq!(search(&srv, "zanzibar"), 1);
    assert_eq!(search(&srv, "marmalade"), 1);
    let (_, metrics) = srv.get("/metrics");
    assert!(
        metrics.contains(
            "# TYPE cairn_redactions_total counter\ncairn_redactions_total{rule=\"email\"} 2\n"
        ),
        "{metrics}"
    );
    let om = ureq::get(&srv.api_url("/metrics"))
        .set("Accept", "application/openmetrics-text; version=1.0.0")
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(om.contains("# TYPE cairn_redactions counter"), "{om}");
    assert!(om.trim_end().ends_with("# EOF"), "{om}");

    // Exporters receive the decrypted content, marked with the subject's key id.
    let jsonl = srv.config.data_dir.join("jsonl");
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let lines: Vec<String> = std::fs::read_dir(&jsonl)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|text| text.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        if lines.len() >= 2 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let alice_line = lines
        .iter()
        .find(|l| l.contains(TOOL_ALICE))
        .unwrap_or_else(|| panic!("no decrypted alice document in {lines:?}"));
    assert!(alice_line.contains(&key_id), "{alice_line}");
    assert!(!alice_line.contains("cairn:enc:"), "{alice_line}");

    // A proof taken before the erasure.
    let deadline = Instant::now() + Duration::from_secs(10);
    let proof = loop {
        let (status, body) = srv.get("/api/v1/audit/proof?index=0&size=2");
        if status == 200 {
            break body;
        }
        assert!(Instant::now() < deadline, "no checkpoint of size 2: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let verifier = srv.server().verifier_key().to_owned();
    cairn_ledger::verify_bundle(&proof, &verifier, Some(&alice_entry)).unwrap();

    // Erase alice.
    let (status, outcome) = erase(&srv, r#"{"subject":"alice"}"#);
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["key_id"], key_id.as_str());
    assert_eq!(outcome["index_rows_erased"], 1);
    let subject_hash = outcome["subject_hash"].as_str().unwrap().to_owned();
    assert_eq!(subject_hash.len(), 64);
    assert_eq!(
        outcome["exporters"],
        serde_json::json!([{"name": "files", "status": "not_supported", "deleted": null, "error": null}])
    );
    // After the two spans (0, 1) and the access records of the reads above.
    let audit_index = outcome["audit_ledger_index"].as_u64().unwrap();
    assert!(audit_index >= 2, "{outcome}");

    // API: alice's content reads [erased], search no longer finds it; bob is intact.
    let attrs = span_attrs(&srv, 41);
    assert_eq!(attrs["user.id"], "[erased]");
    assert_eq!(attrs["gen_ai.tool.call.arguments"], "[erased]");
    assert_eq!(attrs["gen_ai.input.messages"], "[erased]");
    assert_eq!(
        attrs["gen_ai.tool.name"], "search",
        "non-content attributes stay"
    );
    assert_eq!(search(&srv, "zanzibar"), 0);
    assert_eq!(search(&srv, "itinerary"), 0);
    let attrs = span_attrs(&srv, 42);
    assert_eq!(attrs["user.id"], "bob");
    assert_eq!(attrs["gen_ai.tool.call.arguments"], TOOL_BOB);
    assert_eq!(search(&srv, "marmalade"), 1);

    // The erasure is in the ledger, without the subject id.
    srv.wait_indexed();
    let audit = entry_bytes(&srv, audit_index);
    assert!(!String::from_utf8_lossy(&audit).contains("alice"));
    match codec::decode(&audit).unwrap() {
        Record::Log(log) => {
            assert_eq!(log.event_name, "cairn.audit.erasure");
            let attr = |k: &str| log.attribute(k).map(|v| v.to_display_string());
            assert_eq!(
                attr("cairn.audit.subject_hash").as_deref(),
                Some(subject_hash.as_str())
            );
            assert_eq!(attr("cairn.audit.key_id").as_deref(), Some(key_id.as_str()));
            assert_eq!(attr("cairn.audit.actor").as_deref(), Some("api"));
        }
        other => panic!("{other:?}"),
    }

    // Ledger bytes unchanged: the old proof still verifies against the same entry bytes.
    assert_eq!(entry_bytes(&srv, 0), alice_entry);
    cairn_ledger::verify_bundle(&proof, &verifier, Some(&alice_entry)).unwrap();

    // Erasing again, bad bodies.
    assert_eq!(erase(&srv, r#"{"subject":"alice"}"#).0, 404);
    assert_eq!(erase(&srv, r#"{"subject":""}"#).0, 400);
    assert_eq!(erase(&srv, r#"{"who":"alice"}"#).0, 400);
    assert_eq!(erase(&srv, "not json").0, 400);

    // After a restart and a full reindex, alice stays erased and verify passes.
    let (dir, config) = srv.stop();
    let report = cairn_ledger::verify_dir(
        &config.ledger_dir(),
        &cairn_ledger::VerifyOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.ok, "{:?}", report.problems);
    // The two spans, the erasure record, and the access records of the reads.
    assert!(report.entries > audit_index, "{} entries", report.entries);
    cairn_collector::reindex(&config, &mut |_, _| {}).unwrap();
    let srv = TestServer::start_in(dir, config);
    srv.wait_indexed();
    assert_eq!(
        span_attrs(&srv, 41)["gen_ai.tool.call.arguments"],
        "[erased]"
    );
    assert_eq!(span_attrs(&srv, 42)["gen_ai.tool.call.arguments"], TOOL_BOB);
    assert_eq!(search(&srv, "zanzibar"), 0);
}

#[test]
fn without_a_master_key_content_is_plain_and_erasure_is_refused() {
    let srv = TestServer::start(|_| {});
    post(
        &srv.http_url("/v1/traces"),
        &[PROTOBUF],
        &protobuf(user_span(43, "carol", "plain words")),
    );
    srv.wait_indexed();
    assert!(String::from_utf8_lossy(&entry_bytes(&srv, 0)).contains("plain words"));
    let attrs = span_attrs(&srv, 43);
    assert_eq!(
        attrs["gen_ai.input.messages"], "please mail [REDACTED:email] the answer",
        "redaction is on by default"
    );
    let (status, body) = erase(&srv, r#"{"subject":"carol"}"#);
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("master_key_file"), "{body}");
}
