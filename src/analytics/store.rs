//! The reports' SQL: each reads summary tables (or one narrow row per customer), never every order.

use chrono::NaiveDate;
use chrono_tz::Tz;
use const_format::formatcp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Numeric, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::customers::activity;
use crate::customers::rules::CustomerStatus;
use crate::error::ApiResult;

/// A member is active with an order in this many days up to the day (as the lifecycle's `active`).
pub const ACTIVE_DAYS: i32 = 30;

#[derive(Debug, QueryableByName)]
pub struct DaySales {
    #[diesel(sql_type = Numeric)]
    pub sales: Decimal,
    #[diesel(sql_type = Numeric)]
    pub gross: Decimal,
    #[diesel(sql_type = Numeric)]
    pub refunded: Decimal,
    #[diesel(sql_type = BigInt)]
    pub orders: i64,
    #[diesel(sql_type = BigInt)]
    pub member_orders: i64,
    #[diesel(sql_type = Numeric)]
    pub store_sales: Decimal,
    #[diesel(sql_type = BigInt)]
    pub store_orders: i64,
    /// Sales of the stores that have a daily target.
    #[diesel(sql_type = Numeric)]
    pub targeted_sales: Decimal,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub target: Option<Decimal>,
}

/// One business day's sales in `sales_daily`, for one store or the chain. Store sales are those
/// of stores of kind `store`; online, the rest (online shops, and orders without a store).
pub fn day_sales(conn: &mut PgConnection, day: NaiveDate, store: Option<Uuid>) -> ApiResult<DaySales> {
    Ok(diesel::sql_query(
        "SELECT coalesce(sum(s.net), 0) AS sales, coalesce(sum(s.gross), 0) AS gross,
                coalesce(sum(s.refunded), 0) AS refunded, coalesce(sum(s.orders), 0)::bigint AS orders,
                coalesce(sum(s.member_orders), 0)::bigint AS member_orders,
                coalesce(sum(s.net) FILTER (WHERE st.kind = 'store'), 0) AS store_sales,
                coalesce(sum(s.orders) FILTER (WHERE st.kind = 'store'), 0)::bigint AS store_orders,
                coalesce(sum(s.net) FILTER (WHERE st.kind = 'store' AND st.daily_sales_target IS NOT NULL), 0)
                    AS targeted_sales,
                (SELECT sum(daily_sales_target) FROM stores
                 WHERE active AND kind = 'store' AND ($2::uuid IS NULL OR id = $2)) AS target
         FROM sales_daily s LEFT JOIN stores st ON st.id = s.store_id
         WHERE s.day = $1 AND ($2::uuid IS NULL OR s.store_id = $2)",
    )
    .bind::<Date, _>(day)
    .bind::<Nullable<SqlUuid>, _>(store)
    .get_result(conn)?)
}

#[derive(Debug, QueryableByName)]
pub struct KeyCount {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Customers created on `day` by source channel (merged-away profiles are counted in their
/// survivor; erased ones still count, anonymous); for a store, those whose home store it is.
pub fn new_customers(conn: &mut PgConnection, day: NaiveDate, store: Option<Uuid>, tz: Tz) -> ApiResult<Vec<KeyCount>> {
    const NEW_CUSTOMERS: &str = formatcp!(
        "SELECT coalesce(source_channel, 'unknown') AS key, count(*) AS count FROM customers
         WHERE created_at >= ($1::timestamp AT TIME ZONE $3) AND created_at < (($1 + 1)::timestamp AT TIME ZONE $3)
           AND status <> '{}' AND ($2::uuid IS NULL OR home_store_id = $2)
         GROUP BY 1 ORDER BY 2 DESC, 1",
        CustomerStatus::Merged.as_str()
    );
    Ok(diesel::sql_query(NEW_CUSTOMERS)
        .bind::<Date, _>(day)
        .bind::<Nullable<SqlUuid>, _>(store)
        .bind::<Text, _>(tz.name())
        .load(conn)?)
}

#[derive(Debug, QueryableByName)]
pub struct MemberCounts {
    #[diesel(sql_type = BigInt)]
    pub new_members: i64,
    #[diesel(sql_type = BigInt)]
    pub active_members: i64,
    #[diesel(sql_type = BigInt)]
    pub members: i64,
}

/// Members enrolled on `day`, members with a counted order in the 30 days up to it, and all
/// members; for a store, those who enrolled there.
pub fn member_counts(conn: &mut PgConnection, day: NaiveDate, store: Option<Uuid>, tz: Tz) -> ApiResult<MemberCounts> {
    let recent = activity::orders_between_sql("a", &format!("($1::date - {ACTIVE_DAYS})"), "$1::date");
    Ok(diesel::sql_query(format!(
        "SELECT (SELECT count(*) FROM memberships m
                 WHERE m.enrolled_at >= ($1::timestamp AT TIME ZONE $3)
                   AND m.enrolled_at < (($1 + 1)::timestamp AT TIME ZONE $3)
                   AND ($2::uuid IS NULL OR m.store_id = $2)) AS new_members,
                (SELECT count(*) FROM memberships m JOIN customer_activity a ON a.customer_id = m.customer_id
                 WHERE a.last_order_on > $1::date - {ACTIVE_DAYS} AND {recent} > 0
                   AND ($2::uuid IS NULL OR m.store_id = $2)) AS active_members,
                (SELECT count(*) FROM memberships m
                 WHERE m.enrolled_at < (($1 + 1)::timestamp AT TIME ZONE $3)
                   AND ($2::uuid IS NULL OR m.store_id = $2)) AS members"
    ))
    .bind::<Date, _>(day)
    .bind::<Nullable<SqlUuid>, _>(store)
    .bind::<Text, _>(tz.name())
    .get_result(conn)?)
}

/// How `sales` groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Day,
    Week,
    Month,
    Store,
    Channel,
    Category,
}

#[derive(Debug, QueryableByName)]
pub struct SalesRow {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub label: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub orders: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub quantity: Option<i64>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub gross: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub refunded: Option<Decimal>,
    #[diesel(sql_type = Numeric)]
    pub net: Decimal,
}

/// Sales of the business days `from..=to`, grouped; for one store or the chain. Weeks start on
/// Monday and are named by that day; a category row counts the orders that had the category.
pub fn sales(
    conn: &mut PgConnection, from: NaiveDate, to: NaiveDate, group_by: GroupBy, store: Option<Uuid>,
) -> ApiResult<Vec<SalesRow>> {
    let (key, label) = match group_by {
        GroupBy::Day => ("s.day::text", "NULL::text"),
        GroupBy::Week => ("date_trunc('week', s.day)::date::text", "NULL::text"),
        GroupBy::Month => ("to_char(s.day, 'YYYY-MM')", "NULL::text"),
        GroupBy::Store => ("coalesce(s.store_id::text, '')", "max(st.name)"),
        GroupBy::Channel => ("s.channel", "NULL::text"),
        GroupBy::Category => ("s.category", "NULL::text"),
    };
    let (table, amounts) = if group_by == GroupBy::Category {
        (
            "category_sales_daily",
            "sum(s.quantity)::bigint AS quantity, NULL::numeric AS gross, NULL::numeric AS refunded",
        )
    } else {
        ("sales_daily", "NULL::bigint AS quantity, sum(s.gross) AS gross, sum(s.refunded) AS refunded")
    };
    Ok(diesel::sql_query(format!(
        "SELECT {key} AS key, {label} AS label, sum(s.orders)::bigint AS orders, {amounts}, sum(s.net) AS net
         FROM {table} s LEFT JOIN stores st ON st.id = s.store_id
         WHERE s.day BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR s.store_id = $3)
         GROUP BY 1 ORDER BY 1"
    ))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Nullable<SqlUuid>, _>(store)
    .load(conn)?)
}

/// Live customers per lifecycle stage on `day` (prospects have no orders).
pub fn lifecycle(conn: &mut PgConnection, day: NaiveDate) -> ApiResult<Vec<KeyCount>> {
    let stage = activity::stage_of_sql("f", "$1::date");
    Ok(diesel::sql_query(format!(
        "SELECT CASE WHEN f.first_order_on IS NULL THEN 'prospect' ELSE {stage} END AS key, count(*) AS count
         FROM customer_facts f GROUP BY 1 ORDER BY 1"
    ))
    .bind::<Date, _>(day)
    .load(conn)?)
}

#[derive(Debug, QueryableByName)]
pub struct AtRisk {
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Date)]
    pub last_order_on: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub orders_last_90: i64,
    #[diesel(sql_type = BigInt)]
    pub orders_prior_90: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub usual_interval_days: Option<Decimal>,
}

/// Live customers at risk of churning on `day` (either reason of `rules::churn_reasons`), longest
/// away first, after the keyset `after` (last order day, id); at most `limit`.
pub fn churn_risk(
    conn: &mut PgConnection, day: NaiveDate, after: Option<(NaiveDate, Uuid)>, limit: i64,
) -> ApiResult<Vec<AtRisk>> {
    let w = crate::customers::lifecycle::CHURN_WINDOW_DAYS;
    let last = activity::orders_between_sql("a", &format!("($1::date - {w})"), "$1::date");
    let prior = activity::orders_between_sql("a", &format!("($1::date - {})", 2 * w), &format!("($1::date - {w})"));
    let at_risk = super::rules::churn_sql(&last, &prior, "($1::date - a.last_order_on)", "a.usual_interval_days");
    let horizon = super::rules::CHURN_HORIZON_DAYS;
    let (after_day, after_id) = after.map_or((None, None), |(d, id)| (Some(d), Some(id)));
    let active = CustomerStatus::Active.as_str();
    Ok(diesel::sql_query(format!(
        "SELECT a.customer_id, c.name, a.last_order_on, {last}::bigint AS orders_last_90,
                {prior}::bigint AS orders_prior_90, a.usual_interval_days
         FROM customer_activity a JOIN customers c ON c.id = a.customer_id AND c.status = '{active}'
         WHERE a.last_order_on > $1::date - {horizon} AND a.last_order_on <= $1::date AND {at_risk}
           AND ($2::date IS NULL OR (a.last_order_on, a.customer_id) > ($2::date, $3::uuid))
         ORDER BY a.last_order_on, a.customer_id
         LIMIT $4"
    ))
    .bind::<Date, _>(day)
    .bind::<Nullable<Date>, _>(after_day)
    .bind::<Nullable<SqlUuid>, _>(after_id)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

#[derive(Debug, QueryableByName)]
pub struct Repurchase {
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = BigInt)]
    pub customers: i64,
    #[diesel(sql_type = BigInt)]
    pub intervals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub median_days: Option<Decimal>,
}

/// Per category (or one), the median days between a customer's distinct buying days in it, over
/// every customer who bought it on two days or more.
pub fn repurchase(conn: &mut PgConnection, category: Option<&str>) -> ApiResult<Vec<Repurchase>> {
    Ok(diesel::sql_query(
        // Each category's gaps as a histogram (days are whole: a few hundred values), then the
        // median read off its running counts: no sort of millions of gaps. The median of n gaps is
        // the mean of the ⌊(n+1)/2⌋-th and the (⌊n/2⌋+1)-th, as percentile_cont(0.5) has it.
        "WITH histogram AS (
             SELECT cc.category, cc.bought_days[i] - cc.bought_days[i - 1] AS gap, count(*) AS n,
                    count(*) FILTER (WHERE i = 2) AS customers
             FROM customer_categories cc, generate_subscripts(cc.bought_days, 1) i
             WHERE i > 1 AND ($1::text IS NULL OR cc.category = $1)
             GROUP BY 1, 2),
         running AS (
             SELECT category, gap, customers, (sum(n) OVER (PARTITION BY category ORDER BY gap))::bigint AS upto,
                    (sum(n) OVER (PARTITION BY category))::bigint AS total
             FROM histogram)
         SELECT category, sum(customers)::bigint AS customers, max(total)::bigint AS intervals,
                round((min(gap) FILTER (WHERE upto >= (total + 1) / 2)
                       + min(gap) FILTER (WHERE upto >= total / 2 + 1)) / 2.0, 1) AS median_days
         FROM running GROUP BY category ORDER BY category",
    )
    .bind::<Nullable<Text>, _>(category)
    .load(conn)?)
}

/// Net sales of `category` per month from `from` (a month's first day) up to `to` (excluded).
pub fn category_months(
    conn: &mut PgConnection, category: &str, from: NaiveDate, to: NaiveDate,
) -> ApiResult<Vec<super::rules::MonthSales>> {
    #[derive(QueryableByName)]
    struct Month {
        #[diesel(sql_type = Date)]
        month: NaiveDate,
        #[diesel(sql_type = Numeric)]
        net: Decimal,
    }
    let months: Vec<Month> = diesel::sql_query(
        "SELECT date_trunc('month', day)::date AS month, sum(net) AS net FROM category_sales_daily
         WHERE category = $1 AND day >= $2 AND day < $3 GROUP BY 1 ORDER BY 1",
    )
    .bind::<Text, _>(category)
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .load(conn)?;
    Ok(months.into_iter().map(|m| super::rules::MonthSales { month: m.month, net: m.net }).collect())
}

/// Members per tier now, with the tier's name.
pub fn members_by_tier(conn: &mut PgConnection) -> ApiResult<Vec<KeyCount>> {
    Ok(diesel::sql_query(
        "SELECT t.code AS key, count(m.customer_id) AS count
         FROM tiers t LEFT JOIN memberships m ON m.tier_code = t.code
         GROUP BY t.code, t.rank ORDER BY t.rank",
    )
    .load(conn)?)
}

/// Members enrolled per `unit` (`day`, `week`, `month`) in business days `from..=to`.
pub fn member_growth(
    conn: &mut PgConnection, from: NaiveDate, to: NaiveDate, unit: &str, tz: Tz,
) -> ApiResult<Vec<KeyCount>> {
    Ok(diesel::sql_query(
        "SELECT date_trunc($3, (enrolled_at AT TIME ZONE $4)::date)::date::text AS key, count(*) AS count
         FROM memberships
         WHERE enrolled_at >= ($1::timestamp AT TIME ZONE $4) AND enrolled_at < (($2 + 1)::timestamp AT TIME ZONE $4)
         GROUP BY 1 ORDER BY 1",
    )
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Text, _>(unit)
    .bind::<Text, _>(tz.name())
    .load(conn)?)
}

#[derive(Debug, QueryableByName)]
pub struct Buyers {
    #[diesel(sql_type = BigInt)]
    pub buying: i64,
    #[diesel(sql_type = BigInt)]
    pub repeat: i64,
}

/// Members with a counted order in business days `from..=to`, and those with two or more.
pub fn member_buyers(conn: &mut PgConnection, from: NaiveDate, to: NaiveDate) -> ApiResult<Buyers> {
    let orders = activity::orders_between_sql("a", "($1::date - 1)", "$2::date");
    Ok(diesel::sql_query(format!(
        "SELECT count(*) FILTER (WHERE n >= 1) AS buying, count(*) FILTER (WHERE n >= 2) AS repeat
         FROM (SELECT {orders} AS n FROM memberships m JOIN customer_activity a ON a.customer_id = m.customer_id
               WHERE a.last_order_on >= $1) x"
    ))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .get_result(conn)?)
}
