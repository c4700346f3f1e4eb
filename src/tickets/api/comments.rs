//! A ticket's comments: public replies and internal notes.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::tickets::TicketView;
use super::MAX_TEXT;
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, TicketsRead, TicketsWrite};
use crate::http::pagination::{Page, PageParams};
use crate::state::AppState;
use crate::tickets::api::TicketNotFound;
use crate::tickets::model::{Comment, TicketCommentVisibility};
use crate::tickets::service;
use crate::tickets::store;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "visibility": "public", "body": "您好，已为您安排退货。", "author": "staff:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "created_at": "2026-11-23T08:30:00Z"}))]
pub struct CommentView {
    id: Uuid,
    ticket_id: Uuid,
    /// `internal` (staff only; shows on the customer's timeline) or `public` (a reply to the customer).
    visibility: TicketCommentVisibility,
    body: String,
    /// The caller's subject (`staff:<id>` or `client:<id>`).
    author: String,
    created_at: DateTime<Utc>,
}

impl From<Comment> for CommentView {
    fn from(c: Comment) -> Self {
        CommentView {
            id: c.id,
            ticket_id: c.ticket_id,
            visibility: c.visibility,
            body: c.body,
            author: c.author,
            created_at: c.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"visibility": "public", "body": "您好，已为您安排退货。"}))]
pub struct CommentCreate {
    #[schema(value_type = TicketCommentVisibility, required = true, nullable = false)]
    visibility: Option<String>,
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 5000, format = "non-blank")]
    body: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"comment": {"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "ticket_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "visibility": "public", "body": "您好，已为您安排退货。", "author": "staff:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60",
    "created_at": "2026-11-23T08:30:00Z"}, "ticket": {"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "customer_id": null,
    "order_id": null, "type": "return", "category": "size_mismatch", "channel": "tmall", "priority": "normal",
    "subject": "尺码不合适，申请退货", "description": null, "status": "in_progress", "team": "after_sales",
    "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "store_id": null,
    "first_response_due_at": "2026-11-23T10:00:00Z", "resolution_due_at": "2026-11-25T08:00:00Z",
    "first_responded_at": "2026-11-23T08:30:00Z", "resolved_at": null, "closed_at": null,
    "first_response_breached": false, "resolution_breached": false, "sla_paused": false, "satisfaction_score": null,
    "satisfaction_comment": null, "satisfaction_at": null, "version": 2, "created_at": "2026-11-23T08:00:00Z",
    "updated_at": "2026-11-23T08:30:00Z"}}))]
pub struct CommentCreated {
    comment: CommentView,
    /// The ticket after the comment (a first public reply sets `first_responded_at`).
    ticket: TicketView,
}

/// Comment on a ticket. `public` is a reply to the customer: the first one sets
/// `first_responded_at` (and moves an `open` ticket to `in_progress`). `internal` notes show on the
/// customer's timeline for other departments.
#[utoipa::path(
    tag = "tickets", operation_id = "add_ticket_comment", request_body = CommentCreate,
    params(("id" = Uuid, Path, description = "Ticket id")), security(("bearer" = ["tickets:write"])),
    responses(
        (status = 201, description = "Added", body = CommentCreated),
        crate::tickets::api::TicketNotFound,
        (status = 409, description = "`ticket_closed`: reopen it first", body = Problem, content_type = "application/problem+json"),
        crate::error::ValidationFailed,
    )
)]
#[post("/v1/tickets/{id}/comments")]
pub(super) async fn add_comment(
    auth: Auth<TicketsWrite>, state: web::Data<AppState>, id: web::Path<Uuid>, body: crate::http::Json<CommentCreate>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let b = body.into_inner();
    let mut v = Violations::new();
    if b.visibility.is_none() {
        v.add("visibility", "is required");
    }
    let visibility = v.word::<TicketCommentVisibility>("visibility", b.visibility.as_deref());
    match &b.body {
        None => v.add("body", "is required"),
        Some(text) => v.text("body", text, MAX_TEXT),
    }
    v.into_result()?;
    let Some(visibility) = visibility else { return Err(ApiError::invalid("visibility", "is required")) };
    let text = crate::http::clean(b.body).unwrap_or_default();
    let now = state.clock.now();
    let tz = state.config.timezone;
    let (scope, author) = (auth.store_scope(), auth.sub.clone());
    let (t, c) = crate::db::transaction(&state.pool, move |conn| {
        let new = store::NewComment { visibility, body: &text, author: &author };
        service::comment(conn, scope, id, &new, now, tz)
    })
    .await?;
    Ok(HttpResponse::Created().json(CommentCreated { comment: c.into(), ticket: t.into() }))
}

/// A ticket's comments, oldest first.
#[utoipa::path(
    tag = "tickets", operation_id = "list_ticket_comments",
    params(("id" = Uuid, Path, description = "Ticket id"), PageParams), security(("bearer" = ["tickets:read"])),
    responses((status = 200, description = "Comments by id", body = Page<CommentView>), TicketNotFound)
)]
#[get("/v1/tickets/{id}/comments")]
pub(super) async fn list_comments(
    auth: Auth<TicketsRead>, state: web::Data<AppState>, id: web::Path<Uuid>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let scope = auth.store_scope();
    let fetch = move |conn: &mut PgConnection, after, n| {
        store::get(conn, scope, id)?;
        store::comments(conn, id, after, n)
    };
    let page = page.load(&state.pool, fetch, |c: &CommentView| c.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}
