//! The sales summary tables (SPEC §13): what the orders placed on each business day came to, per
//! store and channel (`sales_daily`) and per category too (`category_sales_daily`).
//!
//! They follow the outbox, never the sale's transaction. An event about an order names its key
//! (day, store, channel); each named key is recomputed whole from its orders, so the tables always
//! equal a recomputation from scratch (`differences` counts the rows that do not, a test drives it
//! through random orders, late orders, refunds, merges and erasures). A refund lowers the day its
//! order was placed. A counted order is one not fully refunded, as in the customers' activity.

use chrono::NaiveDate;
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use crate::error::ApiResult;

const FOLLOWER: &str = "sales_summary";
const EVENT_TYPES: &[&str] = &["order.created", "order.refunded"];

/// Fully refunded: not a counted order.
const FULLY_REFUNDED: &str = "(o.paid_amount > 0 AND o.refunded_amount >= o.paid_amount)";

/// `sales_daily` of the orders in `source` (aliased `o`); `$tz` is the business time zone.
fn sales_sql(source: &str, tz: &str) -> String {
    format!(
        "SELECT (o.occurred_at AT TIME ZONE {tz})::date AS day, o.store_id, o.channel,
                (count(*) FILTER (WHERE NOT {FULLY_REFUNDED}))::int AS orders,
                (count(*) FILTER (WHERE NOT {FULLY_REFUNDED} AND o.customer_id IS NOT NULL))::int AS member_orders,
                sum(o.paid_amount) AS gross, sum(o.refunded_amount) AS refunded,
                sum(o.paid_amount - o.refunded_amount) AS net
         FROM {source} GROUP BY 1, 2, 3"
    )
}

/// `category_sales_daily` of the same: lines with a category, not wholly returned, in counted orders.
fn category_sql(source: &str, tz: &str) -> String {
    format!(
        "SELECT (o.occurred_at AT TIME ZONE {tz})::date AS day, o.store_id, o.channel, l.category,
                count(DISTINCT o.id)::int AS orders,
                sum(l.quantity - l.refunded_quantity)::bigint AS quantity,
                sum(round(l.discounted_amount * (l.quantity - l.refunded_quantity) / l.quantity, 2)) AS net
         FROM {source} JOIN order_lines l ON l.order_id = o.id
         WHERE l.category IS NOT NULL AND l.quantity > l.refunded_quantity AND NOT {FULLY_REFUNDED}
         GROUP BY 1, 2, 3, 4"
    )
}

/// The orders of the keys in `$1` (days), `$2` (stores, null for none) and `$3` (channels): a
/// store's by its (store, time) index, a storeless channel's by time.
const KEYED_ORDERS: &str = "(SELECT o.* FROM unnest($1::date[], $2::uuid[], $3::text[]) AS k(day, store_id, channel)
     CROSS JOIN LATERAL (
         SELECT * FROM orders o
         WHERE o.store_id = k.store_id AND o.channel = k.channel
           AND o.occurred_at >= (k.day::timestamp AT TIME ZONE $4) AND o.occurred_at < ((k.day + 1)::timestamp AT TIME ZONE $4)
         UNION ALL
         SELECT * FROM orders o
         WHERE k.store_id IS NULL AND o.store_id IS NULL AND o.channel = k.channel
           AND o.occurred_at >= (k.day::timestamp AT TIME ZONE $4) AND o.occurred_at < ((k.day + 1)::timestamp AT TIME ZONE $4)
     ) o) o";

const KEYS_MATCH: &str = "s.day = k.day AND s.channel = k.channel AND s.store_id IS NOT DISTINCT FROM k.store_id";

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    store_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    channel: String,
}

/// Recomputes every (day, store, channel) that one of `orders` belongs to.
pub fn refresh(conn: &mut PgConnection, orders: &[Uuid], tz: Tz) -> ApiResult<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let keys: Vec<Key> = diesel::sql_query(
        "SELECT DISTINCT (occurred_at AT TIME ZONE $2)::date AS day, store_id, channel FROM orders WHERE id = ANY($1)",
    )
    .bind::<Array<SqlUuid>, _>(orders)
    .bind::<Text, _>(tz.name())
    .load(conn)?;
    let days: Vec<NaiveDate> = keys.iter().map(|k| k.day).collect();
    let stores: Vec<Option<Uuid>> = keys.iter().map(|k| k.store_id).collect();
    let channels: Vec<&str> = keys.iter().map(|k| k.channel.as_str()).collect();
    for (table, recompute) in
        [("sales_daily", sales_sql(KEYED_ORDERS, "$4")), ("category_sales_daily", category_sql(KEYED_ORDERS, "$4"))]
    {
        diesel::sql_query(format!(
            "DELETE FROM {table} s USING unnest($1::date[], $2::uuid[], $3::text[]) AS k(day, store_id, channel)
             WHERE {KEYS_MATCH}"
        ))
        .bind::<Array<Date>, _>(&days)
        .bind::<Array<Nullable<SqlUuid>>, _>(&stores)
        .bind::<Array<Text>, _>(&channels)
        .execute(conn)?;
        diesel::sql_query(format!("INSERT INTO {table} {recompute}"))
            .bind::<Array<Date>, _>(&days)
            .bind::<Array<Nullable<SqlUuid>>, _>(&stores)
            .bind::<Array<Text>, _>(&channels)
            .bind::<Text, _>(tz.name())
            .execute(conn)?;
    }
    Ok(())
}

/// Brings the summary tables up to the end of the feed. Returns how many orders were refreshed.
pub fn follow(conn: &mut PgConnection, tz: Tz) -> ApiResult<i64> {
    crate::events::follower::follow(conn, FOLLOWER, EVENT_TYPES, |conn, events| {
        let orders = crate::events::follower::ids(events, |e| vec![e.data_id("order_id")]);
        refresh(conn, &orders, tz)?;
        Ok(orders.len() as i64)
    })
}

/// The follower as a minute sweep (`jobs::SWEEPS`).
pub fn sweep(conn: &mut PgConnection, _now: chrono::DateTime<chrono::Utc>, tz: Tz) -> ApiResult<i64> {
    follow(conn, tz)
}

/// Empties both tables and fills them from every order (`follower::rebuild`).
pub fn rebuild(conn: &mut PgConnection, tz: Tz) -> ApiResult<()> {
    let zone = crate::db::quote_literal(tz.name());
    crate::events::follower::rebuild(conn, FOLLOWER, |conn| {
        diesel::sql_query("TRUNCATE sales_daily, category_sales_daily").execute(conn)?;
        diesel::sql_query(format!("INSERT INTO sales_daily {}", sales_sql("orders o", &zone))).execute(conn)?;
        diesel::sql_query(format!("INSERT INTO category_sales_daily {}", category_sql("orders o", &zone)))
            .execute(conn)?;
        Ok(())
    })
}

/// Rows of the two tables that differ from a recomputation from every order: zero when the
/// follower has kept them exactly (call `follow` first).
pub fn differences(conn: &mut PgConnection, tz: Tz) -> ApiResult<i64> {
    let zone = crate::db::quote_literal(tz.name());
    let sales = "SELECT day, store_id, channel, orders, member_orders, gross, refunded, net FROM sales_daily";
    let categories = "SELECT day, store_id, channel, category, orders, quantity, net FROM category_sales_daily";
    Ok(crate::db::rows_differing(conn, sales, &sales_sql("orders o", &zone))?
        + crate::db::rows_differing(conn, categories, &category_sql("orders o", &zone))?)
}
