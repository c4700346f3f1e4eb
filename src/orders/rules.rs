//! Pricing a basket: tier discount on each line → coupons in their best order → points offset →
//! payable, and the points it earns. One pure function, shared by orders and the checkout quote,
//! so the two agree to the cent.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::coupons::rules::{apply_coupons, CouponLine, CouponResult, Presented};
use crate::ids::CustomerId;
use crate::loyalty::rules::{max_redeemable_points, points_for, validate_redemption, Program, RedemptionError};
use crate::money::round;

pub use crate::memberships::rules::TierPricing;

crate::vocabulary! {
    /// Who priced an order.
    #[schema(example = "crm")]
    pub enum PricingMode {
        /// The CRM: tier discount, coupons and points as it computes them.
        Crm = "crm",
        /// The channel: its amounts stand, and the CRM only records them.
        External = "external",
    }
}

impl PricingMode {
    pub fn of(external: bool) -> PricingMode {
        if external {
            PricingMode::External
        } else {
            PricingMode::Crm
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BasketLine {
    pub sku: String,
    pub category: Option<String>,
    pub quantity: i32,
    pub unit_price: Decimal,
    /// `quantity × unit_price` unless the channel priced the line itself.
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PricedLine {
    pub amount: Decimal,
    pub tier_discount: Decimal,
    pub coupon_discount: Decimal,
    /// What the line costs after the tier discount and coupons (points come off the total).
    pub discounted_amount: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pricing {
    pub lines: Vec<PricedLine>,
    pub total_amount: Decimal,
    pub tier_discount: Decimal,
    pub coupon_discount: Decimal,
    /// Each presented coupon: applied with its discount, or why not.
    pub coupons: Vec<CouponResult>,
    /// The most points the basket takes (the cap on the amount after coupons).
    pub max_points: i64,
    pub points_redeemed: i64,
    pub points_offset: Decimal,
    pub payable: Decimal,
    pub points_to_earn: i64,
}

#[derive(Debug, PartialEq)]
pub enum PricingError {
    Redemption(RedemptionError),
}

fn coupon_lines(lines: &[BasketLine], amounts: impl Iterator<Item = Decimal>) -> Vec<CouponLine> {
    lines
        .iter()
        .zip(amounts)
        .map(|(l, amount)| CouponLine {
            sku: l.sku.clone(),
            category: l.category.clone(),
            quantity: l.quantity,
            amount,
        })
        .collect()
}

/// `crm` pricing: each line at the tier's rate (half-up to the cent), then the coupons on the
/// discounted lines, then points within the cap on what is left, then earning on what is paid.
/// A non-member (`tier: None`) pays list price and earns nothing.
pub fn price_basket(
    lines: &[BasketLine], tier: Option<&TierPricing>, program: &Program, coupons: &[Presented], points_to_redeem: i64,
) -> Result<Pricing, PricingError> {
    let rate = tier.map(|t| t.discount_rate).unwrap_or(Decimal::ONE);
    let after_tier: Vec<Decimal> = lines.iter().map(|l| round(l.amount * rate)).collect();
    let coupon_outcome = apply_coupons(coupons, &coupon_lines(lines, after_tier.iter().copied()));
    let priced: Vec<PricedLine> = lines
        .iter()
        .zip(&after_tier)
        .zip(&coupon_outcome.line_discounts)
        .map(|((l, discounted), coupon)| PricedLine {
            amount: l.amount,
            tier_discount: l.amount - discounted,
            coupon_discount: *coupon,
            discounted_amount: discounted - coupon,
        })
        .collect();
    let total_amount: Decimal = priced.iter().map(|l| l.amount).sum();
    let tier_discount: Decimal = priced.iter().map(|l| l.tier_discount).sum();
    let coupon_discount = coupon_outcome.total_discount;
    let after_coupons = total_amount - tier_discount - coupon_discount;
    let points_offset =
        validate_redemption(points_to_redeem, after_coupons, program).map_err(PricingError::Redemption)?;
    let payable = after_coupons - points_offset;
    let points_to_earn = tier.map(|t| points_for(payable, program.earn_rate, t.points_multiplier)).unwrap_or(0);
    Ok(Pricing {
        lines: priced,
        total_amount,
        tier_discount,
        coupon_discount,
        coupons: coupon_outcome.coupons,
        max_points: max_redeemable_points(after_coupons, program),
        points_redeemed: points_to_redeem,
        points_offset,
        payable,
        points_to_earn,
    })
}

/// `external` pricing: the channel's paid amount stands; coupons are checked (and their discount
/// recorded) on the list amounts, and redeemed points against the cap on the order total.
pub fn price_external(
    lines: &[BasketLine], tier: Option<&TierPricing>, program: &Program, coupons: &[Presented], points_to_redeem: i64,
    paid: Decimal,
) -> Result<Pricing, PricingError> {
    let coupon_outcome = apply_coupons(coupons, &coupon_lines(lines, lines.iter().map(|l| l.amount)));
    let priced: Vec<PricedLine> = lines
        .iter()
        .zip(&coupon_outcome.line_discounts)
        .map(|(l, coupon)| PricedLine {
            amount: l.amount,
            tier_discount: Decimal::ZERO,
            coupon_discount: *coupon,
            discounted_amount: l.amount - coupon,
        })
        .collect();
    let total_amount: Decimal = priced.iter().map(|l| l.amount).sum();
    let points_offset =
        validate_redemption(points_to_redeem, total_amount, program).map_err(PricingError::Redemption)?;
    let points_to_earn = tier.map(|t| points_for(paid, program.earn_rate, t.points_multiplier)).unwrap_or(0);
    Ok(Pricing {
        lines: priced,
        total_amount,
        tier_discount: Decimal::ZERO,
        coupon_discount: coupon_outcome.total_discount,
        coupons: coupon_outcome.coupons,
        max_points: max_redeemable_points(total_amount, program),
        points_redeemed: points_to_redeem,
        points_offset,
        payable: paid,
        points_to_earn,
    })
}

/// A sale as recorded, in the terms a re-post of its natural key is compared on.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSale<'a> {
    pub customer_id: Option<CustomerId>,
    pub lines: &'a [BasketLine],
    pub external_pricing: bool,
    pub paid_amount: Decimal,
    /// Canonical codes, as redeemed.
    pub coupon_codes: &'a [String],
    pub points_redeemed: i64,
    pub reservation_id: Option<Uuid>,
}

/// A post of the same natural key, as sent (the customer resolved, coupon codes canonical).
#[derive(Clone, Debug, PartialEq)]
pub struct PostedSale<'a> {
    pub customer_id: Option<CustomerId>,
    pub lines: &'a [BasketLine],
    pub external_pricing: bool,
    /// `None`: not sent (`crm` pricing computes it).
    pub paid_amount: Option<Decimal>,
    /// `None`: not sent (the reservation's, or none).
    pub coupon_codes: Option<&'a [String]>,
    /// `None`: not sent (the reservation's, or none).
    pub points_to_redeem: Option<i64>,
    pub reservation_id: Option<Uuid>,
}

/// Where a re-post differs from the recorded sale (SPEC §7: customer, lines or amounts), by field;
/// empty when it is the same sale. Lines compare by sku, quantity, unit price and amount in order
/// (names and categories are labels); the total follows from the lines. What the post leaves out
/// (`paid_amount` under `crm` pricing, coupons and points that a reservation supplied) is not a
/// difference.
pub fn sale_differences(recorded: &RecordedSale, posted: &PostedSale) -> Vec<&'static str> {
    let mut differs = Vec::new();
    if recorded.customer_id != posted.customer_id {
        differs.push("customer");
    }
    let same_line = |(a, b): (&BasketLine, &BasketLine)| {
        a.sku == b.sku && a.quantity == b.quantity && a.unit_price == b.unit_price && a.amount == b.amount
    };
    if recorded.lines.len() != posted.lines.len() || !recorded.lines.iter().zip(posted.lines).all(same_line) {
        differs.push("lines");
    }
    if recorded.external_pricing != posted.external_pricing {
        differs.push("pricing");
    }
    if posted.paid_amount.is_some_and(|paid| paid != recorded.paid_amount) {
        differs.push("paid_amount");
    }
    let same_reservation = recorded.reservation_id == posted.reservation_id;
    if !same_reservation {
        differs.push("reservation_id");
    }
    // Left out with the recorded reservation: what it held is what the sale used.
    let from_reservation = same_reservation && posted.reservation_id.is_some();
    let coupons_differ = match posted.coupon_codes {
        Some(codes) => {
            let (mut a, mut b) = (codes.to_vec(), recorded.coupon_codes.to_vec());
            a.sort();
            b.sort();
            a != b
        }
        None => !from_reservation && !recorded.coupon_codes.is_empty(),
    };
    if coupons_differ {
        differs.push("coupon_codes");
    }
    let points_differ = match posted.points_to_redeem {
        Some(points) => points != recorded.points_redeemed,
        None => !from_reservation && recorded.points_redeemed != 0,
    };
    if points_differ {
        differs.push("points_to_redeem");
    }
    differs
}

/// `external` pricing (SPEC §7): the channel may discount, never charge above its own list
/// amounts, so `0 ≤ paid ≤ total` (points cannot be minted by overstating a payment).
pub fn external_paid_error(total: Decimal, paid: Decimal) -> Option<&'static str> {
    if paid < Decimal::ZERO {
        Some("must not be negative")
    } else if paid > total {
        Some("must not exceed total_amount (the sum of the line amounts) with pricing 'external'")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn line(amount: &str) -> BasketLine {
        BasketLine { sku: "SKU".into(), category: None, quantity: 1, unit_price: d(amount), amount: d(amount) }
    }

    fn tier(rate: &str, mult: &str) -> TierPricing {
        TierPricing { code: "t".into(), discount_rate: d(rate), points_multiplier: d(mult) }
    }

    #[test]
    fn silver_pays_95_percent_rounded_half_up_per_line() {
        let p = price_basket(&[line("199.90"), line("0.10")], Some(&tier("0.95", "1")), &Program::default(), &[], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        // 199.90 × 0.95 = 189.905 → 189.91; 0.10 × 0.95 = 0.095 → 0.10
        assert_eq!(p.lines[0].discounted_amount, d("189.91"));
        assert_eq!(p.lines[1].discounted_amount, d("0.10"));
        assert_eq!(p.total_amount, d("200.00"));
        assert_eq!(p.tier_discount, d("9.99"));
        assert_eq!(p.payable, d("190.01"));
        assert_eq!(p.points_to_earn, 190);
    }

    #[test]
    fn points_offset_is_capped_at_half_of_the_discounted_amount() {
        let gold = tier("0.90", "1");
        // 300 → 270 after 9折; cap 135 → 13 units = 1300 points = ¥130.
        let p = price_basket(&[line("300.00")], Some(&gold), &Program::default(), &[], 1300)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.points_offset, d("130"));
        assert_eq!(p.payable, d("140.00"));
        assert_eq!(p.points_to_earn, 140, "offset is not paid amount");
        assert_eq!(
            price_basket(&[line("300.00")], Some(&gold), &Program::default(), &[], 1400),
            Err(PricingError::Redemption(RedemptionError::OverCap { max_points: 1300 }))
        );
    }

    #[test]
    fn non_members_pay_list_price_and_earn_nothing() {
        let p = price_basket(&[line("88.00")], None, &Program::default(), &[], 0).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((p.payable, p.tier_discount, p.points_to_earn), (d("88.00"), Decimal::ZERO, 0));
    }

    #[test]
    fn external_pricing_keeps_the_channels_paid_amount() {
        let p = price_external(&[line("500.00")], Some(&tier("0.95", "2")), &Program::default(), &[], 200, d("431.50"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (p.payable, p.tier_discount, p.points_offset, p.points_to_earn),
            (d("431.50"), Decimal::ZERO, d("20"), 863)
        );
    }

    fn man300jian50() -> crate::coupons::rules::Presented {
        crate::coupons::rules::Presented {
            code: "MJ".into(),
            terms: Some(crate::coupons::model::Terms {
                benefit: crate::coupons::model::Benefit::AmountOff { threshold: d("300.00"), discount: d("50.00") },
                scope: Default::default(),
                stackable: false,
            }),
            blocked: None,
        }
    }

    #[test]
    fn the_threshold_is_checked_after_the_tier_discount() {
        let gold = tier("0.90", "1");
        // 330 × 0.9 = 297: below 满300 for a gold member; 340 × 0.9 = 306 reaches it.
        let p = price_basket(&[line("330.00")], Some(&gold), &Program::default(), &[man300jian50()], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.coupons[0].reason, Some("below_threshold"));
        let p = price_basket(&[line("340.00")], Some(&gold), &Program::default(), &[man300jian50()], 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((p.tier_discount, p.coupon_discount, p.payable), (d("34.00"), d("50.00"), d("256.00")));
        assert_eq!(p.lines[0].discounted_amount, d("256.00"));
    }

    #[test]
    fn the_points_cap_is_half_of_the_amount_after_coupons() {
        // 400 − 50 = 350; half is 175 → 17 units = 1700 points.
        let p = price_basket(&[line("400.00")], Some(&tier("1", "1")), &Program::default(), &[man300jian50()], 1700)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((p.max_points, p.points_offset, p.payable, p.points_to_earn), (1700, d("170"), d("180.00"), 180));
        assert!(price_basket(&[line("400.00")], Some(&tier("1", "1")), &Program::default(), &[man300jian50()], 1800)
            .is_err());
    }

    fn recorded<'a>(lines: &'a [BasketLine], codes: &'a [String]) -> RecordedSale<'a> {
        RecordedSale {
            customer_id: Some(CustomerId(Uuid::nil())),
            lines,
            external_pricing: false,
            paid_amount: d("290.00"),
            coupon_codes: codes,
            points_redeemed: 100,
            reservation_id: None,
        }
    }

    #[test]
    fn a_re_post_is_the_same_sale_unless_customer_lines_or_amounts_differ() {
        let lines = [line("199.00"), line("101.00")];
        let codes = ["K7M4P9QX2HTR".to_string()];
        let rec = recorded(&lines, &codes);
        let same = PostedSale {
            customer_id: Some(CustomerId(Uuid::nil())),
            lines: &lines,
            external_pricing: false,
            paid_amount: None,
            coupon_codes: Some(&codes),
            points_to_redeem: Some(100),
            reservation_id: None,
        };
        assert_eq!(sale_differences(&rec, &same), Vec::<&str>::new());
        assert!(sale_differences(&rec, &PostedSale { paid_amount: Some(d("290.00")), ..same.clone() }).is_empty());

        let other_lines = [line("199.00"), line("101.01")];
        let fewer = [line("199.00")];
        let mut relabelled = lines.clone();
        relabelled[0].category = Some("男装".into());
        let no_codes: [String; 0] = [];
        let cases: Vec<(PostedSale, Vec<&str>)> = vec![
            (PostedSale { customer_id: None, ..same.clone() }, vec!["customer"]),
            (PostedSale { customer_id: Some(CustomerId(Uuid::from_u128(1))), ..same.clone() }, vec!["customer"]),
            (PostedSale { lines: &other_lines, ..same.clone() }, vec!["lines"]),
            (PostedSale { lines: &fewer, ..same.clone() }, vec!["lines"]),
            (PostedSale { lines: &relabelled, ..same.clone() }, vec![]),
            (PostedSale { external_pricing: true, ..same.clone() }, vec!["pricing"]),
            (PostedSale { paid_amount: Some(d("289.99")), ..same.clone() }, vec!["paid_amount"]),
            (PostedSale { coupon_codes: None, ..same.clone() }, vec!["coupon_codes"]),
            (PostedSale { coupon_codes: Some(&no_codes), ..same.clone() }, vec!["coupon_codes"]),
            (PostedSale { points_to_redeem: None, ..same.clone() }, vec!["points_to_redeem"]),
            (PostedSale { points_to_redeem: Some(200), ..same.clone() }, vec!["points_to_redeem"]),
            (PostedSale { reservation_id: Some(Uuid::nil()), ..same.clone() }, vec!["reservation_id"]),
        ];
        for (posted, expected) in cases {
            assert_eq!(sale_differences(&rec, &posted), expected, "{posted:?}");
        }

        // With the recorded reservation, coupons and points left out are the reservation's.
        let held = RecordedSale { reservation_id: Some(Uuid::nil()), ..rec.clone() };
        let by_reservation = PostedSale {
            coupon_codes: None,
            points_to_redeem: None,
            reservation_id: Some(Uuid::nil()),
            ..same.clone()
        };
        assert!(sale_differences(&held, &by_reservation).is_empty());
    }

    #[test]
    fn external_paid_amounts_stay_within_zero_and_the_total() {
        for (total, paid, ok) in [
            ("1.00", "1.00", true),
            ("1.00", "0.00", true),
            ("1.00", "0.50", true),
            ("1.00", "100000.00", false),
            ("1.00", "1.01", false),
            ("1.00", "-0.01", false),
            ("0.00", "0.00", true),
        ] {
            assert_eq!(external_paid_error(d(total), d(paid)).is_none(), ok, "total {total}, paid {paid}");
        }
    }
}
