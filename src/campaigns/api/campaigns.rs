//! A campaign: create, list, read, change, and its status moves.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{check_award, check_references, Audience, CampaignInput, Schedule};
use super::CHAIN_ONLY;
use crate::campaigns::model::CampaignKind;
use crate::campaigns::rules::{self, CampaignStatus, Move};
use crate::campaigns::store::{self, Campaign};
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, CampaignsRead, CampaignsWrite, ChainWide};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::{versioned, IfMatch};
use crate::state::AppState;

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
pub(super) async fn create_campaign(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, body: crate::http::Json<CampaignInput>,
) -> ApiResult<HttpResponse> {
    let fields = body.into_inner().fields(None)?;
    let who = auth.principal.clone();
    let campaign = crate::db::transaction(&state.pool, move |conn| {
        check_references(conn, &fields)?;
        if let Some(actions) = &fields.actions {
            check_award(conn, &who, actions)?;
        }
        let campaign = store::insert(conn, &fields)?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::CampaignCreate,
            Some(campaign.id.to_string()),
            json!({}),
        )?;
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
}

/// List campaigns.
#[utoipa::path(
    tag = "campaigns", operation_id = "list_campaigns", params(PageParams, ListParams),
    security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "Campaigns by id", body = Page<CampaignView>),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/campaigns")]
pub(super) async fn list_campaigns(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, query: Listing<ListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let mut v = Violations::new();
    let status = v.word::<CampaignStatus>("status", p.status.as_deref());
    v.into_result()?;
    let fetch = move |conn: &mut PgConnection, after, n| store::list(conn, status, after, n);
    let page = page.load(&state.pool, fetch, |c: &CampaignView| c.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a campaign.
#[utoipa::path(
    tag = "campaigns", operation_id = "get_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")), security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        crate::campaigns::api::CampaignNotFound,
    )
)]
#[get("/v1/campaigns/{id}")]
pub(super) async fn get_campaign(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let campaign = crate::db::run(&state.pool, move |conn| store::get(conn, id)).await?;
    Ok(campaign_response(StatusCode::OK, campaign))
}

/// Change a draft or paused campaign; send `If-Match` with the ETag you read.
#[utoipa::path(
    tag = "campaigns", operation_id = "update_campaign", request_body = CampaignInput,
    params(("id" = Uuid, Path, description = "Campaign id"), IfMatch), security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Changed", body = CampaignView),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        crate::campaigns::api::CampaignNotFound,
        (status = 409, description = "`campaign_not_editable`: active or completed (pause it first)", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
        (status = 422, description = "`validation_failed`, naming the field; `award_over_limit` (with `max_campaign_award_points`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/v1/campaigns/{id}")]
pub(super) async fn update_campaign(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<CampaignInput>,
) -> ApiResult<HttpResponse> {
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
        crate::audit::record(conn, &who, crate::audit::AuditAction::CampaignUpdate, Some(id.to_string()), json!({}))?;
        Ok(campaign)
    })
    .await?;
    Ok(campaign_response(StatusCode::OK, campaign))
}

async fn change_status(
    auth: &Auth<ChainWide<CampaignsWrite>>, state: &AppState, id: Uuid, by: Move,
) -> ApiResult<Campaign> {
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
        crate::audit::record(conn, &who, crate::audit::AuditAction::CampaignStatus, Some(id.to_string()), detail)?;
        Ok(campaign)
    })
    .await
}

/// Start a draft campaign or resume a paused one. A one-off campaign runs at once.
#[utoipa::path(
    tag = "campaigns", operation_id = "activate_campaign",
    params(("id" = Uuid, Path, description = "Campaign id")), security(("bearer" = ["campaigns:write"])),
    responses(
        (status = 200, description = "Active", body = CampaignView),
        (status = 403, description = "`forbidden` without the scope, or without `loyalty:write` for a campaign that awards points; `store_bound_principal`: campaigns are the chain's", body = Problem, content_type = "application/problem+json"),
        crate::campaigns::api::CampaignNotFound,
        crate::campaigns::api::CampaignInvalidTransition,
        (status = 422, description = "`award_over_limit` (with `max_campaign_award_points`): the points it awards each customer are over the program's bound", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/campaigns/{id}/activate")]
pub(super) async fn activate_campaign(
    auth: Auth<ChainWide<CampaignsWrite>>, state: web::Data<AppState>, wake: web::Data<crate::campaigns::Wake>,
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

/// An endpoint that moves a campaign's status and answers with the campaign: pause and complete
/// differ only in their move and their words (activate also wakes the runner).
macro_rules! status_move {
    ($(#[$doc:meta])* $handler:ident, $operation:tt, $path:tt, $by:expr, $done:tt) => {
        $(#[$doc])*
        #[utoipa::path(
            tag = "campaigns", operation_id = $operation,
            params(("id" = Uuid, Path, description = "Campaign id")),
            security(("bearer" = ["campaigns:write"])),
            responses(
                (status = 200, description = $done, body = CampaignView),
                (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
                crate::campaigns::api::CampaignNotFound,
                crate::campaigns::api::CampaignInvalidTransition,
            )
        )]
        #[post($path)]
        pub(super) async fn $handler(
            auth: Auth<ChainWide<CampaignsWrite>>,
            state: web::Data<AppState>,
            id: web::Path<Uuid>,
        ) -> ApiResult<HttpResponse> {
            let campaign = change_status(&auth, &state, id.into_inner(), $by).await?;
            Ok(campaign_response(StatusCode::OK, campaign))
        }
    };
}

status_move!(
    /// Pause an active campaign: nothing more goes out until it is activated again.
    pause_campaign, "pause_campaign", "/v1/campaigns/{id}/pause", Move::Pause, "Paused"
);

status_move!(
    /// End an active or paused campaign for good.
    complete_campaign, "complete_campaign", "/v1/campaigns/{id}/complete", Move::Complete, "Completed"
);
