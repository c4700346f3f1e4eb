//! Refunding a sale: points taken back or returned, coupons given back, in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::coupons::redeem as coupons;
use crate::error::{ApiError, ApiResult};
use crate::events::emit;
use crate::events::types::{CouponReturned, EventData, OrderRefunded};
use crate::http::auth::StoreScope;
use crate::ids::OrderId;
use crate::loyalty::ledger::{self, Posting};
use crate::loyalty::rules as loyalty_rules;
use crate::loyalty::rules::EntryKind;
use crate::orders::store::{self, Line, Order, Refund};

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
    order_id: OrderId,
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
        let mut account = ledger::lock_account(conn, customer.uuid())?;
        let posting = |kind| Posting::new(kind, actor, now).order(order.id).refund(refund_id);
        ledger::take_back(conn, &mut account, clawed, &posting(EntryKind::RefundClawback), now)?;
        if returned > 0 {
            let expires = ledger::redemption_expiry(conn, order.id)?.unwrap_or(now);
            ledger::credit(conn, &mut account, returned, &posting(EntryKind::RefundReturn), now, expires)?;
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
        now,
    )?;
    let (order_id, store_id, subject) =
        (order.id.uuid(), order.store_id.map(Into::into), order.customer_id.map(Into::into));
    for code in &coupons_returned {
        let returned = CouponReturned { code: code.clone(), order_id, store_id, refund_id: refund.id };
        emit(conn, subject, EventData::CouponReturned(returned))?;
    }
    let refunded = OrderRefunded {
        order_id,
        store_id,
        refund_id: refund.id,
        amount: OrderRefunded::amount(amount),
        points_clawed_back: clawed,
        points_returned: returned,
        coupons_returned,
    };
    emit(conn, subject, EventData::OrderRefunded(refunded))?;
    Ok((refund, true))
}
