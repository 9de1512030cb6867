//! Index benchmarks: `apply` throughput for batches of 512 realistic GenAI spans, and `get_trace`
//! for a 10,000-span trace.
//!
//! Run with `cargo bench -p cairn-store --bench index`. `apply/512_realistic_spans` reports wall
//! time; `apply_cpu/512_realistic_spans` reports the CPU time of the applying thread (SQLite runs
//! in the caller's thread, so this is the whole cost of indexing, and it does not depend on other
//! load on the machine).
//!
//! Fixed workload (for `perf record` and `valgrind --tool=callgrind`): with `CAIRN_INDEX_BENCH_SPANS`
//! set, the binary applies that many realistic spans to a fresh store in batches of 512 and prints
//! wall time, thread CPU time and spans per CPU-second, then exits without running criterion:
//!
//! ```text
//! cargo bench -p cairn-store --bench index --no-run     # prints the binary's path
//! CAIRN_INDEX_BENCH_SPANS=10240 target/release/deps/index-<hash>
//! CAIRN_INDEX_BENCH_SPANS=5120 valgrind --tool=callgrind --collect-atstart=no \
//!     '--toggle-collect=*Store*apply*' target/release/deps/index-<hash>
//! ```
//!
//! `CAIRN_INDEX_BENCH_BATCH=4096` applies that many spans per transaction (what `cairn serve`
//! does), `CAIRN_INDEX_BENCH_RANDOM_IDS=1` gives every run a random trace id (as real SDKs do;
//! by default ids are sequential, which keeps every B-tree insert at the right edge), and
//! `CAIRN_INDEX_BENCH_WINDOW=N` prints the rate of every N batches, to show how indexing slows as
//! the store grows:
//!
//! ```text
//! CAIRN_INDEX_BENCH_RANDOM_IDS=1 CAIRN_INDEX_BENCH_BATCH=4096 CAIRN_INDEX_BENCH_WINDOW=32 \
//!     CAIRN_INDEX_BENCH_SPANS=600000 target/release/deps/index-<hash>
//! ```
//!
//! Results and what bounds the index are in the `//!` docs of `src/write.rs` (callgrind:
//! 162 k instructions per span with the write path of commit 9daabff, 121 k now).

use std::cell::Cell;
use std::time::{Duration, Instant};

use cairn_model::{
    AgentKind, AnyValue, KeyValue, Record, Span, SpanId, Status, StatusCode, TraceId,
};
use cairn_store::Store;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};

const BATCH: usize = 512;
const T0: u64 = 1_735_689_600_000_000_000;
const MS: u64 = 1_000_000;

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

fn text(s: impl Into<String>) -> AnyValue {
    AnyValue::String(s.into())
}

/// Whether trace ids are random (`CAIRN_INDEX_BENCH_RANDOM_IDS=1`) instead of sequential. Random
/// ids are what a collector sees from real SDKs; sequential ids keep every B-tree insert at the
/// right edge and hide the cost of a large index.
static RANDOM_TRACE_IDS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// SplitMix64: a fixed, well-mixed 64-bit permutation (for random-looking trace ids).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Span `n` of agent run `run`: runs are invoke_agent -> (chat -> execute_tool) x k -> chat, with
/// message content of a few hundred bytes to a few KB, like real GenAI telemetry.
fn realistic_span(run: u64, n: u64, spans_per_run: u64) -> Span {
    let mut trace = [0u8; 16];
    if RANDOM_TRACE_IDS.load(std::sync::atomic::Ordering::Relaxed) {
        // Real trace ids are random: spread them like a W3C random trace id would be.
        trace[..8].copy_from_slice(&splitmix64(run).to_be_bytes());
        trace[8..].copy_from_slice(&splitmix64(run ^ 0x5ca1_ab1e).to_be_bytes());
    } else {
        trace[..8].copy_from_slice(&run.to_be_bytes());
        trace[8] = 0xca;
    }
    let id = |i: u64| {
        let mut s = [0u8; 8];
        s.copy_from_slice(&(run.wrapping_mul(1_000_003) ^ (i + 1)).to_be_bytes());
        SpanId(s)
    };
    let start = T0 + run * 10_000 * MS + n * 20 * MS;
    let base = Span {
        trace_id: TraceId(trace),
        span_id: id(n),
        parent_span_id: (n > 0).then(|| id(0)),
        start_unix_nano: start,
        end_unix_nano: start + 15 * MS,
        resource: cairn_model::Resource {
            attributes: vec![kv("service.name", text("support-bot"))],
            ..Default::default()
        },
        ..Span::default()
    };
    let agent = format!("agent-{}", run % 5);
    if n == 0 {
        return Span {
            name: format!("invoke_agent {agent}"),
            agent_kind: AgentKind::Agent,
            end_unix_nano: start + spans_per_run * 20 * MS,
            attributes: vec![
                kv("gen_ai.operation.name", text("invoke_agent")),
                kv("gen_ai.agent.name", text(agent)),
                kv("gen_ai.conversation.id", text(format!("conv-{}", run % 97))),
                kv("gen_ai.provider.name", text("openai")),
            ],
            ..base
        };
    }
    if n % 2 == 1 {
        let question = format!(
            "Customer {run} asks about order {n}: the parcel was due on Monday but tracking has \
             not updated since it left the depot. Can you check the carrier status and, if it is \
             lost, start a replacement? Previous context: {}",
            "the customer has been polite and has a premium account. ".repeat(6)
        );
        let answer = format!(
            "I will look up the tracking for order {n} with the carrier tool, then decide. {}",
            "Checking status, weighing refund against replacement. ".repeat(4)
        );
        return Span {
            name: "chat gpt-4o".into(),
            agent_kind: AgentKind::Llm,
            attributes: vec![
                kv("gen_ai.operation.name", text("chat")),
                kv("gen_ai.provider.name", text("openai")),
                kv("gen_ai.request.model", text("gpt-4o")),
                kv("gen_ai.response.model", text("gpt-4o-2024-08-06")),
                kv("gen_ai.request.temperature", AnyValue::Double(0.2)),
                kv("gen_ai.usage.input_tokens", AnyValue::Int(812)),
                kv("gen_ai.usage.output_tokens", AnyValue::Int(97)),
                kv(
                    "gen_ai.input.messages",
                    text(
                        serde_json::json!([
                            {"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
                            {"role": "user", "parts": [{"type": "text", "content": question}]}
                        ])
                        .to_string(),
                    ),
                ),
                kv(
                    "gen_ai.output.messages",
                    text(
                        serde_json::json!([{"role": "assistant", "parts": [
                            {"type": "reasoning", "content": "tracking stale for 3 days"},
                            {"type": "text", "content": answer},
                            {"type": "tool_call", "id": format!("call_{n}"), "name": "track_parcel",
                             "arguments": {"order_id": n, "carrier": "dhl"}}
                        ], "finish_reason": "tool_call"}])
                        .to_string(),
                    ),
                ),
            ],
            ..base
        };
    }
    let failed = n % 10 == 0;
    Span {
        name: "execute_tool track_parcel".into(),
        agent_kind: AgentKind::Tool,
        status: if failed {
            Status {
                code: StatusCode::Error,
                message: "carrier api returned 503".into(),
            }
        } else {
            Status::default()
        },
        attributes: vec![
            kv("gen_ai.operation.name", text("execute_tool")),
            kv("gen_ai.tool.name", text("track_parcel")),
            kv("gen_ai.tool.call.id", text(format!("call_{}", n - 1))),
            kv(
                "gen_ai.tool.call.arguments",
                text(format!(r#"{{"order_id":{n},"carrier":"dhl"}}"#)),
            ),
            kv(
                "gen_ai.tool.call.result",
                text(format!(
                    r#"{{"status":"in_transit","last_scan":"Leipzig hub","eta_days":{}}}"#,
                    n % 4
                )),
            ),
        ],
        ..base
    }
}

/// CPU time consumed by the calling thread so far (`/proc/thread-self/schedstat`, Linux), or
/// `None` where that is not available.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Batch `b` (0-based) of the apply workload: ledger indices `b*512..`, runs of `spans_per_run`.
fn apply_batch(b: u64, spans_per_run: u64) -> Vec<(u64, Record)> {
    sized_batch(b, BATCH as u64, spans_per_run)
}

/// Batch `b` (0-based) of `size` spans: ledger indices `b*size..`, runs of `spans_per_run`.
fn sized_batch(b: u64, size: u64, spans_per_run: u64) -> Vec<(u64, Record)> {
    let first = b * size;
    (first..first + size)
        .map(|i| {
            let span = realistic_span(i / spans_per_run, i % spans_per_run, spans_per_run);
            (i, Record::Span(span))
        })
        .collect()
}

/// The fixed workload: `spans` realistic spans (rounded up to whole batches) into a fresh store.
fn fixed_workload(spans: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("index.db")).expect("open");
    // `cairn serve` applies up to `pipeline.index_batch_entries` (4096) entries per transaction.
    let size = std::env::var("CAIRN_INDEX_BENCH_BATCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(BATCH as u64)
        .max(1);
    let batches = spans.div_ceil(size);
    let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
    // Every `window` batches, print the rate of that window: how indexing slows as the store grows.
    let window = std::env::var("CAIRN_INDEX_BENCH_WINDOW")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(u64::MAX)
        .max(1);
    let (mut window_wall, mut window_cpu) = (Duration::ZERO, Duration::ZERO);
    for b in 0..batches {
        let batch = sized_batch(b, size, 16);
        let cursor = batch.last().map_or(0, |(i, _)| i + 1);
        let (w0, c0) = (Instant::now(), thread_cpu());
        store.apply(&batch, cursor).expect("apply");
        let w = w0.elapsed();
        let c = match (c0, thread_cpu()) {
            (Some(c0), Some(c1)) => c1 - c0,
            _ => Duration::ZERO,
        };
        wall += w;
        cpu += c;
        window_wall += w;
        window_cpu += c;
        if (b + 1) % window == 0 {
            let n = window * size;
            #[allow(clippy::cast_precision_loss)]
            let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
            println!(
                "  after {:>9} spans: window {:.0} spans/s wall, {:.0} spans per cpu-second",
                (b + 1) * size,
                rate(window_wall),
                rate(window_cpu),
            );
            (window_wall, window_cpu) = (Duration::ZERO, Duration::ZERO);
        }
    }
    let n = batches * size;
    #[allow(clippy::cast_precision_loss)]
    let per_s = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "apply {n} spans in batches of {size}: wall {:.3} s ({:.0} spans/s), thread cpu {:.3} s \
         ({:.0} spans per cpu-second, {:.2} us cpu/span)",
        wall.as_secs_f64(),
        per_s(wall),
        cpu.as_secs_f64(),
        per_s(cpu),
        cpu.as_secs_f64() * 1e6 / n.max(1) as f64,
    );
}

/// The batch numbered by `next`, which then moves on: consecutive batches continue where the
/// last one stopped.
fn take_batch(next: &Cell<u64>, spans_per_run: u64) -> Vec<(u64, Record)> {
    let b = next.get();
    next.set(b + 1);
    apply_batch(b, spans_per_run)
}

fn bench_apply(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("index.db")).expect("open");
    // Runs of 16 spans; consecutive batches continue where the last one stopped.
    let spans_per_run = 16;
    let next = Cell::new(0u64);
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("512_realistic_spans", |b| {
        b.iter_batched(
            || take_batch(&next, spans_per_run),
            |batch| {
                let cursor = batch.last().map_or(0, |(i, _)| i + 1);
                store.apply(&batch, cursor).expect("apply");
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();

    if thread_cpu().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("index.db")).expect("open");
    let next = Cell::new(0u64);
    let mut group = c.benchmark_group("apply_cpu");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("512_realistic_spans", |b| {
        b.iter_custom(|iters| {
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                let batch = take_batch(&next, spans_per_run);
                let cursor = batch.last().map_or(0, |(i, _)| i + 1);
                let c0 = thread_cpu().unwrap_or_default();
                store.apply(&batch, cursor).expect("apply");
                cpu += thread_cpu().unwrap_or_default().saturating_sub(c0);
            }
            cpu
        });
    });
    group.finish();
}

/// What the collector's reader thread does for the index before the writers get a batch: facts,
/// JSON text and search text of 512 realistic spans (`Store::prepare`, no database).
fn bench_prepare(c: &mut Criterion) {
    let next = Cell::new(0u64);
    let mut group = c.benchmark_group("prepare");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("512_realistic_spans", |b| {
        b.iter_batched(
            || take_batch(&next, 16),
            Store::prepare,
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn bench_get_trace(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("index.db")).expect("open");
    let spans_per_run = 10_000;
    let mut cursor = 0u64;
    let mut content = std::collections::BTreeMap::new();
    for chunk in (0..spans_per_run).collect::<Vec<_>>().chunks(BATCH) {
        let batch: Vec<(u64, Record)> = chunk
            .iter()
            .map(|&n| {
                let index = cursor + n - chunk[0];
                (index, Record::Span(realistic_span(7, n, spans_per_run)))
            })
            .collect();
        cursor += chunk.len() as u64;
        store.apply(&batch, cursor).expect("apply");
        content.extend(batch);
    }
    let trace_id = realistic_span(7, 0, spans_per_run).trace_id;
    let reader = store.reader().expect("reader");
    let mut group = c.benchmark_group("get_trace");
    group.sample_size(20);
    group.throughput(Throughput::Elements(spans_per_run));
    group.bench_function("10000_spans", |b| {
        b.iter(|| {
            let detail = reader
                .get_trace(None, &trace_id, &content)
                .expect("get")
                .expect("exists");
            assert_eq!(detail.spans.len(), 10_000);
            detail
        });
    });
    group.finish();
}

criterion_group!(benches, bench_apply, bench_prepare, bench_get_trace);

fn main() {
    if std::env::var("CAIRN_INDEX_BENCH_RANDOM_IDS").is_ok_and(|v| v == "1") {
        RANDOM_TRACE_IDS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(spans) = std::env::var("CAIRN_INDEX_BENCH_SPANS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        fixed_workload(spans);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
