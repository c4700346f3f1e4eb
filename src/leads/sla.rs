//! The lead response SLA sweep (SPEC §11): run every minute by the scheduler and on demand.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;

use super::{service, store};
use crate::error::ApiResult;
use crate::events::emit;
use crate::events::types::{EventData, LeadSlaBreached};

/// Marks assigned leads with no first response whose `response_due_at` has passed as breached
/// (once per lead, `lead.sla_breached`); when the lead's rule has `reassign_on_breach`, hands it to
/// the next free person under that rule with a fresh response clock. Returns how many it marked.
///
/// One short transaction per lead (the row locked, others' locked rows skipped), so a long backlog
/// never holds the assignment lock for long and concurrent sweeps share the work.
pub fn sweep(conn: &mut PgConnection, now: DateTime<Utc>, _tz: Tz) -> ApiResult<i64> {
    let mut marked = 0;
    loop {
        let done = conn.transaction(|conn| -> ApiResult<bool> {
            let Some(lead) = store::lock_due(conn, now, 1)?.pop() else { return Ok(false) };
            let breached = store::mark_breached(conn, lead.id, now)?;
            let event = LeadSlaBreached {
                lead_id: breached.id,
                assignee_staff_id: breached.assignee_staff_id,
                store_id: breached.store_id,
                response_due_at: breached.response_due_at,
            };
            emit(conn, Some(breached.subject()), EventData::LeadSlaBreached(event))?;
            service::reassign_after_breach(conn, &breached, now)?;
            Ok(true)
        })?;
        if !done {
            return Ok(marked);
        }
        marked += 1;
    }
}
