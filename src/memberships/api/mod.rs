//! Tier catalogue and membership endpoints (SPEC §6): tiers, enrolment, the member view, history,
//! the member list and the manual tier set. The program settings are `loyalty::api::program`'s.

use actix_web::http::StatusCode;
use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::store::{self, Enrolment, Membership, Tier, TierChange};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Admin, Auth, ChainWide, CustomersWrite, LoyaltyRead};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::IfMatch;
use crate::state::AppState;
use crate::stores::SalesChannel;

mod tiers;

use tiers::{create_tier, get_tier, list_tiers, update_tier};
pub use tiers::{valid_code, TierView, MAX_RANK};

// Problem responses several operations name.
crate::problem_response!(pub MembershipNotFound = 404, "`membership_not_found` or `customer_not_found`");
crate::problem_response!(pub TierNotFound = 404, "`tier_not_found`");

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
    enrolled_channel: Option<SalesChannel>,
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
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:write"])),
    responses(
        (status = 201, description = "Enrolled", body = MembershipView),
        (status = 403, description = "`store_bound_principal`: a store-bound principal enrolling for another store", body = Problem, content_type = "application/problem+json"),
        crate::customers::api::CustomerNotFound,
        (status = 409, description = "`already_member`, or the customer was merged or erased (`customer_merged`, `customer_erased`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/membership")]
async fn enrol_member(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<EnrolInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let input = body.into_inner();
    let channel = match input.channel.as_deref().map(SalesChannel::parse) {
        Some(None) => return Err(SalesChannel::unknown("channel")),
        known => known.flatten(),
    };
    let store_id = auth.acting_store(input.store_id)?;
    let enrolment = Enrolment { channel, store_id };
    let actor = auth.sub.clone();
    let now = state.clock.now();
    let view = crate::db::transaction(&state.pool, move |conn| {
        crate::customers::store::lock_active(conn, id)?;
        if let Some(store_id) = store_id {
            crate::stores::store::get(conn, store_id)
                .map_err(|_| ApiError::invalid("store_id", "no store with this id"))?;
        }
        let validity = store::tier_validity_days(conn)?;
        let membership = store::enrol(conn, id, &enrolment, &actor, now, validity)?;
        read_membership(conn, membership, now)
    })
    .await?;
    Ok(membership_response(StatusCode::CREATED, view))
}

/// A member's tier, card, qualifying spend and what the next tier needs.
#[utoipa::path(
    tag = "memberships", operation_id = "get_membership",
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "The membership", body = MembershipView),
        (status = 404, description = "`membership_not_found` (not a member) or `customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/membership")]
async fn get_membership(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
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
    reason: crate::memberships::rules::TierChangeReason,
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
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "Tier changes, newest first", body = TierHistory), MembershipNotFound)
)]
#[get("/v1/customers/{id}/membership/history")]
async fn membership_history(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
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
}

/// List members by customer id, optionally by tier and enrolling store.
#[utoipa::path(
    tag = "memberships", operation_id = "list_memberships", params(PageParams, MemberListParams),
    security(("bearer" = ["loyalty:read"])),
    responses(
        (status = 200, description = "Members by customer id", body = Page<MembershipView>),
        (status = 403, description = "`store_bound_principal`: a store-bound principal asking for another store's members", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/memberships")]
async fn list_memberships(
    auth: Auth<LoyaltyRead>, state: web::Data<AppState>, query: Listing<MemberListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let store_id = auth.acting_store(p.store_id)?;
    let tier = p.tier;
    let now = state.clock.now();
    let fetch = move |conn: &mut PgConnection, after, n| {
        let rows = store::list_members(conn, tier.as_deref(), store_id, after, n)?;
        let tiers = store::list_tiers(conn)?;
        let ids: Vec<Uuid> = rows.iter().map(|m| m.customer_id).collect();
        let spends = store::qualifying_spends(conn, &ids, now)?;
        rows.into_iter()
            .map(|m| {
                let spend = spends.get(&m.customer_id).copied().unwrap_or(Decimal::ZERO);
                membership_view(m, &tiers, spend)
            })
            .collect::<ApiResult<Vec<_>>>()
    };
    let page = page.load(&state.pool, fetch, |m: &MembershipView| m.customer_id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
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
        crate::error::AdminChainWideOnly,
        crate::memberships::api::MembershipNotFound,
        (status = 409, description = "The customer was merged or erased", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "No such tier, or no reason (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/customers/{id}/membership/tier")]
async fn set_member_tier(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<SetTierInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let input = body.into_inner();
    let mut v = Violations::new();
    v.check(valid_code(&input.tier), "tier", "no tier with this code");
    let reason = input.reason.trim().to_string();
    v.check(!reason.is_empty() && input.reason.chars().count() <= 500, "reason", "must be 1-500 characters, not blank");
    v.into_result()?;
    let expected = expected_version.0;
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
        let validity = store::tier_validity_days(conn)?;
        let updated = store::set_tier(
            conn,
            &current,
            &tier,
            crate::memberships::rules::TierChangeReason::Manual,
            Some(&reason),
            &who.sub,
            now,
            validity,
        )?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::MembershipSetTier,
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
