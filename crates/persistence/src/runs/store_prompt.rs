//! The per-item `UPDATE` that stores the prompt of an item claimed for the first time, on
//! SQLite (PostgreSQL stores it with the claim's own update). Like `StoreAnswer`, its SQL never
//! changes and it has a static query id, so each connection prepares it once.

use diesel::{
    backend::Backend,
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{HasSqlType, Integer, Text},
};

/// Stores `prompt` on an item that has none yet.
pub(super) struct StorePrompt<'a> {
    pub(super) run_id: &'a str,
    pub(super) sequence: i32,
    pub(super) prompt: &'a str,
}

impl QueryId for StorePrompt<'_> {
    type QueryId = StorePrompt<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for StorePrompt<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<Integer>,
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> diesel::QueryResult<()> {
        out.push_sql("UPDATE run_items SET prompt_text = ");
        out.push_bind_param::<Text, _>(self.prompt)?;
        out.push_sql(" WHERE run_id = ");
        out.push_bind_param::<Text, _>(self.run_id)?;
        out.push_sql(" AND sequence = ");
        out.push_bind_param::<Integer, _>(&self.sequence)?;
        out.push_sql(" AND prompt_text IS NULL");
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for StorePrompt<'_> {}
