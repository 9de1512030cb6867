//! Trace fetch: where the time of `GET /api/v1/traces/{id}` goes in the store, for one realistic
//! 10,000-span trace (GenAI runs with message content, some span events, log records attached to
//! spans and beside them).
//!
//! The spans' content comes from a real ledger (written here, read with
//! `Ledger::read_range_with` and decoded, as the collector's `LedgerContent` does without a
//! keystore), or, for the `(memory)` cases, from the records already in memory, which isolates
//! the rendering.
//!
//! Cases, each timed as wall clock and as this thread's CPU time (`/proc/thread-self/schedstat`,
//! load-independent), median of `FETCH_ITERS` runs (default 15):
//! - `sql`: the spans query alone, every column touched, nothing decoded;
//! - `ledger read`: reading and decoding the trace's ledger entries alone;
//! - `get_trace`: the typed [`Reader::get_trace`];
//! - `to_vec`: `serde_json::to_vec` of that [`cairn_store::TraceDetail`];
//! - `get_trace+to_vec`: both;
//! - `get_trace_json`: [`Reader::get_trace_json`], the API path (checked to produce the same
//!   bytes as `get_trace+to_vec` before timing).
//!
//! Run with `cargo bench -p cairn-store --bench fetch`.

use std::time::{Duration, Instant};

use cairn_ledger::{Ledger, LedgerOptions};
use cairn_model::{
    AgentKind, AnyValue, Event, KeyValue, LogRecord, Record, Span, SpanId, Status, StatusCode,
    TraceId,
};
use cairn_store::{Content, ContentSource, Reader, Store, StoreError};

const SPANS: u64 = 10_000;
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

fn span_id(n: u64) -> SpanId {
    SpanId((n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a).to_be_bytes())
}

const TRACE: TraceId = TraceId([0xca; 16]);

/// Span `n`: an agent root, then alternating LLM calls (about 1.5 KB of messages) and tool calls
/// (JSON arguments and results); every 50th tool call fails with an `exception` event.
fn span(n: u64) -> Span {
    let start = T0 + n * 20 * MS;
    let base = Span {
        trace_id: TRACE,
        span_id: span_id(n),
        parent_span_id: (n > 0).then(|| span_id(0)),
        start_unix_nano: start,
        end_unix_nano: start + 15 * MS,
        resource: cairn_model::Resource {
            attributes: vec![kv("service.name", text("support-bot"))],
            ..Default::default()
        },
        ..Span::default()
    };
    if n == 0 {
        return Span {
            name: "invoke_agent planner".into(),
            agent_kind: AgentKind::Agent,
            end_unix_nano: start + SPANS * 20 * MS,
            attributes: vec![
                kv("gen_ai.operation.name", text("invoke_agent")),
                kv("gen_ai.agent.name", text("planner")),
                kv("gen_ai.conversation.id", text("conv-7")),
            ],
            ..base
        };
    }
    if n % 2 == 1 {
        let question = format!(
            "Customer asks about order {n}: the parcel was due on Monday but tracking has not \
             updated since it left the depot. Can you check the carrier \"status\"? {}",
            "The customer has a premium account.\n".repeat(8)
        );
        let messages = serde_json::json!([
            {"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
            {"role": "user", "parts": [{"type": "text", "content": question}]}
        ]);
        let output = serde_json::json!([{"role": "assistant", "parts": [
            {"type": "reasoning", "content": "tracking stale for 3 days; café ☕ unicode"},
            {"type": "text", "content": "Checking status, weighing refund against replacement. ".repeat(4)},
            {"type": "tool_call", "id": format!("call_{n}"), "name": "track_parcel",
             "arguments": {"order_id": n, "carrier": "dhl"}}
        ], "finish_reason": "tool_call"}]);
        return Span {
            name: "chat gpt-4o".into(),
            agent_kind: AgentKind::Llm,
            attributes: vec![
                kv("gen_ai.operation.name", text("chat")),
                kv("gen_ai.request.model", text("gpt-4o")),
                kv("gen_ai.request.temperature", AnyValue::Double(0.2)),
                kv("gen_ai.usage.input_tokens", AnyValue::Int(812)),
                kv("gen_ai.usage.output_tokens", AnyValue::Int(97)),
                kv("gen_ai.input.messages", text(messages.to_string())),
                kv("gen_ai.output.messages", text(output.to_string())),
            ],
            ..base
        };
    }
    let failed = n % 100 == 0;
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
        events: if failed {
            vec![Event {
                time_unix_nano: start + 5 * MS,
                name: "exception".into(),
                attributes: vec![
                    kv("exception.type", text("HttpError")),
                    kv("exception.message", text("503 Service Unavailable")),
                ],
                dropped_attributes_count: 0,
            }]
        } else {
            Vec::new()
        },
        attributes: vec![
            kv("gen_ai.operation.name", text("execute_tool")),
            kv("gen_ai.tool.name", text("track_parcel")),
            kv(
                "gen_ai.tool.call.arguments",
                text(format!(r#"{{"order_id":{n},"carrier":"dhl"}}"#)),
            ),
            kv(
                "gen_ai.tool.call.result",
                text(format!(r#"{{"status":"in_transit","eta_days":{}}}"#, n % 4)),
            ),
        ],
        ..base
    }
}

/// An evaluation log record on span `n` (or on no span).
fn log(n: Option<u64>, time: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: 9,
        severity_text: "INFO".into(),
        event_name: "gen_ai.evaluation.result".into(),
        body: text("relevance judged by the grader"),
        attributes: vec![kv("gen_ai.evaluation.score.value", AnyValue::Double(0.75))],
        trace_id: Some(TRACE),
        span_id: n.map(span_id),
        ..LogRecord::default()
    }
}

fn records() -> Vec<Record> {
    let mut records: Vec<Record> = (0..SPANS).map(|n| Record::Span(span(n))).collect();
    // One evaluation per 100 LLM calls, and two records beside the spans.
    for n in (1..SPANS).step_by(200) {
        records.push(Record::Log(log(Some(n), T0 + n * 20 * MS + 16 * MS)));
    }
    records.push(Record::Log(log(None, T0)));
    records.push(Record::Log(log(Some(SPANS + 1), T0 + 1)));
    records
}

fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The trace's records from the ledger: one read over the range its entries occupy (a trace
/// written alone is one run; the collector groups scattered entries into runs).
struct LedgerSource<'a>(&'a Ledger);

impl ContentSource for LedgerSource<'_> {
    fn load(&self, indices: &[u64], visit: &mut dyn FnMut(u64, Content)) -> Result<(), StoreError> {
        let (Some(&first), Some(&last)) = (indices.first(), indices.last()) else {
            return Ok(());
        };
        let mut buf = Vec::new();
        let mut next = 0;
        self.0
            .read_range_with(
                first,
                (last - first + 1) as usize,
                &mut buf,
                |index, bytes| {
                    if indices.get(next) == Some(&index) {
                        next += 1;
                        let record = cairn_model::codec::decode(bytes).expect("decode");
                        visit(index, Content::Record(record));
                    }
                },
            )
            .map_err(|e| StoreError::Content(e.to_string()))?;
        Ok(())
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(name: &str, iters: usize, mut f: impl FnMut() -> usize) {
    let bytes = f(); // warm-up
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..iters {
        let (w, c) = (Instant::now(), thread_cpu());
        std::hint::black_box(f());
        cpu.push(thread_cpu().saturating_sub(c));
        wall.push(w.elapsed());
    }
    println!(
        "{name:<18} wall {:>8.2} ms   cpu {:>8.2} ms   ({bytes} bytes)",
        median(wall).as_secs_f64() * 1e3,
        median(cpu).as_secs_f64() * 1e3,
    );
}

fn sql(reader_db: &rusqlite::Connection, order: bool) -> usize {
    let sql = format!(
        "SELECT ledger_index, span_id, parent_span_id, name, kind, start_ns, end_ns, \
         status_code, status_message FROM spans WHERE trace_no IN \
         (SELECT trace_no FROM traces WHERE trace_id = ?1 AND (?2 IS NULL OR project = ?2)){}",
        if order {
            " ORDER BY start_ns, ledger_index"
        } else {
            ""
        }
    );
    let mut stmt = reader_db.prepare_cached(&sql).expect("prepare");
    let mut rows = stmt
        .query(rusqlite::params![&TRACE.0[..], None::<String>])
        .expect("query");
    let mut total = 0;
    while let Some(row) = rows.next().expect("row") {
        for i in 0..9 {
            total += match row.get_ref(i).expect("column") {
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => t.len(),
                _ => 8,
            };
        }
    }
    total
}

fn main() {
    let iters = std::env::var("FETCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.db");
    let mut store = Store::open(&path).expect("open");
    let ledger =
        Ledger::open(&dir.path().join("ledger"), LedgerOptions::default()).expect("ledger");
    let records = records();
    let mut next = 0u64;
    for chunk in records.chunks(BATCH) {
        let encoded: Vec<Vec<u8>> = chunk.iter().map(cairn_model::codec::encode).collect();
        ledger.append(&encoded).expect("append");
        let batch: Vec<(u64, Record)> = chunk
            .iter()
            .map(|r| {
                next += 1;
                (next - 1, r.clone())
            })
            .collect();
        store.apply(&batch, next).expect("apply");
    }
    let reader: Reader = store.reader().expect("reader");
    let source = LedgerSource(&ledger);
    let memory: std::collections::BTreeMap<u64, Record> = records
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, r)| (i as u64, r))
        .collect();
    let get = |content: &dyn ContentSource| {
        reader
            .get_trace(None, &TRACE, content)
            .expect("get")
            .expect("trace")
    };
    let get_json = |content: &dyn ContentSource| {
        reader
            .get_trace_json(None, &TRACE, content)
            .expect("get")
            .expect("trace")
    };
    let old = serde_json::to_vec(&get(&source)).expect("render");
    let new = get_json(&source);
    assert!(old == new, "get_trace_json differs from the old rendering");
    let raw =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open raw");

    println!(
        "one trace of {SPANS} spans, {} bytes of JSON; median of {iters}",
        new.len()
    );
    time("sql (ordered)", iters, || sql(&raw, true));
    time("sql (unordered)", iters, || sql(&raw, false));
    let all: Vec<u64> = (0..records.len() as u64).collect();
    time("ledger read", iters, || {
        let mut n = 0;
        source.load(&all, &mut |_, _| n += 1).expect("load");
        n
    });
    time("get_trace", iters, || get(&source).spans.len());
    let detail = get(&source);
    time("to_vec", iters, || {
        serde_json::to_vec(&detail).expect("render").len()
    });
    time("get_trace+to_vec", iters, || {
        serde_json::to_vec(&get(&source)).expect("render").len()
    });
    time("get_trace_json", iters, || get_json(&source).len());
    time("get_trace_json (memory)", iters, || get_json(&memory).len());
}
