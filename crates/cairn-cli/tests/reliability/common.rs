//! Helpers shared by the reliability suites.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use crate::harness;
pub(crate) use crate::harness::assert_verify;

/// The suites run one at a time: each measures what one server does under its own load (429s,
/// latency of the well-behaved client, kill timing), which another suite's load on the same two
/// cores would distort.
pub(crate) fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `CAIRN_LONG_TESTS=1` selects the long versions.
pub(crate) fn long() -> bool {
    std::env::var("CAIRN_LONG_TESTS").is_ok_and(|v| v == "1")
}

pub(crate) fn str_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// One trace `harness::trace_hex(id)` of `spans` tool-call spans, each carrying `pad` bytes of
/// tool result text.
pub(crate) fn trace_request(id: u64, spans: u64, pad: usize) -> Vec<u8> {
    let trace_id = hex::decode(harness::trace_hex(id)).unwrap();
    let filler = "x".repeat(pad);
    let spans = (0..spans)
        .map(|k| Span {
            trace_id: trace_id.clone(),
            span_id: (id * 64 + k + 1).to_be_bytes().to_vec(),
            parent_span_id: if k == 0 {
                Vec::new()
            } else {
                (id * 64 + 1).to_be_bytes().to_vec()
            },
            name: "execute_tool fetch_url".into(),
            kind: 1,
            start_time_unix_nano: 1_700_000_000_000_000_000 + k,
            end_time_unix_nano: 1_700_000_000_050_000_000 + k,
            attributes: vec![
                str_kv("gen_ai.operation.name", "execute_tool"),
                str_kv("gen_ai.tool.name", "fetch_url"),
                str_kv("gen_ai.tool.call.result", &filler),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// POSTs a protobuf body; `None` on a transport error (connection refused, reset, timeout).
pub(crate) fn post_proto(
    url: &str,
    body: &[u8],
    timeout: Duration,
) -> Option<(u16, Option<String>)> {
    match ureq::post(url)
        .set("content-type", "application/x-protobuf")
        .timeout(timeout)
        .send_bytes(body)
    {
        Ok(r) => Some((r.status(), None)),
        Err(ureq::Error::Status(code, r)) => {
            Some((code, r.header("retry-after").map(str::to_owned)))
        }
        Err(ureq::Error::Transport(_)) => None,
    }
}

/// Resident set size of a process in bytes, from `/proc/<pid>/status`.
pub(crate) fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Asserts every acknowledged trace id is served with exactly `spans` spans.
pub(crate) fn assert_traces_present(serve: &harness::Serve, ids: &[u64], spans: usize) {
    for id in ids {
        let (status, body) = serve.get(&format!("/api/v1/traces/{}", harness::trace_hex(*id)));
        assert_eq!(status, 200, "acknowledged trace {id} lost: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["spans"].as_array().map_or(0, Vec::len),
            spans,
            "acknowledged trace {id} incomplete: {body}"
        );
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub(crate) fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
