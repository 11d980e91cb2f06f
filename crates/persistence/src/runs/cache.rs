//! The response cache: an answer stored for the same request (provider, model, prompt,
//! generation settings — the request key) by any run, served instead of asking again.

use diesel::prelude::*;
use evalboard_domain::CutOff;

use crate::{Database, StoreError, schema::run_items};

/// An earlier answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAnswer {
    /// The answer's text.
    pub response_text: String,
    /// The reasoning given apart from it, if any.
    pub reasoning_text: Option<String>,
    /// Why the provider stopped it before the model finished it, if it did: served again, the
    /// same text is as cut as it was.
    pub cut_off: Option<CutOff>,
}

impl Database {
    /// The newest stored answer to the request with `key`, if any run has one. An index lookup
    /// (`run_items_by_request_key`), then the few rows of that request.
    pub fn cached_answer(&self, key: &str) -> Result<Option<CachedAnswer>, StoreError> {
        self.read(|conn| {
            let found: Option<(Option<String>, Option<String>, Option<String>)> = run_items::table
                .filter(run_items::request_key.eq(key))
                .filter(run_items::response_text.is_not_null())
                .order(run_items::answered_at.desc())
                .select((
                    run_items::response_text,
                    run_items::reasoning_text,
                    run_items::cut_off,
                ))
                .first(conn)
                .optional()?;
            Ok(found.and_then(|(response, reasoning, cut_off)| {
                Some(CachedAnswer {
                    response_text: response?,
                    reasoning_text: reasoning,
                    cut_off: cut_off.as_deref().and_then(CutOff::parse),
                })
            }))
        })
    }
}
