//! Reading request bodies: raw ones with a size limit, refused as problem+json as soon as the
//! limit is known to be passed (from `Content-Length`, or while streaming), and JSON objects into
//! request types with the offending field named.

use std::ops::Deref;

use actix_web::{HttpRequest, http::header, web};
use evalboard_domain::UniqueKeys;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{
    error::{ApiError, payload_error},
    serde_message::{self, SerdeMessage},
};

/// KiB of large request bodies this process holds in memory at once (dataset uploads, capture
/// bundles): enough for four of the largest uploads or eight of the largest bundles. A body
/// past it waits unread (TCP holds its sender back) until others are let go. Without it, a few
/// dozen large uploads held open at once would take gigabytes.
const BODIES_IN_MEMORY_KIB: usize = 256 * 1024;

/// Bodies of at most this many bytes (JSON requests) are read without the budget: they cannot
/// add up to much, and must not queue behind large uploads.
const SMALL_BODY_BYTES: usize = 1024 * 1024;

/// How long a large body waits for room in the budget before the request is refused (503,
/// try again): a wait without end would leave its client with no answer at all.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

static BODIES_IN_MEMORY: Semaphore = Semaphore::const_new(BODIES_IN_MEMORY_KIB);

/// A request body read whole, counted against the memory bodies may hold until it is dropped.
pub(crate) struct ReceivedBody {
    bytes: Vec<u8>,
    /// `None` for a small body, read without the budget.
    _held: Option<SemaphorePermit<'static>>,
}

/// Reads the whole body, or a 413 saying `too_large` when it exceeds `limit` bytes. The body
/// counts as `limit` bytes (its `Content-Length`, when smaller) against the memory bodies may
/// hold at once, from before it is read until the returned body is dropped.
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    too_large: &str,
) -> Result<ReceivedBody, ApiError> {
    read_body_within(
        (&BODIES_IN_MEMORY, BUDGET_WAIT),
        req,
        payload,
        limit,
        too_large,
    )
    .await
}

impl Deref for ReceivedBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// [`read_body`], counted against `budget` (KiB, waited for at most its duration) unless it is
/// small.
async fn read_body_within(
    (budget, patience): (&'static Semaphore, std::time::Duration),
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    too_large: &str,
) -> Result<ReceivedBody, ApiError> {
    let refuse = || ApiError::PayloadTooLarge(too_large.to_owned());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse());
    }
    let size = declared.unwrap_or(limit).min(limit);
    let held = if size <= SMALL_BODY_BYTES {
        None
    } else {
        let counted = u32::try_from(size.div_ceil(1024)).unwrap_or(u32::MAX);
        let wait = tokio::time::timeout(patience, budget.acquire_many(counted));
        Some(
            wait.await
                .map_err(|_| {
                    ApiError::Unavailable(
                        "too many large uploads are being received at once; try again shortly"
                            .into(),
                    )
                })?
                .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?,
        )
    };
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(payload_error)?;
        if body.len() + chunk.len() > limit {
            return Err(refuse());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(ReceivedBody {
        bytes: body,
        _held: held,
    })
}

/// A JSON object request body, each key named once at any depth ([`UniqueKeys`]): of two
/// equal keys serde_json keeps the last, and a request that says two things is refused rather
/// than read as one of them.
pub(crate) struct JsonObject(pub(crate) serde_json::Map<String, Value>);

impl<'de> serde::Deserialize<'de> for JsonObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read once strictly, then as the map it must be (serde's words for anything else).
        let UniqueKeys(value) = UniqueKeys::deserialize(deserializer)?;
        serde_json::from_value(value)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// Reads an optional JSON object body (at most 64 KiB) into a request type: an empty body or
/// `null` is `T::default()`, anything but an object is a 400, and a field `T` does not have is
/// refused as `parse_json` refuses it. For actions whose every field has a default (retry,
/// cancel), whose clients often send no body at all.
pub(crate) async fn optional_json_object<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(
        req,
        payload,
        crate::MAX_JSON_BYTES,
        "the JSON body is larger than 64 KiB",
    )
    .await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match serde_json::from_slice(&body).map(|UniqueKeys(value)| value) {
        Ok(Value::Null) => Ok(T::default()),
        Ok(Value::Object(object)) => parse_json(object, &[]),
        Ok(_) => Err(ApiError::BadRequest {
            detail: "the JSON body must be an object (or empty, or null)".into(),
            errors: Vec::new(),
        }),
        Err(e) => Err(ApiError::BadRequest {
            detail: format!("the JSON body is invalid: {e}"),
            errors: Vec::new(),
        }),
    }
}

/// The media type of the request's `Content-Type`, lowercased, without parameters; `None`
/// when there is no (readable) header.
pub(crate) fn media_type(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Reads a JSON object body into a request type, naming the offending field of any type error.
/// serde would also read a struct written as a JSON array (`"selection": [null, 5]`); the wire
/// format has objects only, so anything else at the `objects` pointers is refused, by path.
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: serde_json::Map<String, Value>,
    objects: &[&str],
) -> Result<T, ApiError> {
    let mut body = Value::Object(body);
    integral_floats_as_integers(&mut body);
    for pointer in objects {
        if let Some(value) = body.pointer(pointer)
            && !(value.is_object() || value.is_null())
        {
            let field = pointer[1..].replace('/', ".");
            return Err(ApiError::bad_parameter(&field, "must be a JSON object"));
        }
    }
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing field is reported at its parent: named itself, as every other problem is.
        if let SerdeMessage::MissingField(field) = serde_message::read(&message) {
            let field = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            return ApiError::bad_parameter(&field, "is required");
        }
        let message = plain(&message);
        if path == "." {
            ApiError::BadRequest {
                detail: format!("the JSON body is invalid: {message}"),
                errors: Vec::new(),
            }
        } else {
            ApiError::bad_parameter(&path, message)
        }
    })
}

/// serde's messages for a value of the wrong type or out of range, in the API's words:
/// `invalid type: floating point `2.5`, expected u32` becomes `must be a whole number, 0 or more,
/// not 2.5`. Messages of other forms are left as they are.
pub(crate) fn plain(message: &str) -> String {
    let (got, wanted) = match serde_message::read(message) {
        SerdeMessage::UnknownField {
            name,
            expected: Some(takes),
        } => return format!("`{name}` is not a field here (it takes {takes})"),
        SerdeMessage::UnknownField { name, .. } => return format!("`{name}` is not a field here"),
        SerdeMessage::UnknownVariant {
            name,
            expected: Some(takes),
        } => return format!("must be one of {takes}, not `{name}`"),
        SerdeMessage::UnknownVariant { name, .. } => {
            return format!("`{name}` is not a value of this field");
        }
        SerdeMessage::Invalid { got, wanted } => (got, wanted),
        _ => return message.to_owned(),
    };
    // A whole number past the field's type: its largest value is what to say.
    let largest = match wanted {
        "u8" => Some(u64::from(u8::MAX)),
        "u16" => Some(u64::from(u16::MAX)),
        "u32" => Some(u64::from(u32::MAX)),
        "i8" => Some(i8::MAX as u64),
        "i16" => Some(i16::MAX as u64),
        "i32" => Some(i32::MAX as u64),
        "i64" => Some(i64::MAX as u64),
        "u64" => Some(u64::MAX),
        _ => None,
    };
    if let (Some(largest), Some(number)) = (
        largest,
        got.strip_prefix("integer `")
            .and_then(|n| n.strip_suffix('`'))
            .and_then(|n| n.parse::<u64>().ok()),
    ) && number > largest
    {
        return format!("must be at most {largest}, not {number}");
    }
    // A whole number past u64 reaches serde as a float (`1e20`): still a whole number, too
    // large — not "must be a whole number, not 1e+20".
    if let (Some(largest), Some(number)) = (
        largest,
        got.strip_prefix("floating point `")
            .and_then(|n| n.strip_suffix('`'))
            .and_then(|n| n.parse::<f64>().ok()),
    ) && number.fract() == 0.0
        && number > largest as f64
    {
        return format!("must be at most {largest}, not {number:e}");
    }
    let wanted = match wanted {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" => "a string",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        other
            if other == "a map"
                || other.starts_with("struct ")
                || other.starts_with("internally tagged enum ")
                || other.starts_with("adjacently tagged enum ") =>
        {
            "an object"
        }
        other => other,
    };
    let got = match got {
        "sequence" => "a list",
        "map" => "an object",
        "null" | "unit value" => "null",
        // `floating point `2.5``, `integer `-1``, `boolean `true``, `string "many"`.
        other => match (other.find('`'), other.find('"')) {
            (Some(start), _) => other[start + 1..].trim_end_matches('`'),
            (None, Some(start)) => &other[start..],
            (None, None) => other,
        },
    };
    format!("must be {wanted}, not {got}")
}

/// JSON Schema counts `5.0` as an integer (2020-12, "integer": any number with a zero
/// fractional part) and the OpenAPI document is JSON Schema, so such numbers are read as the
/// integers they are; serde would refuse them for integer fields. Other numbers are left alone
/// (a float field reads `5` as well as `5.0`).
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
            {
                // Beyond ±2^53 a float is no longer an exact integer: left as it is.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                if float.abs() <= EXACT {
                    // Integral and within ±2^53: the conversion is exact.
                    *number = (float as i64).into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Numbers {
        count: u32,
        share: f64,
        list: Vec<u8>,
    }

    #[test]
    fn integral_floats_read_as_integers_and_fractions_stay_refused() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let read: Numbers = parse_json(
            body(json!({"count": 5.0, "share": 1.0, "list": [1.0, 2]})),
            &[],
        )
        .unwrap();
        assert_eq!(
            read,
            Numbers {
                count: 5,
                share: 1.0,
                list: vec![1, 2]
            }
        );
        let fraction =
            parse_json::<Numbers>(body(json!({"count": 5.5, "share": 1, "list": []})), &[]);
        assert!(matches!(fraction, Err(ApiError::BadRequest { .. })));
        let negative =
            parse_json::<Numbers>(body(json!({"count": -1.0, "share": 1, "list": []})), &[]);
        assert!(matches!(negative, Err(ApiError::BadRequest { .. })));
        let huge =
            parse_json::<Numbers>(body(json!({"count": 1e300, "share": 1, "list": []})), &[]);
        assert!(matches!(huge, Err(ApiError::BadRequest { .. })));
    }

    #[test]
    fn serde_messages_are_said_in_the_api_words() {
        let cases = [
            (
                "invalid type: floating point `2.5`, expected u32",
                "must be a whole number, 0 or more, not 2.5",
            ),
            (
                "invalid type: floating point `1e20`, expected u32",
                "must be at most 4294967295, not 1e20",
            ),
            (
                "invalid value: integer `-1`, expected u32",
                "must be a whole number, 0 or more, not -1",
            ),
            (
                "invalid value: integer `5000000000`, expected u32",
                "must be at most 4294967295, not 5000000000",
            ),
            (
                r#"invalid type: string "many", expected u32"#,
                r#"must be a whole number, 0 or more, not "many""#,
            ),
            (
                "invalid type: sequence, expected struct CreateRunRequest",
                "must be an object, not a list",
            ),
            (
                "invalid type: integer `7`, expected a string",
                "must be a string, not 7",
            ),
            (
                "unknown field `colour`, expected one of `providerName`, `settings`",
                "`colour` is not a field here (it takes providerName, settings)",
            ),
            (
                "unknown variant `llm2`, expected `choice` or `llm`",
                "must be one of choice or llm, not `llm2`",
            ),
            (
                "invalid type: null, expected internally tagged enum JudgeDto",
                "must be an object, not null",
            ),
            ("trailing characters", "trailing characters"),
        ];
        for (serde, ours) in cases {
            assert_eq!(plain(serde), ours, "{serde}");
        }
    }

    #[test]
    fn a_missing_field_is_named_itself() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            name: String,
        }
        let body = |v: Value| v.as_object().unwrap().clone();
        let Err(ApiError::BadRequest { errors, .. }) =
            parse_json::<Outer>(body(json!({"inner": {}})), &[])
        else {
            panic!("a 400");
        };
        assert_eq!(errors[0].field.as_deref(), Some("inner.name"));
        assert_eq!(errors[0].detail, "is required");
        let Err(ApiError::BadRequest { errors, .. }) = parse_json::<Outer>(body(json!({})), &[])
        else {
            panic!("a 400");
        };
        assert_eq!(errors[0].field.as_deref(), Some("inner"));
    }

    /// A request of `kib` KiB, as a handler gets it (large ones count against the budget).
    async fn request(kib: usize) -> (HttpRequest, web::Payload) {
        use actix_web::FromRequest;
        let (req, mut payload) = actix_web::test::TestRequest::post()
            .insert_header((header::CONTENT_LENGTH, kib * 1024))
            .set_payload(vec![b'x'; kib * 1024])
            .to_http_parts();
        let payload = web::Payload::from_request(&req, &mut payload)
            .await
            .unwrap();
        (req, payload)
    }

    #[actix_web::test]
    async fn large_bodies_wait_for_the_memory_others_hold() {
        use futures_util::FutureExt;
        static BUDGET: Semaphore = Semaphore::const_new(4 * 1024);
        let budget = (&BUDGET, std::time::Duration::from_millis(50));
        let read = |req: HttpRequest, payload| async move {
            read_body_within(budget, &req, payload, 8 << 20, "big").await
        };
        let (req, payload) = request(3 * 1024).await;
        let first = read(req, payload).await.unwrap();
        assert_eq!(first.len(), 3 << 20);
        // 3 MiB more do not fit beside the first 3 of 4: the second waits, unread...
        let (req, payload) = request(3 * 1024).await;
        assert!(
            read(req, payload).now_or_never().is_none(),
            "the second waits"
        );
        // ... and not for ever: a 503 says to try again.
        let (req, payload) = request(3 * 1024).await;
        assert!(matches!(
            read(req, payload).await,
            Err(ApiError::Unavailable(_))
        ));
        // A small body (a JSON request) does not queue behind large ones.
        let (req, payload) = request(64).await;
        let small = read(req, payload)
            .now_or_never()
            .expect("read at once")
            .unwrap();
        assert_eq!(small.len(), 64 * 1024);
        drop(first);
        let (req, payload) = request(3 * 1024).await;
        let second = read(req, payload)
            .now_or_never()
            .expect("read once the first is let go")
            .unwrap();
        assert_eq!(second.len(), 3 << 20);
    }
}
