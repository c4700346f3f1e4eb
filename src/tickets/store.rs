//! Ticket SQL: tickets and their SLA clock, the team rotation, comments, stats, merge (routing
//! rules and SLA policies: `config_store`).
//!
//! Every change to a ticket locks its row (`FOR UPDATE`), settles breaches that fell due, applies the
//! change and retimes the SLA clock in the same transaction. Round-robin locks the team's cursor row,
//! so concurrent creations for one team take turns.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use uuid::Uuid;

use super::config_store::{policy, route};
use super::rules::{
    self, BreachInput, Dues, Routed, SlaClock, TicketCommentVisibility, TicketPriority, TicketStatus, TicketType,
};
use crate::error::{ApiError, ApiResult};
use crate::events::types::{
    EventData, TicketChangedFields, TicketCommented, TicketSatisfactionRecorded, TicketSlaBreached, TicketSummary,
    TicketSurveyRequested, TicketUpdated,
};
use crate::http::auth::StoreScope;
use crate::schema::{staff, team_cursors as tc, ticket_comments as cm, tickets as t};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct Ticket {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub ticket_type: TicketType,
    pub category: Option<String>,
    pub channel: Option<String>,
    pub priority: TicketPriority,
    pub subject: String,
    pub description: Option<String>,
    pub status: TicketStatus,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    pub sla_elapsed_seconds: i64,
    pub sla_running_since: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
    pub satisfaction_score: Option<i32>,
    pub satisfaction_comment: Option<String>,
    pub satisfaction_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Ticket {
    pub fn clock(&self) -> SlaClock {
        SlaClock { elapsed: self.sla_elapsed_seconds, running_since: self.sla_running_since }
    }
    fn dues(&self) -> Dues {
        Dues { first_response: self.first_response_due_at, resolution: self.resolution_due_at }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cm)]
pub struct Comment {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub visibility: TicketCommentVisibility,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

pub fn ticket_not_found() -> ApiError {
    ApiError::not_found("ticket_not_found", "no ticket with this id")
}

/// The next active agent of `team` in id order after the team's cursor; moves the cursor. The
/// cursor row is locked, so concurrent calls for one team take turns. Only agents who can see the
/// ticket take it (`sees_store`): chain-wide staff, or staff of the ticket's store.
pub fn next_agent(conn: &mut PgConnection, team: &str, store: Option<Uuid>) -> ApiResult<Option<Uuid>> {
    diesel::insert_into(tc::table).values(tc::team.eq(team)).on_conflict_do_nothing().execute(conn)?;
    let last: Option<Uuid> = tc::table.find(team).select(tc::last_staff_id).for_update().first(conn)?;
    let mut q = staff::table
        .filter(staff::team.eq(team).and(staff::active.eq(true)))
        .order(staff::id)
        .select(staff::id)
        .into_boxed();
    q = match store {
        Some(store) => q.filter(staff::store_id.is_null().or(staff::store_id.eq(store))),
        None => q.filter(staff::store_id.is_null()),
    };
    let agents: Vec<Uuid> = q.load(conn)?;
    let next = rules::next_in_rotation(&agents, last);
    if let Some(n) = next {
        diesel::update(tc::table.find(team)).set(tc::last_staff_id.eq(Some(n))).execute(conn)?;
    }
    Ok(next)
}

// ---------------------------------------------------------------------------------------------
// Tickets
// ---------------------------------------------------------------------------------------------

pub struct NewTicket {
    pub customer_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub ticket_type: TicketType,
    pub category: Option<String>,
    pub channel: Option<String>,
    pub priority: TicketPriority,
    pub subject: String,
    pub description: Option<String>,
    pub store_id: Option<Uuid>,
}

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
    let staff_scope = match staff_store {
        None => StoreScope::Chain,
        Some(s) => StoreScope::Store(s),
    };
    staff_scope.covers(ticket_store)
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
        channel: n.channel.as_deref(),
        priority: n.priority,
    };
    let team = route(conn, &routed)?;
    let assignee = match &team {
        Some(team) => next_agent(conn, team, n.store_id)?,
        None => None,
    };
    let policy = policy(conn, n.priority)?.rules();
    let clock = SlaClock::start(now);
    let dues = rules::dues(&clock, &policy, &tz, TicketStatus::Open, false, Dues::default());
    let ticket: Ticket = diesel::insert_into(t::table)
        .values((
            (
                t::id.eq(Uuid::now_v7()),
                t::customer_id.eq(customer_id),
                t::order_id.eq(n.order_id),
                t::ticket_type.eq(n.ticket_type),
                t::category.eq(&n.category),
                t::channel.eq(&n.channel),
                t::priority.eq(n.priority),
                t::subject.eq(&n.subject),
                t::description.eq(&n.description),
            ),
            (
                t::status.eq(TicketStatus::Open),
                t::team.eq(&team),
                t::assignee_staff_id.eq(assignee),
                t::store_id.eq(n.store_id),
                t::sla_elapsed_seconds.eq(clock.elapsed),
                t::sla_running_since.eq(clock.running_since),
                t::first_response_due_at.eq(dues.first_response),
                t::resolution_due_at.eq(dues.resolution),
                t::created_at.eq(now),
                t::updated_at.eq(now),
            ),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?;
    crate::events::emit(conn, ticket.customer_id, EventData::TicketCreated(summary(&ticket)))?;
    if ticket.assignee_staff_id.is_some() {
        crate::events::emit(conn, ticket.customer_id, EventData::TicketAssigned(summary(&ticket)))?;
    }
    Ok(ticket)
}

/// A ticket within `scope`: another store's ticket is not found, exactly like a missing one.
pub fn get(conn: &mut PgConnection, scope: StoreScope, id: Uuid) -> ApiResult<Ticket> {
    let mut q = t::table.find(id).select(Ticket::as_select()).into_boxed();
    if let Some(store) = scope.only() {
        q = q.filter(t::store_id.eq(store));
    }
    q.first(conn).optional()?.ok_or_else(ticket_not_found)
}

/// Locks a ticket within `scope` (404 otherwise).
pub fn lock(conn: &mut PgConnection, scope: StoreScope, id: Uuid) -> ApiResult<Ticket> {
    // Locking queries cannot be boxed: one statement per case.
    let found = match scope.only() {
        Some(store) => t::table
            .find(id)
            .filter(t::store_id.eq(store))
            .select(Ticket::as_select())
            .for_update()
            .first(conn)
            .optional()?,
        None => t::table.find(id).select(Ticket::as_select()).for_update().first(conn).optional()?,
    };
    found.ok_or_else(ticket_not_found)
}

/// Flags the targets of a locked ticket that fell due by `now` (once each, event
/// `ticket.sla_breached`); returns the ticket as it is now and how many flags were set.
pub fn settle_breaches(conn: &mut PgConnection, ticket: Ticket, now: DateTime<Utc>) -> ApiResult<(Ticket, i64)> {
    let b = rules::new_breaches(
        &BreachInput {
            running: ticket.sla_running_since.is_some(),
            responded: ticket.first_responded_at.is_some(),
            first_response_due: ticket.first_response_due_at,
            resolution_due: ticket.resolution_due_at,
            first_response_breached: ticket.first_response_breached,
            resolution_breached: ticket.resolution_breached,
        },
        now,
    );
    if !b.first_response && !b.resolution {
        return Ok((ticket, 0));
    }
    let updated: Ticket = diesel::update(t::table.find(ticket.id))
        .set((
            t::first_response_breached.eq(ticket.first_response_breached || b.first_response),
            t::resolution_breached.eq(ticket.resolution_breached || b.resolution),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?;
    let mut marked = 0;
    for (hit, which, due) in [
        (b.first_response, "first_response", ticket.first_response_due_at),
        (b.resolution, "resolution", ticket.resolution_due_at),
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
    let ticket = get(conn, scope, id)?;
    let due = rules::new_breaches(
        &BreachInput {
            running: ticket.sla_running_since.is_some(),
            responded: ticket.first_responded_at.is_some(),
            first_response_due: ticket.first_response_due_at,
            resolution_due: ticket.resolution_due_at,
            first_response_breached: ticket.first_response_breached,
            resolution_breached: ticket.resolution_breached,
        },
        now,
    );
    if !due.first_response && !due.resolution {
        return Ok(ticket);
    }
    conn.transaction(|conn| {
        let locked = lock(conn, scope, id)?;
        Ok(settle_breaches(conn, locked, now)?.0)
    })
}

pub struct TicketFilter {
    /// The caller's stores: a store-bound caller lists its own store's tickets only.
    pub scope: StoreScope,
    pub status: Option<TicketStatus>,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub priority: Option<TicketPriority>,
    pub ticket_type: Option<TicketType>,
    pub customer_id: Option<Uuid>,
}

/// By id (creation order), filtered.
pub fn list(conn: &mut PgConnection, f: &TicketFilter, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Ticket>> {
    let mut q = t::table.select(Ticket::as_select()).order(t::id).limit(limit).into_boxed();
    if let Some(v) = f.status {
        q = q.filter(t::status.eq(v));
    }
    if let Some(v) = &f.team {
        q = q.filter(t::team.eq(v));
    }
    if let Some(v) = f.assignee_staff_id {
        q = q.filter(t::assignee_staff_id.eq(v));
    }
    if let Some(v) = f.priority {
        q = q.filter(t::priority.eq(v));
    }
    if let Some(v) = f.ticket_type {
        q = q.filter(t::ticket_type.eq(v));
    }
    if let Some(v) = f.customer_id {
        q = q.filter(t::customer_id.eq(v));
    }
    if let Some(v) = f.scope.only() {
        q = q.filter(t::store_id.eq(v));
    }
    if let Some(a) = after {
        q = q.filter(t::id.gt(a));
    }
    Ok(q.load(conn)?)
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

/// Writes a locked ticket's new status / priority / SLA clock and due times after `now`'s change.
fn retime(
    conn: &mut PgConnection,
    cur: &Ticket,
    status: TicketStatus,
    priority: TicketPriority,
    responded_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: Tz,
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
    conn: &mut PgConnection,
    scope: StoreScope,
    id: Uuid,
    expected: Option<i32>,
    ch: &TicketChanges,
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<Ticket> {
    let cur = lock(conn, scope, id)?;
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
    let updated: Ticket = diesel::update(t::table.find(id))
        .set((
            (
                t::status.eq(status),
                t::priority.eq(priority),
                t::team.eq(&team),
                t::assignee_staff_id.eq(assignee),
                t::sla_elapsed_seconds.eq(clock.elapsed),
                t::sla_running_since.eq(clock.running_since),
                t::first_response_due_at.eq(dues.first_response),
                t::resolution_due_at.eq(dues.resolution),
            ),
            (
                t::resolved_at.eq(resolved_at),
                t::closed_at.eq(closed_at),
                t::version.eq(cur.version + 1),
                t::updated_at.eq(now),
            ),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?;
    let changed = TicketChangedFields {
        status: moved,
        priority: priority != cur.priority,
        team: team != cur.team,
        assignee_staff_id: assignee != cur.assignee_staff_id,
    };
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
            channel: updated.channel.clone(),
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

/// A checked comment: `internal` or `public`, its text, and who writes it (the caller's subject).
pub struct NewComment<'a> {
    pub visibility: TicketCommentVisibility,
    pub body: &'a str,
    pub author: &'a str,
}

/// Adds a comment to a ticket within `scope`. The first public reply sets `first_responded_at` and
/// moves an open ticket to `in_progress`. Comments on a closed ticket are refused (409 `ticket_closed`).
pub fn comment(
    conn: &mut PgConnection,
    scope: StoreScope,
    id: Uuid,
    new: &NewComment<'_>,
    now: DateTime<Utc>,
    tz: Tz,
) -> ApiResult<(Ticket, Comment)> {
    let NewComment { visibility, body, author } = *new;
    let cur = lock(conn, scope, id)?;
    let (cur, _) = settle_breaches(conn, cur, now)?;
    if cur.status == TicketStatus::Closed {
        return Err(ApiError::conflict("ticket_closed", "a closed ticket takes no comments; reopen it first")
            .with("ticket_status", TicketStatus::Closed.as_str()));
    }
    let comment: Comment = diesel::insert_into(cm::table)
        .values((
            cm::id.eq(Uuid::now_v7()),
            cm::ticket_id.eq(id),
            cm::visibility.eq(visibility),
            cm::body.eq(body),
            cm::author.eq(author),
            cm::created_at.eq(now),
        ))
        .returning(Comment::as_returning())
        .get_result(conn)?;
    let mut ticket = cur.clone();
    if visibility == TicketCommentVisibility::Public && cur.first_responded_at.is_none() {
        let status = if cur.status == TicketStatus::Open { TicketStatus::InProgress } else { cur.status };
        let (clock, dues) = retime(conn, &cur, status, cur.priority, Some(now), now, tz)?;
        ticket = diesel::update(t::table.find(id))
            .set((
                t::status.eq(status),
                t::first_responded_at.eq(Some(now)),
                t::sla_elapsed_seconds.eq(clock.elapsed),
                t::sla_running_since.eq(clock.running_since),
                t::first_response_due_at.eq(dues.first_response),
                t::resolution_due_at.eq(dues.resolution),
                t::version.eq(cur.version + 1),
                t::updated_at.eq(now),
            ))
            .returning(Ticket::as_returning())
            .get_result(conn)?;
    }
    // The body stays in `ticket_comments`: the event names the comment, never its words.
    let commented = TicketCommented {
        ticket_id: id,
        comment_id: comment.id,
        visibility: visibility.to_string(),
        author: author.to_string(),
        store_id: ticket.store_id,
    };
    crate::events::emit(conn, ticket.customer_id, EventData::TicketCommented(commented))?;
    Ok((ticket, comment))
}

pub fn comments(conn: &mut PgConnection, ticket_id: Uuid, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Comment>> {
    let mut q = cm::table
        .filter(cm::ticket_id.eq(ticket_id))
        .select(Comment::as_select())
        .order(cm::id)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(cm::id.gt(a));
    }
    Ok(q.load(conn)?)
}

/// Records the customer's verdict once, on a resolved or closed ticket.
pub fn record_satisfaction(
    conn: &mut PgConnection,
    scope: StoreScope,
    id: Uuid,
    score: i32,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> ApiResult<Ticket> {
    let cur = lock(conn, scope, id)?;
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
    let updated: Ticket = diesel::update(t::table.find(id))
        .set((
            t::satisfaction_score.eq(Some(score)),
            t::satisfaction_comment.eq(&comment),
            t::satisfaction_at.eq(Some(now)),
            t::version.eq(cur.version + 1),
            t::updated_at.eq(now),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?;
    let recorded = TicketSatisfactionRecorded { ticket_id: id, score, store_id: updated.store_id };
    crate::events::emit(conn, updated.customer_id, EventData::TicketSatisfactionRecorded(recorded))?;
    Ok(updated)
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

#[derive(QueryableByName)]
pub struct StatsTotals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub tickets: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub breached: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    pub median_first_response_minutes: Option<f64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    pub median_resolution_minutes: Option<f64>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub scores: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub score_sum: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub satisfied: i64,
}

#[derive(QueryableByName)]
pub struct KeyCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub count: i64,
}

/// The tickets of a stats window: created in `[from, to)`, optionally of one team and one store.
const STATS_WHERE: &str =
    "WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2) \
     AND ($3::text IS NULL OR team = $3) AND ($4::uuid IS NULL OR store_id = $4)";

pub struct StatsWindow<'a> {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub team: Option<&'a str>,
    pub store_id: Option<Uuid>,
}

fn stats_query<'a>(
    sql: String,
    w: &StatsWindow<'a>,
) -> diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<Nullable<Timestamptz>, _>(w.from)
        .bind::<Nullable<Timestamptz>, _>(w.to)
        .bind::<Nullable<Text>, _>(w.team.map(str::to_string))
        .bind::<Nullable<SqlUuid>, _>(w.store_id)
}

/// Aggregates in SQL: counts, medians (wall-clock minutes from creation), breaches and scores.
pub fn stats(conn: &mut PgConnection, w: &StatsWindow<'_>) -> ApiResult<(StatsTotals, Vec<KeyCount>, Vec<KeyCount>)> {
    let totals: StatsTotals = stats_query(
        format!(
            "SELECT count(*) AS tickets, \
                 count(*) FILTER (WHERE first_response_breached OR resolution_breached) AS breached, \
                 percentile_cont(0.5) WITHIN GROUP \
                     (ORDER BY (extract(epoch FROM first_responded_at - created_at) / 60)::float8) \
                     AS median_first_response_minutes, \
                 percentile_cont(0.5) WITHIN GROUP \
                     (ORDER BY (extract(epoch FROM resolved_at - created_at) / 60)::float8) \
                     AS median_resolution_minutes, \
                 count(satisfaction_score) AS scores, coalesce(sum(satisfaction_score), 0)::int8 AS score_sum, \
                 count(*) FILTER (WHERE satisfaction_score >= 4) AS satisfied \
             FROM tickets {STATS_WHERE}"
        ),
        w,
    )
    .get_result(conn)?;
    let by_type: Vec<KeyCount> = stats_query(
        format!(
            "SELECT type AS key, count(*) AS count FROM tickets {STATS_WHERE} \
             GROUP BY 1 ORDER BY 2 DESC, type COLLATE \"C\""
        ),
        w,
    )
    .load(conn)?;
    let by_category: Vec<KeyCount> = stats_query(
        format!(
            "SELECT coalesce(category, '(none)') AS key, count(*) AS count FROM tickets {STATS_WHERE} \
             GROUP BY 1 ORDER BY 2 DESC, coalesce(category, '(none)') COLLATE \"C\""
        ),
        w,
    )
    .load(conn)?;
    Ok((totals, by_type, by_category))
}

/// Merge: the source customer's tickets now belong to the target.
pub fn move_to_customer(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    let moved =
        diesel::update(t::table.filter(t::customer_id.eq(source))).set(t::customer_id.eq(target)).execute(conn)?;
    Ok(moved as i64)
}

/// PIPL erasure: on the person's tickets, their words (subject, description, satisfaction comment)
/// and the public replies to them become `[erased]`; internal notes keep their text with every
/// occurrence of `words` (the person's name, phone, email...) replaced. Returns how many tickets.
pub fn erase_customer_words(
    conn: &mut PgConnection,
    customers: &[Uuid],
    words: &[String],
    now: DateTime<Utc>,
) -> ApiResult<i64> {
    use crate::events::ERASED;
    use diesel::dsl::{case_when, sql};
    use diesel::sql_types::{Bool, Text};
    let of_the_person = || t::table.filter(t::customer_id.eq_any(customers)).select(t::id);
    let erased = diesel::update(t::table.filter(t::customer_id.eq_any(customers)))
        .set((
            t::subject.eq(ERASED),
            // A text that was there becomes `[erased]`; none stays none.
            t::description.eq(case_when(t::description.is_not_null(), ERASED.into_sql::<Text>())),
            t::satisfaction_comment.eq(case_when(t::satisfaction_comment.is_not_null(), ERASED.into_sql::<Text>())),
            t::version.eq(t::version + 1),
            t::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(
        cm::table
            .filter(cm::ticket_id.eq_any(of_the_person()))
            .filter(cm::visibility.eq(TicketCommentVisibility::Public)),
    )
    .set(cm::body.eq(ERASED))
    .execute(conn)?;
    for word in words {
        diesel::update(
            cm::table
                .filter(cm::ticket_id.eq_any(of_the_person()))
                .filter(sql::<Bool>("strpos(body, ").bind::<Text, _>(word).sql(") > 0")),
        )
        .set(
            cm::body.eq(sql::<Text>("replace(body, ").bind::<Text, _>(word).sql(", ").bind::<Text, _>(ERASED).sql(")")),
        )
        .execute(conn)?;
    }
    Ok(erased as i64)
}
