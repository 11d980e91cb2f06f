//! The choice judge, shared by the engine and by imports of Browser Harness captures, so that an
//! answer is judged the same way however it arrived.

use evalboard_domain::{DatasetItem, JudgeSettings, Timestamp, extract_answer, judge_choice};
use evalboard_persistence::Judgment;

/// Judges `response` to `item` with the extraction rules and the item's key, at `at`.
pub fn choice_judgment(response: &str, item: &DatasetItem, at: Timestamp) -> Judgment {
    let extraction = extract_answer(response);
    Judgment {
        verdict: judge_choice(&extraction, item.answer),
        extraction,
        judge: JudgeSettings::Choice.label(),
        rationale: None,
        at,
    }
}
