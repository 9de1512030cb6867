//! The `[privacy]` configuration section (embedded in the collector's configuration).
//!
//! ```toml
//! [privacy]
//! # master_key_file = "/etc/cairn/master.key"   # or env CAIRN_MASTER_KEY; none: no encryption
//!
//! [privacy.redaction]
//! enabled = true
//! builtins = ["api_key", "aws_key", "jwt", "bearer", "card", "email", "phone"]
//! allow = []                  # attribute keys (exact or `*` glob) never redacted
//! deny = []                   # attribute keys whose value is always dropped
//! # [[privacy.redaction.rules]]
//! # name = "employee_id"
//! # pattern = "EMP-[0-9]{6}"
//!
//! [privacy.encryption]
//! attributes = ["gen_ai.input.messages", …]   # content attributes encrypted per subject
//! subject_attributes = ["user.id", "enduser.id", "gen_ai.conversation.id", "session.id"]
//! log_body = true
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The built-in detectors, in the order they run (secrets before the broader patterns, so a
/// bearer JWT is reported as `jwt`, not as digits of a card).
pub const BUILTIN_RULES: &[&str] = &[
    "api_key", "aws_key", "jwt", "bearer", "card", "email", "phone",
];

/// Content attributes encrypted by default (`*` matches any run of characters).
pub const DEFAULT_CONTENT_ATTRIBUTES: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt*",
    "gen_ai.completion*",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "cairn.reasoning.content",
    "cairn.reasoning.summary",
    "input.value",
    "output.value",
    "user.id",
    "enduser.id",
];

/// Attributes whose value names the data subject, in order of preference.
pub const DEFAULT_SUBJECT_ATTRIBUTES: &[&str] = &[
    "user.id",
    "enduser.id",
    "gen_ai.conversation.id",
    "session.id",
];

/// `[privacy]`: redaction and crypto-shredding.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// File holding the base64 32-byte master key (`cairn privacy init-master-key FILE`). The
    /// environment variable `CAIRN_MASTER_KEY` (base64) is used when no file is configured.
    /// Without either, content is not encrypted and erasure is unavailable.
    pub master_key_file: Option<PathBuf>,
    /// `[privacy.redaction]`.
    pub redaction: RedactionConfig,
    /// `[privacy.encryption]`.
    pub encryption: EncryptionConfig,
}

/// `[privacy.redaction]`: detectors applied to every string value at ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Redaction on or off (on by default).
    pub enabled: bool,
    /// Built-in detectors to run (names from [`BUILTIN_RULES`]); all by default.
    pub builtins: Vec<String>,
    /// Custom named regular expressions (`regex` crate syntax), run after the built-ins.
    pub rules: Vec<CustomRule>,
    /// Attribute keys (exact, or a glob with `*`) whose values are never redacted.
    pub allow: Vec<String>,
    /// Attribute keys (exact, or a glob with `*`) whose values are always replaced by
    /// `[REDACTED:deny]`.
    pub deny: Vec<String>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            builtins: BUILTIN_RULES.iter().map(|s| (*s).to_owned()).collect(),
            rules: Vec::new(),
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// One custom redaction rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// The rule name, shown in `[REDACTED:<name>]` and in `cairn.redacted`.
    pub name: String,
    /// The regular expression.
    pub pattern: String,
}

/// `[privacy.encryption]`: which attributes are crypto-shredded and whose key encrypts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Content attribute keys (exact, or a glob with `*`), on spans, span events and log records.
    pub attributes: Vec<String>,
    /// Attributes naming the data subject, first present wins (span or log attributes, then
    /// resource attributes). A record without any is stored unencrypted.
    pub subject_attributes: Vec<String>,
    /// Also encrypt the body of log records that have a subject.
    pub log_body: bool,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            attributes: DEFAULT_CONTENT_ATTRIBUTES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            subject_attributes: DEFAULT_SUBJECT_ATTRIBUTES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            log_body: true,
        }
    }
}
