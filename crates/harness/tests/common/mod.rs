//! Fixtures shared by the harness tests: a small signed pack and a genuine bundle of it.

// Each test file uses some of these.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use evalboard_domain::{AnswerKey, DatasetItem};
use evalboard_harness::{KeyRing, KeyStatus, PackDataset, PackPayload, PackSigner, TrustedKey};
use serde_json::{Value, json};

/// `n` items whose answer is A (the questions hold a non-ASCII character).
pub(crate) fn items(n: usize) -> Vec<DatasetItem> {
    (0..n)
        .map(|i| DatasetItem {
            id: format!("q{i}"),
            category: "math".into(),
            question: format!("What is {i} × 2 + 1?"),
            choices: vec![format!("{}", i + 1), format!("{}", i + 2), "0".into()],
            answer: AnswerKey::from_letter("A").unwrap().into(),
            explanation: None,
            source: None,
        })
        .collect()
}

/// When the pack was issued.
pub(crate) fn issued() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
}

/// A pack of `n` items, valid for a week from [`issued`].
pub(crate) fn pack(n: usize) -> PackPayload {
    PackPayload::build(
        "pack-test".into(),
        issued(),
        issued() + Duration::days(7),
        PackDataset {
            name: "demo".into(),
            version: 1,
            digest: "sha256:00".into(),
        },
        "chatgpt-web".into(),
        &items(n),
    )
}

/// The key packs are signed with.
pub(crate) fn signer() -> PackSigner {
    PackSigner::from_seed(&[42; 32])
}

/// The keys a verifier trusts: the signer's.
pub(crate) fn ring() -> KeyRing {
    KeyRing::new([TrustedKey::new(signer().public_key(), KeyStatus::Active)])
}

/// When bundles are verified: two hours into the pack's life.
pub(crate) fn now() -> DateTime<Utc> {
    issued() + Duration::hours(2)
}

/// A bundle of captures for the first `captured` items of a signed `pack`.
pub(crate) fn bundle(pack: &PackPayload, signer: &PackSigner, captured: usize) -> Value {
    let envelope = pack.sign(signer);
    let captures: Vec<Value> = pack
        .items
        .iter()
        .take(captured)
        .map(|item| {
            json!({
                "sequence": item.sequence,
                "promptSha256": item.prompt_sha256,
                "responseText": "Let me think. The answer is (A).",
                "startedAt": "2026-11-29T10:30:00Z",
                "finishedAt": "2026-11-29T10:30:04.500Z",
                "chunks": [
                    {"offset": 0, "text": "Let me think.", "at": "2026-11-29T10:30:01Z"},
                    {"offset": 13, "text": " The answer is (A).", "at": "2026-11-29T10:30:04Z"}
                ],
                "page": {"url": "https://chat.example/c/1", "title": "Chat"}
            })
        })
        .collect();
    json!({
        "envelope": envelope,
        "harness": {"name": "test-harness", "version": "1.0.0", "userAgent": "Mozilla/5.0"},
        "captures": captures,
    })
}
