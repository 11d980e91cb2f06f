//! Reading raw request bodies with a size limit, refused as problem+json as soon as the limit is
//! known to be passed (from `Content-Length`, or while streaming).

use actix_web::{HttpRequest, http::header, web};
use futures_util::StreamExt;

use crate::error::{ApiError, payload_error};

/// Reads the whole body, or a 413 saying `too_large` when it exceeds `limit` bytes.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    too_large: &str,
) -> Result<Vec<u8>, ApiError> {
    let refuse = || ApiError::PayloadTooLarge(too_large.to_owned());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(payload_error)?;
        if body.len() + chunk.len() > limit {
            return Err(refuse());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
