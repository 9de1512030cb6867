//! Invalid UTF-8 in one span of an OTLP protobuf request (HTTP and gRPC): that span is rejected in
//! `partial_success`, the others are stored.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

use crate::harness::*;

/// A request with one tool span per seed, the first one's name made invalid UTF-8 (0xff at
/// offset 12).
fn request_with_one_bad_span(seeds: std::ops::Range<u64>) -> Vec<u8> {
    let mut body = tool_span_request(seeds);
    // The first span's name (the only field spelled like this) gets a byte that is not UTF-8.
    let name = b"execute_tool fetch_url";
    let at = body
        .windows(name.len())
        .position(|w| w == name)
        .expect("span name in the request");
    body[at + 12] = 0xff;
    body
}

/// The bad span's trace is unknown, the others are stored.
fn assert_only_good_spans_stored(serve: &Serve, bad: u64, good: &[u64]) {
    serve.wait_indexed(good.len() as u64);
    let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(bad)));
    assert_eq!(status, 404, "the bad span is not stored");
    for &seed in good {
        let (status, _) = serve.get(&format!("/api/v1/traces/{}", trace_hex(seed)));
        assert_eq!(status, 200, "span {seed} is stored");
    }
}

#[test]
fn invalid_utf8_rejects_one_span_in_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let body = request_with_one_bad_span(20..23);
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
    assert_only_good_spans_stored(&serve, 20, &[21, 22]);
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
    let body = request_with_one_bad_span(30..33);
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
    assert_only_good_spans_stored(&serve, 30, &[31, 32]);
    serve.stop();
}
