//! Parsing query parameters into typed values with 400s that name the parameter. Numbers arrive
//! as text so that `limit=abc` gets a useful message instead of a serde one.

use chrono::{DateTime, Datelike, Utc};
use evalboard_domain::Timestamp;

use crate::error::ApiError;

/// The query of an endpoint that takes no parameter: one given (`GET /datasets?name=quiz`, as
/// if it filtered) is a 400 naming it, not silently ignored.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParameters {}

/// An integer parameter within `min..=max`, or `default` when absent.
pub(crate) fn bounded_int(
    name: &str,
    value: Option<&str>,
    min: u32,
    max: u32,
    default: u32,
) -> Result<u32, ApiError> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::bad_parameter(
                name,
                format!(
                    "must be an integer from {min} to {max}, got `{}`",
                    shorten(text)
                ),
            )
        })
}

/// An RFC 3339 timestamp parameter (any offset; converted to UTC).
pub(crate) fn timestamp(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    let Some(text) = value else {
        return Ok(None);
    };
    // An unencoded `+` in a query string arrives as a space; read it as the offset sign it was.
    let normalized = text.replace(' ', "+");
    DateTime::parse_from_rfc3339(&normalized)
        .ok()
        .map(|t| evalboard_domain::truncate_to_micros(t.with_timezone(&Utc)))
        .filter(|t| storable(*t))
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                name,
                format!(
                    "must be an RFC 3339 timestamp such as 2026-03-06T19:43:11Z, got `{}`",
                    shorten(text)
                ),
            )
        })
}

/// A non-empty text filter of bounded length, without control characters (no name has them,
/// and PostgreSQL cannot compare a NUL).
pub(crate) fn text(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > 200 => Err(ApiError::bad_parameter(
            name,
            "must be 1 to 200 characters long",
        )),
        Some(v) if v.chars().any(char::is_control) => Err(ApiError::bad_parameter(
            name,
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

/// Whether an instant is one both databases store: years 1 to 9999.
pub(crate) fn storable(t: Timestamp) -> bool {
    (1..=9999).contains(&t.year())
}

/// Cuts user input quoted back in messages to a readable length.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}
