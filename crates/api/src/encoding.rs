//! Requests are read as sent. Bodies: a `Content-Encoding` (gzip, say) would otherwise be parsed
//! as if the body were plain, and its size limits would not bound what it expands to; such a
//! request is a 415 before any handler reads it. Query strings: one whose percent-encoding does
//! not decode to UTF-8 (`?modelName=%FF`) would be read with U+FFFD in its place, and filter
//! on a name nobody asked for; such a request is a 400.

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
};

use crate::error::ApiError;

pub(crate) async fn refuse_encoded_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    for value in req.headers().get_all(header::CONTENT_ENCODING) {
        let identity = value.to_str().is_ok_and(|codings| {
            codings
                .split(',')
                .map(str::trim)
                .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
        });
        if !identity {
            let refusal = ApiError::UnsupportedMediaType(
                "request bodies are not decompressed: send the body without a Content-Encoding"
                    .into(),
            );
            return Ok(req
                .into_response(refusal.error_response())
                .map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

pub(crate) async fn refuse_undecodable_queries(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if percent_encoding::percent_decode_str(req.query_string())
        .decode_utf8()
        .is_err()
    {
        let refusal = ApiError::BadRequest {
            detail: "the query string is invalid: its percent-encoding is not UTF-8".into(),
            errors: Vec::new(),
        };
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
