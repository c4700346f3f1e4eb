//! A customer's timeline.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customers::api::CustomerNotFound;
use crate::customers::store::{self};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{Auth, CustomersRead, StoreScope};
use crate::http::pagination::{Page, PageParams};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(customer_timeline);
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
    params(("id" = Uuid, Path, description = "Customer id"), PageParams), security(("bearer" = ["customers:read"])),
    responses((status = 200, description = "Timeline, newest first", body = Page<TimelineItem>), CustomerNotFound)
)]
#[get("/v1/customers/{id}/timeline")]
async fn customer_timeline(
    auth: Auth<CustomersRead>, state: web::Data<AppState>, id: web::Path<Uuid>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let limit = page.limit()?;
    let before = parse_timeline_cursor(&page)?;
    let scope = auth.store_scope();
    let items = crate::db::run(&state.pool, move |conn| timeline(conn, id, scope, before, limit + 1)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(items, limit, timeline_cursor)))
}

pub(super) fn timeline(
    conn: &mut diesel::PgConnection, id: Uuid, scope: StoreScope, before: Option<(DateTime<Utc>, Uuid)>, limit: i64,
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
            summary: crate::customers::timeline::event_summary(&e),
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
