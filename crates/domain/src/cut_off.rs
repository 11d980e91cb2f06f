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

    /// The cut-off an OpenAI-compatible `finish_reason` or an Anthropic `stop_reason` says,
    /// `None` for an answer the model ended (`stop`, `end_turn`, a tool call, anything else).
    pub fn of_stop_reason(reason: &str) -> Option<Self> {
        match reason {
            "length" | "max_tokens" | "model_context_window_exceeded" => Some(Self::MaxTokens),
            "content_filter" | "refusal" => Some(Self::ContentFilter),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_of_both_apis() {
        for (reason, cut_off) in [
            ("length", Some(CutOff::MaxTokens)),
            ("max_tokens", Some(CutOff::MaxTokens)),
            ("content_filter", Some(CutOff::ContentFilter)),
            ("refusal", Some(CutOff::ContentFilter)),
            ("stop", None),
            ("end_turn", None),
            ("tool_calls", None),
            ("stop_sequence", None),
        ] {
            assert_eq!(CutOff::of_stop_reason(reason), cut_off, "{reason}");
        }
        for cut_off in [CutOff::MaxTokens, CutOff::ContentFilter] {
            assert_eq!(CutOff::parse(cut_off.as_str()), Some(cut_off));
        }
        assert_eq!(CutOff::parse("length"), None);
    }
}
