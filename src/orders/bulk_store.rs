//! Historical orders written thousands at a time (the CSV import without `--earn-points`): one
//! statement stores the batch's new orders with their lines and `order.created` events, each only
//! if its natural key `(channel, store_id, external_id)` is new; another reads back the orders whose
//! key was taken, so the caller can tell a re-import (the same order: unchanged) from another order
//! under a reused number (a conflict).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::store::{self, Line, Order};
use crate::db::CachedSql;
use crate::error::ApiResult;

/// An order as the channel priced it (`pricing: external`), earning and redeeming nothing: what a
/// migration stores of the years before the CRM.
#[derive(Debug, Clone)]
pub struct HistoricalOrder {
    pub id: Uuid,
    pub external_id: String,
    pub channel: String,
    pub store_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub total_amount: Decimal,
    pub paid_amount: Decimal,
    /// Lines with `order_id` = `id`, `line_no` from 1; may be empty.
    pub lines: Vec<Line>,
}

impl HistoricalOrder {
    /// `order.created` as a sale writes it (no points).
    pub fn created_event(&self) -> crate::events::Pending {
        super::created_event(self.id, self.customer_id, &self.channel, self.store_id, self.paid_amount, 0, 0)
    }
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Stores the orders whose natural key is new, with their lines and events; returns their ids.
/// Two orders of the batch under one key: the first is stored.
pub fn insert_new(conn: &mut PgConnection, orders: &[HistoricalOrder]) -> ApiResult<HashSet<Uuid>> {
    if orders.is_empty() {
        return Ok(HashSet::new());
    }
    fn column<'a, T, U>(items: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
        items.iter().map(f).collect()
    }
    let lines: Vec<&Line> = orders.iter().flat_map(|o| &o.lines).collect();
    let events: Vec<_> = orders.iter().map(HistoricalOrder::created_event).collect();
    let (event_ids, event_types, event_subjects, event_data) = crate::events::as_columns(&events);
    let inserted: Vec<Inserted> = CachedSql::new(
        "WITH o AS ( \
             INSERT INTO orders (id, external_id, channel, store_id, customer_id, occurred_at, pricing, \
                 total_amount, paid_amount) \
             SELECT n.id, n.external_id, n.channel, n.store_id, n.customer_id, n.occurred_at, 'external', \
                 n.total_amount, n.paid_amount \
             FROM unnest(?::uuid[], ?::text[], ?::text[], ?::uuid[], ?::uuid[], ?::timestamptz[], ?::numeric[], \
                 ?::numeric[]) AS n(id, external_id, channel, store_id, customer_id, occurred_at, total_amount, \
                 paid_amount) \
             ON CONFLICT ON CONSTRAINT orders_natural_key DO NOTHING RETURNING id), \
         lines AS ( \
             INSERT INTO order_lines (order_id, line_no, sku, name, category, quantity, unit_price, amount, \
                 discounted_amount) \
             SELECT l.order_id, l.line_no, l.sku, l.name, l.category, l.quantity, l.unit_price, l.amount, l.amount \
             FROM unnest(?::uuid[], ?::int[], ?::text[], ?::text[], ?::text[], ?::int[], ?::numeric[], \
                 ?::numeric[]) AS l(order_id, line_no, sku, name, category, quantity, unit_price, amount) \
             WHERE l.order_id IN (SELECT id FROM o)), \
         events AS ( \
             INSERT INTO events (id, type, occurred_at, subject_id, data) \
             SELECT e.id, e.type, CURRENT_TIMESTAMP, e.subject_id, e.data \
             FROM unnest(?::uuid[], ?::text[], ?::uuid[], ?::jsonb[], ?::uuid[]) \
                 AS e(id, type, subject_id, data, order_id) \
             WHERE e.order_id IN (SELECT id FROM o)) \
         SELECT id FROM o",
    )
    .bind::<Array<SqlUuid>, _>(column(orders, |o| o.id))
    .bind::<Array<Text>, _>(column(orders, |o| o.external_id.as_str()))
    .bind::<Array<Text>, _>(column(orders, |o| o.channel.as_str()))
    .bind::<Array<Nullable<SqlUuid>>, _>(column(orders, |o| o.store_id))
    .bind::<Array<Nullable<SqlUuid>>, _>(column(orders, |o| o.customer_id))
    .bind::<Array<Timestamptz>, _>(column(orders, |o| o.occurred_at))
    .bind::<Array<Numeric>, _>(column(orders, |o| o.total_amount))
    .bind::<Array<Numeric>, _>(column(orders, |o| o.paid_amount))
    .bind::<Array<SqlUuid>, _>(column(&lines, |l| l.order_id))
    .bind::<Array<Integer>, _>(column(&lines, |l| l.line_no))
    .bind::<Array<Text>, _>(column(&lines, |l| l.sku.as_str()))
    .bind::<Array<Nullable<Text>>, _>(column(&lines, |l| l.name.as_deref()))
    .bind::<Array<Nullable<Text>>, _>(column(&lines, |l| l.category.as_deref()))
    .bind::<Array<Integer>, _>(column(&lines, |l| l.quantity))
    .bind::<Array<Numeric>, _>(column(&lines, |l| l.unit_price))
    .bind::<Array<Numeric>, _>(column(&lines, |l| l.amount))
    .bind::<Array<SqlUuid>, _>(&event_ids)
    .bind::<Array<Text>, _>(&event_types)
    .bind::<Array<Nullable<SqlUuid>>, _>(&event_subjects)
    .bind::<Array<Jsonb>, _>(&event_data)
    .bind::<Array<SqlUuid>, _>(column(orders, |o| o.id))
    .load(conn)?;
    Ok(inserted.into_iter().map(|r| r.id).collect())
}

/// The stored orders under these natural keys `(channel, store_id, external_id)`, with their lines.
/// Keys with and without a store are looked up apart, so each finds its order through the key's index.
pub fn by_natural_keys(
    conn: &mut PgConnection,
    keys: &[(&str, Option<Uuid>, &str)],
) -> ApiResult<Vec<(Order, Vec<Line>)>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let at_store: Vec<_> = keys.iter().filter(|k| k.1.is_some()).collect();
    let no_store: Vec<_> = keys.iter().filter(|k| k.1.is_none()).collect();
    let orders: Vec<Order> = CachedSql::new(
        "SELECT o.* FROM unnest(?::text[], ?::uuid[], ?::text[]) AS k(channel, store_id, external_id) \
         JOIN orders o ON o.channel = k.channel AND o.store_id = k.store_id AND o.external_id = k.external_id \
         UNION ALL \
         SELECT o.* FROM unnest(?::text[], ?::text[]) AS k(channel, external_id) \
         JOIN orders o ON o.channel = k.channel AND o.store_id IS NULL AND o.external_id = k.external_id",
    )
    .bind::<Array<Text>, _>(at_store.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(at_store.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(at_store.iter().map(|k| k.2).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(no_store.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(no_store.iter().map(|k| k.2).collect::<Vec<_>>())
    .load(conn)?;
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let mut lines: HashMap<Uuid, Vec<Line>> = HashMap::new();
    for line in store::lines_of(conn, &ids)? {
        lines.entry(line.order_id).or_default().push(line);
    }
    // A key asked for twice finds its order twice: each gets the lines.
    Ok(orders
        .into_iter()
        .map(|o| {
            let mine = lines.get(&o.id).cloned().unwrap_or_default();
            (o, mine)
        })
        .collect())
}
