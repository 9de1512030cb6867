//! The cardinality guard: at most `cap` distinct values per label, the rest become `__other__`.
//!
//! Invariants:
//! - A label's admitted set only grows, up to `cap` values, so a value once exposed keeps its
//!   series for the life of the process and values are admitted first come, first served.
//! - The set is per label name and shared by every metric using that label (`agent` is the same
//!   set for runs, tool calls and tokens), so the same agents are named in every metric and ratios
//!   between metrics stay meaningful.
//! - Each value that falls back to `__other__` increments
//!   `cairn_metrics_label_overflow_total{metric, label}` once per observation of each metric
//!   it would have labelled (a failed agent run over the cap counts for `cairn_agent_runs_total`
//!   and for `cairn_errors_total`).
//! - The empty string is always admitted and does not use up the cap (it means "not set").
//! - Values are truncated to [`MAX_LABEL_VALUE_BYTES`] (at a character boundary) before anything
//!   else, so one huge attribute cannot blow up the exposition.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// The label value used for values over the cap.
pub const OTHER: &str = "__other__";

/// Longest label value kept, in bytes.
pub const MAX_LABEL_VALUE_BYTES: usize = 128;

/// Labels of `cairn_metrics_label_overflow_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct OverflowLabels {
    pub(crate) metric: String,
    pub(crate) label: String,
}

/// `cairn_metrics_label_overflow_total`, shared by agent metrics and the OTLP sink.
pub(crate) type OverflowCounter = Family<OverflowLabels, Counter>;

/// Per-label admitted values and the overflow counter.
#[derive(Debug, Clone)]
pub(crate) struct LabelGuard {
    cap: usize,
    admitted: Arc<RwLock<HashMap<String, HashSet<String>>>>,
    overflow: OverflowCounter,
}

impl LabelGuard {
    pub(crate) fn new(cap: usize, overflow: OverflowCounter) -> Self {
        Self {
            cap,
            admitted: Arc::default(),
            overflow,
        }
    }

    /// The value to expose for `value` of `label` on `metric`: the (truncated) value itself when
    /// admitted, else [`OTHER`] (and the overflow is counted).
    pub(crate) fn admit(&self, metric: &str, label: &str, value: &str) -> String {
        self.admission(metric).value(label, value)
    }

    /// Admits the label values of one series of `metric`, one [`Admission::value`] at a time.
    pub(crate) fn admission<'a>(&'a self, metric: &'a str) -> Admission<'a> {
        Admission {
            guard: self,
            metric,
            all_admitted: true,
        }
    }

    /// Admits `value` into the value set named `scope` (a label name, or metric and label for
    /// per-metric caps); `None` when the set is full (the overflow of `metric`/`label` is
    /// counted).
    pub(crate) fn admit_scoped(
        &self,
        scope: &str,
        metric: &str,
        label: &str,
        value: &str,
    ) -> Option<String> {
        let value = truncate(value);
        if value.is_empty() {
            return Some(String::new());
        }
        if let Some(set) = self.admitted.read().get(scope) {
            if set.contains(value) {
                return Some(value.to_owned());
            }
            if set.len() >= self.cap {
                self.count_overflow(metric, label);
                return None;
            }
        }
        let mut admitted = self.admitted.write();
        let set = admitted.entry(scope.to_owned()).or_default();
        if set.contains(value) {
            return Some(value.to_owned());
        }
        if set.len() >= self.cap {
            drop(admitted);
            self.count_overflow(metric, label);
            return None;
        }
        set.insert(value.to_owned());
        Some(value.to_owned())
    }

    fn count_overflow(&self, metric: &str, label: &str) {
        self.overflow
            .get_or_create(&OverflowLabels {
                metric: metric.to_owned(),
                label: label.to_owned(),
            })
            .inc();
    }
}

/// The label values of one series being admitted (see [`LabelGuard::admission`]).
#[derive(Debug)]
pub(crate) struct Admission<'a> {
    guard: &'a LabelGuard,
    metric: &'a str,
    all_admitted: bool,
}

impl Admission<'_> {
    /// The value to expose for `value` of `label`: the (truncated) value itself when admitted,
    /// else [`OTHER`], counting the overflow and marking the series as not all admitted.
    pub(crate) fn value(&mut self, label: &str, value: &str) -> String {
        self.guard
            .admit_scoped(label, self.metric, label, value)
            .unwrap_or_else(|| {
                self.all_admitted = false;
                OTHER.to_owned()
            })
    }

    /// Whether every value so far was admitted as itself (none became [`OTHER`]).
    pub(crate) fn all_admitted(&self) -> bool {
        self.all_admitted
    }
}

/// `value` cut to at most [`MAX_LABEL_VALUE_BYTES`] bytes at a character boundary.
pub(crate) fn truncate(value: &str) -> &str {
    if value.len() <= MAX_LABEL_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_LABEL_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_over_the_cap_become_other_and_are_counted() {
        let overflow = OverflowCounter::default();
        let guard = LabelGuard::new(2, overflow.clone());
        assert_eq!(guard.admit("m", "agent", "a"), "a");
        assert_eq!(guard.admit("m", "agent", "b"), "b");
        assert_eq!(guard.admit("m", "agent", "c"), OTHER);
        assert_eq!(guard.admit("m", "agent", "a"), "a");
        assert_eq!(guard.admit("m", "agent", ""), "");
        assert_eq!(guard.admit("m", "tool", "c"), "c");
        let count = |metric: &str, label: &str| {
            overflow
                .get(&OverflowLabels {
                    metric: metric.to_owned(),
                    label: label.to_owned(),
                })
                .map(|c| c.get())
        };
        assert_eq!(count("m", "agent"), Some(1));
        assert_eq!(count("m", "tool"), None);
        assert_eq!(
            guard.admit_scoped("n\0agent", "n", "agent", "d"),
            Some("d".to_owned())
        );
        assert_eq!(
            guard.admit_scoped("n\0agent", "n", "agent", "e"),
            Some("e".to_owned())
        );
        assert_eq!(guard.admit_scoped("n\0agent", "n", "agent", "f"), None);
        assert_eq!(count("n", "agent"), Some(1));
    }

    #[test]
    fn long_values_are_truncated_at_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_LABEL_VALUE_BYTES);
        assert!(long.starts_with(cut));
        assert_eq!(cut.len(), 128);
    }
}
