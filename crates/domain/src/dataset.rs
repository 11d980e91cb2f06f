//! Datasets: named, versioned collections of multiple-choice items, and their content digest.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{ids::DatasetId, time::Timestamp};

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

/// One multiple-choice question of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetItem {
    /// The item's id within its dataset (MMLU-Pro's `question_id`), unique per dataset.
    pub id: String,
    /// Subject the item belongs to (`math`, `law`, ...).
    pub category: String,
    /// The question text.
    pub question: String,
    /// The answer options, in letter order.
    pub choices: Vec<String>,
    /// The correct option.
    pub answer: AnswerKey,
    /// A worked explanation, when the dataset has one.
    pub explanation: Option<String>,
    /// Where the item comes from (MMLU-Pro's `src`).
    pub source: Option<String>,
}

impl DatasetItem {
    /// Every rule the item breaks, as messages; empty when the item is valid.
    pub fn problems(&self) -> Vec<String> {
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
        if !(MIN_CHOICES..=MAX_CHOICES).contains(&self.choices.len()) {
            problems.push(format!(
                "must have {MIN_CHOICES} to {MAX_CHOICES} options, has {}",
                self.choices.len()
            ));
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
        if self.answer.index() >= self.choices.len() {
            problems.push(format!(
                "answer {} is not one of the {} options",
                self.answer,
                self.choices.len()
            ));
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
/// one line of the compact JSON array `[id, category, question, choices, answerLetter,
/// explanation, source]` (absent values as `null`). Equal items in equal order give equal
/// digests, whatever file format they came from.
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
            item.answer.letter().to_string(),
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
            answer: AnswerKey::from_letter("B").unwrap(),
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
        changed.answer = AnswerKey::from_letter("A").unwrap();
        assert_ne!(a, dataset_digest(&[item("1"), changed]));
    }

    #[test]
    fn item_problems_are_all_listed() {
        let mut bad = item("");
        bad.choices = vec!["only".into()];
        bad.answer = AnswerKey::from_letter("D").unwrap();
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
        assert!(item("x").problems().is_empty());
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
