//! Every table derived from orders, taken as one: the customers' activity and segment rows
//! (`customers::activity`), the sales summaries (`summary`), co-purchase (`orders::co_purchase`)
//! and the RFM scores (`customers::rfm`). Brought to the end of the outbox feed after a bulk write
//! that emitted events (the demo seed), or rebuilt from scratch after orders arrived without any
//! (COPY, a restore): `retail-crm rebuild-reports`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::PgConnection;

use super::summary;
use crate::http::error::ApiResult;

/// One table family and how long it took.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: &'static str,
    pub seconds: f64,
    /// Rows the step reports (customers scored for RFM); `None` when it counts nothing.
    pub rows: Option<i64>,
}

/// The followers brought to the end of the feed, then RFM scored as of today (its daily job may
/// have run before the history existed).
pub fn follow_all(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz) -> ApiResult<()> {
    crate::customers::activity::follow(conn, tz)?;
    summary::follow(conn, tz)?;
    crate::orders::co_purchase::follow(conn)?;
    score_rfm(conn, now, tz)?;
    Ok(())
}

/// Every derived table emptied and recomputed from all orders and customers, each family in its
/// own transaction with its follower moved to the end of the feed; RFM last, from the new activity.
pub fn rebuild_all(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz) -> ApiResult<Vec<Step>> {
    Ok(vec![
        timed("customer activity", || crate::customers::activity::rebuild(conn, tz).map(|()| None))?,
        timed("sales summaries", || summary::rebuild(conn, tz).map(|()| None))?,
        timed("co-purchase", || crate::orders::co_purchase::rebuild(conn).map(|()| None))?,
        timed("rfm", || score_rfm(conn, now, tz).map(Some))?,
    ])
}

fn timed(name: &'static str, run: impl FnOnce() -> ApiResult<Option<i64>>) -> ApiResult<Step> {
    let started = Instant::now();
    let rows = run()?;
    Ok(Step { name, seconds: started.elapsed().as_secs_f64(), rows })
}

fn score_rfm(conn: &mut PgConnection, now: DateTime<Utc>, tz: Tz) -> ApiResult<i64> {
    crate::customers::rfm::refresh(conn, now.with_timezone(&tz).date_naive(), now, tz)
}
