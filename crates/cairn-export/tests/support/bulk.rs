//! An in-test Elasticsearch that follows the `_bulk` API documentation: NDJSON action/source
//! pairs, `create` into a data stream (409 `version_conflict_engine_exception` when the `_id`
//! exists), per-item statuses with `errors: true` inside a 200, request-level 429 with
//! `Retry-After`, plus injected faults: dropped connections before or after processing and slow
//! answers. Documents whose `span.name` starts with `poison` fail with 400
//! `document_parsing_exception`, as a mapping error does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::http::{Handler, Reply, Request, Server};

/// Fault probabilities (per request or per item).
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    pub(crate) seed: u64,
    /// Answer 429 to the whole request.
    pub(crate) request_429: f64,
    /// `Retry-After` seconds on request-level 429s.
    pub(crate) retry_after_secs: Option<u64>,
    /// Close the connection after reading the request, before processing it.
    pub(crate) drop_before: f64,
    /// Process the request, then close the connection without answering.
    pub(crate) drop_after: f64,
    /// Process the request, then answer after `slow_delay`.
    pub(crate) slow: f64,
    pub(crate) slow_delay: Duration,
    /// Per item: 429 `es_rejected_execution_exception`.
    pub(crate) item_429: f64,
    /// Per item: 503 `unavailable_shards_exception`.
    pub(crate) item_503: f64,
    /// Answer 400 to a whole request that holds a poison document (bad body), instead of
    /// rejecting only the item.
    pub(crate) reject_request_with_poison: bool,
    /// Answer the first N `_bulk` requests with 429 regardless of the probabilities.
    pub(crate) first_requests_429: u64,
}

/// Everything the cluster saw.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Stored documents by `_id`.
    pub(crate) docs: BTreeMap<String, Value>,
    /// `_index` of each stored document.
    pub(crate) indices: HashMap<String, String>,
    /// Successful creates per `_id` (must end at exactly 1 each).
    pub(crate) creates: HashMap<String, u32>,
    pub(crate) conflicts: u64,
    pub(crate) item_failures: u64,
    pub(crate) bulk_requests: u64,
    pub(crate) bulk_request_times: Vec<Instant>,
    /// `PUT` paths in order, with their bodies.
    pub(crate) puts: Vec<(String, Value)>,
    pub(crate) auth_headers: Vec<Option<String>>,
    pub(crate) gzip_requests: u64,
    seq_no: u64,
}

pub(crate) struct BulkServer {
    pub(crate) server: Server,
    pub(crate) state: Arc<Mutex<State>>,
}

impl BulkServer {
    pub(crate) fn start(faults: Faults) -> Self {
        Self::start_with(faults, None)
    }

    /// The same cluster behind HTTPS with `tls`.
    pub(crate) fn start_tls(faults: Faults, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(faults, Some(tls))
    }

    fn start_with(faults: Faults, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(faults.seed)));
        let handler_state = Arc::clone(&state);
        let handler: Handler =
            Arc::new(move |req: &Request| handle(req, &faults, &handler_state, &rng));
        let server = match tls {
            None => Server::start(handler),
            Some(tls) => Server::start_tls(handler, tls),
        };
        Self { server, state }
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    pub(crate) fn doc_count(&self) -> usize {
        self.state.lock().expect("state").docs.len()
    }
}

fn error_body(status: u16, kind: &str, reason: &str) -> Value {
    json!({
        "error": {
            "root_cause": [{"type": kind, "reason": reason}],
            "type": kind,
            "reason": reason,
        },
        "status": status,
    })
}

fn handle(req: &Request, faults: &Faults, state: &Mutex<State>, rng: &Mutex<StdRng>) -> Reply {
    if req.method == "PUT" {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let path = req.path.trim_start_matches('/').to_owned();
        state.lock().expect("state").puts.push((path, body));
        return Reply::json(200, &json!({"acknowledged": true}));
    }
    if req.method != "POST" || !req.path.starts_with("/_bulk") {
        return Reply::json(
            404,
            &error_body(404, "resource_not_found_exception", "no handler"),
        );
    }
    let roll = |p: f64| p > 0.0 && rng.lock().expect("rng").gen_bool(p.min(1.0));
    let request_number = {
        let mut s = state.lock().expect("state");
        s.bulk_requests += 1;
        s.bulk_request_times.push(Instant::now());
        s.auth_headers
            .push(req.header("authorization").map(str::to_owned));
        if req.header("content-encoding") == Some("gzip") {
            s.gzip_requests += 1;
        }
        s.bulk_requests
    };
    if req.header("content-type") != Some("application/x-ndjson") {
        return Reply::json(
            400,
            &error_body(400, "illegal_argument_exception", "content type"),
        );
    }
    if roll(faults.drop_before) {
        return Reply::Drop;
    }
    if request_number <= faults.first_requests_429 || roll(faults.request_429) {
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if let Some(secs) = faults.retry_after_secs {
            headers.push(("Retry-After".to_owned(), secs.to_string()));
        }
        return Reply::Respond {
            status: 429,
            headers,
            body: error_body(
                429,
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]",
            )
            .to_string()
            .into_bytes(),
        };
    }
    let Ok(text) = std::str::from_utf8(&req.body) else {
        return Reply::json(400, &error_body(400, "parse_exception", "not utf-8"));
    };
    if !text.ends_with('\n') {
        return Reply::json(
            400,
            &error_body(
                400,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            ),
        );
    }
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    if lines.len() % 2 != 0 {
        return Reply::json(
            400,
            &error_body(400, "action_request_validation_exception", "odd line count"),
        );
    }
    let mut pairs = Vec::new();
    for pair in lines.chunks(2) {
        let (Ok(action), Ok(doc)) = (
            serde_json::from_str::<Value>(pair[0]),
            serde_json::from_str::<Value>(pair[1]),
        ) else {
            return Reply::json(
                400,
                &error_body(400, "x_content_parse_exception", "bad json"),
            );
        };
        pairs.push((action, doc));
    }
    let is_poison = |doc: &Value| {
        doc["span"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("poison"))
    };
    if faults.reject_request_with_poison && pairs.iter().any(|(_, d)| is_poison(d)) {
        return Reply::json(
            400,
            &error_body(
                400,
                "x_content_parse_exception",
                "[1:2] unexpected token in request body",
            ),
        );
    }
    let started = Instant::now();
    let mut items = Vec::with_capacity(pairs.len());
    let mut errors = false;
    for (action, doc) in pairs {
        let Some(meta) = action.get("create") else {
            return Reply::json(
                400,
                &error_body(
                    400,
                    "illegal_argument_exception",
                    "only create is allowed on data streams",
                ),
            );
        };
        let index = meta["_index"].as_str().unwrap_or_default().to_owned();
        let id = meta["_id"].as_str().unwrap_or_default().to_owned();
        let backing = format!(".ds-{index}-2025.01.01-000001");
        let item_error = |status: u16, kind: &str, reason: String| {
            json!({"create": {
                "_index": backing, "_id": id, "status": status,
                "error": {"type": kind, "reason": reason, "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0", "index": backing}
            }})
        };
        let mut s = state.lock().expect("state");
        if is_poison(&doc) {
            errors = true;
            s.item_failures += 1;
            items.push(item_error(400, "document_parsing_exception", "[1:15] failed to parse field [span.name] of type [keyword] in document with id 'x'".to_owned()));
            continue;
        }
        drop(s);
        if roll(faults.item_429) {
            errors = true;
            state.lock().expect("state").item_failures += 1;
            items.push(item_error(
                429,
                "es_rejected_execution_exception",
                "rejected execution of primary operation".to_owned(),
            ));
            continue;
        }
        if roll(faults.item_503) {
            errors = true;
            state.lock().expect("state").item_failures += 1;
            items.push(item_error(
                503,
                "unavailable_shards_exception",
                "[.ds-x][0] primary shard is not active".to_owned(),
            ));
            continue;
        }
        let mut s = state.lock().expect("state");
        if s.docs.contains_key(&id) {
            errors = true;
            s.conflicts += 1;
            items.push(item_error(
                409,
                "version_conflict_engine_exception",
                format!("[{id}]: version conflict, document already exists (current version [1])"),
            ));
            continue;
        }
        s.seq_no += 1;
        let seq_no = s.seq_no;
        s.docs.insert(id.clone(), doc);
        s.indices.insert(id.clone(), index);
        *s.creates.entry(id.clone()).or_default() += 1;
        items.push(json!({"create": {
            "_index": backing, "_id": id, "_version": 1, "result": "created",
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": seq_no, "_primary_term": 1, "status": 201
        }}));
    }
    let body = json!({
        "took": started.elapsed().as_millis() as u64,
        "errors": errors,
        "items": items,
    });
    let reply = Reply::json(200, &body);
    if roll(faults.drop_after) {
        return Reply::Drop;
    }
    if roll(faults.slow) {
        return Reply::Delay(faults.slow_delay, Box::new(reply));
    }
    reply
}
