//! `/api/v1/traces`, `/api/v1/traces/{trace_id}`, `/api/v1/stats`, `/api/v1/conversations` and
//! `/api/v1/prices`.
//!
//! The store's result types serialize to exactly the documented JSON shapes; these handlers only
//! parse parameters and map errors. Conversations list ids and aggregates, never span content, so
//! they are not recorded as accesses. The trace detail is the exception in form, not in shape: the
//! store renders its JSON itself (see [`get_trace`]), because a 10,000-span trace is ≈12 MB.

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use crate::content::LedgerContent;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_model::{AgentKind, TraceId};
use cairn_store::{
    ConversationPage, ConversationQuery, GroupBy, SortOrder, StatsQuery, StatsReport, StatusFilter,
    TracePage, TraceQuery, TraceSort,
};
use flate2::write::GzEncoder;

use super::ApiState;
use super::error::ApiError;
use super::params::Params;
use crate::auth::Principal;
use crate::auth::access::Access;

const TRACE_PARAMS: &[&str] = &[
    "agent",
    "status",
    "kind",
    "tool",
    "model",
    "conversation",
    "q",
    "since",
    "until",
    "min_duration_ms",
    "limit",
    "cursor",
    "sort",
    "order",
];

const CONVERSATION_PARAMS: &[&str] = &["since", "until", "limit", "cursor"];

const STATS_PARAMS: &[&str] = &["since", "until", "group_by", "agent"];

/// The content type `Json` answers carry.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Builds the store query from the request's parameters.
pub(crate) fn trace_query(uri: &Uri, now: SystemTime) -> Result<TraceQuery, ApiError> {
    let p = Params::parse(uri, TRACE_PARAMS)?;
    let status = p
        .string("status")
        .map(|s| {
            s.parse::<StatusFilter>()
                .map_err(|e| ApiError::bad_request(format!("query parameter \"status\": {e}")))
        })
        .transpose()?;
    let kind = p
        .string("kind")
        .map(|s| {
            AgentKind::parse(&s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter \"kind\": unknown agent kind {s:?}"
                ))
            })
        })
        .transpose()?;
    let sort = p.parsed::<TraceSort>("sort")?.unwrap_or_default();
    let order = p.parsed::<SortOrder>("order")?.unwrap_or_default();
    let limit: Option<usize> = p.number("limit")?;
    if limit == Some(0) {
        return Err(ApiError::bad_request(
            "query parameter \"limit\" must be at least 1",
        ));
    }
    Ok(TraceQuery {
        agent: p.string("agent"),
        status,
        kind,
        tool: p.string("tool"),
        model: p.string("model"),
        conversation: p.string("conversation"),
        q: p.string("q"),
        since: p.time("since", now)?,
        until: p.time("until", now)?,
        min_duration_ms: p.number("min_duration_ms")?,
        limit,
        cursor: p.string("cursor"),
        sort,
        order,
    })
}

/// Lists traces; a full-text search (`q`) reads span content and is recorded as an access.
pub(crate) async fn list_traces(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
) -> Result<Json<TracePage>, ApiError> {
    let query = trace_query(&uri, SystemTime::now())?;
    let searched = query.q.is_some();
    let project = principal.project_filter();
    let page = state
        .with_reader(move |reader| reader.list_traces(project.as_deref(), &query))
        .await?;
    if searched {
        let mut access = Access::new(&principal, "GET /api/v1/traces");
        access.query = uri.query().map(str::to_owned);
        state.access.record(access);
    }
    Ok(Json(page))
}

/// One trace with its spans and logs (span content: recorded as an access).
///
/// The answer is the JSON of [`cairn_store::TraceDetail`], rendered by the store on the blocking
/// pool ([`cairn_store::Reader::get_trace_json`]) from the index rows and the spans' records,
/// which [`LedgerContent`] reads from the ledger and decrypts. Answers of at least
/// [`GZIP_MIN_BYTES`] are gzipped (fastest level, on the blocking pool too) when the request's
/// `Accept-Encoding` allows `gzip`.
pub(crate) async fn get_trace(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    Path(trace_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = TraceId::from_hex(&trace_id).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid trace id {trace_id:?}: expected 32 hex digits"
        ))
    })?;
    let project = principal.project_filter();
    let gzip = accepts_gzip(&headers);
    let ledger = Arc::clone(&state.ledger);
    let privacy = Arc::clone(&state.eraser.privacy);
    let (body, gzipped) = state
        .with_reader(move |reader| {
            let content = LedgerContent::new(&ledger, &privacy);
            Ok(reader
                .get_trace_json(project.as_deref(), &id, &content)?
                .map(|json| encode(json, gzip)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("trace {trace_id} not found")))?;
    let mut access = Access::new(&principal, "GET /api/v1/traces/{trace_id}");
    access.trace_id = Some(id.to_hex());
    state.access.record(access);
    let mut response = ([(header::CONTENT_TYPE, JSON)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

/// Smallest trace answer that is gzipped: below it compressing saves too little to pay off.
pub(crate) const GZIP_MIN_BYTES: usize = 64 * 1024;

/// True when `Accept-Encoding` lists `gzip` with a non-zero quality (`*` is not taken as gzip).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The answer body and whether it is gzipped: `json` itself unless `gzip` is allowed and the
/// body is large enough, or compressing fails (then the plain JSON goes out).
fn encode(json: Vec<u8>, gzip: bool) -> (Vec<u8>, bool) {
    if !gzip || json.len() < GZIP_MIN_BYTES {
        return (json, false);
    }
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(json.len() / 8),
        flate2::Compression::fast(),
    );
    match encoder.write_all(&json).and_then(|()| encoder.finish()) {
        Ok(gzipped) => (gzipped, true),
        Err(_) => (json, false),
    }
}

pub(crate) async fn stats(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
) -> Result<Json<StatsReport>, ApiError> {
    let p = Params::parse(&uri, STATS_PARAMS)?;
    let now = SystemTime::now();
    let group_by = p.parsed::<GroupBy>("group_by")?.unwrap_or_default();
    let query = StatsQuery {
        agent: p.string("agent"),
        group_by,
        since: p.time("since", now)?,
        until: p.time("until", now)?,
    };
    let project = principal.project_filter();
    state
        .with_reader(move |reader| reader.stats(project.as_deref(), &query))
        .await
        .map(Json)
}

/// Runs grouped by conversation id, most recently active first.
pub(crate) async fn conversations(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    uri: Uri,
) -> Result<Json<ConversationPage>, ApiError> {
    let p = Params::parse(&uri, CONVERSATION_PARAMS)?;
    let now = SystemTime::now();
    let limit: Option<usize> = p.number("limit")?;
    if limit == Some(0) {
        return Err(ApiError::bad_request(
            "query parameter \"limit\" must be at least 1",
        ));
    }
    let query = ConversationQuery {
        since: p.time("since", now)?,
        until: p.time("until", now)?,
        limit,
        cursor: p.string("cursor"),
    };
    let project = principal.project_filter();
    state
        .with_reader(move |reader| reader.list_conversations(project.as_deref(), &query))
        .await
        .map(Json)
}

/// The model price table of `[metrics]` (read-only), for the UI's estimated costs.
pub(crate) async fn prices(
    State(state): State<Arc<ApiState>>,
    uri: Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    Params::parse(&uri, &[])?;
    let table = &state.metrics.agents().config().price_table;
    let models: std::collections::BTreeMap<&str, serde_json::Value> = table
        .iter()
        .map(|(model, price)| {
            (
                model.as_str(),
                serde_json::json!({
                    "input_per_mtok_usd": price.input_per_mtok_usd,
                    "output_per_mtok_usd": price.output_per_mtok_usd,
                }),
            )
        })
        .collect();
    Ok(Json(serde_json::json!({
        "currency": "USD",
        "unit": "per million tokens",
        "match": "exact model name, else the longest key that prefixes it",
        "models": models,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_store_query() {
        let uri: Uri = "/api/v1/traces?agent=planner&status=error&kind=tool&limit=10&since=1h"
            .parse()
            .unwrap();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(7200);
        let q = trace_query(&uri, now).unwrap();
        assert_eq!(q.agent.as_deref(), Some("planner"));
        assert_eq!(q.status, Some(StatusFilter::Error));
        assert_eq!(q.kind, Some(AgentKind::Tool));
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.since, Some(3600 * 1_000_000_000));
        assert_eq!(q.until, None);
        assert_eq!((q.sort, q.order), (TraceSort::Start, SortOrder::Desc));

        let uri: Uri = "/api/v1/traces?sort=tokens&order=asc".parse().unwrap();
        let q = trace_query(&uri, now).unwrap();
        assert_eq!((q.sort, q.order), (TraceSort::Tokens, SortOrder::Asc));
    }

    #[test]
    fn gzip_only_when_accepted_and_large() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(accept("gzip"));
        assert!(accept("br, GZIP;q=0.5, deflate"));
        assert!(!accept("gzip;q=0"));
        assert!(!accept("identity"));
        assert!(!accept("*"));
        assert!(!accept("x-gzip2"));
        assert!(!accepts_gzip(&HeaderMap::new()));

        let small = b"{\"spans\":[]}".to_vec();
        assert_eq!(encode(small.clone(), true), (small, false));
        let big: Vec<u8> = format!("[{}0]", "12345,".repeat(GZIP_MIN_BYTES)).into_bytes();
        assert_eq!(encode(big.clone(), false), (big.clone(), false));
        let (gz, gzipped) = encode(big.clone(), true);
        assert!(gzipped && gz.len() < big.len() / 10, "{}", gz.len());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!(back, big);
    }

    #[test]
    fn rejects_bad_values() {
        let now = SystemTime::now();
        for bad in [
            "/t?status=maybe",
            "/t?kind=robot",
            "/t?limit=0",
            "/t?limit=ten",
            "/t?since=someday",
            "/t?frobnicate=1",
            "/t?sort=cost",
            "/t?order=up",
        ] {
            let uri: Uri = bad.parse().unwrap();
            let err = trace_query(&uri, now).unwrap_err();
            assert_eq!(err.status.as_u16(), 400, "{bad}: {err:?}");
        }
        for (bad, name) in [("/t?sort=cost", "\"sort\""), ("/t?order=up", "\"order\"")] {
            let uri: Uri = bad.parse().unwrap();
            let err = trace_query(&uri, now).unwrap_err();
            assert!(err.message.contains(name), "{bad}: {}", err.message);
        }
    }
}
