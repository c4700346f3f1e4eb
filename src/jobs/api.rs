//! Run a daily job now (operations, and tests at a chosen date).

use actix_web::{post, web, HttpResponse};
use serde_json::json;

use super::{job_outcome, run, sweep_outcome, Job, JobReport, SWEEPS};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{Admin, Auth, ChainWide};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(run_job).service(run_sweep);
}

/// Run a daily job (`points_expiry`, `tier_review`, `rule_tags` or `rfm`) for today's business date,
/// unless it already ran today (409 `job_already_ran`). The scheduler runs each every day by itself.
#[utoipa::path(
    tag = "loyalty", operation_id = "run_job",
    params(("job" = Job, Path, description = "The job to run")), security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "What the run did", body = JobReport),
        (status = 403, description = "`store_bound_principal`: jobs are the chain's", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`job_already_ran` today", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/jobs/{job}/run")]
async fn run_job(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, job: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // Jobs run over every store's members: the chain's act.
    let Some(job) = Job::parse(&job.into_inner()) else {
        return Err(ApiError::not_found("job_not_found", "jobs are points_expiry, tier_review, rule_tags and rfm"));
    };
    let now = state.clock.now();
    let tz = state.config.timezone;
    let who = auth.principal.clone();
    let started = std::time::Instant::now();
    let ran = crate::db::run(&state.pool, move |conn| {
        let Some(report) = run(conn, job, now, tz)? else { return Ok(None) };
        crate::audit::record(conn, &who, crate::audit::AuditAction::JobRun, Some(job.to_string()), json!(report))?;
        Ok(Some(report))
    })
    .await;
    state.metrics.jobs().record(job.as_str(), job_outcome(&ran), started.elapsed());
    let report =
        ran?.ok_or_else(|| ApiError::conflict("job_already_ran", "this job already ran (or is running) for today"))?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(example = json!({"sweep": "lead_sla", "marked": 3}))]
pub struct SweepReport {
    sweep: String,
    /// What this run marked (e.g. leads or tickets newly past their SLA).
    marked: i64,
}

/// Run a sweep now: `lead_sla` and `ticket_sla` mark SLA breaches that fell due; `customer_activity`,
/// `sales_summary`, `co_purchase` and `campaigns` follow the outbox or the schedule to now (a report
/// that must include the last minute's orders). The scheduler runs every sweep each minute; running
/// one again at once does nothing new.
#[utoipa::path(
    tag = "loyalty", operation_id = "run_sweep",
    params(("sweep" = String, Path, description = "`lead_sla`, `ticket_sla`, `customer_activity`, `sales_summary`, `co_purchase` or `campaigns`")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "What the run marked", body = SweepReport),
        (status = 403, description = "`store_bound_principal`: sweeps are the chain's", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`sweep_not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/sweeps/{sweep}/run")]
async fn run_sweep(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, sweep: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = sweep.into_inner();
    let Some((name, sweep)) = SWEEPS.iter().find(|(n, _)| *n == name) else {
        return Err(ApiError::not_found(
            "sweep_not_found",
            "sweeps are lead_sla, ticket_sla, customer_activity, sales_summary, co_purchase and campaigns",
        ));
    };
    let now = state.clock.now();
    let tz = state.config.timezone;
    let who = auth.principal.clone();
    let started = std::time::Instant::now();
    let marked = crate::db::run(&state.pool, move |conn| {
        let marked = sweep(conn, now, tz)?;
        crate::audit::record(
            conn,
            &who,
            crate::audit::AuditAction::SweepRun,
            Some(name.to_string()),
            json!({"marked": marked}),
        )?;
        Ok(marked)
    })
    .await;
    state.metrics.jobs().record(name, sweep_outcome(&marked), started.elapsed());
    let marked = marked?;
    Ok(HttpResponse::Ok().json(SweepReport { sweep: name.to_string(), marked }))
}
