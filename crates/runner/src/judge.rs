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

#[cfg(test)]
mod tests {
    use evalboard_domain::{AnswerKey, DatasetItem, truncate_to_micros};

    use super::*;

    /// The rules give no reasons: a rules' verdict with reasons is how a fallback for an LLM
    /// judge that gave none is told (`Judgment::is_fallback`, and the runs' kept count of them).
    #[test]
    fn the_rules_give_no_reasons() {
        let item = DatasetItem {
            id: "q1".into(),
            category: "math".into(),
            question: "Which?".into(),
            choices: vec!["a".into(), "b".into()],
            answer: AnswerKey::from_index(1).unwrap().into(),
            explanation: None,
            source: None,
        };
        let at = truncate_to_micros(chrono::Utc::now());
        for response in ["The answer is (B).", "no idea", ""] {
            let judgment = rule_judgment(response, &item, at);
            assert_eq!(judgment.rationale, None, "{response:?}");
            assert!(!judgment.is_fallback());
        }
    }
}
