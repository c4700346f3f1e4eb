//! Orders from every channel as records: their rows, the pricing rules, and reading them back.
//! Posting and refunding them is the sales use case (`src/sales/`).

pub mod api;
pub mod bulk_store;
pub mod co_purchase;
pub mod rules;
pub mod store;

use crate::ids::{CustomerId, OrderId, StoreId};
use crate::stores::SalesChannel;

/// `order.created`: ids, channel, amounts and points — no personal data (SPEC §5).
pub fn created_event(
    order_id: OrderId, customer: Option<CustomerId>, channel: SalesChannel, store_id: Option<StoreId>,
    paid_amount: rust_decimal::Decimal, points_earned: i64, points_redeemed: i64,
) -> crate::events::Pending {
    use crate::events::types::{EventData, OrderCreated};
    let created = OrderCreated {
        points_earned,
        points_redeemed,
        ..OrderCreated::new(order_id.uuid(), channel.as_str(), store_id.map(Into::into), paid_amount)
    };
    (customer.map(Into::into), EventData::OrderCreated(created))
}
