//! Run a daily job now (operations, and tests at a chosen date).

use actix_web::{post, web, HttpResponse};
use serde_json::json;

use super::{run, JobReport, JOBS};
use crate::http::auth::{Admin, Auth};
use crate::http::error::{ApiError, ApiResult};
use crate::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(run_job);
}

/// Run a daily job (`points_expiry` or `tier_review`) for today's business date, unless it already
/// ran today (409 `job_already_ran`). The scheduler runs both every day by itself.
#[utoipa::path(
    tag = "loyalty", operation_id = "run_job",
    params(("job" = String, Path, description = "`points_expiry` or `tier_review`")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "What the run did", body = JobReport),
        (status = 409, description = "`job_already_ran` today", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/jobs/{job}/run")]
async fn run_job(auth: Auth<Admin>, state: web::Data<AppState>, job: web::Path<String>) -> ApiResult<HttpResponse> {
    let job = job.into_inner();
    let Some(job) = JOBS.iter().find(|j| **j == job) else {
        return Err(ApiError::not_found("job_not_found", "jobs are points_expiry and tier_review"));
    };
    let now = state.clock.now();
    let tz = state.config.timezone;
    let who = auth.principal.clone();
    let report = crate::db::run(&state.pool, move |conn| {
        let report = run(conn, job, now, tz)?
            .ok_or_else(|| ApiError::conflict("job_already_ran", "this job already ran (or is running) for today"))?;
        crate::audit::record(conn, &who, "job.run", "job", Some(job.to_string()), json!(report))?;
        Ok(report)
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}
