//! Attribute-key patterns: exact keys or globs where `*` matches any run of characters.

use regex::RegexSet;

use crate::ConfigError;

/// A set of key patterns, compiled once into one `RegexSet` (each glob is escaped, `*` becomes
/// `.*`, anchored at both ends).
#[derive(Debug, Clone)]
pub(crate) struct KeyPatterns {
    set: Option<RegexSet>,
}

impl KeyPatterns {
    pub(crate) fn new(field: &str, patterns: &[String]) -> Result<Self, ConfigError> {
        if patterns.is_empty() {
            return Ok(Self { set: None });
        }
        let regexes: Vec<String> = patterns
            .iter()
            .map(|p| {
                let parts: Vec<String> = p.split('*').map(regex::escape).collect();
                format!("^{}$", parts.join(".*"))
            })
            .collect();
        let set = RegexSet::new(&regexes).map_err(|e| ConfigError::Pattern {
            field: field.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self { set: Some(set) })
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        self.set.as_ref().is_some_and(|set| set.is_match(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_glob_keys() {
        let p = KeyPatterns::new(
            "x",
            &[
                "gen_ai.prompt*".to_owned(),
                "user.id".to_owned(),
                "a.*.b".to_owned(),
            ],
        )
        .unwrap();
        assert!(p.matches("gen_ai.prompt"));
        assert!(p.matches("gen_ai.prompt.0.content"));
        assert!(p.matches("user.id"));
        assert!(!p.matches("user_id"), "the dot is literal");
        assert!(!p.matches("xuser.id"));
        assert!(p.matches("a.x.y.b"));
        assert!(!KeyPatterns::new("x", &[]).unwrap().matches("anything"));
    }
}
