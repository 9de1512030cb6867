//! `cairn erase --subject ID` (crypto-shredding erasure, GDPR Art. 17) and
//! `cairn privacy init-master-key FILE`.
//!
//! `cairn erase` asks a running collector (`POST /api/v1/admin/erase` at `--url`); with
//! `--offline` it works on the data dir directly, which needs the server stopped (the ledger lock
//! refuses otherwise). Exit codes: 0 erased, 1 no data key for the subject, 2 anything else.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cairn_collector::{Config, EraseError, EraseOutcome};
use serde_json::Value;

/// Where `cairn serve` answers by default.
const DEFAULT_URL: &str = "http://127.0.0.1:7070";

/// Flags of `cairn erase`.
#[derive(Debug, clap::Args)]
pub(crate) struct EraseArgs {
    /// The data subject: the value of `user.id`, `enduser.id`, the conversation id, or the
    /// configured subject attribute.
    #[arg(long)]
    subject: String,
    /// Base URL of the collector's API.
    #[arg(long, default_value = DEFAULT_URL, env = "CAIRN_URL")]
    url: String,
    /// Work on the data dir directly instead of a running server (which must be stopped).
    #[arg(long)]
    offline: bool,
    /// TOML config file (with `--offline`).
    #[arg(long, short = 'c', value_name = "FILE", env = "CAIRN_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (with `--offline`) [default: ./cairn-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn privacy …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PrivacyCommand {
    /// Generate a master key (32 random bytes, base64) into a new file with mode 0600.
    InitMasterKey(InitMasterKeyArgs),
}

/// Flags of `cairn privacy init-master-key`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitMasterKeyArgs {
    /// The file to create (never overwritten).
    file: PathBuf,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_privacy(command: PrivacyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PrivacyCommand::InitMasterKey(args) => {
            cairn_privacy::MasterKey::generate_file(&args.file)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"master_key_file": args.file.display().to_string()})
                );
            } else {
                println!(
                    "wrote a new master key to {}\nset [privacy] master_key_file to it (or CAIRN_MASTER_KEY_FILE) and keep a backup: without it, encrypted content cannot be read",
                    args.file.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn run_erase(args: EraseArgs) -> anyhow::Result<ExitCode> {
    let outcome: EraseOutcome = if args.offline {
        let mut config = Config::load(args.config.as_deref())?;
        if let Some(dir) = &args.data_dir {
            config.data_dir.clone_from(dir);
        }
        match cairn_collector::erase_offline(&config, &args.subject, "cli") {
            Ok(outcome) => outcome,
            Err(EraseError::UnknownSubject) => {
                eprintln!("error: {}", EraseError::UnknownSubject);
                return Ok(ExitCode::from(1));
            }
            Err(err) => return Err(err.into()),
        }
    } else {
        let url = format!("{}/api/v1/admin/erase", args.url.trim_end_matches('/'));
        let answer = ureq::post(&url)
            .timeout(Duration::from_secs(120))
            .set("Content-Type", "application/json")
            .send_string(&serde_json::json!({"subject": args.subject}).to_string());
        match answer {
            Ok(response) => {
                let body = response.into_string().context("reading the answer")?;
                serde_json::from_str(&body).context("unexpected answer from the server")?
            }
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| Some(v.get("error")?.get("message")?.as_str()?.to_owned()))
                    .unwrap_or(body);
                if status == 404 {
                    eprintln!("error: {message}");
                    return Ok(ExitCode::from(1));
                }
                bail!("{url} answered {status}: {message}");
            }
            Err(ureq::Error::Transport(t)) => bail!(
                "cannot reach {url}: {t} (is `cairn serve` running? with the server stopped, use --offline)"
            ),
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        println!("erased subject (hash {})", outcome.subject_hash);
        println!("  data key {} destroyed", outcome.key_id);
        println!(
            "  index rows rewritten to [erased]: {} ({} already without plaintext)",
            outcome.index_rows_erased, outcome.index_rows_skipped
        );
        for e in &outcome.exporters {
            match e.status.as_str() {
                "deleted" => println!(
                    "  exporter {}: deleted {} documents",
                    e.name,
                    e.deleted.unwrap_or(0)
                ),
                "not_supported" => println!(
                    "  exporter {}: cannot delete downstream copies; handle them at the destination",
                    e.name
                ),
                _ => println!(
                    "  exporter {}: FAILED: {}",
                    e.name,
                    e.error.as_deref().unwrap_or("")
                ),
            }
        }
        println!(
            "  erasure recorded in the ledger at index {}",
            outcome.audit_ledger_index
        );
    }
    Ok(ExitCode::SUCCESS)
}
