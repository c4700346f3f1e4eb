//! The campaign scheduler (SPEC §9): every tick, each active campaign runs what it is due for;
//! deferred messages go out when quiet hours end; campaigns past their window complete. Any number
//! of instances may tick at once (see `run`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::{Connection, PgConnection};

use super::model::CampaignKind;
use super::rules::CampaignStatus;
use super::run::{self, RunContext, Tally};
use super::store;
use crate::error::ApiResult;
use crate::segments::compile::Evaluation;

/// Where a tick evaluates: the business day of `now`, and the policy's settings now.
pub fn context(conn: &mut PgConnection, now: DateTime<Utc>, zone: Tz) -> ApiResult<RunContext> {
    let today = now.with_timezone(&zone).date_naive();
    Ok(RunContext { at: Evaluation { today, now, zone }, policy: store::settings(conn)?.policy() })
}

/// One campaign's due run, if any; a one-off or scheduled campaign whose run finished, and any
/// campaign past its window, completes.
pub fn run_campaign(conn: &mut PgConnection, campaign: store::Campaign, ctx: RunContext) -> ApiResult<Tally> {
    let plan = run::plan(conn, campaign)?;
    let mut tally = Tally::default();
    if let Some(key) = run::due_run(&plan, ctx.at.now, ctx.at.today) {
        tally = run::run(conn, &plan, &key, ctx, ctx.at.zone)?;
    }
    let c = &plan.campaign;
    let ended = c.ends_at.is_some_and(|end| end <= ctx.at.now);
    let once_done = matches!(plan.kind, CampaignKind::OneOff | CampaignKind::Scheduled) && run_finished(conn, c.id)?;
    if ended || once_done {
        conn.transaction(|conn| {
            let current = store::lock(conn, c.id)?;
            if current.status == CampaignStatus::Active {
                store::set_status(conn, &current, CampaignStatus::Completed, ctx.at.now)?;
            }
            Ok::<_, crate::error::ApiError>(())
        })?;
    }
    Ok(tally)
}

fn run_finished(conn: &mut PgConnection, campaign: uuid::Uuid) -> ApiResult<bool> {
    use diesel::prelude::*;
    use diesel::sql_types::{Bool, Uuid as SqlUuid};
    #[derive(QueryableByName)]
    struct Finished {
        #[diesel(sql_type = Bool)]
        finished: bool,
    }
    let row: Finished = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM campaign_runs WHERE campaign_id = $1 AND run = 'once'
                        AND finished_at IS NOT NULL) AS finished",
    )
    .bind::<SqlUuid, _>(campaign)
    .get_result(conn)?;
    Ok(row.finished)
}

/// The minute sweep: activity caught up, every active campaign run, deferred messages released.
/// Returns the customers decided plus the messages released.
pub fn sweep(conn: &mut PgConnection, now: DateTime<Utc>, zone: Tz) -> ApiResult<i64> {
    crate::customers::activity::follow(conn, zone)?;
    let ctx = context(conn, now, zone)?;
    let mut done = 0;
    for campaign in store::active(conn)? {
        if crate::lifecycle::background_should_stop() {
            break;
        }
        let id = campaign.id;
        match run_campaign(conn, campaign, ctx) {
            Ok(t) => done += t.reached + t.holdout + t.suppressed,
            // One campaign that cannot run (its segment was deleted, say) never stops the others.
            Err(e) => log::warn!("campaign {id}: {e}"),
        }
    }
    Ok(done + run::release_deferred(conn, now)?)
}
