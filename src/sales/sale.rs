//! Posting a sale: everything that moves in one transaction (the use case over customers,
//! memberships, loyalty, coupons, reservations and orders).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::plan::{plan_sale, SaleFacts, SalePlan};
use super::store as sales_store;
use crate::coupons::redeem as coupons;
use crate::coupons::rules::{Presentation, Presented};
use crate::customers::service::CustomerRef;
use crate::error::{ApiError, ApiResult};
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::loyalty::ledger;
use crate::loyalty::program::CatalogueCache;
use crate::loyalty::rules::RedemptionError;
use crate::memberships::store as memberships;
use crate::orders::rules::{
    price_basket, price_external, sale_differences, BasketLine, PostedSale, PricedLine, Pricing, PricingError,
    PricingMode, RecordedSale, TierPricing,
};
use crate::orders::store::{self, Line, Order};
use crate::stores::SalesChannel;

pub struct NewLine {
    pub basket: BasketLine,
    pub name: Option<String>,
}

impl NewLine {
    /// The line as the order `order_id` stores it at `line_no` (from 1), priced as `priced`.
    pub fn stored(&self, order_id: OrderId, line_no: usize, priced: &PricedLine) -> Line {
        Line {
            order_id: order_id.uuid(),
            line_no: line_no as i32,
            sku: self.basket.sku.clone(),
            name: self.name.clone(),
            category: self.basket.category.clone(),
            quantity: self.basket.quantity,
            unit_price: self.basket.unit_price,
            amount: priced.amount,
            discounted_amount: priced.discounted_amount,
            refunded_quantity: 0,
            tier_discount: priced.tier_discount,
            coupon_discount: priced.coupon_discount,
        }
    }
}

pub struct NewOrder {
    pub external_id: String,
    pub channel: SalesChannel,
    pub store_id: Option<StoreId>,
    pub customer: CustomerRef,
    pub occurred_at: DateTime<Utc>,
    pub lines: Vec<NewLine>,
    /// `None`: what the reservation holds, or nothing.
    pub points_to_redeem: Option<i64>,
    /// `None`: what the reservation holds, or none.
    pub coupon_codes: Option<Vec<String>>,
    pub reservation_id: Option<Uuid>,
    pub paid_amount: Option<Decimal>,
    pub external_pricing: bool,
}

fn redemption_error(e: PricingError) -> ApiError {
    match e {
        PricingError::Redemption(RedemptionError::Negative) => {
            ApiError::invalid("points_to_redeem", "must not be negative")
        }
        PricingError::Redemption(RedemptionError::NotWholeUnits { unit }) => {
            ApiError::invalid("points_to_redeem", format!("must be a multiple of {unit}"))
        }
        PricingError::Redemption(RedemptionError::OverCap { max_points }) => ApiError::unprocessable(
            "points_over_limit",
            format!("at most {max_points} points can be used on this order"),
        )
        .with("max_points", max_points),
    }
}

/// Prices a sale (`external_paid`: the channel's price stands) and maps points errors to the API's.
pub fn price_sale(
    lines: &[BasketLine], tier: Option<&crate::memberships::store::Tier>, program: &crate::loyalty::rules::Program,
    coupons: &[Presented], points: i64, external_paid: Option<Decimal>,
) -> ApiResult<Pricing> {
    let tier: Option<TierPricing> = tier.map(|t| t.pricing());
    match external_paid {
        Some(paid) => price_external(lines, tier.as_ref(), program, coupons, points, paid),
        None => price_basket(lines, tier.as_ref(), program, coupons, points),
    }
    .map_err(redemption_error)
}

/// A re-post of a natural key must be the sale recorded under it: anything else is another sale
/// under a reused number, refused (409 `order_conflict` naming the stored order) rather than
/// answered with the stored one. `customer` is the live customer `new` names.
pub fn same_sale(existing: &Order, lines: &[Line], new: &NewOrder, customer: Option<CustomerId>) -> ApiResult<()> {
    let recorded_lines: Vec<BasketLine> = lines
        .iter()
        .map(|l| BasketLine {
            sku: l.sku.clone(),
            category: l.category.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            amount: l.amount,
        })
        .collect();
    let posted_lines: Vec<BasketLine> = new.lines.iter().map(|l| l.basket.clone()).collect();
    let posted_codes: Option<Vec<String>> = new
        .coupon_codes
        .as_ref()
        .map(|codes| codes.iter().map(|c| crate::coupons::codes::canonical(c).unwrap_or_else(|| c.clone())).collect());
    let recorded = RecordedSale {
        customer_id: existing.customer_id,
        lines: &recorded_lines,
        external_pricing: existing.pricing == PricingMode::External,
        paid_amount: existing.paid_amount,
        coupon_codes: &existing.coupon_codes,
        points_redeemed: existing.points_redeemed,
        reservation_id: existing.reservation_id,
    };
    let posted = PostedSale {
        customer_id: customer,
        lines: &posted_lines,
        external_pricing: new.external_pricing,
        paid_amount: new.paid_amount,
        coupon_codes: posted_codes.as_deref(),
        points_to_redeem: new.points_to_redeem,
        reservation_id: new.reservation_id,
    };
    let differs = sale_differences(&recorded, &posted);
    if differs.is_empty() {
        return Ok(());
    }
    Err(ApiError::conflict(
        "order_conflict",
        format!("an order with this channel, store and external_id was posted with other {}", differs.join(", ")),
    )
    .with("order_id", existing.id.to_string())
    .with("fields", differs))
}

pub struct Posted {
    pub order: Order,
    pub lines: Vec<Line>,
    pub created: bool,
}

/// Posts a sale once: a second post of the same natural key `(channel, store_id, external_id)`
/// with the same content returns the stored order and changes nothing, however many tills retry at
/// once; with other content it is 409 `order_conflict`.
///
/// The round trips of a member's sale: lock (customer, membership, account), read what the locks
/// guard (lots, holds, spend, a prior post), the coupons when any are presented, then one write of
/// the order with its lines and events, one ledger entry per points movement. Program and tiers
/// come from `catalogue`, re-read only when their version moved.
pub fn post(
    conn: &mut PgConnection, catalogue: &CatalogueCache, new: NewOrder, actor: &str, now: DateTime<Utc>, tz: Tz,
) -> ApiResult<Posted> {
    // Membership, then the account: the member's tier and points change under these locks, one
    // till at a time (merges take them in the same order). Re-posts of one member's sale queue here.
    let locked = sales_store::named_customer(conn, &new.customer, true)?;
    let customer = locked.customer.map(CustomerId);
    let membership = locked.membership;
    let mut account = match (&membership, locked.account) {
        (Some(_), Some(account)) => Some(account),
        (Some(m), None) => Some(ledger::lock_account(conn, m.customer_id)?),
        (None, _) => None,
    };
    let key =
        sales_store::NaturalKey { channel: new.channel, store_id: new.store_id, external_id: Some(&new.external_id) };
    let needs = sales_store::needs(conn, membership.as_ref().map(|m| m.customer_id), &key, new.reservation_id, now)?;
    if needs.existing.is_some() {
        return reposted(conn, &new, customer);
    }
    let catalogue = catalogue.at(conn, needs.catalogue_version)?;
    let reservation = match new.reservation_id {
        Some(r) => Some(crate::reservations::service::take_for_order(conn, r, customer, new.store_id, now)?),
        None => None,
    };
    let points_to_redeem = new.points_to_redeem.or(reservation.as_ref().map(|r| r.points)).unwrap_or(0);
    let coupon_codes =
        new.coupon_codes.clone().or(reservation.as_ref().map(|r| r.coupon_codes.clone())).unwrap_or_default();
    if points_to_redeem > 0 && membership.is_none() {
        return Err(ledger::not_a_member());
    }
    let loaded = coupons::load(conn, &coupon_codes, true)?;
    let at = Presentation {
        customer_id: customer.map(CustomerId::uuid),
        store_id: new.store_id.map(StoreId::uuid),
        channel: Some(new.channel.to_string()),
        now,
        reservation_id: new.reservation_id,
    };
    let presented = coupons::presented(&loaded, &at);
    let facts = SaleFacts {
        new: &new,
        id: OrderId(Uuid::now_v7()),
        customer,
        membership: membership.as_ref(),
        program: &catalogue.program,
        tiers: &catalogue.tiers,
        lots: &needs.lots,
        held: needs.held,
        spend: needs.spend,
        presented: &presented,
        points_to_redeem,
        now,
        tz,
    };
    // Everything the order records is known before anything is written.
    let plan = plan_sale(&facts, account.as_mut())?;
    write(conn, &new, &facts, plan, &loaded, reservation.as_ref(), actor)
}

/// Writes a planned sale: the order with its lines, events and points in one statement, then
/// the coupons it used, the reservation it consumed and the member's upgrade.
fn write(
    conn: &mut PgConnection, new: &NewOrder, facts: &SaleFacts, plan: SalePlan, loaded: &[coupons::Loaded],
    reservation: Option<&crate::reservations::store::Reservation>, actor: &str,
) -> ApiResult<Posted> {
    let (id, customer, now) = (facts.id, facts.customer, facts.now);
    let head = sales_store::Head {
        id,
        external_id: &new.external_id,
        channel: new.channel,
        store_id: new.store_id,
        customer_id: customer,
        occurred_at: new.occurred_at,
    };
    let posting = match (&plan.points, customer) {
        (Some(points), Some(customer)) => Some(sales_store::SalePosting { customer, points, actor, at: now }),
        _ => None,
    };
    let events = crate::events::as_columns(&plan.events);
    let recorded = sales_store::record_sale(conn, &head, &plan.outcome, &plan.lines, &events, posting.as_ref())?;
    let Some(order) = recorded else {
        // Another till posted this key a moment ago (and has committed it by now).
        return reposted(conn, new, customer);
    };
    if let Some(c) = customer {
        let used = coupons::Use {
            customer_id: c,
            order_id: Some(id),
            order_reference: Some(&new.external_id),
            store_id: new.store_id,
            channel: Some(new.channel.as_str()),
            amount: plan.pricing.payable,
        };
        let coupon_events = coupons::redeem_applied(conn, loaded, &plan.pricing.coupons, &used, actor, now)?;
        crate::events::emit_many(conn, &coupon_events)?;
    }
    if let Some(r) = reservation {
        crate::reservations::store::close(
            conn,
            r.id,
            crate::reservations::store::ReservationStatus::Consumed,
            Some(id.uuid()),
            now,
        )?;
    }
    if let (Some(m), Some(tier)) = (facts.membership, plan.upgrade) {
        memberships::upgrade_to(conn, m, tier, plan.spend, actor, now, facts.program.tier_validity_days)?;
    }
    Ok(Posted { order, lines: plan.lines, created: true })
}

/// The answer to a post of a key already posted: the stored order when the content is the same.
fn reposted(conn: &mut PgConnection, new: &NewOrder, customer: Option<CustomerId>) -> ApiResult<Posted> {
    let existing =
        store::find_by_external(conn, new.channel, new.store_id, &new.external_id)?.ok_or_else(store::not_found)?;
    let lines = store::lines(conn, existing.id)?;
    same_sale(&existing, &lines, new, customer)?;
    Ok(Posted { order: existing, lines, created: false })
}
