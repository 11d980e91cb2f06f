//! JSON Schemas (draft 2020-12) of the pack payload and the capture bundle, for harness authors
//! to check a bundle before they send it. Built from the same limits the verifier applies, and
//! never stricter than it: whatever a schema refuses, [`verify_bundle`](crate::verify_bundle)
//! refuses too; for a bundle wrong in one place, with a problem at the same JSON Pointer (the
//! tests hold the two to that; with several faults the verifier may stop short of some). The
//! verifier checks more than a schema can: signatures, that captures match the pack, times.

use serde_json::{Value, json};

use crate::{
    bundle::limits::*,
    pack::{MAX_PACK_ITEMS, PACK_PAYLOAD_TYPE},
};

/// The pack payload schema's `$id`, and the path the server serves it at.
pub const PACK_PAYLOAD_SCHEMA_PATH: &str = "/browser-harness/schemas/pack-payload.v1.json";
/// The capture bundle schema's `$id`, and the path the server serves it at.
pub const CAPTURE_BUNDLE_SCHEMA_PATH: &str = "/browser-harness/schemas/capture-bundle.v1.json";

/// Text without NUL, as the verifier requires of answers, chunks and page entries.
const NO_NUL: &str = "^[^\\u0000]*$";
/// Text with something besides white space and without control characters (Unicode `Cc`), as
/// the harness's name, version and user agent must be. The white space is Rust's (`White_Space`),
/// which is what the verifier trims: not the `\s` of ECMAScript, which also counts U+FEFF.
const NAMED: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*\
    [^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]\
    [^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// An RFC 3339 date-time (`T` or `t` between date and time, as its grammar says).
const DATE_TIME: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";
/// Standard base64 with padding.
const BASE64: &str = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";
/// Lowercase hex SHA-256.
const SHA256_HEX: &str = "^[0-9a-f]{64}$";

/// Both schemas as published: file name (under the server's `/browser-harness/schemas/` and
/// the repository's `docs/schemas/`) and pretty-printed text, ending with a newline. Built once.
pub fn schema_documents() -> &'static [(&'static str, String); 2] {
    static DOCUMENTS: std::sync::LazyLock<[(&'static str, String); 2]> =
        std::sync::LazyLock::new(|| {
            let text = |schema: Value| {
                serde_json::to_string_pretty(&schema).expect("a schema is plain JSON") + "\n"
            };
            [
                ("capture-bundle.v1.json", text(capture_bundle_schema())),
                ("pack-payload.v1.json", text(pack_payload_schema())),
            ]
        });
    &DOCUMENTS
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time", "pattern": DATE_TIME})
}

/// The schema of a capture bundle, the body of `POST /browser-harness/imports`.
pub fn capture_bundle_schema() -> Value {
    // Lengths in JSON Schema count characters; the verifier's byte bounds are at least as
    // strict for the same number, so the schema states them as characters and never refuses
    // what the verifier takes.
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": CAPTURE_BUNDLE_SCHEMA_PATH,
        "title": "evalboard Browser Harness capture bundle, v1",
        "description": "What a harness sends back: the signed pack envelope as issued, who \
            recorded the captures, and what the page answered to each prompt \
            (docs/harness-format.md). The server also checks what no schema can: the \
            signature, that each capture names an item of the pack by its sequence and prompt \
            hash, once, and that times fall within the pack's life.",
        "type": "object",
        "additionalProperties": false,
        "required": ["envelope", "harness", "captures"],
        "properties": {
            "envelope": {
                "description": "The DSSE envelope of the pack, exactly as the server issued it.",
                "type": "object",
                "additionalProperties": false,
                "required": ["payloadType", "payload", "signatures"],
                "properties": {
                    "payloadType": {"const": PACK_PAYLOAD_TYPE},
                    "payload": {
                        "description": "The pack payload's bytes, base64 (see the pack payload schema).",
                        "type": "string",
                        "pattern": BASE64
                    },
                    "signatures": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["keyid", "sig"],
                            "properties": {
                                "keyid": {"type": "string", "pattern": SHA256_HEX},
                                "sig": {
                                    "description": "A 64-byte ed25519 signature, base64.",
                                    "type": "string",
                                    "pattern": "^[A-Za-z0-9+/]{86}==$"
                                }
                            }
                        }
                    }
                }
            },
            "harness": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "version", "userAgent"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": MAX_HARNESS_NAME_CHARS, "pattern": NAMED},
                    "version": {"type": "string", "minLength": 1, "maxLength": MAX_HARNESS_NAME_CHARS, "pattern": NAMED},
                    "userAgent": {"type": "string", "minLength": 1, "maxLength": MAX_USER_AGENT_CHARS, "pattern": NAMED}
                }
            },
            "captures": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PACK_ITEMS,
                "items": {"$ref": "#/$defs/capture"}
            }
        },
        "$defs": {
            "capture": {
                "type": "object",
                "additionalProperties": false,
                "required": ["sequence", "promptSha256", "responseText", "startedAt", "finishedAt"],
                "properties": {
                    "sequence": {
                        "description": "The pack item's sequence.",
                        "type": "integer", "minimum": 1, "maximum": u32::MAX
                    },
                    "promptSha256": {
                        "description": "Lowercase hex SHA-256 of the prompt as sent: the pack item's.",
                        "type": "string", "pattern": SHA256_HEX
                    },
                    "responseText": {
                        "description": format!("The whole answer; at most {MAX_RESPONSE_BYTES} bytes of UTF-8."),
                        "type": "string", "maxLength": MAX_RESPONSE_BYTES, "pattern": NO_NUL
                    },
                    "startedAt": time(),
                    "finishedAt": time(),
                    "chunks": {
                        "description": "The answer as it streamed, in the order the pieces appeared.",
                        "type": ["array", "null"],
                        "maxItems": MAX_CHUNKS,
                        "items": {"$ref": "#/$defs/chunk"}
                    },
                    "page": {
                        "description": "What the harness noted of the page (url, title, ...).",
                        "type": ["object", "null"],
                        "maxProperties": MAX_PAGE_ENTRIES,
                        "propertyNames": {"minLength": 1, "maxLength": MAX_PAGE_KEY_CHARS, "pattern": NO_NUL},
                        "additionalProperties": {
                            "description": format!("At most {MAX_PAGE_VALUE_BYTES} bytes of UTF-8."),
                            "type": "string", "maxLength": MAX_PAGE_VALUE_BYTES, "pattern": NO_NUL
                        }
                    }
                }
            },
            "chunk": {
                "type": "object",
                "additionalProperties": false,
                "required": ["offset", "text", "at"],
                "properties": {
                    "offset": {
                        "description": "Where the piece starts in the response text, in characters (Unicode scalar values).",
                        "type": "integer", "minimum": 0
                    },
                    "text": {"type": "string", "maxLength": MAX_RESPONSE_BYTES, "pattern": NO_NUL},
                    "at": time()
                }
            }
        }
    })
}

/// The schema of a pack payload: the JSON inside a pack envelope's base64 `payload`.
pub fn pack_payload_schema() -> Value {
    let integer =
        |minimum: u32| json!({"type": "integer", "minimum": minimum, "maximum": u32::MAX});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PACK_PAYLOAD_SCHEMA_PATH,
        "title": "evalboard Browser Harness pack payload, v1",
        "description": format!("The prompts a harness is to play, signed by the server: the \
            payload of a DSSE envelope of type `{PACK_PAYLOAD_TYPE}` (docs/harness-format.md). \
            A harness sends each item's promptText as one message and captures the answer."),
        "type": "object",
        "additionalProperties": false,
        "required": ["packId", "issuedAt", "expiresAt", "dataset", "target", "promptTemplate", "items"],
        "properties": {
            "packId": {"type": "string"},
            // No `format`: the server writes RFC 3339 in UTC (whole seconds, `Z`), but reads any
            // time chrono does, and a schema must not refuse what the verifier takes.
            "issuedAt": {"type": "string", "description": "When the pack was issued, e.g. 2026-01-15T09:30:00Z."},
            "expiresAt": {"type": "string", "description": "After this time the server no longer imports captures of the pack."},
            "dataset": {
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "version", "digest"],
                "properties": {
                    "name": {"type": "string"},
                    "version": integer(0),
                    "digest": {"type": "string"}
                }
            },
            "target": {"type": "string"},
            "promptTemplate": {"type": "string"},
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PACK_ITEMS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["sequence", "datasetItemId", "promptText", "choices", "promptSha256"],
                    "properties": {
                        "sequence": integer(0),
                        "datasetItemId": {"type": "string"},
                        "promptText": {"type": "string"},
                        "choices": {"type": "array", "items": {"type": "string"}},
                        "promptSha256": {"type": "string"}
                    }
                }
            }
        }
    })
}
