//! A lead's stage actions: assign, contact, qualify, convert, close. Each locks the lead, checks
//! `If-Match`, moves it and audits (`act`).

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use diesel::PgConnection;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::leads::{lead_response, LeadView};
use super::{required_text, text};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, LeadsWrite, Principal};
use crate::http::{check_version, IfMatch};
use crate::leads::model::{Lead, LeadCloseOutcome};
use crate::leads::rules::Action;
use crate::leads::service;
use crate::leads::store;
use crate::state::AppState;

/// Locks the lead if the caller may see it (404 otherwise), checks `If-Match`, runs `work`, audits;
/// answers with the lead as `work` left it.
async fn act<F>(
    principal: &Principal, state: &AppState, id: Uuid, expected: Option<i32>, action: crate::audit::AuditAction,
    work: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce(&mut PgConnection, &Lead) -> ApiResult<Lead> + Send + 'static,
{
    let who = principal.clone();
    let updated = crate::db::transaction(&state.pool, move |conn| {
        let lead = store::lock(conn, id, who.store_scope())?;
        check_version(expected, lead.version)?;
        let updated = work(conn, &lead)?;
        let detail = json!({"from": lead.status, "to": updated.status, "assignee_staff_id": updated.assignee_staff_id});
        crate::audit::record(conn, &who, action, Some(id.to_string()), detail)?;
        Ok(updated)
    })
    .await?;
    Ok(lead_response(StatusCode::OK, updated, principal))
}

/// A stage move that only stamps its time (and a lost lead's reason): contact, qualify, close.
async fn advance(
    principal: &Principal, state: &AppState, id: Uuid, expected: Option<i32>, action: Action,
    lost_reason: Option<String>,
) -> ApiResult<HttpResponse> {
    let now = state.clock.now();
    let audit = match action {
        Action::Contact => crate::audit::AuditAction::LeadContact,
        Action::Qualify => crate::audit::AuditAction::LeadQualify,
        _ => crate::audit::AuditAction::LeadClose,
    };
    act(principal, state, id, expected, audit, move |conn, lead| service::advance(conn, lead, action, lost_reason, now))
        .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60"}))]
pub struct LeadAssignRequest {
    #[schema(value_type = Uuid, required = true, nullable = false)]
    staff_id: Option<Uuid>,
}

/// Assign (or re-assign) a `new` or `assigned` lead to an active staff member under capacity;
/// the response clock restarts. Send `If-Match` to guard against concurrent changes.
#[utoipa::path(
    tag = "leads", operation_id = "assign_lead", request_body = LeadAssignRequest,
    params(("id" = Uuid, Path, description = "Lead id"), IfMatch), security(("bearer" = ["leads:write"])),
    responses(
        (status = 200, description = "Assigned", body = LeadView),
        crate::leads::api::LeadNotFound,
        (status = 409, description = "`invalid_transition` (with `lead_status`), `staff_at_capacity`, `staff_inactive`, `already_assigned`", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed` naming `staff_id`: no such staff member within the caller's stores, or (for a lead held by a store) not of the lead's store", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/leads/{id}/assign")]
pub(super) async fn assign_lead(
    auth: Auth<LeadsWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<LeadAssignRequest>,
) -> ApiResult<HttpResponse> {
    let staff_id = body.into_inner().staff_id.ok_or_else(|| ApiError::invalid("staff_id", "is required"))?;
    let (now, minutes, scope) = (state.clock.now(), state.config.lead_response_minutes, auth.store_scope());
    act(
        &auth.principal,
        &state,
        id.into_inner(),
        expected_version.0,
        crate::audit::AuditAction::LeadAssign,
        move |conn, lead| service::assign(conn, lead, staff_id, scope, now, minutes),
    )
    .await
}

/// The first response: `assigned` → `contacted` (sets `first_response_at`).
#[utoipa::path(
    tag = "leads", operation_id = "contact_lead",
    params(("id" = Uuid, Path, description = "Lead id"), IfMatch), security(("bearer" = ["leads:write"])),
    responses(
        (status = 200, description = "Contacted", body = LeadView),
        crate::leads::api::LeadNotFound,
        crate::leads::api::LeadInvalidTransition,
        crate::error::PreconditionFailed,
    )
)]
#[post("/v1/leads/{id}/contact")]
pub(super) async fn contact_lead(
    auth: Auth<LeadsWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    advance(&auth.principal, &state, id.into_inner(), expected_version.0, Action::Contact, None).await
}

/// `contacted` → `qualified` (a real opportunity).
#[utoipa::path(
    tag = "leads", operation_id = "qualify_lead",
    params(("id" = Uuid, Path, description = "Lead id"), IfMatch), security(("bearer" = ["leads:write"])),
    responses(
        (status = 200, description = "Qualified", body = LeadView),
        crate::leads::api::LeadNotFound,
        crate::leads::api::LeadInvalidTransition,
        crate::error::PreconditionFailed,
    )
)]
#[post("/v1/leads/{id}/qualify")]
pub(super) async fn qualify_lead(
    auth: Auth<LeadsWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    advance(&auth.principal, &state, id.into_inner(), expected_version.0, Action::Qualify, None).await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d70"}))]
pub struct LeadConvertRequest {
    /// Link this customer; otherwise the lead's (or the contact phone's) customer, or a new
    /// customer made from the contact.
    customer_id: Option<Uuid>,
    /// The order that won the lead.
    order_id: Option<Uuid>,
}

/// `qualified` → `won`, linking or creating the customer (and optionally the order).
#[utoipa::path(
    tag = "leads", operation_id = "convert_lead", request_body(content = Option<LeadConvertRequest>),
    params(("id" = Uuid, Path, description = "Lead id"), IfMatch), security(("bearer" = ["leads:write"])),
    responses(
        (status = 200, description = "Won, with `customer_id` set", body = LeadView),
        crate::leads::api::LeadNotFound,
        (status = 409, description = "`invalid_transition` (with `lead_status`), `customer_merged`, `customer_erased`, `phone_taken`", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed`: no such customer or order", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/leads/{id}/convert")]
pub(super) async fn convert_lead(
    auth: Auth<LeadsWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: LeadConvertRequest = optional_body(&body)?;
    let now = state.clock.now();
    act(
        &auth.principal,
        &state,
        id.into_inner(),
        expected_version.0,
        crate::audit::AuditAction::LeadConvert,
        move |conn, lead| service::convert(conn, lead, body.customer_id, body.order_id, now).map(|(l, _)| l),
    )
    .await
}

/// A body that may be left out or `null` (all its fields are optional); otherwise a JSON object decoded
/// with the same rules (and errors) as every other body.
fn optional_body<T: serde::de::DeserializeOwned + Default>(raw: &[u8]) -> ApiResult<T> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: Value = serde_json::from_slice(raw).map_err(|e| crate::http::body_error(&e.to_string()))?;
    if value.is_null() {
        return Ok(T::default());
    }
    if !value.is_object() {
        return Err(ApiError::bad_request("invalid_body", "the request body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| crate::http::body_error(&e.to_string()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "lost", "lost_reason": "已在其他渠道购买"}))]
pub struct LeadCloseRequest {
    #[schema(value_type = LeadCloseOutcome, required = true, nullable = false)]
    outcome: Option<String>,
    /// Required for `lost`.
    #[schema(max_length = 500, format = "non-blank")]
    lost_reason: Option<String>,
}

/// Close a lead: `won` from `qualified`, or `lost` (with a reason) from new, assigned, contacted or qualified.
#[utoipa::path(
    tag = "leads", operation_id = "close_lead", request_body = LeadCloseRequest,
    params(("id" = Uuid, Path, description = "Lead id"), IfMatch), security(("bearer" = ["leads:write"])),
    responses(
        (status = 200, description = "Closed", body = LeadView),
        crate::leads::api::LeadNotFound,
        crate::leads::api::LeadInvalidTransition,
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed`: outcome not won/lost, lost without `lost_reason`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/leads/{id}/close")]
pub(super) async fn close_lead(
    auth: Auth<LeadsWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<LeadCloseRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut v = Violations::new();
    let outcome = required_text(&mut v, "outcome", body.outcome, 16);
    let outcome = v.word::<LeadCloseOutcome>("outcome", outcome.as_deref());
    let reason = text(&mut v, "lost_reason", body.lost_reason, 500);
    match (outcome, &reason) {
        (Some(LeadCloseOutcome::Lost), None) => v.add("lost_reason", "is required when the outcome is lost"),
        (Some(LeadCloseOutcome::Won), Some(_)) => v.add("lost_reason", "only for the outcome lost"),
        _ => {}
    }
    v.into_result()?;
    let action = match outcome {
        Some(LeadCloseOutcome::Won) => Action::CloseWon,
        _ => Action::CloseLost,
    };
    advance(&auth.principal, &state, id.into_inner(), expected_version.0, action, reason).await
}
