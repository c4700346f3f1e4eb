//! `/v1/coupon-templates`: create, list, read, change, and how a template did.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{TemplateCreate, TemplatePatch};
use crate::coupons::api::CouponTemplateNotFound;
use crate::coupons::model::{CouponTemplateKind, CouponTemplateStatus, Template};
use crate::coupons::{store, templates};
use crate::error::{ApiResult, Problem};
use crate::http::auth::{Auth, ChainWide, CouponsRead, CouponsWrite};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::IfMatch;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "满300减50", "description": "冬季会员专享",
    "kind": "amount_off", "threshold": "300.00", "discount": "50.00", "discount_rate": null, "max_discount": null,
    "gift_sku": null, "valid_from": null, "valid_to": null, "valid_days_after_issue": 30, "total_quantity": 10000,
    "per_customer_limit": 1, "stores": [], "channels": ["pos", "wechat_mini_program"], "categories": ["童装"], "skus": [],
    "stackable": false, "unit_cost": "5.00", "status": "active", "issued_count": 120, "remaining": 9880, "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct TemplateView {
    id: Uuid,
    name: String,
    description: Option<String>,
    kind: CouponTemplateKind,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "300.00")]
    threshold: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "50.00")]
    discount: Option<Decimal>,
    /// The share paid: "0.9" is 9折.
    #[serde(serialize_with = "super::rate_option")]
    #[schema(value_type = Option<String>, example = "0.9")]
    discount_rate: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "100.00")]
    max_discount: Option<Decimal>,
    gift_sku: Option<String>,
    valid_from: Option<DateTime<Utc>>,
    valid_to: Option<DateTime<Utc>>,
    valid_days_after_issue: Option<i32>,
    /// Null: unlimited.
    total_quantity: Option<i32>,
    /// Null: unlimited.
    per_customer_limit: Option<i32>,
    /// Store ids; empty: all.
    stores: Vec<Uuid>,
    channels: Vec<String>,
    categories: Vec<String>,
    skus: Vec<String>,
    stackable: bool,
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "5.00")]
    unit_cost: Decimal,
    /// Coupons are issued from `active` templates only.
    status: CouponTemplateStatus,
    /// Coupons issued so far, voided ones included.
    issued_count: i32,
    /// Coupons still to issue; null when unlimited.
    remaining: Option<i32>,
    /// Changes with every edit (not as coupons are issued); send it back as `If-Match`.
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        TemplateView {
            remaining: t.total_quantity.map(|q| (q - t.issued_count).max(0)),
            id: t.id,
            name: t.name,
            description: t.description,
            kind: t.kind,
            threshold: t.threshold,
            discount: t.discount,
            discount_rate: t.discount_rate,
            max_discount: t.max_discount,
            gift_sku: t.gift_sku,
            valid_from: t.valid_from,
            valid_to: t.valid_to,
            valid_days_after_issue: t.valid_days_after_issue,
            total_quantity: t.total_quantity,
            per_customer_limit: t.per_customer_limit,
            stores: t.store_ids,
            channels: t.channels,
            categories: t.categories,
            skus: t.skus,
            stackable: t.stackable,
            unit_cost: t.unit_cost,
            status: t.status,
            issued_count: t.issued_count,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

fn template_response(status: StatusCode, t: Template) -> HttpResponse {
    crate::http::versioned(status, t.version, format!("/v1/coupon-templates/{}", t.id), &TemplateView::from(t))
}

/// Create a coupon template (满减, 折扣, 无门槛, 赠品), as a `draft` (default) or `active`.
///
/// Each kind takes its own fields and no others (see `TemplateCreate`); the pricing terms never change
/// after creation.
#[utoipa::path(
    tag = "coupons", operation_id = "create_coupon_template", request_body = TemplateCreate,
    security(("bearer" = ["coupons:write"])),
    responses(
        (status = 201, description = "Created", body = TemplateView),
        crate::error::ChainWideOnly,
        (status = 422, description = "`validation_failed`: every bad field, including fields the kind does not take and stores that do not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/coupon-templates")]
pub(super) async fn create_template(
    auth: Auth<ChainWide<CouponsWrite>>, state: web::Data<AppState>, body: crate::http::Json<TemplateCreate>,
) -> ApiResult<HttpResponse> {
    let now = state.clock.now();
    let new = body.into_inner().validate(now)?;
    let who = auth.principal.clone();
    let template = crate::db::transaction(&state.pool, move |conn| {
        let t = store::insert_template(conn, &new, now)?;
        let detail = json!({"name": t.name, "kind": t.kind, "status": t.status});
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::CouponTemplateCreate,
            Some(t.id.to_string()),
            detail,
        )?;
        Ok(t)
    })
    .await?;
    Ok(template_response(StatusCode::CREATED, template))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    /// Only templates in this status.
    #[param(inline)]
    status: Option<CouponTemplateStatus>,
}

/// Coupon templates by id (oldest first), optionally by status.
#[utoipa::path(
    tag = "coupons", operation_id = "list_coupon_templates", params(PageParams, TemplateListParams),
    security(("bearer" = ["coupons:read"])),
    responses((status = 200, description = "Templates by id", body = Page<TemplateView>))
)]
#[get("/v1/coupon-templates")]
pub(super) async fn list_templates(
    _auth: Auth<CouponsRead>, state: web::Data<AppState>, query: Listing<TemplateListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let status = p.status;
    let fetch = move |conn: &mut PgConnection, after, n| store::list_templates(conn, status, after, n);
    let page = page.load(&state.pool, fetch, |t: &TemplateView| t.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a coupon template.
#[utoipa::path(
    tag = "coupons", operation_id = "get_coupon_template",
    params(("id" = Uuid, Path, description = "Template id")), security(("bearer" = ["coupons:read"])),
    responses((status = 200, description = "The template", body = TemplateView), CouponTemplateNotFound)
)]
#[get("/v1/coupon-templates/{id}")]
pub(super) async fn get_template(
    _auth: Auth<CouponsRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let t = crate::db::run(&state.pool, move |conn| store::get_template(conn, id)).await?;
    Ok(template_response(StatusCode::OK, t))
}

/// Change a template's name, description, status, limits, end or unit cost; send `If-Match`.
///
/// Status moves draft → active | ended, active → paused | ended, paused → active | ended; ended is
/// final. The pricing terms (kind, amounts, scope, stackable) cannot change: create a new template.
/// A new `valid_to` applies to coupons issued from now on; issued coupons keep their `expires_at`.
#[utoipa::path(
    tag = "coupons", operation_id = "update_coupon_template", request_body = TemplatePatch,
    params(("id" = Uuid, Path, description = "Template id"), IfMatch), security(("bearer" = ["coupons:write"])),
    responses(
        (status = 200, description = "Updated", body = TemplateView),
        crate::error::ChainWideOnly,
        crate::coupons::api::CouponTemplateNotFound,
        (status = 409, description = "`invalid_transition` (with the current `template_status`)", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed`, e.g. `total_quantity` below `issued_count`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/coupon-templates/{id}")]
pub(super) async fn update_template(
    auth: Auth<ChainWide<CouponsWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<TemplatePatch>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let changes = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let t = crate::db::transaction(&state.pool, move |conn| {
        let t = store::update_template(conn, id, expected, &changes, now)?;
        let detail = json!({"version": t.version, "status": t.status, "total_quantity": t.total_quantity});
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::CouponTemplateUpdate,
            Some(id.to_string()),
            detail,
        )?;
        Ok(t)
    })
    .await?;
    Ok(template_response(StatusCode::OK, t))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "issued": 1000, "available": 610,
    "redeemed": 300, "expired": 80, "voided": 10, "redemption_rate": "0.3000", "discount_given": "15000.00",
    "gmv": "126000.00", "cost": "1500.00", "roi": "84.00"}))]
pub struct TemplateStats {
    template_id: Uuid,
    /// Every coupon issued from the template, voided ones included.
    issued: i64,
    /// Usable now or later (not redeemed, not voided, not past `expires_at`).
    available: i64,
    redeemed: i64,
    /// Never used and past `expires_at`.
    expired: i64,
    voided: i64,
    /// `redeemed / issued`, 4 decimals ("0.0000" when none was issued).
    #[schema(example = "0.3000")]
    redemption_rate: String,
    /// What the redemptions took off (rolled back and refunded ones excluded).
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "15000.00")]
    discount_given: Decimal,
    /// The amount of the orders that used a coupon of the template.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "126000.00")]
    gmv: Decimal,
    /// `redeemed × unit_cost`.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, format = "money", example = "1500.00")]
    cost: Decimal,
    /// `gmv / cost`, 2 decimals; null when the cost is 0.
    #[schema(example = "84.00")]
    roi: Option<String>,
}

/// How a template did: coupons by status, redemption rate, discount given, GMV, cost and ROI.
#[utoipa::path(
    tag = "coupons", operation_id = "get_coupon_template_stats",
    params(("id" = Uuid, Path, description = "Template id")), security(("bearer" = ["coupons:read"])),
    responses((status = 200, description = "The figures, at this moment", body = TemplateStats), CouponTemplateNotFound)
)]
#[get("/v1/coupon-templates/{id}/stats")]
pub(super) async fn template_stats(
    _auth: Auth<CouponsRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let (template, counts) = crate::db::run(&state.pool, move |conn| {
        let template = store::get_template(conn, id)?;
        let counts = store::counts(conn, id, now)?;
        Ok((template, counts))
    })
    .await?;
    let cost = Decimal::from(counts.redeemed) * template.unit_cost;
    Ok(HttpResponse::Ok().json(TemplateStats {
        template_id: id,
        issued: counts.issued,
        available: counts.available,
        redeemed: counts.redeemed,
        expired: counts.expired,
        voided: counts.voided,
        redemption_rate: templates::redemption_rate(counts.redeemed, counts.issued),
        discount_given: counts.discount_given,
        gmv: counts.gmv,
        cost,
        roi: templates::roi(counts.gmv, cost),
    }))
}
