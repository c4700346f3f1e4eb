//! Pure coupon rules: whether a presented coupon may be used here and now, and what a set of
//! coupons takes off a basket (per line, half-up to the cent) in the order that gives the
//! customer the most. No I/O: the quote, the order and the stand-alone redemption all call these.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{Benefit, Coupon, CouponStatus, CouponTemplateStatus, Terms};
use crate::money::round;

/// At most this many coupons on one basket: every order of application is tried (5! = 120).
pub const MAX_COUPONS_PER_BASKET: usize = 5;

/// Where and for whom a coupon is presented.
#[derive(Debug, Clone)]
pub struct Presentation {
    pub customer_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub channel: Option<String>,
    pub now: DateTime<Utc>,
    /// The reservation the caller is consuming: the coupons it holds are the caller's to use.
    pub reservation_id: Option<Uuid>,
}

/// Why a coupon cannot be used at all, whatever the basket: the first reason that applies, in the
/// order a till can act on (someone else's coupon says nothing more about itself).
pub fn blocked_reason(
    coupon: &Coupon, template_status: CouponTemplateStatus, terms: &Terms, at: &Presentation,
) -> Option<&'static str> {
    if at.customer_id != Some(coupon.customer_id) {
        return Some("not_owner");
    }
    match coupon.status {
        CouponStatus::Voided => return Some("voided"),
        CouponStatus::Redeemed => return Some("already_redeemed"),
        CouponStatus::Available | CouponStatus::Expired => {}
    }
    if template_status == CouponTemplateStatus::Ended {
        return Some("template_ended");
    }
    if coupon.expires_at <= at.now {
        return Some("expired");
    }
    if coupon.valid_from > at.now {
        return Some("not_yet_valid");
    }
    if coupon.held_by(at.now).is_some_and(|r| Some(r) != at.reservation_id) {
        return Some("reserved");
    }
    if !terms.scope.stores.is_empty() && !at.store_id.is_some_and(|s| terms.scope.stores.contains(&s)) {
        return Some("wrong_store");
    }
    if !terms.scope.channels.is_empty() && !at.channel.as_ref().is_some_and(|c| terms.scope.channels.contains(c)) {
        return Some("wrong_channel");
    }
    None
}

/// A basket line as coupons see it: its amount after the tier discount.
#[derive(Debug, Clone, PartialEq)]
pub struct CouponLine {
    pub sku: String,
    pub category: Option<String>,
    pub quantity: i32,
    pub amount: Decimal,
}

/// A coupon presented on a basket: its terms, or why it is out before pricing.
#[derive(Debug, Clone)]
pub struct Presented {
    pub code: String,
    pub terms: Option<Terms>,
    pub blocked: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CouponResult {
    pub code: String,
    pub applied: bool,
    pub discount: Decimal,
    /// Why it does not apply (`None` when applied).
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CouponOutcome {
    /// One per presented coupon, in the order presented.
    pub coupons: Vec<CouponResult>,
    /// The coupon discount on each line.
    pub line_discounts: Vec<Decimal>,
    pub total_discount: Decimal,
}

fn eligible_lines(terms: &Terms, lines: &[CouponLine]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| terms.scope.covers_line(&l.sku, l.category.as_deref()))
        .filter(|(_, l)| match &terms.benefit {
            Benefit::Gift { sku } => &l.sku == sku,
            _ => true,
        })
        .map(|(i, _)| i)
        .collect()
}

/// Why a coupon that may be used here does not fit this basket: nothing in its scope, or a
/// threshold (checked on the eligible lines after the tier discount) the basket does not reach.
fn basket_reason(terms: &Terms, lines: &[CouponLine]) -> Option<&'static str> {
    let eligible = eligible_lines(terms, lines);
    if eligible.is_empty() {
        return Some("no_eligible_items");
    }
    if let Benefit::AmountOff { threshold, .. } = terms.benefit {
        let base: Decimal = eligible.iter().map(|&i| lines[i].amount).sum();
        if base < threshold {
            return Some("below_threshold");
        }
    }
    None
}

/// Splits `total` cents over lines in proportion to `weights` (largest remainder), never giving a
/// line more than its weight. `total` must not exceed the sum of the weights.
fn allocate(total: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let sum: Decimal = weights.iter().sum();
    if sum <= Decimal::ZERO || total <= Decimal::ZERO {
        return vec![Decimal::ZERO; weights.len()];
    }
    let cent = Decimal::new(1, 2);
    let exact: Vec<Decimal> = weights.iter().map(|w| total * w / sum).collect();
    let mut shares: Vec<Decimal> = exact.iter().map(|e| (e / cent).floor() * cent).collect();
    let mut left = total - shares.iter().sum::<Decimal>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - shares[b]).cmp(&(exact[a] - shares[a])).then(a.cmp(&b)));
    while left > Decimal::ZERO {
        let before = left;
        for &i in &order {
            if left <= Decimal::ZERO {
                break;
            }
            if shares[i] + cent <= weights[i] {
                shares[i] += cent;
                left -= cent;
            }
        }
        if left == before {
            break;
        }
    }
    shares
}

/// What one coupon takes off the lines as they stand (`current`), per line.
fn discount_per_line(terms: &Terms, lines: &[CouponLine], current: &[Decimal]) -> Vec<Decimal> {
    let mut out = vec![Decimal::ZERO; lines.len()];
    let eligible = eligible_lines(terms, lines);
    let base: Decimal = eligible.iter().map(|&i| current[i]).sum();
    let weights: Vec<Decimal> = eligible.iter().map(|&i| current[i]).collect();
    let shares = match &terms.benefit {
        Benefit::AmountOff { discount, .. } | Benefit::Cash { discount } => allocate((*discount).min(base), &weights),
        Benefit::PercentOff { rate, max_discount } => {
            let each: Vec<Decimal> = weights.iter().map(|w| w - round(w * rate)).collect();
            let total: Decimal = each.iter().sum();
            match max_discount {
                Some(max) if total > *max => allocate(*max, &weights),
                _ => each,
            }
        }
        Benefit::Gift { .. } => {
            // One unit of the first gift line that still has value.
            let mut shares = vec![Decimal::ZERO; eligible.len()];
            if let Some(k) = eligible.iter().position(|&i| current[i] > Decimal::ZERO) {
                let line = &lines[eligible[k]];
                shares[k] = round(current[eligible[k]] / Decimal::from(line.quantity.max(1))).min(current[eligible[k]]);
            }
            shares
        }
    };
    for (k, &i) in eligible.iter().enumerate() {
        out[i] = shares[k];
    }
    out
}

/// Applies coupons in the given order; returns each coupon's per-line discounts.
fn apply_in_order(order: &[usize], terms: &[&Terms], lines: &[CouponLine]) -> Vec<Vec<Decimal>> {
    let mut current: Vec<Decimal> = lines.iter().map(|l| l.amount).collect();
    let mut per_coupon = vec![Vec::new(); terms.len()];
    for &c in order {
        let d = discount_per_line(terms[c], lines, &current);
        for (cur, x) in current.iter_mut().zip(&d) {
            *cur -= *x;
        }
        per_coupon[c] = d;
    }
    per_coupon
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for pos in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(pos, n - 1);
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The best order for a set of coupons: the most discount; the first such order on a tie.
fn best_application(terms: &[&Terms], lines: &[CouponLine]) -> (Decimal, Vec<Vec<Decimal>>) {
    let mut best: Option<(Decimal, Vec<Vec<Decimal>>)> = None;
    for order in permutations(terms.len()) {
        let per_coupon = apply_in_order(&order, terms, lines);
        let total: Decimal = per_coupon.iter().flatten().sum();
        if best.as_ref().is_none_or(|(b, _)| total > *b) {
            best = Some((total, per_coupon));
        }
    }
    best.unwrap_or((Decimal::ZERO, Vec::new()))
}

/// Prices the presented coupons on a basket. Coupons that may be used are grouped into the sets
/// that may be combined (all stackable ones together, or one non-stackable alone); the set that
/// saves the most wins (fewer coupons, then the earlier one, on a tie), each set in its best order.
pub fn apply_coupons(presented: &[Presented], lines: &[CouponLine]) -> CouponOutcome {
    let mut reasons: Vec<Option<&'static str>> = Vec::with_capacity(presented.len());
    for (i, p) in presented.iter().enumerate() {
        let duplicate = presented[..i].iter().any(|q| q.code == p.code);
        reasons.push(if duplicate {
            Some("duplicate")
        } else {
            match (&p.terms, p.blocked) {
                (_, Some(r)) => Some(r),
                (None, None) => Some("not_found"),
                (Some(t), None) => basket_reason(t, lines),
            }
        });
    }
    let usable: Vec<usize> = (0..presented.len()).filter(|&i| reasons[i].is_none()).collect();
    let stackable: Vec<usize> =
        usable.iter().copied().filter(|&i| presented[i].terms.as_ref().is_some_and(|t| t.stackable)).collect();
    let mut sets: Vec<Vec<usize>> = Vec::new();
    if !stackable.is_empty() {
        sets.push(stackable.clone());
    }
    sets.extend(usable.iter().copied().filter(|i| !stackable.contains(i)).map(|i| vec![i]));

    let mut chosen: Option<(Decimal, Vec<usize>, Vec<Vec<Decimal>>)> = None;
    for set in sets {
        let terms: Vec<&Terms> = set.iter().filter_map(|&i| presented[i].terms.as_ref()).collect();
        let (total, per_coupon) = best_application(&terms, lines);
        let better = match &chosen {
            None => true,
            Some((best, best_set, _)) => {
                total > *best || (total == *best && (set.len(), set.first()) < (best_set.len(), best_set.first()))
            }
        };
        if better {
            chosen = Some((total, set, per_coupon));
        }
    }

    let mut line_discounts = vec![Decimal::ZERO; lines.len()];
    let mut discounts = vec![Decimal::ZERO; presented.len()];
    if let Some((_, set, per_coupon)) = &chosen {
        for (k, &i) in set.iter().enumerate() {
            let d = per_coupon.get(k).cloned().unwrap_or_default();
            discounts[i] = d.iter().sum();
            for (total, x) in line_discounts.iter_mut().zip(&d) {
                *total += *x;
            }
        }
    }
    let in_chosen = |i: usize| chosen.as_ref().is_some_and(|(_, set, _)| set.contains(&i));
    let coupons = presented
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let reason = reasons[i].or(match (in_chosen(i), discounts[i] > Decimal::ZERO) {
                (false, _) => Some("not_stackable"),
                (true, false) => Some("nothing_left_to_discount"),
                (true, true) => None,
            });
            CouponResult {
                code: p.code.clone(),
                applied: reason.is_none(),
                discount: if reason.is_none() { discounts[i] } else { Decimal::ZERO },
                reason,
            }
        })
        .collect::<Vec<_>>();
    // A coupon that ends up giving nothing is not used, and its lines keep their value.
    let total_discount = coupons.iter().map(|c| c.discount).sum();
    CouponOutcome { coupons, line_discounts, total_discount }
}

/// A stand-alone redemption (the till priced the sale itself and sends only its amount): the
/// coupon's discount on that amount, or why it does not apply. A gift coupon is worth its gift.
pub fn standalone_discount(terms: &Terms, amount: Decimal) -> Result<Decimal, &'static str> {
    let line = CouponLine { sku: String::new(), category: None, quantity: 1, amount };
    let whole_basket = Terms { scope: Default::default(), ..terms.clone() };
    match &terms.benefit {
        Benefit::Gift { .. } => Ok(Decimal::ZERO),
        Benefit::AmountOff { threshold, .. } if amount < *threshold => Err("below_threshold"),
        _ => Ok(discount_per_line(&whole_basket, &[line], &[amount]).iter().sum()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coupons::model::Scope;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn line(sku: &str, category: &str, quantity: i32, amount: &str) -> CouponLine {
        CouponLine { sku: sku.into(), category: Some(category.into()), quantity, amount: d(amount) }
    }

    fn terms(benefit: Benefit, stackable: bool) -> Terms {
        Terms { benefit, scope: Scope::default(), stackable }
    }

    fn man300jian50() -> Terms {
        terms(Benefit::AmountOff { threshold: d("300.00"), discount: d("50.00") }, false)
    }

    fn presented(code: &str, t: Terms) -> Presented {
        Presented { code: code.into(), terms: Some(t), blocked: None }
    }

    #[test]
    fn threshold_300_is_met_at_300_00_not_at_299_99() {
        let below = apply_coupons(&[presented("A", man300jian50())], &[line("S", "女装", 1, "299.99")]);
        assert_eq!(below.coupons[0].reason, Some("below_threshold"));
        assert_eq!(below.total_discount, Decimal::ZERO);
        let at = apply_coupons(&[presented("A", man300jian50())], &[line("S", "女装", 1, "300.00")]);
        assert_eq!((at.coupons[0].applied, at.total_discount), (true, d("50.00")));
    }

    #[test]
    fn percent_off_is_capped_by_max_discount() {
        let nine = terms(Benefit::PercentOff { rate: d("0.90"), max_discount: Some(d("30.00")) }, false);
        let small = apply_coupons(&[presented("P", nine.clone())], &[line("S", "c", 1, "200.00")]);
        assert_eq!(small.total_discount, d("20.00"), "10% of 200");
        let big = apply_coupons(&[presented("P", nine)], &[line("S", "c", 1, "500.00")]);
        assert_eq!(big.total_discount, d("30.00"), "10% of 500 is 50, capped at 30");
    }

    #[test]
    fn percent_off_rounds_half_up_per_line() {
        let nine_five = terms(Benefit::PercentOff { rate: d("0.95"), max_discount: None }, false);
        // 0.10 × 0.95 = 0.095 → pays 0.10 (half-up), so no discount; 199.90 × 0.95 = 189.905 → 189.91.
        let out =
            apply_coupons(&[presented("P", nine_five)], &[line("A", "c", 1, "0.10"), line("B", "c", 1, "199.90")]);
        assert_eq!(out.line_discounts, vec![d("0.00"), d("9.99")]);
    }

    #[test]
    fn category_scope_leaves_other_lines_alone_and_thresholds_count_only_eligible_lines() {
        let mut womenswear = man300jian50();
        womenswear.scope.categories = vec!["女装".into()];
        let lines = [line("W", "女装", 1, "250.00"), line("M", "男装", 1, "100.00")];
        let out = apply_coupons(&[presented("A", womenswear.clone())], &lines);
        assert_eq!(out.coupons[0].reason, Some("below_threshold"), "only 250 of 350 is 女装");
        let lines = [line("W", "女装", 2, "300.00"), line("M", "男装", 1, "100.00")];
        let out = apply_coupons(&[presented("A", womenswear)], &lines);
        assert_eq!(out.line_discounts, vec![d("50.00"), d("0")]);
    }

    #[test]
    fn of_two_non_stackable_coupons_only_the_better_one_applies() {
        let cash20 = terms(Benefit::Cash { discount: d("20.00") }, false);
        let out = apply_coupons(
            &[presented("CASH", cash20), presented("MJ", man300jian50())],
            &[line("S", "c", 1, "320.00")],
        );
        assert_eq!(out.coupons[0].reason, Some("not_stackable"));
        assert!(out.coupons[1].applied);
        assert_eq!(out.total_discount, d("50.00"));
    }

    #[test]
    fn stackable_coupons_combine_in_the_order_that_saves_most() {
        let nine = terms(Benefit::PercentOff { rate: d("0.90"), max_discount: None }, true);
        let mut mj = man300jian50();
        mj.stackable = true;
        // Presented amount-off first, but percent first saves more: 30 + 50 = 80 (vs 50 + 25 = 75).
        let out = apply_coupons(&[presented("MJ", mj), presented("P", nine)], &[line("S", "c", 1, "300.00")]);
        assert_eq!((out.coupons[0].discount, out.coupons[1].discount), (d("50.00"), d("30.00")));
        assert_eq!(out.total_discount, d("80.00"));
    }

    #[test]
    fn a_stackable_set_loses_to_a_better_single_non_stackable_coupon() {
        let cash10 = terms(Benefit::Cash { discount: d("10.00") }, true);
        let cash15 = terms(Benefit::Cash { discount: d("15.00") }, true);
        let out = apply_coupons(
            &[presented("C10", cash10), presented("C15", cash15), presented("MJ", man300jian50())],
            &[line("S", "c", 1, "300.00")],
        );
        let reasons: Vec<_> = out.coupons.iter().map(|c| c.reason).collect();
        assert_eq!(reasons, vec![Some("not_stackable"), Some("not_stackable"), None]);
    }

    #[test]
    fn amount_off_splits_over_lines_to_the_cent_and_never_below_zero() {
        let cash = terms(Benefit::Cash { discount: d("10.00") }, false);
        let lines = [line("A", "c", 1, "33.33"), line("B", "c", 1, "33.33"), line("C", "c", 1, "33.34")];
        let out = apply_coupons(&[presented("C", cash)], &lines);
        assert_eq!(out.line_discounts.iter().sum::<Decimal>(), d("10.00"));
        assert!(out.line_discounts.iter().all(|x| *x >= d("3.33") && *x <= d("3.34")), "{:?}", out.line_discounts);
        let big = terms(Benefit::Cash { discount: d("20.00") }, false);
        let out = apply_coupons(&[presented("C", big)], &[line("A", "c", 1, "15.00")]);
        assert_eq!(out.total_discount, d("15.00"), "无门槛 ¥20 on a ¥15 basket takes 15, not 20");
    }

    #[test]
    fn a_gift_coupon_makes_one_unit_of_its_sku_free() {
        let gift = terms(Benefit::Gift { sku: "SOCKS".into() }, false);
        let lines = [line("DRESS", "女装", 1, "299.00"), line("SOCKS", "袜子", 3, "59.70")];
        let out = apply_coupons(&[presented("G", gift.clone())], &lines);
        assert_eq!(out.line_discounts, vec![d("0"), d("19.90")]);
        let out = apply_coupons(&[presented("G", gift)], &lines[..1]);
        assert_eq!(out.coupons[0].reason, Some("no_eligible_items"));
    }

    #[test]
    fn blocked_duplicate_and_unknown_coupons_say_why() {
        let blocked = Presented { code: "X".into(), terms: Some(man300jian50()), blocked: Some("expired") };
        let unknown = Presented { code: "U".into(), terms: None, blocked: None };
        let out = apply_coupons(
            &[presented("A", man300jian50()), presented("A", man300jian50()), blocked, unknown],
            &[line("S", "c", 1, "400.00")],
        );
        let reasons: Vec<_> = out.coupons.iter().map(|c| c.reason).collect();
        assert_eq!(reasons, vec![None, Some("duplicate"), Some("expired"), Some("not_found")]);
    }

    #[test]
    fn standalone_redemption_checks_the_threshold_on_the_amount() {
        assert_eq!(standalone_discount(&man300jian50(), d("299.99")), Err("below_threshold"));
        assert_eq!(standalone_discount(&man300jian50(), d("300.00")), Ok(d("50.00")));
        let nine = terms(Benefit::PercentOff { rate: d("0.90"), max_discount: Some(d("30")) }, false);
        assert_eq!(standalone_discount(&nine, d("1000.00")), Ok(d("30")));
    }

    fn coupon(owner: Uuid, now: DateTime<Utc>) -> Coupon {
        crate::coupons::model::sample_coupon(owner, now)
    }

    #[test]
    fn a_coupon_is_blocked_for_the_first_reason_a_till_can_act_on() {
        let now = DateTime::UNIX_EPOCH;
        let (owner, store, reservation) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let at = Presentation {
            customer_id: Some(owner),
            store_id: Some(store),
            channel: Some("pos".into()),
            now,
            reservation_id: None,
        };
        let t = man300jian50();
        let ok = coupon(owner, now);
        assert_eq!(blocked_reason(&ok, CouponTemplateStatus::Active, &t, &at), None);
        assert_eq!(
            blocked_reason(&ok, CouponTemplateStatus::Paused, &t, &at),
            None,
            "pausing a template stops issuing, not using"
        );
        assert_eq!(blocked_reason(&ok, CouponTemplateStatus::Ended, &t, &at), Some("template_ended"));
        let someone_else = Presentation { customer_id: Some(Uuid::now_v7()), ..at.clone() };
        let used = Coupon { status: CouponStatus::Redeemed, ..ok.clone() };
        assert_eq!(
            blocked_reason(&used, CouponTemplateStatus::Active, &t, &someone_else),
            Some("not_owner"),
            "says nothing more"
        );
        assert_eq!(blocked_reason(&used, CouponTemplateStatus::Active, &t, &at), Some("already_redeemed"));
        assert_eq!(
            blocked_reason(
                &Coupon { status: CouponStatus::Voided, ..ok.clone() },
                CouponTemplateStatus::Active,
                &t,
                &at
            ),
            Some("voided")
        );
        assert_eq!(
            blocked_reason(&Coupon { expires_at: now, ..ok.clone() }, CouponTemplateStatus::Active, &t, &at),
            Some("expired")
        );
        let later = Coupon { valid_from: now + chrono::Duration::seconds(1), ..ok.clone() };
        assert_eq!(blocked_reason(&later, CouponTemplateStatus::Active, &t, &at), Some("not_yet_valid"));
        let held = Coupon {
            reserved_by: Some(reservation),
            reserved_until: Some(now + chrono::Duration::seconds(600)),
            ..ok.clone()
        };
        assert_eq!(blocked_reason(&held, CouponTemplateStatus::Active, &t, &at), Some("reserved"));
        let consuming = Presentation { reservation_id: Some(reservation), ..at.clone() };
        assert_eq!(
            blocked_reason(&held, CouponTemplateStatus::Active, &t, &consuming),
            None,
            "the hold is the consumer's"
        );
        let lapsed = Coupon { reserved_until: Some(now), ..held };
        assert_eq!(
            blocked_reason(&lapsed, CouponTemplateStatus::Active, &t, &at),
            None,
            "an expired hold holds nothing"
        );
        let mut scoped = t.clone();
        scoped.scope.stores = vec![Uuid::now_v7()];
        assert_eq!(blocked_reason(&ok, CouponTemplateStatus::Active, &scoped, &at), Some("wrong_store"));
        scoped.scope.stores = vec![store];
        scoped.scope.channels = vec!["tmall".into()];
        assert_eq!(blocked_reason(&ok, CouponTemplateStatus::Active, &scoped, &at), Some("wrong_channel"));
    }
}
