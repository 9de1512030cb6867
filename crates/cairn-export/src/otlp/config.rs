//! `kind = "otlp"` configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{BatchConfig, RetryConfig, duration_str};

/// Forwards records as OTLP/HTTP protobuf to another collector (Alloy, Tempo, an OpenTelemetry
/// Collector, another Cairn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// Exporter name (default `otlp`).
    pub name: Option<String>,
    /// Base URL; spans go to `<endpoint>/v1/traces`, logs to `<endpoint>/v1/logs` (as the
    /// OpenTelemetry SDKs' `OTEL_EXPORTER_OTLP_ENDPOINT`). Default `http://localhost:4318`.
    pub endpoint: String,
    /// Extra request headers (e.g. `authorization`, `x-scope-orgid`).
    pub headers: BTreeMap<String, String>,
    /// Gzip request bodies. Default `true`.
    pub gzip: bool,
    /// Forward log records too (to `/v1/logs`). Default `true`.
    pub logs: bool,
    /// PEM file with the CA certificate(s) to trust instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// Whole-request timeout. Default 30 s.
    #[serde(with = "duration_str")]
    pub timeout: Duration,
    /// Connect timeout. Default 10 s.
    #[serde(with = "duration_str")]
    pub connect_timeout: Duration,
    /// Batching.
    pub batch: BatchConfig,
    /// Retries.
    pub retry: RetryConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            name: None,
            endpoint: "http://localhost:4318".to_owned(),
            headers: BTreeMap::new(),
            gzip: true,
            logs: true,
            ca_file: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            batch: BatchConfig::default(),
            retry: RetryConfig::default(),
        }
    }
}
