//! The campaign scheduler (SPEC §9): every tick, each active campaign runs what it is due for;
//! deferred messages go out when quiet hours end; campaigns past their window complete. Any number
//! of instances may tick at once (see `run`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::{Connection, PgConnection};

use super::decide::Tally;
use super::model::CampaignKind;
use super::plan::{self, RunContext};
use super::rules::CampaignStatus;
use super::store;
use super::{delivery, run};
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
    let plan = plan::plan(conn, campaign)?;
    let mut tally = Tally::default();
    if let Some(key) = plan::due_run(&plan, ctx.at.now, ctx.at.today) {
        tally = run::run(conn, &plan, &key, ctx, ctx.at.zone)?;
    }
    let c = &plan.campaign;
    let ended = c.ends_at.is_some_and(|end| end <= ctx.at.now);
    let once_done =
        matches!(plan.kind, CampaignKind::OneOff | CampaignKind::Scheduled) && store::runs::finished_once(conn, c.id)?;
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

/// The minute sweep: every active campaign run, deferred messages released; the activity and
/// co-purchase it reads are brought to now before it (`jobs::campaign_sweep`). Returns the
/// customers decided plus the messages released.
pub fn sweep(conn: &mut PgConnection, now: DateTime<Utc>, zone: Tz) -> ApiResult<i64> {
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
    Ok(done + delivery::release_deferred(conn, now)?)
}
