//! The per-item `UPDATE` that stores an answer — the statement every item of a run goes
//! through. diesel never caches the prepared statements of its `UPDATE` builder, so written with
//! it, each answer paid for building, parsing and planning the SQL anew. This statement's SQL
//! never changes and it has a static query id: each connection prepares it once and afterwards
//! only binds and steps it.

use chrono::NaiveDateTime;
use diesel::{
    backend::Backend,
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{Double, HasSqlType, Integer, Nullable, Text, Timestamp},
};

/// Stores the answer of attempt `attempt` on an item still `running` and leased to `worker`
/// (the same guard as every outcome); executing it returns how many rows it changed, 0 or 1.
pub(super) struct StoreAnswer<'a> {
    pub(super) run_id: &'a str,
    pub(super) sequence: i32,
    pub(super) attempt: i32,
    pub(super) worker: &'a str,
    /// `awaiting`, or the verdict's state when the answer comes judged.
    pub(super) state: &'static str,
    pub(super) prompt: &'a str,
    pub(super) started_at: NaiveDateTime,
    pub(super) response: &'a str,
    pub(super) reasoning: Option<&'a str>,
    pub(super) cut_off: Option<&'static str>,
    pub(super) request_key: Option<&'a str>,
    pub(super) first_token_at: Option<NaiveDateTime>,
    pub(super) answered_at: NaiveDateTime,
    pub(super) prompt_tokens: Option<i32>,
    pub(super) completion_tokens: Option<i32>,
    pub(super) reasoning_tokens: Option<i32>,
    pub(super) cost_usd: Option<f64>,
    pub(super) extracted_answer: Option<String>,
    pub(super) extraction_tier: Option<&'static str>,
    pub(super) judge: Option<&'a str>,
    pub(super) judge_rationale: Option<&'a str>,
    pub(super) judged_at: Option<NaiveDateTime>,
    pub(super) finished_at: Option<NaiveDateTime>,
    /// `None` once judged: the item is done with its claim. An awaiting item keeps it for
    /// its judge.
    pub(super) lease_owner: Option<&'a str>,
    pub(super) now: NaiveDateTime,
}

impl QueryId for StoreAnswer<'_> {
    type QueryId = StoreAnswer<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for StoreAnswer<'_>
where
    DB: Backend
        + HasSqlType<Text>
        + HasSqlType<Integer>
        + HasSqlType<Timestamp>
        + HasSqlType<Double>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    f64: ToSql<Double, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        out.push_sql("UPDATE run_items SET state = ");
        out.push_bind_param::<Text, _>(self.state)?;
        out.push_sql(", prompt_text = ");
        out.push_bind_param::<Text, _>(self.prompt)?;
        out.push_sql(", started_at = ");
        out.push_bind_param::<Timestamp, _>(&self.started_at)?;
        out.push_sql(", response_text = ");
        out.push_bind_param::<Text, _>(self.response)?;
        out.push_sql(", reasoning_text = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.reasoning)?;
        out.push_sql(", cut_off = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.cut_off)?;
        out.push_sql(", request_key = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.request_key)?;
        out.push_sql(", first_token_at = ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&self.first_token_at)?;
        out.push_sql(", answered_at = ");
        out.push_bind_param::<Timestamp, _>(&self.answered_at)?;
        out.push_sql(", prompt_tokens = ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.prompt_tokens)?;
        out.push_sql(", completion_tokens = ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.completion_tokens)?;
        out.push_sql(", reasoning_tokens = ");
        out.push_bind_param::<Nullable<Integer>, _>(&self.reasoning_tokens)?;
        out.push_sql(", cost_usd = ");
        out.push_bind_param::<Nullable<Double>, _>(&self.cost_usd)?;
        out.push_sql(", extracted_answer = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.extracted_answer)?;
        out.push_sql(", extraction_tier = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.extraction_tier)?;
        out.push_sql(", judge = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.judge)?;
        out.push_sql(", judge_rationale = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.judge_rationale)?;
        out.push_sql(", judged_at = ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&self.judged_at)?;
        out.push_sql(", finished_at = ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&self.finished_at)?;
        out.push_sql(", lease_owner = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.lease_owner)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" WHERE run_id = ");
        out.push_bind_param::<Text, _>(self.run_id)?;
        out.push_sql(" AND sequence = ");
        out.push_bind_param::<Integer, _>(&self.sequence)?;
        out.push_sql(" AND state = 'running' AND lease_owner = ");
        out.push_bind_param::<Text, _>(self.worker)?;
        out.push_sql(" AND attempt_count = ");
        out.push_bind_param::<Integer, _>(&self.attempt)?;
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for StoreAnswer<'_> {}
