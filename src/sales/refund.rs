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

/// What a refund does, decided before anything is written: how much it refunds, the points it
/// takes back and gives back, and whether the order's coupons come back (a full refund).
#[derive(Debug, PartialEq)]
pub struct RefundPlan {
    pub amount: Decimal,
    pub refunded_after: Decimal,
    pub points_clawed_back: i64,
    pub points_returned: i64,
    pub returns_coupons: bool,
}

/// Plans a refund of `new` against `order` and its `lines`: the given amount, else the refunded
/// lines' share of what was paid, else all that is left. 422 when it is more than what is left
/// (`refund_exceeds_paid`), more than a line has left (`refund_exceeds_quantity`), or nothing.
pub fn plan_refund(order: &Order, lines: &[Line], new: &NewRefund) -> ApiResult<RefundPlan> {
    let remaining = order.paid_amount - order.refunded_amount;
    let by_lines = if new.lines.is_empty() { None } else { Some(lines_value(order, lines, &new.lines)?) };
    let amount = new.amount.or(by_lines).unwrap_or(remaining);
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
    Ok(RefundPlan {
        amount,
        refunded_after,
        points_clawed_back: loyalty_rules::clawback(
            order.points_earned,
            order.points_clawed_back,
            order.paid_amount,
            refunded_after,
            order.earn_rate,
            order.points_multiplier,
        ),
        points_returned: loyalty_rules::points_to_return(
            order.points_redeemed,
            order.points_returned,
            order.paid_amount,
            refunded_after,
        ),
        returns_coupons: refunded_after == order.paid_amount && !order.coupon_codes.is_empty(),
    })
}

/// Refunds once per `(order, external_id)`: points earned on the refunded amount come back
/// (debt if already spent), points used are returned, qualifying spend drops; no downgrade.
pub fn refund(
    conn: &mut PgConnection, order_id: OrderId, scope: StoreScope, new: NewRefund, actor: &str, now: DateTime<Utc>,
) -> ApiResult<(Refund, bool)> {
    // Another store's order is not found, exactly like a missing one.
    let order = store::lock_in(conn, order_id, scope)?;
    if let Some(existing) = store::find_refund(conn, order_id, &new.external_id)? {
        return Ok((existing, false));
    }
    let lines = store::lines(conn, order_id)?;
    let plan = plan_refund(&order, &lines, &new)?;
    let (amount, clawed, returned) = (plan.amount, plan.points_clawed_back, plan.points_returned);
    let refund_id = Uuid::now_v7();
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
    if plan.returns_coupons {
        // A full refund gives back the coupons still within their validity (SPEC §7); after the
        // account, as every path locks a member's coupons after their points.
        coupons_returned = coupons::return_for_order(conn, order.id, now)?;
    }
    for l in &new.lines {
        store::add_refunded_quantity(conn, &order, l.line_no, l.quantity)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::OrderId;
    use crate::orders::rules::PricingMode;
    use crate::stores::SalesChannel;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    /// Paid 850.00 for 900.00 of goods after discounts (50.00 offset by 500 points), earning 850
    /// points at 1 a yuan, with one coupon.
    fn order(refunded: &str, clawed: i64, returned: i64) -> Order {
        let at = DateTime::UNIX_EPOCH;
        Order {
            id: OrderId(Uuid::nil()),
            external_id: "R-1".into(),
            channel: SalesChannel::Pos,
            store_id: None,
            customer_id: None,
            occurred_at: at,
            pricing: PricingMode::Crm,
            total_amount: d("1000.00"),
            tier_discount: d("100.00"),
            coupon_discount: Decimal::ZERO,
            points_redeemed: 500,
            points_offset: d("50.00"),
            paid_amount: d("850.00"),
            refunded_amount: d(refunded),
            points_earned: 850,
            points_clawed_back: clawed,
            points_returned: returned,
            earn_rate: Decimal::ONE,
            points_multiplier: Decimal::ONE,
            tier_code: None,
            tier_after: None,
            tier_changed: false,
            points_balance_after: None,
            created_at: at,
            coupon_codes: vec!["C1".into()],
            reservation_id: None,
            owner_id: Uuid::nil(),
        }
    }

    fn line(line_no: i32, quantity: i32, discounted: &str) -> Line {
        Line {
            order_id: Uuid::nil(),
            line_no,
            sku: format!("SKU-{line_no}"),
            name: None,
            category: None,
            quantity,
            unit_price: d(discounted) / Decimal::from(quantity),
            amount: d(discounted),
            discounted_amount: d(discounted),
            refunded_quantity: 0,
            tier_discount: Decimal::ZERO,
            coupon_discount: Decimal::ZERO,
        }
    }

    fn refund_of(lines: Vec<RefundLine>, amount: Option<&str>) -> NewRefund {
        NewRefund { external_id: "RF-1".into(), lines, amount: amount.map(d) }
    }

    fn code(result: ApiResult<RefundPlan>) -> Option<String> {
        match result {
            Err(ApiError::Unprocessable { code, .. }) => Some(code.to_string()),
            Err(ApiError::Validation(fields)) => fields.first().map(|f| f.field.clone()),
            _ => None,
        }
    }

    #[test]
    fn a_line_refund_is_its_share_of_what_was_paid_and_the_rest_settles_exactly() {
        let lines = [line(1, 2, "600.00"), line(2, 1, "300.00")];
        // One of two units of line 1: 600 × 1/2 × 850/900 = 283.33; 566.67 still earns 566 points,
        // so 284 of 850 go; 500 × 283.33/850 = 166.66 → 166 points come back; no coupon yet.
        let first =
            plan_refund(&order("0", 0, 0), &lines, &refund_of(vec![RefundLine { line_no: 1, quantity: 1 }], None));
        assert_eq!(
            first.ok(),
            Some(RefundPlan {
                amount: d("283.33"),
                refunded_after: d("283.33"),
                points_clawed_back: 284,
                points_returned: 166,
                returns_coupons: false,
            })
        );
        // The rest: 566.67, every remaining point (566 and 334), and the coupon comes back.
        let rest = plan_refund(&order("283.33", 284, 166), &lines, &refund_of(vec![], None));
        assert_eq!(
            rest.ok(),
            Some(RefundPlan {
                amount: d("566.67"),
                refunded_after: d("850.00"),
                points_clawed_back: 566,
                points_returned: 334,
                returns_coupons: true,
            })
        );
    }

    #[test]
    fn a_refund_beyond_what_is_left_or_of_nothing_is_refused() {
        let lines = [line(1, 2, "600.00"), line(2, 1, "300.00")];
        let o = order("0", 0, 0);
        assert_eq!(
            code(plan_refund(&o, &lines, &refund_of(vec![], Some("850.01")))).as_deref(),
            Some("refund_exceeds_paid")
        );
        assert_eq!(code(plan_refund(&o, &lines, &refund_of(vec![], Some("0")))).as_deref(), Some("nothing_to_refund"));
        let too_many = refund_of(vec![RefundLine { line_no: 1, quantity: 3 }], None);
        assert_eq!(code(plan_refund(&o, &lines, &too_many)).as_deref(), Some("refund_exceeds_quantity"));
        let no_line = refund_of(vec![RefundLine { line_no: 9, quantity: 1 }], Some("10.00"));
        assert_eq!(code(plan_refund(&o, &lines, &no_line)).as_deref(), Some("lines"));
        let settled = order("850.00", 850, 500);
        assert_eq!(
            code(plan_refund(&settled, &lines, &refund_of(vec![], None))).as_deref(),
            Some("refund_exceeds_paid")
        );
    }
}
