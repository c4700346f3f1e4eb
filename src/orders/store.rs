//! Order SQL.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::schema::{order_lines as ol, orders as o, refunds as r};
use crate::stores::SalesChannel;

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = o)]
pub struct Order {
    pub id: OrderId,
    pub external_id: String,
    pub channel: SalesChannel,
    pub store_id: Option<StoreId>,
    pub customer_id: Option<CustomerId>,
    pub occurred_at: DateTime<Utc>,
    pub pricing: super::rules::PricingMode,
    pub total_amount: Decimal,
    pub tier_discount: Decimal,
    pub coupon_discount: Decimal,
    pub points_redeemed: i64,
    pub points_offset: Decimal,
    pub paid_amount: Decimal,
    pub refunded_amount: Decimal,
    pub points_earned: i64,
    pub points_clawed_back: i64,
    pub points_returned: i64,
    pub earn_rate: Decimal,
    pub points_multiplier: Decimal,
    pub tier_code: Option<String>,
    pub tier_after: Option<String>,
    pub tier_changed: bool,
    pub points_balance_after: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub coupon_codes: Vec<String>,
    pub reservation_id: Option<Uuid>,
    /// What a cluster distributes the order by (SPEC §16): the customer it was sold to, or the
    /// order itself for a guest. Fixed when written; a merge moves `customer_id` only.
    pub owner_id: Uuid,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ol)]
pub struct Line {
    pub order_id: Uuid,
    pub line_no: i32,
    pub sku: String,
    pub name: Option<String>,
    pub category: Option<String>,
    pub quantity: i32,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub discounted_amount: Decimal,
    pub refunded_quantity: i32,
    pub tier_discount: Decimal,
    pub coupon_discount: Decimal,
}

/// Everything an order records once it is priced and posted.
#[derive(Debug)]
pub struct Outcome {
    pub pricing: super::rules::PricingMode,
    pub total_amount: Decimal,
    pub tier_discount: Decimal,
    pub coupon_discount: Decimal,
    pub points_redeemed: i64,
    pub points_offset: Decimal,
    pub paid_amount: Decimal,
    pub points_earned: i64,
    pub earn_rate: Decimal,
    pub points_multiplier: Decimal,
    pub tier_code: Option<String>,
    pub tier_after: Option<String>,
    pub tier_changed: bool,
    pub points_balance_after: Option<i64>,
    pub coupon_codes: Vec<String>,
    pub reservation_id: Option<Uuid>,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("order_not_found", "no order with this id")
}

/// The order with this natural key (a missing store is a value of its own).
pub fn find_by_external(
    conn: &mut PgConnection, channel: SalesChannel, store_id: Option<StoreId>, external_id: &str,
) -> ApiResult<Option<Order>> {
    // `=` or `IS NULL`, not `IS NOT DISTINCT FROM`: the natural-key index serves only these.
    let q = o::table.filter(o::channel.eq(channel)).filter(o::external_id.eq(external_id));
    let q = match store_id {
        Some(store) => q.filter(o::store_id.eq(store)).into_boxed(),
        None => q.filter(o::store_id.is_null()).into_boxed(),
    };
    Ok(q.select(Order::as_select()).first(conn).optional()?)
}

/// An order within `scope`: another store's is not found, exactly like a missing one.
pub fn get_in(conn: &mut PgConnection, id: OrderId, scope: StoreScope) -> ApiResult<Order> {
    let mut q = o::table.filter(o::id.eq(id)).select(Order::as_select()).into_boxed();
    if let Some(store) = scope.only() {
        q = q.filter(o::store_id.eq(store));
    }
    q.first(conn).optional()?.ok_or_else(not_found)
}

/// An order a store-held object links to (a ticket's, a won lead's): 422 on `field` when it does not
/// exist or belongs to another store, worded alike so the answer tells nothing about other stores.
pub fn linkable(conn: &mut PgConnection, id: Uuid, holder: Option<Uuid>, field: &str) -> ApiResult<Uuid> {
    match get_in(conn, OrderId(id), StoreScope::of_holder(holder)) {
        Ok(order) => Ok(order.id.uuid()),
        Err(ApiError::NotFound { .. }) => Err(ApiError::invalid(field, "no order with this id")),
        Err(other) => Err(other),
    }
}

/// Locks an order within `scope` (a refund's first lock).
pub fn lock_in(conn: &mut PgConnection, id: OrderId, scope: StoreScope) -> ApiResult<Order> {
    // Row locks cannot be boxed: one statement per scope.
    let q = o::table.filter(o::id.eq(id)).select(Order::as_select()).for_update();
    match scope.only() {
        Some(store) => q.filter(o::store_id.eq(store)).first(conn),
        None => q.first(conn),
    }
    .optional()?
    .ok_or_else(not_found)
}

pub fn lines(conn: &mut PgConnection, order: OrderId) -> ApiResult<Vec<Line>> {
    Ok(ol::table.filter(ol::order_id.eq(order)).select(Line::as_select()).order(ol::line_no).load(conn)?)
}

/// The lines of several orders in one query, by order then line number.
pub fn lines_of(conn: &mut PgConnection, orders: &[Uuid]) -> ApiResult<Vec<Line>> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    Ok(ol::table
        .filter(ol::order_id.eq_any(orders))
        .select(Line::as_select())
        .order((ol::order_id, ol::line_no))
        .load(conn)?)
}

/// What the order finders filter on; every field left out matches all.
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub channel: Option<String>,
    /// The store asked for, or the principal's own (a store-bound principal never sees others).
    pub store_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub customer_id: Option<Uuid>,
}

/// Where a page of orders, newest first, continues: after this `(occurred_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCursor {
    pub occurred_at: DateTime<Utc>,
    pub id: Uuid,
}

impl std::fmt::Display for OrderCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}|{}", self.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), self.id)
    }
}

impl std::str::FromStr for OrderCursor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (at, id) = s.split_once('|').ok_or(())?;
        Ok(OrderCursor {
            occurred_at: DateTime::parse_from_rfc3339(at).map_err(|_| ())?.with_timezone(&Utc),
            id: id.parse().map_err(|_| ())?,
        })
    }
}

/// Orders matching `filter`, newest sale first (`occurred_at`, then id), after `after`.
pub fn find(
    conn: &mut PgConnection, filter: &OrderFilter, after: Option<OrderCursor>, limit: i64,
) -> ApiResult<Vec<Order>> {
    let mut q =
        o::table.select(Order::as_select()).order((o::occurred_at.desc(), o::id.desc())).limit(limit).into_boxed();
    if let Some(channel) = &filter.channel {
        q = q.filter(o::channel.eq(channel.clone()));
    }
    if let Some(store) = filter.store_id {
        q = q.filter(o::store_id.eq(store));
    }
    if let Some(external_id) = &filter.external_id {
        q = q.filter(o::external_id.eq(external_id.clone()));
    }
    if let Some(customer) = filter.customer_id {
        q = q.filter(o::customer_id.eq(customer));
    }
    if let Some(c) = after {
        q = q.filter(o::occurred_at.lt(c.occurred_at).or(o::occurred_at.eq(c.occurred_at).and(o::id.lt(c.id))));
    }
    Ok(q.load(conn)?)
}

pub fn move_to_customer(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    Ok(diesel::update(o::table.filter(o::customer_id.eq(source))).set(o::customer_id.eq(target)).execute(conn)? as i64)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct Refund {
    pub id: Uuid,
    pub order_id: Uuid,
    pub external_id: String,
    pub amount: Decimal,
    pub lines: Value,
    pub points_clawed_back: i64,
    pub points_returned: i64,
    pub points_balance_after: Option<i64>,
    pub created_at: DateTime<Utc>,
}

pub fn find_refund(conn: &mut PgConnection, order: OrderId, external_id: &str) -> ApiResult<Option<Refund>> {
    Ok(r::table
        .filter(r::order_id.eq(order))
        .filter(r::external_id.eq(external_id))
        .select(Refund::as_select())
        .first(conn)
        .optional()?)
}

pub fn refunds_of(conn: &mut PgConnection, order: Uuid) -> ApiResult<Vec<Refund>> {
    Ok(r::table.filter(r::order_id.eq(order)).select(Refund::as_select()).order(r::created_at).load(conn)?)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_refund(
    conn: &mut PgConnection, id: Uuid, order: &Order, external_id: &str, amount: Decimal, lines: Value, clawed: i64,
    returned: i64, balance_after: Option<i64>, now: DateTime<Utc>,
) -> ApiResult<Refund> {
    diesel::update(o::table.find((order.id, order.owner_id)))
        .set((
            o::refunded_amount.eq(order.refunded_amount + amount),
            o::points_clawed_back.eq(order.points_clawed_back + clawed),
            o::points_returned.eq(order.points_returned + returned),
        ))
        .execute(conn)?;
    Ok(diesel::insert_into(r::table)
        .values((
            r::id.eq(id),
            r::owner_id.eq(order.owner_id),
            r::order_id.eq(order.id),
            r::external_id.eq(external_id),
            r::amount.eq(amount),
            r::lines.eq(lines),
            r::points_clawed_back.eq(clawed),
            r::points_returned.eq(returned),
            r::points_balance_after.eq(balance_after),
            r::created_at.eq(now),
        ))
        .returning(Refund::as_returning())
        .get_result(conn)?)
}

pub fn add_refunded_quantity(conn: &mut PgConnection, order: &Order, line_no: i32, quantity: i32) -> ApiResult<()> {
    diesel::update(ol::table.find((order.id, line_no, order.owner_id)))
        .set(ol::refunded_quantity.eq(ol::refunded_quantity + quantity))
        .execute(conn)?;
    Ok(())
}
