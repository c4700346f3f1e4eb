//! Every table derived from orders, taken as one: the customers' activity and segment rows
//! (`customers::activity`), the sales summaries (`summary`), co-purchase (`orders::co_purchase`)
//! and the RFM scores (`customers::rfm`). Brought to the end of the outbox feed after a bulk write
//! that emitted events (the demo seed), or rebuilt from scratch after orders arrived without any
//! (COPY, a restore): `retail-crm rebuild-reports`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;

use super::summary;
use crate::error::ApiResult;
use crate::progress::Report;

/// One table family and how long it took.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub seconds: f64,
    /// Rows the step reports (customers scored for RFM); `None` when it counts nothing.
    pub rows: Option<i64>,
}

/// The followers brought to the end of the feed, then RFM scored as of today (its daily job may
/// have run before the history existed); each family a step of `report`.
pub fn follow_all(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz, report: Report) -> ApiResult<()> {
    let step = |name: &str| format!("bringing {name} up to date");
    timed(report, step("customer activity"), conn, |c| crate::customers::activity::follow(c, tz).map(|_| None))?;
    timed(report, step("sales summaries"), conn, |c| summary::follow(c, tz).map(|_| None))?;
    timed(report, step("co-purchase"), conn, |c| crate::orders::co_purchase::follow(c).map(|_| None))?;
    timed(report, "scoring RFM".into(), conn, |c| score_rfm(c, now, tz).map(Some))?;
    Ok(())
}

/// Every derived table emptied and recomputed from all orders and customers, each family in its
/// own transaction with its follower moved to the end of the feed; RFM last, from the new activity.
pub fn rebuild_all(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz, report: Report) -> ApiResult<Vec<Step>> {
    let families: [(&'static str, Family); 4] = [
        ("customer activity", &|c, _| crate::customers::activity::rebuild(c, tz).map(|()| None)),
        ("sales summaries", &|c, _| summary::rebuild(c, tz).map(|()| None)),
        ("co-purchase", &|c, _| crate::orders::co_purchase::rebuild(c).map(|()| None)),
        ("rfm", &|c, now| score_rfm(c, now, tz).map(Some)),
    ];
    let mut steps = Vec::new();
    for (name, rebuild) in families {
        let (seconds, rows) = timed(report, format!("rebuild-reports: {name}"), conn, |c| rebuild(c, now))?;
        steps.push(Step { name, seconds, rows });
    }
    Ok(steps)
}

/// Rebuilds one table family; what it counted, if anything.
type Family<'a> = &'a dyn Fn(&mut PgConnection, DateTime<Utc>) -> ApiResult<Option<i64>>;

/// Runs one family as a step the operator sees; the seconds it took and what it counted.
fn timed(
    report: Report, label: String, conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> ApiResult<Option<i64>>,
) -> ApiResult<(f64, Option<i64>)> {
    let step = report.step(label);
    let rows = work(conn)?;
    Ok((step.done(), rows))
}

fn score_rfm(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz) -> ApiResult<i64> {
    crate::customers::rfm::refresh(conn, now.with_timezone(&tz).date_naive(), now, tz)
}
