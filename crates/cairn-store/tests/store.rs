//! Integration tests of the index: realistic GenAI agent runs applied in batches, out of order and
//! replayed, then every query filter, pagination, full-text search, stats, persistence and reset.

use std::collections::{BTreeMap, BTreeSet};

use cairn_model::{
    AgentKind, AnyValue, Event, KeyValue, LogRecord, Record, Span, SpanId, Status, StatusCode,
    TraceId,
};
use cairn_store::{GroupBy, StatsQuery, Store, StoreError, TraceQuery, TraceStatus, TraceSummary};
use serde_json::json;

const MS: u64 = 1_000_000;
/// 2025-01-01T00:00:00Z.
const T0: u64 = 1_735_689_600_000_000_000;

fn kv(key: &str, value: impl Into<Val>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into().0,
    }
}

/// Shorthand conversions into `AnyValue`.
struct Val(AnyValue);

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val(AnyValue::String(s.to_owned()))
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val(AnyValue::String(s))
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val(AnyValue::Int(i))
    }
}

fn trace_id(n: u32) -> TraceId {
    let mut id = [0xab; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    TraceId(id)
}

fn span_id(trace: u32, n: u32) -> SpanId {
    let mut id = [0; 8];
    id[..4].copy_from_slice(&trace.to_be_bytes());
    id[4..].copy_from_slice(&(n + 1).to_be_bytes());
    SpanId(id)
}

struct SpanSpec<'a> {
    trace: u32,
    id: u32,
    parent: Option<u32>,
    name: &'a str,
    kind: AgentKind,
    start: u64,
    end: u64,
    attributes: Vec<KeyValue>,
}

fn span(spec: SpanSpec<'_>) -> Span {
    Span {
        trace_id: trace_id(spec.trace),
        span_id: span_id(spec.trace, spec.id),
        parent_span_id: spec.parent.map(|p| span_id(spec.trace, p)),
        name: spec.name.to_owned(),
        agent_kind: spec.kind,
        start_unix_nano: spec.start,
        end_unix_nano: spec.end,
        attributes: spec.attributes,
        ..Span::default()
    }
}

/// Options of one generated agent run.
#[derive(Clone)]
struct Run<'a> {
    trace: u32,
    start: u64,
    agent: &'a str,
    tool: &'a str,
    model: &'a str,
    conversation: &'a str,
    city: &'a str,
    tool_fails: bool,
    /// Scales every duration (1 = a one-second run).
    stretch: u64,
}

impl Default for Run<'_> {
    fn default() -> Self {
        Run {
            trace: 1,
            start: T0,
            agent: "weather-agent",
            tool: "get_weather",
            model: "gpt-4o",
            conversation: "conv-1",
            city: "Paris",
            tool_fails: false,
            stretch: 1,
        }
    }
}

/// A GenAI agent run: invoke_agent -> chat -> execute_tool -> chat.
fn agent_run(run: &Run<'_>) -> Vec<Span> {
    let at = |ms: u64| run.start + ms * MS * run.stretch;
    let question = format!("What is the weather in {}?", run.city);
    let root = span(SpanSpec {
        trace: run.trace,
        id: 0,
        parent: None,
        name: &format!("invoke_agent {}", run.agent),
        kind: AgentKind::Agent,
        start: at(0),
        end: at(1000),
        attributes: vec![
            kv("gen_ai.operation.name", "invoke_agent"),
            kv("gen_ai.agent.name", run.agent),
            kv("gen_ai.conversation.id", run.conversation),
        ],
    });
    let chat1 = span(SpanSpec {
        trace: run.trace,
        id: 1,
        parent: Some(0),
        name: &format!("chat {}", run.model),
        kind: AgentKind::Llm,
        start: at(10),
        end: at(300),
        attributes: vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", run.model),
            kv("gen_ai.usage.input_tokens", 100),
            kv("gen_ai.usage.output_tokens", 20),
            kv(
                "gen_ai.input.messages",
                json!([{"role": "user", "parts": [{"type": "text", "content": question}]}])
                    .to_string(),
            ),
            kv(
                "cairn.reasoning.content",
                "the user wants a forecast so I should call the weather tool",
            ),
        ],
    });
    let mut tool = span(SpanSpec {
        trace: run.trace,
        id: 2,
        parent: Some(0),
        name: &format!("execute_tool {}", run.tool),
        kind: AgentKind::Tool,
        start: at(310),
        end: at(600),
        attributes: vec![
            kv("gen_ai.operation.name", "execute_tool"),
            kv("gen_ai.tool.name", run.tool),
            kv("gen_ai.tool.call.id", "call_1"),
            kv(
                "gen_ai.tool.call.arguments",
                json!({"city": run.city}).to_string(),
            ),
            kv(
                "gen_ai.tool.call.result",
                json!({"temp_c": 21, "sky": "sunny"}).to_string(),
            ),
        ],
    });
    if run.tool_fails {
        tool.status = Status {
            code: StatusCode::Error,
            message: "weather service timed out".into(),
        };
        tool.events.push(Event {
            time_unix_nano: at(599),
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", "TimeoutError"),
                kv("exception.message", "upstream deadline exceeded"),
            ],
            dropped_attributes_count: 0,
        });
    }
    let chat2 = span(SpanSpec {
        trace: run.trace,
        id: 3,
        parent: Some(0),
        name: &format!("chat {}", run.model),
        kind: AgentKind::Llm,
        start: at(610),
        end: at(990),
        attributes: vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", run.model),
            kv("gen_ai.usage.input_tokens", 150),
            kv("gen_ai.usage.output_tokens", 40),
            kv(
                "gen_ai.output.messages",
                json!([{"role": "assistant", "parts": [
                    {"type": "text", "content": format!("It is sunny in {}", run.city)}
                ]}])
                .to_string(),
            ),
        ],
    });
    vec![root, chat1, tool, chat2]
}

/// Numbers records with consecutive ledger indexes starting at `first`.
fn entries(first: u64, records: impl IntoIterator<Item = Record>) -> Vec<(u64, Record)> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| (first + i as u64, r))
        .collect()
}

fn spans(s: Vec<Span>) -> Vec<Record> {
    s.into_iter().map(Record::Span).collect()
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("index.db")).expect("open");
    (dir, store)
}

/// Applies every run as one batch each, ledger indexes from 0; returns the next cursor.
/// What the ledger holds of `entries`: the source of the spans' content when a trace is fetched.
fn ledger(entries: &[(u64, Record)]) -> BTreeMap<u64, Record> {
    entries.iter().cloned().collect()
}

fn apply_runs(store: &mut Store, runs: &[Run<'_>]) -> u64 {
    let mut next = store.cursor().expect("cursor");
    for run in runs {
        let batch = entries(next, spans(agent_run(run)));
        next += batch.len() as u64;
        store.apply(&batch, next).expect("apply");
    }
    next
}

fn list(store: &Store, query: TraceQuery) -> Vec<TraceSummary> {
    store
        .reader()
        .expect("reader")
        .list_traces(None, &query)
        .expect("list")
        .traces
}

fn ids_of(traces: &[TraceSummary]) -> BTreeSet<TraceId> {
    traces.iter().map(|t| t.trace_id).collect()
}

#[test]
fn agent_run_applied_out_of_order_in_batches() {
    let (_dir, mut store) = temp_store();
    let run = agent_run(&Run::default());
    // Children first, the root last, across three batches; ledger indexes follow arrival.
    let arrival = [&run[2], &run[3], &run[1], &run[0]];
    let all = entries(0, arrival.iter().map(|s| Record::Span((*s).clone())));
    store.apply(&all[..2], 2).expect("apply 1");

    let early = list(&store, TraceQuery::default());
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].span_count, 2);
    // No span without a parent yet: the earliest span stands in for the root.
    assert_eq!(early[0].name, "execute_tool get_weather");
    assert_eq!(early[0].agent, None);

    store.apply(&all[2..3], 3).expect("apply 2");
    store.apply(&all[3..], 4).expect("apply 3");
    assert_eq!(store.cursor().expect("cursor"), 4);

    let traces = list(&store, TraceQuery::default());
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(t.trace_id, trace_id(1));
    assert_eq!(t.name, "invoke_agent weather-agent");
    assert_eq!(t.agent.as_deref(), Some("weather-agent"));
    assert_eq!(t.start_unix_nano, T0);
    assert_eq!(t.duration_ns, 1000 * MS);
    assert_eq!(t.span_count, 4);
    assert_eq!(t.error_count, 0);
    assert_eq!(t.tool_call_count, 1);
    assert_eq!((t.input_tokens, t.output_tokens), (250, 60));
    assert_eq!(t.status, TraceStatus::Ok);

    let detail = store
        .reader()
        .expect("reader")
        .get_trace(None, &trace_id(1), &ledger(&all))
        .expect("get")
        .expect("trace exists");
    let names: Vec<&str> = detail.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "invoke_agent weather-agent",
            "chat gpt-4o",
            "execute_tool get_weather",
            "chat gpt-4o"
        ]
    );
    let kinds: Vec<AgentKind> = detail.spans.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            AgentKind::Agent,
            AgentKind::Llm,
            AgentKind::Tool,
            AgentKind::Llm
        ]
    );
    let root = &detail.spans[0];
    assert_eq!(root.parent_span_id, None);
    assert_eq!(root.ledger_index, 3);
    for child in &detail.spans[1..] {
        assert_eq!(child.parent_span_id, Some(root.span_id));
    }
    assert_eq!(
        detail.spans[2].attributes["gen_ai.tool.call.arguments"],
        json!(r#"{"city":"Paris"}"#)
    );
    assert_eq!(
        detail.spans[1].attributes["gen_ai.usage.input_tokens"],
        json!(100)
    );
}

#[test]
fn summary_does_not_depend_on_arrival_order_or_batching() {
    let runs: Vec<Run<'_>> = (0..3)
        .map(|i| Run {
            trace: i,
            start: T0 + u64::from(i) * 5000 * MS,
            tool_fails: i == 1,
            ..Run::default()
        })
        .collect();
    let all: Vec<Span> = runs.iter().flat_map(agent_run).collect();
    let reference = {
        let (_dir, mut store) = temp_store();
        store
            .apply(&entries(0, spans(all.clone())), all.len() as u64)
            .expect("apply");
        list(&store, TraceQuery::default())
    };
    assert_eq!(reference.len(), 3);
    assert_eq!(reference[1].status, TraceStatus::Error);

    // A fixed pseudo-random shuffle and batch split per round (xorshift, no extra dependency).
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _round in 0..8 {
        let mut order = all.clone();
        for i in (1..order.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let (_dir, mut store) = temp_store();
        let batch = entries(0, spans(order));
        let mut at = 0;
        while at < batch.len() {
            let size = 1 + (next() % 4) as usize;
            let end = (at + size).min(batch.len());
            store.apply(&batch[at..end], end as u64).expect("apply");
            at = end;
        }
        let got = list(&store, TraceQuery::default());
        assert_eq!(got, reference);
    }
}

#[test]
fn reapplying_is_idempotent() {
    let (_dir, mut store) = temp_store();
    let batch = entries(0, spans(agent_run(&Run::default())));
    store.apply(&batch, 4).expect("apply");
    let before = list(&store, TraceQuery::default());

    // A replay after a crash: the same entries again, and overlapping with new ones.
    store.apply(&batch, 4).expect("replay");
    store.apply(&batch[2..], 4).expect("partial replay");
    // A client retry stored at a new ledger index: same trace and span id.
    let retry = entries(4, [Record::Span(agent_run(&Run::default())[2].clone())]);
    store.apply(&retry, 5).expect("retry");

    let after = list(&store, TraceQuery::default());
    assert_eq!(after, before);
    assert_eq!(after[0].span_count, 4);
    assert_eq!(store.cursor().expect("cursor"), 5);
    let detail = store
        .reader()
        .expect("reader")
        .get_trace(None, &trace_id(1), &ledger(&batch))
        .expect("get")
        .expect("exists");
    assert_eq!(detail.spans.len(), 4);
    // The full-text row was not duplicated either: one trace, found once.
    let found = list(
        &store,
        TraceQuery {
            q: Some("Paris".into()),
            ..TraceQuery::default()
        },
    );
    assert_eq!(found.len(), 1);
}

#[test]
fn apply_rejects_an_entry_at_or_past_the_next_cursor() {
    let (_dir, mut store) = temp_store();
    let batch = entries(0, spans(agent_run(&Run::default())));
    let err = store.apply(&batch, 3).expect_err("index 3 is not below 3");
    assert!(matches!(
        err,
        StoreError::EntryBeyondCursor {
            index: 3,
            next_cursor: 3
        }
    ));
    assert!(err.is_invalid_input());
    assert_eq!(store.cursor().expect("cursor"), 0);
    assert!(list(&store, TraceQuery::default()).is_empty());
}

/// Five runs that differ in every filterable way.
fn filter_fixture(store: &mut Store) {
    let runs = [
        Run {
            trace: 1,
            start: T0,
            ..Run::default()
        },
        Run {
            trace: 2,
            start: T0 + 10_000 * MS,
            agent: "travel-agent",
            tool: "book_flight",
            model: "claude-sonnet",
            conversation: "conv-2",
            city: "Lisbon",
            tool_fails: true,
            ..Run::default()
        },
        Run {
            trace: 3,
            start: T0 + 20_000 * MS,
            agent: "travel-agent",
            tool: "get_weather",
            conversation: "conv-2",
            city: "Oslo",
            stretch: 5,
            ..Run::default()
        },
        Run {
            trace: 4,
            start: T0 + 30_000 * MS,
            model: "claude-sonnet",
            conversation: "conv-3",
            city: "Kyoto",
            ..Run::default()
        },
    ];
    let next = apply_runs(store, &runs);
    // A trace of a single plain LLM call: no agent, no tool.
    let chat = span(SpanSpec {
        trace: 5,
        id: 0,
        parent: None,
        name: "chat gpt-4o-mini",
        kind: AgentKind::Llm,
        start: T0 + 40_000 * MS,
        end: T0 + 40_050 * MS,
        attributes: vec![
            kv("gen_ai.request.model", "gpt-4o-mini"),
            kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
            kv("gen_ai.usage.prompt_tokens", 7),
            kv("gen_ai.usage.completion_tokens", 3),
        ],
    });
    store
        .apply(&entries(next, [Record::Span(chat)]), next + 1)
        .expect("apply");
}

#[test]
fn every_filter() {
    let (_dir, mut store) = temp_store();
    filter_fixture(&mut store);
    let ids = |q: TraceQuery| -> Vec<u32> {
        list(&store, q)
            .iter()
            .map(|t| u32::from_be_bytes(t.trace_id.0[12..].try_into().expect("4 bytes")))
            .collect()
    };
    let all = TraceQuery::default;
    assert_eq!(ids(all()), [5, 4, 3, 2, 1], "newest first");
    assert_eq!(
        ids(TraceQuery {
            agent: Some("travel-agent".into()),
            ..all()
        }),
        [3, 2]
    );
    assert_eq!(
        ids(TraceQuery {
            status: Some(TraceStatus::Error),
            ..all()
        }),
        [2]
    );
    assert_eq!(
        ids(TraceQuery {
            status: Some(TraceStatus::Ok),
            ..all()
        }),
        [5, 4, 3, 1]
    );
    assert_eq!(
        ids(TraceQuery {
            kind: Some(AgentKind::Tool),
            ..all()
        }),
        [4, 3, 2, 1]
    );
    assert_eq!(
        ids(TraceQuery {
            kind: Some(AgentKind::Llm),
            ..all()
        }),
        [5, 4, 3, 2, 1]
    );
    assert!(
        ids(TraceQuery {
            kind: Some(AgentKind::Memory),
            ..all()
        })
        .is_empty()
    );
    assert_eq!(
        ids(TraceQuery {
            tool: Some("get_weather".into()),
            ..all()
        }),
        [4, 3, 1]
    );
    assert_eq!(
        ids(TraceQuery {
            model: Some("claude-sonnet".into()),
            ..all()
        }),
        [4, 2]
    );
    // Request and response model both match.
    assert_eq!(
        ids(TraceQuery {
            model: Some("gpt-4o-mini".into()),
            ..all()
        }),
        [5]
    );
    assert_eq!(
        ids(TraceQuery {
            model: Some("gpt-4o-mini-2024-07-18".into()),
            ..all()
        }),
        [5]
    );
    assert_eq!(
        ids(TraceQuery {
            conversation: Some("conv-2".into()),
            ..all()
        }),
        [3, 2]
    );
    // since inclusive, until exclusive, on the trace start.
    assert_eq!(
        ids(TraceQuery {
            since: Some(T0 + 10_000 * MS),
            until: Some(T0 + 30_000 * MS),
            ..all()
        }),
        [3, 2]
    );
    // Trace 3 lasts 5 s, the others 1 s or less.
    assert_eq!(
        ids(TraceQuery {
            min_duration_ms: Some(1001),
            ..all()
        }),
        [3]
    );
    assert_eq!(
        ids(TraceQuery {
            min_duration_ms: Some(1000),
            ..all()
        }),
        [4, 3, 2, 1]
    );
    // Filters combine with AND.
    assert_eq!(
        ids(TraceQuery {
            agent: Some("travel-agent".into()),
            tool: Some("get_weather".into()),
            status: Some(TraceStatus::Ok),
            ..all()
        }),
        [3]
    );
    assert!(
        ids(TraceQuery {
            agent: Some("travel-agent".into()),
            model: Some("gpt-4o-mini".into()),
            ..all()
        })
        .is_empty()
    );

    // Tokens: LLM spans' usage, deprecated names included.
    let plain = list(&store, all()).remove(0);
    assert_eq!((plain.input_tokens, plain.output_tokens), (7, 3));
    assert_eq!(plain.agent, None);
    assert_eq!(plain.tool_call_count, 0);
}

#[test]
fn pagination_with_cursors() {
    let (_dir, mut store) = temp_store();
    // 25 traces; pairs share a start time so ties must be broken by trace id.
    let runs: Vec<Run<'_>> = (0..25)
        .map(|i| Run {
            trace: i,
            start: T0 + u64::from(i / 2) * 1000 * MS,
            ..Run::default()
        })
        .collect();
    apply_runs(&mut store, &runs);
    let reader = store.reader().expect("reader");
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = reader
            .list_traces(
                None,
                &TraceQuery {
                    limit: Some(10),
                    cursor: cursor.take(),
                    ..TraceQuery::default()
                },
            )
            .expect("page");
        pages += 1;
        seen.extend(page.traces.iter().map(|t| (t.start_unix_nano, t.trace_id)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25);
    let mut expected = seen.clone();
    expected.sort_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(seen, expected, "strictly descending, no duplicates");

    // A page that ends exactly at the last trace has no next cursor.
    let exact = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(25),
                ..TraceQuery::default()
            },
        )
        .expect("page");
    assert_eq!(exact.traces.len(), 25);
    assert_eq!(exact.next_cursor, None);

    // Cursors combine with filters.
    let first = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(2),
                since: Some(T0 + 5000 * MS),
                ..TraceQuery::default()
            },
        )
        .expect("page");
    let second = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(100),
                since: Some(T0 + 5000 * MS),
                cursor: first.next_cursor.clone(),
                ..TraceQuery::default()
            },
        )
        .expect("page");
    assert_eq!(first.traces.len() + second.traces.len(), 15);

    // Limits are clamped to 1..=1000.
    let one = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(0),
                ..TraceQuery::default()
            },
        )
        .expect("page");
    assert_eq!(one.traces.len(), 1);

    for bad in ["", "not-hex", "00", &"f".repeat(48), &"0".repeat(49)] {
        let err = reader
            .list_traces(
                None,
                &TraceQuery {
                    cursor: Some(bad.to_owned()),
                    ..TraceQuery::default()
                },
            )
            .expect_err("bad cursor");
        assert!(err.is_invalid_input(), "{bad:?}: {err}");
    }
}

#[test]
fn full_text_search() {
    let (_dir, mut store) = temp_store();
    filter_fixture(&mut store);
    let next = store.cursor().expect("cursor");
    // Text with FTS5 syntax characters inside, on trace 4's tool span.
    let odd = span(SpanSpec {
        trace: 4,
        id: 9,
        parent: Some(0),
        name: "execute_tool shell",
        kind: AgentKind::Tool,
        start: T0 + 30_700 * MS,
        end: T0 + 30_800 * MS,
        attributes: vec![
            kv("gen_ai.tool.name", "shell"),
            kv(
                "gen_ai.tool.call.arguments",
                r#"{"cmd": "grep foo\"bar AND (baz OR qux) NEAR col:x"}"#,
            ),
        ],
    });
    store
        .apply(&entries(next, [Record::Span(odd)]), next + 1)
        .expect("apply");
    let reader = store.reader().expect("reader");
    let search = |q: &str| -> BTreeSet<TraceId> {
        let page = reader
            .list_traces(
                None,
                &TraceQuery {
                    q: Some(q.to_owned()),
                    ..TraceQuery::default()
                },
            )
            .unwrap_or_else(|e| panic!("q={q:?}: {e}"));
        ids_of(&page.traces)
    };
    let set = |ids: &[u32]| ids.iter().map(|&i| trace_id(i)).collect::<BTreeSet<_>>();

    // Tool arguments (JSON leaves), case-insensitive.
    assert_eq!(search("lisbon"), set(&[2]));
    // Messages: input and output.
    assert_eq!(search("weather Oslo"), set(&[3]));
    assert_eq!(search("sunny kyoto"), set(&[4]));
    // Reasoning content.
    assert_eq!(search("forecast"), set(&[1, 2, 3, 4]));
    // Error messages: status message and exception events.
    assert_eq!(search("timed out"), set(&[2]));
    assert_eq!(search("deadline"), set(&[2]));
    // Prefix queries.
    assert_eq!(search("Lisb*"), set(&[2]));
    // JSON keys are not indexed, only values.
    assert!(search("city").is_empty());
    // Every term must match.
    assert!(search("Paris Lisbon").is_empty());
    // Syntax is searched literally.
    assert_eq!(search("foo\"bar"), set(&[4]));
    assert_eq!(search("AND"), set(&[4]));
    assert_eq!(search("col:x"), set(&[4]));
    assert_eq!(search("(baz"), set(&[4]));
    // Hostile strings never error.
    for hostile in [
        "\"",
        "\"\"",
        "*",
        "**",
        "(",
        ")",
        "AND",
        "OR",
        "NOT",
        "NEAR(a b, 2)",
        "a OR",
        "^x",
        "-x",
        "+x",
        "x:",
        ":",
        "{a b}",
        "'",
        "\\",
        "\0",
        "🦀",
        "é*",
        "a\"*",
        "\"unterminated",
        "col: AND OR NOT (",
    ] {
        let _ = search(hostile);
    }
    // A query with no searchable term matches nothing rather than everything.
    assert!(search("\" * (").is_empty());
    // A blank query is no filter.
    assert_eq!(search("   ").len(), 5);
}

#[test]
fn logs_attach_to_their_span_or_stand_alone() {
    let (_dir, mut store) = temp_store();
    let run = agent_run(&Run::default());
    let chat_id = run[1].span_id;
    let log = |span: Option<SpanId>, name: &str, body: &str, time: u64| LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: 9,
        severity_text: "INFO".into(),
        event_name: name.into(),
        body: AnyValue::String(body.into()),
        attributes: vec![kv("gen_ai.evaluation.name", "relevance")],
        trace_id: Some(trace_id(1)),
        span_id: span,
        ..LogRecord::default()
    };
    // Logs first (before their span), then the spans, then a log without ids.
    let mut records = vec![
        Record::Log(log(
            Some(chat_id),
            "gen_ai.evaluation.result",
            "score 0.9 relevant answer",
            T0 + 200 * MS,
        )),
        Record::Log(log(None, "", "run finished", T0 + 1000 * MS)),
        Record::Log(log(Some(span_id(1, 42)), "orphan", "no such span", T0)),
    ];
    records.extend(spans(run));
    records.push(Record::Log(LogRecord {
        body: AnyValue::String("unrelated".into()),
        ..LogRecord::default()
    }));
    let batch = entries(0, records);
    store.apply(&batch[..2], 2).expect("apply");
    store.apply(&batch[2..], batch.len() as u64).expect("apply");

    let reader = store.reader().expect("reader");
    let detail = reader
        .get_trace(None, &trace_id(1), &ledger(&batch))
        .expect("get")
        .expect("exists");
    let chat = detail
        .spans
        .iter()
        .find(|s| s.span_id == chat_id)
        .expect("chat span");
    assert_eq!(chat.events.len(), 1);
    let event = &chat.events[0];
    assert_eq!(event.name, "gen_ai.evaluation.result");
    assert_eq!(event.body, Some(json!("score 0.9 relevant answer")));
    assert_eq!(
        event.attributes["gen_ai.evaluation.name"],
        json!("relevance")
    );
    assert_eq!(event.ledger_index, Some(0));
    // Standalone: the one without a span id and the one naming an unknown span, by time.
    let standalone: Vec<&str> = detail.logs.iter().map(|l| l.event_name.as_str()).collect();
    assert_eq!(standalone, ["orphan", ""]);
    // Logs do not change the span summary.
    let t = &list(&store, TraceQuery::default())[0];
    assert_eq!(t.span_count, 4);
    // Log bodies are searchable.
    let found = reader
        .list_traces(
            None,
            &TraceQuery {
                q: Some("relevant".into()),
                ..TraceQuery::default()
            },
        )
        .expect("search");
    assert_eq!(ids_of(&found.traces), BTreeSet::from([trace_id(1)]));

    // A trace known only from logs is found; an unknown one is not.
    let only_logs = entries(
        batch.len() as u64,
        [Record::Log(LogRecord {
            trace_id: Some(trace_id(77)),
            ..LogRecord::default()
        })],
    );
    store
        .apply(&only_logs, batch.len() as u64 + 1)
        .expect("apply");
    let detail = reader
        .get_trace(None, &trace_id(77), &ledger(&batch))
        .expect("get")
        .expect("exists");
    assert!(detail.spans.is_empty());
    assert_eq!(detail.logs.len(), 1);
    assert_eq!(
        reader
            .get_trace(None, &trace_id(78), &ledger(&batch))
            .expect("get"),
        None
    );
}

#[test]
fn span_events_are_kept_in_detail() {
    let (_dir, mut store) = temp_store();
    let run = agent_run(&Run {
        tool_fails: true,
        ..Run::default()
    });
    let batch = entries(0, spans(run));
    store.apply(&batch, 4).expect("apply");
    let detail = store
        .reader()
        .expect("reader")
        .get_trace(None, &trace_id(1), &ledger(&batch))
        .expect("get")
        .expect("exists");
    let tool = &detail.spans[2];
    assert_eq!(tool.status.code, StatusCode::Error);
    assert_eq!(tool.status.message, "weather service timed out");
    assert_eq!(tool.events.len(), 1);
    assert_eq!(tool.events[0].name, "exception");
    assert_eq!(tool.events[0].body, None);
    assert_eq!(
        tool.events[0].attributes["exception.type"],
        json!("TimeoutError")
    );
}

#[test]
fn json_shapes_match_the_query_api() {
    let (_dir, mut store) = temp_store();
    let batch = entries(0, spans(agent_run(&Run::default())));
    store.apply(&batch, 4).expect("apply");
    let reader = store.reader().expect("reader");
    let page = serde_json::to_value(
        reader
            .list_traces(None, &TraceQuery::default())
            .expect("list"),
    )
    .expect("json");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&page), ["next_cursor", "traces"]);
    assert_eq!(
        keys(&page["traces"][0]),
        [
            "agent",
            "duration_ns",
            "error_count",
            "input_tokens",
            "name",
            "output_tokens",
            "project",
            "span_count",
            "start_unix_nano",
            "status",
            "tool_call_count",
            "trace_id"
        ]
    );
    assert_eq!(page["traces"][0]["trace_id"], json!(hex(&trace_id(1).0)));
    assert_eq!(page["traces"][0]["status"], json!("ok"));
    assert_eq!(page["next_cursor"], json!(null));

    let detail = reader
        .get_trace(None, &trace_id(1), &ledger(&batch))
        .expect("get")
        .expect("exists");
    let value = serde_json::to_value(&detail).expect("json");
    assert_eq!(keys(&value), ["logs", "spans", "trace_id"]);
    let span = &value["spans"][0];
    assert_eq!(
        keys(span),
        [
            "attributes",
            "end_unix_nano",
            "events",
            "kind",
            "ledger_index",
            "name",
            "parent_span_id",
            "span_id",
            "start_unix_nano",
            "status"
        ]
    );
    assert_eq!(span["kind"], json!("agent"));
    assert_eq!(span["parent_span_id"], json!(null));
    assert_eq!(span["status"], json!({"code": "unset", "message": ""}));
    assert_eq!(value["spans"][1]["parent_span_id"], span["span_id"]);
    assert_eq!(span["span_id"], json!(hex(&span_id(1, 0).0)));

    // The types read back from their JSON (what a client of the API does).
    let back: cairn_store::TraceDetail = serde_json::from_value(value).expect("deserialize");
    assert_eq!(back, detail);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Nearest-rank percentile, computed the obvious way.
fn naive_percentile(values: &[u64], p: f64) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.max(1) - 1]
}

#[test]
fn stats_match_a_naive_computation() {
    let (_dir, mut store) = temp_store();
    let tools = ["search", "fetch", "calc"];
    let models = ["gpt-4o", "claude-sonnet"];
    let mut records = Vec::new();
    let mut expected: std::collections::BTreeMap<&str, (Vec<u64>, u64)> = Default::default();
    let mut model_tokens: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    let mut state = 12345_u64;
    for i in 0..600_u32 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let duration = (state >> 33) % 5000 * MS + 1;
        let start = T0 + u64::from(i) * 10 * MS;
        let tool = tools[(i % 3) as usize];
        let fails = i % 7 == 0;
        let mut s = span(SpanSpec {
            trace: 1000 + i / 4,
            id: i,
            parent: Some(0),
            name: tool,
            kind: AgentKind::Tool,
            start,
            end: start + duration,
            attributes: vec![kv("gen_ai.tool.name", tool)],
        });
        if fails {
            s.status.code = StatusCode::Error;
        }
        if start < T0 + 4000 * MS {
            let e = expected.entry(tool).or_default();
            e.0.push(duration);
            e.1 += u64::from(fails);
        }
        records.push(Record::Span(s));

        let model = models[(i % 2) as usize];
        let (input, output) = (i64::from(i % 50), i64::from(i % 13));
        records.push(Record::Span(span(SpanSpec {
            trace: 1000 + i / 4,
            id: 10_000 + i,
            parent: Some(0),
            name: "chat",
            kind: AgentKind::Llm,
            start,
            end: start + duration / 2,
            attributes: vec![
                kv("gen_ai.request.model", model),
                kv("gen_ai.usage.input_tokens", input),
                kv("gen_ai.usage.output_tokens", output),
            ],
        })));
        let m = model_tokens.entry(model).or_default();
        m.0 += 1;
        m.1 += input as u64;
        m.2 += output as u64;
    }
    let n = records.len() as u64;
    store.apply(&entries(0, records), n).expect("apply");
    let reader = store.reader().expect("reader");

    let report = reader
        .stats(
            None,
            &StatsQuery {
                group_by: GroupBy::Tool,
                since: Some(T0),
                until: Some(T0 + 4000 * MS),
                agent: None,
            },
        )
        .expect("stats");
    assert_eq!(report.groups.len(), 3);
    for group in &report.groups {
        let (durations, errors) = &expected[group.key.as_str()];
        assert_eq!(group.count, durations.len() as u64, "{}", group.key);
        assert_eq!(group.error_count, *errors);
        assert!((group.error_rate - *errors as f64 / durations.len() as f64).abs() < 1e-12);
        assert_eq!(group.p50_duration_ns, naive_percentile(durations, 50.0));
        assert_eq!(group.p95_duration_ns, naive_percentile(durations, 95.0));
        assert_eq!(group.p99_duration_ns, naive_percentile(durations, 99.0));
    }
    let counts: Vec<u64> = report.groups.iter().map(|g| g.count).collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "most frequent first"
    );

    let report = reader
        .stats(
            None,
            &StatsQuery {
                group_by: GroupBy::Model,
                ..StatsQuery::default()
            },
        )
        .expect("stats");
    assert_eq!(report.groups.len(), 2);
    for group in &report.groups {
        let (count, input, output) = model_tokens[group.key.as_str()];
        assert_eq!(
            (group.count, group.input_tokens, group.output_tokens),
            (count, input, output)
        );
        assert_eq!(group.error_count, 0);
    }
}

#[test]
fn stats_by_agent_count_runs() {
    let (_dir, mut store) = temp_store();
    let runs: Vec<Run<'_>> = (0..10)
        .map(|i| Run {
            trace: i,
            start: T0 + u64::from(i) * 10_000 * MS,
            agent: if i < 6 { "a" } else { "b" },
            tool_fails: i % 3 == 0,
            stretch: u64::from(i) + 1,
            ..Run::default()
        })
        .collect();
    apply_runs(&mut store, &runs);
    let report = store
        .reader()
        .expect("reader")
        .stats(None, &StatsQuery::default())
        .expect("stats");
    assert_eq!(report.group_by, GroupBy::Agent);
    let a = &report.groups[0];
    assert_eq!((a.key.as_str(), a.count, a.error_count), ("a", 6, 2));
    assert_eq!((a.input_tokens, a.output_tokens), (6 * 250, 6 * 60));
    // Run durations are 1..=6 s for agent a: nearest-rank p50 = 3 s, p95 = p99 = 6 s.
    assert_eq!(a.p50_duration_ns, 3000 * MS);
    assert_eq!(a.p99_duration_ns, 6000 * MS);
    let b = &report.groups[1];
    assert_eq!((b.key.as_str(), b.count, b.error_count), ("b", 4, 2));
    assert!((b.error_rate - 0.5).abs() < 1e-12);
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["group_by"], json!("agent"));
    assert!(json["groups"][0]["p95_duration_ns"].is_u64());
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.db");
    let before = {
        let mut store = Store::open(&path).expect("open");
        apply_runs(&mut store, &[Run::default()]);
        list(&store, TraceQuery::default())
    };
    let mut store = Store::open(&path).expect("reopen");
    assert_eq!(store.cursor().expect("cursor"), 4);
    assert_eq!(list(&store, TraceQuery::default()), before);
    // Replaying what was already indexed after a reopen changes nothing.
    store
        .apply(&entries(0, spans(agent_run(&Run::default()))), 4)
        .expect("replay");
    assert_eq!(list(&store, TraceQuery::default()), before);
    let status = Store::open_reader(&path)
        .expect("reader")
        .index_status()
        .expect("status");
    assert_eq!(status.cursor, 4);
    assert!(status.last_apply_unix_nano.is_some_and(|t| t > T0));
}

#[test]
fn reset_empties_the_index() {
    let (_dir, mut store) = temp_store();
    apply_runs(&mut store, &[Run::default()]);
    let reader = store.reader().expect("reader");
    store.reset().expect("reset");
    assert_eq!(store.cursor().expect("cursor"), 0);
    let status = reader.index_status().expect("status");
    assert_eq!((status.cursor, status.last_apply_unix_nano), (0, None));
    assert!(list(&store, TraceQuery::default()).is_empty());
    assert_eq!(
        reader
            .get_trace(None, &trace_id(1), &BTreeMap::new())
            .expect("get"),
        None
    );
    let found = reader
        .list_traces(
            None,
            &TraceQuery {
                q: Some("Paris".into()),
                ..TraceQuery::default()
            },
        )
        .expect("search");
    assert!(found.traces.is_empty());
    // Rebuilding from index 0 works as on a fresh store.
    apply_runs(&mut store, &[Run::default()]);
    assert_eq!(list(&store, TraceQuery::default())[0].span_count, 4);
}

#[test]
fn readers_see_each_committed_apply() {
    let (_dir, mut store) = temp_store();
    let reader = store.reader().expect("reader");
    assert_eq!(reader.index_status().expect("status").cursor, 0);
    assert!(
        reader
            .list_traces(None, &TraceQuery::default())
            .expect("list")
            .traces
            .is_empty()
    );
    apply_runs(&mut store, &[Run::default()]);
    assert_eq!(reader.index_status().expect("status").cursor, 4);
    assert_eq!(
        reader
            .list_traces(None, &TraceQuery::default())
            .expect("list")
            .traces
            .len(),
        1
    );
    // A reader moves to another thread.
    let handle = std::thread::spawn(move || {
        reader
            .get_trace(None, &trace_id(1), &BTreeMap::new())
            .map(|t| t.is_some())
    });
    assert!(handle.join().expect("thread").expect("get"));
}

#[test]
fn foreign_or_newer_databases_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let newer = dir.path().join("newer.db");
    drop(Store::open(&newer).expect("create"));
    let conn = rusqlite::Connection::open(&newer).expect("raw open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    assert!(matches!(
        Store::open(&newer),
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));
    assert!(matches!(
        Store::open_reader(&newer),
        Err(StoreError::SchemaTooNew { found: 99, .. })
    ));

    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).expect("raw open");
    conn.execute_batch("CREATE TABLE t (x)").expect("table");
    drop(conn);
    assert!(matches!(Store::open(&foreign), Err(StoreError::NotAnIndex)));
    assert!(matches!(
        Store::open_reader(&foreign),
        Err(StoreError::SchemaOutdated { found: 0, .. })
    ));
}

fn in_project(mut s: Vec<Span>, project: &str) -> Vec<Span> {
    for span in &mut s {
        span.resource.attributes.push(kv("cairn.project", project));
    }
    s
}

/// Two projects reuse the same trace id: each sees only its own spans, summaries, search hits and
/// stats; `None` sees both; a project that has nothing sees nothing.
#[test]
fn projects_are_isolated_even_with_the_same_trace_id() {
    let (_dir, mut store) = temp_store();
    let a = in_project(
        agent_run(&Run {
            city: "Paris",
            ..Run::default()
        }),
        "alpha",
    );
    let b = in_project(
        agent_run(&Run {
            city: "Oslo",
            agent: "beta-agent",
            ..Run::default()
        }),
        "beta",
    );
    let plain = agent_run(&Run {
        trace: 2,
        ..Run::default()
    });
    let mut records = spans(a);
    records.extend(spans(b));
    records.extend(spans(plain));
    let batch = entries(0, records);
    store.apply(&batch, batch.len() as u64).expect("apply");
    let reader = store.reader().expect("reader");

    let page = reader
        .list_traces(Some("alpha"), &TraceQuery::default())
        .expect("list");
    assert_eq!(page.traces.len(), 1);
    assert_eq!(page.traces[0].project, "alpha");
    assert_eq!(
        page.traces[0].span_count, 4,
        "beta's spans are not merged in"
    );
    let all = reader
        .list_traces(None, &TraceQuery::default())
        .expect("list");
    assert_eq!(all.traces.len(), 3);
    let projects: BTreeSet<_> = all.traces.iter().map(|t| t.project.as_str()).collect();
    assert_eq!(projects, BTreeSet::from(["alpha", "beta", "default"]));

    let search = |project, q: &str| {
        reader
            .list_traces(
                project,
                &TraceQuery {
                    q: Some(q.to_owned()),
                    ..TraceQuery::default()
                },
            )
            .expect("search")
            .traces
            .len()
    };
    assert_eq!(search(Some("alpha"), "Oslo"), 0);
    assert_eq!(search(Some("beta"), "Oslo"), 1);
    assert_eq!(search(None, "Oslo"), 1);
    let agent = |project| {
        reader
            .list_traces(
                project,
                &TraceQuery {
                    agent: Some("beta-agent".to_owned()),
                    ..TraceQuery::default()
                },
            )
            .expect("facet")
            .traces
            .len()
    };
    assert_eq!((agent(Some("alpha")), agent(Some("beta"))), (0, 1));

    let detail = reader
        .get_trace(Some("alpha"), &trace_id(1), &ledger(&batch))
        .expect("get")
        .expect("alpha's trace");
    assert_eq!(detail.spans.len(), 4);
    assert_eq!(
        reader
            .get_trace(Some("gamma"), &trace_id(1), &ledger(&batch))
            .expect("get"),
        None
    );
    assert_eq!(
        reader
            .get_trace(None, &trace_id(1), &ledger(&batch))
            .expect("get")
            .map(|d| d.spans.len()),
        Some(8)
    );
    let stats = reader
        .stats(Some("beta"), &StatsQuery::default())
        .expect("stats");
    assert_eq!(stats.groups.len(), 1);
    assert_eq!(stats.groups[0].key, "beta-agent");
    assert_eq!(
        reader.project_of_entry(0).expect("p").as_deref(),
        Some("alpha")
    );
    assert_eq!(
        reader.project_of_entry(8).expect("p").as_deref(),
        Some("default")
    );
    assert_eq!(reader.project_of_entry(999).expect("p"), None);
}

#[test]
fn retention_deletes_old_traces_per_project_and_logs_by_event_lists_audit_records() {
    let (_dir, mut store) = temp_store();
    let old = T0;
    let new = T0 + 86_400 * 1_000_000_000;
    let mut records = Vec::new();
    for (trace, project, start) in [(1, "alpha", old), (2, "alpha", new), (3, "beta", old)] {
        records.extend(spans(in_project(
            agent_run(&Run {
                trace,
                start,
                ..Run::default()
            }),
            project,
        )));
    }
    let audit = |time: u64, project: &str| {
        let mut log = LogRecord {
            time_unix_nano: time,
            event_name: "cairn.audit.access".to_owned(),
            body: AnyValue::String("read".to_owned()),
            ..LogRecord::default()
        };
        log.resource.attributes.push(kv("cairn.project", project));
        Record::Log(log)
    };
    records.push(audit(old, "alpha"));
    records.push(audit(new, "alpha"));
    records.push(audit(new, "beta"));
    let batch = entries(0, records);
    store.apply(&batch, batch.len() as u64).expect("apply");

    let reader = store.reader().expect("reader");
    let alpha_audit = reader
        .logs_by_event(Some("alpha"), "cairn.audit.access", None, None, 100)
        .expect("audit");
    assert_eq!(alpha_audit.len(), 2);
    let recent = reader
        .logs_by_event(None, "cairn.audit.access", Some(new), None, 100)
        .expect("audit");
    assert_eq!(recent.len(), 2);

    // alpha keeps one day: the old alpha trace and the old alpha record go; beta is untouched.
    let cutoff = new - 1;
    let report = store
        .delete_before(cairn_store::ProjectSelection::Only("alpha"), cutoff)
        .expect("retention");
    assert_eq!(report.traces, 1);
    assert_eq!(report.spans, 4);
    assert_eq!(report.logs, 1);
    let remaining: BTreeSet<_> = reader
        .list_traces(None, &TraceQuery::default())
        .expect("list")
        .traces
        .iter()
        .map(|t| (t.project.clone(), t.trace_id))
        .collect();
    assert_eq!(
        remaining,
        BTreeSet::from([
            ("alpha".to_owned(), trace_id(2)),
            ("beta".to_owned(), trace_id(3))
        ])
    );
    // The deleted spans are gone from full-text search too.
    let hits = reader
        .list_traces(
            Some("alpha"),
            &TraceQuery {
                q: Some("Paris".to_owned()),
                ..TraceQuery::default()
            },
        )
        .expect("search");
    assert_eq!(hits.traces.len(), 1);

    // Everyone else (beta) with the same cutoff.
    let report = store
        .delete_before(
            cairn_store::ProjectSelection::AllExcept(&["alpha".to_owned()]),
            cutoff,
        )
        .expect("retention");
    assert_eq!((report.traces, report.spans, report.logs), (1, 4, 0));
    assert_eq!(
        reader
            .list_traces(None, &TraceQuery::default())
            .expect("list")
            .traces
            .len(),
        1
    );
}

#[test]
fn prepared_batches_index_exactly_like_apply() {
    let runs: Vec<Run<'_>> = (1..=6)
        .map(|i| Run {
            trace: i,
            start: T0 + u64::from(i) * 5_000 * MS,
            agent: if i % 2 == 0 {
                "planner"
            } else {
                "weather-agent"
            },
            city: if i % 3 == 0 { "Oslo" } else { "Paris" },
            tool_fails: i % 4 == 0,
            ..Run::default()
        })
        .collect();
    let (_a, mut direct) = temp_store();
    let (_b, mut prepared) = temp_store();
    let mut next = 0;
    let mut all = Vec::new();
    for run in &runs {
        let batch = entries(next, spans(agent_run(run)));
        next += batch.len() as u64;
        direct.apply(&batch, next).expect("apply");
        all.extend(batch.iter().cloned());
        let ready = Store::prepare(batch);
        assert_eq!(ready.len(), 4);
        prepared
            .apply_prepared(&ready, next)
            .expect("apply prepared");
        // A retry of the same prepared batch changes nothing.
        prepared.apply_prepared(&ready, next).expect("retry");
    }
    assert_eq!(prepared.cursor().expect("cursor"), next);
    for query in [
        TraceQuery::default(),
        TraceQuery {
            q: Some("Oslo".into()),
            ..TraceQuery::default()
        },
        TraceQuery {
            agent: Some("planner".into()),
            ..TraceQuery::default()
        },
    ] {
        let (want, got) = (list(&direct, query.clone()), list(&prepared, query));
        assert!(!want.is_empty());
        assert_eq!(got, want);
    }
    let (ra, rb) = (direct.reader().expect("a"), prepared.reader().expect("b"));
    for run in &runs {
        let id = trace_id(run.trace);
        let want = ra
            .get_trace_json(None, &id, &ledger(&all))
            .expect("a")
            .expect("exists");
        assert_eq!(
            rb.get_trace_json(None, &id, &ledger(&all)).expect("b"),
            Some(want)
        );
    }
}

#[test]
fn a_background_thread_checkpoints_the_wal_into_the_database_file() {
    let (dir, mut store) = temp_store();
    let db = dir.path().join("index.db");
    let schema_only = std::fs::metadata(&db).expect("db").len();
    let runs: Vec<Run<'_>> = (1..=50)
        .map(|i| Run {
            trace: i,
            start: T0 + u64::from(i) * 5_000 * MS,
            ..Run::default()
        })
        .collect();
    apply_runs(&mut store, &runs);
    // Commits only append to the WAL; the writer's own checkpoint waits for 1 GiB of it, so
    // only the checkpoint thread can bring these pages into the database file this soon.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let len = std::fs::metadata(&db).expect("db").len();
        if len > schema_only + 64 * 1024 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "database file still {len} bytes (schema only: {schema_only})"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(store.checkpoint_failures(), 0);
    assert_eq!(list(&store, TraceQuery::default()).len(), 50);
}
