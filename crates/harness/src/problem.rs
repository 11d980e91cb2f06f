//! A problem found in a bundle, with where it is.

use std::fmt;

/// One thing wrong with a document, located by a JSON Pointer (RFC 6901) into it, e.g.
/// `/captures/3/promptSha256`; the empty pointer is the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a JSON Pointer.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// Problems gathered while walking a document: every one is kept, up to a bound, so that a
/// client fixes its bundle in one go rather than one error per attempt.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    found: Vec<Problem>,
    more: usize,
    /// The walk stopped with parts of the document not examined.
    stopped: bool,
}

/// Most problems reported for one document; the rest are counted.
pub const MAX_REPORTED_PROBLEMS: usize = 1_000;

impl Problems {
    pub(crate) fn push(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        if self.found.len() < MAX_REPORTED_PROBLEMS {
            self.found.push(Problem::new(pointer, message));
        } else {
            self.more += 1;
        }
    }

    /// Whether no more problems will be listed: walking further only costs time.
    pub(crate) fn is_full(&self) -> bool {
        self.found.len() >= MAX_REPORTED_PROBLEMS
    }

    /// Records that the walk stopped early: the list says so at its end.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub(crate) fn into_vec(mut self) -> Vec<Problem> {
        if self.more > 0 {
            self.found.push(Problem::new(
                "",
                format!("and at least {} more problem(s) not listed", self.more),
            ));
        } else if self.stopped {
            self.found.push(Problem::new(
                "",
                "the rest of the document was not examined: there may be more problems",
            ));
        }
        self.found
    }
}
