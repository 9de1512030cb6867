//! Ledgers filled with spans (and a few log records) to export.

use std::path::Path;

use cairn_ledger::{FsyncPolicy, Ledger, LedgerOptions};
use cairn_model::{KeyValue, LogRecord, Record, Span, SpanId, Status, StatusCode, TraceId};

pub(crate) const ORIGIN: &str = "cairn/export-test";

pub(crate) fn options() -> LedgerOptions {
    LedgerOptions {
        origin: Some(ORIGIN.to_owned()),
        fsync: FsyncPolicy::BeforeCheckpoint,
        ..LedgerOptions::default()
    }
}

pub(crate) fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, options()).expect("open ledger")
}

/// The span stored at ledger index `i`; `poison` spans are the ones the test destinations
/// reject permanently.
pub(crate) fn span(i: u64, poison: bool) -> Span {
    let mut trace = [0_u8; 16];
    trace[..8].copy_from_slice(&(i / 10 + 1).to_be_bytes());
    let mut span = Span {
        trace_id: TraceId(trace),
        span_id: SpanId((i + 1).to_be_bytes()),
        parent_span_id: (i % 10 != 0).then(|| SpanId((i / 10 * 10 + 1).to_be_bytes())),
        name: if poison {
            format!("poison {i}")
        } else if i % 3 == 0 {
            "execute_tool web_search".to_owned()
        } else {
            format!("chat gpt-4o {i}")
        },
        start_unix_nano: 1_700_000_000_000_000_000 + i * 1_000_000,
        end_unix_nano: 1_700_000_000_000_000_000 + i * 1_000_000 + 500_000,
        status: Status {
            code: if i % 7 == 0 {
                StatusCode::Error
            } else {
                StatusCode::Unset
            },
            message: String::new(),
        },
        attributes: if i % 3 == 0 {
            vec![
                KeyValue::new("gen_ai.operation.name", "execute_tool"),
                KeyValue::new("gen_ai.tool.name", "web_search"),
                KeyValue::new("gen_ai.tool.call.arguments", "{\"q\":\"rust\"}"),
            ]
        } else {
            vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
                KeyValue::new("gen_ai.usage.input_tokens", i64::try_from(i).unwrap_or(0)),
                KeyValue::new("gen_ai.agent.name", "planner"),
            ]
        },
        ..Span::default()
    };
    span.resource
        .attributes
        .push(KeyValue::new("service.name", "export-test"));
    span.scope.name = "cairn-test".to_owned();
    span.scope.version = "1.0".to_owned();
    span.refresh_agent_kind();
    span
}

pub(crate) fn log(i: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000 + i,
        event_name: "gen_ai.evaluation.result".to_owned(),
        body: cairn_model::AnyValue::String(format!("log {i}")),
        ..LogRecord::default()
    }
}

/// What `fill` put where.
#[derive(Debug, Default, Clone)]
pub(crate) struct Contents {
    pub(crate) spans: Vec<u64>,
    pub(crate) poison: Vec<u64>,
    pub(crate) logs: Vec<u64>,
}

/// Appends `count` records starting at the ledger's current size: every `poison_every`-th is a
/// poison span (0: none), every `log_every`-th a log record (0: none), the rest spans.
pub(crate) fn fill(ledger: &Ledger, count: u64, poison_every: u64, log_every: u64) -> Contents {
    let start = ledger.size();
    let mut contents = Contents::default();
    let mut entries = Vec::new();
    for i in start..start + count {
        let record = if log_every != 0 && i % log_every == log_every - 1 {
            contents.logs.push(i);
            Record::Log(log(i))
        } else if poison_every != 0 && i % poison_every == poison_every - 1 {
            contents.poison.push(i);
            Record::Span(span(i, true))
        } else {
            contents.spans.push(i);
            Record::Span(span(i, false))
        };
        entries.push(cairn_model::codec::encode(&record));
        if entries.len() == 1000 {
            ledger.append(&entries).expect("append");
            entries.clear();
        }
    }
    if !entries.is_empty() {
        ledger.append(&entries).expect("append");
    }
    contents
}
