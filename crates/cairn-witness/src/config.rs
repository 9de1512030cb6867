//! Configuration of the witness server (`cairn witness serve`) and of the log-side pusher
//! (`[witness]` in `cairn serve`'s configuration).
//!
//! Witness server, TOML (`cairn witness serve --config FILE`; flags override):
//!
//! ```toml
//! addr = "127.0.0.1:7380"
//! state_dir = "./cairn-witness"
//! name = "cairn-witness"          # the key name, used when the key is generated
//!
//! [[logs]]                        # one per log this witness follows
//! vkey = "cairn/4f2a9c0d1e7b3a65+1a2b3c4d+AQ…"   # the log's verifier key; its name is the origin
//! ```
//!
//! Log side (`cairn serve`):
//!
//! ```toml
//! [witness]
//! timeout_secs = 10               # per request
//! retry_secs = 5                  # retry a failed witness this often, even without a new checkpoint
//!
//! [[witness.witnesses]]
//! url = "http://127.0.0.1:7380"   # the submission prefix; the pusher POSTs <url>/add-checkpoint
//! vkey = "cairn-witness+5e6f7a8b+BA…"  # the witness's cosignature key (type 0x04)
//! ```

use std::path::PathBuf;

use cairn_ledger::{CheckpointVerifier, CosignatureVerifier};
use serde::{Deserialize, Serialize};

/// Default witness listen address.
pub const DEFAULT_WITNESS_ADDR: &str = "127.0.0.1:7380";

/// The witness server's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WitnessConfig {
    /// Listen address.
    pub addr: String,
    /// Where the key and the per-log state live.
    pub state_dir: PathBuf,
    /// Name of the witness key (only used when the key is generated).
    pub name: String,
    /// The logs this witness follows.
    pub logs: Vec<LogConfig>,
}

/// One log a witness follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The log's verifier key (`<origin>+<hex id>+<base64(0x01 || key)>`).
    pub vkey: String,
}

impl Default for WitnessConfig {
    fn default() -> Self {
        Self {
            addr: DEFAULT_WITNESS_ADDR.to_owned(),
            state_dir: PathBuf::from("./cairn-witness"),
            name: "cairn-witness".to_owned(),
            logs: Vec::new(),
        }
    }
}

/// A configuration value is invalid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl WitnessConfig {
    /// Parses the TOML file format.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(format!("witness config: {e}")))
    }

    /// The log verifiers; every key must parse and no origin may repeat.
    pub fn log_verifiers(&self) -> Result<Vec<CheckpointVerifier>, ConfigError> {
        let mut out: Vec<CheckpointVerifier> = Vec::new();
        for (i, log) in self.logs.iter().enumerate() {
            let v = CheckpointVerifier::new(&log.vkey)
                .map_err(|e| ConfigError(format!("logs[{i}].vkey: {e}")))?;
            if out.iter().any(|o| o.name() == v.name()) {
                return Err(ConfigError(format!(
                    "logs[{i}].vkey: log {:?} is configured twice",
                    v.name()
                )));
            }
            out.push(v);
        }
        Ok(out)
    }
}

/// The log side: which witnesses `cairn serve` pushes its checkpoints to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Per-request timeout, seconds.
    pub timeout_secs: u64,
    /// How often a witness that failed is retried while no new checkpoint comes, seconds.
    pub retry_secs: u64,
    /// The witnesses; none by default.
    pub witnesses: Vec<WitnessEndpoint>,
}

/// One witness the log pushes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessEndpoint {
    /// The witness's submission prefix (`http://host:port`); requests go to
    /// `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's cosignature verifier key (type 0x04).
    pub vkey: String,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 10,
            retry_secs: 5,
            witnesses: Vec::new(),
        }
    }
}

impl PushConfig {
    /// Checks every URL and key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout_secs == 0 || self.retry_secs == 0 {
            return Err(ConfigError(
                "witness.timeout_secs and witness.retry_secs must be at least 1".to_owned(),
            ));
        }
        for (i, w) in self.witnesses.iter().enumerate() {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "witness.witnesses[{i}].url must start with http:// or https://, got {:?}",
                    w.url
                )));
            }
            CosignatureVerifier::new(&w.vkey)
                .map_err(|e| ConfigError(format!("witness.witnesses[{i}].vkey: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_example(which: usize) -> String {
        include_str!("config.rs")
            .split("//! ```toml\n")
            .nth(which)
            .unwrap()
            .split("//! ```")
            .next()
            .unwrap()
            .lines()
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect()
    }

    #[test]
    fn the_doc_examples_parse() {
        let w = WitnessConfig::from_toml(&doc_example(1)).unwrap();
        assert_eq!(w.addr, DEFAULT_WITNESS_ADDR);
        assert_eq!(w.logs.len(), 1);
        // The example keys are elided, so they do not verify.
        assert!(w.log_verifiers().is_err());
        #[derive(Deserialize)]
        struct Outer {
            witness: PushConfig,
        }
        let p: Outer = toml::from_str(&doc_example(2)).unwrap();
        assert_eq!(p.witness.witnesses.len(), 1);
        assert_eq!(p.witness.timeout_secs, 10);
        assert!(p.witness.validate().is_err(), "elided key");
        assert!(WitnessConfig::from_toml("adr = \"x\"").is_err());
    }
}
