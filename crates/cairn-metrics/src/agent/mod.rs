//! Agent metrics derived from ingested spans (the "Agent metrics" table of `docs/metrics.md`).
//!
//! Contract: call [`AgentMetrics::observe`] exactly once per ledger entry (the index consumer does,
//! as it reads the ledger in order). Observing is not idempotent in general; as a safety net, a
//! span id seen again while its trace is still pending (see [`runs`]) is ignored, which absorbs
//! retried exports that reached the ledger twice within `pending_timeout`.
//!
//! Where each metric comes from:
//! - agent spans (`AgentKind::Agent`): `cairn_agent_runs_total`, `cairn_agent_run_duration_seconds`
//!   at arrival; the per-run histograms when the run is finalized (see [`runs`]);
//! - LLM spans: `gen_ai_client_operation_duration_seconds`, `gen_ai_client_token_usage` at arrival
//!   (they carry no agent label); `cairn_llm_tokens_total`, `cairn_llm_cost_usd_total` under the
//!   span's agent;
//! - tool spans: `cairn_tool_calls_total`, `cairn_tool_call_duration_seconds`, per-run tool counts;
//! - reasoning spans: per-run reasoning steps;
//! - spans with a decision: `cairn_decisions_total{decision=<decision name>}`,
//!   `cairn_decision_confidence`;
//! - failed spans of any kind: `cairn_errors_total{error_type}` (`error.type`, else the exception
//!   type, else `_OTHER` as in the OpenTelemetry conventions).
//!
//! A span's agent is the agent it names itself (`gen_ai.agent.name` …), else its nearest agent
//! ancestor, else `unknown`. Log records are not observed.

pub(crate) mod runs;
mod series;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use cairn_model::{AgentKind, ModelNames, Record, Span};
use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::config::MetricsConfig;
use crate::guard::{LabelGuard, OverflowCounter};
use runs::{Arrival, Counters, Effect, Pending, RunSummary, SpanFacts, UNKNOWN_AGENT};
use series::SeriesCache;

/// GenAI semantic-convention buckets of `gen_ai.client.operation.duration` (seconds).
pub const GENAI_DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// GenAI semantic-convention buckets of `gen_ai.client.token.usage` (tokens).
pub const GENAI_TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Buckets of `cairn_agent_run_duration_seconds`.
pub const RUN_DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Buckets of `cairn_tool_call_duration_seconds`.
pub const TOOL_DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of `cairn_tool_calls_per_run` and `cairn_reasoning_steps_per_run`.
pub const PER_RUN_BUCKETS: [f64; 10] = [0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0];
/// Buckets of `cairn_run_max_same_tool_calls`.
pub const MAX_SAME_TOOL_BUCKETS: [f64; 8] = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0];
/// Buckets of `cairn_decision_confidence`.
pub const CONFIDENCE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// The `error_type` of a failed span without `error.type` or exception type (OTel's fallback).
pub const OTHER_ERROR_TYPE: &str = "_OTHER";

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct GenAiOperationLabels {
    pub(crate) gen_ai_operation_name: String,
    pub(crate) gen_ai_provider_name: String,
    pub(crate) gen_ai_request_model: String,
    pub(crate) error_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub(crate) struct GenAiTokenLabels {
    pub(crate) gen_ai_operation_name: String,
    pub(crate) gen_ai_provider_name: String,
    pub(crate) gen_ai_request_model: String,
    pub(crate) gen_ai_token_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AgentLabels {
    agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AgentStatusLabels {
    agent: String,
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolLabels {
    agent: String,
    tool: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolStatusLabels {
    agent: String,
    tool: String,
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    agent: String,
    decision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TokenLabels {
    agent: String,
    model: String,
    r#type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ModelLabels {
    agent: String,
    model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    agent: String,
    error_type: String,
}

/// A histogram family whose series can be listed, so the exposition can merge them with OTLP
/// series of the same metric name (prometheus-client's `Family` cannot be iterated).
#[derive(Debug)]
pub(crate) struct ListedHistograms<L> {
    buckets: &'static [f64],
    /// Label values come from clients (bounded by the cardinality guard): a randomly seeded
    /// hasher, cheaper than SipHash for the four-string labels hashed on every LLM span.
    series: RwLock<HashMap<L, Histogram, foldhash::fast::RandomState>>,
}

impl<L: Clone + Ord + std::hash::Hash + EncodeLabelSet> ListedHistograms<L> {
    fn new(buckets: &'static [f64]) -> Self {
        Self {
            buckets,
            series: RwLock::default(),
        }
    }

    /// The series of `labels` (created when new); the handle shares the listed series' values.
    fn series(&self, labels: L) -> Histogram {
        if let Some(h) = self.series.read().get(&labels) {
            return h.clone();
        }
        self.series
            .write()
            .entry(labels)
            .or_insert_with(|| Histogram::new(self.buckets.iter().copied()))
            .clone()
    }

    /// Encodes every series into an already described family.
    pub(crate) fn encode_series(&self, encoder: &mut MetricEncoder<'_>) -> std::fmt::Result {
        let series = self.series.read();
        let mut sorted: Vec<(&L, &Histogram)> = series.iter().collect();
        // Stable output order is not required by the format but makes diffs and tests readable.
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (labels, histogram) in sorted {
            histogram.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.series.read().is_empty()
    }
}

/// Agent metrics: counters and histograms derived from spans, plus the pending-run state.
///
/// Thread-safe; [`AgentMetrics::observe`] takes one short lock for the run state and otherwise
/// touches only atomic metric handles.
#[derive(Debug)]
pub struct AgentMetrics {
    config: MetricsConfig,
    guard: LabelGuard,
    overflow: OverflowCounter,
    pub(crate) genai_duration: ListedHistograms<GenAiOperationLabels>,
    pub(crate) genai_tokens: ListedHistograms<GenAiTokenLabels>,
    runs: Family<AgentStatusLabels, Counter>,
    run_duration: HistogramFamily<AgentLabels>,
    tool_calls: Family<ToolStatusLabels, Counter>,
    tool_duration: HistogramFamily<ToolLabels>,
    tool_calls_per_run: HistogramFamily<AgentLabels>,
    max_same_tool: HistogramFamily<AgentLabels>,
    decisions: Family<DecisionLabels, Counter>,
    confidence: HistogramFamily<AgentLabels>,
    reasoning_steps: HistogramFamily<AgentLabels>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabels, Counter<f64, AtomicU64>>,
    errors: Family<ErrorLabels, Counter>,
    pending_evicted: Counter,
    pending: Mutex<Pending>,
    /// The families' handles by borrowed label values (see [`series`]).
    handles: Handles,
}

/// One [`SeriesCache`] per label set recorded together; the keys name the label values in order.
#[derive(Debug, Default)]
struct Handles {
    /// `[agent, status]`: `cairn_agent_runs_total`, `cairn_agent_run_duration_seconds`.
    runs: SeriesCache<2, (Counter, Histogram)>,
    /// `[operation, provider, request model, error type]`.
    genai_duration: SeriesCache<4, Histogram>,
    /// `[operation, provider, request model, token type]`.
    genai_tokens: SeriesCache<4, Histogram>,
    /// `[agent, tool, status]`: `cairn_tool_calls_total`, `cairn_tool_call_duration_seconds`.
    tools: SeriesCache<3, (Counter, Histogram)>,
    /// `[agent, decision]`.
    decisions: SeriesCache<2, Counter>,
    /// `[agent]`.
    confidence: SeriesCache<1, Histogram>,
    /// `[agent, model, token type]`.
    tokens: SeriesCache<3, Counter>,
    /// `[agent, model]`.
    cost: SeriesCache<2, Counter<f64, AtomicU64>>,
    /// `[agent, error type]`.
    errors: SeriesCache<2, Counter>,
    /// `[agent]`: tool calls, most calls of one tool and reasoning steps per run.
    per_run: SeriesCache<1, [Histogram; 3]>,
}

impl AgentMetrics {
    /// Creates the metrics (not yet registered; [`crate::Metrics`] registers them).
    pub fn new(config: MetricsConfig) -> Self {
        let overflow = OverflowCounter::default();
        let pending = Pending::new(
            config.pending_runs_cap,
            config.pending_spans_cap,
            config.run_grace(),
            config.pending_timeout(),
        );
        Self {
            guard: LabelGuard::new(config.label_cap, overflow.clone()),
            overflow,
            genai_duration: ListedHistograms::new(&GENAI_DURATION_BUCKETS),
            genai_tokens: ListedHistograms::new(&GENAI_TOKEN_BUCKETS),
            runs: Family::default(),
            run_duration: Family::new_with_constructor(|| Histogram::new(RUN_DURATION_BUCKETS)),
            tool_calls: Family::default(),
            tool_duration: Family::new_with_constructor(|| Histogram::new(TOOL_DURATION_BUCKETS)),
            tool_calls_per_run: Family::new_with_constructor(|| Histogram::new(PER_RUN_BUCKETS)),
            max_same_tool: Family::new_with_constructor(|| Histogram::new(MAX_SAME_TOOL_BUCKETS)),
            decisions: Family::default(),
            confidence: Family::new_with_constructor(|| Histogram::new(CONFIDENCE_BUCKETS)),
            reasoning_steps: Family::new_with_constructor(|| Histogram::new(PER_RUN_BUCKETS)),
            tokens: Family::default(),
            cost: Family::default(),
            errors: Family::default(),
            pending_evicted: Counter::default(),
            pending: Mutex::new(pending),
            handles: Handles::default(),
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    pub(crate) fn overflow_counter(&self) -> &OverflowCounter {
        &self.overflow
    }

    /// Registers every family except the two GenAI histograms (encoded by the exposition's
    /// collector together with OTLP series of the same name).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "cairn_agent_runs",
            "Agent runs (agent spans) by agent and status",
            self.runs.clone(),
        );
        registry.register_with_unit(
            "cairn_agent_run_duration",
            "Duration of agent runs",
            Unit::Seconds,
            self.run_duration.clone(),
        );
        registry.register(
            "cairn_tool_calls",
            "Tool calls by agent, tool and status",
            self.tool_calls.clone(),
        );
        registry.register_with_unit(
            "cairn_tool_call_duration",
            "Duration of tool calls",
            Unit::Seconds,
            self.tool_duration.clone(),
        );
        registry.register(
            "cairn_tool_calls_per_run",
            "Tool calls per agent run",
            self.tool_calls_per_run.clone(),
        );
        registry.register(
            "cairn_run_max_same_tool_calls",
            "Per agent run, the most times one tool was called (tool-loop signal)",
            self.max_same_tool.clone(),
        );
        registry.register(
            "cairn_decisions",
            "Decisions recorded by agents, by decision name",
            self.decisions.clone(),
        );
        registry.register(
            "cairn_decision_confidence",
            "Confidence of recorded decisions (0 to 1)",
            self.confidence.clone(),
        );
        registry.register(
            "cairn_reasoning_steps_per_run",
            "Reasoning steps per agent run",
            self.reasoning_steps.clone(),
        );
        registry.register(
            "cairn_llm_tokens",
            "LLM tokens by agent, model and type (input or output)",
            self.tokens.clone(),
        );
        registry.register(
            "cairn_llm_cost_usd",
            "Estimated LLM cost in US dollars, from the configured price table",
            self.cost.clone(),
        );
        registry.register(
            "cairn_errors",
            "Failed spans by agent and error type",
            self.errors.clone(),
        );
        registry.register(
            "cairn_metrics_label_overflow",
            "Label values replaced by __other__ (or OTLP points dropped) by the cardinality guard",
            self.overflow.clone(),
        );
        registry.register(
            "cairn_metrics_pending_runs_evicted",
            "Traces with open runs or unattributed spans dropped early to stay under the pending caps",
            self.pending_evicted.clone(),
        );
    }

    /// Observes one ledger entry (see the module docs for the once-per-entry contract).
    pub fn observe(&self, record: &Record) {
        self.observe_at(record, Instant::now());
    }

    /// [`AgentMetrics::observe`] with an explicit clock, for deterministic tests and replays.
    pub fn observe_at(&self, record: &Record, now: Instant) {
        let Record::Span(span) = record else {
            return;
        };
        // Model and token counts are read once, borrowed, for both the agent-labelled counters
        // and the GenAI histograms.
        let llm = (span.agent_kind == AgentKind::Llm).then(|| Llm::of(span));
        let (arrival, agent_name) = if span.agent_kind == AgentKind::Agent {
            let name = agent_of(span);
            (Arrival::Agent(name.clone()), Some(name))
        } else {
            (Arrival::Span(self.facts(span, llm.as_ref())), None)
        };
        let mut effects = Vec::new();
        {
            let mut pending = self.pending.lock();
            let fresh = pending.arrive(
                span.trace_id,
                span.span_id,
                span.parent_span_id,
                arrival,
                now,
                &mut effects,
            );
            if !fresh {
                return;
            }
            pending.tick(now, &mut effects);
        }
        if let Some(name) = agent_name {
            self.record_run_span(span, &name);
        }
        if let Some(llm) = &llm {
            self.record_genai(span, llm);
        }
        self.apply(effects);
    }

    /// Finalizes runs whose grace period has passed and traces idle for the pending timeout.
    /// Called on every observation and by the exposition before each scrape.
    pub fn tick(&self, now: Instant) {
        let mut effects = Vec::new();
        self.pending.lock().tick(now, &mut effects);
        self.apply(effects);
    }

    /// Finalizes everything pending now (shutdown; tests).
    pub fn flush(&self) {
        let mut effects = Vec::new();
        self.pending.lock().flush_all(&mut effects);
        self.apply(effects);
    }

    /// Traces and spans held for run aggregation.
    pub fn pending(&self) -> (usize, usize) {
        let pending = self.pending.lock();
        (pending.traces(), pending.spans())
    }

    fn facts(&self, span: &Span, llm: Option<&Llm<'_>>) -> SpanFacts {
        let tool = (span.agent_kind == AgentKind::Tool).then(|| tool_of(span));
        let ok = !span.is_error();
        let mut counters = Counters {
            tool: tool.map(|name| (name.to_owned(), ok, seconds(span.duration_ns()))),
            ..Counters::default()
        };
        // `Span::decision` builds ten attribute names; only ask when one can match.
        let has_decision = span
            .attributes
            .iter()
            .any(|kv| kv.key.starts_with("cairn.decision.") || kv.key.starts_with("decision."));
        if let Some(decision) = has_decision.then(|| span.decision()).flatten() {
            let name = decision.name.unwrap_or_else(|| "unknown".to_owned());
            counters.decision = Some((name, decision.confidence));
        }
        if let Some(llm) = llm {
            let input = llm.input.unwrap_or(0);
            let output = llm.output.unwrap_or(0);
            let price = [llm.names.request_model, llm.names.response_model]
                .into_iter()
                .flatten()
                .find_map(|m| self.config.price_of(m));
            let cost = price.map(|p| p.cost_usd(input, output));
            let label = llm
                .names
                .request_model
                .or(llm.names.response_model)
                .unwrap_or("unknown");
            counters.llm = Some((label.to_owned(), input, output, cost));
        }
        if !ok {
            counters.error = Some(error_type_of(span));
        }
        SpanFacts {
            own_agent: span.agent_name(),
            tool: tool.map(str::to_owned),
            reasoning: span.agent_kind == AgentKind::Reasoning,
            counters: (!counters.is_empty()).then_some(counters),
        }
    }

    fn record_run_span(&self, span: &Span, name: &str) {
        let ok = !span.is_error();
        let duration = seconds(span.duration_ns());
        self.handles.runs.record(
            [name, status(ok)],
            || {
                let mut admit = self.guard.admission("cairn_agent_runs_total");
                let agent = admit.value("agent", name);
                let runs = self.runs.get_or_create_owned(&AgentStatusLabels {
                    agent: agent.clone(),
                    status: status(ok),
                });
                let run_duration = self
                    .run_duration
                    .get_or_create_owned(&AgentLabels { agent });
                ((runs, run_duration), admit.all_admitted())
            },
            |(runs, run_duration)| {
                runs.inc();
                run_duration.observe(duration);
            },
        );
        if !ok {
            self.count_error(name, &error_type_of(span));
        }
    }

    fn record_genai(&self, span: &Span, llm: &Llm<'_>) {
        let operation = span
            .attribute_str("gen_ai.operation.name")
            .unwrap_or("chat");
        let provider = llm.names.provider.unwrap_or("");
        let model = llm.names.request_model.unwrap_or("");
        let error_type = if span.is_error() {
            error_type_of(span)
        } else {
            String::new()
        };
        // The labels both GenAI histograms share, admitted for `metric`.
        let shared = |metric| {
            let mut admit = self.guard.admission(metric);
            let values = [
                admit.value("gen_ai_operation_name", operation),
                admit.value("gen_ai_provider_name", provider),
                admit.value("gen_ai_request_model", model),
            ];
            (admit, values)
        };
        let duration = seconds(span.duration_ns());
        self.handles.genai_duration.record(
            [operation, provider, model, &error_type],
            || {
                let (mut admit, [operation, provider, model]) =
                    shared("gen_ai_client_operation_duration_seconds");
                let labels = GenAiOperationLabels {
                    gen_ai_operation_name: operation,
                    gen_ai_provider_name: provider,
                    gen_ai_request_model: model,
                    error_type: admit.value("error_type", &error_type),
                };
                (self.genai_duration.series(labels), admit.all_admitted())
            },
            |h| h.observe(duration),
        );
        for (token_type, count) in [("input", llm.input), ("output", llm.output)] {
            let Some(count) = count else { continue };
            #[allow(clippy::cast_precision_loss)] // token counts far below 2^53
            let count = count as f64;
            self.handles.genai_tokens.record(
                [operation, provider, model, token_type],
                || {
                    let (admit, [operation, provider, model]) = shared("gen_ai_client_token_usage");
                    let labels = GenAiTokenLabels {
                        gen_ai_operation_name: operation,
                        gen_ai_provider_name: provider,
                        gen_ai_request_model: model,
                        gen_ai_token_type: token_type,
                    };
                    (self.genai_tokens.series(labels), admit.all_admitted())
                },
                |h| h.observe(count),
            );
        }
    }

    fn apply(&self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Emit { agent, counters } => self.emit(&agent, counters),
                Effect::Run(summary) => self.record_run(&summary),
                Effect::Evicted => {
                    self.pending_evicted.inc();
                }
            }
        }
    }

    fn emit(&self, agent: &str, counters: Counters) {
        if let Some((tool, ok, duration)) = counters.tool {
            self.handles.tools.record(
                [agent, &tool, status(ok)],
                || {
                    let mut admit = self.guard.admission("cairn_tool_calls_total");
                    let agent = admit.value("agent", agent);
                    let tool = admit.value("tool", &tool);
                    let calls = self.tool_calls.get_or_create_owned(&ToolStatusLabels {
                        agent: agent.clone(),
                        tool: tool.clone(),
                        status: status(ok),
                    });
                    let durations = self
                        .tool_duration
                        .get_or_create_owned(&ToolLabels { agent, tool });
                    ((calls, durations), admit.all_admitted())
                },
                |(calls, durations)| {
                    calls.inc();
                    durations.observe(duration);
                },
            );
        }
        if let Some((decision, confidence)) = counters.decision {
            self.handles.decisions.record(
                [agent, &decision],
                || {
                    let mut admit = self.guard.admission("cairn_decisions_total");
                    let labels = DecisionLabels {
                        agent: admit.value("agent", agent),
                        decision: admit.value("decision", &decision),
                    };
                    let decisions = self.decisions.get_or_create_owned(&labels);
                    (decisions, admit.all_admitted())
                },
                |decisions| {
                    decisions.inc();
                },
            );
            if let Some(confidence) = confidence {
                self.handles.confidence.record(
                    [agent],
                    || {
                        let mut admit = self.guard.admission("cairn_decision_confidence");
                        let labels = AgentLabels {
                            agent: admit.value("agent", agent),
                        };
                        let histogram = self.confidence.get_or_create_owned(&labels);
                        (histogram, admit.all_admitted())
                    },
                    |h| h.observe(confidence),
                );
            }
        }
        if let Some((model, input, output, cost)) = counters.llm {
            for (kind, count) in [("input", input), ("output", output)] {
                if count == 0 {
                    continue;
                }
                self.handles.tokens.record(
                    [agent, &model, kind],
                    || {
                        let mut admit = self.guard.admission("cairn_llm_tokens_total");
                        let labels = TokenLabels {
                            agent: admit.value("agent", agent),
                            model: admit.value("model", &model),
                            r#type: kind,
                        };
                        let tokens = self.tokens.get_or_create_owned(&labels);
                        (tokens, admit.all_admitted())
                    },
                    |tokens| {
                        tokens.inc_by(count);
                    },
                );
            }
            if let Some(cost) = cost.filter(|c| c.is_finite() && *c > 0.0) {
                self.handles.cost.record(
                    [agent, &model],
                    || {
                        let mut admit = self.guard.admission("cairn_llm_cost_usd_total");
                        let labels = ModelLabels {
                            agent: admit.value("agent", agent),
                            model: admit.value("model", &model),
                        };
                        (self.cost.get_or_create_owned(&labels), admit.all_admitted())
                    },
                    |total| {
                        total.inc_by(cost);
                    },
                );
            }
        }
        if let Some(error_type) = counters.error {
            self.count_error(agent, &error_type);
        }
    }

    fn count_error(&self, agent: &str, error_type: &str) {
        self.handles.errors.record(
            [agent, error_type],
            || {
                let mut admit = self.guard.admission("cairn_errors_total");
                let labels = ErrorLabels {
                    agent: admit.value("agent", agent),
                    error_type: admit.value("error_type", error_type),
                };
                (
                    self.errors.get_or_create_owned(&labels),
                    admit.all_admitted(),
                )
            },
            |errors| {
                errors.inc();
            },
        );
    }

    fn record_run(&self, run: &RunSummary) {
        self.handles.per_run.record(
            [&run.agent],
            || {
                let mut admit = self.guard.admission("cairn_tool_calls_per_run");
                let agent = AgentLabels {
                    agent: admit.value("agent", &run.agent),
                };
                let handles = [
                    self.tool_calls_per_run.get_or_create_owned(&agent),
                    self.max_same_tool.get_or_create_owned(&agent),
                    self.reasoning_steps.get_or_create_owned(&agent),
                ];
                (handles, admit.all_admitted())
            },
            |[tool_calls, max_same_tool, reasoning_steps]| {
                #[allow(clippy::cast_precision_loss)] // per-run counts far below 2^53
                {
                    tool_calls.observe(run.tool_calls as f64);
                    max_same_tool.observe(run.max_same_tool as f64);
                    reasoning_steps.observe(run.reasoning_steps as f64);
                }
            },
        );
    }
}

/// The agent name of an agent span: its `gen_ai.agent.name` (…), else the span name without the
/// `invoke_agent`/`create_agent` operation prefix.
fn agent_of(span: &Span) -> String {
    span.agent_name()
        .or_else(|| {
            let name = span.name.trim();
            let name = ["invoke_agent", "create_agent"]
                .iter()
                .find_map(|op| name.strip_prefix(op))
                .unwrap_or(name)
                .trim();
            (!name.is_empty()).then(|| name.to_owned())
        })
        .unwrap_or_else(|| UNKNOWN_AGENT.to_owned())
}

/// The tool name of a tool span: [`Span::tool`]'s name, else the span name without the
/// `execute_tool` prefix.
fn tool_of(span: &Span) -> &str {
    span.tool_name()
        .or_else(|| {
            let name = span.name.trim();
            let name = name.strip_prefix("execute_tool").unwrap_or(name).trim();
            (!name.is_empty()).then_some(name)
        })
        .unwrap_or("unknown")
}

/// What an LLM span's metrics read, borrowed from its attributes: [`Span::model_names`] and the
/// input and output tokens.
struct Llm<'a> {
    names: ModelNames<'a>,
    input: Option<u64>,
    output: Option<u64>,
}

impl<'a> Llm<'a> {
    fn of(span: &'a Span) -> Self {
        Self {
            names: span.model_names(),
            input: span.input_tokens(),
            output: span.output_tokens(),
        }
    }
}

fn error_type_of(span: &Span) -> String {
    span.error()
        .and_then(|e| e.error_type)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| OTHER_ERROR_TYPE.to_owned())
}

fn status(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}

#[allow(clippy::cast_precision_loss)] // nanosecond durations below 2^53 (104 days) are exact
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}
