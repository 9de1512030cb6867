//! `cairn bench ingest` and `cairn bench query`: load generators that measure a running collector.
//!
//! `bench ingest` speaks plain OTLP (HTTP protobuf, HTTP JSON or gRPC), so the same load can be
//! aimed at any OTLP receiver. Every request body is generated *before* the clock starts; while
//! timing, a client only copies a template and patches its trace ids (below) so that every request
//! carries traces no earlier request used — re-sending identical spans would measure a store's
//! duplicate handling instead of ingest.
//!
//! Request templates and trace-id patching: `--distinct` templates of `--batch` spans each are one
//! continuous stream of traces of `--spans-per-trace` spans (a trace may cross a template
//! boundary; the stream ends on a trace boundary). Request number `seq` sends template
//! `seq % distinct` in round `seq / distinct`; the first 8 bytes of every trace id in it are XORed
//! with a mask derived from the round and a per-run nonce. Traces that cross templates get the
//! same mask within a round, so parent links stay intact. The template records the byte offsets of
//! every trace id (16 raw bytes in protobuf, 32 lowercase hex digits in JSON), so patching costs
//! a memcpy and a few writes.
//!
//! Times are patched too: round `r` adds `r` times the templates' time window (the first start
//! to the last end, plus one trace step) to every span's start and end, so each round's traces
//! start after the previous round's, as live traffic's do. Re-sending the same times instead
//! would file every round's spans between the earlier rounds' in every time-ordered index a
//! store keeps, turning appends at the newest end into writes all over the index (measured on
//! Cairn's index: half of its write-ahead-log frames went to two such indexes; see
//! `docs/performance.md`). Span times therefore advance faster than the wall clock (about a
//! minute per second at 100K realistic spans/s), starting one hour in the past.
//!
//! Counting: a request answered 2xx counts its spans as accepted, minus the `rejected_spans` of a
//! `partial_success`; any other status or a transport error counts one error (the report lists
//! errors by status). Latency is measured per request, from just before sending to the complete
//! answer, into an HDR histogram (microsecond resolution, 3 significant digits). With `--api`, a
//! probe measures ingest → queryable: every `--probe-interval` it takes the most recently
//! acknowledged request and polls `GET /api/v1/traces/{id}` until that trace is found.
//!
//! `bench query` optionally ingests its own dataset (`--traces` traces of `--spans-per-trace`
//! spans over OTLP/HTTP protobuf), waits until it is queryable, then measures trace fetch, trace
//! list and full-text search latency through the query API.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use bytes::{Buf as _, BufMut as _, Bytes};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

/// Flags of `cairn bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Drive OTLP trace ingest at any OTLP endpoint and report spans/s, MB/s and latency.
    Ingest(IngestArgs),
    /// Measure trace fetch, list and full-text search latency through the query API.
    Query(QueryArgs),
}

/// The wire protocol of `bench ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Protocol {
    /// OTLP/HTTP with a protobuf body.
    HttpProto,
    /// OTLP/HTTP with an OTLP/JSON body.
    HttpJson,
    /// OTLP/gRPC.
    Grpc,
}

/// How much each span carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Payload {
    /// A name and two attributes per span (about 100 bytes of protobuf).
    Small,
    /// Agent runs: LLM calls with messages and token counts, reasoning text, tool calls with
    /// arguments and results, decisions (about 1 KB of protobuf per span).
    Realistic,
    /// `realistic` with about one word in six non-ASCII, as model output has: typographic quotes
    /// and dashes, accented words, CJK.
    Multilingual,
}

/// Flags of `cairn bench ingest`.
#[derive(Debug, clap::Args)]
struct IngestArgs {
    /// OTLP endpoint. HTTP: a base URL (`/v1/traces` is appended when the path is empty) or the
    /// full traces URL; gRPC: the server URL. Default: the local collector's standard port.
    #[arg(long)]
    endpoint: Option<String>,
    /// Wire protocol.
    #[arg(long, value_enum, default_value_t = Protocol::HttpProto)]
    protocol: Protocol,
    /// Concurrent clients (each has one request in flight).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Spans per trace.
    #[arg(long, default_value_t = 16)]
    spans_per_trace: usize,
    /// Traces in progress at once: each span belongs to one of N open traces, picked at random,
    /// so a trace's spans spread over many requests, as when many agent runs share one exporter
    /// (1: a trace's spans are consecutive).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    interleave: u32,
    /// How long to send: seconds (`30`) or a duration (`1m`, `500ms`).
    #[arg(long, default_value = "10", value_parser = parse_duration)]
    duration: Duration,
    /// What each span carries.
    #[arg(long, value_enum, default_value_t = Payload::Realistic)]
    payload: Payload,
    /// Target rate in spans per second across all clients (0: as fast as the server answers).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Distinct pre-generated request templates (see the module docs on trace-id patching).
    #[arg(long, default_value_t = 16)]
    distinct: usize,
    /// Extra request header `K=V` (e.g. authorization); repeatable. Sent as gRPC metadata too.
    #[arg(long = "header", value_name = "K=V")]
    headers: Vec<String>,
    /// Base URL of a Cairn query API: also measure ingest → queryable latency.
    #[arg(long)]
    api: Option<String>,
    /// How often the ingest → queryable probe starts (with `--api`).
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    probe_interval: Duration,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Flags of `cairn bench query`.
#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// Base URL of the collector's query API.
    #[arg(long, default_value = "http://127.0.0.1:7070", env = "CAIRN_URL")]
    api: String,
    /// OTLP/HTTP endpoint used to ingest the dataset.
    #[arg(long, default_value = "http://127.0.0.1:4318")]
    endpoint: String,
    /// Traces to ingest before measuring (0: measure the traces already stored).
    #[arg(long, default_value_t = 1)]
    traces: usize,
    /// Spans per ingested trace.
    #[arg(long, default_value_t = 10_000)]
    spans_per_trace: usize,
    /// Requests per measured operation.
    #[arg(long, default_value_t = 30)]
    iterations: usize,
    /// Extra request header `K=V`; repeatable.
    #[arg(long = "header", value_name = "K=V")]
    headers: Vec<String>,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn bench …`.
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        BenchCommand::Ingest(args) => run_ingest(args),
        BenchCommand::Query(args) => run_query(args),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs > 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("duration must be positive, got {s}"));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

fn parse_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| {
            let (k, v) = h
                .split_once('=')
                .with_context(|| format!("--header {h:?} is not K=V"))?;
            if k.trim().is_empty() {
                bail!("--header {h:?} has an empty name");
            }
            Ok((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Data generation
// ---------------------------------------------------------------------------------------------

const AGENTS: &[&str] = &[
    "planner",
    "researcher",
    "coder",
    "reviewer",
    "support-triage",
];
const MODELS: &[&str] = &[
    "gpt-4o",
    "claude-sonnet-4",
    "gemini-2.5-pro",
    "llama-3.1-70b",
];
const TOOLS: &[&str] = &[
    "search_web",
    "fetch_url",
    "run_sql",
    "read_file",
    "write_file",
    "send_email",
    "create_ticket",
];
/// Words the generated text is made of; `bench query` searches for some of them.
const WORDS: &[&str] = &[
    "customer",
    "invoice",
    "refund",
    "latency",
    "database",
    "migration",
    "quarterly",
    "forecast",
    "shipment",
    "warehouse",
    "regression",
    "deployment",
    "rollback",
    "incident",
    "timeout",
    "analysis",
    "summary",
    "contract",
    "renewal",
    "compliance",
    "policy",
    "escalation",
    "priority",
    "backlog",
    "schema",
    "index",
    "cluster",
    "replica",
    "benchmark",
    "throughput",
];

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// Non-ASCII words of the `multilingual` payload.
const NON_ASCII_WORDS: &[&str] = &[
    "\u{201c}résumé\u{201d}",
    "\u{2014}",
    "naïve",
    "Zürich",
    "café",
    "don\u{2019}t",
    "\u{65e5}\u{672c}\u{8a9e}",
    "señal",
    "…",
];

fn sentence(rng: &mut StdRng, multilingual: bool, words: usize) -> String {
    let mut out = String::with_capacity(words * 9);
    for n in 0..words {
        if n > 0 {
            out.push(' ');
        }
        if multilingual && rng.gen_range(0..6) == 0 {
            out.push_str(NON_ASCII_WORDS[rng.gen_range(0..NON_ASCII_WORDS.len())]);
        } else {
            out.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
        }
    }
    out
}

/// How much later each generated trace starts than the one before.
const TRACE_STEP_NANOS: u64 = 10_000_000;

/// A trace being generated: what its next span needs.
#[derive(Debug, Clone, Copy)]
struct OpenTrace {
    /// Spans of this trace emitted so far (0: the next span starts a new trace in this slot).
    in_trace: usize,
    trace_id: [u8; 16],
    root_span: [u8; 8],
    agent: &'static str,
    start: u64,
}

/// Generates a continuous stream of spans grouped in traces.
struct Generator {
    rng: StdRng,
    payload: Payload,
    spans_per_trace: usize,
    /// The traces in progress; each span goes to one of them, picked at random.
    open: Vec<OpenTrace>,
    next_span: u64,
    /// Traces started so far.
    traces: u64,
    /// Start of the newest trace: one hour ago for the first, then 10 ms later for each next
    /// one, so traces start in the order they are generated, as live traffic does.
    clock: u64,
}

impl Generator {
    /// `interleave` traces are in progress at once (at least 1).
    fn new(seed: u64, payload: Payload, spans_per_trace: usize, interleave: usize) -> Self {
        let base_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            .saturating_sub(3_600_000_000_000);
        let idle = OpenTrace {
            in_trace: 0,
            trace_id: [0; 16],
            root_span: [0; 8],
            agent: AGENTS[0],
            start: base_nanos,
        };
        Self {
            rng: StdRng::seed_from_u64(seed),
            payload,
            spans_per_trace: spans_per_trace.max(1),
            open: vec![idle; interleave.max(1)],
            next_span: 1,
            traces: 0,
            clock: base_nanos,
        }
    }

    /// Ends every trace in progress so the next span starts a new one.
    fn end_trace(&mut self) {
        for t in &mut self.open {
            t.in_trace = 0;
        }
    }

    fn next_span(&mut self) -> Span {
        let slot = if self.open.len() > 1 {
            self.rng.gen_range(0..self.open.len())
        } else {
            0
        };
        let mut trace = self.open[slot];
        if trace.in_trace == 0 {
            if self.traces > 0 {
                self.clock += TRACE_STEP_NANOS;
            }
            self.traces += 1;
            self.rng.fill(&mut trace.trace_id);
            trace.agent = AGENTS[self.rng.gen_range(0..AGENTS.len())];
            trace.start = self.clock;
        }
        let index = trace.in_trace;
        trace.in_trace = (trace.in_trace + 1) % self.spans_per_trace;
        let span_id = self.next_span.to_be_bytes();
        self.next_span += 1;
        if index == 0 {
            trace.root_span = span_id;
        }
        self.open[slot] = trace;
        let start = trace.start + (index as u64) * 1_000_000;
        let mut span = Span {
            trace_id: trace.trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: if index == 0 {
                Vec::new()
            } else {
                trace.root_span.to_vec()
            },
            kind: 1,
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000_000 * self.rng.gen_range(1..2000),
            ..Default::default()
        };
        let rng = &mut self.rng;
        let multilingual = self.payload == Payload::Multilingual;
        match (self.payload, index) {
            (Payload::Small, _) => {
                let tool = TOOLS[rng.gen_range(0..TOOLS.len())];
                span.name = format!("execute_tool {tool}");
                span.attributes = vec![
                    s("gen_ai.operation.name", "execute_tool"),
                    s("gen_ai.tool.name", tool),
                ];
            }
            (Payload::Realistic | Payload::Multilingual, 0) => {
                span.name = format!("invoke_agent {}", trace.agent);
                span.kind = 2;
                span.attributes = vec![
                    s("gen_ai.operation.name", "invoke_agent"),
                    s("gen_ai.agent.name", trace.agent),
                    s("gen_ai.agent.id", format!("agent-{}", rng.gen_range(0..50))),
                    s(
                        "gen_ai.conversation.id",
                        format!("conv-{:08x}", rng.r#gen::<u32>()),
                    ),
                    s("user.id", format!("user-{}", rng.gen_range(0..1000))),
                    s("gen_ai.agent.description", sentence(rng, multilingual, 12)),
                ];
            }
            (Payload::Realistic | Payload::Multilingual, _) => match rng.gen_range(0..10) {
                0..=2 => {
                    let model = MODELS[rng.gen_range(0..MODELS.len())];
                    span.name = format!("chat {model}");
                    span.kind = 3;
                    let input = json!([
                        {"role": "system", "parts": [{"type": "text", "content": sentence(rng, multilingual, 20)}]},
                        {"role": "user", "parts": [{"type": "text", "content": sentence(rng, multilingual, 40)}]},
                    ]);
                    let output = json!([
                        {"role": "assistant", "finish_reason": "stop",
                         "parts": [{"type": "text", "content": sentence(rng, multilingual, 50)}]},
                    ]);
                    span.attributes = vec![
                        s("gen_ai.operation.name", "chat"),
                        s("gen_ai.provider.name", "openai"),
                        s("gen_ai.request.model", model),
                        s("gen_ai.response.model", model),
                        s(
                            "gen_ai.response.id",
                            format!("resp-{:016x}", rng.r#gen::<u64>()),
                        ),
                        kv(
                            "gen_ai.request.temperature",
                            any_value::Value::DoubleValue(0.2),
                        ),
                        i("gen_ai.request.max_tokens", 4096),
                        i("gen_ai.usage.input_tokens", rng.gen_range(200..8000)),
                        i("gen_ai.usage.output_tokens", rng.gen_range(20..1500)),
                        kv(
                            "gen_ai.response.finish_reasons",
                            any_value::Value::ArrayValue(ArrayValue {
                                values: vec![AnyValue {
                                    value: Some(any_value::Value::StringValue("stop".into())),
                                }],
                            }),
                        ),
                        s("gen_ai.input.messages", input.to_string()),
                        s("gen_ai.output.messages", output.to_string()),
                        s("gen_ai.agent.name", trace.agent),
                    ];
                }
                3..=4 => {
                    span.name = "reasoning".to_owned();
                    span.attributes = vec![
                        s("cairn.kind", "reasoning"),
                        i("cairn.reasoning.step", index as i64),
                        s("cairn.reasoning.content", sentence(rng, multilingual, 60)),
                        s("gen_ai.agent.name", trace.agent),
                    ];
                }
                5..=8 => {
                    let tool = TOOLS[rng.gen_range(0..TOOLS.len())];
                    span.name = format!("execute_tool {tool}");
                    let args = json!({"query": sentence(rng, multilingual, 8), "limit": rng.gen_range(1..100)});
                    let result = json!({"rows": rng.gen_range(0..500), "text": sentence(rng, multilingual, 40)});
                    span.attributes = vec![
                        s("gen_ai.operation.name", "execute_tool"),
                        s("gen_ai.tool.name", tool),
                        s("gen_ai.tool.type", "function"),
                        s(
                            "gen_ai.tool.call.id",
                            format!("call_{:012x}", rng.r#gen::<u64>()),
                        ),
                        s("gen_ai.tool.call.arguments", args.to_string()),
                        s("gen_ai.tool.call.result", result.to_string()),
                        s("gen_ai.agent.name", trace.agent),
                    ];
                    if rng.gen_range(0..20) == 0 {
                        span.status = Some(Status {
                            code: status::StatusCode::Error as i32,
                            message: format!(
                                "tool {tool} failed: {}",
                                sentence(rng, multilingual, 6)
                            ),
                        });
                        span.attributes.push(s("error.type", "timeout"));
                    }
                }
                _ => {
                    span.name = "decision route".to_owned();
                    span.attributes = vec![
                        s("cairn.kind", "decision"),
                        s("cairn.decision.name", "route"),
                        s(
                            "cairn.decision.options",
                            "[\"answer\",\"escalate\",\"retry\"]",
                        ),
                        s("cairn.decision.chosen", "answer"),
                        kv(
                            "cairn.decision.confidence",
                            any_value::Value::DoubleValue(rng.gen_range(0.5..1.0)),
                        ),
                        s("cairn.decision.rationale", sentence(rng, multilingual, 25)),
                        s("gen_ai.agent.name", trace.agent),
                    ];
                }
            },
        }
        span
    }
}

fn request_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "cairn-bench-agent"),
                    s("service.version", env!("CARGO_PKG_VERSION")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "cairn-bench".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions: hex ids, integer enums, 64-bit
/// integers as strings).
fn otlp_json(request: &ExportTraceServiceRequest) -> Value {
    fn any(value: &AnyValue) -> Value {
        match &value.value {
            Some(any_value::Value::StringValue(v)) => json!({"stringValue": v}),
            Some(any_value::Value::BoolValue(v)) => json!({"boolValue": v}),
            Some(any_value::Value::IntValue(v)) => json!({"intValue": v.to_string()}),
            Some(any_value::Value::DoubleValue(v)) => json!({"doubleValue": v}),
            Some(any_value::Value::ArrayValue(a)) => {
                json!({"arrayValue": {"values": a.values.iter().map(any).collect::<Vec<_>>()}})
            }
            Some(any_value::Value::KvlistValue(l)) => {
                json!({"kvlistValue": {"values": attrs(&l.values)}})
            }
            Some(any_value::Value::BytesValue(b)) => json!({"bytesValue": hex::encode(b)}),
            _ => json!({}),
        }
    }
    fn attrs(kvs: &[KeyValue]) -> Vec<Value> {
        kvs.iter()
            .map(|kv| json!({"key": kv.key, "value": kv.value.as_ref().map_or(json!({}), any)}))
            .collect()
    }
    let resource_spans: Vec<Value> = request
        .resource_spans
        .iter()
        .map(|rs| {
            let scope_spans: Vec<Value> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let spans: Vec<Value> = ss
                        .spans
                        .iter()
                        .map(|sp| {
                            let mut span = json!({
                                "traceId": hex::encode(&sp.trace_id),
                                "spanId": hex::encode(&sp.span_id),
                                "name": sp.name,
                                "kind": sp.kind,
                                "startTimeUnixNano": sp.start_time_unix_nano.to_string(),
                                "endTimeUnixNano": sp.end_time_unix_nano.to_string(),
                                "attributes": attrs(&sp.attributes),
                            });
                            if !sp.parent_span_id.is_empty() {
                                span["parentSpanId"] = json!(hex::encode(&sp.parent_span_id));
                            }
                            if let Some(st) = &sp.status {
                                span["status"] = json!({"code": st.code, "message": st.message});
                            }
                            span
                        })
                        .collect();
                    let scope = ss.scope.as_ref().map_or(
                        json!({}),
                        |sc| json!({"name": sc.name, "version": sc.version}),
                    );
                    json!({"scope": scope, "spans": spans})
                })
                .collect();
            let resource = rs
                .resource
                .as_ref()
                .map_or(json!({}), |r| json!({"attributes": attrs(&r.attributes)}));
            json!({"resource": resource, "scopeSpans": scope_spans})
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

/// One pre-encoded request body and where its trace ids and times are.
struct Template {
    body: Vec<u8>,
    spans: u64,
    /// Byte offsets of the first byte of every trace id occurrence.
    offsets: Vec<usize>,
    /// Byte offsets of every span start and end time: 8 little-endian bytes in protobuf (a
    /// `fixed64`), the first decimal digit in JSON (a string of digits).
    times: Vec<usize>,
    /// The earliest start and the latest end of its spans, unix nanoseconds.
    earliest: u64,
    latest: u64,
    /// The first trace id of the body (raw bytes), for the queryable probe.
    first_trace: [u8; 16],
}

/// How a trace id is written in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdEncoding {
    Raw,
    Hex,
}

impl Template {
    fn new(spans: Vec<Span>, encoding: IdEncoding) -> Self {
        let ids: HashSet<Vec<u8>> = spans.iter().map(|s| s.trace_id.clone()).collect();
        let starts: Vec<u64> = spans.iter().map(|s| s.start_time_unix_nano).collect();
        let ends: Vec<u64> = spans.iter().map(|s| s.end_time_unix_nano).collect();
        let earliest = starts.iter().copied().min().unwrap_or(0);
        let latest = ends.iter().copied().max().unwrap_or(0);
        // A time is found with what precedes it, so that no other bytes can pass for one: its
        // field tag in protobuf (fields 7 and 8, wire type 1), its key in JSON (and its closing
        // quote). Each field's needles come with the length of that prefix.
        let time_needles: Vec<(usize, HashSet<Vec<u8>>)> =
            [(0x39, "start", &starts), (0x41, "end", &ends)]
                .into_iter()
                .map(|(tag, key, times)| match encoding {
                    IdEncoding::Raw => (
                        1,
                        times
                            .iter()
                            .map(|t| [&[tag][..], &t.to_le_bytes()].concat())
                            .collect(),
                    ),
                    IdEncoding::Hex => {
                        let prefix = format!("\"{key}TimeUnixNano\":\"");
                        let needles = times
                            .iter()
                            .map(|t| format!("{prefix}{t}\"").into_bytes())
                            .collect();
                        (prefix.len(), needles)
                    }
                })
                .collect();
        let mut first_trace = [0u8; 16];
        first_trace.copy_from_slice(&spans[0].trace_id);
        let n = spans.len() as u64;
        let request = request_of(spans);
        let (body, needles): (Vec<u8>, HashSet<Vec<u8>>) = match encoding {
            IdEncoding::Raw => (request.encode_to_vec(), ids),
            IdEncoding::Hex => (
                otlp_json(&request).to_string().into_bytes(),
                ids.iter().map(|id| hex::encode(id).into_bytes()).collect(),
            ),
        };
        let offsets = find_all(&body, &needles);
        let times = time_needles
            .iter()
            .flat_map(|(prefix, needles)| {
                find_all(&body, needles)
                    .into_iter()
                    .map(move |at| at + prefix)
            })
            .collect();
        Self {
            body,
            spans: n,
            offsets,
            times,
            earliest,
            latest,
            first_trace,
        }
    }

    /// The body of a request: every trace id patched by `mask`, every time moved `shift`
    /// nanoseconds later.
    fn patched(&self, mask: u64, shift: u64, encoding: IdEncoding) -> Vec<u8> {
        let mut body = self.body.clone();
        for &at in &self.offsets {
            patch_id(&mut body[at..], mask, encoding);
        }
        if shift > 0 {
            for &at in &self.times {
                shift_time(&mut body[at..], shift, encoding);
            }
        }
        body
    }

    fn first_trace_hex(&self, mask: u64) -> String {
        let mut id = self.first_trace;
        patch_id(&mut id, mask, IdEncoding::Raw);
        hex::encode(id)
    }
}

fn patch_id(at: &mut [u8], mask: u64, encoding: IdEncoding) {
    match encoding {
        IdEncoding::Raw => {
            let mut head = [0u8; 8];
            head.copy_from_slice(&at[..8]);
            let patched = u64::from_be_bytes(head) ^ mask;
            at[..8].copy_from_slice(&patched.to_be_bytes());
        }
        IdEncoding::Hex => {
            let text = std::str::from_utf8(&at[..16]).expect("hex trace id");
            let value = u64::from_str_radix(text, 16).expect("hex trace id") ^ mask;
            at[..16].copy_from_slice(format!("{value:016x}").as_bytes());
        }
    }
}

/// How much later each round's times are than the previous round's: the templates' time window
/// (first start to last end) plus the generator's step between traces.
fn round_nanos(templates: &[Template]) -> u64 {
    let earliest = templates.iter().map(|t| t.earliest).min().unwrap_or(0);
    let latest = templates.iter().map(|t| t.latest).max().unwrap_or(0);
    latest.saturating_sub(earliest) + TRACE_STEP_NANOS
}

/// Where the needles occur in `body`, left to right and not overlapping. Needles may differ in
/// length. A position's first byte is checked before any hash lookup, so that most positions
/// cost one compare.
fn find_all(body: &[u8], needles: &HashSet<Vec<u8>>) -> Vec<usize> {
    let mut widths: Vec<usize> = needles.iter().map(Vec::len).filter(|&w| w > 0).collect();
    widths.sort_unstable();
    widths.dedup();
    let mut first = [false; 256];
    for needle in needles {
        if let Some(&byte) = needle.first() {
            first[usize::from(byte)] = true;
        }
    }
    let mut found = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let width = first[usize::from(body[at])]
            .then(|| {
                widths
                    .iter()
                    .copied()
                    .find(|&w| at + w <= body.len() && needles.contains(&body[at..at + w]))
            })
            .flatten();
        match width {
            Some(width) => {
                found.push(at);
                at += width;
            }
            None => at += 1,
        }
    }
    found
}

/// Adds `shift` to the time at the start of `at`. A JSON time keeps its width: its string of
/// digits is rewritten in place, zero-padded (a value that would need another digit, past the
/// year 2286, is left as it is).
fn shift_time(at: &mut [u8], shift: u64, encoding: IdEncoding) {
    match encoding {
        IdEncoding::Raw => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&at[..8]);
            let shifted = u64::from_le_bytes(bytes).saturating_add(shift);
            at[..8].copy_from_slice(&shifted.to_le_bytes());
        }
        IdEncoding::Hex => {
            let width = at.iter().position(|&b| b == b'"').expect("a quoted time");
            let text = std::str::from_utf8(&at[..width]).expect("decimal time");
            let value = text.parse::<u64>().expect("decimal time");
            let shifted = format!("{:0width$}", value.saturating_add(shift));
            if shifted.len() == width {
                at[..width].copy_from_slice(shifted.as_bytes());
            }
        }
    }
}

/// SplitMix64: a bijective mixer so each round gets an unrelated mask (not for cryptography).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[allow(clippy::too_many_arguments)] // the generator's shape, spelled out at each call
fn templates(
    seed: u64,
    payload: Payload,
    batch: usize,
    spans_per_trace: usize,
    interleave: usize,
    distinct: usize,
    encoding: IdEncoding,
) -> Vec<Template> {
    let mut generator = Generator::new(seed, payload, spans_per_trace, interleave);
    let mut out = Vec::with_capacity(distinct);
    for n in 0..distinct {
        let mut spans = Vec::with_capacity(batch);
        for k in 0..batch {
            // The stream ends on a trace boundary so a trace never spans two rounds (with
            // `interleave`, the traces still open there are cut short).
            if n + 1 == distinct && k + 1 == batch {
                let span = generator.next_span();
                generator.end_trace();
                spans.push(span);
            } else {
                spans.push(generator.next_span());
            }
        }
        out.push(Template::new(spans, encoding));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// bench ingest
// ---------------------------------------------------------------------------------------------

/// What every client adds up.
#[derive(Debug)]
/// What [`Tally::acked`] records of one acknowledged request.
struct Acked {
    spans: u64,
    rejected: u64,
    bytes: u64,
    took: Duration,
    trace: String,
    sent: Instant,
}

struct Tally {
    latency: Histogram<u64>,
    spans: u64,
    rejected_spans: u64,
    bytes: u64,
    requests: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds"),
            spans: 0,
            rejected_spans: 0,
            bytes: 0,
            requests: 0,
            errors: BTreeMap::new(),
        }
    }

    /// One acknowledged request of `spans` spans (`rejected` of them refused by the collector).
    fn acked(&mut self, shared: &Shared, acked: Acked) {
        let Acked {
            spans,
            rejected,
            bytes,
            took,
            trace,
            sent,
        } = acked;
        self.latency.saturating_record(took.as_micros() as u64);
        self.spans += spans.saturating_sub(rejected);
        self.rejected_spans += rejected;
        self.bytes += bytes;
        shared
            .spans_done
            .fetch_add(spans.saturating_sub(rejected), Ordering::Relaxed);
        shared.last_ack.put((trace, sent));
    }

    /// One failed request, counted under `what`; the client backs off briefly.
    async fn failed(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    fn merge(&mut self, other: &Tally) {
        self.latency.add(&other.latency).expect("same bounds");
        self.spans += other.spans;
        self.rejected_spans += other.rejected_spans;
        self.bytes += other.bytes;
        self.requests += other.requests;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// Shared between clients, the probe and the progress display.
struct Shared {
    templates: Vec<Template>,
    encoding: IdEncoding,
    nonce: u64,
    /// How much later each round's span times are (see the module docs).
    round_nanos: u64,
    seq: AtomicU64,
    stop: AtomicBool,
    spans_done: AtomicU64,
    /// The latest acknowledged request: (trace id hex, when it was sent).
    last_ack: ack_slot::Slot,
}

/// The latest acknowledged request (a mutex: one store per request, one take per probe).
mod ack_slot {
    use std::sync::Mutex;
    use std::time::Instant;

    #[derive(Debug, Default)]
    pub(super) struct Slot(Mutex<Option<(String, Instant)>>);

    impl Slot {
        pub(super) fn put(&self, value: (String, Instant)) {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
        }
        pub(super) fn take(&self) -> Option<(String, Instant)> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        }
    }
}

impl Shared {
    /// The next request: its body, span count and first trace id.
    fn next_request(&self) -> (Bytes, u64, String) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let n = self.templates.len() as u64;
        let template = &self.templates[(seq % n) as usize];
        let round = seq / n;
        let mask = mix(round ^ self.nonce);
        let shift = round.saturating_mul(self.round_nanos);
        (
            Bytes::from(template.patched(mask, shift, self.encoding)),
            template.spans,
            template.first_trace_hex(mask),
        )
    }
}

fn run_ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if args.clients == 0 || args.batch == 0 || args.distinct == 0 {
        bail!("--clients, --batch and --distinct must be at least 1");
    }
    let headers = parse_headers(&args.headers)?;
    let endpoint = match (&args.endpoint, args.protocol) {
        (Some(e), _) => e.trim_end_matches('/').to_owned(),
        (None, Protocol::Grpc) => "http://127.0.0.1:4317".to_owned(),
        (None, _) => "http://127.0.0.1:4318".to_owned(),
    };
    let target = match args.protocol {
        Protocol::Grpc => endpoint.clone(),
        _ => {
            let uri: hyper::Uri = endpoint
                .parse()
                .with_context(|| format!("--endpoint {endpoint:?} is not a URL"))?;
            if uri.scheme_str() != Some("http") {
                bail!("--endpoint must be an http:// URL (TLS is not supported by the bench)");
            }
            if uri.path().is_empty() || uri.path() == "/" {
                format!("{endpoint}/v1/traces")
            } else {
                endpoint.clone()
            }
        }
    };
    let encoding = if args.protocol == Protocol::HttpJson {
        IdEncoding::Hex
    } else {
        IdEncoding::Raw
    };
    let generated = Instant::now();
    let templates = templates(
        args.seed,
        args.payload,
        args.batch,
        args.spans_per_trace,
        args.interleave as usize,
        args.distinct,
        encoding,
    );
    let body_bytes: usize = templates.iter().map(|t| t.body.len()).sum();
    if !args.json {
        eprintln!(
            "generated {} request bodies of {} spans ({:.1} KB each on average) in {:.2?}",
            templates.len(),
            args.batch,
            body_bytes as f64 / templates.len() as f64 / 1024.0,
            generated.elapsed()
        );
    }
    let shared = Arc::new(Shared {
        round_nanos: round_nanos(&templates),
        templates,
        encoding,
        nonce: rand::random(),
        seq: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        spans_done: AtomicU64::new(0),
        last_ack: ack_slot::Slot::default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(drive(&args, &target, &headers, &shared))?;
    let secs = report.elapsed.as_secs_f64();
    let total = &report.tally;
    let errors: u64 = total.errors.values().sum();
    let pct = |h: &Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let mut out = json!({
        "protocol": format!("{:?}", args.protocol),
        "endpoint": target,
        "payload": format!("{:?}", args.payload),
        "clients": args.clients,
        "batch": args.batch,
        "spans_per_trace": args.spans_per_trace,
        "interleave": args.interleave,
        "duration_secs": secs,
        "requests": total.requests,
        "spans": total.spans,
        "spans_per_sec": total.spans as f64 / secs,
        "mb_per_sec": total.bytes as f64 / secs / 1e6,
        "latency_p50_ms": pct(&total.latency, 0.50),
        "latency_p99_ms": pct(&total.latency, 0.99),
        "latency_max_ms": total.latency.max() as f64 / 1000.0,
        "errors": errors,
        "errors_by_status": total.errors,
        "rejected_spans": total.rejected_spans,
    });
    if let Some(probe) = &report.probe {
        out["queryable_probes"] = json!(probe.latency.len());
        out["queryable_p50_ms"] = json!(pct(&probe.latency, 0.50));
        out["queryable_p99_ms"] = json!(pct(&probe.latency, 0.99));
        out["queryable_max_ms"] = json!(probe.latency.max() as f64 / 1000.0);
        out["queryable_timeouts"] = json!(probe.timeouts);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} spans in {} requests over {secs:.1} s: {:.0} spans/s, {:.2} MB/s",
            total.spans,
            total.requests,
            out["spans_per_sec"].as_f64().unwrap_or(0.0),
            out["mb_per_sec"].as_f64().unwrap_or(0.0)
        );
        println!(
            "request latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            pct(&total.latency, 0.50),
            pct(&total.latency, 0.99),
            total.latency.max() as f64 / 1000.0
        );
        println!(
            "errors: {errors} {:?}; rejected spans: {}",
            total.errors, total.rejected_spans
        );
        if let Some(probe) = &report.probe {
            println!(
                "ingest → queryable ({} probes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} timed out",
                probe.latency.len(),
                pct(&probe.latency, 0.50),
                pct(&probe.latency, 0.99),
                probe.latency.max() as f64 / 1000.0,
                probe.timeouts
            );
        }
    }
    Ok(if total.requests > 0 && errors < total.requests {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct DriveReport {
    elapsed: Duration,
    tally: Tally,
    probe: Option<ProbeTally>,
}

async fn drive(
    args: &IngestArgs,
    target: &str,
    headers: &[(String, String)],
    shared: &Arc<Shared>,
) -> anyhow::Result<DriveReport> {
    // Per-client pacing: each client sends a request every `interval` (0 = back to back).
    let interval = if args.rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(args.batch as f64 * args.clients as f64 / args.rate as f64)
    };
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(args.clients)
        .build_http::<Full<Bytes>>();
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut tasks = Vec::with_capacity(args.clients);
    for client in 0..args.clients {
        let shared = Arc::clone(shared);
        let target = target.to_owned();
        let headers = headers.to_vec();
        let http = http.clone();
        let protocol = args.protocol;
        // Stagger paced clients so their requests spread over the interval.
        let offset = interval.mul_f64(client as f64 / args.clients as f64);
        tasks.push(tokio::spawn(async move {
            match protocol {
                Protocol::Grpc => {
                    grpc_client(&shared, &target, &headers, deadline, interval, offset).await
                }
                _ => {
                    let content_type = if protocol == Protocol::HttpJson {
                        "application/json"
                    } else {
                        "application/x-protobuf"
                    };
                    let ctx = HttpClient {
                        http,
                        target,
                        headers,
                        content_type,
                    };
                    Ok(ctx.run(&shared, deadline, interval, offset).await)
                }
            }
        }));
    }
    let probe = args.api.as_ref().map(|api| {
        tokio::spawn(probe_loop(
            Arc::clone(shared),
            http.clone(),
            api.trim_end_matches('/').to_owned(),
            args.probe_interval,
        ))
    });
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(args.duration.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {elapsed}/{duration} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    while Instant::now() < deadline {
        tokio::time::sleep(
            Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        if let Some(bar) = &bar {
            let secs = started.elapsed().as_secs_f64();
            bar.set_position(started.elapsed().as_millis() as u64);
            bar.set_message(format!(
                "{:.0} spans/s",
                shared.spans_done.load(Ordering::Relaxed) as f64 / secs
            ));
        }
    }
    shared.stop.store(true, Ordering::Release);
    let mut tally = Tally::new();
    for task in tasks {
        tally.merge(&task.await.context("client task")??);
    }
    // Requests in flight at the deadline finish and are counted: divide by the time until the
    // last one was answered.
    let elapsed = started.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let probe = match probe {
        Some(task) => Some(task.await.context("probe task")?),
        None => None,
    };
    Ok(DriveReport {
        elapsed,
        tally,
        probe,
    })
}

async fn pace(next: &mut Instant, interval: Duration) {
    if interval > Duration::ZERO {
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep(*next - now).await;
        }
        // A late client does not burst to catch up.
        let now = Instant::now();
        *next = (*next + interval).max(now.checked_sub(interval).unwrap_or(now));
    }
}

struct HttpClient {
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    target: String,
    headers: Vec<(String, String)>,
    content_type: &'static str,
}

impl HttpClient {
    async fn run(
        &self,
        shared: &Shared,
        deadline: Instant,
        interval: Duration,
        offset: Duration,
    ) -> Tally {
        let mut tally = Tally::new();
        let mut next = Instant::now() + offset;
        while !shared.stop.load(Ordering::Acquire) && Instant::now() < deadline {
            pace(&mut next, interval).await;
            if shared.stop.load(Ordering::Acquire) {
                break;
            }
            let (body, spans, trace) = shared.next_request();
            let len = body.len() as u64;
            let mut request =
                hyper::Request::post(&self.target).header("content-type", self.content_type);
            for (k, v) in &self.headers {
                request = request.header(k.as_str(), v.as_str());
            }
            let request = match request.body(Full::new(body)) {
                Ok(r) => r,
                Err(e) => {
                    *tally.errors.entry(format!("request: {e}")).or_default() += 1;
                    break;
                }
            };
            let sent = Instant::now();
            let outcome = match self.http.request(request).await {
                Ok(response) => {
                    let status = response.status();
                    match response.into_body().collect().await {
                        Ok(body) => Ok((status, body.to_bytes())),
                        Err(e) => Err(format!("reading the answer: {e}")),
                    }
                }
                Err(e) => Err(format!("transport: {e}")),
            };
            tally.requests += 1;
            let took = sent.elapsed();
            match outcome {
                Ok((status, answer)) if status.is_success() => {
                    let rejected = rejected_spans(&answer, self.content_type);
                    tally.acked(
                        shared,
                        Acked {
                            spans,
                            rejected,
                            bytes: len,
                            took,
                            trace,
                            sent,
                        },
                    );
                }
                Ok((status, _)) => tally.failed(status.as_u16().to_string()).await,
                Err(e) => tally.failed(e).await,
            }
        }
        tally
    }
}

/// `partial_success.rejected_spans` of a 2xx answer (0 when absent or unreadable).
fn rejected_spans(answer: &[u8], content_type: &str) -> u64 {
    if answer.is_empty() {
        return 0;
    }
    if content_type == "application/json" {
        let value: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        let r = &value["partialSuccess"]["rejectedSpans"];
        r.as_u64()
            .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    } else {
        ExportTraceServiceResponse::decode(answer)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans.max(0) as u64)
    }
}

/// Sends pre-encoded protobuf messages over gRPC without re-encoding them.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

async fn grpc_client(
    shared: &Shared,
    target: &str,
    headers: &[(String, String)],
    deadline: Instant,
    interval: Duration,
    offset: Duration,
) -> anyhow::Result<Tally> {
    let channel = tonic::transport::Endpoint::from_shared(target.to_owned())
        .with_context(|| format!("--endpoint {target:?} is not a URL"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {target}"))?;
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(usize::MAX);
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    let mut metadata = Vec::new();
    for (k, v) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .with_context(|| format!("--header {k:?} is not a valid gRPC metadata key"))?;
        let value = v
            .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
            .with_context(|| format!("--header {k:?} has a value gRPC metadata cannot carry"))?;
        metadata.push((key, value));
    }
    let mut tally = Tally::new();
    let mut next = Instant::now() + offset;
    while !shared.stop.load(Ordering::Acquire) && Instant::now() < deadline {
        pace(&mut next, interval).await;
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let (body, spans, trace) = shared.next_request();
        let len = body.len() as u64;
        let mut request = tonic::Request::new(body);
        for (k, v) in &metadata {
            request.metadata_mut().insert(k.clone(), v.clone());
        }
        let sent = Instant::now();
        let outcome = match grpc.ready().await {
            Ok(()) => grpc.unary(request, path.clone(), RawCodec).await,
            Err(e) => Err(tonic::Status::unavailable(e.to_string())),
        };
        tally.requests += 1;
        let took = sent.elapsed();
        match outcome {
            Ok(answer) => {
                let rejected = rejected_spans(answer.get_ref(), "application/x-protobuf");
                tally.acked(
                    shared,
                    Acked {
                        spans,
                        rejected,
                        bytes: len,
                        took,
                        trace,
                        sent,
                    },
                );
            }
            Err(status) => tally.failed(format!("grpc {:?}", status.code())).await,
        }
    }
    Ok(tally)
}

struct ProbeTally {
    latency: Histogram<u64>,
    timeouts: u64,
}

/// How long a probe waits for its trace before counting a timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

async fn probe_loop(
    shared: Arc<Shared>,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    api: String,
    every: Duration,
) -> ProbeTally {
    let mut probes = Vec::new();
    while !shared.stop.load(Ordering::Acquire) {
        tokio::time::sleep(every).await;
        if let Some((trace, sent)) = shared.last_ack.take() {
            let http = http.clone();
            let url = format!("{api}/api/v1/traces/{trace}");
            probes.push(tokio::spawn(async move {
                loop {
                    let request = hyper::Request::get(&url)
                        .body(Full::new(Bytes::new()))
                        .expect("GET request");
                    if let Ok(response) = http.request(request).await {
                        let ok = response.status().is_success();
                        let _ = response.into_body().collect().await;
                        if ok {
                            return Some(sent.elapsed());
                        }
                    }
                    if sent.elapsed() > PROBE_TIMEOUT {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }
    }
    let mut tally = ProbeTally {
        latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds"),
        timeouts: 0,
    };
    for probe in probes {
        match probe.await {
            Ok(Some(took)) => tally.latency.saturating_record(took.as_micros() as u64),
            _ => tally.timeouts += 1,
        }
    }
    tally
}

// ---------------------------------------------------------------------------------------------
// bench query
// ---------------------------------------------------------------------------------------------

fn run_query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let headers = parse_headers(&args.headers)?;
    let api = args.api.trim_end_matches('/').to_owned();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let get = |path: &str| -> anyhow::Result<(Duration, Value)> {
        let mut req = agent.get(&format!("{api}{path}"));
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        let started = Instant::now();
        let response = req.call().with_context(|| format!("GET {path}"))?;
        // `into_string` stops at 10 MB; a 10,000-span trace is larger.
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body)
            .context("reading the answer")?;
        let took = started.elapsed();
        Ok((
            took,
            serde_json::from_slice(&body).context("the answer is not JSON")?,
        ))
    };
    let mut out = json!({});
    let mut trace_ids: Vec<String> = Vec::new();
    if args.traces > 0 {
        let batch = 512usize;
        let spans_total = args.traces * args.spans_per_trace;
        let requests = spans_total.div_ceil(batch);
        let mut generator = Generator::new(args.seed, Payload::Realistic, args.spans_per_trace, 1);
        let nonce: u64 = rand::random();
        let mut seen = HashSet::new();
        let started = Instant::now();
        let mut sent = 0usize;
        for _ in 0..requests {
            let n = batch.min(spans_total - sent);
            let mut spans: Vec<Span> = (0..n).map(|_| generator.next_span()).collect();
            for span in &mut spans {
                // A fresh id space per run, so repeated runs never merge into old traces.
                patch_id(&mut span.trace_id, mix(nonce), IdEncoding::Raw);
                let id = hex::encode(&span.trace_id);
                if seen.insert(id.clone()) {
                    trace_ids.push(id);
                }
            }
            sent += n;
            let body = request_of(spans).encode_to_vec();
            let mut req = agent
                .post(&format!(
                    "{}/v1/traces",
                    args.endpoint.trim_end_matches('/')
                ))
                .set("content-type", "application/x-protobuf");
            for (k, v) in &headers {
                req = req.set(k, v);
            }
            req.send_bytes(&body).context("ingesting the dataset")?;
        }
        let acked = started.elapsed();
        // Wait until the last trace is queryable with every span.
        let last = trace_ids.last().context("no trace generated")?;
        let expect = args.spans_per_trace;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Ok((_, trace)) = get(&format!("/api/v1/traces/{last}"))
                && trace["spans"].as_array().map_or(0, Vec::len) >= expect
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("the dataset was not queryable within 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        out["ingested_spans"] = json!(spans_total);
        out["ingest_ack_secs"] = json!(acked.as_secs_f64());
        out["ingest_queryable_secs"] = json!(started.elapsed().as_secs_f64());
    } else {
        let (_, page) = get("/api/v1/traces?limit=100")?;
        for t in page["traces"].as_array().into_iter().flatten() {
            if let Some(id) = t["trace_id"].as_str() {
                trace_ids.push(id.to_owned());
            }
        }
        if trace_ids.is_empty() {
            bail!("the server stores no traces; run with --traces N to ingest a dataset");
        }
    }
    let measure =
        |paths: &mut dyn FnMut(usize) -> String| -> anyhow::Result<(Histogram<u64>, u64)> {
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
            let mut items = 0u64;
            for n in 0..args.iterations.max(1) {
                let (took, body) = get(&paths(n))?;
                h.saturating_record(took.as_micros() as u64);
                items += body["spans"]
                    .as_array()
                    .or(body["traces"].as_array())
                    .map_or(0, |a| a.len() as u64);
            }
            Ok((h, items))
        };
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let ids = trace_ids.clone();
    let (fetch, fetched) = measure(&mut |n| format!("/api/v1/traces/{}", ids[n % ids.len()]))?;
    let (list, _) = measure(&mut |_| "/api/v1/traces?limit=50".to_owned())?;
    let (search, found) =
        measure(&mut |n| format!("/api/v1/traces?q={}&limit=50", WORDS[n % WORDS.len()]))?;
    out["traces"] = json!(trace_ids.len());
    out["iterations"] = json!(args.iterations.max(1));
    out["fetch_spans_avg"] = json!(fetched as f64 / args.iterations.max(1) as f64);
    out["fetch_p50_ms"] = json!(ms(&fetch, 0.5));
    out["fetch_p99_ms"] = json!(ms(&fetch, 0.99));
    out["list_p50_ms"] = json!(ms(&list, 0.5));
    out["list_p99_ms"] = json!(ms(&list, 0.99));
    out["search_p50_ms"] = json!(ms(&search, 0.5));
    out["search_p99_ms"] = json!(ms(&search, 0.99));
    out["search_hits_avg"] = json!(found as f64 / args.iterations.max(1) as f64);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if let Some(n) = out["ingested_spans"].as_u64() {
            println!(
                "ingested {n} spans: acknowledged in {:.2} s, queryable after {:.2} s",
                out["ingest_ack_secs"].as_f64().unwrap_or(0.0),
                out["ingest_queryable_secs"].as_f64().unwrap_or(0.0)
            );
        }
        println!(
            "trace fetch ({:.0} spans): p50 {:.1} ms, p99 {:.1} ms",
            out["fetch_spans_avg"].as_f64().unwrap_or(0.0),
            ms(&fetch, 0.5),
            ms(&fetch, 0.99)
        );
        println!(
            "trace list (50): p50 {:.1} ms, p99 {:.1} ms",
            ms(&list, 0.5),
            ms(&list, 0.99)
        );
        println!(
            "full-text search: p50 {:.1} ms, p99 {:.1} ms",
            ms(&search, 0.5),
            ms(&search, 0.99)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `interleave`, spans of several traces alternate; each trace still has one root,
    /// which comes first, every other span is its child, and no trace exceeds its length.
    #[test]
    fn interleaved_traces_stay_whole() {
        let mut generator = Generator::new(5, Payload::Realistic, 6, 8);
        let spans: Vec<Span> = (0..600).map(|_| generator.next_span()).collect();
        let mut traces: std::collections::HashMap<Vec<u8>, Vec<&Span>> = Default::default();
        for span in &spans {
            traces.entry(span.trace_id.clone()).or_default().push(span);
        }
        let switches = spans
            .windows(2)
            .filter(|w| w[0].trace_id != w[1].trace_id)
            .count();
        assert!(
            switches > 400,
            "spans of traces did not alternate: {switches}"
        );
        assert!(traces.len() >= 600 / 6, "{} traces", traces.len());
        for spans in traces.values() {
            assert!(spans.len() <= 6);
            assert!(spans[0].parent_span_id.is_empty(), "the root comes first");
            for child in &spans[1..] {
                assert_eq!(child.parent_span_id, spans[0].span_id);
                assert!(child.start_time_unix_nano > spans[0].start_time_unix_nano);
            }
        }
        // Without interleaving a trace's spans are consecutive.
        let mut generator = Generator::new(5, Payload::Realistic, 6, 1);
        let spans: Vec<Span> = (0..60).map(|_| generator.next_span()).collect();
        for (k, w) in spans.windows(2).enumerate() {
            assert_eq!(w[0].trace_id == w[1].trace_id, (k + 1) % 6 != 0, "at {k}");
        }
    }

    #[test]
    fn templates_patch_every_trace_id_consistently() {
        for encoding in [IdEncoding::Raw, IdEncoding::Hex] {
            let ts = templates(7, Payload::Realistic, 64, 10, 1, 3, encoding);
            let spans: u64 = ts.iter().map(|t| t.spans).sum();
            assert_eq!(spans, 192);
            for t in &ts {
                // Every span carries its trace id once.
                assert_eq!(t.offsets.len() as u64, t.spans, "{encoding:?}");
                let patched = t.patched(mix(42), 0, encoding);
                assert_ne!(patched, t.body);
                assert_eq!(patched.len(), t.body.len());
                let request = match encoding {
                    IdEncoding::Raw => ExportTraceServiceRequest::decode(&patched[..]).unwrap(),
                    IdEncoding::Hex => {
                        let v: Value = serde_json::from_slice(&patched).unwrap();
                        let first = v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
                            .as_str()
                            .unwrap()
                            .to_owned();
                        assert_eq!(first, t.first_trace_hex(mix(42)));
                        continue;
                    }
                };
                let first = &request.resource_spans[0].scope_spans[0].spans[0];
                assert_eq!(hex::encode(&first.trace_id), t.first_trace_hex(mix(42)));
                assert_ne!(first.trace_id, t.first_trace.to_vec());
            }
        }
    }

    #[test]
    fn later_rounds_move_every_span_time_by_the_window() {
        let limits = cairn_model::Limits::default();
        let times = |body: &[u8], format| -> Vec<(u64, u64)> {
            let decoded = cairn_model::otlp::decode_traces(body, format, &limits).unwrap();
            assert!(decoded.rejected.is_empty(), "{:?}", decoded.rejected);
            decoded
                .spans
                .iter()
                .map(|s| (s.start_unix_nano, s.end_unix_nano))
                .collect()
        };
        for (encoding, format) in [
            (IdEncoding::Raw, cairn_model::otlp::Format::Protobuf),
            (IdEncoding::Hex, cairn_model::otlp::Format::Json),
        ] {
            let ts = templates(11, Payload::Realistic, 64, 8, 3, 4, encoding);
            let step = round_nanos(&ts);
            let earliest = ts.iter().map(|t| t.earliest).min().unwrap();
            let latest = ts.iter().map(|t| t.latest).max().unwrap();
            assert!(step > latest - earliest, "{encoding:?}");
            for t in &ts {
                // Every span's start and end, and nothing else.
                assert_eq!(t.times.len() as u64, 2 * t.spans, "{encoding:?}");
                let before = times(&t.body, format);
                let after = times(&t.patched(mix(5), 3 * step, encoding), format);
                assert_eq!(before.len(), after.len());
                for ((s0, e0), (s1, e1)) in before.iter().zip(&after) {
                    assert_eq!((*s1, *e1), (s0 + 3 * step, e0 + 3 * step), "{encoding:?}");
                }
                // A round's spans all start after everything of the round before ended.
                let next_round = times(&t.patched(mix(6), step, encoding), format);
                assert!(next_round.iter().all(|(s, _)| *s > latest), "{encoding:?}");
            }
        }
    }

    #[test]
    fn json_body_decodes_like_the_protobuf_one() {
        let ts_proto = templates(3, Payload::Realistic, 20, 5, 1, 1, IdEncoding::Raw);
        let ts_json = templates(3, Payload::Realistic, 20, 5, 1, 1, IdEncoding::Hex);
        let limits = cairn_model::Limits::default();
        let a = cairn_model::otlp::decode_traces(
            &ts_proto[0].body,
            cairn_model::otlp::Format::Protobuf,
            &limits,
        )
        .unwrap();
        let b = cairn_model::otlp::decode_traces(
            &ts_json[0].body,
            cairn_model::otlp::Format::Json,
            &limits,
        )
        .unwrap();
        assert!(a.rejected.is_empty(), "{:?}", a.rejected);
        assert!(b.rejected.is_empty(), "{:?}", b.rejected);
        // The two generators started at different clock readings: compare all but the times.
        let shape = |spans: &[cairn_model::Span]| -> Vec<_> {
            spans
                .iter()
                .map(|s| {
                    (
                        s.trace_id,
                        s.span_id,
                        s.parent_span_id,
                        s.name.clone(),
                        s.attributes.clone(),
                        s.status.clone(),
                        s.end_unix_nano - s.start_unix_nano,
                    )
                })
                .collect()
        };
        assert_eq!(shape(&a.spans), shape(&b.spans));
        assert_eq!(a.spans.len(), 20);
    }

    #[test]
    fn durations_accept_seconds_and_humantime() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
