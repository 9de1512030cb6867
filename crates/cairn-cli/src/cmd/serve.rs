//! `cairn serve` (the collector) and `cairn reindex` (rebuild the index from the ledger).
//!
//! Configuration precedence, lowest first: defaults, `--config FILE` (TOML), `CAIRN_*` environment
//! variables, then the flags below. `docs/api.md` lists every key.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use cairn_collector::{Config, RunningServer};

use crate::cmd::demo::{DemoOptions, DemoReport};

/// Flags of `cairn serve`; each overrides the config file and the environment.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TOML config file.
    #[arg(long, short = 'c', value_name = "FILE", env = "CAIRN_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (ledger and index) [default: ./cairn-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    otlp_http_addr: Option<String>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    otlp_grpc_addr: Option<String>,
    /// Query API, UI and /metrics listen address [default: 127.0.0.1:7070].
    #[arg(long, value_name = "ADDR")]
    api_addr: Option<String>,
    /// Largest OTLP request body, after decompression [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Records waiting for the ledger before requests are answered 429 [default: 1048576].
    #[arg(long, value_name = "RECORDS")]
    queue_capacity: Option<usize>,
    /// Most records per ledger group commit [default: 65536].
    #[arg(long, value_name = "RECORDS")]
    max_batch_records: Option<usize>,
    /// Most ledger entries per index transaction [default: 4096].
    #[arg(long, value_name = "ENTRIES")]
    index_batch_entries: Option<usize>,
    /// Checkpoint origin line [default: chosen by the ledger on first open].
    #[arg(long, value_name = "ORIGIN")]
    ledger_origin: Option<String>,
    /// How often a checkpoint is signed while entries arrive, e.g. 1s, 500ms [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    checkpoint_interval: Option<Duration>,
    /// How often the whole ledger is re-verified in the background, e.g. 1h, 10m; 0s turns it
    /// off [default: 1h].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    verify_interval: Option<Duration>,
    /// When ledger entries are fsynced: always (a request is acknowledged only once its records
    /// are on stable storage) or before-checkpoint (acknowledged once written, fsynced before
    /// each checkpoint; a machine crash can lose acknowledged records) [default: always].
    #[arg(long, value_name = "POLICY", value_parser = cairn_collector::config::parse_fsync_policy)]
    ledger_fsync: Option<cairn_ledger::FsyncPolicy>,
    /// Open a ledger whose last signed checkpoint covers entries that are gone (lost, or an older
    /// copy restored): its checkpoint history is moved aside and a new one starts. For one start
    /// after deciding to recover; see docs/runbooks.md.
    #[arg(long)]
    allow_rollback_recovery: bool,
    /// Once listening, write the bound addresses as JSON to FILE (for scripts; use port 0 to let
    /// the system choose ports).
    #[arg(long, value_name = "FILE")]
    addrs_file: Option<PathBuf>,
    /// Allow listening on non-loopback addresses while no API key exists (anyone who can reach
    /// the ports can read and write everything).
    #[arg(long)]
    insecure_no_auth: bool,
    /// TLS certificate chain (PEM) for every listener; needs --tls-key.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for every listener; needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Require an API key on every protected route even while no key exists yet.
    #[arg(long)]
    auth_required: bool,
    /// Also run the demo workload (simulated agent runs, 2 per second) against this server until
    /// it stops.
    #[arg(long)]
    demo: bool,
}

/// Flags of `cairn reindex`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReindexArgs {
    /// TOML config file.
    #[arg(long, short = 'c', value_name = "FILE", env = "CAIRN_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (ledger and index) [default: ./cairn-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(v) = &self.data_dir {
            c.data_dir.clone_from(v);
        }
        if let Some(v) = &self.otlp_http_addr {
            c.otlp.http_addr.clone_from(v);
        }
        if let Some(v) = &self.otlp_grpc_addr {
            c.otlp.grpc_addr.clone_from(v);
        }
        if let Some(v) = &self.api_addr {
            c.api.addr.clone_from(v);
        }
        if let Some(v) = self.max_body_bytes {
            c.otlp.max_body_bytes = v;
        }
        if let Some(v) = self.queue_capacity {
            c.pipeline.queue_capacity = v;
        }
        if let Some(v) = self.max_batch_records {
            c.pipeline.max_batch_records = v;
        }
        if let Some(v) = self.index_batch_entries {
            c.pipeline.index_batch_entries = v;
        }
        if let Some(v) = &self.ledger_origin {
            c.ledger.origin = Some(v.clone());
        }
        if let Some(v) = self.checkpoint_interval {
            c.ledger.checkpoint_interval = v;
        }
        if let Some(v) = self.verify_interval {
            c.ledger.verify_interval = v;
        }
        if let Some(v) = self.ledger_fsync {
            c.ledger.fsync = v;
        }
        if self.allow_rollback_recovery {
            c.ledger.allow_rollback_recovery = true;
        }
        if self.insecure_no_auth {
            c.auth.insecure_no_auth = true;
        }
        if self.auth_required {
            c.auth.required = true;
        }
        if let Some(v) = &self.tls_cert {
            c.tls.cert_file = Some(v.clone());
        }
        if let Some(v) = &self.tls_key {
            c.tls.key_file = Some(v.clone());
        }
        c.validate()?;
        Ok(c)
    }
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests calling twice) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub(crate) fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn-serve")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Before the server starts: a SIGTERM that arrives once its addresses are out must
        // already be caught.
        let shutdown = cairn_collector::shutdown_signal();
        let server = cairn_collector::Server::start(config)
            .await
            .map_err(explain_start_error)?;
        let demo = match on_start(&server, args.addrs_file.as_deref(), args.demo) {
            Ok(demo) => demo,
            Err(err) => {
                // Do not leave a half-started server behind.
                server.shutdown().await?;
                return Err(err);
            }
        };
        shutdown.await;
        if let Some(demo) = demo {
            // The demo's last spans go to the server before it stops accepting.
            tokio::task::spawn_blocking(move || demo.finish())
                .await
                .context("the demo thread failed")?;
        }
        tracing::info!("shutting down: draining requests, indexing, signing the final checkpoint");
        server.shutdown().await?;
        anyhow::Ok(())
    })?;
    println!("cairn stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Adds what to do to the refusals an operator must act on.
fn explain_start_error(error: cairn_collector::ServeError) -> anyhow::Error {
    let hint = match &error {
        cairn_collector::ServeError::Ledger {
            source: cairn_ledger::OpenError::Rollback { .. },
            ..
        } => Some(
            "Find out why entries are missing first (docs/runbooks.md, \"Ledger refuses to open: \
             rollback\"); to accept the loss and start a new checkpoint history, start once with \
             --allow-rollback-recovery (or CAIRN_LEDGER_ALLOW_ROLLBACK_RECOVERY=true)",
        ),
        _ => None,
    };
    match hint {
        // The error's message already includes its source's.
        Some(hint) => anyhow::anyhow!("{error}. {hint}"),
        None => error.into(),
    }
}

/// Demo runs per second under `cairn serve --demo`: a steady trickle, like real traffic.
const DEMO_RATE: f64 = 2.0;

/// The demo workload running beside the server (`--demo`).
struct RunningDemo {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<DemoReport>>,
}

impl RunningDemo {
    fn start(endpoint: String) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let options = DemoOptions {
            runs: None,
            duration: None,
            rate: Some(DEMO_RATE),
            stop: Some(Arc::clone(&stop)),
            ..DemoOptions::default()
        };
        let thread = crate::cmd::demo::spawn_demo(endpoint, options)?;
        Ok(Self { stop, thread })
    }

    /// Stops the workload, waits for its spans to be delivered and reports what it sent.
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(Ok(report)) => println!(
                "demo: {} runs, {} spans sent",
                report.summary.runs, report.export.exported
            ),
            Ok(Err(err)) => tracing::warn!(error = %format!("{err:#}"), "the demo failed"),
            Err(_) => tracing::error!("the demo thread panicked"),
        }
    }
}

/// Prints where everything is, writes the addresses file, starts the demo.
fn on_start(
    server: &RunningServer,
    addrs_file: Option<&Path>,
    demo: bool,
) -> anyhow::Result<Option<RunningDemo>> {
    let addrs = server.addrs();
    let mut out = std::io::stdout().lock();
    writeln!(out, "cairn {} is running", env!("CARGO_PKG_VERSION"))?;
    writeln!(out, "  data dir      {}", server.data_dir().display())?;
    writeln!(
        out,
        "  OTLP/HTTP     http://{}  (/v1/traces, /v1/logs)",
        addrs.otlp_http
    )?;
    writeln!(out, "  OTLP/gRPC     http://{}", addrs.otlp_grpc)?;
    writeln!(out, "  API + UI      http://{}", addrs.api)?;
    writeln!(out, "  metrics       http://{}/metrics", addrs.api)?;
    writeln!(out, "  verifier key  {}", server.verifier_key())?;
    writeln!(out, "press Ctrl-C to stop")?;
    out.flush()?;
    let demo = if demo {
        let endpoint = format!("http://{}", addrs.otlp_http);
        let demo = RunningDemo::start(endpoint.clone())
            .with_context(|| format!("cannot start the demo against {endpoint}"))?;
        writeln!(
            out,
            "demo running against {endpoint} ({DEMO_RATE} runs/s); look at:"
        )?;
        writeln!(out, "  http://{}            (UI)", addrs.api)?;
        writeln!(out, "  cairn traces --url http://{}", addrs.api)?;
        out.flush()?;
        Some(demo)
    } else {
        None
    };
    // Written last: a script that waits for this file finds everything above already done.
    if let Some(path) = addrs_file {
        write_addrs_file(path, server)?;
    }
    Ok(demo)
}

/// Writes the addresses atomically (temp file + rename), so a reader never sees half a file.
fn write_addrs_file(path: &Path, server: &RunningServer) -> anyhow::Result<()> {
    let addrs = server.addrs();
    let json = serde_json::json!({
        "otlp_http": addrs.otlp_http.to_string(),
        "otlp_grpc": addrs.otlp_grpc.to_string(),
        "api": addrs.api.to_string(),
        "data_dir": server.data_dir(),
        "verifier_key": server.verifier_key(),
        "pid": std::process::id(),
    });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub(crate) fn run_reindex(args: ReindexArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    config.validate()?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "reindexing {bar:40} {pos}/{len} entries ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = cairn_collector::reindex(&config, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("reindex of {} failed", config.data_dir.display()))?;
    bar.finish_and_clear();
    println!(
        "reindexed {} ledger entries into {} in {:.1}s",
        report.entries,
        config.index_path().display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
