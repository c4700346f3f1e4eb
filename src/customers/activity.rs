//! Each customer's order activity, derived from their orders for segments, profiles and campaigns:
//! orders and spend per business day, first and last order, and what they bought per category.
//!
//! A follower of the outbox keeps it current, never the sale's transaction (SPEC §13: a row per
//! customer written by every sale would make a member's tills wait on each other for nothing).
//! Whenever an order, a refund, a merge or an erasure names a customer, that customer's rows are
//! recomputed whole from their orders, so they always equal a recomputation from scratch.
//!
//! A counted order is one not fully refunded; spend is what was paid net of refunds.

use chrono::NaiveDate;
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::lifecycle::{self, LifecycleStage, OrderHistory};
use crate::http::error::ApiResult;

const FOLLOWER: &str = "customer_activity";
/// Events read per transaction of the follower.
const BATCH: i64 = 5000;
/// The events that change a customer's order history.
const EVENT_TYPES: &[&str] = &["order.created", "order.refunded", "customer.merged", "customer.erased"];

const REFRESH_DAYS: &str = "
    INSERT INTO customer_order_days (customer_id, day, orders, spend)
    SELECT o.customer_id, (o.occurred_at AT TIME ZONE $2)::date, count(*), sum(o.paid_amount - o.refunded_amount)
    FROM orders o
    WHERE o.customer_id = ANY($1) AND NOT (o.paid_amount > 0 AND o.refunded_amount >= o.paid_amount)
    GROUP BY 1, 2";
const REFRESH_ACTIVITY: &str = "
    INSERT INTO customer_activity (customer_id, first_order_on, last_order_on, orders, spend)
    SELECT customer_id, min(day), max(day), sum(orders), sum(spend)
    FROM customer_order_days WHERE customer_id = ANY($1) GROUP BY customer_id";
const REFRESH_CATEGORIES: &str = "
    INSERT INTO customer_categories (customer_id, category, orders, quantity, spend, last_bought_on)
    SELECT o.customer_id, l.category, count(DISTINCT o.id), sum(l.quantity - l.refunded_quantity),
           sum(round(l.discounted_amount * (l.quantity - l.refunded_quantity) / l.quantity, 2)),
           max((o.occurred_at AT TIME ZONE $2)::date)
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    WHERE o.customer_id = ANY($1) AND l.category IS NOT NULL AND l.quantity > l.refunded_quantity
    GROUP BY 1, 2";

/// Recomputes the activity of `customers` from their orders.
pub fn refresh(conn: &mut PgConnection, customers: &[Uuid], tz: Tz) -> ApiResult<()> {
    if customers.is_empty() {
        return Ok(());
    }
    for table in ["customer_order_days", "customer_activity", "customer_categories"] {
        diesel::sql_query(format!("DELETE FROM {table} WHERE customer_id = ANY($1)"))
            .bind::<Array<SqlUuid>, _>(customers)
            .execute(conn)?;
    }
    for statement in [REFRESH_DAYS, REFRESH_CATEGORIES] {
        diesel::sql_query(statement).bind::<Array<SqlUuid>, _>(customers).bind::<Text, _>(tz.name()).execute(conn)?;
    }
    diesel::sql_query(REFRESH_ACTIVITY).bind::<Array<SqlUuid>, _>(customers).execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Batch {
    #[diesel(sql_type = Nullable<BigInt>)]
    last_seq: Option<i64>,
    #[diesel(sql_type = Array<SqlUuid>)]
    customers: Vec<Uuid>,
}

/// Reads the outbox from where the follower stopped and refreshes every customer it names, one
/// batch per transaction. Another instance following at the same moment makes this one wait for
/// it and then go on from where it stopped, so callers that need the activity current (a preview,
/// a campaign run) can call this first. Returns how many customers were refreshed.
pub fn follow(conn: &mut PgConnection, tz: Tz) -> ApiResult<i64> {
    crate::events::sequence_pending(conn)?;
    let mut refreshed = 0;
    loop {
        let done = conn.transaction(|conn| {
            let cursor: i64 = diesel::sql_query("SELECT last_seq FROM outbox_followers WHERE name = $1 FOR UPDATE")
                .bind::<Text, _>(FOLLOWER)
                .get_result::<LastSeq>(conn)?
                .last_seq;
            let batch: Batch = diesel::sql_query(
                "WITH batch AS (SELECT seq, type, subject_id, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2)
                 SELECT (SELECT max(seq) FROM batch) AS last_seq,
                        ARRAY(SELECT DISTINCT id FROM (
                            SELECT subject_id AS id FROM batch WHERE type = ANY($3)
                            UNION ALL
                            SELECT (data->>'source_customer_id')::uuid FROM batch WHERE type = 'customer.merged'
                        ) named WHERE id IS NOT NULL) AS customers",
            )
            .bind::<BigInt, _>(cursor)
            .bind::<BigInt, _>(BATCH)
            .bind::<Array<Text>, _>(EVENT_TYPES)
            .get_result(conn)?;
            let Some(last_seq) = batch.last_seq else {
                return Ok::<_, crate::http::error::ApiError>(true);
            };
            refresh(conn, &batch.customers, tz)?;
            diesel::sql_query("UPDATE outbox_followers SET last_seq = $2 WHERE name = $1")
                .bind::<Text, _>(FOLLOWER)
                .bind::<BigInt, _>(last_seq)
                .execute(conn)?;
            refreshed += batch.customers.len() as i64;
            Ok(false)
        })?;
        if done {
            return Ok(refreshed);
        }
    }
}

#[derive(QueryableByName)]
struct LastSeq {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
}

/// The follower as a minute sweep (`jobs::SWEEPS`).
pub fn sweep(conn: &mut PgConnection, _now: chrono::DateTime<chrono::Utc>, tz: Tz) -> ApiResult<i64> {
    follow(conn, tz)
}

#[derive(QueryableByName)]
struct StageInputs {
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Date)]
    first_order_on: NaiveDate,
    #[diesel(sql_type = Date)]
    last_order_on: NaiveDate,
    #[diesel(sql_type = BigInt)]
    recent: i64,
    #[diesel(sql_type = BigInt)]
    earlier: i64,
}

/// The two churn windows' order counts per customer on `day`, as a subquery with columns
/// `customer_id`, `recent` and `earlier` (`$day` is the placeholder of the day).
pub fn churn_windows_sql(day: &str) -> String {
    let w = lifecycle::CHURN_WINDOW_DAYS;
    format!(
        "SELECT customer_id,
                coalesce(sum(orders) FILTER (WHERE day > {day} - {w}), 0)::bigint AS recent,
                coalesce(sum(orders) FILTER (WHERE day <= {day} - {w}), 0)::bigint AS earlier
         FROM customer_order_days WHERE day > {day} - {twice} AND day <= {day} GROUP BY customer_id",
        twice = 2 * w
    )
}

/// The lifecycle stage of each of `customers` on `day`; those without orders are prospects.
pub fn stages(
    conn: &mut PgConnection,
    customers: &[Uuid],
    day: NaiveDate,
) -> ApiResult<std::collections::HashMap<Uuid, LifecycleStage>> {
    let rows: Vec<StageInputs> = diesel::sql_query(format!(
        "SELECT a.customer_id, a.first_order_on, a.last_order_on,
                coalesce(w.recent, 0)::bigint AS recent, coalesce(w.earlier, 0)::bigint AS earlier
         FROM customer_activity a
         LEFT JOIN ({}) w ON w.customer_id = a.customer_id
         WHERE a.customer_id = ANY($1)",
        churn_windows_sql("$2::date")
    ))
    .bind::<Array<SqlUuid>, _>(customers)
    .bind::<Date, _>(day)
    .load(conn)?;
    let mut out: std::collections::HashMap<Uuid, LifecycleStage> =
        customers.iter().map(|c| (*c, LifecycleStage::Prospect)).collect();
    for r in rows {
        let history = OrderHistory {
            first_order: Some(r.first_order_on),
            last_order: Some(r.last_order_on),
            orders_last_90: r.recent,
            orders_previous_90: r.earlier,
        };
        out.insert(r.customer_id, lifecycle::stage(&history, day));
    }
    Ok(out)
}

/// A condition on `customers.id`: the customer is at `stage` on `day` (a date literal or placeholder).
pub fn at_stage_sql(stage: LifecycleStage, day: &str) -> String {
    if stage == LifecycleStage::Prospect {
        return "customers.id NOT IN (SELECT customer_id FROM customer_activity)".to_string();
    }
    let expression = lifecycle::stage_sql("a.first_order_on", "a.last_order_on", "w.recent", "w.earlier", day);
    format!(
        "customers.id IN (SELECT a.customer_id FROM customer_activity a LEFT JOIN ({}) w
                          ON w.customer_id = a.customer_id WHERE {expression} = '{}')",
        churn_windows_sql(day),
        stage.as_str()
    )
}
