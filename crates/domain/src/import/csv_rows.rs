//! The plain CSV importer, of multiple-choice or numeric items.
//!
//! A header row names the columns, in any order and any letter case: `question` and `answer`
//! are required, and `id`, `category`, `explanation` and `source` are optional. With option
//! columns `A`, `B`, ... up to `J` (at least `A` and `B`) the items are multiple choice, the
//! answer a letter, and a row's options end at its first empty option cell. Without option
//! columns they are numeric: the answer a number (or a GSM8K worked solution ending `#### N`).
//! Without an `id` column, items are numbered from 1; without a `category` column, every item
//! is in `general`.

use super::{Collector, DEFAULT_CATEGORY};
use crate::dataset::{AnswerKey, DatasetItem, ItemAnswer, MAX_CHOICES};

#[derive(Default)]
struct Columns {
    id: Option<usize>,
    category: Option<usize>,
    question: Option<usize>,
    answer: Option<usize>,
    explanation: Option<usize>,
    source: Option<usize>,
    options: [Option<usize>; MAX_CHOICES],
}

/// Why a header cell may be unknown, when it shows: a file separated by another character
/// (spreadsheets in many locales write `;`), or a JSON Lines file named `.csv`.
fn header_hint(cell: &str) -> String {
    if cell.starts_with('{') {
        return ": the file looks like JSON Lines; name it .jsonl (or send format=jsonl)".into();
    }
    for separator in [';', '\t', '|'] {
        let names: Vec<&str> = cell.split(separator).map(str::trim).collect();
        if names.len() > 1 && names.iter().any(|n| n.eq_ignore_ascii_case("question")) {
            let shown = if separator == '\t' {
                "tabs".to_owned()
            } else {
                format!("`{separator}`")
            };
            return format!(
                ": the header looks separated by {shown}; evalboard reads comma-separated CSV"
            );
        }
    }
    String::new()
}

impl Columns {
    /// Maps header names to positions; reports unknown, repeated and missing columns.
    fn from_header(header: &csv::ByteRecord, collector: &mut Collector) -> Option<Self> {
        let mut columns = Columns::default();
        let mut ok = true;
        for (position, raw) in header.iter().enumerate() {
            let text = String::from_utf8_lossy(raw);
            // Matched without regard to case; named back as the file wrote it (at most 40
            // characters: a JSON Lines file read as CSV has whole records for a header).
            let written = text.trim();
            let name: String = if written.chars().count() > 40 {
                written.chars().take(40).chain(['…']).collect()
            } else {
                written.to_owned()
            };
            let slot = match written.to_ascii_lowercase().as_str() {
                "id" => &mut columns.id,
                "category" => &mut columns.category,
                "question" => &mut columns.question,
                "answer" => &mut columns.answer,
                "explanation" => &mut columns.explanation,
                "source" => &mut columns.source,
                letter if letter.len() == 1 && (b'a'..=b'j').contains(&letter.as_bytes()[0]) => {
                    &mut columns.options[usize::from(letter.as_bytes()[0] - b'a')]
                }
                _ => {
                    collector.problem(
                        1,
                        format!(
                            "unknown column `{name}` (expected id, category, question, A..J, answer, explanation, source){}",
                            header_hint(written)
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if slot.replace(position).is_some() {
                collector.problem(1, format!("column `{name}` appears twice"));
                ok = false;
            }
        }
        // No option column at all: numeric items.
        let choice = columns.options.iter().any(Option::is_some);
        for (name, present) in [
            ("question", columns.question.is_some()),
            ("answer", columns.answer.is_some()),
            ("A", !choice || columns.options[0].is_some()),
            ("B", !choice || columns.options[1].is_some()),
        ] {
            if !present {
                collector.problem(1, format!("the header has no `{name}` column"));
                ok = false;
            }
        }
        let last_option = columns
            .options
            .iter()
            .rposition(Option::is_some)
            .unwrap_or(0);
        if let Some(gap) = columns.options[..last_option]
            .iter()
            .position(Option::is_none)
        {
            collector.problem(
                1,
                format!(
                    "option columns must be consecutive; `{}` is missing",
                    letter(gap)
                ),
            );
            ok = false;
        }
        ok.then_some(columns)
    }
}

fn letter(index: usize) -> char {
    char::from(b'A' + index as u8)
}

/// More fields than this on the first line make it no header (it has at most 17 columns, a
/// few more when some are unknown): the CSV reader would hold every field's place, and the
/// header twice, before anything could be said (100 MB for an 8 MiB line of `,a`).
const MAX_HEADER_FIELDS: usize = 1_000;

/// The fields of the file's first record as the CSV reader will read it: past the empty lines
/// it skips, up to the first line break outside quotes (a quoted name may hold one).
fn header_fields(bytes: &[u8]) -> usize {
    let start = bytes
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .unwrap_or(bytes.len());
    let (mut fields, mut quoted) = (1, false);
    for &byte in &bytes[start..] {
        match byte {
            b'"' => quoted = !quoted,
            b',' if !quoted => fields += 1,
            b'\n' if !quoted => break,
            _ => {}
        }
    }
    fields
}

pub(super) fn parse(bytes: &[u8], collector: &mut Collector) {
    let fields = header_fields(bytes);
    if fields > MAX_HEADER_FIELDS {
        collector.problem(
            1,
            format!(
                "the header has {fields} columns: a dataset's CSV has at most 17 (id, category, \
                 question, A..J, answer, explanation, source)"
            ),
        );
        return;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = match reader.byte_headers() {
        Ok(header) => header.clone(),
        Err(e) => {
            collector.problem(1, format!("the header row cannot be read: {e}"));
            return;
        }
    };
    if header.is_empty() {
        return;
    }
    let Some(columns) = Columns::from_header(&header, collector) else {
        return;
    };
    let mut record = csv::ByteRecord::new();
    let mut ordinal = 0usize;
    let mut lines = LineNumbers::new(bytes);
    loop {
        let before = reader.position().byte();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                ordinal += 1;
                let line = lines.at(record.position().map_or(before, csv::Position::byte));
                if record
                    .iter()
                    .all(|field| field.iter().all(u8::is_ascii_whitespace))
                {
                    continue;
                }
                parse_row(&record, line, ordinal, &columns, collector);
            }
            Err(e) => {
                let line = lines.at(e.position().map_or(before, csv::Position::byte));
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("the row has {len} fields, the header has {expected_len}"),
                    _ => format!("the row cannot be read: {e}"),
                };
                collector.problem(line, message);
            }
        }
    }
}

/// The line a row starts on, from the byte where the reader says it starts.
///
/// The csv crate's own line count is behind by one after a row that ends in `\r\n` (it counts
/// the `\n` while reading the next row) and points at the first of any blank lines before a row;
/// counting the newlines before the row's first byte is right for both. Rows come in order, so
/// each count goes on from the previous one.
struct LineNumbers<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    newlines: usize,
}

impl<'a> LineNumbers<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            counted_to: 0,
            newlines: 0,
        }
    }

    /// The 1-based line of the first byte at or after `byte` that is not a line ending.
    fn at(&mut self, byte: u64) -> usize {
        let mut start = usize::try_from(byte).map_or(self.bytes.len(), |b| b.min(self.bytes.len()));
        while self
            .bytes
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        if start > self.counted_to {
            self.newlines += self.bytes[self.counted_to..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.counted_to = start;
        }
        self.newlines + 1
    }
}

fn parse_row(
    record: &csv::ByteRecord,
    line: usize,
    ordinal: usize,
    columns: &Columns,
    collector: &mut Collector,
) {
    let mut utf8_ok = true;
    // A cell is kept as written, spaces included, as JSON Lines keeps its strings (equal items
    // give equal digests whatever the format; MMLU-Pro has options such as " 0.020"); a blank
    // cell is an empty one. (Ids and categories are names: every importer trims them.)
    let mut cell = |position: Option<usize>| -> Option<String> {
        let raw = record.get(position?)?;
        match std::str::from_utf8(raw) {
            Ok(text) if text.trim().is_empty() => Some(String::new()),
            Ok(text) => Some(text.to_owned()),
            Err(_) => {
                utf8_ok = false;
                None
            }
        }
    };
    // An empty optional cell is an absent one: the row's number, the default category.
    let id = cell(columns.id)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| ordinal.to_string());
    let given_category = cell(columns.category).filter(|category| !category.is_empty());
    let question = cell(columns.question).unwrap_or_default();
    // The answer is a letter or a number: the spaces around it say nothing.
    let answer_text = cell(columns.answer).unwrap_or_default().trim().to_owned();
    let explanation = cell(columns.explanation).filter(|e| !e.is_empty());
    let source = cell(columns.source).filter(|s| !s.is_empty());
    let cells: Vec<String> = columns
        .options
        .iter()
        .map_while(|&position| position.map(|p| cell(Some(p)).unwrap_or_default()))
        .collect();
    if !utf8_ok {
        collector.problem(
            line,
            "the row is not valid UTF-8: save the file as UTF-8 (Excel: \"CSV UTF-8\"; its plain \"CSV\" is in another encoding)",
        );
        return;
    }
    let given = cells
        .iter()
        .rposition(|c| !c.is_empty())
        .map_or(0, |i| i + 1);
    // What cannot be read is said with every other rule the row breaks, not instead of them.
    let mut unreadable = Vec::new();
    // Without option columns the items are numeric.
    let numeric = cells.is_empty();
    let mut choices = cells;
    choices.truncate(given);
    if let Some(gap) = choices.iter().position(String::is_empty) {
        unreadable.push(format!(
            "option {} is empty but a later option is given",
            letter(gap)
        ));
        // The options given, so that the row's other problems are not about the gap again.
        choices.retain(|c| !c.is_empty());
    }
    let mut explanation = explanation;
    let mut gsm8k_solution = false;
    let answer = if numeric {
        match super::numeric::answer_of(&answer_text) {
            Ok((number, solution)) => {
                gsm8k_solution = solution.is_some();
                explanation = explanation.or(solution);
                ItemAnswer::Number(number)
            }
            Err(message) => {
                unreadable.push(message);
                super::stand_in_answer()
            }
        }
    } else {
        match AnswerKey::from_letter(&answer_text.to_ascii_uppercase()) {
            Some(key) => ItemAnswer::Choice(key),
            None => {
                unreadable.push(format!("answer `{answer_text}` is not a letter A to J"));
                super::stand_in_answer()
            }
        }
    };
    let category = given_category.unwrap_or_else(|| {
        if numeric {
            super::numeric::default_category(gsm8k_solution).to_owned()
        } else {
            DEFAULT_CATEGORY.to_owned()
        }
    });
    let item = DatasetItem {
        id,
        category,
        question,
        choices,
        answer,
        explanation,
        source,
    };
    if unreadable.is_empty() {
        collector.item(line, item);
    } else {
        collector.unreadable(line, unreadable, item);
    }
}

#[cfg(test)]
mod tests {
    use crate::import::{ImportFormat, parse_items};

    fn parse(text: &str) -> Result<crate::import::ParsedItems, crate::import::ImportRejected> {
        parse_items(ImportFormat::Csv, text.as_bytes())
    }

    #[test]
    fn reads_rows_with_optional_columns_and_quoted_newlines() {
        let text = "Question,A,B,C,Answer,Category\n\
                    \"Two\nlines?\",yes,no,,a,logic\n\
                    Sky?,blue,green,red,A,nature\n";
        let items = parse(text).unwrap().items;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].id, "1");
        assert_eq!(items[0].question, "Two\nlines?");
        assert_eq!(items[0].choices, ["yes", "no"]);
        assert_eq!(items[0].answer.text(), "A");
        assert_eq!(items[1].id, "2");
        assert_eq!(items[1].category, "nature");
    }

    #[test]
    fn default_category_without_the_column() {
        let items = parse("question,A,B,answer\nQ,x,y,B\n").unwrap().items;
        assert_eq!(items[0].category, "general");
        // An empty id or category cell is an absent one.
        let items = parse("id,category,question,A,B,answer\n,,Q,x,y,B\n  ,  ,Q,x,y,B\n")
            .unwrap()
            .items;
        let ids: Vec<(&str, &str)> = items
            .iter()
            .map(|i| (i.id.as_str(), i.category.as_str()))
            .collect();
        assert_eq!(ids, [("1", "general"), ("2", "general")]);
        // Ids and categories are names: `1, math` means `1` and `math`, in every format.
        let items = parse("id, category, question, A, B, answer\n7, math, Q?, 3, 4, B\n")
            .unwrap()
            .items;
        assert_eq!(
            (items[0].id.as_str(), items[0].category.as_str()),
            ("7", "math")
        );
        assert_eq!(items[0].choices, [" 3", " 4"]);
        let jsonl = r#"{"question": "Q?", "answer": 1, "id": " 7", "category": " math "}"#;
        let items = parse_items(ImportFormat::Jsonl, jsonl.as_bytes())
            .unwrap()
            .items;
        assert_eq!(
            (items[0].id.as_str(), items[0].category.as_str()),
            ("7", "math")
        );
    }

    #[test]
    fn cells_are_kept_as_written_as_json_lines_keeps_its_strings() {
        // MMLU-Pro's own options have spaces around them (" 0.020"): the same item from CSV and
        // from JSON Lines is the same item, with the same digest.
        let csv = "id,category,question,A,B,answer,explanation\n\
                   7,physics,\"  What is it? \", 0.020,0.2 , B ,\"  why\n\"\n";
        let jsonl = r#"{"question_id": 7, "question": "  What is it? ", "options": [" 0.020", "0.2 "], "answer": "B", "answer_index": 1, "cot_content": "  why\n", "category": "physics", "src": ""}"#;
        let from_csv = parse(csv).unwrap().items;
        let from_jsonl = parse_items(ImportFormat::Jsonl, jsonl.as_bytes())
            .unwrap()
            .items;
        assert_eq!(from_csv[0].choices, [" 0.020", "0.2 "]);
        assert_eq!(from_csv[0].question, "  What is it? ");
        assert_eq!(from_csv, from_jsonl);
        assert_eq!(
            crate::dataset_digest(&from_csv),
            crate::dataset_digest(&from_jsonl)
        );
    }

    #[test]
    fn bad_rows_are_reported_with_the_line_they_start_on() {
        let text = "id,question,A,B,C,answer\n\
                    1,\"multi\nline\",x,y,z,A\n\
                    2,Q,x,y,z,K\n\
                    3,Q,x,,z,A\n\
                    4,Q,x,y\n\
                    1,Q,x,y,z,C\n";
        let err = parse(text).unwrap_err();
        let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [4, 5, 6, 7], "{:?}", err.problems);
        assert!(err.problems[2].message.contains("4 fields"));
        assert!(
            err.problems[3]
                .message
                .contains("duplicate item id `1` (first on line 2)")
        );
    }

    #[test]
    fn rows_are_reported_at_their_line_with_windows_line_endings_and_blank_lines() {
        let lf = "id,question,A,B,answer\n\
                  1,\"two\nlines\",x,y,A\n\
                  \n\
                  \n\
                  2,Q,x,y,K\n\
                  3,Q,x,y\n\
                  1,Q,x,y,A\n";
        for (endings, text) in [("LF", lf.to_owned()), ("CRLF", lf.replace('\n', "\r\n"))] {
            let err = parse(&text).unwrap_err();
            let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
            assert_eq!(lines, [6, 7, 8], "{endings}: {:?}", err.problems);
            assert!(
                err.problems[0].message.contains("`K`"),
                "{:?}",
                err.problems
            );
            assert!(err.problems[1].message.contains("4 fields"));
            assert!(
                err.problems[2]
                    .message
                    .contains("duplicate item id `1` (first on line 2)"),
                "{endings}: {:?}",
                err.problems
            );
        }
    }

    #[test]
    fn a_header_is_matched_in_any_case_and_named_back_as_written() {
        let err = parse("Question,A,B,Answer,Colour\nQ,x,y,A,red\n").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{:?}", err.problems);
        assert!(
            err.problems[0].message.contains("unknown column `Colour`"),
            "{:?}",
            err.problems
        );
        // A JSON Lines record read as a header: each cell named by its first 40 characters.
        let json = r#"{"question_id": 70, "question": "What is the answer to this one?", "x": 1}"#;
        let err = parse(&format!("{json}\n")).unwrap_err();
        let said = |text: &str| err.problems.iter().any(|p| p.message.contains(text));
        assert!(
            said("unknown column `{\"question_id\": 70`"),
            "{:?}",
            err.problems
        );
        assert!(
            said("unknown column `\"question\": \"What is the answer to this …`"),
            "{:?}",
            err.problems
        );
    }

    #[test]
    fn a_header_of_another_separator_or_of_json_says_so() {
        let err = parse("Question;A;B;Answer\nQ;x;y;A\n").unwrap_err();
        assert!(
            err.problems[0].message.ends_with(
                "the header looks separated by `;`; evalboard reads comma-separated CSV"
            ),
            "{:?}",
            err.problems
        );
        let err = parse("question\tA\tB\tanswer\nQ\tx\ty\tA\n").unwrap_err();
        assert!(
            err.problems[0].message.contains("separated by tabs"),
            "{:?}",
            err.problems
        );
        let err = parse("{\"question\": \"Q\"}\n").unwrap_err();
        assert!(
            err.problems[0].message.contains("looks like JSON Lines"),
            "{:?}",
            err.problems
        );
    }

    #[test]
    fn header_problems_are_reported_on_line_one() {
        let err = parse("question,A,C,answer,colour\nQ,x,y,A\n").unwrap_err();
        let messages: Vec<&str> = err.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            messages
                .iter()
                .all(|_| err.problems.iter().all(|p| p.line == 1))
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("unknown column `colour`"))
        );
        assert!(messages.iter().any(|m| m.contains("no `B` column")));
    }

    #[test]
    fn without_option_columns_the_items_are_numeric() {
        let file = "question,answer\n2 + 2?,4\nA dozen eggs cost $3; how much do 4 dozen cost?,\"$12.00\"\n";
        let items = parse_items(ImportFormat::Csv, file.as_bytes())
            .unwrap()
            .items;
        let answers: Vec<String> = items.iter().map(|i| i.answer.text()).collect();
        assert_eq!(answers, ["4", "12"]);
        assert!(items.iter().all(|i| i.choices.is_empty()));
        let bad = parse_items(ImportFormat::Csv, b"question,answer\n2 + 2?,four\n").unwrap_err();
        assert!(
            bad.problems[0].message.contains("is not a number"),
            "{:?}",
            bad.problems
        );
    }
}
