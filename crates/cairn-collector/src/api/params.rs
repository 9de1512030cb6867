//! Query-string parsing for the API: strict (unknown or repeated parameters are a 400), typed, and
//! with the time formats `since`/`until` accept.
//!
//! Times: RFC 3339 (`2025-01-31T12:00:00Z`, `2025-01-31T12:00:00.5+02:00`) or a duration before now
//! in humantime syntax (`90s`, `15m`, `1h`, `2days`, `1h 30m`). Results are unix nanoseconds.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::Query;
use axum::http::Uri;

use super::error::ApiError;

/// Longest accepted query string; longer ones are answered 413.
pub(crate) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// A request's query parameters, checked against the names an endpoint accepts.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub(crate) fn parse(uri: &Uri, allowed: &[&str]) -> Result<Self, ApiError> {
        let raw = uri.query().unwrap_or_default();
        if raw.len() > MAX_QUERY_BYTES {
            return Err(ApiError::too_large(format!(
                "query string is {} bytes; the limit is {MAX_QUERY_BYTES}",
                raw.len()
            )));
        }
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        let mut map = HashMap::new();
        for (key, value) in pairs {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {key:?}; accepted: {}",
                    allowed.join(", ")
                )));
            }
            if map.insert(key.clone(), value).is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter {key:?} given more than once"
                )));
            }
        }
        Ok(Self(map))
    }

    /// The value, `None` when absent or empty.
    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }

    pub(crate) fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        self.string(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter {key:?} must be a non-negative integer, got {v:?}"
                    ))
                })
            })
            .transpose()
    }

    /// A value parsed with `FromStr`; the error names the parameter and what it accepts.
    pub(crate) fn parsed<T>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        self.string(key)
            .map(|v| {
                v.parse().map_err(|e| {
                    ApiError::bad_request(format!("query parameter {key:?}: {e}, got {v:?}"))
                })
            })
            .transpose()
    }

    pub(crate) fn time(&self, key: &str, now: SystemTime) -> Result<Option<u64>, ApiError> {
        self.string(key)
            .map(|v| {
                parse_time(&v, now)
                    .map_err(|e| ApiError::bad_request(format!("query parameter {key:?}: {e}")))
            })
            .transpose()
    }
}

/// Parses an RFC 3339 timestamp or a relative duration (before `now`) into unix nanoseconds.
pub(crate) fn parse_time(text: &str, now: SystemTime) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(ago) = humantime::parse_duration(text) {
        let at = now.checked_sub(ago).unwrap_or(UNIX_EPOCH);
        return Ok(unix_nanos(at));
    }
    parse_rfc3339(text).map(unix_nanos).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time (2025-01-31T12:00:00Z) nor a duration (1h)")
    })
}

/// RFC 3339 with `Z` or a numeric offset. humantime parses the date-time but not offsets, so the
/// offset (`±HH:MM`) is split off and applied here; pulling in a calendar crate for that alone is
/// not worth it.
fn parse_rfc3339(text: &str) -> Result<SystemTime, ()> {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let has_offset =
        n > 6 && matches!(bytes[n - 6], b'+' | b'-') && bytes[n - 3] == b':' && text.contains('T');
    if !has_offset {
        return humantime::parse_rfc3339_weak(text).map_err(|_| ());
    }
    let (local, offset) = text.split_at(n - 6);
    let hours: u64 = offset[1..3].parse().map_err(|_| ())?;
    let minutes: u64 = offset[4..6].parse().map_err(|_| ())?;
    if hours > 23 || minutes > 59 {
        return Err(());
    }
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    let local = humantime::parse_rfc3339_weak(local).map_err(|_| ())?;
    // Local time = UTC + offset, so UTC = local - offset.
    if offset.starts_with('+') {
        local.checked_sub(shift).ok_or(())
    } else {
        local.checked_add(shift).ok_or(())
    }
}

fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn rfc3339_with_z_and_offsets() {
        let now = SystemTime::now();
        let z = parse_time("2025-01-31T12:00:00Z", now).unwrap();
        assert_eq!(z, 1_738_324_800 * SEC);
        assert_eq!(parse_time("2025-01-31T14:00:00+02:00", now).unwrap(), z);
        assert_eq!(parse_time("2025-01-31T07:30:00-04:30", now).unwrap(), z);
        assert_eq!(
            parse_time("2025-01-31T12:00:00.25Z", now).unwrap(),
            z + SEC / 4
        );
    }

    #[test]
    fn relative_durations_count_back_from_now() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_time("1h", now).unwrap(), (10_000 - 3600) * SEC);
        assert_eq!(parse_time("90s", now).unwrap(), (10_000 - 90) * SEC);
        assert_eq!(
            parse_time("100days", now).unwrap(),
            0,
            "clamped at the epoch"
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_formats() {
        let err = parse_time("yesterday", SystemTime::now()).unwrap_err();
        assert!(
            err.contains("RFC 3339") && err.contains("duration"),
            "{err}"
        );
        assert!(parse_time("2025-01-31T12:00:00+25:00", SystemTime::now()).is_err());
    }

    #[test]
    fn params_are_strict() {
        let uri: Uri = "/x?limit=5&agent=planner".parse().unwrap();
        let p = Params::parse(&uri, &["limit", "agent"]).unwrap();
        assert_eq!(p.number::<u32>("limit").unwrap(), Some(5));
        assert_eq!(p.string("agent").as_deref(), Some("planner"));

        let uri: Uri = "/x?limt=5".parse().unwrap();
        let err = Params::parse(&uri, &["limit"]).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert!(err.message.contains("limt"));

        let uri: Uri = "/x?limit=5&limit=6".parse().unwrap();
        assert_eq!(
            Params::parse(&uri, &["limit"]).unwrap_err().status.as_u16(),
            400
        );

        let uri: Uri = "/x?limit=-1".parse().unwrap();
        let p = Params::parse(&uri, &["limit"]).unwrap();
        assert!(p.number::<u32>("limit").is_err());

        let long = format!("/x?q={}", "a".repeat(MAX_QUERY_BYTES));
        let uri: Uri = long.parse().unwrap();
        assert_eq!(
            Params::parse(&uri, &["q"]).unwrap_err().status.as_u16(),
            413
        );
    }
}
