//! TLS with a custom CA: the Elasticsearch exporter talks HTTPS to the in-test bulk server, whose
//! certificate a test CA signed. With that CA as `ca_file` every span is delivered; without it
//! (public roots only) or with another CA, the exporter refuses the server with a clear error.

use std::path::Path;
use std::sync::Arc;

use cairn_export::config::ElasticsearchConfig;
use cairn_export::{ElasticsearchExporter, Exporter as _, SendError};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::elasticsearch::{assert_exactly_once, es_config, options, run_es};
use crate::support::bulk::{BulkServer, Faults};
use crate::support::ledger::{self, ORIGIN};

/// A CA certificate (PEM) and a server configuration for `127.0.0.1`/`localhost` whose
/// certificate that CA signed.
fn ca_and_server() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cairn test ca");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");

    let key = rcgen::KeyPair::generate().expect("server key");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    let cert = params.signed_by(&key, &ca, &ca_key).expect("server cert");

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    (ca.pem(), Arc::new(server))
}

fn config_with_ca(url: &str, ca_file: Option<&Path>) -> ElasticsearchConfig {
    ElasticsearchConfig {
        ca_file: ca_file.map(Path::to_path_buf),
        ..es_config(url)
    }
}

/// What the exporter says when it cannot install its templates.
fn start_error(config: ElasticsearchConfig) -> String {
    let mut exporter = ElasticsearchExporter::new(config, ORIGIN).expect("exporter");
    match exporter.start() {
        Ok(()) => panic!("the exporter trusted a server it should not"),
        Err(SendError::Transient { reason, .. }) => reason,
        Err(other) => panic!("a TLS failure is transient (an operator can fix it): {other:?}"),
    }
}

#[test]
fn elasticsearch_over_https_with_a_custom_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_pem, tls) = ca_and_server();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write ca");
    let server = BulkServer::start_tls(Faults::default(), tls);
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let ledger = Arc::new(ledger::open(&dir.path().join("ledger")));
    let contents = ledger::fill(&ledger, 300, 0, 0);

    // Without the CA: the public roots do not know the test CA.
    let reason = start_error(config_with_ca(&url, None));
    eprintln!("without the CA: {reason}");
    assert!(
        reason.to_lowercase().contains("certificate"),
        "the error names the certificate problem: {reason}"
    );
    // With another CA: refused too.
    let (other_ca, _) = ca_and_server();
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, other_ca).expect("write other ca");
    let reason = start_error(config_with_ca(&url, Some(&other_file)));
    assert!(reason.to_lowercase().contains("certificate"), "{reason}");
    assert_eq!(
        server.doc_count(),
        0,
        "nothing crossed an untrusted connection"
    );

    // With the CA: templates installed and every span delivered exactly once.
    let summary = run_es(
        Arc::clone(&ledger),
        config_with_ca(&url, Some(&ca_file)),
        options(&dir.path().join("state"), false),
    );
    assert_eq!(summary.next_index, 300);
    assert_eq!(summary.stats.sent, 300);
    assert_exactly_once(&server, &contents.spans);
}
