//! `kind = "elasticsearch"` configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{BatchConfig, RetryConfig, duration_str};

/// Which product the endpoint runs; decides a few mapping types and whether ILM is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// Elasticsearch 8.x / 9.x: `flattened`, `match_only_text`, `constant_keyword`, ILM.
    #[default]
    Elasticsearch,
    /// OpenSearch 2.x: `flat_object`, `text`, `keyword`; no ILM (use an ISM policy instead).
    Opensearch,
}

/// The ILM policy installed with the templates (Elasticsearch only).
///
/// Retention duties to weigh when setting `delete_after`: the EU AI Act requires deployers of
/// high-risk systems to keep automatically generated logs for at least six months (Art. 26(6));
/// HIPAA requires documentation to be retained for six years (45 CFR 164.316(b)(2)). The Cairn
/// ledger stays the source of truth either way; this is the retention of the search copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IlmConfig {
    /// Policy name. Default `cairn-traces`.
    pub policy: String,
    /// Roll the write index over after this age (Elasticsearch time units). Default `30d`.
    pub rollover_max_age: String,
    /// Roll over when a primary shard reaches this size. Default `50gb`.
    pub rollover_max_primary_shard_size: String,
    /// Delete backing indices this long after rollover. Default `365d`.
    pub delete_after: String,
}

impl Default for IlmConfig {
    fn default() -> Self {
        Self {
            policy: "cairn-traces".to_owned(),
            rollover_max_age: "30d".to_owned(),
            rollover_max_primary_shard_size: "50gb".to_owned(),
            delete_after: "365d".to_owned(),
        }
    }
}

/// Ships spans with `_bulk` `create` operations into the data stream
/// `traces-cairn.agent-<namespace>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Exporter name (default `elasticsearch`).
    pub name: Option<String>,
    /// Base URL of the cluster, e.g. `https://elasticsearch:9200`. Default `http://localhost:9200`.
    pub endpoint: String,
    /// `data_stream.namespace`. Default `default`.
    pub namespace: String,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password (prefer `password_env`).
    pub password: Option<String>,
    /// Environment variable holding the basic-auth password.
    pub password_env: Option<String>,
    /// API key, the base64 `id:key` form Elasticsearch returns as `encoded` (prefer `api_key_env`).
    pub api_key: Option<String>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// PEM file with the CA certificate(s) to trust instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// Gzip request bodies. Default `true`.
    pub gzip: bool,
    /// Most bytes of NDJSON (before compression) per `_bulk` request; a single larger document
    /// is still sent, alone. Default 5 MiB.
    pub max_request_bytes: usize,
    /// Whole-request timeout. Default 30 s.
    #[serde(with = "duration_str")]
    pub timeout: Duration,
    /// Connect timeout. Default 10 s.
    #[serde(with = "duration_str")]
    pub connect_timeout: Duration,
    /// Install the ILM policy and templates at start (idempotent `PUT`s). Default `true`.
    pub install_templates: bool,
    /// Elasticsearch or OpenSearch.
    pub flavor: Flavor,
    /// The ILM policy (Elasticsearch only).
    pub ilm: IlmConfig,
    /// Batching.
    pub batch: BatchConfig,
    /// Retries.
    pub retry: RetryConfig,
}

impl Default for ElasticsearchConfig {
    fn default() -> Self {
        Self {
            name: None,
            endpoint: "http://localhost:9200".to_owned(),
            namespace: "default".to_owned(),
            username: None,
            password: None,
            password_env: None,
            api_key: None,
            api_key_env: None,
            ca_file: None,
            gzip: true,
            max_request_bytes: 5 << 20,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            install_templates: true,
            flavor: Flavor::Elasticsearch,
            ilm: IlmConfig::default(),
            batch: BatchConfig::default(),
            retry: RetryConfig::default(),
        }
    }
}
