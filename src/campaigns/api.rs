//! `/v1/campaigns`: create, change, move through their statuses, dry-run (SPEC §9). The chain's
//! marketing: chain-wide principals only.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{self, CampaignKind};
use super::rules::{self, CampaignStatus, Move};
use super::store::{self, Campaign, CampaignFields};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, CampaignsRead, CampaignsWrite, Principal};
use crate::http::pagination::{Page, PageParams};
use crate::http::{versioned, IfMatch};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_campaign)
        .service(list_campaigns)
        .service(get_campaign)
        .service(update_campaign)
        .service(activate_campaign)
        .service(pause_campaign)
        .service(complete_campaign)
        .service(dry_run_campaign);
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"segment_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"}))]
pub struct Audience {
    /// A saved segment; for a triggered campaign it narrows who the trigger may reach.
    segment_id: Option<Uuid>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"starts_at": "2026-06-18T01:00:00Z", "ends_at": "2026-06-20T16:00:00Z"}))]
pub struct Schedule {
    /// A scheduled campaign runs once, here; a triggered one is active from here.
    starts_at: Option<DateTime<Utc>>,
    /// After this the campaign completes.
    ends_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "name": "生日关怀", "kind": "triggered", "status": "active",
    "audience": null, "trigger": {"type": "birthday", "offset_days": -3},
    "actions": [{"type": "issue_coupon", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"},
                {"type": "send_message", "channel": "sms", "template": "{{name}}，生日快乐！送您满300减50券：{{coupon_code}}"}],
    "schedule": null, "budget": "50000.00", "cost_per_message": "0.05", "holdout_percent": 10, "attribution_days": 14,
    "activated_at": "2026-06-01T02:00:00Z", "completed_at": null, "version": 2,
    "created_at": "2026-06-01T01:00:00Z", "updated_at": "2026-06-01T02:00:00Z"}))]
pub struct CampaignView {
    id: Uuid,
    name: String,
    kind: CampaignKind,
    status: CampaignStatus,
    audience: Option<Audience>,
    #[schema(value_type = Option<Object>)]
    trigger: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    actions: Value,
    schedule: Option<Schedule>,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "50000.00")]
    budget: Option<Decimal>,
    #[schema(value_type = String, example = "0.05")]
    cost_per_message: String,
    holdout_percent: i32,
    attribution_days: i32,
    activated_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Campaign> for CampaignView {
    fn from(c: Campaign) -> Self {
        let schedule = (c.starts_at.is_some() || c.ends_at.is_some())
            .then_some(Schedule { starts_at: c.starts_at, ends_at: c.ends_at });
        CampaignView {
            id: c.id,
            name: c.name,
            kind: c.kind,
            status: c.status,
            audience: c.segment_id.map(|s| Audience { segment_id: Some(s) }),
            trigger: c.trigger,
            actions: c.actions,
            schedule,
            budget: c.budget,
            cost_per_message: c.cost_per_message.normalize().to_string(),
            holdout_percent: c.holdout_percent,
            attribution_days: c.attribution_days,
            activated_at: c.activated_at,
            completed_at: c.completed_at,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn campaign_response(status: StatusCode, c: Campaign) -> HttpResponse {
    let (version, location) = (c.version, format!("/v1/campaigns/{}", c.id));
    versioned(status, version, location, &CampaignView::from(c))
}

pub const DEFAULT_ATTRIBUTION_DAYS: i32 = 14;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "生日关怀", "kind": "triggered", "trigger": {"type": "birthday", "offset_days": -3},
    "actions": [{"type": "issue_coupon", "template_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f"},
                {"type": "send_message", "channel": "sms", "template": "{{name}}，生日快乐！送您满300减50券：{{coupon_code}}"}],
    "budget": "50000.00", "holdout_percent": 10}))]
pub struct CampaignInput {
    /// Not blank (required on create).
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    /// Required on create; fixed after.
    #[schema(value_type = Option<CampaignKind>)]
    kind: Option<String>,
    /// Whom it reaches: required for one-off and scheduled campaigns.
    #[serde(default, deserialize_with = "crate::http::object_only")]
    audience: Option<Audience>,
    /// Required for a triggered campaign, and only for one.
    #[schema(value_type = Option<Object>)]
    trigger: Option<Value>,
    /// 1-10 actions: at most one message and one coupon (required on create).
    #[schema(value_type = Option<Vec<Object>>)]
    actions: Option<Value>,
    /// `starts_at` is required for a scheduled campaign; `ends_at` after it.
    #[serde(default, deserialize_with = "crate::http::object_only")]
    schedule: Option<Schedule>,
    /// Money: the most the campaign may cost; past it customers are suppressed (`budget_exhausted`).
    #[serde(default, deserialize_with = "money_patch")]
    #[schema(value_type = Option<String>, format = "money", example = "50000.00")]
    budget: Option<Option<Decimal>>,
    /// What one message costs (up to 4 decimals), for the budget and the ROI. Default 0.
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,10}(\.[0-9]{1,4})?$", example = "0.05")]
    cost_per_message: Option<String>,
    /// 0-50 (default 0): the share of the audience kept as a control group.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 0, maximum = 50)]
    holdout_percent: Option<i32>,
    /// 1-90 (default 14): days after a message in which an order counts as converted.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(minimum = 1, maximum = 90)]
    attribution_days: Option<i32>,
}

fn money_patch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Decimal>>, D::Error> {
    crate::money::option::deserialize(d).map(Some)
}

impl CampaignInput {
    /// Checks the fields given and, merged with `current` (a change), the whole campaign.
    pub fn fields(self, current: Option<&Campaign>) -> ApiResult<CampaignFields> {
        let mut v = Violations::new();
        let name = self.name.map(|n| n.trim().to_string());
        if let Some(n) = &name {
            v.check(!n.is_empty() && n.chars().count() <= 100, "name", "must be 1-100 characters");
        }
        let kind = match (&self.kind, current) {
            (Some(k), None) => v.word::<CampaignKind>("kind", Some(k)),
            (Some(k), Some(c)) if CampaignKind::parse(k) != Some(c.kind) => {
                v.add("kind", "a campaign's kind is fixed when it is created");
                None
            }
            (_, Some(c)) => Some(c.kind),
            (None, None) => None,
        };
        if current.is_none() {
            if self.kind.is_none() {
                v.add("kind", "is required");
            }
            v.check(name.is_some(), "name", "is required");
            v.check(self.actions.is_some(), "actions", "is required");
        }
        let mistake = |v: &mut Violations, m: model::Mistake| v.add(m.path, m.message);
        if let Some(Err(m)) = self.trigger.as_ref().map(model::parse_trigger) {
            mistake(&mut v, m);
        }
        if let Some(Err(m)) = self.actions.as_ref().map(model::parse_actions) {
            mistake(&mut v, m);
        }
        let cost_per_message = match self.cost_per_message.as_deref() {
            None => None,
            Some(text) => {
                let parsed = text.parse::<Decimal>().ok().filter(|d| *d >= Decimal::ZERO && d.scale() <= 4);
                v.check(parsed.is_some(), "cost_per_message", "must be an amount of 0 or more, up to 4 decimals");
                parsed
            }
        };
        if let Some(Some(b)) = self.budget {
            v.check(b >= Decimal::ZERO, "budget", "must not be negative");
        }
        if let Some(h) = self.holdout_percent {
            v.check((0..=50).contains(&h), "holdout_percent", "must be 0-50");
        }
        if let Some(d) = self.attribution_days {
            v.check((1..=90).contains(&d), "attribution_days", "must be 1-90");
        }
        // The whole campaign, as it would be after this change.
        let segment = match &self.audience {
            Some(a) => a.segment_id,
            None => current.and_then(|c| c.segment_id),
        };
        let trigger_given = self.trigger.is_some() || current.is_some_and(|c| c.trigger.is_some());
        let schedule = self.schedule.clone().unwrap_or_else(|| Schedule {
            starts_at: current.and_then(|c| c.starts_at),
            ends_at: current.and_then(|c| c.ends_at),
        });
        match kind {
            Some(CampaignKind::OneOff | CampaignKind::Scheduled) => {
                v.check(segment.is_some(), "audience.segment_id", "one-off and scheduled campaigns need an audience");
                v.check(!trigger_given, "trigger", "only a triggered campaign has a trigger");
            }
            Some(CampaignKind::Triggered) => v.check(trigger_given, "trigger", "a triggered campaign needs a trigger"),
            None => {}
        }
        if kind == Some(CampaignKind::Scheduled) {
            v.check(schedule.starts_at.is_some(), "schedule.starts_at", "a scheduled campaign needs a start");
        }
        if let (Some(s), Some(e)) = (schedule.starts_at, schedule.ends_at) {
            v.check(s < e, "schedule.ends_at", "must be after starts_at");
        }
        v.into_result()?;
        Ok(CampaignFields {
            name,
            kind: if current.is_none() { kind } else { None },
            segment_id: self.audience.map(|a| a.segment_id),
            trigger: self.trigger.map(Some),
            actions: self.actions,
            starts_at: self.schedule.as_ref().map(|s| s.starts_at),
            ends_at: self.schedule.as_ref().map(|s| s.ends_at),
            budget: self.budget,
            cost_per_message,
            holdout_percent: self.holdout_percent,
            attribution_days: self.attribution_days.or(current.is_none().then_some(DEFAULT_ATTRIBUTION_DAYS)),
        })
    }
}

/// Points a campaign awards are points minted (issue 22): whoever saves or starts such a
/// campaign needs `loyalty:write` as well, and each customer gets at most the program's
/// `max_campaign_award_points` (default `max_adjustment_points`) per occurrence — as a hand
/// adjustment is bounded per call, even for the admin.
pub fn check_award(conn: &mut PgConnection, who: &Principal, actions: &Value) -> ApiResult<()> {
    let points = model::award(&model::parse_actions(actions).unwrap_or_default());
    if points == 0 {
        return Ok(());
    }
    who.require_scope("loyalty:write")?;
    crate::loyalty::program::load(conn)?.check_campaign_award(points)
}

/// References a campaign names must exist: its segment and its coupon template.
pub fn check_references(conn: &mut PgConnection, fields: &CampaignFields) -> ApiResult<()> {
    let mut v = Violations::new();
    if let Some(Some(segment)) = fields.segment_id {
        match crate::segments::store::get(conn, segment) {
            Err(ApiError::NotFound { .. }) => v.add("audience.segment_id", "no segment with this id"),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    if let Some(actions) = &fields.actions {
        let parsed = model::parse_actions(actions).unwrap_or_default();
        for (i, action) in parsed.iter().enumerate() {
            if let model::Action::IssueCoupon { template_id } = action {
                match crate::coupons::store::get_template(conn, *template_id) {
                    Err(ApiError::NotFound { .. }) => {
                        v.add(format!("actions[{i}].template_id"), "no coupon template with this id")
                    }
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
        }
    }
    v.into_result()
}

/// Outcomes a dry-run lists by name; the rest are only counted.
const DRY_RUN_SAMPLE: usize = 50;
const CHAIN_ONLY: &str = "`forbidden` without the scope (a campaign that awards points needs `loyalty:write` too); `store_bound_principal`: campaigns are the chain's";

/// Create a campaign (as a draft).
#[utoipa::path(
    tag = "campaigns", operation_id = "create_campaign", request_body = CampaignInput,
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 201, description = "Created, as a draft", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, naming the field (`actions[0].template` for an unknown variable); `award_over_limit` (with `max_campaign_award_points`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaigns")]
async fn create_campaign(
    auth: Auth<CampaignsWrite>,
    state: web::Data<AppState>,
    body: crate::http::Json<CampaignInput>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let fields = body.into_inner().fields(None)?;
    let who = auth.principal.clone();
    let campaign = crate::db::transaction(&state.pool, move |conn| {
        check_references(conn, &fields)?;
        if let Some(actions) = &fields.actions {
            check_award(conn, &who, actions)?;
        }
        let campaign = store::insert(conn, &fields)?;
        crate::audit::record(conn, &who, "campaign.create", "campaign", Some(campaign.id.to_string()), json!({}))?;
        Ok(campaign)
    })
    .await?;
    Ok(campaign_response(StatusCode::CREATED, campaign))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[param(value_type = Option<CampaignStatus>)]
    status: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// List campaigns.
#[utoipa::path(
    tag = "campaigns", operation_id = "list_campaigns", params(ListParams),
    security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "Campaigns by id", body = Page<CampaignView>),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/campaigns")]
async fn list_campaigns(
    auth: Auth<CampaignsRead>,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let p = params.into_inner();
    let page = PageParams { limit: p.limit, cursor: p.cursor };
    let (limit, after) = (page.limit()?, page.after::<Uuid>()?);
    let mut v = Violations::new();
    let status = v.word::<CampaignStatus>("status", p.status.as_deref());
    v.into_result()?;
    let rows = crate::db::run(&state.pool, move |conn| store::list(conn, status, after, limit + 1)).await?;
    let views: Vec<CampaignView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |c| c.id.to_string())))
}

/// Read a campaign.
#[utoipa::path(
    tag = "campaigns", operation_id = "get_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")),
    security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`campaign_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/campaigns/{id}")]
async fn get_campaign(
    auth: Auth<CampaignsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let campaign = crate::db::run(&state.pool, move |conn| store::get(conn, id)).await?;
    Ok(campaign_response(StatusCode::OK, campaign))
}

/// Change a draft or paused campaign; send `If-Match` with the ETag you read.
#[utoipa::path(
    tag = "campaigns", operation_id = "update_campaign", request_body = CampaignInput,
    params(("id" = Uuid, Path, description = "Campaign id"),
           ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Changed", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`campaign_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`campaign_not_editable`: active or completed (pause it first)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, naming the field; `award_over_limit` (with `max_campaign_award_points`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/campaigns/{id}")]
async fn update_campaign(
    auth: Auth<CampaignsWrite>,
    state: web::Data<AppState>,
    expected_version: IfMatch,
    id: web::Path<Uuid>,
    body: crate::http::Json<CampaignInput>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let input = body.into_inner();
    let expected = expected_version.0;
    let who = auth.principal.clone();
    let campaign = crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock(conn, id)?;
        let fields = input.fields(Some(&current))?;
        crate::http::check_version(expected, current.version)?;
        if !rules::editable(current.status) {
            return Err(ApiError::conflict("campaign_not_editable", "only a draft or paused campaign can be changed"));
        }
        check_references(conn, &fields)?;
        check_award(conn, &who, fields.actions.as_ref().unwrap_or(&current.actions))?;
        let campaign = store::update(conn, &current, &fields)?;
        crate::audit::record(conn, &who, "campaign.update", "campaign", Some(id.to_string()), json!({}))?;
        Ok(campaign)
    })
    .await?;
    Ok(campaign_response(StatusCode::OK, campaign))
}

async fn change_status(auth: &Auth<CampaignsWrite>, state: &AppState, id: Uuid, by: Move) -> ApiResult<Campaign> {
    auth.require_chain_wide()?;
    let (who, now) = (auth.principal.clone(), state.clock.now());
    crate::db::transaction(&state.pool, move |conn| {
        let current = store::lock(conn, id)?;
        if by == Move::Activate {
            check_award(conn, &who, &current.actions)?;
        }
        let Some(to) = rules::transition(current.status, by) else {
            let detail = format!("a {} campaign cannot be moved so", current.status);
            return Err(
                ApiError::conflict("invalid_transition", detail).with("campaign_status", current.status.as_str())
            );
        };
        let campaign = store::set_status(conn, &current, to, now)?;
        let detail = json!({"from": current.status, "to": to});
        crate::audit::record(conn, &who, "campaign.status", "campaign", Some(id.to_string()), detail)?;
        Ok(campaign)
    })
    .await
}

/// Start a draft campaign or resume a paused one. A one-off campaign runs at once.
#[utoipa::path(
    tag = "campaigns", operation_id = "activate_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")),
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Active", body = CampaignView),
        (status = 403, description = "`forbidden` without the scope, or without `loyalty:write` for a campaign that awards points; `store_bound_principal`: campaigns are the chain's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`campaign_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (with `campaign_status`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`award_over_limit` (with `max_campaign_award_points`): the points it awards each customer are over the program's bound", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaigns/{id}/activate")]
async fn activate_campaign(
    auth: Auth<CampaignsWrite>,
    state: web::Data<AppState>,
    wake: web::Data<super::Wake>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let campaign = change_status(&auth, &state, id.into_inner(), Move::Activate).await?;
    // A one-off campaign runs now, not at the scheduler's next minute — once the runner can see
    // it active (with an Idempotency-Key the activation commits with its answer, later).
    if campaign.kind == CampaignKind::OneOff {
        let wake = wake.clone();
        crate::db::after_commit(move || wake.notify_one());
    }
    Ok(campaign_response(StatusCode::OK, campaign))
}

/// Pause an active campaign: nothing more goes out until it is activated again.
#[utoipa::path(
    tag = "campaigns", operation_id = "pause_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")),
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Paused", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`campaign_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (with `campaign_status`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaigns/{id}/pause")]
async fn pause_campaign(
    auth: Auth<CampaignsWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let campaign = change_status(&auth, &state, id.into_inner(), Move::Pause).await?;
    Ok(campaign_response(StatusCode::OK, campaign))
}

/// End an active or paused campaign for good.
#[utoipa::path(
    tag = "campaigns", operation_id = "complete_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")),
    security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Completed", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`campaign_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition` (with `campaign_status`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaigns/{id}/complete")]
async fn complete_campaign(
    auth: Auth<CampaignsWrite>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let campaign = change_status(&auth, &state, id.into_inner(), Move::Complete).await?;
    Ok(campaign_response(StatusCode::OK, campaign))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "occurrence": "2026", "outcome": "suppressed", "reason": "no_consent"}))]
pub struct DryRunCustomer {
    customer_id: Uuid,
    /// What the customer is due for: `once`, a year, a last order's day, an event's id.
    occurrence: String,
    outcome: rules::RecipientOutcome,
    reason: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"candidates": 1200, "reached": 1000, "holdout": 110, "suppressed": {"no_consent": 60, "frequency_cap": 30},
    "points": 100000, "cost": "1050.00",
    "sample": [{"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "occurrence": "2026", "outcome": "suppressed", "reason": "no_consent"}]}))]
pub struct DryRun {
    /// Customers the campaign is due for now (not yet decided).
    candidates: i64,
    /// Would be reached (the coupon's own limits are checked when it is issued).
    reached: i64,
    /// In the control group: nothing is sent to them.
    holdout: i64,
    /// Would be suppressed, by reason.
    suppressed: std::collections::BTreeMap<&'static str, i64>,
    /// Points the reached would be awarded (`award_points` × reached).
    points: i64,
    /// What reaching them would cost and be charged to the budget: messages, the coupons' unit
    /// cost and the awarded points at their redemption value.
    #[serde(with = "crate::money::required")]
    #[schema(value_type = String, example = "1050.00")]
    cost: Decimal,
    /// The first 50 by customer id, each with its outcome.
    sample: Vec<DryRunCustomer>,
}

/// Who would be reached now and who would be suppressed, and why — nothing is written or sent.
#[utoipa::path(
    tag = "campaigns", operation_id = "dry_run_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")),
    security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "What a run now would do", body = DryRun),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`campaign_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaigns/{id}/dry-run")]
async fn dry_run_campaign(
    auth: Auth<CampaignsRead>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    auth.require_chain_wide()?;
    let id = id.into_inner();
    let (now, zone) = (state.clock.now(), state.config.timezone);
    let result = crate::db::run(&state.pool, move |conn| {
        crate::customers::activity::follow(conn, zone)?;
        let ctx = super::schedule::context(conn, now, zone)?;
        let campaign = store::get(conn, id)?;
        let plan = super::run::plan(conn, campaign)?;
        let forecast = super::run::dry_run(conn, &plan, ctx, DRY_RUN_SAMPLE)?;
        let sample = forecast
            .sample
            .into_iter()
            .map(|o| {
                let (outcome, reason) = o.decision.outcome();
                DryRunCustomer { customer_id: o.customer_id, occurrence: o.occurrence, outcome, reason }
            })
            .collect();
        let result = DryRun {
            candidates: forecast.candidates,
            reached: forecast.reached,
            holdout: forecast.holdout,
            suppressed: forecast.suppressed,
            points: forecast.points,
            cost: crate::money::round(forecast.cost),
            sample,
        };
        Ok(result)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
