//! The collector's configuration: defaults, a TOML file, `CAIRN_*` environment variables.
//!
//! Precedence, lowest first: built-in defaults, the TOML file, the environment, command-line flags
//! (the binary applies flags on top of what [`Config::load`] returns). Every key is optional in the
//! file; unknown keys are an error so a typo never silently falls back to a default. The reference
//! with every key, its default and its flag is `docs/api.md` (a test keeps it in step).
//!
//! ```toml
//! data_dir = "./cairn-data"
//!
//! [otlp]
//! http_addr = "127.0.0.1:4318"
//! grpc_addr = "127.0.0.1:4317"
//! max_body_bytes = 67108864   # measured after decompression
//! retry_after_secs = 1
//!
//! [api]
//! addr = "127.0.0.1:7070"
//! max_concurrent_queries = 32
//!
//! [pipeline]
//! queue_capacity = 1048576    # records waiting for the ledger writer
//! max_batch_records = 65536   # records per ledger append (group commit)
//! index_batch_entries = 4096  # ledger entries per index transaction
//!
//! [ledger]
//! origin = "cairn/example"    # default: chosen by the ledger on first open
//! checkpoint_interval = "1s"
//! verify_interval = "1h"      # background verification of the whole ledger; "0s" turns it off
//! fsync = "always"            # or "before_checkpoint": see LedgerConfig::fsync
//! allow_rollback_recovery = false  # true: open a ledger that lost checkpointed entries (one start)
//!
//! [limits]                    # per span / log record; see cairn_model::Limits
//! max_attribute_value_bytes = 16777216
//! max_attributes = 10000
//!
//! [witness]                   # push checkpoints to C2SP tlog-witness witnesses; docs/witness.md
//! timeout_secs = 10
//! retry_secs = 5
//! [[witness.witnesses]]
//! url = "http://127.0.0.1:7380"
//! vkey = "cairn-witness+286561d0+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
//!
//! [auth]                      # API keys: see docs/security.md
//! required = false            # true: refuse requests without a key even when keys.json is empty
//! insecure_no_auth = false    # true: allow non-loopback listeners without any key
//!
//! [tls]                       # PEM files; both or neither (then plain TCP)
//! cert_file = "/etc/cairn/tls/cert.pem"
//! key_file = "/etc/cairn/tls/key.pem"
//!
//! [retention]                 # index only; the ledger keeps everything
//! index_days = 30             # default: keep index rows forever
//! check_interval = "1h"
//! [retention.projects]
//! shop = 365                  # per-project override of index_days
//!
//! [metrics]                   # /metrics; see cairn_metrics::MetricsConfig and docs/metrics.md
//! label_cap = 100
//! [metrics.price_table."gpt-4o"]  # replaces the built-in price table (USD per million tokens)
//! input_per_mtok_usd = 2.5
//! output_per_mtok_usd = 10.0
//!
//! [privacy]                   # redaction and crypto-shredding; see cairn_privacy and docs/privacy.md
//! master_key_file = "/etc/cairn/master.key"   # default: none (no encryption)
//! [privacy.redaction]
//! deny = ["http.request.header.cookie"]
//! ```
//!
//! | Environment variable        | Key                            |
//! |-----------------------------|--------------------------------|
//! | `CAIRN_DATA_DIR`            | `data_dir`                     |
//! | `CAIRN_OTLP_HTTP_ADDR`      | `otlp.http_addr`               |
//! | `CAIRN_OTLP_GRPC_ADDR`      | `otlp.grpc_addr`               |
//! | `CAIRN_MAX_BODY_BYTES`      | `otlp.max_body_bytes`          |
//! | `CAIRN_RETRY_AFTER_SECS`    | `otlp.retry_after_secs`        |
//! | `CAIRN_API_ADDR`            | `api.addr`                     |
//! | `CAIRN_MAX_CONCURRENT_QUERIES` | `api.max_concurrent_queries` |
//! | `CAIRN_QUEUE_CAPACITY`      | `pipeline.queue_capacity`      |
//! | `CAIRN_MAX_BATCH_RECORDS`   | `pipeline.max_batch_records`   |
//! | `CAIRN_INDEX_BATCH_ENTRIES` | `pipeline.index_batch_entries` |
//! | `CAIRN_LEDGER_ORIGIN`       | `ledger.origin`                |
//! | `CAIRN_CHECKPOINT_INTERVAL` | `ledger.checkpoint_interval`   |
//! | `CAIRN_VERIFY_INTERVAL`     | `ledger.verify_interval`       |
//! | `CAIRN_LEDGER_FSYNC`        | `ledger.fsync`                 |
//! | `CAIRN_LEDGER_ALLOW_ROLLBACK_RECOVERY` | `ledger.allow_rollback_recovery` |
//! | `CAIRN_AUTH_REQUIRED`       | `auth.required`                |
//! | `CAIRN_TLS_CERT`            | `tls.cert_file`                |
//! | `CAIRN_TLS_KEY`             | `tls.key_file`                 |
//! | `CAIRN_INSECURE_NO_AUTH`    | `auth.insecure_no_auth`        |
//! | `CAIRN_INDEX_RETENTION_DAYS` | `retention.index_days`        |
//! | `CAIRN_MASTER_KEY_FILE`     | `privacy.master_key_file`      |
//! | `CAIRN_MASTER_KEY`          | the master key itself (base64), when no file is configured |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./cairn-data";
/// Default OTLP/HTTP listen address (the OTLP standard port).
pub const DEFAULT_OTLP_HTTP_ADDR: &str = "127.0.0.1:4318";
/// Default OTLP/gRPC listen address (the OTLP standard port).
pub const DEFAULT_OTLP_GRPC_ADDR: &str = "127.0.0.1:4317";
/// Default query API, UI and `/metrics` listen address.
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:7070";
/// Default request body limit, measured after decompression: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Default interval of the background ledger verification.
pub const DEFAULT_VERIFY_INTERVAL: Duration = Duration::from_secs(3600);

/// Everything `cairn serve` needs to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the ledger (`<data_dir>/ledger`) and the index (`<data_dir>/index.sqlite`) live.
    pub data_dir: PathBuf,
    /// OTLP ingest listeners and limits.
    pub otlp: OtlpConfig,
    /// Query API listener.
    pub api: ApiConfig,
    /// Queue and batch sizes of the ingest → ledger → index pipeline.
    pub pipeline: PipelineConfig,
    /// Ledger options.
    pub ledger: LedgerConfig,
    /// Per-record validation limits (a record above one is rejected, never truncated).
    pub limits: cairn_model::Limits,
    /// API keys (`<data_dir>/keys.json`) and when they are required.
    pub auth: AuthConfig,
    /// How long the index keeps rows (the ledger keeps everything).
    pub retention: RetentionConfig,
    /// TLS on every listener (OTLP/HTTP, OTLP/gRPC, API).
    pub tls: TlsConfig,
    /// `/metrics`: label caps, the model price table, run tracking and OTLP metrics limits (see
    /// `docs/metrics.md`). Not serialized: the price table is configuration input only.
    #[serde(skip_serializing)]
    pub metrics: cairn_metrics::MetricsConfig,
    /// Exporters tailing the ledger (`[[exporters]]` tables with `kind = "elasticsearch"`,
    /// `"otlp"` or `"jsonl"`; see `docs/exporters.md`). Several may run at once; none by default.
    pub exporters: Vec<cairn_export::ExporterConfig>,
    /// Witnesses every new checkpoint is pushed to (`[witness]`, see `docs/witness.md`); none
    /// by default.
    pub witness: cairn_witness::PushConfig,
    /// `[privacy]`: redaction at ingest and crypto-shredding (see `docs/privacy.md`).
    pub privacy: cairn_privacy::PrivacyConfig,
}

/// OTLP ingest listeners and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// OTLP/HTTP listen address (`host:port`; port 0 picks a free port).
    pub http_addr: String,
    /// OTLP/gRPC listen address (`host:port`; port 0 picks a free port).
    pub grpc_addr: String,
    /// Largest accepted request body in bytes, measured after decompression (HTTP → 413,
    /// gRPC → `OUT_OF_RANGE`).
    pub max_body_bytes: usize,
    /// The `Retry-After` (seconds) sent with 429 and 503 answers.
    pub retry_after_secs: u64,
}

/// Query API listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Query API, UI and `/metrics` listen address (`host:port`; port 0 picks a free port).
    pub addr: String,
    /// Queries running at once; more are answered 429.
    pub max_concurrent_queries: usize,
}

/// Queue and batch sizes of the ingest pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Records accepted but not yet durable, across all requests. A request that would exceed it
    /// is answered 429 / `RESOURCE_EXHAUSTED` (a request is always admitted into an empty queue,
    /// so one large request can never be starved).
    pub queue_capacity: usize,
    /// Most records the ledger writer appends in one group commit.
    pub max_batch_records: usize,
    /// Most ledger entries the indexer applies in one SQLite transaction.
    pub index_batch_entries: usize,
}

/// API keys: see `docs/security.md`. Keys themselves live in `<data_dir>/keys.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a key on every protected route even while the key file is empty (then nothing but
    /// `/healthz`, `/readyz`, `/metrics` and the UI's static files answers until a key exists).
    pub required: bool,
    /// Allow listening on non-loopback addresses with authentication off. Without it,
    /// `cairn serve` refuses to start in that situation.
    pub insecure_no_auth: bool,
}

/// TLS for every listener. Both files or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

/// Index retention. The ledger is never pruned by this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days the index keeps a trace after its last span ended (and a log record outside any
    /// trace after its time); `None` keeps everything.
    pub index_days: Option<u32>,
    /// Per-project overrides of `index_days`.
    pub projects: BTreeMap<String, u32>,
    /// How often the retention pass runs.
    #[serde(with = "humantime_serde_compat")]
    pub check_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            index_days: None,
            projects: BTreeMap::new(),
            check_interval: Duration::from_secs(3600),
        }
    }
}

impl RetentionConfig {
    /// Whether any retention applies.
    pub fn enabled(&self) -> bool {
        self.index_days.is_some() || !self.projects.is_empty()
    }
}

/// Ledger options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Checkpoint origin line; `None` lets the ledger choose (`cairn/<instance id>`).
    pub origin: Option<String>,
    /// How often a checkpoint is signed while entries arrive, e.g. `"1s"`, `"500ms"`.
    #[serde(with = "humantime_serde_compat")]
    pub checkpoint_interval: Duration,
    /// How often the whole ledger is re-verified in the background (the first run starts shortly
    /// after startup); zero turns background verification off.
    #[serde(with = "humantime_serde_compat")]
    pub verify_interval: Duration,
    /// When appended entries are fsynced: `"always"` (the default; a request is acknowledged
    /// only once its records are on stable storage) or `"before_checkpoint"` (acknowledged once
    /// written to the operating system, fsynced before each checkpoint is signed: a machine
    /// crash can lose acknowledged records no checkpoint covers yet).
    pub fsync: cairn_ledger::FsyncPolicy,
    /// Open the ledger even though its last signed checkpoint covers entries that are no longer
    /// on disk (data lost, or an older copy restored). The old checkpoint history is moved aside
    /// and a new one starts; anyone holding a newer checkpoint sees a fork. Without it, such a
    /// ledger refuses to open. Meant for one start after deciding to recover, not to stay on.
    pub allow_rollback_recovery: bool,
}

/// Parses an fsync policy as written in the config file (`always`, `before_checkpoint`; a `-`
/// may replace the `_`), for the environment variable and the flag.
pub fn parse_fsync_policy(text: &str) -> Result<cairn_ledger::FsyncPolicy, String> {
    match text.trim().replace('-', "_").as_str() {
        "always" => Ok(cairn_ledger::FsyncPolicy::Always),
        "before_checkpoint" => Ok(cairn_ledger::FsyncPolicy::BeforeCheckpoint),
        _ => Err(format!(
            "unknown fsync policy {text:?}: expected always or before_checkpoint"
        )),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            otlp: OtlpConfig::default(),
            api: ApiConfig::default(),
            pipeline: PipelineConfig::default(),
            ledger: LedgerConfig::default(),
            limits: cairn_model::Limits::default(),
            auth: AuthConfig::default(),
            retention: RetentionConfig::default(),
            tls: TlsConfig::default(),
            metrics: cairn_metrics::MetricsConfig::default(),
            exporters: Vec::new(),
            witness: cairn_witness::PushConfig::default(),
            privacy: cairn_privacy::PrivacyConfig::default(),
        }
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self {
            http_addr: DEFAULT_OTLP_HTTP_ADDR.to_owned(),
            grpc_addr: DEFAULT_OTLP_GRPC_ADDR.to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retry_after_secs: 1,
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_API_ADDR.to_owned(),
            max_concurrent_queries: 32,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1 << 20,
            max_batch_records: 1 << 16,
            index_batch_entries: 4096,
        }
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            origin: None,
            checkpoint_interval: Duration::from_secs(1),
            verify_interval: DEFAULT_VERIFY_INTERVAL,
            fsync: cairn_ledger::FsyncPolicy::Always,
            allow_rollback_recovery: false,
        }
    }
}

/// Loading or validating a configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this schema.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML error (names the key and line).
        source: Box<toml::de::Error>,
    },
    /// An environment variable holds a value of the wrong type.
    #[error("invalid value {value:?} for {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the TOML file at `path` (if any), then the `CAIRN_*` environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|var| std::env::var(var).ok())?;
        Ok(config)
    }

    /// Parses a TOML file (keys not present keep their defaults).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Parses TOML text (keys not present keep their defaults).
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Overrides keys from environment variables, read through `lookup` (so tests need not touch
    /// the process environment). Empty values are ignored.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("CAIRN_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("CAIRN_OTLP_HTTP_ADDR") {
            self.otlp.http_addr = v;
        }
        if let Some(v) = get("CAIRN_OTLP_GRPC_ADDR") {
            self.otlp.grpc_addr = v;
        }
        if let Some(v) = get("CAIRN_API_ADDR") {
            self.api.addr = v;
        }
        if let Some(v) = get("CAIRN_MASTER_KEY_FILE") {
            self.privacy.master_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("CAIRN_LEDGER_ORIGIN") {
            self.ledger.origin = Some(v);
        }
        parse_env(&get, "CAIRN_MAX_BODY_BYTES", &mut self.otlp.max_body_bytes)?;
        parse_env(
            &get,
            "CAIRN_RETRY_AFTER_SECS",
            &mut self.otlp.retry_after_secs,
        )?;
        parse_env(
            &get,
            "CAIRN_MAX_CONCURRENT_QUERIES",
            &mut self.api.max_concurrent_queries,
        )?;
        parse_env(
            &get,
            "CAIRN_QUEUE_CAPACITY",
            &mut self.pipeline.queue_capacity,
        )?;
        parse_env(
            &get,
            "CAIRN_MAX_BATCH_RECORDS",
            &mut self.pipeline.max_batch_records,
        )?;
        parse_env(
            &get,
            "CAIRN_INDEX_BATCH_ENTRIES",
            &mut self.pipeline.index_batch_entries,
        )?;
        parse_env(&get, "CAIRN_AUTH_REQUIRED", &mut self.auth.required)?;
        if let Some(v) = get("CAIRN_TLS_CERT") {
            self.tls.cert_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("CAIRN_TLS_KEY") {
            self.tls.key_file = Some(PathBuf::from(v));
        }
        parse_env(
            &get,
            "CAIRN_INSECURE_NO_AUTH",
            &mut self.auth.insecure_no_auth,
        )?;
        if let Some(v) = get("CAIRN_INDEX_RETENTION_DAYS") {
            let days = v.trim().parse::<u32>().map_err(|e| ConfigError::Env {
                var: "CAIRN_INDEX_RETENTION_DAYS",
                value: v.clone(),
                message: e.to_string(),
            })?;
            self.retention.index_days = Some(days);
        }
        if let Some(v) = get("CAIRN_CHECKPOINT_INTERVAL") {
            self.ledger.checkpoint_interval =
                humantime::parse_duration(v.trim()).map_err(|e| ConfigError::Env {
                    var: "CAIRN_CHECKPOINT_INTERVAL",
                    value: v.clone(),
                    message: e.to_string(),
                })?;
        }
        if let Some(v) = get("CAIRN_VERIFY_INTERVAL") {
            self.ledger.verify_interval =
                humantime::parse_duration(v.trim()).map_err(|e| ConfigError::Env {
                    var: "CAIRN_VERIFY_INTERVAL",
                    value: v.clone(),
                    message: e.to_string(),
                })?;
        }
        if let Some(v) = get("CAIRN_LEDGER_FSYNC") {
            self.ledger.fsync = parse_fsync_policy(&v).map_err(|message| ConfigError::Env {
                var: "CAIRN_LEDGER_FSYNC",
                value: v.clone(),
                message,
            })?;
        }
        parse_env(
            &get,
            "CAIRN_LEDGER_ALLOW_ROLLBACK_RECOVERY",
            &mut self.ledger.allow_rollback_recovery,
        )?;
        Ok(())
    }

    /// Checks value ranges that the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("otlp.max_body_bytes", self.otlp.max_body_bytes),
            (
                "api.max_concurrent_queries",
                self.api.max_concurrent_queries,
            ),
            ("pipeline.queue_capacity", self.pipeline.queue_capacity),
            (
                "pipeline.max_batch_records",
                self.pipeline.max_batch_records,
            ),
            (
                "pipeline.index_batch_entries",
                self.pipeline.index_batch_entries,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{key} must be at least 1")));
            }
        }
        self.witness
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.retention.index_days == Some(0) || self.retention.projects.values().any(|d| *d == 0)
        {
            return Err(ConfigError::Invalid(
                "retention.index_days and retention.projects values must be at least 1 day"
                    .to_owned(),
            ));
        }
        for project in self.retention.projects.keys() {
            crate::auth::keys::validate_project(project)
                .map_err(|e| ConfigError::Invalid(format!("retention.projects: {e}")))?;
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert_file and tls.key_file must be set together".to_owned(),
            ));
        }
        if self.retention.check_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "retention.check_interval must be positive".to_owned(),
            ));
        }
        if self.ledger.checkpoint_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "ledger.checkpoint_interval must be positive".to_owned(),
            ));
        }
        Ok(())
    }

    /// The ledger's directory inside the data dir.
    pub fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }

    /// The API key file inside the data dir.
    pub fn keys_path(&self) -> PathBuf {
        self.data_dir.join(crate::auth::keys::KEYS_FILE)
    }

    /// The index database inside the data dir.
    pub fn index_path(&self) -> PathBuf {
        self.data_dir.join("index.sqlite")
    }
}

fn parse_env<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    slot: &mut T,
) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    if let Some(value) = get(var) {
        *slot = value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
            var,
            value: value.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Durations as humantime strings (`"1s"`, `"250ms"`) in TOML.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_match_the_documented_ports() {
        let c = Config::default();
        assert_eq!(c.data_dir, PathBuf::from("./cairn-data"));
        assert_eq!(c.otlp.http_addr, "127.0.0.1:4318");
        assert_eq!(c.otlp.grpc_addr, "127.0.0.1:4317");
        assert_eq!(c.api.addr, "127.0.0.1:7070");
        assert_eq!(c.otlp.max_body_bytes, 64 * 1024 * 1024);
        c.validate().unwrap();
    }

    #[test]
    fn toml_overrides_only_the_keys_it_names() {
        let c = Config::from_toml(
            "data_dir = \"/var/lib/cairn\"\n[otlp]\nmax_body_bytes = 1024\n[ledger]\ncheckpoint_interval = \"250ms\"\n",
        )
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/cairn"));
        assert_eq!(c.otlp.max_body_bytes, 1024);
        assert_eq!(c.otlp.http_addr, DEFAULT_OTLP_HTTP_ADDR);
        assert_eq!(c.ledger.checkpoint_interval, Duration::from_millis(250));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_toml("[otlp]\nhttp_adr = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("http_adr"), "{err}");
    }

    #[test]
    fn the_doc_example_parses() {
        let docs = include_str!("config.rs");
        let example: String = docs
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let c = Config::from_toml(&example).unwrap();
        assert_eq!(c.ledger.origin.as_deref(), Some("cairn/example"));
        assert_eq!(c.witness.witnesses.len(), 1);
        c.validate().unwrap();
        assert_eq!(c.pipeline.index_batch_entries, 4096);
    }

    #[test]
    fn the_metrics_section_configures_cairn_metrics() {
        let c = Config::from_toml(
            "[metrics]\nlabel_cap = 5\n[metrics.price_table.\"m\"]\n\
             input_per_mtok_usd = 1.0\noutput_per_mtok_usd = 2.0\n",
        )
        .unwrap();
        assert_eq!(c.metrics.label_cap, 5);
        assert_eq!(c.metrics.price_table.len(), 1);
        assert_eq!(
            c.metrics.price_of("m-2025").map(|p| p.output_per_mtok_usd),
            Some(2.0)
        );
        assert_eq!(
            Config::from_toml("").unwrap().metrics,
            cairn_metrics::MetricsConfig::default()
        );
        assert!(Config::from_toml("[metrics]\nlabel_kap = 5\n").is_err());
    }

    /// `docs/api.md` shows every key with its default value; keep the two in step.
    #[test]
    fn the_reference_documentation_lists_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let docs = std::fs::read_to_string(path).unwrap();
        let example: String = docs
            .lines()
            .skip_while(|l| *l != "```toml")
            .skip(1)
            .take_while(|l| *l != "```")
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(example.contains("[limits]"), "no TOML example in {path}");
        assert_eq!(Config::from_toml(&example).unwrap(), Config::default());
    }

    #[test]
    fn environment_overrides_the_file_and_rejects_bad_numbers() {
        let mut c = Config::from_toml("[api]\naddr = \"0.0.0.0:1\"\n").unwrap();
        let env: HashMap<&str, &str> = [
            ("CAIRN_API_ADDR", "127.0.0.1:9"),
            ("CAIRN_QUEUE_CAPACITY", "7"),
            ("CAIRN_CHECKPOINT_INTERVAL", "2s"),
            ("CAIRN_DATA_DIR", ""),
        ]
        .into_iter()
        .collect();
        c.apply_env(|k| env.get(k).map(|v| (*v).to_owned()))
            .unwrap();
        assert_eq!(c.api.addr, "127.0.0.1:9");
        assert_eq!(c.pipeline.queue_capacity, 7);
        assert_eq!(c.ledger.checkpoint_interval, Duration::from_secs(2));
        assert_eq!(
            c.data_dir,
            PathBuf::from(DEFAULT_DATA_DIR),
            "empty is ignored"
        );

        let err = c
            .apply_env(|k| (k == "CAIRN_MAX_BODY_BYTES").then(|| "lots".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("CAIRN_MAX_BODY_BYTES"), "{err}");
    }

    #[test]
    fn ledger_fsync_and_rollback_recovery_come_from_file_and_environment() {
        let c = Config::default();
        assert_eq!(c.ledger.fsync, cairn_ledger::FsyncPolicy::Always);
        assert!(!c.ledger.allow_rollback_recovery);

        let mut c = Config::from_toml(
            "[ledger]\nfsync = \"before_checkpoint\"\nallow_rollback_recovery = true\n",
        )
        .unwrap();
        assert_eq!(c.ledger.fsync, cairn_ledger::FsyncPolicy::BeforeCheckpoint);
        assert!(c.ledger.allow_rollback_recovery);
        assert!(Config::from_toml("[ledger]\nfsync = \"sometimes\"\n").is_err());

        let env: HashMap<&str, &str> = [
            ("CAIRN_LEDGER_FSYNC", "always"),
            ("CAIRN_LEDGER_ALLOW_ROLLBACK_RECOVERY", "false"),
        ]
        .into_iter()
        .collect();
        c.apply_env(|k| env.get(k).map(|v| (*v).to_owned()))
            .unwrap();
        assert_eq!(c.ledger.fsync, cairn_ledger::FsyncPolicy::Always);
        assert!(!c.ledger.allow_rollback_recovery);
        c.apply_env(|k| (k == "CAIRN_LEDGER_FSYNC").then(|| "before-checkpoint".to_owned()))
            .unwrap();
        assert_eq!(c.ledger.fsync, cairn_ledger::FsyncPolicy::BeforeCheckpoint);

        for (var, bad) in [
            ("CAIRN_LEDGER_FSYNC", "never"),
            ("CAIRN_LEDGER_ALLOW_ROLLBACK_RECOVERY", "yes please"),
        ] {
            let err = c
                .apply_env(|k| (k == var).then(|| bad.to_owned()))
                .unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn zero_sizes_are_invalid() {
        let mut c = Config::default();
        c.pipeline.queue_capacity = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("queue_capacity")
        );
    }
}
