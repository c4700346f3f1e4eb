//! Ticket SQL: tickets and their SLA clock, the team rotation, comments, stats, merge (routing
//! rules and SLA policies: `config_store`; the workflows over them: `service`).
//!
//! Round-robin locks the team's cursor row, so concurrent creations for one team take turns.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{Comment, Ticket, TicketCommentVisibility, TicketPriority, TicketStatus, TicketType};
use super::rules::{self, Dues, SlaClock};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::schema::{staff, team_cursors as tc, ticket_comments as cm, tickets as t};
use crate::stores::SalesChannel;

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

/// A checked new ticket: what its opener says.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = t, treat_none_as_default_value = false)]
pub struct NewTicket {
    pub customer_id: Option<Uuid>,
    pub order_id: Option<Uuid>,
    pub ticket_type: TicketType,
    pub category: Option<String>,
    pub channel: Option<SalesChannel>,
    pub priority: TicketPriority,
    pub subject: String,
    pub description: Option<String>,
    pub store_id: Option<Uuid>,
}

/// A new ticket's columns: what its opener says, where routing put it and its SLA clock.
#[derive(Insertable)]
#[diesel(table_name = t, treat_none_as_default_value = false)]
pub struct NewTicketRow {
    pub id: Uuid,
    #[diesel(embed)]
    pub ticket: NewTicket,
    pub status: TicketStatus,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub sla_elapsed_seconds: i64,
    pub sla_running_since: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn insert(conn: &mut PgConnection, row: &NewTicketRow) -> ApiResult<Ticket> {
    // Placed by the customer it is opened for, or by itself when it has none (SPEC §16).
    let owner = row.ticket.customer_id.unwrap_or(row.id);
    Ok(diesel::insert_into(t::table)
        .values((row, t::owner_id.eq(owner)))
        .returning(Ticket::as_returning())
        .get_result(conn)?)
}

/// A ticket within `scope`: another store's ticket is not found, exactly like a missing one.
pub fn get(conn: &mut PgConnection, scope: StoreScope, id: Uuid) -> ApiResult<Ticket> {
    let mut q = t::table.filter(t::id.eq(id)).select(Ticket::as_select()).into_boxed();
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
            .filter(t::id.eq(id))
            .filter(t::store_id.eq(store))
            .select(Ticket::as_select())
            .for_update()
            .first(conn)
            .optional()?,
        None => t::table.filter(t::id.eq(id)).select(Ticket::as_select()).for_update().first(conn).optional()?,
    };
    found.ok_or_else(ticket_not_found)
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

/// What the workflows change on a ticket: its status, routing, SLA clock and milestones. Written
/// whole (`None` is NULL), on the row the caller locked.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = t, treat_none_as_null = true)]
pub struct TicketState {
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub team: Option<String>,
    pub assignee_staff_id: Option<Uuid>,
    pub sla_elapsed_seconds: i64,
    pub sla_running_since: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl TicketState {
    /// The ticket as it is, one version on.
    pub fn next_version(t: &Ticket) -> TicketState {
        TicketState {
            status: t.status,
            priority: t.priority,
            team: t.team.clone(),
            assignee_staff_id: t.assignee_staff_id,
            sla_elapsed_seconds: t.sla_elapsed_seconds,
            sla_running_since: t.sla_running_since,
            first_response_due_at: t.first_response_due_at,
            resolution_due_at: t.resolution_due_at,
            first_responded_at: t.first_responded_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            version: t.version + 1,
        }
    }

    /// With the SLA clock and due times a change left.
    pub fn retimed(self, clock: SlaClock, dues: Dues) -> TicketState {
        TicketState {
            sla_elapsed_seconds: clock.elapsed,
            sla_running_since: clock.running_since,
            first_response_due_at: dues.first_response,
            resolution_due_at: dues.resolution,
            ..self
        }
    }
}

pub fn save(conn: &mut PgConnection, id: Uuid, state: &TicketState, now: DateTime<Utc>) -> ApiResult<Ticket> {
    Ok(diesel::update(t::table.filter(t::id.eq(id)))
        .set((state, t::updated_at.eq(now)))
        .returning(Ticket::as_returning())
        .get_result(conn)?)
}

/// Sets the breach flags (never clears one).
pub fn flag_breaches(
    conn: &mut PgConnection, ticket: &Ticket, first_response: bool, resolution: bool,
) -> ApiResult<Ticket> {
    Ok(diesel::update(t::table.filter(t::id.eq(ticket.id)))
        .set((
            t::first_response_breached.eq(ticket.first_response_breached || first_response),
            t::resolution_breached.eq(ticket.resolution_breached || resolution),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?)
}

pub fn set_satisfaction(
    conn: &mut PgConnection, ticket: &Ticket, score: i32, comment: Option<&str>, now: DateTime<Utc>,
) -> ApiResult<Ticket> {
    Ok(diesel::update(t::table.filter(t::id.eq(ticket.id)))
        .set((
            t::satisfaction_score.eq(Some(score)),
            t::satisfaction_comment.eq(comment),
            t::satisfaction_at.eq(Some(now)),
            t::version.eq(ticket.version + 1),
            t::updated_at.eq(now),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?)
}

// ---------------------------------------------------------------------------------------------
// Comments
// ---------------------------------------------------------------------------------------------

/// A checked comment: `internal` or `public`, its text, and who writes it (the caller's subject).
pub struct NewComment<'a> {
    pub visibility: TicketCommentVisibility,
    pub body: &'a str,
    pub author: &'a str,
}

pub fn insert_comment(
    conn: &mut PgConnection, ticket: &Ticket, new: &NewComment<'_>, now: DateTime<Utc>,
) -> ApiResult<Comment> {
    Ok(diesel::insert_into(cm::table)
        .values((
            cm::id.eq(Uuid::now_v7()),
            cm::ticket_id.eq(ticket.id),
            cm::owner_id.eq(ticket.owner_id),
            cm::visibility.eq(new.visibility),
            cm::body.eq(new.body),
            cm::author.eq(new.author),
            cm::created_at.eq(now),
        ))
        .returning(Comment::as_returning())
        .get_result(conn)?)
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
    sql: String, w: &StatsWindow<'a>,
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
    conn: &mut PgConnection, customers: &[Uuid], words: &[String], now: DateTime<Utc>,
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
