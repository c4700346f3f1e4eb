//! Segment SQL: the saved definitions, and evaluating a definition over the live customers.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Bool, Date, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::Value;
use uuid::Uuid;

use super::compile::{Compiler, Evaluation, Param, Sql, FACTS};
use super::definition::{top_level, Node};
use crate::error::{ApiError, ApiResult};
use crate::schema::segments;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = segments)]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    pub definition: Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("segment_not_found", "no segment with this id")
}

fn name_taken(e: diesel::result::Error) -> ApiError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            ApiError::conflict("segment_name_taken", "another segment has this name")
        }
        other => other.into(),
    }
}

pub fn insert(conn: &mut PgConnection, name: &str, definition: &Value) -> ApiResult<Segment> {
    diesel::insert_into(segments::table)
        .values((segments::id.eq(Uuid::now_v7()), segments::name.eq(name), segments::definition.eq(definition)))
        .returning(Segment::as_returning())
        .get_result(conn)
        .map_err(name_taken)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Segment> {
    segments::table.find(id).select(Segment::as_select()).first(conn).optional()?.ok_or_else(not_found)
}

/// A saved definition was checked when it was saved; one that no longer parses (the language
/// narrowed) is the caller's to fix, never a 500.
pub fn parse_saved(raw: &Value) -> ApiResult<Node> {
    super::definition::parse(raw, "definition").map_err(|m| ApiError::invalid(m.path, m.message))
}

pub fn list(conn: &mut PgConnection, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Segment>> {
    let mut q = segments::table.select(Segment::as_select()).order(segments::id).limit(limit).into_boxed();
    if let Some(after) = after {
        q = q.filter(segments::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Changes a segment at the version the caller read (`None`: whatever it is now).
pub fn update(
    conn: &mut PgConnection, id: Uuid, expected: Option<i32>, name: Option<&str>, definition: Option<&Value>,
) -> ApiResult<Segment> {
    let current: Segment = segments::table
        .find(id)
        .select(Segment::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(not_found)?;
    crate::http::check_version(expected, current.version)?;
    diesel::update(segments::table.find(id))
        .set((
            segments::name.eq(name.unwrap_or(&current.name)),
            segments::definition.eq(definition.unwrap_or(&current.definition)),
            segments::version.eq(current.version + 1),
            segments::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Segment::as_returning())
        .get_result(conn)
        .map_err(name_taken)
}

/// A segment a campaign audiences stays (the campaign keeps its reference): 409 `segment_in_use`.
pub fn delete(conn: &mut PgConnection, id: Uuid) -> ApiResult<()> {
    use diesel::result::{DatabaseErrorKind, Error};
    match diesel::delete(segments::table.find(id)).execute(conn) {
        Ok(0) => Err(not_found()),
        Ok(_) => Ok(()),
        Err(Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Err(ApiError::conflict("segment_in_use", "a campaign's audience is this segment"))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn query(sql: Sql) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    let mut q = diesel::sql_query(sql.text).into_boxed::<Pg>();
    for param in sql.params {
        q = match param {
            Param::Text(v) => q.bind::<Text, _>(v),
            Param::Texts(v) => q.bind::<Array<Text>, _>(v),
            Param::Integer(v) => q.bind::<BigInt, _>(v),
            Param::Money(v) => q.bind::<Numeric, _>(v),
            Param::Date(v) => q.bind::<Date, _>(v),
            Param::Instant(v) => q.bind::<Timestamptz, _>(v),
            Param::Id(v) => q.bind::<SqlUuid, _>(v),
            Param::Ids(v) => q.bind::<Array<SqlUuid>, _>(v),
            Param::Flag(v) => q.bind::<Bool, _>(v),
        };
    }
    q
}

/// Runs a query that evaluates a definition with room to hash its sets (tags, tiers, categories,
/// lots) in memory: with the default `work_mem` a set over a few hundred thousand customers is
/// re-scanned for every customer instead of looked up.
pub fn roomy<T>(conn: &mut PgConnection, query: impl FnOnce(&mut PgConnection) -> ApiResult<T>) -> ApiResult<T> {
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL work_mem = '128MB'").execute(conn)?;
        query(conn)
    })
}

/// How many live customers remain after each top-level condition in turn: for a root `all`,
/// those meeting the first k conditions; for a root `any`, those meeting any of the first k; for
/// anything else, one step. The last step is the audience. One pass over the customers.
pub fn steps(conn: &mut PgConnection, definition: &Node, at: Evaluation) -> ApiResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Labelled {
        #[diesel(sql_type = Array<BigInt>)]
        customers: Vec<i64>,
    }
    let conditions = top_level(definition);
    let narrowing = !matches!(definition, Node::Any(_));
    let mut compiler = Compiler::new(at);
    // Each customer is labelled with the first condition that decides it: the first it fails
    // (narrowing) or the first it meets (widening); 0 when none does.
    let arms: Vec<String> = conditions
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let test = compiler.node(node);
            let test = if narrowing { format!("NOT ({test})") } else { test };
            format!("WHEN {test} THEN {}", i + 1)
        })
        .collect();
    // One plain aggregate (not a GROUP BY on the label): PostgreSQL then labels the customers in
    // parallel workers and only adds up their counts.
    let per_label: Vec<String> =
        (0..=conditions.len()).map(|label| format!("count(*) FILTER (WHERE step = {label})")).collect();
    let text = format!(
        "SELECT ARRAY[{}]::bigint[] AS customers
         FROM (SELECT CASE {} ELSE 0 END AS step FROM {FACTS}) labelled",
        per_label.join(", "),
        arms.join(" "),
    );
    let labelled: Labelled = roomy(conn, |conn| Ok(query(compiler.finish(text)).get_result(conn)?))?;
    let count = |pick: &dyn Fn(usize) -> bool| {
        labelled.customers.iter().enumerate().filter(|(label, _)| pick(*label)).map(|(_, n)| n).sum::<i64>()
    };
    Ok((1..=conditions.len())
        .map(|k| if narrowing { count(&|s| s == 0 || s > k) } else { count(&|s| s != 0 && s <= k) })
        .collect())
}

/// Live customers of the audience by id, after `after`.
pub fn members(
    conn: &mut PgConnection, definition: &Node, at: Evaluation, after: Option<Uuid>, limit: i64,
) -> ApiResult<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Member {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let mut compiler = Compiler::new(at);
    let after = compiler.start_after(after.unwrap_or(Uuid::nil()));
    let test = compiler.node(definition);
    let limit = compiler.bind(Param::Integer(limit));
    let text = format!("SELECT c.id FROM {FACTS} WHERE c.id > {after} AND ({test}) ORDER BY c.id LIMIT {limit}");
    let rows: Vec<Member> = roomy(conn, |conn| Ok(query(compiler.finish(text)).load(conn)?))?;
    Ok(rows.into_iter().map(|m| m.id).collect())
}

/// Makes a rule tag's holders exactly the live customers its definition picks today, in one
/// statement. Returns (tagged, untagged).
pub fn sync_rule_tag(conn: &mut PgConnection, tag: &str, definition: &Node, at: Evaluation) -> ApiResult<(i64, i64)> {
    #[derive(QueryableByName)]
    struct Synced {
        #[diesel(sql_type = BigInt)]
        tagged: i64,
        #[diesel(sql_type = BigInt)]
        untagged: i64,
    }
    let mut compiler = Compiler::new(at);
    let test = compiler.node(definition);
    let tag = compiler.bind(Param::Text(tag.to_string()));
    let text = format!(
        "WITH audience AS MATERIALIZED (SELECT c.id FROM {FACTS} WHERE {test}),
              untagged AS (DELETE FROM customer_tags t WHERE t.tag = {tag}
                           AND NOT EXISTS (SELECT 1 FROM audience a WHERE a.id = t.customer_id) RETURNING 1),
              tagged AS (INSERT INTO customer_tags (customer_id, tag) SELECT id, {tag} FROM audience
                         ON CONFLICT DO NOTHING RETURNING 1)
         SELECT (SELECT count(*) FROM tagged) AS tagged, (SELECT count(*) FROM untagged) AS untagged"
    );
    let synced: Synced = roomy(conn, |conn| Ok(query(compiler.finish(text)).get_result(conn)?))?;
    Ok((synced.tagged, synced.untagged))
}

/// Every live customer of a saved segment today, by id, with the activity caught up first.
pub fn audience_of(conn: &mut PgConnection, segment: Uuid, at: Evaluation) -> ApiResult<Vec<Uuid>> {
    const PAGE: i64 = 10_000;
    let saved = get(conn, segment)?;
    let node =
        super::definition::parse(&saved.definition, "definition").map_err(|m| ApiError::invalid(m.path, m.message))?;
    crate::customers::activity::follow(conn, at.zone)?;
    let mut all: Vec<Uuid> = Vec::new();
    loop {
        let page = members(conn, &node, at, all.last().copied(), PAGE)?;
        let done = (page.len() as i64) < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}
