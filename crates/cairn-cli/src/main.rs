//! `cairn`: the thin command-line binary. Every subcommand lives in its own module under `cmd/`
//! and delegates the real work to a library crate.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// jemalloc instead of the system allocator: the index's reader thread builds and drops tens of
/// allocations per span, and glibc's malloc/free were ≈44% of its time. Measured side by side
/// (`docs/performance.md`, "jemalloc as the binary's allocator"): the same index rebuild needed
/// 14.5% less CPU, and under full ingest load the server used 12–17% less CPU per span with a
/// lower peak RSS. mimalloc was as fast but peaked at 400–415 MiB against 236 MiB. Not on MSVC,
/// which jemalloc does not build on.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Observability and a tamper-evident audit trail for AI agents.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector: OTLP ingest, ledger, index, query API, UI and /metrics.
    Serve(cmd::serve::ServeArgs),
    /// Rebuild the embedded index from the ledger.
    Reindex(cmd::serve::ReindexArgs),
    /// Pretty-print the normalized spans of an OTLP JSON or protobuf file.
    Inspect(cmd::inspect::InspectArgs),
    /// List traces from a running collector.
    Traces(cmd::query::TracesArgs),
    /// Show one trace (a run) as an indented tree.
    Trace(cmd::query::TraceArgs),
    /// Aggregate statistics per agent, tool or model.
    Stats(cmd::query::StatsArgs),
    /// Verify the ledger offline: every entry, checkpoint, signature and consistency proof.
    Verify(cmd::ledger::VerifyArgs),
    /// Print the latest signed checkpoint.
    Checkpoint(cmd::ledger::CheckpointArgs),
    /// Print the ledger's verifier key.
    Key(cmd::ledger::KeyArgs),
    /// Print a tlog-proof bundle for one entry.
    Proof(cmd::ledger::ProofArgs),
    /// Check a tlog-proof bundle offline, with nothing but its arguments.
    VerifyProof(cmd::ledger::VerifyProofArgs),
    /// Run a realistic multi-agent workload through the Cairn SDK.
    Demo(cmd::demo::DemoArgs),
    /// Backfill an exporter destination (Elasticsearch, OTLP, JSONL) from the ledger.
    Export(cmd::export::ExportArgs),
    /// Ledger maintenance: archive old segments.
    Ledger(cmd::ledger::LedgerArgs),
    /// Run a transparency-log witness (C2SP tlog-witness) or print its key.
    Witness(cmd::witness::WitnessArgs),
    /// Manage API keys: create, list, revoke.
    Keys(cmd::keys::KeysArgs),
    /// Audit trails kept in the ledger: `cairn audit access` lists reads of span content.
    Audit(cmd::audit::AuditArgs),
    /// Erase a data subject by destroying their data key (crypto-shredding, GDPR Art. 17).
    Erase(cmd::erase::EraseArgs),
    /// Privacy key management.
    #[command(subcommand)]
    Privacy(cmd::erase::PrivacyCommand),
    /// Load generators: OTLP ingest at any endpoint, query latency of a running collector.
    Bench(cmd::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run_serve(args),
        Command::Reindex(args) => cmd::serve::run_reindex(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Traces(args) => cmd::query::run_traces(args),
        Command::Trace(args) => cmd::query::run_trace(args),
        Command::Stats(args) => cmd::query::run_stats(args),
        Command::Verify(args) => cmd::ledger::run_verify(args),
        Command::Checkpoint(args) => cmd::ledger::run_checkpoint(args),
        Command::Key(args) => cmd::ledger::run_key(args),
        Command::Proof(args) => cmd::ledger::run_proof(args),
        Command::VerifyProof(args) => cmd::ledger::run_verify_proof(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Witness(args) => cmd::witness::run(args),
        Command::Ledger(args) => cmd::ledger::run_ledger(args),
        Command::Keys(args) => cmd::keys::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Erase(args) => cmd::erase::run_erase(args),
        Command::Privacy(command) => cmd::erase::run_privacy(command),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if cmd::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
