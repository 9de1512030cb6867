//! The Rust SDK (`cairn-tracer`) against the real `cairn serve`: an agent run whose children are
//! recorded on other threads (explicit parents) and in spawned tokio tasks (the implicit current
//! span across `.await`), and a W3C `traceparent` hop between two processes over real HTTP.
//!
//! The cross-process test re-executes this test binary as agent B: with `CAIRN_SDK_TEST_ROLE=agent-b`
//! the otherwise trivial test `agent_b_child_process` runs a one-request HTTP server that extracts
//! `traceparent`, records its spans with its own tracer and exports them to the same server.

#[allow(dead_code)]
#[path = "../serve/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_tracer::{FutureExt, SpanContext, Tracer, Usage};
use harness::Serve;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const ROLE_ENV: &str = "CAIRN_SDK_TEST_ROLE";
const ENDPOINT_ENV: &str = "CAIRN_SDK_TEST_OTLP";

/// span id → (parent span id, agent kind).
type Shape<K> = BTreeMap<String, (Option<String>, K)>;

/// What the test meant to record.
#[derive(Default, Clone)]
struct Expected(Arc<Mutex<Shape<&'static str>>>);

impl Expected {
    fn add(&self, span: SpanContext, parent: Option<SpanContext>, kind: &'static str) {
        self.0.lock().unwrap().insert(
            span.span_id().to_hex(),
            (parent.map(|p| p.span_id().to_hex()), kind),
        );
    }

    fn take(&self) -> Shape<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

fn tracer(service: &str, endpoint: &str) -> Tracer {
    Tracer::builder(service)
        .endpoint(endpoint)
        .flush_interval(Duration::from_millis(50))
        .build()
        .expect("build tracer")
}

/// `span_id → (parent_span_id, kind)` of the spans of an API trace.
fn stored_shape(trace: &Value) -> Shape<String> {
    trace["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| {
            (
                s["span_id"].as_str().expect("span_id").to_owned(),
                (
                    s["parent_span_id"].as_str().map(str::to_owned),
                    s["kind"].as_str().expect("kind").to_owned(),
                ),
            )
        })
        .collect()
}

/// Fetches a trace once the index holds `spans` spans of it (polls; the index trails the ledger).
fn wait_trace(serve: &Serve, trace_id: &str, spans: usize) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = serve.get(&format!("/api/v1/traces/{trace_id}"));
        if status == 200 {
            let trace: Value = serde_json::from_str(&body).expect("trace json");
            if trace["spans"].as_array().map(Vec::len) == Some(spans) {
                return trace;
            }
            assert!(
                trace["spans"].as_array().map_or(0, Vec::len) < spans,
                "more spans than recorded: {trace}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} did not reach {spans} spans (last: {status} {body})\n{}",
            serve.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `service.name` resource attribute of the span stored at ledger `index` (raw entry bytes
/// from the audit API, decoded with the canonical codec).
fn service_of_entry(serve: &Serve, index: u64) -> String {
    let url = format!("{}/api/v1/audit/entries/{index}", serve.api);
    let response = ureq::get(&url).call().expect("GET entry");
    let mut bytes = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut bytes)
        .expect("read entry");
    match cairn_model::codec::decode(&bytes).expect("decode entry") {
        cairn_model::Record::Span(span) => span
            .resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_str())
            .expect("service.name")
            .to_owned(),
        other => panic!("entry {index} is not a span: {other:?}"),
    }
}

#[test]
fn spans_reach_serve_with_parents_across_threads_and_async_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let tracer = tracer("sdk-e2e", &serve.http);
    let expected = Expected::default();

    let run = tracer
        .agent("planner")
        .conversation_id("c-sdk")
        .user_id("u-sdk")
        .start();
    let run_ctx = run.context();
    expected.add(run_ctx, None, "agent");
    let trace_id = run_ctx.trace_id().to_hex();

    // Implicit parent on this thread.
    {
        let _in_run = run.enter();
        let decision = tracer
            .decision("route")
            .options(["research", "code"])
            .chosen("research")
            .confidence(0.8)
            .record();
        expected.add(decision, Some(run_ctx), "decision");
    }

    // Sub-agents on their own std threads (explicit parent), each with an LLM call (implicit
    // parent: the sub-agent entered on that thread) and a tool call on yet another thread
    // (explicit parent: the sub-agent).
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let t = tracer.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                let sub = t.agent(format!("research-{i}")).parent(run_ctx).start();
                let sub_ctx = sub.context();
                expected.add(sub_ctx, Some(run_ctx), "agent");
                {
                    let _in_sub = sub.enter();
                    let mut llm = t.llm("openai", "gpt-4o").temperature(0.1).start();
                    llm.set_usage(Usage {
                        input_tokens: 100 + i,
                        output_tokens: 10,
                        ..Usage::default()
                    });
                    expected.add(llm.context(), Some(sub_ctx), "llm");
                    llm.end();
                    let t2 = t.clone();
                    let expected2 = expected.clone();
                    std::thread::spawn(move || {
                        // No current span on this fresh thread: only the explicit parent links it.
                        assert_eq!(SpanContext::current(), None);
                        let call = t2.tool("fetch_url").parent(sub_ctx).start();
                        expected2.add(call.context(), Some(sub_ctx), "tool");
                        call.ok("fetched");
                    })
                    .join()
                    .expect("tool thread");
                }
                sub.end();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sub-agent thread");
    }

    // A coding agent driven by async code on a multi-threaded runtime: the implicit current span
    // follows instrumented futures across `.await` and into spawned tasks, whichever worker
    // polls them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let coder = tracer.agent("coder").parent(run_ctx).start();
    let coder_ctx = coder.context();
    expected.add(coder_ctx, Some(run_ctx), "agent");
    {
        let t = tracer.clone();
        let expected = expected.clone();
        runtime.block_on(
            async move {
                tokio::task::yield_now().await;
                let step = t.reasoning(1).start();
                let step_ctx = step.context();
                expected.add(step_ctx, Some(coder_ctx), "reasoning");
                let t2 = t.clone();
                let e2 = expected.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let call = t2.tool("sql_query").start();
                    e2.add(call.context(), Some(step_ctx), "tool");
                    call.end();
                }
                .in_span(step)
                .await;
                let mut tasks = Vec::new();
                for i in 0..4u32 {
                    let t3 = t.clone();
                    let e3 = expected.clone();
                    tasks.push(tokio::spawn(
                        async move {
                            tokio::task::yield_now().await;
                            let call = t3.tool("code_exec").attempt(i + 1).start();
                            let call_ctx = call.context();
                            e3.add(call_ctx, Some(coder_ctx), "tool");
                            let t4 = t3.clone();
                            let e4 = e3.clone();
                            async move {
                                tokio::time::sleep(Duration::from_millis(u64::from(i) + 1)).await;
                                tokio::task::yield_now().await;
                                let llm = t4.llm("anthropic", "claude-sonnet-4").start();
                                e4.add(llm.context(), Some(call_ctx), "llm");
                                llm.end();
                            }
                            .in_span(call.into_span())
                            .await;
                        }
                        .with_current_context(),
                    ));
                }
                for task in tasks {
                    task.await.expect("task");
                }
                // Flushing from inside the runtime needs no reactor.
                t.flush(WAIT).expect("flush inside runtime");
            }
            .in_span(coder),
        );
    }
    run.end();
    tracer.flush(WAIT).expect("flush");
    assert_eq!(tracer.dropped_spans(), 0);

    let expected = expected.take();
    // 1 run + 1 decision + 3 × (agent, llm, tool) + coder + reasoning + sql + 4 × (tool, llm)
    assert_eq!(expected.len(), 1 + 1 + 9 + 1 + 1 + 1 + 8);
    let span_count = expected.len();
    let trace = wait_trace(&serve, &trace_id, span_count);
    let stored = stored_shape(&trace);
    let want: Shape<String> = expected
        .into_iter()
        .map(|(id, (parent, kind))| (id, (parent, kind.to_owned())))
        .collect();
    assert_eq!(stored, want, "stored trace: {trace}");
    let spans = trace["spans"].as_array().unwrap();
    let planner = spans
        .iter()
        .find(|s| s["name"] == "invoke_agent planner")
        .expect("planner");
    assert_eq!(planner["attributes"]["gen_ai.conversation.id"], "c-sdk");
    for s in spans {
        assert!(
            s["end_unix_nano"].as_u64() >= s["start_unix_nano"].as_u64(),
            "{s}"
        );
    }
    // The summary agrees.
    let list = serve.get_json("/api/v1/traces?agent=planner");
    let summary = list["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == trace_id.as_str())
        .unwrap_or_else(|| panic!("no summary for {trace_id}: {list}"));
    assert_eq!(summary["span_count"], span_count);
    assert_eq!(summary["tool_call_count"], 8);
    tracer.shutdown(WAIT).expect("shutdown");
    serve.stop();
}

/// Kills agent B if the test fails before it exits.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn traceparent_hop_across_processes_joins_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);

    // Agent B: this test binary again, in its child role.
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", "agent_b_child_process", "--nocapture"])
        .env(ROLE_ENV, "agent-b")
        .env(ENDPOINT_ENV, &serve.http)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn agent B");
    let stdout = child.stdout.take().expect("child stdout");
    let mut guard = ChildGuard(Some(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("AGENT_B_LISTENING ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let agent_b = rx.recv_timeout(WAIT).expect("agent B prints its address");

    // Agent A: a run that delegates over HTTP, injecting the tool call's context.
    let tracer = tracer("agent-a", &serve.http);
    let run = tracer.agent("orchestrator").start();
    let run_ctx = run.context();
    let delegate = {
        let _in_run = run.enter();
        tracer.tool("delegate_to_worker").start()
    };
    let delegate_ctx = delegate.context();
    let header = delegate_ctx.to_traceparent();
    let response = ureq::post(&format!("http://{agent_b}/work"))
        .timeout(WAIT)
        .set("traceparent", &header)
        .send_string("summarize the findings")
        .expect("agent B answers");
    let answer: Value = serde_json::from_str(&response.into_string().expect("agent B answers"))
        .expect("agent B answers JSON");
    delegate.ok("done");
    run.end();
    tracer.flush(WAIT).expect("flush agent A");

    let status = {
        let child = guard.0.as_mut().expect("child");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("wait agent B") {
                break status;
            }
            assert!(Instant::now() < deadline, "agent B did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    guard.0 = None;
    assert!(status.success(), "agent B failed: {status}");

    // Agent B saw the caller's trace and span.
    let trace_id = run_ctx.trace_id().to_hex();
    assert_eq!(answer["trace_id"], trace_id.as_str(), "{answer}");
    assert_eq!(answer["remote_parent"], delegate_ctx.span_id().to_hex());
    let worker_id = answer["worker"]
        .as_str()
        .expect("worker span id")
        .to_owned();
    let worker_tool_id = answer["tool"].as_str().expect("tool span id").to_owned();
    assert!(answer["pid"].as_u64() != Some(u64::from(std::process::id())));

    let trace = wait_trace(&serve, &trace_id, 4);
    let want: Shape<String> = [
        (run_ctx.span_id().to_hex(), (None, "agent")),
        (
            delegate_ctx.span_id().to_hex(),
            (Some(run_ctx.span_id().to_hex()), "tool"),
        ),
        (
            worker_id.clone(),
            (Some(delegate_ctx.span_id().to_hex()), "agent"),
        ),
        (worker_tool_id.clone(), (Some(worker_id.clone()), "tool")),
    ]
    .into_iter()
    .map(|(id, (parent, kind))| (id, (parent, kind.to_owned())))
    .collect();
    assert_eq!(stored_shape(&trace), want, "stored trace: {trace}");

    // Each side's spans carry its own process's service name.
    let services: BTreeMap<String, String> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let index = s["ledger_index"].as_u64().expect("ledger_index");
            (
                s["span_id"].as_str().unwrap().to_owned(),
                service_of_entry(&serve, index),
            )
        })
        .collect();
    assert_eq!(services[&run_ctx.span_id().to_hex()], "agent-a");
    assert_eq!(services[&delegate_ctx.span_id().to_hex()], "agent-a");
    assert_eq!(services[&worker_id], "agent-b");
    assert_eq!(services[&worker_tool_id], "agent-b");
    let worker = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["span_id"] == worker_id.as_str())
        .unwrap();
    assert_eq!(worker["name"], "invoke_agent worker");
    tracer.shutdown(WAIT).expect("shutdown");
    serve.stop();
}

/// Agent B (only with `CAIRN_SDK_TEST_ROLE=agent-b`, otherwise a no-op): serves one HTTP request,
/// continues the caller's trace from its `traceparent` header, exports to `CAIRN_SDK_TEST_OTLP`
/// and answers with the ids it recorded.
#[test]
fn agent_b_child_process() {
    if std::env::var(ROLE_ENV).as_deref() != Ok("agent-b") {
        return;
    }
    let endpoint = std::env::var(ENDPOINT_ENV).expect("endpoint");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    println!(
        "AGENT_B_LISTENING {}",
        listener.local_addr().expect("local addr")
    );
    std::io::stdout().flush().expect("flush stdout");
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no request reached agent B");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut traceparent = None;
    let mut content_length = 0usize;
    let mut request_line = String::new();
    reader.read_line(&mut request_line).expect("request line");
    assert!(request_line.starts_with("POST /work "), "{request_line}");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header line");
        match name.trim().to_ascii_lowercase().as_str() {
            "traceparent" => traceparent = Some(value.trim().to_owned()),
            "content-length" => content_length = value.trim().parse().expect("length"),
            _ => {}
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).expect("body");

    let remote = SpanContext::from_traceparent(&traceparent.expect("traceparent header"))
        .expect("valid traceparent");
    assert!(remote.is_remote());
    let tracer = tracer("agent-b", &endpoint);
    let (worker, tool) = {
        let _attached = remote.attach();
        let worker = tracer
            .agent("worker")
            .attribute("task", String::from_utf8_lossy(&body).into_owned())
            .start();
        let worker_ctx = worker.context();
        let tool = {
            let _in_worker = worker.enter();
            let call = tracer.tool("file_read").start();
            let ctx = call.context();
            call.ok("contents");
            ctx
        };
        worker.end();
        (worker_ctx, tool)
    };
    tracer.shutdown(WAIT).expect("agent B shutdown flushes");
    let answer = serde_json::json!({
        "trace_id": remote.trace_id().to_hex(),
        "remote_parent": remote.span_id().to_hex(),
        "worker": worker.span_id().to_hex(),
        "tool": tool.span_id().to_hex(),
        "pid": std::process::id(),
    })
    .to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    )
    .expect("answer");
    stream.flush().expect("flush answer");
}
