//! Audit endpoints: the signed checkpoint, the verifier key, inclusion proofs, raw entries, the
//! latest background verification and the C2SP `tlog-tiles` read path. Everything here comes from
//! the ledger, never from the index, so an auditor checks the source of truth.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use cairn_ledger::{ProofError, ReadError};
use cairn_model::Record;

use super::ApiState;
use super::error::ApiError;
use super::params::Params;
use crate::auth::Principal;
use crate::auth::access::Access;

const TEXT: &str = "text/plain; charset=utf-8";
const BYTES: &str = "application/octet-stream";

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, TEXT)], body).into_response()
}

/// `GET /api/v1/audit/checkpoint` and `GET /tlog/checkpoint`: the latest signed note.
pub(crate) async fn checkpoint(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    let note = state
        .ledger
        .latest_checkpoint()
        .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?;
    let mut response = text(note);
    // Checkpoints change; clients must revalidate.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `GET /api/v1/audit/checkpoint/cosigned`: the latest checkpoint with witness cosignatures.
pub(crate) async fn cosigned_checkpoint(
    State(state): State<Arc<ApiState>>,
) -> Result<Response, ApiError> {
    let ledger = Arc::clone(&state.ledger);
    let note = tokio::task::spawn_blocking(move || ledger.cosigned_checkpoint())
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
        .ok_or_else(|| {
            ApiError::not_found(
                "no witness has cosigned a checkpoint yet (see [witness] in the configuration)",
            )
        })?;
    let mut response = text(note);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `GET /api/v1/audit/witnesses`: one status object per configured witness.
pub(crate) async fn witnesses(State(state): State<Arc<ApiState>>) -> Response {
    let list = state
        .witnesses
        .as_ref()
        .map(|s| s.witnesses())
        .unwrap_or_default();
    axum::Json(list).into_response()
}

/// `GET /api/v1/audit/key`: the verifier key (`<name>+<hex key id>+<base64 key>`).
pub(crate) async fn key(State(state): State<Arc<ApiState>>) -> Response {
    text(format!("{}\n", state.ledger.verifier_key()))
}

/// `GET /api/v1/audit/verification`: the latest background verification of the whole ledger,
/// `{"status": "pending" | "ok" | "failed", "interval_seconds": …, "runs": …, "last": {…}}`.
pub(crate) async fn verification(State(state): State<Arc<ApiState>>) -> Response {
    let last = state.verification.last();
    let status = match &last {
        None => "pending",
        Some(result) if result.ok => "ok",
        Some(_) => "failed",
    };
    let mut response = axum::Json(serde_json::json!({
        "status": status,
        "runs": state.verification.runs(),
        "last": last,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /api/v1/audit/proof?index=N[&size=S]`: a `tlog-proof@v1` bundle.
pub(crate) async fn proof(
    State(state): State<Arc<ApiState>>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let p = Params::parse(&uri, &["index", "size"])?;
    let index: u64 = p
        .number("index")?
        .ok_or_else(|| ApiError::bad_request("query parameter \"index\" is required"))?;
    let size: Option<u64> = p.number("size")?;
    let entries = state.ledger.size();
    if index >= entries {
        return Err(ApiError::not_found(format!(
            "entry {index} does not exist (the ledger has {entries} entries)"
        )));
    }
    if let Some(size) = size
        && (size <= index || size > entries)
    {
        return Err(ApiError::bad_request(format!(
            "size must be above index {index} and at most the ledger size {entries}, got {size}"
        )));
    }
    let ledger = Arc::clone(&state.ledger);
    tokio::task::spawn_blocking(move || ledger.proof_bundle(index, size))
        .await
        .map_err(|e| ApiError::internal(format!("proof task failed: {e}")))?
        .map(text)
        .map_err(|e| proof_error(index, &e))
}

/// A proof the ledger cannot give yet (no checkpoint covers the entry) is 404, not a failure.
fn proof_error(index: u64, err: &ProofError) -> ApiError {
    match err {
        ProofError::NotCovered { .. } => ApiError::not_found(format!(
            "cannot prove entry {index} yet: {err}; a checkpoint covering it is signed within \
             the checkpoint interval"
        )),
        ProofError::NoSuchCheckpoint { .. } => {
            ApiError::not_found(format!("cannot prove entry {index}: {err}"))
        }
        ProofError::InvalidSizes { .. } => {
            ApiError::bad_request(format!("cannot prove entry {index}: {err}"))
        }
        _ => ApiError::internal(format!("cannot prove entry {index}: {err}")),
    }
}

/// Maps a ledger read error: bad paths are the caller's, missing data 404, the rest 500.
fn read_error(what: &str, err: &ReadError) -> ApiError {
    match err {
        ReadError::InvalidTilePath(_) => ApiError::bad_request(format!("{what}: {err}")),
        ReadError::OutOfRange { .. } => ApiError::not_found(format!("{what}: {err}")),
        ReadError::EntryTooLargeForBundle { index, .. } => ApiError::not_found(format!(
            "{what}: {err}; read it from /api/v1/audit/entries/{index}"
        )),
        _ => ApiError::internal(format!("cannot read {what}: {err}")),
    }
}

/// `GET /api/v1/audit/entries/{index}`: the entry's bytes exactly as the ledger hashed them.
///
/// Raw entries are span content: another project's entry answers 404 like a missing one, and a
/// successful read is recorded as an access.
pub(crate) async fn entry(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    let index: u64 = index.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "entry index must be a non-negative integer, got {index:?}"
        ))
    })?;
    let entries = state.ledger.size();
    if index >= entries {
        return Err(ApiError::not_found(format!(
            "entry {index} does not exist (the ledger has {entries} entries)"
        )));
    }
    let ledger = Arc::clone(&state.ledger);
    let bytes = tokio::task::spawn_blocking(move || ledger.read_entry(index))
        .await
        .map_err(|e| ApiError::internal(format!("read task failed: {e}")))?
        .map_err(|e| read_error(&format!("entry {index}"), &e))?;
    if !principal.all_projects {
        let project = cairn_model::codec::decode(&bytes)
            .ok()
            .and_then(|r| match r {
                Record::Span(s) => Some(project_of(&s.resource)),
                Record::Log(l) => Some(project_of(&l.resource)),
                _ => None,
            });
        if !project.is_some_and(|p| principal.may_see(&p)) {
            return Err(ApiError::not_found(format!(
                "entry {index} does not exist (the ledger has {entries} entries)"
            )));
        }
    }
    let mut access = Access::new(&principal, "GET /api/v1/audit/entries/{index}");
    access.ledger_index = Some(index);
    state.access.record(access);
    Ok(([(header::CONTENT_TYPE, BYTES)], bytes).into_response())
}

/// A record's project, as the index derives it (`cairn.project`, else `default`).
fn project_of(resource: &cairn_model::Resource) -> String {
    resource
        .attributes
        .iter()
        .rev()
        .find(|kv| kv.key == crate::auth::PROJECT_ATTRIBUTE)
        .and_then(|kv| match &kv.value {
            cairn_model::AnyValue::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| crate::auth::DEFAULT_PROJECT.to_owned())
}

/// `GET /tlog/tile/<L>/<N>[.p/<W>]` and `GET /tlog/tile/entries/<N>[.p/<W>]`.
///
/// Entry bundles (`tile/entries/…`, admin scope) are span content and are recorded as an access.
pub(crate) async fn tile(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    if !path.starts_with("tile/") {
        return Err(ApiError::not_found(format!(
            "no such tlog resource {path:?}"
        )));
    }
    let ledger = Arc::clone(&state.ledger);
    let partial = path.contains(".p/");
    let lookup = path.clone();
    let bytes = tokio::task::spawn_blocking(move || ledger.tile(&lookup))
        .await
        .map_err(|e| ApiError::internal(format!("tile task failed: {e}")))?
        .map_err(|e| read_error(&path, &e))?
        .ok_or_else(|| ApiError::not_found(format!("no such tile {path:?}")))?;
    if path.starts_with("tile/entries/") {
        let mut access = Access::new(&principal, "GET /tlog/tile/entries/{n}");
        access.query = Some(path.clone());
        state.access.record(access);
    }
    let mut response = ([(header::CONTENT_TYPE, BYTES)], bytes).into_response();
    // Full tiles never change (C2SP tlog-tiles); partial ones are replaced as the log grows.
    let cache = if partial {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response)
}
