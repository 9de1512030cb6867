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
//!
//! Cost: almost no value holds a secret, so the no-match case is the one that matters. One pass
//! of a multi-pattern regex over all the rules' patterns (the `regex` crate's `RegexSet`
//! semantics) decides which rules can match; only those run their own search, in rule order. A
//! rule sees the text as the rules before it left it, so whenever a rule replaces something the
//! set is run again over the new text (a replacement can remove or create matches of later
//! rules). A rule the set rules out has no match at all on the current text, so it would have
//! changed nothing: the output and the report are those of running every rule in turn. Paths
//! are formatted only when a rule fires, and each rule's replacement is built once. The
//! multi-pattern regex keeps one search cache per thread (the collector's workers share one
//! `Redactor`); see `Candidates` below.
//!
//! The built-in patterns are ASCII-only (`(?-u)`), so that pass stays in the lazy DFA on any
//! text; a Unicode word boundary would send every string holding a non-ASCII character to a
//! slower engine (see `builtin`). Custom rules that cannot run in the lazy DFA are named by
//! [`Redactor::slow_rules`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use cairn_model::{AnyValue, KeyValue, LogRecord, Span};
use regex::Regex;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, PatternSet, meta};
use thread_local::ThreadLocal;

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

    fn add(&mut self, path: &dyn fmt::Display, rule: &str, n: u64) {
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
    /// `[REDACTED:<name>]`.
    replacement: String,
}

impl Rule {
    fn new(name: &str, regex: Regex, check: Check) -> Self {
        Self {
            name: name.to_owned(),
            regex,
            check,
            replacement: format!("[REDACTED:{name}]"),
        }
    }

    /// Replaces every accepted match of `input`; `None` (and no allocation) when there is none.
    fn apply(&self, input: &str) -> Option<(String, u64)> {
        let mut out: Option<String> = None;
        let mut hits = 0u64;
        let mut last = 0;
        for m in self.regex.find_iter(input) {
            let ok = match self.check {
                Check::None => true,
                Check::Luhn => card_valid(m.as_str()),
                Check::Phone => phone_valid(m.as_str()),
            };
            if !ok || m.as_str().is_empty() {
                continue;
            }
            let out = out.get_or_insert_with(|| String::with_capacity(input.len() + 16));
            out.push_str(&input[last..m.start()]);
            out.push_str(&self.replacement);
            last = m.end();
            hits += 1;
        }
        let mut out = out?;
        out.push_str(&input[last..]);
        Some((out, hits))
    }
}

/// Where a value sits in its record, formatted (as documented above) only when a rule fires.
#[derive(Clone, Copy)]
enum Path<'a> {
    /// A fixed path: `body`, `status.message`, `name`, or one given by the caller.
    Fixed(&'a str),
    /// A span or log attribute.
    Attribute(Prefix, &'a str),
}

/// Which attribute list an attribute is in.
#[derive(Clone, Copy)]
enum Prefix {
    Record,
    Resource,
    Event(usize),
    Link(usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Path::Fixed(path) => f.write_str(path),
            Path::Attribute(Prefix::Record, key) => f.write_str(key),
            Path::Attribute(Prefix::Resource, key) => write!(f, "resource.{key}"),
            Path::Attribute(Prefix::Event(i), key) => write!(f, "events[{i}].{key}"),
            Path::Attribute(Prefix::Link(i), key) => write!(f, "links[{i}].{key}"),
        }
    }
}

/// All the rules' patterns as one regex that tells which of them match a text.
///
/// Built exactly as `regex::RegexSet` builds its regex (same syntax and engine configuration),
/// but with a search cache per thread instead of `RegexSet`'s internal cache pool: that pool
/// hands its lock-free slot only to the first thread that searches, and every other thread takes
/// and returns a cache through a mutex-protected stack on every search. Measured with four
/// threads sharing one `Redactor`, that cost ≈7% more instructions per span than one thread.
struct Candidates {
    set: meta::Regex,
    caches: ThreadLocal<RefCell<meta::Cache>>,
}

impl Candidates {
    /// `None` when the union exceeds the regex size limits.
    fn new(rules: &[Rule]) -> Option<Self> {
        let patterns: Vec<&str> = rules.iter().map(|r| r.regex.as_str()).collect();
        let config = meta::Config::new()
            .nfa_size_limit(Some(10 * (1 << 20)))
            .hybrid_cache_capacity(2 * (1 << 20))
            .match_kind(MatchKind::All)
            .utf8_empty(true)
            .which_captures(WhichCaptures::None);
        let set = meta::Builder::new()
            .configure(config)
            .syntax(syntax::Config::new().utf8(true))
            .build_many(&patterns)
            .ok()?;
        Some(Self {
            set,
            caches: ThreadLocal::new(),
        })
    }

    /// The rules whose pattern matches somewhere in `text`; `None` when none does.
    fn matching(&self, text: &str) -> Option<PatternSet> {
        let cache = self.caches.get_or(|| RefCell::new(self.set.create_cache()));
        // Never borrowed twice: nothing below calls back into the redactor.
        let cache = &mut *cache.borrow_mut();
        let input = Input::new(text);
        if !self.set.is_match_with(cache, &input) {
            return None;
        }
        let mut matched = PatternSet::new(self.set.pattern_len());
        self.set
            .which_overlapping_matches_with(cache, &input, &mut matched);
        Some(matched)
    }
}

impl fmt::Debug for Candidates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidates")
            .field("patterns", &self.set.pattern_len())
            .finish_non_exhaustive()
    }
}

/// The compiled redaction rules.
#[derive(Debug)]
pub struct Redactor {
    rules: Vec<Rule>,
    /// The rules' patterns, in rule order; `None` when the union exceeds the regex size limits
    /// (then every rule runs its own search).
    set: Option<Candidates>,
    allow: KeyPatterns,
    deny: KeyPatterns,
    /// Custom rules whose pattern the lazy DFA cannot run (see [`Redactor::slow_rules`]).
    slow: Vec<String>,
}

/// The built-in patterns and their checks.
///
/// Every pattern is ASCII-only (`(?-u)`): word boundaries, `\d`, `\s` and case folding are
/// ASCII's. Secrets, keys, card numbers and addresses are ASCII, and an ASCII word boundary
/// also redacts a secret glued to a non-ASCII letter (`émaria@example.org`), which a Unicode
/// one would not. It is also what keeps redaction fast: the lazy DFA that scans every string
/// cannot evaluate a Unicode `\b` on text with a single non-ASCII byte and hands the search to
/// a much slower engine, and model output is full of typographic quotes and dashes. Measured
/// (`cargo bench -p cairn-privacy --bench redact`, a realistic span whose strings end in
/// `— “done”`): 334 µs per span with Unicode boundaries, 5.1 µs with ASCII ones (4.8 µs for the
/// same spans in pure ASCII). The test `builtin_patterns_run_in_the_lazy_dfa_on_any_text` holds
/// this.
fn builtin(name: &str) -> Option<(&'static str, Check)> {
    Some(match name {
        "api_key" => (r"(?-u)\bsk-[A-Za-z0-9_-]{20,}", Check::None),
        "aws_key" => (r"(?-u)\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", Check::None),
        "jwt" => (
            r"(?-u)\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}",
            Check::None,
        ),
        "bearer" => (r"(?i-u)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}", Check::None),
        "card" => (r"(?-u)\b\d(?:[ -]?\d){12,18}\b", Check::Luhn),
        "email" => (
            r"(?i-u)\b[a-z0-9._%+-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b",
            Check::None,
        ),
        "phone" => (
            r"(?-u)(?:\+\d[\d .()-]{6,20}\d)|(?:\(\d{3}\) ?\d{3}-\d{4}\b)|(?:\b\d{3}-\d{3}-\d{4}\b)",
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
        let mut slow = Vec::new();
        for name in &config.builtins {
            let (pattern, check) =
                builtin(name).ok_or_else(|| ConfigError::UnknownBuiltin { name: name.clone() })?;
            rules.push(Rule::new(
                name,
                Regex::new(pattern).expect("built-in patterns compile"),
                check,
            ));
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
            if regex_automata::hybrid::regex::Regex::new(&custom.pattern).is_err() {
                slow.push(custom.name.clone());
            }
            rules.push(Rule::new(&custom.name, regex, Check::None));
        }
        let set = Candidates::new(&rules);
        Ok(Self {
            rules,
            set,
            slow,
            allow: KeyPatterns::new("privacy.redaction.allow", &config.allow)?,
            deny: KeyPatterns::new("privacy.redaction.deny", &config.deny)?,
        })
    }

    /// Names of the custom rules whose pattern the lazy DFA cannot run, almost always because of
    /// a Unicode word boundary (`\b`, the `regex` crate's default). All rules are searched in
    /// one combined pass, so one such rule sends that pass, for every rule, to a slower engine on
    /// any text holding a non-ASCII character: 65× slower per span in the redaction benchmark.
    /// `(?-u:\b)` is the fix. The collector logs a warning naming them at startup.
    pub fn slow_rules(&self) -> &[String] {
        &self.slow
    }

    /// Redacts one string; returns the new text when anything matched.
    pub fn redact_str(
        &self,
        text: &str,
        path: &str,
        report: &mut RedactionReport,
    ) -> Option<String> {
        self.redact(text, &Path::Fixed(path), report)
    }

    fn redact(&self, text: &str, path: &Path<'_>, report: &mut RedactionReport) -> Option<String> {
        let Some(set) = &self.set else {
            return self.redact_each(text, path, report);
        };
        // Invariant: `candidates` are the rules whose pattern matches the current text.
        let mut candidates = set.matching(text)?;
        let mut current: Option<String> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if !candidates.contains(PatternID::must(i)) {
                continue;
            }
            let input = current.as_deref().unwrap_or(text);
            if let Some((out, hits)) = rule.apply(input) {
                report.add(path, &rule.name, hits);
                let next = set.matching(&out);
                current = Some(out);
                match next {
                    Some(next) => candidates = next,
                    None => break,
                }
            }
        }
        current
    }

    /// Every rule in turn, without the set's pre-selection.
    fn redact_each(
        &self,
        text: &str,
        path: &Path<'_>,
        report: &mut RedactionReport,
    ) -> Option<String> {
        let mut current: Option<String> = None;
        for rule in &self.rules {
            let input = current.as_deref().unwrap_or(text);
            if let Some((out, hits)) = rule.apply(input) {
                report.add(path, &rule.name, hits);
                current = Some(out);
            }
        }
        current
    }

    fn value(&self, value: &mut AnyValue, path: &Path<'_>, report: &mut RedactionReport) {
        match value {
            AnyValue::String(s) => {
                if let Some(new) = self.redact(s, path, report) {
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

    fn attributes(&self, attrs: &mut [KeyValue], prefix: Prefix, report: &mut RedactionReport) {
        for kv in attrs {
            if kv.key == REDACTED_ATTRIBUTE
                || kv.key == crate::SUBJECT_KEY_ATTRIBUTE
                || self.allow.matches(&kv.key)
            {
                continue;
            }
            let path = Path::Attribute(prefix, &kv.key);
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
        self.attributes(&mut span.attributes, Prefix::Record, &mut report);
        for (i, event) in span.events.iter_mut().enumerate() {
            self.attributes(&mut event.attributes, Prefix::Event(i), &mut report);
        }
        for (i, link) in span.links.iter_mut().enumerate() {
            self.attributes(&mut link.attributes, Prefix::Link(i), &mut report);
        }
        self.attributes(&mut span.resource.attributes, Prefix::Resource, &mut report);
        let status = &Path::Fixed("status.message");
        if let Some(new) = self.redact(&span.status.message, status, &mut report) {
            span.status.message = new;
        }
        if let Some(new) = self.redact(&span.name, &Path::Fixed("name"), &mut report) {
            span.name = new;
        }
        mark(&mut span.attributes, &report);
        report
    }

    /// Redacts every string of a log record: body, attributes and resource attributes; then
    /// records `cairn.redacted` among its attributes.
    pub fn redact_log(&self, log: &mut LogRecord) -> RedactionReport {
        let mut report = RedactionReport::default();
        self.value(&mut log.body, &Path::Fixed("body"), &mut report);
        self.attributes(&mut log.attributes, Prefix::Record, &mut report);
        self.attributes(&mut log.resource.attributes, Prefix::Resource, &mut report);
        mark(&mut log.attributes, &report);
        report
    }
}

fn deny(value: &mut AnyValue, path: &Path<'_>, report: &mut RedactionReport) {
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

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use cairn_model::{Event, Link, Resource, Status};
    use proptest::prelude::*;

    use super::*;
    use crate::CustomRule;

    /// The implementation before the set pre-selection, kept verbatim as the reference: every rule
    /// in turn over the text the previous rules left.
    fn reference(
        redactor: &Redactor,
        text: &str,
        path: &str,
        report: &mut RedactionReport,
    ) -> Option<String> {
        let mut current: Option<String> = None;
        for rule in &redactor.rules {
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
                report.add(&path, &rule.name, hits);
                current = Some(out);
            }
        }
        current
    }

    /// The built-ins plus custom rules that interact with earlier replacements: one matches the
    /// replacement text itself, one only what is left around a replaced key, one can match empty.
    static REDACTORS: LazyLock<Vec<Redactor>> = LazyLock::new(redactors);

    fn redactors() -> Vec<Redactor> {
        let with_custom = RedactionConfig {
            rules: vec![
                CustomRule {
                    name: "marker".into(),
                    pattern: r"REDACTED:(?:api_key|email)\]".into(),
                },
                CustomRule {
                    name: "around".into(),
                    pattern: r"key=\[".into(),
                },
                CustomRule {
                    name: "maybe_empty".into(),
                    pattern: r"x*".into(),
                },
                CustomRule {
                    name: "emp".into(),
                    pattern: r"EMP-[0-9]{6}".into(),
                },
            ],
            ..RedactionConfig::default()
        };
        let mut without_set = Redactor::new(&with_custom).unwrap();
        without_set.set = None;
        vec![
            Redactor::new(&RedactionConfig::default()).unwrap(),
            Redactor::new(&with_custom).unwrap(),
            without_set,
        ]
    }

    const FRAGMENTS: &[&str] = &[
        "jane.doe@example.com",
        "a@b.co",
        "x@[",
        "4111 1111 1111 1111",
        "4111-1111-1111-1112",
        "1733500000123456789",
        "5555555555554444",
        "+44 20 7946 0958",
        "+1 (555) 123",
        "(555) 123-4567",
        "555-123-4567",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "sk-short",
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAIOSFODNN7EXAMPL",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dozjgNryP4J3jVmN",
        "Bearer abcdefgh12345",
        "bearer ",
        "key=",
        "EMP-123456",
        "[REDACTED:email]",
        "REDACTED:api_key]",
        "xx",
        "é",
        "٣٤٥",
        " ",
        "-",
        "@",
        ".",
    ];

    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            "[a-zA-Z0-9 @.+()_=-]{0,12}",
            "\\PC{0,6}",
        ];
        prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn same_output_and_report_as_the_reference(text in text()) {
            for redactor in REDACTORS.iter() {
                let mut old = RedactionReport::default();
                let mut new = RedactionReport::default();
                let expected = reference(redactor, &text, "a.b", &mut old);
                let got = redactor.redact_str(&text, "a.b", &mut new);
                prop_assert_eq!(&got, &expected, "text {:?}", text);
                prop_assert_eq!(&new, &old);
            }
        }
    }

    #[test]
    fn one_redactor_serves_every_thread() {
        fn shared<T: Send + Sync>(_: &T) {}
        let redactor = &REDACTORS[0];
        shared(redactor);
        std::thread::scope(|scope| {
            for t in 0..4 {
                scope.spawn(move || {
                    let mut report = RedactionReport::default();
                    let text = format!("thread {t}: a@b.co");
                    let got = redactor.redact_str(&text, "p", &mut report);
                    assert_eq!(got.unwrap(), format!("thread {t}: [REDACTED:email]"));
                    assert_eq!(report.fired, ["p:email"]);
                });
            }
        });
    }

    /// The lazy DFA refuses a Unicode word boundary (it could not evaluate it on non-ASCII
    /// text); every built-in pattern, and their union, must build in it and search non-ASCII
    /// text without giving up, so no string sends redaction to a slower engine.
    #[test]
    fn builtin_patterns_run_in_the_lazy_dfa_on_any_text() {
        use regex_automata::hybrid::regex::Regex as LazyDfa;
        assert!(
            LazyDfa::new(r"\bsk-").is_err(),
            "a Unicode word boundary builds in the lazy DFA; this test proves nothing"
        );
        let patterns: Vec<&str> = crate::BUILTIN_RULES
            .iter()
            .map(|name| builtin(name).expect("a built-in").0)
            .collect();
        let union = LazyDfa::new_many(&patterns).expect("built-in patterns build in the lazy DFA");
        let mut cache = union.create_cache();
        let text = "r\u{e9}sum\u{e9} \u{2014} \u{201c}done\u{201d}, write to maria@example.org";
        let found = union
            .try_search(&mut cache, &Input::new(text))
            .expect("the lazy DFA searched non-ASCII text to the end");
        assert_eq!(found.map(|m| &text[m.range()]), Some("maria@example.org"));
        // Glued to a non-ASCII letter, an address is still one (ASCII word boundaries).
        let redactor = Redactor::new(&RedactionConfig::default()).expect("default rules");
        let mut report = RedactionReport::default();
        assert_eq!(
            redactor.redact_str("\u{e9}maria@example.org", "x", &mut report),
            Some("\u{e9}[REDACTED:email]".to_owned())
        );
    }

    #[test]
    fn custom_rules_with_a_unicode_word_boundary_are_named_slow() {
        let rule = |name: &str, pattern: &str| crate::CustomRule {
            name: name.into(),
            pattern: pattern.into(),
        };
        let config = RedactionConfig {
            rules: vec![
                rule("unicode_b", r"\bEMP-[0-9]{6}\b"),
                rule("ascii_b", r"(?-u:\b)EMP-[0-9]{6}(?-u:\b)"),
                rule("plain", "EMP-[0-9]{6}"),
            ],
            ..RedactionConfig::default()
        };
        let redactor = Redactor::new(&config).expect("rules compile");
        assert_eq!(redactor.slow_rules(), ["unicode_b"]);
        assert!(
            Redactor::new(&RedactionConfig::default())
                .expect("default rules")
                .slow_rules()
                .is_empty()
        );
    }

    #[test]
    fn a_replacement_can_enable_a_later_rule() {
        let redactor = &REDACTORS[1];
        let mut report = RedactionReport::default();
        let text = "mail jane.doe@example.com key=sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz01";
        let got = redactor.redact_str(text, "m", &mut report).unwrap();
        // `marker` and `around` match nothing in the original text, only what replacements left.
        assert_eq!(
            got,
            "mail [[REDACTED:marker] [REDACTED:around][REDACTED:marker]"
        );
        assert_eq!(
            report.fired,
            ["m:api_key", "m:email", "m:marker", "m:around"]
        );
        let mut old = RedactionReport::default();
        assert_eq!(reference(redactor, text, "m", &mut old).unwrap(), got);
        assert_eq!(old, report);
    }

    #[test]
    fn paths_name_where_a_value_sits() {
        let redactor = Redactor::new(&RedactionConfig {
            deny: vec!["secret".into()],
            ..RedactionConfig::default()
        })
        .unwrap();
        let mail = || AnyValue::from("to a@b.co");
        let mut span = Span {
            name: "mail a@b.co".into(),
            status: Status {
                message: "a@b.co".into(),
                ..Status::default()
            },
            attributes: vec![KeyValue::new("top", mail()), KeyValue::new("secret", 7i64)],
            events: vec![
                Event::default(),
                Event {
                    attributes: vec![KeyValue::new("e", mail())],
                    ..Event::default()
                },
            ],
            links: vec![Link {
                attributes: vec![KeyValue::new("l", mail())],
                ..Link::default()
            }],
            resource: Resource {
                attributes: vec![KeyValue::new("r", mail())],
                ..Resource::default()
            },
            ..Span::default()
        };
        let report = redactor.redact_span(&mut span);
        assert_eq!(
            report.fired,
            [
                "top:email",
                "secret:deny",
                "events[1].e:email",
                "links[0].l:email",
                "resource.r:email",
                "status.message:email",
                "name:email",
            ]
        );
        assert_eq!(span.name, "mail [REDACTED:email]");
    }
}
