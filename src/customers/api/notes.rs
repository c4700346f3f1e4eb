//! Notes on a customer.

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::store::{self};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{Auth, CustomersWrite};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(add_note);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "偏好小码，周末来店"}))]
pub struct NoteInput {
    /// Not blank.
    #[schema(min_length = 1, max_length = 5000, format = "non-blank")]
    body: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "body": "偏好小码，周末来店", "author": "staff:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "created_at": "2026-11-23T08:00:00Z"}))]
pub struct NoteView {
    id: Uuid,
    customer_id: Uuid,
    body: String,
    /// Token subject of the writer.
    author: String,
    created_at: DateTime<Utc>,
}

impl From<store::Note> for NoteView {
    fn from(n: store::Note) -> Self {
        NoteView { id: n.id, customer_id: n.customer_id, body: n.body, author: n.author, created_at: n.created_at }
    }
}

/// Add a note (shows on the timeline).
#[utoipa::path(
    tag = "customers", operation_id = "add_note", request_body = NoteInput,
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:write"])),
    responses((status = 201, description = "Added", body = NoteView))
)]
#[post("/v1/customers/{id}/notes")]
async fn add_note(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<NoteInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let raw = body.into_inner().body;
    let text = raw.trim().to_string();
    if text.is_empty() || raw.chars().count() > 5000 {
        return Err(ApiError::invalid("body", "must be 1-5000 characters"));
    }
    let author = auth.sub.clone();
    let note = crate::db::transaction(&state.pool, move |conn| {
        store::lock_active(conn, id)?;
        store::add_note(conn, id, &text, &author)
    })
    .await?;
    Ok(HttpResponse::Created().json(NoteView::from(note)))
}
