//! Tier catalogue and membership endpoints (SPEC §6): tiers, enrolment, the member view, history,
//! the member list and the manual tier set. The program settings live in `loyalty::program_api`.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::store::{self, Enrolment, Membership, Tier, TierChange, TierChanges};
use crate::http::auth::{Admin, Auth, CustomersWrite, LoyaltyRead};
use crate::http::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::if_match;
use crate::http::pagination::{Page, PageParams};
use crate::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_tiers)
        .service(create_tier)
        .service(get_tier)
        .service(update_tier)
        .service(list_memberships)
        .service(enrol_member)
        .service(get_membership)
        .service(membership_history)
        .service(set_member_tier);
    crate::loyalty::program_api::configure(cfg);
}

/// Highest rank a tier may have.
pub const MAX_RANK: i32 = 1000;

// ---------------------------------------------------------------------------------------------
// Tiers
// ---------------------------------------------------------------------------------------------

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

fn valid_code(code: &str) -> bool {
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
    tag = "memberships", operation_id = "list_tiers",
    security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "Every tier, by rank", body = TierList))
)]
#[get("/v1/tiers")]
async fn list_tiers(_auth: Auth<LoyaltyRead>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let tiers = crate::db::run(&state.pool, store::list_tiers).await?;
    Ok(HttpResponse::Ok().json(TierList { items: tiers.into_iter().map(Into::into).collect() }))
}

/// Read a tier.
#[utoipa::path(
    tag = "memberships", operation_id = "get_tier",
    params(("code" = String, Path, description = "Tier code")),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "The tier", body = TierView),
        (status = 404, description = "`tier_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/tiers/{code}")]
async fn get_tier(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let code = code.into_inner();
    let tier = crate::db::run(&state.pool, move |conn| store::get_tier(conn, &code)).await?;
    Ok(tier_response(StatusCode::OK, tier))
}

/// Add a tier.
#[utoipa::path(
    tag = "memberships", operation_id = "create_tier", request_body = TierCreate,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = TierView),
        (status = 403, description = "`forbidden` without `admin`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another tier has this code or rank (`tier_conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a rank-0 tier with a threshold (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/tiers")]
async fn create_tier(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    body: crate::http::Json<TierCreate>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
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
    let who = auth.principal.clone();
    let tier = crate::db::transaction(&state.pool, move |conn| {
        let tier = store::insert_tier(conn, &code, &changes)?;
        crate::audit::record(conn, &who, "tier.create", "tier", Some(code.clone()), json!({}))?;
        Ok(tier)
    })
    .await?;
    Ok(tier_response(StatusCode::CREATED, tier))
}

/// Change a tier; send `If-Match` with the ETag you read. The new threshold applies from the next
/// order (upgrades) and the next review (downgrades); nobody moves on the spot.
#[utoipa::path(
    tag = "memberships", operation_id = "update_tier", request_body = TierPatch,
    params(("code" = String, Path, description = "Tier code"),
           ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Updated", body = TierView),
        (status = 403, description = "`forbidden` without `admin`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`tier_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another tier has this rank (`tier_conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the base tier would lose rank 0 or get a threshold", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/tiers/{code}")]
async fn update_tier(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
    body: crate::http::Json<TierPatch>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
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
    let expected = if_match(&req);
    let who = auth.principal.clone();
    let tier = crate::db::transaction(&state.pool, move |conn| {
        let tier = store::update_tier(conn, &code, expected, &changes)?;
        crate::audit::record(conn, &who, "tier.update", "tier", Some(code.clone()), json!({}))?;
        Ok(tier)
    })
    .await?;
    Ok(tier_response(StatusCode::OK, tier))
}

// ---------------------------------------------------------------------------------------------
// Memberships
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "silver", "name": "银卡", "discount_rate": "0.95", "points_multiplier": "1"}))]
pub struct MemberTier {
    code: String,
    name: String,
    /// Share of the price a member pays: "0.95" is 9.5折.
    #[serde(serialize_with = "crate::money::rate::serialize")]
    #[schema(value_type = String, example = "0.95")]
    discount_rate: Decimal,
    #[serde(serialize_with = "crate::money::rate::serialize")]
    #[schema(value_type = String, example = "1")]
    points_multiplier: Decimal,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "gold", "name": "金卡", "min_annual_spend": "15000.00"}))]
pub struct NextTier {
    code: String,
    name: String,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "15000.00")]
    min_annual_spend: Decimal,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "member_card": "8800123456789012",
    "tier": {"code": "silver", "name": "银卡", "discount_rate": "0.95", "points_multiplier": "1"},
    "member_since": "2025-03-01T10:00:00Z", "enrolled_channel": "pos",
    "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "tier_since": "2026-05-20T06:12:00Z", "tier_valid_until": "2027-05-20T06:12:00Z",
    "qualifying_spend": "6120.00",
    "next_tier": {"code": "gold", "name": "金卡", "min_annual_spend": "15000.00"},
    "spend_to_next_tier": "8880.00", "version": 3}))]
pub struct MembershipView {
    customer_id: Uuid,
    /// 16 digits; also the customer's `member_card` identity (lookups by card find the customer).
    member_card: String,
    tier: MemberTier,
    member_since: DateTime<Utc>,
    enrolled_channel: Option<String>,
    /// The store that enrolled the member.
    store_id: Option<Uuid>,
    /// When the member reached the current tier.
    tier_since: DateTime<Utc>,
    /// When the daily review re-checks the tier; null for the base tier, which never lapses.
    tier_valid_until: Option<DateTime<Utc>>,
    /// Net paid amount (after refunds) of the member's orders in the rolling 365 days.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "6120.00")]
    qualifying_spend: Decimal,
    /// The tier above the current one; null at the top.
    next_tier: Option<NextTier>,
    /// Qualifying spend still needed for `next_tier` (0 when already met); null at the top.
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "8880.00")]
    spend_to_next_tier: Option<Decimal>,
    version: i32,
}

/// The member as the API shows it, given the tier catalogue and the member's qualifying spend.
pub fn membership_view(m: Membership, tiers: &[Tier], spend: Decimal) -> ApiResult<MembershipView> {
    let tier = tiers
        .iter()
        .find(|t| t.code == m.tier_code)
        .ok_or_else(|| ApiError::internal(format!("tier {} of a member is missing", m.tier_code)))?;
    let next = tiers.iter().filter(|t| t.rank > tier.rank).min_by_key(|t| t.rank);
    Ok(MembershipView {
        customer_id: m.customer_id,
        member_card: m.member_card,
        tier: MemberTier {
            code: tier.code.clone(),
            name: tier.name.clone(),
            discount_rate: tier.discount_rate,
            points_multiplier: tier.points_multiplier,
        },
        member_since: m.enrolled_at,
        enrolled_channel: m.channel,
        store_id: m.store_id,
        tier_since: m.tier_since,
        tier_valid_until: m.tier_valid_until,
        qualifying_spend: spend,
        spend_to_next_tier: next.map(|n| (n.min_annual_spend - spend).max(Decimal::ZERO)),
        next_tier: next.map(|n| NextTier {
            code: n.code.clone(),
            name: n.name.clone(),
            min_annual_spend: n.min_annual_spend,
        }),
        version: m.version,
    })
}

/// One member's view, with the qualifying spend as of `now`.
pub fn read_membership(conn: &mut PgConnection, m: Membership, now: DateTime<Utc>) -> ApiResult<MembershipView> {
    let tiers = store::list_tiers(conn)?;
    let spend = store::qualifying_spend(conn, m.customer_id, now)?;
    membership_view(m, &tiers, spend)
}

/// 404 for a customer who is not a member: `customer_not_found` when there is no such customer at all.
fn not_a_member(conn: &mut PgConnection, customer: Uuid) -> ApiError {
    match crate::customers::store::get(conn, customer) {
        Ok(_) => store::not_a_member(),
        Err(e) => e,
    }
}

fn membership_response(status: StatusCode, view: MembershipView) -> HttpResponse {
    crate::http::versioned(status, view.version, format!("/v1/customers/{}/membership", view.customer_id), &view)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"channel": "pos", "store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60"}))]
pub struct EnrolInput {
    /// Where the customer joined.
    #[schema(format = "channel")]
    channel: Option<String>,
    /// The enrolling store; a store-bound client enrols for its own store (the default).
    store_id: Option<Uuid>,
}

/// Enrol a customer: a 16-digit member card is issued (and becomes the `member_card` identity), at
/// the tier the customer's qualifying spend already meets.
#[utoipa::path(
    tag = "memberships", operation_id = "enrol_member", request_body = EnrolInput,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["customers:write"])),
    responses(
        (status = 201, description = "Enrolled", body = MembershipView),
        (status = 403, description = "`store_bound_principal`: a store-bound principal enrolling for another store", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_member`, or the customer was merged or erased (`customer_merged`, `customer_erased`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/membership")]
async fn enrol_member(
    auth: Auth<CustomersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<EnrolInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let input = body.into_inner();
    if let Some(channel) = &input.channel {
        if !crate::stores::CHANNELS.contains(&channel.as_str()) {
            return Err(ApiError::invalid("channel", "is not a known channel"));
        }
    }
    let store_id = auth.acting_store(input.store_id)?;
    let enrolment = Enrolment { channel: input.channel, store_id };
    let actor = auth.sub.clone();
    let now = state.clock.now();
    let view = crate::db::transaction(&state.pool, move |conn| {
        crate::customers::store::lock_active(conn, id)?;
        if let Some(store_id) = store_id {
            crate::stores::store::get(conn, store_id)
                .map_err(|_| ApiError::invalid("store_id", "no store with this id"))?;
        }
        let program = crate::loyalty::program::load(conn)?;
        let membership = store::enrol(conn, id, &enrolment, &actor, now, program.tier_validity_days)?;
        read_membership(conn, membership, now)
    })
    .await?;
    Ok(membership_response(StatusCode::CREATED, view))
}

/// A member's tier, card, qualifying spend and what the next tier needs.
#[utoipa::path(
    tag = "memberships", operation_id = "get_membership",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "The membership", body = MembershipView),
        (status = 404, description = "`membership_not_found` (not a member) or `customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/membership")]
async fn get_membership(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let view = crate::db::run(&state.pool, move |conn| match store::find(conn, id)? {
        Some(m) => read_membership(conn, m, now),
        None => Err(not_a_member(conn, id)),
    })
    .await?;
    Ok(membership_response(StatusCode::OK, view))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"from_tier": "normal", "to_tier": "silver", "reason": "upgrade",
    "note": "qualifying spend 5230.00", "actor": "client:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "occurred_at": "2026-05-20T06:12:00Z"}))]
pub struct TierChangeView {
    /// Null for the enrolment.
    from_tier: Option<String>,
    to_tier: String,
    /// `enrolment`, `upgrade`, `review` (the daily downgrade check), `manual` or `merge`.
    reason: String,
    /// The admin's reason for a manual change; the spend for automatic ones.
    note: Option<String>,
    /// Who made the change (`client:…`, `staff:…`, or `system` for jobs).
    actor: String,
    occurred_at: DateTime<Utc>,
}

impl From<TierChange> for TierChangeView {
    fn from(c: TierChange) -> Self {
        TierChangeView {
            from_tier: c.from_tier,
            to_tier: c.to_tier,
            reason: c.reason,
            note: c.note,
            actor: c.actor,
            occurred_at: c.occurred_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [
    {"from_tier": "normal", "to_tier": "silver", "reason": "upgrade", "note": "qualifying spend 5230.00",
     "actor": "client:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "occurred_at": "2026-05-20T06:12:00Z"},
    {"from_tier": null, "to_tier": "normal", "reason": "enrolment", "note": null,
     "actor": "client:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "occurred_at": "2025-03-01T10:00:00Z"}]}))]
pub struct TierHistory {
    /// Newest first.
    items: Vec<TierChangeView>,
}

/// A member's tier changes with their reasons, newest first.
#[utoipa::path(
    tag = "memberships", operation_id = "get_membership_history",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "Tier changes, newest first", body = TierHistory),
        (status = 404, description = "`membership_not_found` or `customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/membership/history")]
async fn membership_history(
    _auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let items = crate::db::run(&state.pool, move |conn| {
        let items = store::history(conn, id)?;
        if items.is_empty() && store::find(conn, id)?.is_none() {
            return Err(not_a_member(conn, id));
        }
        Ok(items)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TierHistory { items: items.into_iter().map(Into::into).collect() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MemberListParams {
    /// Only members at this tier (code).
    tier: Option<String>,
    /// Only members enrolled by this store. A store-bound client sees its own store's members only.
    store_id: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
}

/// List members by customer id, optionally by tier and enrolling store.
#[utoipa::path(
    tag = "memberships", operation_id = "list_memberships", params(MemberListParams),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "Members by customer id", body = Page<MembershipView>),
        (status = 403, description = "`store_bound_principal`: a store-bound principal asking for another store's members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/memberships")]
async fn list_memberships(
    auth: Auth<LoyaltyRead>,
    state: web::Data<AppState>,
    params: web::Query<MemberListParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let page = PageParams { limit: p.limit, cursor: p.cursor };
    let limit = page.limit()?;
    let after = page.after::<Uuid>()?;
    let store_id = auth.acting_store(p.store_id)?;
    let tier = p.tier;
    let now = state.clock.now();
    let views = crate::db::run(&state.pool, move |conn| {
        let rows = store::list_members(conn, tier.as_deref(), store_id, after, limit + 1)?;
        let tiers = store::list_tiers(conn)?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.customer_id).collect();
        let spends = store::qualifying_spends(conn, &ids, now)?;
        rows.into_iter()
            .map(|m| {
                let spend = spends.get(&m.customer_id).copied().unwrap_or(Decimal::ZERO);
                membership_view(m, &tiers, spend)
            })
            .collect::<ApiResult<Vec<_>>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |m| m.customer_id.to_string())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tier": "gold", "reason": "VIP 客户补偿：门店活动期间系统故障"}))]
pub struct SetTierInput {
    /// The tier code to set.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,31}$")]
    tier: String,
    /// Why; kept in the tier history.
    #[schema(min_length = 1, max_length = 500, format = "non-blank")]
    reason: String,
}

/// Set a member's tier by hand (admin, chain-wide), with a reason kept in the history. Validity starts afresh;
/// the daily review applies at its end as for any tier.
#[utoipa::path(
    tag = "memberships", operation_id = "set_member_tier", request_body = SetTierInput,
    params(("id" = Uuid, Path, description = "Customer id"),
           ("If-Match" = Option<String>, Header, description = "ETag of the membership from a previous read")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The membership at its new tier", body = MembershipView),
        (status = 403, description = "`forbidden` without `admin`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`membership_not_found` or `customer_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was merged or erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such tier, or no reason (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/customers/{id}/membership/tier")]
async fn set_member_tier(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: crate::http::Json<SetTierInput>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Violations::new();
    v.check(valid_code(&input.tier), "tier", "no tier with this code");
    let reason = input.reason.trim().to_string();
    v.check(!reason.is_empty() && input.reason.chars().count() <= 500, "reason", "must be 1-500 characters, not blank");
    v.into_result()?;
    let expected = if_match(&req);
    let who = auth.principal.clone();
    let now = state.clock.now();
    let view = crate::db::transaction(&state.pool, move |conn| {
        crate::customers::store::lock_active(conn, id)?;
        let current = store::lock(conn, id)?.ok_or_else(store::not_a_member)?;
        crate::http::check_version(expected, current.version)?;
        let tier = store::get_tier(conn, &input.tier).map_err(|e| match e {
            ApiError::NotFound { .. } => ApiError::invalid("tier", "no tier with this code"),
            other => other,
        })?;
        let program = crate::loyalty::program::load(conn)?;
        let updated =
            store::set_tier(conn, &current, &tier, "manual", Some(&reason), &who.sub, now, program.tier_validity_days)?;
        crate::audit::record(
            conn,
            &who,
            "membership.set_tier",
            "membership",
            Some(id.to_string()),
            json!({"from": current.tier_code, "to": tier.code, "reason": reason}),
        )?;
        read_membership(conn, updated, now)
    })
    .await?;
    Ok(membership_response(StatusCode::OK, view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn tier(code: &str, rank: i32, min: &str) -> Tier {
        let at = DateTime::<Utc>::default();
        Tier {
            code: code.into(),
            name: code.into(),
            rank,
            min_annual_spend: d(min),
            discount_rate: Decimal::ONE,
            points_multiplier: Decimal::ONE,
            benefits: vec![],
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    fn member(tier: &str) -> Membership {
        let at = DateTime::<Utc>::default();
        Membership {
            customer_id: Uuid::nil(),
            member_card: "8800000000000001".into(),
            tier_code: tier.into(),
            enrolled_at: at,
            channel: None,
            store_id: None,
            tier_since: at,
            tier_valid_until: None,
            version: 1,
            updated_at: at,
        }
    }

    #[test]
    fn next_tier_and_the_spend_it_needs() {
        let tiers = [tier("normal", 0, "0"), tier("gold", 2, "15000"), tier("silver", 1, "5000")];
        let view = membership_view(member("normal"), &tiers, d("0")).ok();
        let next = view.as_ref().and_then(|v| v.next_tier.as_ref()).map(|n| n.code.as_str());
        assert_eq!(next, Some("silver"));
        assert_eq!(view.and_then(|v| v.spend_to_next_tier), Some(d("5000")));

        let view = membership_view(member("silver"), &tiers, d("6120")).ok();
        assert_eq!(view.and_then(|v| v.spend_to_next_tier), Some(d("8880")));
        // Set down by hand while the spend is above the next threshold: nothing more is needed.
        let view = membership_view(member("normal"), &tiers, d("6000")).ok();
        assert_eq!(view.and_then(|v| v.spend_to_next_tier), Some(d("0")));

        let top = membership_view(member("gold"), &tiers, d("20000")).ok();
        assert!(top.as_ref().is_some_and(|v| v.next_tier.is_none() && v.spend_to_next_tier.is_none()));
        assert!(membership_view(member("vanished"), &tiers, d("0")).is_err());
    }

    #[test]
    fn tier_codes_are_lower_snake_case() {
        for ok in ["gold", "a", "vip_2", "a234567890123456789012345678901b"] {
            assert!(valid_code(ok), "{ok}");
        }
        for bad in ["", "Gold", "2vip", "_a", "vip-2", "a2345678901234567890123456789012x", "金卡"] {
            assert!(!valid_code(bad), "{bad}");
        }
    }
}
