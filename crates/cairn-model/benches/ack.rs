//! CPU cost per span of the model's part of the ack path, for load-independent measurements.
//!
//! Builds one OTLP/HTTP protobuf request of 512 realistic GenAI spans (shaped like
//! `cairn bench ingest`'s default payload: agent runs, LLM calls with messages, reasoning, tool
//! calls with JSON arguments and results, decisions; about 1 KB of protobuf per span), then runs
//! one phase `CAIRN_ACK_ITERS` times (default 200) and prints the phase's CPU time per span,
//! read from the thread's scheduler statistics (`/proc/thread-self/schedstat`, nanoseconds on
//! CPU, so other processes on the machine do not inflate it):
//!
//! - `decode`: `otlp::decode_traces` (prost decode, validation, conversion to the model);
//! - `encode`: `codec::encode_span` of every decoded span (the canonical ledger entry);
//! - `entry`: `codec::decode` of every canonical entry (what the indexer's reader does for each
//!   ledger entry; not part of `both`);
//! - `both` (default): `decode` and `encode`, reported separately.
//!
//! ```sh
//! cargo bench -p cairn-model --bench ack --no-run
//! target/release/deps/ack-<hash> encode
//! valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*encode_span*' \
//!     target/release/deps/ack-<hash> encode     # CAIRN_ACK_ITERS=2 is plenty under valgrind
//! valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*codec*decode*' \
//!     target/release/deps/ack-<hash> entry
//! ```

use std::hint::black_box;

use cairn_model::otlp::{self, Format, Limits};
use cairn_model::{AnyValue, KeyValue, Span, SpanId, SpanKind, Status, StatusCode, TraceId, codec};
use prost::Message as _;

const SPANS: usize = 512;

const WORDS: &[&str] = &[
    "the",
    "agent",
    "searched",
    "for",
    "recent",
    "papers",
    "about",
    "retrieval",
    "augmented",
    "generation",
    "and",
    "summarized",
    "their",
    "findings",
    "into",
    "a",
    "short",
    "report",
    "with",
    "citations",
    "latency",
    "budget",
    "query",
    "planner",
    "vector",
    "store",
    "schema",
    "index",
    "cluster",
    "replica",
    "benchmark",
    "throughput",
];
const TOOLS: &[&str] = &[
    "web_search",
    "sql_query",
    "read_file",
    "http_get",
    "calculator",
];
const MODELS: &[&str] = &["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-pro"];

/// A small deterministic generator (splitmix64), so runs of old and new code see equal input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn s(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue::new(key, AnyValue::String(value.into()))
}

fn realistic_spans() -> Vec<Span> {
    let mut rng = Rng(42);
    let mut spans = Vec::with_capacity(SPANS);
    let mut trace_id = [0_u8; 16];
    let mut root = [0_u8; 8];
    let mut agent = "researcher";
    for n in 0..SPANS {
        let index = n % 20;
        if index == 0 {
            trace_id[..8].copy_from_slice(&rng.next().to_be_bytes());
            trace_id[8..].copy_from_slice(&rng.next().to_be_bytes());
            agent = rng.pick(&["researcher", "planner", "coder", "reviewer"]);
        }
        let span_id = (n as u64 + 1).to_be_bytes();
        if index == 0 {
            root = span_id;
        }
        let start = 1_765_000_000_000_000_000 + index as u64 * 1_000_000;
        let mut span = Span {
            trace_id: TraceId(trace_id),
            span_id: SpanId(span_id),
            parent_span_id: (index != 0).then_some(SpanId(root)),
            span_kind: SpanKind::Internal,
            start_unix_nano: start,
            end_unix_nano: start + 1_000_000 * (1 + rng.below(2000)),
            ..Span::default()
        };
        if index == 0 {
            span.name = format!("invoke_agent {agent}");
            span.span_kind = SpanKind::Server;
            span.attributes = vec![
                s("gen_ai.operation.name", "invoke_agent"),
                s("gen_ai.agent.name", agent),
                s("gen_ai.agent.id", format!("agent-{}", rng.below(50))),
                s(
                    "gen_ai.conversation.id",
                    format!("conv-{:08x}", rng.next() as u32),
                ),
                s("user.id", format!("user-{}", rng.below(1000))),
                s("gen_ai.agent.description", rng.sentence(12)),
            ];
        } else {
            match rng.below(10) {
                0..=2 => {
                    let model = rng.pick(MODELS);
                    span.name = format!("chat {model}");
                    span.span_kind = SpanKind::Client;
                    let input = format!(
                        r#"[{{"role":"system","parts":[{{"type":"text","content":"{}"}}]}},{{"role":"user","parts":[{{"type":"text","content":"{}"}}]}}]"#,
                        rng.sentence(20),
                        rng.sentence(40)
                    );
                    let output = format!(
                        r#"[{{"role":"assistant","finish_reason":"stop","parts":[{{"type":"text","content":"{}"}}]}}]"#,
                        rng.sentence(50)
                    );
                    span.attributes = vec![
                        s("gen_ai.operation.name", "chat"),
                        s("gen_ai.provider.name", "openai"),
                        s("gen_ai.request.model", model),
                        s("gen_ai.response.model", model),
                        s("gen_ai.response.id", format!("resp-{:016x}", rng.next())),
                        KeyValue::new("gen_ai.request.temperature", AnyValue::Double(0.2)),
                        KeyValue::new("gen_ai.request.max_tokens", AnyValue::Int(4096)),
                        KeyValue::new(
                            "gen_ai.usage.input_tokens",
                            AnyValue::Int(200 + rng.below(7800) as i64),
                        ),
                        KeyValue::new(
                            "gen_ai.usage.output_tokens",
                            AnyValue::Int(20 + rng.below(1480) as i64),
                        ),
                        KeyValue::new(
                            "gen_ai.response.finish_reasons",
                            AnyValue::Array(vec![AnyValue::String("stop".to_owned())]),
                        ),
                        s("gen_ai.input.messages", input),
                        s("gen_ai.output.messages", output),
                        s("gen_ai.agent.name", agent),
                    ];
                }
                3..=4 => {
                    span.name = "reasoning".to_owned();
                    span.attributes = vec![
                        s("cairn.kind", "reasoning"),
                        KeyValue::new("cairn.reasoning.step", AnyValue::Int(index as i64)),
                        s("cairn.reasoning.content", rng.sentence(60)),
                        s("gen_ai.agent.name", agent),
                    ];
                }
                5..=8 => {
                    let tool = rng.pick(TOOLS);
                    span.name = format!("execute_tool {tool}");
                    let args = format!(
                        r#"{{"query":"{}","limit":{}}}"#,
                        rng.sentence(8),
                        1 + rng.below(99)
                    );
                    let result = format!(
                        r#"{{"rows":{},"text":"{}"}}"#,
                        rng.below(500),
                        rng.sentence(40)
                    );
                    span.attributes = vec![
                        s("gen_ai.operation.name", "execute_tool"),
                        s("gen_ai.tool.name", tool),
                        s("gen_ai.tool.type", "function"),
                        s(
                            "gen_ai.tool.call.id",
                            format!("call_{:012x}", rng.next() >> 16),
                        ),
                        s("gen_ai.tool.call.arguments", args),
                        s("gen_ai.tool.call.result", result),
                        s("gen_ai.agent.name", agent),
                    ];
                    if rng.below(20) == 0 {
                        span.status = Status {
                            code: StatusCode::Error,
                            message: format!("tool {tool} failed: {}", rng.sentence(6)),
                        };
                        span.attributes.push(s("error.type", "timeout"));
                    }
                }
                _ => {
                    span.name = "decision route".to_owned();
                    span.attributes = vec![
                        s("cairn.kind", "decision"),
                        s("cairn.decision.name", "route"),
                        s("cairn.decision.options", r#"["answer","escalate","retry"]"#),
                        s("cairn.decision.chosen", "answer"),
                        KeyValue::new(
                            "cairn.decision.confidence",
                            AnyValue::Double(0.5 + rng.below(1000) as f64 / 2000.0),
                        ),
                        s("cairn.decision.rationale", rng.sentence(25)),
                        s("gen_ai.agent.name", agent),
                    ];
                }
            }
        }
        span.resource.attributes = vec![
            s("service.name", "cairn-bench-agent"),
            s("service.version", "0.1.0"),
        ];
        span.scope.name = "cairn-bench".to_owned();
        span.scope.version = "0.1.0".to_owned();
        spans.push(span);
    }
    spans
}

/// Nanoseconds this thread has spent on a CPU (first field of its schedstat).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let phase = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "both".to_owned());
    let iterations: u64 = std::env::var("CAIRN_ACK_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let body = otlp::spans_to_request(&realistic_spans()).encode_to_vec();
    let limits = Limits::default();
    let decoded = otlp::decode_traces(&body, Format::Protobuf, &limits).expect("valid request");
    assert_eq!(decoded.spans.len(), SPANS, "{:?}", decoded.rejected.first());
    let entry_bytes: usize = decoded
        .spans
        .iter()
        .map(|s| codec::encode_span(s).len())
        .sum();
    println!(
        "{SPANS} spans, request {} bytes ({} per span), ledger entries {} bytes per span",
        body.len(),
        body.len() / SPANS,
        entry_bytes / SPANS
    );
    let per_span = |ns: u64| ns as f64 / (iterations * SPANS as u64) as f64;
    if phase == "decode" || phase == "both" {
        let before = thread_cpu_ns();
        for _ in 0..iterations {
            black_box(otlp::decode_traces(black_box(&body), Format::Protobuf, &limits).ok());
        }
        println!(
            "decode+validate: {:.0} ns CPU per span",
            per_span(thread_cpu_ns() - before)
        );
    }
    if phase == "encode" || phase == "both" {
        let before = thread_cpu_ns();
        for _ in 0..iterations {
            for span in &decoded.spans {
                black_box(codec::encode_span(black_box(span)));
            }
        }
        println!(
            "canonical encode: {:.0} ns CPU per span",
            per_span(thread_cpu_ns() - before)
        );
    }
    if phase == "entry" {
        let entries: Vec<Vec<u8>> = decoded.spans.iter().map(codec::encode_span).collect();
        for (entry, span) in entries.iter().zip(&decoded.spans) {
            let decoded = codec::decode(entry).expect("own entry decodes");
            assert!(matches!(&decoded, cairn_model::Record::Span(s) if s == span));
        }
        let before = thread_cpu_ns();
        for _ in 0..iterations {
            for entry in &entries {
                black_box(codec::decode(black_box(entry)).ok());
            }
        }
        println!(
            "canonical decode: {:.0} ns CPU per span",
            per_span(thread_cpu_ns() - before)
        );
    }
}
