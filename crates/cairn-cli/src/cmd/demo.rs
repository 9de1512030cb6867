//! `cairn demo`: runs a realistic multi-agent workload through the Cairn SDK and sends it to an
//! OTLP/HTTP endpoint (by default a local `cairn serve`).
//!
//! The workload itself lives in `cairn_tracer::demo` (planner, research and coding agents; LLM
//! calls with token usage; tools with latency distributions, failures and retries; decisions with
//! confidence; reasoning steps; occasional errors with backtraces; `--inject` misbehaviour). This
//! module only parses flags, runs it on a background thread and prints a summary.
//!
//! For `cairn serve --demo`: once the server's OTLP/HTTP listener is bound, call
//! `spawn_demo(base_url, DemoOptions { .. })` (e.g. `http://127.0.0.1:4318`). Set
//! `DemoOptions::stop` to an `Arc<AtomicBool>` you flip on shutdown, leave `runs` and `duration`
//! unset to run until then, and give a `rate` (e.g. 2 runs/s) so data trickles in like real
//! traffic. It returns a `JoinHandle` whose result is a [`DemoReport`] once the demo stopped and
//! its spans were flushed (or an error when no span could be delivered).

use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_tracer::demo::{self, DemoSummary, Injection};
use cairn_tracer::{QueuePolicy, Tracer, TracerStats};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

pub(crate) use cairn_tracer::demo::DemoOptions;

/// How long to wait for the last spans to be delivered when the demo ends.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the reachability check may take.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs without `--runs` or `--duration`.
const DEFAULT_RUNS: u64 = 25;

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// OTLP/HTTP base endpoint to send spans to (`/v1/traces` is appended).
    #[arg(long, default_value = cairn_tracer::DEFAULT_ENDPOINT)]
    endpoint: String,
    /// Seed of the workload: the same seed gives the same runs.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of agent runs (traces) [default: 25 unless --duration is given].
    #[arg(long)]
    runs: Option<u64>,
    /// Runs per second in real time [default: as fast as possible].
    #[arg(long)]
    rate: Option<f64>,
    /// Stop after this long, e.g. `30s` or `5m`.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Switch on a misbehaviour for alerting to detect (in the second half of the runs, or from
    /// `--inject-after`).
    #[arg(long, value_enum)]
    inject: Option<InjectArg>,
    /// The first run (0-based) the injection applies to [default: half of the runs expected].
    #[arg(long, value_name = "RUN", requires = "inject")]
    inject_after: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// `--inject` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InjectArg {
    /// The research agent repeats the same web search.
    ToolLoop,
    /// Most tool calls fail, a third of the runs error out.
    ErrorBurst,
    /// Delegation confidence sinks run after run.
    ConfidenceDrift,
    /// Tool and LLM latencies jump ~8x.
    LatencySpike,
    /// LLM token usage jumps ~15x.
    TokenSpike,
}

impl From<InjectArg> for Injection {
    fn from(arg: InjectArg) -> Self {
        match arg {
            InjectArg::ToolLoop => Injection::ToolLoop,
            InjectArg::ErrorBurst => Injection::ErrorBurst,
            InjectArg::ConfidenceDrift => Injection::ConfidenceDrift,
            InjectArg::LatencySpike => Injection::LatencySpike,
            InjectArg::TokenSpike => Injection::TokenSpike,
        }
    }
}

/// What a finished demo did: the workload's summary and the exporter's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DemoReport {
    pub(crate) summary: DemoSummary,
    pub(crate) export: TracerStats,
    /// Whether every span reached the endpoint before the shutdown deadline.
    pub(crate) flushed: bool,
}

impl DemoReport {
    fn to_json(self) -> serde_json::Value {
        let mut value = self.summary.to_json();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("exported_spans".into(), self.export.exported.into());
            obj.insert(
                "dropped_spans".into(),
                (self.export.dropped_queue + self.export.dropped_export).into(),
            );
            obj.insert("rejected_spans".into(), self.export.rejected.into());
            obj.insert("flushed".into(), self.flushed.into());
        }
        value
    }
}

/// Runs the demo on its own thread against `endpoint` (an OTLP/HTTP base URL) and returns when
/// the workload stopped (`runs`, `duration` or `stop`) and its spans were flushed.
pub(crate) fn spawn_demo(
    endpoint: String,
    opts: DemoOptions,
) -> anyhow::Result<JoinHandle<anyhow::Result<DemoReport>>> {
    std::thread::Builder::new()
        .name("cairn-demo".into())
        .spawn(move || run_demo(&endpoint, &opts))
        .context("cannot start the demo thread")
}

fn run_demo(endpoint: &str, opts: &DemoOptions) -> anyhow::Result<DemoReport> {
    let tracer = Tracer::builder("cairn-demo")
        .endpoint(endpoint)
        .capture_content(true)
        .resource_attribute("deployment.environment.name", "demo")
        .queue_capacity(8192)
        // A demo should not lose data to its own speed: wait for the exporter instead.
        .queue_policy(QueuePolicy::Block {
            timeout: Duration::from_secs(10),
        })
        .build()
        .context("cannot set up the tracer")?;
    preflight(tracer.endpoint())?;
    let summary = demo::run(&tracer, opts);
    let flushed = tracer.shutdown(SHUTDOWN_TIMEOUT).is_ok();
    let export = tracer.stats();
    if export.exported == 0 && summary.spans > 0 {
        let reason = tracer
            .last_export_error()
            .unwrap_or_else(|| "no span was delivered".to_owned());
        bail!(
            "cannot deliver spans to {}: {reason} (is `cairn serve` running?)",
            tracer.endpoint()
        );
    }
    Ok(DemoReport {
        summary,
        export,
        flushed,
    })
}

/// Fails fast when nothing listens at the endpoint, instead of recording into buffers that can
/// never drain: sends an empty (valid) OTLP export request.
fn preflight(traces_url: &str) -> anyhow::Result<()> {
    let empty = ExportTraceServiceRequest::default().encode_to_vec();
    let sent = ureq::post(traces_url)
        .timeout(PREFLIGHT_TIMEOUT)
        .set("Content-Type", "application/x-protobuf")
        .send_bytes(&empty);
    match sent {
        // Any HTTP answer means something is listening; the real exports report their own errors.
        Ok(_) | Err(ureq::Error::Status(..)) => Ok(()),
        Err(ureq::Error::Transport(err)) => {
            bail!("cannot reach the endpoint: {err} (is `cairn serve` running?)")
        }
    }
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(rate) = args.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        bail!("--rate must be a positive number of runs per second, got {rate}");
    }
    let runs = match (args.runs, args.duration) {
        (None, None) => Some(DEFAULT_RUNS),
        (runs, _) => runs,
    };
    let opts = DemoOptions {
        seed: args.seed,
        runs,
        rate: args.rate,
        duration: args.duration,
        inject: args.inject.map(Injection::from),
        inject_after: args.inject_after,
        stop: None,
    };
    if !args.json {
        let what = match (runs, args.duration) {
            (Some(n), _) => format!("{n} agent runs"),
            (None, Some(d)) => format!("agent runs for {}", humantime::format_duration(d)),
            (None, None) => "agent runs".to_owned(),
        };
        let inject = opts
            .inject
            .map(|i| format!(" with {i} injected"))
            .unwrap_or_default();
        eprintln!(
            "sending {what}{inject} to {} (seed {})",
            args.endpoint, args.seed
        );
    }
    let report = spawn_demo(args.endpoint.clone(), opts)?
        .join()
        .map_err(|_| anyhow::anyhow!("the demo thread panicked"))??;
    let dropped = report.export.dropped_queue + report.export.dropped_export;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print_summary(&report);
    }
    if dropped > 0 || !report.flushed {
        if !args.json {
            eprintln!("warning: {dropped} spans were not delivered");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(report: &DemoReport) {
    let s = &report.summary;
    println!(
        "{} runs ({} failed, {} injected) in {:.2}s, {} of simulated agent time",
        s.runs,
        s.failed_runs,
        s.injected_runs,
        s.elapsed.as_secs_f64(),
        humantime::format_duration(Duration::from_secs(s.simulated.as_secs())),
    );
    println!(
        "{} spans: {} llm calls ({} input / {} output tokens), {} tool calls ({} failed, {} retries), {} decisions",
        s.spans,
        s.llm_calls,
        s.input_tokens,
        s.output_tokens,
        s.tool_calls,
        s.tool_failures,
        s.tool_retries,
        s.decisions,
    );
    println!(
        "exported {} spans, dropped {}, rejected {}",
        report.export.exported,
        report.export.dropped_queue + report.export.dropped_export,
        report.export.rejected,
    );
    println!("next: `cairn traces` lists the runs, `cairn trace <id>` shows one");
}
