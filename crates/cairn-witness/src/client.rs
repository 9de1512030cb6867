//! The log side: a `tlog-witness` client and the [`Pusher`] that sends every new checkpoint of
//! a [`Ledger`] to the configured witnesses and stores their cosignatures with the ledger.
//!
//! The pusher runs on its own thread and never blocks ingest. For each witness it remembers
//! the size the witness last cosigned; on a fresh start it sends `old 0`, and learns the real
//! size from the `409` answer, then sends the consistency proof from there. Every
//! cosignature returned is checked against the configured witness key before it is kept;
//! the cosignatures gathered for the newest checkpoint go to the ledger's
//! `cosigned.checkpoint` (merged with any already stored for that same checkpoint). Failures
//! are counted per witness, logged, and retried every `retry_secs` or at the next checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_ledger::cosign::append_signature_lines;
use cairn_ledger::{Checkpoint, CosignatureVerifier, Ledger};
use parking_lot::Mutex;

use crate::config::{ConfigError, PushConfig};
use crate::protocol::{AddCheckpoint, SIZE_CONTENT_TYPE, parse_size_body};

/// Why an `add-checkpoint` call did not return cosignatures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// 409: the witness has another size for the log.
    #[error("witness answered 409: it has size {size}")]
    Conflict {
        /// The witness's size.
        size: u64,
    },
    /// Any other refusal.
    #[error("witness answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Response body.
        message: String,
    },
    /// The witness could not be reached.
    #[error("cannot reach the witness: {0}")]
    Transport(String),
    /// The answer holds no valid cosignature by the expected key.
    #[error("bad witness answer: {0}")]
    BadResponse(String),
    /// The log cannot build the request (no proof between the sizes).
    #[error("{0}")]
    Log(String),
}

/// A client of one witness.
#[derive(Debug, Clone)]
pub struct WitnessClient {
    agent: ureq::Agent,
    url: String,
}

impl WitnessClient {
    /// A client of the witness at `url` (its submission prefix).
    pub fn new(url: &str, timeout: Duration) -> Self {
        Self {
            agent: ureq::AgentBuilder::new().timeout(timeout).build(),
            url: format!("{}/add-checkpoint", url.trim_end_matches('/')),
        }
    }

    /// Sends one request; returns the response body (signature lines) on 200.
    pub fn add_checkpoint(&self, req: &AddCheckpoint) -> Result<String, ClientError> {
        let sent = self
            .agent
            .post(&self.url)
            .set("Content-Type", "text/plain; charset=utf-8")
            .send_string(&req.to_body());
        match sent {
            Ok(resp) => resp
                .into_string()
                .map_err(|e| ClientError::Transport(format!("reading the answer: {e}"))),
            Err(ureq::Error::Status(409, resp)) => {
                let is_size = resp.content_type() == SIZE_CONTENT_TYPE;
                let body = resp.into_string().unwrap_or_default();
                match parse_size_body(&body).filter(|_| is_size) {
                    Some(size) => Err(ClientError::Conflict { size }),
                    None => Err(ClientError::Refused {
                        status: 409,
                        message: body.trim().to_owned(),
                    }),
                }
            }
            Err(ureq::Error::Status(status, resp)) => Err(ClientError::Refused {
                status,
                message: resp.into_string().unwrap_or_default().trim().to_owned(),
            }),
            Err(ureq::Error::Transport(t)) => Err(ClientError::Transport(t.to_string())),
        }
    }
}

/// Keeps the signature lines in `answer` that are valid cosignatures of `cp` by `verifier`.
pub fn valid_cosignatures(
    answer: &str,
    cp: &Checkpoint,
    verifier: &CosignatureVerifier,
) -> Result<Vec<String>, ClientError> {
    let lines: Vec<String> = answer
        .lines()
        .filter(|l| l.starts_with('\u{2014}'))
        .filter(|l| verifier.verify_line(cp, l).is_ok())
        .map(|l| format!("{l}\n"))
        .collect();
    if lines.is_empty() {
        return Err(ClientError::BadResponse(format!(
            "no valid cosignature by {} in the answer",
            verifier.key_ref()
        )));
    }
    Ok(lines)
}

/// Counters and state of one witness, as the pusher sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WitnessStatus {
    /// The witness URL.
    pub url: String,
    /// `<name>+<hex key id>` of its key.
    pub key: String,
    /// The size it last cosigned (as far as the log knows).
    pub cosigned_size: Option<u64>,
    /// Successful pushes.
    pub pushes: u64,
    /// Failed pushes.
    pub failures: u64,
    /// The last failure, if the last push failed.
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Target {
    client: WitnessClient,
    verifier: CosignatureVerifier,
    url: String,
    /// The witness's size, `u64::MAX` while unknown.
    known: AtomicU64,
    pushes: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Target {
    fn status(&self) -> WitnessStatus {
        let known = self.known.load(Ordering::Relaxed);
        WitnessStatus {
            url: self.url.clone(),
            key: self.verifier.key_ref(),
            cosigned_size: (known != u64::MAX).then_some(known),
            pushes: self.pushes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
        }
    }

    /// Pushes `note` (checkpoint `cp`); learns the witness's size from a 409 and retries.
    fn push(
        &self,
        ledger: &Ledger,
        cp: &Checkpoint,
        note: &str,
    ) -> Result<Vec<String>, ClientError> {
        let known = self.known.load(Ordering::Relaxed);
        let mut old = if known == u64::MAX { 0 } else { known };
        // At most: a stale guess, then the size from the 409 (plus one race with another log
        // process pushing the same witness).
        for _ in 0..3 {
            if old > cp.size {
                return Err(ClientError::Log(format!(
                    "the witness has cosigned size {old}, more than this log's checkpoint \
                     ({}): the log was rolled back or forked",
                    cp.size
                )));
            }
            let proof = if old == 0 || old == cp.size {
                Vec::new()
            } else {
                ledger
                    .consistency_proof(old, cp.size)
                    .map_err(|e| ClientError::Log(format!("consistency proof: {e}")))?
            };
            let req = AddCheckpoint {
                old,
                proof,
                note: note.to_owned(),
            };
            match self.client.add_checkpoint(&req) {
                Ok(answer) => {
                    let lines = valid_cosignatures(&answer, cp, &self.verifier)?;
                    self.known.store(cp.size, Ordering::Relaxed);
                    return Ok(lines);
                }
                Err(ClientError::Conflict { size }) if size != old => {
                    self.known.store(size, Ordering::Relaxed);
                    old = size;
                }
                Err(ClientError::Conflict { size }) => {
                    return Err(ClientError::Log(format!(
                        "the witness refused checkpoint {} at its own size {size}: it holds \
                         another root (a fork)",
                        cp.size
                    )));
                }
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Log(
            "the witness's size kept changing; retrying later".to_owned(),
        ))
    }
}

/// What the pusher's status endpoint shows.
#[derive(Debug)]
pub struct PushStatus {
    targets: Vec<Target>,
}

impl PushStatus {
    /// One entry per configured witness.
    pub fn witnesses(&self) -> Vec<WitnessStatus> {
        self.targets.iter().map(Target::status).collect()
    }
}

/// The background thread pushing checkpoints to witnesses; see the module docs.
#[derive(Debug)]
pub struct Pusher {
    status: Arc<PushStatus>,
    stop: Arc<AtomicBool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

/// How often the pusher looks for a new checkpoint.
const POLL: Duration = Duration::from_millis(100);

impl Pusher {
    /// Starts pushing `ledger`'s checkpoints to the configured witnesses.
    pub fn start(ledger: Arc<Ledger>, config: &PushConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let timeout = Duration::from_secs(config.timeout_secs);
        let targets = config
            .witnesses
            .iter()
            .map(|w| {
                Ok(Target {
                    client: WitnessClient::new(&w.url, timeout),
                    verifier: CosignatureVerifier::new(&w.vkey)
                        .map_err(|e| ConfigError(e.to_string()))?,
                    url: w.url.clone(),
                    known: AtomicU64::new(u64::MAX),
                    pushes: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    last_error: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let status = Arc::new(PushStatus { targets });
        let stop = Arc::new(AtomicBool::new(false));
        let retry = Duration::from_secs(config.retry_secs);
        let (thread_status, thread_stop) = (Arc::clone(&status), Arc::clone(&stop));
        let handle = std::thread::Builder::new()
            .name("cairn-witness-pusher".to_owned())
            .spawn(move || run(&ledger, &thread_status, &thread_stop, retry))
            .map_err(|e| ConfigError(format!("cannot start the witness pusher: {e}")))?;
        Ok(Self {
            status,
            stop,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// The witnesses' status.
    pub fn status(&self) -> &Arc<PushStatus> {
        &self.status
    }

    /// Stops the thread (after the push in progress, bounded by the request timeout).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.lock().take() {
            let _ = h.join();
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn body_of(note: &str) -> Option<&str> {
    note.split_once("\n\n").map(|(text, _)| text)
}

fn run(ledger: &Ledger, status: &PushStatus, stop: &AtomicBool, retry: Duration) {
    let mut pushed: Option<u64> = None;
    let mut retry_at: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        if let Some(note) = ledger.latest_checkpoint() {
            let cp = body_of(&note).and_then(|t| Checkpoint::parse_body(&format!("{t}\n")).ok());
            if let Some(cp) = cp {
                let due = pushed != Some(cp.size) || retry_at.is_some_and(|t| Instant::now() >= t);
                if due {
                    let all_ok = push_round(ledger, status, &cp, &note);
                    pushed = Some(cp.size);
                    retry_at = (!all_ok).then(|| Instant::now() + retry);
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Pushes one checkpoint to every witness (skipping those already at it); stores what was
/// gathered. Returns whether every witness cosigned.
fn push_round(ledger: &Ledger, status: &PushStatus, cp: &Checkpoint, note: &str) -> bool {
    let mut lines = Vec::new();
    let mut all_ok = true;
    for t in &status.targets {
        match t.push(ledger, cp, note) {
            Ok(mut got) => {
                t.pushes.fetch_add(1, Ordering::Relaxed);
                *t.last_error.lock() = None;
                lines.append(&mut got);
            }
            Err(e) => {
                all_ok = false;
                t.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(witness = %t.url, size = cp.size, error = %e, "witness push failed");
                *t.last_error.lock() = Some(e.to_string());
            }
        }
    }
    if lines.is_empty() {
        return all_ok;
    }
    // Keep cosignatures already stored for this same checkpoint (e.g. from a witness that
    // answered in an earlier round).
    let base = ledger
        .cosigned_checkpoint()
        .filter(|stored| body_of(stored) == body_of(note))
        .unwrap_or_else(|| note.to_owned());
    let cosigned = append_signature_lines(&base, &lines);
    if let Err(e) = ledger.store_cosigned_checkpoint(&cosigned) {
        tracing::warn!(size = cp.size, error = %e, "cannot store the cosigned checkpoint");
        return false;
    }
    all_ok
}
