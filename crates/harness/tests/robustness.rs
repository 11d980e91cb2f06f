//! `verify_bundle` against garbage and tampering: it never panics, whatever the body, and no
//! change to the signed part of a genuine bundle (payload type, payload, signature) verifies.

mod common;

use std::sync::LazyLock;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::Duration;
use evalboard_harness::{
    BundleError, KeyRing, PackPayload, PackSigner, VerifiedBundle, verify_bundle,
};
use proptest::{prelude::*, sample::Index};
use serde_json::{Map, Value};

/// Field names of every level of a bundle, so that generated objects reach past the checks for
/// unknown fields.
const FIELDS: &[&str] = &[
    "envelope",
    "harness",
    "captures",
    "payloadType",
    "payload",
    "signatures",
    "keyid",
    "sig",
    "name",
    "version",
    "userAgent",
    "sequence",
    "promptSha256",
    "responseText",
    "startedAt",
    "finishedAt",
    "chunks",
    "page",
    "offset",
    "text",
    "at",
];

/// Strings the verifier gives meaning to: times (extreme ones too), hashes, base64, ids.
const STRINGS: &[&str] = &[
    "",
    " ",
    "2026-11-29T10:30:00Z",
    "2026-11-29T10:30:02.250+01:00",
    "2026-11-29t10:30:03z",
    "2026-11-29T23:59:60Z",
    "0000-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "application/vnd.evalboard.harness-pack.v1+json",
    "AAAA",
    "AA==",
    "=",
    "~/",
];

static SIGNER: LazyLock<PackSigner> = LazyLock::new(common::signer);
static RING: LazyLock<KeyRing> = LazyLock::new(common::ring);
static PACK: LazyLock<PackPayload> = LazyLock::new(|| common::pack(3));
/// A genuine bundle: the first two of three items captured.
static BUNDLE: LazyLock<Value> = LazyLock::new(|| common::bundle(&PACK, &SIGNER, 2));
/// Every JSON Pointer into the genuine bundle but the root.
static POINTERS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fn walk(value: &Value, at: String, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match value {
            Value::Object(object) => object.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (token, child) in children {
            let here = format!("{at}/{}", token.replace('~', "~0").replace('/', "~1"));
            out.push(here.clone());
            walk(child, here, out);
        }
    }
    let mut out = Vec::new();
    walk(&BUNDLE, String::new(), &mut out);
    out
});

fn verify(body: &[u8]) -> Result<VerifiedBundle, BundleError> {
    verify_bundle(body, &RING, common::now())
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..40).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(STRINGS).prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Any JSON value, at most 4 levels deep and about 64 nodes.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with (some of) `fields`, each a plausible value or any value, and maybe a stranger.
fn object_of(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> impl Strategy<Value = Value> {
    let fields: Vec<_> = fields
        .into_iter()
        .map(|(name, plausible)| {
            let value = prop_oneof![4 => plausible, 1 => json_value()];
            prop::option::weighted(0.9, value.prop_map(move |v| (name.to_owned(), v)))
        })
        .collect();
    (fields, prop::option::weighted(0.1, (key(), json_value()))).prop_map(|(fields, extra)| {
        Value::Object(fields.into_iter().flatten().chain(extra).collect())
    })
}

fn time() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(&STRINGS[2..8]).prop_map(Value::from),
        (0i64..20_000)
            .prop_map(|s| Value::from((common::issued() + Duration::seconds(s)).to_rfc3339())),
    ]
    .boxed()
}

fn chunk() -> impl Strategy<Value = Value> {
    object_of(vec![
        ("offset", (0u64..40).prop_map(Value::from).boxed()),
        ("text", "[a-z ×]{0,8}".prop_map(Value::from).boxed()),
        ("at", time()),
    ])
}

fn capture() -> impl Strategy<Value = Value> {
    let hashes: Vec<Value> = PACK
        .items
        .iter()
        .map(|i| Value::from(i.prompt_sha256.as_str()))
        .collect();
    object_of(vec![
        ("sequence", (0u64..5).prop_map(Value::from).boxed()),
        ("promptSha256", prop::sample::select(hashes).boxed()),
        (
            "responseText",
            "[a-z ×()A-J]{0,30}".prop_map(Value::from).boxed(),
        ),
        ("startedAt", time()),
        ("finishedAt", time()),
        (
            "chunks",
            prop::collection::vec(chunk(), 0..4)
                .prop_map(Value::Array)
                .boxed(),
        ),
        (
            "page",
            prop::collection::btree_map(".{0,3}", ".{0,5}".prop_map(Value::from), 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect()))
                .boxed(),
        ),
    ])
}

/// A bundle-shaped value: the genuine envelope or a made-up one, a harness, captures.
fn bundle_shaped() -> impl Strategy<Value = Value> {
    let envelope = prop_oneof![
        2 => Just(BUNDLE["envelope"].clone()),
        1 => object_of(vec![
            ("payloadType", prop::sample::select(STRINGS).prop_map(Value::from).boxed()),
            ("payload", prop::sample::select(STRINGS).prop_map(Value::from).boxed()),
            ("signatures", json_value().boxed()),
        ]),
    ];
    let harness = object_of(vec![
        ("name", ".{0,4}".prop_map(Value::from).boxed()),
        ("version", ".{0,4}".prop_map(Value::from).boxed()),
        ("userAgent", ".{0,4}".prop_map(Value::from).boxed()),
    ]);
    object_of(vec![
        ("envelope", envelope.boxed()),
        ("harness", harness.boxed()),
        (
            "captures",
            prop::collection::vec(capture(), 0..5)
                .prop_map(Value::Array)
                .boxed(),
        ),
    ])
}

/// One change to a genuine bundle.
#[derive(Debug, Clone)]
enum Mutation {
    /// A byte of the serialized text XORed with a non-zero mask.
    Flip(Index, u8),
    /// A byte of the serialized text deleted.
    Delete(Index),
    /// A byte inserted into the serialized text.
    Insert(Index, u8),
    /// A value (any field or element, at any depth) replaced.
    Replace(Index, Value),
    /// A field or element removed.
    Remove(Index),
    /// A byte of the decoded payload changed, then encoded again as valid base64.
    PayloadByte(Index, u8),
    /// A byte of the decoded signature changed, then encoded again as valid base64.
    SignatureByte(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<Index>;
    prop_oneof![
        (index(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        index().prop_map(Mutation::Delete),
        (index(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        (index(), json_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        index().prop_map(Mutation::Remove),
        (index(), 1u8..=255).prop_map(|(at, mask)| Mutation::PayloadByte(at, mask)),
        (index(), 1u8..=255).prop_map(|(at, mask)| Mutation::SignatureByte(at, mask)),
    ]
}

/// Re-encodes the base64 string at `pointer` with one byte of its decoded bytes changed.
fn change_decoded(bundle: &mut Value, pointer: &str, at: &Index, mask: u8) {
    let field = bundle.pointer_mut(pointer).unwrap();
    let mut bytes = BASE64.decode(field.as_str().unwrap()).unwrap();
    let i = at.index(bytes.len());
    bytes[i] ^= mask;
    *field = Value::from(BASE64.encode(bytes));
}

/// The mutated body, and whether the mutation surely changed the signed part.
fn apply(mutation: &Mutation) -> (Vec<u8>, bool) {
    let text = serde_json::to_vec(&*BUNDLE).unwrap();
    let mut bundle = BUNDLE.clone();
    match mutation {
        Mutation::Flip(at, mask) => {
            let mut text = text;
            let i = at.index(text.len());
            text[i] ^= mask;
            (text, false)
        }
        Mutation::Delete(at) => {
            let mut text = text;
            text.remove(at.index(text.len()));
            (text, false)
        }
        Mutation::Insert(at, byte) => {
            let mut text = text;
            text.insert(at.index(text.len() + 1), *byte);
            (text, false)
        }
        Mutation::Replace(at, value) => {
            let pointer = &POINTERS[at.index(POINTERS.len())];
            *bundle.pointer_mut(pointer).unwrap() = value.clone();
            (serde_json::to_vec(&bundle).unwrap(), false)
        }
        Mutation::Remove(at) => {
            let pointer = &POINTERS[at.index(POINTERS.len())];
            let (parent, token) = pointer.rsplit_once('/').unwrap();
            match bundle.pointer_mut(parent).unwrap() {
                Value::Object(object) => {
                    object.remove(&token.replace("~1", "/").replace("~0", "~"));
                }
                Value::Array(list) => {
                    list.remove(token.parse::<usize>().unwrap());
                }
                _ => unreachable!("a pointer's parent is an object or an array"),
            }
            (serde_json::to_vec(&bundle).unwrap(), false)
        }
        Mutation::PayloadByte(at, mask) => {
            change_decoded(&mut bundle, "/envelope/payload", at, *mask);
            (serde_json::to_vec(&bundle).unwrap(), true)
        }
        Mutation::SignatureByte(at, mask) => {
            change_decoded(&mut bundle, "/envelope/signatures/0/sig", at, *mask);
            (serde_json::to_vec(&bundle).unwrap(), true)
        }
    }
}

#[test]
fn the_genuine_bundle_verifies() {
    let verified = verify(&serde_json::to_vec(&*BUNDLE).unwrap()).unwrap();
    assert_eq!(verified.pack, *PACK);
    assert_eq!(verified.captures.len(), 2);
    assert!(POINTERS.contains(&"/envelope/signatures/0/sig".to_owned()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = verify(&body);
    }

    #[test]
    fn json_like_text_never_panics(body in r#"[\[\]{}":,0-9a-zA-Z\\ .eE+-]{0,200}"#) {
        let _ = verify(body.as_bytes());
    }

    #[test]
    fn arbitrary_json_never_panics_and_never_verifies(value in json_value()) {
        let result = verify(&serde_json::to_vec(&value).unwrap());
        let refused = matches!(result, Err(BundleError::Invalid { ref problems, .. }) if !problems.is_empty());
        prop_assert!(refused);
    }

    #[test]
    fn bundle_shaped_json_never_panics(value in bundle_shaped()) {
        match verify(&serde_json::to_vec(&value).unwrap()) {
            Ok(verified) => {
                prop_assert_eq!(&value["envelope"], &BUNDLE["envelope"]);
                prop_assert_eq!(verified.pack, PACK.clone());
            }
            Err(BundleError::Invalid { problems, .. }) => prop_assert!(!problems.is_empty()),
            Err(BundleError::Malformed(error)) => prop_assert!(false, "valid JSON is malformed: {}", error),
            Err(error @ BundleError::TooDense { .. }) => prop_assert!(false, "a bundle's shape is refused unread: {}", error),
        }
    }

    #[test]
    fn no_tampering_with_the_signed_part_verifies(mutation in mutation()) {
        let (body, signed_part_changed) = apply(&mutation);
        let result = verify(&body);
        if let Ok(verified) = result {
            prop_assert!(!signed_part_changed, "a changed payload or signature verified");
            let value: Value = serde_json::from_slice(&body).unwrap();
            let (envelope, genuine) = (&value["envelope"], &BUNDLE["envelope"]);
            prop_assert_eq!(&envelope["payloadType"], &genuine["payloadType"]);
            prop_assert_eq!(&envelope["payload"], &genuine["payload"]);
            prop_assert_eq!(&envelope["signatures"], &genuine["signatures"]);
            prop_assert_eq!(verified.pack, PACK.clone());
        }
    }
}

#[test]
fn deep_nesting_is_malformed_and_does_not_overflow_the_stack() {
    let nested = |open: &str, close: &str, depth: usize| {
        format!("{}null{}", open.repeat(depth), close.repeat(depth))
    };
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        for depth in [128, 100_000] {
            let body = nested(open, close, depth);
            let result = verify(body.as_bytes());
            // (A hundred thousand objects in 600 KB are refused before reading, as too dense.)
            assert!(
                matches!(&result, Err(BundleError::Malformed(m)) if m.contains("recursion limit"))
                    || matches!(&result, Err(BundleError::TooDense { .. }) if depth == 100_000),
                "{depth} levels of {open}: {result:?}"
            );
        }
        let body = nested(open, close, 127);
        assert!(matches!(
            verify(body.as_bytes()),
            Err(BundleError::Invalid { .. })
        ));
    }
}
