//! Why a provider stopped an answer before the model finished it.

/// An answer the provider stopped before the model finished it: it is judged as any answer (as
/// the official evaluations judge it), and marked, because what it gives as its answer may be a
/// word of its reasoning rather than its conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CutOff {
    /// The token limit (OpenAI's `finish_reason` `length`, Anthropic's `stop_reason`
    /// `max_tokens`).
    MaxTokens,
    /// The provider's content filter (`content_filter`; Anthropic's `refusal`).
    ContentFilter,
}

impl CutOff {
    /// The stored and serialized name: `max_tokens` or `content_filter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxTokens => "max_tokens",
            Self::ContentFilter => "content_filter",
        }
    }

    /// The cut-off a stored name stands for; `None` for any other text.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "max_tokens" => Some(Self::MaxTokens),
            "content_filter" => Some(Self::ContentFilter),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for cut_off in [CutOff::MaxTokens, CutOff::ContentFilter] {
            assert_eq!(CutOff::parse(cut_off.as_str()), Some(cut_off));
        }
        assert_eq!(CutOff::parse("length"), None);
    }
}
