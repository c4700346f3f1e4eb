//! Everything held about a customer.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::notes::NoteView;
use super::timeline::{timeline, TimelineItem};
use crate::customers::model::CustomerView;
use crate::customers::service;
use crate::customers::store::{self};
use crate::error::ApiResult;
use crate::http::auth::{Auth, ChainWide, CustomersPii, StoreScope};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_customer);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer": crate::customers::model::view_example(false),
    "notes": [], "timeline": [], "exported_at": "2026-11-23T08:00:00Z"}))]
pub struct CustomerExport {
    customer: CustomerView,
    notes: Vec<NoteView>,
    timeline: Vec<TimelineItem>,
    exported_at: DateTime<Utc>,
}

/// PIPL access request: everything held about the person, unmasked.
#[utoipa::path(
    tag = "customers", operation_id = "export_customer",
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:pii"])),
    responses(
        (status = 200, description = "Everything held about the customer", body = CustomerExport),
        crate::customers::api::PiiForbidden,
        crate::customers::api::CustomerNotFound,
    )
)]
#[get("/v1/customers/{id}/export")]
async fn export_customer(
    auth: Auth<ChainWide<CustomersPii>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let who = auth.principal.clone();
    let today = state.today();
    let export = crate::db::run(&state.pool, move |conn| {
        let customer = store::get_profile(conn, id)?;
        crate::audit::record(conn, &who, crate::audit::AuditAction::CustomerExport, Some(id.to_string()), json!({}))?;
        Ok(CustomerExport {
            customer: service::view(conn, customer, true, today)?,
            notes: store::notes_before(conn, id, None, 10_000)?.into_iter().map(Into::into).collect(),
            timeline: timeline(conn, id, StoreScope::Chain, None, 10_000)?,
            exported_at: now,
        })
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("content-disposition", format!("attachment; filename=\"customer-{id}.json\"")))
        .json(export))
}
