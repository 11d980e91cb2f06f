//! The rule judge, shared by the engine and by imports of Browser Harness captures, so that an
//! answer is judged the same way however it arrived.

use evalboard_domain::{AnswerKind, DatasetItem, JudgeSettings, Timestamp, judge_by_rules};
use evalboard_persistence::Judgment;

/// Judges `response` to `item` by the extraction rules of its kind (the letter against the
/// key, or the number against the item's), at `at`.
pub fn rule_judgment(response: &str, item: &DatasetItem, at: Timestamp) -> Judgment {
    let (extraction, verdict) = judge_by_rules(&item.answer, response);
    Judgment {
        verdict,
        extraction,
        judge: rules_label(item.answer.kind()),
        rationale: None,
        at,
        spent: None,
    }
}

/// The verdicts' name for the rule judge of `kind`: `choice` (a run's `{"kind": "choice"}`
/// judge applies the rules of its items' kind, and says which in each verdict) or `numeric`.
pub fn rules_label(kind: AnswerKind) -> String {
    match kind {
        AnswerKind::Choice => JudgeSettings::Choice.label(),
        AnswerKind::Number => "numeric".to_owned(),
    }
}
