//! Capture bundles: what a harness sends back — the envelope it was given, what the page
//! answered to each prompt, and who recorded it — and their verification.
//!
//! The bundle is read as plain JSON and walked by hand rather than deserialized, so that every
//! problem is reported (with its JSON Pointer), not only the first one serde meets.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{
    dsse::{self, Envelope, EnvelopeSignature},
    keys::{KeyRing, TrustedKey},
    pack::{MAX_PACK_ITEMS, PACK_PAYLOAD_TYPE, PackPayload},
    problem::{Problem, Problems},
};

/// The bounds a bundle must keep, in one place for documentation and messages.
pub mod limits {
    /// Longest response text, in UTF-8 bytes.
    pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
    /// Most streamed chunks per capture.
    pub const MAX_CHUNKS: usize = 4_096;
    /// Most page metadata entries per capture.
    pub const MAX_PAGE_ENTRIES: usize = 32;
    /// Longest page metadata key, in characters.
    pub const MAX_PAGE_KEY_CHARS: usize = 64;
    /// Longest page metadata value, in UTF-8 bytes.
    pub const MAX_PAGE_VALUE_BYTES: usize = 4_096;
    /// Longest harness name or version, in characters.
    pub const MAX_HARNESS_NAME_CHARS: usize = 100;
    /// Longest user agent, in characters.
    pub const MAX_USER_AGENT_CHARS: usize = 1_000;
    /// How far a capture's times may lie outside the pack's life (clock differences between the
    /// harness's machine and the server), in seconds.
    pub const CLOCK_SKEW_SECS: i64 = 300;
    /// The most memory reading a bundle may take per byte of it, as estimated from its text:
    /// objects of a handful of bytes (`{"a":0}`) take a hundred times their size once read
    /// (3 GB for a 32 MiB body), where a bundle's smallest object, a chunk, takes about
    /// fifteen.
    pub const MAX_READING_BYTES_PER_BYTE: usize = 24;
}
use limits::*;

/// A bundle that verified: its pack, its captures (by sequence) and its harness.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedBundle {
    /// The pack, as signed.
    pub pack: PackPayload,
    /// Lowercase hex SHA-256 of the pack's payload bytes as signed.
    pub payload_sha256: String,
    /// The key that signed it.
    pub key: TrustedKey,
    /// Who recorded the captures.
    pub harness: HarnessInfo,
    /// The captures, in sequence order.
    pub captures: Vec<Capture>,
    /// `sha256:` and the hex SHA-256 of the bundle's canonical JSON (captures in sequence order,
    /// object keys sorted, no whitespace): the same bundle, however it is formatted or its
    /// captures ordered, has the same digest.
    pub digest: String,
}

/// The harness that recorded a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The browser's user agent.
    pub user_agent: String,
}

/// What the page answered to one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// The pack item's sequence.
    pub sequence: u32,
    /// The SHA-256 of the prompt the harness sent (it must be the pack item's).
    pub prompt_sha256: String,
    /// The whole answer.
    pub response_text: String,
    /// When the prompt was sent.
    pub started_at: DateTime<Utc>,
    /// When the answer was complete.
    pub finished_at: DateTime<Utc>,
    /// The answer as it streamed, when the harness saw it do so.
    pub chunks: Vec<Chunk>,
    /// What the harness noted of the page (url, title, ...).
    pub page: BTreeMap<String, String>,
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Where the piece starts in the response text, in Unicode scalar values (characters).
    pub offset: u64,
    /// The piece.
    pub text: String,
    /// When it appeared.
    pub at: DateTime<Utc>,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BundleError {
    /// The body is not JSON at all.
    #[error("the body is not JSON: {0}")]
    Malformed(String),
    /// The body holds more JSON objects and values than any bundle of its size: read, it would
    /// take this many bytes of memory (see [`limits::MAX_READING_BYTES_PER_BYTE`]).
    #[error(
        "the body holds too many JSON values for its size: reading it would take about {memory} bytes"
    )]
    TooDense {
        /// The memory reading it would take, estimated from its text.
        memory: usize,
    },
    /// The JSON breaks the format or does not verify; every problem found.
    #[error("the bundle has {} problem(s)", .problems.len())]
    Invalid {
        /// Every problem found (up to [`MAX_REPORTED_PROBLEMS`](crate::MAX_REPORTED_PROBLEMS)).
        problems: Vec<Problem>,
        /// The digest the bundle would have (see [`VerifiedBundle::digest`]): a bundle imported
        /// before may be recognised even though it no longer verifies (its pack expired).
        digest: String,
        /// The key id its signature names, when no key of the ring has it: the server may know
        /// it as one it (or another replica) signed packs with.
        unknown_key: Option<String>,
    },
}

/// Reads and verifies a capture bundle against the keys of `ring` at time `now`: the envelope's
/// signature, type and payload, the pack's expiry, the harness description, and every capture
/// (shape, bounds, that it names an item of the pack by sequence and prompt hash, once, with
/// sane times). Whether the server issued the pack is for the caller to check.
pub fn verify_bundle(
    body: &[u8],
    ring: &KeyRing,
    now: DateTime<Utc>,
) -> Result<VerifiedBundle, BundleError> {
    let memory = memory_to_read(body);
    if memory > MAX_READING_BYTES_PER_BYTE * body.len() + (1 << 20) {
        return Err(BundleError::TooDense { memory });
    }
    // A key named twice is refused, not read as its last value: the bundle's digest and what
    // was checked must be of one reading of it.
    let evalboard_domain::UniqueKeys(value) =
        serde_json::from_slice(body).map_err(|error| BundleError::Malformed(error.to_string()))?;
    let mut problems = Problems::default();
    let Some(root) = value.as_object() else {
        problems.push("", "must be a JSON object");
        return Err(BundleError::Invalid {
            problems: problems.into_vec(),
            digest: digest(value),
            unknown_key: None,
        });
    };
    // The pack itself (its envelope as the whole body: what `POST /browser-harness/packs` gave)
    // sent back instead of the bundle a harness made from it: said in one sentence, rather than
    // as three unknown fields and three missing ones.
    if root.contains_key("payloadType") && !root.contains_key("envelope") {
        problems.push(
            "",
            "is a pack (a signed envelope), not a capture bundle: play the pack with a Browser \
             Harness, and import the bundle it makes (the pack's envelope under `envelope`, with \
             `harness` and `captures`)",
        );
        return Err(BundleError::Invalid {
            problems: problems.into_vec(),
            digest: digest(value),
            unknown_key: None,
        });
    }
    unknown_fields(
        root,
        "",
        &["envelope", "harness", "captures"],
        &mut problems,
    );

    let verified = match root.get("envelope") {
        None => {
            problems.push("/envelope", "is required");
            None
        }
        Some(value) => envelope(value, &mut problems).and_then(|envelope| {
            dsse::verify(
                &envelope,
                PACK_PAYLOAD_TYPE,
                ring,
                "/envelope",
                &mut problems,
            )
        }),
    };
    let pack = verified.as_ref().and_then(|verified| {
        // serde would also read the struct from a JSON array; a pack is an object (as its schema
        // says), which its first byte tells without reading the payload twice.
        let object = verified
            .payload
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            == Some(&b'{');
        let read = if object {
            serde_json::from_slice::<PackPayload>(&verified.payload)
        } else {
            Err(serde::de::Error::custom("a pack is a JSON object"))
        };
        match read {
            Ok(pack) => Some(pack),
            Err(error) => {
                problems.push(
                    "/envelope/payload",
                    format!("is signed but is not a pack: {error}"),
                );
                None
            }
        }
    });
    // A pack whose size breaks the bounds is reported and not used to check the captures.
    let pack = pack.filter(|pack| {
        let sized = (1..=MAX_PACK_ITEMS).contains(&pack.items.len());
        if !sized {
            problems.push(
                "/envelope/payload",
                format!("a pack holds 1 to {MAX_PACK_ITEMS} items"),
            );
        }
        sized
    });
    if let Some(pack) = &pack
        && now > pack.expires_at
    {
        problems.push(
            "/envelope",
            format!(
                "the pack expired at {}; ask for a new pack",
                pack.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        );
    }

    let harness = match root.get("harness") {
        None => {
            problems.push("/harness", "is required");
            None
        }
        Some(value) => harness_info(value, &mut problems),
    };

    let captures = match root.get("captures") {
        None => {
            problems.push("/captures", "is required");
            Vec::new()
        }
        Some(Value::Array(list)) => {
            if list.is_empty() {
                problems.push("/captures", "must hold at least one capture");
            }
            let most = pack.as_ref().map_or(MAX_PACK_ITEMS, |p| p.items.len());
            if list.len() > most {
                problems.push(
                    "/captures",
                    format!(
                        "holds {} capture(s), more than the {most} item(s) of the pack (only the \
                         first {most} are examined)",
                        list.len()
                    ),
                );
            }
            let mut seen = BTreeSet::new();
            let mut captures = Vec::with_capacity(list.len().min(most));
            for (index, value) in list.iter().take(most).enumerate() {
                // Past the reporting bound, examining more captures only costs time.
                if problems.is_full() {
                    problems.stop();
                    break;
                }
                let at = format!("/captures/{index}");
                if let Some(capture) =
                    capture(value, &at, now, pack.as_ref(), &mut seen, &mut problems)
                {
                    captures.push(capture);
                }
            }
            captures
        }
        Some(_) => {
            problems.push("/captures", "must be an array");
            Vec::new()
        }
    };

    match (problems.is_empty(), verified, pack, harness) {
        (true, Some(verified), Some(pack), Some(harness)) => {
            let mut captures = captures;
            captures.sort_by_key(|c| c.sequence);
            Ok(VerifiedBundle {
                pack,
                payload_sha256: hex::encode(Sha256::digest(&verified.payload)),
                key: verified.key,
                harness,
                captures,
                digest: digest(value),
            })
        }
        _ => {
            if problems.is_empty() {
                problems.push("", "the bundle does not verify");
            }
            let unknown_key = value
                .pointer("/envelope/signatures/0/keyid")
                .and_then(Value::as_str)
                .filter(|id| ring.get(id).is_none())
                .map(str::to_owned);
            Err(BundleError::Invalid {
                problems: problems.into_vec(),
                digest: digest(value),
                unknown_key,
            })
        }
    }
}

/// Checks what of a capture could be read against the pack, and against the captures before
/// it: so that a capture with one malformed field still has its other problems reported.
fn check_against_pack(
    capture: (Option<u32>, Option<&str>, Option<DateTime<Utc>>),
    pack: Option<&PackPayload>,
    seen: &mut BTreeSet<u32>,
    at: &str,
    problems: &mut Problems,
) {
    let (sequence, prompt_sha256, started_at) = capture;
    if let Some(sequence) = sequence
        && !seen.insert(sequence)
    {
        problems.push(
            format!("{at}/sequence"),
            format!("item {sequence} was captured already"),
        );
    }
    let Some(pack) = pack else {
        return;
    };
    if let Some(started) = started_at
        && started < pack.issued_at - Duration::seconds(CLOCK_SKEW_SECS)
    {
        problems.push(
            format!("{at}/startedAt"),
            format!(
                "is before the pack was issued, at {} ({CLOCK_SKEW_SECS} s of difference between \
                 clocks are allowed)",
                pack.issued_at.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        );
    }
    let Some(sequence) = sequence else {
        return;
    };
    let Some(item) = pack.item(sequence) else {
        problems.push(
            format!("{at}/sequence"),
            format!(
                "the pack has no item {sequence} (it has 1 to {})",
                pack.items.len()
            ),
        );
        return;
    };
    if let Some(hash) = prompt_sha256
        && hash != item.prompt_sha256
    {
        problems.push(
            format!("{at}/promptSha256"),
            format!("is not the hash of item {sequence}'s prompt: the harness sent another text"),
        );
    }
}

/// The envelope, walked like the rest of the bundle so that each of its problems is reported
/// where it is. (Deserializing it would name the first problem only, without its place.)
fn envelope(value: &Value, problems: &mut Problems) -> Option<Envelope> {
    let Some(object) = value.as_object() else {
        problems.push("/envelope", "must be an object");
        return None;
    };
    unknown_fields(
        object,
        "/envelope",
        &["payloadType", "payload", "signatures"],
        problems,
    );
    let payload_type = string(object, "/envelope", "payloadType", problems);
    let payload = string(object, "/envelope", "payload", problems);
    let signatures = match required(object, "/envelope", "signatures", problems) {
        None => None,
        Some(Value::Array(list)) => {
            let mut signatures = Some(Vec::new());
            for (index, value) in list.iter().enumerate() {
                // Only one signature is ever taken; past the reporting bound, stop walking.
                if problems.is_full() {
                    problems.stop();
                    break;
                }
                let at = format!("/envelope/signatures/{index}");
                let Some(object) = value.as_object() else {
                    problems.push(at, "must be an object");
                    signatures = None;
                    continue;
                };
                unknown_fields(object, &at, &["keyid", "sig"], problems);
                let keyid = string(object, &at, "keyid", problems);
                let sig = string(object, &at, "sig", problems);
                match (keyid, sig, signatures.as_mut()) {
                    (Some(keyid), Some(sig), Some(list)) => {
                        list.push(EnvelopeSignature { keyid, sig })
                    }
                    _ => signatures = None,
                }
            }
            signatures
        }
        Some(_) => {
            problems.push("/envelope/signatures", "must be an array");
            None
        }
    };
    Some(Envelope {
        payload_type: payload_type?,
        payload: payload?,
        signatures: signatures?,
    })
}

fn harness_info(value: &Value, problems: &mut Problems) -> Option<HarnessInfo> {
    let Some(object) = value.as_object() else {
        problems.push("/harness", "must be an object");
        return None;
    };
    unknown_fields(
        object,
        "/harness",
        &["name", "version", "userAgent"],
        problems,
    );
    let name = text(object, "/harness", "name", MAX_HARNESS_NAME_CHARS, problems);
    let version = text(
        object,
        "/harness",
        "version",
        MAX_HARNESS_NAME_CHARS,
        problems,
    );
    let user_agent = text(
        object,
        "/harness",
        "userAgent",
        MAX_USER_AGENT_CHARS,
        problems,
    );
    Some(HarnessInfo {
        name: name?,
        version: version?,
        user_agent: user_agent?,
    })
}

fn capture(
    value: &Value,
    at: &str,
    now: DateTime<Utc>,
    pack: Option<&PackPayload>,
    seen: &mut BTreeSet<u32>,
    problems: &mut Problems,
) -> Option<Capture> {
    let Some(object) = value.as_object() else {
        problems.push(at, "must be an object");
        return None;
    };
    unknown_fields(
        object,
        at,
        &[
            "sequence",
            "promptSha256",
            "responseText",
            "startedAt",
            "finishedAt",
            "chunks",
            "page",
        ],
        problems,
    );
    let sequence = match object.get("sequence") {
        None => {
            problems.push(format!("{at}/sequence"), "is required");
            None
        }
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                problems.push(
                    format!("{at}/sequence"),
                    format!(
                        "must be a whole number from 1 to {}{}",
                        u32::MAX,
                        integer_hint(value, 1.0)
                    ),
                );
                None
            }
        },
    };
    let prompt_sha256 = match required(object, at, "promptSha256", problems) {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Some(hash.clone())
        }
        Some(_) => {
            problems.push(
                format!("{at}/promptSha256"),
                "must be 64 lowercase hex digits",
            );
            None
        }
        None => None,
    };
    let response_text = match required(object, at, "responseText", problems) {
        Some(Value::String(text)) if text.len() <= MAX_RESPONSE_BYTES && !text.contains('\0') => {
            Some(text.clone())
        }
        Some(Value::String(_)) => {
            problems.push(
                format!("{at}/responseText"),
                format!("must be at most {MAX_RESPONSE_BYTES} bytes, without NUL characters"),
            );
            None
        }
        Some(_) => {
            problems.push(format!("{at}/responseText"), "must be a string");
            None
        }
        None => None,
    };
    let started_at = time(object, at, "startedAt", problems);
    let finished_at = time(object, at, "finishedAt", problems);
    let skew = Duration::seconds(CLOCK_SKEW_SECS);
    if let (Some(started), Some(finished)) = (started_at, finished_at) {
        if finished < started {
            problems.push(format!("{at}/finishedAt"), "is before startedAt");
        }
        if finished > now + skew {
            problems.push(
                format!("{at}/finishedAt"),
                format!(
                    "is in the future: this server's clock reads {} ({CLOCK_SKEW_SECS} s of \
                     difference between clocks are allowed)",
                    now.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            );
        }
    }
    let chunks = match object.get("chunks") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(list)) if list.len() <= MAX_CHUNKS => {
            let length = response_text.as_ref().map(|t| t.chars().count() as u64);
            chunks(
                list,
                &format!("{at}/chunks"),
                length,
                started_at.zip(finished_at),
                problems,
            )
        }
        Some(Value::Array(_)) => {
            problems.push(
                format!("{at}/chunks"),
                format!("must hold at most {MAX_CHUNKS} chunks"),
            );
            None
        }
        Some(_) => {
            problems.push(format!("{at}/chunks"), "must be an array");
            None
        }
    };
    let page = page(object.get("page"), &format!("{at}/page"), problems);
    check_against_pack(
        (sequence, prompt_sha256.as_deref(), started_at),
        pack,
        seen,
        at,
        problems,
    );
    Some(Capture {
        sequence: sequence?,
        prompt_sha256: prompt_sha256?,
        response_text: response_text?,
        started_at: started_at?,
        finished_at: finished_at?,
        chunks: chunks?,
        page: page?,
    })
}

fn chunks(
    list: &[Value],
    at: &str,
    response_chars: Option<u64>,
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    problems: &mut Problems,
) -> Option<Vec<Chunk>> {
    let mut chunks = Vec::with_capacity(list.len());
    let mut valid = true;
    let mut previous: Option<u64> = None;
    for (index, value) in list.iter().enumerate() {
        let here = format!("{at}/{index}");
        let Some(object) = value.as_object() else {
            problems.push(here, "must be an object");
            valid = false;
            continue;
        };
        unknown_fields(object, &here, &["offset", "text", "at"], problems);
        let written = required(object, &here, "offset", problems).map(Value::as_u64);
        if written == Some(None) {
            let hint = object
                .get("offset")
                .map(|value| integer_hint(value, 0.0))
                .unwrap_or_default();
            problems.push(
                format!("{here}/offset"),
                format!("must be a whole number from 0{hint}"),
            );
        }
        let written = written.flatten();
        // Order is checked on the offsets as written, in bounds or not.
        if let (Some(offset), Some(before)) = (written, previous)
            && offset < before
        {
            problems.push(
                format!("{here}/offset"),
                "is before the previous chunk's: chunks are in the order they appeared",
            );
        }
        previous = written.or(previous);
        let offset = match written {
            Some(offset) if response_chars.is_some_and(|n| offset > n) => {
                problems.push(
                    format!("{here}/offset"),
                    "is past the end of the response text",
                );
                None
            }
            other => other,
        };
        let text = match required(object, &here, "text", problems) {
            Some(Value::String(text))
                if text.len() <= MAX_RESPONSE_BYTES && !text.contains('\0') =>
            {
                Some(text.clone())
            }
            Some(_) => {
                problems.push(
                    format!("{here}/text"),
                    format!(
                        "must be a string of at most {MAX_RESPONSE_BYTES} bytes, without NUL characters"
                    ),
                );
                None
            }
            None => None,
        };
        let time = time(object, &here, "at", problems);
        if let (Some(time), Some((started, finished))) = (time, span)
            && (time < started || time > finished)
        {
            problems.push(
                format!("{here}/at"),
                "is outside the capture's startedAt..finishedAt",
            );
        }
        match (offset, text, time) {
            (Some(offset), Some(text), Some(at)) => chunks.push(Chunk { offset, text, at }),
            _ => valid = false,
        }
    }
    valid.then_some(chunks)
}

fn page(
    value: Option<&Value>,
    at: &str,
    problems: &mut Problems,
) -> Option<BTreeMap<String, String>> {
    let object = match value {
        None | Some(Value::Null) => return Some(BTreeMap::new()),
        Some(Value::Object(object)) => object,
        Some(_) => {
            problems.push(at, "must be an object of strings");
            return None;
        }
    };
    if object.len() > MAX_PAGE_ENTRIES {
        problems.push(at, format!("must have at most {MAX_PAGE_ENTRIES} entries"));
        return None;
    }
    let mut page = BTreeMap::new();
    let mut valid = true;
    for (key, value) in object {
        let here = format!("{at}/{}", pointer_token(key));
        if key.is_empty() || key.chars().count() > MAX_PAGE_KEY_CHARS || key.contains('\0') {
            problems.push(
                here.clone(),
                format!("keys must be 1 to {MAX_PAGE_KEY_CHARS} characters, without NUL"),
            );
            valid = false;
        }
        match value {
            Value::String(text) if text.len() <= MAX_PAGE_VALUE_BYTES && !text.contains('\0') => {
                page.insert(key.clone(), text.clone());
            }
            _ => {
                problems.push(
                    here,
                    format!(
                        "must be a string of at most {MAX_PAGE_VALUE_BYTES} bytes, without NUL characters"
                    ),
                );
                valid = false;
            }
        }
    }
    valid.then_some(page)
}

/// A required field: reports its absence.
fn required<'a>(
    object: &'a Map<String, Value>,
    at: &str,
    field: &str,
    problems: &mut Problems,
) -> Option<&'a Value> {
    let value = object.get(field);
    if value.is_none() {
        problems.push(format!("{at}/{field}"), "is required");
    }
    value
}

/// A required string.
fn string(
    object: &Map<String, Value>,
    at: &str,
    field: &str,
    problems: &mut Problems,
) -> Option<String> {
    match required(object, at, field, problems)? {
        Value::String(text) => Some(text.clone()),
        _ => {
            problems.push(format!("{at}/{field}"), "must be a string");
            None
        }
    }
}

/// A required non-blank string of at most `max_chars` characters.
fn text(
    object: &Map<String, Value>,
    at: &str,
    field: &str,
    max_chars: usize,
    problems: &mut Problems,
) -> Option<String> {
    match required(object, at, field, problems)? {
        Value::String(text)
            if !text.trim().is_empty()
                && text.chars().count() <= max_chars
                && !text.chars().any(char::is_control) =>
        {
            Some(text.clone())
        }
        _ => {
            problems.push(
                format!("{at}/{field}"),
                format!(
                    "must be a string of 1 to {max_chars} characters, not blank, without control characters"
                ),
            );
            None
        }
    }
}

/// A required RFC 3339 time.
fn time(
    object: &Map<String, Value>,
    at: &str,
    field: &str,
    problems: &mut Problems,
) -> Option<DateTime<Utc>> {
    let value = required(object, at, field, problems)?;
    // chrono also reads a space between date and time; RFC 3339's grammar (and the published
    // schema) has `T` or `t` only.
    // chrono also reads U+2212 (minus sign) in an offset; the grammar has ASCII only.
    let text = value
        .as_str()
        .filter(|text| text.is_ascii() && matches!(text.as_bytes().get(10), Some(b'T' | b't')));
    match text.map(DateTime::parse_from_rfc3339) {
        // A leap second (`:60`) would be stored and shown as such, which many readers refuse.
        Some(Ok(time)) if time.nanosecond() < 1_000_000_000 => Some(time.with_timezone(&Utc)),
        parsed => {
            let leap = matches!(parsed, Some(Ok(_)));
            problems.push(format!("{at}/{field}"), time_problem(value, leap));
            None
        }
    }
}

/// What is wrong with a time that was refused, for the mistakes harnesses make (a space for the
/// `T`, no offset: what many languages write by default), else the rule; with an example.
fn time_problem(value: &Value, leap: bool) -> String {
    const EXAMPLE: &str = "e.g. 2026-11-29T10:15:30.250Z";
    let Some(text) = value.as_str() else {
        return format!("must be a string: an RFC 3339 time, {EXAMPLE}");
    };
    let why = if leap {
        "is a leap second (second 60), which is refused"
    } else if text.as_bytes().get(10) == Some(&b' ') {
        "separates the date and the time with a space: RFC 3339 has `T`"
    } else if DateTime::parse_from_rfc3339(&format!("{text}Z")).is_ok() {
        "has no offset: end it with `Z` (UTC) or one such as `+01:00`"
    } else {
        "must be an RFC 3339 time"
    };
    format!("{why}, {EXAMPLE}")
}

fn unknown_fields(object: &Map<String, Value>, at: &str, known: &[&str], problems: &mut Problems) {
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(
                format!("{at}/{}", pointer_token(key)),
                format!(
                    "is not a field here (expected one of: {})",
                    known.join(", ")
                ),
            );
        }
    }
}

/// What to say of a whole number written with a fraction (`1.0`): a bundle's integers are
/// taken as written only, since its identity (which import it repeats) is its canonical JSON,
/// where `1.0` and `1` differ — unlike the API's other integer fields, which take both.
fn integer_hint(value: &Value, least: f64) -> &'static str {
    match value.as_f64() {
        // Only a number that written as an integer would be taken (`0.0` as a sequence is
        // refused either way).
        Some(number)
            if value.is_f64()
                && number.fract() == 0.0
                && number >= least
                && number <= f64::from(u32::MAX) =>
        {
            ", written as an integer (`1`, not `1.0`): a bundle is identified by its JSON as written"
        }
        _ => "",
    }
}

/// A key as a JSON Pointer reference token (RFC 6901: `~` as `~0`, `/` as `~1`), cut to a
/// readable length.
fn pointer_token(key: &str) -> String {
    key.chars()
        .take(64)
        .collect::<String>()
        .replace('~', "~0")
        .replace('/', "~1")
}

/// An estimate of the memory reading `json` as JSON values takes, in bytes, from its text
/// alone (strings skipped): an object takes about 700 however little it holds (serde_json's
/// map allocates a node for eleven entries), an array about 180 (its first allocation holds
/// four values), each member of an object about 100 more (its key, and its slot in a node
/// seldom full), any other value about 48. (Calibrated on what was measured: 32 MiB of objects
/// of 91 one-character keys took 27 bytes per byte, the densest genuine bundle 18.5.)
fn memory_to_read(json: &[u8]) -> usize {
    let (mut objects, mut arrays, mut members, mut values) = (0usize, 0usize, 0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => objects += 1,
            b'[' => arrays += 1,
            b':' => members += 1,
            // One more value of a list or an object.
            b',' => values += 1,
            _ => {}
        }
    }
    objects * 700 + arrays * 180 + members * 100 + values * 48
}

/// `sha256:` and the hex SHA-256 of the canonical JSON of a bundle whose captures are put in
/// sequence order: the same captures in another order are the same bundle.
fn digest(mut value: Value) -> String {
    if let Some(Value::Array(list)) = value.get_mut("captures") {
        list.sort_by_key(|capture| capture.get("sequence").and_then(Value::as_u64));
    }
    format!("sha256:{}", hex::encode(Sha256::digest(canonical(&value))))
}

/// JSON with object keys sorted by their UTF-8 bytes and no whitespace, whatever order the
/// parser kept them in.
fn canonical(value: &Value) -> Vec<u8> {
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(object) => {
                let mut entries: Vec<(&String, &Value)> = object.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                out.push(b'{');
                for (index, (key, value)) in entries.into_iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut *out, key).expect("strings serialize");
                    out.push(b':');
                    write(value, out);
                }
                out.push(b'}');
            }
            Value::Array(list) => {
                out.push(b'[');
                for (index, value) in list.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    write(value, out);
                }
                out.push(b']');
            }
            scalar => serde_json::to_writer(&mut *out, scalar).expect("scalars serialize"),
        }
    }
    let mut out = Vec::new();
    write(value, &mut out);
    out
}
