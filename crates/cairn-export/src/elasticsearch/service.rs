//! HTTP calls to the cluster: `_bulk` and the idempotent template `PUT`s.

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::retry::{item_outcome, request_error};
use crate::exporter::{ItemOutcome, SendError};
use crate::http;

/// Bulk responses hold one small object per item; 64 MiB is far above any real answer.
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// How requests authenticate.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    None,
    Basic { username: String, password: String },
    ApiKey(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

impl Auth {
    fn header(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Self::ApiKey(key) => Some(format!("ApiKey {key}")),
        }
    }
}

#[derive(Debug, Deserialize)]
struct BulkResponse {
    errors: bool,
    items: Vec<HashMap<String, BulkItem>>,
}

#[derive(Debug, Deserialize)]
struct BulkItem {
    status: Option<u16>,
    error: Option<Value>,
}

/// The cluster client.
#[derive(Debug)]
pub(crate) struct BulkService {
    agent: ureq::Agent,
    endpoint: String,
    auth_header: Option<String>,
    gzip: bool,
}

impl BulkService {
    pub(crate) fn new(agent: ureq::Agent, endpoint: &str, auth: &Auth, gzip: bool) -> Self {
        Self {
            agent,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            auth_header: auth.header(),
            gzip,
        }
    }

    fn request(&self, method: &str, path: &str, content_type: &str) -> ureq::Request {
        let mut request = self
            .agent
            .request(method, &format!("{}/{path}", self.endpoint))
            .set("Content-Type", content_type)
            .set("Accept", "application/json");
        if let Some(auth) = &self.auth_header {
            request = request.set("Authorization", auth);
        }
        request
    }

    /// Sends one `_bulk` request of `count` documents; returns one outcome per document.
    pub(crate) fn bulk(&self, ndjson: &[u8], count: usize) -> Result<Vec<ItemOutcome>, SendError> {
        let mut request = self.request("POST", "_bulk", "application/x-ndjson");
        let compressed;
        let body = if self.gzip {
            request = request.set("Content-Encoding", "gzip");
            compressed = http::gzip(ndjson);
            &compressed[..]
        } else {
            ndjson
        };
        let response = http::send(request, body, MAX_RESPONSE_BYTES)?;
        if response.status != 200 {
            return Err(request_error(
                response.status,
                &response.body_excerpt(),
                response.retry_after,
            ));
        }
        let parsed: BulkResponse = serde_json::from_slice(&response.body).map_err(|e| {
            SendError::transient(format!(
                "_bulk answered 200 with an unreadable body ({e}): {}",
                response.body_excerpt()
            ))
        })?;
        if parsed.items.len() != count {
            return Err(SendError::transient(format!(
                "_bulk answered {} items for {count} documents",
                parsed.items.len()
            )));
        }
        if !parsed.errors {
            return Ok(vec![ItemOutcome::Delivered; count]);
        }
        Ok(parsed
            .items
            .iter()
            .map(|item| match item.values().next() {
                Some(BulkItem {
                    status: Some(status),
                    error,
                }) => item_outcome(*status, error.as_ref()),
                _ => ItemOutcome::Retry {
                    reason: "bulk item without a status".to_owned(),
                },
            })
            .collect())
    }

    /// `POST <path>` with a JSON body; the parsed answer of a 2xx.
    pub(crate) fn post_json(&self, path: &str, body: &Value) -> Result<Value, SendError> {
        let bytes = serde_json::to_vec(body).map_err(|e| SendError::transient(e.to_string()))?;
        let response = http::send(
            self.request("POST", path, "application/json"),
            &bytes,
            MAX_RESPONSE_BYTES,
        )?;
        if (200..300).contains(&response.status) {
            serde_json::from_slice(&response.body).map_err(|e| {
                SendError::transient(format!("POST {path} answered an unreadable body: {e}"))
            })
        } else {
            Err(SendError::Transient {
                reason: format!(
                    "POST {path} answered {}: {}",
                    response.status,
                    response.body_excerpt()
                ),
                retry_after: response.retry_after,
            })
        }
    }

    /// `PUT <path>` with a JSON body; any 2xx is success.
    pub(crate) fn put_json(&self, path: &str, body: &Value) -> Result<(), SendError> {
        let bytes = serde_json::to_vec(body).map_err(|e| SendError::transient(e.to_string()))?;
        let response = http::send(
            self.request("PUT", path, "application/json"),
            &bytes,
            MAX_RESPONSE_BYTES,
        )?;
        if (200..300).contains(&response.status) {
            Ok(())
        } else {
            Err(SendError::Transient {
                reason: format!(
                    "PUT {path} answered {}: {}",
                    response.status,
                    response.body_excerpt()
                ),
                retry_after: response.retry_after,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_headers_and_redacted_debug() {
        let basic = Auth::Basic {
            username: "elastic".to_owned(),
            password: "changeme".to_owned(),
        };
        assert_eq!(
            basic.header().as_deref(),
            Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")
        );
        assert!(!format!("{basic:?}").contains("changeme"));
        let key = Auth::ApiKey("abc==".to_owned());
        assert_eq!(key.header().as_deref(), Some("ApiKey abc=="));
        assert_eq!(Auth::None.header(), None);
    }
}
