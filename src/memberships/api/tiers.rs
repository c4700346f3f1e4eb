//! The tier catalogue (`/v1/tiers`): the chain's, read by every store.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::store::{self, Tier, TierChanges};
use crate::audit::{audited, AuditAction};
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Admin, Auth, ChainWide, LoyaltyRead};
use crate::http::IfMatch;
use crate::state::AppState;

/// Highest rank a tier may have.
pub const MAX_RANK: i32 = 1000;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "silver", "name": "银卡", "rank": 1, "min_annual_spend": "5000.00",
    "discount_rate": "0.95", "points_multiplier": "1", "benefits": ["9.5折"], "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct TierView {
    code: String,
    name: String,
    /// Higher is better; the base tier (every member's floor) has rank 0.
    rank: i32,
    /// Qualifying spend (rolling 365 days) that reaches the tier.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "5000.00")]
    min_annual_spend: Decimal,
    /// Share of the price a member pays: "0.95" is 9.5折, "1" no discount.
    #[serde(serialize_with = "crate::money::rate::serialize")]
    #[schema(value_type = String, example = "0.95")]
    discount_rate: Decimal,
    /// Points earned per point the program's earn rate gives.
    #[serde(serialize_with = "crate::money::rate::serialize")]
    #[schema(value_type = String, example = "1")]
    points_multiplier: Decimal,
    benefits: Vec<String>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Tier> for TierView {
    fn from(t: Tier) -> Self {
        TierView {
            code: t.code,
            name: t.name,
            rank: t.rank,
            min_annual_spend: t.min_annual_spend,
            discount_rate: t.discount_rate,
            points_multiplier: t.points_multiplier,
            benefits: t.benefits,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [
    {"code": "normal", "name": "普通会员", "rank": 0, "min_annual_spend": "0.00", "discount_rate": "1",
     "points_multiplier": "1", "benefits": [], "version": 1,
     "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"},
    {"code": "silver", "name": "银卡", "rank": 1, "min_annual_spend": "5000.00", "discount_rate": "0.95",
     "points_multiplier": "1", "benefits": ["9.5折"], "version": 1,
     "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}]}))]
pub struct TierList {
    /// Every tier, by rank.
    items: Vec<TierView>,
}

/// A new tier.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "platinum", "name": "铂金卡", "rank": 3, "min_annual_spend": "50000.00",
    "discount_rate": "0.85", "points_multiplier": "1.5", "benefits": ["8.5折", "一对一服务", "生日礼"]}))]
pub struct TierCreate {
    /// Lower-case letters, digits and `_`, starting with a letter; cannot change later.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,31}$")]
    code: String,
    /// Not blank.
    #[schema(min_length = 1, max_length = 50, format = "non-blank")]
    name: String,
    /// Unique among tiers; rank 0 is the base tier (its `min_annual_spend` must be 0).
    #[serde(deserialize_with = "crate::http::whole_number_required")]
    #[schema(minimum = 0, maximum = 1000)]
    rank: i32,
    /// Money, not negative.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "50000.00")]
    min_annual_spend: Decimal,
    /// In (0, 1], up to 4 decimals: "0.95" is 9.5折.
    #[schema(pattern = r"^(0\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])|1(\.0{1,4})?)$")]
    discount_rate: String,
    /// In [0, 10], up to 3 decimals.
    #[schema(pattern = r"^([0-9](\.[0-9]{1,3})?|10(\.0{1,3})?)$")]
    points_multiplier: String,
    /// At most 20, each 1-100 characters and not blank.
    #[schema(max_items = 20, min_length = 1, max_length = 100, format = "non-blank")]
    benefits: Option<Vec<String>>,
}

/// Changes to a tier: absent fields stay. The code cannot change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"min_annual_spend": "6000.00", "benefits": ["9.5折", "免费停车"]}))]
pub struct TierPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 50, format = "non-blank")]
    name: Option<String>,
    /// Unique among tiers; the base tier keeps rank 0.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 0, maximum = 1000)]
    rank: Option<i32>,
    /// Money, not negative; the base tier keeps 0.
    #[serde(default, with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "6000.00")]
    min_annual_spend: Option<Decimal>,
    /// In (0, 1], up to 4 decimals.
    #[schema(pattern = r"^(0\.([1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])|1(\.0{1,4})?)$")]
    discount_rate: Option<String>,
    /// In [0, 10], up to 3 decimals.
    #[schema(pattern = r"^([0-9](\.[0-9]{1,3})?|10(\.0{1,3})?)$")]
    points_multiplier: Option<String>,
    /// Replaces the list: at most 20, each 1-100 characters and not blank.
    #[schema(max_items = 20, min_length = 1, max_length = 100, format = "non-blank")]
    benefits: Option<Vec<String>>,
}

pub fn valid_code(code: &str) -> bool {
    let mut bytes = code.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && code.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Every tier field but the code, checked and converted; one violation per bad field.
#[derive(Default)]
struct TierFields<'a> {
    name: Option<&'a str>,
    rank: Option<i32>,
    min_annual_spend: Option<Decimal>,
    discount_rate: Option<&'a str>,
    points_multiplier: Option<&'a str>,
    benefits: Option<&'a [String]>,
}

impl TierFields<'_> {
    fn check(self, v: &mut Violations) -> TierChanges {
        if let Some(name) = self.name {
            v.check(
                !name.trim().is_empty() && name.chars().count() <= 50,
                "name",
                "must be 1-50 characters, not blank",
            );
        }
        if let Some(rank) = self.rank {
            v.check((0..=MAX_RANK).contains(&rank), "rank", "must be between 0 and 1000");
        }
        if let Some(min) = self.min_annual_spend {
            v.check(min >= Decimal::ZERO, "min_annual_spend", "must not be negative");
        }
        let mut rate = |field: &str, raw: Option<&str>, decimals: usize, min_inclusive: bool, max: i64| {
            let parsed = raw.map(|r| {
                crate::money::rate::parse_within(r, decimals, Decimal::ZERO, min_inclusive, Decimal::from(max))
            });
            match parsed {
                Some(Ok(value)) => Some(value),
                Some(Err(message)) => {
                    v.add(field, message);
                    None
                }
                None => None,
            }
        };
        let discount_rate = rate("discount_rate", self.discount_rate, 4, false, 1);
        let points_multiplier = rate("points_multiplier", self.points_multiplier, 3, true, 10);
        if let Some(benefits) = self.benefits {
            v.check(benefits.len() <= 20, "benefits", "at most 20");
            v.check(
                benefits.iter().all(|b| !b.trim().is_empty() && b.chars().count() <= 100),
                "benefits",
                "each must be 1-100 characters, not blank",
            );
        }
        TierChanges {
            name: self.name.map(|n| n.trim().to_string()),
            rank: self.rank,
            min_annual_spend: self.min_annual_spend,
            discount_rate,
            points_multiplier,
            benefits: self.benefits.map(|b| b.iter().map(|s| s.trim().to_string()).collect()),
        }
    }
}

fn tier_response(status: StatusCode, tier: Tier) -> HttpResponse {
    crate::http::versioned(status, tier.version, format!("/v1/tiers/{}", tier.code), &TierView::from(tier))
}

/// List the tier catalogue, by rank.
#[utoipa::path(
    tag = "memberships", operation_id = "list_tiers", security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "Every tier, by rank", body = TierList))
)]
#[get("/v1/tiers")]
pub(super) async fn list_tiers(_auth: Auth<LoyaltyRead>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let tiers = crate::db::run(&state.pool, store::list_tiers).await?;
    Ok(HttpResponse::Ok().json(TierList { items: tiers.into_iter().map(Into::into).collect() }))
}

/// Read a tier.
#[utoipa::path(
    tag = "memberships", operation_id = "get_tier",
    params(("code" = String, Path, description = "Tier code")), security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "The tier", body = TierView), crate::memberships::api::TierNotFound)
)]
#[get("/v1/tiers/{code}")]
pub(super) async fn get_tier(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let code = code.into_inner();
    let tier = crate::db::run(&state.pool, move |conn| store::get_tier(conn, &code)).await?;
    Ok(tier_response(StatusCode::OK, tier))
}

/// Add a tier.
#[utoipa::path(
    tag = "memberships", operation_id = "create_tier", request_body = TierCreate, security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = TierView),
        crate::error::AdminChainWideOnly,
        (status = 409, description = "Another tier has this code or rank (`tier_conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a rank-0 tier with a threshold (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/tiers")]
pub(super) async fn create_tier(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, body: crate::http::Json<TierCreate>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    let mut v = Violations::new();
    v.check(valid_code(&input.code), "code", "must be a lower-case letter then up to 31 letters, digits or '_'");
    let changes = TierFields {
        name: Some(&input.name),
        rank: Some(input.rank),
        min_annual_spend: Some(input.min_annual_spend),
        discount_rate: Some(&input.discount_rate),
        points_multiplier: Some(&input.points_multiplier),
        benefits: Some(input.benefits.as_deref().unwrap_or_default()),
    }
    .check(&mut v);
    v.into_result()?;
    let code = input.code;
    let write = move |conn: &mut PgConnection| store::insert_tier(conn, &code, &changes);
    let tier = audited(&state.pool, &auth, AuditAction::TierCreate, write, |t| t.code.clone()).await?;
    Ok(tier_response(StatusCode::CREATED, tier))
}

/// Change a tier; send `If-Match` with the ETag you read. The new threshold applies from the next
/// order (upgrades) and the next review (downgrades); nobody moves on the spot.
#[utoipa::path(
    tag = "memberships", operation_id = "update_tier", request_body = TierPatch,
    params(("code" = String, Path, description = "Tier code"), IfMatch), security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Updated", body = TierView),
        crate::error::AdminChainWideOnly,
        crate::memberships::api::TierNotFound,
        (status = 409, description = "Another tier has this rank (`tier_conflict`)", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "Invalid fields, or the base tier would lose rank 0 or get a threshold", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/tiers/{code}")]
pub(super) async fn update_tier(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, expected_version: IfMatch, code: web::Path<String>,
    body: crate::http::Json<TierPatch>,
) -> ApiResult<HttpResponse> {
    let code = code.into_inner();
    let input = body.into_inner();
    let mut v = Violations::new();
    let changes = TierFields {
        name: input.name.as_deref(),
        rank: input.rank,
        min_annual_spend: input.min_annual_spend,
        discount_rate: input.discount_rate.as_deref(),
        points_multiplier: input.points_multiplier.as_deref(),
        benefits: input.benefits.as_deref(),
    }
    .check(&mut v);
    v.into_result()?;
    let expected = expected_version.0;
    let write = move |conn: &mut PgConnection| store::update_tier(conn, &code, expected, &changes);
    let tier = audited(&state.pool, &auth, AuditAction::TierUpdate, write, |t| t.code.clone()).await?;
    Ok(tier_response(StatusCode::OK, tier))
}
