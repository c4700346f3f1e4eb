//! The till's call: a customer by phone, card or WeChat id, with membership, points and the
//! coupons usable now, in one response.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::lookup_store::{till_card, TillCard};
use crate::customers::api::audited_unmasked;
use crate::customers::model::CustomerView;
use crate::customers::rules;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{Auth, CustomersRead};
use crate::loyalty::api::EXPIRING_WINDOW_DAYS;
use crate::loyalty::rules::summarize;
use crate::state::AppState;

/// At most this many coupons, soonest expiry first: a till screen, not the customer's coupon list.
const LOOKUP_COUPONS: i64 = 50;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupParams {
    /// Mainland mobile or E.164 (no spaces).
    #[param(format = "identity-phone")]
    phone: Option<String>,
    /// 16 digits.
    #[param(format = "member-card")]
    member_card: Option<String>,
    /// `<app id>:<openid>`.
    #[param(format = "wechat-openid")]
    wechat_openid: Option<String>,
    #[param(format = "identity-value")]
    wechat_unionid: Option<String>,
    /// Any identity kind, with `identity_value`.
    #[param(format = "identity-kind")]
    identity_kind: Option<String>,
    /// The value, in the form `identity_kind` needs.
    #[param(format = "identity-value")]
    identity_value: Option<String>,
}

impl LookupParams {
    fn identity(&self) -> ApiResult<(String, String)> {
        let given: Vec<(&str, &String)> = [
            ("phone", &self.phone),
            ("member_card", &self.member_card),
            ("wechat_openid", &self.wechat_openid),
            ("wechat_unionid", &self.wechat_unionid),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let generic = match (&self.identity_kind, &self.identity_value) {
            (Some(k), Some(v)) => Some((k.as_str(), v)),
            (None, None) => None,
            _ => return Err(ApiError::invalid("identity_kind", "identity_kind and identity_value go together")),
        };
        let all: Vec<(&str, &String)> = given.into_iter().chain(generic).collect();
        match all.as_slice() {
            [(kind, value)] => rules::normalize_identity(kind, value).map_err(|m| ApiError::invalid(*kind, m)),
            [] => Err(ApiError::invalid(
                "phone",
                "give one of phone, member_card, wechat_openid, wechat_unionid or identity_kind+identity_value",
            )),
            _ => Err(ApiError::invalid("phone", "give exactly one identity")),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"tier_code": "silver", "tier_name": "银卡", "discount_rate": "0.95", "member_card": "8800123456789012",
    "member_since": "2025-03-01T10:00:00Z", "tier_valid_until": "2027-03-01T10:00:00Z"}))]
pub struct MembershipSummary {
    pub tier_code: String,
    pub tier_name: String,
    /// Share of the price paid: 0.95 is 9.5折.
    pub discount_rate: String,
    pub member_card: String,
    pub member_since: DateTime<Utc>,
    pub tier_valid_until: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema, Default)]
#[schema(example = json!({"available": 1200, "pending": 0, "debt": 0, "expiring_within_30_days": 300}))]
pub struct PointsSummary {
    pub available: i64,
    pub pending: i64,
    pub debt: i64,
    pub expiring_within_30_days: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "K7M4P9QX2HTR", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "满300减50",
    "kind": "amount_off", "expires_at": "2026-12-31T15:59:59Z"}))]
pub struct CouponSummary {
    pub code: String,
    pub template_id: Uuid,
    pub name: String,
    pub kind: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer": crate::customers::model::view_example(true),
    "membership": null, "points": {"available": 0, "pending": 0, "debt": 0, "expiring_within_30_days": 0}, "coupons": []}))]
pub struct LookupResult {
    pub customer: CustomerView,
    /// Null when the customer is not a member.
    pub membership: Option<MembershipSummary>,
    pub points: PointsSummary,
    /// Coupons the customer can use now.
    pub coupons: Vec<CouponSummary>,
}

/// The till's call: find a customer by phone, card or WeChat id, with membership, points and coupons.
///
/// Give exactly one identity: one of `phone`, `member_card`, `wechat_openid`, `wechat_unionid`, or
/// `identity_kind` with `identity_value`; anything else is 422 `validation_failed`.
#[utoipa::path(
    tag = "customers", operation_id = "lookup_customer", params(LookupParams),
    security(("bearer" = ["customers:read"])),
    responses(
        (status = 200, description = "The customer and what the till needs", body = LookupResult),
        crate::customers::api::CustomerNotFound,
    )
)]
#[get("/v1/customers/lookup")]
pub(super) async fn lookup_customer(
    auth: Auth<CustomersRead>, state: web::Data<AppState>, params: web::Query<LookupParams>,
) -> ApiResult<HttpResponse> {
    let (kind, value) = params.identity()?;
    let who = auth.principal.clone();
    let now = state.clock.now();
    let today = state.today();
    let result = crate::db::run(&state.pool, move |conn| {
        let card = till_card(conn, &kind, &value, now, today, LOOKUP_COUPONS)?
            .ok_or_else(|| ApiError::not_found("customer_not_found", "no customer has this identity"))?;
        let unmasked = audited_unmasked(conn, &who, card.customer.id)?;
        Ok(lookup_result(card, unmasked, now, today))
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// The response from what the statement read; points by the ledger's own summary rule.
fn lookup_result(card: TillCard, unmasked: bool, now: DateTime<Utc>, today: chrono::NaiveDate) -> LookupResult {
    let stage = crate::customers::lifecycle::stage(&card.history, today);
    let (membership, points) = match card.member {
        None => (None, PointsSummary::default()),
        Some(m) => {
            let s = summarize(m.points_balance, m.points_debt, &m.lots, now, EXPIRING_WINDOW_DAYS);
            let points = PointsSummary {
                available: s.available,
                pending: s.pending,
                debt: s.debt,
                expiring_within_30_days: s.expiring.iter().map(|(_, p)| p).sum(),
            };
            let membership = MembershipSummary {
                tier_code: m.tier_code,
                tier_name: m.tier_name,
                discount_rate: m.discount_rate.normalize().to_string(),
                member_card: m.member_card,
                member_since: m.enrolled_at,
                tier_valid_until: m.tier_valid_until,
            };
            (Some(membership), points)
        }
    };
    let coupons = card
        .coupons
        .into_iter()
        .map(|c| CouponSummary {
            code: c.code,
            template_id: c.template_id,
            name: c.name,
            kind: c.kind,
            expires_at: Some(c.expires_at),
        })
        .collect();
    LookupResult {
        customer: CustomerView::build(card.customer, card.tags, card.identities, stage, card.rfm, unmasked),
        membership,
        points,
        coupons,
    }
}
