//! The witness: C2SP `tlog-witness` `POST /add-checkpoint`.
//!
//! Checks, in the spec's order, each failure with its status:
//!
//! | Check | Status |
//! |---|---|
//! | body parses (`old`, ≤ 63 proof lines, blank line, note) | 400 |
//! | the checkpoint's origin is a configured log | 404 |
//! | a signature by the configured log key verifies | 403 |
//! | `old` ≤ checkpoint size | 400 |
//! | `old` equals the size of the latest checkpoint cosigned for the log (0 if none) | 409, body `<size>\n`, `text/x.tlog.size` |
//! | same size: same root | 409 |
//! | the consistency proof from the stored checkpoint verifies (empty when `old` is 0) | 422 |
//!
//! Then the checkpoint is persisted (fsync, atomic rename) and its cosignature returned. The
//! check and the update run under one lock, so two concurrent requests cannot roll the state
//! back (the race the spec describes).
//!
//! The log key's name must equal the checkpoint origin (as in every Cairn ledger).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_ledger::merkle::verify_consistency;
use cairn_ledger::{CheckpointError, CheckpointVerifier, CosignatureSigner};
use parking_lot::Mutex;

use crate::protocol::{AddCheckpoint, MAX_BODY_BYTES, SIZE_CONTENT_TYPE};
use crate::store::{LogStates, StoreError};

/// Why an `add-checkpoint` request was refused, with its HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// 400: malformed body or `old` larger than the checkpoint.
    #[error("{0}")]
    BadRequest(String),
    /// 404: the origin is not a configured log.
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// 403: no valid signature by the configured log key.
    #[error("checkpoint is not signed by the configured key of its log: {0}")]
    Forbidden(String),
    /// 409: `old` is not the witness's size, or the same size with another root.
    #[error("{message}")]
    Conflict {
        /// The size of the latest checkpoint the witness cosigned for the log.
        size: u64,
        /// Why.
        message: String,
    },
    /// 422: the consistency proof does not verify.
    #[error("consistency proof does not verify: {0}")]
    BadProof(String),
    /// 500: the state could not be persisted or the cosignature made.
    #[error("{0}")]
    Internal(String),
}

impl AddError {
    /// The HTTP status of this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnknownLog(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::BadProof(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AddError {
    fn into_response(self) -> Response {
        match &self {
            Self::Conflict { size, .. } => (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                format!("{size}\n"),
            )
                .into_response(),
            other => (
                other.status(),
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{other}\n"),
            )
                .into_response(),
        }
    }
}

/// A witness: its key, the logs it follows and their latest cosigned checkpoints.
#[derive(Debug)]
pub struct Witness {
    signer: CosignatureSigner,
    logs: HashMap<String, CheckpointVerifier>,
    states: Mutex<LogStates>,
}

impl Witness {
    /// A witness cosigning with `signer` for the logs whose verifier keys are given.
    pub fn new(
        signer: CosignatureSigner,
        log_keys: Vec<CheckpointVerifier>,
        states: LogStates,
    ) -> Self {
        let logs = log_keys
            .into_iter()
            .map(|v| (v.name().to_owned(), v))
            .collect();
        Self {
            signer,
            logs,
            states: Mutex::new(states),
        }
    }

    /// The witness's verifier key (type 0x04).
    pub fn vkey(&self) -> String {
        self.signer.vkey()
    }

    /// Handles one `add-checkpoint` body; returns the cosignature line(s).
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<String, AddError> {
        let req = AddCheckpoint::parse(body).map_err(|e| AddError::BadRequest(e.to_string()))?;
        let origin = req
            .note
            .split('\n')
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| AddError::BadRequest("checkpoint has no origin line".to_owned()))?;
        let verifier = self
            .logs
            .get(origin)
            .ok_or_else(|| AddError::UnknownLog(origin.to_owned()))?;
        let cp = verifier.open(&req.note).map_err(|e| match e {
            CheckpointError::BadSignature { .. } => AddError::Forbidden(e.to_string()),
            other => AddError::BadRequest(other.to_string()),
        })?;
        if req.old > cp.size {
            return Err(AddError::BadRequest(format!(
                "old size {} is larger than the checkpoint size {}",
                req.old, cp.size
            )));
        }
        let mut states = self.states.lock();
        let known = states.get(origin).cloned();
        let known_size = known.as_ref().map_or(0, |k| k.size);
        if req.old != known_size {
            return Err(AddError::Conflict {
                size: known_size,
                message: format!(
                    "old size {} is not the latest cosigned size {known_size}",
                    req.old
                ),
            });
        }
        match &known {
            Some(k) if k.size == cp.size => {
                if k.root != cp.root {
                    return Err(AddError::Conflict {
                        size: known_size,
                        message: format!(
                            "checkpoint of size {} has another root than the one cosigned before",
                            cp.size
                        ),
                    });
                }
                if !req.proof.is_empty() {
                    return Err(AddError::BadProof(
                        "the proof between equal sizes must be empty".to_owned(),
                    ));
                }
            }
            // Every tree extends the empty one: from size 0 no proof is needed (or allowed).
            Some(k) if k.size > 0 => {
                verify_consistency(k.size, cp.size, &req.proof, &k.root, &cp.root)
                    .map_err(|e| AddError::BadProof(e.to_string()))?;
            }
            _ => {
                if !req.proof.is_empty() {
                    return Err(AddError::BadProof(
                        "the proof from size 0 must be empty".to_owned(),
                    ));
                }
            }
        }
        states
            .put(&cp, &req.note)
            .map_err(|e: StoreError| AddError::Internal(format!("cannot persist: {e}")))?;
        drop(states);
        self.signer
            .cosign(&cp)
            .map_err(|e| AddError::Internal(e.to_string()))
    }
}

/// The witness's HTTP routes: `POST /add-checkpoint` and `GET /healthz`.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(witness)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // Verification and the fsync of the new state block; keep them off the async workers.
    let result = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    match result {
        Ok(Ok(lines)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            lines,
        )
            .into_response(),
        Ok(Err(err)) => {
            tracing::info!(status = %err.status(), error = %err, "add-checkpoint refused");
            err.into_response()
        }
        Err(join) => {
            AddError::Internal(format!("add-checkpoint task failed: {join}")).into_response()
        }
    }
}
