//! A customer's tags.

use actix_web::http::StatusCode;
use actix_web::{put, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{customer_response, read_view};
use crate::customers::model::{validate_tags, CustomerView};
use crate::customers::service;
use crate::customers::store::{self};
use crate::error::{ApiResult, Violations};
use crate::http::auth::{Auth, CustomersWrite};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(replace_customer_tags);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tags": ["vip", "童装"]}))]
pub struct TagsInput {
    /// At most 100, each 1-64 characters and not blank.
    #[schema(max_items = 100, min_length = 1, max_length = 64, format = "non-blank")]
    tags: Vec<String>,
}

/// Replace a customer's manual tags (unknown tags join the catalogue as manual tags).
#[utoipa::path(
    tag = "customers", operation_id = "replace_customer_tags", request_body = TagsInput,
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:write"])),
    responses((status = 200, description = "The customer with its new tags", body = CustomerView))
)]
#[put("/v1/customers/{id}/tags")]
async fn replace_customer_tags(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<TagsInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let mut v = Violations::new();
    let tags = validate_tags(&body.tags, &mut v);
    v.into_result()?;
    let who = auth.principal.clone();
    let today = state.today();
    let view = crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock_active(conn, id)?;
        store::replace_tags(conn, id, &tags)?;
        store::update(conn, &current, &store::ProfileChanges::default())?;
        let (subject, event) = service::updated_event(id, &["tags"]);
        crate::events::emit(conn, subject, event)?;
        read_view(conn, &who, id, today)
    })
    .await?;
    Ok(customer_response(StatusCode::OK, view))
}
