//! The page cursor decoder (`?cursor=` of `GET /runs`, `/runs/{id}/items`, `/runs/{id}/logs`,
//! `/compare/.../flipped`) on any text.
//!
//! The first byte chooses what the rest is: even, a cursor as a client sends it (almost never
//! signed, so the tag check is what is fuzzed); odd, the text inside a cursor, sealed with the
//! installation's key before it is decoded, so that the fields' parsing behind the tag is fuzzed
//! too (only this server can issue such a cursor).

#![no_main]

use evalboard_api::fuzzing::PageCursors;
use libfuzzer_sys::fuzz_target;

fn cursors() -> &'static PageCursors {
    static CURSORS: std::sync::OnceLock<PageCursors> = std::sync::OnceLock::new();
    CURSORS.get_or_init(|| PageCursors::new([7; 32]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Query parameters reach the handlers as text.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let cursors = cursors();
    let cursor = if mode % 2 == 0 {
        text.to_owned()
    } else {
        cursors.seal(text)
    };
    check(cursors, &cursor);
});

/// A cursor decodes as one kind at most, and what decodes, encoded again, decodes to the same
/// value.
fn check(cursors: &PageCursors, cursor: &str) {
    let mut kinds = 0;
    if let Some(run) = cursors.decode_run(cursor) {
        kinds += 1;
        assert_eq!(cursors.decode_run(&cursors.encode_run(&run)), Some(run));
    }
    if let Some(log) = cursors.decode_log(cursor) {
        kinds += 1;
        assert_eq!(cursors.decode_log(&cursors.encode_log(&log)), Some(log));
    }
    if let Some(sequence) = cursors.decode_flipped(cursor) {
        kinds += 1;
        let again = cursors.encode_flipped(sequence);
        assert_eq!(cursors.decode_flipped(&again), Some(sequence));
    }
    if let Some(item) = cursors.decode_item(cursor) {
        kinds += 1;
        assert_eq!(cursors.decode_item(&cursors.encode_item(&item)), Some(item));
    }
    assert!(kinds <= 1, "`{cursor}` decodes as {kinds} kinds of cursor");
}
