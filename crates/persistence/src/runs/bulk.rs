//! The hot path of a batch on PostgreSQL, as one statement: answers that arrive judged (the
//! choice judge decides at once) update all their item rows in a single `UPDATE ... FROM
//! UNNEST(...)` instead of one round trip each. Guarded exactly like the per-item updates.

use chrono::NaiveDateTime;
use diesel::{
    pg::PgConnection,
    prelude::*,
    sql_types::{Array, Double, Integer, Nullable, Text, Timestamp},
};
use evalboard_domain::{CutOff, RunId};

use super::{
    item_keys,
    outcomes::{Outcome, OutcomeKind},
};

const UPDATE_JUDGED_ANSWERS: &str = "\
UPDATE run_items AS r SET
    state = v.state,
    prompt_text = v.prompt,
    response_text = v.response,
    reasoning_text = v.reasoning,
    cut_off = v.cut_off,
    request_key = v.request_key,
    first_token_at = v.first_token_at,
    answered_at = v.answered_at,
    prompt_tokens = v.prompt_tokens,
    completion_tokens = v.completion_tokens,
    reasoning_tokens = v.reasoning_tokens,
    cost_usd = v.cost_usd,
    extracted_answer = v.extracted,
    extraction_tier = v.tier,
    judge = v.judge,
    judge_rationale = v.rationale,
    judged_at = v.judged_at,
    started_at = v.started_at,
    finished_at = $16,
    lease_owner = NULL,
    updated_at = $16
FROM UNNEST($1::int4[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::timestamp[],
            $7::timestamp[], $8::int4[], $9::int4[], $10::text[], $11::text[], $12::text[],
            $13::text[], $14::timestamp[], $18::timestamp[], $19::int4[], $20::float8[],
            $21::text[], $22::text[], $25::text[])
    AS v(sequence, attempt, state, prompt, response, first_token_at, answered_at,
         prompt_tokens, completion_tokens, extracted, tier, judge, rationale, judged_at,
         started_at, reasoning_tokens, cost_usd, reasoning, request_key, cut_off)
WHERE r.run_id = $15
  AND r.sequence BETWEEN $23 AND $24
  AND r.sequence = v.sequence
  AND r.attempt_count = v.attempt
  AND r.state = 'running'
  AND r.lease_owner = $17
RETURNING r.sequence";

#[derive(QueryableByName)]
struct Applied {
    #[diesel(sql_type = Integer)]
    sequence: i32,
}

/// Applies judged answers of one run; returns the sequences whose guard held. Outcomes of any
/// other kind are ignored (the caller applies those one by one).
pub(super) fn apply_judged_answers(
    pg: &mut PgConnection,
    run_id: &RunId,
    worker: &str,
    outcomes: &[&Outcome],
    now: NaiveDateTime,
) -> QueryResult<Vec<i32>> {
    let Some(update) = judged_answers_update(run_id, worker, outcomes, now) else {
        return Ok(Vec::new());
    };
    let applied: Vec<Applied> = update.load(pg)?;
    Ok(applied.into_iter().map(|a| a.sequence).collect())
}

/// The statement that stores `outcomes`' judged answers, `None` when there are none.
fn judged_answers_update<'a>(
    run_id: &'a RunId,
    worker: &'a str,
    outcomes: &[&Outcome],
    now: NaiveDateTime,
) -> Option<
    impl diesel::query_builder::QueryFragment<diesel::pg::Pg>
    + diesel::query_builder::QueryId
    + diesel::query_dsl::LoadQuery<'a, PgConnection, Applied>
    + 'a,
> {
    let mut sequence = Vec::with_capacity(outcomes.len());
    let mut attempt = Vec::with_capacity(outcomes.len());
    let mut state = Vec::with_capacity(outcomes.len());
    let mut prompt = Vec::with_capacity(outcomes.len());
    let mut response = Vec::with_capacity(outcomes.len());
    let mut first_token_at = Vec::with_capacity(outcomes.len());
    let mut answered_at = Vec::with_capacity(outcomes.len());
    let mut prompt_tokens = Vec::with_capacity(outcomes.len());
    let mut completion_tokens = Vec::with_capacity(outcomes.len());
    let mut reasoning_tokens = Vec::with_capacity(outcomes.len());
    let mut cost_usd = Vec::with_capacity(outcomes.len());
    let mut extracted = Vec::with_capacity(outcomes.len());
    let mut tier = Vec::with_capacity(outcomes.len());
    let mut judge = Vec::with_capacity(outcomes.len());
    let mut rationale = Vec::with_capacity(outcomes.len());
    let mut judged_at = Vec::with_capacity(outcomes.len());
    let mut started_at = Vec::with_capacity(outcomes.len());
    let mut reasoning = Vec::with_capacity(outcomes.len());
    let mut request_key = Vec::with_capacity(outcomes.len());
    let mut cut_off = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let OutcomeKind::Answered {
            answer,
            judgment: Some(judgment),
        } = &outcome.kind
        else {
            continue;
        };
        sequence.push(outcome.sequence as i32);
        attempt.push(outcome.attempt as i32);
        state.push(judgment.verdict.state().as_str().to_owned());
        prompt.push(answer.prompt.clone());
        response.push(answer.response_text.clone());
        first_token_at.push(answer.first_token_at.map(|t| t.naive_utc()));
        answered_at.push(answer.answered_at.naive_utc());
        prompt_tokens.push(answer.usage.prompt_tokens.map(|t| t as i32));
        completion_tokens.push(answer.usage.completion_tokens.map(|t| t as i32));
        reasoning_tokens.push(answer.usage.reasoning_tokens.map(|t| t as i32));
        cost_usd.push(answer.cost_usd);
        extracted.push(judgment.extraction.answer.clone());
        tier.push(judgment.extraction.tier.as_str().to_owned());
        judge.push(judgment.judge.clone());
        rationale.push(judgment.rationale.clone());
        judged_at.push(judgment.at.naive_utc());
        started_at.push(outcome.started_at.naive_utc());
        reasoning.push(answer.reasoning_text.clone());
        request_key.push(answer.request_key.clone());
        cut_off.push(answer.cut_off.map(CutOff::as_str));
    }
    if sequence.is_empty() {
        return None;
    }
    // The bounds keep the read to the batch's window whatever the statistics (see `item_keys`).
    let (low, high) = item_keys::bounds(&sequence);
    let update = diesel::sql_query(UPDATE_JUDGED_ANSWERS)
        .bind::<Array<Integer>, _>(sequence)
        .bind::<Array<Integer>, _>(attempt)
        .bind::<Array<Text>, _>(state)
        .bind::<Array<Text>, _>(prompt)
        .bind::<Array<Text>, _>(response)
        .bind::<Array<Nullable<Timestamp>>, _>(first_token_at)
        .bind::<Array<Timestamp>, _>(answered_at)
        .bind::<Array<Nullable<Integer>>, _>(prompt_tokens)
        .bind::<Array<Nullable<Integer>>, _>(completion_tokens)
        .bind::<Array<Nullable<Text>>, _>(extracted)
        .bind::<Array<Text>, _>(tier)
        .bind::<Array<Text>, _>(judge)
        .bind::<Array<Nullable<Text>>, _>(rationale)
        .bind::<Array<Timestamp>, _>(judged_at)
        .bind::<Text, _>(run_id.as_str())
        .bind::<Timestamp, _>(now)
        .bind::<Text, _>(worker)
        .bind::<Array<Timestamp>, _>(started_at)
        .bind::<Array<Nullable<Integer>>, _>(reasoning_tokens)
        .bind::<Array<Nullable<Double>>, _>(cost_usd)
        .bind::<Array<Nullable<Text>>, _>(reasoning)
        .bind::<Array<Nullable<Text>>, _>(request_key)
        .bind::<Integer, _>(low)
        .bind::<Integer, _>(high)
        .bind::<Array<Nullable<Text>>, _>(cut_off);
    Some(update)
}

#[cfg(test)]
mod plan_tests {
    use chrono::Utc;
    use evalboard_domain::{Extracted, ExtractionTier, TokenUsage, Verdict};

    use super::*;
    use crate::{
        plans::{explain, two_large_runs},
        runs::outcomes::{Answer, Judgment},
    };

    /// On never-analyzed tables of two 10,000-item runs with 2,000 items in flight each, a
    /// batch of 250 judged answers reads at most the window of sequences it spans, through an
    /// index of the run's items, never the run's other items in flight (the bounds on the
    /// sequences are what keep it so: without them, the plan reads every running item of the
    /// run).
    #[test]
    fn judged_answers_read_only_the_window_they_span_without_statistics() {
        let Some((_db, runs, mut conn)) = two_large_runs() else {
            return;
        };
        let run = &runs[1];
        // Both runs have items in flight; this batch answers some of this run's.
        diesel::sql_query(
            "UPDATE run_items SET state = 'running', attempt_count = 1, lease_owner = 'w' \
             WHERE sequence BETWEEN 4001 AND 6000",
        )
        .execute(&mut conn)
        .unwrap();
        let at = evalboard_domain::truncate_to_micros(Utc::now());
        let outcomes: Vec<Outcome> = (0..250)
            .map(|i| Outcome {
                run_id: run.clone(),
                // Finished out of order, a few apart: a window of the run, not a range.
                sequence: 5_001 + 3 * i,
                attempt: 1,
                started_at: at,
                kind: OutcomeKind::Answered {
                    answer: Answer {
                        prompt: "Question?".into(),
                        response_text: "The answer is (A).".into(),
                        reasoning_text: None,
                        cut_off: None,
                        request_key: None,
                        cached: false,
                        first_token_at: Some(at),
                        answered_at: at,
                        usage: TokenUsage::default(),
                        cost_usd: None,
                    },
                    judgment: Some(Judgment {
                        verdict: Verdict::Correct,
                        extraction: Extracted {
                            answer: Some("A".into()),
                            tier: ExtractionTier::AnswerIs,
                        },
                        judge: "choice".into(),
                        rationale: None,
                        at,
                        spent: None,
                    }),
                },
            })
            .collect();
        let batch: Vec<&Outcome> = outcomes.iter().collect();
        let update = judged_answers_update(run, "w", &batch, at.naive_utc()).unwrap();
        let plan = explain(&mut conn, update);
        let window = u64::from(outcomes[249].sequence - outcomes[0].sequence + 1);
        assert_eq!(plan.rows_removed, 0, "{:#}", plan.plan);
        assert!(
            plan.rows_read_from("run_items") <= window,
            "{} items read for a window of {window}: {:#}",
            plan.rows_read_from("run_items"),
            plan.plan
        );
        let scans = plan.scans_of("run_items");
        assert!(
            !scans.is_empty() && scans.iter().all(Option::is_some),
            "{scans:?}: {:#}",
            plan.plan
        );
    }
}
