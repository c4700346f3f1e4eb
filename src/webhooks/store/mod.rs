//! Webhook subscriptions, deliveries and attempts in PostgreSQL: the subscriptions here, the
//! deliveries and their attempts in `deliveries`.

mod deliveries;

pub use deliveries::*;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use uuid::Uuid;

use crate::db::CachedSql;
use crate::error::{ApiError, ApiResult};
use crate::schema::webhook_subscriptions as ws;

pub use super::model::{Attempt, Delivery, DeliveryStatus, Subscription};

fn not_found() -> ApiError {
    ApiError::not_found("webhook_subscription_not_found", "no webhook subscription with this id")
}

/// The feed's horizon: a new subscription starts there (replay reaches further back).
pub fn horizon(conn: &mut PgConnection) -> ApiResult<i64> {
    crate::events::sequence_pending(conn)?;
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = BigInt)]
        last_seq: i64,
    }
    let last: Last = diesel::sql_query("SELECT last_seq FROM event_sequencer").get_result(conn)?;
    Ok(last.last_seq)
}

pub struct NewSubscription {
    pub url: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub description: Option<String>,
    pub secret: String,
    /// The creating principal's `sub`, whose subscriptions are capped.
    pub created_by: String,
}

/// Namespace of the advisory lock on one principal's subscriptions while a create counts them.
const CREATOR_LOCK: i32 = 20261207;

/// Creates a subscription unless its creator already has `max`. The count is taken under a lock on
/// the creator's `sub`, so two creates at once cannot both take the last place.
pub fn insert(conn: &mut PgConnection, new: &NewSubscription, max: i64, now: DateTime<Utc>) -> ApiResult<Subscription> {
    CachedSql::new("SELECT pg_advisory_xact_lock(?, hashtext(?))")
        .bind::<diesel::sql_types::Integer, _>(CREATOR_LOCK)
        .bind::<Text, _>(&new.created_by)
        .execute(conn)?;
    let held: i64 = ws::table.filter(ws::created_by.eq(&new.created_by)).count().get_result(conn)?;
    if held >= max {
        return Err(ApiError::conflict(
            "webhook_subscription_limit",
            format!("this principal already has {held} webhook subscriptions, the most it may have: delete one first"),
        )
        .with("limit", max));
    }
    let cursor = horizon(conn)?;
    Ok(diesel::insert_into(ws::table)
        .values((
            ws::id.eq(Uuid::now_v7()),
            ws::url.eq(&new.url),
            ws::event_types.eq(&new.event_types),
            ws::active.eq(new.active),
            ws::description.eq(&new.description),
            ws::secret.eq(&new.secret),
            ws::created_by.eq(&new.created_by),
            ws::cursor_seq.eq(cursor),
            ws::created_at.eq(now),
            ws::updated_at.eq(now),
        ))
        .returning(Subscription::as_returning())
        .get_result(conn)?)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Subscription> {
    ws::table.find(id).select(Subscription::as_select()).first(conn).optional()?.ok_or_else(not_found)
}

fn lock(conn: &mut PgConnection, id: Uuid) -> ApiResult<Subscription> {
    ws::table.find(id).select(Subscription::as_select()).for_update().first(conn).optional()?.ok_or_else(not_found)
}

pub fn list(conn: &mut PgConnection, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Subscription>> {
    let mut q = ws::table.select(Subscription::as_select()).order(ws::id).limit(limit).into_boxed();
    if let Some(after) = after {
        q = q.filter(ws::id.gt(after));
    }
    Ok(q.load(conn)?)
}

#[derive(Default)]
pub struct Changes {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub active: Option<bool>,
    pub description: Option<Option<String>>,
}

/// Applies `changes` at the version the caller read. Turning a subscription back on clears why it
/// was disabled and starts it at the feed's horizon: what it missed is for a replay to send.
pub fn update(
    conn: &mut PgConnection, id: Uuid, expected: Option<i32>, changes: &Changes, now: DateTime<Utc>,
) -> ApiResult<Subscription> {
    let current = lock(conn, id)?;
    crate::http::check_version(expected, current.version)?;
    let mut next = current.clone();
    if let Some(url) = &changes.url {
        next.url = url.clone();
    }
    if let Some(types) = &changes.event_types {
        next.event_types = types.clone();
    }
    if let Some(description) = &changes.description {
        next.description = description.clone();
    }
    if let Some(active) = changes.active {
        if active && !current.active {
            next.disabled_reason = None;
            next.disabled_at = None;
            next.failing_since = None;
            next.cursor_seq = horizon(conn)?;
        }
        next.active = active;
    }
    Ok(diesel::update(ws::table.find(id))
        .set((
            ws::url.eq(&next.url),
            ws::event_types.eq(&next.event_types),
            ws::description.eq(&next.description),
            ws::active.eq(next.active),
            ws::disabled_reason.eq(&next.disabled_reason),
            ws::disabled_at.eq(next.disabled_at),
            ws::failing_since.eq(next.failing_since),
            ws::cursor_seq.eq(next.cursor_seq),
            ws::version.eq(current.version + 1),
            ws::updated_at.eq(now),
        ))
        .returning(Subscription::as_returning())
        .get_result(conn)?)
}

pub fn delete(conn: &mut PgConnection, id: Uuid) -> ApiResult<()> {
    match diesel::delete(ws::table.find(id)).execute(conn)? {
        0 => Err(not_found()),
        _ => Ok(()),
    }
}

/// A new secret; the old one keeps signing until `overlap_until`.
pub fn rotate_secret(
    conn: &mut PgConnection, id: Uuid, secret: &str, overlap_until: DateTime<Utc>, now: DateTime<Utc>,
) -> ApiResult<Subscription> {
    let current = lock(conn, id)?;
    Ok(diesel::update(ws::table.find(id))
        .set((
            ws::secret.eq(secret),
            ws::previous_secret.eq(Some(&current.secret)),
            ws::previous_secret_until.eq(Some(overlap_until)),
            ws::version.eq(current.version + 1),
            ws::updated_at.eq(now),
        ))
        .returning(Subscription::as_returning())
        .get_result(conn)?)
}
