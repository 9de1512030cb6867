//! `cairn export`: backfill a destination (Elasticsearch/OpenSearch, an OTLP endpoint, JSONL
//! files) from the ledger, with the same exporters `cairn serve` runs.
//!
//! The ledger is opened for writing when no server holds it; otherwise it is read without a lock
//! up to its latest signed checkpoint (entries after it are exported by the server's own
//! exporters or by a later backfill). State (cursor, dead-letter file) lives in
//! `<data_dir>/exporters/backfill-<kind>/`. Interrupting a backfill is safe: what was sent stays
//! sent, and running it again re-sends at most one batch (harmless: every destination is
//! idempotent on the ledger index).
//!
//! Exit status: 0 when every record was delivered or skipped, 1 when some were dead-lettered
//! (listed in the dead-letter file), 2 on errors.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_export::config::{ElasticsearchConfig, JsonlConfig, OtlpConfig};
use cairn_export::{
    EntrySource, ExportRunner, ExporterConfig, ReadOnlyLedger, RunSummary, Shutdown, StopReason,
};
use cairn_ledger::{Ledger, LedgerOptions, OpenError};

/// Where `cairn export` sends records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Destination {
    /// `_bulk` into the data stream `traces-cairn.agent-<namespace>`.
    Elasticsearch,
    /// OTLP/HTTP protobuf to another collector.
    Otlp,
    /// Rotating JSONL files for Fluentd / Fluent Bit.
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Destination kind.
    #[arg(long = "to", value_enum)]
    to: Destination,
    /// First ledger index to export.
    #[arg(long, default_value_t = 0)]
    from_index: u64,
    /// Stop before this ledger index (default: the ledger's size when the export starts).
    #[arg(long)]
    to_index: Option<u64>,
    /// Cairn's data directory (holds `ledger/`).
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    data_dir: PathBuf,
    /// TOML file with one exporter table (the keys of an `[[exporters]]` entry, `kind` optional);
    /// the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Elasticsearch or OTLP base URL.
    #[arg(long)]
    endpoint: Option<String>,
    /// Data stream namespace (Elasticsearch, JSONL documents).
    #[arg(long)]
    namespace: Option<String>,
    /// Elasticsearch basic-auth user.
    #[arg(long)]
    username: Option<String>,
    /// Elasticsearch basic-auth password.
    #[arg(long, env = "CAIRN_EXPORT_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Elasticsearch API key (the base64 `encoded` form).
    #[arg(long, env = "CAIRN_EXPORT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// PEM file of the CA to trust (Elasticsearch, OTLP over https).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Do not install the Elasticsearch ILM policy and templates first.
    #[arg(long)]
    no_templates: bool,
    /// Extra OTLP request header, `name=value` (repeatable).
    #[arg(long = "header", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Do not gzip request bodies.
    #[arg(long)]
    no_gzip: bool,
    /// Directory of the JSONL files (default `<data_dir>/jsonl`).
    #[arg(long)]
    path: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected name=value, got {text:?}"))
}

impl ExportArgs {
    /// The exporter configuration: the `--config` file (if any) under the flags.
    fn exporter_config(&self) -> anyhow::Result<ExporterConfig> {
        let kind = match self.to {
            Destination::Elasticsearch => "elasticsearch",
            Destination::Otlp => "otlp",
            Destination::Jsonl => "jsonl",
        };
        let mut table = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        if let Some(found) = table.get("kind").and_then(toml::Value::as_str) {
            if found != kind {
                bail!("the config file is for kind {found:?}, but --to {kind} was given");
            }
        }
        table.insert("kind".to_owned(), toml::Value::String(kind.to_owned()));
        let mut config: ExporterConfig = toml::Value::Table(table)
            .try_into()
            .context("invalid exporter configuration")?;
        let name = format!("backfill-{kind}");
        match &mut config {
            ExporterConfig::Elasticsearch(c) => self.apply_elasticsearch(c, name),
            ExporterConfig::Otlp(c) => self.apply_otlp(c, name),
            ExporterConfig::Jsonl(c) => self.apply_jsonl(c, name),
        }
        Ok(config)
    }

    fn apply_elasticsearch(&self, c: &mut ElasticsearchConfig, name: String) {
        c.name = Some(name);
        if let Some(v) = &self.endpoint {
            c.endpoint.clone_from(v);
        }
        if let Some(v) = &self.namespace {
            c.namespace.clone_from(v);
        }
        if self.username.is_some() {
            c.username.clone_from(&self.username);
        }
        if self.password.is_some() {
            c.password.clone_from(&self.password);
            c.password_env = None;
        }
        if self.api_key.is_some() {
            c.api_key.clone_from(&self.api_key);
            c.api_key_env = None;
        }
        if self.ca_file.is_some() {
            c.ca_file.clone_from(&self.ca_file);
        }
        if self.no_templates {
            c.install_templates = false;
        }
        if self.no_gzip {
            c.gzip = false;
        }
    }

    fn apply_otlp(&self, c: &mut OtlpConfig, name: String) {
        c.name = Some(name);
        if let Some(v) = &self.endpoint {
            c.endpoint.clone_from(v);
        }
        c.headers.extend(self.headers.iter().cloned());
        if self.ca_file.is_some() {
            c.ca_file.clone_from(&self.ca_file);
        }
        if self.no_gzip {
            c.gzip = false;
        }
    }

    fn apply_jsonl(&self, c: &mut JsonlConfig, name: String) {
        c.name = Some(name);
        if self.path.is_some() {
            c.path.clone_from(&self.path);
        }
        if let Some(v) = &self.namespace {
            c.namespace.clone_from(v);
        }
    }
}

/// The ledger to read: opened for writing if free, else read-only up to its last checkpoint.
fn open_source(data_dir: &Path) -> anyhow::Result<(Arc<dyn EntrySource>, bool)> {
    let dir = data_dir.join("ledger");
    if !dir.join("ledger.json").exists() {
        bail!("no ledger in {} (is --data-dir right?)", dir.display());
    }
    match Ledger::open(&dir, LedgerOptions::default()) {
        Ok(ledger) => Ok((Arc::new(ledger), false)),
        Err(OpenError::Locked { .. }) => {
            let reader = ReadOnlyLedger::open(&dir)
                .with_context(|| format!("opening {} read-only", dir.display()))?;
            Ok((Arc::new(reader), true))
        }
        Err(e) => Err(e).with_context(|| format!("opening {}", dir.display())),
    }
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let config = args.exporter_config()?;
    let (source, read_only) = open_source(&args.data_dir)?;
    // With a master key (CAIRN_MASTER_KEY_FILE or CAIRN_MASTER_KEY), destinations get decrypted
    // content, as from the server's own exporters.
    let mut server_config = cairn_collector::Config::load(None)?;
    server_config.data_dir.clone_from(&args.data_dir);
    let privacy = cairn_collector::open_privacy(&server_config)?;
    let source: Arc<dyn EntrySource> = if privacy.encrypts() {
        Arc::new(cairn_collector::RevealingSource::new(
            source,
            Arc::new(privacy),
        ))
    } else {
        source
    };
    if read_only {
        eprintln!(
            "note: the ledger is in use (cairn serve?); exporting up to its latest signed checkpoint"
        );
    }
    let size = source.size();
    let end = args.to_index.map_or(size, |to| to.min(size));
    if args.from_index > end {
        bail!(
            "--from-index {} is past the end of the export ({end})",
            args.from_index
        );
    }
    let exporter = cairn_export::build_exporter(&config, source.origin(), &args.data_dir)?;
    let mut options = cairn_export::runner_options(&config, &args.data_dir);
    options.start_at = Some(args.from_index);
    options.stop_at = Some(end);
    options.follow = false;
    let state_dir = options.state_dir.clone();
    let runner = ExportRunner::new(Arc::clone(&source), exporter, options, Shutdown::new());
    let stats = runner.stats();
    let thread = runner.spawn().context("starting the exporter thread")?;

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(end - args.from_index);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} entries ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    while !thread.is_finished() {
        if let Some(bar) = &bar {
            let s = stats.snapshot();
            bar.set_position(s.cursor.saturating_sub(args.from_index));
            bar.set_message(format!(
                "sent {} · dead-lettered {} · retried {}",
                s.sent, s.dead_lettered, s.retried
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary: RunSummary = thread
        .join()
        .map_err(|_| anyhow::anyhow!("the exporter thread panicked"))?
        .context("export failed")?;
    if let Some(bar) = &bar {
        bar.set_position(summary.next_index.saturating_sub(args.from_index));
        bar.finish_and_clear();
    }
    print_summary(&args, &config, &summary, end, &state_dir)?;
    Ok(if summary.stats.dead_lettered > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_summary(
    args: &ExportArgs,
    config: &ExporterConfig,
    summary: &RunSummary,
    end: u64,
    state_dir: &Path,
) -> anyhow::Result<()> {
    let s = &summary.stats;
    let dead_letter_file = state_dir.join("dead-letter.jsonl");
    if args.json {
        let json = serde_json::json!({
            "exporter": config.name(),
            "kind": config.kind(),
            "from_index": args.from_index,
            "to_index": end,
            "next_index": summary.next_index,
            "complete": summary.stopped == StopReason::ReachedEnd,
            "sent": s.sent,
            "skipped": s.skipped,
            "dead_lettered": s.dead_lettered,
            "retried": s.retried,
            "failed_attempts": s.failed,
            "dead_letter_file": dead_letter_file,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "exported ledger entries {}..{} to {}: {} sent, {} skipped, {} dead-lettered ({} retries)",
            args.from_index,
            summary.next_index,
            config.kind(),
            s.sent,
            s.skipped,
            s.dead_lettered,
            s.retried
        );
        if s.dead_lettered > 0 {
            println!("rejected records: {}", dead_letter_file.display());
        }
    }
    Ok(())
}
