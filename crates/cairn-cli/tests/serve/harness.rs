//! Runs the real `cairn` binary: `cairn serve` on ephemeral ports in a temp dir, the Python
//! OpenTelemetry SDK against it, and the CLI query commands.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::Value;

/// `cairn serve` flags that let the system choose every listener's port.
pub(crate) const EPHEMERAL_PORTS: [&str; 6] = [
    "--otlp-http-addr",
    "127.0.0.1:0",
    "--otlp-grpc-addr",
    "127.0.0.1:0",
    "--api-addr",
    "127.0.0.1:0",
];

pub(crate) fn cairn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}

/// The repository root (for `tests/python/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter with the packages of `tests/python/requirements.txt`. Missing Python or
/// packages fail the test with instructions; they are never a silent skip.
pub(crate) fn python() -> String {
    let python = std::env::var("CAIRN_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python)
        .args([
            "-c",
            "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter, \
             opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        ])
        .output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "{python} lacks the OpenTelemetry packages these tests need; install them with \
             `{python} -m pip install -r tests/python/requirements.txt`\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) => panic!(
            "cannot run {python} ({err}); these tests need Python 3 with \
             tests/python/requirements.txt installed (set CAIRN_TEST_PYTHON to choose the interpreter)"
        ),
    }
}

/// Runs `tests/python/agent_run.py` and returns what it reports having sent.
pub(crate) fn python_agent_run(endpoint: &str, protocol: &str, gzip: bool) -> Value {
    let script = repo_root().join("tests/python/agent_run.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .args(["--endpoint", endpoint, "--protocol", protocol]);
    if gzip {
        cmd.arg("--gzip");
    }
    let out = cmd.output().expect("run agent_run.py");
    assert!(
        out.status.success(),
        "agent_run.py failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("agent_run.py prints JSON")
}

/// Gzip at the best compression level (so a zero-filled "bomb" stays small on the wire).
/// `cairn verify --data-dir DIR` must succeed.
pub(crate) fn assert_verify(data_dir: &Path) {
    let out = cairn()
        .args(["verify", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cairn verify failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A `cairn serve` child process.
pub(crate) struct Serve {
    child: Option<Child>,
    pub(crate) http: String,
    pub(crate) grpc: String,
    pub(crate) api: String,
    pub(crate) verifier_key: String,
    log: PathBuf,
    out: PathBuf,
}

impl Serve {
    /// Starts `cairn serve` with its data in `dir/data`, on ports chosen by the system.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Self {
        let data_dir = dir.join("data");
        let addrs_file = dir.join("addrs.json");
        let _ = std::fs::remove_file(&addrs_file);
        let run = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let log = dir.join(format!("serve-{run}.log"));
        let out = dir.join(format!("serve-{run}.out"));
        let child = cairn()
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(EPHEMERAL_PORTS)
            .args(["--checkpoint-interval", "100ms"])
            .arg("--addrs-file")
            .arg(&addrs_file)
            .args(extra)
            .env_remove("CAIRN_CONFIG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn cairn serve");
        let mut serve = Self {
            child: Some(child),
            out,
            http: String::new(),
            grpc: String::new(),
            api: String::new(),
            verifier_key: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let addrs: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&addrs_file) {
                break serde_json::from_str(&text).unwrap();
            }
            if let Some(status) = serve.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("cairn serve exited with {status}: {}", serve.logs());
            }
            assert!(
                Instant::now() < deadline,
                "cairn serve did not start: {}",
                serve.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        serve.http = format!("http://{}", addrs["otlp_http"].as_str().unwrap());
        serve.grpc = format!("http://{}", addrs["otlp_grpc"].as_str().unwrap());
        serve.api = format!("http://{}", addrs["api"].as_str().unwrap());
        serve.verifier_key = addrs["verifier_key"].as_str().unwrap().to_owned();
        let stdout = serve.stdout();
        assert!(
            stdout.contains(&serve.verifier_key),
            "startup prints the key: {stdout}"
        );
        assert!(
            stdout.contains(&serve.api),
            "startup prints the API address: {stdout}"
        );
        serve
    }

    /// What the server printed to stdout so far.
    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM and wait; asserts a clean exit (0) and returns everything printed to stdout.
    pub(crate) fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "cairn serve did not stop: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "cairn serve exited with {status}: {}",
            self.logs()
        );
        self.stdout()
    }

    /// SIGKILL: no shutdown of any kind.
    pub(crate) fn kill_9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        match ureq::get(&format!("{}{path}", self.api)).call() {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    pub(crate) fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the index has caught up with the ledger and at least `entries` are durable.
    pub(crate) fn wait_indexed(&self, entries: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.get_json("/readyz");
            if ready["index_lag_entries"] == 0 && ready["ledger_entries"].as_u64() >= Some(entries)
            {
                return;
            }
            assert!(Instant::now() < deadline, "index did not catch up: {ready}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs a CLI command against this server's API.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        cairn()
            .args(args)
            .args(["--url", &self.api])
            .output()
            .unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The answer to a raw POST.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Vec<u8>,
}

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
    let retry_after = response.header("retry-after").map(str::to_owned);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    Answer {
        status,
        retry_after,
        body,
    }
}

pub(crate) const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
pub(crate) const JSON: (&str, &str) = ("content-type", "application/json");
pub(crate) const GZIP: (&str, &str) = ("content-encoding", "gzip");

pub(crate) fn trace_hex(seed: u64) -> String {
    format!("{:016x}{:016x}", seed + 1, 0xC0FF_EE00_u64)
}

/// One span per trace: `execute_tool` with a tool name, trace id from `seed`.
pub(crate) fn tool_span_request(seeds: std::ops::Range<u64>) -> Vec<u8> {
    let spans = seeds
        .map(|seed| Span {
            trace_id: hex::decode(trace_hex(seed)).unwrap(),
            span_id: (seed + 1).to_be_bytes().to_vec(),
            name: "execute_tool fetch_url".into(),
            kind: 1,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_050_000_000,
            attributes: vec![
                KeyValue {
                    key: "gen_ai.operation.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("execute_tool".into())),
                    }),
                    ..Default::default()
                },
                KeyValue {
                    key: "gen_ai.tool.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("fetch_url".into())),
                    }),
                    ..Default::default()
                },
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
