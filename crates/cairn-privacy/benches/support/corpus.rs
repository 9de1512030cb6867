//! A realistic corpus of GenAI spans for the redaction benchmarks: LLM spans with input and
//! output message JSON of 1–2 KB, tool spans with JSON arguments and results, each with about ten
//! attributes. As in production, almost none carries a secret: one span in 16 holds an email
//! address and one in 32 an API key.

use cairn_model::{AnyValue, Event, KeyValue, Resource, Span, SpanId, Status, TraceId};

fn kv(key: &str, value: impl Into<AnyValue>) -> KeyValue {
    KeyValue::new(key, value)
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", "support-agent"),
            kv("service.version", "2.14.0"),
            kv("deployment.environment", "production"),
            kv("host.name", "agent-7f9c4d-xk2lp"),
        ],
        ..Resource::default()
    }
}

fn llm_span(i: usize) -> Span {
    let secret = if i % 16 == 5 {
        " You can reach me at maria.gonzalez@example.org if needed."
    } else {
        ""
    };
    let input = format!(
        r#"[{{"role":"system","parts":[{{"type":"text","content":"You are a helpful customer support assistant for Acme Cloud. Answer concisely, cite the knowledge base article id when you use one, and never promise refunds above the documented limits. Today is 2025-11-{day:02}. The customer is on the Business plan (account created 2021-03-14, 42 seats)."}}]}},{{"role":"user","parts":[{{"type":"text","content":"Hi, since the deploy at 14:32 UTC yesterday our build pipeline #{build} fails with error E1043 'artifact upload timed out after 300s'. We retried 3 times. Region eu-west-2, project id 8f14e45f-ceea-467f-a0f8-{tail:012}.{secret} What should we do?"}}]}},{{"role":"assistant","parts":[{{"type":"tool_call","id":"call_{i}","name":"kb_search","arguments":{{"query":"E1043 artifact upload timeout","limit":5}}}}]}},{{"role":"tool","parts":[{{"type":"tool_call_response","id":"call_{i}","response":"KB-2291: Upload timeouts in eu-west-2 after 2025-11-03 maintenance; raise artifact.upload.timeout to 900 or split artifacts above 2 GiB. KB-1877: E1043 with proxies."}}]}}]"#,
        day = 1 + i % 28,
        build = 10_000 + i,
        tail = i * 7919,
    );
    let output = format!(
        r#"[{{"role":"assistant","parts":[{{"type":"text","content":"Thanks for the details. Error E1043 after the 2025-11-03 maintenance in eu-west-2 is a known issue (KB-2291). Two options: 1) raise `artifact.upload.timeout` from 300 to 900 seconds in your pipeline settings, or 2) split artifacts larger than 2 GiB into parts. Your last {n} runs uploaded between 2.4 and 3.1 GiB, so option 2 is the more durable fix. If the problem persists after the change, reply with the run id and we will escalate to the storage team (ticket priority P2, response within 4 business hours)."}}],"finish_reason":"stop"}}]"#,
        n = 3 + i % 5,
    );
    Span {
        trace_id: TraceId([(i % 251) as u8 + 1; 16]),
        span_id: SpanId([(i % 241) as u8 + 1; 8]),
        name: "chat gpt-4o-2024-08-06".to_owned(),
        attributes: vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.provider.name", "openai"),
            kv("gen_ai.request.model", "gpt-4o-2024-08-06"),
            kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
            kv("gen_ai.response.id", format!("chatcmpl-AbX{i:08}qR7s")),
            kv("gen_ai.usage.input_tokens", 1834i64 + i as i64),
            kv("gen_ai.usage.output_tokens", 212i64),
            kv("gen_ai.request.temperature", 0.2f64),
            kv(
                "gen_ai.response.finish_reasons",
                AnyValue::Array(vec!["stop".into()]),
            ),
            kv(
                "gen_ai.conversation.id",
                format!("conv_{:016x}", i * 2_654_435_761),
            ),
            kv("gen_ai.input.messages", input),
            kv("gen_ai.output.messages", output),
        ],
        events: vec![Event {
            name: "gen_ai.content.chunk".to_owned(),
            time_unix_nano: 1_764_000_000_000_000_000 + i as u64,
            attributes: vec![
                kv("chunk.index", 0i64),
                kv("chunk.text", "Thanks for the details."),
            ],
            ..Event::default()
        }],
        resource: resource(),
        ..Span::default()
    }
}

fn tool_span(i: usize) -> Span {
    let args = if i % 32 == 9 {
        format!(
            r#"{{"url":"https://api.example.com/v2/orders?limit=20","headers":{{"Authorization":"Bearer sk-live-9fQ2xW7mK3pL8vN1zR4tY6uB0cD5eH{i:04}"}}}}"#
        )
    } else {
        format!(
            r#"{{"url":"https://api.example.com/v2/orders?customer=cus_{i:08}&limit=20&since=2025-10-01T00:00:00Z","method":"GET","timeout_ms":5000}}"#
        )
    };
    let mut result = String::from(r#"{"status":200,"orders":["#);
    for k in 0..5 {
        if k > 0 {
            result.push(',');
        }
        result.push_str(&format!(
            r#"{{"id":"ord_{:010}","created":"2025-10-{:02}T09:{:02}:17Z","total":{}.{:02},"currency":"EUR","items":{},"status":"shipped","tracking":"JD0146000034{:06}"}}"#,
            i * 10 + k,
            1 + k,
            10 + k,
            19 + k * 7,
            k * 13 % 100,
            1 + k % 3,
            i % 1_000_000,
        ));
    }
    result.push_str("]}");
    Span {
        trace_id: TraceId([(i % 251) as u8 + 1; 16]),
        span_id: SpanId([(i % 239) as u8 + 2; 8]),
        name: "execute_tool http_get".to_owned(),
        attributes: vec![
            kv("gen_ai.operation.name", "execute_tool"),
            kv("gen_ai.tool.name", "http_get"),
            kv("gen_ai.tool.type", "function"),
            kv("gen_ai.tool.call.id", format!("call_{i:06}")),
            kv("gen_ai.tool.call.arguments", args),
            kv("gen_ai.tool.call.result", result),
            kv("http.response.status_code", 200i64),
            kv("http.request.method", "GET"),
            kv("server.address", "api.example.com"),
            kv("tool.duration_ms", 183i64 + (i % 50) as i64),
        ],
        status: Status::default(),
        resource: resource(),
        ..Span::default()
    }
}

/// `n` spans: two LLM spans for every tool span.
pub(crate) fn spans(n: usize) -> Vec<Span> {
    (0..n)
        .map(|i| {
            if i % 3 == 2 {
                tool_span(i)
            } else {
                llm_span(i)
            }
        })
        .collect()
}

/// `span` with every string value (attributes and event attributes) ending in typographic
/// quotes and a dash, as model output often does.
pub(crate) fn with_non_ascii(span: &Span) -> Span {
    fn edit(attrs: &mut [KeyValue]) {
        for kv in attrs {
            if let AnyValue::String(s) = &mut kv.value {
                s.push_str(" \u{2014} \u{201c}done\u{201d}");
            }
        }
    }
    let mut span = span.clone();
    edit(&mut span.attributes);
    for event in &mut span.events {
        edit(&mut event.attributes);
    }
    span
}
