//! Reading orders back: one order, the finders, and an order's refunds. Posting a sale or a refund
//! is the sales use case's (`src/sales/`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{Line, Order};

mod read;
mod refunds;

pub use refunds::RefundView;

// Problem responses several operations name.
crate::problem_response!(pub OrderNotFound = 404, "`order_not_found` (also another store's order, for a store-bound principal)");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(read::list_orders).service(read::get_order).service(refunds::list_refunds);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"line_no": 1, "sku": "W-DRESS-001", "name": "连衣裙", "category": "女装", "quantity": 1,
    "unit_price": "299.00", "amount": "299.00", "tier_discount": "14.95", "coupon_discount": "0.00", "discounted_amount": "284.05", "refunded_quantity": 0}))]
pub struct LineView {
    line_no: i32,
    sku: String,
    name: Option<String>,
    category: Option<String>,
    quantity: i32,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    unit_price: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    amount: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    tier_discount: Decimal,
    /// This line's share of the coupons' discount.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    coupon_discount: Decimal,
    /// After the tier discount and coupons (points come off the order total).
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    discounted_amount: Decimal,
    refunded_quantity: i32,
}

impl From<Line> for LineView {
    fn from(l: Line) -> Self {
        LineView {
            line_no: l.line_no,
            sku: l.sku,
            name: l.name,
            category: l.category,
            quantity: l.quantity,
            unit_price: l.unit_price,
            amount: l.amount,
            tier_discount: l.tier_discount,
            coupon_discount: l.coupon_discount,
            discounted_amount: l.discounted_amount,
            refunded_quantity: l.refunded_quantity,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "external_id": "BJ-CY-01-20261123-000123",
    "channel": "pos", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "occurred_at": "2026-11-23T08:00:00Z", "pricing": "crm", "lines": [], "total_amount": "299.00", "tier_discount": "14.95",
    "coupon_discount": "0.00", "coupon_codes": [], "reservation_id": null, "points_redeemed": 0, "points_offset": "0.00", "paid_amount": "284.05", "refunded_amount": "0.00",
    "points_earned": 284, "points_balance": 1284, "tier": "silver", "tier_changed": false, "created_at": "2026-11-23T08:00:01Z"}))]
pub struct OrderView {
    id: Uuid,
    external_id: String,
    channel: String,
    store_id: Option<Uuid>,
    customer_id: Option<Uuid>,
    occurred_at: DateTime<Utc>,
    pricing: crate::orders::rules::PricingMode,
    lines: Vec<LineView>,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    total_amount: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    tier_discount: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    coupon_discount: Decimal,
    /// The coupons this order redeemed.
    coupon_codes: Vec<String>,
    /// The checkout reservation it consumed.
    reservation_id: Option<Uuid>,
    points_redeemed: i64,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    points_offset: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    paid_amount: Decimal,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String)]
    refunded_amount: Decimal,
    points_earned: i64,
    /// The member's points balance right after this order (null for guests and non-members).
    points_balance: Option<i64>,
    /// The member's tier after this order.
    tier: Option<String>,
    /// True when this order upgraded the member.
    tier_changed: bool,
    created_at: DateTime<Utc>,
}

impl OrderView {
    pub fn build(o: Order, lines: Vec<Line>) -> OrderView {
        OrderView {
            id: o.id.uuid(),
            external_id: o.external_id,
            channel: o.channel.to_string(),
            store_id: o.store_id.map(Into::into),
            customer_id: o.customer_id.map(Into::into),
            occurred_at: o.occurred_at,
            pricing: o.pricing,
            lines: lines.into_iter().map(Into::into).collect(),
            total_amount: o.total_amount,
            tier_discount: o.tier_discount,
            coupon_discount: o.coupon_discount,
            coupon_codes: o.coupon_codes,
            reservation_id: o.reservation_id,
            points_redeemed: o.points_redeemed,
            points_offset: o.points_offset,
            paid_amount: o.paid_amount,
            refunded_amount: o.refunded_amount,
            points_earned: o.points_earned,
            points_balance: o.points_balance_after,
            tier: o.tier_after,
            tier_changed: o.tier_changed,
            created_at: o.created_at,
        }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Where the finders' next page starts.
    pub(super) fn cursor(&self) -> String {
        crate::orders::store::OrderCursor { occurred_at: self.occurred_at, id: self.id }.to_string()
    }
}
