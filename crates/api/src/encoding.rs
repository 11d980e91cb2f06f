//! Request bodies are read as sent: a `Content-Encoding` (gzip, say) would otherwise be parsed
//! as if the body were plain, and its size limits would not bound what it expands to. Such a
//! request is a 415 before any handler reads it.

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
