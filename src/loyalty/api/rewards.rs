//! The rewards catalogue.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{whole_i64, MAX_POINTS_COST, MAX_STOCK};
use crate::audit::{audited, AuditAction};
use crate::error::ValidationFailed;
use crate::error::{ApiResult, Violations};
use crate::http::auth::{Auth, ChainWide, LoyaltyRead, LoyaltyWrite};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::patch::double_option;
use crate::http::IfMatch;
use crate::loyalty::api::LoyaltyWriteChainWideOnly;
use crate::loyalty::rewards::{self, NewReward, Reward, RewardChanges};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_reward).service(list_rewards).service(get_reward).service(update_reward);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "name": "小熊电炖锅", "description": "0.8L 小家电",
    "points_cost": 2000, "stock": 50, "active": true, "version": 1,
    "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct RewardView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub points_cost: i64,
    pub stock: i32,
    /// Only active rewards can be redeemed.
    pub active: bool,
    /// Changes on every edit and every redemption (the stock moves); send it back as `If-Match`.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Reward> for RewardView {
    fn from(r: Reward) -> Self {
        RewardView {
            id: r.id,
            name: r.name,
            description: r.description,
            points_cost: r.points_cost,
            stock: r.stock,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn reward_response(status: StatusCode, reward: Reward) -> HttpResponse {
    crate::http::versioned(status, reward.version, format!("/v1/rewards/{}", reward.id), &RewardView::from(reward))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "小熊电炖锅", "description": "0.8L 小家电", "points_cost": 2000, "stock": 50, "active": true}))]
pub struct RewardCreate {
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 100, format = "non-blank")]
    pub name: Option<String>,
    /// Blank or `null`: none.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "whole_i64")]
    #[schema(value_type = i64, required = true, nullable = false, minimum = 1, maximum = 10000000)]
    pub points_cost: Option<i64>,
    /// Default 0.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000, default = 0)]
    pub stock: Option<i32>,
    /// Default true.
    #[schema(default = true)]
    pub active: Option<bool>,
}

impl RewardCreate {
    fn validate(self) -> ApiResult<NewReward> {
        let mut v = Violations::new();
        match &self.name {
            Some(name) => v.text("name", name, 100),
            None => v.add("name", "is required"),
        }
        if let Some(d) = &self.description {
            v.check(d.chars().count() <= 500, "description", "must be at most 500 characters");
        }
        match self.points_cost {
            Some(c) => v.check((1..=MAX_POINTS_COST).contains(&c), "points_cost", "must be 1-10000000"),
            None => v.add("points_cost", "is required"),
        }
        if let Some(s) = self.stock {
            v.check((0..=MAX_STOCK).contains(&s), "stock", "must be 0-1000000");
        }
        v.into_result()?;
        Ok(NewReward {
            name: crate::http::clean(self.name).unwrap_or_default(),
            description: crate::http::clean(self.description),
            points_cost: self.points_cost.unwrap_or_default(),
            stock: self.stock.unwrap_or(0),
            active: self.active.unwrap_or(true),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stock": 120, "points_cost": 1800}))]
pub struct RewardPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    pub name: Option<String>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "whole_i64")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000000)]
    pub points_cost: Option<i64>,
    /// The new stock level (restocking or correcting a count).
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 1000000)]
    pub stock: Option<i32>,
    pub active: Option<bool>,
}

impl RewardPatch {
    fn validate(self) -> ApiResult<RewardChanges> {
        let mut v = Violations::new();
        if let Some(name) = &self.name {
            v.text("name", name, 100);
        }
        if let Some(Some(d)) = &self.description {
            v.check(d.chars().count() <= 500, "description", "must be at most 500 characters");
        }
        if let Some(c) = self.points_cost {
            v.check((1..=MAX_POINTS_COST).contains(&c), "points_cost", "must be 1-10000000");
        }
        if let Some(s) = self.stock {
            v.check((0..=MAX_STOCK).contains(&s), "stock", "must be 0-1000000");
        }
        v.into_result()?;
        Ok(RewardChanges {
            name: crate::http::clean(self.name),
            description: self.description.map(crate::http::clean),
            points_cost: self.points_cost,
            stock: self.stock,
            active: self.active,
        })
    }
}

/// Add a reward to the catalogue (e.g. a small appliance for 2,000 points). Chain-wide principals only.
#[utoipa::path(
    tag = "loyalty", operation_id = "create_reward", request_body = RewardCreate,
    security(("bearer" = ["loyalty:write"])),
    responses((status = 201, description = "Created", body = RewardView), LoyaltyWriteChainWideOnly, ValidationFailed)
)]
#[post("/v1/rewards")]
async fn create_reward(
    auth: Auth<ChainWide<LoyaltyWrite>>, state: web::Data<AppState>, body: crate::http::Json<RewardCreate>,
) -> ApiResult<HttpResponse> {
    let new = body.into_inner().validate()?;
    let now = state.clock.now();
    let write = move |conn: &mut PgConnection| rewards::insert(conn, &new, now);
    let reward = audited(&state.pool, &auth, AuditAction::RewardCreate, write, |done| done.id).await?;
    Ok(reward_response(StatusCode::CREATED, reward))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RewardListParams {
    /// Only active (`true`) or only inactive (`false`) rewards.
    active: Option<bool>,
}

/// The rewards catalogue, by id.
#[utoipa::path(
    tag = "loyalty", operation_id = "list_rewards", params(PageParams, RewardListParams),
    security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "Rewards by id", body = Page<RewardView>))
)]
#[get("/v1/rewards")]
async fn list_rewards(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, query: Listing<RewardListParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let active = p.active;
    let fetch = move |conn: &mut PgConnection, after, n| rewards::list(conn, active, after, n);
    let page = page.load(&state.pool, fetch, |r: &RewardView| r.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a reward.
#[utoipa::path(
    tag = "loyalty", operation_id = "get_reward",
    params(("id" = Uuid, Path, description = "Reward id")), security(("bearer" = ["loyalty:read"])),
    responses((status = 200, description = "The reward", body = RewardView), crate::loyalty::api::RewardNotFound)
)]
#[get("/v1/rewards/{id}")]
async fn get_reward(
    _auth: Auth<LoyaltyRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let reward = crate::db::run(&state.pool, move |conn| rewards::get(conn, id)).await?;
    Ok(reward_response(StatusCode::OK, reward))
}

/// Change a reward (name, cost, stock, active); absent fields stay. `If-Match` guards against lost
/// updates. Chain-wide principals only.
#[utoipa::path(
    tag = "loyalty", operation_id = "update_reward", request_body = RewardPatch,
    params(("id" = Uuid, Path, description = "Reward id"), IfMatch), security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 200, description = "Updated", body = RewardView),
        crate::loyalty::api::LoyaltyWriteChainWideOnly,
        crate::loyalty::api::RewardNotFound,
        crate::error::PreconditionFailed,
    )
)]
#[patch("/v1/rewards/{id}")]
async fn update_reward(
    auth: Auth<ChainWide<LoyaltyWrite>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<RewardPatch>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let changes = body.into_inner().validate()?;
    let expected = expected_version.0;
    let now = state.clock.now();
    let who = auth.principal.clone();
    let reward = crate::db::transaction(&state.pool, move |conn| {
        let reward = rewards::update(conn, id, expected, &changes, now)?;
        let detail = json!({"version": reward.version, "stock": reward.stock, "points_cost": reward.points_cost});
        crate::audit::record(conn, &who, crate::audit::AuditAction::RewardUpdate, Some(id.to_string()), detail)?;
        Ok(reward)
    })
    .await?;
    Ok(reward_response(StatusCode::OK, reward))
}
