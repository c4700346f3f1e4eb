//! RFM scores (SPEC §13): recency, frequency and monetary value over the 365 days before a business
//! day, each a quintile score 1–5 (5 is best), and the customer's named segment from R and F.
//!
//! Quintiles are relative to every other customer, so one order cannot move them alone: the scores
//! are computed whole once per business day (the `rfm` daily job) into `customer_rfm`, which the
//! profile, segments (`rfm.r`, `rfm.segment`) and the report read.
//!
//! A score is deterministic even with ties: customers are ranked worst first (ties share the lowest
//! rank) and the score is `1 + ⌊5 × (rank − 1) / n⌋`, so equal values always get equal scores and
//! ten customers with ten different frequencies score 1,1,2,2,3,3,4,4,5,5.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::activity;
use super::rules::CustomerStatus;
use crate::error::ApiResult;

/// The version of the segment map below, named in every response that shows a segment.
pub const MAP_VERSION: &str = "v1";
/// The window the scores look back over.
pub const WINDOW_DAYS: i32 = 365;
const SCORES: i64 = 5;

/// Segment by R and F (both inclusive ranges), SPEC §13's map `v1`. Every one of the 25 cells
/// falls in exactly one segment (a unit test checks it).
/// Scores from..=to, both inclusive.
type Scores5 = (i16, i16);
const MAP: &[(&str, Scores5, Scores5)] = &[
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new_customers", (5, 5), (1, 1)),
    ("promising", (4, 4), (1, 1)),
    ("need_attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("at_risk", (1, 2), (3, 4)),
    ("cannot_lose", (1, 2), (5, 5)),
    ("hibernating", (1, 2), (1, 2)),
];

/// Every segment name, in the map's order.
pub fn segments() -> impl Iterator<Item = &'static str> {
    MAP.iter().map(|(name, _, _)| *name)
}

/// The same map as a SQL expression over the score expressions `r` and `f`.
fn segment_sql(r: &str, f: &str) -> String {
    let arms: String = MAP
        .iter()
        .map(|(name, (r0, r1), (f0, f1))| {
            format!(" WHEN {r} BETWEEN {r0} AND {r1} AND {f} BETWEEN {f0} AND {f1} THEN '{name}'")
        })
        .collect();
    format!("CASE{arms} END")
}

/// The quintile score of a rank among `n` (SQL; ranks from 1, worst first).
fn score_sql(rank: &str) -> String {
    format!("(1 + ({SCORES} * ({rank} - 1)) / n)::smallint")
}

/// A customer's scores, as the profile shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, QueryableByName)]
#[schema(example = json!({"r": 5, "f": 4, "m": 4, "segment": "champions", "recency_days": 6, "frequency": 9,
    "monetary": "4820.00", "as_of": "2026-11-23", "rfm_map": "v1"}))]
pub struct Scores {
    #[diesel(sql_type = SmallInt)]
    pub r: i16,
    #[diesel(sql_type = SmallInt)]
    pub f: i16,
    #[diesel(sql_type = SmallInt)]
    pub m: i16,
    /// Named from R and F by the map `rfm_map`.
    #[diesel(sql_type = Text)]
    pub segment: String,
    /// Days from the last order to `as_of`.
    #[diesel(sql_type = Integer)]
    pub recency_days: i32,
    /// Counted orders in the 365 days up to `as_of`.
    #[diesel(sql_type = Integer)]
    pub frequency: i32,
    /// Paid net of refunds in those days.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money")]
    pub monetary: rust_decimal::Decimal,
    /// The business day the scores were computed for.
    #[diesel(sql_type = Date)]
    pub as_of: NaiveDate,
    #[diesel(sql_type = Text)]
    pub rfm_map: String,
}

/// The scores of each of `customers` that has them.
pub fn of_customers(conn: &mut PgConnection, customers: &[Uuid]) -> ApiResult<std::collections::HashMap<Uuid, Scores>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        customer_id: Uuid,
        #[diesel(embed)]
        scores: Scores,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT r.customer_id, r.r, r.f, r.m, r.segment, r.recency_days, r.frequency, r.monetary, s.as_of,
                s.map AS rfm_map
         FROM customer_rfm r CROSS JOIN rfm_snapshot s WHERE r.customer_id = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(customers)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.customer_id, r.scores)).collect())
}

/// The snapshot's day and size, if scores were ever computed.
#[derive(Debug, Clone, QueryableByName)]
pub struct Snapshot {
    #[diesel(sql_type = Date)]
    pub as_of: NaiveDate,
    #[diesel(sql_type = Text)]
    pub map: String,
    #[diesel(sql_type = Integer)]
    pub customers: i32,
    #[diesel(sql_type = Timestamptz)]
    pub computed_at: DateTime<Utc>,
}

pub fn snapshot(conn: &mut PgConnection) -> ApiResult<Option<Snapshot>> {
    Ok(diesel::sql_query("SELECT as_of, map, customers, computed_at FROM rfm_snapshot").get_result(conn).optional()?)
}

/// Recomputes every live customer's scores as of `as_of` from their order activity (brought up to
/// date first), replacing the snapshot in one transaction. Returns how many customers were scored.
pub fn refresh(conn: &mut PgConnection, as_of: NaiveDate, now: DateTime<Utc>, tz: Tz) -> ApiResult<i64> {
    activity::follow(conn, tz)?;
    let after = format!("($1::date - {WINDOW_DAYS})");
    let statement = format!(
        "INSERT INTO customer_rfm (customer_id, recency_days, frequency, monetary, r, f, m, segment)
         SELECT customer_id, recency_days, frequency, monetary, r, f, m, {segment}
         FROM (SELECT customer_id, recency_days, frequency, monetary,
                      {r} AS r, {f} AS f, {m} AS m
               FROM (SELECT *, count(*) OVER () AS n,
                            rank() OVER (ORDER BY recency_days DESC) AS r_rank,
                            rank() OVER (ORDER BY frequency) AS f_rank,
                            rank() OVER (ORDER BY monetary) AS m_rank
                     FROM (SELECT act.customer_id,
                                  $1::date - act.order_days[width_bucket($1::date, act.order_days)] AS recency_days,
                                  {orders}::int AS frequency, {spend} AS monetary
                           FROM customer_activity act JOIN customers c ON c.id = act.customer_id
                           WHERE c.status = '{active}' AND act.last_order_on > {after}
                             AND {orders} > 0) windowed) ranked) scored",
        active = CustomerStatus::Active.as_str(),
        segment = segment_sql("r", "f"),
        r = score_sql("r_rank"),
        f = score_sql("f_rank"),
        m = score_sql("m_rank"),
        orders = activity::orders_between_sql("act", &after, "$1::date"),
        spend = activity::spend_between_sql("act", &after, "$1::date"),
    );
    conn.transaction(|conn| {
        diesel::sql_query("DELETE FROM customer_rfm").execute(conn)?;
        let scored = diesel::sql_query(&statement).bind::<Date, _>(as_of).execute(conn)? as i64;
        // The segment rows carry the scores (segments test them there): write those that changed.
        diesel::sql_query(
            "UPDATE customer_facts f SET rfm_r = s.r, rfm_f = s.f, rfm_m = s.m, rfm_segment = s.segment
             FROM (SELECT c.id, r.r, r.f, r.m, r.segment
                   FROM customer_facts c LEFT JOIN customer_rfm r ON r.customer_id = c.id) s
             WHERE f.id = s.id AND (f.rfm_r, f.rfm_f, f.rfm_m, f.rfm_segment)
                                   IS DISTINCT FROM (s.r, s.f, s.m, s.segment)",
        )
        .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO rfm_snapshot (as_of, map, customers, computed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (singleton) DO UPDATE
             SET as_of = excluded.as_of, map = excluded.map, customers = excluded.customers,
                 computed_at = excluded.computed_at",
        )
        .bind::<Date, _>(as_of)
        .bind::<Text, _>(MAP_VERSION)
        .bind::<Integer, _>(scored as i32)
        .bind::<Timestamptz, _>(now)
        .execute(conn)?;
        Ok(scored)
    })
}

/// How many customers hold each (r, f, m) — the report's distribution.
#[derive(Debug, Clone, QueryableByName, Serialize, ToSchema)]
#[schema(as = RfmCell, example = json!({"r": 5, "f": 5, "m": 5, "segment": "champions", "customers": 40}))]
pub struct Cell {
    #[diesel(sql_type = SmallInt)]
    pub r: i16,
    #[diesel(sql_type = SmallInt)]
    pub f: i16,
    #[diesel(sql_type = SmallInt)]
    pub m: i16,
    #[diesel(sql_type = Text)]
    pub segment: String,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
}

pub fn distribution(conn: &mut PgConnection) -> ApiResult<Vec<Cell>> {
    Ok(diesel::sql_query(
        "SELECT r, f, m, segment, count(*) AS customers FROM customer_rfm GROUP BY r, f, m, segment ORDER BY r, f, m",
    )
    .load(conn)?)
}

/// What each score of one measure spans in the snapshot: the cut points a manager can check.
#[derive(Debug, Clone, QueryableByName, Serialize, ToSchema)]
#[schema(as = RfmBand, example = json!({"measure": "recency_days", "score": 5, "low": "0", "high": "12", "customers": 240}))]
pub struct Band {
    /// `recency_days`, `frequency` or `monetary`.
    #[diesel(sql_type = Text)]
    pub measure: String,
    #[diesel(sql_type = SmallInt)]
    pub score: i16,
    /// The lowest and highest value holding this score.
    #[diesel(sql_type = Nullable<Text>)]
    pub low: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub high: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
}

pub fn bands(conn: &mut PgConnection) -> ApiResult<Vec<Band>> {
    Ok(diesel::sql_query(
        "SELECT 'recency_days' AS measure, r AS score, min(recency_days)::text AS low, max(recency_days)::text AS high,
                count(*) AS customers FROM customer_rfm GROUP BY r
         UNION ALL
         SELECT 'frequency', f, min(frequency)::text, max(frequency)::text, count(*) FROM customer_rfm GROUP BY f
         UNION ALL
         SELECT 'monetary', m, min(monetary)::text, max(monetary)::text, count(*) FROM customer_rfm GROUP BY m
         ORDER BY 1, 2",
    )
    .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The segment of scores `r` and `f` (1–5).
    fn segment(r: i16, f: i16) -> Option<&'static str> {
        MAP.iter()
            .find(|(_, (r0, r1), (f0, f1))| (*r0..=*r1).contains(&r) && (*f0..=*f1).contains(&f))
            .map(|(n, _, _)| *n)
    }

    #[test]
    fn every_cell_of_the_map_has_exactly_one_segment() {
        for r in 1..=5 {
            for f in 1..=5 {
                let matching = MAP
                    .iter()
                    .filter(|(_, (r0, r1), (f0, f1))| (*r0..=*r1).contains(&r) && (*f0..=*f1).contains(&f))
                    .count();
                assert_eq!(matching, 1, "R{r} F{f}");
            }
        }
    }

    #[test]
    fn the_map_is_specs_v1() {
        let cases = [
            ((5, 5), "champions"),
            ((5, 4), "champions"),
            ((4, 5), "loyal"),
            ((3, 4), "loyal"),
            ((5, 2), "potential_loyalists"),
            ((4, 3), "potential_loyalists"),
            ((5, 1), "new_customers"),
            ((4, 1), "promising"),
            ((3, 3), "need_attention"),
            ((3, 1), "about_to_sleep"),
            ((3, 2), "about_to_sleep"),
            ((2, 3), "at_risk"),
            ((1, 4), "at_risk"),
            ((1, 5), "cannot_lose"),
            ((2, 5), "cannot_lose"),
            ((1, 1), "hibernating"),
            ((2, 2), "hibernating"),
        ];
        for ((r, f), name) in cases {
            assert_eq!(segment(r, f), Some(name), "R{r} F{f}");
        }
        assert_eq!(segment(0, 3), None);
        assert_eq!(segments().count(), 10);
    }

    #[test]
    fn the_sql_map_names_every_segment_once() {
        let sql = segment_sql("r", "f");
        for name in segments() {
            assert_eq!(sql.matches(&format!("'{name}'")).count(), 1, "{name}");
        }
        assert!(sql.contains("WHEN r BETWEEN 5 AND 5 AND f BETWEEN 4 AND 5 THEN 'champions'"));
    }
}
