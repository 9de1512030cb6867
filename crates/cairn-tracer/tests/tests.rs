//! End-to-end tests of the SDK against an in-process OTLP/HTTP receiver.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cairn_tracer::{
    CairnLayer, FlushError, FutureExt, QueuePolicy, ShutdownError, SpanContext, Tracer, Usage,
    semconv,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use serde_json::json;
use support::{Received, Receiver, Reply, dead_port};

const WAIT: Duration = Duration::from_secs(10);

fn tracer_for(rx: &Receiver, service: &str) -> Tracer {
    Tracer::builder(service)
        .endpoint(rx.endpoint())
        .flush_interval(Duration::from_millis(50))
        .build()
        .expect("build tracer")
}

fn by_name<'a>(spans: &'a [Received], name: &str) -> &'a Received {
    spans
        .iter()
        .find(|s| s.span.name == name)
        .unwrap_or_else(|| panic!("no span named {name}: {:?}", names(spans)))
}

fn names(spans: &[Received]) -> Vec<String> {
    spans.iter().map(|s| s.span.name.clone()).collect()
}

#[test]
fn spans_keep_their_parents_across_threads() {
    let rx = Receiver::start();
    let tracer = tracer_for(&rx, "threads");
    let run = tracer
        .agent("planner")
        .conversation_id("c-1")
        .user_id("u-1")
        .start();
    {
        let _in_run = run.enter();
        // Implicit parent: the current span of this thread.
        tracer
            .tool("web_search")
            .call_id("call-1")
            .start()
            .ok("done");
        // Explicit parent on another thread, and implicit nesting inside it.
        let parent = run.context();
        let t = tracer.clone();
        std::thread::spawn(move || {
            let sub = t.agent("research").parent(parent).start();
            let _in_sub = sub.enter();
            t.tool("fetch_url").start().end();
        })
        .join()
        .expect("thread");
    }
    run.end();
    tracer.flush(WAIT).expect("flush");
    let spans = rx.wait_for(4, WAIT);
    assert_eq!(spans.len(), 4, "{:?}", names(&spans));
    let planner = by_name(&spans, "invoke_agent planner");
    let search = by_name(&spans, "execute_tool web_search");
    let research = by_name(&spans, "invoke_agent research");
    let fetch = by_name(&spans, "execute_tool fetch_url");
    assert!(planner.span.parent_span_id.is_empty());
    assert_eq!(search.span.parent_span_id, planner.span.span_id);
    assert_eq!(research.span.parent_span_id, planner.span.span_id);
    assert_eq!(fetch.span.parent_span_id, research.span.span_id);
    for s in &spans {
        assert_eq!(s.span.trace_id, planner.span.trace_id);
        assert_eq!(s.service, "threads");
        assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
    }
    assert_eq!(
        planner.str_attr(semconv::GEN_AI_OPERATION_NAME),
        Some("invoke_agent")
    );
    assert_eq!(planner.str_attr(semconv::CAIRN_KIND), Some("agent"));
    assert_eq!(
        planner.str_attr(semconv::GEN_AI_CONVERSATION_ID),
        Some("c-1")
    );
    assert_eq!(planner.str_attr(semconv::USER_ID), Some("u-1"));
    assert_eq!(
        search.str_attr(semconv::GEN_AI_TOOL_NAME),
        Some("web_search")
    );
    assert_eq!(
        search.str_attr(semconv::GEN_AI_TOOL_CALL_ID),
        Some("call-1")
    );
    assert_eq!(search.str_attr(semconv::CAIRN_KIND), Some("tool"));
    // Content capture is off by default.
    assert!(search.attr(semconv::GEN_AI_TOOL_CALL_RESULT).is_none());
    assert_eq!(tracer.dropped_spans(), 0);
}

#[test]
fn async_tasks_inherit_the_current_span() {
    let rx = Receiver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let tracer = tracer_for(&rx, "async");
    let t = tracer.clone();
    runtime.block_on(async move {
        let run = t.agent("async-planner").start();
        let t2 = t.clone();
        async move {
            tokio::task::yield_now().await;
            let step = t2.reasoning(1).start();
            async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                // Current span is the reasoning step, on whatever worker polls us.
                t2.tool("sql_query").start().end();
            }
            .in_span(step)
            .await;
            let t3 = t2.clone();
            let handle = tokio::spawn(
                async move {
                    tokio::task::yield_now().await;
                    t3.tool("code_exec").start().end();
                }
                .with_current_context(),
            );
            handle.await.expect("task");
        }
        .in_span(run)
        .await;
        // Flushing from inside a runtime must not need a reactor or panic.
        t.flush(WAIT).expect("flush inside runtime");
    });
    let spans = rx.wait_for(4, WAIT);
    let planner = by_name(&spans, "invoke_agent async-planner");
    let step = by_name(&spans, "reasoning 1");
    let sql = by_name(&spans, "execute_tool sql_query");
    let exec = by_name(&spans, "execute_tool code_exec");
    assert_eq!(step.span.parent_span_id, planner.span.span_id);
    assert_eq!(sql.span.parent_span_id, step.span.span_id);
    assert_eq!(exec.span.parent_span_id, planner.span.span_id);
    assert!(step.span.end_time_unix_nano <= planner.span.end_time_unix_nano);
    assert_eq!(step.int_attr(semconv::CAIRN_REASONING_STEP), Some(1));
    // Nothing leaks into the thread's context once the futures are done.
    assert_eq!(SpanContext::current(), None);
}

#[test]
fn traceparent_hop_joins_one_trace() {
    let rx = Receiver::start();
    let caller = tracer_for(&rx, "caller");
    let callee = tracer_for(&rx, "callee");
    let run = caller.agent("orchestrator").start();
    let header = run.context().to_traceparent();
    // ... the header travels over HTTP to another agent ...
    let remote = SpanContext::from_traceparent(&header).expect("valid traceparent");
    assert!(remote.is_remote());
    {
        let _attached = remote.attach();
        let served = callee.agent("worker").span_kind_server().start();
        served.end();
    }
    run.end();
    caller.flush(WAIT).expect("flush caller");
    callee.flush(WAIT).expect("flush callee");
    let spans = rx.wait_for(2, WAIT);
    let orchestrator = by_name(&spans, "invoke_agent orchestrator");
    let worker = by_name(&spans, "invoke_agent worker");
    assert_eq!(worker.service, "callee");
    assert_eq!(orchestrator.service, "caller");
    assert_eq!(worker.span.trace_id, orchestrator.span.trace_id);
    assert_eq!(worker.span.parent_span_id, orchestrator.span.span_id);
    // OTLP flags: sampled, and "parent is remote" known and set.
    assert_eq!(worker.span.flags & 0x301, 0x301);
    assert_eq!(orchestrator.span.flags & 0x301, 0x101);
}

trait ServerKind {
    fn span_kind_server(self) -> Self;
}

impl ServerKind for cairn_tracer::AgentBuilder<'_> {
    fn span_kind_server(self) -> Self {
        self.attribute("test.side", "server")
    }
}

#[test]
fn endpoint_down_keeps_memory_bounded_and_counts_drops_then_resumes() {
    let port = dead_port();
    let tracer = Tracer::builder("down")
        .endpoint(format!("http://127.0.0.1:{port}"))
        .queue_capacity(64)
        .batch_size(16)
        .flush_interval(Duration::from_millis(20))
        .max_retry_elapsed(Duration::from_millis(150))
        .backoff(Duration::from_millis(10), Duration::from_millis(40))
        .export_timeout(Duration::from_secs(1))
        .build()
        .expect("build");
    for i in 0..5_000u32 {
        tracer
            .tool("web_search")
            .attribute("phase", "down")
            .attribute("i", i)
            .start()
            .end();
    }
    let stats = tracer.stats();
    assert!(
        stats.buffered <= 64 + 16,
        "buffered {} exceeds the bound",
        stats.buffered
    );
    // Everything not buffered, pending or in the batch being exported was dropped and counted.
    let in_flight = 64 + 16;
    assert!(
        tracer.dropped_spans() >= 5_000 - 64 - 16 - in_flight,
        "dropped {}",
        tracer.dropped_spans()
    );
    assert_eq!(stats.exported, 0);
    assert!(matches!(
        tracer.flush(Duration::from_millis(10)),
        Ok(()) | Err(FlushError::Timeout(_))
    ));

    // The endpoint comes back.
    let rx = Receiver::start_on(port);
    let deadline = Instant::now() + WAIT;
    while tracer.stats().buffered > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for i in 0..10u32 {
        tracer
            .tool("web_search")
            .attribute("phase", "up")
            .attribute("i", i)
            .start()
            .end();
    }
    tracer.flush(WAIT).expect("flush after recovery");
    let spans = rx.wait_for(10, WAIT);
    let up: HashSet<i64> = spans
        .iter()
        .filter(|s| s.str_attr("phase") == Some("up"))
        .filter_map(|s| s.int_attr("i"))
        .collect();
    assert_eq!(up, (0..10).collect::<HashSet<i64>>());
    assert!(tracer.stats().exported >= 10);
    let error = tracer.last_export_error().unwrap_or_default();
    assert!(error.contains("cannot reach endpoint"), "{error}");
}

#[test]
fn shutdown_flushes_everything_recorded_before_it() {
    let rx = Receiver::start();
    let tracer = Tracer::builder("shutdown")
        .endpoint(rx.endpoint())
        .queue_capacity(4096)
        .batch_size(256)
        // Long interval: only shutdown can be what exports these spans.
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("build");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                for i in 0..750u32 {
                    tracer
                        .tool("file_read")
                        .attribute("n", t * 1000 + i)
                        .start()
                        .end();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    tracer.shutdown(WAIT).expect("shutdown");
    let spans = rx.spans();
    assert_eq!(spans.len(), 3_000);
    let distinct: HashSet<i64> = spans.iter().filter_map(|s| s.int_attr("n")).collect();
    assert_eq!(distinct.len(), 3_000);
    assert_eq!(tracer.dropped_spans(), 0);
    assert_eq!(tracer.stats().exported, 3_000);

    // After shutdown: spans are dropped and counted, and the handle says so.
    tracer.tool("late").start().end();
    assert_eq!(tracer.dropped_spans(), 1);
    assert_eq!(tracer.flush(WAIT), Err(FlushError::ShutDown));
    assert_eq!(tracer.shutdown(WAIT), Err(ShutdownError::AlreadyShutDown));
}

#[test]
fn retries_503_after_retry_after() {
    let rx = Receiver::start();
    rx.script([Reply::Status(503, Some("1"))]);
    let tracer = tracer_for(&rx, "retry");
    tracer.tool("web_search").start().end();
    tracer.flush(WAIT).expect("flush");
    let spans = rx.wait_for(1, WAIT);
    assert_eq!(spans.len(), 1);
    let times = rx.request_times();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, before Retry-After"
    );
    let stats = tracer.stats();
    assert_eq!(
        (stats.retries, stats.failed_requests, stats.exported),
        (1, 1, 1)
    );
}

#[test]
fn retries_with_backoff_then_gives_up() {
    let rx = Receiver::start();
    rx.script([
        Reply::Status(429, None),
        Reply::Status(502, None),
        Reply::Status(504, None),
    ]);
    let tracer = Tracer::builder("backoff")
        .endpoint(rx.endpoint())
        .backoff(Duration::from_millis(20), Duration::from_millis(80))
        .build()
        .expect("build");
    tracer.tool("a").start().end();
    tracer.flush(WAIT).expect("flush");
    assert_eq!(rx.wait_for(1, WAIT).len(), 1);
    assert_eq!(tracer.stats().retries, 3);

    // A server that never recovers: the batch is dropped after max_retry_elapsed.
    let rx = Receiver::start();
    rx.script(std::iter::repeat_n(Reply::Status(503, None), 100));
    let tracer = Tracer::builder("gives-up")
        .endpoint(rx.endpoint())
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        .max_retry_elapsed(Duration::from_millis(200))
        .build()
        .expect("build");
    tracer.tool("a").start().end();
    tracer.tool("b").start().end();
    tracer.flush(WAIT).expect("flush");
    assert_eq!(tracer.stats().dropped_export, 2);
    assert_eq!(tracer.dropped_spans(), 2);
    assert!(rx.request_times().len() >= 3);
}

#[test]
fn permanent_errors_and_partial_success_are_counted() {
    let rx = Receiver::start();
    rx.script([Reply::Status(400, None), Reply::Partial(1)]);
    let tracer = tracer_for(&rx, "permanent");
    tracer.tool("a").start().end();
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    assert_eq!((stats.dropped_export, stats.retries), (1, 0));
    tracer.tool("b").start().end();
    tracer.tool("c").start().end();
    tracer.flush(WAIT).expect("flush");
    let stats = tracer.stats();
    assert_eq!((stats.exported, stats.rejected), (1, 1));
    assert!(
        tracer
            .last_export_error()
            .is_some_and(|e| e.contains("span too large"))
    );
}

#[test]
fn content_is_opt_in_and_redacted_before_export() {
    let rx = Receiver::start();
    let tracer = Tracer::builder("content")
        .endpoint(rx.endpoint())
        .api_key("k-123")
        .capture_content(true)
        .redact(|key, text| match key {
            semconv::CAIRN_REASONING_CONTENT => None,
            _ => Some(text.replace("hunter2", "[redacted]")),
        })
        .build()
        .expect("build");
    let mut call = tracer
        .tool("sql_query")
        .arguments(json!({"query": "select 1", "password": "hunter2"}))
        .start();
    call.set_result("ok");
    call.end();
    tracer
        .reasoning(1)
        .content("secret chain of thought")
        .record();
    let mut llm = tracer
        .llm("openai", "gpt-4o")
        .input_messages(json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]))
        .start();
    llm.set_usage(Usage {
        input_tokens: 10,
        output_tokens: 3,
        cache_read_input_tokens: Some(4),
        ..Usage::default()
    });
    llm.set_finish_reasons(["stop"]);
    llm.end();
    tracer
        .decision("route")
        .options(["a", "b"])
        .chosen("b")
        .confidence(1.7)
        .rationale("b is cheaper")
        .record();
    tracer.flush(WAIT).expect("flush");
    let spans = rx.wait_for(4, WAIT);
    let sql = by_name(&spans, "execute_tool sql_query");
    let args = sql
        .str_attr(semconv::GEN_AI_TOOL_CALL_ARGUMENTS)
        .expect("arguments");
    let args: serde_json::Value = serde_json::from_str(args).expect("json arguments");
    assert_eq!(args["password"], "[redacted]");
    assert_eq!(sql.str_attr(semconv::GEN_AI_TOOL_CALL_RESULT), Some("ok"));
    let step = by_name(&spans, "reasoning 1");
    assert!(step.attr(semconv::CAIRN_REASONING_CONTENT).is_none());
    let llm = by_name(&spans, "chat gpt-4o");
    assert_eq!(llm.str_attr(semconv::GEN_AI_PROVIDER_NAME), Some("openai"));
    assert_eq!(llm.int_attr(semconv::GEN_AI_USAGE_INPUT_TOKENS), Some(10));
    assert_eq!(
        llm.int_attr(semconv::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        Some(4)
    );
    assert!(
        llm.str_attr(semconv::GEN_AI_INPUT_MESSAGES)
            .is_some_and(|m| m.contains("\"hi\""))
    );
    assert_eq!(llm.span.kind, 3, "llm calls are client spans");
    let decision = by_name(&spans, "decision route");
    assert_eq!(
        decision.attr(semconv::CAIRN_DECISION_CONFIDENCE),
        Some(&any_value::Value::DoubleValue(1.0))
    );
    assert_eq!(decision.str_attr(semconv::CAIRN_DECISION_CHOSEN), Some("b"));
    assert_eq!(
        decision.str_attr(semconv::CAIRN_DECISION_RATIONALE),
        Some("b is cheaper")
    );
    let headers = rx.request_headers();
    assert!(
        headers[0]
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer k-123")
    );
    assert!(
        headers[0]
            .iter()
            .any(|(k, v)| k == "content-encoding" && v == "gzip")
    );
}

#[derive(Debug, thiserror::Error)]
#[error("tool failed")]
struct Outer {
    #[source]
    source: std::io::Error,
}

#[test]
fn errors_become_exception_events_with_backtraces() {
    let rx = Receiver::start();
    let tracer = tracer_for(&rx, "errors");
    let call = tracer.tool("code_exec").start();
    call.fail(&Outer {
        source: std::io::Error::other("sandbox died"),
    });
    tracer.flush(WAIT).expect("flush");
    let spans = rx.wait_for(1, WAIT);
    let span = &spans[0];
    let status = span.span.status.as_ref().expect("status");
    assert_eq!(status.code, 2);
    assert_eq!(status.message, "tool failed: sandbox died");
    assert!(
        span.str_attr(semconv::ERROR_TYPE)
            .is_some_and(|t| t.ends_with("Outer"))
    );
    let event = span
        .span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("exception event");
    let get = |k: &str| match support::attr(&event.attributes, k) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert!(get(semconv::EXCEPTION_TYPE).ends_with("Outer"));
    assert_eq!(get(semconv::EXCEPTION_MESSAGE), "tool failed: sandbox died");
    assert!(!get(semconv::EXCEPTION_STACKTRACE).is_empty());
}

#[test]
fn sampling_zero_records_nothing_but_still_propagates() {
    let rx = Receiver::start();
    let tracer = Tracer::builder("unsampled")
        .endpoint(rx.endpoint())
        .sampling_ratio(0.0)
        .build()
        .expect("build");
    let run = tracer.agent("quiet").start();
    assert!(!run.is_recording());
    assert!(run.context().is_valid());
    assert!(run.context().to_traceparent().ends_with("-00"));
    let child = tracer.tool("x").parent(run.context()).start();
    assert_eq!(child.context().trace_id(), run.context().trace_id());
    drop(child);
    run.end();
    tracer.flush(WAIT).expect("flush");
    assert!(rx.spans().is_empty());
    assert!(Tracer::builder("bad").sampling_ratio(1.5).build().is_err());
    assert!(Tracer::builder("bad").endpoint("ftp://x").build().is_err());
}

#[test]
fn tracing_spans_and_events_are_bridged() {
    use tracing_subscriber::prelude::*;
    let rx = Receiver::start();
    let tracer = tracer_for(&rx, "bridge");
    let subscriber = tracing_subscriber::registry().with(CairnLayer::new(tracer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("handle_request", request.id = 7_u64);
        let _o = outer.enter();
        let tool = tracing::info_span!(
            "lookup",
            cairn.kind = "tool",
            gen_ai.tool.name = "sql_query",
            otel.kind = "client",
            rows = tracing::field::Empty
        );
        let _t = tool.enter();
        tool.record("rows", 42_i64);
        // A Cairn helper inside a tracing span nests under it.
        tracer.decision("retry").chosen("no").record();
        tracing::error!(code = 3, "query failed");
    });
    tracer.flush(WAIT).expect("flush");
    let spans = rx.wait_for(3, WAIT);
    let outer = by_name(&spans, "handle_request");
    let tool = by_name(&spans, "lookup");
    let decision = by_name(&spans, "decision retry");
    assert_eq!(tool.span.parent_span_id, outer.span.span_id);
    assert_eq!(decision.span.parent_span_id, tool.span.span_id);
    assert_eq!(outer.int_attr("request.id"), Some(7));
    assert_eq!(tool.str_attr(semconv::CAIRN_KIND), Some("tool"));
    assert_eq!(tool.str_attr(semconv::GEN_AI_TOOL_NAME), Some("sql_query"));
    assert_eq!(tool.int_attr("rows"), Some(42));
    assert_eq!(tool.span.kind, 3);
    let status = tool.span.status.as_ref().expect("status");
    assert_eq!(status.code, 2);
    let event = tool
        .span
        .events
        .iter()
        .find(|e| e.name == "query failed")
        .expect("event");
    assert!(support::attr(&event.attributes, "code").is_some());
}

#[test]
fn block_policy_waits_instead_of_dropping() {
    let rx = Receiver::start();
    let tracer = Tracer::builder("block")
        .endpoint(rx.endpoint())
        .queue_capacity(8)
        .batch_size(4)
        .queue_policy(QueuePolicy::Block {
            timeout: Duration::from_secs(5),
        })
        .build()
        .expect("build");
    for i in 0..400u32 {
        tracer.tool("t").attribute("i", i).start().end();
    }
    tracer.flush(WAIT).expect("flush");
    assert_eq!(tracer.dropped_spans(), 0);
    assert_eq!(rx.wait_for(400, WAIT).len(), 400);
}

#[test]
fn demo_workload_is_deterministic_and_well_formed() {
    use cairn_tracer::demo::{self, DemoOptions, Injection};
    let rx = Receiver::start();
    let tracer = Tracer::builder("demo")
        .endpoint(rx.endpoint())
        .capture_content(true)
        .queue_capacity(1 << 14)
        .build()
        .expect("build");
    let options = DemoOptions {
        seed: 7,
        runs: Some(12),
        inject: Some(Injection::ToolLoop),
        ..DemoOptions::default()
    };
    let first = demo::run(&tracer, &options);
    let second = demo::run(&tracer, &options);
    tracer.shutdown(WAIT).expect("shutdown");
    let strip = |mut s: demo::DemoSummary| {
        s.elapsed = Duration::ZERO;
        s
    };
    assert_eq!(strip(first), strip(second));
    assert_eq!(first.runs, 12);
    assert_eq!(first.injected_runs, 6);
    let spans = rx.spans();
    assert_eq!(spans.len() as u64, first.spans * 2);
    // Every parent is a span of the same trace.
    let ids: HashMap<(Vec<u8>, Vec<u8>), &Received> = spans
        .iter()
        .map(|s| ((s.span.trace_id.clone(), s.span.span_id.clone()), s))
        .collect();
    let mut roots = 0;
    for s in &spans {
        if s.span.parent_span_id.is_empty() {
            roots += 1;
            assert_eq!(s.span.name, "invoke_agent planner");
        } else {
            assert!(ids.contains_key(&(s.span.trace_id.clone(), s.span.parent_span_id.clone())));
        }
    }
    assert_eq!(roots, 24);
    let kinds: HashSet<&str> = spans
        .iter()
        .filter_map(|s| s.str_attr(semconv::CAIRN_KIND))
        .collect();
    for kind in ["agent", "llm", "tool", "decision", "reasoning", "guardrail"] {
        assert!(kinds.contains(kind), "no {kind} spans");
    }
    // The tool loop shows up as many identical web searches in the injected runs.
    assert!(first.tool_calls > 12 * 8 / 2);
}

#[test]
fn recycled_span_records_start_clean() {
    let rx = Receiver::start();
    let tracer = Tracer::builder("recycle")
        .endpoint(rx.endpoint())
        .capture_content(true)
        .build()
        .expect("build");
    for round in 0..3 {
        for _ in 0..50 {
            let mut call = tracer.tool("noisy").arguments("args").start();
            call.set_attribute("extra", "x");
            call.add_event("note", vec![]);
            call.record_exception("boom", "failed", None);
            call.end();
        }
        tracer.flush(WAIT).expect("flush");
        // Records just exported are handed back to this thread and reused here.
        for _ in 0..50 {
            tracer.span("quiet").attribute("round", round).start().end();
        }
        tracer.flush(WAIT).expect("flush");
    }
    let spans = rx.wait_for(300, WAIT);
    let quiet: Vec<_> = spans.iter().filter(|s| s.span.name == "quiet").collect();
    assert_eq!(quiet.len(), 150);
    for s in quiet {
        assert_eq!(s.span.attributes.len(), 1, "{:?}", s.span.attributes);
        assert!(s.span.events.is_empty());
        assert_eq!(s.span.status.as_ref().map(|st| st.code), Some(0));
        assert_eq!(s.span.kind, 1);
    }
}
