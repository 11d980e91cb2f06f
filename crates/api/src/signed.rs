//! Text this installation hands out and later trusts again (page cursors, session cookies):
//! base64url of the text followed by the first 16 bytes of its HMAC-SHA256 under an
//! installation key (kept in the database, so every replica and every restart trusts what
//! another issued). Forging one takes 2^128 tries.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of the HMAC kept.
const TAG_LEN: usize = 16;

/// Seals and opens text with one key.
pub(crate) struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// Sealing with `key`.
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The MAC of `text`, or of `text` bound to `scope`: the scope's length and bytes come
    /// first, so no text sealed in one scope opens in another.
    fn mac(&self, scope: Option<&str>, text: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        if let Some(scope) = scope {
            mac.update(&(scope.len() as u64).to_be_bytes());
            mac.update(scope.as_bytes());
        }
        mac.update(text);
        mac
    }

    fn seal_with(&self, scope: Option<&str>, text: &str) -> String {
        let mut bytes = text.as_bytes().to_vec();
        let tag = self.mac(scope, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn open_with(&self, scope: Option<&str>, sealed: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let split = bytes.len().checked_sub(TAG_LEN)?;
        let (text, tag) = bytes.split_at(split);
        // Compared in constant time.
        self.mac(scope, text).verify_truncated_left(tag).ok()?;
        String::from_utf8(text.to_vec()).ok()
    }

    /// A name of this key within `scope` (12 hex digits): the same on every replica of an
    /// installation and at every restart, another for another installation, and nothing of
    /// the key.
    pub(crate) fn id(&self, scope: &str) -> String {
        hex::encode(&self.mac(Some(scope), b"").finalize().into_bytes()[..6])
    }

    /// `text`, sealed.
    pub(crate) fn seal(&self, text: &str) -> String {
        self.seal_with(None, text)
    }

    /// The text `sealed` holds, if this key sealed it (forged, altered or truncated: `None`).
    pub(crate) fn open(&self, sealed: &str) -> Option<String> {
        self.open_with(None, sealed)
    }

    /// `text`, sealed for use in `scope` only (a page cursor, for the query it pages).
    pub(crate) fn seal_in(&self, scope: &str, text: &str) -> String {
        self.seal_with(Some(scope), text)
    }

    /// The text `sealed` holds, if this key sealed it for `scope`.
    pub(crate) fn open_in(&self, scope: &str, sealed: &str) -> Option<String> {
        self.open_with(Some(scope), sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_this_key_sealed_opens() {
        let sealer = Sealer::new([1; 32]);
        let sealed = sealer.seal("r1|42|run-x");
        assert_eq!(sealer.open(&sealed).as_deref(), Some("r1|42|run-x"));
        assert_eq!(Sealer::new([2; 32]).open(&sealed), None);
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        bytes[0] ^= 1;
        assert_eq!(sealer.open(&URL_SAFE_NO_PAD.encode(&bytes)), None);
        assert_eq!(sealer.open(&sealed[..sealed.len() - 2]), None);
        assert_eq!(sealer.open("not base64!"), None);
    }

    #[test]
    fn what_is_sealed_in_a_scope_opens_in_that_scope_only() {
        let sealer = Sealer::new([1; 32]);
        let sealed = sealer.seal_in("run-a|category", "i1|3|math");
        assert_eq!(
            sealer.open_in("run-a|category", &sealed).as_deref(),
            Some("i1|3|math")
        );
        assert_eq!(sealer.open_in("run-b|category", &sealed), None);
        assert_eq!(sealer.open_in("run-a|state", &sealed), None);
        assert_eq!(sealer.open(&sealed), None);
        assert_eq!(sealer.open_in("", &sealer.seal("i1|3|math")), None);
    }
}
