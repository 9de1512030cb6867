//! Configuration of Cairn's metrics (`[metrics]` in the server's TOML configuration).
//!
//! Every field has a default, so an empty table is a valid configuration:
//!
//! ```toml
//! [metrics]
//! label_cap = 100            # distinct values per label before "__other__"
//! pending_runs_cap = 10000   # traces tracked for run-level metrics
//! run_grace_ms = 5000        # wait for late child spans after an agent span
//!
//! [metrics.price_table."gpt-4o"]   # replaces the whole default table when present
//! input_per_mtok_usd = 2.5
//! output_per_mtok_usd = 10.0
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

/// The price of a model's tokens, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Dollars per million input (prompt) tokens.
    pub input_per_mtok_usd: f64,
    /// Dollars per million output (completion) tokens.
    pub output_per_mtok_usd: f64,
}

impl Price {
    /// Cost in dollars of `input` and `output` tokens.
    #[allow(clippy::cast_precision_loss)] // token counts far below 2^53
    pub fn cost_usd(&self, input: u64, output: u64) -> f64 {
        (input as f64 * self.input_per_mtok_usd + output as f64 * self.output_per_mtok_usd) / 1e6
    }
}

/// Configuration of [`crate::AgentMetrics`] and [`crate::OtlpMetricsSink`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Distinct values admitted per label (`agent`, `tool`, `model` …) before further values are
    /// counted under `__other__`. For OTLP metrics the cap is per metric and label, and data points
    /// over it are dropped (see [`crate::otlp`]).
    pub label_cap: usize,
    /// Price per model, used for `cairn_llm_cost_usd_total`. Keys are model names; a model matches
    /// its exact name first, else the longest key that is a prefix of it (`gpt-4o-2024-08-06` →
    /// `gpt-4o`). A table given in the configuration replaces [`default_price_table`].
    pub price_table: HashMap<String, Price>,
    /// Traces whose spans are held for run-level metrics (tool calls and reasoning steps per run)
    /// at once; beyond it the least recently active trace is finalized early and counted in
    /// `cairn_metrics_pending_runs_evicted_total`.
    pub pending_runs_cap: usize,
    /// Spans held across all pending traces; beyond it traces are evicted as above.
    pub pending_spans_cap: usize,
    /// After an agent span arrives, how long its run stays open for child spans that arrive late
    /// (parent-first delivery) before the per-run histograms are observed.
    pub run_grace_ms: u64,
    /// A trace with no new span for this long is finalized: spans still waiting for an ancestor
    /// are counted under their own agent name (or `unknown`).
    pub pending_timeout_secs: u64,
    /// OTLP series kept at once (all metrics); data points of new series beyond it are rejected.
    pub otlp_series_cap: usize,
    /// An OTLP series not updated for this long is no longer exposed.
    pub otlp_series_ttl_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            label_cap: 100,
            price_table: default_price_table(),
            pending_runs_cap: 10_000,
            pending_spans_cap: 200_000,
            run_grace_ms: 5_000,
            pending_timeout_secs: 300,
            otlp_series_cap: 10_000,
            otlp_series_ttl_secs: 300,
        }
    }
}

impl MetricsConfig {
    /// [`MetricsConfig::run_grace_ms`] as a duration.
    pub fn run_grace(&self) -> Duration {
        Duration::from_millis(self.run_grace_ms)
    }

    /// [`MetricsConfig::pending_timeout_secs`] as a duration.
    pub fn pending_timeout(&self) -> Duration {
        Duration::from_secs(self.pending_timeout_secs)
    }

    /// [`MetricsConfig::otlp_series_ttl_secs`] as a duration.
    pub fn otlp_series_ttl(&self) -> Duration {
        Duration::from_secs(self.otlp_series_ttl_secs)
    }

    /// The price of `model`: an exact key, else the longest key that prefixes the model name.
    pub fn price_of(&self, model: &str) -> Option<&Price> {
        if let Some(price) = self.price_table.get(model) {
            return Some(price);
        }
        self.price_table
            .iter()
            .filter(|(key, _)| !key.is_empty() && model.starts_with(key.as_str()))
            .max_by_key(|(key, _)| key.len())
            .map(|(_, price)| price)
    }
}

/// Example list prices (USD per million tokens, standard tier, mid-2025) for common models.
///
/// These are **examples** to make `cairn_llm_cost_usd_total` useful out of the box; providers change
/// prices and discount cached input, so set `price_table` to your contract's prices.
///
/// | Model | Input | Output |
/// |---|---|---|
/// | `gpt-4o` | 2.50 | 10.00 |
/// | `gpt-4o-mini` | 0.15 | 0.60 |
/// | `gpt-4.1` | 2.00 | 8.00 |
/// | `gpt-4.1-mini` | 0.40 | 1.60 |
/// | `o3-mini` | 1.10 | 4.40 |
/// | `claude-sonnet-4` | 3.00 | 15.00 |
/// | `claude-opus-4` | 15.00 | 75.00 |
/// | `claude-3-5-haiku` | 0.80 | 4.00 |
/// | `gemini-2.0-flash` | 0.10 | 0.40 |
/// | `gemini-2.5-pro` | 1.25 | 10.00 |
/// | `gemini-2.5-flash` | 0.30 | 2.50 |
pub fn default_price_table() -> HashMap<String, Price> {
    [
        ("gpt-4o", 2.50, 10.00),
        ("gpt-4o-mini", 0.15, 0.60),
        ("gpt-4.1", 2.00, 8.00),
        ("gpt-4.1-mini", 0.40, 1.60),
        ("o3-mini", 1.10, 4.40),
        ("claude-sonnet-4", 3.00, 15.00),
        ("claude-opus-4", 15.00, 75.00),
        ("claude-3-5-haiku", 0.80, 4.00),
        ("gemini-2.0-flash", 0.10, 0.40),
        ("gemini-2.5-pro", 1.25, 10.00),
        ("gemini-2.5-flash", 0.30, 2.50),
    ]
    .into_iter()
    .map(|(model, input, output)| {
        (
            model.to_owned(),
            Price {
                input_per_mtok_usd: input,
                output_per_mtok_usd: output,
            },
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let config = MetricsConfig::default();
        let price = |m: &str| config.price_of(m).map(|p| p.input_per_mtok_usd);
        assert_eq!(price("gpt-4o"), Some(2.50));
        assert_eq!(price("gpt-4o-2024-08-06"), Some(2.50));
        assert_eq!(price("gpt-4o-mini-2024-07-18"), Some(0.15));
        assert_eq!(price("claude-sonnet-4-20250514"), Some(3.00));
        assert_eq!(price("o3-mini-2025-01-31"), Some(1.10));
        assert_eq!(price("llama-3"), None);
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let price = Price {
            input_per_mtok_usd: 2.5,
            output_per_mtok_usd: 10.0,
        };
        assert!((price.cost_usd(1_000_000, 500_000) - 7.5).abs() < 1e-12);
    }
}
