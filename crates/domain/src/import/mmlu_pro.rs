//! The MMLU-Pro JSON Lines importer.
//!
//! `answer` (the letter) is authoritative: the official evaluation compares predictions to it.
//! When `answer_index` disagrees (upstream question 3983 does), the row is accepted with a
//! warning.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Collector, utf8_lines};
use crate::dataset::{AnswerKey, DatasetItem};

#[derive(Deserialize)]
struct Record<'a> {
    /// MMLU-Pro ids are integers; other files in the same shape sometimes use strings.
    #[serde(borrow)]
    question_id: &'a RawValue,
    question: String,
    options: Vec<String>,
    answer: String,
    #[serde(default)]
    answer_index: Option<i64>,
    #[serde(default)]
    cot_content: Option<String>,
    category: String,
    #[serde(default)]
    src: Option<String>,
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
                collector.problem(line, format!("not a valid MMLU-Pro record: {e}"));
                continue;
            }
        };
        let read = AnswerKey::from_letter(&record.answer);
        if let (Some(answer), Some(index)) = (read, record.answer_index)
            && usize::try_from(index).ok() != Some(answer.index())
        {
            collector.warning(
                line,
                format!(
                    "answer `{answer}` and answer_index {index} disagree; the letter `{answer}` is used"
                ),
            );
        }
        let id = match super::scalar_text(record.question_id) {
            Ok(id) => id,
            Err(what) => {
                collector.problem(
                    line,
                    format!("question_id must be a number or a string, not {what}"),
                );
                continue;
            }
        };
        // The official evaluation's `preprocess` drops `N/A` options: early copies of MMLU-Pro
        // pad every question to ten options with them. Trailing padding is dropped here too,
        // so that prompts are the official ones; an `N/A` among the options is kept.
        let mut options = record.options;
        let padding = options.iter().rev().take_while(|o| *o == "N/A").count();
        // What is left is an item's options only if there are enough of them: the count the
        // file shows would not say why it is refused.
        if padding > 0 && options.len() - padding < 2 {
            collector.problem(
                line,
                format!(
                    "has {} option(s) once its trailing `N/A` options (MMLU-Pro's padding) are \
                     dropped; an item needs 2 to 10",
                    options.len() - padding
                ),
            );
            continue;
        }
        options.truncate(options.len() - padding);
        let item = DatasetItem {
            id,
            category: record.category,
            question: record.question,
            choices: options,
            // The record's other rules are checked even when its answer cannot be read.
            answer: read.map_or_else(super::stand_in_answer, Into::into),
            explanation: record.cot_content.filter(|c| !c.trim().is_empty()),
            source: record.src.filter(|s| !s.is_empty()),
        };
        match read {
            Some(_) => collector.item(line, item),
            None => collector.unreadable(
                line,
                vec![format!(
                    "answer `{}` is not a letter A to J",
                    truncate(&record.answer)
                )],
                item,
            ),
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use crate::import::{ImportFormat, MAX_REPORTED_PROBLEMS, parse_items};

    const GOOD: &str = r#"{"question_id": 70, "question": "Q?", "options": ["a", "b", "c"], "answer": "B", "answer_index": 1, "cot_content": "", "category": "business", "src": "ori_mmlu-business_ethics"}"#;

    fn parse(text: &str) -> Result<crate::import::ParsedItems, crate::import::ImportRejected> {
        parse_items(ImportFormat::Jsonl, text.as_bytes())
    }

    #[test]
    fn a_wrong_field_is_named() {
        let null_id = GOOD.replace(r#""question_id": 70"#, r#""question_id": null"#);
        let text_index = GOOD.replace(r#""answer_index": 1"#, r#""answer_index": "1""#);
        let rejected = parse(&format!("{null_id}\n{text_index}\n")).unwrap_err();
        let said: Vec<&str> = rejected
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect();
        assert_eq!(
            said,
            [
                "question_id must be a number or a string, not null",
                "not a valid MMLU-Pro record: `answer_index`: invalid type: string \"1\", \
                 expected a whole number"
            ]
        );
    }

    #[test]
    fn trailing_na_options_are_padding_and_dropped() {
        let padded = GOOD.replace(
            r#""options": ["a", "b", "c"]"#,
            r#""options": ["a", "N/A", "c", "N/A", "N/A"]"#,
        );
        let parsed = parse(&padded).unwrap();
        assert_eq!(parsed.items[0].choices, ["a", "N/A", "c"]);
        // A key on the padding is a key past the options.
        let on_padding = padded.replace(r#""answer": "B""#, r#""answer": "E""#);
        assert!(parse(&on_padding).is_err());
        // Padding that leaves too few options is refused as such: not imported as an item of
        // `N/A` options, not counted as the file shows them.
        for (options, left) in [(r#"["N/A", "N/A"]"#, 0), (r#"["a", "N/A"]"#, 1)] {
            let record = GOOD
                .replace(r#"["a", "b", "c"]"#, options)
                .replace(r#""answer": "B""#, r#""answer": "A""#);
            let rejected = parse(&record).unwrap_err();
            assert_eq!(
                rejected.problems[0].message,
                format!(
                    "has {left} option(s) once its trailing `N/A` options (MMLU-Pro's padding) \
                     are dropped; an item needs 2 to 10"
                ),
                "{options}"
            );
        }
    }

    #[test]
    fn explanations_that_give_no_answer_are_warned_of_once() {
        let explained = |cot: &str| {
            GOOD.replace(
                r#""cot_content": """#,
                &format!(r#""cot_content": "{cot}""#),
            )
        };
        let official = explained("A: Let's think step by step. B fits. The answer is (B).");
        assert!(parse(&official).unwrap().warnings.is_empty());
        let own = format!(
            "{}\n{}\n{}\n",
            official,
            explained("Because b.").replace("70", "71"),
            explained("The answer is (C).").replace("70", "72")
        );
        let parsed = parse(&own).unwrap();
        assert_eq!(parsed.warnings.len(), 1);
        assert_eq!(parsed.warnings[0].line, 2);
        assert!(
            parsed.warnings[0]
                .message
                .starts_with("2 item(s) have an explanation"),
            "{}",
            parsed.warnings[0].message
        );
    }

    #[test]
    fn reads_a_record() {
        let parsed = parse(&format!("{GOOD}\r\n\n")).unwrap();
        let item = &parsed.items[0];
        assert_eq!(item.id, "70");
        assert_eq!(item.answer.text(), "B");
        assert_eq!(item.choices.len(), 3);
        assert_eq!(item.explanation, None);
        assert_eq!(item.source.as_deref(), Some("ori_mmlu-business_ethics"));
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn the_letter_wins_over_a_disagreeing_index_with_a_warning() {
        let row = GOOD.replace(r#""answer_index": 1"#, r#""answer_index": 0"#);
        let parsed = parse(&row).unwrap();
        assert_eq!(parsed.items[0].answer.text(), "B");
        assert_eq!(parsed.warnings[0].line, 1);
        assert_eq!(parsed.warning_total, 1);
    }

    #[test]
    fn warnings_are_counted_in_full_and_listed_up_to_the_cap() {
        let row = GOOD.replace(r#""answer_index": 1"#, r#""answer_index": 0"#);
        let rows: Vec<String> = (0..MAX_REPORTED_PROBLEMS + 5)
            .map(|i| {
                row.replace(
                    r#""question_id": 70"#,
                    &format!(r#""question_id": {}"#, 1000 + i),
                )
            })
            .collect();
        let parsed = parse(&rows.join("\n")).unwrap();
        assert_eq!(parsed.items.len(), MAX_REPORTED_PROBLEMS + 5);
        assert_eq!(parsed.warning_total, MAX_REPORTED_PROBLEMS + 5);
        assert_eq!(parsed.warnings.len(), MAX_REPORTED_PROBLEMS);
        assert_eq!(parsed.warnings.last().unwrap().line, MAX_REPORTED_PROBLEMS);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = [
            GOOD.to_owned(),
            "{not json".to_owned(),
            GOOD.replace(r#""answer": "B""#, r#""answer": "Z""#)
                .replace("70", "71"),
            GOOD.replace(r#""options": ["a", "b", "c"]"#, r#""options": ["a"]"#)
                .replace("70", "72"),
            GOOD.replace(r#""question": "Q?", "#, ""),
            GOOD.to_owned(),
        ]
        .join("\n");
        let err = parse(&text).unwrap_err();
        let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
        // Line 4 breaks two rules (one option; answer B beyond it): both are listed.
        assert_eq!(lines, [2, 3, 4, 4, 5, 6], "{:?}", err.problems);
        assert!(err.problems[4].message.contains("missing field `question`"));
        assert!(
            err.problems[5]
                .message
                .contains("duplicate item id `70` (first on line 1)")
        );
        assert_eq!(err.total, 6);
    }

    #[test]
    fn a_duplicate_id_is_said_with_the_rows_other_problems() {
        let text = [
            GOOD.to_owned(),
            GOOD.replace(r#""options": ["a", "b", "c"]"#, r#""options": ["a"]"#),
        ]
        .join("\n");
        let err = parse(&text).unwrap_err();
        let said: Vec<(usize, &str)> = err
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert!(
            said.contains(&(2, "duplicate item id `70` (first on line 1)")),
            "{said:?}"
        );
        assert!(said.len() >= 2, "and its options: {said:?}");
    }

    #[test]
    fn invalid_utf8_is_a_line_problem() {
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes.extend_from_slice(b"\n\xff\xfe\n");
        let err = parse_items(ImportFormat::Jsonl, &bytes).unwrap_err();
        assert_eq!(err.problems[0].line, 2);
    }
}
