//! The query API, audit endpoints, tlog tiles, health, metrics and the web UI — everything
//! served on the API address (default `127.0.0.1:7070`). See `docs/api.md` for the reference.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /`, any other path | the embedded web UI (`cairn-ui`; unknown pages fall back to `index.html`) |
//! | `GET /api/v1/traces` | trace summaries, filtered and paged |
//! | `GET /api/v1/traces/{trace_id}` | one trace with all its spans (404 when unknown) |
//! | `GET /api/v1/stats` | aggregates per agent, tool or model, optionally of one agent |
//! | `GET /api/v1/conversations` | runs grouped by conversation id, paged |
//! | `GET /api/v1/prices` | the model price table of `[metrics]` (read-only) |
//! | `GET /api/v1/admin/access?since=…` | access records (`cairn.audit.access`), admin scope |
//! | `GET /api/v1/audit/checkpoint` | latest signed checkpoint (`text/plain`) |
//! | `GET /api/v1/audit/checkpoint/cosigned` | latest witness-cosigned checkpoint (`text/plain`) |
//! | `GET /api/v1/audit/witnesses` | per-witness push status (JSON) |
//! | `GET /api/v1/audit/key` | the ledger's verifier key (`text/plain`) |
//! | `GET /api/v1/audit/proof?index=N[&size=S]` | `tlog-proof@v1` bundle (`text/plain`) |
//! | `GET /api/v1/audit/entries/{index}` | raw ledger entry bytes |
//! | `GET /api/v1/audit/verification` | the latest background ledger verification (JSON) |
//! | `POST /api/v1/admin/erase` | crypto-shredding erasure of a data subject (`admin.rs`) |
//! | `GET /tlog/checkpoint`, `GET /tlog/tile/…` | C2SP `tlog-tiles` |
//! | `GET /healthz`, `GET /readyz` | liveness, readiness with index lag |
//! | `GET /metrics` | Prometheus / OpenMetrics text |
//!
//! Errors are `{"error":{"code":"…","message":"…"}}` with status 400, 401, 403, 404, 413, 429 or
//! 500. Authentication, scopes and project scoping: see [`crate::auth`]. Reads of span content
//! (trace detail, searches, raw entries) are recorded as access records ([`crate::auth::access`]).
//!
//! Index reads run on the blocking pool with pooled read-only SQLite connections; at most
//! `api.max_concurrent_queries` run at once, more are answered 429.

mod admin;
mod audit;
pub(crate) mod error;
mod params;
mod query;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_ledger::Ledger;
use cairn_store::{Reader, Store};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use self::error::ApiError;
use crate::pipeline::LedgerWatch;
use crate::pipeline::appender::Appender;
use crate::pipeline::indexer::IndexStatus;
use cairn_metrics::Metrics;

pub(crate) use params::{Params, parse_time};

/// Everything the API handlers share.
#[derive(Debug)]
pub(crate) struct ApiState {
    /// API keys (the middleware).
    pub(crate) auth: Arc<crate::auth::Authenticator>,
    /// Where reads of span content are recorded.
    pub(crate) access: crate::auth::access::AccessLog,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) readers: ReaderPool,
    pub(crate) index: Arc<IndexStatus>,
    pub(crate) appender: Arc<Appender>,
    pub(crate) metrics: Arc<Metrics>,
    /// Refreshes the ledger and index gauges at scrape time.
    pub(crate) watch: Arc<LedgerWatch>,
    /// Permits for concurrent index queries; none left → 429.
    pub(crate) queries: Semaphore,
    /// Cleared when shutdown begins, so `/readyz` turns 503 and load balancers move away.
    pub(crate) ready: AtomicBool,
    /// The latest background ledger verification.
    pub(crate) verification: Arc<crate::verifier::VerificationStatus>,
    /// The witness pusher's per-witness status (`None`: no witnesses configured).
    pub(crate) witnesses: Option<Arc<cairn_witness::PushStatus>>,
    /// Crypto-shredding erasure (`POST /api/v1/admin/erase`).
    pub(crate) eraser: Arc<crate::privacy::Eraser>,
}

impl ApiState {
    /// Runs `f` with a pooled index reader on the blocking pool.
    pub(crate) async fn with_reader<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Reader) -> Result<T, cairn_store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self.queries.try_acquire().map_err(|_| {
            ApiError::too_many_requests("too many concurrent queries; retry shortly")
        })?;
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let reader = state.readers.take().map_err(|e| store_error(&e))?;
            let result = f(&reader);
            state.readers.give_back(reader);
            result.map_err(|e| store_error(&e))
        })
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?
    }

    fn snapshot(&self) -> PipelineSnapshot {
        PipelineSnapshot {
            ledger_entries: self.ledger.size(),
            indexed_entries: self.index.cursor(),
            lag_seconds: self.index.lag_seconds(),
        }
    }
}

/// Ledger and index progress at one moment.
#[derive(Debug, Clone, Copy)]
struct PipelineSnapshot {
    ledger_entries: u64,
    indexed_entries: u64,
    lag_seconds: f64,
}

/// Maps a store error to an API error: the caller's mistakes are 400, the rest 500.
fn store_error(err: &cairn_store::StoreError) -> ApiError {
    if err.is_invalid_input() {
        ApiError::bad_request(err.to_string())
    } else {
        ApiError::internal(format!("index query failed: {err}"))
    }
}

/// Read-only index connections, reused across queries.
#[derive(Debug)]
pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
    max_idle: usize,
}

impl ReaderPool {
    pub(crate) fn new(path: PathBuf, max_idle: usize) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn take(&self) -> Result<Reader, cairn_store::StoreError> {
        if let Some(reader) = self.idle.lock().pop() {
            return Ok(reader);
        }
        Store::open_reader(&self.path)
    }

    fn give_back(&self, reader: Reader) {
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(reader);
        }
    }
}

/// The API router.
pub(crate) fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/traces", get(query::list_traces))
        .route("/api/v1/traces/{trace_id}", get(query::get_trace))
        .route("/api/v1/stats", get(query::stats))
        .route("/api/v1/conversations", get(query::conversations))
        .route("/api/v1/prices", get(query::prices))
        .route("/api/v1/admin/access", get(admin::access))
        .route("/api/v1/audit/checkpoint", get(audit::checkpoint))
        .route(
            "/api/v1/audit/checkpoint/cosigned",
            get(audit::cosigned_checkpoint),
        )
        .route("/api/v1/audit/witnesses", get(audit::witnesses))
        .route("/api/v1/audit/key", get(audit::key))
        .route("/api/v1/audit/proof", get(audit::proof))
        .route("/api/v1/audit/entries/{index}", get(audit::entry))
        .route("/api/v1/audit/verification", get(audit::verification))
        .route("/api/v1/admin/erase", axum::routing::post(admin::erase))
        .route("/tlog/checkpoint", get(audit::checkpoint))
        .route("/tlog/{*path}", get(audit::tile))
        .fallback(ui)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.auth),
            crate::auth::api_layer,
        ))
        .with_state(state)
}

/// Serves the embedded web UI; API-like paths the router does not know stay JSON 404s.
async fn ui(uri: axum::http::Uri) -> Response {
    match cairn_ui::asset(uri.path()) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => {
            ApiError::not_found("no such endpoint; see docs/api.md for the API").into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    let snap = state.snapshot();
    let index_error = state.index.last_error();
    let shutting_down = !state.ready.load(Ordering::Acquire);
    let ready = !shutting_down && index_error.is_none();
    let body = serde_json::json!({
        "status": if ready { "ready" } else if shutting_down { "shutting_down" } else { "index_failing" },
        "ledger_entries": snap.ledger_entries,
        "indexed_entries": snap.indexed_entries,
        "index_lag_entries": snap.ledger_entries.saturating_sub(snap.indexed_entries),
        "index_lag_seconds": snap.lag_seconds,
        "queued_records": state.appender.queued(),
        "index_error": index_error,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text 0.0.4, or OpenMetrics when the `Accept` header asks for it.
async fn metrics(State(state): State<Arc<ApiState>>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (content_type, format) = cairn_metrics::content_type_for(accept);
    let encoded = tokio::task::spawn_blocking(move || {
        state.watch.refresh(&state.ledger, &state.index);
        let mut text = state.metrics.encode(format);
        crate::privacy::append_redaction_metrics(
            &mut text,
            matches!(format, cairn_metrics::Format::OpenMetrics),
            &state.eraser.privacy.redaction_counts(),
        );
        text
    })
    .await;
    match encoded {
        Ok(text) => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {err}"),
        )
            .into_response(),
    }
}
