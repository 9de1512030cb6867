//! Sorted trace listing with keyset cursors, per-agent stats over sub-agents, and the
//! conversation grouping.

use cairn_model::{
    AgentKind, AnyValue, KeyValue, Record, Span, SpanId, Status, StatusCode, TraceId,
};
use cairn_store::{
    ConversationQuery, GroupBy, SortOrder, StatsQuery, Store, TraceQuery, TraceSort, TraceSummary,
};

const MS: u64 = 1_000_000;
/// 2025-01-01T00:00:00Z.
const T0: u64 = 1_735_689_600_000_000_000;

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
    }
}

fn s(v: &str) -> AnyValue {
    AnyValue::String(v.to_owned())
}

fn trace_id(n: u32) -> TraceId {
    let mut id = [0xcd; 16];
    id[12..].copy_from_slice(&n.to_be_bytes());
    TraceId(id)
}

fn span_id(trace: u32, n: u32) -> SpanId {
    let mut id = [0; 8];
    id[..4].copy_from_slice(&trace.to_be_bytes());
    id[4..].copy_from_slice(&(n + 1).to_be_bytes());
    SpanId(id)
}

/// One span of a test trace.
struct Sp {
    id: u32,
    parent: Option<u32>,
    kind: AgentKind,
    start_ms: u64,
    end_ms: u64,
    attributes: Vec<KeyValue>,
    error: bool,
}

impl Sp {
    fn new(id: u32, parent: Option<u32>, kind: AgentKind, start_ms: u64, end_ms: u64) -> Self {
        Sp {
            id,
            parent,
            kind,
            start_ms,
            end_ms,
            attributes: Vec::new(),
            error: false,
        }
    }

    fn attr(mut self, key: &str, value: AnyValue) -> Self {
        self.attributes.push(kv(key, value));
        self
    }

    fn agent(self, name: &str) -> Self {
        self.attr("gen_ai.operation.name", s("invoke_agent"))
            .attr("gen_ai.agent.name", s(name))
    }

    fn tokens(self, input: i64, output: i64) -> Self {
        self.attr("gen_ai.operation.name", s("chat"))
            .attr("gen_ai.request.model", s("gpt-4o"))
            .attr("gen_ai.usage.input_tokens", AnyValue::Int(input))
            .attr("gen_ai.usage.output_tokens", AnyValue::Int(output))
    }

    fn tool(self, name: &str) -> Self {
        self.attr("gen_ai.operation.name", s("execute_tool"))
            .attr("gen_ai.tool.name", s(name))
    }

    fn failed(mut self) -> Self {
        self.error = true;
        self
    }
}

fn build(trace: u32, start: u64, spans: Vec<Sp>) -> Vec<Record> {
    spans
        .into_iter()
        .map(|sp| {
            let mut span = Span {
                trace_id: trace_id(trace),
                span_id: span_id(trace, sp.id),
                parent_span_id: sp.parent.map(|p| span_id(trace, p)),
                name: format!("span {}", sp.id),
                agent_kind: sp.kind,
                start_unix_nano: start + sp.start_ms * MS,
                end_unix_nano: start + sp.end_ms * MS,
                attributes: sp.attributes,
                ..Span::default()
            };
            if sp.error {
                span.status = Status {
                    code: StatusCode::Error,
                    message: "failed".into(),
                };
            }
            Record::Span(span)
        })
        .collect()
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("index.db")).expect("open");
    (dir, store)
}

fn apply(store: &mut Store, records: Vec<Record>) {
    let first = store.cursor().expect("cursor");
    let batch: Vec<(u64, Record)> = records
        .into_iter()
        .enumerate()
        .map(|(i, r)| (first + i as u64, r))
        .collect();
    let next = first + batch.len() as u64;
    store.apply(&batch, next).expect("apply");
}

/// A run of `duration_ms` with an LLM call of `tokens` input tokens and `errors` failed tool calls.
fn run(trace: u32, start: u64, duration_ms: u64, tokens: i64, errors: u32) -> Vec<Record> {
    let mut spans = vec![
        Sp::new(0, None, AgentKind::Agent, 0, duration_ms).agent("planner"),
        Sp::new(1, Some(0), AgentKind::Llm, 0, 1).tokens(tokens, 0),
    ];
    for e in 0..errors {
        spans.push(
            Sp::new(2 + e, Some(0), AgentKind::Tool, 1, 2)
                .tool("search")
                .failed(),
        );
    }
    build(trace, start, spans)
}

fn sort_key(sort: TraceSort, t: &TraceSummary) -> u64 {
    match sort {
        TraceSort::Start => t.start_unix_nano,
        TraceSort::Duration => t.duration_ns,
        TraceSort::Tokens => t.input_tokens + t.output_tokens,
        TraceSort::Errors => t.error_count,
    }
}

#[test]
fn every_sort_pages_in_order_without_gaps_or_repeats() {
    let (_dir, mut store) = temp_store();
    // 31 runs with many ties in every key, so the trace id tie-break matters.
    for i in 0..31u32 {
        let start = T0 + u64::from(i % 7) * 1000 * MS;
        let duration = 10 + u64::from((i * 7) % 5) * 100;
        let tokens = i64::from((i * 3) % 4) * 50;
        apply(&mut store, run(i, start, duration, tokens, i % 3));
    }
    let reader = store.reader().expect("reader");
    let everything = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(1000),
                ..TraceQuery::default()
            },
        )
        .expect("all")
        .traces;
    assert_eq!(everything.len(), 31);

    for sort in [
        TraceSort::Start,
        TraceSort::Duration,
        TraceSort::Tokens,
        TraceSort::Errors,
    ] {
        for order in [SortOrder::Desc, SortOrder::Asc] {
            let mut expected: Vec<(u64, TraceId)> = everything
                .iter()
                .map(|t| (sort_key(sort, t), t.trace_id))
                .collect();
            expected.sort();
            if order == SortOrder::Desc {
                expected.reverse();
            }
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page = reader
                    .list_traces(
                        None,
                        &TraceQuery {
                            limit: Some(7),
                            cursor: cursor.take(),
                            sort,
                            order,
                            ..TraceQuery::default()
                        },
                    )
                    .expect("page");
                pages += 1;
                seen.extend(page.traces.iter().map(|t| (sort_key(sort, t), t.trace_id)));
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(pages, 5, "{sort:?} {order:?}");
            assert_eq!(seen, expected, "{sort:?} {order:?}");
        }
    }

    // A cursor only continues the order it was issued for.
    let first = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(3),
                sort: TraceSort::Tokens,
                ..TraceQuery::default()
            },
        )
        .expect("page");
    let cursor = first.next_cursor.expect("more");
    assert_eq!(cursor.len(), 52);
    for (sort, order) in [
        (TraceSort::Start, SortOrder::Desc),
        (TraceSort::Tokens, SortOrder::Asc),
        (TraceSort::Duration, SortOrder::Desc),
    ] {
        let err = reader
            .list_traces(
                None,
                &TraceQuery {
                    cursor: Some(cursor.clone()),
                    sort,
                    order,
                    ..TraceQuery::default()
                },
            )
            .expect_err("cursor of another order");
        assert!(err.is_invalid_input(), "{err}");
    }
    // The default order keeps the 48-character cursor earlier servers issued.
    let default = reader
        .list_traces(
            None,
            &TraceQuery {
                limit: Some(3),
                ..TraceQuery::default()
            },
        )
        .expect("page");
    assert_eq!(default.next_cursor.as_deref().map(str::len), Some(48));
    // Garbage in the 52-character form is refused, not a panic.
    for bad in [
        "ff00".to_owned() + &"0".repeat(48),
        "00ff".to_owned() + &"0".repeat(48),
        "0100".to_owned() + &"f".repeat(48),
    ] {
        let err = reader
            .list_traces(
                None,
                &TraceQuery {
                    cursor: Some(bad.clone()),
                    sort: TraceSort::Duration,
                    ..TraceQuery::default()
                },
            )
            .expect_err("bad cursor");
        assert!(err.is_invalid_input(), "{bad}: {err}");
    }
}

#[test]
fn sorting_combines_with_filters() {
    let (_dir, mut store) = temp_store();
    for i in 0..10u32 {
        apply(
            &mut store,
            run(
                i,
                T0 + u64::from(i) * 1000 * MS,
                100,
                i64::from(i) * 10,
                i % 2,
            ),
        );
    }
    let reader = store.reader().expect("reader");
    let page = reader
        .list_traces(
            None,
            &TraceQuery {
                status: Some(cairn_store::TraceStatus::Error),
                sort: TraceSort::Tokens,
                order: SortOrder::Asc,
                ..TraceQuery::default()
            },
        )
        .expect("page");
    let tokens: Vec<u64> = page.traces.iter().map(|t| t.input_tokens).collect();
    assert_eq!(tokens, [10, 30, 50, 70, 90]);
}

fn conv(sp: Sp, id: &str) -> Sp {
    sp.attr("gen_ai.conversation.id", s(id))
}

/// Three runs: a planner that invokes a research and a coding sub-agent (the research agent's
/// tool fails), a planner alone (with a span whose parent never arrives), and a research agent
/// invoked on its own.
fn multi_agent_fixture(store: &mut Store) {
    apply(
        store,
        build(
            1,
            T0,
            vec![
                conv(
                    Sp::new(0, None, AgentKind::Agent, 0, 1000).agent("planner"),
                    "c1",
                ),
                Sp::new(1, Some(0), AgentKind::Llm, 10, 90).tokens(100, 10),
                Sp::new(2, Some(0), AgentKind::Agent, 100, 400).agent("research"),
                Sp::new(3, Some(2), AgentKind::Llm, 110, 200).tokens(50, 5),
                Sp::new(4, Some(2), AgentKind::Tool, 210, 390)
                    .tool("web_search")
                    .failed(),
                Sp::new(5, Some(0), AgentKind::Agent, 500, 900).agent("coding"),
                Sp::new(6, Some(5), AgentKind::Llm, 510, 600).tokens(70, 7),
                Sp::new(7, Some(5), AgentKind::Tool, 610, 890).tool("run_tests"),
            ],
        ),
    );
    apply(
        store,
        build(
            2,
            T0 + 10_000 * MS,
            vec![
                conv(
                    Sp::new(0, None, AgentKind::Agent, 0, 600).agent("planner"),
                    "c1",
                ),
                Sp::new(1, Some(0), AgentKind::Llm, 10, 90).tokens(100, 10),
                Sp::new(2, Some(0), AgentKind::Tool, 100, 200).tool("web_search"),
                Sp::new(3, Some(99), AgentKind::Tool, 300, 310)
                    .tool("lost_tool")
                    .failed(),
            ],
        ),
    );
    apply(
        store,
        build(
            3,
            T0 + 20_000 * MS,
            vec![
                conv(
                    Sp::new(0, None, AgentKind::Agent, 0, 200).agent("research"),
                    "c2",
                ),
                Sp::new(1, Some(0), AgentKind::Tool, 10, 100).tool("web_search"),
            ],
        ),
    );
    // A run without a conversation id.
    apply(store, run(4, T0 + 30_000 * MS, 50, 5, 0));
}

fn group<'a>(report: &'a cairn_store::StatsReport, key: &str) -> &'a cairn_store::GroupStats {
    report
        .groups
        .iter()
        .find(|g| g.key == key)
        .unwrap_or_else(|| panic!("no group {key} in {report:?}"))
}

#[test]
fn agent_stats_count_sub_agents_and_attribute_spans_to_the_nearest_agent() {
    let (_dir, mut store) = temp_store();
    multi_agent_fixture(&mut store);
    let reader = store.reader().expect("reader");
    let stats = |query: StatsQuery| reader.stats(None, &query).expect("stats");

    let report = stats(StatsQuery::default());
    let keys: Vec<&str> = report.groups.iter().map(|g| g.key.as_str()).collect();
    assert_eq!(keys, ["planner", "research", "coding"], "most runs first");
    let planner = group(&report, "planner");
    assert_eq!((planner.count, planner.error_count), (3, 0));
    assert_eq!((planner.input_tokens, planner.output_tokens), (205, 20));
    assert_eq!(planner.p50_duration_ns, 600 * MS);
    let research = group(&report, "research");
    assert_eq!((research.count, research.error_count), (2, 1));
    assert!((research.error_rate - 0.5).abs() < 1e-12);
    assert_eq!((research.input_tokens, research.output_tokens), (50, 5));
    // Run durations: 300 ms under the planner, 200 ms alone.
    assert_eq!(
        (research.p50_duration_ns, research.p95_duration_ns),
        (200 * MS, 300 * MS)
    );
    let coding = group(&report, "coding");
    assert_eq!((coding.count, coding.error_count), (1, 0));
    assert_eq!(
        (coding.input_tokens, coding.p50_duration_ns),
        (70, 400 * MS)
    );

    // The time window applies to the trace start.
    let late = stats(StatsQuery {
        since: Some(T0 + 5_000 * MS),
        ..StatsQuery::default()
    });
    assert_eq!(group(&late, "planner").count, 2);
    assert_eq!(group(&late, "research").count, 1);
    assert!(late.groups.iter().all(|g| g.key != "coding"));

    // Per-agent tools: the sub-agent's failing call is its own, not the planner's.
    let research_tools = stats(StatsQuery {
        group_by: GroupBy::Tool,
        agent: Some("research".into()),
        ..StatsQuery::default()
    });
    assert_eq!(research_tools.groups.len(), 1);
    let ws = group(&research_tools, "web_search");
    assert_eq!((ws.count, ws.error_count), (2, 1));
    let planner_tools = stats(StatsQuery {
        group_by: GroupBy::Tool,
        agent: Some("planner".into()),
        ..StatsQuery::default()
    });
    let keys: Vec<&str> = planner_tools
        .groups
        .iter()
        .map(|g| g.key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["web_search"],
        "no lost_tool (its parent never arrived)"
    );
    assert_eq!(group(&planner_tools, "web_search").error_count, 0);
    let coding_models = stats(StatsQuery {
        group_by: GroupBy::Model,
        agent: Some("coding".into()),
        ..StatsQuery::default()
    });
    assert_eq!(group(&coding_models, "gpt-4o").count, 1);
    // Tool window on the span start, also with the filter.
    let none = stats(StatsQuery {
        group_by: GroupBy::Tool,
        agent: Some("research".into()),
        since: Some(T0 + 20_000 * MS + 11 * MS),
        ..StatsQuery::default()
    });
    assert!(none.groups.is_empty(), "{none:?}");
    // Without the filter, every tool span counts, the orphan too.
    let all_tools = stats(StatsQuery {
        group_by: GroupBy::Tool,
        ..StatsQuery::default()
    });
    assert_eq!(group(&all_tools, "web_search").count, 3);
    assert_eq!(group(&all_tools, "lost_tool").error_count, 1);
    // The agent filter on agent stats keeps that one group.
    let only = stats(StatsQuery {
        agent: Some("coding".into()),
        ..StatsQuery::default()
    });
    assert_eq!(only.groups.len(), 1);
    assert_eq!(only.groups[0].key, "coding");
    let unknown = stats(StatsQuery {
        agent: Some("nobody".into()),
        ..StatsQuery::default()
    });
    assert!(unknown.groups.is_empty());
}

#[test]
fn parent_cycles_do_not_hang_attribution() {
    let (_dir, mut store) = temp_store();
    apply(
        &mut store,
        build(
            9,
            T0,
            vec![
                Sp::new(0, Some(1), AgentKind::Tool, 0, 10).tool("a"),
                Sp::new(1, Some(0), AgentKind::Tool, 0, 10).tool("b"),
                Sp::new(2, Some(2), AgentKind::Agent, 0, 10).agent("self-parent"),
            ],
        ),
    );
    let reader = store.reader().expect("reader");
    let report = reader.stats(None, &StatsQuery::default()).expect("stats");
    assert_eq!(report.groups.len(), 1);
    let tools = reader
        .stats(
            None,
            &StatsQuery {
                group_by: GroupBy::Tool,
                agent: Some("self-parent".into()),
                ..StatsQuery::default()
            },
        )
        .expect("stats");
    assert!(tools.groups.is_empty());
}

#[test]
fn conversations_group_runs_and_page_by_latest_run() {
    let (_dir, mut store) = temp_store();
    multi_agent_fixture(&mut store);
    let reader = store.reader().expect("reader");
    let page = reader
        .list_conversations(None, &ConversationQuery::default())
        .expect("conversations");
    assert_eq!(page.next_cursor, None);
    let ids: Vec<&str> = page
        .conversations
        .iter()
        .map(|c| c.conversation_id.as_str())
        .collect();
    assert_eq!(ids, ["c2", "c1"], "latest run first");
    let c1 = &page.conversations[1];
    assert_eq!(c1.runs, 2);
    assert_eq!(c1.first_start_unix_nano, T0);
    assert_eq!(c1.last_start_unix_nano, T0 + 10_000 * MS);
    assert_eq!(c1.last_end_unix_nano, T0 + 10_600 * MS);
    assert_eq!((c1.input_tokens, c1.output_tokens), (320, 32));
    assert_eq!((c1.error_count, c1.failed_runs), (2, 2));
    assert_eq!(c1.agents, ["coding", "planner", "research"]);
    let c2 = &page.conversations[0];
    assert_eq!((c2.runs, c2.error_count), (1, 0));
    assert_eq!(c2.agents, ["research"]);

    // Paging one at a time gives the same list.
    let first = reader
        .list_conversations(
            None,
            &ConversationQuery {
                limit: Some(1),
                ..ConversationQuery::default()
            },
        )
        .expect("page 1");
    assert_eq!(first.conversations[0].conversation_id, "c2");
    let second = reader
        .list_conversations(
            None,
            &ConversationQuery {
                limit: Some(1),
                cursor: first.next_cursor.clone(),
                ..ConversationQuery::default()
            },
        )
        .expect("page 2");
    assert_eq!(second.conversations[0].conversation_id, "c1");
    assert_eq!(second.next_cursor, None);

    // The window counts only the runs starting in it.
    let late = reader
        .list_conversations(
            None,
            &ConversationQuery {
                since: Some(T0 + 5_000 * MS),
                until: Some(T0 + 15_000 * MS),
                ..ConversationQuery::default()
            },
        )
        .expect("window");
    assert_eq!(late.conversations.len(), 1);
    assert_eq!(late.conversations[0].runs, 1);
    assert_eq!(late.conversations[0].agents, ["planner"]);
    // Another project sees nothing.
    let other = reader
        .list_conversations(Some("elsewhere"), &ConversationQuery::default())
        .expect("project");
    assert!(other.conversations.is_empty());
    let err = reader
        .list_conversations(
            None,
            &ConversationQuery {
                cursor: Some("zz".into()),
                ..ConversationQuery::default()
            },
        )
        .expect_err("bad cursor");
    assert!(err.is_invalid_input());
}
