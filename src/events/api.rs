use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{feed, next_cursor, Event, EVENT_TYPES};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::auth::{Auth, ChainWide, EventsRead};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_events);
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    /// The `next_cursor` of the previous call (a sequence number); omit it (or leave it empty) to start
    /// from the beginning.
    #[param(example = "0", format = "event-sequence")]
    after: Option<String>,
    /// Comma-separated event types to return, e.g. `customer.created,customer.merged`.
    #[param(format = "event-types")]
    types: Option<String>,
    /// 1–1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"items": [], "next_cursor": "42"}))]
pub struct EventFeed {
    items: Vec<Event>,
    /// Where to continue from; unlike other lists it is never null, so a poller always has a position.
    next_cursor: String,
}

/// Pull feed of events in commit order.
///
/// The feed carries every store's data (coupon codes included), so it needs `events:read` and a
/// chain-wide principal.
#[utoipa::path(
    tag = "events",
    operation_id = "list_events",
    params(FeedParams), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "Events after the cursor, in commit order", body = EventFeed),
        (status = 403, description = "`forbidden` without `events:read`; `store_bound_principal` for a principal bound to a store", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/events")]
async fn list_events(
    _auth: Auth<ChainWide<EventsRead>>, state: web::Data<AppState>, params: web::Query<FeedParams>,
) -> ApiResult<HttpResponse> {
    let after = match params.after.as_deref() {
        None | Some("") => 0,
        Some(raw) => Some(raw)
            .filter(|r| r.len() <= 18 && r.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|r| r.parse::<i64>().ok())
            .ok_or_else(|| ApiError::bad_request("invalid_cursor", "`after` must be a cursor this feed returned"))?,
    };
    let limit = match params.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid("limit", "must be between 1 and 1000")),
    };
    let types: Vec<String> = params
        .types
        .as_deref()
        .map(|t| t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(ApiError::invalid("types", format!("unknown event type '{unknown}'")));
    }
    let (items, horizon) = crate::db::run(&state.pool, move |conn| feed(conn, after, &types, limit)).await?;
    let next_cursor = next_cursor(&items, limit, after, horizon).to_string();
    Ok(HttpResponse::Ok().json(EventFeed { items, next_cursor }))
}
