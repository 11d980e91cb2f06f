//! Answer extraction, as the official MMLU-Pro evaluation does it, with the rule that matched
//! kept as provenance.
//!
//! After removing `**` (markdown bold), three rules are tried in order:
//! 1. `answer is \(?([A-J])\)?` — the first "the answer is (X)";
//! 2. `.*[aA]nswer:\s*([A-J])` — on the first line that has one, the last "Answer: X";
//! 3. the last standalone letter A–J anywhere in the text.
//!
//! None matching leaves the answer unparsed, which the judge counts as incorrect.
//!
//! The official script applies these as Python 3 `re` patterns, and Python's idea of a word
//! character and of whitespace is not the `regex` crate's: for Python a word character is a
//! Unicode letter or number (general category `L*` or `N*`, so superscripts and subscripts
//! count) or `_`, while marks, joiners and other connector punctuation do not; and `\s` includes
//! U+001C–U+001F. Both are spelled out here rather than borrowed from `\w`, `\b` and `\s`, and
//! `tests/extraction_reference.rs` checks the result against a table of Python's own verdicts.

use std::sync::LazyLock;

use regex::Regex;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Which rule found the answer: of a letter for a multiple-choice item (this module), of a
/// number for a numeric one ([`crate::numeric`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtractionTier {
    /// "The answer is (X)", or "the answer is N".
    AnswerIs,
    /// "Answer: X", or "Answer: N".
    AnswerLabel,
    /// The last standalone letter A–J.
    LastLetter,
    /// GSM8K's final-answer mark, "#### N".
    FinalMark,
    /// A boxed answer, `\boxed{N}`.
    Boxed,
    /// The last number of the response.
    LastNumber,
    /// Nothing matched.
    Unparsed,
}

impl ExtractionTier {
    /// Every tier.
    pub const ALL: [ExtractionTier; 7] = [
        Self::AnswerIs,
        Self::AnswerLabel,
        Self::LastLetter,
        Self::FinalMark,
        Self::Boxed,
        Self::LastNumber,
        Self::Unparsed,
    ];

    /// The tiers of a multiple-choice item, in the order they are tried.
    pub const CHOICE: [ExtractionTier; 4] = [
        Self::AnswerIs,
        Self::AnswerLabel,
        Self::LastLetter,
        Self::Unparsed,
    ];

    /// The tiers of a numeric item, in the order they are tried.
    pub const NUMERIC: [ExtractionTier; 6] = [
        Self::AnswerIs,
        Self::FinalMark,
        Self::Boxed,
        Self::AnswerLabel,
        Self::LastNumber,
        Self::Unparsed,
    ];

    /// The tier's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnswerIs => "answer_is",
            Self::AnswerLabel => "answer_label",
            Self::LastLetter => "last_letter",
            Self::FinalMark => "final_mark",
            Self::Boxed => "boxed",
            Self::LastNumber => "last_number",
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

/// What extraction found, whatever the item's kind, as verdicts record it: the answer as text
/// (a letter, or a number in its canonical spelling) and the rule that found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The answer found, `None` when unparsed.
    pub answer: Option<String>,
    /// The rule that found it.
    pub tier: ExtractionTier,
}

impl From<Extraction> for Extracted {
    fn from(extraction: Extraction) -> Self {
        Self {
            answer: extraction.letter.map(String::from),
            tier: extraction.tier,
        }
    }
}

impl From<crate::numeric::NumericExtraction> for Extracted {
    fn from(extraction: crate::numeric::NumericExtraction) -> Self {
        Self {
            answer: extraction.number.map(|n| n.to_string()),
            tier: extraction.tier,
        }
    }
}

static ANSWER_IS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"answer is \(?([A-J])\)?").expect("valid pattern"));
/// `.*[aA]nswer:\s*([A-J])` with Python's `\s`: `str.isspace()`, which adds U+001C–U+001F to
/// Unicode's `White_Space`. `.` stops at `\n` only, in both engines.
static ANSWER_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r".*[aA]nswer:",
        r"[\t\n\x0B\x0C\r\x1C-\x1F \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}",
        r"\x{202F}\x{205F}\x{3000}]*",
        r"([A-J])"
    ))
    .expect("valid pattern")
});

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
    if let Some(letter) = last_standalone_letter(&text) {
        return Extraction {
            letter: Some(letter),
            tier: ExtractionTier::LastLetter,
        };
    }
    Extraction {
        letter: None,
        tier: ExtractionTier::Unparsed,
    }
}

/// The last letter A–J with a word boundary on both sides, by Python's definition of a word
/// character (the start and the end of the text count as non-word).
fn last_standalone_letter(text: &str) -> Option<char> {
    let mut chars = text.chars().rev().peekable();
    // Walking backwards: `after` is the character that follows the one looked at.
    let mut after: Option<char> = None;
    while let Some(c) = chars.next() {
        let before = chars.peek().copied();
        if ('A'..='J').contains(&c)
            && !after.is_some_and(is_python_word)
            && !before.is_some_and(is_python_word)
        {
            return Some(c);
        }
        after = Some(c);
    }
    None
}

/// Python 3's `\w` on `str`: `ch.isalnum() or ch == '_'`, which is exactly the Unicode general
/// categories `L*` and `N*` plus `_`.
fn is_python_word(c: char) -> bool {
    c == '_'
        || matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        )
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
    fn word_characters_and_whitespace_are_pythons() {
        // Real answers: sub- and superscript digits are word characters for Python, so `H` in
        // `C₂H₂` and `F` in `¹⁹F` are not standalone letters.
        assert_eq!(
            extract("Mass of C₂H₂ = 47.697 kg, which matches none of the options."),
            (None, Unparsed)
        );
        assert_eq!(
            extract("The gyromagnetic ratio for ¹⁹F is about 40 MHz/T."),
            (None, Unparsed)
        );
        // Marks, joiners and connector punctuation other than `_` are not word characters.
        assert_eq!(
            extract("I would pick A\u{301} here."),
            (Some('A'), LastLetter)
        );
        assert_eq!(
            extract("Between the options I pick B\u{200d} today."),
            (Some('B'), LastLetter)
        );
        assert_eq!(extract("Option C‿ is it."), (Some('C'), LastLetter));
        assert_eq!(extract("Option C_ is it."), (None, Unparsed));
        // Python's `\s` includes the information separators U+001C–U+001F.
        assert_eq!(
            extract("Final Answer:\x1cB\nI think."),
            (Some('B'), AnswerLabel)
        );
    }

    #[test]
    fn tier_names_round_trip() {
        for tier in ExtractionTier::ALL {
            assert_eq!(ExtractionTier::parse(tier.as_str()), Some(tier));
        }
    }
}
