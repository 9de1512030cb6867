//! `cairn keys create|list|revoke`: manage the API keys in `<data_dir>/keys.json` (the server
//! picks up changes on its next request). The secret is printed once, at creation.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cairn_collector::Config;
use cairn_collector::auth::{KeyFile, KeyRecord, Scope};

/// `cairn keys …`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Create a key and print it (once).
    Create(CreateArgs),
    /// List keys (never their secrets).
    List(ListArgs),
    /// Revoke a key by id; it stops working on the server's next request.
    Revoke(RevokeArgs),
}

/// Where the key file is.
#[derive(Debug, clap::Args)]
struct Location {
    /// TOML config file (for `data_dir`).
    #[arg(long, short = 'c', value_name = "FILE", env = "CAIRN_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory holding keys.json [default: ./cairn-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl Location {
    fn path(&self) -> anyhow::Result<PathBuf> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir.clone_from(dir);
        }
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        Ok(config.keys_path())
    }
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    location: Location,
    /// Project the key's data belongs to (1-64 of A-Z a-z 0-9 . _ -).
    #[arg(long)]
    project: String,
    /// ingest (send OTLP), read (query API and UI) or admin (everything).
    #[arg(long, value_parser = parse_scope)]
    scope: Scope,
    /// Requests per second this key may make, e.g. 100/s or 100 [default: unlimited].
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate_limit: Option<u32>,
    /// Print the key and its record as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    location: Location,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    #[command(flatten)]
    location: Location,
    /// Key id (the part after `cairn_`, as `cairn keys list` shows it).
    id: String,
    /// Print the revoked record as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    s.parse()
}

fn parse_rate(s: &str) -> Result<u32, String> {
    let n = s.strip_suffix("/s").unwrap_or(s);
    match n.trim().parse::<u32>() {
        Ok(0) | Err(_) => Err(format!(
            "invalid rate limit {s:?}: expected a positive number of requests per second, e.g. 50/s"
        )),
        Ok(n) => Ok(n),
    }
}

/// JSON view of a record (no secret hash: it is useless to readers and need not spread).
fn record_json(k: &KeyRecord) -> serde_json::Value {
    serde_json::json!({
        "id": k.id,
        "project": k.project,
        "scope": k.scope,
        "created_unix": k.created_unix,
        "revoked_unix": k.revoked_unix,
        "rate_limit_per_sec": k.rate_limit_per_sec,
    })
}

pub(crate) fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        KeysCommand::Create(a) => {
            let path = a.location.path()?;
            let mut file = KeyFile::load(&path)?;
            let new = file.create(&a.project, a.scope, a.rate_limit)?;
            file.save(&path)?;
            if a.json {
                let mut v = record_json(&new.record);
                v["key"] = serde_json::Value::String(new.key.clone());
                println!("{v}");
            } else {
                println!("{}", new.key);
                eprintln!(
                    "created key {} (project {}, scope {}); store it now, it is not shown again",
                    new.record.id,
                    new.record.project,
                    new.record.scope.as_str()
                );
            }
        }
        KeysCommand::List(a) => {
            let file = KeyFile::load(&a.location.path()?)?;
            if a.json {
                let list: Vec<_> = file.keys.iter().map(record_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                println!(
                    "{:<14}{:<20}{:<8}{:<12}{:<12}STATUS",
                    "ID", "PROJECT", "SCOPE", "CREATED", "RATE"
                );
                for k in &file.keys {
                    let created = humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(k.created_unix),
                    )
                    .to_string();
                    let rate = k
                        .rate_limit_per_sec
                        .map_or_else(|| "-".to_owned(), |r| format!("{r}/s"));
                    let status = if k.revoked_unix.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<14}{:<20}{:<8}{:<12}{:<12}{status}",
                        k.id,
                        k.project,
                        k.scope.as_str(),
                        &created[..10],
                        rate
                    );
                }
            }
        }
        KeysCommand::Revoke(a) => {
            let path = a.location.path()?;
            let mut file = KeyFile::load(&path)?;
            let record = file.revoke(&a.id)?.clone();
            file.save(&path)?;
            if a.json {
                println!("{}", record_json(&record));
            } else {
                println!("revoked key {} (project {})", record.id, record.project);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
