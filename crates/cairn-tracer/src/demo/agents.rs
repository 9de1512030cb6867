//! The agents of the demo workload. See the module docs of [`crate::demo`].

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::json;

use super::sim::{SimClock, lognormal_ms, pick, tokens};
use super::{DemoSummary, Injection};
use crate::semconv as sc;
use crate::{SpanContext, Tracer, Usage};

/// What one run produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) failed: bool,
    pub(crate) simulated: Duration,
    pub(crate) counts: DemoSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Research,
    Coding,
    Both,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Route::Research => "research",
            Route::Coding => "coding",
            Route::Both => "both",
        }
    }
}

const REQUESTS: &[(&str, Route)] = &[
    (
        "Compare pgvector, Qdrant and LanceDB for 10M embeddings and recommend one",
        Route::Research,
    ),
    (
        "Fix the flaky integration test in the billing service",
        Route::Coding,
    ),
    (
        "Summarize this week's incidents and draft a postmortem outline",
        Route::Research,
    ),
    (
        "Write a SQL report of monthly active users by plan",
        Route::Coding,
    ),
    (
        "Find the cheapest model that meets our p95 latency SLO and switch the summarizer to it",
        Route::Both,
    ),
    (
        "Add retry with jitter to the webhook sender and document the behaviour",
        Route::Both,
    ),
    (
        "Investigate why checkout latency doubled since Tuesday",
        Route::Both,
    ),
    (
        "Draft a migration plan from REST to gRPC for the inventory API",
        Route::Research,
    ),
    (
        "Why does the nightly export job run out of memory?",
        Route::Coding,
    ),
    (
        "Which EU regions offer GPU instances with the lowest carbon intensity?",
        Route::Research,
    ),
];

const USERS: &[&str] = &["u-1042", "u-2210", "u-3381", "u-4517", "u-5093", "u-6620"];

const URLS: &[&str] = &[
    "https://docs.rs/tokio/latest/tokio/",
    "https://www.postgresql.org/docs/current/indexes.html",
    "https://qdrant.tech/documentation/benchmarks/",
    "https://opentelemetry.io/docs/specs/semconv/gen-ai/",
    "https://github.com/lancedb/lance/blob/main/README.md",
    "https://status.example-payments.com/incidents/2291",
];

const FILES: &[&str] = &[
    "src/billing/invoice.rs",
    "tests/integration/checkout.rs",
    "services/webhooks/sender.py",
    "jobs/nightly_export.py",
    "migrations/0042_add_plan_column.sql",
];

const QUERIES: &[&str] = &[
    "SELECT plan, date_trunc('month', seen_at) AS month, count(DISTINCT user_id) FROM activity GROUP BY 1, 2",
    "SELECT p95(latency_ms) FROM checkout_spans WHERE ts > now() - interval '7 days'",
    "SELECT count(*) FROM webhook_deliveries WHERE status = 'failed' AND attempts >= 3",
];

/// A provider, a request model and the dated model the provider answers with.
#[derive(Debug, Clone, Copy)]
struct Model {
    provider: &'static str,
    request: &'static str,
    response: &'static str,
    /// Milliseconds per output token (decode speed).
    ms_per_token: f64,
    /// Whether it reports reasoning tokens.
    reasoning: bool,
}

const PLANNER_MODELS: &[Model] = &[
    Model {
        provider: "anthropic",
        request: "claude-sonnet-4-5",
        response: "claude-sonnet-4-5-20250929",
        ms_per_token: 14.0,
        reasoning: false,
    },
    Model {
        provider: "openai",
        request: "o3-mini",
        response: "o3-mini-2025-01-31",
        ms_per_token: 9.0,
        reasoning: true,
    },
];
const RESEARCH_MODELS: &[Model] = &[
    Model {
        provider: "openai",
        request: "gpt-4o-mini",
        response: "gpt-4o-mini-2024-07-18",
        ms_per_token: 7.0,
        reasoning: false,
    },
    Model {
        provider: "gcp.gemini",
        request: "gemini-2.5-flash",
        response: "gemini-2.5-flash",
        ms_per_token: 5.0,
        reasoning: false,
    },
];
const CODING_MODELS: &[Model] = &[
    Model {
        provider: "openai",
        request: "gpt-4.1",
        response: "gpt-4.1-2025-04-14",
        ms_per_token: 12.0,
        reasoning: false,
    },
    Model {
        provider: "anthropic",
        request: "claude-opus-4-1",
        response: "claude-opus-4-1-20250805",
        ms_per_token: 22.0,
        reasoning: false,
    },
];

/// How a simulated tool call failed.
#[derive(Debug, Clone, thiserror::Error)]
enum ToolError {
    #[error("{tool} timed out after {after_ms} ms")]
    Timeout { tool: &'static str, after_ms: u64 },
    #[error("{tool} is rate limited, retry after {retry_after_ms} ms")]
    RateLimited {
        tool: &'static str,
        retry_after_ms: u64,
    },
    #[error("{tool} rejected its arguments: {reason}")]
    BadArguments {
        tool: &'static str,
        reason: &'static str,
    },
    #[error("{tool} upstream answered http {status}")]
    Upstream { tool: &'static str, status: u16 },
}

impl ToolError {
    fn retryable(&self) -> bool {
        !matches!(self, ToolError::BadArguments { .. })
    }

    fn error_type(&self) -> &'static str {
        match self {
            ToolError::Timeout { .. } => "timeout",
            ToolError::RateLimited { .. } => "rate_limited",
            ToolError::BadArguments { .. } => "bad_arguments",
            ToolError::Upstream { .. } => "upstream_error",
        }
    }
}

/// Why an agent gave up; recorded with a backtrace.
#[derive(Debug, thiserror::Error)]
enum AgentError {
    #[error("{agent} agent gave up after {attempts} attempts of {tool}")]
    ToolExhausted {
        agent: &'static str,
        tool: &'static str,
        attempts: u32,
        #[source]
        source: ToolError,
    },
    #[error("{agent} agent could not continue")]
    Crashed {
        agent: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("delegated work failed")]
    Delegate {
        #[source]
        source: Box<AgentError>,
    },
}

/// A tool's latency and failure profile.
#[derive(Debug, Clone, Copy)]
struct ToolSpec {
    name: &'static str,
    median_ms: f64,
    sigma: f64,
    /// Probability of each failure mode per call: timeout, rate limit, bad arguments, upstream.
    failures: [f64; 4],
    timeout_ms: u64,
}

const WEB_SEARCH: ToolSpec = ToolSpec {
    name: "web_search",
    median_ms: 850.0,
    sigma: 0.45,
    failures: [0.02, 0.04, 0.0, 0.01],
    timeout_ms: 10_000,
};
const FETCH_URL: ToolSpec = ToolSpec {
    name: "fetch_url",
    median_ms: 420.0,
    sigma: 0.8,
    failures: [0.03, 0.0, 0.04, 0.01],
    timeout_ms: 15_000,
};
const CODE_EXEC: ToolSpec = ToolSpec {
    name: "code_exec",
    median_ms: 2300.0,
    sigma: 0.6,
    failures: [0.05, 0.0, 0.04, 0.0],
    timeout_ms: 30_000,
};
const SQL_QUERY: ToolSpec = ToolSpec {
    name: "sql_query",
    median_ms: 120.0,
    sigma: 0.7,
    failures: [0.01, 0.0, 0.04, 0.0],
    timeout_ms: 5_000,
};
const FILE_READ: ToolSpec = ToolSpec {
    name: "file_read",
    median_ms: 12.0,
    sigma: 0.5,
    failures: [0.0, 0.0, 0.05, 0.0],
    timeout_ms: 1_000,
};

const MAX_ATTEMPTS: u32 = 3;

/// One agent's state while it works: its RNG, simulated clock and counters.
struct Worker<'t> {
    tracer: &'t Tracer,
    rng: StdRng,
    clock: SimClock,
    injection: Option<(Injection, f64)>,
    counts: DemoSummary,
}

impl<'t> Worker<'t> {
    fn new(
        tracer: &'t Tracer,
        seed: u64,
        start: SystemTime,
        injection: Option<(Injection, f64)>,
    ) -> Self {
        Worker {
            tracer,
            rng: StdRng::seed_from_u64(seed),
            clock: SimClock::new(start),
            injection,
            counts: DemoSummary::default(),
        }
    }

    fn injected(&self, which: Injection) -> bool {
        self.injection.is_some_and(|(i, _)| i == which)
    }

    fn latency_factor(&self) -> f64 {
        if self.injected(Injection::LatencySpike) {
            8.0
        } else {
            1.0
        }
    }

    /// Simulated work: advances the clock by a log-normal latency.
    fn wait(&mut self, median_ms: f64, sigma: f64) -> SystemTime {
        let ms = lognormal_ms(&mut self.rng, median_ms, sigma) * self.latency_factor();
        self.clock.advance_ms(ms)
    }

    fn llm(
        &mut self,
        parent: SpanContext,
        model: Model,
        purpose: &'static str,
        prompt: &str,
        mean_in: f64,
        mean_out: f64,
    ) {
        let spike = if self.injected(Injection::TokenSpike) {
            15.0
        } else {
            1.0
        };
        // A rate-limited first attempt now and then, retried after the provider's hint.
        if self.rng.gen_bool(0.02) {
            let mut call = self
                .tracer
                .llm(model.provider, model.request)
                .parent(parent)
                .start_time(self.clock.now())
                .start();
            self.counts.spans += 1;
            self.counts.llm_calls += 1;
            let end = self.wait(180.0, 0.3);
            call.record_exception(
                "rate_limit_exceeded",
                format!("{}: 429 too many requests", model.provider),
                None,
            );
            call.end_at(end);
            self.clock.advance_ms(1000.0);
        }
        let input = tokens(&mut self.rng, mean_in * spike, 0.35, 50);
        let output = tokens(&mut self.rng, mean_out * spike, 0.4, 5);
        let mut call = self
            .tracer
            .llm(model.provider, model.request)
            .parent(parent)
            .temperature(if purpose == "plan" { 0.2 } else { 0.7 })
            .max_tokens(4096)
            .system_instructions(json!([{"type": "text", "content": format!("You are the {purpose} step of a multi-agent assistant.")}]))
            .input_messages(json!([{"role": "user", "parts": [{"type": "text", "content": prompt}]}]))
            .start_time(self.clock.now())
            .start();
        self.counts.spans += 1;
        self.counts.llm_calls += 1;
        #[allow(clippy::cast_precision_loss)]
        let decode_ms = output as f64 * model.ms_per_token;
        let end = self.wait(350.0 + decode_ms, 0.35);
        let cached = self.rng.gen_bool(0.4).then_some(input / 2);
        let reasoning = model.reasoning.then(|| output * 2 / 3);
        call.set_usage(Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_input_tokens: cached,
            cache_creation_input_tokens: None,
            reasoning_output_tokens: reasoning,
        });
        let finish = if self.rng.gen_bool(0.03) {
            "length"
        } else {
            "stop"
        };
        call.set_response_model(model.response);
        call.set_response_id(format!("resp_{:016x}", self.rng.next_u64()));
        call.set_finish_reasons([finish]);
        call.set_output_messages(json!([{
            "role": "assistant",
            "parts": [{"type": "text", "content": format!("({purpose}) {output} tokens of answer to: {prompt}")}],
            "finish_reason": finish,
        }]));
        call.end_at(end);
        self.counts.input_tokens += input;
        self.counts.output_tokens += output;
    }

    /// Calls a tool with retries; returns the last error when every attempt failed.
    fn tool(
        &mut self,
        parent: SpanContext,
        spec: ToolSpec,
        args: &serde_json::Value,
    ) -> Result<(), ToolError> {
        let burst = self.injected(Injection::ErrorBurst);
        let mut attempt = 1;
        loop {
            let mut call = self
                .tracer
                .tool(spec.name)
                .parent(parent)
                .tool_type("function")
                .call_id(format!("call_{:012x}", self.rng.next_u64() >> 16))
                .attempt(attempt)
                .arguments(args.clone())
                .start_time(self.clock.now())
                .start();
            self.counts.spans += 1;
            self.counts.tool_calls += 1;
            if attempt > 1 {
                self.counts.tool_retries += 1;
            }
            let roll: f64 = self.rng.r#gen();
            let scale = if burst {
                0.6 / spec.failures.iter().sum::<f64>().max(0.01)
            } else {
                1.0
            };
            let mut acc = 0.0;
            let mut failure = None;
            for (i, p) in spec.failures.iter().enumerate() {
                acc += p * scale;
                if failure.is_none() && roll < acc {
                    failure = Some(i);
                }
            }
            let error = match failure {
                Some(0) => {
                    self.clock.advance_ms(spec.timeout_ms as f64);
                    Some(ToolError::Timeout {
                        tool: spec.name,
                        after_ms: spec.timeout_ms,
                    })
                }
                Some(1) => {
                    self.wait(60.0, 0.3);
                    Some(ToolError::RateLimited {
                        tool: spec.name,
                        retry_after_ms: 1000 * self.rng.gen_range(1..=4),
                    })
                }
                Some(2) => {
                    self.wait(spec.median_ms / 4.0, 0.3);
                    let reason = *pick(
                        &mut self.rng,
                        &[
                            "missing required field",
                            "invalid path",
                            "syntax error near line 3",
                            "unknown column",
                        ],
                    );
                    Some(ToolError::BadArguments {
                        tool: spec.name,
                        reason,
                    })
                }
                Some(_) => {
                    self.wait(spec.median_ms, spec.sigma);
                    Some(ToolError::Upstream {
                        tool: spec.name,
                        status: *pick(&mut self.rng, &[500u16, 502, 503]),
                    })
                }
                None => None,
            };
            let end = match &error {
                None => self.wait(spec.median_ms, spec.sigma),
                Some(_) => self.clock.now(),
            };
            match error {
                None => {
                    call.set_result(json!({"ok": true, "bytes": self.rng.gen_range(200..40_000)}));
                    call.end_at(end);
                    return Ok(());
                }
                Some(err) => {
                    self.counts.tool_failures += 1;
                    call.record_exception(err.error_type(), err.to_string(), None);
                    call.end_at(end);
                    if !err.retryable() || attempt >= MAX_ATTEMPTS {
                        return Err(err);
                    }
                    let backoff = match &err {
                        ToolError::RateLimited { retry_after_ms, .. } => *retry_after_ms as f64,
                        _ => 250.0 * f64::from(1u32 << attempt) * self.rng.gen_range(0.5..1.0),
                    };
                    self.clock.advance_ms(backoff);
                    attempt += 1;
                }
            }
        }
    }

    fn reasoning(&mut self, parent: SpanContext, step: u32, text: String) {
        let start = self.clock.now();
        let span = self
            .tracer
            .reasoning(step)
            .parent(parent)
            .content(text)
            .start_time(start)
            .start();
        self.counts.spans += 1;
        let end = self.wait(30.0, 0.5);
        span.end_at(end);
    }
}

/// The research agent: search, read, retrieve, summarize.
fn research(w: &mut Worker<'_>, parent: SpanContext, request: &str) -> Result<(), AgentError> {
    let agent = w
        .tracer
        .agent("research")
        .id("research-v2")
        .parent(parent)
        .start_time(w.clock.now())
        .start();
    w.counts.spans += 1;
    let ctx = agent.context();
    let model = *pick(&mut w.rng, RESEARCH_MODELS);
    w.llm(ctx, model, "query-planning", request, 900.0, 120.0);
    let result = (|| {
        let query = format!("{request} benchmarks 2025");
        let searches = if w.injected(Injection::ToolLoop) {
            w.rng.gen_range(8..=15)
        } else {
            w.rng.gen_range(1..=3)
        };
        let mut failed = 0;
        for i in 0..searches {
            // In a tool loop the agent repeats the very same call.
            let q = if w.injected(Injection::ToolLoop) || i == 0 {
                query.clone()
            } else {
                format!("{query} site:{}", i)
            };
            if let Err(err) = w.tool(ctx, WEB_SEARCH, &json!({"query": q, "max_results": 8})) {
                failed += 1;
                if failed == searches {
                    return Err(AgentError::ToolExhausted {
                        agent: "research",
                        tool: "web_search",
                        attempts: MAX_ATTEMPTS,
                        source: err,
                    });
                }
            }
        }
        for _ in 0..w.rng.gen_range(2..=4) {
            let url = *pick(&mut w.rng, URLS);
            // A failed fetch is tolerated: the agent reads the next page.
            let _ = w.tool(ctx, FETCH_URL, &json!({"url": url}));
        }
        let start = w.clock.now();
        let mut retrieval = w
            .tracer
            .retrieval("docs-index")
            .parent(ctx)
            .query(request.to_owned())
            .top_k(8)
            .start_time(start)
            .start();
        w.counts.spans += 1;
        let end = w.wait(60.0, 0.4);
        retrieval.set_attribute(sc::CAIRN_RETRIEVAL_DOCUMENTS, w.rng.gen_range(3..=8));
        retrieval.end_at(end);
        w.llm(ctx, model, "research-summary", request, 6000.0, 700.0);
        Ok(())
    })();
    finish_agent(w, agent, result)
}

/// The coding agent: read files, query data, run code.
fn coding(w: &mut Worker<'_>, parent: SpanContext, request: &str) -> Result<(), AgentError> {
    let agent = w
        .tracer
        .agent("coding")
        .id("coding-v4")
        .parent(parent)
        .start_time(w.clock.now())
        .start();
    w.counts.spans += 1;
    let ctx = agent.context();
    let model = *pick(&mut w.rng, CODING_MODELS);
    w.llm(ctx, model, "code-planning", request, 2500.0, 300.0);
    let result = (|| {
        for _ in 0..w.rng.gen_range(1..=3) {
            let path = *pick(&mut w.rng, FILES);
            let _ = w.tool(ctx, FILE_READ, &json!({"path": path}));
        }
        if w.rng.gen_bool(0.5) {
            let sql = *pick(&mut w.rng, QUERIES);
            let _ = w.tool(
                ctx,
                SQL_QUERY,
                &json!({"database": "analytics", "query": sql}),
            );
        }
        w.llm(ctx, model, "code-generation", request, 5000.0, 1200.0);
        let crash = if w.injected(Injection::ErrorBurst) {
            0.3
        } else {
            0.02
        };
        if w.rng.gen_bool(crash) {
            w.wait(400.0, 0.5);
            return Err(AgentError::Crashed {
                agent: "coding",
                source: std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "sandbox connection reset",
                ),
            });
        }
        let code = "cargo test -p billing -- --test-threads=1";
        w.tool(
            ctx,
            CODE_EXEC,
            &json!({"language": "bash", "code": code, "timeout_s": 30}),
        )
        .map_err(|source| AgentError::ToolExhausted {
            agent: "coding",
            tool: "code_exec",
            attempts: MAX_ATTEMPTS,
            source,
        })?;
        w.llm(ctx, model, "code-review", request, 3000.0, 250.0);
        Ok(())
    })();
    finish_agent(w, agent, result)
}

fn finish_agent(
    w: &mut Worker<'_>,
    mut agent: crate::Span,
    result: Result<(), AgentError>,
) -> Result<(), AgentError> {
    if let Err(err) = &result {
        agent.record_error(err);
    }
    agent.end_at(w.clock.now());
    result
}

/// One run of the planner and the agents it delegates to.
pub(crate) fn run_once(
    tracer: &Tracer,
    rng: &mut StdRng,
    index: u64,
    injection: Option<(Injection, f64)>,
    start: SystemTime,
) -> Outcome {
    let mut w = Worker::new(tracer, rng.next_u64(), start, injection);
    let (request, route) = *pick(&mut w.rng, REQUESTS);
    let user = *pick(&mut w.rng, USERS);
    let mut run = tracer
        .agent("planner")
        .id("planner-v3")
        .description("plans the work and delegates to the research and coding agents")
        .conversation_id(format!("conv-{index:06}"))
        .user_id(user)
        .root()
        .start_time(w.clock.now())
        .start();
    w.counts.spans += 1;
    let ctx = run.context();

    let mut guard = tracer
        .guardrail("prompt-injection")
        .parent(ctx)
        .start_time(w.clock.now())
        .start();
    w.counts.spans += 1;
    let end = w.wait(25.0, 0.3);
    if w.rng.gen_bool(0.015) {
        guard.set_blocked("instructions to ignore the system prompt");
        guard.end_at(end);
        run.set_attribute("cairn.demo.outcome", "refused");
        run.end_at(w.clock.now());
        return Outcome {
            failed: false,
            simulated: w.clock.elapsed(),
            counts: w.counts,
        };
    }
    guard.set_passed();
    guard.end_at(end);

    let planner_model = *pick(&mut w.rng, PLANNER_MODELS);
    w.llm(ctx, planner_model, "plan", request, 1800.0, 350.0);
    w.reasoning(
        ctx,
        1,
        format!(
            "The request \"{request}\" needs {} work; split it into sub-tasks.",
            route.as_str()
        ),
    );

    let base_confidence = 0.78 + 0.2 * w.rng.r#gen::<f64>();
    let confidence = match injection {
        Some((Injection::ConfidenceDrift, progress)) => base_confidence - 0.55 * progress,
        _ => base_confidence,
    };
    tracer
        .decision("delegate")
        .parent(ctx)
        .options(["research", "coding", "both"])
        .chosen(route.as_str())
        .confidence(confidence)
        .rationale(format!(
            "{} agent(s) cover the request best",
            route.as_str()
        ))
        .start_time(w.clock.now())
        .record();
    w.counts.spans += 1;
    w.counts.decisions += 1;
    w.clock.advance_ms(5.0);

    let research_seed = w.rng.next_u64();
    let coding_seed = w.rng.next_u64();
    let fork = w.clock.now();
    // The sub-agents run on their own threads, parented explicitly to the planner's span.
    let results: Vec<(Result<(), AgentError>, SimClock, DemoSummary)> =
        std::thread::scope(|scope| {
            let mut handles = Vec::new();
            if matches!(route, Route::Research | Route::Both) {
                handles.push(scope.spawn(move || {
                    let mut sub = Worker::new(tracer, research_seed, fork, injection);
                    let r = research(&mut sub, ctx, request);
                    (r, sub.clock, sub.counts)
                }));
            }
            if matches!(route, Route::Coding | Route::Both) {
                handles.push(scope.spawn(move || {
                    let mut sub = Worker::new(tracer, coding_seed, fork, injection);
                    let r = coding(&mut sub, ctx, request);
                    (r, sub.clock, sub.counts)
                }));
            }
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
    let mut failure = None;
    for (result, clock, counts) in results {
        w.clock.catch_up(clock.now());
        w.counts.merge(&counts);
        if let Err(err) = result {
            failure.get_or_insert(err);
        }
    }

    let failed = match failure {
        Some(err) => {
            run.record_error(&AgentError::Delegate {
                source: Box::new(err),
            });
            true
        }
        None => {
            w.reasoning(
                ctx,
                2,
                "Merge the findings into one answer and cite the sources.".to_owned(),
            );
            w.llm(ctx, planner_model, "synthesis", request, 7000.0, 900.0);
            let mut guard = tracer
                .guardrail("pii-output")
                .parent(ctx)
                .start_time(w.clock.now())
                .start();
            w.counts.spans += 1;
            let end = w.wait(18.0, 0.3);
            guard.set_passed();
            guard.end_at(end);
            run.set_attribute("cairn.demo.outcome", "answered");
            false
        }
    };
    run.set_attribute("cairn.demo.request", Cow::Borrowed(request));
    run.end_at(w.clock.now());
    Outcome {
        failed,
        simulated: w.clock.elapsed(),
        counts: w.counts,
    }
}
