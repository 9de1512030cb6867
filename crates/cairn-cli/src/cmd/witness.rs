//! `cairn witness serve` (a C2SP `tlog-witness`) and `cairn witness key` (print its verifier key).
//!
//! The witness keeps its key (`witness.key`, generated on first start with mode 0600) and the
//! latest cosigned checkpoint of each log under `--state-dir`. Configuration: defaults,
//! `--config FILE` (TOML, see `docs/witness.md`), then flags; `--log` adds to the file's logs.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use cairn_witness::{LogConfig, LogStates, Witness, WitnessConfig, load_or_generate_key};

/// `cairn witness`.
#[derive(Debug, clap::Args)]
pub(crate) struct WitnessArgs {
    #[command(subcommand)]
    command: WitnessCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WitnessCommand {
    /// Run the witness: POST /add-checkpoint (C2SP tlog-witness).
    Serve(ServeArgs),
    /// Print the witness's verifier key (generating the key if there is none yet).
    Key(KeyArgs),
}

/// Options shared by `serve` and `key`.
#[derive(Debug, clap::Args)]
struct Common {
    /// TOML config file.
    #[arg(long, short = 'c', value_name = "FILE", env = "CAIRN_WITNESS_CONFIG")]
    config: Option<PathBuf>,
    /// Where the key and state live [default: ./cairn-witness].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Key name, used when the key is generated [default: cairn-witness].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Listen address [default: 127.0.0.1:7380].
    #[arg(long, value_name = "ADDR")]
    addr: Option<String>,
    /// A log to follow: its verifier key, or a file holding it (repeatable; adds to the config).
    #[arg(long = "log", value_name = "VKEY")]
    logs: Vec<String>,
    /// Once listening, write `{"addr": …, "vkey": …}` to FILE (for scripts; use port 0).
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct KeyArgs {
    #[command(flatten)]
    common: Common,
    /// Print name and key as JSON.
    #[arg(long)]
    json: bool,
}

impl Common {
    fn config(&self) -> anyhow::Result<WitnessConfig> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                WitnessConfig::from_toml(&text)?
            }
            None => WitnessConfig::default(),
        };
        if let Some(v) = &self.state_dir {
            c.state_dir.clone_from(v);
        }
        if let Some(v) = &self.name {
            c.name.clone_from(v);
        }
        Ok(c)
    }
}

pub(crate) fn run(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        WitnessCommand::Serve(a) => serve(a),
        WitnessCommand::Key(a) => key(a),
    }
}

fn key(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let config = args.common.config()?;
    let (signer, _) = load_or_generate_key(&config.state_dir, &config.name)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({"name": signer.name(), "vkey": signer.vkey()});
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "{}", signer.vkey())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::cmd::serve::init_logging();
    let mut config = args.common.config()?;
    if let Some(v) = &args.addr {
        config.addr.clone_from(v);
    }
    for log in &args.logs {
        config.logs.push(LogConfig {
            vkey: crate::cmd::ledger::read_key(log)?,
        });
    }
    let logs = config.log_verifiers()?;
    if logs.is_empty() {
        anyhow::bail!("no logs configured: pass --log <log verifier key> or [[logs]] in --config");
    }
    let (signer, generated) = load_or_generate_key(&config.state_dir, &config.name)?;
    let vkey = signer.vkey();
    let states = LogStates::open(&config.state_dir)?;
    let origins: Vec<String> = logs.iter().map(|l| l.name().to_owned()).collect();
    let witness = Arc::new(Witness::new(signer, logs, states));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn-witness")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Before the address is announced, so that a SIGTERM right after it stops cleanly.
        let shutdown = cairn_collector::shutdown_signal();
        let listener = tokio::net::TcpListener::bind(&config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            if generated {
                writeln!(
                    out,
                    "generated the witness key {}",
                    config
                        .state_dir
                        .join(cairn_witness::store::KEY_FILE)
                        .display()
                )?;
            }
            writeln!(out, "cairn witness listening on http://{addr}")?;
            writeln!(out, "witness key: {vkey}")?;
            writeln!(out, "following: {}", origins.join(", "))?;
            out.flush()?;
        }
        if let Some(path) = &args.addr_file {
            let info = serde_json::json!({"addr": addr.to_string(), "vkey": vkey});
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(&info)?)
                .with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        axum::serve(listener, cairn_witness::router(witness))
            .with_graceful_shutdown(shutdown)
            .await
            .context("witness server failed")
    })?;
    Ok(ExitCode::SUCCESS)
}
