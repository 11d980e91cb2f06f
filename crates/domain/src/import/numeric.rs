//! Numeric questions in JSON Lines: GSM8K's records (`question`, and an `answer` that is the
//! worked solution ending `#### N`), or any `{"question": ..., "answer": N}` with an optional
//! `id`, `category`, `explanation` and `source`. A GSM8K solution becomes the item's explanation (the
//! worked example a few-shot prompt shows) and its final number the answer.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Collector, DEFAULT_CATEGORY, utf8_lines};
use crate::{
    dataset::{DatasetItem, ItemAnswer},
    numeric::Number,
};

/// The category of GSM8K records, which have none.
const GSM8K_CATEGORY: &str = "gsm8k";

/// The category of a numeric item that names none: GSM8K's when its answer is a GSM8K worked
/// solution (`… #### N`), in every format, so that one file saved as JSON Lines or CSV is one
/// dataset.
pub(super) fn default_category(gsm8k_solution: bool) -> &'static str {
    if gsm8k_solution {
        GSM8K_CATEGORY
    } else {
        DEFAULT_CATEGORY
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record<'a> {
    /// A string or a number, as files write ids.
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    question: String,
    /// A number (its digits as written), or text holding one or a worked solution.
    #[serde(borrow)]
    answer: &'a RawValue,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    explanation: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// The number of an answer cell: a number as people write one, or a GSM8K worked solution
/// (then also returned, as the explanation). The error says what was expected.
pub(super) fn answer_of(text: &str) -> Result<(Number, Option<String>), String> {
    if text.contains("####") {
        return Number::of_gsm8k_solution(text)
            .map(|number| (number, Some(text.to_owned())))
            .ok_or_else(|| "the answer's `####` line holds no number".to_owned());
    }
    Number::parse(text).map(|n| (n, None)).ok_or_else(|| {
        let shown: String = text.chars().take(20).collect();
        format!("answer `{shown}` is not a number (or a worked solution ending `#### N`)")
    })
}

pub(super) fn parse(bytes: &[u8], collector: &mut Collector) {
    for (line, text) in utf8_lines(bytes) {
        let Some(text) = text else {
            collector.not_utf8(line);
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let record: Record = match super::read_record(text) {
            Ok(record) => record,
            Err(e) => {
                collector.problem(
                    line,
                    format!(
                        "not a valid numeric record ({{\"question\", \"answer\"}}, optional \
                         \"id\", \"category\", \"explanation\", \"source\"): {e}"
                    ),
                );
                continue;
            }
        };
        let id = match record.id.map(super::scalar_text).transpose() {
            Ok(id) => id,
            Err(what) => {
                collector.problem(line, format!("id must be a number or a string, not {what}"));
                continue;
            }
        };
        // The record's other rules are checked even when its answer cannot be read.
        let read = super::scalar_text(record.answer)
            .map_err(|what| format!("answer must be a number or a string, not {what}"))
            .and_then(|text| answer_of(&text));
        let (answer, solution, unreadable) = match read {
            Ok((number, solution)) => (ItemAnswer::Number(number), solution, None),
            Err(message) => (super::stand_in_answer(), None, Some(message)),
        };
        let default_category = default_category(solution.is_some());
        let item = DatasetItem {
            // GSM8K has no ids: the line is one, stable for a given file.
            id: id.unwrap_or_else(|| line.to_string()),
            category: record
                .category
                .unwrap_or_else(|| default_category.to_owned()),
            question: record.question,
            choices: Vec::new(),
            answer,
            explanation: record.explanation.or(solution),
            source: record.source.filter(|s| !s.is_empty()),
        };
        match unreadable {
            None => collector.item(line, item),
            Some(message) => collector.unreadable(line, vec![message], item),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::import::{ImportFormat, parse_items};

    #[test]
    fn gsm8k_lines_become_numeric_items() {
        // Two lines of the GSM8K test split, byte for byte.
        let file = concat!(
            r#"{"question": "A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?", "answer": "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 bolts of fabric\n#### 3"}"#,
            "\n",
            r#"{"question": "Josh decides to try flipping a house.  He buys a house for $80,000 and then puts in $50,000 in repairs.  This increased the value of the house by 150%.  How much profit did he make?", "answer": "So he made a profit of 200,000-130,000=$<<200000-130000=70000>>70,000\n#### 70000"}"#,
            "\n",
        );
        let parsed = parse_items(ImportFormat::Jsonl, file.as_bytes()).unwrap();
        let answers: Vec<String> = parsed.items.iter().map(|i| i.answer.text()).collect();
        assert_eq!(answers, ["3", "70000"]);
        let first = &parsed.items[0];
        assert_eq!((first.id.as_str(), first.category.as_str()), ("1", "gsm8k"));
        assert!(first.choices.is_empty());
        assert!(first.explanation.as_deref().unwrap().ends_with("#### 3"));
    }

    #[test]
    fn plain_numeric_records_and_their_mistakes() {
        let file = concat!(
            r#"{"id": "a", "question": "2 + 2?", "answer": 4, "category": "arithmetic"}"#,
            "\n",
            r#"{"id": "b", "question": "Half of 3?", "answer": "1.50"}"#,
            "\n",
        );
        let parsed = parse_items(ImportFormat::Jsonl, file.as_bytes()).unwrap();
        assert_eq!(parsed.items[1].answer.text(), "1.5");
        assert_eq!(parsed.items[1].category, "general");
        let bad = concat!(
            r#"{"question": "2 + 2?", "answer": "four"}"#,
            "\n",
            r#"{"question": "3 + 3?", "answer": 6, "optoins": []}"#,
            "\n",
        );
        let rejected = parse_items(ImportFormat::Jsonl, bad.as_bytes()).unwrap_err();
        assert_eq!(rejected.total, 2);
        assert!(rejected.problems[0].message.contains("is not a number"));
        assert!(
            rejected.problems[1]
                .message
                .contains("unknown field `optoins`")
        );
    }

    #[test]
    fn a_number_keeps_every_digit_and_a_wrong_value_is_named() {
        let file = concat!(
            r#"{"question": "a", "answer": 123456789.123456789}"#,
            "\n",
            r#"{"question": "b", "answer": 1.0000000000000001, "id": 7}"#,
            "\n",
        );
        let items = parse_items(ImportFormat::Jsonl, file.as_bytes())
            .unwrap()
            .items;
        let answers: Vec<String> = items.iter().map(|i| i.answer.text()).collect();
        assert_eq!(answers, ["123456789.123456789", "1.0000000000000001"]);
        assert_eq!(items[1].id, "7");
        // Exponents as Jackson (`1.2E7`) and Python (`5e-05`) write them, exactly.
        let file = concat!(
            r#"{"question": "a", "answer": 1.2E7}"#,
            "\n",
            r#"{"question": "b", "answer": 5e-05}"#,
            "\n",
            r#"{"question": "c", "answer": -1.25e+2}"#,
            "\n",
            r#"{"question": "d", "answer": 12.5e-1}"#,
            "\n",
        );
        let items = parse_items(ImportFormat::Jsonl, file.as_bytes())
            .unwrap()
            .items;
        let answers: Vec<String> = items.iter().map(|i| i.answer.text()).collect();
        assert_eq!(answers, ["12000000", "0.00005", "-125", "1.25"]);
        let bad = concat!(
            r#"{"question": "a", "answer": true}"#,
            "\n",
            r#"{"question": "b", "answer": 1e99}"#,
            "\n",
            r#"{"question": "c", "answer": 1, "id": null}"#,
            "\n",
            r#"{"question": null, "answer": 1}"#,
            "\n",
        );
        let rejected = parse_items(ImportFormat::Jsonl, bad.as_bytes()).unwrap_err();
        let said: Vec<&str> = rejected
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert!(
            said[0].contains("answer must be a number or a string, not `true`"),
            "{said:?}"
        );
        assert!(
            said[1].contains("answer `1e99` is not a number"),
            "{said:?}"
        );
        // A null id is an absent one, as for every optional field.
        assert_eq!(rejected.total, 3, "{said:?}");
        assert!(
            said[2].ends_with("`question`: invalid type: null, expected a string"),
            "{said:?}"
        );
    }

    #[test]
    fn a_file_of_neither_shape_says_which_shapes_are_read() {
        let rejected =
            parse_items(ImportFormat::Jsonl, br#"{"prompt": "hi", "label": 1}"#).unwrap_err();
        let message = &rejected.problems[0].message;
        assert!(
            message.contains("MMLU-Pro") && message.contains("GSM8K"),
            "{message}"
        );
    }
}
