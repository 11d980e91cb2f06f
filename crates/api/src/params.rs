//! Parsing query parameters into typed values with 400s that name the parameter. Numbers arrive
//! as text so that `limit=abc` gets a useful message instead of a serde one.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
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

/// A time parameter: an RFC 3339 timestamp (any offset; converted to UTC), or a bare date
/// (`2026-03-06`) meaning its start in UTC — what "the runs of that day" means without a clock
/// time, and what a date picker gives.
pub(crate) fn timestamp(name: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    let Some(text) = value else {
        return Ok(None);
    };
    // RFC 3339 allows a space for the `T`; an unencoded `+` in a query string arrives as a
    // space too: read a space after the date and its separator as the offset sign it was,
    // when the text as sent is not a time.
    let signed = match (text.get(..11), text.get(11..)) {
        (Some(date), Some(rest)) => format!("{date}{}", rest.replace(' ', "+")),
        _ => text.replace(' ', "+"),
    };
    let time = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&signed))
        .map(|t| t.with_timezone(&Utc));
    let day = || {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
            .map(|day| day.and_time(NaiveTime::MIN).and_utc())
    };
    time.ok()
        .or_else(day)
        .map(evalboard_domain::truncate_to_micros)
        .map(within_storable_years)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_parameter(
                name,
                format!(
                    "must be an RFC 3339 timestamp such as 2026-03-06T19:43:11Z, or a date such \
                     as 2026-03-06 (its start in UTC), got `{}`",
                    shorten(text)
                ),
            )
        })
}

/// `t`, or the nearest time of the years a run can be created in (1 to 9999): as a bound of
/// creation times it selects the same runs (`createdFrom=0000-01-01T00:00:00Z`, which RFC 3339
/// allows, is every run).
fn within_storable_years(t: Timestamp) -> Timestamp {
    let first = NaiveDate::from_ymd_opt(1, 1, 1)
        .expect("a date")
        .and_time(NaiveTime::MIN);
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .expect("a date")
        .and_hms_micro_opt(23, 59, 59, 999_999)
        .expect("a time");
    t.clamp(first.and_utc(), last.and_utc())
}

/// The schema of a [`timestamp`] parameter, which says what it selects: a date-time or a
/// date. (A parameter whose schema is given this way gets no description of its own.)
pub(crate) fn timestamp_schema(
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let string = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    AnyOfBuilder::new()
        .description(Some(description))
        .item(string(KnownFormat::DateTime))
        .item(string(KnownFormat::Date))
        .into()
}

/// Whether `text` can be a name a parameter holds: 1 to `max` characters, none of them a
/// control character.
pub(crate) fn is_name(text: &str, max: usize) -> bool {
    !text.is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control)
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
