//! Per-run aggregation: which agent run each span belongs to, with spans arriving in any order.
//!
//! Exporters send a span when it ends, so a trace usually arrives children first: a tool span
//! before the agent span that called it. Run-level metrics (tool calls, the most calls of one
//! tool, reasoning steps per run) and the `agent` label of spans that do not name their agent need
//! the nearest agent ancestor, so spans are held here, per trace, until it is known.
//!
//! Model (all state behind one lock in [`super::AgentMetrics`]):
//! - Every span of a pending trace is a node `{parent, agent name if it is an agent span}`; the
//!   node map doubles as the duplicate filter (a span id seen twice in a pending trace is ignored).
//! - A span is *resolved* by walking its parent chain: the first agent span on it is its run; a
//!   root reached without an agent means "no run"; a parent not yet seen *blocks* the walk and the
//!   span waits, indexed by the blocking span id, until that span arrives (each arrival re-walks
//!   only the spans waiting on it, so a trace costs O(spans × depth)).
//! - Counters that need the agent label are emitted when the span is resolved, or at arrival when
//!   the span names its agent itself (its own name wins over the ancestor's).
//! - An agent span opens a run at arrival; the run stays open for `run_grace` (late children,
//!   parent-first delivery) and is then *finalized*: its summary is emitted once and later spans
//!   no longer change it.
//! - A trace with no new span for `pending_timeout` is dropped: waiting spans are emitted under
//!   their own agent name (or `unknown`), open runs are finalized. When more than
//!   `pending_runs_cap` traces or `pending_spans_cap` spans are held, the least recently active
//!   trace is dropped the same way, and counted as evicted when it still had open work.
//! - Parent chains are walked at most [`MAX_DEPTH`] hops, so a malicious parent cycle ends as
//!   "no run".

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use cairn_model::{SpanId, TraceId};

/// The maps of pending traces, spans and runs. Their keys (trace and span ids, tool names) come
/// from clients, so the hasher is randomly seeded per map (foldhash's `RandomState`, resistant
/// to precomputed collisions) rather than a fixed one like Fx; it costs less than the standard
/// library's SipHash, which is built for stronger guarantees than these maps need.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Longest parent chain walked.
pub(crate) const MAX_DEPTH: usize = 256;

/// Agent label of spans with no agent of their own and no agent ancestor.
pub(crate) const UNKNOWN_AGENT: &str = "unknown";

/// What a non-agent span contributes to metrics labelled with its agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    /// Tool name, success and duration in seconds.
    pub(crate) tool: Option<(String, bool, f64)>,
    /// Decision name and confidence.
    pub(crate) decision: Option<(String, Option<f64>)>,
    /// Model, input and output tokens, cost in dollars (when priced).
    pub(crate) llm: Option<(String, u64, u64, Option<f64>)>,
    /// Error type of a failed span.
    pub(crate) error: Option<String>,
}

impl Counters {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a non-agent span contributes, kept until it is resolved.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanFacts {
    /// The agent the span names itself (`gen_ai.agent.name` …).
    pub(crate) own_agent: Option<String>,
    /// Tool name, for per-run tool counts.
    pub(crate) tool: Option<String>,
    /// A reasoning step.
    pub(crate) reasoning: bool,
    /// Agent-labelled counters not yet emitted.
    pub(crate) counters: Option<Counters>,
}

/// How a span arrives.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// An agent span: opens a run of this agent.
    Agent(String),
    /// Any other span.
    Span(SpanFacts),
}

/// A finalized run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunSummary {
    pub(crate) agent: String,
    pub(crate) tool_calls: u64,
    pub(crate) max_same_tool: u64,
    pub(crate) reasoning_steps: u64,
}

/// What the caller must record.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Record a span's agent-labelled counters under `agent`.
    Emit { agent: String, counters: Counters },
    /// Observe the per-run histograms.
    Run(RunSummary),
    /// A trace with open work was dropped to stay under the caps.
    Evicted,
}

#[derive(Debug)]
struct Node {
    parent: Option<SpanId>,
    agent: Option<String>,
    facts: Option<Box<SpanFacts>>,
}

#[derive(Debug, Default)]
struct Run {
    tools: HashMap<String, u64>,
    tool_calls: u64,
    reasoning_steps: u64,
}

#[derive(Debug)]
struct TraceState {
    nodes: HashMap<SpanId, Node>,
    /// Blocking span id → spans whose walk stopped there.
    waiting: HashMap<SpanId, Vec<SpanId>>,
    /// Open runs by agent span id.
    runs: HashMap<SpanId, Run>,
    seq: u64,
    last_active: Instant,
}

enum Walk {
    Agent(SpanId),
    NoAgent,
    Blocked(SpanId),
}

/// Pending traces and runs.
#[derive(Debug)]
pub(crate) struct Pending {
    traces: HashMap<TraceId, TraceState>,
    /// Activity order, least recent first: `(sequence number, trace)` of every arrival. An entry
    /// is live while its trace's `seq` is still that number; entries left behind by a later
    /// arrival are skipped where met and swept out once they outnumber the traces (see
    /// [`Pending::push_activity`]), so an arrival costs amortized O(1) instead of a sorted map's
    /// remove and insert.
    activity: VecDeque<(u64, TraceId)>,
    /// Runs to finalize, in deadline order (deadlines are arrival + a constant grace).
    grace_queue: VecDeque<(Instant, TraceId, SpanId)>,
    next_seq: u64,
    spans: usize,
    runs_cap: usize,
    spans_cap: usize,
    grace: Duration,
    timeout: Duration,
}

impl Pending {
    pub(crate) fn new(
        runs_cap: usize,
        spans_cap: usize,
        grace: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            traces: HashMap::default(),
            activity: VecDeque::new(),
            grace_queue: VecDeque::new(),
            next_seq: 0,
            spans: 0,
            runs_cap: runs_cap.max(1),
            spans_cap: spans_cap.max(1),
            grace,
            timeout,
        }
    }

    /// Traces held.
    pub(crate) fn traces(&self) -> usize {
        self.traces.len()
    }

    /// Spans held.
    pub(crate) fn spans(&self) -> usize {
        self.spans
    }

    /// Records a span's arrival. Returns `false` (and changes nothing) for a duplicate.
    pub(crate) fn arrive(
        &mut self,
        trace: TraceId,
        span: SpanId,
        parent: Option<SpanId>,
        arrival: Arrival,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> bool {
        if self
            .traces
            .get(&trace)
            .is_some_and(|state| state.nodes.contains_key(&span))
        {
            return false;
        }
        self.make_room(trace, effects);
        let seq = self.next_seq;
        self.next_seq += 1;
        let state = self.traces.entry(trace).or_insert_with(|| TraceState {
            nodes: HashMap::default(),
            waiting: HashMap::default(),
            runs: HashMap::default(),
            seq,
            last_active: now,
        });
        state.seq = seq;
        state.last_active = now;
        self.spans += 1;

        match arrival {
            Arrival::Agent(name) => {
                state.nodes.insert(
                    span,
                    Node {
                        parent,
                        agent: Some(name),
                        facts: None,
                    },
                );
                state.runs.insert(span, Run::default());
                let deadline = now.checked_add(self.grace).unwrap_or(now);
                self.grace_queue.push_back((deadline, trace, span));
            }
            Arrival::Span(mut facts) => {
                let walk = walk(state, parent);
                if let (Walk::Blocked(_), Some(own)) = (&walk, &facts.own_agent) {
                    // The span names its agent: count it now, only the run waits.
                    if let Some(counters) = facts.counters.take() {
                        effects.push(Effect::Emit {
                            agent: own.clone(),
                            counters,
                        });
                    }
                }
                state.nodes.insert(
                    span,
                    Node {
                        parent,
                        agent: None,
                        facts: None,
                    },
                );
                settle(state, span, facts, walk, effects);
            }
        }
        // Spans that waited for this one walk on.
        if let Some(waiters) = state.waiting.remove(&span) {
            for waiter in waiters {
                let Some(facts) = state.nodes.get_mut(&waiter).and_then(|n| n.facts.take()) else {
                    continue;
                };
                let parent = state.nodes.get(&waiter).and_then(|n| n.parent);
                let walk = walk(state, parent);
                settle(state, waiter, *facts, walk, effects);
            }
        }
        self.push_activity(seq, trace);
        true
    }

    /// Finalizes runs whose grace has passed and drops traces idle for the timeout.
    pub(crate) fn tick(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        while let Some(&(deadline, trace, span)) = self.grace_queue.front() {
            if deadline > now {
                break;
            }
            self.grace_queue.pop_front();
            if let Some(run) = self
                .traces
                .get_mut(&trace)
                .and_then(|state| state.runs.remove(&span))
            {
                let agent = agent_name(&self.traces, trace, span);
                effects.push(Effect::Run(summarize(agent, &run)));
            }
        }
        while let Some(&(seq, trace)) = self.activity.front() {
            match self.traces.get(&trace) {
                Some(state) if state.seq == seq => {
                    if now.saturating_duration_since(state.last_active) < self.timeout {
                        break;
                    }
                    self.activity.pop_front();
                    self.drop_trace(trace, effects);
                }
                _ => {
                    self.activity.pop_front();
                }
            }
        }
    }

    /// Records an arrival in the activity order, sweeping out stale entries once there are more
    /// than twice as many entries as traces (plus a constant), so the queue stays within a small
    /// multiple of the traces held and each arrival pays for at most a bounded share of a sweep.
    fn push_activity(&mut self, seq: u64, trace: TraceId) {
        self.activity.push_back((seq, trace));
        if self.activity.len() > 2 * self.traces.len() + 64 {
            let traces = &self.traces;
            self.activity
                .retain(|&(seq, trace)| traces.get(&trace).is_some_and(|s| s.seq == seq));
        }
    }

    /// Whether `(seq, trace)` is the latest arrival of a trace still held.
    fn is_live(&self, (seq, trace): (u64, TraceId)) -> bool {
        self.traces.get(&trace).is_some_and(|s| s.seq == seq)
    }

    /// Drops every trace (shutdown, tests): waiting spans are emitted, open runs finalized.
    pub(crate) fn flush_all(&mut self, effects: &mut Vec<Effect>) {
        let traces: Vec<TraceId> = self.traces.keys().copied().collect();
        for trace in traces {
            self.drop_trace(trace, effects);
        }
        self.activity.clear();
        self.grace_queue.clear();
    }

    /// Evicts least recently active traces (other than `keep`) until one more span fits.
    fn make_room(&mut self, keep: TraceId, effects: &mut Vec<Effect>) {
        loop {
            let new_trace = usize::from(!self.traces.contains_key(&keep));
            if self.traces.len() + new_trace <= self.runs_cap && self.spans < self.spans_cap {
                return;
            }
            while self
                .activity
                .front()
                .is_some_and(|&entry| !self.is_live(entry))
            {
                self.activity.pop_front();
            }
            // A single trace over the span cap is dropped itself. The victim's entries go stale
            // with it.
            let victim = self
                .activity
                .iter()
                .find(|&&entry| entry.1 != keep && self.is_live(entry))
                .map(|&(_, trace)| trace);
            let Some(victim) = victim.or_else(|| self.traces.contains_key(&keep).then_some(keep))
            else {
                return;
            };
            if self.drop_trace(victim, effects) {
                effects.push(Effect::Evicted);
            }
        }
    }

    /// Removes a trace; returns whether it still had open work.
    fn drop_trace(&mut self, trace: TraceId, effects: &mut Vec<Effect>) -> bool {
        let Some(mut state) = self.traces.remove(&trace) else {
            return false;
        };
        self.spans = self.spans.saturating_sub(state.nodes.len());
        let waiters: Vec<SpanId> = state.waiting.drain().flat_map(|(_, w)| w).collect();
        let open_work = !waiters.is_empty() || !state.runs.is_empty();
        for waiter in waiters {
            if let Some(facts) = state.nodes.get_mut(&waiter).and_then(|n| n.facts.take()) {
                settle(&mut state, waiter, *facts, Walk::NoAgent, effects);
            }
        }
        let mut runs: Vec<(SpanId, Run)> = state.runs.drain().collect();
        runs.sort_by_key(|(span, _)| *span);
        for (span, run) in runs {
            let agent = state
                .nodes
                .get(&span)
                .and_then(|n| n.agent.clone())
                .unwrap_or_else(|| UNKNOWN_AGENT.to_owned());
            effects.push(Effect::Run(summarize(agent, &run)));
        }
        open_work
    }
}

fn agent_name(traces: &HashMap<TraceId, TraceState>, trace: TraceId, span: SpanId) -> String {
    traces
        .get(&trace)
        .and_then(|s| s.nodes.get(&span))
        .and_then(|n| n.agent.clone())
        .unwrap_or_else(|| UNKNOWN_AGENT.to_owned())
}

fn summarize(agent: String, run: &Run) -> RunSummary {
    RunSummary {
        agent,
        tool_calls: run.tool_calls,
        max_same_tool: run.tools.values().copied().max().unwrap_or(0),
        reasoning_steps: run.reasoning_steps,
    }
}

/// Walks up from `parent` to the nearest agent span.
fn walk(state: &TraceState, parent: Option<SpanId>) -> Walk {
    let mut current = parent;
    for _ in 0..MAX_DEPTH {
        let Some(id) = current else {
            return Walk::NoAgent;
        };
        let Some(node) = state.nodes.get(&id) else {
            return Walk::Blocked(id);
        };
        if node.agent.is_some() {
            return Walk::Agent(id);
        }
        current = node.parent;
    }
    Walk::NoAgent
}

/// Applies a walk's result to a span: wait, or emit and count into its run.
fn settle(
    state: &mut TraceState,
    span: SpanId,
    mut facts: SpanFacts,
    walk: Walk,
    effects: &mut Vec<Effect>,
) {
    let run_agent = match walk {
        Walk::Blocked(blocker) => {
            if let Some(node) = state.nodes.get_mut(&span) {
                node.facts = Some(Box::new(facts));
                state.waiting.entry(blocker).or_default().push(span);
            }
            return;
        }
        Walk::Agent(agent) => Some(agent),
        Walk::NoAgent => None,
    };
    if let Some(counters) = facts.counters.take() {
        let agent = facts
            .own_agent
            .clone()
            .or_else(|| {
                run_agent
                    .and_then(|a| state.nodes.get(&a))
                    .and_then(|n| n.agent.clone())
            })
            .unwrap_or_else(|| UNKNOWN_AGENT.to_owned());
        effects.push(Effect::Emit { agent, counters });
    }
    if let Some(run) = run_agent.and_then(|a| state.runs.get_mut(&a)) {
        if let Some(tool) = facts.tool {
            run.tool_calls += 1;
            *run.tools.entry(tool).or_insert(0) += 1;
        }
        if facts.reasoning {
            run.reasoning_steps += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(n: u8) -> TraceId {
        TraceId([n; 16])
    }

    fn sid(n: u8) -> SpanId {
        SpanId([n; 8])
    }

    fn tool(name: &str) -> Arrival {
        Arrival::Span(SpanFacts {
            tool: Some(name.to_owned()),
            counters: Some(Counters {
                tool: Some((name.to_owned(), true, 0.1)),
                ..Counters::default()
            }),
            ..SpanFacts::default()
        })
    }

    fn runs(effects: &[Effect]) -> Vec<RunSummary> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Run(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn emitted_agents(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Emit { agent, .. } => Some(agent.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_parent_cycle_ends_as_no_run() {
        let now = Instant::now();
        let mut p = Pending::new(10, 100, Duration::ZERO, Duration::from_secs(60));
        let mut fx = Vec::new();
        // 1 -> 2 -> 1: neither is an agent; the walk must terminate.
        assert!(p.arrive(tid(1), sid(1), Some(sid(2)), tool("a"), now, &mut fx));
        assert!(p.arrive(tid(1), sid(2), Some(sid(1)), tool("b"), now, &mut fx));
        assert_eq!(emitted_agents(&fx), [UNKNOWN_AGENT, UNKNOWN_AGENT]);
    }

    #[test]
    fn idle_traces_are_dropped_and_waiters_emitted() {
        let now = Instant::now();
        let mut p = Pending::new(10, 100, Duration::ZERO, Duration::from_secs(60));
        let mut fx = Vec::new();
        p.arrive(tid(1), sid(2), Some(sid(9)), tool("a"), now, &mut fx);
        assert!(fx.is_empty());
        p.tick(now + Duration::from_secs(59), &mut fx);
        assert!(fx.is_empty());
        p.tick(now + Duration::from_secs(60), &mut fx);
        assert_eq!(emitted_agents(&fx), [UNKNOWN_AGENT]);
        assert_eq!(p.traces(), 0);
        assert_eq!(p.spans(), 0);
    }

    #[test]
    fn caps_evict_the_least_recently_active_trace() {
        let now = Instant::now();
        let mut p = Pending::new(2, 100, Duration::from_secs(5), Duration::from_secs(60));
        let mut fx = Vec::new();
        p.arrive(
            tid(1),
            sid(1),
            None,
            Arrival::Agent("a".into()),
            now,
            &mut fx,
        );
        p.arrive(
            tid(2),
            sid(1),
            None,
            Arrival::Agent("b".into()),
            now,
            &mut fx,
        );
        p.arrive(tid(1), sid(2), Some(sid(1)), tool("x"), now, &mut fx);
        // Trace 2 is now the least recently active one.
        p.arrive(
            tid(3),
            sid(1),
            None,
            Arrival::Agent("c".into()),
            now,
            &mut fx,
        );
        assert_eq!(p.traces(), 2);
        assert!(fx.iter().any(|e| matches!(e, Effect::Evicted)));
        assert_eq!(runs(&fx)[0].agent, "b");
    }

    #[test]
    fn a_busy_trace_keeps_the_activity_queue_small_and_idle_ones_still_time_out() {
        let now = Instant::now();
        let timeout = Duration::from_secs(60);
        let mut p = Pending::new(10, 100_000, Duration::ZERO, timeout);
        let mut fx = Vec::new();
        p.arrive(tid(1), sid(1), Some(sid(200)), tool("a"), now, &mut fx);
        let later = now + Duration::from_secs(30);
        for i in 0..10_000_u32 {
            let mut span = [0; 8];
            span[..4].copy_from_slice(&i.to_be_bytes());
            p.arrive(tid(2), SpanId(span), None, tool("b"), later, &mut fx);
            assert!(
                p.activity.len() <= 2 * p.traces() + 64,
                "{}",
                p.activity.len()
            );
        }
        fx.clear();
        // Trace 1 is idle for the timeout, trace 2 is not yet.
        p.tick(now + timeout, &mut fx);
        assert_eq!(emitted_agents(&fx), [UNKNOWN_AGENT]);
        assert_eq!((p.traces(), p.spans()), (1, 10_000));
        p.tick(later + timeout, &mut fx);
        assert_eq!((p.traces(), p.spans(), p.activity.len()), (0, 0, 0));
    }

    #[test]
    fn duplicates_are_ignored() {
        let now = Instant::now();
        let mut p = Pending::new(10, 100, Duration::ZERO, Duration::from_secs(60));
        let mut fx = Vec::new();
        assert!(p.arrive(tid(1), sid(1), None, tool("a"), now, &mut fx));
        assert!(!p.arrive(tid(1), sid(1), None, tool("a"), now, &mut fx));
        assert_eq!(fx.len(), 1);
    }
}
