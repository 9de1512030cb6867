//! A synthetic but realistic multi-agent workload, recorded through this SDK: the engine behind
//! `cairn demo` and `cairn serve --demo`, also handy for load tests.
//!
//! Each run is one trace: a `planner` agent screens the request with a guardrail, plans with an
//! LLM, reasons, decides whom to delegate to (with a confidence), runs a `research` and/or a
//! `coding` agent on their own threads (explicit parents), then synthesizes an answer and checks it
//! for PII. The sub-agents call LLMs (provider, model, token usage with cache and reasoning
//! subsets) and tools (`web_search`, `fetch_url`, `code_exec`, `sql_query`, `file_read`) whose
//! latencies are log-normal and which fail like real ones (timeouts, rate limits with
//! `retry_after`, bad arguments, upstream errors) and are retried with backoff. A few runs fail with
//! an error and a backtrace.
//!
//! Time is simulated: spans carry realistic timestamps (starting at the wall-clock time of the
//! run) but the workload does not sleep, so thousands of runs take seconds. `rate` paces runs in
//! real time.
//!
//! Determinism: the workload (requests, branches, latencies, token counts, failures) is a pure
//! function of `seed` and the run index; span ids and wall-clock start times are not.
//!
//! Injections switch on misbehaviour for alerting to detect, in runs at or after `inject_after`
//! (default: the second half of `runs`, or of `rate × duration`, else run 20):
//! - `tool-loop`: the research agent repeats the same `web_search` 8–15 times;
//! - `error-burst`: most tool calls fail and a third of the runs error out;
//! - `confidence-drift`: delegation confidence sinks steadily from ~0.9 toward ~0.3;
//! - `latency-spike`: tool and LLM latencies are ~8× longer;
//! - `token-spike`: LLM token usage is ~15× higher.

mod agents;
mod sim;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Tracer;

/// A misbehaviour to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Injection {
    /// The research agent calls the same tool with the same arguments over and over.
    ToolLoop,
    /// A burst of tool failures and failed runs.
    ErrorBurst,
    /// Decision confidence drifts down run after run.
    ConfidenceDrift,
    /// Latencies jump by an order of magnitude.
    LatencySpike,
    /// Token usage jumps by an order of magnitude.
    TokenSpike,
}

impl Injection {
    /// Every injection, in the order of the CLI's help.
    pub const ALL: [Injection; 5] = [
        Injection::ToolLoop,
        Injection::ErrorBurst,
        Injection::ConfidenceDrift,
        Injection::LatencySpike,
        Injection::TokenSpike,
    ];

    /// The CLI name (`tool-loop`, `error-burst`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Injection::ToolLoop => "tool-loop",
            Injection::ErrorBurst => "error-burst",
            Injection::ConfidenceDrift => "confidence-drift",
            Injection::LatencySpike => "latency-spike",
            Injection::TokenSpike => "token-spike",
        }
    }
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown injection name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown injection {0:?} (expected tool-loop, error-burst, confidence-drift, latency-spike or token-spike)"
)]
pub struct UnknownInjection(pub String);

impl FromStr for Injection {
    type Err = UnknownInjection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Injection::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| UnknownInjection(s.to_owned()))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seeds the workload.
    pub seed: u64,
    /// Stop after this many runs (`None`: until `duration` or `stop`).
    pub runs: Option<u64>,
    /// Runs per second in real time (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// Stop after this much real time.
    pub duration: Option<Duration>,
    /// Misbehaviour to switch on.
    pub inject: Option<Injection>,
    /// First run index the injection applies to (default: `runs / 2`, or half of
    /// `rate × duration`, else 20).
    pub inject_after: Option<u64>,
    /// Set to stop between runs (e.g. on Ctrl-C or server shutdown).
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 42,
            runs: Some(25),
            rate: None,
            duration: None,
            inject: None,
            inject_after: None,
            stop: None,
        }
    }
}

impl DemoOptions {
    /// The first run the injection applies to: `inject_after`, else half of the runs expected
    /// from `runs` (or from `rate × duration`), else run 20.
    fn inject_from(&self) -> u64 {
        if let Some(after) = self.inject_after {
            return after;
        }
        if let Some(runs) = self.runs {
            return runs / 2;
        }
        match (self.rate, self.duration) {
            (Some(rate), Some(duration)) if rate.is_finite() && rate > 0.0 => {
                // Truncation is fine: this only picks where the second half starts.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let expected = (rate * duration.as_secs_f64()) as u64;
                expected / 2
            }
            _ => 20,
        }
    }
}

/// What a demo produced.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct DemoSummary {
    /// Agent runs (traces).
    pub runs: u64,
    /// Spans recorded.
    pub spans: u64,
    /// LLM calls.
    pub llm_calls: u64,
    /// Tool calls, including retries.
    pub tool_calls: u64,
    /// Tool calls that failed.
    pub tool_failures: u64,
    /// Tool calls that were retries.
    pub tool_retries: u64,
    /// Decisions.
    pub decisions: u64,
    /// Runs that ended with an error.
    pub failed_runs: u64,
    /// Runs the injection applied to.
    pub injected_runs: u64,
    /// Input tokens over all LLM calls.
    pub input_tokens: u64,
    /// Output tokens over all LLM calls.
    pub output_tokens: u64,
    /// Simulated agent time over all runs.
    pub simulated: Duration,
    /// Real time taken.
    pub elapsed: Duration,
}

impl DemoSummary {
    pub(crate) fn merge(&mut self, other: &DemoSummary) {
        self.spans += other.spans;
        self.llm_calls += other.llm_calls;
        self.tool_calls += other.tool_calls;
        self.tool_failures += other.tool_failures;
        self.tool_retries += other.tool_retries;
        self.decisions += other.decisions;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }

    /// The summary as a JSON object (durations in milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "runs": self.runs,
            "spans": self.spans,
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "tool_failures": self.tool_failures,
            "tool_retries": self.tool_retries,
            "decisions": self.decisions,
            "failed_runs": self.failed_runs,
            "injected_runs": self.injected_runs,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "simulated_ms": u64::try_from(self.simulated.as_millis()).unwrap_or(u64::MAX),
            "elapsed_ms": u64::try_from(self.elapsed.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// The RNG seed of run `index`: a SplitMix64 step, so neighbouring runs are unrelated.
fn run_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the workload on `tracer` until `runs`, `duration` or `stop`, and returns what it
/// recorded. The caller flushes or shuts the tracer down.
pub fn run(tracer: &Tracer, options: &DemoOptions) -> DemoSummary {
    let started = Instant::now();
    let mut summary = DemoSummary::default();
    let inject_from = options.inject_from();
    let mut index = 0u64;
    loop {
        if options.runs.is_some_and(|n| index >= n)
            || options.duration.is_some_and(|d| started.elapsed() >= d)
            || options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            break;
        }
        if let Some(rate) = options.rate.filter(|r| *r > 0.0 && r.is_finite()) {
            #[allow(clippy::cast_precision_loss)]
            let due = started + Duration::from_secs_f64(index as f64 / rate);
            let now = Instant::now();
            if due > now {
                // Sleep in short slices so `stop` and `duration` are honoured promptly.
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
                continue;
            }
        }
        let injection = options.inject.filter(|_| index >= inject_from).map(|i| {
            // How far into the injection window this run is, 0..=1 (for gradual drifts).
            #[allow(clippy::cast_precision_loss)]
            let progress = match options.runs {
                Some(n) if n > inject_from => {
                    (index - inject_from) as f64 / (n - inject_from) as f64
                }
                _ => ((index - inject_from) as f64 / 50.0).min(1.0),
            };
            (i, progress)
        });
        let mut rng = StdRng::seed_from_u64(run_seed(options.seed, index));
        let outcome = agents::run_once(tracer, &mut rng, index, injection, SystemTime::now());
        summary.runs += 1;
        summary.failed_runs += u64::from(outcome.failed);
        summary.injected_runs += u64::from(injection.is_some());
        summary.simulated += outcome.simulated;
        summary.merge(&outcome.counts);
        index += 1;
    }
    summary.elapsed = started.elapsed();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_names_round_trip() {
        for i in Injection::ALL {
            assert_eq!(i.as_str().parse::<Injection>(), Ok(i));
        }
        assert!("tool_loop".parse::<Injection>().is_err());
    }

    #[test]
    fn run_seeds_differ() {
        assert_ne!(run_seed(1, 0), run_seed(1, 1));
        assert_ne!(run_seed(1, 0), run_seed(2, 0));
        assert_eq!(run_seed(7, 3), run_seed(7, 3));
    }
}
