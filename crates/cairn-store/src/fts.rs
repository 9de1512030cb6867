//! Turning user search text into a safe FTS5 query.
//!
//! User text never reaches FTS5's query parser as syntax. It is split on whitespace and every
//! term becomes an FTS5 string token (`"..."`, with `"` doubled), so operators (`AND`, `NEAR`),
//! column filters (`col:`), parentheses and stray quotes are searched as plain words. Terms are
//! combined with FTS5's implicit AND. The one piece of syntax kept is a trailing `*` on a term,
//! which becomes a prefix query (`"weath"*`). Terms without a letter or digit (which the
//! `unicode61` tokenizer would reduce to nothing) are dropped.

/// What a search string asks of the full-text index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FtsQuery {
    /// Blank input: no full-text filter.
    Any,
    /// Input with no searchable term: matches nothing.
    Nothing,
    /// An FTS5 `MATCH` expression built only from quoted string tokens.
    Match(String),
}

/// Builds the FTS5 expression for user search text.
pub(crate) fn fts_query(input: &str) -> FtsQuery {
    if input.trim().is_empty() {
        return FtsQuery::Any;
    }
    let mut expr = String::new();
    for term in input.split_whitespace() {
        let (body, prefix) = match term.strip_suffix('*') {
            Some(body) => (body.trim_end_matches('*'), true),
            None => (term, false),
        };
        if !body.chars().any(char::is_alphanumeric) {
            continue;
        }
        if !expr.is_empty() {
            expr.push(' ');
        }
        expr.push('"');
        expr.push_str(&body.replace('"', "\"\""));
        expr.push('"');
        if prefix {
            expr.push('*');
        }
    }
    if expr.is_empty() {
        FtsQuery::Nothing
    } else {
        FtsQuery::Match(expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_quoted() {
        assert_eq!(fts_query("  "), FtsQuery::Any);
        assert_eq!(
            fts_query("foo\"bar AND"),
            FtsQuery::Match(r#""foo""bar" "AND""#.into())
        );
        assert_eq!(
            fts_query("weath* x**"),
            FtsQuery::Match(r#""weath"* "x"*"#.into())
        );
        assert_eq!(fts_query("\" * ( -"), FtsQuery::Nothing);
        assert_eq!(
            fts_query("col:val NEAR(a b)"),
            FtsQuery::Match(r#""col:val" "NEAR(a" "b)""#.into())
        );
    }
}
