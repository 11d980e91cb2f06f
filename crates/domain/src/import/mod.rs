//! Turning dataset files into items: JSON Lines of MMLU-Pro records or of numeric questions
//! (GSM8K), and CSV of multiple-choice or numeric items.
//!
//! Parsing is all-or-nothing: every row is checked, every problem is reported with its line
//! number, and items are only returned when there is none, so a caller never stores half a file.

mod csv_rows;
mod mmlu_pro;
mod numeric;
mod parquet;

use std::{collections::HashMap, fmt};

use crate::dataset::{AnswerKey, DatasetItem, ItemAnswer};

/// Most items one import may hold.
pub const MAX_ITEMS: usize = 200_000;
/// Largest dataset file, in bytes as parsed (after decompression): the same bound for an
/// upload and for `evalboard dataset import`.
pub const MAX_DATASET_BYTES: usize = 64 * 1024 * 1024;
/// Most problems reported for one rejected file (the total is always given).
pub const MAX_REPORTED_PROBLEMS: usize = 100;

/// What UTF-8 text written with a byte order mark starts with.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Items of the default category, when a file names none.
const DEFAULT_CATEGORY: &str = "general";

/// A dataset file format the importers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One record per line, all of one shape, told by the first: MMLU-Pro (`question_id,
    /// question, options, answer, answer_index, cot_content, category, src`), or a numeric
    /// question (`question, answer` as GSM8K writes them, optional `id, category, explanation`).
    Jsonl,
    /// A header row, then one item per row: multiple choice with option columns `A`, `B`, ...,
    /// numeric without them (see `docs/datasets.md`).
    Csv,
    /// A Parquet file whose rows have the fields of one of the JSON Lines shapes (MMLU-Pro as
    /// published); read row by row as JSON Lines.
    Parquet,
}

impl ImportFormat {
    /// The format's name as clients write it (`jsonl`, `csv`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }
}

/// Something wrong (or worth a warning) in a dataset file, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    /// 1-based line of the file where the row starts (0 when the issue concerns the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl LineIssue {
    fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for LineIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// A file that parsed cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedItems {
    /// The items, in file order.
    pub items: Vec<DatasetItem>,
    /// Things accepted but worth knowing (e.g. MMLU-Pro's `answer` and `answer_index` disagree):
    /// the first [`MAX_REPORTED_PROBLEMS`], in line order.
    pub warnings: Vec<LineIssue>,
    /// How many warnings there were in all (a file can earn one per row).
    pub warning_total: usize,
}

/// A file that was rejected, with its problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {format} file has {total} problem(s); first: {first}", format = .format.as_str(), first = .problems.first().map(ToString::to_string).unwrap_or_default())]
pub struct ImportRejected {
    /// The format the file was read as.
    pub format: ImportFormat,
    /// The first [`MAX_REPORTED_PROBLEMS`] problems, in line order.
    pub problems: Vec<LineIssue>,
    /// How many problems there were in all.
    pub total: usize,
}

/// Parses a whole file. Returns the items only when every row is valid.
pub fn parse_items(format: ImportFormat, bytes: &[u8]) -> Result<ParsedItems, ImportRejected> {
    let mut collector = Collector::default();
    let lines_on_lone_cr;
    let bytes = match format {
        ImportFormat::Parquet => bytes,
        // Classic Mac line endings (a lone CR: what Excel for Mac long saved CSV with) end lines
        // as a line feed would: read as such, so that lines are split and numbered.
        ImportFormat::Jsonl | ImportFormat::Csv
            if bytes.contains(&b'\r') && !bytes.contains(&b'\n') =>
        {
            lines_on_lone_cr = bytes
                .iter()
                .map(|&b| if b == b'\r' { b'\n' } else { b })
                .collect::<Vec<u8>>();
            return parse_items(format, &lines_on_lone_cr);
        }
        ImportFormat::Jsonl | ImportFormat::Csv => {
            if let Some(what) = another_kind_of_file(format, bytes) {
                collector.problem(0, what);
                return collector.finish(format);
            }
            // Editors on Windows (Notepad's "UTF-8 with BOM", PowerShell 5) start UTF-8 text
            // with a byte order mark; serde_json would take it for a character of the first
            // record.
            bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
        }
    };
    match format {
        ImportFormat::Jsonl => match jsonl_shape(bytes) {
            JsonlShape::MmluPro => mmlu_pro::parse(bytes, &mut collector),
            JsonlShape::Numeric => numeric::parse(bytes, &mut collector),
            // One sentence, not a "not a valid record" for each of its lines.
            JsonlShape::NotJson => collector.problem(
                0,
                "no line of the file is a JSON object: a JSON Lines file holds one record per \
                 line, `{\"question_id\": …, \"question\": …}` (a CSV file is read as such when \
                 its name ends in .csv, or with `--format csv`; docs/datasets.md)",
            ),
            JsonlShape::Unknown(line) => collector.problem(
                line,
                "not a record evalboard reads: an MMLU-Pro record has question_id, question, \
                 options, answer and category; a numeric one (GSM8K) has question and answer (a \
                 number, or a worked solution ending `#### N`)",
            ),
        },
        ImportFormat::Csv => csv_rows::parse(bytes, &mut collector),
        ImportFormat::Parquet => match parquet::as_jsonl(bytes) {
            Ok(lines) => {
                return parse_items(ImportFormat::Jsonl, &lines)
                    .map_err(|rejected| ImportRejected { format, ..rejected });
            }
            Err(message) => collector.problem(0, message),
        },
    }
    collector.finish(format)
}

/// What a file sent as text (JSON Lines or CSV) is instead, when it is plainly something else:
/// one sentence that says so, rather than a problem per line of what its bytes look like as
/// text.
fn another_kind_of_file(format: ImportFormat, bytes: &[u8]) -> Option<String> {
    if bytes.starts_with(&[0x1F, 0x8B]) {
        return Some(
            "the file is gzip-compressed: decompress it first, or give it a name ending in \
             `.gz` (`evalboard dataset import` decompresses a file so named; an HTTP upload is \
             read as sent)"
                .to_owned(),
        );
    }
    if bytes.starts_with(b"PAR1") {
        return Some(format!(
            "the file is Parquet, not {}: import it as Parquet (`format=parquet`, or a file \
             name ending .parquet)",
            match format {
                ImportFormat::Csv => "CSV",
                _ => "JSON Lines",
            }
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(
            "the file is a ZIP archive (an Excel workbook is one): save the sheet as CSV \
             (UTF-8), or unpack the archive"
                .to_owned(),
        );
    }
    // UTF-16 puts a NUL beside every ASCII character; UTF-8 text has none.
    let head = &bytes[..bytes.len().min(256)];
    let utf16 = bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || (head.len() >= 8 && head.iter().filter(|&&b| b == 0).count() * 4 >= head.len());
    if utf16 {
        return Some(
            "the file is UTF-16 text: save it as UTF-8 (with or without a byte order mark)"
                .to_owned(),
        );
    }
    // Bytes that are not text at all (an image, an executable): one sentence, not a problem
    // per "line". Text in another encoding (Latin-1) is text, its lines reported one by one.
    let head = &bytes[..bytes.len().min(4096)];
    let not_utf8 = std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some());
    let control = head
        .iter()
        .filter(|&&b| b < 0x09 || (0x0E..0x20).contains(&b) || b == 0x7F)
        .count();
    if not_utf8 && (head.contains(&0) || control * 20 >= head.len()) {
        return Some(format!(
            "the file is not text: {} is UTF-8 text, and this looks like a binary file",
            match format {
                ImportFormat::Csv => "a CSV file",
                _ => "a JSON Lines file",
            }
        ));
    }
    // A JSON array, or one record spread over lines (`json.dump(records, f, indent=2)`).
    let text = bytes
        .strip_prefix(UTF8_BOM)
        .unwrap_or(bytes)
        .trim_ascii_start();
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    // The first record goes on past its line. (One that ends on it, followed by something else —
    // a comma, a second record — is a broken line, reported at its line as such.)
    let spread = || {
        // Skipped, not built: a record's values can take far more memory than its bytes.
        let mut values =
            serde_json::Deserializer::from_slice(text).into_iter::<serde::de::IgnoredAny>();
        values.next().is_some_and(|first| first.is_ok()) && values.byte_offset() > first_line.len()
    };
    if format == ImportFormat::Jsonl
        && (text.starts_with(b"[")
            || (text.starts_with(b"{")
                && serde_json::from_slice::<serde::de::IgnoredAny>(first_line).is_err()
                && spread()))
    {
        return Some(
            "the file is JSON, not JSON Lines: write one record per line (Python: one \
             `json.dumps(record)` per line, not `json.dump(records, f)`)"
                .to_owned(),
        );
    }
    None
}

/// The record shapes of a JSON Lines file.
enum JsonlShape {
    MmluPro,
    Numeric,
    /// The line of the first record, which is neither.
    Unknown(usize),
    /// No line is a JSON object, or even begins like one: not JSON Lines at all (a Markdown or
    /// text file, say).
    NotJson,
}

/// The shape of a JSON Lines file, told by its first record that is valid JSON (a broken first
/// line is reported by the importer of the shape the others have): numeric when it has a
/// `question` and an `answer` and no `options`, MMLU-Pro otherwise (whose importer then names
/// what is wrong), unless it is an object of neither shape.
fn jsonl_shape(bytes: &[u8]) -> JsonlShape {
    // Only the record's keys are kept, its values skipped: built as JSON values, the few
    // bytes of each of thousands of small objects in one field would take a hundred times
    // their size in memory.
    let first = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .find_map(|(index, line)| {
            serde_json::from_slice::<RecordKeys>(line)
                .ok()
                .map(|record| (index, record))
        });
    match first {
        Some((_, keys)) if keys.question && keys.answer && !keys.options => JsonlShape::Numeric,
        Some((index, keys)) if !(keys.question_id || keys.question || keys.options) => {
            JsonlShape::Unknown(index + 1)
        }
        Some(_) => JsonlShape::MmluPro,
        // A record cut short or otherwise broken is its line's problem, said by the importer.
        None if bytes.trim_ascii().is_empty()
            || bytes
                .split(|&b| b == b'\n')
                .any(|line| line.trim_ascii_start().starts_with(b"{")) =>
        {
            JsonlShape::MmluPro
        }
        None => JsonlShape::NotJson,
    }
}

/// Which of the keys that tell a record's shape a JSON object has; nothing else of it is kept
/// (only an object reads as one). A map of its keys took 480 MB for a 64 MiB record of
/// millions of keys.
#[derive(Default)]
struct RecordKeys {
    question_id: bool,
    question: bool,
    options: bool,
    answer: bool,
}

impl<'de> serde::Deserialize<'de> for RecordKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = RecordKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RecordKeys, A::Error> {
                let mut keys = RecordKeys::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "question_id" => keys.question_id = true,
                        "question" => keys.question = true,
                        "options" => keys.options = true,
                        "answer" => keys.answer = true,
                        _ => {}
                    }
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(keys)
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// The text of a JSON string or number, as written: a number keeps every digit (read as a
/// float, `123456789.123456789` would become `123456789.12345679` and `1.0000000000000001`
/// `1`). `Err` names what the value is instead, for "`field` must be a number or a string, not
/// …".
fn scalar_text(raw: &serde_json::value::RawValue) -> Result<String, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).map_err(|e| e.to_string()),
        Some(b'-' | b'0'..=b'9') => Ok(without_exponent(text)),
        Some(b'n') => Err("null".to_owned()),
        Some(b't' | b'f') => Err(format!("`{text}`")),
        Some(b'[') => Err("a list".to_owned()),
        Some(b'{') => Err("an object".to_owned()),
        _ => Err(format!("`{text}`")),
    }
}

/// Reads one JSON line as a record; the error says where in the record, by field name (its
/// path, `options[2]`), what is wrong — or, when it is not about a field (broken JSON), at
/// which column of the line.
fn read_record<'a, T: serde::Deserialize<'a>>(line: &'a str) -> Result<T, String> {
    let mut reader = serde_json::Deserializer::from_str(line);
    let record = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            json_error_message(&inner)
        } else {
            format!("`{path}`: {}", readable(&json_error_text(&inner)))
        }
    })?;
    reader.end().map_err(|error| json_error_message(&error))?;
    Ok(record)
}

/// serde's type names in the importers' words.
fn readable(message: &str) -> String {
    message
        .replace("expected i64", "expected a whole number")
        .replace("expected a sequence", "expected a list")
}

/// A JSON number written with an exponent (`1.2E7` as Jackson writes large doubles, `5e-05` as
/// Python writes small ones) as the plain decimal it is, by moving the point: exact, as the
/// digits are kept. Without an exponent, or with one past 64 places, the text is returned as
/// it is (the number's reader then says what it makes of it).
fn without_exponent(text: &str) -> String {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return text.to_owned();
    };
    let Some(exponent) = exponent.parse::<i32>().ok().filter(|e| e.abs() <= 64) else {
        return text.to_owned();
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    // Where the point falls among the digits.
    let point = whole.len() as i32 + exponent;
    let (whole, fraction) = if point <= 0 {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_owned(),
            digits[point as usize..].to_owned(),
        )
    };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// serde_json's message without its "at line 1 column N" suffix.
fn json_error_text(e: &serde_json::Error) -> String {
    let full = e.to_string();
    full.rsplit_once(" at line ")
        .map_or(full.as_str(), |(message, _)| message)
        .to_owned()
}

/// serde_json's message without its "at line 1 column N" suffix (every record is one line),
/// with the column kept.
fn json_error_message(e: &serde_json::Error) -> String {
    format!("{} (column {})", readable(&json_error_text(e)), e.column())
}

/// The answer an item whose own could not be read holds while its other rules are checked
/// ([`Collector::unreadable`] does not look at it).
fn stand_in_answer() -> ItemAnswer {
    ItemAnswer::Choice(AnswerKey::from_index(0).expect("A is a letter"))
}

/// Gathers items, problems and warnings as a parser walks a file, and applies the rules that
/// span rows (unique ids, item count).
///
/// What it keeps is bounded whatever the file: the first [`MAX_REPORTED_PROBLEMS`] problems and
/// warnings (the rest counted), and the items and ids of the first [`MAX_ITEMS`] rows and one
/// (a file with more is refused). A 64 MiB file of bad two-byte lines kept a problem for each
/// and took 6 GB (a security probe, 2026-12-06).
#[derive(Default)]
struct Collector {
    items: Vec<(usize, DatasetItem)>,
    /// The line and id of every row read, its item refused or not: a duplicate id is said
    /// with a row's other problems, not only once they are fixed.
    ids: Vec<(usize, String)>,
    /// Rows read, their items kept or refused.
    rows: usize,
    /// The first problems, in the order found (which is line order, but for a few of line 0).
    problems: Vec<LineIssue>,
    problem_total: usize,
    warnings: Vec<LineIssue>,
    warning_total: usize,
}

/// An item's id and category without the spaces around them, in every format: they are names
/// (runs select categories by name, comparisons pair items by id), and `1, math, …` in a
/// hand-written CSV means `1` and `math`. The texts — question, options, explanation — are
/// kept as written.
fn named_as_meant(mut item: DatasetItem) -> DatasetItem {
    for name in [&mut item.id, &mut item.category] {
        let trimmed = name.trim();
        if trimmed.len() != name.len() {
            *name = trimmed.to_owned();
        }
    }
    item
}

impl Collector {
    fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problem_total += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(LineIssue::new(line, message));
        }
    }

    fn warning(&mut self, line: usize, message: impl Into<String>) {
        self.warning_total += 1;
        if self.warnings.len() < MAX_REPORTED_PROBLEMS {
            self.warnings.push(LineIssue::new(line, message));
        }
    }

    /// Counts a row; `false` once there are more than a dataset may hold, when its item and id
    /// are no longer kept (the file is refused for its size).
    fn row(&mut self) -> bool {
        self.rows += 1;
        self.rows <= MAX_ITEMS + 1
    }

    /// A row whose answer (or options) could not be read, `unreadable` saying why: that, and
    /// every other rule its item breaks (the item holds [`stand_in_answer`]), so that one pass
    /// over the file names everything to fix in the row.
    fn unreadable(&mut self, line: usize, unreadable: Vec<String>, item: DatasetItem) {
        if !self.row() {
            // Past what a dataset holds: its problems counted, not kept.
            self.problem_total += unreadable.len() + item.problems_besides_the_answer().len();
            return;
        }
        let item = named_as_meant(item);
        self.ids.push((line, item.id.clone()));
        for p in unreadable
            .into_iter()
            .chain(item.problems_besides_the_answer())
        {
            self.problem(line, p);
        }
    }

    /// Accepts a row's item after checking the item's own rules.
    fn item(&mut self, line: usize, item: DatasetItem) {
        if !self.row() {
            self.problem_total += item.problems().len();
            return;
        }
        let item = named_as_meant(item);
        self.ids.push((line, item.id.clone()));
        let problems = item.problems();
        if problems.is_empty() {
            self.items.push((line, item));
        } else {
            for p in problems {
                self.problem(line, p);
            }
        }
    }

    fn finish(mut self, format: ImportFormat) -> Result<ParsedItems, ImportRejected> {
        let mut first_line_of: HashMap<&str, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        let mut duplicate_total = 0;
        // (An empty id is a problem of its own, said with its row.)
        for (line, id) in self.ids.iter().filter(|(_, id)| !id.is_empty()) {
            if let Some(first) = first_line_of.insert(id, *line) {
                first_line_of.insert(id, first);
                duplicate_total += 1;
                if duplicates.len() < MAX_REPORTED_PROBLEMS {
                    duplicates.push(LineIssue::new(
                        *line,
                        format!("duplicate item id `{id}` (first on line {first})"),
                    ));
                }
            }
        }
        // Both lists hold their first lines: merged and sorted, the first of the two are the
        // first of all (below).
        self.problems.extend(duplicates);
        self.problem_total += duplicate_total;
        if self.rows > MAX_ITEMS {
            self.problems.push(LineIssue::new(
                0,
                format!("the file has more than {MAX_ITEMS} items"),
            ));
            self.problem_total += 1;
        }
        if let Some((_, first)) = self.items.first() {
            let kind = first.answer.kind();
            if let Some((line, _)) = self.items.iter().find(|(_, i)| i.answer.kind() != kind) {
                self.problems.push(LineIssue::new(
                    *line,
                    format!(
                        "a dataset holds one kind of item: this one is not {} like the first",
                        match kind {
                            crate::dataset::AnswerKind::Choice => "multiple choice",
                            crate::dataset::AnswerKind::Number => "numeric",
                        }
                    ),
                ));
                self.problem_total += 1;
            }
        }
        if self.items.is_empty() && self.problems.is_empty() {
            self.problem(0, "the file holds no items");
        }
        if self.problems.is_empty() {
            self.warn_of_answerless_explanations();
            self.warnings.truncate(MAX_REPORTED_PROBLEMS);
            return Ok(ParsedItems {
                items: self.items.into_iter().map(|(_, item)| item).collect(),
                warnings: self.warnings,
                warning_total: self.warning_total,
            });
        }
        self.problems.sort_by_key(|p| p.line);
        let total = self.problem_total;
        self.problems.truncate(MAX_REPORTED_PROBLEMS);
        Err(ImportRejected {
            format,
            problems: self.problems,
            total,
        })
    }
}

impl Collector {
    /// One warning for the multiple-choice items whose explanation never gives their answer as
    /// MMLU-Pro's do ("… The answer is (B)."): shown verbatim as a run's worked example (the
    /// official layout), such an example would teach no answer at all.
    fn warn_of_answerless_explanations(&mut self) {
        let answerless: Vec<usize> = self
            .items
            .iter()
            .filter_map(|(line, item)| match (&item.answer, &item.explanation) {
                (crate::dataset::ItemAnswer::Choice(key), Some(explanation))
                    if !explanation.contains(&format!("answer is ({key})")) =>
                {
                    Some(*line)
                }
                _ => None,
            })
            .collect();
        if let Some(first) = answerless.first() {
            self.warning_total += 1;
            self.warnings.push(LineIssue::new(
                *first,
                format!(
                    "{} item(s) have an explanation that does not give their answer as \
                     `The answer is (X).` (this one first): a run that takes them as worked \
                     examples shows the explanation as written, so the model sees no answer; \
                     end each with `The answer is (X).`, as MMLU-Pro's do",
                    answerless.len()
                ),
            ));
        }
    }
}

/// A file's lines as `(1-based line number, line)` pairs, one at a time (a list of them took
/// 27 bytes per line: 1.7 GB for 64 MiB of empty lines); `None` for a line that is not UTF-8,
/// which [`Collector::not_utf8`] reports.
fn utf8_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, Option<&str>)> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            (index + 1, std::str::from_utf8(raw).ok())
        })
}

impl Collector {
    fn not_utf8(&mut self, line: usize) {
        self.problem(line, "the line is not valid UTF-8: save the file as UTF-8");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GSM8K: &str = "{\"question\": \"2 + 2?\", \"answer\": \"2 + 2 = 4\\n#### 4\"}\n\
                         {\"question\": \"3 - 5?\", \"answer\": \"#### -2\"}\n";

    #[test]
    fn gsm8k_saved_as_csv_is_the_same_dataset_as_its_json_lines() {
        let csv = "question,answer\n2 + 2?,\"2 + 2 = 4\n#### 4\"\n3 - 5?,#### -2\n";
        let from_csv = parse_items(ImportFormat::Csv, csv.as_bytes())
            .unwrap()
            .items;
        let from_jsonl = parse_items(ImportFormat::Jsonl, GSM8K.as_bytes())
            .unwrap()
            .items;
        assert_eq!(from_csv, from_jsonl);
        assert_eq!(from_csv[0].category, "gsm8k");
        assert_eq!(
            crate::dataset_digest(&from_csv),
            crate::dataset_digest(&from_jsonl)
        );
    }

    #[test]
    fn a_byte_order_mark_is_read_past() {
        let with_bom = [UTF8_BOM, GSM8K.as_bytes()].concat();
        let parsed = parse_items(ImportFormat::Jsonl, &with_bom).unwrap();
        assert_eq!(
            parsed.items,
            parse_items(ImportFormat::Jsonl, GSM8K.as_bytes())
                .unwrap()
                .items
        );
        let csv = [UTF8_BOM, b"question,answer\nQ,4\n"].concat();
        assert_eq!(parse_items(ImportFormat::Csv, &csv).unwrap().items.len(), 1);
    }

    #[test]
    fn utf16_text_is_refused_as_such() {
        for bom in [[0xFF, 0xFE], [0xFE, 0xFF]] {
            for format in [ImportFormat::Jsonl, ImportFormat::Csv] {
                let text: Vec<u8> = bom.into_iter().chain(b"q\0".iter().copied()).collect();
                let err = parse_items(format, &text).unwrap_err();
                assert_eq!(err.total, 1);
                assert!(err.problems[0].message.starts_with("the file is UTF-16"));
            }
        }
    }

    #[test]
    fn lines_ended_by_a_lone_carriage_return_are_lines() {
        let jsonl = "{\"question\": \"2 + 2?\", \"answer\": 4}\r{\"question\": \"3 + 3?\", \"answer\": 6}\r";
        let parsed = parse_items(ImportFormat::Jsonl, jsonl.as_bytes()).unwrap();
        assert_eq!(parsed.items.len(), 2);
        // Problems are numbered by the lines as the file shows them.
        let csv = "question,A,B,answer\rq1,x,y,A\rq2,x,y,Q\rq3,x,y,A\rq4,x,y,Z\r";
        let err = parse_items(ImportFormat::Csv, csv.as_bytes()).unwrap_err();
        let lines: Vec<usize> = err.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 5], "{:?}", err.problems);
        let bad = "{\"question\": \"2 + 2?\", \"answer\": 4}\r{\"question\": \"3 + 3?\"}\r";
        let err = parse_items(ImportFormat::Jsonl, bad.as_bytes()).unwrap_err();
        assert_eq!(err.problems[0].line, 2, "{:?}", err.problems);
    }

    #[test]
    fn a_file_of_another_kind_is_named_in_one_sentence() {
        let said = |format: ImportFormat, bytes: &[u8]| {
            let err = parse_items(format, bytes).unwrap_err();
            assert_eq!(err.total, 1, "{:?}", err.problems);
            err.problems[0].message.clone()
        };
        let gzip = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00];
        for format in [ImportFormat::Jsonl, ImportFormat::Csv] {
            assert!(said(format, &gzip).starts_with("the file is gzip-compressed"));
        }
        assert!(
            said(ImportFormat::Csv, b"PAR1\x15\x04").starts_with("the file is Parquet, not CSV")
        );
        // UTF-16 without a byte order mark: a NUL beside every ASCII character.
        let utf16: Vec<u8> = "question,answer\nQ,4\n"
            .bytes()
            .flat_map(|b| [b, 0])
            .collect();
        assert!(said(ImportFormat::Csv, &utf16).starts_with("the file is UTF-16"));
        // A JSON array, and records spread over lines, are JSON, not JSON Lines.
        let array = b"[{\"question\": \"2 + 2?\", \"answer\": 4}]";
        let pretty = b"{\n  \"question\": \"2 + 2?\",\n  \"answer\": 4\n}\n{\n  \"question\": \"1?\",\n  \"answer\": 1\n}\n";
        for json in [&array[..], &pretty[..]] {
            assert!(
                said(ImportFormat::Jsonl, json).starts_with("the file is JSON, not JSON Lines")
            );
        }
        // Text that is no JSON at all (a README): one sentence, not one per line.
        let text = b"# Sources\n\nThe datasets here come from:\n\n42\n- MMLU-Pro\n";
        assert!(
            said(ImportFormat::Jsonl, text).starts_with("no line of the file is a JSON object")
        );
        // A broken first line of JSON Lines is still that line's problem: cut short, or a
        // whole record followed by more (a comma after each, two records on one line).
        let broken = b"{\"question\": \"2 + 2?\"\n{\"question\": \"1?\", \"answer\": 1}\n";
        assert!(!said(ImportFormat::Jsonl, broken).contains("not JSON Lines"));
        let record = "{\"question\": \"2 + 2?\", \"answer\": 4}";
        for first_line in [format!("{record},"), format!("{record} {record}")] {
            let file = format!("{first_line}\n{record}\n");
            let err = parse_items(ImportFormat::Jsonl, file.as_bytes()).unwrap_err();
            assert_eq!(err.problems[0].line, 1, "{:?}", err.problems);
            assert!(
                err.problems[0].message.contains("trailing characters"),
                "{:?}",
                err.problems
            );
        }
        // An Excel workbook (a ZIP archive), and bytes that are no text at all (here a
        // pseudo-random stream, as a binary file is): one sentence, not a problem per "line".
        assert!(
            said(ImportFormat::Csv, b"PK\x03\x04\x14\x00\x06\x00")
                .starts_with("the file is a ZIP archive")
        );
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let binary: Vec<u8> = (0..8192)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        for format in [ImportFormat::Jsonl, ImportFormat::Csv] {
            assert!(said(format, &binary).starts_with("the file is not text"));
        }
        // Text in another encoding is text: its lines are reported one by one.
        let latin1 = b"question,A,B,answer\nCaf\xe9?,x,y,A\nNa\xefve?,x,y,B\n";
        let err = parse_items(ImportFormat::Csv, latin1).unwrap_err();
        assert_eq!(err.total, 2, "{:?}", err.problems);
        assert!(err.problems[0].message.contains("not valid UTF-8"));
        // Excel's plain "CSV" is Windows-1252: the remedy is named.
        assert!(err.problems[0].message.contains("Excel: \"CSV UTF-8\""));
    }

    #[test]
    fn a_broken_first_line_does_not_decide_the_shape() {
        let text = format!("{{\"question\": \"1 + 1?\", \"answer\": \n{GSM8K}");
        let err = parse_items(ImportFormat::Jsonl, text.as_bytes()).unwrap_err();
        assert_eq!(err.total, 1, "only the broken line: {:?}", err.problems);
        assert_eq!(err.problems[0].line, 1);
    }

    #[test]
    fn a_row_whose_answer_cannot_be_read_still_names_its_other_problems() {
        let messages = |format, text: &str| -> Vec<String> {
            parse_items(format, text.as_bytes())
                .unwrap_err()
                .problems
                .into_iter()
                .map(|p| format!("{}: {}", p.line, p.message))
                .collect()
        };
        assert_eq!(
            messages(
                ImportFormat::Csv,
                "question,A,B,C,answer\nok,1,2,3,A\n,1,,3,Z\n"
            ),
            [
                "3: option B is empty but a later option is given",
                "3: answer `Z` is not a letter A to J",
                "3: question must not be empty",
            ]
        );
        assert_eq!(
            messages(
                ImportFormat::Jsonl,
                r#"{"question_id": 1, "question": " ", "options": ["a", ""], "answer": "", "answer_index": 0, "cot_content": "", "category": "c", "src": "s"}"#
            ),
            [
                "1: answer `` is not a letter A to J",
                "1: question must not be empty",
                "1: option B is empty",
            ]
        );
        // An option too few is said beside an answer that is no letter.
        assert_eq!(
            messages(
                ImportFormat::Jsonl,
                r#"{"question_id": 1, "question": "Q?", "options": ["a"], "answer": "Z", "answer_index": 0, "cot_content": "", "category": "c", "src": "s"}"#
            ),
            [
                "1: answer `Z` is not a letter A to J",
                "1: must have 2 to 10 options, has 1",
            ]
        );
        assert_eq!(
            messages(ImportFormat::Jsonl, r#"{"question": "", "answer": "abc"}"#),
            [
                "1: answer `abc` is not a number (or a worked solution ending `#### N`)",
                "1: question must not be empty",
            ]
        );
    }

    #[test]
    fn an_empty_file_is_rejected() {
        let err = parse_items(ImportFormat::Jsonl, b"\n\n").unwrap_err();
        assert_eq!(err.problems[0].message, "the file holds no items");
    }
}
