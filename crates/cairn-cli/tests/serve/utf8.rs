//! Invalid UTF-8 in one span of an OTLP/HTTP protobuf request: that span is rejected in
//! `partial_success`, the others are stored.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

use crate::harness::*;

#[test]
fn invalid_utf8_rejects_one_span_in_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let mut body = tool_span_request(20..23);
    // The first span's name (the only field spelled like this) gets a byte that is not UTF-8.
    let name = b"execute_tool fetch_url";
    let at = body
        .windows(name.len())
        .position(|w| w == name)
        .expect("span name in the request");
    body[at + 12] = 0xff;
    let answer = post(&format!("{}/v1/traces", serve.http), &[PROTOBUF], &body);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let response = ExportTraceServiceResponse::decode(answer.body.as_slice()).unwrap();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial
            .error_message
            .contains("spans[0]: name is not valid UTF-8 (first bad byte at offset 12)"),
        "{}",
        partial.error_message
    );
    serve.wait_indexed(2);
    let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(20)));
    assert_eq!(status, 404, "the bad span is not stored");
    for seed in [21, 22] {
        let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(seed)));
        assert_eq!(status, 200, "span {seed} is stored");
    }
    serve.stop();
}
