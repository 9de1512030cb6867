//! The OTLP forwarder: re-exports records as OTLP/HTTP protobuf to another endpoint.
//!
//! - [`config`]: the `kind = "otlp"` keys;
//! - `encoder`: batch → one traces request and one logs request, lossless;
//! - `service`: HTTP and the OTLP/HTTP status rules.
//!
//! Spans keep their ids, attributes, events, links, resource and scope. Spans and log records
//! of a batch go in two requests; if one succeeds and the other fails, only the failed records
//! are retried.

pub mod config;
mod encoder;
mod service;

pub use config::OtlpConfig;
use service::{OtlpService, Signal};

use crate::SetupError;
use crate::exporter::{Exporter, Item, ItemOutcome, SendError, SendReport};

/// Forwards spans (and log records) over OTLP/HTTP (see the module docs).
#[derive(Debug)]
pub struct OtlpExporter {
    config: OtlpConfig,
    service: OtlpService,
}

impl OtlpExporter {
    /// Builds the exporter: validates the endpoint and headers, loads the CA file. Makes no
    /// request.
    pub fn new(config: OtlpConfig) -> Result<Self, SetupError> {
        let invalid = |reason: String| SetupError::Invalid {
            name: config.name.clone().unwrap_or_else(|| "otlp".to_owned()),
            reason,
        };
        if !(config.endpoint.starts_with("http://") || config.endpoint.starts_with("https://")) {
            return Err(invalid(format!(
                "endpoint {:?} must start with http:// or https://",
                config.endpoint
            )));
        }
        if let Some(name) = config.headers.keys().find(|k| {
            k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        }) {
            return Err(invalid(format!("invalid header name {name:?}")));
        }
        let agent = crate::http::agent(
            config.ca_file.as_deref(),
            config.connect_timeout,
            config.timeout,
        )
        .map_err(|e| invalid(e.to_string()))?;
        let headers = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Self {
            service: OtlpService::new(agent, &config.endpoint, headers, config.gzip),
            config,
        })
    }
}

impl Exporter for OtlpExporter {
    fn kind(&self) -> &'static str {
        "otlp"
    }

    fn send(&mut self, batch: &[Item]) -> Result<SendReport, SendError> {
        let encoded = encoder::encode(batch, self.config.logs);
        let mut report = SendReport {
            outcomes: vec![ItemOutcome::Skipped; batch.len()],
            retry_after: None,
        };
        let parts = [
            (Signal::Traces, encoded.traces),
            (Signal::Logs, encoded.logs),
        ];
        let several = parts.iter().filter(|(_, p)| p.is_some()).count() > 1;
        for (signal, part) in parts {
            let Some((body, positions)) = part else {
                continue;
            };
            match self.service.export(signal, &body) {
                Ok(rejected) => {
                    if rejected > 0 {
                        tracing::warn!(
                            ?signal,
                            rejected,
                            "otlp receiver rejected records in a partial success; they are not retried"
                        );
                    }
                    for p in positions {
                        report.outcomes[p] = ItemOutcome::Delivered;
                    }
                }
                // Alone in the batch: let the runner back off or split as the error says.
                Err(e) if !several => return Err(e),
                // Mixed batch: retry this signal's records on their own.
                Err(e) => {
                    if let SendError::Transient { retry_after, .. } = &e {
                        report.retry_after = *retry_after;
                    }
                    for p in positions {
                        report.outcomes[p] = ItemOutcome::Retry {
                            reason: e.to_string(),
                        };
                    }
                }
            }
        }
        Ok(report)
    }
}
