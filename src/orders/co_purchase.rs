//! Item-to-item co-purchase (推荐引擎, SPEC §13): for each pair of categories, and of SKUs, bought in
//! one counted order (not fully refunded; lines not wholly returned and not ¥0), in how many orders.
//!
//! A follower of the outbox keeps `co_purchases`: `order_baskets` holds what each order currently
//! contributes, so an event about an order takes its old pairs away and adds its new ones — the
//! table always equals a count over every order's basket from scratch.
//!
//! Recommendations for a customer score each item by how often it was bought together with what
//! the customer bought, leaving out what they bought recently.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Integer, Text, Uuid as SqlUuid};
use uuid::Uuid;

use crate::error::ApiResult;

const FOLLOWER: &str = "co_purchase";
const EVENT_TYPES: &[&str] = &["order.created", "order.refunded"];
/// An order with more distinct items than this says nothing about what goes together (a
/// wholesale or office order): it adds no pairs of that kind.
pub const MAX_BASKET_ITEMS: i32 = 50;
/// What "bought recently" means for recommendations: not recommended again within these days.
pub const RECENT_DAYS: i32 = 30;

/// What each order contributes now, from its lines (the same rule as the follower's baskets).
const BASKETS: &str = "
    SELECT o.id AS order_id,
           coalesce(array_agg(DISTINCT l.category ORDER BY l.category) FILTER (WHERE l.category IS NOT NULL), '{}') AS categories,
           array_agg(DISTINCT l.sku ORDER BY l.sku) AS skus
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    WHERE l.quantity > l.refunded_quantity AND l.amount > 0
      AND NOT (o.paid_amount > 0 AND o.refunded_amount >= o.paid_amount) AND {orders}
    GROUP BY o.id";

/// The pairs of a set of baskets (`b`: categories, skus), both ways round.
const PAIRS: &str = "
    SELECT 'category' AS kind, a.item, o.item AS other, count(*)::int AS orders
    FROM {baskets} b, unnest(b.categories) a(item), unnest(b.categories) o(item)
    WHERE a.item <> o.item AND cardinality(b.categories) <= {max}
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'sku', a.item, o.item, count(*)::int
    FROM {baskets} b, unnest(b.skus) a(item), unnest(b.skus) o(item)
    WHERE a.item <> o.item AND cardinality(b.skus) <= {max}
    GROUP BY 1, 2, 3";

fn baskets_sql(orders: &str) -> String {
    BASKETS.replace("{orders}", orders)
}

fn pairs_sql(baskets: &str) -> String {
    PAIRS.replace("{baskets}", baskets).replace("{max}", &MAX_BASKET_ITEMS.to_string())
}

/// Recomputes what `orders` contribute: their old pairs out, their new baskets and pairs in.
pub fn refresh(conn: &mut PgConnection, orders: &[Uuid]) -> ApiResult<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let old = pairs_sql("(SELECT * FROM order_baskets WHERE order_id = ANY($1))");
    diesel::sql_query(format!(
        "UPDATE co_purchases c SET orders = c.orders - p.orders FROM ({old}) p
         WHERE c.kind = p.kind AND c.item = p.item AND c.other = p.other"
    ))
    .bind::<Array<SqlUuid>, _>(orders)
    .execute(conn)?;
    diesel::sql_query("DELETE FROM co_purchases WHERE orders = 0").execute(conn)?;
    diesel::sql_query("DELETE FROM order_baskets WHERE order_id = ANY($1)")
        .bind::<Array<SqlUuid>, _>(orders)
        .execute(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO order_baskets (order_id, categories, skus) {}",
        baskets_sql("o.id = ANY($1)")
    ))
    .bind::<Array<SqlUuid>, _>(orders)
    .execute(conn)?;
    let new = pairs_sql("(SELECT * FROM order_baskets WHERE order_id = ANY($1))");
    diesel::sql_query(format!(
        "INSERT INTO co_purchases (kind, item, other, orders) {new}
         ON CONFLICT (kind, item, other) DO UPDATE SET orders = co_purchases.orders + excluded.orders"
    ))
    .bind::<Array<SqlUuid>, _>(orders)
    .execute(conn)?;
    Ok(())
}

/// Brings the co-purchase counts up to the end of the feed. Returns how many orders were refreshed.
pub fn follow(conn: &mut PgConnection) -> ApiResult<i64> {
    crate::events::follower::follow(conn, FOLLOWER, EVENT_TYPES, |conn, events| {
        let orders = crate::events::follower::ids(events, |e| vec![e.data_id("order_id")]);
        refresh(conn, &orders)?;
        Ok(orders.len() as i64)
    })
}

/// The follower as a minute sweep (`jobs::SWEEPS`).
pub fn sweep(conn: &mut PgConnection, _now: chrono::DateTime<chrono::Utc>, _tz: chrono_tz::Tz) -> ApiResult<i64> {
    follow(conn)
}

/// Empties both tables and fills them from every order (`follower::rebuild`).
pub fn rebuild(conn: &mut PgConnection) -> ApiResult<()> {
    crate::events::follower::rebuild(conn, FOLLOWER, |conn| {
        diesel::sql_query("TRUNCATE order_baskets, co_purchases").execute(conn)?;
        diesel::sql_query(format!("INSERT INTO order_baskets (order_id, categories, skus) {}", baskets_sql("true")))
            .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO co_purchases (kind, item, other, orders) {}",
            pairs_sql("order_baskets")
        ))
        .execute(conn)?;
        Ok(())
    })
}

/// Rows of `co_purchases` and `order_baskets` that differ from a recomputation from every order:
/// zero when the follower has kept them exactly.
pub fn differences(conn: &mut PgConnection) -> ApiResult<i64> {
    let baskets = baskets_sql("true");
    let pairs = pairs_sql(&format!("({baskets})"));
    let kept_pairs = "SELECT kind, item, other, orders FROM co_purchases";
    let kept_baskets = "SELECT order_id, categories, skus FROM order_baskets";
    Ok(crate::db::rows_differing(conn, kept_pairs, &pairs)? + crate::db::rows_differing(conn, kept_baskets, &baskets)?)
}

/// Co-purchase counts by item, for the items asked about: `item → [(other, orders)]`.
pub type Matrix = HashMap<String, Vec<(String, i64)>>;

/// The pairs of `kind` (`category` or `sku`) whose first item is one of `items`; all of them when
/// `items` is `None` (the category matrix is small enough for a campaign to hold).
pub fn matrix(conn: &mut PgConnection, kind: &str, items: Option<&[String]>) -> ApiResult<Matrix> {
    #[derive(QueryableByName)]
    struct Pair {
        #[diesel(sql_type = Text)]
        item: String,
        #[diesel(sql_type = Text)]
        other: String,
        #[diesel(sql_type = Integer)]
        orders: i32,
    }
    let pairs: Vec<Pair> = match items {
        Some(items) => {
            diesel::sql_query("SELECT item, other, orders FROM co_purchases WHERE kind = $1 AND item = ANY($2)")
                .bind::<Text, _>(kind)
                .bind::<Array<Text>, _>(items)
                .load(conn)?
        }
        None => diesel::sql_query("SELECT item, other, orders FROM co_purchases WHERE kind = $1")
            .bind::<Text, _>(kind)
            .load(conn)?,
    };
    let mut out = Matrix::new();
    for p in pairs {
        out.entry(p.item).or_default().push((p.other, i64::from(p.orders)));
    }
    Ok(out)
}

/// The items most often bought together with what the customer bought, leaving out what they
/// bought recently; ties by name. Each item's score is the sum of its co-purchase counts.
pub fn recommend(bought: &[String], bought_recently: &[String], matrix: &Matrix, n: usize) -> Vec<(String, i64)> {
    let mut score: HashMap<&str, i64> = HashMap::new();
    for item in bought {
        for (other, orders) in matrix.get(item).map(Vec::as_slice).unwrap_or_default() {
            if !bought_recently.contains(other) {
                *score.entry(other.as_str()).or_default() += orders;
            }
        }
    }
    let mut ranked: Vec<(&str, i64)> = score.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.into_iter().take(n).map(|(item, s)| (item.to_string(), s)).collect()
}

/// What a customer bought, by kind: everything in counted orders, and what of it since `since`.
#[derive(Debug, Default, Clone, QueryableByName)]
pub struct Bought {
    #[diesel(sql_type = Array<Text>)]
    pub categories: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub categories_recently: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub skus: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub skus_recently: Vec<String>,
}

/// What `customer` bought, and what of it on or after `since` (a business day in `tz`).
pub fn bought(conn: &mut PgConnection, customer: Uuid, since: NaiveDate, tz: chrono_tz::Tz) -> ApiResult<Bought> {
    Ok(diesel::sql_query(
        "WITH lines AS (
             SELECT l.category, l.sku, (o.occurred_at AT TIME ZONE $3)::date >= $2 AS recent
             FROM orders o JOIN order_lines l ON l.order_id = o.id
             WHERE o.customer_id = $1 AND l.quantity > l.refunded_quantity AND l.amount > 0
               AND NOT (o.paid_amount > 0 AND o.refunded_amount >= o.paid_amount))
         SELECT ARRAY(SELECT DISTINCT category FROM lines WHERE category IS NOT NULL ORDER BY 1) AS categories,
                ARRAY(SELECT DISTINCT category FROM lines WHERE category IS NOT NULL AND recent ORDER BY 1) AS categories_recently,
                ARRAY(SELECT DISTINCT sku FROM lines ORDER BY 1) AS skus,
                ARRAY(SELECT DISTINCT sku FROM lines WHERE recent ORDER BY 1) AS skus_recently",
    )
    .bind::<SqlUuid, _>(customer)
    .bind::<Date, _>(since)
    .bind::<Text, _>(tz.name())
    .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix_of(rows: &[(&str, &str, i64)]) -> Matrix {
        let mut m = Matrix::new();
        for (a, b, n) in rows {
            m.entry(a.to_string()).or_default().push((b.to_string(), *n));
        }
        m
    }

    #[test]
    fn recommendations_rank_co_purchases_and_leave_out_recent_buys() {
        let matrix = matrix_of(&[
            ("童装", "玩具", 40),
            ("童装", "鞋", 30),
            ("童装", "女装", 10),
            ("女装", "鞋", 5),
            ("女装", "童装", 10),
            ("女装", "玩具", 1),
        ]);
        let bought = vec!["童装".to_string(), "女装".to_string()];
        let names = |r: Vec<(String, i64)>| r.into_iter().map(|(c, _)| c).collect::<Vec<_>>();
        assert_eq!(
            recommend(&bought, &[], &matrix, 3),
            vec![("玩具".into(), 41), ("鞋".into(), 35), ("女装".into(), 10)]
        );
        assert_eq!(names(recommend(&bought, &["鞋".to_string()], &matrix, 3)), vec!["玩具", "女装", "童装"]);
        assert!(recommend(&[], &[], &matrix, 3).is_empty());
    }
}
