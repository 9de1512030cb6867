//! API keys, projects, scopes and per-key rate limits, for every listener.
//!
//! Keys live in `<data_dir>/keys.json` ([`keys`], written by `cairn keys`). The server re-reads
//! the file whenever its modification time, size or inode changes (one `stat` per request), so a
//! key created or revoked while the server runs takes effect on the next request.
//!
//! # When authentication is on
//! When the key file holds at least one key (revoked ones count, so revoking the last key never
//! opens the server) or `[auth] required = true`. Otherwise every request is the anonymous
//! principal: project `default`, scope `admin`, and it sees every project's data (a single-user
//! local install needs no keys). `cairn serve` refuses to listen on a non-loopback address while
//! authentication is off, unless `[auth] insecure_no_auth = true` (`--insecure-no-auth`).
//!
//! # Scopes by route
//! | route | scope |
//! |---|---|
//! | OTLP/HTTP `/v1/*`, OTLP/gRPC | `ingest` |
//! | `/api/v1/admin/*`, `/tlog/tile/entries/*` (raw entries of every project) | `admin` |
//! | every other `/api/*` and `/tlog/*` route | `read` |
//! | `/healthz`, `/readyz`, `/metrics`, the UI's static files | open |
//!
//! `admin` implies `read` and `ingest`. Answers: no key, or an unknown or revoked key → 401 with
//! `WWW-Authenticate: Bearer` (gRPC `UNAUTHENTICATED`); a valid key whose scope does not cover the
//! route → 403 (`PERMISSION_DENIED`); over the key's rate limit → 429 with `Retry-After`
//! (`RESOURCE_EXHAUSTED` with `RetryInfo`). The HTTP error bodies are the API's JSON errors.
//!
//! # Projects
//! A key belongs to one project. Ingest stamps the resource attribute `cairn.project` with it on
//! every span and log record before the ledger append (overwriting what the sender put there);
//! every query is restricted to it, and another project's trace answers 404 exactly like one that
//! does not exist.

pub(crate) mod access;
pub mod keys;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
pub use access::ACCESS_EVENT;
pub use keys::{KeyError, KeyFile, KeyRecord, NewKey};

/// The project of anonymous requests (authentication off) and of records without `cairn.project`.
pub const DEFAULT_PROJECT: &str = "default";
/// The resource attribute naming a record's project.
pub const PROJECT_ATTRIBUTE: &str = "cairn.project";

/// What a key may do. `admin` includes `read` and `ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Send OTLP data.
    Ingest,
    /// Query the API and the UI.
    Read,
    /// Everything, plus `/api/v1/admin/*`.
    Admin,
}

impl Scope {
    /// The name used in the key file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Admin => "admin",
        }
    }

    /// Whether a key of this scope may use a route that needs `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self == Self::Admin || self == needed
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ingest" => Ok(Self::Ingest),
            "read" => Ok(Self::Read),
            "admin" => Ok(Self::Admin),
            _ => Err(format!("unknown scope {s:?}: use ingest, read or admin")),
        }
    }
}

/// Who made a request (set by the middleware as a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// Key id, or `anonymous`.
    pub(crate) key_id: String,
    /// The key's project (`default` when anonymous).
    pub(crate) project: String,
    /// Anonymous requests (authentication off) see every project.
    pub(crate) all_projects: bool,
}

impl Principal {
    fn anonymous() -> Self {
        Self {
            key_id: "anonymous".to_owned(),
            project: DEFAULT_PROJECT.to_owned(),
            all_projects: true,
        }
    }

    /// The project filter for index queries: `None` = every project.
    pub(crate) fn project_filter(&self) -> Option<String> {
        (!self.all_projects).then(|| self.project.clone())
    }

    /// Whether a record of `project` is visible to this principal.
    pub(crate) fn may_see(&self, project: &str) -> bool {
        self.all_projects || self.project == project
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// 401 / `UNAUTHENTICATED`.
    Unauthenticated(String),
    /// 403 / `PERMISSION_DENIED`.
    Forbidden(String),
    /// 429 / `RESOURCE_EXHAUSTED`, retry after this many seconds.
    RateLimited(u64),
    /// The key file cannot be read: fail closed (500 / `INTERNAL`).
    Unavailable(String),
}

impl AuthError {
    pub(crate) fn into_api_error(self) -> ApiError {
        match self {
            Self::Unauthenticated(m) => ApiError::unauthorized(m),
            Self::Forbidden(m) => ApiError::forbidden(m),
            Self::RateLimited(secs) => {
                ApiError::rate_limited("this key's rate limit is exhausted; retry later", secs)
            }
            Self::Unavailable(m) => ApiError::internal(m),
        }
    }

    pub(crate) fn into_status(self) -> tonic::Status {
        match self {
            Self::Unauthenticated(m) => tonic::Status::unauthenticated(m),
            Self::Forbidden(m) => tonic::Status::permission_denied(m),
            Self::RateLimited(secs) => crate::otlp::rate_limited_status(secs),
            Self::Unavailable(m) => tonic::Status::internal(m),
        }
    }
}

/// Identity of the key file's current version: (mtime, size, inode).
type Stamp = (Option<SystemTime>, u64, u64);

#[derive(Debug)]
struct Cached {
    stamp: Option<Stamp>,
    file: Arc<KeyFile>,
}

/// Checks bearer keys against the key file.
#[derive(Debug)]
pub(crate) struct Authenticator {
    path: PathBuf,
    required: bool,
    cached: RwLock<Cached>,
    limiters: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    (meta.modified().ok(), meta.len(), inode)
}

impl Authenticator {
    pub(crate) fn new(path: PathBuf, required: bool) -> Self {
        Self {
            path,
            required,
            cached: RwLock::new(Cached {
                stamp: None,
                file: Arc::new(KeyFile::default()),
            }),
            limiters: Mutex::new(HashMap::new()),
        }
    }

    /// The key file as of now (re-read when it changed on disk).
    pub(crate) fn current(&self) -> Result<Arc<KeyFile>, AuthError> {
        let now = match std::fs::metadata(&self.path) {
            Ok(meta) => Some(stamp(&meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(AuthError::Unavailable(format!(
                    "cannot read the key file {}: {e}",
                    self.path.display()
                )));
            }
        };
        {
            let cached = self.cached.read();
            if cached.stamp == now {
                return Ok(Arc::clone(&cached.file));
            }
        }
        let file = KeyFile::load(&self.path).map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let file = Arc::new(file);
        *self.cached.write() = Cached {
            stamp: now,
            file: Arc::clone(&file),
        };
        tracing::info!(keys = file.keys.len(), path = %self.path.display(), "loaded the key file");
        Ok(file)
    }

    /// Whether requests need a key right now.
    pub(crate) fn enabled(&self) -> Result<bool, AuthError> {
        Ok(self.required || !self.current()?.keys.is_empty())
    }

    /// Authenticates an `Authorization` header value for a route that needs `needed`.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
        needed: Scope,
    ) -> Result<Principal, AuthError> {
        let file = self.current()?;
        if !self.required && file.keys.is_empty() {
            return Ok(Principal::anonymous());
        }
        let Some(value) = authorization else {
            return Err(AuthError::Unauthenticated(
                "an API key is required: send `Authorization: Bearer <key>`".to_owned(),
            ));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AuthError::Unauthenticated(
                    "the Authorization header must be `Bearer <key>`".to_owned(),
                )
            })?;
        let record = file
            .find(token)
            .ok_or_else(|| AuthError::Unauthenticated("unknown or revoked API key".to_owned()))?;
        if !record.scope.allows(needed) {
            return Err(AuthError::Forbidden(format!(
                "key {} has scope {}; this route needs {}",
                record.id,
                record.scope.as_str(),
                needed.as_str()
            )));
        }
        if let Some(limit) = record.rate_limit_per_sec {
            self.check_rate(&record.id, limit)?;
        }
        Ok(Principal {
            key_id: record.id.clone(),
            project: record.project.clone(),
            all_projects: false,
        })
    }

    /// One token from the key's bucket (`limit` per second, burst `limit`).
    fn check_rate(&self, id: &str, limit: u32) -> Result<(), AuthError> {
        let limiter = {
            let mut limiters = self.limiters.lock();
            Arc::clone(limiters.entry(id.to_owned()).or_insert_with(|| {
                let per_sec = NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(Quota::per_second(per_sec)))
            }))
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AuthError::RateLimited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }
}

/// The scope an API-listener path needs; `None` for open paths.
pub(crate) fn api_scope(path: &str) -> Option<Scope> {
    if path.starts_with("/api/v1/admin/") || path.starts_with("/tlog/tile/entries/") {
        Some(Scope::Admin)
    } else if path.starts_with("/api/") || path == "/api" || path.starts_with("/tlog/") {
        Some(Scope::Read)
    } else {
        None
    }
}

fn authorization(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// Middleware of the API listener: authenticates by [`api_scope`] and adds the [`Principal`].
pub(crate) async fn api_layer(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(needed) = api_scope(req.uri().path()) else {
        return next.run(req).await;
    };
    match auth.authenticate(authorization(&req), needed) {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(err) => err.into_api_error().into_response(),
    }
}

/// Middleware of the OTLP/HTTP listener: every route needs `ingest`.
pub(crate) async fn ingest_layer(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    match auth.authenticate(authorization(&req), Scope::Ingest) {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(err) => err.into_api_error().into_response(),
    }
}

/// The gRPC interceptor: `authorization` metadata, scope `ingest`.
#[derive(Debug, Clone)]
pub(crate) struct GrpcAuth(pub(crate) Arc<Authenticator>);

impl tonic::service::Interceptor for GrpcAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let value = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let principal = self
            .0
            .authenticate(value, Scope::Ingest)
            .map_err(AuthError::into_status)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_route() {
        assert_eq!(api_scope("/healthz"), None);
        assert_eq!(api_scope("/metrics"), None);
        assert_eq!(api_scope("/"), None);
        assert_eq!(api_scope("/assets/js/app.js"), None);
        assert_eq!(api_scope("/api/v1/traces"), Some(Scope::Read));
        assert_eq!(api_scope("/api/v1/nope"), Some(Scope::Read));
        assert_eq!(api_scope("/tlog/checkpoint"), Some(Scope::Read));
        assert_eq!(api_scope("/tlog/tile/entries/000"), Some(Scope::Admin));
        assert_eq!(api_scope("/api/v1/admin/access"), Some(Scope::Admin));
        assert!(Scope::Admin.allows(Scope::Read) && Scope::Admin.allows(Scope::Ingest));
        assert!(!Scope::Read.allows(Scope::Ingest) && !Scope::Ingest.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Admin));
    }

    #[test]
    fn keys_created_after_start_are_seen_and_rate_limits_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = KeyFile::path_in(dir.path());
        let auth = Authenticator::new(path.clone(), false);
        assert!(auth.authenticate(None, Scope::Admin).unwrap().all_projects);

        let mut file = KeyFile::default();
        let reader = file.create("p1", Scope::Read, Some(2)).unwrap();
        file.save(&path).unwrap();
        let bearer = format!("Bearer {}", reader.key);
        assert!(matches!(
            auth.authenticate(None, Scope::Read),
            Err(AuthError::Unauthenticated(_))
        ));
        let p = auth.authenticate(Some(&bearer), Scope::Read).unwrap();
        assert_eq!((p.project.as_str(), p.all_projects), ("p1", false));
        assert!(matches!(
            auth.authenticate(Some(&bearer), Scope::Ingest),
            Err(AuthError::Forbidden(_))
        ));
        // The bucket holds 2; the forbidden call above did not take a token.
        assert!(auth.authenticate(Some(&bearer), Scope::Read).is_ok());
        assert!(matches!(
            auth.authenticate(Some(&bearer), Scope::Read),
            Err(AuthError::RateLimited(1))
        ));

        file.revoke(&reader.record.id).unwrap();
        file.save(&path).unwrap();
        assert!(matches!(
            auth.authenticate(Some(&bearer), Scope::Read),
            Err(AuthError::Unauthenticated(_))
        ));
        // Only revoked keys left: still enabled.
        assert!(auth.enabled().unwrap());
    }
}
