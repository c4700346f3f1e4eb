//! Raw SQL that each connection prepares once. Diesel never caches `sql_query` (or a query with a
//! `sql()` fragment), so PostgreSQL would parse and plan the hot path's CTEs on every sale.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;

/// A fixed SQL text whose parameters are written `?`, bound in order with `.bind::<SqlType, _>(v)`;
/// rows are read by name (`QueryableByName`), as with `sql_query`. Each `?` must get one bind.
#[derive(Debug, Clone, Copy)]
pub struct CachedSql {
    head: &'static str,
    rest: &'static str,
}

fn split(text: &'static str) -> (&'static str, &'static str) {
    text.split_once('?').unwrap_or((text, ""))
}

impl CachedSql {
    pub fn new(sql: &'static str) -> CachedSql {
        let (head, rest) = split(sql);
        CachedSql { head, rest }
    }

    pub fn bind<ST, Value>(self, value: Value) -> Bound<Self, Value, ST> {
        Bound::new(self, self.rest, value)
    }
}

/// A query with one more parameter; the SQL up to the next `?` follows it.
pub struct Bound<Q, Value, ST> {
    query: Q,
    value: Value,
    tail: &'static str,
    rest: &'static str,
    _type: PhantomData<ST>,
}

impl<Q, Value, ST> Bound<Q, Value, ST> {
    fn new(query: Q, text: &'static str, value: Value) -> Self {
        let (tail, rest) = split(text);
        Bound { query, value, tail, rest, _type: PhantomData }
    }

    pub fn bind<ST2, Value2>(self, value: Value2) -> Bound<Self, Value2, ST2> {
        let rest = self.rest;
        Bound::new(self, rest, value)
    }
}

impl QueryFragment<Pg> for CachedSql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.head);
        Ok(())
    }
}

impl<Q, Value, ST> QueryFragment<Pg> for Bound<Q, Value, ST>
where
    Q: QueryFragment<Pg>,
    Value: ToSql<ST, Pg>,
    Pg: HasSqlType<ST>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_bind_param::<ST, Value>(&self.value)?;
        out.push_sql(self.tail);
        Ok(())
    }
}

// The text is built from constants only, so the prepared-statement cache can key on it.
impl QueryId for CachedSql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Value, ST> QueryId for Bound<Q, Value, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for CachedSql {
    type SqlType = Untyped;
}

impl<Q, Value, ST> Query for Bound<Q, Value, ST> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for CachedSql {}
impl<Q, Value, ST, Conn> RunQueryDsl<Conn> for Bound<Q, Value, ST> {}
