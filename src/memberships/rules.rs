//! Pure tier rules: which tier a spend reaches, and a tier as pricing sees it. Loyalty (points) and
//! orders (pricing) build on these.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

crate::vocabulary! {
    /// Why a member's tier changed (or was renewed), as the history records it.
    #[schema(example = "upgrade")]
    pub enum TierChangeReason {
        Enrolment = "enrolment",
        /// Qualifying spend reached a higher tier.
        Upgrade = "upgrade",
        /// The daily downgrade check.
        Review = "review",
        /// An admin's decision.
        Manual = "manual",
        /// Two members merged.
        Merge = "merge",
    }
}

/// Qualifying spend counts the sales of the last 365 days up to now (SPEC §6).
pub const QUALIFYING_DAYS: i64 = 365;

/// Where the qualifying window starts (exclusive) at `now`.
pub fn qualifying_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::days(QUALIFYING_DAYS)
}

/// Whether a sale that happened at `occurred_at` counts towards the spend at `now`.
pub fn qualifies(occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    occurred_at > qualifying_since(now) && occurred_at <= now
}

/// The member's tier as pricing sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TierPricing {
    pub code: String,
    pub discount_rate: Decimal,
    pub points_multiplier: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TierRule {
    pub code: String,
    pub rank: i32,
    pub min_annual_spend: Decimal,
    pub discount_rate: Decimal,
    pub points_multiplier: Decimal,
}

/// The highest tier whose threshold the spend meets.
pub fn tier_for_spend(tiers: &[TierRule], spend: Decimal) -> Option<&TierRule> {
    tiers.iter().filter(|t| t.min_annual_spend <= spend).max_by_key(|t| t.rank)
}
