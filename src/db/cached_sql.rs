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
    text: &'static str,
    head: &'static str,
    rest: &'static str,
}

fn split(text: &'static str) -> (&'static str, &'static str) {
    text.split_once('?').unwrap_or((text, ""))
}

impl CachedSql {
    pub fn new(sql: &'static str) -> CachedSql {
        let (head, rest) = split(sql);
        CachedSql { text: sql, head, rest }
    }

    pub fn bind<ST, Value>(self, value: Value) -> Bound<Self, Value, ST> {
        Bound::new(self, self.rest, None, value)
    }

    /// A bind for the parameter the statement names `name` (`CAST(? AS type) AS name`): [`verify`]
    /// then proves the binder binds each name in its place.
    pub fn param<ST, Value>(self, name: &'static str, value: Value) -> Bound<Self, Value, ST> {
        Bound::new(self, self.rest, Some(name), value)
    }
}

/// A query with one more parameter; the SQL up to the next `?` follows it.
pub struct Bound<Q, Value, ST> {
    query: Q,
    value: Value,
    name: Option<&'static str>,
    tail: &'static str,
    rest: &'static str,
    _type: PhantomData<ST>,
}

impl<Q, Value, ST> Bound<Q, Value, ST> {
    fn new(query: Q, text: &'static str, name: Option<&'static str>, value: Value) -> Self {
        let (tail, rest) = split(text);
        Bound { query, value, name, tail, rest, _type: PhantomData }
    }

    pub fn bind<ST2, Value2>(self, value: Value2) -> Bound<Self, Value2, ST2> {
        let rest = self.rest;
        Bound::new(self, rest, None, value)
    }

    pub fn param<ST2, Value2>(self, name: &'static str, value: Value2) -> Bound<Self, Value2, ST2> {
        let rest = self.rest;
        Bound::new(self, rest, Some(name), value)
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

/// What a built statement knows of its binds, for [`verify`].
pub trait Binds {
    /// The statement's whole text.
    fn text(&self) -> &'static str;
    /// The name given to each bind, in order (`None` for a positional `bind`).
    fn bind_names(&self, names: &mut Vec<Option<&'static str>>);
}

impl Binds for CachedSql {
    fn text(&self) -> &'static str {
        self.text
    }
    fn bind_names(&self, _: &mut Vec<Option<&'static str>>) {}
}

impl<Q: Binds, Value, ST> Binds for Bound<Q, Value, ST> {
    fn text(&self) -> &'static str {
        self.query.text()
    }
    fn bind_names(&self, names: &mut Vec<Option<&'static str>>) {
        self.query.bind_names(names);
        names.push(self.name);
    }
}

/// The name each `?` of a statement declares: `CAST(? AS type) AS name`, as the leading CTE of a
/// `.sql` file writes its parameters; `None` for a `?` written any other way.
pub fn declared_parameters(text: &str) -> Vec<Option<String>> {
    static NAMED: once_cell::sync::Lazy<regex::Regex> = once_cell::sync::Lazy::new(|| {
        let type_name = r"[a-z0-9_ ]+?(\(\s*\d+(\s*,\s*\d+)?\s*\))?(\[\])?";
        regex::Regex::new(&format!(r"(?i)^\s*AS\s+{type_name}\s*\)\s+AS\s+(?P<name>[a-z_][a-z0-9_]*)"))
            .expect("a valid pattern")
    });
    let mut declared = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('?') {
        let after = &rest[at + 1..];
        declared.push(NAMED.captures(after).map(|c| c["name"].to_string()));
        rest = after;
    }
    declared
}

/// Whether a built statement binds exactly one value to each `?`, and each named bind to the `?`
/// that declares that name. A unit test calls it on every statement's binder: a missing, extra or
/// swapped bind fails there, not on a till.
pub fn verify(query: &impl Binds) -> Result<(), String> {
    let declared = declared_parameters(query.text());
    let mut bound = Vec::new();
    query.bind_names(&mut bound);
    if declared.len() != bound.len() {
        return Err(format!("{} placeholders but {} binds", declared.len(), bound.len()));
    }
    for (i, (declared, bound)) in declared.iter().zip(&bound).enumerate() {
        match (declared, bound) {
            (Some(d), Some(b)) if d != b => {
                return Err(format!("parameter {} is `{d}` but the bind says `{b}`", i + 1))
            }
            (Some(d), None) => return Err(format!("parameter {} is `{d}`: bind it by name", i + 1)),
            (None, Some(b)) => return Err(format!("parameter {} declares no name but the bind says `{b}`", i + 1)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{Int8, Numeric, Text};

    const SQL: &str = "WITH p AS (SELECT CAST(? AS text) AS kind, CAST(? AS numeric) AS amount,\n\
                       CAST(? AS numeric(12,2)) AS discount, CAST(? AS text[]) AS tags)\n\
                       SELECT 1 FROM p WHERE p.kind = ? LIMIT ?";

    #[test]
    fn named_parameters_are_read_from_the_leading_cte() {
        let names = declared_parameters(SQL);
        let names: Vec<Option<&str>> = names.iter().map(|n| n.as_deref()).collect();
        assert_eq!(names, vec![Some("kind"), Some("amount"), Some("discount"), Some("tags"), None, None]);
    }

    #[test]
    fn a_binder_that_binds_each_name_in_its_place_verifies() {
        let amount = rust_decimal::Decimal::ONE;
        let query = CachedSql::new(SQL)
            .param::<Text, _>("kind", "x")
            .param::<Numeric, _>("amount", amount)
            .param::<Numeric, _>("discount", amount)
            .param::<diesel::sql_types::Array<Text>, _>("tags", vec!["a"])
            .bind::<Text, _>("x")
            .bind::<Int8, _>(1_i64);
        assert_eq!(verify(&query), Ok(()));
    }

    #[test]
    fn swapped_missing_extra_or_unnamed_binds_are_found() {
        let amount = rust_decimal::Decimal::ONE;
        let swapped = CachedSql::new(SQL)
            .param::<Text, _>("kind", "x")
            .param::<Numeric, _>("discount", amount)
            .param::<Numeric, _>("amount", amount);
        assert_eq!(verify(&swapped), Err("6 placeholders but 3 binds".into()));
        let swapped = swapped
            .param::<diesel::sql_types::Array<Text>, _>("tags", vec!["a"])
            .bind::<Text, _>("x")
            .bind::<Int8, _>(1_i64);
        assert_eq!(verify(&swapped), Err("parameter 2 is `amount` but the bind says `discount`".into()));
        let unnamed = CachedSql::new("SELECT CAST(? AS int8) AS n").bind::<Int8, _>(1_i64);
        assert_eq!(verify(&unnamed), Err("parameter 1 is `n`: bind it by name".into()));
        let extra = CachedSql::new("SELECT ?").bind::<Int8, _>(1_i64).bind::<Int8, _>(2_i64);
        assert_eq!(verify(&extra), Err("1 placeholders but 2 binds".into()));
    }
}
