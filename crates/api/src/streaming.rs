//! Responses streamed from the database a page at a time: a producer on a blocking thread reads
//! and encodes one page per call, and at most two encoded pages wait for the client, so memory
//! stays flat however large the export. A client that goes away stops the producer.

use actix_web::web::Bytes;
use evalboard_persistence::StoreError;
use futures_util::Stream;

/// Encoded pages waiting for the client, at most.
const PAGES_AHEAD: usize = 2;

/// The bytes `next_page` produces, called until it returns `None`. An error after the response
/// has begun can only cut it short: it is logged, and the stream ends with an error, which
/// closes the connection (the client sees an incomplete download, never a silently short one).
pub(crate) fn paged_body<F>(mut next_page: F) -> impl Stream<Item = Result<Bytes, std::io::Error>>
where
    F: FnMut() -> Result<Option<Vec<u8>>, StoreError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_AHEAD);
    tokio::task::spawn_blocking(move || {
        loop {
            let page = match next_page() {
                Ok(Some(bytes)) => Ok(Bytes::from(bytes)),
                Ok(None) => return,
                Err(error) => {
                    tracing::error!(%error, "an export stopped before its end");
                    Err(std::io::Error::other("the export stopped before its end"))
                }
            };
            let failed = page.is_err();
            if tx.blocking_send(page).is_err() || failed {
                return; // the client went away, or the export failed
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|page| (page, rx))
    })
}
