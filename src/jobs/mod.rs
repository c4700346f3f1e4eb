//! Daily background work: points expiry and tier review. Each run is claimed per business day in
//! `job_runs`, so several instances never both run it; the work itself is idempotent per member,
//! so a run that died half-way is simply taken over.

pub mod api;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::PgPool;
use crate::error::ApiResult;
use crate::events::types::points_expired;
use crate::loyalty::ledger;
use crate::metrics::{JobMetrics, JobOutcome};
use crate::schema::{job_runs, points_lots};

crate::vocabulary! {
    /// A daily job: `points_expiry` writes off expired points, `tier_review` reviews tiers whose
    /// validity ran out, `rule_tags` re-evaluates rule tags, `rfm` scores every customer.
    pub enum Job { PointsExpiry = "points_expiry", TierReview = "tier_review", RuleTags = "rule_tags", Rfm = "rfm" }
}

/// A sweep runs every minute, not once a day: it marks what fell due (SLA breaches) and is safe to
/// run again at once (it only touches what it has not marked yet). Returns how many it marked.
pub type Sweep = fn(&mut PgConnection, DateTime<Utc>, Tz) -> ApiResult<i64>;

pub const SWEEPS: &[(&str, Sweep)] = &[
    ("lead_sla", crate::leads::sla::sweep),
    ("ticket_sla", crate::tickets::sla::sweep),
    ("customer_activity", crate::customers::activity::sweep),
    ("sales_summary", crate::analytics::summary::sweep),
    ("co_purchase", crate::orders::co_purchase::sweep),
    ("campaigns", campaign_sweep),
];

/// The sweeps whose tables a campaign run reads: the customers' activity (audiences, triggers)
/// and co-purchase (recommendations).
const CAMPAIGN_INPUTS: &[&str] = &["customer_activity", "co_purchase"];

/// The campaigns' sweep: the outbox followers a run reads brought to now, each as its own sweep,
/// then every active campaign run (`campaigns::schedule::sweep`).
pub fn campaign_sweep(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz) -> ApiResult<i64> {
    for (_, input) in SWEEPS.iter().filter(|(name, _)| CAMPAIGN_INPUTS.contains(name)) {
        input(conn, now, tz)?;
    }
    crate::campaigns::schedule::sweep(conn, now, tz)
}
const ACTOR: &str = "job";
const BATCH: i64 = 500;
/// A claimed run with no finish after this long belonged to an instance that died.
const ABANDONED_AFTER_MINUTES: i64 = 60;

#[derive(Debug, Serialize, ToSchema, PartialEq)]
#[schema(example = json!({"job": "points_expiry", "business_date": "2026-11-23", "members": 12, "points": 3400}))]
pub struct JobReport {
    pub job: Job,
    pub business_date: NaiveDate,
    /// Members whose points expired or whose tier was reviewed; rule tags evaluated (`rule_tags`);
    /// customers scored (`rfm`).
    pub members: i64,
    /// Points written off (expiry), members moved to another tier (review), or customers who
    /// gained or lost a rule tag (`rule_tags`).
    pub points: i64,
}

/// Claims `(job, date)`; false when another instance has it (or already finished it).
pub fn claim(conn: &mut PgConnection, job: Job, date: NaiveDate, now: DateTime<Utc>) -> ApiResult<bool> {
    let inserted = diesel::insert_into(job_runs::table)
        .values((job_runs::job.eq(job), job_runs::business_date.eq(date), job_runs::started_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 1 {
        return Ok(true);
    }
    let taken_over = diesel::update(job_runs::table.find((job, date)))
        .filter(job_runs::finished_at.is_null())
        .filter(job_runs::started_at.lt(now - chrono::Duration::minutes(ABANDONED_AFTER_MINUTES)))
        .set(job_runs::started_at.eq(now))
        .execute(conn)?;
    Ok(taken_over == 1)
}

/// Gives up an unfinished claim, so that nobody waits for it to be abandoned.
fn release(conn: &mut PgConnection, job: Job, date: NaiveDate) -> ApiResult<()> {
    diesel::delete(job_runs::table.find((job, date))).filter(job_runs::finished_at.is_null()).execute(conn)?;
    Ok(())
}

pub fn finish(conn: &mut PgConnection, report: &JobReport, now: DateTime<Utc>) -> ApiResult<()> {
    diesel::update(job_runs::table.find((&report.job, report.business_date)))
        .set((job_runs::finished_at.eq(Some(now)), job_runs::result.eq(Some(json!(report)))))
        .execute(conn)?;
    Ok(())
}

/// Writes off every lot that expired by `now`, one member per transaction.
pub fn expire_points(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<(i64, i64)> {
    let (mut members, mut points) = (0, 0);
    loop {
        if crate::lifecycle::background_should_stop() {
            return Ok((members, points));
        }
        let due: Vec<Uuid> = points_lots::table
            .filter(points_lots::remaining.gt(0))
            .filter(points_lots::expires_at.le(now))
            .select(points_lots::customer_id)
            .distinct()
            .limit(BATCH)
            .load(conn)?;
        if due.is_empty() {
            return Ok((members, points));
        }
        for customer in due {
            let expired = conn.transaction(|conn| {
                let mut account = ledger::lock_account(conn, customer)?;
                let expired = ledger::expire_due(conn, &mut account, now, ACTOR)?;
                if expired > 0 {
                    crate::events::emit(conn, Some(customer), points_expired(expired))?;
                }
                Ok::<_, crate::error::ApiError>(expired)
            })?;
            members += 1;
            points += expired;
        }
    }
}

/// Reviews every member whose tier validity ran out by `now`. Returns (reviewed, moved).
pub fn review_tiers(conn: &mut PgConnection, now: DateTime<Utc>, validity_days: i32) -> ApiResult<(i64, i64)> {
    let (mut reviewed, mut moved) = (0, 0);
    loop {
        if crate::lifecycle::background_should_stop() {
            return Ok((reviewed, moved));
        }
        let due = crate::memberships::store::due_for_review(conn, now, BATCH)?;
        if due.is_empty() {
            return Ok((reviewed, moved));
        }
        for customer in due {
            let change =
                conn.transaction(|conn| crate::memberships::store::review(conn, customer, ACTOR, now, validity_days))?;
            reviewed += 1;
            moved += i64::from(change.is_some());
        }
    }
}

/// Runs one job for the business day of `now`, unless another instance has it. `None` when skipped.
pub fn run(conn: &mut PgConnection, job: Job, now: DateTime<Utc>, tz: Tz) -> ApiResult<Option<JobReport>> {
    let date = now.with_timezone(&tz).date_naive();
    if !claim(conn, job, date, now)? {
        return Ok(None);
    }
    let (members, points) = match job {
        Job::PointsExpiry => expire_points(conn, now)?,
        Job::TierReview => {
            let validity = crate::loyalty::program::load(conn)?.tier_validity_days;
            review_tiers(conn, now, validity)?
        }
        Job::RuleTags => {
            let at = crate::segments::compile::Evaluation { today: date, now, zone: tz };
            crate::segments::tags::evaluate_all(conn, at)?
        }
        Job::Rfm => (crate::customers::rfm::refresh(conn, date, now, tz)?, 0),
    };
    if crate::lifecycle::background_should_stop() {
        // Stopped at a batch boundary: the next start runs the rest of the day's job at once.
        release(conn, job, date)?;
        log::info!("job {job} for {date} stopped with the service after {members} members");
        return Ok(None);
    }
    let report = JobReport { job, business_date: date, members, points };
    finish(conn, &report, now)?;
    log::info!("job {job} for {date}: {members} members, {points}");
    Ok(Some(report))
}

/// How a daily job's run ended, for `jobs_runs_total`.
pub fn job_outcome<T>(outcome: &ApiResult<Option<T>>) -> JobOutcome {
    match outcome {
        Ok(Some(_)) => JobOutcome::Ok,
        Ok(None) => JobOutcome::Skipped,
        Err(_) => JobOutcome::Failed,
    }
}

/// How a sweep's run ended, for `jobs_runs_total`.
pub fn sweep_outcome<T>(outcome: &ApiResult<T>) -> JobOutcome {
    if outcome.is_ok() {
        JobOutcome::Ok
    } else {
        JobOutcome::Failed
    }
}

/// Runs the campaigns whenever `wake` is notified (an activation), besides the minute sweep.
pub fn spawn_campaign_runner(
    pool: PgPool, clock: crate::clock::Clock, tz: Tz, wake: actix_web::web::Data<crate::campaigns::Wake>,
    metrics: JobMetrics,
) {
    actix_web::rt::spawn(async move {
        loop {
            wake.notified().await;
            let Some(_working) = crate::lifecycle::background().enter() else { return };
            let now = clock.now();
            let started = std::time::Instant::now();
            let outcome = crate::db::background(&pool, move |conn| campaign_sweep(conn, now, tz)).await;
            metrics.record("campaigns", sweep_outcome(&outcome), started.elapsed());
            if let Err(e) = outcome {
                log::warn!("campaign run failed: {e}");
            }
        }
    });
}

/// The in-process scheduler: every minute, each daily job not yet run today runs, and every sweep.
pub fn spawn_scheduler(pool: PgPool, clock: crate::clock::Clock, tz: Tz, metrics: JobMetrics) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(_working) = crate::lifecycle::background().enter() else { return };
            for &job in Job::ALL {
                let now = clock.now();
                let started = std::time::Instant::now();
                let outcome = crate::db::background(&pool, move |conn| run(conn, job, now, tz)).await;
                metrics.record(job.as_str(), job_outcome(&outcome), started.elapsed());
                if let Err(e) = outcome {
                    log::warn!("job {job} failed: {e}");
                }
            }
            for (name, sweep) in SWEEPS {
                let now = clock.now();
                let started = std::time::Instant::now();
                let outcome = crate::db::background(&pool, move |conn| sweep(conn, now, tz)).await;
                metrics.record(name, sweep_outcome(&outcome), started.elapsed());
                match outcome {
                    Ok(n) if n > 0 => log::info!("sweep {name}: {n} marked"),
                    Ok(_) => {}
                    Err(e) => log::warn!("sweep {name} failed: {e}"),
                }
            }
        }
    });
}
