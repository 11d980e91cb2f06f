//! Differential test of answer extraction against the official MMLU-Pro evaluation: every case
//! of `extraction/python_reference.jsonl` holds a string and the verdict Python 3's `re` gives it
//! with the official patterns. The strings are random draws from a character set rich in what
//! makes regex engines disagree (letters of many scripts, digits, marks, super- and subscripts,
//! joiners, separators, control characters, `answer is (` and `Answer:` fragments).
//!
//! Regenerate the table from the repository root with
//! `python3 crates/domain/tests/extraction/generate_reference.py` (see its docstring).

use evalboard_domain::{ExtractionTier, extract_answer};
use serde::Deserialize;

const TABLE: &str = include_str!("extraction/python_reference.jsonl");

#[derive(Deserialize)]
struct Case {
    text: String,
    letter: Option<String>,
    tier: String,
}

#[test]
fn extraction_agrees_with_python_re_on_every_reference_case() {
    let mut lines = TABLE.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("a header line")).expect("a JSON header");
    assert!(header.get("generator").is_some(), "header: {header}");

    let mut checked = 0;
    let mut tiers_seen = std::collections::BTreeSet::new();
    let mut disagreements = Vec::new();
    for (index, line) in lines.enumerate() {
        let case: Case = serde_json::from_str(line).expect("a JSON case");
        let expected_tier = ExtractionTier::parse(&case.tier).expect("a known tier");
        let expected_letter = case.letter.as_deref().map(|l| {
            let mut chars = l.chars();
            let letter = chars.next().expect("one letter");
            assert!(chars.next().is_none(), "one letter: {l:?}");
            letter
        });
        let got = extract_answer(&case.text);
        if (got.letter, got.tier) != (expected_letter, expected_tier) {
            disagreements.push(format!(
                "case {}: {:?}: Python {:?} by {}, evalboard {:?} by {}",
                index + 1,
                case.text,
                expected_letter,
                expected_tier.as_str(),
                got.letter,
                got.tier.as_str()
            ));
        }
        tiers_seen.insert(expected_tier.as_str());
        checked += 1;
    }
    assert!(checked >= 1_000, "only {checked} cases in the table");
    assert_eq!(
        tiers_seen.len(),
        ExtractionTier::CHOICE.len(),
        "the table exercises every tier: {tiers_seen:?}"
    );
    assert!(
        disagreements.is_empty(),
        "{} of {checked} cases differ from Python:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
