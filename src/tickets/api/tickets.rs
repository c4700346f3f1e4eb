//! Tickets: open, list, read, change (the status machine), and the customer's satisfaction.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{MAX_NAME, MAX_TEXT, MUST_BE_KNOWN};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, TicketsRead, TicketsWrite};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::patch::double_option;
use crate::http::IfMatch;
use crate::state::AppState;
use crate::stores::SalesChannel;
use crate::tickets::model::Ticket;
use crate::tickets::model::{TicketPriority, TicketStatus, TicketType};
use crate::tickets::service::{self, TicketChanges};
use crate::tickets::store::{self, NewTicket};

const MAX_SUBJECT: usize = 200;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "order_id": null, "type": "return", "category": "size_mismatch", "channel": "tmall", "priority": "normal",
    "subject": "尺码不合适，申请退货", "description": null, "status": "open", "team": "after_sales",
    "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "store_id": null,
    "first_response_due_at": "2026-11-23T10:00:00Z", "resolution_due_at": "2026-11-25T08:00:00Z",
    "first_responded_at": null, "resolved_at": null, "closed_at": null, "first_response_breached": false,
    "resolution_breached": false, "sla_paused": false, "satisfaction_score": null, "satisfaction_comment": null,
    "satisfaction_at": null, "version": 1, "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct TicketView {
    id: Uuid,
    customer_id: Option<Uuid>,
    order_id: Option<Uuid>,
    #[serde(rename = "type")]
    ticket_type: TicketType,
    category: Option<String>,
    channel: Option<SalesChannel>,
    priority: TicketPriority,
    subject: String,
    description: Option<String>,
    status: TicketStatus,
    team: Option<String>,
    assignee_staff_id: Option<Uuid>,
    store_id: Option<Uuid>,
    /// When the first public reply is due (null while the clock is paused; kept after the reply).
    first_response_due_at: Option<DateTime<Utc>>,
    /// When resolution is due (null while paused; kept once resolved).
    resolution_due_at: Option<DateTime<Utc>>,
    first_responded_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    first_response_breached: bool,
    resolution_breached: bool,
    /// True while the SLA clock is paused (`pending_customer`: waiting on the customer).
    sla_paused: bool,
    satisfaction_score: Option<i32>,
    satisfaction_comment: Option<String>,
    satisfaction_at: Option<DateTime<Utc>>,
    /// Send back as `If-Match`.
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Ticket> for TicketView {
    fn from(t: Ticket) -> Self {
        TicketView {
            sla_paused: t.status == TicketStatus::PendingCustomer,
            id: t.id,
            customer_id: t.customer_id,
            order_id: t.order_id,
            ticket_type: t.ticket_type,
            category: t.category,
            channel: t.channel,
            priority: t.priority,
            subject: t.subject,
            description: t.description,
            status: t.status,
            team: t.team,
            assignee_staff_id: t.assignee_staff_id,
            store_id: t.store_id,
            first_response_due_at: t.first_response_due_at,
            resolution_due_at: t.resolution_due_at,
            first_responded_at: t.first_responded_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            first_response_breached: t.first_response_breached,
            resolution_breached: t.resolution_breached,
            satisfaction_score: t.satisfaction_score,
            satisfaction_comment: t.satisfaction_comment,
            satisfaction_at: t.satisfaction_at,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

pub(super) fn ticket_response(status: StatusCode, t: Ticket) -> HttpResponse {
    crate::http::versioned(status, t.version, format!("/v1/tickets/{}", t.id), &TicketView::from(t))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "type": "return", "category": "size_mismatch",
    "channel": "tmall", "priority": "normal", "subject": "尺码不合适，申请退货", "description": "买的M码偏小"}))]
pub struct TicketCreate {
    customer_id: Option<Uuid>,
    order_id: Option<Uuid>,
    #[serde(rename = "type")]
    #[schema(value_type = TicketType, required = true, nullable = false)]
    ticket_type: Option<String>,
    /// Free text, e.g. `size_mismatch`, `quality` (1-64 characters).
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    category: Option<String>,
    /// A known channel (`pos`, `wechat_mini_program`, `tmall`, ...).
    #[schema(format = "channel")]
    channel: Option<String>,
    /// Default `normal`.
    #[schema(value_type = Option<TicketPriority>, default = "normal")]
    priority: Option<String>,
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 200, format = "non-blank")]
    subject: Option<String>,
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// The store it concerns; a store-bound caller's own store (the default; another → 403
    /// `store_bound_principal`). Only that store's staff (or chain-wide staff) are assigned.
    store_id: Option<Uuid>,
}

impl TicketCreate {
    fn validate(self, store_id: Option<Uuid>) -> ApiResult<NewTicket> {
        let mut v = Violations::new();
        if self.ticket_type.is_none() {
            v.add("type", "is required");
        }
        let ticket_type = v.word::<TicketType>("type", self.ticket_type.as_deref());
        match &self.subject {
            None => v.add("subject", "is required"),
            Some(s) => v.text("subject", s, MAX_SUBJECT),
        }
        if let Some(d) = &self.description {
            v.check(d.chars().count() <= MAX_TEXT, "description", "must be at most 5000 characters");
        }
        if let Some(c) = &self.category {
            v.text("category", c, MAX_NAME);
        }
        let channel = self.channel.as_deref().and_then(|c| v.known("channel", c, MUST_BE_KNOWN));
        let priority = v.word::<TicketPriority>("priority", self.priority.as_deref());
        v.into_result()?;
        let Some(ticket_type) = ticket_type else { return Err(ApiError::invalid("type", "is required")) };
        Ok(NewTicket {
            customer_id: self.customer_id,
            order_id: self.order_id,
            ticket_type,
            category: crate::http::clean(self.category),
            channel,
            priority: priority.unwrap_or(TicketPriority::Normal),
            subject: crate::http::clean(self.subject).unwrap_or_default(),
            description: crate::http::clean(self.description),
            store_id,
        })
    }
}

/// Open a ticket: routed to a team by the first matching routing rule, assigned round-robin to the
/// team's next active agent, SLA clock started from the priority's policy.
///
/// No matching rule: no team, unassigned. Events `ticket.created` (+ `ticket.assigned`).
#[utoipa::path(
    tag = "tickets", operation_id = "create_ticket", request_body = TicketCreate,
    security(("bearer" = ["tickets:write"])),
    responses(
        (status = 201, description = "Created", body = TicketView),
        crate::error::OtherStoreForbidden,
        (status = 422, description = "`validation_failed`; `reference_not_found` for a customer, order or store that does not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/tickets")]
pub(super) async fn create_ticket(
    auth: Auth<TicketsWrite>, state: web::Data<AppState>, body: crate::http::Json<TicketCreate>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let store_id = auth.acting_store(body.store_id)?;
    let new = body.validate(store_id)?;
    let now = state.clock.now();
    let tz = state.config.timezone;
    let who = auth.principal.clone();
    let ticket = crate::db::transaction(&state.pool, move |conn| {
        let t = service::create(conn, &new, now, tz)?;
        let detail = json!({"type": t.ticket_type, "priority": t.priority, "team": t.team});
        crate::audit::record(conn, &who, crate::audit::AuditAction::TicketCreate, Some(t.id.to_string()), detail)?;
        Ok(t)
    })
    .await?;
    Ok(ticket_response(StatusCode::CREATED, ticket))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketListParams {
    #[param(value_type = Option<TicketStatus>)]
    status: Option<String>,
    team: Option<String>,
    assignee_staff_id: Option<Uuid>,
    #[param(value_type = Option<TicketPriority>)]
    priority: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<TicketType>)]
    ticket_type: Option<String>,
    customer_id: Option<Uuid>,
}

/// Tickets by id (creation order), filtered; a store-bound caller sees its store's only.
#[utoipa::path(
    tag = "tickets", operation_id = "list_tickets", params(PageParams, TicketListParams),
    security(("bearer" = ["tickets:read"])),
    responses(
        (status = 200, description = "Tickets by id", body = Page<TicketView>),
        (status = 422, description = "`validation_failed`: an unknown status, priority or type", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/tickets")]
pub(super) async fn list_tickets(
    auth: Auth<TicketsRead>, state: web::Data<AppState>, query: Listing<TicketListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let mut v = Violations::new();
    let status = v.word::<TicketStatus>("status", p.status.as_deref());
    let priority = v.word::<TicketPriority>("priority", p.priority.as_deref());
    let ticket_type = v.word::<TicketType>("type", p.ticket_type.as_deref());
    v.into_result()?;
    let filter = store::TicketFilter {
        status,
        team: p.team,
        assignee_staff_id: p.assignee_staff_id,
        priority,
        ticket_type,
        customer_id: p.customer_id,
        scope: auth.store_scope(),
    };
    let fetch = move |conn: &mut PgConnection, after, n| store::list(conn, &filter, after, n);
    let page = page.load(&state.pool, fetch, |t: &TicketView| t.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a ticket; targets that fell due by now are flagged as breached on the way.
#[utoipa::path(
    tag = "tickets", operation_id = "get_ticket",
    params(("id" = Uuid, Path, description = "Ticket id")), security(("bearer" = ["tickets:read"])),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "`ticket_not_found` (also another store's ticket for a store-bound caller)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/tickets/{id}")]
pub(super) async fn get_ticket(
    auth: Auth<TicketsRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let now = state.clock.now();
    let scope = auth.store_scope();
    let t = crate::db::run(&state.pool, move |conn| service::read(conn, scope, id, now)).await?;
    Ok(ticket_response(StatusCode::OK, t))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "in_progress", "assignee_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60"}))]
pub struct TicketPatch {
    /// open → in_progress | resolved; in_progress → pending_customer | resolved; pending_customer →
    /// in_progress | resolved; resolved → closed | in_progress (reopen); closed → in_progress (reopen).
    /// Anything else: 409 `invalid_transition`.
    #[schema(value_type = Option<TicketStatus>)]
    status: Option<String>,
    /// A new priority retimes the SLA with that priority's targets.
    #[schema(value_type = Option<TicketPriority>)]
    priority: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, format = "non-blank")]
    team: Option<Option<String>>,
    /// An active staff member of the ticket's store, or a chain-wide one; `null` unassigns.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    assignee_staff_id: Option<Option<Uuid>>,
}

impl TicketPatch {
    fn validate(self) -> ApiResult<TicketChanges> {
        let mut v = Violations::new();
        let status = v.word::<TicketStatus>("status", self.status.as_deref());
        let priority = v.word::<TicketPriority>("priority", self.priority.as_deref());
        if let Some(Some(team)) = &self.team {
            v.text("team", team, MAX_NAME);
        }
        v.into_result()?;
        Ok(TicketChanges {
            status,
            priority,
            team: self.team.map(crate::http::clean),
            assignee_staff_id: self.assignee_staff_id,
        })
    }
}

/// Change a ticket's status, priority, team or assignee; send `If-Match`.
///
/// Every change retimes the SLA clock: `pending_customer` pauses it, `resolved` / `closed` stop it,
/// back to `in_progress` resumes it; a new priority takes that policy's targets. On `resolved`:
/// `resolved_at`, events `ticket.resolved` and `ticket.survey_requested`.
#[utoipa::path(
    tag = "tickets", operation_id = "update_ticket", request_body = TicketPatch,
    params(("id" = Uuid, Path, description = "Ticket id"), IfMatch), security(("bearer" = ["tickets:write"])),
    responses(
        (status = 200, description = "Updated", body = TicketView),
        crate::tickets::api::TicketNotFound,
        (status = 409, description = "`invalid_transition` (with the current `ticket_status`)", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed` naming `assignee_staff_id`: not an active staff member within the caller's stores who can see the ticket (of its store, or chain-wide)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/tickets/{id}")]
pub(super) async fn update_ticket(
    auth: Auth<TicketsWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<TicketPatch>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let changes = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let tz = state.config.timezone;
    let who = auth.principal.clone();
    let t = crate::db::transaction(&state.pool, move |conn| {
        let t = service::update(conn, who.store_scope(), id, expected, &changes, now, tz)?;
        let detail = json!({"version": t.version, "status": t.status, "priority": t.priority,
            "team": t.team, "assignee_staff_id": t.assignee_staff_id});
        crate::audit::record(conn, &who, crate::audit::AuditAction::TicketUpdate, Some(id.to_string()), detail)?;
        Ok(t)
    })
    .await?;
    Ok(ticket_response(StatusCode::OK, t))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"score": 5, "comment": "处理很快"}))]
pub struct SatisfactionRequest {
    /// 1-5.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = i32, required = true, nullable = false, minimum = 1, maximum = 5)]
    score: Option<i32>,
    #[schema(max_length = 1000)]
    comment: Option<String>,
}

/// Record the customer's satisfaction (CSAT), once, on a resolved or closed ticket.
#[utoipa::path(
    tag = "tickets", operation_id = "record_ticket_satisfaction", request_body = SatisfactionRequest,
    params(("id" = Uuid, Path, description = "Ticket id")), security(("bearer" = ["tickets:write"])),
    responses(
        (status = 200, description = "Recorded", body = TicketView),
        crate::tickets::api::TicketNotFound,
        (status = 409, description = "`satisfaction_already_recorded`; `ticket_not_resolved` (with `ticket_status`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: score outside 1-5", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/tickets/{id}/satisfaction")]
pub(super) async fn record_satisfaction(
    auth: Auth<TicketsWrite>, state: web::Data<AppState>, id: web::Path<Uuid>,
    body: crate::http::Json<SatisfactionRequest>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let b = body.into_inner();
    let mut v = Violations::new();
    match b.score {
        None => v.add("score", "is required"),
        Some(s) => v.check((1..=5).contains(&s), "score", "must be 1-5"),
    }
    if let Some(c) = &b.comment {
        v.check(c.chars().count() <= 1000, "comment", "must be at most 1000 characters");
    }
    v.into_result()?;
    let score = b.score.unwrap_or_default();
    let comment = crate::http::clean(b.comment);
    let now = state.clock.now();
    let scope = auth.store_scope();
    let t = crate::db::transaction(&state.pool, move |conn| {
        service::record_satisfaction(conn, scope, id, score, comment, now)
    })
    .await?;
    Ok(ticket_response(StatusCode::OK, t))
}
