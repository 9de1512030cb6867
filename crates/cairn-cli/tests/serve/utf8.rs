//! Invalid UTF-8 in one span of an OTLP protobuf request (HTTP and gRPC): that span is rejected in
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

/// The same over OTLP/gRPC, sent by Python's `grpcio` (the transport of the OpenTelemetry
/// Python exporter) as raw message bytes, so the bad byte reaches the server as sent.
#[test]
fn invalid_utf8_over_grpc_rejects_one_span_in_partial_success() {
    use std::io::Write as _;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let mut body = tool_span_request(30..33);
    let name = b"execute_tool fetch_url";
    let at = body
        .windows(name.len())
        .position(|w| w == name)
        .expect("span name in the request");
    body[at + 12] = 0xff;
    let target = serve
        .grpc
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let script = "import grpc, sys\n\
        channel = grpc.insecure_channel(sys.argv[1])\n\
        export = channel.unary_unary('/opentelemetry.proto.collector.trace.v1.TraceService/Export')\n\
        sys.stdout.buffer.write(export(sys.stdin.buffer.read(), timeout=30))\n";
    let mut child = std::process::Command::new(python())
        .args(["-c", script, &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gRPC export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response = ExportTraceServiceResponse::decode(out.stdout.as_slice()).unwrap();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1, "{}", partial.error_message);
    assert!(
        partial.error_message.contains("name is not valid UTF-8"),
        "{}",
        partial.error_message
    );
    serve.wait_indexed(2);
    let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(30)));
    assert_eq!(status, 404, "the bad span is not stored");
    for seed in [31, 32] {
        let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(seed)));
        assert_eq!(status, 200, "span {seed} is stored");
    }
    serve.stop();
}
