//! Redaction: detectors run over every string value of a record before it is encoded.
//!
//! Each match is replaced by `[REDACTED:<rule>]`. What fired is recorded on the record itself, in
//! the attribute `cairn.redacted`: an array of `<path>:<rule>` strings, one per distinct pair,
//! where `<path>` is the top-level attribute key (`resource.<key>` for resource attributes,
//! `events[<i>].<key>` for span events, `body` for a log body, `status.message`, `name`). The
//! redacted value itself is never recorded anywhere.
//!
//! Keys (at any nesting level of a key-value list) on the allow list are skipped with their
//! whole subtree; keys on the deny list have their value replaced by `[REDACTED:deny]` whatever
//! it is (strings, numbers, nested values). `cairn.redacted` and `cairn.subject_key` (Cairn's own
//! markers) are never touched. Redaction runs before encryption, so every value it sees is what
//! the sender sent — a value that merely looks like Cairn ciphertext is scanned like any other.
//!
//! Built-in detectors (see [`crate::BUILTIN_RULES`]):
//! | rule | matches |
//! |---|---|
//! | `api_key` | `sk-` keys (OpenAI `sk-…`, `sk-proj-…`, Anthropic `sk-ant-…`): `sk-` then ≥ 20 of `[A-Za-z0-9_-]` |
//! | `aws_key` | AWS access key ids: `AKIA`/`ASIA` + 16 of `[A-Z0-9]` |
//! | `jwt` | three base64url segments, the first two starting `eyJ` (a JSON object) |
//! | `bearer` | `Bearer <token>` (≥ 8 token characters), case-insensitive |
//! | `card` | 13–19 digits, optionally grouped by single spaces or dashes, starting with an issuer digit 2–6 and passing the Luhn check |
//! | `email` | `local@domain.tld` |
//! | `phone` | conservative: `+` and 8–15 digits (E.164, optional separators), or the North American `(555) 123-4567` / `555-123-4567` forms; bare digit runs are never phones |

use std::collections::BTreeMap;

use cairn_model::{AnyValue, KeyValue, LogRecord, Span};
use regex::Regex;

use crate::keys::KeyPatterns;
use crate::{ConfigError, RedactionConfig};

/// The attribute listing which rules fired.
pub const REDACTED_ATTRIBUTE: &str = "cairn.redacted";

/// What redaction did to one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactionReport {
    /// Replacements per rule name.
    pub counts: BTreeMap<String, u64>,
    /// Distinct `<path>:<rule>` pairs, in first-seen order.
    pub fired: Vec<String>,
}

impl RedactionReport {
    /// `true` when nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    fn add(&mut self, path: &str, rule: &str, n: u64) {
        *self.counts.entry(rule.to_owned()).or_default() += n;
        let pair = format!("{path}:{rule}");
        if !self.fired.contains(&pair) {
            self.fired.push(pair);
        }
    }

    /// Adds another report's counts into this one.
    pub fn merge(&mut self, other: &RedactionReport) {
        for (rule, n) in &other.counts {
            *self.counts.entry(rule.clone()).or_default() += n;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Luhn,
    Phone,
}

#[derive(Debug)]
struct Rule {
    name: String,
    regex: Regex,
    check: Check,
}

/// The compiled redaction rules.
#[derive(Debug)]
pub struct Redactor {
    rules: Vec<Rule>,
    allow: KeyPatterns,
    deny: KeyPatterns,
}

fn builtin(name: &str) -> Option<(&'static str, Check)> {
    Some(match name {
        "api_key" => (r"\bsk-[A-Za-z0-9_-]{20,}", Check::None),
        "aws_key" => (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", Check::None),
        "jwt" => (
            r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
            Check::None,
        ),
        "bearer" => (r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}", Check::None),
        "card" => (r"\b\d(?:[ -]?\d){12,18}\b", Check::Luhn),
        "email" => (
            r"(?i)\b[a-z0-9._%+-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b",
            Check::None,
        ),
        "phone" => (
            r"(?:\+\d[\d .()-]{6,20}\d)|(?:\(\d{3}\) ?\d{3}-\d{4}\b)|(?:\b\d{3}-\d{3}-\d{4}\b)",
            Check::Phone,
        ),
        _ => return None,
    })
}

/// A card number: a known issuer prefix (Visa 4, Mastercard 51–55 and 22–27, Amex/Diners/JCB
/// 3, Discover/UnionPay 6) and the Luhn checksum. The prefix check keeps unix timestamps in
/// milliseconds or nanoseconds (which start with 1) from being taken for cards.
pub(crate) fn card_valid(s: &str) -> bool {
    let first = s.chars().next();
    matches!(first, Some('2'..='6')) && luhn_valid(s)
}

/// The Luhn checksum over the digits of `s` (other characters ignored).
pub(crate) fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

fn phone_valid(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if s.starts_with('+') {
        (8..=15).contains(&digits)
    } else {
        digits == 10
    }
}

impl Redactor {
    /// Compiles the rules of `config`.
    pub fn new(config: &RedactionConfig) -> Result<Self, ConfigError> {
        let mut rules = Vec::new();
        for name in &config.builtins {
            let (pattern, check) =
                builtin(name).ok_or_else(|| ConfigError::UnknownBuiltin { name: name.clone() })?;
            rules.push(Rule {
                name: name.clone(),
                regex: Regex::new(pattern).expect("built-in patterns compile"),
                check,
            });
        }
        // Run in the documented order whatever order the list gives.
        rules.sort_by_key(|r| crate::BUILTIN_RULES.iter().position(|b| *b == r.name));
        for custom in &config.rules {
            if custom.name.is_empty()
                || !custom
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ConfigError::RuleName {
                    name: custom.name.clone(),
                });
            }
            let regex = Regex::new(&custom.pattern).map_err(|e| ConfigError::Pattern {
                field: format!("privacy.redaction.rules[{}]", custom.name),
                message: e.to_string(),
            })?;
            rules.push(Rule {
                name: custom.name.clone(),
                regex,
                check: Check::None,
            });
        }
        Ok(Self {
            rules,
            allow: KeyPatterns::new("privacy.redaction.allow", &config.allow)?,
            deny: KeyPatterns::new("privacy.redaction.deny", &config.deny)?,
        })
    }

    /// Redacts one string; returns the new text when anything matched.
    pub fn redact_str(
        &self,
        text: &str,
        path: &str,
        report: &mut RedactionReport,
    ) -> Option<String> {
        let mut current: Option<String> = None;
        for rule in &self.rules {
            let input = current.as_deref().unwrap_or(text);
            let mut hits = 0u64;
            let replacement = format!("[REDACTED:{}]", rule.name);
            let mut out = String::new();
            let mut last = 0;
            for m in rule.regex.find_iter(input) {
                let ok = match rule.check {
                    Check::None => true,
                    Check::Luhn => card_valid(m.as_str()),
                    Check::Phone => phone_valid(m.as_str()),
                };
                if !ok || m.as_str().is_empty() {
                    continue;
                }
                out.push_str(&input[last..m.start()]);
                out.push_str(&replacement);
                last = m.end();
                hits += 1;
            }
            if hits > 0 {
                out.push_str(&input[last..]);
                report.add(path, &rule.name, hits);
                current = Some(out);
            }
        }
        current
    }

    fn value(&self, value: &mut AnyValue, path: &str, report: &mut RedactionReport) {
        match value {
            AnyValue::String(s) => {
                if let Some(new) = self.redact_str(s, path, report) {
                    *s = new;
                }
            }
            AnyValue::Array(items) => {
                for item in items {
                    self.value(item, path, report);
                }
            }
            AnyValue::KvList(kvs) => {
                for kv in kvs {
                    if self.allow.matches(&kv.key) {
                        continue;
                    }
                    if self.deny.matches(&kv.key) {
                        deny(&mut kv.value, path, report);
                        continue;
                    }
                    self.value(&mut kv.value, path, report);
                }
            }
            AnyValue::Empty
            | AnyValue::Bool(_)
            | AnyValue::Int(_)
            | AnyValue::Double(_)
            | AnyValue::Bytes(_) => {}
        }
    }

    fn attributes(&self, attrs: &mut [KeyValue], prefix: &str, report: &mut RedactionReport) {
        for kv in attrs {
            if kv.key == REDACTED_ATTRIBUTE
                || kv.key == crate::SUBJECT_KEY_ATTRIBUTE
                || self.allow.matches(&kv.key)
            {
                continue;
            }
            let path = format!("{prefix}{}", kv.key);
            if self.deny.matches(&kv.key) {
                deny(&mut kv.value, &path, report);
            } else {
                self.value(&mut kv.value, &path, report);
            }
        }
    }

    /// Redacts every string of a span: its name, status message, attributes, event names and
    /// attributes, link attributes and resource attributes; then records `cairn.redacted`.
    pub fn redact_span(&self, span: &mut Span) -> RedactionReport {
        let mut report = RedactionReport::default();
        self.attributes(&mut span.attributes, "", &mut report);
        for (i, event) in span.events.iter_mut().enumerate() {
            self.attributes(&mut event.attributes, &format!("events[{i}]."), &mut report);
        }
        for (i, link) in span.links.iter_mut().enumerate() {
            self.attributes(&mut link.attributes, &format!("links[{i}]."), &mut report);
        }
        self.attributes(&mut span.resource.attributes, "resource.", &mut report);
        if let Some(new) = self.redact_str(&span.status.message, "status.message", &mut report) {
            span.status.message = new;
        }
        if let Some(new) = self.redact_str(&span.name, "name", &mut report) {
            span.name = new;
        }
        mark(&mut span.attributes, &report);
        report
    }

    /// Redacts every string of a log record: body, attributes and resource attributes; then
    /// records `cairn.redacted` among its attributes.
    pub fn redact_log(&self, log: &mut LogRecord) -> RedactionReport {
        let mut report = RedactionReport::default();
        self.value(&mut log.body, "body", &mut report);
        self.attributes(&mut log.attributes, "", &mut report);
        self.attributes(&mut log.resource.attributes, "resource.", &mut report);
        mark(&mut log.attributes, &report);
        report
    }
}

fn deny(value: &mut AnyValue, path: &str, report: &mut RedactionReport) {
    if matches!(value, AnyValue::Empty) {
        return;
    }
    *value = AnyValue::String("[REDACTED:deny]".to_owned());
    report.add(path, "deny", 1);
}

/// Sets `cairn.redacted` (replacing any value the sender put there, so it cannot be forged).
fn mark(attrs: &mut Vec<KeyValue>, report: &RedactionReport) {
    attrs.retain(|kv| kv.key != REDACTED_ATTRIBUTE);
    if report.fired.is_empty() {
        return;
    }
    attrs.push(KeyValue::new(
        REDACTED_ATTRIBUTE,
        AnyValue::Array(
            report
                .fired
                .iter()
                .map(|f| AnyValue::String(f.clone()))
                .collect(),
        ),
    ));
}
