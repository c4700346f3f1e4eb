//! Points endpoints (balance, entries, adjustments), the rewards catalogue, reward redemptions,
//! the ledger audit and the program settings: one file per resource.

mod audit;
mod points;
mod program;
mod redemptions;
mod rewards;

use serde::Deserialize;
use serde_json::json;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};

// Problem responses several operations name.
crate::problem_response!(pub LoyaltyWriteChainWideOnly = 403, "`forbidden` without `loyalty:write`; `store_bound_principal` for a store-bound principal");
crate::problem_response!(pub RewardNotFound = 404, "`reward_not_found`");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    points::configure(cfg);
    rewards::configure(cfg);
    redemptions::configure(cfg);
    audit::configure(cfg);
    program::configure(cfg);
}

/// Largest adjustment, reward cost and stock a request may name.
pub const MAX_ADJUSTMENT: i64 = 10_000_000;
pub const MAX_POINTS_COST: i64 = 10_000_000;
pub const MAX_STOCK: i32 = 1_000_000;
pub const MAX_QUANTITY: i32 = 100;
/// "Expiring soon" means within this many days.
pub const EXPIRING_WINDOW_DAYS: i64 = 30;

/// For integer fields: JSON Schema counts `307.0` as an integer, so it is accepted as 307.
fn whole_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        // Only whole numbers well inside i64 (every limit here is far smaller).
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!("invalid type: {number}, expected a whole number"))),
    }
}

/// A non-zero number of points, at most 10,000,000 either way.
fn adjustment_points_schema() -> OneOfBuilder {
    let range = |min: i64, max: i64| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(min as f64))
            .maximum(Some(max as f64))
    };
    OneOfBuilder::new()
        .item(range(-MAX_ADJUSTMENT, -1))
        .item(range(1, MAX_ADJUSTMENT))
        .description(Some(
            "Points to add (positive) or take away (negative); not zero, at most the program's \
             `max_adjustment_points` (default 10,000) either way, else 422 `adjustment_over_limit`.",
        ))
        .examples([json!(500), json!(-200)])
}
