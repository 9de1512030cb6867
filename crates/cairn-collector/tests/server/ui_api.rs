//! The API the web UI builds on: sorted trace lists, per-agent stats, conversations, prices.

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

use crate::harness::*;

const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

/// A planner run that invokes a research sub-agent (whose tool fails): `tokens` input tokens on
/// the planner's LLM call, 10 on the sub-agent's, in conversation `conv`.
fn run(seed: u64, start_ms: u64, duration_ms: u64, tokens: i64, conv: &str) -> Vec<Span> {
    let t = trace_id(seed);
    let id = |n: u64| span_id(seed * 10 + n);
    let at = |ms: u64| T0 + (start_ms + ms) * MS;
    let mut spans = vec![
        span(
            t,
            id(0),
            None,
            "invoke_agent planner",
            vec![
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("gen_ai.agent.name", s("planner")),
                kv("gen_ai.conversation.id", s(conv)),
            ],
        ),
        span(
            t,
            id(1),
            Some(id(0)),
            "chat gpt-4o",
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.request.model", s("gpt-4o")),
                kv("gen_ai.usage.input_tokens", i(tokens)),
                kv("gen_ai.usage.output_tokens", i(1)),
            ],
        ),
        span(
            t,
            id(2),
            Some(id(0)),
            "invoke_agent research",
            vec![
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("gen_ai.agent.name", s("research")),
            ],
        ),
        span(
            t,
            id(3),
            Some(id(2)),
            "chat gpt-4o-mini",
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.request.model", s("gpt-4o-mini")),
                kv("gen_ai.usage.input_tokens", i(10)),
                kv("gen_ai.usage.output_tokens", i(1)),
            ],
        ),
        span(
            t,
            id(4),
            Some(id(2)),
            "execute_tool web_search",
            vec![
                kv("gen_ai.operation.name", s("execute_tool")),
                kv("gen_ai.tool.name", s("web_search")),
                kv("error.type", s("timeout")),
            ],
        ),
    ];
    for (n, sp) in spans.iter_mut().enumerate() {
        let n = n as u64;
        sp.start_time_unix_nano = at(n);
        sp.end_time_unix_nano = at(if n == 0 { duration_ms } else { n + 1 });
    }
    spans
}

fn post_runs(srv: &TestServer, runs: Vec<Vec<Span>>) {
    let spans: Vec<Span> = runs.into_iter().flatten().collect();
    let answer = post(&srv.http_url("/v1/traces"), &[PROTOBUF], &protobuf(spans));
    assert_eq!(answer.status, 200);
    srv.wait_indexed();
}

fn ids(page: &Value) -> Vec<String> {
    page["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn traces_sort_server_side_and_page_with_cursors_of_that_order() {
    let srv = TestServer::start(|_| {});
    // (seed, start ms, duration ms, tokens)
    let specs = [
        (1, 0, 500, 300),
        (2, 100, 100, 100),
        (3, 200, 900, 200),
        (4, 300, 50, 400),
    ];
    post_runs(
        &srv,
        specs
            .iter()
            .map(|&(seed, start, dur, tok)| run(seed, start, dur, tok, "c"))
            .collect(),
    );
    let want =
        |seeds: &[u64]| -> Vec<String> { seeds.iter().map(|&n| hex(&trace_id(n))).collect() };

    assert_eq!(ids(&srv.get_json("/api/v1/traces")), want(&[4, 3, 2, 1]));
    assert_eq!(
        ids(&srv.get_json("/api/v1/traces?sort=duration")),
        want(&[3, 1, 2, 4])
    );
    assert_eq!(
        ids(&srv.get_json("/api/v1/traces?sort=tokens&order=asc")),
        want(&[2, 3, 1, 4])
    );
    // Paging by duration, ascending, two at a time.
    let first = srv.get_json("/api/v1/traces?sort=duration&order=asc&limit=2");
    assert_eq!(ids(&first), want(&[4, 2]));
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = srv.get_json(&format!(
        "/api/v1/traces?sort=duration&order=asc&limit=2&cursor={cursor}"
    ));
    assert_eq!(ids(&second), want(&[1, 3]));
    assert_eq!(second["next_cursor"], Value::Null);
    // The cursor does not continue another order, and bad values name their parameter.
    for (path, name) in [
        (
            format!("/api/v1/traces?sort=tokens&cursor={cursor}"),
            "cursor",
        ),
        ("/api/v1/traces?sort=cost".to_owned(), "\"sort\""),
        ("/api/v1/traces?order=sideways".to_owned(), "\"order\""),
    ] {
        let (status, body) = srv.get(&path);
        assert_eq!(status, 400, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(name), "{path}: {message}");
    }
}

#[test]
fn stats_count_sub_agents_and_filter_by_agent() {
    let srv = TestServer::start(|_| {});
    post_runs(
        &srv,
        vec![run(1, 0, 100, 5, "c1"), run(2, 1000, 100, 5, "c1")],
    );
    let report = srv.get_json("/api/v1/stats?group_by=agent");
    let groups = report["groups"].as_array().unwrap();
    let find = |key: &str| groups.iter().find(|g| g["key"] == key).cloned();
    let research = find("research").expect("the sub-agent has its own group");
    assert_eq!(research["count"], 2);
    assert_eq!(research["error_count"], 2, "its tool failed in both runs");
    assert_eq!(research["input_tokens"], 20);
    let planner = find("planner").unwrap();
    assert_eq!(planner["error_count"], 0, "the failure belongs to research");
    assert_eq!(planner["input_tokens"], 10);

    let tools = srv.get_json("/api/v1/stats?group_by=tool&agent=research");
    assert_eq!(tools["groups"][0]["key"], "web_search");
    assert_eq!(tools["groups"][0]["error_count"], 2);
    let tools = srv.get_json("/api/v1/stats?group_by=tool&agent=planner");
    assert_eq!(tools["groups"].as_array().unwrap().len(), 0);
}

#[test]
fn conversations_group_runs() {
    let srv = TestServer::start(|_| {});
    post_runs(
        &srv,
        vec![
            run(1, 0, 100, 5, "c1"),
            run(2, 1000, 100, 7, "c1"),
            run(3, 2000, 100, 9, "c2"),
        ],
    );
    let page = srv.get_json("/api/v1/conversations");
    let convs = page["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 2);
    assert_eq!(convs[0]["conversation_id"], "c2", "latest run first");
    let c1 = &convs[1];
    assert_eq!(c1["runs"], 2);
    assert_eq!(c1["input_tokens"], 5 + 7 + 20);
    assert_eq!(c1["failed_runs"], 2);
    assert_eq!(c1["agents"], serde_json::json!(["planner", "research"]));
    assert_eq!(c1["first_start_unix_nano"], T0);
    let first = srv.get_json("/api/v1/conversations?limit=1");
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = srv.get_json(&format!("/api/v1/conversations?limit=1&cursor={cursor}"));
    assert_eq!(second["conversations"][0]["conversation_id"], "c1");
    // The runs of one conversation come from the traces list.
    let runs = srv.get_json("/api/v1/traces?conversation=c1");
    assert_eq!(runs["traces"].as_array().unwrap().len(), 2);
    for bad in [
        "/api/v1/conversations?limit=0",
        "/api/v1/conversations?cursor=zz",
        "/api/v1/conversations?since=someday",
        "/api/v1/conversations?group=1",
    ] {
        assert_eq!(srv.get(bad).0, 400, "{bad}");
    }
}

#[test]
fn prices_expose_the_configured_table() {
    let srv = TestServer::start(|_| {});
    let prices = srv.get_json("/api/v1/prices");
    assert_eq!(prices["currency"], "USD");
    assert_eq!(prices["models"]["gpt-4o"]["input_per_mtok_usd"], 2.5);
    assert_eq!(srv.get("/api/v1/prices?x=1").0, 400);
    drop(srv);

    let srv = TestServer::start(|c| {
        c.metrics.price_table = [(
            "house-model".to_owned(),
            cairn_metrics::Price {
                input_per_mtok_usd: 1.0,
                output_per_mtok_usd: 2.0,
            },
        )]
        .into_iter()
        .collect();
    });
    let prices = srv.get_json("/api/v1/prices");
    let models = prices["models"].as_object().unwrap();
    assert_eq!(models.len(), 1, "a configured table replaces the default");
    assert_eq!(models["house-model"]["output_per_mtok_usd"], 2.0);
}
