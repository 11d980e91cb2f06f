//! Responses streamed from the database a page at a time: a producer on a blocking thread reads
//! and encodes one page per call, and at most two encoded pages wait for the client, so memory
//! stays flat however large the export. A client that goes away stops the producer.

use actix_web::web::Bytes;
use evalboard_persistence::StoreError;
use futures_util::Stream;

/// Encoded pages waiting for the client, at most.
const PAGES_AHEAD: usize = 2;

/// The bytes `next_page` produces, called until it says no page follows (`false`). An error
/// after the response has begun can only cut it short: it is logged, and the stream ends with an
/// error, which closes the connection (the client sees an incomplete download, never a silently
/// short one).
pub(crate) fn paged_body<F>(mut next_page: F) -> impl Stream<Item = Result<Bytes, std::io::Error>>
where
    F: FnMut() -> Result<(Vec<u8>, bool), StoreError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut more = true;
        while more {
            let page = match next_page() {
                Ok((bytes, follows)) => {
                    more = follows;
                    Ok(Bytes::from(bytes))
                }
                Err(error) => {
                    tracing::error!(%error, "an export stopped before its end");
                    more = false;
                    Err(std::io::Error::other("the export stopped before its end"))
                }
            };
            if tx.blocking_send(page).is_err() {
                return; // the client went away
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|page| (page, rx))
    })
}
