//! The blocking HTTP client shared by the Elasticsearch and OTLP exporters.
//!
//! `ureq` with rustls: TLS is verified against the Mozilla roots (webpki-roots) by default, or
//! against exactly the certificates of a configured CA file (PEM) — the usual setup for a
//! self-signed Elasticsearch. Request bodies are gzip-compressed here; response bodies are
//! decompressed by `ureq`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use crate::exporter::SendError;

/// Most bytes of an error response body kept for messages.
const ERROR_BODY_LIMIT: u64 = 4096;

/// Why an HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The CA file could not be read or holds no certificate.
    #[error("ca file {path}: {reason}")]
    CaFile {
        /// The CA file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("tls configuration: {0}")]
    Config(String),
}

/// Builds a client with the given timeouts, trusting only `ca_file` when set.
pub(crate) fn agent(
    ca_file: Option<&Path>,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<ureq::Agent, TlsError> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout_connect(connect_timeout)
        .timeout(timeout)
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        builder = builder.tls_config(Arc::new(tls_config(path)?));
    }
    Ok(builder.build())
}

/// A rustls client configuration whose only trust anchors are the certificates in `path`.
pub(crate) fn tls_config(path: &Path) -> Result<rustls::ClientConfig, TlsError> {
    let ca_err = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| ca_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_err("no pem certificate found".to_owned()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Gzip-compresses a request body.
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// A response read to the end, whatever its status.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The start of the body as text, for error messages.
    pub(crate) fn body_excerpt(&self) -> String {
        let end = self
            .body
            .len()
            .min(usize::try_from(ERROR_BODY_LIMIT).unwrap_or(usize::MAX));
        String::from_utf8_lossy(&self.body[..end]).trim().to_owned()
    }
}

/// Sends a request; any HTTP status is `Ok`, transport failures are [`SendError::Transient`].
pub(crate) fn send(
    request: ureq::Request,
    body: &[u8],
    max_response_bytes: u64,
) -> Result<Response, SendError> {
    let response = match request.send_bytes(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(t)) => {
            return Err(SendError::transient(format!("transport error: {t}")));
        }
    };
    let status = response.status();
    let retry_after = response.header("retry-after").and_then(parse_retry_after);
    let mut body = Vec::new();
    response
        .into_reader()
        .take(max_response_bytes)
        .read_to_end(&mut body)
        .map_err(|e| {
            SendError::transient(format!("reading the response of status {status}: {e}"))
        })?;
    Ok(Response {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` in delay-seconds form (the HTTP-date form is not used by Elasticsearch or
/// OTLP receivers and is ignored).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"{\"create\":{}}\n".repeat(100);
        let compressed = gzip(&body);
        assert!(compressed.len() < body.len());
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        assert_eq!(out, body);
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.pem");
        assert!(matches!(tls_config(&missing), Err(TlsError::CaFile { .. })));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = tls_config(&empty).expect_err("no certificate");
        assert!(err.to_string().contains("no pem certificate"), "{err}");
    }
}
