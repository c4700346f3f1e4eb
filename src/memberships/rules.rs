//! Pure tier rules: which tier a spend reaches, and a tier as pricing sees it. Loyalty (points) and
//! orders (pricing) build on these.

use rust_decimal::Decimal;

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
