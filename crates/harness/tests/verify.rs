//! Verifying capture bundles: the genuine one, and every way of tampering with it.

mod common;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::Duration;
use common::{bundle, issued, now, pack, ring, signer};
use evalboard_harness::{
    BundleError, KeyRing, KeyStatus, PackSigner, Problem, TrustedKey, verify_bundle,
};
use serde_json::{Value, json};

fn verify(bundle: &Value) -> Result<evalboard_harness::VerifiedBundle, BundleError> {
    verify_bundle(&serde_json::to_vec(bundle).unwrap(), &ring(), now())
}

fn problems(bundle: &Value) -> Vec<Problem> {
    match verify(bundle) {
        Err(BundleError::Invalid { problems, .. }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn has(problems: &[Problem], pointer: &str, words: &str) -> bool {
    problems
        .iter()
        .any(|p| p.pointer == pointer && p.message.contains(words))
}

#[test]
fn a_genuine_bundle_verifies_with_its_captures_in_order() {
    let pack = pack(5);
    let mut bundle = bundle(&pack, &signer(), 3);
    bundle["captures"].as_array_mut().unwrap().reverse();
    let verified = verify(&bundle).unwrap();
    assert_eq!(verified.pack, pack);
    assert_eq!(verified.key.id, *signer().id());
    assert_eq!(verified.harness.name, "test-harness");
    let sequences: Vec<u32> = verified.captures.iter().map(|c| c.sequence).collect();
    assert_eq!(sequences, [1, 2, 3], "a valid partial import");
    assert_eq!(verified.captures[0].chunks.len(), 2);
    assert_eq!(verified.captures[0].page["title"], "Chat");
}

#[test]
fn the_digest_ignores_formatting_and_key_order_but_not_content() {
    let pack = pack(2);
    let bundle = bundle(&pack, &signer(), 2);
    let compact = verify_bundle(&serde_json::to_vec(&bundle).unwrap(), &ring(), now()).unwrap();
    let pretty =
        verify_bundle(&serde_json::to_vec_pretty(&bundle).unwrap(), &ring(), now()).unwrap();
    assert_eq!(compact.digest, pretty.digest);
    let mut changed = bundle.clone();
    changed["captures"][0]["responseText"] = json!("The answer is (B).");
    changed["captures"][0]["chunks"] = json!([]);
    assert_ne!(verify(&changed).unwrap().digest, compact.digest);
}

#[test]
fn a_flipped_payload_byte_breaks_the_signature() {
    let pack = pack(2);
    let mut bundle = bundle(&pack, &signer(), 1);
    let mut payload = BASE64
        .decode(bundle["envelope"]["payload"].as_str().unwrap())
        .unwrap();
    let middle = payload.len() / 2;
    payload[middle] ^= 0x01;
    bundle["envelope"]["payload"] = json!(BASE64.encode(payload));
    let found = problems(&bundle);
    assert!(
        has(&found, "/envelope/signatures/0/sig", "does not verify"),
        "{found:?}"
    );
}

#[test]
fn a_changed_payload_type_breaks_the_signature() {
    let pack = pack(1);
    let mut bundle = bundle(&pack, &signer(), 1);
    bundle["envelope"]["payloadType"] = json!("application/json");
    let found = problems(&bundle);
    assert!(has(&found, "/envelope/payloadType", "must be"), "{found:?}");
    assert!(
        has(&found, "/envelope/signatures/0/sig", "does not verify"),
        "{found:?}"
    );
}

#[test]
fn a_signature_from_an_unknown_key_is_refused() {
    let pack = pack(2);
    let stranger = PackSigner::from_seed(&[9; 32]);
    let found = problems(&bundle(&pack, &stranger, 1));
    assert!(
        has(
            &found,
            "/envelope/signatures/0/keyid",
            "not the id of a key"
        ),
        "{found:?}"
    );
    // The key id named is handed back, for the server to say whether it knows it otherwise.
    let Err(BundleError::Invalid { unknown_key, .. }) = verify(&bundle(&pack, &stranger, 1)) else {
        panic!("not refused");
    };
    assert_eq!(unknown_key.as_deref(), Some(stranger.id().as_str()));
    // The same key id with another key's signature is no better.
    let mut forged = bundle(&pack, &stranger, 1);
    forged["envelope"]["signatures"][0]["keyid"] = json!(signer().id().as_str());
    let found = problems(&forged);
    assert!(
        has(&found, "/envelope/signatures/0/sig", "does not verify"),
        "{found:?}"
    );
    let Err(BundleError::Invalid { unknown_key, .. }) = verify(&forged) else {
        panic!("not refused");
    };
    assert_eq!(unknown_key, None, "a key the ring has");
}

#[test]
fn a_pack_signed_by_a_retired_key_still_verifies() {
    let old = PackSigner::from_seed(&[5; 32]);
    let ring = KeyRing::new([
        TrustedKey::new(signer().public_key(), KeyStatus::Active),
        TrustedKey::new(old.public_key(), KeyStatus::Retired),
    ]);
    let bundle = bundle(&pack(2), &old, 2);
    let verified = verify_bundle(&serde_json::to_vec(&bundle).unwrap(), &ring, now()).unwrap();
    assert_eq!(verified.key.status, KeyStatus::Retired);
}

#[test]
fn an_expired_pack_is_refused() {
    let bundle = bundle(&pack(1), &signer(), 1);
    let late = issued() + Duration::days(8);
    let Err(BundleError::Invalid {
        problems: found, ..
    }) = verify_bundle(&serde_json::to_vec(&bundle).unwrap(), &ring(), late)
    else {
        panic!("an expired pack imports")
    };
    assert!(has(&found, "/envelope", "expired"), "{found:?}");
}

#[test]
fn captures_that_do_not_match_the_pack_are_each_reported() {
    let pack = pack(3);
    let mut bundle = bundle(&pack, &signer(), 3);
    let captures = bundle["captures"].as_array_mut().unwrap();
    captures[0]["sequence"] = json!(7); // not in the pack
    captures[1]["promptSha256"] = json!("0".repeat(64)); // wrong prompt
    captures[2] = captures[1].clone(); // captured twice
    let found = problems(&bundle);
    assert!(
        has(&found, "/captures/0/sequence", "no item 7"),
        "{found:?}"
    );
    assert!(
        has(&found, "/captures/1/promptSha256", "not the hash"),
        "{found:?}"
    );
    assert!(
        has(&found, "/captures/2/sequence", "captured already"),
        "{found:?}"
    );
    // More captures than items: the extra ones are not even examined.
    let extra = bundle["captures"][0].clone();
    bundle["captures"].as_array_mut().unwrap().push(extra);
    let found = problems(&bundle);
    assert!(
        has(&found, "/captures", "more than the 3 item(s)"),
        "{found:?}"
    );
    assert!(!found.iter().any(|p| p.pointer.starts_with("/captures/3")));
}

#[test]
fn every_malformed_field_is_reported_not_only_the_first() {
    let pack = pack(2);
    let mut bundle = bundle(&pack, &signer(), 2);
    bundle["harness"]["version"] = json!("");
    bundle["extra"] = json!(true);
    let capture = &mut bundle["captures"][0];
    capture["startedAt"] = json!("yesterday");
    capture["responseText"] = json!(42);
    capture["chunks"][1]["offset"] = json!(10_000);
    capture["page"] = json!({"url": 1});
    let second = &mut bundle["captures"][1];
    second["finishedAt"] = json!("2026-11-29T10:29:00Z");
    second["chunks"][0]["at"] = json!("2026-11-29T11:00:00Z");
    second.as_object_mut().unwrap().remove("promptSha256");
    let found = problems(&bundle);
    for (pointer, words) in [
        ("/extra", "not a field"),
        ("/harness/version", "1 to 100"),
        ("/captures/0/startedAt", "RFC 3339"),
        ("/captures/0/responseText", "string"),
        ("/captures/0/page/url", "string"),
        ("/captures/1/finishedAt", "before startedAt"),
        ("/captures/1/chunks/0/at", "outside"),
        ("/captures/1/promptSha256", "required"),
    ] {
        assert!(has(&found, pointer, words), "{pointer}: {found:?}");
    }
    let past_end = serde_json::to_vec(&{
        let mut b = self::bundle(&pack, &signer(), 1);
        b["captures"][0]["chunks"][1]["offset"] = json!(10_000);
        b
    })
    .unwrap();
    let Err(BundleError::Invalid {
        problems: found, ..
    }) = verify_bundle(&past_end, &ring(), now())
    else {
        panic!()
    };
    assert!(
        has(&found, "/captures/0/chunks/1/offset", "past the end"),
        "{found:?}"
    );
}

#[test]
fn captures_from_the_future_or_before_the_pack_are_refused() {
    let pack = pack(1);
    let mut bundle = bundle(&pack, &signer(), 1);
    bundle["captures"][0]["startedAt"] = json!("2026-11-28T10:00:00Z");
    bundle["captures"][0]["chunks"] = json!([]);
    bundle["captures"][0]["finishedAt"] = json!("2026-12-01T10:00:00Z");
    let found = problems(&bundle);
    assert!(
        has(&found, "/captures/0/startedAt", "before the pack"),
        "{found:?}"
    );
    assert!(has(&found, "/captures/0/finishedAt", "future"), "{found:?}");
    // Each says against which time, and what difference between clocks is allowed: a harness
    // whose clock is off sees it.
    let issued_at = issued().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let now_at = now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(
        has(
            &found,
            "/captures/0/startedAt",
            &format!("issued, at {issued_at} (300 s")
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "/captures/0/finishedAt",
            &format!("clock reads {now_at} (300 s")
        ),
        "{found:?}"
    );
}

#[test]
fn a_whole_number_written_with_a_fraction_is_told_to_be_written_as_an_integer() {
    let pack = pack(1);
    let mut bundle = bundle(&pack, &signer(), 1);
    bundle["captures"][0]["sequence"] = json!(1.0);
    bundle["captures"][0]["chunks"][0]["offset"] = json!(0.0);
    let found = problems(&bundle);
    assert!(
        has(
            &found,
            "/captures/0/sequence",
            "written as an integer (`1`, not `1.0`)"
        ),
        "{found:?}"
    );
    assert!(
        has(
            &found,
            "/captures/0/chunks/0/offset",
            "written as an integer"
        ),
        "{found:?}"
    );
    // A fraction, or a number out of range, is no sequence however it is written.
    for wrong in [json!(1.5), json!(0.0), json!(-1.0)] {
        bundle["captures"][0]["sequence"] = wrong.clone();
        let found = problems(&bundle);
        assert!(
            has(&found, "/captures/0/sequence", "whole number"),
            "{wrong}: {found:?}"
        );
        assert!(
            !has(&found, "/captures/0/sequence", "written as an integer"),
            "{wrong}: {found:?}"
        );
    }
}

/// A bundle is refused unread when it holds more JSON values than any bundle of its size: a
/// 32 MiB body of `{"a":0}` took 3 GB of memory to read (a security probe of 2026-12-06).
/// The densest genuine bundle (every capture with its most chunks, each of one character)
/// still verifies.
#[test]
fn a_body_denser_than_any_bundle_is_refused_unread() {
    // Small objects; arrays of one value; arrays nested as deep as a reader goes (a helper's
    // probe: 1.6 and 2.5 GB for 32 MiB of the last two, before arrays were counted as such).
    let deep = format!("{}0{}", "[".repeat(126), "]".repeat(126));
    // And objects of many one-character keys (27 bytes per byte, a third probe).
    let keys: String = (b'#'..=b'~')
        .filter(|&c| c != b'\\')
        .map(|c| format!(r#""{}":0"#, c as char))
        .collect::<Vec<_>>()
        .join(",");
    let many_keys = format!("{{{keys}}}");
    for (what, each) in [
        ("objects", r#"{"a":0}"#),
        ("lists", "[0]"),
        ("deep lists", &deep),
        ("objects of many keys", &many_keys),
    ] {
        let many = vec![each; (2 << 20) / each.len()].join(",");
        let body = format!(r#"{{"envelope":{{}},"harness":{{}},"captures":[{many}]}}"#);
        let refused = verify_bundle(body.as_bytes(), &ring(), now());
        assert!(
            matches!(refused, Err(BundleError::TooDense { memory }) if memory > 24 * body.len()),
            "{what}: {refused:?}"
        );
    }

    let pack = pack(20);
    let mut densest = bundle(&pack, &signer(), 20);
    let chunks = evalboard_harness::limits::MAX_CHUNKS;
    for capture in densest["captures"].as_array_mut().unwrap() {
        capture["responseText"] = json!("a".repeat(chunks));
        capture["chunks"] = (0..chunks)
            .map(|offset| json!({"offset": offset, "text": "a", "at": "2026-11-29T10:30:01Z"}))
            .collect();
    }
    let verified = verify(&densest).unwrap();
    assert_eq!(verified.captures.len(), 20);
    assert_eq!(verified.captures[0].chunks.len(), chunks);
}

#[test]
fn what_is_not_json_is_malformed_and_other_shapes_are_problems() {
    assert!(matches!(
        verify_bundle(b"{\"envelope\":", &ring(), now()),
        Err(BundleError::Malformed(_))
    ));
    let found = problems(&json!([1, 2]));
    assert_eq!(found, [Problem::new("", "must be a JSON object")]);
    let found = problems(&json!({}));
    for pointer in ["/envelope", "/harness", "/captures"] {
        assert!(has(&found, pointer, "required"), "{found:?}");
    }
    // The pack sent back instead of a bundle (its envelope, the whole body the server gave):
    // one problem that says so.
    let envelope = bundle(&pack(1), &signer(), 1)["envelope"].clone();
    let found = problems(&envelope);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        has(
            &found,
            "",
            "is a pack (a signed envelope), not a capture bundle"
        ),
        "{found:?}"
    );
}

#[test]
fn an_empty_bundle_is_refused() {
    let found = problems(&bundle(&pack(2), &signer(), 0));
    assert!(has(&found, "/captures", "at least one"), "{found:?}");
}

#[test]
fn an_envelope_carries_exactly_the_one_signature_it_was_issued_with() {
    let pack = pack(1);
    let mut bundle = bundle(&pack, &signer(), 1);
    let signature = bundle["envelope"]["signatures"][0].clone();
    // A junk signature beside the genuine one is not the envelope as issued, and many copies
    // cost one refusal, not a verification each.
    let junk = json!({"keyid": "junk", "sig": "junk"});
    for signatures in [
        json!([signature.clone(), junk]),
        json!(vec![signature.clone(); 5_000]),
        json!([]),
    ] {
        bundle["envelope"]["signatures"] = signatures;
        let found = problems(&bundle);
        assert!(
            has(&found, "/envelope/signatures", "signature"),
            "{found:?}"
        );
    }
}

#[test]
fn a_capture_with_a_malformed_field_still_has_its_other_problems_reported() {
    let pack = pack(2);
    let mut bundle = bundle(&pack, &signer(), 2);
    bundle["captures"][0]["responseText"] = json!(1);
    bundle["captures"][0]["promptSha256"] = json!("0".repeat(64));
    bundle["captures"][1]["finishedAt"] = json!(null);
    bundle["captures"][1]["sequence"] = json!(1);
    let found = problems(&bundle);
    assert!(
        has(&found, "/captures/0/responseText", "string"),
        "{found:?}"
    );
    assert!(
        has(&found, "/captures/0/promptSha256", "not the hash"),
        "{found:?}"
    );
    assert!(
        has(&found, "/captures/1/sequence", "captured already"),
        "{found:?}"
    );
}

#[test]
fn nul_characters_are_refused_in_every_text_field() {
    let pack = pack(1);
    let mut bundle = bundle(&pack, &signer(), 1);
    bundle["captures"][0]["responseText"] = json!("The answer is (A).\u{0}");
    bundle["captures"][0]["chunks"][0]["text"] = json!("\u{0}");
    bundle["captures"][0]["page"]["title"] = json!("a\u{0}b");
    let found = problems(&bundle);
    for pointer in [
        "/captures/0/responseText",
        "/captures/0/chunks/0/text",
        "/captures/0/page/title",
    ] {
        assert!(has(&found, pointer, "NUL"), "{pointer}: {found:?}");
    }
}

#[test]
fn the_digest_does_not_depend_on_the_order_of_the_captures() {
    let pack = pack(3);
    let bundle = bundle(&pack, &signer(), 3);
    let mut reordered = bundle.clone();
    reordered["captures"].as_array_mut().unwrap().reverse();
    assert_eq!(
        verify(&bundle).unwrap().digest,
        verify(&reordered).unwrap().digest
    );
}

#[test]
fn chunk_order_is_checked_on_offsets_as_written_and_leap_seconds_are_refused() {
    let pack = pack(1);
    let mut bundle = bundle(&pack, &signer(), 1);
    let capture = &mut bundle["captures"][0];
    capture["responseText"] = json!("ab");
    capture["chunks"] = json!([
        {"offset": 0, "text": "a", "at": "2026-11-29T10:30:01Z"},
        {"offset": 3, "text": "b", "at": "2026-11-29T10:30:02Z"},
        {"offset": 1, "text": "b", "at": "2026-11-29T10:30:03Z"},
    ]);
    capture["startedAt"] = json!("2026-11-29T10:29:60Z");
    let found = problems(&bundle);
    assert!(
        has(&found, "/captures/0/chunks/1/offset", "past the end"),
        "{found:?}"
    );
    assert!(
        has(&found, "/captures/0/chunks/2/offset", "before the previous"),
        "{found:?}"
    );
    assert!(
        has(&found, "/captures/0/startedAt", "leap second"),
        "{found:?}"
    );
}

#[test]
fn a_refused_time_says_which_mistake_it_is() {
    let pack = pack(1);
    for (written, said) in [
        (
            json!("2026-11-29 10:30:01Z"),
            "separates the date and the time with a space: RFC 3339 has `T`, e.g. 2026-11-29T10:15:30.250Z",
        ),
        (
            json!("2026-11-29T10:30:01.5"),
            "has no offset: end it with `Z` (UTC) or one such as `+01:00`, e.g. 2026-11-29T10:15:30.250Z",
        ),
        (
            json!("2026-11-29T10:29:60Z"),
            "is a leap second (second 60), which is refused, e.g. 2026-11-29T10:15:30.250Z",
        ),
        (
            json!("29/11/2026"),
            "must be an RFC 3339 time, e.g. 2026-11-29T10:15:30.250Z",
        ),
        (
            json!(1764412201),
            "must be a string: an RFC 3339 time, e.g. 2026-11-29T10:15:30.250Z",
        ),
    ] {
        let mut bundle = bundle(&pack, &signer(), 1);
        bundle["captures"][0]["startedAt"] = written.clone();
        let found = problems(&bundle);
        assert!(
            found
                .iter()
                .any(|p| p.pointer == "/captures/0/startedAt" && p.message == said),
            "{written}: {found:?}"
        );
    }
}

#[test]
fn a_walk_stopped_at_the_problem_bound_says_so() {
    let pack = pack(1_001);
    let mut bundle = bundle(&pack, &signer(), 1_001);
    // One problem per capture: exactly the bound after 1,000 captures, one left unexamined.
    for capture in bundle["captures"].as_array_mut().unwrap() {
        capture["promptSha256"] = json!("0".repeat(64));
    }
    let found = problems(&bundle);
    assert_eq!(found.len(), 1_001);
    let last = found.last().unwrap();
    assert_eq!(last.pointer, "");
    assert!(last.message.contains("not examined"), "{last}");
}
