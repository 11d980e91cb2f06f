//! The Browser Harness bundle verifier (`POST /browser-harness/imports`) on any bytes, with the
//! key and clock of the test vectors of `docs/harness-format.md` (whose bundle is the seed).
//!
//! Each input is verified twice: as it is, and with its envelope signed again over the payload
//! it holds (the base64 decoded when it decodes, else the string's own bytes), so that mutated
//! packs get past the signature and the pack and capture checks behind it are fuzzed too.

#![no_main]

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Duration, Utc};
use evalboard_harness::{
    BundleError, Envelope, KeyRing, KeyStatus, MAX_PACK_ITEMS, MAX_REPORTED_PROBLEMS,
    PACK_PAYLOAD_TYPE, PackSigner, TrustedKey, VerifiedBundle, limits::CLOCK_SKEW_SECS,
    verify_bundle,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// RFC 8032's first test key, the test vectors' key.
const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

struct Fixture {
    signer: PackSigner,
    ring: KeyRing,
    now: DateTime<Utc>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let seed: [u8; 32] = hex::decode(SEED_HEX).unwrap().try_into().unwrap();
        let signer = PackSigner::from_seed(&seed);
        let ring = KeyRing::new([TrustedKey::new(signer.public_key(), KeyStatus::Active)]);
        // When the test vectors' bundle is valid.
        let now = DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z")
            .unwrap()
            .to_utc();
        Fixture { signer, ring, now }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    check(data, fixture);
    if let Some(resigned) = signed_again(data, &fixture.signer) {
        check(&resigned, fixture);
    }
});

/// Verifies `body` and checks what the verifier promises of the outcome.
fn check(body: &[u8], fixture: &Fixture) {
    match verify_bundle(body, &fixture.ring, fixture.now) {
        Ok(bundle) => {
            check_accepted(&bundle, fixture.now);
            // The same bundle, formatted otherwise (compact, keys in parse order): the same
            // verdict and digest ("however it is formatted").
            let value: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
            let compact = serde_json::to_vec(&value).unwrap();
            let again = verify_bundle(&compact, &fixture.ring, fixture.now)
                .expect("the accepted bundle, reformatted, is refused");
            assert_eq!(again, bundle, "reformatted, the bundle verifies otherwise");
        }
        Err(BundleError::Malformed(_)) => {}
        Err(BundleError::Invalid { problems, digest }) => {
            assert!(!problems.is_empty(), "refused without a problem");
            assert!(problems.len() <= MAX_REPORTED_PROBLEMS);
            for problem in &problems {
                assert!(
                    problem.pointer.is_empty() || problem.pointer.starts_with('/'),
                    "not a JSON Pointer: {problem}"
                );
            }
            assert_digest(&digest);
        }
    }
}

/// The rules of `docs/harness-format.md` ("Validation") an accepted bundle keeps.
fn check_accepted(bundle: &VerifiedBundle, now: DateTime<Utc>) {
    let pack = &bundle.pack;
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    assert!((1..=MAX_PACK_ITEMS).contains(&pack.items.len()));
    assert!(now <= pack.expires_at, "an expired pack was accepted");
    assert!(!bundle.captures.is_empty());
    assert!(bundle.captures.len() <= pack.items.len());
    assert!(
        bundle
            .captures
            .windows(2)
            .all(|c| c[0].sequence < c[1].sequence),
        "captures not in sequence order, or one item twice"
    );
    for capture in &bundle.captures {
        let item = pack
            .item(capture.sequence)
            .expect("a capture of no item of the pack");
        assert_eq!(capture.prompt_sha256, item.prompt_sha256);
        assert!(capture.started_at <= capture.finished_at);
        assert!(capture.finished_at <= now + skew);
        assert!(capture.started_at >= pack.issued_at - skew);
        let chars = capture.response_text.chars().count() as u64;
        let mut offset = 0;
        for chunk in &capture.chunks {
            assert!(
                chunk.offset >= offset && chunk.offset <= chars,
                "chunk offset"
            );
            offset = chunk.offset;
            assert!((capture.started_at..=capture.finished_at).contains(&chunk.at));
        }
    }
    assert_eq!(bundle.payload_sha256.len(), 64);
    assert_digest(&bundle.digest);
}

fn assert_digest(digest: &str) {
    let hex = digest
        .strip_prefix("sha256:")
        .expect("a digest without `sha256:`");
    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
}

/// `body` with its envelope replaced by one the test key signs over the payload it holds.
fn signed_again(body: &[u8], signer: &PackSigner) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let envelope = value.get_mut("envelope")?.as_object_mut()?;
    let payload = envelope.get("payload")?.as_str()?;
    let payload = BASE64
        .decode(payload)
        .unwrap_or_else(|_| payload.as_bytes().to_vec());
    let payload_type = envelope
        .get("payloadType")
        .and_then(Value::as_str)
        .unwrap_or(PACK_PAYLOAD_TYPE);
    let signed = Envelope::sign(payload_type, &payload, signer);
    value["envelope"] = serde_json::to_value(signed).ok()?;
    serde_json::to_vec(&value).ok()
}
