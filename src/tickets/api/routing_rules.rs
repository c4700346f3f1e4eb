//! Ticket routing rules (`/v1/ticket-routing-rules`, SPEC §12). They govern every store's
//! tickets: every verb, reads included, is for chain-wide principals only (SPEC §3.1).

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{MAX_NAME, MUST_BE_KNOWN};
use crate::error::ValidationFailed;
use crate::error::{ApiResult, Violations};
use crate::http::auth::{Auth, ChainWide, TicketsRead, TicketsWrite};
use crate::http::pagination::{Page, PageParams, RankKey};
use crate::http::patch::double_option;
use crate::http::IfMatch;
use crate::state::AppState;
use crate::stores::SalesChannel;
use crate::tickets::api::TicketConfigIsTheChains;
use crate::tickets::config_store::{self as store, RoutingRule, RuleFields};
use crate::tickets::model::{TicketPriority, TicketType};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d70", "name": "天猫退货", "priority": 10,
    "match_type": "return", "match_category": null, "match_channel": "tmall", "match_priority": null,
    "team": "after_sales", "active": true, "version": 1, "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct RuleView {
    id: Uuid,
    name: String,
    /// Rules are tried by priority (lowest first), then id.
    priority: i32,
    /// Null: any.
    match_type: Option<TicketType>,
    match_category: Option<String>,
    match_channel: Option<SalesChannel>,
    match_priority: Option<TicketPriority>,
    team: String,
    active: bool,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<RoutingRule> for RuleView {
    fn from(r: RoutingRule) -> Self {
        let f = r.fields;
        RuleView {
            id: r.id,
            name: f.name,
            priority: f.priority,
            match_type: f.match_type,
            match_category: f.match_category,
            match_channel: f.match_channel,
            match_priority: f.match_priority,
            team: f.team,
            active: f.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn rule_response(status: StatusCode, r: RoutingRule) -> HttpResponse {
    crate::http::versioned(status, r.version, format!("/v1/ticket-routing-rules/{}", r.id), &RuleView::from(r))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "天猫退货", "priority": 10, "match_type": "return", "match_channel": "tmall", "team": "after_sales"}))]
pub struct RuleCreate {
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 64, format = "non-blank")]
    name: Option<String>,
    /// Lower is tried first.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = i32, required = true, nullable = false)]
    priority: Option<i32>,
    /// A ticket type; absent = any.
    #[schema(value_type = Option<TicketType>)]
    match_type: Option<String>,
    /// A category; absent = any.
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    match_category: Option<String>,
    /// A known channel; absent = any.
    #[schema(format = "channel")]
    match_channel: Option<String>,
    /// A ticket priority; absent = any.
    #[schema(value_type = Option<TicketPriority>)]
    match_priority: Option<String>,
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 64, format = "non-blank")]
    team: Option<String>,
    /// Default true.
    active: Option<bool>,
}

/// A rule's fields as sent (or kept), before they are checked.
struct RuleInput {
    name: String,
    priority: i32,
    match_type: Option<String>,
    match_category: Option<String>,
    match_channel: Option<String>,
    match_priority: Option<String>,
    team: String,
    active: bool,
}

/// Checks a rule's fields and gives them as they will be stored.
fn check_rule(r: RuleInput) -> ApiResult<RuleFields> {
    let mut v = Violations::new();
    v.text("name", &r.name, MAX_NAME);
    v.text("team", &r.team, MAX_NAME);
    let match_type = v.word::<TicketType>("match_type", r.match_type.as_deref());
    let match_priority = v.word::<TicketPriority>("match_priority", r.match_priority.as_deref());
    if let Some(c) = &r.match_category {
        v.text("match_category", c, MAX_NAME);
    }
    let match_channel = r.match_channel.as_deref().and_then(|c| v.known("match_channel", c, MUST_BE_KNOWN));
    v.into_result()?;
    Ok(RuleFields {
        name: r.name.trim().to_string(),
        priority: r.priority,
        match_type,
        match_category: r.match_category,
        match_channel,
        match_priority,
        team: r.team.trim().to_string(),
        active: r.active,
    })
}

/// Create a routing rule: tickets whose type, category, channel and priority equal the rule's
/// (absent = any) go to its team. Rules are tried by priority, then id; the first match wins.
#[utoipa::path(
    tag = "tickets", operation_id = "create_ticket_routing_rule", request_body = RuleCreate,
    security(("bearer" = ["tickets:write"])),
    responses((status = 201, description = "Created", body = RuleView), TicketConfigIsTheChains, ValidationFailed)
)]
#[post("/v1/ticket-routing-rules")]
pub(super) async fn create_rule(
    auth: Auth<ChainWide<TicketsWrite>>, state: web::Data<AppState>, body: crate::http::Json<RuleCreate>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let mut v = Violations::new();
    v.check(b.name.is_some(), "name", "is required");
    v.check(b.priority.is_some(), "priority", "is required");
    v.check(b.team.is_some(), "team", "is required");
    v.into_result()?;
    let fields = check_rule(RuleInput {
        name: b.name.unwrap_or_default(),
        priority: b.priority.unwrap_or_default(),
        match_type: b.match_type,
        match_category: b.match_category.map(|c| c.trim().to_string()),
        match_channel: b.match_channel,
        match_priority: b.match_priority,
        team: b.team.unwrap_or_default(),
        active: b.active.unwrap_or(true),
    })?;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let r = crate::db::transaction(&state.pool, move |conn| {
        let r = store::insert_rule(conn, &fields, now)?;
        let detail = json!({"name": r.fields.name, "team": r.fields.team, "priority": r.fields.priority});
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::TicketRoutingRuleCreate,
            Some(r.id.to_string()),
            detail,
        )?;
        Ok(r)
    })
    .await?;
    Ok(rule_response(StatusCode::CREATED, r))
}

/// Routing rules in evaluation order (priority, then id).
#[utoipa::path(
    tag = "tickets", operation_id = "list_ticket_routing_rules", params(PageParams),
    security(("bearer" = ["tickets:read"])),
    responses(
        (status = 200, description = "Rules by priority, then id", body = Page<RuleView>),
        crate::tickets::api::TicketConfigIsTheChains,
    )
)]
#[get("/v1/ticket-routing-rules")]
pub(super) async fn list_rules(
    _auth: Auth<ChainWide<TicketsRead>>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let fetch =
        move |conn: &mut PgConnection, after: Option<RankKey>, n| store::list_rules(conn, after.map(RankKey::pair), n);
    let page = page.load(&state.pool, fetch, |r: &RuleView| RankKey::of(r.priority, r.id));
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a routing rule.
#[utoipa::path(
    tag = "tickets", operation_id = "get_ticket_routing_rule",
    params(("id" = Uuid, Path, description = "Rule id")), security(("bearer" = ["tickets:read"])),
    responses(
        (status = 200, description = "The rule", body = RuleView),
        crate::tickets::api::TicketConfigIsTheChains,
        crate::tickets::api::TicketRoutingRuleNotFound,
    )
)]
#[get("/v1/ticket-routing-rules/{id}")]
pub(super) async fn get_rule(
    _auth: Auth<ChainWide<TicketsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let r = crate::db::run(&state.pool, move |conn| store::get_rule(conn, id)).await?;
    Ok(rule_response(StatusCode::OK, r))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": 5, "match_category": null}))]
pub struct RulePatch {
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>)]
    priority: Option<i32>,
    /// `null` = any.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<TicketType>)]
    match_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, format = "non-blank")]
    match_category: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = "channel")]
    match_channel: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<TicketPriority>)]
    match_priority: Option<Option<String>>,
    #[schema(min_length = 1, max_length = 64, format = "non-blank")]
    team: Option<String>,
    active: Option<bool>,
}

/// Change a routing rule; send `If-Match`. Applies to tickets created from now on.
#[utoipa::path(
    tag = "tickets", operation_id = "update_ticket_routing_rule", request_body = RulePatch,
    params(("id" = Uuid, Path, description = "Rule id"), IfMatch), security(("bearer" = ["tickets:write"])),
    responses(
        (status = 200, description = "Updated", body = RuleView),
        crate::tickets::api::TicketConfigIsTheChains,
        crate::tickets::api::TicketRoutingRuleNotFound,
        crate::error::PreconditionFailed,
        crate::error::ValidationFailed,
    )
)]
#[patch("/v1/ticket-routing-rules/{id}")]
pub(super) async fn update_rule(
    auth: Auth<ChainWide<TicketsWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<RulePatch>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let p = body.into_inner();
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let r = crate::db::transaction(&state.pool, move |conn| {
        let r = store::update_rule(
            conn,
            id,
            expected,
            |RoutingRule { fields: cur, .. }| {
                check_rule(RuleInput {
                    name: p.name.unwrap_or_else(|| cur.name.clone()),
                    priority: p.priority.unwrap_or(cur.priority),
                    match_type: p.match_type.unwrap_or_else(|| cur.match_type.map(|t| t.to_string())),
                    match_category: p
                        .match_category
                        .map(|c| c.map(|c| c.trim().to_string()))
                        .unwrap_or_else(|| cur.match_category.clone()),
                    match_channel: p.match_channel.unwrap_or_else(|| cur.match_channel.map(|c| c.to_string())),
                    match_priority: p.match_priority.unwrap_or_else(|| cur.match_priority.map(|t| t.to_string())),
                    team: p.team.unwrap_or_else(|| cur.team.clone()),
                    active: p.active.unwrap_or(cur.active),
                })
            },
            now,
        )?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::TicketRoutingRuleUpdate,
            Some(id.to_string()),
            json!({"version": r.version}),
        )?;
        Ok(r)
    })
    .await?;
    Ok(rule_response(StatusCode::OK, r))
}

/// Delete a routing rule (`If-Match` honoured). Tickets it routed keep their team.
#[utoipa::path(
    tag = "tickets", operation_id = "delete_ticket_routing_rule",
    params(("id" = Uuid, Path, description = "Rule id"), IfMatch), security(("bearer" = ["tickets:write"])),
    responses(
        (status = 204, description = "Deleted"),
        crate::tickets::api::TicketConfigIsTheChains,
        crate::tickets::api::TicketRoutingRuleNotFound,
        crate::error::PreconditionFailed,
    )
)]
#[delete("/v1/ticket-routing-rules/{id}")]
pub(super) async fn delete_rule(
    auth: Auth<ChainWide<TicketsWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let expected = expected_version.0;
    let who = auth.principal.clone();
    crate::db::transaction(&state.pool, move |conn| {
        store::delete_rule(conn, id, expected)?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::TicketRoutingRuleDelete,
            Some(id.to_string()),
            json!({}),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
