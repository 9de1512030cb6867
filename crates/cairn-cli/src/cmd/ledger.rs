//! `cairn verify`, `checkpoint`, `key`, `proof`, `verify-proof`: the ledger's audit commands.
//!
//! All of them read the ledger directory without locking it, so they work while `cairn serve`
//! runs. The ledger lives in `<data dir>/ledger`; `--data-dir` may also point at the ledger
//! directory itself.
//!
//! Exit codes: 0 valid, 1 integrity failure (a problem found, a proof that does not verify),
//! 2 usage or I/O error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cairn_ledger::verify::{Problem, VerifyReport};
use cairn_ledger::{LedgerReader, VerifyIoError, VerifyOptions, verify_bundle, verify_dir};
use indicatif::{ProgressBar, ProgressStyle};

/// Exit code of an integrity failure; usage and I/O errors exit with 2 (see `main`).
const INTEGRITY_FAILURE: u8 = 1;

/// Where the data lives.
#[derive(Debug, clap::Args)]
pub(crate) struct DataDir {
    /// Cairn's data directory (the ledger is in its `ledger/` subdirectory), or a ledger
    /// directory itself.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "./cairn-data")]
    data_dir: PathBuf,
}

impl DataDir {
    /// The ledger directory under `--data-dir`.
    fn ledger_dir(&self) -> anyhow::Result<PathBuf> {
        let nested = self.data_dir.join("ledger");
        if nested.join("ledger.json").is_file() {
            return Ok(nested);
        }
        if self.data_dir.join("ledger.json").is_file() {
            return Ok(self.data_dir.clone());
        }
        anyhow::bail!(
            "no ledger in {} (looked for {}/ledger.json and {}/ledger.json)",
            self.data_dir.display(),
            nested.display(),
            self.data_dir.display()
        )
    }
}

/// `cairn verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    data: DataDir,
    /// A signed checkpoint kept elsewhere (e.g. saved from `cairn checkpoint` earlier): the
    /// ledger must still contain exactly the entries it commits to.
    #[arg(long, value_name = "FILE")]
    trusted_checkpoint: Option<PathBuf>,
    /// The verifier key to trust (`<name>+<id>+<key>` or a file holding it). Default: the
    /// ledger's own `verifier.key`, which only shows the ledger is self-consistent.
    #[arg(long, value_name = "KEY")]
    vkey: Option<String>,
    /// A witness's cosignature key (`<name>+<id>+<key>`, type 0x04, or a file holding it);
    /// repeatable. The ledger's cosigned checkpoint must carry a valid cosignature by each (or
    /// by `--witness-quorum` of them) and match the entries.
    #[arg(long = "witness-key", value_name = "KEY")]
    witness_keys: Vec<String>,
    /// How many of the `--witness-key`s must have cosigned [default: all].
    #[arg(long, value_name = "N", requires = "witness_keys")]
    witness_quorum: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn ledger`.
#[derive(Debug, clap::Args)]
pub(crate) struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LedgerCommand {
    /// Compress sealed segments whose entries all lie below --before-index (and below the latest
    /// checkpoint) into --to, and remove them from the ledger; the stored hashes stay, so
    /// verification of what remains still passes. The ledger must not be open (stop serve).
    Archive(ArchiveArgs),
}

#[derive(Debug, clap::Args)]
struct ArchiveArgs {
    #[command(flatten)]
    data: DataDir,
    /// Archive only segments that end at or below this entry index.
    #[arg(long, value_name = "N")]
    before_index: u64,
    /// Directory the gzipped segments are written to.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run_ledger(args: LedgerArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LedgerCommand::Archive(a) => {
            let dir = a.data.ledger_dir()?;
            let report = cairn_ledger::archive::archive_segments(&dir, a.before_index, &a.to)?;
            if a.json {
                print_json(&report)?;
            } else {
                let mut out = std::io::stdout().lock();
                for s in &report.archived {
                    writeln!(
                        out,
                        "archived entries {}..{}: {} ({} bytes, {} compressed)",
                        s.first,
                        s.end,
                        s.location.join(&s.file).display(),
                        s.bytes,
                        s.compressed_bytes
                    )?;
                }
                writeln!(
                    out,
                    "{} segment(s) archived now; entries 0..{} are archived (latest checkpoint: {})",
                    report.archived.len(),
                    report.archived_end,
                    report.checkpoint_size
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `cairn checkpoint`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckpointArgs {
    #[command(flatten)]
    data: DataDir,
    /// Print origin, size, root and note as JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn key`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    data: DataDir,
    /// Print origin and key as JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn proof`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProofArgs {
    #[command(flatten)]
    data: DataDir,
    /// Index of the entry to prove.
    #[arg(long)]
    index: u64,
    /// Tree size of the signed checkpoint to prove against (default: the latest).
    #[arg(long)]
    size: Option<u64>,
    /// Also write the entry's bytes to this file (for `verify-proof --entry`).
    #[arg(long, value_name = "FILE")]
    entry_out: Option<PathBuf>,
}

/// `cairn verify-proof`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyProofArgs {
    /// The tlog-proof bundle (`-` for standard input).
    file: PathBuf,
    /// The log's verifier key (`<name>+<id>+<key>` or a file holding it).
    #[arg(long, value_name = "KEY")]
    vkey: String,
    /// The entry's bytes; without it only the checkpoint signature and the proof's shape are
    /// checked.
    #[arg(long, value_name = "FILE")]
    entry: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// A key given inline or as a file.
pub(crate) fn read_key(value: &str) -> anyhow::Result<String> {
    let path = Path::new(value);
    if !value.contains('+') && path.is_file() {
        return Ok(std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned());
    }
    Ok(value.trim().to_owned())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    // Written as bytes so a closed pipe surfaces as an `io::Error` (treated as success).
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

pub(crate) fn run_verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.ledger_dir()?;
    let trusted_checkpoint = args
        .trusted_checkpoint
        .as_deref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let opts = VerifyOptions {
        trusted_checkpoint,
        verifier_key: args.vkey.as_deref().map(read_key).transpose()?,
        witness_keys: args
            .witness_keys
            .iter()
            .map(|k| read_key(k))
            .collect::<anyhow::Result<_>>()?,
        witness_quorum: args.witness_quorum,
    };

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "verifying {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let result = verify_dir(&dir, &opts, &mut progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(err @ VerifyIoError::NotALedger { .. }) => anyhow::bail!(err),
        Err(err) => return Err(anyhow::Error::new(err).context("verification could not run")),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&dir, &report)?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INTEGRITY_FAILURE)
    })
}

fn describe(p: &Problem) -> String {
    let mut where_ = Vec::new();
    if let Some(i) = p.index {
        where_.push(format!("entry {i}"));
    }
    if let Some(f) = &p.file {
        where_.push(f.clone());
    }
    if let Some(o) = p.offset {
        where_.push(format!("offset {o}"));
    }
    if let Some(c) = p.checkpoint {
        where_.push(format!("checkpoint #{c}"));
    }
    let kind = serde_json::to_value(p.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if where_.is_empty() {
        format!("[{kind}] {}", p.message)
    } else {
        format!("[{kind}] {} ({})", p.message, where_.join(", "))
    }
}

fn print_report(dir: &Path, r: &VerifyReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for w in &r.warnings {
        writeln!(out, "warning: {}", describe(w))?;
    }
    let rate = if r.elapsed_secs > 0.0 {
        r.bytes as f64 / r.elapsed_secs / 1e6
    } else {
        0.0
    };
    if r.ok {
        writeln!(
            out,
            "ok: {} entries ({} bytes) in {} segments and {} signed checkpoints verified in {:.2} s \
             ({rate:.1} MB/s)",
            r.entries, r.bytes, r.segments, r.checkpoints, r.elapsed_secs
        )?;
        writeln!(out, "root: {}", r.root)?;
        if let Some(last) = r.archived.last() {
            writeln!(
                out,
                "archived: entries 0..{} in {} segment(s) under {} (checked through their stored \
                 hashes against the signed checkpoints, not re-hashed)",
                last.end,
                r.archived.len(),
                last.location.display()
            )?;
        }
        if let Some(size) = r.witnessed_size {
            let names: Vec<&str> = r
                .witnesses
                .iter()
                .filter(|w| w.cosigned)
                .map(|w| w.key.as_str())
                .collect();
            writeln!(
                out,
                "witnessed: the checkpoint of size {size} is cosigned by {}",
                names.join(", ")
            )?;
        }
        if let Some(size) = r.trusted_checkpoint_size {
            writeln!(
                out,
                "the trusted checkpoint of size {size} is contained in the ledger"
            )?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "FAILED: {} integrity problem(s) in {}",
        r.problems.len() as u64 + r.problems_omitted,
        dir.display()
    )?;
    if let Some(bad) = &r.first_bad_entry {
        writeln!(
            out,
            "first bad entry: {} in {} at offset {}",
            bad.index, bad.file, bad.offset
        )?;
    }
    for p in &r.problems {
        writeln!(out, "  {}", describe(p))?;
    }
    if r.problems_omitted > 0 {
        writeln!(out, "  … and {} more", r.problems_omitted)?;
    }
    Ok(())
}

pub(crate) fn run_checkpoint(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.ledger_dir()?;
    let reader = LedgerReader::open(&dir)?;
    let Some((note, checkpoint)) = reader.latest_checkpoint()? else {
        anyhow::bail!(
            "the ledger in {} has no signed checkpoint yet",
            dir.display()
        );
    };
    if args.json {
        print_json(&serde_json::json!({
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "root": note.split('\n').nth(2),
            "note": note,
        }))?;
    } else {
        std::io::stdout().lock().write_all(note.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_key(args: KeyArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.ledger_dir()?;
    let reader = LedgerReader::open(&dir)?;
    if args.json {
        print_json(&serde_json::json!({
            "origin": reader.origin(),
            "vkey": reader.verifier_key(),
        }))?;
    } else {
        writeln!(std::io::stdout().lock(), "{}", reader.verifier_key())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_proof(args: ProofArgs) -> anyhow::Result<ExitCode> {
    let dir = args.data.ledger_dir()?;
    let reader = LedgerReader::open(&dir)?;
    let bundle = reader
        .proof_bundle(args.index, args.size)
        .with_context(|| format!("proving entry {}", args.index))?;
    if let Some(path) = &args.entry_out {
        let entry = reader
            .read_entry(args.index)
            .with_context(|| format!("reading entry {}", args.index))?;
        std::fs::write(path, entry).with_context(|| format!("writing {}", path.display()))?;
    }
    std::io::stdout().lock().write_all(bundle.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_verify_proof(args: VerifyProofArgs) -> anyhow::Result<ExitCode> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the bundle from stdin")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let vkey = read_key(&args.vkey)?;
    let entry = args
        .entry
        .as_deref()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let result = verify_bundle(&text, &vkey, entry.as_deref());
    let mut out = std::io::stdout().lock();
    match result {
        Ok(ok) => {
            let inclusion_checked = ok.leaf_hash.is_some();
            if args.json {
                drop(out);
                print_json(&serde_json::json!({
                    "ok": true,
                    "origin": ok.checkpoint.origin,
                    "index": ok.index,
                    "tree_size": ok.checkpoint.size,
                    "inclusion_checked": inclusion_checked,
                    "leaf_hash": ok.leaf_hash.map(hex::encode),
                }))?;
            } else if inclusion_checked {
                writeln!(
                    out,
                    "ok: the entry is included at index {} in the checkpoint of size {} signed by \
                     {}",
                    ok.index, ok.checkpoint.size, ok.checkpoint.origin
                )?;
            } else {
                writeln!(
                    out,
                    "ok: the checkpoint of size {} is signed by {} and the proof for index {} is \
                     well-formed; inclusion of a particular entry was not checked (pass --entry)",
                    ok.checkpoint.size, ok.checkpoint.origin, ok.index
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if args.json {
                drop(out);
                print_json(&serde_json::json!({ "ok": false, "error": err.to_string() }))?;
            } else {
                writeln!(out, "FAILED: {err}")?;
            }
            Ok(ExitCode::from(INTEGRITY_FAILURE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_ledger::{Ledger, LedgerOptions};

    fn ledger_with_entries(data_dir: &Path) -> PathBuf {
        let dir = data_dir.join("ledger");
        let ledger = Ledger::open(&dir, LedgerOptions::default()).unwrap();
        let entries: Vec<Vec<u8>> = (0..50).map(|i| format!("entry {i}").into_bytes()).collect();
        ledger.append(&entries).unwrap();
        ledger.close().unwrap();
        dir
    }

    fn data(dir: &Path) -> DataDir {
        DataDir {
            data_dir: dir.to_owned(),
        }
    }

    fn code(c: ExitCode) -> String {
        format!("{c:?}")
    }

    #[test]
    fn data_dir_resolves_nested_or_direct_ledger() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(data(tmp.path()).ledger_dir().is_err());
        let ledger = ledger_with_entries(tmp.path());
        assert_eq!(data(tmp.path()).ledger_dir().unwrap(), ledger);
        assert_eq!(data(&ledger).ledger_dir().unwrap(), ledger);
    }

    #[test]
    fn keys_are_read_inline_or_from_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("key");
        std::fs::write(&path, "a+b+c\n").unwrap();
        assert_eq!(read_key(path.to_str().unwrap()).unwrap(), "a+b+c");
        assert_eq!(read_key(" x+y+z ").unwrap(), "x+y+z");
    }

    #[test]
    fn verify_proof_and_verify_proof_exit_codes() {
        let tmp = tempfile::tempdir().unwrap();
        let ledger = ledger_with_entries(tmp.path());
        let verify = |trusted: Option<PathBuf>| {
            run_verify(VerifyArgs {
                data: data(tmp.path()),
                trusted_checkpoint: trusted,
                vkey: None,
                witness_keys: Vec::new(),
                witness_quorum: None,
                json: true,
            })
            .unwrap()
        };
        assert_eq!(code(verify(None)), code(ExitCode::SUCCESS));

        let bundle = LedgerReader::open(&ledger)
            .unwrap()
            .proof_bundle(7, None)
            .unwrap();
        let bundle_path = tmp.path().join("p");
        std::fs::write(&bundle_path, bundle).unwrap();
        let entry_path = tmp.path().join("e");
        let vkey = ledger.join("verifier.key").to_string_lossy().into_owned();
        let check = |entry: &[u8]| {
            std::fs::write(&entry_path, entry).unwrap();
            run_verify_proof(VerifyProofArgs {
                file: bundle_path.clone(),
                vkey: vkey.clone(),
                entry: Some(entry_path.clone()),
                json: false,
            })
            .unwrap()
        };
        assert_eq!(code(check(b"entry 7")), code(ExitCode::SUCCESS));
        assert_eq!(
            code(check(b"entry 8")),
            code(ExitCode::from(INTEGRITY_FAILURE))
        );

        // Tamper with an entry: verify now fails with exit code 1.
        let seg = ledger.join("segments/00000000000000000000.seg");
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&seg, bytes).unwrap();
        assert_eq!(code(verify(None)), code(ExitCode::from(INTEGRITY_FAILURE)));
        // A missing trusted checkpoint file is an I/O error (exit 2 via `main`).
        assert!(
            run_verify(VerifyArgs {
                data: data(tmp.path()),
                trusted_checkpoint: Some(tmp.path().join("missing")),
                vkey: None,
                witness_keys: Vec::new(),
                witness_quorum: None,
                json: true,
            })
            .is_err()
        );
    }
}
