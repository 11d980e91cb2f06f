//! The archive's opaque page cursor: base64url of `v1|<creation time in µs>|<run id>`.
//! Clients must not build or parse it; the encoding may change.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use evalboard_domain::RunId;
use evalboard_persistence::RunCursor;

use crate::error::ApiError;

/// Encodes a cursor for a page's `nextCursor`.
pub(crate) fn encode(cursor: &RunCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "v1|{}|{}",
        cursor.created_at.timestamp_micros(),
        cursor.id
    ))
}

/// Decodes a `cursor` parameter; anything this server did not issue is a 400.
pub(crate) fn decode(text: &str) -> Result<RunCursor, ApiError> {
    let invalid = || ApiError::bad_parameter("cursor", "is not a cursor this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.split('|');
    let (Some("v1"), Some(micros), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    Ok(RunCursor {
        created_at: DateTime::from_timestamp_micros(micros)
            .filter(|t| crate::params::storable(*t))
            .ok_or_else(invalid)?,
        id: RunId::parse(id).map_err(|_| invalid())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_forgeries() {
        let cursor = RunCursor {
            created_at: DateTime::from_timestamp_micros(1_772_825_000_123_456).unwrap(),
            id: RunId::generate(),
        };
        assert_eq!(decode(&encode(&cursor)).unwrap(), cursor);
        let far_past = format!("v1|{}|{}", i64::MIN / 2, RunId::generate());
        for bad in [
            "",
            "%%%",
            "djF8MXwy",
            &URL_SAFE_NO_PAD.encode("v2|1|run-x"),
            &URL_SAFE_NO_PAD.encode(far_past),
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
