//! `/v1/webhook-subscriptions` (SPEC §10): chain-wide principals with `webhooks:write` only, since a
//! subscription receives every store's events.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::address;
use super::rules;
use super::store::{self, Attempt, Changes, Delivery, DeliveryStatus, NewSubscription, Subscription};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::events::EVENT_TYPES;
use crate::http::auth::{Auth, ChainWide, WebhooksWrite};
use crate::http::idempotency::RedactOnReplay;
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::patch::double_option;
use crate::http::{etag, IfMatch};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_subscription)
        .service(list_subscriptions)
        .service(get_subscription)
        .service(update_subscription)
        .service(delete_subscription)
        .service(rotate_secret)
        .service(replay)
        .service(list_deliveries)
        .service(retry_delivery);
}

const DESCRIPTION_MAX: usize = 500;

/// What a caller is told when the address policy (`address.rs`) refuses a URL.
const URL_REFUSED: &str = "must reach a public address: loopback, private, link-local, unique-local, multicast and \
                           reserved addresses, and names that resolve to them, are refused";

fn audit(
    conn: &mut diesel::PgConnection, who: &crate::http::auth::Principal, action: crate::audit::AuditAction,
    subscription: Uuid, detail: serde_json::Value,
) -> ApiResult<()> {
    crate::audit::record(conn, who, action, Some(subscription.to_string()), detail)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://erp.example.com/hooks/crm", "event_types": ["order.created", "order.refunded"],
    "description": "ERP order sync"}))]
pub struct SubscriptionInput {
    /// Where deliveries are POSTed: an absolute http(s) URL (required on create) whose host is a DNS
    /// name, a dotted IPv4 address or a bracketed IPv6 address — never a numeric spelling such as
    /// `http://2130706433/` — stored in its canonical form (`https://ERP.Example.com:443/h` is kept as
    /// `https://erp.example.com/h`). It must reach a public
    /// address: loopback, private (10/8, 172.16/12, 192.168/16), carrier-grade NAT, link-local,
    /// unique-local, multicast and reserved addresses are refused, as are names resolving to them,
    /// unless the service runs with `CRM_WEBHOOK_ALLOW_PRIVATE=1`.
    #[schema(max_length = 2048, format = "webhook-url")]
    url: Option<String>,
    /// The event types to receive, at least one (required on create).
    #[schema(min_items = 1)]
    event_types: Option<Vec<String>>,
    /// Off stops deliveries (they wait); on again after the service disabled it clears the reason and
    /// starts from now — replay what was missed.
    active: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 500)]
    description: Option<Option<String>>,
}

impl SubscriptionInput {
    /// The changes, with the URL in its canonical form. An address literal or a `localhost` name the
    /// policy refuses is reported with the other fields; what a name resolves to is checked after
    /// (`check_receiver`), since that asks DNS.
    fn validate(self, creating: bool, allow_private: bool) -> ApiResult<Changes> {
        let mut v = Violations::new();
        if creating {
            v.check(self.url.is_some(), "url", "is required");
            v.check(self.event_types.is_some(), "event_types", "is required");
        }
        let url = self.url.as_deref().map(rules::normalise_url);
        match &url {
            Some(None) => v.add(
                "url",
                "must be an absolute http or https URL of at most 2048 characters, its host a DNS name, a dotted IPv4 \
                 address or a bracketed IPv6 address",
            ),
            Some(Some(url)) => {
                let refused = url.host().is_some_and(|h| rules::host_refused(&h));
                v.check(allow_private || !refused, "url", URL_REFUSED);
            }
            None => {}
        }
        if let Some(types) = &self.event_types {
            v.check(!types.is_empty(), "event_types", "at least one event type");
            if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
                v.add("event_types", format!("unknown event type '{unknown}'"));
            }
        }
        if let Some(Some(d)) = &self.description {
            v.check(d.chars().count() <= DESCRIPTION_MAX, "description", "at most 500 characters");
        }
        v.into_result()?;
        let mut event_types = self.event_types;
        if let Some(types) = &mut event_types {
            types.sort();
            types.dedup();
        }
        let url = url.flatten().map(String::from);
        Ok(Changes { url, event_types, active: self.active, description: self.description })
    }
}

/// The address policy on a URL being saved, with what its host resolves to now: 422 on `url` when
/// deliveries could not go there.
async fn check_receiver(changes: &Changes, state: &AppState) -> ApiResult<()> {
    let Some(url) = changes.url.as_deref().and_then(|u| url::Url::parse(u).ok()) else { return Ok(()) };
    if address::refused_at_save(&url, state.config.webhook_allow_private).await {
        return Err(ApiError::invalid("url", URL_REFUSED));
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "url": "https://erp.example.com/hooks/crm",
    "event_types": ["order.created"], "active": true, "description": "ERP order sync", "disabled_reason": null,
    "disabled_at": null, "failing_since": null, "previous_secret_valid_until": null, "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct SubscriptionView {
    id: Uuid,
    url: String,
    event_types: Vec<String>,
    active: bool,
    description: Option<String>,
    /// Why the service turned it off: `gone` (the receiver answered 410) or `failing` (every delivery
    /// failed for 5 days).
    disabled_reason: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    /// Since when every delivery has failed; null after any success.
    failing_since: Option<DateTime<Utc>>,
    /// After a rotation, until when deliveries also carry the old secret's signature.
    previous_secret_valid_until: Option<DateTime<Utc>>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        SubscriptionView {
            id: s.id,
            url: s.url,
            event_types: s.event_types,
            active: s.active,
            description: s.description,
            disabled_reason: s.disabled_reason,
            disabled_at: s.disabled_at,
            failing_since: s.failing_since,
            previous_secret_valid_until: s.previous_secret_until,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "url": "https://erp.example.com/hooks/crm",
    "event_types": ["order.created"], "active": true, "description": null, "disabled_reason": null,
    "disabled_at": null, "failing_since": null, "previous_secret_valid_until": null, "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z",
    "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}))]
pub struct CreatedSubscription {
    #[serde(flatten)]
    subscription: SubscriptionView,
    /// `whsec_` + base64 of 24 random bytes; shown only now. Verify each delivery's
    /// `webhook-signature` with it.
    secret: String,
}

crate::problem_response!(SubscriptionNotFound = 404, "`webhook_subscription_not_found`");

fn subscription_response(status: StatusCode, s: Subscription) -> HttpResponse {
    HttpResponse::build(status).insert_header(etag(s.version)).json(SubscriptionView::from(s))
}

/// Subscribe a URL to event types; the response carries the signing secret, once.
///
/// The URL must reach a public address (see `url`). A principal may have created at most 20
/// subscriptions that still exist; deleting one frees its place.
#[utoipa::path(
    tag = "webhooks", operation_id = "create_webhook_subscription", request_body = SubscriptionInput,
    security(("bearer" = ["webhooks:write"])),
    responses(
        (status = 201, description = "Created; deliveries start with the next event", body = CreatedSubscription),
        (status = 403, description = "`forbidden` without `webhooks:write`; `store_bound_principal` for a store-bound principal", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`webhook_subscription_limit`: this principal already has 20 subscriptions (`limit`), delete one first; or a request with the same Idempotency-Key is still in progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: a field is missing or invalid, or `url` does not reach a public address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/webhook-subscriptions")]
async fn create_subscription(
    auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, body: crate::http::Json<SubscriptionInput>,
) -> ApiResult<HttpResponse> {
    let changes = body.into_inner().validate(true, state.config.webhook_allow_private)?;
    check_receiver(&changes, &state).await?;
    let new = NewSubscription {
        url: changes.url.unwrap_or_default(),
        event_types: changes.event_types.unwrap_or_default(),
        active: changes.active.unwrap_or(true),
        description: changes.description.flatten(),
        secret: rules::new_secret(),
        created_by: auth.principal.sub.clone(),
    };
    let (principal, now) = (auth.principal.clone(), state.clock.now());
    let sub = crate::db::transaction(&state.pool, move |conn| {
        let sub = store::insert(conn, &new, rules::MAX_SUBSCRIPTIONS_PER_PRINCIPAL, now)?;
        let detail = json!({"url": sub.url, "event_types": sub.event_types});
        crate::audit::record(
            conn,
            &principal,
            crate::audit::AuditAction::WebhookCreate,
            Some(sub.id.to_string()),
            detail,
        )?;
        Ok(sub)
    })
    .await?;
    let secret = sub.secret.clone();
    let mut res = HttpResponse::Created()
        .insert_header(("location", format!("/v1/webhook-subscriptions/{}", sub.id)))
        .insert_header(etag(sub.version))
        .json(CreatedSubscription { subscription: sub.into(), secret });
    // The secret is shown once: an idempotent replay answers without it.
    res.extensions_mut().insert(RedactOnReplay(&["secret"]));
    Ok(res)
}

/// List webhook subscriptions.
#[utoipa::path(
    tag = "webhooks", operation_id = "list_webhook_subscriptions", params(PageParams),
    security(("bearer" = ["webhooks:write"])),
    responses((status = 200, description = "Subscriptions by id", body = Page<SubscriptionView>))
)]
#[get("/v1/webhook-subscriptions")]
async fn list_subscriptions(
    _auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let fetch = move |conn: &mut PgConnection, after, n| store::list(conn, after, n);
    let page = page.load(&state.pool, fetch, |s: &SubscriptionView| s.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a webhook subscription (never its secret).
#[utoipa::path(
    tag = "webhooks", operation_id = "get_webhook_subscription",
    params(("id" = Uuid, Path, description = "Subscription id")), security(("bearer" = ["webhooks:write"])),
    responses((status = 200, description = "The subscription", body = SubscriptionView), SubscriptionNotFound)
)]
#[get("/v1/webhook-subscriptions/{id}")]
async fn get_subscription(
    _auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let sub = crate::db::run(&state.pool, move |conn| store::get(conn, id)).await?;
    Ok(subscription_response(StatusCode::OK, sub))
}

/// Change a subscription: URL, event types, description, or `active` (turning it back on after the
/// service disabled it clears `disabled_reason`).
#[utoipa::path(
    tag = "webhooks", operation_id = "update_webhook_subscription", request_body = SubscriptionInput,
    params(("id" = Uuid, Path, description = "Subscription id"), IfMatch), security(("bearer" = ["webhooks:write"])),
    responses(
        (status = 200, description = "Updated", body = SubscriptionView),
        SubscriptionNotFound,
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed`: a field is invalid, or `url` does not reach a public address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/webhook-subscriptions/{id}")]
async fn update_subscription(
    auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<SubscriptionInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let changes = body.into_inner().validate(false, state.config.webhook_allow_private)?;
    check_receiver(&changes, &state).await?;
    let expected = expected_version.0;
    let (principal, now) = (auth.principal.clone(), state.clock.now());
    let sub = crate::db::transaction(&state.pool, move |conn| {
        let sub = store::update(conn, id, expected, &changes, now)?;
        let detail = json!({"url": sub.url, "event_types": sub.event_types, "active": sub.active});
        audit(conn, &principal, crate::audit::AuditAction::WebhookUpdate, id, detail)?;
        Ok(sub)
    })
    .await?;
    Ok(subscription_response(StatusCode::OK, sub))
}

/// Delete a subscription and its delivery log; nothing more is sent to it (404 afterwards).
#[utoipa::path(
    tag = "webhooks", operation_id = "delete_webhook_subscription",
    params(("id" = Uuid, Path, description = "Subscription id")), security(("bearer" = ["webhooks:write"])),
    responses((status = 204, description = "Deleted"), SubscriptionNotFound)
)]
#[delete("/v1/webhook-subscriptions/{id}")]
async fn delete_subscription(
    auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let principal = auth.principal.clone();
    crate::db::transaction(&state.pool, move |conn| {
        store::delete(conn, id)?;
        audit(conn, &principal, crate::audit::AuditAction::WebhookDelete, id, json!({}))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "previous_secret_valid_until": "2026-11-24T08:00:00Z"}))]
pub struct RotatedSecret {
    /// The new secret, shown only now.
    secret: String,
    /// Until then deliveries carry two signatures: the new secret's and the old one's.
    previous_secret_valid_until: DateTime<Utc>,
}

/// Rotate the signing secret: a new one now, the old one still signing for 24 hours.
#[utoipa::path(
    tag = "webhooks", operation_id = "rotate_webhook_secret",
    params(("id" = Uuid, Path, description = "Subscription id")), security(("bearer" = ["webhooks:write"])),
    responses((status = 200, description = "The new secret", body = RotatedSecret), SubscriptionNotFound)
)]
#[post("/v1/webhook-subscriptions/{id}/rotate-secret")]
async fn rotate_secret(
    auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let (principal, now) = (auth.principal.clone(), state.clock.now());
    let until = now + Duration::hours(rules::ROTATION_OVERLAP_HOURS);
    let secret = rules::new_secret();
    let new_secret = secret.clone();
    crate::db::transaction(&state.pool, move |conn| {
        store::rotate_secret(conn, id, &new_secret, until, now)?;
        audit(conn, &principal, crate::audit::AuditAction::WebhookRotateSecret, id, json!({}))
    })
    .await?;
    let mut res = HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(RotatedSecret { secret, previous_secret_valid_until: until });
    res.extensions_mut().insert(RedactOnReplay(&["secret"]));
    Ok(res)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2026-11-20T00:00:00Z", "to": "2026-11-23T00:00:00Z"}))]
pub struct ReplayInput {
    /// Events that happened at or after this time...
    from: DateTime<Utc>,
    /// ...and before this one: at most 31 days after `from`.
    to: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"replayed": 1250}))]
pub struct ReplayResult {
    /// Deliveries queued and due now: the subscription's events in the range, up to where it has
    /// read, that had not been delivered.
    replayed: i64,
}

/// Send again what a subscription missed in a time range (e.g. while it was disabled).
///
/// Each event of its types that happened in `[from, to)`, up to where it has read, gets a delivery
/// due now: a new one, or its old one (pending or failed) started over with a fresh retry schedule.
/// What was already delivered (2xx) is not sent again, nor what is being sent right now; `replayed`
/// counts what was queued. A window spans at most 31 days, and a subscription has one replay at a
/// time: while deliveries a replay queued are pending or being sent, another replay is refused
/// (`webhook_replay_pending`); replay the next window once they are done.
#[utoipa::path(
    tag = "webhooks", operation_id = "replay_webhook_subscription", request_body = ReplayInput,
    params(("id" = Uuid, Path, description = "Subscription id")), security(("bearer" = ["webhooks:write"])),
    responses(
        (status = 202, description = "Queued; `replayed` says how many deliveries", body = ReplayResult),
        SubscriptionNotFound,
        (status = 409, description = "`webhook_subscription_inactive`: turn it on first; `webhook_replay_pending`: the previous replay is still being delivered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` on `to`: not after `from`, or more than 31 days after it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/webhook-subscriptions/{id}/replay")]
async fn replay(
    auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
    body: crate::http::Json<ReplayInput>,
) -> ApiResult<HttpResponse> {
    let (id, input) = (id.into_inner(), body.into_inner());
    let mut v = Violations::new();
    v.check(input.from < input.to, "to", "must be after `from`");
    let max = rules::MAX_REPLAY_DAYS;
    v.check(input.to - input.from <= Duration::days(max), "to", &format!("at most {max} days after `from`"));
    v.into_result()?;
    let (principal, now) = (auth.principal.clone(), state.clock.now());
    let replayed = crate::db::transaction(&state.pool, move |conn| {
        let n = store::replay(conn, id, input.from, input.to, now)?;
        let detail = json!({"from": input.from, "to": input.to, "replayed": n});
        audit(conn, &principal, crate::audit::AuditAction::WebhookReplay, id, detail)?;
        Ok(n)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(ReplayResult { replayed }))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"attempted_at": "2026-11-23T08:00:00Z", "succeeded": false, "response_code": 500,
    "duration_ms": 42, "error": null}))]
pub struct AttemptView {
    attempted_at: DateTime<Utc>,
    succeeded: bool,
    /// The receiver's status; null when it did not answer (`error` says why).
    response_code: Option<i32>,
    duration_ms: i32,
    error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            attempted_at: a.attempted_at,
            succeeded: a.succeeded,
            response_code: a.response_code,
            duration_ms: a.duration_ms,
            error: a.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "event_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "event_type": "order.created", "event_seq": 42, "status": "pending", "next_attempt_at": "2026-11-23T08:05:00Z",
    "created_at": "2026-11-23T08:00:00Z", "attempts": [{"attempted_at": "2026-11-23T08:00:00Z", "succeeded": false,
    "response_code": 500, "duration_ms": 42, "error": null}]}))]
pub struct DeliveryView {
    id: Uuid,
    /// The `webhook-id` of every attempt.
    event_id: Uuid,
    event_type: String,
    event_seq: i64,
    status: DeliveryStatus,
    /// When a pending delivery is tried next.
    next_attempt_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    attempts: Vec<AttemptView>,
}

impl From<(Delivery, Vec<Attempt>)> for DeliveryView {
    fn from((d, attempts): (Delivery, Vec<Attempt>)) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            event_seq: d.event_seq,
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
            status: d.status,
            created_at: d.created_at,
            attempts: attempts.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryListParams {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryStatus>)]
    status: Option<String>,
}

/// A subscription's deliveries, newest first, each with its attempts (time, status, response code, duration).
#[utoipa::path(
    tag = "webhooks", operation_id = "list_webhook_deliveries",
    params(("id" = Uuid, Path, description = "Subscription id"), DeliveryListParams),
    security(("bearer" = ["webhooks:write"])),
    responses((status = 200, description = "Deliveries, newest first", body = Page<DeliveryView>), SubscriptionNotFound)
)]
#[get("/v1/webhook-subscriptions/{id}/deliveries")]
async fn list_deliveries(
    _auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, id: web::Path<Uuid>,
    query: Listing<DeliveryListParams>,
) -> ApiResult<HttpResponse> {
    let (id, p) = (id.into_inner(), query.filter);
    let mut v = Violations::new();
    let status = v.word::<DeliveryStatus>("status", p.status.as_deref());
    v.into_result()?;
    let fetch = move |conn: &mut PgConnection, after, n| store::deliveries(conn, id, status, after, n);
    let page = query.page.load(&state.pool, fetch, |d: &DeliveryView| d.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Try a delivery again now, with a fresh retry schedule (a failed one, or a pending one early).
#[utoipa::path(
    tag = "webhooks", operation_id = "retry_webhook_delivery",
    params(("id" = Uuid, Path, description = "Subscription id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    security(("bearer" = ["webhooks:write"])),
    responses(
        (status = 202, description = "Due now", body = DeliveryView),
        (status = 404, description = "`webhook_subscription_not_found` or `webhook_delivery_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`webhook_delivery_in_flight`: it is being sent right now", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/retry")]
async fn retry_delivery(
    auth: Auth<ChainWide<WebhooksWrite>>, state: web::Data<AppState>, path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, delivery) = path.into_inner();
    let (principal, now) = (auth.principal.clone(), state.clock.now());
    let retried = crate::db::transaction(&state.pool, move |conn| {
        let d = store::retry(conn, id, delivery, now)?;
        let detail = json!({"delivery_id": delivery});
        audit(conn, &principal, crate::audit::AuditAction::WebhookRetry, id, detail)?;
        Ok(d)
    })
    .await?;
    let (delivery, attempts) = retried;
    Ok(HttpResponse::Accepted().json(DeliveryView::from((delivery, attempts))))
}
