//! Rendering the registry, and choosing the format from the scraper's `Accept` header.
//!
//! Both formats come from prometheus-client: [`Format::Text`] is the Prometheus text format 0.0.4
//! (`# TYPE x_total counter`, no `# EOF`), [`Format::OpenMetrics`] is OpenMetrics 1.0 text
//! (`# TYPE x counter`, `# UNIT`, `# EOF`). Serving the real 0.0.4 format by default — rather than
//! OpenMetrics under a text content type — keeps `promtool check metrics`, `curl` and older
//! scrapers happy; Prometheus itself asks for OpenMetrics first and gets it.

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text format.
    OpenMetrics,
}

/// Content type of [`Format::Text`].
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of [`Format::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => TEXT_CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// Picks the format for an `Accept` header (RFC 9110 content negotiation, simplified):
/// OpenMetrics when `application/openmetrics-text` (version absent, `1.0.0` or `0.0.1`) has a
/// quality strictly above every range that matches the text format (`text/plain`, `text/*`,
/// `*/*`); otherwise (also for a missing or unparsable header) the text format.
///
/// Prometheus' default header
/// `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1`
/// selects OpenMetrics; `curl`'s `*/*` selects text.
pub fn content_type_for(accept_header: &str) -> (&'static str, Format) {
    let mut openmetrics_q = 0.0_f64;
    let mut text_q = 0.0_f64;
    for range in accept_header.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1.0_f64;
        let mut version: Option<String> = None;
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => {
                    q = value
                        .parse()
                        .ok()
                        .filter(|q: &f64| q.is_finite())
                        .unwrap_or(0.0)
                }
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        let q = q.clamp(0.0, 1.0);
        match media.as_str() {
            "application/openmetrics-text"
                if version
                    .as_deref()
                    .is_none_or(|v| v == "1.0.0" || v == "0.0.1") =>
            {
                openmetrics_q = openmetrics_q.max(q);
            }
            "text/plain" if version.as_deref().is_none_or(|v| v == "0.0.4") => {
                text_q = text_q.max(q);
            }
            "text/*" | "*/*" => text_q = text_q.max(q),
            _ => {}
        }
    }
    let format = if openmetrics_q > 0.0 && openmetrics_q > text_q {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    (format.content_type(), format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_and_curl_gets_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(content_type_for(prometheus).1, Format::OpenMetrics);
        assert_eq!(content_type_for(prometheus).0, OPENMETRICS_CONTENT_TYPE);
        assert_eq!(content_type_for("*/*").1, Format::Text);
        assert_eq!(content_type_for("").1, Format::Text);
        assert_eq!(content_type_for("text/plain;version=0.0.4").1, Format::Text);
        assert_eq!(
            content_type_for("text/plain;q=0.9, application/openmetrics-text").1,
            Format::OpenMetrics
        );
        assert_eq!(
            content_type_for("application/openmetrics-text;q=0.5, text/plain").1,
            Format::Text
        );
        assert_eq!(
            content_type_for("application/openmetrics-text;version=2.0.0").1,
            Format::Text
        );
        assert_eq!(
            content_type_for("application/openmetrics-text;q=0").1,
            Format::Text
        );
        assert_eq!(content_type_for("garbage;;;=,").1, Format::Text);
    }
}
