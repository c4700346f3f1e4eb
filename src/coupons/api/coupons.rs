//! A customer's coupons, one coupon by code, and voiding one.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::coupons::codes;
use crate::coupons::model::{Coupon, CouponSource, CouponStatus, CouponTemplateKind, Template};
use crate::coupons::store::{self, CouponKey};
use crate::customers::api::CustomerNotFound;
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, ChainWide, CouponsRead, CouponsWrite};
use crate::http::pagination::{Listing, Page};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"code": "K7M4P9QX2HTR", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "template_name": "满300减50", "kind": "amount_off", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "source": "claim", "source_ref": null, "issued_at": "2026-11-23T08:00:00Z", "valid_from": "2026-11-23T08:00:00Z",
    "expires_at": "2026-12-23T16:00:00Z", "status": "available", "redeemed_at": null, "voided_at": null,
    "void_reason": null, "reserved_until": null, "threshold": "300.00", "discount": "50.00", "discount_rate": null,
    "max_discount": null, "gift_sku": null}))]
pub struct CouponView {
    /// 12 characters; accepted in any case, with spaces or dashes.
    code: String,
    template_id: Uuid,
    template_name: String,
    kind: CouponTemplateKind,
    customer_id: Uuid,
    source: CouponSource,
    /// The campaign that issued it, if any.
    source_ref: Option<String>,
    issued_at: DateTime<Utc>,
    /// Not usable before.
    valid_from: DateTime<Utc>,
    /// Not usable from this instant on.
    expires_at: DateTime<Utc>,
    /// `expired`: available but past `expires_at`.
    status: CouponStatus,
    redeemed_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
    void_reason: Option<String>,
    /// Set while a checkout reservation holds the coupon.
    reserved_until: Option<DateTime<Utc>>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "300.00")]
    threshold: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "50.00")]
    discount: Option<Decimal>,
    #[serde(serialize_with = "super::rate_option")]
    #[schema(value_type = Option<String>, example = "0.9")]
    discount_rate: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "100.00")]
    max_discount: Option<Decimal>,
    gift_sku: Option<String>,
}

fn coupon_view(c: Coupon, t: &Template, now: DateTime<Utc>) -> CouponView {
    CouponView {
        status: c.status_at(now),
        reserved_until: c.held_by(now).and(c.reserved_until),
        code: c.code,
        template_id: c.template_id,
        template_name: t.name.clone(),
        kind: t.kind,
        customer_id: c.customer_id,
        source: c.source,
        source_ref: c.source_ref,
        issued_at: c.issued_at,
        valid_from: c.valid_from,
        expires_at: c.expires_at,
        redeemed_at: c.redeemed_at,
        voided_at: c.voided_at,
        void_reason: c.void_reason,
        threshold: t.threshold,
        discount: t.discount,
        discount_rate: t.discount_rate,
        max_discount: t.max_discount,
        gift_sku: t.gift_sku.clone(),
    }
}

pub(super) fn coupon_response(status: StatusCode, c: Coupon, t: &Template, now: DateTime<Utc>) -> HttpResponse {
    crate::http::versioned(status, c.version, format!("/v1/coupons/{}", c.code), &coupon_view(c, t, now))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerCouponParams {
    /// `available` (usable until `expires_at`), `expired` (never used, past `expires_at`), `redeemed`
    /// or `voided`; all when absent.
    #[param(inline)]
    status: Option<CouponStatus>,
}

/// A customer's coupons, soonest expiry first (then by code).
#[utoipa::path(
    tag = "coupons", operation_id = "list_customer_coupons",
    params(("id" = Uuid, Path, description = "Customer id"), CustomerCouponParams),
    security(("bearer" = ["coupons:read"])),
    responses((status = 200, description = "Coupons by expiry, then code", body = Page<CouponView>), CustomerNotFound)
)]
#[get("/v1/customers/{id}/coupons")]
pub(super) async fn list_customer_coupons(
    _auth: Auth<CouponsRead>, state: web::Data<AppState>, id: web::Path<Uuid>, query: Listing<CustomerCouponParams>,
) -> ApiResult<HttpResponse> {
    let customer = id.into_inner();
    let (page, p) = (query.page, query.filter);
    let status = p.status;
    let now = state.clock.now();
    let fetch = move |conn: &mut PgConnection, after: Option<CouponKey>, n| {
        crate::customers::store::get(conn, customer)?;
        let rows = store::list_for_customer(conn, customer, status, after, n, now)?;
        Ok(rows.into_iter().map(|(c, t)| coupon_view(c, &t, now)).collect())
    };
    let key = |c: &CouponView| CouponKey { expires_at: c.expires_at, code: c.code.clone() }.to_string();
    Ok(HttpResponse::Ok().json(page.load(&state.pool, fetch, key).await?))
}

fn canonical(code: &str) -> ApiResult<String> {
    codes::canonical(code).ok_or_else(store::coupon_not_found)
}

/// Read a coupon by code (any case, spaces and dashes allowed), with the terms the till shows.
#[utoipa::path(
    tag = "coupons", operation_id = "get_coupon",
    params(("code" = String, Path, description = "Coupon code, e.g. `K7M4-P9QX-2HTR`")),
    security(("bearer" = ["coupons:read"])),
    responses((status = 200, description = "The coupon", body = CouponView), crate::coupons::api::CouponNotFound)
)]
#[get("/v1/coupons/{code}")]
pub(super) async fn get_coupon(
    _auth: Auth<CouponsRead>, state: web::Data<AppState>, code: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let code = canonical(&code.into_inner())?;
    let now = state.clock.now();
    let (coupon, template) = crate::db::run(&state.pool, move |conn| store::get_coupon(conn, &code)).await?;
    Ok(coupon_response(StatusCode::OK, coupon, &template, now))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "顾客投诉后补发，原券作废"}))]
pub struct VoidRequest {
    /// Why; kept on the coupon and in the audit log.
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 500, format = "non-blank")]
    reason: Option<String>,
}

/// Void a coupon that was not redeemed (available or expired); it can never be used again.
#[utoipa::path(
    tag = "coupons", operation_id = "void_coupon", request_body = VoidRequest,
    params(("code" = String, Path, description = "Coupon code")), security(("bearer" = ["coupons:write"])),
    responses(
        (status = 200, description = "The voided coupon", body = CouponView),
        crate::error::ChainWideOnly,
        crate::coupons::api::CouponNotFound,
        (status = 409, description = "`coupon_already_redeemed` or `coupon_voided`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/coupons/{code}/void")]
pub(super) async fn void_coupon(
    auth: Auth<ChainWide<CouponsWrite>>, state: web::Data<AppState>, code: web::Path<String>,
    body: crate::http::Json<VoidRequest>,
) -> ApiResult<HttpResponse> {
    let code = canonical(&code.into_inner())?;
    let mut v = Violations::new();
    match &body.reason {
        Some(reason) => v.text("reason", reason, 500),
        None => v.add("reason", "is required"),
    }
    v.into_result()?;
    let reason = body.into_inner().reason.unwrap_or_default().trim().to_string();
    let now = state.clock.now();
    let who = auth.principal.clone();
    let (coupon, template) = crate::db::transaction(&state.pool, move |conn| {
        let done = store::void(conn, &code, &reason, now)?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::CouponVoid,
            Some(code.clone()),
            json!({"reason": reason}),
        )?;
        Ok(done)
    })
    .await?;
    Ok(coupon_response(StatusCode::OK, coupon, &template, now))
}
