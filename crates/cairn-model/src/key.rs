//! Attribute keys: a string that costs no allocation when it is a well-known key.
//!
//! Agents send the same few dozen keys on every span (`gen_ai.operation.name`,
//! `gen_ai.usage.input_tokens`, `service.name`, …). Decoding a ledger record allocated a `String`
//! for each of them and dropping the record freed it again: 14% of the decode in the codec
//! benchmark. A [`Key`] holding one of the [`well_known`] keys borrows a `'static` string
//! instead; any other key is owned.
//!
//! Invariants:
//! - A `Key` is its text: equality, ordering, hashing, `Debug`, `Display` and serde all see the
//!   string alone, never whether it is borrowed or owned, so interning changes no output.
//! - Every constructor interns (a key built from a `String` that spells a well-known key drops
//!   the `String`), so two equal keys are equal however they were made.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An attribute key (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key(Cow<'static, str>);

impl Key {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's text, owned.
    pub fn into_string(self) -> String {
        self.0.into_owned()
    }
}

/// The `'static` copy of `key` when it is one of the keys agents send on nearly every span:
/// OpenTelemetry's GenAI, error, exception and service conventions and Cairn's own `cairn.*`
/// keys.
pub fn well_known(key: &str) -> Option<&'static str> {
    // A `match` on strings compiles to a comparison of lengths, then of bytes: cheaper than
    // hashing the key for a set lookup.
    let known = match key {
        "gen_ai.operation.name" => "gen_ai.operation.name",
        "gen_ai.provider.name" => "gen_ai.provider.name",
        "gen_ai.system" => "gen_ai.system",
        "gen_ai.request.model" => "gen_ai.request.model",
        "gen_ai.request.max_tokens" => "gen_ai.request.max_tokens",
        "gen_ai.request.temperature" => "gen_ai.request.temperature",
        "gen_ai.request.top_p" => "gen_ai.request.top_p",
        "gen_ai.request.top_k" => "gen_ai.request.top_k",
        "gen_ai.request.seed" => "gen_ai.request.seed",
        "gen_ai.request.stop_sequences" => "gen_ai.request.stop_sequences",
        "gen_ai.request.frequency_penalty" => "gen_ai.request.frequency_penalty",
        "gen_ai.request.presence_penalty" => "gen_ai.request.presence_penalty",
        "gen_ai.request.choice.count" => "gen_ai.request.choice.count",
        "gen_ai.request.encoding_formats" => "gen_ai.request.encoding_formats",
        "gen_ai.response.model" => "gen_ai.response.model",
        "gen_ai.response.id" => "gen_ai.response.id",
        "gen_ai.response.finish_reasons" => "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens" => "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens" => "gen_ai.usage.output_tokens",
        "gen_ai.usage.prompt_tokens" => "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens" => "gen_ai.usage.completion_tokens",
        "gen_ai.token.type" => "gen_ai.token.type",
        "gen_ai.output.type" => "gen_ai.output.type",
        "gen_ai.input.messages" => "gen_ai.input.messages",
        "gen_ai.output.messages" => "gen_ai.output.messages",
        "gen_ai.system_instructions" => "gen_ai.system_instructions",
        "gen_ai.conversation.id" => "gen_ai.conversation.id",
        "gen_ai.data_source.id" => "gen_ai.data_source.id",
        "gen_ai.agent.id" => "gen_ai.agent.id",
        "gen_ai.agent.name" => "gen_ai.agent.name",
        "gen_ai.agent.description" => "gen_ai.agent.description",
        "gen_ai.tool.name" => "gen_ai.tool.name",
        "gen_ai.tool.type" => "gen_ai.tool.type",
        "gen_ai.tool.description" => "gen_ai.tool.description",
        "gen_ai.tool.call.id" => "gen_ai.tool.call.id",
        "gen_ai.tool.call.arguments" => "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result" => "gen_ai.tool.call.result",
        "gen_ai.tool.definitions" => "gen_ai.tool.definitions",
        "gen_ai.prompt" => "gen_ai.prompt",
        "gen_ai.completion" => "gen_ai.completion",
        "error.type" => "error.type",
        "exception.type" => "exception.type",
        "exception.message" => "exception.message",
        "exception.stacktrace" => "exception.stacktrace",
        "exception.escaped" => "exception.escaped",
        "server.address" => "server.address",
        "server.port" => "server.port",
        "service.name" => "service.name",
        "service.version" => "service.version",
        "service.namespace" => "service.namespace",
        "service.instance.id" => "service.instance.id",
        "deployment.environment" => "deployment.environment",
        "deployment.environment.name" => "deployment.environment.name",
        "telemetry.sdk.name" => "telemetry.sdk.name",
        "telemetry.sdk.language" => "telemetry.sdk.language",
        "telemetry.sdk.version" => "telemetry.sdk.version",
        "host.name" => "host.name",
        "process.pid" => "process.pid",
        "process.runtime.name" => "process.runtime.name",
        "process.runtime.version" => "process.runtime.version",
        "user.id" => "user.id",
        "session.id" => "session.id",
        "cairn.kind" => "cairn.kind",
        "cairn.project" => "cairn.project",
        "cairn.reasoning.step" => "cairn.reasoning.step",
        "cairn.reasoning.content" => "cairn.reasoning.content",
        "cairn.decision.name" => "cairn.decision.name",
        "cairn.decision.options" => "cairn.decision.options",
        "cairn.decision.chosen" => "cairn.decision.chosen",
        "cairn.decision.confidence" => "cairn.decision.confidence",
        "cairn.decision.rationale" => "cairn.decision.rationale",
        _ => return None,
    };
    Some(known)
}

impl From<String> for Key {
    fn from(key: String) -> Self {
        match well_known(&key) {
            Some(known) => Self(Cow::Borrowed(known)),
            None => Self(Cow::Owned(key)),
        }
    }
}

impl From<&str> for Key {
    fn from(key: &str) -> Self {
        match well_known(key) {
            Some(known) => Self(Cow::Borrowed(known)),
            None => Self(Cow::Owned(key.to_owned())),
        }
    }
}

impl From<&String> for Key {
    fn from(key: &String) -> Self {
        Self::from(key.as_str())
    }
}

impl From<Key> for String {
    fn from(key: Key) -> Self {
        key.into_string()
    }
}

impl Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Key {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Key> for str {
    fn eq(&self, other: &Key) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Key> for &str {
    fn eq(&self, other: &Key) -> bool {
        **self == *other.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn is_borrowed(key: &Key) -> bool {
        matches!(key.0, Cow::Borrowed(_))
    }

    fn hash(value: impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn well_known_keys_are_borrowed_and_others_owned() {
        for key in [
            Key::from("gen_ai.usage.input_tokens"),
            Key::from("gen_ai.usage.input_tokens".to_owned()),
        ] {
            assert!(is_borrowed(&key));
            assert_eq!(key, "gen_ai.usage.input_tokens");
        }
        let own = Key::from("my.app.key".to_owned());
        assert!(!is_borrowed(&own));
        assert_eq!(own.as_str(), "my.app.key");
        // Close to a known key is not the known key.
        assert!(!is_borrowed(&Key::from("gen_ai.usage.input_token")));
        assert!(!is_borrowed(&Key::from("Gen_ai.usage.input_tokens")));
    }

    #[test]
    fn a_key_is_its_text_for_comparison_hashing_and_output() {
        let borrowed = Key::from("service.name");
        let owned = Key(Cow::Owned("service.name".to_owned()));
        assert_eq!(borrowed, owned);
        assert_eq!(hash(&borrowed), hash(&owned));
        assert_eq!(hash(&borrowed), hash("service.name"));
        assert_eq!(format!("{borrowed:?}"), format!("{:?}", "service.name"));
        assert_eq!(borrowed.to_string(), "service.name");
        assert_eq!(
            serde_json::to_string(&owned).expect("serializes"),
            r#""service.name""#
        );
        let back: Key = serde_json::from_str(r#""service.name""#).expect("deserializes");
        assert!(is_borrowed(&back));
        let mut keys = [Key::from("service.name"), Key::from("a.custom.key")];
        keys.sort();
        assert_eq!(keys.map(Key::into_string), ["a.custom.key", "service.name"]);
    }

    #[test]
    fn every_well_known_key_maps_to_itself() {
        // Each arm returns its own spelling (a typo in one half of an arm would intern a key as
        // another).
        let source = include_str!("key.rs");
        let mut arms = 0;
        for line in source.lines() {
            let line = line.trim();
            let Some((lhs, rhs)) = line.split_once(" => ") else {
                continue;
            };
            let (Some(lhs), Some(rhs)) = (
                lhs.strip_prefix('"').and_then(|s| s.strip_suffix('"')),
                rhs.strip_prefix('"').and_then(|s| s.strip_suffix("\",")),
            ) else {
                continue;
            };
            assert_eq!(lhs, rhs);
            assert_eq!(well_known(lhs), Some(lhs));
            arms += 1;
        }
        assert!(arms > 50, "{arms} arms found");
    }
}
