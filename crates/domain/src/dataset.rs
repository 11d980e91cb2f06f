//! Datasets: named, versioned collections of items — multiple-choice questions, or questions
//! whose answer is a number — and their content digest.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{ids::DatasetId, numeric::Number, time::Timestamp};

/// Fewest answer options an item may have.
pub const MIN_CHOICES: usize = 2;
/// Most answer options an item may have (letters A..J).
pub const MAX_CHOICES: usize = 10;
/// Longest dataset name, in characters.
pub const MAX_DATASET_NAME_CHARS: usize = 100;
/// Longest item id, in characters.
pub const MAX_ITEM_ID_CHARS: usize = 128;
/// Longest category name, in characters.
pub const MAX_CATEGORY_CHARS: usize = 100;
/// Longest question or explanation, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest single answer option, in bytes.
pub const MAX_CHOICE_BYTES: usize = 16 * 1024;
/// Longest `source` note, in characters.
pub const MAX_SOURCE_CHARS: usize = 200;

/// The correct option of an item, as an index into its choices (0 = A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnswerKey(u8);

impl AnswerKey {
    /// From a letter `A`..`J` (upper case only, as MMLU-Pro writes them).
    pub fn from_letter(letter: &str) -> Option<Self> {
        match letter.as_bytes() {
            [b @ b'A'..=b'J'] => Some(Self(b - b'A')),
            _ => None,
        }
    }

    /// From a 0-based option index below [`MAX_CHOICES`].
    pub fn from_index(index: usize) -> Option<Self> {
        u8::try_from(index)
            .ok()
            .filter(|&i| usize::from(i) < MAX_CHOICES)
            .map(Self)
    }

    /// The 0-based option index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The option letter, `A`..`J`.
    pub fn letter(self) -> char {
        char::from(b'A' + self.0)
    }
}

impl fmt::Display for AnswerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

/// What an item's answer is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemAnswer {
    /// One of a multiple-choice item's options.
    Choice(AnswerKey),
    /// The number a free-form numeric item's answer must equal (GSM8K).
    Number(Number),
}

impl ItemAnswer {
    /// The kind of item this answers.
    pub fn kind(&self) -> AnswerKind {
        match self {
            Self::Choice(_) => AnswerKind::Choice,
            Self::Number(_) => AnswerKind::Number,
        }
    }

    /// The option, for a multiple-choice item.
    pub fn choice(&self) -> Option<AnswerKey> {
        match self {
            Self::Choice(key) => Some(*key),
            Self::Number(_) => None,
        }
    }

    /// The answer as stored and shown: the option's letter, or the number.
    pub fn text(&self) -> String {
        self.to_string()
    }

    /// Reads back what [`ItemAnswer::text`] wrote for an item with these `choices`: a
    /// multiple-choice item has options, a numeric one none.
    pub fn of_item(choices: &[String], text: &str) -> Option<Self> {
        let kind = if choices.is_empty() {
            AnswerKind::Number
        } else {
            AnswerKind::Choice
        };
        Self::parse(kind, text)
    }

    /// Reads back what [`ItemAnswer::text`] wrote for an item of `kind`.
    pub fn parse(kind: AnswerKind, text: &str) -> Option<Self> {
        match kind {
            AnswerKind::Choice => AnswerKey::from_letter(text).map(Self::Choice),
            AnswerKind::Number => Number::parse(text).map(Self::Number),
        }
    }
}

impl From<AnswerKey> for ItemAnswer {
    fn from(key: AnswerKey) -> Self {
        Self::Choice(key)
    }
}

impl fmt::Display for ItemAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Choice(key) => write!(f, "{key}"),
            Self::Number(number) => write!(f, "{number}"),
        }
    }
}

/// The kinds of items a dataset may hold (one kind per dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerKind {
    /// Multiple choice: options lettered A to J, one of them right (MMLU-Pro).
    Choice,
    /// A question whose answer is a number, without options (GSM8K).
    Number,
}

impl AnswerKind {
    /// The kind's wire and storage name: `choice` or `number`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Choice => "choice",
            Self::Number => "number",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Choice, Self::Number]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// A dataset's name as clients use it (`MMLU-Pro`): 1..=100 characters, no control characters,
/// no surrounding whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatasetName(String);

impl DatasetName {
    /// Checks and wraps a name; the error says what is wrong.
    pub fn parse(name: &str) -> Result<Self, String> {
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_DATASET_NAME_CHARS {
            return Err(format!(
                "must be 1 to {MAX_DATASET_NAME_CHARS} characters long"
            ));
        }
        if name.trim() != name {
            return Err("must not start or end with whitespace".into());
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One question of a dataset: multiple choice, or with a number for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetItem {
    /// The item's id within its dataset (MMLU-Pro's `question_id`), unique per dataset.
    pub id: String,
    /// Subject the item belongs to (`math`, `law`, ...).
    pub category: String,
    /// The question text.
    pub question: String,
    /// The answer options, in letter order; none for a numeric item.
    pub choices: Vec<String>,
    /// What the answer is checked against.
    pub answer: ItemAnswer,
    /// A worked explanation, when the dataset has one.
    pub explanation: Option<String>,
    /// Where the item comes from (MMLU-Pro's `src`).
    pub source: Option<String>,
}

impl DatasetItem {
    /// Every rule the item breaks, as messages; empty when the item is valid.
    pub fn problems(&self) -> Vec<String> {
        self.rules_broken(true)
    }

    /// Every rule the item breaks but those about its answer: what else is wrong with a row
    /// whose answer could not be read (the item then holds a stand-in answer).
    pub fn problems_besides_the_answer(&self) -> Vec<String> {
        self.rules_broken(false)
    }

    fn rules_broken(&self, answer_read: bool) -> Vec<String> {
        let mut problems = Vec::new();
        let id_chars = self.id.chars().count();
        if id_chars == 0 || id_chars > MAX_ITEM_ID_CHARS {
            problems.push(format!(
                "id must be 1 to {MAX_ITEM_ID_CHARS} characters long"
            ));
        }
        // Ids and categories are names: shown in lists, used in filters.
        if self.id.chars().any(char::is_control) {
            problems.push("id must not contain control characters".into());
        }
        if self.category.chars().any(char::is_control) {
            problems.push("category must not contain control characters".into());
        }
        let category_chars = self.category.chars().count();
        if category_chars == 0 || category_chars > MAX_CATEGORY_CHARS {
            problems.push(format!(
                "category must be 1 to {MAX_CATEGORY_CHARS} characters long"
            ));
        }
        if self.question.trim().is_empty() {
            problems.push("question must not be empty".into());
        } else if self.question.len() > MAX_TEXT_BYTES {
            problems.push(format!("question is longer than {MAX_TEXT_BYTES} bytes"));
        }
        // A row with options is a multiple-choice item whether or not its answer could be read
        // (its count is a rule of its own, said beside an unreadable answer); one without is
        // one only when its answer was read as a letter.
        let multiple_choice = match &self.answer {
            ItemAnswer::Choice(_) => answer_read || !self.choices.is_empty(),
            ItemAnswer::Number(_) => false,
        };
        if multiple_choice && !(MIN_CHOICES..=MAX_CHOICES).contains(&self.choices.len()) {
            problems.push(format!(
                "must have {MIN_CHOICES} to {MAX_CHOICES} options, has {}",
                self.choices.len()
            ));
        }
        match &self.answer {
            _ if !answer_read => {}
            ItemAnswer::Choice(key) => {
                if key.index() >= self.choices.len() {
                    problems.push(format!(
                        "answer {key} is not one of the {} options",
                        self.choices.len()
                    ));
                }
            }
            ItemAnswer::Number(_) if !self.choices.is_empty() => {
                problems.push("a numeric item has no options".into());
            }
            ItemAnswer::Number(_) => {}
        }
        for (i, choice) in self.choices.iter().enumerate() {
            let letter = char::from(b'A' + (i % 26) as u8);
            if choice.trim().is_empty() {
                problems.push(format!("option {letter} is empty"));
            } else if choice.len() > MAX_CHOICE_BYTES {
                problems.push(format!(
                    "option {letter} is longer than {MAX_CHOICE_BYTES} bytes"
                ));
            }
        }
        // PostgreSQL cannot store NUL in text, and no real question needs one.
        // (Ids and categories refuse every control character, above.)
        let texts = std::iter::once(&self.question)
            .chain(&self.choices)
            .chain(&self.explanation)
            .chain(&self.source);
        if texts.into_iter().any(|t| t.contains('\0')) {
            problems.push("text must not contain NUL characters".into());
        }
        if self
            .explanation
            .as_ref()
            .is_some_and(|e| e.len() > MAX_TEXT_BYTES)
        {
            problems.push(format!("explanation is longer than {MAX_TEXT_BYTES} bytes"));
        }
        if self
            .source
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SOURCE_CHARS)
        {
            problems.push(format!(
                "source is longer than {MAX_SOURCE_CHARS} characters"
            ));
        }
        problems
    }
}

/// Items per category of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    /// The category.
    pub name: String,
    /// How many items it has.
    pub items: u64,
}

/// One imported version of a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Id of this version.
    pub id: DatasetId,
    /// The dataset's name; the newest version answers to it.
    pub name: String,
    /// 1 for the first import under this name, +1 for each import with different content.
    pub version: u32,
    /// [`dataset_digest`] of the items.
    pub digest: String,
    /// How many items it has.
    pub item_count: u64,
    /// Its categories with their item counts, by name.
    pub categories: Vec<CategoryCount>,
    /// When this version was imported.
    pub created_at: Timestamp,
}

/// The content digest of a dataset: `sha256:` and the hex SHA-256 of its items, each written as
/// one line of the compact JSON array `[id, category, question, choices, answer, explanation,
/// source]` (absent values as `null`; `answer` is the option's letter, or the number in its
/// canonical spelling, and a numeric item's `choices` is `[]`). Equal items in equal order give
/// equal digests, whatever file format they came from.
pub fn dataset_digest(items: &[DatasetItem]) -> String {
    #[derive(Serialize)]
    struct Canonical<'a>(
        &'a str,
        &'a str,
        &'a str,
        &'a [String],
        String,
        Option<&'a str>,
        Option<&'a str>,
    );

    let mut hasher = Sha256::new();
    for item in items {
        let canonical = Canonical(
            &item.id,
            &item.category,
            &item.question,
            &item.choices,
            item.answer.text(),
            item.explanation.as_deref(),
            item.source.as_deref(),
        );
        // Serializing strings and string slices cannot fail.
        let line = serde_json::to_vec(&canonical).unwrap_or_default();
        hasher.update(&line);
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> DatasetItem {
        DatasetItem {
            id: id.into(),
            category: "math".into(),
            question: "1 + 1?".into(),
            choices: vec!["1".into(), "2".into()],
            answer: AnswerKey::from_letter("B").unwrap().into(),
            explanation: None,
            source: None,
        }
    }

    #[test]
    fn answer_keys_map_letters_and_indices() {
        assert_eq!(AnswerKey::from_letter("C").unwrap().index(), 2);
        assert_eq!(AnswerKey::from_index(9).unwrap().letter(), 'J');
        assert!(AnswerKey::from_letter("K").is_none());
        assert!(AnswerKey::from_letter("a").is_none());
        assert!(AnswerKey::from_index(10).is_none());
    }

    #[test]
    fn digest_depends_on_content_and_order() {
        let a = dataset_digest(&[item("1"), item("2")]);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        assert_eq!(a, dataset_digest(&[item("1"), item("2")]));
        assert_ne!(a, dataset_digest(&[item("2"), item("1")]));
        let mut changed = item("2");
        changed.answer = AnswerKey::from_letter("A").unwrap().into();
        assert_ne!(a, dataset_digest(&[item("1"), changed]));
    }

    #[test]
    fn item_problems_are_all_listed() {
        let mut bad = item("");
        bad.choices = vec!["only".into()];
        bad.answer = AnswerKey::from_letter("D").unwrap().into();
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
        assert!(item("x").problems().is_empty());
    }

    #[test]
    fn numeric_items_have_no_options_and_digest_their_number() {
        let mut numeric = item("n");
        numeric.answer = ItemAnswer::Number(Number::parse("1,600").unwrap());
        assert_eq!(numeric.problems(), ["a numeric item has no options"]);
        numeric.choices.clear();
        assert!(numeric.problems().is_empty());
        assert_eq!(numeric.answer.text(), "1600");
        assert_eq!(
            ItemAnswer::parse(AnswerKind::Number, "1600"),
            Some(numeric.answer.clone())
        );
        assert_eq!(ItemAnswer::parse(AnswerKind::Choice, "1600"), None);
        let mut other = numeric.clone();
        other.answer = ItemAnswer::Number(Number::parse("1601").unwrap());
        assert_ne!(dataset_digest(&[numeric]), dataset_digest(&[other]));
    }

    #[test]
    fn control_characters_in_names_are_refused() {
        let mut bad = item("a\u{1}");
        bad.category = "m\nath".into();
        assert_eq!(bad.problems().len(), 2, "{:?}", bad.problems());
        let mut fine = item("x");
        fine.question = "multi\nline\twith tabs".into();
        assert!(fine.problems().is_empty());
    }

    #[test]
    fn nul_characters_are_refused() {
        let mut bad = item("x");
        bad.choices[1] = "b\0".into();
        assert_eq!(bad.problems(), ["text must not contain NUL characters"]);
    }

    #[test]
    fn dataset_names() {
        assert!(DatasetName::parse("MMLU-Pro").is_ok());
        assert!(DatasetName::parse("").is_err());
        assert!(DatasetName::parse(" padded").is_err());
        assert!(DatasetName::parse("tab\there").is_err());
        assert!(DatasetName::parse(&"x".repeat(101)).is_err());
    }
}
