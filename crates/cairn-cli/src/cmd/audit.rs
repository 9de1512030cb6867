//! `cairn audit access --since …`: the access records (HIPAA §164.312(b)) a running collector
//! keeps in its ledger, read through the admin API (`GET /api/v1/admin/access`, admin key).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use crate::cmd::query::{Conn, get, print_json};

/// `cairn audit …`.
#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// List who read span content through the API, UI or CLI, and when.
    Access(AccessArgs),
}

#[derive(Debug, clap::Args)]
struct AccessArgs {
    #[command(flatten)]
    conn: Conn,
    /// Records at or after this time: RFC 3339 or a duration ago (24h, 7days).
    #[arg(long, default_value = "24h")]
    since: String,
    /// Records before this time.
    #[arg(long)]
    until: Option<String>,
    /// Most records to list (1..=10000).
    #[arg(long, default_value_t = 1000)]
    limit: u32,
}

fn attr<'a>(record: &'a Value, key: &str) -> &'a str {
    record["attributes"][key].as_str().unwrap_or("-")
}

pub(crate) fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let AuditCommand::Access(a) = args.command;
    let mut query = vec![("since", a.since.clone()), ("limit", a.limit.to_string())];
    if let Some(until) = &a.until {
        query.push(("until", until.clone()));
    }
    let body = get(&a.conn, "/api/v1/admin/access", &query)?;
    if a.conn.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let page: Value = serde_json::from_str(&body).context("unexpected answer from the server")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<32}{:<14}{:<16}{:<40}WHAT",
        "TIME", "KEY", "PROJECT", "ROUTE"
    )?;
    for r in page["records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let nanos = r["time_unix_nano"].as_u64().unwrap_or(0);
        let time = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos),
        );
        let what = [
            "cairn.audit.trace_id",
            "cairn.audit.query",
            "cairn.audit.ledger_index",
        ]
        .iter()
        .find_map(|k| match &r["attributes"][*k] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(format!("entry {n}")),
            _ => None,
        })
        .unwrap_or_default();
        writeln!(
            out,
            "{:<32}{:<14}{:<16}{:<40}{what}",
            time.to_string(),
            attr(r, "cairn.audit.key_id"),
            attr(r, "cairn.audit.project"),
            attr(r, "cairn.audit.route"),
        )?;
    }
    if page["truncated"].as_bool() == Some(true) {
        writeln!(
            out,
            "(more records: raise --limit or narrow --since/--until)"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
