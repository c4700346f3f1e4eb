//! Ticket workflows, each inside the caller's transaction: open (route, assign, start the SLA
//! clock), read, change, comment, record satisfaction, flag breaches.
//!
//! Every change to a ticket locks its row (`FOR UPDATE`), settles breaches that fell due, applies the
//! change and retimes the SLA clock in the same transaction.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use uuid::Uuid;

use super::config_store::{policy, route};
use super::model::{Comment, Ticket, TicketCommentVisibility, TicketPriority, TicketSlaTarget, TicketStatus};
use super::rules::{self, Dues, Routed, SlaClock};
use super::store::{self, NewComment, NewTicket, NewTicketRow, TicketState};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{
    EventData, TicketChangedFields, TicketCommented, TicketSatisfactionRecorded, TicketSlaBreached, TicketSummary,
    TicketSurveyRequested, TicketUpdated,
};
use crate::http::auth::StoreScope;

/// What ticket events carry: ids, codes and statuses, never the customer's words or contact data
/// (SPEC §5, §10); `store_id` lets a store-bound reader's timeline leave out other stores' tickets.
fn summary(t: &Ticket) -> TicketSummary {
    TicketSummary {
        ticket_id: t.id,
        ticket_type: t.ticket_type.to_string(),
        status: t.status.to_string(),
        priority: t.priority.to_string(),
        team: t.team.clone(),
        assignee_staff_id: t.assignee_staff_id,
        store_id: t.store_id,
    }
}

/// Whether a staff member (chain-wide, or of one store) can see a ticket held by `store`: only
/// such a person may be its assignee.
fn sees_store(staff_store: Option<Uuid>, ticket_store: Option<Uuid>) -> bool {
    StoreScope::of_holder(staff_store).covers(ticket_store)
}

/// Creates a ticket: routed to a team, assigned round-robin within it, SLA clock started.
pub fn create(conn: &mut PgConnection, n: &NewTicket, now: DateTime<Utc>, tz: Tz) -> ApiResult<Ticket> {
    // A merged profile's old id files the ticket on the survivor, as a sale would.
    let customer_id = match n.customer_id {
        Some(id) => crate::customers::service::resolve_customer(conn, &crate::customers::service::CustomerRef::Id(id))?,
        None => None,
    };
    if let Some(order) = n.order_id {
        crate::orders::store::linkable(conn, order, n.store_id, "order_id")?;
    }
    let routed = Routed {
        ticket_type: n.ticket_type,
        category: n.category.as_deref(),
        channel: n.channel,
        priority: n.priority,
    };
    let team = route(conn, &routed)?;
    let assignee = match &team {
        Some(team) => store::next_agent(conn, team, n.store_id)?,
        None => None,
    };
    let policy = policy(conn, n.priority)?.rules();
    let clock = SlaClock::start(now);
    let dues = rules::dues(&clock, &policy, &tz, TicketStatus::Open, false, Dues::default());
    let ticket = store::insert(
        conn,
        &NewTicketRow {
            id: Uuid::now_v7(),
            ticket: NewTicket { customer_id, ..n.clone() },
            status: TicketStatus::Open,
            team,
            assignee_staff_id: assignee,
            sla_elapsed_seconds: clock.elapsed,
            sla_running_since: clock.running_since,
            first_response_due_at: dues.first_response,
            resolution_due_at: dues.resolution,
            created_at: now,
            updated_at: now,
        },
    )?;
    crate::events::emit(conn, ticket.customer_id, EventData::TicketCreated(summary(&ticket)))?;
    if ticket.assignee_staff_id.is_some() {
        crate::events::emit(conn, ticket.customer_id, EventData::TicketAssigned(summary(&ticket)))?;
    }
    Ok(ticket)
}

/// Flags the targets of a locked ticket that fell due by `now` (once each, event
/// `ticket.sla_breached`); returns the ticket as it is now and how many flags were set.
pub fn settle_breaches(conn: &mut PgConnection, ticket: Ticket, now: DateTime<Utc>) -> ApiResult<(Ticket, i64)> {
    let b = rules::new_breaches(&ticket.breach_input(), now);
    if !b.first_response && !b.resolution {
        return Ok((ticket, 0));
    }
    let updated = store::flag_breaches(conn, &ticket, b.first_response, b.resolution)?;
    let mut marked = 0;
    for (hit, which, due) in [
        (b.first_response, TicketSlaTarget::FirstResponse, ticket.first_response_due_at),
        (b.resolution, TicketSlaTarget::Resolution, ticket.resolution_due_at),
    ] {
        if hit {
            marked += 1;
            let breached = TicketSlaBreached {
                ticket_id: ticket.id,
                which: which.to_string(),
                due_at: due,
                team: ticket.team.clone(),
                assignee_staff_id: ticket.assignee_staff_id,
                store_id: ticket.store_id,
            };
            crate::events::emit(conn, ticket.customer_id, EventData::TicketSlaBreached(breached))?;
        }
    }
    Ok((updated, marked))
}

/// Reads a ticket, flagging breaches that are due now (a short locked transaction only when some are).
pub fn read(conn: &mut PgConnection, scope: StoreScope, id: Uuid, now: DateTime<Utc>) -> ApiResult<Ticket> {
    let ticket = store::get(conn, scope, id)?;
    let due = rules::new_breaches(&ticket.breach_input(), now);
    if !due.first_response && !due.resolution {
        return Ok(ticket);
    }
    conn.transaction(|conn| {
        let locked = store::lock(conn, scope, id)?;
        Ok(settle_breaches(conn, locked, now)?.0)
    })
}

/// A checked PATCH: absent = keep; `team` / `assignee_staff_id` `Some(None)` = clear.
#[derive(Default)]
pub struct TicketChanges {
    pub status: Option<TicketStatus>,
    pub priority: Option<TicketPriority>,
    pub team: Option<Option<String>>,
    pub assignee_staff_id: Option<Option<Uuid>>,
}

fn invalid_transition(from: TicketStatus, to: TicketStatus) -> ApiError {
    ApiError::conflict("invalid_transition", format!("a ticket that is {from} cannot become {to}"))
        .with("ticket_status", from.as_str())
}

/// A locked ticket's SLA clock and due times after `now`'s change to `status` / `priority`.
fn retime(
    conn: &mut PgConnection, cur: &Ticket, status: TicketStatus, priority: TicketPriority,
    responded_at: Option<DateTime<Utc>>, now: DateTime<Utc>, tz: Tz,
) -> ApiResult<(SlaClock, Dues)> {
    let old_policy = policy(conn, cur.priority)?.rules();
    let new_policy = if priority == cur.priority { old_policy.clone() } else { policy(conn, priority)?.rules() };
    let clock = cur.clock().retime(&old_policy, &tz, now, rules::clock_runs(status));
    let dues = rules::dues(&clock, &new_policy, &tz, status, responded_at.is_some(), cur.dues());
    Ok((clock, dues))
}

/// Applies a PATCH to a ticket within `scope`: 412 on a stale `If-Match`, 409 `invalid_transition`,
/// 422 for an assignee who is not an active staff member within `scope` who can see the ticket.
/// Retimes the SLA clock; emits the events.
pub fn update(
    conn: &mut PgConnection, scope: StoreScope, id: Uuid, expected: Option<i32>, ch: &TicketChanges,
    now: DateTime<Utc>, tz: Tz,
) -> ApiResult<Ticket> {
    let cur = store::lock(conn, scope, id)?;
    crate::http::check_version(expected, cur.version)?;
    let (cur, _) = settle_breaches(conn, cur, now)?;
    let status = ch.status.unwrap_or(cur.status);
    if status != cur.status && !rules::can_move(cur.status, status) {
        return Err(invalid_transition(cur.status, status));
    }
    if let Some(Some(staff_id)) = ch.assignee_staff_id {
        check_assignee(conn, scope, staff_id, &cur)?;
    }
    let priority = ch.priority.unwrap_or(cur.priority);
    let team = ch.team.clone().unwrap_or_else(|| cur.team.clone());
    let assignee = ch.assignee_staff_id.unwrap_or(cur.assignee_staff_id);
    if status == cur.status && priority == cur.priority && team == cur.team && assignee == cur.assignee_staff_id {
        // Nothing changes: no new version, no event.
        return Ok(cur);
    }
    let (clock, dues) = retime(conn, &cur, status, priority, cur.first_responded_at, now, tz)?;
    let moved = status != cur.status;
    let resolved_at = match status {
        TicketStatus::Resolved if moved => Some(now),
        TicketStatus::Resolved | TicketStatus::Closed => cur.resolved_at,
        TicketStatus::Open | TicketStatus::InProgress | TicketStatus::PendingCustomer => None,
    };
    let closed_at = if status == TicketStatus::Closed { cur.closed_at.or(Some(now)) } else { None };
    let changed = TicketChangedFields {
        status: moved,
        priority: priority != cur.priority,
        team: team != cur.team,
        assignee_staff_id: assignee != cur.assignee_staff_id,
    };
    let next = TicketState {
        status,
        priority,
        team,
        assignee_staff_id: assignee,
        resolved_at,
        closed_at,
        ..TicketState::next_version(&cur)
    };
    let updated = store::save(conn, id, &next.retimed(clock, dues), now)?;
    let event = TicketUpdated { ticket: summary(&updated), from_status: cur.status.to_string(), changed };
    crate::events::emit(conn, updated.customer_id, EventData::TicketUpdated(event))?;
    if assignee.is_some() && assignee != cur.assignee_staff_id {
        crate::events::emit(conn, updated.customer_id, EventData::TicketAssigned(summary(&updated)))?;
    }
    if moved && status == TicketStatus::Resolved {
        crate::events::emit(conn, updated.customer_id, EventData::TicketResolved(summary(&updated)))?;
        let survey = TicketSurveyRequested {
            ticket_id: updated.id,
            customer_id: updated.customer_id,
            channel: updated.channel.map(|c| c.to_string()),
            store_id: updated.store_id,
        };
        crate::events::emit(conn, updated.customer_id, EventData::TicketSurveyRequested(survey))?;
    }
    Ok(updated)
}

/// A new assignee must be an active staff member within the caller's stores (another store's is
/// "no staff member", exactly like a missing one) who can see the ticket (`sees_store`).
fn check_assignee(conn: &mut PgConnection, scope: StoreScope, staff_id: Uuid, ticket: &Ticket) -> ApiResult<()> {
    let person = match crate::staff::store::get_in(conn, staff_id, scope) {
        Ok(p) => p,
        Err(e) if e.code() == "staff_not_found" => {
            return Err(ApiError::invalid("assignee_staff_id", "no staff member with this id"))
        }
        Err(e) => return Err(e),
    };
    if !sees_store(person.store_id, ticket.store_id) {
        let why = "must be an active staff member of the ticket's store, or a chain-wide one";
        return Err(ApiError::invalid("assignee_staff_id", why));
    }
    if !person.active {
        return Err(ApiError::invalid("assignee_staff_id", "must be an active staff member"));
    }
    Ok(())
}

/// Adds a comment to a ticket within `scope`. The first public reply sets `first_responded_at` and
/// moves an open ticket to `in_progress`. Comments on a closed ticket are refused (409 `ticket_closed`).
pub fn comment(
    conn: &mut PgConnection, scope: StoreScope, id: Uuid, new: &NewComment<'_>, now: DateTime<Utc>, tz: Tz,
) -> ApiResult<(Ticket, Comment)> {
    let cur = store::lock(conn, scope, id)?;
    let (cur, _) = settle_breaches(conn, cur, now)?;
    if cur.status == TicketStatus::Closed {
        return Err(ApiError::conflict("ticket_closed", "a closed ticket takes no comments; reopen it first")
            .with("ticket_status", TicketStatus::Closed.as_str()));
    }
    let comment = store::insert_comment(conn, &cur, new, now)?;
    let mut ticket = cur.clone();
    if new.visibility == TicketCommentVisibility::Public && cur.first_responded_at.is_none() {
        let status = if cur.status == TicketStatus::Open { TicketStatus::InProgress } else { cur.status };
        let (clock, dues) = retime(conn, &cur, status, cur.priority, Some(now), now, tz)?;
        let next = TicketState { status, first_responded_at: Some(now), ..TicketState::next_version(&cur) };
        ticket = store::save(conn, id, &next.retimed(clock, dues), now)?;
    }
    // The body stays in `ticket_comments`: the event names the comment, never its words.
    let commented = TicketCommented {
        ticket_id: id,
        comment_id: comment.id,
        visibility: new.visibility.to_string(),
        author: new.author.to_string(),
        store_id: ticket.store_id,
    };
    crate::events::emit(conn, ticket.customer_id, EventData::TicketCommented(commented))?;
    Ok((ticket, comment))
}

/// Records the customer's verdict once, on a resolved or closed ticket.
pub fn record_satisfaction(
    conn: &mut PgConnection, scope: StoreScope, id: Uuid, score: i32, comment: Option<String>, now: DateTime<Utc>,
) -> ApiResult<Ticket> {
    let cur = store::lock(conn, scope, id)?;
    if cur.satisfaction_score.is_some() {
        return Err(ApiError::conflict(
            "satisfaction_already_recorded",
            "this ticket already has a satisfaction score",
        ));
    }
    if !matches!(cur.status, TicketStatus::Resolved | TicketStatus::Closed) {
        return Err(ApiError::conflict("ticket_not_resolved", "satisfaction is recorded once the ticket is resolved")
            .with("ticket_status", cur.status.as_str()));
    }
    let updated = store::set_satisfaction(conn, &cur, score, comment.as_deref(), now)?;
    let recorded = TicketSatisfactionRecorded { ticket_id: id, score, store_id: updated.store_id };
    crate::events::emit(conn, updated.customer_id, EventData::TicketSatisfactionRecorded(recorded))?;
    Ok(updated)
}
