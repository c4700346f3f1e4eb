//! A customer's identities.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpResponse};
use uuid::Uuid;

use super::{customer_response, read_view};
use crate::customers::model::{CustomerView, IdentityInput, IdentityView};
use crate::customers::rules;
use crate::customers::rules::IdentityKind;
use crate::customers::service;
use crate::customers::store::{self};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::auth::{Auth, CustomersRead, CustomersWrite};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_identities).service(add_identity).service(remove_identity);
}

/// A customer's identities.
#[utoipa::path(
    tag = "customers", operation_id = "list_identities",
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:read"])),
    responses((status = 200, description = "Identities (phone and email masked without `customers:pii`)", body = Vec<IdentityView>))
)]
#[get("/v1/customers/{id}/identities")]
async fn list_identities(
    auth: Auth<CustomersRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let who = auth.principal.clone();
    let today = state.today();
    let view = crate::db::run(&state.pool, move |conn| read_view(conn, &who, id, today)).await?;
    Ok(HttpResponse::Ok().json(view.identities))
}

/// Attach an identity (e.g. a WeChat openid after the mini-program binds the member).
#[utoipa::path(
    tag = "customers", operation_id = "add_identity", request_body = IdentityInput,
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:write"])),
    responses(
        (status = 201, description = "Attached (or already this customer's)", body = CustomerView),
        (status = 409, description = "`identity_taken` with `owner_customer_id`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/identities")]
async fn add_identity(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<IdentityInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let (kind, value) =
        rules::normalize_identity(&body.kind, &body.value).map_err(|m| ApiError::invalid("value", m))?;
    let who = auth.principal.clone();
    let today = state.today();
    let view = crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock_active(conn, id)?;
        store::claim_identity(conn, id, &kind, &value)?;
        let mut changes = store::ProfileChanges::default();
        // The first phone or email also fills the profile field, which is how the till shows it.
        if IdentityKind::Phone == kind.as_str() && current.phone.is_none() {
            changes.phone = Some(Some(value.clone()));
        }
        if IdentityKind::Email == kind.as_str() && current.email.is_none() {
            changes.email = Some(Some(value.clone()));
        }
        store::update(conn, &current, &changes)?;
        let (subject, event) = service::updated_event(id, &["identities"]);
        crate::events::emit(conn, subject, event)?;
        read_view(conn, &who, id, today)
    })
    .await?;
    Ok(customer_response(StatusCode::CREATED, view))
}

/// Detach an identity; it becomes free for another customer.
#[utoipa::path(
    tag = "customers", operation_id = "remove_identity",
    params(("id" = Uuid, Path, description = "Customer id"),
           ("kind" = String, Path, format = "identity-kind", description = "Identity kind"),
           ("value" = String, Path, format = "identity-value", description = "Identity value, in the form its kind needs (as in `IdentityInput`)")),
    security(("bearer" = ["customers:write"])),
    responses((status = 204, description = "Detached"))
)]
#[delete("/v1/customers/{id}/identities/{kind}/{value}")]
async fn remove_identity(
    _auth: Auth<CustomersWrite>, state: web::Data<AppState>, path: web::Path<(Uuid, String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, kind, value) = path.into_inner();
    let (kind, value) = rules::normalize_identity(&kind, &value).map_err(|m| ApiError::invalid("value", m))?;
    crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock_active(conn, id)?;
        if store::release_identity(conn, id, &kind, &value)? == 0 {
            return Err(ApiError::not_found("identity_not_found", "this customer has no such identity"));
        }
        // Keep the profile consistent: its phone/email is always one of its identities.
        let mut changes = store::ProfileChanges::default();
        if IdentityKind::Phone == kind.as_str() && current.phone.as_deref() == Some(value.as_str()) {
            changes.phone = Some(None);
        }
        if IdentityKind::Email == kind.as_str() && current.email.as_deref() == Some(value.as_str()) {
            changes.email = Some(None);
        }
        store::update(conn, &current, &changes)?;
        let (subject, event) = service::updated_event(id, &["identities"]);
        crate::events::emit(conn, subject, event)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
