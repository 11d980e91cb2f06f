//! What the fuzz targets in `fuzz/` reach of this crate's private parsers, behind the `fuzzing`
//! feature: the page cursor decoder. Not part of the API; nothing else may use it.

use evalboard_persistence::{ItemCursor, LogCursor, RunCursor, RunOrder};

use crate::cursor::Cursors;

/// The one listing every cursor here pages (a cursor is bound to its listing's scope).
const SCOPE: &str = "fuzzed listing";

/// The page cursors of an installation whose cursor key is `key`, as the handlers use them
/// (a refusal, always a 400, is `None` here).
#[derive(Debug)]
pub struct PageCursors {
    cursors: Cursors,
}

impl PageCursors {
    /// Cursors signed with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cursors: Cursors::new(key),
        }
    }

    /// `text` sealed with the key: a cursor this installation could have issued holding `text`,
    /// so that a fuzzer reaches what is parsed after the tag is checked.
    pub fn seal(&self, text: &str) -> String {
        self.cursors.seal(SCOPE, text)
    }

    /// The archive's cursor.
    pub fn encode_run(&self, cursor: &RunCursor) -> String {
        self.cursors.encode_run(SCOPE, cursor)
    }

    /// The archive's cursor, decoded: of an order by creation time, else by accuracy.
    pub fn decode_run(&self, text: &str) -> Option<RunCursor> {
        [RunOrder::Newest, RunOrder::MostAccurate]
            .into_iter()
            .find_map(|order| self.cursors.decode_run(SCOPE, order, text).ok())
    }

    /// A log page's cursor.
    pub fn encode_log(&self, cursor: &LogCursor) -> String {
        self.cursors.encode_log(SCOPE, cursor)
    }

    /// A log page's cursor, decoded.
    pub fn decode_log(&self, text: &str) -> Option<LogCursor> {
        self.cursors.decode_log(SCOPE, text).ok()
    }

    /// A page of flipped items' cursor.
    pub fn encode_flipped(&self, sequence: u32) -> String {
        self.cursors.encode_flipped(SCOPE, sequence)
    }

    /// A page of flipped items' cursor, decoded.
    pub fn decode_flipped(&self, text: &str) -> Option<u32> {
        self.cursors.decode_flipped(SCOPE, text).ok()
    }

    /// An item page's cursor.
    pub fn encode_item(&self, cursor: &ItemCursor) -> String {
        self.cursors.encode_item(SCOPE, cursor)
    }

    /// An item page's cursor, decoded.
    pub fn decode_item(&self, text: &str) -> Option<ItemCursor> {
        self.cursors.decode_item(SCOPE, text).ok()
    }
}
