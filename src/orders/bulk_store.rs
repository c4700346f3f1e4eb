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
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::stores::SalesChannel;

/// An order as the channel priced it (`pricing: external`), earning and redeeming nothing: what a
/// migration stores of the years before the CRM.
#[derive(Debug, Clone)]
pub struct HistoricalOrder {
    pub id: Uuid,
    pub external_id: String,
    pub channel: SalesChannel,
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
        let (id, customer, store) = (OrderId(self.id), self.customer_id.map(CustomerId), self.store_id.map(StoreId));
        super::created_event(id, customer, self.channel, store, self.paid_amount, 0, 0)
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
    let events: Vec<_> = orders.iter().map(HistoricalOrder::created_event).collect();
    let events = crate::events::as_columns(&events);
    let inserted: Vec<Inserted> = insert_new_statement(orders, &events).load(conn)?;
    Ok(inserted.into_iter().map(|r| r.id).collect())
}

/// `insert_historical.sql` with every parameter bound by its name; `events` are the orders'
/// `order.created`, one per order in the same order.
fn insert_new_statement<'a>(
    orders: &'a [HistoricalOrder], events: &'a crate::events::EventColumns,
) -> impl diesel::query_dsl::LoadQuery<'a, PgConnection, Inserted> + crate::db::cached_sql::Binds + 'a {
    fn column<'a, T, U>(items: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
        items.iter().map(f).collect()
    }
    let lines: Vec<&'a Line> = orders.iter().flat_map(|o| &o.lines).collect();
    CachedSql::new(include_str!("insert_historical.sql"))
        .param::<Array<SqlUuid>, _>("ids", column(orders, |o| o.id))
        .param::<Array<Text>, _>("external_ids", column(orders, |o| o.external_id.as_str()))
        .param::<Array<Text>, _>("channels", column(orders, |o| o.channel.as_str()))
        .param::<Array<Nullable<SqlUuid>>, _>("store_ids", column(orders, |o| o.store_id))
        .param::<Array<Nullable<SqlUuid>>, _>("customer_ids", column(orders, |o| o.customer_id))
        .param::<Array<Timestamptz>, _>("occurred_ats", column(orders, |o| o.occurred_at))
        .param::<Array<Numeric>, _>("total_amounts", column(orders, |o| o.total_amount))
        .param::<Array<Numeric>, _>("paid_amounts", column(orders, |o| o.paid_amount))
        .param::<Text, _>("pricing", super::rules::PricingMode::External)
        .param::<Array<SqlUuid>, _>("line_order_ids", column(&lines, |l| l.order_id))
        .param::<Array<Integer>, _>("line_nos", column(&lines, |l| l.line_no))
        .param::<Array<Text>, _>("line_skus", column(&lines, |l| l.sku.as_str()))
        .param::<Array<Nullable<Text>>, _>("line_names", column(&lines, |l| l.name.as_deref()))
        .param::<Array<Nullable<Text>>, _>("line_categories", column(&lines, |l| l.category.as_deref()))
        .param::<Array<Integer>, _>("line_quantities", column(&lines, |l| l.quantity))
        .param::<Array<Numeric>, _>("line_unit_prices", column(&lines, |l| l.unit_price))
        .param::<Array<Numeric>, _>("line_amounts", column(&lines, |l| l.amount))
        .param::<Array<SqlUuid>, _>("event_ids", &events.0)
        .param::<Array<Text>, _>("event_types", &events.1)
        .param::<Array<Nullable<SqlUuid>>, _>("event_subjects", &events.2)
        .param::<Array<Jsonb>, _>("event_data", &events.3)
}

/// The stored orders under these natural keys `(channel, store_id, external_id)`, with their lines.
/// Keys with and without a store are looked up apart, so each finds its order through the key's index.
pub fn by_natural_keys(
    conn: &mut PgConnection, keys: &[(&str, Option<Uuid>, &str)],
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
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id.uuid()).collect();
    let mut lines: HashMap<Uuid, Vec<Line>> = HashMap::new();
    for line in store::lines_of(conn, &ids)? {
        lines.entry(line.order_id).or_default().push(line);
    }
    // A key asked for twice finds its order twice: each gets the lines.
    Ok(orders
        .into_iter()
        .map(|o| {
            let mine = lines.get(&o.id.uuid()).cloned().unwrap_or_default();
            (o, mine)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_historical_orders_bind_each_parameter_by_name() {
        let id = Uuid::now_v7();
        let line = Line {
            order_id: id,
            line_no: 1,
            sku: "SKU-1".into(),
            name: None,
            category: None,
            quantity: 1,
            unit_price: Decimal::ONE,
            amount: Decimal::ONE,
            discounted_amount: Decimal::ONE,
            refunded_quantity: 0,
            tier_discount: Decimal::ZERO,
            coupon_discount: Decimal::ZERO,
        };
        let order = HistoricalOrder {
            id,
            external_id: "H-1".into(),
            channel: SalesChannel::Pos,
            store_id: None,
            customer_id: None,
            occurred_at: chrono::DateTime::UNIX_EPOCH,
            total_amount: Decimal::ONE,
            paid_amount: Decimal::ONE,
            lines: vec![line],
        };
        let orders = [order];
        let events = crate::events::as_columns(&[orders[0].created_event()]);
        assert_eq!(crate::db::cached_sql::verify(&insert_new_statement(&orders, &events)), Ok(()));
    }
}
