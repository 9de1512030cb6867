//! `kind = "jsonl"` configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{BatchConfig, RetryConfig, duration_str};

/// Writes one JSON document per span to rotating files, for Fluentd / Fluent Bit to tail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonlConfig {
    /// Exporter name (default `jsonl`).
    pub name: Option<String>,
    /// Directory of the files. Default `<data_dir>/jsonl`. One exporter per directory.
    pub path: Option<PathBuf>,
    /// File name prefix: files are `<prefix>-<first ledger index, 20 digits>.jsonl`.
    /// Default `cairn-spans`.
    pub file_prefix: String,
    /// Start a new file before one would exceed this size. Default 100 MiB.
    pub max_file_bytes: u64,
    /// Start a new file once the current one is this old (checked on write). Default 1 h.
    #[serde(with = "duration_str")]
    pub max_file_age: Duration,
    /// Keep at most this many files, deleting the oldest after a rotation; 0 (the default) keeps
    /// all. Make sure the shipper has read a file before it can be deleted.
    pub max_files: usize,
    /// `data_stream.namespace` written into each document. Default `default`.
    pub namespace: String,
    /// Batching.
    pub batch: BatchConfig,
    /// Retries.
    pub retry: RetryConfig,
}

impl Default for JsonlConfig {
    fn default() -> Self {
        Self {
            name: None,
            path: None,
            file_prefix: "cairn-spans".to_owned(),
            max_file_bytes: 100 << 20,
            max_file_age: Duration::from_secs(3600),
            max_files: 0,
            namespace: "default".to_owned(),
            batch: BatchConfig::default(),
            retry: RetryConfig::default(),
        }
    }
}
