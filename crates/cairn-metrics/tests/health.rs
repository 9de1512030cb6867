//! Metric label values are escaped and bounded in the exposition.

use cairn_metrics::{Metrics, MetricsConfig};

use crate::common::*;
use crate::exposition::promtool_check;

#[test]
fn hostile_label_values_are_escaped_and_truncated() {
    let m = Metrics::new(MetricsConfig::default(), "x");
    let name = format!("evil\"agent\\\n{}", "x".repeat(500));
    m.agents().observe(&agent(1, 1, None, &name, 1.0));
    m.health().exporter_sent("quote\"d", 1);
    let text = m.encode_text();
    let line = samples(&text, "cairn_agent_runs_total")
        .into_iter()
        .next()
        .expect("a run sample");
    assert!(
        line.starts_with(r#"cairn_agent_runs_total{agent="evil\"agent\\\nxxx"#),
        "{line}"
    );
    assert!(line.len() < 200, "{line}");
    assert!(text.contains(r#"cairn_exporter_sent_total{exporter="quote\"d"} 1"#));
    promtool_check(&text);
}
