//! Each customer's order activity, derived from their orders for segments, profiles and campaigns:
//! orders and spend per business day, first and last order, and what they bought per category.
//!
//! A follower of the outbox keeps it current, never the sale's transaction (SPEC §13: a row per
//! customer written by every sale would make a member's tills wait on each other for nothing).
//! Whenever an order, a refund, a merge or an erasure names a customer, that customer's rows are
//! recomputed whole from their orders, so they always equal a recomputation from scratch. It also
//! holds each customer's usual interval between orders (churn by their own rhythm, SPEC §13) and
//! each category's buying days (the repurchase interval).
//!
//! A counted order is one not fully refunded; spend is what was paid net of refunds.
//!
//! The same follower keeps `customer_facts`: each live customer's profile fields and activity in
//! one narrow row, which segments scan instead of joining the two (SPEC §9's preview at a
//! million customers). Any customer event recomputes the customer's row from both.

use chrono::NaiveDate;
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::lifecycle::{self, LifecycleStage, OrderHistory};
use crate::error::ApiResult;

const FOLLOWER: &str = "customer_activity";
/// The events that change a customer's order history or profile.
const EVENT_TYPES: &[&str] =
    &["order.created", "order.refunded", "customer.created", "customer.updated", "customer.merged", "customer.erased"];

/// Which customers a refresh recomputes: those listed in `$1` (the time zone in `$2`), or every
/// customer at once (a rebuild: the time zone as a literal, nothing bound).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Listed,
    Everyone { tz: &'a str },
}

impl Scope<'_> {
    /// The condition on a customer id column.
    fn on(self, column: &str) -> String {
        match self {
            Scope::Listed => format!("{column} = ANY($1)"),
            Scope::Everyone { .. } => format!("{column} IS NOT NULL"),
        }
    }

    fn tz(self) -> String {
        match self {
            Scope::Listed => "$2".to_string(),
            Scope::Everyone { tz } => crate::db::quote_literal(tz),
        }
    }
}

fn refresh_activity_sql(scope: Scope) -> String {
    let tz = scope.tz();
    format!(
        "INSERT INTO customer_activity
             (customer_id, first_order_on, last_order_on, orders, spend, order_days, spend_running)
         SELECT customer_id, min(day), max(day), count(*), sum(net),
                array_agg(day ORDER BY day, id), array_agg(running ORDER BY day, id)
         FROM (SELECT o.customer_id, o.id, (o.occurred_at AT TIME ZONE {tz})::date AS day,
                      o.paid_amount - o.refunded_amount AS net,
                      sum(o.paid_amount - o.refunded_amount)
                          OVER (PARTITION BY o.customer_id ORDER BY (o.occurred_at AT TIME ZONE {tz})::date, o.id) AS running
               FROM orders o
               WHERE {customers} AND NOT (o.paid_amount > 0 AND o.refunded_amount >= o.paid_amount)) counted
         GROUP BY customer_id",
        customers = scope.on("o.customer_id")
    )
}

/// A customer's own rhythm: the median of the days between their distinct order days, once there
/// are at least `RHYTHM_MIN_GAPS` of them (fewer is not yet a habit).
fn refresh_rhythm_sql(scope: Scope) -> String {
    format!(
        "UPDATE customer_activity act SET usual_interval_days = g.median
         FROM (SELECT customer_id, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)::numeric, 1) AS median
               FROM (SELECT a.customer_id, d - lag(d) OVER (PARTITION BY a.customer_id ORDER BY d) AS gap
                     FROM customer_activity a, unnest(a.order_days) d
                     WHERE {customers}) gaps
               WHERE gap > 0
               GROUP BY customer_id
               HAVING count(*) >= {RHYTHM_MIN_GAPS}) g
         WHERE act.customer_id = g.customer_id",
        customers = scope.on("a.customer_id")
    )
}

/// Gaps between buying days needed before a customer has a usual interval.
pub const RHYTHM_MIN_GAPS: i64 = 2;

fn refresh_categories_sql(scope: Scope) -> String {
    let tz = scope.tz();
    format!(
        "INSERT INTO customer_categories (customer_id, category, orders, quantity, spend, last_bought_on, bought_days)
         SELECT o.customer_id, l.category, count(DISTINCT o.id), sum(l.quantity - l.refunded_quantity),
                sum(round(l.discounted_amount * (l.quantity - l.refunded_quantity) / l.quantity, 2)),
                max((o.occurred_at AT TIME ZONE {tz})::date),
                array_agg(DISTINCT (o.occurred_at AT TIME ZONE {tz})::date ORDER BY (o.occurred_at AT TIME ZONE {tz})::date)
         FROM orders o JOIN order_lines l ON l.order_id = o.id
         WHERE {customers} AND l.category IS NOT NULL AND l.quantity > l.refunded_quantity
           -- A ¥0 line (a gift, a till's made-up line) is no purchase (issue 22).
           AND l.amount > 0
         GROUP BY 1, 2",
        customers = scope.on("o.customer_id")
    )
}

/// The segment row of each live customer in scope, from the profile, the activity refreshed
/// before it and the latest RFM scores. A consent is given when its `granted` is true.
fn refresh_facts_sql(scope: Scope) -> String {
    format!(
        "INSERT INTO customer_facts
         SELECT c.id, c.city, c.district, c.gender, c.source_channel, c.home_store_id, c.birthday, c.created_at,
                coalesce((c.consents -> 'marketing_sms' ->> 'granted')::boolean, false),
                coalesce((c.consents -> 'marketing_email' ->> 'granted')::boolean, false),
                coalesce((c.consents -> 'marketing_wechat' ->> 'granted')::boolean, false),
                act.first_order_on, act.last_order_on, act.orders, act.spend, act.order_days, act.spend_running,
                rfm.r, rfm.f, rfm.m, rfm.segment
         FROM customers c LEFT JOIN customer_activity act ON act.customer_id = c.id
              LEFT JOIN customer_rfm rfm ON rfm.customer_id = c.id
         WHERE {customers} AND c.status = '{active}'",
        customers = scope.on("c.id"),
        // A constant of the vocabulary, not a request's: written in, as the other scopes' SQL is.
        active = super::rules::CustomerStatus::Active
    )
}

const TABLES: [(&str, &str); 3] =
    [("customer_activity", "customer_id"), ("customer_categories", "customer_id"), ("customer_facts", "id")];

/// Recomputes the activity of `customers` from their orders, and their segment rows.
pub fn refresh(conn: &mut PgConnection, customers: &[Uuid], tz: Tz) -> ApiResult<()> {
    if customers.is_empty() {
        return Ok(());
    }
    for (table, key) in TABLES {
        diesel::sql_query(format!("DELETE FROM {table} WHERE {key} = ANY($1)"))
            .bind::<Array<SqlUuid>, _>(customers)
            .execute(conn)?;
    }
    for statement in [refresh_activity_sql(Scope::Listed), refresh_categories_sql(Scope::Listed)] {
        diesel::sql_query(statement).bind::<Array<SqlUuid>, _>(customers).bind::<Text, _>(tz.name()).execute(conn)?;
    }
    for statement in [refresh_rhythm_sql(Scope::Listed), refresh_facts_sql(Scope::Listed)] {
        diesel::sql_query(statement).bind::<Array<SqlUuid>, _>(customers).execute(conn)?;
    }
    Ok(())
}

/// Empties the three tables and fills them from every order and customer (`follower::rebuild`).
pub fn rebuild(conn: &mut PgConnection, tz: Tz) -> ApiResult<()> {
    let everyone = Scope::Everyone { tz: tz.name() };
    crate::events::follower::rebuild(conn, FOLLOWER, |conn| {
        let tables: Vec<&str> = TABLES.iter().map(|(table, _)| *table).collect();
        diesel::sql_query(format!("TRUNCATE {}", tables.join(", "))).execute(conn)?;
        for statement in [
            refresh_activity_sql(everyone),
            refresh_categories_sql(everyone),
            refresh_rhythm_sql(everyone),
            refresh_facts_sql(everyone),
        ] {
            diesel::sql_query(statement).execute(conn)?;
        }
        Ok(())
    })
}

/// Reads the outbox from where the follower stopped and refreshes every customer it names, one
/// batch per transaction. Another instance following at the same moment makes this one wait for
/// it and then go on from where it stopped, so callers that need the activity current (a preview,
/// a campaign run) can call this first. Returns how many customers were refreshed.
pub fn follow(conn: &mut PgConnection, tz: Tz) -> ApiResult<i64> {
    crate::events::follower::follow(conn, FOLLOWER, EVENT_TYPES, |conn, events| {
        let customers = crate::events::follower::ids(events, |e| vec![e.subject_id, e.data_id("source_customer_id")]);
        refresh(conn, &customers, tz)?;
        Ok(customers.len() as i64)
    })
}

/// The follower as a minute sweep (`jobs::SWEEPS`).
pub fn sweep(conn: &mut PgConnection, _now: chrono::DateTime<chrono::Utc>, tz: Tz) -> ApiResult<i64> {
    follow(conn, tz)
}

/// Counted orders of the customer row `act` on days after `after` up to `upto` (SQL date
/// expressions): two binary searches in its ordered days.
pub fn orders_between_sql(act: &str, after: &str, upto: &str) -> String {
    format!("(width_bucket({upto}, {act}.order_days) - width_bucket({after}, {act}.order_days))")
}

/// Spend of the same orders, from the running totals.
pub fn spend_between_sql(act: &str, after: &str, upto: &str) -> String {
    let at = |day: &str| format!("coalesce({act}.spend_running[width_bucket({day}, {act}.order_days)], 0)");
    format!("({} - {})", at(upto), at(after))
}

/// The lifecycle stage on `day` of the customer whose activity row is `act` (a left join: no
/// row is a prospect), as SQL.
pub fn stage_of_sql(act: &str, day: &str) -> String {
    let w = lifecycle::CHURN_WINDOW_DAYS;
    lifecycle::stage_sql(
        &format!("{act}.first_order_on"),
        &format!("{act}.last_order_on"),
        &orders_between_sql(act, &format!("({day} - {w})"), day),
        &orders_between_sql(act, &format!("({day} - {})", 2 * w), &format!("({day} - {w})")),
        day,
    )
}

#[derive(QueryableByName)]
struct OrderDays {
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
    #[diesel(sql_type = Array<Date>)]
    order_days: Vec<NaiveDate>,
}

/// The lifecycle stage of each of `customers` on `day`; those without orders are prospects.
pub fn stages(
    conn: &mut PgConnection, customers: &[Uuid], day: NaiveDate,
) -> ApiResult<std::collections::HashMap<Uuid, LifecycleStage>> {
    let rows: Vec<OrderDays> =
        diesel::sql_query("SELECT customer_id, order_days FROM customer_activity WHERE customer_id = ANY($1)")
            .bind::<Array<SqlUuid>, _>(customers)
            .load(conn)?;
    let mut out: std::collections::HashMap<Uuid, LifecycleStage> =
        customers.iter().map(|c| (*c, LifecycleStage::Prospect)).collect();
    for r in rows {
        out.insert(r.customer_id, lifecycle::stage(&OrderHistory::from_days(&r.order_days, day), day));
    }
    Ok(out)
}

/// A condition on `customers.id`: the customer is at `stage` on `day` (a date literal or placeholder).
pub fn at_stage_sql(stage: LifecycleStage, day: &str) -> String {
    if stage == LifecycleStage::Prospect {
        return "customers.id NOT IN (SELECT customer_id FROM customer_activity)".to_string();
    }
    format!(
        "customers.id IN (SELECT act.customer_id FROM customer_activity act WHERE {} = '{}')",
        stage_of_sql("act", day),
        stage.as_str()
    )
}
