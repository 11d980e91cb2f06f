//! Verdicts: how an extracted answer is judged against the item's key.

use std::{fmt::Write, sync::LazyLock};

use regex::Regex;

use crate::{
    dataset::{AnswerKey, DatasetItem, ItemAnswer},
    extraction::{Extracted, Extraction, ExtractionTier, extract_answer},
    item::ItemState,
    numeric::{extract_number, judge_numeric},
};

/// A judge's decision on one answered item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The answer is right.
    Correct,
    /// The answer is wrong, or could not be read.
    Incorrect,
}

impl Verdict {
    /// The item state this verdict ends in.
    pub fn state(self) -> ItemState {
        match self {
            Self::Correct => ItemState::Correct,
            Self::Incorrect => ItemState::Incorrect,
        }
    }
}

/// Strict multiple-choice judging: correct only when the extracted letter is the key; an
/// unparsed answer is incorrect (the official MMLU-Pro scripts guess a random letter instead;
/// evaluations here report the unparsed count beside the strict accuracy).
pub fn judge_choice(extraction: &Extraction, answer: AnswerKey) -> Verdict {
    match extraction.letter {
        Some(letter)
            if extraction.tier != ExtractionTier::Unparsed && letter == answer.letter() =>
        {
            Verdict::Correct
        }
        _ => Verdict::Incorrect,
    }
}

/// Judges `response` against an item's `answer` by the rules of its kind: the letter against
/// the key of a multiple-choice item ([`judge_choice`]), the number against a numeric item's
/// ([`judge_numeric`]). What was extracted is returned for the record.
pub fn judge_by_rules(answer: &ItemAnswer, response: &str) -> (Extracted, Verdict) {
    match answer {
        ItemAnswer::Choice(key) => {
            let extraction = extract_answer(response);
            let verdict = judge_choice(&extraction, *key);
            (extraction.into(), verdict)
        }
        ItemAnswer::Number(number) => {
            let extraction = extract_number(response);
            let verdict = judge_numeric(&extraction, number);
            (extraction.into(), verdict)
        }
    }
}

/// What the rules of `item`'s kind extract from `response`, without judging it (an LLM
/// judge's verdicts keep it beside theirs).
pub fn extract_by_rules(item: &DatasetItem, response: &str) -> Extracted {
    match item.answer {
        ItemAnswer::Choice(_) => extract_answer(response).into(),
        ItemAnswer::Number(_) => extract_number(response).into(),
    }
}

/// The question put to an LLM judge about one answer: the item, its key, the response, and the
/// required reply format (a short rationale, then `VERDICT: correct` or `VERDICT: incorrect`).
pub fn render_judge_prompt(item: &DatasetItem, response: &str) -> String {
    let mut prompt = match &item.answer {
        ItemAnswer::Choice(key) => {
            let mut prompt = String::from(
                "You are grading an answer to a multiple-choice question. Decide whether the \
                 response chooses the correct option; the reasoning does not need to be perfect, \
                 the choice does.\n\n",
            );
            let _ = write!(prompt, "Question: {}\nOptions:\n", item.question);
            for (i, choice) in item.choices.iter().enumerate() {
                let _ = writeln!(prompt, "{}. {choice}", char::from(b'A' + i as u8));
            }
            let text = item.choices.get(key.index()).map(String::as_str);
            let _ = write!(
                prompt,
                "Correct option: {key}. {}",
                text.unwrap_or_default()
            );
            prompt
        }
        ItemAnswer::Number(number) => {
            let mut prompt = String::from(
                "You are grading an answer to a question whose answer is a number. Decide whether \
                 the response's final answer equals the correct number (however it is written); \
                 the reasoning does not need to be perfect, the final answer does.\n\n",
            );
            let _ = write!(
                prompt,
                "Question: {}\nCorrect answer: {number}",
                item.question
            );
            prompt
        }
    };
    let _ = write!(
        prompt,
        "\n\nResponse to grade:\n<<<\n{response}\n>>>\n\n\
         Explain your decision in one or two sentences, then end with a line that is exactly \
         \"VERDICT: correct\" or \"VERDICT: incorrect\"."
    );
    prompt
}

/// The verdict line, as judges write it besides the exact form asked for: in any case, in
/// Markdown (`**Verdict:** Correct`), as a `Final verdict:`, and with a remark after the word
/// in parentheses or after a dash (`VERDICT: correct (it picks the key)`). A word that only
/// begins with one (`correctly`) or another word after it (`correct or incorrect`) is no
/// verdict.
static VERDICT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^\W*(?:final\s+)?verdict\W*:\W*(correct|incorrect)(?:\W*|[^\w\n]*?[(\[\-\x{2013}\x{2014}]([^\n]*))$",
    )
    .expect("valid pattern")
});

/// A verdict that ends the reply on the line of its reasons (`… compared with the key.
/// **Verdict:** incorrect`): judges asked for a line of its own do not all start one. Only at
/// the very end of the reply and at the start of a sentence, never in quotes: a reason that
/// mentions a verdict (`the verdict: correct if it named B, but …`), quotes one (`it does not
/// state "VERDICT: correct"`) or names another's (`the model's own verdict: correct`) is none.
static TRAILING_VERDICT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:^|[.!?;)])[\s*_]*((?:final\s+)?verdict[\s*_]*:[\s*_]*(correct|incorrect))[\s*_.!)]*\z",
    )
    .expect("valid pattern")
});

/// Reads an LLM judge's reply: its last verdict — the last verdict line (the forms
/// `VERDICT_LINE` reads), or a verdict ending the reply after it ([`TRAILING_VERDICT`]) — and
/// everything before it as the rationale. `None` when the reply has neither.
pub fn parse_judge_reply(reply: &str) -> Option<(Verdict, String)> {
    let line = VERDICT_LINE.captures_iter(reply).last();
    let line_start = line
        .as_ref()
        .and_then(|l| l.get(0))
        .map_or(0, |m| m.start());
    // A trailing verdict after the last verdict line is the later one (a lone verdict line
    // is matched by both, and read as a line, with its remark).
    if let Some(trailing) = TRAILING_VERDICT
        .captures(reply)
        .filter(|t| line.is_none() || t.get(1).is_some_and(|m| m.start() > line_start))
    {
        let before = reply[..trailing.get(1)?.start()]
            .trim_end()
            .trim_end_matches(['*', '_'])
            .trim();
        return Some((verdict_of(trailing.get(2)?.as_str()), before.to_owned()));
    }
    let found = line?;
    let verdict = verdict_of(found.get(1)?.as_str());
    let start = found.get(0)?.start();
    let before = reply[..start].trim();
    // A remark on the verdict line is the judge's reason too (a one-line reply has no other).
    let remark = found
        .get(2)
        .map(|m| m.as_str().trim().trim_end_matches([')', ']', '*']).trim());
    let rationale = match remark.filter(|r| !r.is_empty()) {
        Some(remark) if before.is_empty() => remark.to_owned(),
        Some(remark) => format!("{before}\n{remark}"),
        None => before.to_owned(),
    };
    Some((verdict, rationale))
}

/// `correct` or `incorrect`, in any case, as the verdict it names.
fn verdict_of(word: &str) -> Verdict {
    if word.eq_ignore_ascii_case("correct") {
        Verdict::Correct
    } else {
        Verdict::Incorrect
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extraction::extract_answer;

    #[test]
    fn strict_choice_judging() {
        let key = AnswerKey::from_letter("C").unwrap();
        assert_eq!(
            judge_choice(&extract_answer("The answer is (C)."), key),
            Verdict::Correct
        );
        assert_eq!(
            judge_choice(&extract_answer("The answer is (D)."), key),
            Verdict::Incorrect
        );
        assert_eq!(
            judge_choice(&extract_answer("no idea"), key),
            Verdict::Incorrect
        );
        assert_eq!(Verdict::Correct.state(), ItemState::Correct);
    }

    #[test]
    fn judge_replies() {
        let reply = "The response settles on (B), which is the key.\nVERDICT: correct";
        assert_eq!(
            parse_judge_reply(reply),
            Some((
                Verdict::Correct,
                "The response settles on (B), which is the key.".into()
            ))
        );
        assert_eq!(
            parse_judge_reply("Wrong pick.\n**Verdict: Incorrect**\n").map(|(v, _)| v),
            Some(Verdict::Incorrect)
        );
        assert_eq!(parse_judge_reply("The answer is (B)."), None);
        assert_eq!(parse_judge_reply("verdict: maybe"), None);
        // As judges write it besides the form asked for.
        for (reply, verdict) in [
            (
                "It matches the key.\n\nFinal Verdict: Correct",
                Verdict::Correct,
            ),
            (
                "VERDICT: correct (the response clearly picks the keyed option)",
                Verdict::Correct,
            ),
            (
                "**Final verdict:** incorrect — it picks B.",
                Verdict::Incorrect,
            ),
            ("Verdict: Incorrect [wrong unit]", Verdict::Incorrect),
            ("**Verdict: Correct** (it matches)", Verdict::Correct),
            ("VERDICT: **correct** — it picks the key", Verdict::Correct),
        ] {
            assert_eq!(
                parse_judge_reply(reply).map(|(v, _)| v),
                Some(verdict),
                "{reply}"
            );
        }
        // A one-line reply's remark is its rationale; a remark after reasons joins them.
        assert_eq!(
            parse_judge_reply("VERDICT: incorrect — it picks B, the key is C"),
            Some((Verdict::Incorrect, "it picks B, the key is C".into()))
        );
        assert_eq!(
            parse_judge_reply("It names (B).\nVERDICT: correct (the keyed option)"),
            Some((Verdict::Correct, "It names (B).\nthe keyed option".into()))
        );
        // A verdict that ends the reply on the line of its reasons.
        assert_eq!(
            parse_judge_reply(
                "The response picks an option; compared with the key. **Verdict:** incorrect"
            ),
            Some((
                Verdict::Incorrect,
                "The response picks an option; compared with the key.".into()
            ))
        );
        assert_eq!(
            parse_judge_reply("It names (B), the key. Final verdict: Correct.\n"),
            Some((Verdict::Correct, "It names (B), the key.".into()))
        );
        // The last verdict counts, on a line of its own or ending the reply.
        assert_eq!(
            parse_judge_reply(
                "VERDICT: correct\nOn reflection it picks C, not the key. Verdict: incorrect"
            )
            .map(|(v, _)| v),
            Some(Verdict::Incorrect)
        );
        assert_eq!(
            parse_judge_reply("It names B. Verdict: incorrect\nVERDICT: correct").map(|(v, _)| v),
            Some(Verdict::Correct)
        );
        for no_verdict in [
            "Verdict: correct or incorrect, I cannot tell",
            "VERDICT: correctly reasoned but wrong",
            "The verdict: incorrectness of step 2 aside, fine",
            "The verdict: correct if it named B, but it names C.",
            "I would say verdict: correctly argued",
            "The response does not state \"VERDICT: correct\"",
            "You asked me to end with \"VERDICT: correct\" or \"VERDICT: incorrect\".",
            "The model claims its own verdict: correct",
        ] {
            assert_eq!(parse_judge_reply(no_verdict), None, "{no_verdict}");
        }
    }

    #[test]
    fn judge_prompts_carry_the_key_and_the_response() {
        let item = DatasetItem {
            id: "1".into(),
            category: "math".into(),
            question: "2 + 2?".into(),
            choices: vec!["3".into(), "4".into()],
            answer: AnswerKey::from_letter("B").unwrap().into(),
            explanation: None,
            source: None,
        };
        let prompt = render_judge_prompt(&item, "It is four. The answer is (B).");
        assert!(prompt.contains("Correct option: B. 4"));
        assert!(prompt.contains("<<<\nIt is four. The answer is (B).\n>>>"));
        assert!(prompt.contains("VERDICT: correct"));
    }
}
