//! Posting a sale and a refund: everything that moves in one transaction.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::rules::{
    price_basket, price_external, sale_differences, BasketLine, PostedSale, Pricing, PricingError, RecordedSale,
    TierPricing,
};
use super::store::{self, Line, Order, Outcome, Refund};
use crate::coupons::redeem as coupons;
use crate::coupons::rules::{Presentation, Presented};
use crate::events::emit;
use crate::http::auth::StoreScope;
use crate::http::error::{ApiError, ApiResult};
use crate::loyalty::ledger::{self, Posting};
use crate::loyalty::rules::{self as loyalty_rules, RedemptionError};
use crate::memberships::store as memberships;

pub enum CustomerRef {
    Guest,
    Id(Uuid),
    Identity(String, String),
}

pub struct NewLine {
    pub basket: BasketLine,
    pub name: Option<String>,
}

pub struct NewOrder {
    pub external_id: String,
    pub channel: String,
    pub store_id: Option<Uuid>,
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

/// Finds the live customer an order belongs to; a merged customer's old id still finds the survivor.
pub fn resolve_customer(conn: &mut PgConnection, customer: &CustomerRef) -> ApiResult<Option<Uuid>> {
    let found = match customer {
        CustomerRef::Guest => return Ok(None),
        CustomerRef::Id(id) => crate::customers::store::standing(conn, Some(*id), None)?
            .ok_or_else(|| ApiError::unprocessable("customer_not_found", "no customer with this id"))?,
        CustomerRef::Identity(kind, value) => crate::customers::store::standing(conn, None, Some((kind, value)))?
            .ok_or_else(|| ApiError::unprocessable("customer_not_found", "no customer has this identity"))?,
    };
    match found {
        (id, status, _) if status == "active" => Ok(Some(id)),
        (_, status, Some(target)) if status == "merged" => Ok(Some(target)),
        _ => Err(ApiError::unprocessable("customer_not_active", "the customer was erased")),
    }
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
    lines: &[BasketLine],
    tier: Option<&crate::memberships::store::Tier>,
    program: &crate::loyalty::rules::Program,
    coupons: &[Presented],
    points: i64,
    external_paid: Option<Decimal>,
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
/// answered with the stored one.
fn same_sale(existing: &Order, lines: &[Line], new: &NewOrder, customer: Option<Uuid>) -> ApiResult<()> {
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
        external_pricing: existing.pricing == "external",
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
pub fn post(conn: &mut PgConnection, new: NewOrder, actor: &str, now: DateTime<Utc>, tz: Tz) -> ApiResult<Posted> {
    let customer = resolve_customer(conn, &new.customer)?;
    let id = Uuid::now_v7();
    let claimed = store::claim(conn, id, &new.channel, &new.external_id, new.store_id, customer, new.occurred_at)?;
    if claimed.is_none() {
        // Posted before (or by another till a moment ago, which has committed it by now).
        let existing = store::find_by_external(conn, &new.channel, new.store_id, &new.external_id)?
            .ok_or_else(store::not_found)?;
        let lines = store::lines(conn, existing.id)?;
        same_sale(&existing, &lines, &new, customer)?;
        return Ok(Posted { order: existing, lines, created: false });
    }

    // Membership, then the account: the member's tier and points change under these locks, one
    // till at a time (merges take them in the same order).
    let (membership, spend_before) = match customer {
        Some(c) => memberships::with_spend(conn, c, now, true)?.unzip(),
        None => (None, None),
    };
    let mut account = match &membership {
        Some(m) => Some(ledger::lock_account(conn, m.customer_id)?),
        None => None,
    };
    let (program, tiers) = match membership {
        Some(_) => crate::loyalty::program::load_with_tiers(conn)?,
        None => (crate::loyalty::program::load(conn)?.rules(), Vec::new()),
    };
    let tier = membership.as_ref().and_then(|m| tiers.iter().find(|t| t.code == m.tier_code)).cloned();
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
        customer_id: customer,
        store_id: new.store_id,
        channel: Some(new.channel.clone()),
        now,
        reservation_id: new.reservation_id,
    };
    let presented = coupons::presented(&loaded, &at);
    let basket: Vec<BasketLine> = new.lines.iter().map(|l| l.basket.clone()).collect();
    let external_paid = match (new.external_pricing, new.paid_amount) {
        (true, Some(paid)) => Some(paid),
        (true, None) => return Err(ApiError::invalid("paid_amount", "is required with pricing 'external'")),
        (false, _) => None,
    };
    let pricing = price_sale(&basket, tier.as_ref(), &program, &presented, points_to_redeem, external_paid)?;
    if let Some(err) = coupons::not_applicable(&pricing.coupons) {
        return Err(err);
    }
    if let (false, Some(sent)) = (new.external_pricing, new.paid_amount) {
        if sent != pricing.payable {
            return Err(ApiError::unprocessable(
                "amount_mismatch",
                format!(
                    "paid_amount {} differs from the payable amount {}",
                    crate::money::format(sent),
                    crate::money::format(pricing.payable)
                ),
            )
            .with("payable", crate::money::format(pricing.payable)));
        }
    }

    let mut balance_after = None;
    let mut events = Vec::with_capacity(3);
    if let (Some(account), Some(c)) = (account.as_mut(), customer) {
        if pricing.points_redeemed > 0 {
            let posting = Posting::new("redeem", actor, now).order(id).consuming(new.reservation_id);
            ledger::spend(conn, account, pricing.points_redeemed, &posting, now)?;
            events.push((
                "points.redeemed",
                Some(c),
                json!({"order_id": id, "store_id": new.store_id, "points": pricing.points_redeemed}),
            ));
        }
        if pricing.points_to_earn > 0 {
            let available_at = loyalty_rules::available_at(now, program.points_pending_days);
            let expires_at = loyalty_rules::expires_at(now, program.points_ttl_days, tz);
            ledger::credit(
                conn,
                account,
                pricing.points_to_earn,
                &Posting::new("earn", actor, now).order(id),
                available_at,
                expires_at,
            )?;
            events.push((
                "points.earned",
                Some(c),
                json!({"order_id": id, "store_id": new.store_id, "points": pricing.points_to_earn}),
            ));
        }
        balance_after = Some(account.balance);
    }
    if let Some(c) = customer {
        let used = coupons::Use {
            customer_id: c,
            order_id: Some(id),
            order_reference: Some(&new.external_id),
            store_id: new.store_id,
            channel: Some(&new.channel),
            amount: pricing.payable,
        };
        events.extend(coupons::redeem_applied(conn, &loaded, &pricing.coupons, &used, actor, now)?);
    }
    if let Some(r) = &reservation {
        crate::reservations::store::close(conn, r.id, "consumed", Some(id), now)?;
    }

    let lines: Vec<Line> = new
        .lines
        .iter()
        .zip(&pricing.lines)
        .enumerate()
        .map(|(i, (l, priced))| Line {
            order_id: id,
            line_no: i as i32 + 1,
            sku: l.basket.sku.clone(),
            name: l.name.clone(),
            category: l.basket.category.clone(),
            quantity: l.basket.quantity,
            unit_price: l.basket.unit_price,
            amount: priced.amount,
            discounted_amount: priced.discounted_amount,
            refunded_quantity: 0,
            tier_discount: priced.tier_discount,
            coupon_discount: priced.coupon_discount,
        })
        .collect();
    let outcome = Outcome {
        pricing: if new.external_pricing { "external" } else { "crm" }.to_string(),
        total_amount: pricing.total_amount,
        tier_discount: pricing.tier_discount,
        coupon_discount: pricing.coupon_discount,
        points_redeemed: pricing.points_redeemed,
        points_offset: pricing.points_offset,
        paid_amount: pricing.payable,
        points_earned: if account.is_some() { pricing.points_to_earn } else { 0 },
        earn_rate: program.earn_rate,
        points_multiplier: tier.as_ref().map(|t| t.points_multiplier).unwrap_or(Decimal::ZERO),
        tier_code: tier.as_ref().map(|t| t.code.clone()),
        tier_after: tier.as_ref().map(|t| t.code.clone()),
        tier_changed: false,
        points_balance_after: balance_after,
        coupon_codes: pricing.coupons.iter().filter(|c| c.applied).map(|c| c.code.clone()).collect(),
        reservation_id: new.reservation_id,
    };
    let mut order = store::record_outcome(conn, id, &outcome, &lines)?;

    // Qualifying spend now includes this order: upgrade at once if it crossed a threshold.
    if let Some(m) = &membership {
        // Qualifying spend counts sales of the last 365 days up to now (a late sale may fall outside).
        let counts = new.occurred_at > now - chrono::Duration::days(365) && new.occurred_at <= now;
        let spend = spend_before.unwrap_or_default() + if counts { pricing.payable } else { Decimal::ZERO };
        let (after, changed) =
            memberships::upgrade_for_spend(conn, m, &tiers, spend, actor, now, program.tier_validity_days)?;
        if changed {
            order = diesel::update(crate::schema::orders::table.find(id))
                .set((
                    crate::schema::orders::tier_after.eq(&after.tier_code),
                    crate::schema::orders::tier_changed.eq(true),
                ))
                .returning(Order::as_returning())
                .get_result(conn)?;
        }
    }
    events.push((
        "order.created",
        customer,
        json!({"order_id": id, "channel": order.channel, "store_id": order.store_id,
               "paid_amount": crate::money::format(order.paid_amount),
               "points_earned": order.points_earned, "points_redeemed": order.points_redeemed}),
    ));
    crate::events::emit_many(conn, &events)?;
    Ok(Posted { order, lines, created: true })
}

pub struct RefundLine {
    pub line_no: i32,
    pub quantity: i32,
}

pub struct NewRefund {
    pub external_id: String,
    /// Empty: the whole remaining order.
    pub lines: Vec<RefundLine>,
    pub amount: Option<Decimal>,
}

/// What a refund of some lines is worth: each line's share of what was actually paid.
fn lines_value(order: &Order, lines: &[Line], refund: &[RefundLine]) -> ApiResult<Decimal> {
    let discounted_total: Decimal = lines.iter().map(|l| l.discounted_amount).sum();
    let mut value = Decimal::ZERO;
    for r in refund {
        let line = lines
            .iter()
            .find(|l| l.line_no == r.line_no)
            .ok_or_else(|| ApiError::invalid("lines", format!("order has no line {}", r.line_no)))?;
        if r.quantity <= 0 || line.refunded_quantity + r.quantity > line.quantity {
            return Err(ApiError::unprocessable(
                "refund_exceeds_quantity",
                format!("line {} has {} left to refund", line.line_no, line.quantity - line.refunded_quantity),
            ));
        }
        if discounted_total > Decimal::ZERO {
            value += line.discounted_amount * Decimal::from(r.quantity) / Decimal::from(line.quantity)
                * order.paid_amount
                / discounted_total;
        }
    }
    Ok(crate::money::round(value))
}

/// Refunds once per `(order, external_id)`: points earned on the refunded amount come back
/// (debt if already spent), points used are returned, qualifying spend drops; no downgrade.
pub fn refund(
    conn: &mut PgConnection,
    order_id: Uuid,
    scope: StoreScope,
    new: NewRefund,
    actor: &str,
    now: DateTime<Utc>,
) -> ApiResult<(Refund, bool)> {
    // Another store's order is not found, exactly like a missing one.
    let order = store::lock_in(conn, order_id, scope)?;
    if let Some(existing) = store::find_refund(conn, order_id, &new.external_id)? {
        return Ok((existing, false));
    }
    let lines = store::lines(conn, order_id)?;
    let remaining = order.paid_amount - order.refunded_amount;
    let amount = match (new.amount, new.lines.is_empty()) {
        (Some(a), _) => a,
        (None, false) => lines_value(&order, &lines, &new.lines)?,
        (None, true) => remaining,
    };
    if !new.lines.is_empty() {
        lines_value(&order, &lines, &new.lines)?;
    }
    if amount > remaining || remaining <= Decimal::ZERO {
        return Err(ApiError::unprocessable(
            "refund_exceeds_paid",
            format!(
                "{} is more than the {} left to refund",
                crate::money::format(amount),
                crate::money::format(remaining)
            ),
        )
        .with("refundable", crate::money::format(remaining)));
    }
    if amount <= Decimal::ZERO {
        return Err(ApiError::unprocessable("nothing_to_refund", "the refund amount must be positive"));
    }
    let refunded_after = order.refunded_amount + amount;
    let refund_id = Uuid::now_v7();
    let clawed = loyalty_rules::clawback(
        order.points_earned,
        order.points_clawed_back,
        order.paid_amount,
        refunded_after,
        order.earn_rate,
        order.points_multiplier,
    );
    let returned = loyalty_rules::points_to_return(
        order.points_redeemed,
        order.points_returned,
        order.paid_amount,
        refunded_after,
    );
    let mut balance_after = None;
    if let (Some(customer), true) = (order.customer_id, clawed > 0 || returned > 0) {
        let mut account = ledger::lock_account(conn, customer)?;
        let posting = |kind| Posting::new(kind, actor, now).order(order.id).refund(refund_id);
        ledger::take_back(conn, &mut account, clawed, &posting("refund_clawback"), now)?;
        if returned > 0 {
            let expires = ledger::redemption_expiry(conn, order.id)?.unwrap_or(now);
            ledger::credit(conn, &mut account, returned, &posting("refund_return"), now, expires)?;
        }
        balance_after = Some(account.balance);
    }
    let mut coupons_returned = Vec::new();
    if refunded_after == order.paid_amount && !order.coupon_codes.is_empty() {
        // A full refund gives back the coupons still within their validity (SPEC §7); after the
        // account, as every path locks a member's coupons after their points.
        coupons_returned = coupons::return_for_order(conn, order.id, now)?;
    }
    for l in &new.lines {
        store::add_refunded_quantity(conn, order.id, l.line_no, l.quantity)?;
    }
    let lines_json =
        json!(new.lines.iter().map(|l| json!({"line_no": l.line_no, "quantity": l.quantity})).collect::<Vec<_>>());
    let refund = store::insert_refund(
        conn,
        refund_id,
        &order,
        &new.external_id,
        amount,
        lines_json,
        clawed,
        returned,
        balance_after,
    )?;
    emit(
        conn,
        "order.refunded",
        order.customer_id,
        json!({"order_id": order.id, "store_id": order.store_id, "refund_id": refund.id,
               "amount": crate::money::format(amount),
               "points_clawed_back": clawed, "points_returned": returned, "coupons_returned": coupons_returned}),
    )?;
    for code in &coupons_returned {
        emit(
            conn,
            "coupon.returned",
            order.customer_id,
            json!({"code": code, "order_id": order.id, "store_id": order.store_id, "refund_id": refund.id}),
        )?;
    }
    Ok((refund, true))
}
