//! Pure loyalty rules: tiers for a spend, points for a payment, redemption limits, expiry dates,
//! lot consumption, and what a refund takes back. No I/O; the seeds' numbers are the tests.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use uuid::Uuid;

pub use crate::memberships::rules::{tier_for_spend, TierRule};

crate::vocabulary! {
    /// What a points ledger entry records.
    #[schema(example = "earn")]
    pub enum EntryKind {
        Earn = "earn", Redeem = "redeem", Expire = "expire", Adjust = "adjust",
        /// A refund takes back what its order earned.
        RefundClawback = "refund_clawback",
        /// A refund gives back what its order spent.
        RefundReturn = "refund_return",
        MergeIn = "merge_in", MergeOut = "merge_out", Reward = "reward", Campaign = "campaign",
    }
}

/// The program settings the rules need (`/v1/loyalty/program`).
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub earn_rate: Decimal,
    pub redeem_unit_points: i64,
    pub redeem_unit_value: Decimal,
    pub max_points_offset_ratio: Decimal,
    pub points_ttl_days: i32,
    pub points_pending_days: i32,
    pub tier_validity_days: i32,
}

impl Default for Program {
    /// The seeds' defaults: 1 point per CNY 1, 100 points = CNY 10, at most 50% of an order, 365 days.
    fn default() -> Self {
        Program {
            earn_rate: Decimal::ONE,
            redeem_unit_points: 100,
            redeem_unit_value: Decimal::TEN,
            max_points_offset_ratio: Decimal::new(5, 1),
            points_ttl_days: 365,
            points_pending_days: 0,
            tier_validity_days: 365,
        }
    }
}

/// `floor(paid × earn_rate × multiplier)`; never negative.
pub fn points_for(paid: Decimal, earn_rate: Decimal, multiplier: Decimal) -> i64 {
    (paid * earn_rate * multiplier).floor().to_i64().unwrap_or(0).max(0)
}

/// What `points` are worth as a price offset.
pub fn offset_value(points: i64, program: &Program) -> Decimal {
    Decimal::from(points / program.redeem_unit_points) * program.redeem_unit_value
}

/// The most points (whole units) that may offset an amount: the cap is `max_points_offset_ratio` of it.
pub fn max_redeemable_points(amount: Decimal, program: &Program) -> i64 {
    if amount <= Decimal::ZERO {
        return 0;
    }
    let units = (amount * program.max_points_offset_ratio / program.redeem_unit_value).floor();
    units.to_i64().unwrap_or(0).max(0) * program.redeem_unit_points
}

#[derive(Debug, PartialEq)]
pub enum RedemptionError {
    Negative,
    NotWholeUnits { unit: i64 },
    OverCap { max_points: i64 },
}

/// Checks a redemption against an amount (after tier discount and coupons); returns its value.
pub fn validate_redemption(points: i64, amount: Decimal, program: &Program) -> Result<Decimal, RedemptionError> {
    if points < 0 {
        return Err(RedemptionError::Negative);
    }
    if points % program.redeem_unit_points != 0 {
        return Err(RedemptionError::NotWholeUnits { unit: program.redeem_unit_points });
    }
    let max_points = max_redeemable_points(amount, program);
    if points > max_points {
        return Err(RedemptionError::OverCap { max_points });
    }
    Ok(offset_value(points, program))
}

/// Points earned on local day D stay valid through local day D + ttl, and expire at the start of
/// the day after, in the business time zone.
pub fn expires_at(earned_at: DateTime<Utc>, ttl_days: i32, tz: Tz) -> DateTime<Utc> {
    let local_date = earned_at.with_timezone(&tz).date_naive();
    let boundary = local_date.checked_add_days(Days::new(ttl_days.max(0) as u64 + 1)).unwrap_or(local_date);
    tz.from_local_datetime(&boundary.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(earned_at)
}

/// Earned points become spendable after the pending window (0 days: at once).
pub fn available_at(earned_at: DateTime<Utc>, pending_days: i32) -> DateTime<Utc> {
    earned_at + chrono::Duration::days(i64::from(pending_days.max(0)))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lot {
    pub id: Uuid,
    pub remaining: i64,
    pub available_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lot {
    pub fn spendable(&self, now: DateTime<Utc>) -> bool {
        self.remaining > 0 && self.available_at <= now && self.expires_at > now
    }
}

/// What a member has, as the till and the app show it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub balance: i64,
    pub available: i64,
    pub pending: i64,
    pub debt: i64,
    /// (expiry instant, points) expiring within the window, soonest first.
    pub expiring: Vec<(DateTime<Utc>, i64)>,
}

/// The summary of an account from its balance, debt and live lots (remaining > 0). The points
/// endpoint and the till's lookup read their rows differently but both count them here, so the two
/// never disagree.
pub fn summarize(balance: i64, debt: i64, lots: &[Lot], now: DateTime<Utc>, expiring_days: i64) -> Summary {
    let spendable: i64 = lots.iter().filter(|l| l.spendable(now)).map(|l| l.remaining).sum();
    let pending: i64 = lots.iter().filter(|l| l.available_at > now && l.expires_at > now).map(|l| l.remaining).sum();
    let horizon = now + chrono::Duration::days(expiring_days);
    let mut expiring: Vec<(DateTime<Utc>, i64)> = Vec::new();
    let mut soon: Vec<&Lot> = lots.iter().filter(|l| l.expires_at > now && l.expires_at <= horizon).collect();
    soon.sort_by_key(|l| l.expires_at);
    for lot in soon {
        match expiring.last_mut() {
            Some((at, points)) if *at == lot.expires_at => *points += lot.remaining,
            _ => expiring.push((lot.expires_at, lot.remaining)),
        }
    }
    Summary { balance, available: spendable - debt, pending, debt, expiring }
}

/// Which lots a debit of `points` draws from: spendable lots, soonest expiry first (oldest id on a
/// tie). `None` when they do not cover it.
pub fn plan_consumption(lots: &[Lot], points: i64, now: DateTime<Utc>) -> Option<Vec<(Uuid, i64)>> {
    let mut spendable: Vec<&Lot> = lots.iter().filter(|l| l.spendable(now)).collect();
    spendable.sort_by_key(|l| (l.expires_at, l.id));
    let mut left = points;
    let mut plan = Vec::new();
    for lot in spendable {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        plan.push((lot.id, take));
        left -= take;
    }
    (left == 0).then_some(plan)
}

/// Points an order should still hold after refunds bring its net paid amount to `net_paid`,
/// at the rates it earned with (never more than it earned).
fn points_kept(earned: i64, net_paid: Decimal, earn_rate: Decimal, multiplier: Decimal) -> i64 {
    points_for(net_paid.max(Decimal::ZERO), earn_rate, multiplier).min(earned)
}

/// How many earned points a refund takes back: whatever the order holds beyond what its new net
/// amount earns. Cumulative, so several partial refunds add up exactly to a full one.
pub fn clawback(
    earned: i64, already_clawed: i64, paid: Decimal, refunded_after: Decimal, earn_rate: Decimal, multiplier: Decimal,
) -> i64 {
    let kept = points_kept(earned, paid - refunded_after, earn_rate, multiplier);
    (earned - already_clawed - kept).max(0)
}

/// How many redeemed points a refund gives back: in proportion to the refunded share, all of them
/// on a full refund.
pub fn points_to_return(redeemed: i64, already_returned: i64, paid: Decimal, refunded_after: Decimal) -> i64 {
    let due = if paid <= Decimal::ZERO || refunded_after >= paid {
        redeemed
    } else {
        (Decimal::from(redeemed) * refunded_after / paid).floor().to_i64().unwrap_or(0)
    };
    (due - already_returned).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn seeded_tiers() -> Vec<TierRule> {
        [("normal", 0, "0", "1.0"), ("silver", 1, "5000", "0.95"), ("gold", 2, "15000", "0.90")]
            .iter()
            .map(|(code, rank, min, rate)| TierRule {
                code: code.to_string(),
                rank: *rank,
                min_annual_spend: d(min),
                discount_rate: d(rate),
                points_multiplier: Decimal::ONE,
            })
            .collect()
    }

    #[test]
    fn tier_thresholds_are_5000_and_15000() {
        let tiers = seeded_tiers();
        for (spend, tier) in [
            ("0", "normal"),
            ("4999.99", "normal"),
            ("5000", "silver"),
            ("14999.99", "silver"),
            ("15000", "gold"),
            ("99999", "gold"),
        ] {
            assert_eq!(tier_for_spend(&tiers, d(spend)).map(|t| t.code.as_str()), Some(tier), "spend {spend}");
        }
    }

    #[test]
    fn earning_floors_paid_times_rate_times_multiplier() {
        for (paid, rate, mult, points) in [
            ("299.00", "1", "1", 299),
            ("299.99", "1", "1", 299),
            ("0.99", "1", "1", 0),
            ("100.00", "1", "1.5", 150),
            ("99.99", "1", "1.5", 149),
            ("100.00", "2", "1.5", 300),
            ("100.00", "0.5", "1", 50),
            ("0", "1", "2", 0),
        ] {
            assert_eq!(points_for(d(paid), d(rate), d(mult)), points, "{paid} × {rate} × {mult}");
        }
    }

    #[test]
    fn redemption_is_whole_units_of_100_worth_10_capped_at_half() {
        let p = Program::default();
        assert_eq!(validate_redemption(500, d("200.00"), &p), Ok(d("50")));
        assert_eq!(validate_redemption(1000, d("200.00"), &p), Ok(d("100")), "exactly 50% of 200");
        assert_eq!(validate_redemption(1100, d("200.00"), &p), Err(RedemptionError::OverCap { max_points: 1000 }));
        assert_eq!(validate_redemption(150, d("200.00"), &p), Err(RedemptionError::NotWholeUnits { unit: 100 }));
        assert_eq!(validate_redemption(-100, d("200.00"), &p), Err(RedemptionError::Negative));
        assert_eq!(validate_redemption(0, d("0"), &p), Ok(Decimal::ZERO));
        // 50% of 199.99 is 99.995: only 9 whole units (¥90) fit.
        assert_eq!(max_redeemable_points(d("199.99"), &p), 900);
        assert_eq!(max_redeemable_points(d("19.99"), &p), 0);
    }

    #[test]
    fn points_expire_at_the_start_of_the_day_after_ttl_in_shanghai() {
        // Earned 2026-01-10 23:30 Shanghai (15:30 UTC): valid through 2027-01-10 Shanghai.
        let earned = Utc.with_ymd_and_hms(2026, 1, 10, 15, 30, 0).single().unwrap_or_default();
        let expiry = expires_at(earned, 365, Shanghai);
        assert_eq!(expiry, Utc.with_ymd_and_hms(2027, 1, 10, 16, 0, 0).single().unwrap_or_default());
        // Earned 00:30 Shanghai on 2026-01-11 (16:30 UTC on the 10th) counts as the 11th.
        let next_day = Utc.with_ymd_and_hms(2026, 1, 10, 16, 30, 0).single().unwrap_or_default();
        assert_eq!(
            expires_at(next_day, 365, Shanghai),
            Utc.with_ymd_and_hms(2027, 1, 11, 16, 0, 0).single().unwrap_or_default()
        );
        let lot = Lot { id: Uuid::nil(), remaining: 10, available_at: earned, expires_at: expiry };
        assert!(lot.spendable(expiry - chrono::Duration::seconds(1)));
        assert!(!lot.spendable(expiry));
    }

    #[test]
    fn lots_are_consumed_soonest_expiry_first() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default();
        let day = |n: i64| now + chrono::Duration::days(n);
        let lot = |id: u128, remaining: i64, avail: i64, exp: i64| Lot {
            id: Uuid::from_u128(id),
            remaining,
            available_at: day(avail),
            expires_at: day(exp),
        };
        let lots = vec![
            lot(1, 100, -10, 300),
            lot(2, 50, -10, 30),
            lot(3, 70, -10, -1), // expired
            lot(4, 500, 5, 400), // pending
            lot(5, 40, -10, 30), // same expiry as 2, later id
        ];
        assert_eq!(
            plan_consumption(&lots, 120, now),
            Some(vec![(Uuid::from_u128(2), 50), (Uuid::from_u128(5), 40), (Uuid::from_u128(1), 30)])
        );
        assert_eq!(plan_consumption(&lots, 190, now).map(|p| p.len()), Some(3));
        assert_eq!(plan_consumption(&lots, 191, now), None, "expired and pending lots cannot be spent");
        assert_eq!(plan_consumption(&lots, 0, now), Some(vec![]));
    }

    #[test]
    fn the_summary_counts_each_lot_by_its_state_at_now() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default();
        let day = |n: i64| now + chrono::Duration::days(n);
        let lot = |remaining: i64, avail: DateTime<Utc>, exp: DateTime<Utc>| Lot {
            id: Uuid::nil(),
            remaining,
            available_at: avail,
            expires_at: exp,
        };
        let micro = chrono::Duration::microseconds(1);
        let expect = |debt, available, pending, expiring| Summary { balance: 1000, available, pending, debt, expiring };
        // Lots and debt → available, pending, and what expires within 30 days by instant.
        let cases: Vec<(Vec<Lot>, Summary)> = vec![
            (vec![], expect(0, 0, 0, vec![])),
            (vec![lot(100, day(-1), day(300))], expect(0, 100, 0, vec![])),
            (vec![lot(100, day(-1), day(300))], expect(30, 70, 0, vec![])),
            (vec![lot(100, day(2), day(300))], expect(0, 0, 100, vec![])),
            (vec![lot(100, day(-400), day(-1))], expect(0, 0, 0, vec![])),
            (vec![lot(100, day(-400), now)], expect(0, 0, 0, vec![])),
            (vec![lot(40, day(-1), day(30)), lot(5, day(-1), day(30) + micro)], expect(0, 45, 0, vec![(day(30), 40)])),
            (
                vec![lot(10, day(-1), day(9)), lot(20, day(-5), day(3)), lot(30, day(-2), day(3))],
                expect(0, 60, 0, vec![(day(3), 50), (day(9), 10)]),
            ),
        ];
        for (lots, expected) in cases {
            assert_eq!(summarize(1000, expected.debt, &lots, now, 30), expected, "{lots:?}");
        }
    }

    #[test]
    fn partial_refunds_claw_back_exactly_what_a_full_refund_would() {
        // Paid 299.00 at 1 point/CNY: 299 points.
        let (paid, r, m) = (d("299.00"), Decimal::ONE, Decimal::ONE);
        assert_eq!(clawback(299, 0, paid, d("100.00"), r, m), 100);
        assert_eq!(clawback(299, 100, paid, d("150.50"), r, m), 51, "net 148.50 keeps 148");
        assert_eq!(clawback(299, 151, paid, d("299.00"), r, m), 148, "the rest on the final refund");
        assert_eq!(clawback(299, 0, paid, d("299.00"), r, m), 299);
        assert_eq!(clawback(299, 0, paid, d("0.50"), r, m), 1, "net 298.50 keeps 298");
        assert_eq!(clawback(0, 0, paid, d("299.00"), r, m), 0, "a guest order earned nothing");
        // With a 1.5 multiplier: 150 points on 100.00; refund 50 → keep 75.
        assert_eq!(clawback(150, 0, d("100.00"), d("50.00"), r, d("1.5")), 75);
    }

    #[test]
    fn redeemed_points_come_back_in_proportion() {
        assert_eq!(points_to_return(500, 0, d("250.00"), d("125.00")), 250);
        assert_eq!(points_to_return(500, 250, d("250.00"), d("250.00")), 250);
        assert_eq!(points_to_return(500, 0, d("300.00"), d("100.00")), 166);
        assert_eq!(points_to_return(0, 0, d("300.00"), d("300.00")), 0);
    }
}
