//! The numeric rules on the real GSM8K test sample (`../shared/datasets`), when this checkout
//! has it: every worked solution gives its final answer, and a response that is the solution
//! itself is read back as that answer by the `####` rule.

use std::path::PathBuf;

use evalboard_domain::{
    ExtractionTier, Verdict,
    numeric::{Number, extract_number, judge_numeric},
};

#[test]
fn every_gsm8k_solution_is_read_back_as_its_final_answer() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/gsm8k-test-sample.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is not on this machine", path.display());
        return;
    };
    let mut checked = 0;
    for (line, record) in text.lines().enumerate() {
        let record: serde_json::Value = serde_json::from_str(record).unwrap();
        let solution = record["answer"].as_str().unwrap();
        let expected = Number::of_gsm8k_solution(solution)
            .unwrap_or_else(|| panic!("line {}: no final answer in {solution:?}", line + 1));
        let extraction = extract_number(solution);
        assert_eq!(
            extraction.tier,
            ExtractionTier::FinalMark,
            "line {}",
            line + 1
        );
        assert_eq!(
            judge_numeric(&extraction, &expected),
            Verdict::Correct,
            "line {}: {solution:?}",
            line + 1
        );
        checked += 1;
    }
    assert_eq!(checked, 300);
}

#[test]
fn the_gsm8k_sample_imports_as_300_numeric_items() {
    use evalboard_domain::{
        AnswerKind,
        import::{ImportFormat, parse_items},
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/gsm8k-test-sample.jsonl");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipping: {} is not on this machine", path.display());
        return;
    };
    let parsed = parse_items(ImportFormat::Jsonl, &bytes).unwrap();
    assert_eq!(parsed.items.len(), 300);
    assert!(parsed.warnings.is_empty());
    assert!(
        parsed
            .items
            .iter()
            .all(|i| i.answer.kind() == AnswerKind::Number && i.category == "gsm8k")
    );
    // The first record of the sample: "A robe takes 2 bolts ..." #### 3.
    assert_eq!(parsed.items[0].answer.text(), "3");
}
