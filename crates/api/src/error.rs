//! `ApiError`: every failure of a request, mapped to an HTTP status and an RFC 9457
//! `application/problem+json` body in this one place.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{Method, StatusCode, header},
};
use evalboard_domain::ValidationErrors;
use evalboard_harness::BundleError;
use evalboard_persistence::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::serde_message::{self, SerdeMessage};

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "urn:evalboard:problem:validation-failed",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "providerName: no provider is named `Nope` (the providers: Simulated)",
    "errors": [{"field": "providerName", "detail": "no provider is named `Nope` (the providers: Simulated)"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:evalboard:problem:<kind>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A sentence saying what went wrong and, where possible, how to fix it.
    pub detail: String,
    /// For validation problems: every offending field, parameter or line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
    /// For rejected files: how many problems there were in all (`errors` shows the first ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_errors: Option<usize>,
}

/// One offending input: a body field, a query parameter or a line of an uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProblemItem {
    /// The body field, as a dotted path (`settings.concurrency`) — or, for a capture bundle the
    /// verifier refuses, as a JSON Pointer (RFC 6901, `/captures/0/sequence`) — or the query
    /// parameter or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The 1-based line of an uploaded file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong with it.
    pub detail: String,
}

impl ProblemItem {
    /// A problem with a named field or parameter.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            line: None,
            detail: detail.into(),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: syntax, types, unknown fields, out-of-range query parameters.
    #[error("{detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// Each offending field or parameter.
        errors: Vec<ProblemItem>,
    },
    /// Well-formed input that names unknown things or breaks a rule.
    #[error("{detail}")]
    Unprocessable {
        /// What is wrong.
        detail: String,
        /// Each offending field or line.
        errors: Vec<ProblemItem>,
        /// How many problems in all, when `errors` is cut short.
        total: Option<usize>,
    },
    /// The request needs a token (or a session) and has none this server accepts.
    #[error("{0}")]
    Unauthorized(String),
    /// The request's token does not have the role this request needs.
    #[error("{0}")]
    Forbidden(String),
    /// The request's `Host` is not a name this server answers to.
    #[error("{0}")]
    MisdirectedRequest(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("{method} is not allowed here")]
    MethodNotAllowed {
        /// The method used.
        method: Method,
        /// The methods the path supports.
        allow: Vec<Method>,
    },
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// A retry of a run whose configuration changed since it was made, not forced: a conflict
    /// of its own type, so that a client can offer to force it.
    #[error("{0}")]
    ConfigurationChanged(String),
    /// The body is larger than this endpoint accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body's content type is not one this endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The client sent too many requests, or holds too many streams.
    #[error("{detail}")]
    TooManyRequests {
        /// What limit was met.
        detail: String,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// The request's body went silent for too long.
    #[error("{0}")]
    RequestTimeout(String),
    /// The database (or a worker pool) cannot serve the request right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A 400 about one query parameter or field.
    pub fn bad_parameter(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::BadRequest {
            detail: format!("{field}: {detail}"),
            errors: vec![ProblemItem::field(field, detail)],
        }
    }

    /// A 422 about one query parameter or field that is well-formed (the OpenAPI document
    /// allows it) but that the server's data refuses, such as a cursor it did not issue. A 400
    /// means the request breaks the document; a 422, that only the data could tell.
    pub fn unprocessable_parameter(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Unprocessable {
            detail: format!("{field}: {detail}"),
            errors: vec![ProblemItem::field(field, detail)],
            total: None,
        }
    }

    /// A 422 listing every invalid field.
    pub fn invalid(errors: ValidationErrors) -> Self {
        let items: Vec<ProblemItem> = errors
            .0
            .into_iter()
            .map(|e| ProblemItem::field(e.field, e.message))
            .collect();
        let detail = items
            .iter()
            .map(|i| format!("{}: {}", i.field.as_deref().unwrap_or_default(), i.detail))
            .collect::<Vec<_>>()
            .join("; ");
        Self::Unprocessable {
            detail,
            errors: items,
            total: None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "invalid-request",
            Self::Unprocessable { .. } => "validation-failed",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::MisdirectedRequest(_) => "misdirected-request",
            Self::NotFound(_) => "not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::ConfigurationChanged(_) => "configuration-changed",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::TooManyRequests { .. } => "too-many-requests",
            Self::RequestTimeout(_) => "request-timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let (errors, total_errors) = match self {
            Self::BadRequest { errors, .. } => (errors.clone(), None),
            Self::Unprocessable { errors, total, .. } => (errors.clone(), *total),
            _ => (Vec::new(), None),
        };
        // RFC 9110 renamed 422; the http crate still says "Unprocessable Entity".
        let title = match status {
            StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
            other => other.canonical_reason().unwrap_or("Error"),
        };
        Problem {
            problem_type: format!("urn:evalboard:problem:{}", self.kind()),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            errors,
            total_errors,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MisdirectedRequest(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::ConfigurationChanged(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            Self::MethodNotAllowed { allow, .. } => {
                let allow: Vec<&str> = allow.iter().map(Method::as_str).collect();
                response.insert_header((header::ALLOW, allow.join(", ")));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"evalboard\""));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl From<BundleError> for ApiError {
    fn from(error: BundleError) -> Self {
        match error {
            error @ BundleError::TooDense { .. } => Self::PayloadTooLarge(format!(
                "{error}, more than a capture bundle of its size can need (its chunks and \
                 captures are larger than that): refused unread"
            )),
            BundleError::Malformed(detail) => Self::BadRequest {
                detail: format!("the body is not JSON: {detail}{}", escape_hint(&detail)),
                errors: Vec::new(),
            },
            BundleError::Invalid { problems, .. } => {
                let first = problems.first().map(|p| p.to_string()).unwrap_or_default();
                let errors: Vec<ProblemItem> = problems
                    .into_iter()
                    .map(|p| ProblemItem {
                        // The whole document has the empty pointer: no field to name.
                        field: (!p.pointer.is_empty()).then_some(p.pointer),
                        line: None,
                        detail: p.message,
                    })
                    .collect();
                Self::Unprocessable {
                    detail: format!(
                        "the bundle was not imported; `errors` lists every problem, the first: {first}"
                    ),
                    errors,
                    total: None,
                }
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity, id } => Self::NotFound(format!("no {entity} `{id}`")),
            StoreError::Invalid(errors) => Self::invalid(errors),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            StoreError::Transition(e) => Self::Conflict(e.to_string()),
            error @ StoreError::Unavailable(_) => {
                // Its Display is one line (the driver's message may span several).
                tracing::warn!(%error, "database unavailable");
                Self::Unavailable("the database is unavailable; try again shortly".into())
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Self::Internal
            }
        }
    }
}

/// What a JSON syntax error about a `\u` escape most likely means, to follow serde_json's
/// message (which says only where the parser stopped): half of a surrogate pair — text sliced
/// by UTF-16 units, as JavaScript strings are, and then escaped. Empty for other errors.
fn escape_hint(message: &str) -> &'static str {
    if message.contains("hex escape") || message.contains("surrogate") {
        " (a \\u escape is four hex digits, and a character above U+FFFF is two of them, a high \
         surrogate then a low one: one alone is a character cut in two, as slicing a JavaScript \
         string can leave one: send whole characters)"
    } else {
        ""
    }
}

/// Maps actix's JSON body errors to problems: size to 413, content type to 415, the rest to 400.
pub(crate) fn json_error(
    error: actix_web::error::JsonPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    match error {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("the JSON body is larger than {limit} bytes"))
        }
        E::ContentType => ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".into(),
        ),
        // Not an object at all (the body must be one): said in the API's words. Syntax errors
        // keep serde_json's, with their line and column.
        E::Deserialize(e) if e.is_data() => {
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(text, _)| text);
            ApiError::BadRequest {
                detail: format!("the JSON body is invalid: {}", crate::body::plain(message)),
                errors: Vec::new(),
            }
        }
        E::Deserialize(e) => ApiError::BadRequest {
            detail: format!(
                "the JSON body is invalid: {e}{}",
                escape_hint(&e.to_string())
            ),
            errors: Vec::new(),
        },
        E::Payload(error) => payload_error(error),
        other => ApiError::BadRequest {
            detail: format!("the body cannot be read: {other}"),
            errors: Vec::new(),
        },
    }
    .into()
}

/// Maps query-string errors (unknown, missing or repeated parameters, wrong types) to 400, with
/// the parameter named in `errors` where serde's message names it.
pub(crate) fn query_error(
    error: actix_web::error::QueryPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    let actix_web::error::QueryPayloadError::Deserialize(error) = error else {
        return ApiError::BadRequest {
            detail: format!("the query string is invalid: {error}"),
            errors: Vec::new(),
        }
        .into();
    };
    match query_problem(&error.to_string()) {
        Some((field, detail)) => ApiError::bad_parameter(&field, detail),
        // serde names no parameter for a wrong value (`view=foo`): what was wrong, in words.
        None => ApiError::BadRequest {
            detail: format!(
                "the query string is invalid: {}",
                crate::body::plain(&error.to_string())
            ),
            errors: Vec::new(),
        },
    }
    .into()
}

/// The parameter and the problem in words, from serde's messages for a struct's fields
/// (`unknown field `x`, expected one of `a`, `b``, `missing field `x``, `duplicate field `x``).
fn query_problem(message: &str) -> Option<(String, String)> {
    // A parameter name is the client's text: echoed back at most 60 characters long.
    let (name, detail) = match serde_message::read(message) {
        SerdeMessage::UnknownField {
            name,
            expected: Some(takes),
        } => (
            name,
            format!("is not a parameter of this endpoint (it takes {takes})"),
        ),
        SerdeMessage::UnknownField { name, .. } => {
            (name, "is not a parameter of this endpoint".to_owned())
        }
        SerdeMessage::MissingField(name) => (name, "is required".to_owned()),
        SerdeMessage::DuplicateField(name) => (name, "is given more than once".to_owned()),
        _ => return None,
    };
    Some((crate::params::shorten(name), detail))
}

/// Maps path-parameter errors to 404: a path that does not parse names nothing.
pub(crate) fn path_error(
    error: actix_web::error::PathError,
    req: &HttpRequest,
) -> actix_web::Error {
    ApiError::NotFound(format!("nothing at {} ({error})", req.path())).into()
}

/// Maps raw-body errors (size, reading) to problems.
pub(crate) fn payload_error(error: actix_web::error::PayloadError) -> ApiError {
    use actix_web::error::PayloadError as E;
    match error {
        E::Overflow => {
            ApiError::PayloadTooLarge("the body is larger than this endpoint accepts".into())
        }
        E::Io(error) if error.kind() == std::io::ErrorKind::TimedOut => ApiError::RequestTimeout(
            "the body sent nothing, or too little, for too long; send it without pauses".into(),
        ),
        other => ApiError::BadRequest {
            detail: format!("the body cannot be read: {other}"),
            errors: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_problems_name_their_parameter_in_words() {
        assert_eq!(
            query_problem("unknown field `foo`, expected one of `status`, `limit`"),
            Some((
                "foo".to_owned(),
                "is not a parameter of this endpoint (it takes status, limit)".to_owned()
            ))
        );
        assert_eq!(
            query_problem("missing field `runIds`"),
            Some(("runIds".to_owned(), "is required".to_owned()))
        );
        assert_eq!(
            query_problem("duplicate field `limit`"),
            Some(("limit".to_owned(), "is given more than once".to_owned()))
        );
        assert_eq!(query_problem("invalid digit found in string"), None);
    }

    #[test]
    fn a_lost_database_is_503_and_internal_details_stay_hidden() {
        let unavailable = ApiError::from(StoreError::Unavailable("pool timed out".into()));
        assert_eq!(unavailable.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            unavailable
                .error_response()
                .headers()
                .get(header::RETRY_AFTER)
                .unwrap(),
            "1"
        );

        let corrupt = ApiError::from(StoreError::Corrupt("secret internals".into()));
        assert_eq!(corrupt.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!corrupt.problem().detail.contains("secret"));
    }
}
