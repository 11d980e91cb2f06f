//! Opaque page cursors: base64url of `<kind>1|<field>|<field>...` followed by a tag, the first 16
//! bytes of an HMAC-SHA256 of that text under the installation's cursor key (kept in the
//! database, so every replica and every restart accepts what another issued). Clients must not
//! build or parse them; the encoding may change. A cursor of another kind, or one this
//! installation did not issue (forged, altered or truncated), is a 422: any text is a
//! well-formed cursor as far as the OpenAPI document can say.

use crate::{error::ApiError, signed::Sealer};
use chrono::DateTime;
use evalboard_domain::RunId;
use evalboard_persistence::{ItemCursor, RunCursor};

/// The name of the installation secret cursors are signed with.
pub(crate) const CURSOR_SECRET: &str = "page-cursor-hmac";

/// Issues and checks cursors with one key.
#[derive(Debug)]
pub(crate) struct Cursors {
    sealer: Sealer,
}

fn invalid() -> ApiError {
    ApiError::unprocessable_parameter("cursor", "is not a cursor this server issued")
}

impl Cursors {
    /// Cursors signed with `key`.
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self {
            sealer: Sealer::new(key),
        }
    }

    /// `text` sealed as a cursor of this installation would be (for the fuzz targets).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn seal(&self, text: &str) -> String {
        self.sealer.seal(text)
    }

    fn encode(&self, kind: &str, fields: &[String]) -> String {
        let mut text = format!("{kind}1");
        for field in fields {
            text.push('|');
            text.push_str(field);
        }
        self.sealer.seal(&text)
    }

    /// The fields of a cursor of `kind` with exactly `count` fields (the last may contain `|`),
    /// once its tag proves this installation issued it.
    fn decode(&self, kind: &str, cursor: &str, count: usize) -> Result<Vec<String>, ApiError> {
        let text = self.sealer.open(cursor).ok_or_else(invalid)?;
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

    /// The archive's cursor: creation time (µs) and run id.
    pub(crate) fn encode_run(&self, cursor: &RunCursor) -> String {
        self.encode(
            "r",
            &[
                cursor.created_at.timestamp_micros().to_string(),
                cursor.id.to_string(),
            ],
        )
    }

    pub(crate) fn decode_run(&self, text: &str) -> Result<RunCursor, ApiError> {
        let fields = self.decode("r", text, 2)?;
        let micros: i64 = fields[0].parse().map_err(|_| invalid())?;
        Ok(RunCursor {
            created_at: DateTime::from_timestamp_micros(micros)
                .filter(|t| crate::params::storable(*t))
                .ok_or_else(invalid)?,
            id: RunId::parse(&fields[1]).map_err(|_| invalid())?,
        })
    }

    /// A log page's cursor: the last entry's id.
    pub(crate) fn encode_log(&self, id: i64) -> String {
        self.encode("l", &[id.to_string()])
    }

    pub(crate) fn decode_log(&self, text: &str) -> Result<i64, ApiError> {
        self.decode("l", text, 1)?[0].parse().map_err(|_| invalid())
    }

    /// A page of flipped items' cursor: the baseline sequence of the last item.
    pub(crate) fn encode_flipped(&self, sequence: u32) -> String {
        self.encode("f", &[sequence.to_string()])
    }

    pub(crate) fn decode_flipped(&self, text: &str) -> Result<u32, ApiError> {
        self.decode("f", text, 1)?[0].parse().map_err(|_| invalid())
    }

    /// An item page's cursor: the last item's sequence and group key.
    pub(crate) fn encode_item(&self, cursor: &ItemCursor) -> String {
        self.encode("i", &[cursor.sequence.to_string(), cursor.group.clone()])
    }

    pub(crate) fn decode_item(&self, text: &str) -> Result<ItemCursor, ApiError> {
        let fields = self.decode("i", text, 2)?;
        let sequence: u32 = fields[0].parse().map_err(|_| invalid())?;
        let group = fields[1].clone();
        // Only what this server writes: sequences the database holds, names without control
        // characters (PostgreSQL refuses a NUL outright).
        if i32::try_from(sequence).is_err() || group.chars().any(char::is_control) {
            return Err(invalid());
        }
        Ok(ItemCursor { sequence, group })
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let cursors = Cursors::new([7; 32]);
        let run = RunCursor {
            created_at: DateTime::from_timestamp_micros(1_772_825_000_123_456).unwrap(),
            id: RunId::generate(),
        };
        let issued = cursors.encode_run(&run);
        assert_eq!(cursors.decode_run(&issued).unwrap(), run);
        assert_eq!(cursors.decode_log(&cursors.encode_log(77)).unwrap(), 77);
        let item = ItemCursor {
            group: "computer science|x".into(),
            sequence: 12,
        };
        assert_eq!(
            cursors.decode_item(&cursors.encode_item(&item)).unwrap(),
            item
        );

        // What an unsigned cursor of the right shape looked like: refused.
        let unsigned = URL_SAFE_NO_PAD.encode(format!("r1|1|{}", RunId::generate()));
        // The same fields under another installation's key: refused.
        let foreign = Cursors::new([8; 32]).encode_run(&run);
        // One byte of the fields changed, the tag kept.
        let mut altered = URL_SAFE_NO_PAD.decode(&issued).unwrap();
        altered[3] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(altered);
        let truncated = &issued[..issued.len() - 2];
        for bad in [
            "",
            "%%%",
            "djF8MXwy",
            &unsigned,
            &foreign,
            &altered,
            truncated,
            &cursors.encode_log(5),
        ] {
            assert!(cursors.decode_run(bad).is_err(), "{bad}");
        }
        assert!(
            cursors.decode_item(&cursors.encode_log(5)).is_err(),
            "a cursor of another kind"
        );
        let far_past = cursors.encode(
            "r",
            &[(i64::MIN / 2).to_string(), RunId::generate().to_string()],
        );
        assert!(
            cursors.decode_run(&far_past).is_err(),
            "signed, but no storable time"
        );
    }
}
