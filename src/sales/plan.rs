//! What a sale writes, decided without the database: from the order as posted and what the
//! locked reads found, the priced lines, the order's outcome, its events, the member's points and
//! the upgrade it earns (see `sale::post`, which reads before and writes after).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::sale::{price_sale, NewOrder};
use crate::coupons::rules::Presented;
use crate::error::{ApiError, ApiResult};
use crate::events::types::{EarnSource, EventData, PointsEarned, PointsRedeemed, SpendSource};
use crate::events::Pending;
use crate::ids::{CustomerId, OrderId, StoreId};
use crate::loyalty::ledger::{self, Account, SalePoints};
use crate::loyalty::rules::{self as loyalty_rules, Lot, Program};
use crate::memberships::rules::qualifies;
use crate::memberships::store::{self as memberships, Membership, Tier};
use crate::orders::rules::{BasketLine, Pricing, PricingMode};
use crate::orders::store::{Line, Outcome};

/// What the sale's plan is made from: the order as posted and what was read under the locks.
pub struct SaleFacts<'a> {
    pub new: &'a NewOrder,
    /// The order's id, chosen before it is written.
    pub id: OrderId,
    /// The live customer the order names; `None` for a guest.
    pub customer: Option<CustomerId>,
    pub membership: Option<&'a Membership>,
    pub program: &'a Program,
    pub tiers: &'a [Tier],
    /// The member's live lots, the points other reservations hold, and qualifying spend before it.
    pub lots: &'a [Lot],
    pub held: i64,
    pub spend: Decimal,
    /// The coupons presented (the order's or its reservation's), as they stand now.
    pub presented: &'a [Presented],
    /// The order's or its reservation's; 0 for none.
    pub points_to_redeem: i64,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

/// The sale to write.
pub struct SalePlan<'a> {
    pub pricing: Pricing,
    pub lines: Vec<Line>,
    pub outcome: Outcome,
    pub events: Vec<Pending>,
    /// The member's points movements, planned on the locked account; `None` for anybody else.
    pub points: Option<SalePoints>,
    /// The tier the sale lifts the member to, if any, and the qualifying spend that lifts them.
    pub upgrade: Option<&'a Tier>,
    pub spend: Decimal,
}

/// Prices the sale and plans everything it writes; `account` (a member's, locked) is moved to
/// what it will be after the sale. Refuses a sale the channel priced without `paid_amount`, one
/// with a coupon that does not apply, and one whose `paid_amount` is not the payable amount.
pub fn plan_sale<'a>(facts: &SaleFacts<'a>, account: Option<&mut Account>) -> ApiResult<SalePlan<'a>> {
    let new = facts.new;
    let program = facts.program;
    let tier = facts.membership.and_then(|m| facts.tiers.iter().find(|t| t.code == m.tier_code));
    let basket: Vec<BasketLine> = new.lines.iter().map(|l| l.basket.clone()).collect();
    let external_paid = match (new.external_pricing, new.paid_amount) {
        (true, Some(paid)) => Some(paid),
        (true, None) => return Err(ApiError::invalid("paid_amount", "is required with pricing 'external'")),
        (false, _) => None,
    };
    let pricing = price_sale(&basket, tier, program, facts.presented, facts.points_to_redeem, external_paid)?;
    if let Some(err) = crate::coupons::redeem::not_applicable(&pricing.coupons) {
        return Err(err);
    }
    if let (false, Some(sent)) = (new.external_pricing, new.paid_amount) {
        if sent != pricing.payable {
            return Err(amount_mismatch(sent, pricing.payable));
        }
    }
    // Qualifying spend counts sales of the last 365 days up to now; a late one may fall outside.
    let spend = facts.spend + if qualifies(new.occurred_at, facts.now) { pricing.payable } else { Decimal::ZERO };
    let upgrade = facts.membership.and_then(|m| memberships::due_upgrade(facts.tiers, m, spend));
    let is_member = account.is_some();
    let earns = is_member && pricing.points_to_earn > 0;
    let redeems = is_member && pricing.points_redeemed > 0;
    // Points are earned when the sale happened, not when it arrived (SPEC §7: a late order is judged
    // as of its `occurred_at`): their pending window and expiry run from then, so a connector that
    // catches up gives them the life they would have had on time. One older than the points' life
    // earns a lot already expired, which the next expiry run writes off.
    let earned_at = new.occurred_at.min(facts.now);
    let points = match account {
        Some(account) => Some(ledger::plan_sale(
            account,
            if redeems { pricing.points_redeemed } else { 0 },
            if earns { pricing.points_to_earn } else { 0 },
            facts.lots,
            facts.held,
            facts.now,
            loyalty_rules::available_at(earned_at, program.points_pending_days),
            loyalty_rules::expires_at(earned_at, program.points_ttl_days, facts.tz),
        )?),
        None => None,
    };
    let points_earned = if is_member { pricing.points_to_earn } else { 0 };
    let events = sale_events(facts, &pricing, redeems, earns, points_earned);
    let lines = priced_lines(facts.id, new, &pricing);
    let outcome = Outcome {
        pricing: PricingMode::of(new.external_pricing),
        total_amount: pricing.total_amount,
        tier_discount: pricing.tier_discount,
        coupon_discount: pricing.coupon_discount,
        points_redeemed: pricing.points_redeemed,
        points_offset: pricing.points_offset,
        paid_amount: pricing.payable,
        points_earned,
        earn_rate: program.earn_rate,
        points_multiplier: tier.map(|t| t.points_multiplier).unwrap_or(Decimal::ZERO),
        tier_code: tier.map(|t| t.code.clone()),
        tier_after: upgrade.or(tier).map(|t| t.code.clone()),
        tier_changed: upgrade.is_some(),
        points_balance_after: points.as_ref().map(|p| p.balance),
        coupon_codes: pricing.coupons.iter().filter(|c| c.applied).map(|c| c.code.clone()).collect(),
        reservation_id: new.reservation_id,
    };
    Ok(SalePlan { pricing, lines, outcome, events, points, upgrade, spend })
}

fn amount_mismatch(sent: Decimal, payable: Decimal) -> ApiError {
    ApiError::unprocessable(
        "amount_mismatch",
        format!(
            "paid_amount {} differs from the payable amount {}",
            crate::money::format(sent),
            crate::money::format(payable)
        ),
    )
    .with("payable", crate::money::format(payable))
}

/// The redemption, the earning (a member's) and `order.created`, in that order.
fn sale_events(facts: &SaleFacts, pricing: &Pricing, redeems: bool, earns: bool, points_earned: i64) -> Vec<Pending> {
    let (id, store_id) = (facts.id, facts.new.store_id);
    let (order_id, customer) = (id.uuid(), facts.customer.map(CustomerId::uuid));
    let store = store_id.map(StoreId::uuid);
    let mut events = Vec::with_capacity(3);
    if let (true, Some(c)) = (redeems, customer) {
        let source = SpendSource::Order { order_id, store_id: store };
        events.push((Some(c), EventData::PointsRedeemed(PointsRedeemed { points: pricing.points_redeemed, source })));
    }
    if let (true, Some(c)) = (earns, customer) {
        let source = EarnSource::Order { order_id, store_id: store };
        events.push((Some(c), EventData::PointsEarned(PointsEarned { points: pricing.points_to_earn, source })));
    }
    events.push(crate::orders::created_event(
        id,
        facts.customer,
        facts.new.channel,
        store_id,
        pricing.payable,
        points_earned,
        pricing.points_redeemed,
    ));
    events
}

/// The order's lines as priced, numbered from 1.
fn priced_lines(order_id: OrderId, new: &NewOrder, pricing: &Pricing) -> Vec<Line> {
    new.lines.iter().zip(&pricing.lines).enumerate().map(|(i, (l, priced))| l.stored(order_id, i + 1, priced)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::service::CustomerRef;
    use crate::sales::sale::NewLine;
    use crate::stores::SalesChannel;
    use std::str::FromStr;
    use uuid::Uuid;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn at(hour: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0).single().unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The seeded tiers (migration `loyalty`): 普通 0, 银卡 5000 at 95%, 金卡 15000 at 90%.
    fn tiers() -> Vec<Tier> {
        [("normal", 0, "0", "1.0"), ("silver", 1, "5000", "0.95"), ("gold", 2, "15000", "0.90")]
            .into_iter()
            .map(|(code, rank, min, rate)| Tier {
                code: code.into(),
                name: code.into(),
                rank,
                min_annual_spend: d(min),
                discount_rate: d(rate),
                points_multiplier: Decimal::ONE,
                benefits: vec![],
                version: 1,
                created_at: at(0),
                updated_at: at(0),
            })
            .collect()
    }

    fn membership(customer: Uuid, tier: &str) -> Membership {
        Membership {
            customer_id: customer,
            member_card: "M1".into(),
            tier_code: tier.into(),
            enrolled_at: at(0),
            channel: None,
            store_id: None,
            tier_since: at(0),
            tier_valid_until: None,
            version: 1,
            updated_at: at(0),
        }
    }

    fn order(amounts: &[&str]) -> NewOrder {
        NewOrder {
            external_id: "U-1".into(),
            channel: SalesChannel::Pos,
            store_id: None,
            customer: CustomerRef::Guest,
            occurred_at: at(10),
            lines: amounts
                .iter()
                .enumerate()
                .map(|(i, a)| NewLine {
                    basket: BasketLine {
                        sku: format!("SKU-{i}"),
                        category: None,
                        quantity: 1,
                        unit_price: d(a),
                        amount: d(a),
                    },
                    name: None,
                })
                .collect(),
            points_to_redeem: None,
            coupon_codes: None,
            reservation_id: None,
            paid_amount: None,
            external_pricing: false,
        }
    }

    fn facts<'a>(
        new: &'a NewOrder, customer: Option<Uuid>, membership: Option<&'a Membership>, program: &'a Program,
        tiers: &'a [Tier], lots: &'a [Lot],
    ) -> SaleFacts<'a> {
        SaleFacts {
            new,
            id: OrderId(Uuid::nil()),
            customer: customer.map(CustomerId),
            membership,
            program,
            tiers,
            lots,
            held: 0,
            spend: Decimal::ZERO,
            presented: &[],
            points_to_redeem: 0,
            now: at(12),
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    fn account(customer: Uuid, balance: i64) -> Account {
        Account { customer_id: customer, balance, debt: 0, updated_at: at(0) }
    }

    #[test]
    fn a_silver_member_pays_95_percent_and_earns_on_what_they_paid() {
        let (program, tiers, c) = (Program::default(), tiers(), Uuid::from_u128(1));
        let (new, m) = (order(&["100.00"]), membership(c, "silver"));
        let mut account = account(c, 0);
        let plan = plan_sale(&facts(&new, Some(c), Some(&m), &program, &tiers, &[]), Some(&mut account))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((plan.outcome.tier_discount, plan.outcome.paid_amount), (d("5.00"), d("95.00")));
        assert_eq!((plan.outcome.points_earned, plan.outcome.points_balance_after), (95, Some(95)));
        assert_eq!((plan.outcome.tier_code.as_deref(), plan.outcome.tier_changed), (Some("silver"), false));
        assert_eq!(account.balance, 95, "the account is moved to what it is after the sale");
        let kinds: Vec<&str> = plan.events.iter().map(|(_, e)| e.event_type()).collect();
        assert_eq!(kinds, ["points.earned", "order.created"]);
        assert_eq!((plan.lines[0].line_no, plan.lines[0].discounted_amount), (1, d("95.00")));
        let points = plan.points.unwrap_or_else(|| panic!("a member's sale plans points"));
        assert_eq!(points.new_lot.map(|l| l.points), Some(95));
    }

    #[test]
    fn spend_crossing_5000_upgrades_with_the_sale_that_crosses_it() {
        let (program, tiers, c) = (Program::default(), tiers(), Uuid::from_u128(1));
        let (new, m) = (order(&["0.01"]), membership(c, "normal"));
        let mut facts = facts(&new, Some(c), Some(&m), &program, &tiers, &[]);
        facts.spend = d("4999.99");
        let plan = plan_sale(&facts, Some(&mut account(c, 0))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.upgrade.map(|t| t.code.as_str()), Some("silver"));
        assert_eq!(
            (plan.outcome.tier_code.as_deref(), plan.outcome.tier_after.as_deref()),
            (Some("normal"), Some("silver"))
        );
        assert!(plan.outcome.tier_changed);
        assert_eq!(plan.spend, d("5000.00"));
    }

    #[test]
    fn points_offset_half_the_order_and_what_is_paid_earns() {
        let (program, tiers, c) = (Program::default(), tiers(), Uuid::from_u128(1));
        let (mut new, m) = (order(&["300.00"]), membership(c, "normal"));
        let lots = [Lot { id: Uuid::from_u128(9), remaining: 2000, available_at: at(0), expires_at: at(23) }];
        new.paid_amount = Some(d("160.00"));
        let mut with_points = facts(&new, Some(c), Some(&m), &program, &tiers, &lots);
        with_points.points_to_redeem = 1500;
        let wrong = plan_sale(&with_points, Some(&mut account(c, 2000))).err().map(|e| e.code().to_string());
        assert_eq!(wrong.as_deref(), Some("amount_mismatch"), "the payable amount is 150.00");

        let mut right = order(&["300.00"]);
        right.paid_amount = Some(d("150.00"));
        with_points.new = &right;
        let mut account = account(c, 2000);
        let plan = plan_sale(&with_points, Some(&mut account)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((plan.outcome.points_offset, plan.outcome.points_redeemed), (d("150"), 1500));
        assert_eq!(plan.outcome.points_earned, 150, "the offset is not paid amount");
        assert_eq!(account.balance, 2000 - 1500 + 150);
        let points = plan.points.unwrap_or_else(|| panic!("a member's sale plans points"));
        assert_eq!(points.draws, vec![(Uuid::from_u128(9), 1500)]);
        let kinds: Vec<&str> = plan.events.iter().map(|(_, e)| e.event_type()).collect();
        assert_eq!(kinds, ["points.redeemed", "points.earned", "order.created"]);
    }

    #[test]
    fn a_guest_earns_nothing_and_an_external_price_needs_the_paid_amount() {
        let (program, tiers) = (Program::default(), tiers());
        let mut new = order(&["99.99"]);
        let plan = plan_sale(&facts(&new, None, None, &program, &tiers, &[]), None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((plan.outcome.points_earned, plan.outcome.points_balance_after), (0, None));
        assert!(plan.points.is_none());
        assert_eq!(plan.events.len(), 1, "order.created only");
        new.external_pricing = true;
        let refused = plan_sale(&facts(&new, None, None, &program, &tiers, &[]), None).err();
        assert_eq!(refused.map(|e| e.code().to_string()).as_deref(), Some("validation_failed"));
    }
}
