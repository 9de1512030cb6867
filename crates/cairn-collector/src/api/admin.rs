//! `/api/v1/admin/*` (scope `admin`):
//!
//! - `GET /api/v1/admin/access?since=&until=&limit=` lists the access records
//!   (`cairn.audit.access`) of the key's project, oldest first.
//! - `POST /api/v1/admin/erase`: crypto-shredding erasure of a data subject (GDPR Art. 17).
//!   Request: `{"subject": "<user id, end-user id or conversation id>"}` (JSON, at most 4096
//!   bytes of subject). Answer 200: the [`crate::EraseOutcome`] as JSON. Errors: 400 (bad JSON,
//!   missing or empty `subject`), 404 (the subject has no data key: never seen with encrypted
//!   content, or already erased), 409 (encryption is not configured), 500 (keystore, index or
//!   ledger failure). The steps are in `crate::privacy`. Data keys are per subject and
//!   instance-wide (not per project): any `admin` key may erase a subject; the erasure record
//!   names the key that did.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_store::LogDetail;
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::error::ApiError;
use super::params::Params;
use crate::auth::Principal;
use crate::auth::access::ACCESS_EVENT;
use crate::privacy::EraseError;

/// Default and largest page of access records.
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;

/// The answer of `GET /api/v1/admin/access`.
#[derive(Debug, Serialize)]
pub(crate) struct AccessPage {
    /// The records, oldest first (log records as in a trace's `logs`).
    records: Vec<LogDetail>,
    /// `true` when `limit` cut the list; ask again with `since` after the last record's time.
    truncated: bool,
}

pub(crate) async fn access(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
) -> Result<Json<AccessPage>, ApiError> {
    let p = Params::parse(&uri, &["since", "until", "limit"])?;
    let now = SystemTime::now();
    let since = p.time("since", now)?;
    let until = p.time("until", now)?;
    let limit: usize = p.number("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "query parameter \"limit\" must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let project = principal.project_filter();
    let mut records = state
        .with_reader(move |reader| {
            reader.logs_by_event(project.as_deref(), ACCESS_EVENT, since, until, limit + 1)
        })
        .await?;
    let truncated = records.len() > limit;
    records.truncate(limit);
    Ok(Json(AccessPage { records, truncated }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EraseRequest {
    subject: String,
}

pub(super) async fn erase(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    body: Result<Json<EraseRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return ApiError::bad_request(format!(
                "body must be JSON {{\"subject\": \"...\"}}: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    // Who erased: the admin key, or plain `api` with authentication off.
    let actor = if principal.all_projects {
        "api".to_owned()
    } else {
        format!("api key {}", principal.key_id)
    };
    match state.eraser.erase(request.subject, actor).await {
        Ok(outcome) => (StatusCode::OK, Json(outcome)).into_response(),
        Err(err) => {
            let message = err.to_string();
            match err {
                EraseError::InvalidSubject(_) => ApiError::bad_request(message),
                EraseError::UnknownSubject => ApiError::not_found(message),
                EraseError::NotConfigured => ApiError::conflict(message),
                _ => ApiError::internal(message),
            }
            .into_response()
        }
    }
}
