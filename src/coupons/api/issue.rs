//! Issuing a template's coupons to customers, and a customer claiming one (领券).

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::coupons::{coupon_response, CouponView};
use crate::coupons::model::CouponSource;
use crate::coupons::store::{self, IssueSkip, Source};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, ChainWide, CouponsWrite};
use crate::state::AppState;

/// Customers one issue request may name.
pub const MAX_ISSUE_CUSTOMERS: usize = 1000;

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
    reason: IssueSkip,
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
    params(("id" = Uuid, Path, description = "Template id")), security(("bearer" = ["coupons:write"])),
    responses(
        (status = 200, description = "What was issued and who was skipped, and why", body = IssueResult),
        crate::error::ChainWideOnly,
        crate::coupons::api::CouponTemplateNotFound,
        (status = 409, description = "`template_not_active` (with `template_status`) or `template_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (neither or both of `customer_ids` and `segment_id`), `segment_not_found`, `segment_too_large` (over 100,000)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/coupon-templates/{id}/issue")]
pub(super) async fn issue_coupons(
    auth: Auth<ChainWide<CouponsWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
    body: crate::http::Json<IssueRequest>,
) -> ApiResult<HttpResponse> {
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
        let source = Source { kind: CouponSource::Manual, reference: None };
        let report = store::issue(conn, id, &customers, source, now, tz)?;
        let detail = json!({"issued": report.issued.len(), "skipped": report.skipped.len()});
        crate::audit::record(conn, &who, crate::audit::AuditAction::CouponIssue, Some(id.to_string()), detail)?;
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
            .map(|s| SkippedCustomer { customer_id: s.customer_id, reason: s.reason })
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
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["coupons:write"])),
    responses(
        (status = 201, description = "The coupon", body = CouponView),
        crate::customers::api::CustomerNotFound,
        (status = 409, description = "`quantity_exhausted`, `per_customer_limit`, `template_not_active`, `template_expired`, `customer_merged`, `customer_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (no such template)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/coupons")]
pub(super) async fn claim_coupon(
    _auth: Auth<CouponsWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<ClaimRequest>,
) -> ApiResult<HttpResponse> {
    let customer = id.into_inner();
    let template_id = body.into_inner().template_id.ok_or_else(|| ApiError::invalid("template_id", "is required"))?;
    let (now, tz) = (state.clock.now(), state.config.timezone);
    let (coupon, template) = crate::db::transaction(&state.pool, move |conn| {
        let coupon =
            store::claim(conn, customer, template_id, Source { kind: CouponSource::Claim, reference: None }, now, tz)?;
        let template = store::get_template(conn, coupon.template_id)?;
        Ok((coupon, template))
    })
    .await?;
    Ok(coupon_response(StatusCode::CREATED, coupon, &template, now))
}
