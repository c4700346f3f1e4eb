//! Deliveries: made from the feed, claimed under a lease, recorded attempt by attempt, replayed and retried.

use chrono::{DateTime, Duration, Utc};
use const_format::formatcp;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::Value;
use uuid::Uuid;

use super::{get, lock, Attempt, Delivery, DeliveryStatus, Subscription};
use crate::db::CachedSql;
use crate::error::{ApiError, ApiResult};
use crate::schema::{webhook_attempts as wa, webhook_deliveries as wd, webhook_subscriptions as ws};

/// The words the statements below spell in their text, as the partial indexes' predicates
/// (`webhook_deliveries_due`, `…_sending`) do, so that every plan of them can use those indexes.
const PENDING: &str = DeliveryStatus::Pending.as_str();
const SENDING: &str = DeliveryStatus::Sending.as_str();
const FAILED: &str = DeliveryStatus::Failed.as_str();
const SUCCEEDED: &str = DeliveryStatus::Succeeded.as_str();

/// Largest number of events one dispatch looks at per subscription.
const DISPATCH_BATCH: i64 = 5000;

/// Turns the events each active subscription has not looked at yet into deliveries, and moves its
/// cursor past them. Each subscription's row is locked while it is done (SKIP LOCKED: another
/// instance doing the same takes the others). Returns the deliveries created.
pub fn dispatch(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<i64> {
    crate::events::sequence_pending(conn)?;
    let ids: Vec<Uuid> = ws::table.filter(ws::active.eq(true)).select(ws::id).load(conn)?;
    let mut created = 0;
    for id in ids {
        created += conn.transaction(|conn| {
            #[derive(QueryableByName)]
            struct Moved {
                #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
                last_seq: Option<i64>,
                #[diesel(sql_type = BigInt)]
                created: i64,
            }
            let moved: Option<Moved> = CachedSql::new(
                "WITH sub AS (
                     SELECT id, cursor_seq, event_types FROM webhook_subscriptions
                     WHERE id = ? AND active FOR UPDATE SKIP LOCKED),
                 batch AS (
                     SELECT e.id, e.seq, e.type FROM events e, sub
                     WHERE e.seq > sub.cursor_seq ORDER BY e.seq LIMIT ?),
                 made AS (
                     INSERT INTO webhook_deliveries
                         (id, subscription_id, event_id, event_seq, event_type, next_attempt_at, created_at, updated_at)
                     SELECT uuid_v7(), sub.id, b.id, b.seq, b.type, ?, ?, ?
                     FROM batch b, sub WHERE b.type = ANY (sub.event_types)
                     ON CONFLICT (subscription_id, event_id) DO NOTHING
                     RETURNING 1),
                 moved AS (
                     UPDATE webhook_subscriptions s SET cursor_seq = (SELECT max(seq) FROM batch)
                     FROM sub WHERE s.id = sub.id AND EXISTS (SELECT 1 FROM batch)
                     RETURNING s.cursor_seq)
                 SELECT (SELECT cursor_seq FROM moved) AS last_seq, (SELECT count(*) FROM made) AS created",
            )
            .bind::<SqlUuid, _>(id)
            .bind::<BigInt, _>(DISPATCH_BATCH)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(now)
            .get_result(conn)
            .optional()?;
            Ok::<_, ApiError>(moved.map_or(0, |m| if m.last_seq.is_some() { m.created } else { 0 }))
        })?;
    }
    Ok(created)
}

/// A `sending` delivery whose lease ran out was claimed by an instance that died mid-attempt:
/// it is pending again.
pub fn release_expired_leases(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<usize> {
    Ok(diesel::update(wd::table.filter(wd::status.eq(DeliveryStatus::Sending)).filter(wd::lease_until.lt(now)))
        .set((
            wd::status.eq(DeliveryStatus::Pending),
            wd::lease_until.eq(None::<DateTime<Utc>>),
            wd::updated_at.eq(now),
        ))
        .execute(conn)?)
}

/// A claimed delivery with what its attempt needs: the event as the receiver gets it and the
/// subscription's URL and secrets.
pub struct Claimed {
    pub delivery: Delivery,
    pub url: String,
    pub secrets: Vec<String>,
    pub body: Value,
}

/// Claims due deliveries, at most `per_subscription` in flight for any subscription (across all
/// instances) and `max` in all. Subscription rows are locked SKIP LOCKED while their deliveries are
/// counted and claimed, so two instances never claim the same delivery or overshoot a bound.
pub fn claim(
    conn: &mut PgConnection, now: DateTime<Utc>, lease: Duration, per_subscription: i64, max: i64,
) -> ApiResult<Vec<Claimed>> {
    conn.transaction(|conn| {
        const CLAIM: &str = formatcp!(
            "WITH subs AS (
                 SELECT s.id FROM webhook_subscriptions s
                 WHERE s.active AND EXISTS (
                     SELECT 1 FROM webhook_deliveries d
                     WHERE d.subscription_id = s.id AND d.status = '{PENDING}' AND d.next_attempt_at <= ?)
                 ORDER BY s.id FOR UPDATE OF s SKIP LOCKED),
             picked AS MATERIALIZED (
                 SELECT d.id FROM subs
                 CROSS JOIN LATERAL (
                     SELECT id FROM webhook_deliveries d
                     WHERE d.subscription_id = subs.id AND d.status = '{PENDING}' AND d.next_attempt_at <= ?
                     ORDER BY d.next_attempt_at
                     LIMIT greatest(? - (SELECT count(*) FROM webhook_deliveries f
                                          WHERE f.subscription_id = subs.id AND f.status = '{SENDING}'), 0)) d
                 LIMIT ?)
             UPDATE webhook_deliveries d SET status = '{SENDING}', lease_until = ?, updated_at = ?
             WHERE d.id IN (SELECT id FROM picked)
             RETURNING d.*"
        );
        let claimed: Vec<Delivery> = CachedSql::new(CLAIM)
            .bind::<Timestamptz, _>(now)
            .bind::<Timestamptz, _>(now)
            .bind::<BigInt, _>(per_subscription)
            .bind::<BigInt, _>(max)
            .bind::<Timestamptz, _>(now + lease)
            .bind::<Timestamptz, _>(now)
            .load(conn)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let subscription_ids: Vec<Uuid> = claimed.iter().map(|d| d.subscription_id).collect();
        let subscriptions: Vec<Subscription> =
            ws::table.filter(ws::id.eq_any(&subscription_ids)).select(Subscription::as_select()).load(conn)?;
        let event_ids: Vec<Uuid> = claimed.iter().map(|d| d.event_id).collect();
        let bodies: Vec<(Uuid, Value)> = crate::events::as_bodies(conn, &event_ids)?;
        let mut out = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            let Some(sub) = subscriptions.iter().find(|s| s.id == delivery.subscription_id) else { continue };
            // An event is never deleted; a missing one would be a broken database, not a retry.
            let Some((_, body)) = bodies.iter().find(|(id, _)| *id == delivery.event_id) else { continue };
            out.push(Claimed {
                url: sub.url.clone(),
                secrets: sub.signing_secrets(now).into_iter().map(str::to_string).collect(),
                body: body.clone(),
                delivery,
            });
        }
        Ok(out)
    })
}

/// What one attempt came to.
pub struct AttemptResult {
    pub delivery_id: Uuid,
    pub attempted_at: DateTime<Utc>,
    pub response_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub verdict: crate::webhooks::rules::Verdict,
    /// A draw in [0, 1) for the retry's jitter.
    pub jitter: f64,
}

/// Records an attempt and moves the delivery (and, on a 410 or after 5 days of failures, its
/// subscription) on. Only a delivery still `sending` is moved: a delivery whose lease ran out and was
/// claimed again is the other attempt's to finish.
pub fn record(conn: &mut PgConnection, result: &AttemptResult, now: DateTime<Utc>) -> ApiResult<Recorded> {
    use crate::webhooks::rules::{failing_too_long, next_retry, Verdict, RETRY_OFFSETS_SECONDS};
    if result.verdict == Verdict::Delivered {
        return record_delivered(conn, result, now).map(|()| Recorded::Delivered);
    }
    conn.transaction(|conn| {
        let Some(delivery) = wd::table
            .find(result.delivery_id)
            .filter(wd::status.eq(DeliveryStatus::Sending))
            .select(Delivery::as_select())
            .for_update()
            .first(conn)
            .optional()?
        else {
            return Ok(Recorded::NotSending);
        };
        // This attempt's failure counts too: the first failure is 1.
        let failures = failures_since_first(conn, &delivery) + 1;
        let attempts = delivery.attempts + 1;
        let first_failed = delivery.first_failed_at.unwrap_or(result.attempted_at);
        diesel::insert_into(wa::table)
            .values((
                wa::id.eq(Uuid::now_v7()),
                wa::delivery_id.eq(delivery.id),
                wa::attempted_at.eq(result.attempted_at),
                wa::succeeded.eq(result.verdict == Verdict::Delivered),
                wa::response_code.eq(result.response_code),
                wa::duration_ms.eq(result.duration_ms),
                wa::error.eq(&result.error),
            ))
            .execute(conn)?;
        let (status, next_at, first_failed_at) = match result.verdict {
            Verdict::Delivered => (DeliveryStatus::Succeeded, delivery.next_attempt_at, delivery.first_failed_at),
            Verdict::Gone => (DeliveryStatus::Failed, delivery.next_attempt_at, Some(first_failed)),
            Verdict::RetryAfter(seconds) if failures <= RETRY_OFFSETS_SECONDS.len() => {
                (DeliveryStatus::Pending, now + Duration::seconds(seconds), Some(first_failed))
            }
            Verdict::RetryAfter(_) | Verdict::Failed => match next_retry(first_failed, failures, result.jitter) {
                Some(at) => (DeliveryStatus::Pending, at, Some(first_failed)),
                None => (DeliveryStatus::Failed, delivery.next_attempt_at, Some(first_failed)),
            },
        };
        diesel::update(wd::table.find(delivery.id))
            .set((
                wd::status.eq(status),
                wd::attempts.eq(attempts),
                wd::next_attempt_at.eq(next_at),
                wd::first_failed_at.eq(first_failed_at),
                wd::lease_until.eq(None::<DateTime<Utc>>),
                wd::last_response_code.eq(result.response_code),
                wd::last_error.eq(&result.error),
                wd::updated_at.eq(now),
            ))
            .execute(conn)?;
        let sub = lock(conn, delivery.subscription_id)?;
        match result.verdict {
            Verdict::Delivered => {
                if sub.failing_since.is_some() {
                    diesel::update(ws::table.find(sub.id))
                        .set(ws::failing_since.eq(None::<DateTime<Utc>>))
                        .execute(conn)?;
                }
            }
            Verdict::Gone => disable(conn, &sub, "gone", now)?,
            Verdict::RetryAfter(_) | Verdict::Failed => {
                let since = sub.failing_since.unwrap_or(result.attempted_at);
                if sub.active && failing_too_long(since, now) {
                    disable(conn, &sub, "failing", now)?;
                } else if sub.failing_since.is_none() {
                    diesel::update(ws::table.find(sub.id)).set(ws::failing_since.eq(Some(since))).execute(conn)?;
                }
            }
        }
        Ok(if status == DeliveryStatus::Failed { Recorded::GivenUp } else { Recorded::Retrying })
    })
}

/// What recording an attempt made of its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    /// Failed, and due again later.
    Retrying,
    /// Failed for good: no retry is left, or the receiver is gone.
    GivenUp,
    /// The delivery was no longer being sent (its lease ran out and another attempt took it).
    NotSending,
}

/// Deliveries neither delivered nor given up, by state: what the receivers still have coming.
/// Counted over the partial indexes of each state.
pub fn backlog(conn: &mut PgConnection) -> ApiResult<Vec<(DeliveryStatus, i64)>> {
    [DeliveryStatus::Pending, DeliveryStatus::Sending]
        .into_iter()
        .map(|status| Ok((status, wd::table.filter(wd::status.eq(status)).count().get_result(conn)?)))
        .collect()
}

/// The feed position the dispatcher still has to go on from: the least cursor of the active
/// subscriptions (`None`: there is none, nothing follows the feed for webhooks).
pub fn dispatch_cursor(conn: &mut PgConnection) -> ApiResult<Option<i64>> {
    Ok(ws::table.filter(ws::active.eq(true)).select(diesel::dsl::min(ws::cursor_seq)).first(conn)?)
}

/// A delivered attempt, the common case, in one statement: the attempt logged, the delivery
/// succeeded, and its subscription's failing streak ended — that row is touched (and locked) only
/// when it has a streak to end, so a subscription's attempts in flight do not queue on it.
fn record_delivered(conn: &mut PgConnection, result: &AttemptResult, now: DateTime<Utc>) -> ApiResult<()> {
    const RECORD_DELIVERED: &str = formatcp!(
        "WITH p AS (SELECT CAST(? AS uuid) AS delivery_id, CAST(? AS timestamptz) AS attempted_at,
                           CAST(? AS int4) AS response_code, CAST(? AS int4) AS duration_ms,
                           CAST(? AS timestamptz) AS now, CAST(? AS uuid) AS attempt_id),
              delivered AS (
                  UPDATE webhook_deliveries d
                  SET status = '{SUCCEEDED}', attempts = d.attempts + 1, lease_until = NULL,
                      last_response_code = p.response_code, last_error = NULL, updated_at = p.now
                  FROM p WHERE d.id = p.delivery_id AND d.status = '{SENDING}'
                  RETURNING d.id, d.subscription_id),
              logged AS (
                  INSERT INTO webhook_attempts (id, delivery_id, attempted_at, succeeded, response_code, duration_ms)
                  SELECT p.attempt_id, delivered.id, p.attempted_at, true, p.response_code, p.duration_ms
                  FROM p, delivered)
         UPDATE webhook_subscriptions s SET failing_since = NULL
         FROM delivered WHERE s.id = delivered.subscription_id AND s.failing_since IS NOT NULL"
    );
    CachedSql::new(RECORD_DELIVERED)
        .param::<SqlUuid, _>("delivery_id", result.delivery_id)
        .param::<Timestamptz, _>("attempted_at", result.attempted_at)
        .param::<diesel::sql_types::Nullable<diesel::sql_types::Integer>, _>("response_code", result.response_code)
        .param::<diesel::sql_types::Integer, _>("duration_ms", result.duration_ms)
        .param::<Timestamptz, _>("now", now)
        .param::<SqlUuid, _>("attempt_id", Uuid::now_v7())
        .execute(conn)?;
    Ok(())
}

/// Failed attempts of a delivery since its first failure (a manual retry or a replay starts a new count).
fn failures_since_first(conn: &mut PgConnection, delivery: &Delivery) -> usize {
    let Some(first) = delivery.first_failed_at else { return 0 };
    wa::table
        .filter(wa::delivery_id.eq(delivery.id))
        .filter(wa::succeeded.eq(false))
        .filter(wa::attempted_at.ge(first))
        .count()
        .get_result::<i64>(conn)
        .map_or(0, |n| n as usize)
}

fn disable(conn: &mut PgConnection, sub: &Subscription, reason: &str, now: DateTime<Utc>) -> ApiResult<()> {
    if !sub.active {
        return Ok(());
    }
    diesel::update(ws::table.find(sub.id))
        .set((
            ws::active.eq(false),
            ws::disabled_reason.eq(reason),
            ws::disabled_at.eq(now),
            ws::version.eq(sub.version + 1),
            ws::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sends again what a subscription missed between `from` and `to` (by when the events happened):
/// every event of its types gets a delivery due now, a new one or its old one (pending or failed)
/// started over; delivered ones and ones being sent are left alone. Each is marked `replayed`, and
/// while any is pending or being sent the next replay is refused: one replay at a time, so replays
/// cannot pile the same events onto a receiver. Returns the deliveries queued.
pub fn replay(
    conn: &mut PgConnection, id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>, now: DateTime<Utc>,
) -> ApiResult<i64> {
    let sub = lock(conn, id)?;
    if !sub.active {
        return Err(ApiError::conflict(
            "webhook_subscription_inactive",
            "the subscription is not active: turn it on (PATCH active: true), then replay",
        ));
    }
    #[derive(QueryableByName)]
    struct InFlight {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        pending: bool,
    }
    const IN_FLIGHT: &str = formatcp!(
        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
                        WHERE subscription_id = ? AND replayed AND status IN ('{PENDING}', '{SENDING}')) AS pending"
    );
    let in_flight: InFlight = CachedSql::new(IN_FLIGHT).bind::<SqlUuid, _>(id).get_result(conn)?;
    if in_flight.pending {
        return Err(ApiError::conflict(
            "webhook_replay_pending",
            "the previous replay of this subscription is still being delivered: replay again once it is done",
        ));
    }
    crate::events::sequence_pending(conn)?;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    const REPLAY: &str = formatcp!(
        "WITH replayed AS (
             INSERT INTO webhook_deliveries
                 (id, subscription_id, event_id, event_seq, event_type, next_attempt_at, created_at, updated_at,
                  replayed)
             SELECT uuid_v7(), $1, e.id, e.seq, e.type, $4, $4, $4, true FROM events e
             WHERE e.occurred_at >= $2 AND e.occurred_at < $3 AND e.seq IS NOT NULL AND e.seq <= $6
               AND e.type = ANY ($5)
             ON CONFLICT (subscription_id, event_id) DO UPDATE
                 SET status = '{PENDING}', next_attempt_at = $4, first_failed_at = NULL, lease_until = NULL,
                     updated_at = $4, replayed = true
                 WHERE webhook_deliveries.status IN ('{PENDING}', '{FAILED}')
             RETURNING 1)
         SELECT count(*) AS n FROM replayed"
    );
    let count: Count = diesel::sql_query(REPLAY)
        .bind::<SqlUuid, _>(id)
        .bind::<Timestamptz, _>(from)
        .bind::<Timestamptz, _>(to)
        .bind::<Timestamptz, _>(now)
        .bind::<Array<Text>, _>(&sub.event_types)
        .bind::<BigInt, _>(sub.cursor_seq)
        .get_result(conn)?;
    Ok(count.n)
}

pub fn deliveries(
    conn: &mut PgConnection, subscription: Uuid, status: Option<DeliveryStatus>, after: Option<Uuid>, limit: i64,
) -> ApiResult<Vec<(Delivery, Vec<Attempt>)>> {
    get(conn, subscription)?;
    let mut q = wd::table
        .filter(wd::subscription_id.eq(subscription))
        .select(Delivery::as_select())
        .order(wd::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(wd::status.eq(status));
    }
    if let Some(after) = after {
        q = q.filter(wd::id.lt(after));
    }
    let rows: Vec<Delivery> = q.load(conn)?;
    let ids: Vec<Uuid> = rows.iter().map(|d| d.id).collect();
    let attempts: Vec<Attempt> = wa::table
        .filter(wa::delivery_id.eq_any(&ids))
        .select(Attempt::as_select())
        .order((wa::attempted_at, wa::id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|d| {
            let mine = attempts.iter().filter(|a| a.delivery_id == d.id).cloned().collect();
            (d, mine)
        })
        .collect())
}

/// A manual retry: due now, with a fresh retry schedule. One that is being sent is left alone.
pub fn retry(
    conn: &mut PgConnection, subscription: Uuid, delivery: Uuid, now: DateTime<Utc>,
) -> ApiResult<(Delivery, Vec<Attempt>)> {
    get(conn, subscription)?;
    let current = wd::table
        .find(delivery)
        .filter(wd::subscription_id.eq(subscription))
        .select(Delivery::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("webhook_delivery_not_found", "no such delivery for this subscription"))?;
    if current.status == DeliveryStatus::Sending {
        return Err(ApiError::conflict("webhook_delivery_in_flight", "this delivery is being sent right now"));
    }
    let retried = diesel::update(wd::table.find(delivery))
        .set((
            wd::status.eq(DeliveryStatus::Pending),
            wd::next_attempt_at.eq(now),
            wd::first_failed_at.eq(None::<DateTime<Utc>>),
            wd::updated_at.eq(now),
        ))
        .returning(Delivery::as_returning())
        .get_result(conn)?;
    let attempts = wa::table
        .filter(wa::delivery_id.eq(delivery))
        .select(Attempt::as_select())
        .order((wa::attempted_at, wa::id))
        .load(conn)?;
    Ok((retried, attempts))
}
