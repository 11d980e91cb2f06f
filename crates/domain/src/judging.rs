//! Verdicts: how an extracted answer is judged against the item's key.

use crate::{
    dataset::AnswerKey,
    extraction::{Extraction, ExtractionTier},
    item::ItemState,
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
}
