//! What the fuzz targets share: the checks every dataset import must pass, whatever the format
//! and however the bytes arrived.
//!
//! A check panics when an invariant breaks, and libFuzzer records the input as a crash. Refusing
//! an input is never a failure.

use std::collections::HashSet;

use evalboard_domain::{
    DatasetItem, ItemAnswer, dataset_digest,
    import::{ImportFormat, MAX_ITEMS, MAX_REPORTED_PROBLEMS, parse_items},
};
use serde_json::json;

/// Parses `bytes` as `format` and checks the result:
///
/// - an accepted file has 1 to `MAX_ITEMS` items, each valid, with unique ids, and writing them
///   back as MMLU-Pro JSON Lines imports the same items (same digest): what one importer
///   accepts, the other reads back unchanged;
/// - a rejected file reports 1 to `MAX_REPORTED_PROBLEMS` problems, in line order, at lines the
///   file has, and counts at least as many as it reports.
pub fn check_import(format: ImportFormat, bytes: &[u8]) {
    // Generous for CSV, whose reader also ends lines at a lone `\r`; exact for JSON Lines.
    let lines = 1 + bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    match parse_items(format, bytes) {
        Ok(parsed) => {
            let items = &parsed.items;
            assert!(!items.is_empty(), "an accepted file has no items");
            assert!(items.len() <= MAX_ITEMS, "more than {MAX_ITEMS} items");
            let mut ids = HashSet::new();
            for item in items {
                assert_eq!(item.problems(), Vec::<String>::new(), "{item:?}");
                assert!(ids.insert(item.id.as_str()), "id `{}` twice", item.id);
            }
            for warning in &parsed.warnings {
                assert!(warning.line <= lines, "a warning at line {}", warning.line);
            }
            let written = as_jsonl(items);
            let again = parse_items(ImportFormat::Jsonl, written.as_bytes()).unwrap_or_else(
                |rejected| panic!("written back as JSON Lines, the items are refused: {rejected}"),
            );
            assert_eq!(&again.items, items, "written back, the items changed");
            assert_eq!(dataset_digest(&again.items), dataset_digest(items));
        }
        Err(rejected) => {
            let problems = &rejected.problems;
            assert!(!problems.is_empty(), "refused without a problem");
            assert!(problems.len() <= MAX_REPORTED_PROBLEMS);
            assert!(rejected.total >= problems.len());
            assert!(
                problems.windows(2).all(|p| p[0].line <= p[1].line),
                "problems out of line order"
            );
            for problem in problems {
                assert!(problem.line <= lines, "a problem at line {}", problem.line);
            }
            let _ = rejected.to_string();
        }
    }
}

/// `items` as JSON Lines: MMLU-Pro records (ids as strings, an absent explanation as an empty
/// `cot_content`), or numeric records (the number as the answer, the explanation kept).
fn as_jsonl(items: &[DatasetItem]) -> String {
    let mut out = String::new();
    for item in items {
        let record = match &item.answer {
            ItemAnswer::Choice(key) => json!({
                "question_id": item.id,
                "question": item.question,
                "options": item.choices,
                "answer": key.letter().to_string(),
                "answer_index": key.index(),
                "cot_content": item.explanation.as_deref().unwrap_or(""),
                "category": item.category,
                "src": item.source,
            }),
            ItemAnswer::Number(number) => json!({
                "id": item.id,
                "question": item.question,
                "answer": number.as_str(),
                "category": item.category,
                "explanation": item.explanation,
                "source": item.source,
            }),
        };
        out.push_str(&record.to_string());
        out.push('\n');
    }
    out
}
