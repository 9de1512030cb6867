//! API keys, scopes, projects and access records against the real server: every route of the API
//! router, OTLP/HTTP and OTLP/gRPC.

use std::time::{Duration, Instant};

use cairn_collector::auth::{KeyFile, Scope};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::Value;

use super::harness::*;
use super::hex;

struct Keys {
    ingest_a: String,
    read_a: String,
    admin_a: String,
    ingest_b: String,
    read_b: String,
    revoked_a: String,
}

fn start_with_keys() -> (TestServer, Keys) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let path = KeyFile::path_in(&data);
    let mut file = KeyFile::default();
    let mut make = |project: &str, scope| file.create(project, scope, None).unwrap();
    let ingest_a = make("alpha", Scope::Ingest);
    let read_a = make("alpha", Scope::Read);
    let admin_a = make("alpha", Scope::Admin);
    let ingest_b = make("beta", Scope::Ingest);
    let read_b = make("beta", Scope::Read);
    let revoked = make("alpha", Scope::Admin);
    file.revoke(&revoked.record.id).unwrap();
    file.save(&path).unwrap();
    let mut config = cairn_collector::Config {
        data_dir: data,
        ..cairn_collector::Config::default()
    };
    config.otlp.http_addr = "127.0.0.1:0".into();
    config.otlp.grpc_addr = "127.0.0.1:0".into();
    config.api.addr = "127.0.0.1:0".into();
    config.ledger.checkpoint_interval = Duration::from_millis(100);
    let srv = TestServer::start_in(dir, config);
    (
        srv,
        Keys {
            ingest_a: ingest_a.key,
            read_a: read_a.key,
            admin_a: admin_a.key,
            ingest_b: ingest_b.key,
            read_b: read_b.key,
            revoked_a: revoked.key,
        },
    )
}

/// GET with an optional key: (status, `WWW-Authenticate`, body).
fn get(srv: &TestServer, path: &str, key: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = ureq::get(&srv.api_url(path)).timeout(Duration::from_secs(30));
    if let Some(key) = key {
        req = req.set("authorization", &format!("Bearer {key}"));
    }
    let r = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let status = r.status();
    let www = r.header("www-authenticate").map(str::to_owned);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
    (status, www, String::from_utf8_lossy(&body).into_owned())
}

fn post_traces(srv: &TestServer, key: Option<&str>, seed: u64) -> u16 {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![PROTOBUF];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    post(
        &srv.http_url("/v1/traces"),
        &headers,
        &protobuf(agent_run(seed)),
    )
    .status
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"].as_str().unwrap_or_default().to_owned()
}

/// Every `.route("…")` of the API router, read from its source so a new route cannot be added
/// without a row in the table below.
fn router_routes() -> Vec<String> {
    let source = include_str!("../../src/api/mod.rs");
    source
        .split(".route(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[test]
fn every_route_needs_the_right_key_and_scope_and_sees_only_its_project() {
    let (srv, keys) = start_with_keys();
    // Ingest: no key 401, a read key 403, the ingest key of each project 200.
    assert_eq!(post_traces(&srv, None, 1), 401);
    assert_eq!(post_traces(&srv, Some("cairn_bogus"), 1), 401);
    assert_eq!(post_traces(&srv, Some(&keys.read_a), 1), 403);
    assert_eq!(post_traces(&srv, Some(&keys.ingest_a), 1), 200);
    assert_eq!(post_traces(&srv, Some(&keys.ingest_b), 2), 200);
    // A sender cannot pick its project: beta's key wrote trace 2 into beta whatever it claims.
    srv.wait_indexed();
    let trace_a = hex(&trace_id(1));
    let trace_b = hex(&trace_id(2));

    // (route template, concrete path on alpha's data, scope, project-scoped content route)
    let table: &[(&str, String, Option<Scope>, bool)] = &[
        ("/healthz", "/healthz".into(), None, false),
        ("/readyz", "/readyz".into(), None, false),
        ("/metrics", "/metrics".into(), None, false),
        (
            "/api/v1/traces",
            "/api/v1/traces".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/traces/{trace_id}",
            format!("/api/v1/traces/{trace_a}"),
            Some(Scope::Read),
            true,
        ),
        (
            "/api/v1/stats",
            "/api/v1/stats".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/conversations",
            "/api/v1/conversations".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/prices",
            "/api/v1/prices".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/admin/access",
            "/api/v1/admin/access".into(),
            Some(Scope::Admin),
            false,
        ),
        // A POST route: GET with the right key passes auth and gets 405; the POST itself is
        // checked after the table.
        (
            "/api/v1/admin/erase",
            "/api/v1/admin/erase".into(),
            Some(Scope::Admin),
            false,
        ),
        (
            "/api/v1/audit/checkpoint",
            "/api/v1/audit/checkpoint".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/audit/key",
            "/api/v1/audit/key".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/audit/checkpoint/cosigned",
            "/api/v1/audit/checkpoint/cosigned".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/audit/witnesses",
            "/api/v1/audit/witnesses".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/audit/verification",
            "/api/v1/audit/verification".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/audit/proof",
            "/api/v1/audit/proof?index=0".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/api/v1/audit/entries/{index}",
            "/api/v1/audit/entries/0".into(),
            Some(Scope::Read),
            true,
        ),
        (
            "/tlog/checkpoint",
            "/tlog/checkpoint".into(),
            Some(Scope::Read),
            false,
        ),
        (
            "/tlog/{*path}",
            "/tlog/tile/entries/000.p/1".into(),
            Some(Scope::Admin),
            false,
        ),
    ];
    let routes = router_routes();
    assert!(routes.len() >= 13, "{routes:?}");
    for route in &routes {
        assert!(
            table.iter().any(|(r, ..)| r == route),
            "route {route} of the API router has no row in this test's table"
        );
    }
    // Wait until a checkpoint covers entry 0 so the audit routes answer 200.
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&srv, "/api/v1/audit/proof?index=0", Some(&keys.read_a)).0 != 200 {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(50));
    }

    for (route, path, scope, scoped) in table {
        let Some(scope) = scope else {
            assert_eq!(get(&srv, path, None).0, 200, "{route} is open");
            continue;
        };
        let (status, www, body) = get(&srv, path, None);
        assert_eq!(status, 401, "{route} without a key: {body}");
        assert_eq!(error_code(&body), "unauthorized", "{route}");
        assert!(www.is_some_and(|w| w.starts_with("Bearer")), "{route}");
        for bad in ["cairn_nope", keys.revoked_a.as_str()] {
            let (status, _, body) = get(&srv, path, Some(bad));
            assert_eq!(status, 401, "{route} with key {bad}: {body}");
        }
        let wrong = match scope {
            Scope::Read => &keys.ingest_a,
            _ => &keys.read_a,
        };
        let (status, www, body) = get(&srv, path, Some(wrong));
        assert_eq!(status, 403, "{route} with the wrong scope: {body}");
        assert_eq!(error_code(&body), "forbidden", "{route}");
        assert!(www.is_none(), "{route}");
        let right = match scope {
            Scope::Read => &keys.read_a,
            _ => &keys.admin_a,
        };
        // No witness is configured here, so the cosigned checkpoint is a (JSON) 404 once the key
        // is accepted.
        let ok = match *route {
            "/api/v1/audit/checkpoint/cosigned" => 404,
            "/api/v1/admin/erase" => 405,
            _ => 200,
        };
        let (status, _, body) = get(&srv, path, Some(right));
        assert_eq!(status, ok, "{route} with the right key: {body}");
        if *scope == Scope::Read {
            assert_eq!(
                get(&srv, path, Some(&keys.admin_a)).0,
                ok,
                "admin implies read"
            );
        }
        if *scoped {
            let (status, _, body) = get(&srv, path, Some(&keys.read_b));
            assert_eq!(
                status, 404,
                "{route}: beta must not see alpha's data: {body}"
            );
            assert_eq!(error_code(&body), "not_found");
        }
    }

    // Erasure is admin only; this server has no master key, so an admitted request gets 409.
    let erase = |key: Option<&str>| -> u16 {
        let mut req = ureq::post(&srv.api_url("/api/v1/admin/erase"));
        if let Some(key) = key {
            req = req.set("authorization", &format!("Bearer {key}"));
        }
        match req
            .set("content-type", "application/json")
            .send_string(r#"{"subject": "someone"}"#)
        {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
            Err(e) => panic!("POST erase: {e}"),
        }
    };
    assert_eq!(erase(None), 401);
    assert_eq!(erase(Some(&keys.read_a)), 403);
    assert_eq!(erase(Some(&keys.ingest_a)), 403);
    assert_eq!(erase(Some(&keys.admin_a)), 409);

    // Lists, search and stats are filtered to the key's project.
    let list = |key: &str, q: &str| -> Vec<String> {
        let (status, _, body) = get(&srv, &format!("/api/v1/traces{q}"), Some(key));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(list(&keys.read_a, ""), std::slice::from_ref(&trace_a));
    assert_eq!(list(&keys.read_b, ""), std::slice::from_ref(&trace_b));
    assert_eq!(
        list(&keys.read_b, "?q=cairn"),
        std::slice::from_ref(&trace_b)
    );
    assert_eq!(
        get(
            &srv,
            &format!("/api/v1/traces/{trace_b}"),
            Some(&keys.read_a)
        )
        .0,
        404
    );
    let detail: Value = serde_json::from_str(
        &get(
            &srv,
            &format!("/api/v1/traces/{trace_b}"),
            Some(&keys.read_b),
        )
        .2,
    )
    .unwrap();
    let stats: Value =
        serde_json::from_str(&get(&srv, "/api/v1/stats", Some(&keys.read_b)).2).unwrap();
    assert_eq!(stats["groups"].as_array().unwrap().len(), 1);
    assert_eq!(
        stats["groups"][0]["count"], 1,
        "beta counts only its run: {stats}"
    );
    assert_eq!(detail["spans"].as_array().unwrap().len(), 3);
    let (_, _, body) = get(&srv, "/api/v1/traces", Some(&keys.read_b));
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        page["traces"][0]["project"], "beta",
        "ingest stamped the key's project"
    );

    // gRPC: the same rules, with the `authorization` metadata.
    let endpoint = format!("http://{}", srv.grpc);
    srv.runtime.block_on(async {
        let mut client = TraceServiceClient::connect(endpoint).await.unwrap();
        let with_key = |key: Option<&str>, seed| {
            let mut req = tonic::Request::new(request(agent_run(seed)));
            if let Some(key) = key {
                req.metadata_mut()
                    .insert("authorization", format!("Bearer {key}").parse().unwrap());
            }
            req
        };
        let err = client.export(with_key(None, 5)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        let err = client
            .export(with_key(Some(&keys.read_a), 5))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::PermissionDenied);
        client
            .export(with_key(Some(&keys.ingest_b), 5))
            .await
            .unwrap();
    });
    srv.wait_indexed();
    assert_eq!(
        get(
            &srv,
            &format!("/api/v1/traces/{}", hex(&trace_id(5))),
            Some(&keys.read_a)
        )
        .0,
        404
    );
    assert_eq!(
        get(
            &srv,
            &format!("/api/v1/traces/{}", hex(&trace_id(5))),
            Some(&keys.read_b)
        )
        .0,
        200
    );
}

#[test]
fn reads_of_span_content_are_recorded_in_the_ledger() {
    let (srv, keys) = start_with_keys();
    assert_eq!(post_traces(&srv, Some(&keys.ingest_a), 7), 200);
    srv.wait_indexed();
    let trace = hex(&trace_id(7));
    assert_eq!(
        get(&srv, &format!("/api/v1/traces/{trace}"), Some(&keys.read_a)).0,
        200
    );
    assert_eq!(
        get(&srv, "/api/v1/traces?q=cairn", Some(&keys.read_a)).0,
        200
    );
    assert_eq!(get(&srv, "/api/v1/stats", Some(&keys.read_a)).0, 200);
    // Another project's reads are recorded in that project, not listed to alpha's admin.
    assert_eq!(
        get(&srv, "/api/v1/traces?q=anything", Some(&keys.read_b)).0,
        200
    );

    let read_key_id = keys.read_a.split('_').nth(1).unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let records = loop {
        let (status, _, body) = get(&srv, "/api/v1/admin/access?since=1h", Some(&keys.admin_a));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let records = v["records"].as_array().unwrap().clone();
        if records.len() >= 2 {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "access records not indexed: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
        srv.wait_indexed();
    };
    assert_eq!(records.len(), 2, "{records:?}");
    let a = |r: &Value, k: &str| r["attributes"][k].as_str().unwrap_or_default().to_owned();
    assert_eq!(records[0]["event_name"], "cairn.audit.access");
    assert_eq!(a(&records[0], "cairn.audit.key_id"), read_key_id);
    assert_eq!(a(&records[0], "cairn.audit.project"), "alpha");
    assert_eq!(
        a(&records[0], "cairn.audit.route"),
        "GET /api/v1/traces/{trace_id}"
    );
    assert_eq!(a(&records[0], "cairn.audit.trace_id"), trace);
    assert_eq!(a(&records[1], "cairn.audit.route"), "GET /api/v1/traces");
    assert_eq!(a(&records[1], "cairn.audit.query"), "q=cairn");
    // They are ledger entries: the raw entry is readable by index.
    let index = records[0]["ledger_index"].as_u64().unwrap();
    assert_eq!(
        get(
            &srv,
            &format!("/api/v1/audit/entries/{index}"),
            Some(&keys.admin_a)
        )
        .0,
        200
    );
    let metrics = get(&srv, "/metrics", None).2;
    assert!(
        metrics.contains("cairn_audit_access_failures_total 0"),
        "{metrics}"
    );
}

#[test]
fn keys_created_while_running_work_and_rate_limits_answer_429() {
    let srv = TestServer::start(|_| {});
    // No keys: open, everything is project `default`.
    assert_eq!(post_traces(&srv, None, 3), 200);
    let path = KeyFile::path_in(&srv.config.data_dir);
    let mut file = KeyFile::load(&path).unwrap();
    let limited = file.create("default", Scope::Read, Some(2)).unwrap();
    file.save(&path).unwrap();
    assert_eq!(
        get(&srv, "/api/v1/traces", None).0,
        401,
        "the new key turned auth on"
    );
    assert_eq!(get(&srv, "/api/v1/traces", Some(&limited.key)).0, 200);
    assert_eq!(get(&srv, "/api/v1/traces", Some(&limited.key)).0, 200);
    let r = ureq::get(&srv.api_url("/api/v1/traces"))
        .set("authorization", &format!("Bearer {}", limited.key))
        .call();
    let Err(ureq::Error::Status(429, r)) = r else {
        panic!("expected 429");
    };
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "{retry}");
}

#[test]
fn non_loopback_listeners_need_keys_or_an_explicit_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cairn_collector::Config {
        data_dir: dir.path().join("data"),
        ..cairn_collector::Config::default()
    };
    config.otlp.http_addr = "127.0.0.1:0".into();
    config.otlp.grpc_addr = "127.0.0.1:0".into();
    config.api.addr = "0.0.0.0:0".into();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let err = runtime
        .block_on(cairn_collector::Server::start(config.clone()))
        .unwrap_err();
    assert!(err.to_string().contains("--insecure-no-auth"), "{err}");
    config.auth.insecure_no_auth = true;
    let server = runtime
        .block_on(cairn_collector::Server::start(config))
        .unwrap();
    runtime.block_on(server.shutdown()).unwrap();
}

/// `[tls]`: the API and OTLP/HTTP listeners speak TLS with a certificate made here, and a real
/// TLS client that trusts it gets through; plain HTTP does not.
#[test]
fn tls_on_every_listener_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let srv = TestServer::start(|c| {
        c.tls.cert_file = Some(cert_path.clone());
        c.tls.key_file = Some(key_path.clone());
    });

    let agent = ureq::AgentBuilder::new()
        .tls_config(client_config(&cert))
        .build();
    let body = agent
        .get(&format!("https://{}/healthz", srv.api))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert_eq!(body, "ok\n");
    let answer = agent
        .post(&format!("https://{}/v1/traces", srv.http))
        .set("content-type", "application/x-protobuf")
        .send_bytes(&protobuf(agent_run(1)))
        .unwrap();
    assert_eq!(answer.status(), 200);
    srv.wait_indexed();
    let page: Value = serde_json::from_str(
        &agent
            .get(&format!("https://{}/api/v1/traces", srv.api))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(page["traces"].as_array().unwrap().len(), 1);
    // Plain HTTP to a TLS listener gets no HTTP answer.
    assert!(
        ureq::get(&format!("http://{}/healthz", srv.api))
            .call()
            .is_err()
    );
    // The gRPC listener speaks TLS too: a handshake trusting the certificate negotiates h2, and a
    // plaintext gRPC client fails.
    let mut h2_client = (*client_config(&cert)).clone();
    h2_client.alpn_protocols = vec![b"h2".to_vec()];
    let grpc = srv.grpc;
    srv.runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(grpc).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(h2_client))
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let mut plain = TraceServiceClient::connect(format!("http://{grpc}")).await;
        if let Ok(client) = plain.as_mut() {
            assert!(client.export(request(agent_run(2))).await.is_err());
        }
    });
}

fn client_config(cert: &rcgen::Certificate) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
