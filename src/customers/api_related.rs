//! What hangs off a customer: identities, tags, notes, timeline, export, merge.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::api::{customer_response, read_view};
use super::model::{validate_tags, CustomerView, IdentityInput, IdentityView};
use super::rules;
use super::service;
use super::store;
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, CustomersPii, CustomersRead, CustomersWrite, StoreScope};
use crate::http::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_identities)
        .service(add_identity)
        .service(remove_identity)
        .service(replace_customer_tags)
        .service(add_note)
        .service(customer_timeline)
        .service(export_customer);
}

/// A customer's identities.
#[utoipa::path(
    tag = "customers", operation_id = "list_identities",
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["customers:read"])),
    responses((status = 200, description = "Identities (phone and email masked without `customers:pii`)", body = Vec<IdentityView>))
)]
#[get("/v1/customers/{id}/identities")]
async fn list_identities(
    auth: Auth<CustomersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
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
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["customers:write"])),
    responses(
        (status = 201, description = "Attached (or already this customer's)", body = CustomerView),
        (status = 409, description = "`identity_taken` with `owner_customer_id`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/identities")]
async fn add_identity(
    auth: Auth<CustomersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<IdentityInput>,
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
        if kind == "phone" && current.phone.is_none() {
            changes.phone = Some(Some(value.clone()));
        }
        if kind == "email" && current.email.is_none() {
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
    _auth: Auth<CustomersWrite>,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, String, String)>,
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
        if kind == "phone" && current.phone.as_deref() == Some(value.as_str()) {
            changes.phone = Some(None);
        }
        if kind == "email" && current.email.as_deref() == Some(value.as_str()) {
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
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["customers:write"])),
    responses((status = 200, description = "The customer with its new tags", body = CustomerView))
)]
#[put("/v1/customers/{id}/tags")]
async fn replace_customer_tags(
    auth: Auth<CustomersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<TagsInput>,
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
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["customers:write"])),
    responses((status = 201, description = "Added", body = NoteView))
)]
#[post("/v1/customers/{id}/notes")]
async fn add_note(
    auth: Auth<CustomersWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: crate::http::Json<NoteInput>,
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

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"kind": "note", "type": "note", "id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e",
    "occurred_at": "2026-11-23T08:00:00Z", "summary": "偏好小码，周末来店", "data": {"author": "staff:0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60"}}))]
pub struct TimelineItem {
    /// `note` or `event` (orders, points, coupons, tickets, leads and messages join as they land).
    kind: &'static str,
    /// Event type (e.g. `customer.merged`) or `note`.
    #[serde(rename = "type")]
    item_type: String,
    id: Uuid,
    occurred_at: DateTime<Utc>,
    summary: String,
    #[schema(value_type = Object)]
    data: Value,
}

fn timeline_cursor(item: &TimelineItem) -> String {
    format!("{}|{}", item.occurred_at.to_rfc3339(), item.id)
}

fn parse_timeline_cursor(page: &PageParams) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
    let Some(raw) = page.after::<String>()? else { return Ok(None) };
    let invalid = || ApiError::bad_request("invalid_cursor", "the cursor is not one this API returned");
    let (at, id) = raw.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?.with_timezone(&Utc);
    Ok(Some((at, id.parse().map_err(|_| invalid())?)))
}

/// Everything that happened to a customer, newest first.
///
/// A store-bound principal sees the entries of its own store and those of no store (profile
/// changes, points, memberships, notes), never another store's orders, refunds, coupon
/// redemptions, tickets or leads.
#[utoipa::path(
    tag = "customers", operation_id = "customer_timeline",
    params(("id" = Uuid, Path, description = "Customer id"), PageParams),
    security(("bearer" = ["customers:read"])),
    responses(
        (status = 200, description = "Timeline, newest first", body = Page<TimelineItem>),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/timeline")]
async fn customer_timeline(
    auth: Auth<CustomersRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let limit = page.limit()?;
    let before = parse_timeline_cursor(&page)?;
    let scope = auth.store_scope();
    let items = crate::db::run(&state.pool, move |conn| timeline(conn, id, scope, before, limit + 1)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(items, limit, timeline_cursor)))
}

fn timeline(
    conn: &mut diesel::PgConnection,
    id: Uuid,
    scope: StoreScope,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> ApiResult<Vec<TimelineItem>> {
    store::get_profile(conn, id)?;
    let mut subjects = store::merged_into(conn, id)?;
    subjects.push(id);
    let mut items: Vec<TimelineItem> = store::notes_before(conn, id, before, limit)?
        .into_iter()
        .map(|n| TimelineItem {
            kind: "note",
            item_type: "note".into(),
            id: n.id,
            occurred_at: n.created_at,
            summary: n.body,
            data: json!({"author": n.author}),
        })
        .collect();
    for e in store::timeline_events(conn, &subjects, scope, before, limit)? {
        items.push(TimelineItem {
            kind: "event",
            summary: super::timeline::event_summary(&e),
            item_type: e.event_type,
            id: e.id,
            occurred_at: e.occurred_at,
            data: e.data,
        });
    }
    items.sort_by_key(|i| std::cmp::Reverse((i.occurred_at, i.id)));
    items.truncate(limit as usize);
    Ok(items)
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
    params(("id" = Uuid, Path, description = "Customer id")),
    security(("bearer" = ["customers:pii"])),
    responses(
        (status = 200, description = "Everything held about the customer", body = CustomerExport),
        (status = 403, description = "`forbidden` without `customers:pii`; `store_bound_principal` for a principal bound to a store", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`customer_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers/{id}/export")]
async fn export_customer(
    auth: Auth<CustomersPii>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let (id, now) = (id.into_inner(), state.clock.now());
    let who = auth.principal.clone();
    let today = state.today();
    let export = crate::db::run(&state.pool, move |conn| {
        let customer = store::get_profile(conn, id)?;
        crate::audit::record(conn, &who, "customer.export", "customer", Some(id.to_string()), json!({}))?;
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
