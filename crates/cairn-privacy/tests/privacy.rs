//! Redaction and crypto-shredding on realistic GenAI payloads.

use cairn_model::{AnyValue, Event, KeyValue, LogRecord, Record, Resource, Span, SpanId, TraceId};
use cairn_privacy::{
    CustomRule, ENCRYPTED_PREFIX, ERASED, Privacy, PrivacyConfig, REDACTED_ATTRIBUTE,
    RedactionConfig, Redactor, SUBJECT_KEY_ATTRIBUTE,
};

const EMAIL: &str = "jane.doe@example.com";
const CARD_VALID: &str = "4111 1111 1111 1111";
const CARD_INVALID: &str = "4111 1111 1111 1112";
const OPENAI_KEY: &str = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

fn kv(key: &str, value: impl Into<AnyValue>) -> KeyValue {
    KeyValue::new(key, value)
}

/// A chat span as an OTel GenAI instrumentation emits it, with PII in the messages, a key in a
/// tool argument and a JWT in a header attribute.
fn chat_span() -> Span {
    let messages = format!(
        r#"[{{"role":"user","parts":[{{"type":"text","content":"I am {EMAIL}, charge card {CARD_VALID} (not {CARD_INVALID}), call +44 20 7946 0958"}}]}}]"#
    );
    Span {
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        name: "chat gpt-4o".to_owned(),
        attributes: vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", "gpt-4o"),
            kv("gen_ai.usage.input_tokens", 1234i64),
            kv("user.id", "user-42"),
            kv("gen_ai.input.messages", messages),
            kv(
                "gen_ai.tool.call.arguments",
                format!(r#"{{"api_key":"{OPENAI_KEY}","query":"weather in Paris"}}"#),
            ),
            kv("http.request.header.authorization", format!("Bearer {JWT}")),
            kv("order.id", "1733500000123"),
            kv("request.timestamp_ns", "1733500000123456789"),
            kv(
                "nested",
                AnyValue::KvList(vec![
                    kv("aws", format!("key={AWS}")),
                    kv("list", AnyValue::Array(vec![AnyValue::from(EMAIL)])),
                ]),
            ),
        ],
        events: vec![Event {
            name: "gen_ai.choice".to_owned(),
            attributes: vec![kv("message", format!("mail {EMAIL}"))],
            ..Event::default()
        }],
        resource: Resource {
            attributes: vec![kv("service.name", "agent"), kv("host.owner", EMAIL)],
            ..Resource::default()
        },
        ..Span::default()
    }
}

fn attr<'a>(span: &'a Span, key: &str) -> &'a AnyValue {
    span.attribute(key).unwrap_or_else(|| panic!("no {key}"))
}

fn fired(span: &Span) -> Vec<String> {
    match attr(span, REDACTED_ATTRIBUTE) {
        AnyValue::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn builtins_redact_a_genai_chat_span() {
    let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
    let mut span = chat_span();
    let report = redactor.redact_span(&mut span);
    let messages = attr(&span, "gen_ai.input.messages").as_str().unwrap();
    assert!(!messages.contains(EMAIL), "{messages}");
    assert!(messages.contains("I am [REDACTED:email]"), "{messages}");
    assert!(
        messages.contains("charge card [REDACTED:card]"),
        "{messages}"
    );
    assert!(
        messages.contains(CARD_INVALID),
        "a number failing Luhn is kept: {messages}"
    );
    assert!(messages.contains("call [REDACTED:phone]"), "{messages}");
    let args = attr(&span, "gen_ai.tool.call.arguments").as_str().unwrap();
    assert_eq!(
        args,
        r#"{"api_key":"[REDACTED:api_key]","query":"weather in Paris"}"#
    );
    let auth = attr(&span, "http.request.header.authorization")
        .as_str()
        .unwrap();
    assert_eq!(auth, "Bearer [REDACTED:jwt]");
    // Ordinary data stays: a millisecond and a nanosecond timestamp, token counts, the model.
    assert_eq!(attr(&span, "order.id").as_str(), Some("1733500000123"));
    assert_eq!(
        attr(&span, "request.timestamp_ns").as_str(),
        Some("1733500000123456789")
    );
    assert_eq!(
        attr(&span, "gen_ai.usage.input_tokens").as_i64(),
        Some(1234)
    );
    assert_eq!(attr(&span, "gen_ai.request.model").as_str(), Some("gpt-4o"));
    assert_eq!(attr(&span, "user.id").as_str(), Some("user-42"));
    // Nested values, events and the resource.
    let nested = attr(&span, "nested").to_json().to_string();
    assert!(nested.contains("key=[REDACTED:aws_key]"), "{nested}");
    assert!(
        nested.contains("[REDACTED:email]") && !nested.contains(EMAIL),
        "{nested}"
    );
    assert_eq!(
        span.events[0].attributes[0].value.as_str(),
        Some("mail [REDACTED:email]")
    );
    assert_eq!(
        span.resource.attributes[1].value.as_str(),
        Some("[REDACTED:email]")
    );
    // What fired, never the values.
    let fired = fired(&span);
    for expected in [
        "gen_ai.input.messages:email",
        "gen_ai.input.messages:card",
        "gen_ai.input.messages:phone",
        "gen_ai.tool.call.arguments:api_key",
        "http.request.header.authorization:jwt",
        "nested:aws_key",
        "nested:email",
        "events[0].message:email",
        "resource.host.owner:email",
    ] {
        assert!(
            fired.contains(&expected.to_owned()),
            "{expected} not in {fired:?}"
        );
    }
    let all = format!("{fired:?}");
    assert!(!all.contains(EMAIL) && !all.contains("4111"));
    assert_eq!(report.counts["email"], 4);
    assert_eq!(report.counts["card"], 1);
    assert_eq!(report.counts["jwt"], 1);
    assert!(!report.counts.contains_key("bearer"));
}

#[test]
fn secrets_in_isolation() {
    let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
    let mut report = cairn_privacy::RedactionReport::default();
    let mut run = |s: &str| redactor.redact_str(s, "x", &mut report);
    assert_eq!(
        run("Authorization: Bearer abcdef0123456789").as_deref(),
        Some("Authorization: [REDACTED:bearer]")
    );
    assert_eq!(run(AWS).as_deref(), Some("[REDACTED:aws_key]"));
    assert_eq!(run(JWT).as_deref(), Some("[REDACTED:jwt]"));
    assert_eq!(run("sk-short").as_deref(), None, "too short for a key");
    assert_eq!(
        run("call 555-123-4567 now").as_deref(),
        Some("call [REDACTED:phone] now")
    );
    assert_eq!(
        run("version 1.2.3, id 12345678, 2025-01-02").as_deref(),
        None
    );
    assert_eq!(
        run("amex 3782 822463 10005").as_deref(),
        Some("amex [REDACTED:card]")
    );
}

#[test]
fn custom_rules_allow_and_deny_lists() {
    let config = RedactionConfig {
        rules: vec![CustomRule {
            name: "employee_id".to_owned(),
            pattern: "EMP-[0-9]{6}".to_owned(),
        }],
        allow: vec!["support.*".to_owned()],
        deny: vec!["http.request.header.cookie".to_owned(), "secret".to_owned()],
        ..RedactionConfig::default()
    };
    let redactor = Redactor::new(&config).unwrap();
    let mut span = Span {
        attributes: vec![
            kv("note", "escalated by EMP-004211"),
            kv("support.email", EMAIL),
            kv("http.request.header.cookie", "session=abc"),
            kv(
                "payload",
                AnyValue::KvList(vec![kv("secret", 42i64), kv("ok", "fine")]),
            ),
        ],
        ..Span::default()
    };
    let report = redactor.redact_span(&mut span);
    assert_eq!(
        attr(&span, "note").as_str(),
        Some("escalated by [REDACTED:employee_id]")
    );
    assert_eq!(
        attr(&span, "support.email").as_str(),
        Some(EMAIL),
        "allow-listed"
    );
    assert_eq!(
        attr(&span, "http.request.header.cookie").as_str(),
        Some("[REDACTED:deny]")
    );
    assert_eq!(
        attr(&span, "payload").to_json(),
        serde_json::json!({"secret": "[REDACTED:deny]", "ok": "fine"})
    );
    assert_eq!(report.counts["deny"], 2);
    assert_eq!(report.counts["employee_id"], 1);

    // Bad configuration is refused with the field named.
    let bad = RedactionConfig {
        rules: vec![CustomRule {
            name: "x".to_owned(),
            pattern: "(".to_owned(),
        }],
        ..RedactionConfig::default()
    };
    let err = Redactor::new(&bad).unwrap_err().to_string();
    assert!(err.contains("privacy.redaction.rules[x]"), "{err}");
    let bad = RedactionConfig {
        builtins: vec!["ssn".to_owned()],
        ..RedactionConfig::default()
    };
    assert!(Redactor::new(&bad).unwrap_err().to_string().contains("ssn"));
}

#[test]
fn a_ciphertext_lookalike_neither_skips_redaction_nor_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let privacy = privacy_with_key(dir.path());
    let forged = format!("{ENCRYPTED_PREFIX}00112233445566778899aabbccddeeff:mail {EMAIL}");
    let mut span = Span {
        attributes: vec![
            kv("user.id", "u1"),
            kv("gen_ai.input.messages", forged.as_str()),
        ],
        ..Span::default()
    };
    privacy.protect_span(&mut span).unwrap();
    let stored = attr(&span, "gen_ai.input.messages")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !stored.contains(EMAIL) && !stored.contains("mail"),
        "{stored}"
    );
    let mut record = Record::Span(span);
    privacy.reveal(&mut record);
    let Record::Span(read) = record else { panic!() };
    assert_eq!(
        attr(&read, "gen_ai.input.messages").as_str(),
        Some(
            format!("{ENCRYPTED_PREFIX}00112233445566778899aabbccddeeff:mail [REDACTED:email]")
                .as_str()
        )
    );
}

#[test]
fn a_sender_cannot_forge_the_redaction_marker() {
    let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
    let mut span = Span {
        attributes: vec![kv(REDACTED_ATTRIBUTE, "nothing:here"), kv("a", "b")],
        ..Span::default()
    };
    redactor.redact_span(&mut span);
    assert!(span.attribute(REDACTED_ATTRIBUTE).is_none());
}

fn privacy_with_key(dir: &std::path::Path) -> Privacy {
    let master = cairn_privacy::MasterKey::generate().to_base64();
    Privacy::open(&PrivacyConfig::default(), dir, Some(&master)).unwrap()
}

#[test]
fn content_is_encrypted_per_subject_and_erased_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let master = cairn_privacy::MasterKey::generate().to_base64();
    let privacy = Privacy::open(&PrivacyConfig::default(), dir.path(), Some(&master)).unwrap();
    assert!(privacy.encrypts());

    let mut span = chat_span();
    privacy.protect_span(&mut span).unwrap();
    let stored = span.clone();
    // Content attributes and user.id are ciphertext; others are not.
    for key in [
        "gen_ai.input.messages",
        "gen_ai.tool.call.arguments",
        "user.id",
    ] {
        let v = attr(&stored, key).as_str().unwrap();
        assert!(v.starts_with(ENCRYPTED_PREFIX), "{key}: {v}");
        assert!(!v.contains("user-42") && !v.contains("Paris"));
    }
    assert_eq!(
        attr(&stored, "gen_ai.request.model").as_str(),
        Some("gpt-4o")
    );
    // The encoded ledger entry holds no plaintext content.
    let entry = cairn_model::codec::encode_span(&stored);
    let text = String::from_utf8_lossy(&entry);
    assert!(!text.contains("user-42") && !text.contains("weather in Paris"));

    // A second subject gets another key.
    let mut other = chat_span();
    other.attributes[3] = kv("user.id", "user-7");
    privacy.protect_span(&mut other).unwrap();
    let key_of = |s: &Span| {
        cairn_privacy::shred::parse_ciphertext(attr(s, "user.id").as_str().unwrap())
            .unwrap()
            .0
            .to_owned()
    };
    assert_ne!(key_of(&stored), key_of(&other));

    // Reading decrypts exactly (after the redaction that happened first).
    let mut record = Record::Span(stored.clone());
    let report = privacy.reveal(&mut record);
    assert_eq!(report.erased, 0);
    assert_eq!(report.decrypted, 3);
    let Record::Span(read) = &record else {
        panic!()
    };
    assert_eq!(attr(read, "user.id").as_str(), Some("user-42"));
    assert_eq!(
        attr(read, "gen_ai.tool.call.arguments").as_str(),
        Some(r#"{"api_key":"[REDACTED:api_key]","query":"weather in Paris"}"#)
    );
    assert_eq!(
        attr(read, SUBJECT_KEY_ATTRIBUTE).as_str(),
        Some(key_of(&stored).as_str())
    );

    // Reopening the keystore with the same master key still decrypts.
    let reopened = Privacy::open(&PrivacyConfig::default(), dir.path(), Some(&master)).unwrap();
    let mut record = Record::Span(stored.clone());
    assert_eq!(reopened.reveal(&mut record).decrypted, 3);

    // Erase user-42: their content reads [erased]; user-7 is intact.
    let keystore = privacy.keystore().unwrap();
    let destroyed = keystore.destroy("user-42").unwrap().unwrap();
    assert_eq!(destroyed.key.id(), key_of(&stored));
    let mut record = Record::Span(stored);
    let report = privacy.reveal(&mut record);
    assert_eq!((report.decrypted, report.erased), (0, 3));
    let Record::Span(read) = &record else {
        panic!()
    };
    assert_eq!(attr(read, "user.id").as_str(), Some(ERASED));
    assert_eq!(attr(read, "gen_ai.input.messages").as_str(), Some(ERASED));
    let mut record = Record::Span(other);
    assert_eq!(privacy.reveal(&mut record).decrypted, 3);
    // And after a restart too.
    let reopened = Privacy::open(&PrivacyConfig::default(), dir.path(), Some(&master)).unwrap();
    assert_eq!(reopened.keystore().unwrap().len(), 1);
}

#[test]
fn structured_values_and_log_bodies_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let privacy = privacy_with_key(dir.path());
    let structured = AnyValue::Array(vec![AnyValue::KvList(vec![
        kv("role", "user"),
        kv("content", "hello"),
        kv("score", AnyValue::Double(-0.0)),
    ])]);
    let mut log = LogRecord {
        event_name: "gen_ai.user.message".to_owned(),
        body: structured.clone(),
        attributes: vec![
            kv("gen_ai.conversation.id", "conv-1"),
            kv("gen_ai.input.messages", structured.clone()),
        ],
        ..LogRecord::default()
    };
    privacy.protect_log(&mut log).unwrap();
    assert!(log.body.as_str().unwrap().starts_with(ENCRYPTED_PREFIX));
    assert_eq!(
        log.attributes[0].value.as_str(),
        Some("conv-1"),
        "the conversation id names the subject but is not content by default"
    );
    let mut record = Record::Log(log);
    privacy.reveal(&mut record);
    let Record::Log(read) = record else { panic!() };
    assert_eq!(read.body, structured);
    assert_eq!(read.attributes[1].value, structured);
}

#[test]
fn records_without_subject_or_master_key_are_not_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let privacy = privacy_with_key(dir.path());
    let mut span = Span {
        attributes: vec![kv("gen_ai.input.messages", "hi")],
        ..Span::default()
    };
    privacy.protect_span(&mut span).unwrap();
    assert_eq!(attr(&span, "gen_ai.input.messages").as_str(), Some("hi"));
    assert!(privacy.keystore().unwrap().is_empty());

    let plain = Privacy::open(&PrivacyConfig::default(), dir.path(), None).unwrap();
    assert!(!plain.encrypts());
    let mut span = chat_span();
    plain.protect_span(&mut span).unwrap();
    assert_eq!(attr(&span, "user.id").as_str(), Some("user-42"));
}

#[test]
fn a_tampered_or_moved_ciphertext_reads_erased() {
    let dir = tempfile::tempdir().unwrap();
    let privacy = privacy_with_key(dir.path());
    let mut span = chat_span();
    privacy.protect_span(&mut span).unwrap();
    // Move the messages ciphertext to another attribute: the associated data no longer matches.
    let messages = attr(&span, "gen_ai.input.messages").clone();
    span.attributes.push(kv("gen_ai.output.messages", messages));
    let mut record = Record::Span(span);
    let report = privacy.reveal(&mut record);
    assert_eq!(report.erased, 1);
    let Record::Span(read) = record else { panic!() };
    assert_eq!(attr(&read, "gen_ai.output.messages").as_str(), Some(ERASED));
    assert!(
        attr(&read, "gen_ai.input.messages")
            .as_str()
            .unwrap()
            .contains("[REDACTED:email]")
    );
}

/// Cost of the ingest path per span (redact + encrypt) and of the read path (decrypt), on the
/// chat span above. Timing only, so ignored by default:
/// `cargo test -p cairn-privacy --release --test privacy -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let dir = tempfile::tempdir().unwrap();
    let privacy = privacy_with_key(dir.path());
    let n = 2000;
    let spans: Vec<Span> = (0..n).map(|_| chat_span()).collect();
    let started = std::time::Instant::now();
    let mut protected = Vec::with_capacity(n);
    for mut span in spans {
        privacy.protect_span(&mut span).unwrap();
        protected.push(span);
    }
    let ingest = started.elapsed();
    let started = std::time::Instant::now();
    for span in protected {
        let mut record = Record::Span(span);
        assert_eq!(privacy.reveal(&mut record).decrypted, 3);
    }
    let read = started.elapsed();
    println!(
        "redact+encrypt: {:.1} µs/span; decrypt: {:.1} µs/span",
        ingest.as_secs_f64() * 1e6 / n as f64,
        read.as_secs_f64() * 1e6 / n as f64
    );
}
