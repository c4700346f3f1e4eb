//! A dry-run: who a run now would reach and who it would suppress, writing nothing.

use actix_web::{post, web, HttpResponse};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::CHAIN_ONLY;
use crate::campaigns::rules;
use crate::campaigns::store;
use crate::error::{ApiResult, Problem};
use crate::http::auth::{Auth, CampaignsRead, ChainWide};
use crate::state::AppState;

/// Outcomes a dry-run lists by name; the rest are only counted.
const DRY_RUN_SAMPLE: usize = 50;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"customer_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "occurrence": "2026", "outcome": "suppressed", "reason": "no_consent"}))]
pub struct DryRunCustomer {
    customer_id: Uuid,
    /// What the customer is due for: `once`, a year, a last order's day, an event's id.
    occurrence: String,
    outcome: rules::RecipientOutcome,
    reason: Option<rules::SuppressReason>,
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
    params(("id" = Uuid, Path, description = "Campaign id")), security(("bearer" = ["campaigns:read"])),
    responses(
        (status = 200, description = "What a run now would do", body = DryRun),
        (status = 403, description = CHAIN_ONLY, body = Problem, content_type = "application/problem+json"),
        crate::campaigns::api::CampaignNotFound,
    )
)]
#[post("/v1/campaigns/{id}/dry-run")]
pub(super) async fn dry_run_campaign(
    _auth: Auth<ChainWide<CampaignsRead>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let (now, zone) = (state.clock.now(), state.config.timezone);
    let result = crate::db::run(&state.pool, move |conn| {
        crate::customers::activity::follow(conn, zone)?;
        let ctx = crate::campaigns::schedule::context(conn, now, zone)?;
        let campaign = store::get(conn, id)?;
        let plan = crate::campaigns::plan::plan(conn, campaign)?;
        let forecast = crate::campaigns::decide::dry_run(conn, &plan, ctx, DRY_RUN_SAMPLE)?;
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
