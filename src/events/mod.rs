//! The transactional outbox: `emit` inside the caller's transaction, a pull feed in commit order.
//!
//! Ids allocated by concurrent transactions can commit out of order, so the feed is not ordered by
//! id. Instead a single sequencer (a row lock on `event_sequencer`) stamps `seq` on events that
//! have committed; sequencer runs are serialized, so a reader sees sequence numbers without gaps
//! and never skips an event that becomes visible later.

pub mod api;
pub mod contract;
pub mod follower;
pub mod types;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::schema::events;

pub use types::{EventData, EVENT_TYPES};

/// An event's `occurred_at`, as SQL: the time `happened_at` gave the transaction, else the
/// transaction's own.
macro_rules! event_time_sql {
    () => {
        "coalesce(nullif(current_setting('retail_crm.occurred_at', true), '')::timestamptz, now())"
    };
}
pub(crate) use event_time_sql;

/// Says when the changes the transaction writes next happened, when that is not now: a replayed
/// history (`seed-demo`) writes each step at its own time, so its events — the feed, webhooks and
/// the customer's timeline — say when it happened rather than when it was loaded. It holds until
/// the next call or the transaction's end; without it (every API request) events take the
/// transaction's time.
pub fn happened_at(conn: &mut PgConnection, at: DateTime<Utc>) -> ApiResult<()> {
    crate::db::CachedSql::new("SELECT set_config('retail_crm.occurred_at', ?, true)")
        .bind::<Text, _>(at.to_rfc3339())
        .execute(conn)?;
    Ok(())
}

/// Writes an event in the caller's transaction; it becomes visible exactly when the change does.
pub fn emit(conn: &mut PgConnection, subject_id: Option<Uuid>, event: EventData) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    diesel::insert_into(events::table)
        .values((
            events::id.eq(id),
            events::event_type.eq(event.event_type()),
            events::occurred_at
                .eq(diesel::dsl::sql::<diesel::sql_types::Timestamptz>(crate::events::event_time_sql!())),
            events::subject_id.eq(subject_id),
            events::data.eq(event.to_data()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// An event to write, about `subject`.
pub type Pending = (Option<Uuid>, EventData);

/// Writes several events in one statement (a sale's order, earning and redemption events; a
/// campaign batch's messages). `unnest` of four arrays: four parameters and one statement, prepared
/// once per connection, for any number of rows, where a multi-row `VALUES` binds four per row and is
/// parsed and planned afresh on every call.
pub fn emit_many(conn: &mut PgConnection, batch: &[Pending]) -> ApiResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (ids, types, subjects, data) = as_columns(batch);
    crate::db::CachedSql::new(concat!(
        "INSERT INTO events (id, type, occurred_at, subject_id, data) SELECT id, type, ",
        crate::events::event_time_sql!(),
        ", subject_id, data FROM unnest(?::uuid[], ?::text[], ?::uuid[], ?::jsonb[]) AS e(id, type, subject_id, data)",
    ))
    .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
    .bind::<Array<Text>, _>(&types)
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(&subjects)
    .bind::<Array<Jsonb>, _>(&data)
    .execute(conn)?;
    Ok(())
}

/// A batch as the columns of `events` (`id`, `type`, `subject_id`, `data`), for a statement that
/// writes its events together with the rows they describe (`unnest` of these four arrays).
pub type EventColumns = (Vec<Uuid>, Vec<&'static str>, Vec<Option<Uuid>>, Vec<Value>);

pub fn as_columns(batch: &[Pending]) -> EventColumns {
    let mut columns: EventColumns = Default::default();
    for (subject, event) in batch {
        columns.0.push(Uuid::now_v7());
        columns.1.push(event.event_type());
        columns.2.push(*subject);
        columns.3.push(event.to_data());
    }
    columns
}

#[derive(Debug, Queryable, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "seq": 42, "type": "customer.created",
    "occurred_at": "2026-11-23T08:00:00Z", "subject_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f",
    "data": {"source_channel": "pos", "home_store_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d60"}
}))]
pub struct Event {
    pub id: Uuid,
    /// Position in the feed; pass the last one seen as `after`.
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub subject_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// An event's columns as the feed (and a webhook) shows it; only sequenced events have a `seq`.
#[allow(clippy::type_complexity)]
fn feed_columns() -> (
    events::id,
    diesel::dsl::AssumeNotNull<events::seq>,
    events::event_type,
    events::occurred_at,
    events::subject_id,
    events::data,
) {
    (
        events::id,
        events::seq.assume_not_null(),
        events::event_type,
        events::occurred_at,
        events::subject_id,
        events::data,
    )
}

/// Stamps sequence numbers on committed, unsequenced events, in one short transaction.
pub fn sequence_pending(conn: &mut PgConnection) -> ApiResult<usize> {
    conn.transaction(|conn| {
        #[derive(QueryableByName)]
        struct Last {
            #[diesel(sql_type = BigInt)]
            last_seq: i64,
        }
        let last: Last = diesel::sql_query("SELECT last_seq FROM event_sequencer FOR UPDATE").get_result(conn)?;
        let stamped = diesel::sql_query(
            "WITH pending AS (
                 SELECT id, row_number() OVER (ORDER BY id) AS rn
                 FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT 10000) p
             )
             UPDATE events e SET seq = $1 + pending.rn FROM pending WHERE e.id = pending.id",
        )
        .bind::<BigInt, _>(last.last_seq)
        .execute(conn)?;
        if stamped > 0 {
            diesel::sql_query("UPDATE event_sequencer SET last_seq = last_seq + $1")
                .bind::<BigInt, _>(stamped as i64)
                .execute(conn)?;
        }
        Ok(stamped)
    })
}

/// Events after `after` in feed order, optionally only some types, and the feed's horizon: the
/// last position stamped when they were read. Both come from one snapshot, so a poller that
/// filters by type can move its cursor past events it does not want without skipping any it does.
pub fn feed(conn: &mut PgConnection, after: i64, types: &[String], limit: i64) -> ApiResult<(Vec<Event>, i64)> {
    sequence_pending(conn)?;
    conn.build_transaction().repeatable_read().read_only().run(|conn| {
        let mut query = events::table
            .filter(events::seq.gt(after))
            .select(feed_columns())
            .order(events::seq.asc())
            .limit(limit)
            .into_boxed();
        if !types.is_empty() {
            query = query.filter(events::event_type.eq_any(types));
        }
        let items: Vec<Event> = query.load(conn)?;
        #[derive(QueryableByName)]
        struct Last {
            #[diesel(sql_type = BigInt)]
            last_seq: i64,
        }
        let horizon: Last = diesel::sql_query("SELECT last_seq FROM event_sequencer").get_result(conn)?;
        Ok((items, horizon.last_seq))
    })
}

/// Sequenced events by id, each as the JSON the feed lists and a webhook posts.
pub fn as_bodies(conn: &mut PgConnection, ids: &[Uuid]) -> ApiResult<Vec<(Uuid, Value)>> {
    let rows: Vec<Event> = events::table
        .filter(events::id.eq_any(ids))
        .filter(events::seq.is_not_null())
        .select(feed_columns())
        .load(conn)?;
    Ok(rows.into_iter().map(|e| (e.id, serde_json::to_value(&e).unwrap_or(Value::Null))).collect())
}

/// Where a poller continues: after a full page, its last event; otherwise the horizon (never backwards).
pub fn next_cursor(items: &[Event], limit: i64, after: i64, horizon: i64) -> i64 {
    match items.last() {
        Some(last) if items.len() as i64 >= limit => last.seq,
        _ => horizon.max(after),
    }
}

/// Members of event data that hold someone's own words rather than ids, codes, amounts or statuses
/// (older events, and `campaign.message`): an erasure replaces them whole.
const FREE_TEXT_MEMBERS: &[&str] =
    &["subject", "description", "excerpt", "comment", "notes", "body", "text", "recipient", "contact"];

pub const ERASED: &str = "[erased]";

/// Replaces free-text members and every occurrence of `words` in strings; true when anything changed.
fn redact_value(value: &mut Value, words: &[String]) -> bool {
    match value {
        Value::String(s) => {
            let mut changed = false;
            for word in words {
                if s.contains(word.as_str()) {
                    *s = s.replace(word.as_str(), ERASED);
                    changed = true;
                }
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| redact_value(item, words) | changed),
        Value::Object(members) => members.iter_mut().fold(false, |changed, (key, member)| {
            let whole = FREE_TEXT_MEMBERS.contains(&key.as_str()) && member.is_string() && *member != ERASED;
            if whole {
                *member = Value::String(ERASED.into());
            }
            redact_value(member, words) | whole | changed
        }),
        _ => false,
    }
}

/// Erasure (SPEC §5), the one change an event ever sees: the subjects' events lose their free text
/// and every occurrence of `words` (the person's name, phone, email, channel ids...). Events carry
/// ids, codes, amounts and statuses only, so this finds work in older events and campaign messages.
/// Longer words go first, so a number inside a longer form of it (`+86…`) is caught whole.
pub fn redact(conn: &mut PgConnection, subjects: &[Uuid], words: &[String]) -> ApiResult<i64> {
    let mut words: Vec<String> = words.to_vec();
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    // The sequencer's lock first, as the sequencer takes it: it stamps these rows too, and taking
    // the two in the other order could deadlock.
    diesel::sql_query("SELECT last_seq FROM event_sequencer FOR UPDATE").execute(conn)?;
    let rows: Vec<(Uuid, Value)> = events::table
        .filter(events::subject_id.eq_any(subjects))
        .select((events::id, events::data))
        .order(events::id)
        .load(conn)?;
    let mut redacted = 0;
    for (id, mut data) in rows {
        if redact_value(&mut data, &words) {
            diesel::update(events::table.find(id)).set(events::data.eq(data)).execute(conn)?;
            redacted += 1;
        }
    }
    Ok(redacted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_blanks_free_text_and_the_persons_words_only() {
        let words = vec!["+8613812345678".to_string(), "13812345678".to_string(), "张三".to_string()];
        let mut data = json!({"ticket_id": "t1", "subject": "退货", "status": "open", "excerpt": null,
            "reason": "张三 called from 13812345678", "nested": [{"note": "+8613812345678"}], "points": 5,
            "moved": {"notes": 2}});
        assert!(redact_value(&mut data, &words));
        assert_eq!(
            data,
            json!({"ticket_id": "t1", "subject": "[erased]", "status": "open", "excerpt": null,
                "reason": "[erased] called from [erased]", "nested": [{"note": "[erased]"}], "points": 5,
                "moved": {"notes": 2}})
        );
        assert!(!redact_value(&mut data, &words), "a second pass finds nothing");
        let mut clean = json!({"order_id": "o1", "channel": "pos", "paid_amount": "10.00"});
        assert!(!redact_value(&mut clean, &words));
    }
}
