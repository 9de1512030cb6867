//! How Elasticsearch answers map to outcomes.
//!
//! Request level (the HTTP status of `_bulk`):
//!
//! | Status            | Meaning                                   | Outcome                                   |
//! |-------------------|-------------------------------------------|-------------------------------------------|
//! | 200               | items processed (maybe `errors: true`)    | per item, below                           |
//! | 429               | cluster overloaded                        | retry all, honour `Retry-After`           |
//! | 400, 413          | the request body itself is refused        | split the batch to isolate the culprit    |
//! | 401, 403, 404     | credentials, privileges, wrong endpoint   | retry (an operator fixes it; no data loss)|
//! | 5xx, other        | server trouble                            | retry all                                 |
//!
//! Item level (`items[i].create.status` inside a 200):
//!
//! | Status        | Meaning                                             | Outcome        |
//! |---------------|-----------------------------------------------------|----------------|
//! | 200, 201      | created                                             | delivered      |
//! | 409           | `version_conflict_engine_exception`: `_id` exists   | delivered      |
//! | 429           | `es_rejected_execution_exception` (queue full)      | retry the item |
//! | 5xx           | shard unavailable, node failure …                   | retry the item |
//! | other 4xx     | `mapper_parsing_exception`, `document_parsing_exception`, `illegal_argument_exception` … | dead letter |

use std::time::Duration;

use serde_json::Value;

use crate::exporter::{ItemOutcome, SendError};

/// The outcome of one bulk item.
pub(crate) fn item_outcome(status: u16, error: Option<&Value>) -> ItemOutcome {
    match status {
        200 | 201 | 409 => ItemOutcome::Delivered,
        429 | 500..=599 => ItemOutcome::Retry {
            reason: format!("item status {status}: {}", error_reason(error)),
        },
        _ => ItemOutcome::Reject {
            reason: format!("item status {status}: {}", error_reason(error)),
        },
    }
}

/// The error of a `_bulk` request that did not answer 200.
pub(crate) fn request_error(status: u16, body: &str, retry_after: Option<Duration>) -> SendError {
    let reason = format!("_bulk answered {status}: {body}");
    match status {
        400 | 413 => SendError::Rejected { reason },
        401 | 403 | 404 => SendError::Transient {
            reason: format!("{reason} (check the endpoint and credentials)"),
            retry_after,
        },
        _ => SendError::Transient {
            reason,
            retry_after,
        },
    }
}

/// `type: reason` of an Elasticsearch error object, with the first `caused_by`.
pub(crate) fn error_reason(error: Option<&Value>) -> String {
    let Some(error) = error else {
        return "no error details".to_owned();
    };
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut text = match (field(error, "type"), field(error, "reason")) {
        (Some(t), Some(r)) => format!("{t}: {r}"),
        (Some(t), None) => t,
        (None, Some(r)) => r,
        (None, None) => error.to_string(),
    };
    if let Some(cause) = error.get("caused_by") {
        if let (Some(t), Some(r)) = (field(cause, "type"), field(cause, "reason")) {
            text.push_str(&format!(" (caused by {t}: {r})"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn items_map_to_outcomes() {
        assert_eq!(item_outcome(201, None), ItemOutcome::Delivered);
        assert_eq!(item_outcome(409, None), ItemOutcome::Delivered);
        assert!(matches!(item_outcome(429, None), ItemOutcome::Retry { .. }));
        assert!(matches!(item_outcome(503, None), ItemOutcome::Retry { .. }));
        let error = json!({
            "type": "document_parsing_exception",
            "reason": "[1:40] failed to parse field [event.duration] of type [long]",
            "caused_by": {"type": "illegal_argument_exception", "reason": "For input string: \"x\""}
        });
        match item_outcome(400, Some(&error)) {
            ItemOutcome::Reject { reason } => {
                assert!(reason.contains("document_parsing_exception"), "{reason}");
                assert!(
                    reason.contains("caused by illegal_argument_exception"),
                    "{reason}"
                );
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn requests_map_to_errors() {
        assert!(matches!(
            request_error(429, "", Some(Duration::from_secs(2))),
            SendError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            request_error(413, "", None),
            SendError::Rejected { .. }
        ));
        assert!(matches!(
            request_error(401, "", None),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            request_error(502, "", None),
            SendError::Transient { .. }
        ));
    }
}
