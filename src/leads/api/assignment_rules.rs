//! Lead assignment rules (SPEC §11): `/v1/lead-assignment-rules`, ordered by priority. They route
//! every store's leads, so every verb, reads included, is for chain-wide principals only (SPEC §3.1).

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{required_text, text};
use crate::error::{ApiResult, Problem, Violations};
use crate::http::auth::{Auth, ChainWide, LeadsRead, LeadsWrite};
use crate::http::pagination::{Listing, Page, PageParams, RankKey};
use crate::http::{check_version, IfMatch};
use crate::leads::model::{LeadAssignmentStrategy, LeadKind, Rule, RuleChanges};
use crate::leads::store;
use crate::state::AppState;
use crate::stores::SalesChannel;

#[derive(Deserialize, Serialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"city": "北京", "district": "朝阳区", "category": "女装", "source": null, "kind": null}))]
pub struct LeadRuleMatch {
    /// Absent or null: any.
    #[schema(max_length = 100)]
    city: Option<String>,
    #[schema(max_length = 100)]
    district: Option<String>,
    #[schema(max_length = 100)]
    category: Option<String>,
    /// A channel.
    #[schema(format = "channel")]
    source: Option<String>,
    #[schema(value_type = Option<LeadKind>)]
    kind: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "skill": "女装"}))]
pub struct LeadRuleTarget {
    /// Listed staff (1-100). Give this, or `store_id` (with an optional `skill`), not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    staff_ids: Option<Vec<Uuid>>,
    /// The staff of this store whose skills include `skill` (or, without `skill`, the lead's category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    store_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64, format = "non-blank")]
    skill: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "北京朝阳 女装", "priority": 10,
    "match": {"city": "北京", "district": "朝阳区", "category": "女装"},
    "target": {"store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "skill": "女装"},
    "strategy": "round_robin", "reassign_on_breach": true, "active": true}))]
pub struct LeadRuleCreate {
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    /// Lowest first (default 100); ties by id.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000)]
    priority: Option<i32>,
    /// Absent: matches every lead.
    #[serde(rename = "match")]
    matcher: Option<LeadRuleMatch>,
    #[schema(required = true, nullable = false)]
    target: Option<LeadRuleTarget>,
    /// Default `round_robin`.
    #[schema(value_type = Option<LeadAssignmentStrategy>)]
    strategy: Option<String>,
    /// On a missed response SLA, hand the lead to the next free person under this rule (default false).
    reassign_on_breach: Option<bool>,
    /// Default true.
    active: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"priority": 5, "active": false}))]
pub struct LeadRulePatch {
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000)]
    priority: Option<i32>,
    /// Replaces the whole match.
    #[serde(rename = "match")]
    matcher: Option<LeadRuleMatch>,
    /// Replaces the whole target.
    target: Option<LeadRuleTarget>,
    #[schema(value_type = Option<LeadAssignmentStrategy>)]
    strategy: Option<String>,
    reassign_on_breach: Option<bool>,
    active: Option<bool>,
}

fn validate_match(v: &mut Violations, m: LeadRuleMatch, c: &mut RuleChanges) {
    c.match_city = Some(text(v, "match.city", m.city, 100));
    c.match_district = Some(text(v, "match.district", m.district, 100));
    c.match_category = Some(text(v, "match.category", m.category, 100));
    let source = text(v, "match.source", m.source, 64);
    c.match_source = Some(v.word::<SalesChannel>("match.source", source.as_deref()));
    let kind = text(v, "match.kind", m.kind, 32);
    c.match_kind = Some(v.word::<LeadKind>("match.kind", kind.as_deref()));
}

fn validate_target(v: &mut Violations, t: LeadRuleTarget, c: &mut RuleChanges) {
    let skill = text(v, "target.skill", t.skill, 64);
    match (t.staff_ids, t.store_id) {
        (Some(ids), None) => {
            let mut ids = ids;
            ids.sort();
            ids.dedup();
            v.check((1..=100).contains(&ids.len()), "target.staff_ids", "must list 1-100 staff");
            v.check(skill.is_none(), "target.skill", "only with target.store_id");
            c.target_staff_ids = Some(ids);
            c.target_store_id = Some(None);
            c.target_skill = Some(None);
        }
        (None, Some(store)) => {
            c.target_staff_ids = Some(vec![]);
            c.target_store_id = Some(Some(store));
            c.target_skill = Some(skill);
        }
        _ => v.add("target", "give staff_ids, or store_id (with an optional skill), not both"),
    }
}

fn validate_common(v: &mut Violations, priority: Option<i32>, strategy: Option<String>, c: &mut RuleChanges) {
    if let Some(p) = priority {
        v.check((0..=1_000_000).contains(&p), "priority", "must be 0-1000000");
    }
    c.priority = priority;
    c.strategy = v.word::<LeadAssignmentStrategy>("strategy", strategy.as_deref());
}

impl LeadRuleCreate {
    fn validate(self) -> ApiResult<RuleChanges> {
        let mut v = Violations::new();
        let mut c = RuleChanges { name: required_text(&mut v, "name", self.name, 100), ..Default::default() };
        validate_common(&mut v, self.priority, self.strategy, &mut c);
        validate_match(&mut v, self.matcher.unwrap_or_default(), &mut c);
        match self.target {
            Some(t) => validate_target(&mut v, t, &mut c),
            None => v.add("target", "is required"),
        }
        c.reassign_on_breach = self.reassign_on_breach;
        c.active = self.active;
        v.into_result()?;
        Ok(c)
    }
}

impl LeadRulePatch {
    fn validate(self) -> ApiResult<RuleChanges> {
        let mut v = Violations::new();
        let mut c = RuleChanges::default();
        if let Some(name) = self.name {
            c.name = required_text(&mut v, "name", Some(name), 100);
        }
        validate_common(&mut v, self.priority, self.strategy, &mut c);
        if let Some(m) = self.matcher {
            validate_match(&mut v, m, &mut c);
        }
        if let Some(t) = self.target {
            validate_target(&mut v, t, &mut c);
        }
        c.reassign_on_breach = self.reassign_on_breach;
        c.active = self.active;
        v.into_result()?;
        Ok(c)
    }
}

/// The staff and store a rule names must exist.
fn check_targets(conn: &mut PgConnection, c: &RuleChanges) -> ApiResult<()> {
    let mut v = Violations::new();
    if let Some(ids) = &c.target_staff_ids {
        for (i, id) in ids.iter().enumerate() {
            if crate::staff::store::get(conn, *id).is_err() {
                v.add(format!("target.staff_ids[{i}]"), "no staff member with this id");
            }
        }
    }
    if let Some(Some(store)) = c.target_store_id {
        if crate::stores::store::get(conn, store).is_err() {
            v.add("target.store_id", "no store with this id");
        }
    }
    v.into_result()
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d62", "name": "北京朝阳 女装", "priority": 10,
    "match": {"city": "北京", "district": "朝阳区", "category": "女装", "source": null, "kind": null},
    "target": {"store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d61", "skill": "女装"},
    "strategy": "round_robin", "reassign_on_breach": true, "active": true,
    "last_staff_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60", "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct LeadRuleView {
    id: Uuid,
    name: String,
    /// Lowest first; ties by id.
    priority: i32,
    #[serde(rename = "match")]
    matcher: LeadRuleMatch,
    target: LeadRuleTarget,
    strategy: LeadAssignmentStrategy,
    reassign_on_breach: bool,
    active: bool,
    /// The round-robin position: who got the last lead under this rule.
    last_staff_id: Option<Uuid>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Rule> for LeadRuleView {
    fn from(r: Rule) -> Self {
        let target = if r.target_staff_ids.is_empty() {
            LeadRuleTarget { staff_ids: None, store_id: r.target_store_id, skill: r.target_skill }
        } else {
            LeadRuleTarget { staff_ids: Some(r.target_staff_ids), store_id: None, skill: None }
        };
        LeadRuleView {
            id: r.id,
            name: r.name,
            priority: r.priority,
            matcher: LeadRuleMatch {
                city: r.match_city,
                district: r.match_district,
                category: r.match_category,
                source: r.match_source.map(|c| c.to_string()),
                kind: r.match_kind.map(|k| k.to_string()),
            },
            target,
            strategy: r.strategy,
            reassign_on_breach: r.reassign_on_breach,
            active: r.active,
            last_staff_id: r.last_staff_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn rule_response(status: StatusCode, r: Rule) -> HttpResponse {
    crate::http::versioned(status, r.version, format!("/v1/lead-assignment-rules/{}", r.id), &LeadRuleView::from(r))
}

/// Create an assignment rule. Rules run in order of `priority` (then id); the first whose match
/// fields all equal the lead's, and under which someone is free, assigns it.
#[utoipa::path(
    tag = "leads", operation_id = "create_lead_assignment_rule", request_body = LeadRuleCreate,
    security(("bearer" = ["leads:write"])),
    responses(
        (status = 201, description = "Created", body = LeadRuleView),
        crate::leads::api::AssignmentRulesAreTheChains,
        (status = 422, description = "`validation_failed`: every bad field, including staff or a store that do not exist", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/lead-assignment-rules")]
pub(super) async fn create_rule(
    auth: Auth<ChainWide<LeadsWrite>>, state: web::Data<AppState>, body: crate::http::Json<LeadRuleCreate>,
) -> ApiResult<HttpResponse> {
    let changes = body.into_inner().validate()?;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let rule = crate::db::transaction(&state.pool, move |conn| {
        check_targets(conn, &changes)?;
        let rule = store::insert_rule(conn, &changes, now)?;
        let detail = json!({"name": rule.name, "priority": rule.priority});
        crate::audit::record(conn, &who, crate::audit::AuditAction::LeadRuleCreate, Some(rule.id.to_string()), detail)?;
        Ok(rule)
    })
    .await?;
    Ok(rule_response(StatusCode::CREATED, rule))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LeadRuleListParams {
    /// Only active (or inactive) rules.
    active: Option<bool>,
}

/// Assignment rules in evaluation order (priority, then id).
#[utoipa::path(
    tag = "leads", operation_id = "list_lead_assignment_rules", params(PageParams, LeadRuleListParams),
    security(("bearer" = ["leads:read"])),
    responses(
        (status = 200, description = "Rules by priority, then id", body = Page<LeadRuleView>),
        crate::leads::api::AssignmentRulesAreTheChains,
    )
)]
#[get("/v1/lead-assignment-rules")]
pub(super) async fn list_rules(
    _auth: Auth<ChainWide<LeadsRead>>, state: web::Data<AppState>, query: Listing<LeadRuleListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let active = p.active;
    let fetch = move |conn: &mut PgConnection, after: Option<RankKey>, n| {
        store::list_rules(conn, active, after.map(RankKey::pair), n)
    };
    let page = page.load(&state.pool, fetch, |r: &LeadRuleView| RankKey::of(r.priority, r.id));
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read an assignment rule.
#[utoipa::path(
    tag = "leads", operation_id = "get_lead_assignment_rule",
    params(("id" = Uuid, Path, description = "Rule id")), security(("bearer" = ["leads:read"])),
    responses(
        (status = 200, description = "The rule", body = LeadRuleView),
        crate::leads::api::AssignmentRulesAreTheChains,
        crate::leads::api::LeadAssignmentRuleNotFound,
    )
)]
#[get("/v1/lead-assignment-rules/{id}")]
pub(super) async fn get_rule(
    _auth: Auth<ChainWide<LeadsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let rule = crate::db::run(&state.pool, move |conn| store::get_rule(conn, id)).await?;
    Ok(rule_response(StatusCode::OK, rule))
}

/// Change an assignment rule; send `If-Match`. `match` and `target` are replaced whole.
#[utoipa::path(
    tag = "leads", operation_id = "update_lead_assignment_rule", request_body = LeadRulePatch,
    params(("id" = Uuid, Path, description = "Rule id"), IfMatch), security(("bearer" = ["leads:write"])),
    responses(
        (status = 200, description = "Updated", body = LeadRuleView),
        crate::leads::api::AssignmentRulesAreTheChains,
        crate::leads::api::LeadAssignmentRuleNotFound,
        crate::error::PreconditionFailed,
        crate::error::ValidationFailed,
    )
)]
#[patch("/v1/lead-assignment-rules/{id}")]
pub(super) async fn update_rule(
    auth: Auth<ChainWide<LeadsWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<LeadRulePatch>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let changes = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let rule = crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock_rule(conn, id)?;
        check_version(expected, current.version)?;
        check_targets(conn, &changes)?;
        let rule = store::update_rule(conn, id, &changes, now)?;
        let detail = json!({"version": rule.version, "active": rule.active, "priority": rule.priority});
        crate::audit::record(conn, &who, crate::audit::AuditAction::LeadRuleUpdate, Some(id.to_string()), detail)?;
        Ok(rule)
    })
    .await?;
    Ok(rule_response(StatusCode::OK, rule))
}
