//! Exporter configuration: the `[[exporters]]` list of Cairn's TOML config.
//!
//! ```toml
//! [[exporters]]
//! kind = "elasticsearch"              # or "otlp", "jsonl"
//! name = "es"                         # default: the kind; state in <data_dir>/exporters/<name>/
//! endpoint = "https://elasticsearch:9200"
//! username = "cairn"
//! password_env = "CAIRN_ES_PASSWORD"
//! ca_file = "/etc/cairn/es-ca.pem"
//!
//! [exporters.batch]                   # common to every kind
//! max_records = 1000                  # ledger entries per batch
//! max_bytes = 5242880                 # ledger bytes per batch (at least one entry)
//! poll_interval = "1s"                # how long to wait for new entries before re-checking
//!
//! [exporters.retry]                   # common to every kind
//! initial_backoff = "100ms"
//! max_backoff = "30s"
//! max_attempts = 0                    # 0: retry transient failures forever (no data loss)
//! ```
//!
//! The keys of each kind are documented on [`ElasticsearchConfig`], [`OtlpConfig`] and
//! [`JsonlConfig`]. Unknown keys are an error, as in the rest of Cairn's configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::elasticsearch::config::{ElasticsearchConfig, Flavor, IlmConfig};
pub use crate::jsonl::config::JsonlConfig;
pub use crate::otlp::config::OtlpConfig;

/// One entry of the `[[exporters]]` list, tagged by `kind`.
// A handful of these exist per process, parsed once: boxing would only cost ergonomics.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExporterConfig {
    /// `_bulk` into an Elasticsearch/OpenSearch data stream.
    Elasticsearch(ElasticsearchConfig),
    /// OTLP/HTTP protobuf to another collector.
    Otlp(OtlpConfig),
    /// Rotating JSONL files for Fluentd / Fluent Bit.
    Jsonl(JsonlConfig),
}

impl ExporterConfig {
    /// The kind name (`elasticsearch`, `otlp`, `jsonl`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Elasticsearch(_) => "elasticsearch",
            Self::Otlp(_) => "otlp",
            Self::Jsonl(_) => "jsonl",
        }
    }

    /// The exporter's name: the configured one, else the kind.
    pub fn name(&self) -> &str {
        let name = match self {
            Self::Elasticsearch(c) => c.name.as_deref(),
            Self::Otlp(c) => c.name.as_deref(),
            Self::Jsonl(c) => c.name.as_deref(),
        };
        name.unwrap_or_else(|| self.kind())
    }

    /// Batching options.
    pub fn batch(&self) -> &BatchConfig {
        match self {
            Self::Elasticsearch(c) => &c.batch,
            Self::Otlp(c) => &c.batch,
            Self::Jsonl(c) => &c.batch,
        }
    }

    /// Retry options.
    pub fn retry(&self) -> &RetryConfig {
        match self {
            Self::Elasticsearch(c) => &c.retry,
            Self::Otlp(c) => &c.retry,
            Self::Jsonl(c) => &c.retry,
        }
    }
}

/// How the runner groups ledger entries into batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Most ledger entries per batch. Default 1000.
    pub max_records: usize,
    /// Most ledger bytes per batch; a single larger entry still forms a batch. Default 5 MiB.
    pub max_bytes: usize,
    /// How long the runner waits for new entries before re-checking for shutdown. Default 1 s.
    #[serde(with = "duration_str")]
    pub poll_interval: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_records: 1000,
            max_bytes: 5 << 20,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// How the runner retries failed deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Delay after the first failure. Default 100 ms.
    #[serde(with = "duration_str")]
    pub initial_backoff: Duration,
    /// Longest delay between attempts (also caps `Retry-After`). Default 30 s.
    #[serde(with = "duration_str")]
    pub max_backoff: Duration,
    /// Attempts per record before it is dead-lettered; 0 (the default) retries transient
    /// failures forever, so an outage never loses data.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            max_attempts: 0,
        }
    }
}

/// Durations as humantime strings (`"1s"`, `"250ms"`) in TOML.
pub(crate) mod duration_str {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Root {
        exporters: Vec<ExporterConfig>,
    }

    #[test]
    fn parses_a_list_of_every_kind_with_defaults() {
        let toml = r#"
            [[exporters]]
            kind = "elasticsearch"
            endpoint = "https://es:9200"
            username = "cairn"
            password_env = "ES_PASSWORD"
            [exporters.retry]
            max_backoff = "5s"

            [[exporters]]
            kind = "otlp"
            name = "tempo"
            endpoint = "http://tempo:4318"

            [[exporters]]
            kind = "jsonl"
            path = "/var/lib/cairn/jsonl"
            max_file_age = "10m"
            [exporters.batch]
            max_records = 10
        "#;
        let root: Root = toml::from_str(toml).expect("valid config");
        let names: Vec<&str> = root.exporters.iter().map(ExporterConfig::name).collect();
        assert_eq!(names, ["elasticsearch", "tempo", "jsonl"]);
        assert_eq!(
            root.exporters[0].retry().max_backoff,
            Duration::from_secs(5)
        );
        assert_eq!(root.exporters[2].batch().max_records, 10);
        assert_eq!(root.exporters[1].batch(), &BatchConfig::default());
        match &root.exporters[2] {
            ExporterConfig::Jsonl(c) => assert_eq!(c.max_file_age, Duration::from_secs(600)),
            other => panic!("expected jsonl, got {other:?}"),
        }
    }

    #[test]
    fn unknown_keys_and_kinds_are_errors() {
        let typo = "[[exporters]]\nkind = \"otlp\"\nendpoint = \"http://x\"\ngzipp = true\n";
        let err = toml::from_str::<Root>(typo).expect_err("unknown key");
        assert!(err.to_string().contains("gzipp"), "{err}");
        let kind = "[[exporters]]\nkind = \"kafka\"\n";
        assert!(toml::from_str::<Root>(kind).is_err());
    }
}
