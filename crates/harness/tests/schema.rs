//! The published JSON Schemas against the verifier: a genuine bundle and pack pass both; over a
//! corpus of bundles broken in one place each, every bundle a schema refuses the verifier
//! refuses too, and each place the schema points at is a place the verifier reports.

mod common;

use std::collections::BTreeSet;

use common::{bundle, now, pack, ring, signer};
use evalboard_harness::{
    BundleError, Envelope, PACK_PAYLOAD_TYPE, capture_bundle_schema, pack_payload_schema,
    verify_bundle,
};
use jsonschema::error::ValidationErrorKind;
use serde_json::{Value, json};

/// A validator that also asserts formats (`date-time`), as a careful harness author's would.
fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the schema is valid JSON Schema")
}

/// A key as a JSON Pointer token, the way the verifier writes it (cut to 64 characters).
fn token(key: &str) -> String {
    key.chars()
        .take(64)
        .collect::<String>()
        .replace('~', "~0")
        .replace('/', "~1")
}

/// Where the schema's errors are, as the verifier places them: a missing or unexpected field
/// at the field itself rather than at the object holding it.
fn schema_pointers(validator: &jsonschema::Validator, instance: &Value) -> BTreeSet<String> {
    let mut pointers = BTreeSet::new();
    for error in validator.iter_errors(instance) {
        let at = error.instance_path().to_string();
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                pointers.insert(format!("{at}/{}", token(property.as_str().unwrap())));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                pointers.extend(unexpected.iter().map(|key| format!("{at}/{}", token(key))));
            }
            ValidationErrorKind::PropertyNames { error } => {
                let key = error.instance().as_str().unwrap_or_default().to_owned();
                pointers.insert(format!("{at}/{}", token(&key)));
            }
            _ => {
                pointers.insert(at);
            }
        }
    }
    pointers
}

fn verifier_pointers(bundle: &Value) -> Option<BTreeSet<String>> {
    match verify_bundle(&serde_json::to_vec(bundle).unwrap(), &ring(), now()) {
        Ok(_) => None,
        Err(BundleError::Invalid { problems, .. }) => {
            Some(problems.into_iter().map(|p| p.pointer).collect())
        }
        Err(error) => panic!("a JSON value is never malformed: {error}"),
    }
}

/// Every node of `value` with its pointer.
fn nodes(value: &Value, at: String, out: &mut Vec<(String, Value)>) {
    out.push((at.clone(), value.clone()));
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                nodes(child, format!("{at}/{}", token(key)), out);
            }
        }
        Value::Array(list) => {
            for (index, child) in list.iter().enumerate() {
                nodes(child, format!("{at}/{index}"), out);
            }
        }
        _ => {}
    }
}

/// Values a broken harness might put anywhere: wrong types, bounds just past the verifier's,
/// blank and control characters, times in near-miss spellings.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(4294967296u64),
        json!(""),
        json!(" "),
        json!("\u{feff}"),
        json!("\u{a0}x\u{a0}"),
        json!("x"),
        json!("a\u{0}b"),
        json!("a\u{7}b"),
        json!("é".repeat(101)),
        json!("x".repeat(262_145)),
        json!("ABCD"),
        json!("AB=="),
        json!("A"),
        json!("2026-11-29 10:30:01Z"),
        json!("2026-11-29t10:30:01z"),
        json!("2026-11-29T10:30:60Z"),
        json!("2026-11-29T10:30:01+01:00"),
        json!("2026-11-29T10:30:01"),
        json!("2026-11-29T09:30:01\u{2212}01:00"),
        json!([]),
        json!([{}]),
        json!({}),
        json!({"": "x"}),
        json!({"k": 1}),
    ]
}

/// The corpus: the genuine bundle with each field removed, each object given an unknown field,
/// and each value replaced by each of [`replacements`].
fn corpus(genuine: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    nodes(genuine, String::new(), &mut found);
    let mut corpus = Vec::new();
    for (at, value) in &found {
        if let Value::Object(object) = value {
            // The genuine value with the object at `at` changed by `change`.
            let edited = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
                let mut broken = genuine.clone();
                change(broken.pointer_mut(at).unwrap().as_object_mut().unwrap());
                broken
            };
            for key in object.keys() {
                let broken = edited(&|object| {
                    object.remove(key);
                });
                corpus.push((format!("{at}/{key} removed"), broken));
            }
            let broken = edited(&|object| {
                object.insert("unexpected".into(), json!(1));
            });
            corpus.push((format!("{at}/unexpected added"), broken));
        }
        for replacement in replacements() {
            let mut broken = genuine.clone();
            *broken.pointer_mut(at).unwrap() = replacement.clone();
            let shown: String = replacement.to_string().chars().take(40).collect();
            corpus.push((format!("{at} = {shown}"), broken));
        }
    }
    corpus
}

/// Bundles past the bounds on counts: more captures, chunks and page entries than the verifier
/// takes, and a page key too long.
fn past_the_bounds(genuine: &Value) -> Vec<(String, Value)> {
    let mut corpus = Vec::new();
    let mut many = genuine.clone();
    let capture = many["captures"][0].clone();
    many["captures"] = Value::Array(vec![capture.clone(); 20_001]);
    corpus.push(("20,001 captures".into(), many));
    let mut many = genuine.clone();
    let chunk = many["captures"][0]["chunks"][0].clone();
    many["captures"][0]["chunks"] = Value::Array(vec![chunk; 4_097]);
    corpus.push(("4,097 chunks".into(), many));
    let mut many = genuine.clone();
    many["captures"][0]["page"] = (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
    corpus.push(("33 page entries".into(), many));
    let mut long_key = genuine.clone();
    long_key["captures"][0]["page"] = json!({"k".repeat(65): "v"});
    corpus.push(("a 65-character page key".into(), long_key));
    corpus
}

#[test]
fn a_genuine_bundle_and_its_pack_pass_both_schemas() {
    let pack = pack(3);
    let genuine = bundle(&pack, &signer(), 3);
    assert_eq!(
        verifier_pointers(&genuine),
        None,
        "the genuine bundle verifies"
    );
    let bundle_schema = validator(&capture_bundle_schema());
    assert_eq!(schema_pointers(&bundle_schema, &genuine), BTreeSet::new());
    let payload: Value = serde_json::from_slice(&pack.to_bytes()).unwrap();
    let pack_schema = validator(&pack_payload_schema());
    assert_eq!(schema_pointers(&pack_schema, &payload), BTreeSet::new());
    // Optional fields may be absent or null.
    let mut plain = genuine.clone();
    plain["captures"][0]
        .as_object_mut()
        .unwrap()
        .remove("chunks");
    plain["captures"][1]["chunks"] = Value::Null;
    plain["captures"][2]["page"] = Value::Null;
    assert_eq!(verifier_pointers(&plain), None);
    assert!(bundle_schema.is_valid(&plain));
}

#[test]
fn every_bundle_the_schema_refuses_the_verifier_refuses_at_the_same_places() {
    let genuine = bundle(&pack(3), &signer(), 3);
    let schema = validator(&capture_bundle_schema());
    let mut refused = 0;
    for (change, broken) in corpus(&genuine)
        .into_iter()
        .chain(past_the_bounds(&genuine))
    {
        let by_schema = schema_pointers(&schema, &broken);
        if by_schema.is_empty() {
            continue;
        }
        refused += 1;
        let by_verifier = verifier_pointers(&broken).unwrap_or_else(|| {
            panic!("{change}: the schema refuses it ({by_schema:?}), the verifier takes it")
        });
        let missed: Vec<_> = by_schema.difference(&by_verifier).collect();
        assert!(
            missed.is_empty(),
            "{change}: the schema points at {missed:?}, the verifier only at {by_verifier:?}"
        );
    }
    // The corpus is mostly broken bundles, not a handful.
    assert!(
        refused > 1_000,
        "only {refused} bundles were refused by the schema"
    );
}

/// A pack the pack schema refuses, signed as the server would sign it, makes a bundle the
/// verifier refuses at the payload.
#[test]
fn every_signed_pack_the_pack_schema_refuses_the_verifier_refuses() {
    let pack = pack(3);
    let payload: Value = serde_json::from_slice(&pack.to_bytes()).unwrap();
    let schema = validator(&pack_payload_schema());
    let mut refused = 0;
    for (change, broken) in corpus(&payload) {
        if schema.is_valid(&broken) {
            continue;
        }
        refused += 1;
        let envelope = Envelope::sign(
            PACK_PAYLOAD_TYPE,
            &serde_json::to_vec(&broken).unwrap(),
            &signer(),
        );
        let mut bundle = bundle(&pack, &signer(), 3);
        bundle["envelope"] = serde_json::to_value(&envelope).unwrap();
        let by_verifier = verifier_pointers(&bundle).unwrap_or_else(|| {
            panic!("{change}: the pack schema refuses it, the verifier takes it")
        });
        assert!(
            by_verifier.contains("/envelope/payload"),
            "{change}: {by_verifier:?}"
        );
    }
    assert!(
        refused > 300,
        "only {refused} packs were refused by the schema"
    );
}

/// docs/schemas/ holds what the code publishes (`cargo xtask openapi` rewrites it).
#[test]
fn the_committed_schemas_are_current() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas");
    for (name, text) in evalboard_harness::schema_documents() {
        let committed = std::fs::read_to_string(docs.join(name)).unwrap_or_default();
        assert!(
            committed == *text,
            "docs/schemas/{name} is stale: run `cargo xtask openapi` and commit the result"
        );
    }
}
