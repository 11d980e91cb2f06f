//! Reasoning that models write into their answer text: `<think>…</think>` before the answer
//! (DeepSeek-R1, Qwen3 and other open reasoning models), or only the closing tag when the chat
//! template opened the block itself. It is kept apart from the answer and never read by the
//! extraction rules: a letter or number mentioned while thinking is not the answer.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// Splits a response into the reasoning it starts with (if any) and the answer after it.
///
/// - `<think>R</think>A` (whitespace before `<think>` allowed) gives `(Some(R), A)`;
/// - `R</think>A` without an opening tag gives `(Some(R), A)` (the template opened it);
/// - an unclosed `<think>R` (cut off by the token limit) is all reasoning and no answer;
/// - anything else is all answer.
///
/// The answer is trimmed at its start (models put blank lines after the block); the reasoning
/// is trimmed at both ends.
pub fn split_reasoning(text: &str) -> (Option<&str>, &str) {
    let start = text.trim_start();
    if let Some(inside) = start.strip_prefix(OPEN) {
        return match inside.split_once(CLOSE) {
            Some((reasoning, answer)) => (Some(reasoning.trim()), answer.trim_start()),
            None => (Some(inside.trim()), ""),
        };
    }
    // Only a closing tag, and no opening one anywhere before it.
    if let Some((reasoning, answer)) = text.split_once(CLOSE)
        && !reasoning.contains(OPEN)
    {
        return (Some(reasoning.trim()), answer.trim_start());
    }
    (None, text)
}

/// The reasoning a provider sent apart from the answer (OpenAI-compatible
/// `reasoning_content`, Anthropic thinking blocks) and the reasoning found in the answer's
/// text, as one text (`None` when there is neither).
pub fn joined_reasoning(sent_apart: &str, in_text: Option<&str>) -> Option<String> {
    let parts: Vec<&str> = [sent_apart.trim(), in_text.unwrap_or_default()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_reasoning_shapes_split_into_reasoning_and_answer() {
        // DeepSeek-R1 through an OpenAI-compatible server that leaves the tags in the content.
        let r1 = "<think>\nThe question asks for 2+2. Option (C) says 5, option (B) says 4.\n\
                  </think>\n\nThe answer is (B).";
        assert_eq!(
            split_reasoning(r1),
            (
                Some("The question asks for 2+2. Option (C) says 5, option (B) says 4."),
                "The answer is (B)."
            )
        );
        // Qwen3 with thinking switched off: an empty block.
        assert_eq!(
            split_reasoning("<think>\n\n</think>\n\nThe answer is 18."),
            (Some(""), "The answer is 18.")
        );
        // A distilled R1 whose chat template opened the block: only the closing tag arrives.
        assert_eq!(
            split_reasoning("Let me compute 16 - 3 - 4 = 9.\n</think>\n\nThe answer is 18."),
            (Some("Let me compute 16 - 3 - 4 = 9."), "The answer is 18.")
        );
        // Cut off while thinking: no answer to read.
        assert_eq!(
            split_reasoning("<think>First, option (A) ..."),
            (Some("First, option (A) ..."), "")
        );
        // No reasoning at all, or tags quoted later in a plain answer.
        assert_eq!(
            split_reasoning("The answer is (D)."),
            (None, "The answer is (D).")
        );
        let quoted = "Tags like <think> and </think> are markup. The answer is (A).";
        assert_eq!(split_reasoning(quoted), (None, quoted));
    }

    #[test]
    fn reasoning_sent_apart_and_in_the_text_are_joined() {
        assert_eq!(joined_reasoning("", None), None);
        assert_eq!(joined_reasoning("  ", Some("")), None);
        assert_eq!(joined_reasoning("apart", None).as_deref(), Some("apart"));
        assert_eq!(
            joined_reasoning("apart", Some("inline")).as_deref(),
            Some("apart\n\ninline")
        );
    }
}
