//! The Elasticsearch / OpenSearch exporter: `_bulk` `create` into the data stream
//! `traces-cairn.agent-<namespace>`.
//!
//! - [`config`]: the `kind = "elasticsearch"` keys;
//! - `encoder`: span → action line + [`crate::document`] line, `_id` from (origin, index);
//! - `request_builder`: documents → request bodies bounded by bytes;
//! - `service`: HTTP (auth, gzip, TLS) and response parsing;
//! - `retry`: which statuses are delivered, retried or dead-lettered;
//! - [`templates`]: ILM policy, component and index templates installed at start.
//!
//! Log records are skipped: this exporter writes the spans data stream only.

pub mod config;
mod encoder;
mod request_builder;
mod retry;
mod service;
pub mod templates;

use std::time::Duration;

pub use config::{ElasticsearchConfig, Flavor, IlmConfig};
use service::{Auth, BulkService};

use crate::SetupError;
use crate::exporter::{Exporter, Item, ItemOutcome, SendError, SendReport};

/// Ships spans to an Elasticsearch or OpenSearch data stream (see the module docs).
#[derive(Debug)]
pub struct ElasticsearchExporter {
    config: ElasticsearchConfig,
    encoder: encoder::BulkEncoder,
    service: BulkService,
}

/// `true` if `namespace` is a valid data stream namespace: lowercase, at most 100 bytes, none
/// of `\ / * ? " < > | , # : -` or spaces.
fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= 100
        && namespace
            .chars()
            .all(|c| !c.is_uppercase() && !c.is_whitespace() && !"\\/*?\"<>|,#:-".contains(c))
}

impl ElasticsearchExporter {
    /// Builds the exporter for the ledger `origin`: resolves credentials (including `*_env`
    /// variables), loads the CA file, validates the namespace. Makes no request.
    pub fn new(config: ElasticsearchConfig, origin: &str) -> Result<Self, SetupError> {
        let invalid = |reason: String| SetupError::Invalid {
            name: config
                .name
                .clone()
                .unwrap_or_else(|| "elasticsearch".to_owned()),
            reason,
        };
        if !valid_namespace(&config.namespace) {
            return Err(invalid(format!(
                "namespace {:?} is not a valid data stream namespace (lowercase, no '-')",
                config.namespace
            )));
        }
        if !(config.endpoint.starts_with("http://") || config.endpoint.starts_with("https://")) {
            return Err(invalid(format!(
                "endpoint {:?} must start with http:// or https://",
                config.endpoint
            )));
        }
        let password = crate::secret(config.password.as_deref(), config.password_env.as_deref())
            .map_err(invalid)?;
        let api_key = crate::secret(config.api_key.as_deref(), config.api_key_env.as_deref())
            .map_err(invalid)?;
        let auth = match (&config.username, password, api_key) {
            (_, _, Some(key)) => Auth::ApiKey(key),
            (Some(username), Some(password), None) => Auth::Basic {
                username: username.clone(),
                password,
            },
            (Some(_), None, None) => {
                return Err(invalid(
                    "username is set but neither password nor password_env is".to_owned(),
                ));
            }
            (None, _, None) => Auth::None,
        };
        let agent = crate::http::agent(
            config.ca_file.as_deref(),
            config.connect_timeout,
            config.timeout,
        )
        .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            encoder: encoder::BulkEncoder::new(origin, &config.namespace),
            service: BulkService::new(agent, &config.endpoint, &auth, config.gzip),
            config,
        })
    }

    /// The data stream this exporter writes to.
    pub fn data_stream(&self) -> &str {
        self.encoder.data_stream()
    }

    /// Erasure: deletes every document of an erased data subject from the data stream
    /// (`_delete_by_query` on `cairn.subject_key`, `conflicts=proceed`, `refresh=true`);
    /// returns how many were deleted.
    pub fn delete_subject(&self, key_id: &str) -> Result<u64, SendError> {
        let path = format!(
            "{}/_delete_by_query?conflicts=proceed&refresh=true",
            self.data_stream()
        );
        let answer = self.service.post_json(
            &path,
            &serde_json::json!({"query": {"term": {"cairn.subject_key": key_id}}}),
        )?;
        Ok(answer
            .get("deleted")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0))
    }
}

impl Exporter for ElasticsearchExporter {
    fn kind(&self) -> &'static str {
        "elasticsearch"
    }

    fn start(&mut self) -> Result<(), SendError> {
        if !self.config.install_templates {
            return Ok(());
        }
        for object in templates::objects(&self.config) {
            self.service.put_json(&object.path, &object.body)?;
        }
        tracing::info!(
            data_stream = self.data_stream(),
            "elasticsearch templates installed"
        );
        Ok(())
    }

    fn send(&mut self, batch: &[Item]) -> Result<SendReport, SendError> {
        let mut outcomes = vec![ItemOutcome::Skipped; batch.len()];
        let encoded = batch
            .iter()
            .enumerate()
            .filter_map(|(position, item)| Some((position, self.encoder.encode(item)?)));
        let requests =
            request_builder::build_requests(encoded, self.config.max_request_bytes.max(1));
        let mut retry_after: Option<Duration> = None;
        let mut failed: Option<String> = None;
        for request in &requests {
            if let Some(reason) = &failed {
                // An earlier request failed transiently: do not hammer the cluster now.
                for &p in &request.positions {
                    outcomes[p] = ItemOutcome::Retry {
                        reason: reason.clone(),
                    };
                }
                continue;
            }
            match self.service.bulk(&request.body, request.positions.len()) {
                Ok(items) => {
                    for (&p, outcome) in request.positions.iter().zip(items) {
                        outcomes[p] = outcome;
                    }
                }
                Err(SendError::Transient {
                    reason,
                    retry_after: after,
                }) => {
                    retry_after = after;
                    for &p in &request.positions {
                        outcomes[p] = ItemOutcome::Retry {
                            reason: reason.clone(),
                        };
                    }
                    failed = Some(reason);
                }
                // The body was refused: the runner splits the batch until the culprit is
                // alone. Documents already delivered are re-sent and answered 409.
                Err(rejected) => return Err(rejected),
            }
        }
        Ok(SendReport {
            outcomes,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_data_stream_rules() {
        assert!(valid_namespace("default"));
        assert!(valid_namespace("prod_eu1"));
        assert!(!valid_namespace("Prod"));
        assert!(!valid_namespace("a-b"));
        assert!(!valid_namespace(""));
        assert!(!valid_namespace(&"a".repeat(101)));
    }

    #[test]
    fn credentials_are_resolved_or_refused() {
        let config = ElasticsearchConfig {
            username: Some("cairn".to_owned()),
            ..ElasticsearchConfig::default()
        };
        let err = ElasticsearchExporter::new(config, "o").expect_err("password missing");
        assert!(err.to_string().contains("password"), "{err}");
        let config = ElasticsearchConfig {
            api_key_env: Some("CAIRN_TEST_SURELY_UNSET_VARIABLE".to_owned()),
            ..ElasticsearchConfig::default()
        };
        let err = ElasticsearchExporter::new(config, "o").expect_err("env missing");
        assert!(
            err.to_string().contains("CAIRN_TEST_SURELY_UNSET_VARIABLE"),
            "{err}"
        );
        let config = ElasticsearchConfig {
            endpoint: "localhost:9200".to_owned(),
            ..ElasticsearchConfig::default()
        };
        assert!(ElasticsearchExporter::new(config, "o").is_err());
    }
}
