//! Opaque page cursors: base64url of `<kind>1|<field>|<field>...` followed by a tag, the first 16
//! bytes of an HMAC-SHA256 of that text under the installation's cursor key (kept in the
//! database, so every replica and every restart accepts what another issued). Clients must not
//! build or parse them; the encoding may change. A cursor of another kind, or one this
//! installation did not issue (forged, altered or truncated), is a 422: any non-empty text is a
//! well-formed cursor as far as the OpenAPI document can say (an empty one is a 400).
//!
//! The tag also covers the cursor's *scope*: what the listing it pages is (the run, the
//! grouping and filters of its items; the runs compared; the archive's filters). A cursor sent
//! with another run or other filters would start a page at a position of another listing,
//! silently skipping or repeating items, so it is a 422 as well. The scope is not in the
//! cursor: each handler states it from its request.

use crate::{error::ApiError, signed::Sealer};
use chrono::DateTime;
use evalboard_domain::RunId;
use evalboard_persistence::{ItemCursor, LogCursor, LogPosition, RunCursor, RunOrder};

/// The name of the installation secret cursors are signed with.
pub(crate) const CURSOR_SECRET: &str = "page-cursor-hmac";

/// Issues and checks cursors with one key.
#[derive(Debug)]
pub(crate) struct Cursors {
    sealer: Sealer,
}

fn invalid() -> ApiError {
    ApiError::unprocessable_parameter(
        "cursor",
        "is not a cursor this server issued for this listing (a cursor continues only the \
         listing of the page that gave it: the same run, filters, grouping and order) — or one \
         an earlier version issued before an upgrade: start the listing again from its first \
         page",
    )
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
    pub(crate) fn seal(&self, scope: &str, text: &str) -> String {
        self.sealer.seal_in(scope, text)
    }

    fn encode(&self, scope: &str, kind: &str, fields: &[String]) -> String {
        let mut text = format!("{kind}1");
        for field in fields {
            text.push('|');
            text.push_str(field);
        }
        self.sealer.seal_in(scope, &text)
    }

    /// The fields of a cursor of `kind` with exactly `count` fields (the last may contain `|`),
    /// once its tag proves this installation issued it for `scope`.
    fn decode(
        &self,
        scope: &str,
        kind: &str,
        cursor: &str,
        count: usize,
    ) -> Result<Vec<String>, ApiError> {
        // Out of the parameter's documented range (`minLength` 1): malformed, not a cursor
        // this server did not issue.
        if cursor.is_empty() {
            return Err(ApiError::bad_parameter(
                "cursor",
                "must not be empty: leave it out for the first page",
            ));
        }
        let text = self.sealer.open_in(scope, cursor).ok_or_else(invalid)?;
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

    /// The archive's cursor: creation time (µs) and run id, after the last run's accuracy
    /// key in an order by accuracy (a cursor of its own kind).
    pub(crate) fn encode_run(&self, scope: &str, cursor: &RunCursor) -> String {
        let created = cursor.created_at.timestamp_micros().to_string();
        match cursor.key {
            None => self.encode(scope, "r", &[created, cursor.id.to_string()]),
            // `Display` writes the shortest text that reads back as the same `f64`.
            Some(key) => self.encode(
                scope,
                "a",
                &[key.to_string(), created, cursor.id.to_string()],
            ),
        }
    }

    /// A cursor of the archive in `order`.
    pub(crate) fn decode_run(
        &self,
        scope: &str,
        order: RunOrder,
        text: &str,
    ) -> Result<RunCursor, ApiError> {
        let keyed = order.is_by_accuracy();
        let mut fields = if keyed {
            self.decode(scope, "a", text, 3)?
        } else {
            self.decode(scope, "r", text, 2)?
        };
        let key = if keyed {
            let key: f64 = fields.remove(0).parse().map_err(|_| invalid())?;
            Some(key.is_finite().then_some(key).ok_or_else(invalid)?)
        } else {
            None
        };
        let micros: i64 = fields[0].parse().map_err(|_| invalid())?;
        Ok(RunCursor {
            key,
            created_at: DateTime::from_timestamp_micros(micros)
                .filter(|t| crate::params::storable(*t))
                .ok_or_else(invalid)?,
            id: RunId::parse(&fields[1]).map_err(|_| invalid())?,
        })
    }

    /// A log page's cursor: the position every entry up to which was read (its commit, then
    /// its id) and the entries after it read already (`commit.id`, comma-separated). A cursor
    /// of the id alone (before 2026-12-05) is refused.
    pub(crate) fn encode_log(&self, scope: &str, cursor: &LogCursor) -> String {
        let seen: Vec<String> = cursor
            .seen
            .iter()
            .map(|p| format!("{}.{}", p.commit, p.id))
            .collect();
        self.encode(
            scope,
            "l",
            &[
                cursor.after.commit.to_string(),
                cursor.after.id.to_string(),
                seen.join(","),
            ],
        )
    }

    pub(crate) fn decode_log(&self, scope: &str, text: &str) -> Result<LogCursor, ApiError> {
        let fields = self.decode(scope, "l", text, 3)?;
        let number = |text: &str| text.parse::<i64>().map_err(|_| invalid());
        let seen = if fields[2].is_empty() {
            Vec::new()
        } else {
            fields[2]
                .split(',')
                .map(|pair| {
                    let (commit, id) = pair.split_once('.').ok_or_else(invalid)?;
                    Ok(LogPosition {
                        commit: number(commit)?,
                        id: number(id)?,
                    })
                })
                .collect::<Result<_, ApiError>>()?
        };
        Ok(LogCursor {
            after: LogPosition {
                commit: number(&fields[0])?,
                id: number(&fields[1])?,
            },
            seen,
        })
    }

    /// A newest-first log page's cursor: the position of the last entry read, before which the
    /// next page begins (another kind than an oldest-first page's: neither continues the other).
    pub(crate) fn encode_log_before(&self, scope: &str, before: LogPosition) -> String {
        self.encode(
            scope,
            "n",
            &[before.commit.to_string(), before.id.to_string()],
        )
    }

    /// The position a newest-first log page's cursor names, once its tag proves this
    /// installation issued it for `scope` (an oldest-first page's cursor is refused).
    pub(crate) fn decode_log_before(
        &self,
        scope: &str,
        text: &str,
    ) -> Result<LogPosition, ApiError> {
        let fields = self.decode(scope, "n", text, 2)?;
        let number = |text: &str| text.parse::<i64>().map_err(|_| invalid());
        Ok(LogPosition {
            commit: number(&fields[0])?,
            id: number(&fields[1])?,
        })
    }

    /// A page of flipped items' cursor: the baseline sequence of the last item.
    pub(crate) fn encode_flipped(&self, scope: &str, sequence: u32) -> String {
        self.encode(scope, "f", &[sequence.to_string()])
    }

    pub(crate) fn decode_flipped(&self, scope: &str, text: &str) -> Result<u32, ApiError> {
        self.decode(scope, "f", text, 1)?[0]
            .parse()
            .map_err(|_| invalid())
    }

    /// An item page's cursor: the last item's sequence and group key.
    pub(crate) fn encode_item(&self, scope: &str, cursor: &ItemCursor) -> String {
        self.encode(
            scope,
            "i",
            &[cursor.sequence.to_string(), cursor.group.clone()],
        )
    }

    pub(crate) fn decode_item(&self, scope: &str, text: &str) -> Result<ItemCursor, ApiError> {
        let fields = self.decode(scope, "i", text, 2)?;
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

    /// The listing the cursors of these tests page.
    const S: &str = "run-x|category";

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let cursors = Cursors::new([7; 32]);
        let run = RunCursor {
            key: None,
            created_at: DateTime::from_timestamp_micros(1_772_825_000_123_456).unwrap(),
            id: RunId::generate(),
        };
        let issued = cursors.encode_run(S, &run);
        assert_eq!(
            cursors.decode_run(S, RunOrder::Newest, &issued).unwrap(),
            run
        );
        // An order by accuracy: its key read back as the same number, to the last bit.
        for key in [2.0 / 3.0, 0.1 + 0.2, -1.0, 0.0] {
            let by_accuracy = RunCursor {
                key: Some(key),
                ..run.clone()
            };
            let issued = cursors.encode_run(S, &by_accuracy);
            let read = cursors
                .decode_run(S, RunOrder::LeastAccurate, &issued)
                .unwrap();
            assert_eq!(read.key.map(f64::to_bits), Some(key.to_bits()));
            assert_eq!(read, by_accuracy);
            // Not a cursor of an order by creation time, nor the reverse.
            assert!(cursors.decode_run(S, RunOrder::Oldest, &issued).is_err());
            assert!(
                cursors
                    .decode_run(S, RunOrder::MostAccurate, &cursors.encode_run(S, &run))
                    .is_err()
            );
        }
        let not_a_number = cursors.encode(
            S,
            "a",
            &["NaN".into(), "1".into(), RunId::generate().to_string()],
        );
        assert!(
            cursors
                .decode_run(S, RunOrder::MostAccurate, &not_a_number)
                .is_err()
        );
        for log in [
            LogCursor {
                after: LogPosition {
                    commit: 9_000_001,
                    id: 77,
                },
                seen: vec![],
            },
            LogCursor {
                after: LogPosition { commit: 0, id: 5 },
                seen: vec![
                    LogPosition { commit: 3, id: 4 },
                    LogPosition { commit: 3, id: 9 },
                ],
            },
        ] {
            assert_eq!(
                cursors.decode_log(S, &cursors.encode_log(S, &log)).unwrap(),
                log
            );
        }
        // A log cursor of the id alone, as issued before: refused.
        assert!(
            cursors
                .decode_log(S, &cursors.encode(S, "l", &["77".into()]))
                .is_err()
        );
        let item = ItemCursor {
            group: "computer science|x".into(),
            sequence: 12,
        };
        assert_eq!(
            cursors
                .decode_item(S, &cursors.encode_item(S, &item))
                .unwrap(),
            item
        );

        // What an unsigned cursor of the right shape looked like: refused.
        let unsigned = URL_SAFE_NO_PAD.encode(format!("r1|1|{}", RunId::generate()));
        // The same fields under another installation's key: refused.
        let foreign = Cursors::new([8; 32]).encode_run(S, &run);
        // The same cursor for another listing (another run, other filters): refused.
        let elsewhere = cursors.encode_run("another listing", &run);
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
            &elsewhere,
            &cursors.encode_log(S, &LogCursor::default()),
        ] {
            assert!(
                cursors.decode_run(S, RunOrder::Newest, bad).is_err(),
                "{bad}"
            );
        }
        assert!(
            cursors
                .decode_item(S, &cursors.encode_log(S, &LogCursor::default()))
                .is_err(),
            "a cursor of another kind"
        );
        let far_past = cursors.encode(
            S,
            "r",
            &[(i64::MIN / 2).to_string(), RunId::generate().to_string()],
        );
        assert!(
            cursors.decode_run(S, RunOrder::Newest, &far_past).is_err(),
            "signed, but no storable time"
        );
    }
}
