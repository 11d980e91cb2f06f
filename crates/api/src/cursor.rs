//! Opaque page cursors: base64url of `<kind>1|<field>|<field>...`. Clients must not build or
//! parse them; the encoding may change. A cursor of another kind, or one this server did not
//! issue, is a 400.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use evalboard_domain::RunId;
use evalboard_persistence::{ItemCursor, RunCursor};

use crate::error::ApiError;

fn encode(kind: &str, fields: &[String]) -> String {
    let mut text = format!("{kind}1");
    for field in fields {
        text.push('|');
        text.push_str(field);
    }
    URL_SAFE_NO_PAD.encode(text)
}

/// The fields of a cursor of `kind` with exactly `count` fields (the last may contain `|`).
fn decode(kind: &str, text: &str, count: usize) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::bad_parameter("cursor", "is not a cursor this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(count + 1, '|');
    if parts.next() != Some(&format!("{kind}1")) {
        return Err(invalid());
    }
    let fields: Vec<String> = parts.map(str::to_owned).collect();
    if fields.len() == count {
        Ok(fields)
    } else {
        Err(invalid())
    }
}

fn invalid() -> ApiError {
    ApiError::bad_parameter("cursor", "is not a cursor this server issued")
}

/// The archive's cursor: creation time (µs) and run id.
pub(crate) fn encode_run(cursor: &RunCursor) -> String {
    encode(
        "r",
        &[
            cursor.created_at.timestamp_micros().to_string(),
            cursor.id.to_string(),
        ],
    )
}

pub(crate) fn decode_run(text: &str) -> Result<RunCursor, ApiError> {
    let fields = decode("r", text, 2)?;
    let micros: i64 = fields[0].parse().map_err(|_| invalid())?;
    Ok(RunCursor {
        created_at: DateTime::from_timestamp_micros(micros)
            .filter(|t| crate::params::storable(*t))
            .ok_or_else(invalid)?,
        id: RunId::parse(&fields[1]).map_err(|_| invalid())?,
    })
}

/// A log page's cursor: the last entry's id.
pub(crate) fn encode_log(id: i64) -> String {
    encode("l", &[id.to_string()])
}

pub(crate) fn decode_log(text: &str) -> Result<i64, ApiError> {
    decode("l", text, 1)?[0].parse().map_err(|_| invalid())
}

/// An item page's cursor: the last item's sequence and group key.
pub(crate) fn encode_item(cursor: &ItemCursor) -> String {
    encode("i", &[cursor.sequence.to_string(), cursor.group.clone()])
}

pub(crate) fn decode_item(text: &str) -> Result<ItemCursor, ApiError> {
    let fields = decode("i", text, 2)?;
    let sequence: u32 = fields[0].parse().map_err(|_| invalid())?;
    let group = fields[1].clone();
    // Only what this server writes: sequences the database holds, names without control
    // characters (PostgreSQL refuses a NUL outright).
    if i32::try_from(sequence).is_err() || group.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(ItemCursor { sequence, group })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let run = RunCursor {
            created_at: DateTime::from_timestamp_micros(1_772_825_000_123_456).unwrap(),
            id: RunId::generate(),
        };
        assert_eq!(decode_run(&encode_run(&run)).unwrap(), run);
        assert_eq!(decode_log(&encode_log(77)).unwrap(), 77);
        let item = ItemCursor {
            group: "computer science|x".into(),
            sequence: 12,
        };
        assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
        let far_past = format!("r1|{}|{}", i64::MIN / 2, RunId::generate());
        for bad in [
            "",
            "%%%",
            "djF8MXwy",
            &URL_SAFE_NO_PAD.encode("v2|1|run-x"),
            &URL_SAFE_NO_PAD.encode(far_past),
            &encode_log(5),
        ] {
            assert!(decode_run(bad).is_err(), "{bad}");
        }
        assert!(
            decode_item(&encode_log(5)).is_err(),
            "a cursor of another kind"
        );
    }
}
