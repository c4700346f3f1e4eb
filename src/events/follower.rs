//! Followers of the outbox: tables derived from what happened (order activity, sales summaries,
//! co-purchase), kept current from the feed instead of inside the change's own transaction (SPEC
//! §13: a row per store per day written by every sale would make a store's tills wait on one lock).
//!
//! Each follower has a cursor (`outbox_followers.last_seq`). It reads one batch of events per
//! transaction with its cursor row locked, so a second instance following at the same moment waits
//! and then goes on from where the first stopped: no event is applied twice or skipped.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Events read per transaction.
const BATCH: i64 = 5000;
/// `work_mem` of a rebuild's transaction.
const REBUILD_WORK_MEM: &str = "256MB";

/// An event as a follower reads it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Followed {
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub subject_id: Option<Uuid>,
    #[diesel(sql_type = Jsonb)]
    pub data: serde_json::Value,
}

impl Followed {
    /// An id the payload carries under `key` (`order_id`, `source_customer_id`).
    pub fn data_id(&self, key: &str) -> Option<Uuid> {
        self.data.get(key)?.as_str()?.parse().ok()
    }
}

#[derive(QueryableByName)]
struct Cursor {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Nullable<BigInt>)]
    last_seq: Option<i64>,
}

/// Hands every event of `types` after follower `name`'s cursor to `apply`, a batch per transaction,
/// until the feed is read. Returns the sum of what `apply` returned.
pub fn follow(
    conn: &mut PgConnection, name: &str, types: &[&str],
    mut apply: impl FnMut(&mut PgConnection, &[Followed]) -> ApiResult<i64>,
) -> ApiResult<i64> {
    let mut total = 0;
    loop {
        if crate::lifecycle::background_should_stop() {
            // The cursor moved with each batch: the next start follows on from there.
            return Ok(total);
        }
        // The sequencer stamps a bounded number of events per call: stamp before every batch, so
        // a backlog larger than one call is followed to its end.
        crate::events::sequence_pending(conn)?;
        let done = conn.transaction(|conn| {
            let cursor = diesel::sql_query("SELECT last_seq FROM outbox_followers WHERE name = $1 FOR UPDATE")
                .bind::<Text, _>(name)
                .get_result::<Cursor>(conn)?
                .last_seq;
            let horizon = diesel::sql_query(
                "SELECT max(seq) AS last_seq FROM (SELECT seq FROM events WHERE seq > $1 ORDER BY seq LIMIT $2) batch",
            )
            .bind::<BigInt, _>(cursor)
            .bind::<BigInt, _>(BATCH)
            .get_result::<Horizon>(conn)?
            .last_seq;
            let Some(last_seq) = horizon else {
                return Ok::<_, ApiError>(true);
            };
            let events: Vec<Followed> = diesel::sql_query(
                "SELECT type AS event_type, subject_id, data FROM events
                 WHERE seq > $1 AND seq <= $2 AND type = ANY($3) ORDER BY seq",
            )
            .bind::<BigInt, _>(cursor)
            .bind::<BigInt, _>(last_seq)
            .bind::<Array<Text>, _>(types)
            .load(conn)?;
            if !events.is_empty() {
                total += apply(conn, &events)?;
            }
            diesel::sql_query("UPDATE outbox_followers SET last_seq = $2 WHERE name = $1")
                .bind::<Text, _>(name)
                .bind::<BigInt, _>(last_seq)
                .execute(conn)?;
            Ok(false)
        })?;
        if done {
            return Ok(total);
        }
    }
}

/// Recomputes follower `name`'s tables from scratch with `recompute`, in one transaction, and moves
/// its cursor to the end of the feed: after orders were loaded without events (COPY, a restore), or
/// to check a suspicion. The cursor is placed before the tables are read, so every event at or
/// before it belongs to a transaction the recomputation sees; later ones are followed afterwards
/// (a follower recomputes what an event names whole, so following one twice changes nothing).
/// The follower's own sweeps wait for the rebuild.
pub fn rebuild(
    conn: &mut PgConnection, name: &str, recompute: impl FnOnce(&mut PgConnection) -> ApiResult<()>,
) -> ApiResult<()> {
    conn.transaction(|conn| {
        // One pass sorts and groups every order: memory instead of temporary files.
        diesel::sql_query(format!("SET LOCAL work_mem = '{REBUILD_WORK_MEM}'")).execute(conn)?;
        diesel::sql_query("SELECT last_seq FROM outbox_followers WHERE name = $1 FOR UPDATE")
            .bind::<Text, _>(name)
            .get_result::<Cursor>(conn)?;
        diesel::sql_query(
            "UPDATE outbox_followers SET last_seq = (SELECT last_seq FROM event_sequencer) WHERE name = $1",
        )
        .bind::<Text, _>(name)
        .execute(conn)?;
        recompute(conn)
    })
}

/// The distinct ids `pick` finds in `events`, in first-seen order.
pub fn ids(events: &[Followed], pick: impl Fn(&Followed) -> Vec<Option<Uuid>>) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::new();
    events.iter().flat_map(pick).flatten().filter(|id| seen.insert(*id)).collect()
}

/// Where each follower of `outbox_followers` stands: `(name, last_seq)`.
pub fn cursors(conn: &mut PgConnection) -> ApiResult<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Follower {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = BigInt)]
        last_seq: i64,
    }
    let followers: Vec<Follower> =
        diesel::sql_query("SELECT name, last_seq FROM outbox_followers ORDER BY name").load(conn)?;
    Ok(followers.into_iter().map(|f| (f.name, f.last_seq)).collect())
}

/// For each `(follower, cursor)`: how old, at `now`, the oldest event it has not taken is, in
/// seconds (0 when it is current). An event the sequencer has not stamped yet counts as not taken
/// by anyone. Two index look-ups per follower, whatever the size of the feed.
pub fn lags(
    conn: &mut PgConnection, followers: &[(String, i64)], now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<Vec<(String, f64)>> {
    #[derive(QueryableByName)]
    struct Lag {
        #[diesel(sql_type = Text)]
        follower: String,
        #[diesel(sql_type = diesel::sql_types::Double)]
        seconds: f64,
    }
    let (names, seqs): (Vec<&str>, Vec<i64>) = followers.iter().map(|(n, s)| (n.as_str(), *s)).unzip();
    let lags: Vec<Lag> = diesel::sql_query(
        "WITH params AS (SELECT $1::text[] AS names, $2::bigint[] AS cursors, $3::timestamptz AS now),
         given AS (SELECT g.follower, g.last_seq FROM params, unnest(params.names, params.cursors) AS g(follower, last_seq)),
         unstamped AS (SELECT (SELECT occurred_at FROM events WHERE seq IS NULL ORDER BY id LIMIT 1) AS at)
         SELECT given.follower,
                greatest(0, coalesce(extract(epoch FROM params.now - least(
                    (SELECT e.occurred_at FROM events e WHERE e.seq > given.last_seq ORDER BY e.seq LIMIT 1),
                    unstamped.at)), 0))::float8 AS seconds
         FROM given, unstamped, params
         ORDER BY given.follower",
    )
    .bind::<Array<Text>, _>(names)
    .bind::<Array<BigInt>, _>(seqs)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .load(conn)?;
    Ok(lags.into_iter().map(|l| (l.follower, l.seconds)).collect())
}
