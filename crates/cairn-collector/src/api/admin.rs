//! `POST /api/v1/admin/erase`: crypto-shredding erasure of a data subject (GDPR Art. 17).
//!
//! Request: `{"subject": "<user id, end-user id or conversation id>"}` (JSON, at most 4096 bytes
//! of subject). Answer 200: the [`crate::EraseOutcome`] as JSON. Errors: 400 (bad JSON, missing or
//! empty `subject`), 404 (the subject has no data key: never seen with encrypted content, or
//! already erased), 409 (encryption is not configured), 500 (keystore, index or ledger failure).
//! The steps are in `crate::privacy`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ApiState;
use super::error::ApiError;
use crate::privacy::EraseError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EraseRequest {
    subject: String,
}

pub(super) async fn erase(
    State(state): State<Arc<ApiState>>,
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
    match state.eraser.erase(request.subject, "api".to_owned()).await {
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
