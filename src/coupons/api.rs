//! Coupon endpoints (SPEC §8): templates, issuing and claiming, a customer's coupons, one coupon by
//! code, voiding, and a template's stats. Redemption lives in `redeem`.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::codes;
use super::model::{Coupon, Template};
use super::store::{self, CouponKey, Source};
use super::templates::{self, TemplateCreate, TemplatePatch};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, CouponsRead, CouponsWrite};
use crate::http::pagination::{Page, PageParams};
use crate::http::IfMatch;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_template)
        .service(list_templates)
        .service(get_template)
        .service(update_template)
        .service(issue_coupons)
        .service(template_stats)
        .service(claim_coupon)
        .service(list_customer_coupons)
        .service(get_coupon)
        .service(void_coupon);
}

/// Customers one issue request may name.
pub const MAX_ISSUE_CUSTOMERS: usize = 1000;

fn rate_option<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => crate::money::rate::serialize(v, s),
        None => s.serialize_none(),
    }
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

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
    /// `amount_off`, `percent_off`, `cash` or `gift`.
    kind: String,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "300.00")]
    threshold: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "50.00")]
    discount: Option<Decimal>,
    /// The share paid: "0.9" is 9折.
    #[serde(serialize_with = "rate_option")]
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
    /// `draft`, `active`, `paused` or `ended`; coupons are issued from `active` templates only.
    status: String,
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
    kind: String,
    customer_id: Uuid,
    /// `manual`, `claim` or `campaign`.
    source: String,
    /// The campaign that issued it, if any.
    source_ref: Option<String>,
    issued_at: DateTime<Utc>,
    /// Not usable before.
    valid_from: DateTime<Utc>,
    /// Not usable from this instant on.
    expires_at: DateTime<Utc>,
    /// `available`, `redeemed`, `expired` (available but past `expires_at`) or `voided`.
    status: String,
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
    #[serde(serialize_with = "rate_option")]
    #[schema(value_type = Option<String>, example = "0.9")]
    discount_rate: Option<Decimal>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, format = "money", example = "100.00")]
    max_discount: Option<Decimal>,
    gift_sku: Option<String>,
}

fn coupon_view(c: Coupon, t: &Template, now: DateTime<Utc>) -> CouponView {
    CouponView {
        status: c.status_at(now).to_string(),
        reserved_until: c.held_by(now).and(c.reserved_until),
        code: c.code,
        template_id: c.template_id,
        template_name: t.name.clone(),
        kind: t.kind.clone(),
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

fn coupon_response(status: StatusCode, c: Coupon, t: &Template, now: DateTime<Utc>) -> HttpResponse {
    crate::http::versioned(status, c.version, format!("/v1/coupons/{}", c.code), &coupon_view(c, t, now))
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// Create a coupon template (满减, 折扣, 无门槛, 赠品), as a `draft` (default) or `active`.
///
/// Each kind takes its own fields and no others (see `TemplateCreate`); the pricing terms never change
/// after creation.
#[utoipa::path(
    tag = "coupons", operation_id = "create_coupon_template", request_body = TemplateCreate,
    security(("bearer" = ["coupons:write"])),
    responses(
        (status = 201, description = "Created", body = TemplateView),
        (status = 403, description = "`forbidden` without the scope; `store_bound_principal`: only a chain-wide principal may do this (SPEC §3.1)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: every bad field, including fields the kind does not take and stores that do not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/coupon-templates")]
async fn create_template(
    auth: Auth<CouponsWrite>,
    state: web::Data<AppState>,
    body: crate::http::Json<TemplateCreate>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let now = state.clock.now();
    let new = body.into_inner().validate(now)?;
    let who = auth.principal.clone();
    let template = crate::db::transaction(&state.pool, move |conn| {
        let t = store::insert_template(conn, &new, now)?;
        let detail = json!({"name": t.name, "kind": t.kind, "status": t.status});
        crate::audit::record(conn, &who, "coupon_template.create", "coupon_template", Some(t.id.to_string()), detail)?;
        Ok(t)
    })
    .await?;
    Ok(template_response(StatusCode::CREATED, template))
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Draft,
    Active,
    Paused,
    Ended,
}

impl TemplateStatus {
    fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Draft => "draft",
            TemplateStatus::Active => "active",
            TemplateStatus::Paused => "paused",
            TemplateStatus::Ended => "ended",
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    /// Only templates in this status.
    #[param(inline)]
    status: Option<TemplateStatus>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Coupon templates by id (oldest first), optionally by status.
#[utoipa::path(
    tag = "coupons", operation_id = "list_coupon_templates", params(TemplateListParams),
    security(("bearer" = ["coupons:read"])),
    responses((status = 200, description = "Templates by id", body = Page<TemplateView>))
)]
#[get("/v1/coupon-templates")]
async fn list_templates(
    _auth: Auth<CouponsRead>,
    state: web::Data<AppState>,
    params: web::Query<TemplateListParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let page = PageParams { limit: p.limit, cursor: p.cursor };
    let limit = page.limit()?;
    let after = page.after::<Uuid>()?;
    let status = p.status.map(TemplateStatus::as_str);
    let rows = crate::db::run(&state.pool, move |conn| store::list_templates(conn, status, after, limit + 1)).await?;
    let items: Vec<TemplateView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(items, limit, |t| t.id.to_string())))
}

/// Read a coupon template.
#[utoipa::path(
    tag = "coupons", operation_id = "get_coupon_template",
    params(("id" = Uuid, Path, description = "Template id")),
    security(("bearer" = ["coupons:read"])),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 404, description = "`coupon_template_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/coupon-templates/{id}")]
async fn get_template(
    _auth: Auth<CouponsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
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
    params(("id" = Uuid, Path, description = "Template id"),
           ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    security(("bearer" = ["coupons:write"])),
    responses(
        (status = 200, description = "Updated", body = TemplateView),
        (status = 403, description = "`forbidden` without the scope; `store_bound_principal`: only a chain-wide principal may do this (SPEC §3.1)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`coupon_template_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (with the current `template_status`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, e.g. `total_quantity` below `issued_count`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/coupon-templates/{id}")]
async fn update_template(
    auth: Auth<CouponsWrite>,
    state: web::Data<AppState>,
    expected_version: IfMatch,
    id: web::Path<Uuid>,
    body: crate::http::Json<TemplatePatch>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let changes = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let t = crate::db::transaction(&state.pool, move |conn| {
        let t = store::update_template(conn, id, expected, &changes, now)?;
        let detail = json!({"version": t.version, "status": t.status, "total_quantity": t.total_quantity});
        crate::audit::record(conn, &who, "coupon_template.update", "coupon_template", Some(id.to_string()), detail)?;
        Ok(t)
    })
    .await?;
    Ok(template_response(StatusCode::OK, t))
}

// ---------------------------------------------------------------------------------------------
// Issuing and claiming
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_ids": ["0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60"]}))]
pub struct IssueRequest {
    /// 1-1000 customers (duplicates count once). Give this or `segment_id`, not both.
    #[schema(min_items = 1, max_items = 1000)]
    customer_ids: Option<Vec<Uuid>>,
    /// Every live customer of a saved segment, as it stands now (at most 100,000).
    segment_id: Option<Uuid>,
}

enum Audience {
    Listed(Vec<Uuid>),
    Segment(Uuid),
}

/// One issue holds the template's lock for the whole audience: bigger audiences go through a campaign.
const MAX_SEGMENT_ISSUE: usize = 100_000;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "issued_to": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "code": "K7M4P9QX2HTR", "expires_at": "2026-12-23T16:00:00Z"}))]
pub struct IssuedCoupon {
    /// As given.
    customer_id: Uuid,
    /// Who holds the coupon: `customer_id`, or the profile it was merged into.
    issued_to: Uuid,
    code: String,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "reason": "per_customer_limit"}))]
pub struct SkippedCustomer {
    customer_id: Uuid,
    /// `customer_not_found`, `customer_not_active` (erased), `duplicate` (also listed through a merged
    /// profile), `per_customer_limit` or `quantity_exhausted`.
    reason: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "issued": [{"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "issued_to": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
                "code": "K7M4P9QX2HTR", "expires_at": "2026-12-23T16:00:00Z"}],
    "skipped": [{"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "reason": "per_customer_limit"}]}))]
pub struct IssueResult {
    /// In the order given.
    issued: Vec<IssuedCoupon>,
    skipped: Vec<SkippedCustomer>,
}

/// Issue a template's coupons to customers (source `manual`), within its quantity and
/// per-customer limits; those who cannot have one are reported with the reason.
///
/// All in one transaction under the template's lock. A merged profile's id issues to the profile it
/// was merged into. Give `customer_ids` or `segment_id`, not both.
#[utoipa::path(
    tag = "coupons", operation_id = "issue_coupons", request_body = IssueRequest,
    params(("id" = Uuid, Path, description = "Template id")),
    security(("bearer" = ["coupons:write"])),
    responses(
        (status = 200, description = "What was issued and who was skipped, and why", body = IssueResult),
        (status = 403, description = "`forbidden` without the scope; `store_bound_principal`: only a chain-wide principal may do this (SPEC §3.1)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`coupon_template_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`template_not_active` (with `template_status`) or `template_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (neither or both of `customer_ids` and `segment_id`), `segment_not_found`, `segment_too_large` (over 100,000)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/coupon-templates/{id}/issue")]
async fn issue_coupons(
    auth: Auth<CouponsWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<IssueRequest>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let body = body.into_inner();
    let audience = match (body.customer_ids, body.segment_id) {
        (Some(ids), None) => {
            let mut v = Violations::new();
            v.check((1..=MAX_ISSUE_CUSTOMERS).contains(&ids.len()), "customer_ids", "must list 1-1000 customers");
            v.into_result()?;
            Audience::Listed(ids)
        }
        (None, Some(segment)) => Audience::Segment(segment),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("customer_ids", "give customer_ids or segment_id, not both"))
        }
        (None, None) => return Err(ApiError::invalid("customer_ids", "give customer_ids or segment_id")),
    };
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let who = auth.principal.clone();
    let at = crate::segments::api::evaluation(&state);
    let customers = match audience {
        Audience::Listed(ids) => ids,
        Audience::Segment(segment) => {
            let members = crate::db::run(&state.pool, move |conn| {
                crate::segments::store::audience_of(conn, segment, at).map_err(|e| match e {
                    ApiError::NotFound { .. } => {
                        ApiError::unprocessable("segment_not_found", "no segment with this id")
                    }
                    other => other,
                })
            })
            .await?;
            if members.len() > MAX_SEGMENT_ISSUE {
                return Err(ApiError::unprocessable(
                    "segment_too_large",
                    format!(
                        "the segment has {} customers; issue to at most {MAX_SEGMENT_ISSUE} at once",
                        members.len()
                    ),
                ));
            }
            members
        }
    };
    let report = crate::db::transaction(&state.pool, move |conn| {
        let source = Source { kind: "manual", reference: None };
        let report = store::issue(conn, id, &customers, source, now, tz)?;
        let detail = json!({"issued": report.issued.len(), "skipped": report.skipped.len()});
        crate::audit::record(conn, &who, "coupon.issue", "coupon_template", Some(id.to_string()), detail)?;
        Ok(report)
    })
    .await?;
    Ok(HttpResponse::Ok().json(IssueResult {
        issued: report
            .issued
            .into_iter()
            .map(|i| IssuedCoupon {
                customer_id: i.requested,
                issued_to: i.coupon.customer_id,
                code: i.coupon.code,
                expires_at: i.coupon.expires_at,
            })
            .collect(),
        skipped: report
            .skipped
            .into_iter()
            .map(|s| SkippedCustomer { customer_id: s.customer_id, reason: s.reason.to_string() })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"}))]
pub struct ClaimRequest {
    /// An active template.
    #[schema(value_type = Uuid, required = true, nullable = false)]
    template_id: Option<Uuid>,
}

/// A customer claims a coupon of an active template (领券, source `claim`), within its limits.
#[utoipa::path(
    tag = "coupons", operation_id = "claim_coupon", request_body = ClaimRequest,
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["coupons:write"])),
    responses(
        (status = 201, description = "The coupon", body = CouponView),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`quantity_exhausted`, `per_customer_limit`, `template_not_active`, `template_expired`, `customer_merged`, `customer_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (no such template)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/coupons")]
async fn claim_coupon(
    _auth: Auth<CouponsWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<ClaimRequest>,
) -> ApiResult<HttpResponse> {
    let customer = id.into_inner();
    let template_id = body.into_inner().template_id.ok_or_else(|| ApiError::invalid("template_id", "is required"))?;
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let (coupon, template) = crate::db::transaction(&state.pool, move |conn| {
        let coupon = store::claim(conn, customer, template_id, Source { kind: "claim", reference: None }, now, tz)?;
        let template = store::get_template(conn, coupon.template_id)?;
        Ok((coupon, template))
    })
    .await?;
    Ok(coupon_response(StatusCode::CREATED, coupon, &template, now))
}

// ---------------------------------------------------------------------------------------------
// Coupons
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    Available,
    Redeemed,
    Expired,
    Voided,
}

impl CouponStatus {
    fn as_str(self) -> &'static str {
        match self {
            CouponStatus::Available => "available",
            CouponStatus::Redeemed => "redeemed",
            CouponStatus::Expired => "expired",
            CouponStatus::Voided => "voided",
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerCouponParams {
    /// `available` (usable until `expires_at`), `expired` (never used, past `expires_at`), `redeemed`
    /// or `voided`; all when absent.
    #[param(inline)]
    status: Option<CouponStatus>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A customer's coupons, soonest expiry first (then by code).
#[utoipa::path(
    tag = "coupons", operation_id = "list_customer_coupons",
    params(("id" = Uuid, Path, description = "Customer id"), CustomerCouponParams),
    security(("bearer" = ["coupons:read"])),
    responses(
        (status = 200, description = "Coupons by expiry, then code", body = Page<CouponView>),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/coupons")]
async fn list_customer_coupons(
    _auth: Auth<CouponsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    params: web::Query<CustomerCouponParams>,
) -> ApiResult<HttpResponse> {
    let customer = id.into_inner();
    let p = params.into_inner();
    let page = PageParams { limit: p.limit, cursor: p.cursor };
    let limit = page.limit()?;
    let after = page.after::<CouponKey>()?;
    let status = p.status.map(CouponStatus::as_str);
    let now = state.clock.now();
    let rows = crate::db::run(&state.pool, move |conn| {
        crate::customers::store::get(conn, customer)?;
        store::list_for_customer(conn, customer, status, after, limit + 1, now)
    })
    .await?;
    let items: Vec<CouponView> = rows.into_iter().map(|(c, t)| coupon_view(c, &t, now)).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(items, limit, |c| {
        CouponKey { expires_at: c.expires_at, code: c.code.clone() }.to_string()
    })))
}

fn canonical(code: &str) -> ApiResult<String> {
    codes::canonical(code).ok_or_else(store::coupon_not_found)
}

/// Read a coupon by code (any case, spaces and dashes allowed), with the terms the till shows.
#[utoipa::path(
    tag = "coupons", operation_id = "get_coupon",
    params(("code" = String, Path, description = "Coupon code, e.g. `K7M4-P9QX-2HTR`")),
    security(("bearer" = ["coupons:read"])),
    responses(
        (status = 200, description = "The coupon", body = CouponView),
        (status = 404, description = "`coupon_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/coupons/{code}")]
async fn get_coupon(
    _auth: Auth<CouponsRead>,
    state: web::Data<AppState>,
    code: web::Path<String>,
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
    params(("code" = String, Path, description = "Coupon code")),
    security(("bearer" = ["coupons:write"])),
    responses(
        (status = 200, description = "The voided coupon", body = CouponView),
        (status = 403, description = "`forbidden` without the scope; `store_bound_principal`: only a chain-wide principal may do this (SPEC §3.1)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`coupon_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`coupon_already_redeemed` or `coupon_voided`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/coupons/{code}/void")]
async fn void_coupon(
    auth: Auth<CouponsWrite>,
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: crate::http::Json<VoidRequest>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
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
        crate::audit::record(conn, &who, "coupon.void", "coupon", Some(code.clone()), json!({"reason": reason}))?;
        Ok(done)
    })
    .await?;
    Ok(coupon_response(StatusCode::OK, coupon, &template, now))
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

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
    params(("id" = Uuid, Path, description = "Template id")),
    security(("bearer" = ["coupons:read"])),
    responses(
        (status = 200, description = "The figures, at this moment", body = TemplateStats),
        (status = 404, description = "`coupon_template_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/coupon-templates/{id}/stats")]
async fn template_stats(
    _auth: Auth<CouponsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
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
