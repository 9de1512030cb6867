//! An in-process collector on ephemeral ports, and OTLP request builders.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cairn_collector::{Config, RunningServer, Server};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

/// A running collector in a temp dir, with its own runtime so tests can use blocking clients.
pub(crate) struct TestServer {
    pub(crate) runtime: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    /// Kept alive until the test ends (`None` once handed back by `stop`).
    dir: Option<tempfile::TempDir>,
    pub(crate) config: Config,
    pub(crate) http: SocketAddr,
    pub(crate) grpc: SocketAddr,
    pub(crate) api: SocketAddr,
}

impl TestServer {
    pub(crate) fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.otlp.http_addr = "127.0.0.1:0".into();
        config.otlp.grpc_addr = "127.0.0.1:0".into();
        config.api.addr = "127.0.0.1:0".into();
        config.ledger.checkpoint_interval = Duration::from_millis(100);
        tweak(&mut config);
        Self::start_in(dir, config)
    }

    pub(crate) fn start_in(dir: tempfile::TempDir, config: Config) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(Server::start(config.clone())).unwrap();
        let addrs = server.addrs();
        Self {
            runtime,
            server: Some(server),
            dir: Some(dir),
            config,
            http: addrs.otlp_http,
            grpc: addrs.otlp_grpc,
            api: addrs.api,
        }
    }

    pub(crate) fn server(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    /// Graceful shutdown; returns the temp dir and config for a restart.
    pub(crate) fn stop(mut self) -> (tempfile::TempDir, Config) {
        let server = self.server.take().unwrap();
        self.runtime.block_on(server.shutdown()).unwrap();
        let dir = self.dir.take().unwrap();
        (dir, self.config.clone())
    }

    pub(crate) fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub(crate) fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    /// Waits until every durable ledger entry is indexed.
    pub(crate) fn wait_indexed(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.server();
            if s.indexed() >= s.ledger_size() {
                return;
            }
            assert!(Instant::now() < deadline, "index did not catch up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET on the API; returns status and body (errors included).
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        match ureq::get(&self.api_url(path)).call() {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    pub(crate) fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.runtime.block_on(server.shutdown());
        }
    }
}

/// The answer to a raw POST.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// POSTs `body` with the given headers.
pub(crate) fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = ureq::post(url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let response = match req.send_bytes(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let status = response.status();
    let content_type = response.header("content-type").unwrap_or("").to_owned();
    let retry_after = response.header("retry-after").map(str::to_owned);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    Answer {
        status,
        content_type,
        retry_after,
        body,
    }
}

pub(crate) const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
pub(crate) const JSON: (&str, &str) = ("content-type", "application/json");
pub(crate) const GZIP: (&str, &str) = ("content-encoding", "gzip");

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

pub(crate) fn i(v: i64) -> any_value::Value {
    any_value::Value::IntValue(v)
}

/// A unique, valid trace id derived from `seed`.
pub(crate) fn trace_id(seed: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.wrapping_add(1).to_be_bytes());
    id[8..].copy_from_slice(&0xC0FF_EE00_u64.to_be_bytes());
    id
}

pub(crate) fn span_id(seed: u64) -> [u8; 8] {
    seed.wrapping_add(1).to_be_bytes()
}

pub(crate) fn span(
    trace: [u8; 16],
    id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: &str,
    attributes: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.into(),
        kind: 1,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes,
        ..Default::default()
    }
}

/// A small agent run: invoke_agent → chat, execute_tool.
pub(crate) fn agent_run(seed: u64) -> Vec<Span> {
    let t = trace_id(seed);
    let root = span_id(seed * 10);
    vec![
        span(
            t,
            root,
            None,
            "invoke_agent planner",
            vec![
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("gen_ai.agent.name", s("planner")),
            ],
        ),
        span(
            t,
            span_id(seed * 10 + 1),
            Some(root),
            "chat gpt-4o",
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.request.model", s("gpt-4o")),
                kv("gen_ai.usage.input_tokens", i(100)),
                kv("gen_ai.usage.output_tokens", i(20)),
            ],
        ),
        span(
            t,
            span_id(seed * 10 + 2),
            Some(root),
            "execute_tool web_search",
            vec![
                kv("gen_ai.operation.name", s("execute_tool")),
                kv("gen_ai.tool.name", s("web_search")),
                kv("gen_ai.tool.call.arguments", s("{\"query\":\"cairn\"}")),
            ],
        ),
    ]
}

pub(crate) fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("harness"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "cairn-tests".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub(crate) fn protobuf(spans: Vec<Span>) -> Vec<u8> {
    request(spans).encode_to_vec()
}
