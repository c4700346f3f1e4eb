//! Reward redemptions: the stock and the points move together.

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::MAX_QUANTITY;
use crate::error::{ApiError, ApiResult, Problem, Violations};
use crate::http::auth::{Auth, LoyaltyWrite};
use crate::loyalty::rewards::{self};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(redeem_reward);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reward_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "quantity": 1}))]
pub struct RewardRedemptionRequest {
    #[schema(value_type = Uuid, required = true, nullable = false)]
    pub reward_id: Option<Uuid>,
    /// 1-100, default 1.
    #[serde(default, deserialize_with = "crate::http::whole_number")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100, default = 1)]
    pub quantity: Option<i32>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d62", "reward_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "quantity": 1, "points": 2000, "entry_id": 42, "balance_after": 1500, "created_at": "2026-11-23T08:00:00Z"}))]
pub struct RewardRedemptionView {
    pub id: Uuid,
    pub reward_id: Uuid,
    pub quantity: i32,
    /// Points spent: `points_cost × quantity`.
    pub points: i64,
    /// The `reward` ledger entry.
    pub entry_id: i64,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

/// Redeem points for a reward: the stock and the points move together or not at all.
#[utoipa::path(
    tag = "loyalty", operation_id = "redeem_reward", request_body = RewardRedemptionRequest,
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["loyalty:write"])),
    responses(
        (status = 201, description = "Redeemed", body = RewardRedemptionView),
        (status = 404, description = "`customer_not_found` / `reward_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock` (with `stock`), `customer_merged` / `customer_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`insufficient_points` (with `available`), `reward_inactive`, `not_a_member`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers/{id}/reward-redemptions")]
async fn redeem_reward(
    auth: Auth<LoyaltyWrite>, state: web::Data<AppState>, id: web::Path<Uuid>,
    body: crate::http::Json<RewardRedemptionRequest>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let body = body.into_inner();
    let mut v = Violations::new();
    if body.reward_id.is_none() {
        v.add("reward_id", "is required");
    }
    let quantity = body.quantity.unwrap_or(1);
    v.check((1..=MAX_QUANTITY).contains(&quantity), "quantity", "must be 1-100");
    v.into_result()?;
    let reward_id = body.reward_id.ok_or_else(|| ApiError::invalid("reward_id", "is required"))?;
    let now = state.clock.now();
    let actor = auth.sub.clone();
    let done =
        crate::db::transaction(&state.pool, move |conn| rewards::redeem(conn, id, reward_id, quantity, &actor, now))
            .await?;
    let r = done.redemption;
    Ok(HttpResponse::Created().json(RewardRedemptionView {
        id: r.id,
        reward_id: r.reward_id,
        quantity: r.quantity,
        points: r.points,
        entry_id: r.entry_id,
        balance_after: done.balance_after,
        created_at: r.created_at,
    }))
}
