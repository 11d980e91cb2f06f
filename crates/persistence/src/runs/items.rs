//! Reading a run's items for drill-down: grouped counts, filters, keyset paging, and every
//! recorded detail of each item (prompt, answer, extraction, verdicts, attempts, timings, usage).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    CutOff, ExtractionTier, ItemAnswer, ItemState, RunId, StateCounts, Timestamp, TokenUsage,
};

use super::{item_keys, load_row};
use crate::{
    database::Database,
    error::StoreError,
    schema::{dataset_items, item_attempts, item_judgments, run_items},
};

/// How items are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemGrouping {
    /// By dataset category.
    Category,
    /// By item state.
    State,
    /// One group of everything.
    None,
}

/// Where the next page of items starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCursor {
    /// Group key of the last item returned.
    pub group: String,
    /// Sequence of the last item returned.
    pub sequence: u32,
}

/// Which items to read.
#[derive(Debug, Clone)]
pub struct ItemQuery {
    /// Only these states (all when empty).
    pub states: Vec<ItemState>,
    /// Only these categories (all when empty).
    pub categories: Vec<String>,
    /// Only these items, by sequence (all when empty).
    pub sequences: Vec<u32>,
    /// Only these items, by their dataset item's id (MMLU-Pro's `question_id`; all when
    /// empty).
    pub item_ids: Vec<String>,
    /// The grouping, which also orders the items (group key, then sequence).
    pub group_by: ItemGrouping,
    /// Start after this item.
    pub after: Option<ItemCursor>,
    /// At most this many items.
    pub limit: u32,
}

/// Which items of a run an export holds: those in these states and categories (every item
/// when both are empty), as `GET /runs/{id}/items` filters them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// Only these states (all when empty).
    pub states: Vec<ItemState>,
    /// Only these categories (all when empty).
    pub categories: Vec<String>,
}

impl ItemQuery {
    /// The first `limit` items of a run, by sequence, none left out.
    pub fn first(limit: u32) -> Self {
        Self {
            states: Vec::new(),
            categories: Vec::new(),
            sequences: Vec::new(),
            item_ids: Vec::new(),
            group_by: ItemGrouping::None,
            after: None,
            limit,
        }
    }
}

/// A group's key and how many of its (filtered) items are in each state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemGroup {
    /// The category, the state, or `all`.
    pub key: String,
    /// Items per state.
    pub counts: StateCounts,
}

/// One attempt at an item.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// 1-based attempt number.
    pub attempt: u32,
    /// `answered`, `cached` (served from the response cache), `error`, `canceled`, `lost`,
    /// `released`, or `None` while in flight.
    pub outcome: Option<String>,
    /// Error kind, for failed attempts.
    pub error_kind: Option<String>,
    /// Error message, for failed attempts.
    pub error_message: Option<String>,
    /// The worker that made it.
    pub worker: Option<String>,
    /// When it was sent.
    pub started_at: Timestamp,
    /// When its first chunk arrived.
    pub first_token_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// Tokens reported, when it was answered.
    pub usage: TokenUsage,
    /// What its answer cost at the model's configured price.
    pub cost_usd: Option<f64>,
    /// What a Browser Harness noted of the page the answer was captured on (url, title, ...);
    /// empty for an API attempt.
    pub page: BTreeMap<String, String>,
}

/// One verdict given on an item.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgmentRecord {
    /// The attempt judged.
    pub attempt: u32,
    /// `correct` or `incorrect`.
    pub verdict: ItemState,
    /// The letter extracted, if any.
    pub extracted_answer: Option<String>,
    /// The extraction rule that matched.
    pub extraction_tier: ExtractionTier,
    /// Which judge.
    pub judge: String,
    /// The judge's reasons, if given.
    pub rationale: Option<String>,
    /// When.
    pub at: Timestamp,
    /// The judging it belongs to: 0 for the run's first, n for its n-th re-judging.
    pub round: u32,
    /// Given by a re-judging that was canceled or failed before it finished: the run went back
    /// to the verdicts it had before it, so this one is not in force.
    pub undone: bool,
    /// What an LLM judge's requests for it used and cost; `None` for the rule judges' verdicts
    /// (and for verdicts stored before it was kept).
    pub spent: Option<evalboard_domain::JudgeSpend>,
}

/// Everything recorded about one item of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDetail {
    /// Position in the run.
    pub sequence: u32,
    /// The dataset item's id.
    pub dataset_item_id: String,
    /// Its category.
    pub category: String,
    /// Where it stands.
    pub state: ItemState,
    /// The question.
    pub question: String,
    /// The options.
    pub choices: Vec<String>,
    /// The key.
    pub expected_answer: ItemAnswer,
    /// The prompt sent (set on first dispatch).
    pub prompt_text: Option<String>,
    /// The latest answer.
    pub response_text: Option<String>,
    /// The reasoning the model gave apart from that answer, if any.
    pub reasoning_text: Option<String>,
    /// Why the provider stopped that answer before the model finished it, if it did.
    pub cut_off: Option<CutOff>,
    /// The latest verdict's extraction, while judged.
    pub extracted_answer: Option<String>,
    /// Which extraction rule matched, while judged.
    pub extraction_tier: Option<ExtractionTier>,
    /// Which judge decided, while judged.
    pub judge: Option<String>,
    /// The judge's reasons, while judged.
    pub judge_rationale: Option<String>,
    /// The last error (kind, message).
    pub error: Option<(String, String)>,
    /// Attempts made.
    pub attempt_count: u32,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
    /// Every verdict, oldest first.
    pub judgments: Vec<JudgmentRecord>,
    /// When it was queued (created, or reopened by a retry).
    pub queued_at: Option<Timestamp>,
    /// When its latest attempt started.
    pub started_at: Option<Timestamp>,
    /// First streamed chunk of the latest answer.
    pub first_token_at: Option<Timestamp>,
    /// When the latest answer was complete.
    pub answered_at: Option<Timestamp>,
    /// When it was judged.
    pub judged_at: Option<Timestamp>,
    /// When it reached its terminal state.
    pub finished_at: Option<Timestamp>,
    /// Tokens of the latest answer.
    pub usage: TokenUsage,
    /// What the latest answer cost at the model's configured price.
    pub cost_usd: Option<f64>,
}

/// A page of items with the groups they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemPage {
    /// Every group of the filtered items, by key, with counts over all pages.
    pub groups: Vec<ItemGroup>,
    /// This page's items, by group key then sequence.
    pub items: Vec<ItemDetail>,
    /// Where the next page starts.
    pub next: Option<ItemCursor>,
}

/// What detail rows hold besides the dataset item.
#[derive(Queryable)]
struct ItemRow {
    sequence: i32,
    state: String,
    attempt_count: i32,
    prompt_text: Option<String>,
    response_text: Option<String>,
    reasoning_text: Option<String>,
    cut_off: Option<String>,
    extracted_answer: Option<String>,
    extraction_tier: Option<String>,
    judge: Option<String>,
    judge_rationale: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
    queued_at: Option<NaiveDateTime>,
    started_at: Option<NaiveDateTime>,
    first_token_at: Option<NaiveDateTime>,
    answered_at: Option<NaiveDateTime>,
    judged_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
    reasoning_tokens: Option<i32>,
    cost_usd: Option<f64>,
    lease_owner: Option<String>,
    item_id: String,
    category: String,
    question: String,
    choices: String,
    answer: String,
}

fn utc(t: Option<NaiveDateTime>) -> Option<Timestamp> {
    t.map(|t| t.and_utc())
}

fn tokens(n: Option<i32>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// A run's items with their questions (the join on the item's dataset row), of the `states`,
/// `categories` and `sequences` given (each: all when empty), boxed for more filters: the
/// statement a page of items and its groups are read with.
macro_rules! filtered_items {
    ($run_id:expr, $states:expr, $categories:expr, $sequences:expr, $item_ids:expr) => {{
        let mut q = run_items::table
            .inner_join(
                dataset_items::table.on(dataset_items::dataset_id
                    .eq(run_items::dataset_id)
                    .and(dataset_items::position.eq(run_items::dataset_position))),
            )
            .filter(run_items::run_id.eq($run_id.as_str()))
            .into_boxed();
        if !$states.is_empty() {
            q = q.filter(run_items::state.eq_any($states.clone()));
        }
        if !$categories.is_empty() {
            q = q.filter(dataset_items::category.eq_any($categories.clone()));
        }
        if !$sequences.is_empty() {
            q = q.filter(item_keys::items_of_run($run_id, &$sequences));
        }
        if !$item_ids.is_empty() {
            q = q.filter(dataset_items::item_id.eq_any($item_ids.clone()));
        }
        q
    }};
}

impl Database {
    /// The categories a run's items are in, sorted: what a `category` filter of its items can
    /// name. `NotFound` for an unknown run.
    pub fn run_categories(&self, run_id: &RunId) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            load_row(conn, run_id, false)?;
            Ok(run_items::table
                .inner_join(
                    dataset_items::table.on(dataset_items::dataset_id
                        .eq(run_items::dataset_id)
                        .and(dataset_items::position.eq(run_items::dataset_position))),
                )
                .filter(run_items::run_id.eq(run_id.as_str()))
                .select(dataset_items::category)
                .distinct()
                .order(dataset_items::category.asc())
                .load(conn)?)
        })
    }

    /// A page of a run's items (see [`ItemQuery`]), with the groups of all filtered items.
    pub fn run_items(&self, run_id: &RunId, query: &ItemQuery) -> Result<ItemPage, StoreError> {
        self.items_of(run_id, query, true)
    }

    /// A page of a run's items in sequence order, after `after`, without groups: what an export
    /// reads, page by page, in memory bounded by `limit` whatever the run's size. `next` is set
    /// when more follow.
    pub fn item_export_page(
        &self,
        run_id: &RunId,
        filter: &ExportFilter,
        after: Option<u32>,
        limit: u32,
    ) -> Result<ItemPage, StoreError> {
        let query = ItemQuery {
            states: filter.states.clone(),
            categories: filter.categories.clone(),
            after: after.map(|sequence| ItemCursor {
                group: String::new(),
                sequence,
            }),
            ..ItemQuery::first(limit)
        };
        self.items_of(run_id, &query, false)
    }

    fn items_of(
        &self,
        run_id: &RunId,
        query: &ItemQuery,
        with_groups: bool,
    ) -> Result<ItemPage, StoreError> {
        self.read(|conn| {
            load_row(conn, run_id, false)?; // 404 for an unknown run
            let states: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
            let sequences: Vec<i32> = query.sequences.iter().map(|&s| s as i32).collect();
            macro_rules! filtered {
                () => {
                    filtered_items!(run_id, states, query.categories, sequences, query.item_ids)
                };
            }

            // Groups: counts per key and state over every filtered item. Counted here rather than
            // with GROUP BY: two short columns per item, and one query shape for both backends.
            let pairs: Vec<(String, String)> = if with_groups {
                filtered!()
                    .select((dataset_items::category, run_items::state))
                    .load(conn)?
            } else {
                Vec::new()
            };
            let mut groups: BTreeMap<String, StateCounts> = BTreeMap::new();
            for (category, state) in pairs {
                let state: ItemState = state.parse().map_err(StoreError::corrupt)?;
                let key = match query.group_by {
                    ItemGrouping::Category => category,
                    ItemGrouping::State => state.as_str().to_owned(),
                    ItemGrouping::None => "all".to_owned(),
                };
                groups.entry(key).or_default().add(state, 1);
            }

            // The page, ordered by group key then sequence.
            let limit = i64::from(query.limit) + 1;
            let rows: Vec<ItemRow> = {
                let q = filtered!().select((
                    run_items::sequence,
                    run_items::state,
                    run_items::attempt_count,
                    run_items::prompt_text,
                    run_items::response_text,
                    run_items::reasoning_text,
                    run_items::cut_off,
                    run_items::extracted_answer,
                    run_items::extraction_tier,
                    run_items::judge,
                    run_items::judge_rationale,
                    run_items::error_kind,
                    run_items::error_message,
                    run_items::queued_at,
                    run_items::started_at,
                    run_items::first_token_at,
                    run_items::answered_at,
                    run_items::judged_at,
                    run_items::finished_at,
                    run_items::prompt_tokens,
                    run_items::completion_tokens,
                    run_items::reasoning_tokens,
                    run_items::cost_usd,
                    run_items::lease_owner,
                    dataset_items::item_id,
                    dataset_items::category,
                    dataset_items::question,
                    dataset_items::choices,
                    dataset_items::answer,
                ));
                let after = query.after.as_ref();
                let seq = |c: &ItemCursor| c.sequence as i32;
                match query.group_by {
                    ItemGrouping::Category => {
                        let q = match after {
                            Some(c) => q.filter(
                                dataset_items::category.gt(c.group.clone()).or(
                                    dataset_items::category
                                        .eq(c.group.clone())
                                        .and(run_items::sequence.gt(seq(c))),
                                ),
                            ),
                            None => q,
                        };
                        q.order((dataset_items::category.asc(), run_items::sequence.asc()))
                            .limit(limit)
                            .load(conn)?
                    }
                    ItemGrouping::State => {
                        let q = match after {
                            Some(c) => q.filter(
                                run_items::state.gt(c.group.clone()).or(run_items::state
                                    .eq(c.group.clone())
                                    .and(run_items::sequence.gt(seq(c)))),
                            ),
                            None => q,
                        };
                        q.order((run_items::state.asc(), run_items::sequence.asc()))
                            .limit(limit)
                            .load(conn)?
                    }
                    ItemGrouping::None => {
                        let q = match after {
                            Some(c) => q.filter(run_items::sequence.gt(seq(c))),
                            None => q,
                        };
                        q.order(run_items::sequence.asc()).limit(limit).load(conn)?
                    }
                }
            };
            let more = rows.len() > query.limit as usize;
            let rows = &rows[..rows.len().min(query.limit as usize)];
            let sequences: Vec<i32> = rows.iter().map(|r| r.sequence).collect();
            let mut attempts = attempts_of(conn, run_id, &sequences)?;
            let mut judgments = judgments_of(conn, run_id, &sequences)?;
            let items = rows
                .iter()
                .map(|row| {
                    detail(
                        row,
                        attempts.remove(&row.sequence).unwrap_or_default(),
                        judgments.remove(&row.sequence).unwrap_or_default(),
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let next = if more {
                items.last().map(|item| ItemCursor {
                    group: match query.group_by {
                        ItemGrouping::Category => item.category.clone(),
                        ItemGrouping::State => item.state.as_str().to_owned(),
                        ItemGrouping::None => String::new(),
                    },
                    sequence: item.sequence,
                })
            } else {
                None
            };
            Ok(ItemPage {
                groups: groups
                    .into_iter()
                    .map(|(key, counts)| ItemGroup { key, counts })
                    .collect(),
                items,
                next,
            })
        })
    }

    /// How many judged items of a run had no answer extractable, counted from the items (the
    /// run keeps this count as `Run::unparsed`; this recount is how tests check it).
    pub fn unparsed_count(&self, run_id: &RunId) -> Result<u64, StoreError> {
        self.read(|conn| Ok(super::bookkeeping::recount_answers(conn, run_id)?.unparsed as u64))
    }

    /// How many of a run's kept answers were cut off, counted from the items (the run keeps
    /// this count as `Run::cut_off`; this recount is how tests check it).
    pub fn cut_off_count(&self, run_id: &RunId) -> Result<u64, StoreError> {
        self.read(|conn| Ok(super::bookkeeping::recount_answers(conn, run_id)?.cut_off as u64))
    }

    /// How many of a run's verdicts fell back to the extraction rules because its LLM judge
    /// gave none, counted from the items (the run keeps this count as `Run::judge_fallbacks`;
    /// this recount is how tests check it).
    pub fn judge_fallback_count(&self, run_id: &RunId) -> Result<u64, StoreError> {
        self.read(|conn| {
            Ok(super::bookkeeping::recount_answers(conn, run_id)?.judge_fallbacks as u64)
        })
    }
}

fn detail(
    row: &ItemRow,
    mut attempts: Vec<AttemptRecord>,
    judgments: Vec<JudgmentRecord>,
) -> Result<ItemDetail, StoreError> {
    let corrupt = |what: &str| StoreError::corrupt(format!("item {} {what}", row.sequence));
    // The attempt in flight has no row yet: it is described by the item itself.
    let recorded = attempts.last().map_or(0, |a| a.attempt);
    if row.state == ItemState::Running.as_str()
        && row.attempt_count as u32 > recorded
        && let Some(started_at) = row.started_at
    {
        attempts.push(AttemptRecord {
            attempt: row.attempt_count as u32,
            outcome: None,
            error_kind: None,
            error_message: None,
            worker: row.lease_owner.clone(),
            started_at: started_at.and_utc(),
            first_token_at: None,
            finished_at: None,
            usage: TokenUsage::default(),
            cost_usd: None,
            page: BTreeMap::new(),
        });
    }
    let choices: Vec<String> =
        serde_json::from_str(&row.choices).map_err(|_| corrupt("choices"))?;
    let expected_answer =
        ItemAnswer::of_item(&choices, &row.answer).ok_or_else(|| corrupt("answer"))?;
    Ok(ItemDetail {
        sequence: row.sequence as u32,
        dataset_item_id: row.item_id.clone(),
        category: row.category.clone(),
        state: row.state.parse().map_err(StoreError::corrupt)?,
        question: row.question.clone(),
        choices: choices.clone(),
        expected_answer,
        prompt_text: row.prompt_text.clone(),
        response_text: row.response_text.clone(),
        reasoning_text: row.reasoning_text.clone(),
        // A name this build does not know (written by a newer one) is no cut-off it can tell.
        cut_off: row.cut_off.as_deref().and_then(CutOff::parse),
        extracted_answer: row.extracted_answer.clone(),
        extraction_tier: row
            .extraction_tier
            .as_deref()
            .and_then(ExtractionTier::parse),
        judge: row.judge.clone(),
        judge_rationale: row.judge_rationale.clone(),
        error: row
            .error_kind
            .clone()
            .map(|kind| (kind, row.error_message.clone().unwrap_or_default())),
        attempt_count: row.attempt_count as u32,
        attempts,
        judgments,
        queued_at: utc(row.queued_at),
        started_at: utc(row.started_at),
        first_token_at: utc(row.first_token_at),
        answered_at: utc(row.answered_at),
        judged_at: utc(row.judged_at),
        finished_at: utc(row.finished_at),
        usage: TokenUsage {
            prompt_tokens: tokens(row.prompt_tokens),
            completion_tokens: tokens(row.completion_tokens),
            reasoning_tokens: tokens(row.reasoning_tokens),
        },
        cost_usd: row.cost_usd,
    })
}

type AttemptTuple = (
    i32,
    i32,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<f64>,
    Option<String>,
);

fn attempts_of(
    conn: &mut crate::connection::DbConnection,
    run_id: &RunId,
    sequences: &[i32],
) -> Result<BTreeMap<i32, Vec<AttemptRecord>>, StoreError> {
    let rows: Vec<AttemptTuple> = item_attempts::table
        .filter(item_attempts::run_id.eq(run_id.as_str()))
        .filter(item_attempts::sequence.eq_any(sequences))
        .order((item_attempts::sequence.asc(), item_attempts::attempt.asc()))
        .select((
            item_attempts::sequence,
            item_attempts::attempt,
            item_attempts::outcome,
            item_attempts::error_kind,
            item_attempts::error_message,
            item_attempts::worker,
            item_attempts::started_at,
            item_attempts::first_token_at,
            item_attempts::finished_at,
            item_attempts::prompt_tokens,
            item_attempts::completion_tokens,
            item_attempts::reasoning_tokens,
            item_attempts::cost_usd,
            item_attempts::page,
        ))
        .load(conn)?;
    let mut by_item: BTreeMap<i32, Vec<AttemptRecord>> = BTreeMap::new();
    for (
        sequence,
        attempt,
        outcome,
        error_kind,
        error_message,
        worker,
        started,
        first,
        finished,
        pt,
        ct,
        rt,
        cost_usd,
        page,
    ) in rows
    {
        let page = match page {
            Some(json) => serde_json::from_str(&json).map_err(|_| {
                StoreError::corrupt(format!("item {sequence} attempt {attempt} page"))
            })?,
            None => BTreeMap::new(),
        };
        by_item.entry(sequence).or_default().push(AttemptRecord {
            attempt: attempt as u32,
            outcome,
            error_kind,
            error_message,
            worker,
            started_at: started.and_utc(),
            first_token_at: utc(first),
            finished_at: utc(finished),
            usage: TokenUsage {
                prompt_tokens: tokens(pt),
                completion_tokens: tokens(ct),
                reasoning_tokens: tokens(rt),
            },
            cost_usd,
            page,
        });
    }
    Ok(by_item)
}

type JudgmentTuple = (
    i32,
    i32,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    NaiveDateTime,
    (i32, bool),
    (Option<i32>, Option<i32>, Option<i32>, Option<f64>),
);

fn judgments_of(
    conn: &mut crate::connection::DbConnection,
    run_id: &RunId,
    sequences: &[i32],
) -> Result<BTreeMap<i32, Vec<JudgmentRecord>>, StoreError> {
    let rows: Vec<JudgmentTuple> = item_judgments::table
        .filter(item_judgments::run_id.eq(run_id.as_str()))
        .filter(item_judgments::sequence.eq_any(sequences))
        .order((item_judgments::sequence.asc(), item_judgments::id.asc()))
        .select((
            item_judgments::sequence,
            item_judgments::attempt,
            item_judgments::verdict,
            item_judgments::extracted_answer,
            item_judgments::extraction_tier,
            item_judgments::judge,
            item_judgments::rationale,
            item_judgments::created_at,
            (item_judgments::rejudge_round, item_judgments::round_undone),
            (
                item_judgments::prompt_tokens,
                item_judgments::completion_tokens,
                item_judgments::reasoning_tokens,
                item_judgments::cost_usd,
            ),
        ))
        .load(conn)?;
    let mut by_item: BTreeMap<i32, Vec<JudgmentRecord>> = BTreeMap::new();
    for (
        sequence,
        attempt,
        verdict,
        extracted,
        tier,
        judge,
        rationale,
        at,
        (round, undone),
        spent,
    ) in rows
    {
        let (pt, ct, rt, cost_usd) = spent;
        by_item.entry(sequence).or_default().push(JudgmentRecord {
            attempt: attempt as u32,
            verdict: verdict.parse().map_err(StoreError::corrupt)?,
            extracted_answer: extracted,
            extraction_tier: ExtractionTier::parse(&tier)
                .ok_or_else(|| StoreError::corrupt(format!("extraction tier {tier}")))?,
            judge,
            rationale,
            at: at.and_utc(),
            round: round as u32,
            undone,
            spent: (pt.is_some() || ct.is_some() || cost_usd.is_some()).then(|| {
                evalboard_domain::JudgeSpend {
                    usage: TokenUsage {
                        prompt_tokens: tokens(pt),
                        completion_tokens: tokens(ct),
                        reasoning_tokens: tokens(rt),
                    },
                    cost_usd,
                }
            }),
        });
    }
    Ok(by_item)
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::plans::{explain, two_large_runs};

    /// A page of a run's items of one state and one category, and its groups, on never-analyzed
    /// tables of two 10,000-item runs: each item's question is found as one row, whichever of
    /// the dataset's indexes the planner takes for the join. A user's database had it take the
    /// category index, filtering on the position, which read every item of the category again
    /// for each of the run's items (3–5 s a page of a 12,032-item run); here the primary key is
    /// dropped so that it must take that index.
    #[test]
    fn items_of_a_state_and_a_category_are_read_without_statistics() {
        let Some((_db, [run, _], mut conn)) = two_large_runs() else {
            return;
        };
        for change in [
            "UPDATE dataset_items SET category = 'law' WHERE position % 10 = 0",
            "UPDATE run_items SET state = 'incorrect' WHERE sequence % 2 = 0",
            "ALTER TABLE dataset_items DROP CONSTRAINT dataset_items_pkey CASCADE",
        ] {
            diesel::sql_query(change).execute(&mut conn).unwrap();
        }
        let states = vec!["incorrect"];
        let categories = vec!["law".to_owned()];
        let sequences: Vec<i32> = Vec::new();
        let item_ids: Vec<String> = Vec::new();
        let page = explain(
            &mut conn,
            filtered_items!(&run, states, categories, sequences, item_ids)
                .select((run_items::sequence, dataset_items::question))
                .order((dataset_items::category.asc(), run_items::sequence.asc()))
                .limit(51),
        );
        let groups = explain(
            &mut conn,
            filtered_items!(&run, states, categories, sequences, item_ids)
                .select((dataset_items::category, run_items::state)),
        );
        for (what, plan) in [("a page", page), ("the groups", groups)] {
            // What the filters leave out of the run's own items is read at most once.
            assert!(
                plan.rows_removed <= 10_000,
                "{what}: {} rows read and thrown away: {:#}",
                plan.rows_removed,
                plan.plan
            );
            assert!(
                plan.rows_read_from("dataset_items") <= 10_000,
                "{what}: {} questions read: {:#}",
                plan.rows_read_from("dataset_items"),
                plan.plan
            );
        }
    }
}
