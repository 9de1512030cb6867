//! `/api/v1/admin/*` (scope `admin`): `GET /api/v1/admin/access?since=&until=&limit=` lists the
//! access records (`cairn.audit.access`) of the key's project, oldest first.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::Uri;
use axum::{Extension, Json};
use cairn_store::LogDetail;
use serde::Serialize;

use super::ApiState;
use super::error::ApiError;
use super::params::Params;
use crate::auth::Principal;
use crate::auth::access::ACCESS_EVENT;

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
