//! The checkout quote: the same pricing an order gets, read-only; with `reserve`, the quoted
//! coupons and points are held for the customer until an order consumes them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::sale::price_sale;
use super::store as sales_store;
use crate::coupons::redeem;
use crate::coupons::rules::Presentation;
use crate::customers::service::CustomerRef;
use crate::error::{ApiError, ApiResult};
use crate::ids::StoreId;
use crate::loyalty::ledger;
use crate::loyalty::rules::{tier_for_spend, TierRule};
use crate::orders::rules::{BasketLine, Pricing};
use crate::reservations::store::{self, NewReservation, Reservation};
use crate::stores::SalesChannel;

pub struct QuoteRequest {
    pub customer: CustomerRef,
    pub store_id: Option<Uuid>,
    pub channel: SalesChannel,
    pub lines: Vec<BasketLine>,
    pub coupon_codes: Vec<String>,
    pub points_to_redeem: i64,
    pub reserve: bool,
}

/// Where the member stands and where this basket would take them.
#[derive(Debug, Clone, PartialEq)]
pub struct TierProgress {
    pub tier: String,
    pub qualifying_spend: Decimal,
    pub qualifying_spend_after: Decimal,
    /// The tier after this sale (an upgrade is immediate).
    pub tier_after: String,
    pub next_tier: Option<String>,
    /// What is still needed for `next_tier` after this sale.
    pub spend_to_next_tier: Option<Decimal>,
}

/// Pure: the tier a spend reaches (never below the current one) and the next one up.
pub fn tier_progress(tiers: &[TierRule], current: &str, spend: Decimal, spend_after: Decimal) -> TierProgress {
    let rank_now = tiers.iter().find(|t| t.code == current).map(|t| t.rank).unwrap_or(0);
    let after = tier_for_spend(tiers, spend_after).filter(|t| t.rank > rank_now);
    let (after_code, after_rank) = after.map(|t| (t.code.clone(), t.rank)).unwrap_or((current.to_string(), rank_now));
    let next = tiers.iter().filter(|t| t.rank > after_rank).min_by_key(|t| t.rank);
    TierProgress {
        tier: current.to_string(),
        qualifying_spend: spend,
        qualifying_spend_after: spend_after,
        tier_after: after_code,
        next_tier: next.map(|t| t.code.clone()),
        spend_to_next_tier: next.map(|t| (t.min_annual_spend - spend_after).max(Decimal::ZERO)),
    }
}

pub struct Quote {
    pub customer_id: Option<Uuid>,
    pub tier: Option<String>,
    pub pricing: Pricing,
    /// Points the member can spend now (held ones excluded); `None` for a non-member.
    pub points_available: Option<i64>,
    pub progress: Option<TierProgress>,
    pub reservation: Option<Reservation>,
}

/// Prices a basket exactly as `POST /v1/orders` would. Without `reserve` it only reads; with it,
/// the member's rows are locked in the order's lock order (membership → account → coupons) and
/// the applied coupons and the points are held until `ttl_seconds` from now.
pub fn quote(
    conn: &mut PgConnection, catalogue: &crate::loyalty::program::CatalogueCache, req: QuoteRequest, actor: &str,
    now: DateTime<Utc>, ttl_seconds: i64,
) -> ApiResult<Quote> {
    // The sale's two reads: who, with membership and account (locked when reserving, in the
    // order's lock order: membership → account → coupons), then lots, holds, spend, the catalogue
    // version and whether the store exists.
    let named = sales_store::named_customer(conn, &req.customer, req.reserve)?;
    let customer = named.customer;
    if req.reserve && customer.is_none() {
        return Err(ApiError::invalid(
            "reserve",
            "a reservation holds a customer's coupons and points: name the customer",
        ));
    }
    let membership = named.membership;
    if req.points_to_redeem > 0 && membership.is_none() {
        return Err(ledger::not_a_member());
    }
    if let (true, Some(m), None) = (req.reserve, &membership, &named.account) {
        ledger::lock_account(conn, m.customer_id)?;
    }
    let key = sales_store::NaturalKey { channel: req.channel, store_id: req.store_id.map(StoreId), external_id: None };
    let needs = sales_store::needs(conn, membership.as_ref().map(|m| m.customer_id), &key, None, now)?;
    let catalogue = catalogue.at(conn, needs.catalogue_version)?;
    let (program, tiers) = (&catalogue.program, &catalogue.tiers);
    let tier = membership.as_ref().and_then(|m| tiers.iter().find(|t| t.code == m.tier_code));
    let loaded = redeem::load(conn, &req.coupon_codes, req.reserve)?;
    let at = Presentation {
        customer_id: customer,
        store_id: req.store_id,
        channel: Some(req.channel.to_string()),
        now,
        reservation_id: None,
    };
    let presented = redeem::presented(&loaded, &at);
    let pricing = price_sale(&req.lines, tier, program, &presented, req.points_to_redeem, None)?;

    let mut points_available = None;
    let mut progress = None;
    if let (Some(_), Some(t)) = (&membership, tier) {
        let debt = named.account.as_ref().map_or(0, |a| a.debt);
        let available = ledger::spendable(&needs.lots, debt, needs.held, now);
        if req.points_to_redeem > available {
            return Err(ledger::insufficient(available, req.points_to_redeem));
        }
        points_available = Some(available);
        let spend = needs.spend;
        let rules: Vec<TierRule> = tiers.iter().map(|t| t.rule()).collect();
        progress = Some(tier_progress(&rules, &t.code, spend, spend + pricing.payable));
    }

    let reservation = match (req.reserve, customer) {
        (true, Some(customer_id)) => {
            let held_codes: Vec<String> =
                pricing.coupons.iter().filter(|c| c.applied).map(|c| c.code.clone()).collect();
            Some(store::insert(
                conn,
                NewReservation {
                    customer_id,
                    store_id: req.store_id,
                    channel: req.channel,
                    points: pricing.points_redeemed,
                    coupon_codes: &held_codes,
                    quote: json!({
                        "total_amount": crate::money::format(pricing.total_amount),
                        "tier_discount": crate::money::format(pricing.tier_discount),
                        "coupon_discount": crate::money::format(pricing.coupon_discount),
                        "points_offset": crate::money::format(pricing.points_offset),
                        "payable": crate::money::format(pricing.payable),
                    }),
                    expires_at: now + chrono::Duration::seconds(ttl_seconds),
                    actor,
                    now,
                },
            )?)
        }
        _ => None,
    };
    Ok(Quote {
        customer_id: customer,
        tier: tier.map(|t| t.code.clone()),
        pricing,
        points_available,
        progress,
        reservation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn tiers() -> Vec<TierRule> {
        [("normal", 0, "0"), ("silver", 1, "5000"), ("gold", 2, "15000")]
            .into_iter()
            .map(|(code, rank, min)| TierRule {
                code: code.into(),
                rank,
                min_annual_spend: d(min),
                discount_rate: Decimal::ONE,
                points_multiplier: Decimal::ONE,
            })
            .collect()
    }

    #[test]
    fn progress_shows_the_upgrade_a_sale_would_bring_and_what_is_left() {
        let p = tier_progress(&tiers(), "normal", d("4800.00"), d("5000.00"));
        assert_eq!((p.tier_after.as_str(), p.next_tier.as_deref()), ("silver", Some("gold")));
        assert_eq!(p.spend_to_next_tier, Some(d("10000.00")));
        let p = tier_progress(&tiers(), "normal", d("4800.00"), d("4999.99"));
        assert_eq!((p.tier_after.as_str(), p.spend_to_next_tier), ("normal", Some(d("0.01"))));
        let p = tier_progress(&tiers(), "gold", d("100"), d("200"));
        assert_eq!((p.tier_after.as_str(), p.next_tier), ("gold", None), "no downgrade at the till");
    }
}
