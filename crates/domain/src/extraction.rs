//! Answer extraction, as the official MMLU-Pro evaluation does it, with the rule that matched
//! kept as provenance.
//!
//! After removing `**` (markdown bold), three rules are tried in order:
//! 1. `answer is \(?([A-J])\)?` — the first "the answer is (X)";
//! 2. `.*[aA]nswer:\s*([A-J])` — on the first line that has one, the last "Answer: X";
//! 3. the last standalone letter A–J anywhere in the text.
//!
//! None matching leaves the answer unparsed, which the judge counts as incorrect.

use std::sync::LazyLock;

use regex::Regex;

/// Which rule found the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtractionTier {
    /// "The answer is (X)".
    AnswerIs,
    /// "Answer: X".
    AnswerLabel,
    /// The last standalone letter A–J.
    LastLetter,
    /// Nothing matched.
    Unparsed,
}

impl ExtractionTier {
    /// Every tier, in the order they are tried.
    pub const ALL: [ExtractionTier; 4] = [
        Self::AnswerIs,
        Self::AnswerLabel,
        Self::LastLetter,
        Self::Unparsed,
    ];

    /// The tier's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnswerIs => "answer_is",
            Self::AnswerLabel => "answer_label",
            Self::LastLetter => "last_letter",
            Self::Unparsed => "unparsed",
        }
    }

    /// The tier with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// What extraction made of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extraction {
    /// The letter found, `None` when unparsed.
    pub letter: Option<char>,
    /// The rule that found it.
    pub tier: ExtractionTier,
}

static ANSWER_IS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"answer is \(?([A-J])\)?").expect("valid pattern"));
static ANSWER_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r".*[aA]nswer:\s*([A-J])").expect("valid pattern"));
static STANDALONE_LETTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-J]\b").expect("valid pattern"));

/// Extracts the chosen letter from a model's response.
pub fn extract_answer(response: &str) -> Extraction {
    let text = response.replace("**", "");
    let captured = |re: &Regex| {
        re.captures(&text)
            .and_then(|c| c.get(1))
            .and_then(|m| m.as_str().chars().next())
    };
    if let Some(letter) = captured(&ANSWER_IS) {
        return Extraction {
            letter: Some(letter),
            tier: ExtractionTier::AnswerIs,
        };
    }
    if let Some(letter) = captured(&ANSWER_LABEL) {
        return Extraction {
            letter: Some(letter),
            tier: ExtractionTier::AnswerLabel,
        };
    }
    // The official rule is `\b[A-J]\b(?!.*\b[A-J]\b)` over the whole text: the last match.
    if let Some(last) = STANDALONE_LETTER.find_iter(&text).last() {
        return Extraction {
            letter: last.as_str().chars().next(),
            tier: ExtractionTier::LastLetter,
        };
    }
    Extraction {
        letter: None,
        tier: ExtractionTier::Unparsed,
    }
}

#[cfg(test)]
mod tests {
    use super::{ExtractionTier::*, *};

    fn extract(text: &str) -> (Option<char>, ExtractionTier) {
        let e = extract_answer(text);
        (e.letter, e.tier)
    }

    #[test]
    fn the_answer_is_wins_and_the_first_one_counts() {
        assert_eq!(
            extract("So the answer is (C). Answer: D"),
            (Some('C'), AnswerIs)
        );
        assert_eq!(
            extract("the answer is B, not the answer is (D)"),
            (Some('B'), AnswerIs)
        );
        assert_eq!(
            extract("The answer is **(E)**."),
            (Some('E'), AnswerIs),
            "bold is stripped"
        );
        assert_eq!(
            extract("the answer is (K)"),
            (None, Unparsed),
            "K is not an option letter"
        );
    }

    #[test]
    fn answer_label_takes_the_last_on_the_first_line_that_has_one() {
        assert_eq!(
            extract("Answer: A and then answer: B\nAnswer: C"),
            (Some('B'), AnswerLabel)
        );
        assert_eq!(
            extract("Final Answer:\n  G"),
            (Some('G'), AnswerLabel),
            "\\s* spans lines"
        );
        assert_eq!(extract("**Answer:** H"), (Some('H'), AnswerLabel));
    }

    #[test]
    fn otherwise_the_last_standalone_letter() {
        assert_eq!(
            extract("Between A and B I pick J for sure"),
            (Some('J'), LastLetter)
        );
        assert_eq!(extract("I'd go with (D)\nmaybe"), (Some('D'), LastLetter));
        assert_eq!(
            extract("ABC DEF"),
            (None, Unparsed),
            "letters inside words do not count"
        );
        assert_eq!(extract(""), (None, Unparsed));
        assert_eq!(extract("No idea, sorry. K."), (None, Unparsed));
    }

    #[test]
    fn tier_names_round_trip() {
        for tier in ExtractionTier::ALL {
            assert_eq!(ExtractionTier::parse(tier.as_str()), Some(tier));
        }
    }
}
