//! Hostile clients against the OTLP/HTTP port while a well-behaved client keeps sending: slowloris
//! (many connections trickling headers or a body), huge and numerous headers, a gzip bomb, deeply
//! nested AnyValues, invalid UTF-8, a million attributes. Each hostile request gets a clear 4xx
//! (or, for the slow ones, nothing), and the normal client gets a 200 for every request meanwhile.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

use crate::common::*;
use crate::harness::{self, GZIP, PROTOBUF, Serve, post};

fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// Sends raw bytes and returns the status code of the answer (`None`: closed without one).
fn raw_status(addr: &str, request: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may answer and close before everything is written.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

/// Protobuf framing helpers for hand-built hostile messages.
fn field(out: &mut Vec<u8>, tag: u32, payload: &[u8]) {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// An `ExportTraceServiceRequest` around one encoded span.
fn request_around(span: &[u8]) -> Vec<u8> {
    let mut scope_spans = Vec::new();
    field(&mut scope_spans, 2, span); // ScopeSpans.spans
    let mut resource_spans = Vec::new();
    field(&mut resource_spans, 2, &scope_spans); // ResourceSpans.scope_spans
    let mut request = Vec::new();
    field(&mut request, 1, &resource_spans); // ExportTraceServiceRequest.resource_spans
    request
}

fn base_span(id: u64) -> Span {
    Span {
        trace_id: hex::decode(harness::trace_hex(id)).unwrap(),
        span_id: (id + 1).to_be_bytes().to_vec(),
        name: "hostile".into(),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        ..Default::default()
    }
}

/// A span with one attribute whose AnyValue is nested `depth` levels deep: kvlists (three
/// protobuf message levels each) or arrays (two).
fn deep_span(id: u64, depth: usize, kvlist: bool) -> Vec<u8> {
    let mut value = Vec::new();
    field(&mut value, 1, b"leaf"); // AnyValue.string_value
    for _ in 0..depth {
        let mut list = Vec::new();
        if kvlist {
            let mut kv = Vec::new();
            field(&mut kv, 1, b"k"); // KeyValue.key
            field(&mut kv, 2, &value); // KeyValue.value
            field(&mut list, 1, &kv); // KeyValueList.values
            value.clear();
            field(&mut value, 6, &list); // AnyValue.kvlist_value
        } else {
            field(&mut list, 1, &value); // ArrayValue.values
            value.clear();
            field(&mut value, 5, &list); // AnyValue.array_value
        }
    }
    let mut attribute = Vec::new();
    field(&mut attribute, 1, b"deep");
    field(&mut attribute, 2, &value);
    let mut span = base_span(id).encode_to_vec();
    field(&mut span, 9, &attribute); // Span.attributes
    span
}

/// A span with `n` attributes.
fn many_attributes_span(id: u64, n: usize) -> Vec<u8> {
    let one = str_kv("a", "b").encode_to_vec();
    let mut span = base_span(id).encode_to_vec();
    span.reserve(n * (one.len() + 2));
    for _ in 0..n {
        field(&mut span, 9, &one);
    }
    span
}

/// A span whose name is not UTF-8.
fn invalid_utf8_span(id: u64) -> Vec<u8> {
    let mut span = base_span(id);
    span.name = "NAME\u{1}".into();
    let mut bytes = span.encode_to_vec();
    let at = bytes.windows(5).position(|w| w == b"NAME\x01").unwrap();
    bytes[at + 4] = 0xff;
    bytes
}

#[test]
fn hostile_clients_get_4xx_and_others_keep_being_served() {
    let _serial = crate::common::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let url = format!("{}/v1/traces", serve.http);
    let http_addr = addr(&serve.http);

    // The well-behaved client, throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let normal: Arc<Mutex<Vec<(u16, Duration)>>> = Arc::default();
    let normal_client = {
        let (url, stop, normal) = (url.clone(), stop.clone(), normal.clone());
        std::thread::spawn(move || {
            let mut id = 1_000_000;
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let status = post_proto(&url, &trace_request(id, 4, 32), Duration::from_secs(30))
                    .map_or(0, |a| a.0);
                normal.lock().unwrap().push((status, started.elapsed()));
                id += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    // A connection that never finishes its headers is closed by the header-read timeout (10 s).
    let cut_off = {
        let http_addr = http_addr.clone();
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(&http_addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let started = Instant::now();
            c.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            let mut buf = [0u8; 1024];
            // EOF, or a 408 then EOF; a read timeout (30 s) means the server never cut it off.
            let mut answer = Vec::new();
            loop {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(e) => panic!("slow header connection not closed: {e}"),
                }
            }
            (
                started.elapsed(),
                String::from_utf8_lossy(&answer).into_owned(),
            )
        })
    };

    // Slowloris: connections that trickle a header byte at a time, and connections that send
    // headers with a large Content-Length and then trickle the body.
    let slow_stop = Arc::new(AtomicBool::new(false));
    let slow: Vec<_> = (0..4)
        .map(|t| {
            let (http_addr, slow_stop) = (http_addr.clone(), slow_stop.clone());
            std::thread::spawn(move || {
                let mut conns: Vec<TcpStream> = (0..50)
                    .filter_map(|_| TcpStream::connect(&http_addr).ok())
                    .collect();
                for c in &mut conns {
                    let head = if t % 2 == 0 {
                        "POST /v1/traces HTTP/1.1\r\nHost: x\r\n".to_owned()
                    } else {
                        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
                         Content-Length: 10000000\r\n\r\n"
                            .to_owned()
                    };
                    let _ = c.write_all(head.as_bytes());
                }
                while !slow_stop.load(Ordering::SeqCst) {
                    for c in &mut conns {
                        let _ = c.write_all(if t % 2 == 0 { b"X" } else { b"\0" });
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                conns.len()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));

    // Huge headers: one 1 MiB header, then 500 headers.
    let huge = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let status = raw_status(&http_addr, huge.as_bytes());
    assert!(
        matches!(status, Some(431 | 400)),
        "1 MiB header: {status:?}"
    );
    let mut many = String::from("POST /v1/traces HTTP/1.1\r\nHost: x\r\n");
    for n in 0..500 {
        many.push_str(&format!("X-H{n}: v\r\n"));
    }
    many.push_str("Content-Length: 0\r\n\r\n");
    let status = raw_status(&http_addr, many.as_bytes());
    assert!(matches!(status, Some(431 | 400)), "500 headers: {status:?}");

    // Gzip bomb: 128 MiB of zeros (limit 64 MiB), about 128 KB on the wire.
    let bomb = harness::gzip(&vec![0u8; 128 << 20]);
    assert!(bomb.len() < 1 << 20);
    let answer = post(&url, &[PROTOBUF, GZIP], &bomb);
    assert_eq!(
        answer.status,
        413,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );

    // Deep nesting: arrays 40 deep pass the decoder but not validation (limit 32); kvlists
    // 100,000 deep stop at the decoder's recursion limit. Both are a 400 naming the problem.
    let answer = post(&url, &[PROTOBUF], &request_around(&deep_span(1, 40, false)));
    let message = String::from_utf8_lossy(&answer.body);
    assert_eq!(answer.status, 400, "{message}");
    assert!(
        message.contains("depth"),
        "the message names the limit: {message}"
    );
    let answer = post(
        &url,
        &[PROTOBUF],
        &request_around(&deep_span(2, 100_000, true)),
    );
    let message = String::from_utf8_lossy(&answer.body);
    assert_eq!(answer.status, 400, "{message}");
    assert!(
        message.contains("recursion"),
        "the message says why: {message:.300}"
    );

    // Invalid UTF-8 in a string field.
    let answer = post(&url, &[PROTOBUF], &request_around(&invalid_utf8_span(3)));
    assert_eq!(
        answer.status,
        400,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"#;
    let mut body = json.to_vec();
    body.extend_from_slice(b"\"\xff\xfe\"}]}]}]}");
    let answer = post(&url, &[harness::JSON], &body);
    assert_eq!(answer.status, 400, "JSON with invalid UTF-8");

    // A million attributes on one span: refused naming the limit, not truncated.
    let answer = post(
        &url,
        &[PROTOBUF],
        &request_around(&many_attributes_span(4, 1_000_000)),
    );
    let message = String::from_utf8_lossy(&answer.body);
    assert_eq!(answer.status, 400, "{message}");
    assert!(
        message.contains("attributes"),
        "the message names the limit: {message}"
    );

    // None of the hostile spans was stored.
    for id in 1..=4 {
        let (status, _) = serve.get(&format!("/api/v1/traces/{}", harness::trace_hex(id)));
        assert_eq!(status, 404, "hostile trace {id} was stored");
    }

    let (after, answer) = cut_off.join().unwrap();
    eprintln!("slow headers cut off after {after:?}: {answer:?}");
    assert!(
        after >= Duration::from_secs(8) && after < Duration::from_secs(25),
        "the header-read timeout closed the connection after {after:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    slow_stop.store(true, Ordering::SeqCst);
    let held: usize = slow.into_iter().map(|t| t.join().unwrap()).sum();
    stop.store(true, Ordering::SeqCst);
    normal_client.join().unwrap();
    let normal = normal.lock().unwrap();
    let worst = normal.iter().map(|(_, d)| *d).max().unwrap_or_default();
    eprintln!(
        "hostile: {held} slow connections held, normal client: {} requests, worst {worst:?}",
        normal.len()
    );
    assert!(held >= 150, "the slow connections were opened: {held}");
    assert!(
        normal.len() >= 10,
        "the normal client ran: {}",
        normal.len()
    );
    assert!(
        normal.iter().all(|(s, _)| *s == 200),
        "the normal client was refused: {:?}",
        normal.iter().filter(|(s, _)| *s != 200).collect::<Vec<_>>()
    );
    assert!(
        worst < Duration::from_secs(10),
        "normal client waited {worst:?}"
    );
    serve.stop();
}
