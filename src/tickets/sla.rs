//! The ticket SLA sweep: every minute (and on `POST /v1/sweeps/ticket_sla/run`) it flags targets
//! that fell due while the clock runs. Reads and every change flag them too (`service::settle_breaches`);
//! whichever comes first sets a flag, once, with one `ticket.sla_breached` event.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use uuid::Uuid;

use super::model::Ticket;
use super::service;
use crate::error::ApiResult;
use crate::schema::tickets as t;

/// Tickets examined per batch.
const BATCH: i64 = 500;

/// Marks what fell past its SLA; returns how many flags it set.
pub fn sweep(conn: &mut PgConnection, now: DateTime<Utc>, _tz: Tz) -> ApiResult<i64> {
    let mut marked = 0;
    let mut after = Uuid::nil();
    loop {
        let ids: Vec<Uuid> = t::table
            .filter(t::sla_running_since.is_not_null())
            .filter(
                t::first_response_breached
                    .eq(false)
                    .and(t::first_responded_at.is_null())
                    .and(t::first_response_due_at.le(now))
                    .or(t::resolution_breached.eq(false).and(t::resolution_due_at.le(now))),
            )
            .filter(t::id.gt(after))
            .order(t::id)
            .select(t::id)
            .limit(BATCH)
            .load(conn)?;
        let Some(last) = ids.last() else { break };
        after = *last;
        for id in ids {
            marked += conn.transaction(|conn| {
                // Another sweep or a request holding the row settles it itself.
                let locked: Option<Ticket> = t::table
                    .filter(t::id.eq(id))
                    .select(Ticket::as_select())
                    .for_update()
                    .skip_locked()
                    .first(conn)
                    .optional()?;
                match locked {
                    Some(ticket) => Ok::<_, crate::error::ApiError>(service::settle_breaches(conn, ticket, now)?.1),
                    None => Ok(0),
                }
            })?;
        }
    }
    Ok(marked)
}
