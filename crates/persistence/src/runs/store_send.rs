//! The per-item `UPDATE` that records an attempt being sent: the prompt (shown while the answer
//! streams) and the time. Like `StoreAnswer`, its SQL never changes and it has a static query
//! id, so each connection prepares it once.

use chrono::NaiveDateTime;
use diesel::{
    backend::Backend,
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{HasSqlType, Integer, Text, Timestamp},
};

/// Stores the send of attempt `attempt` on an item still `running` and leased to `worker`;
/// executing it returns how many rows it changed, 0 or 1.
pub(super) struct StoreSend<'a> {
    pub(super) run_id: &'a str,
    pub(super) sequence: i32,
    pub(super) attempt: i32,
    pub(super) worker: &'a str,
    pub(super) prompt: &'a str,
    pub(super) started_at: NaiveDateTime,
    pub(super) now: NaiveDateTime,
}

impl QueryId for StoreSend<'_> {
    type QueryId = StoreSend<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for StoreSend<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Integer> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        out.push_sql("UPDATE run_items SET prompt_text = ");
        out.push_bind_param::<Text, _>(self.prompt)?;
        out.push_sql(", started_at = ");
        out.push_bind_param::<Timestamp, _>(&self.started_at)?;
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

impl<Conn> diesel::RunQueryDsl<Conn> for StoreSend<'_> {}
