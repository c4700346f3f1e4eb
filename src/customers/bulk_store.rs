//! Set-based customer SQL for batches of thousands (the CSV import): one statement per kind of
//! write, each `unnest` of column arrays, prepared once per connection (`CachedSql`).
//!
//! Nothing is locked while a batch is planned: the writes check instead. A changed profile is
//! written only at the version it was read at, and an identity is claimed only if nobody holds it;
//! when either finds that someone else got there first, the caller plans the batch again.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::Value;
use uuid::Uuid;

use super::bulk_upsert::{Known, Plan};
use super::store::{self, Customer};
use crate::db::CachedSql;
use crate::error::{ApiError, ApiResult};
use crate::stores::SalesChannel;

#[derive(QueryableByName)]
struct Owner {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    value: String,
    #[diesel(sql_type = SqlUuid)]
    customer_id: Uuid,
}

/// The owners of these identities, with the owners' profiles and tags, and the rule tags.
pub fn known(conn: &mut PgConnection, identities: &[(String, String)]) -> ApiResult<Known> {
    let owners = owners(conn, identities)?;
    let ids: Vec<Uuid> = owners.values().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let customers = store::get_many(conn, &ids)?
        .into_iter()
        .filter(|c| c.status == super::rules::CustomerStatus::Active)
        .map(|c| (c.id, c));
    let mut tags: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
    for (id, tag) in store::tags_of(conn, &ids)? {
        tags.entry(id).or_default().insert(tag);
    }
    let rule_tags = store::rule_tags(conn)?.into_iter().map(|t| t.name).collect();
    Ok(Known { owners, customers: customers.collect(), tags, rule_tags })
}

/// Who holds each of these identities (those nobody holds are left out).
pub fn owners(conn: &mut PgConnection, identities: &[(String, String)]) -> ApiResult<HashMap<(String, String), Uuid>> {
    let (kinds, values): (Vec<&str>, Vec<&str>) = identities.iter().map(|(k, v)| (k.as_str(), v.as_str())).unzip();
    let rows: Vec<Owner> = CachedSql::new(
        "SELECT r.kind, r.value, r.customer_id FROM unnest(?::text[], ?::text[]) AS k(kind, value) \
         JOIN identity_routes r ON r.kind = k.kind AND r.value = k.value",
    )
    .bind::<Array<Text>, _>(&kinds)
    .bind::<Array<Text>, _>(&values)
    .load(conn)?;
    Ok(rows.into_iter().map(|o| ((o.kind, o.value), o.customer_id)).collect())
}

/// The profile columns of many customers as arrays.
struct Columns {
    ids: Vec<Uuid>,
    names: Vec<Option<String>>,
    genders: Vec<super::rules::Gender>,
    birthdays: Vec<Option<NaiveDate>>,
    phones: Vec<Option<String>>,
    emails: Vec<Option<String>>,
    cities: Vec<Option<String>>,
    districts: Vec<Option<String>>,
    addresses: Vec<Option<String>>,
    channels: Vec<Option<SalesChannel>>,
    stores: Vec<Option<Uuid>>,
    consents: Vec<Value>,
    attributes: Vec<Value>,
}

impl Columns {
    fn of<'a>(customers: impl Iterator<Item = &'a Customer>) -> Columns {
        let mut c = Columns {
            ids: vec![],
            names: vec![],
            genders: vec![],
            birthdays: vec![],
            phones: vec![],
            emails: vec![],
            cities: vec![],
            districts: vec![],
            addresses: vec![],
            channels: vec![],
            stores: vec![],
            consents: vec![],
            attributes: vec![],
        };
        for x in customers {
            c.ids.push(x.id);
            c.names.push(x.name.clone());
            c.genders.push(x.gender);
            c.birthdays.push(x.birthday);
            c.phones.push(x.phone.clone());
            c.emails.push(x.email.clone());
            c.cities.push(x.city.clone());
            c.districts.push(x.district.clone());
            c.addresses.push(x.address.clone());
            c.channels.push(x.source_channel);
            c.stores.push(x.home_store_id);
            c.consents.push(x.consents.clone());
            c.attributes.push(x.attributes.clone());
        }
        c
    }
}

/// `bulk_profiles.sql` followed by `$rest` (bulk_insert.sql or bulk_update.sql), with the shared
/// parameters bound by name: the time of the write and the thirteen profile arrays of `$c`.
macro_rules! profile_statement {
    ($rest:literal, $now:expr, $c:expr) => {
        CachedSql::new(concat!(include_str!("bulk_profiles.sql"), include_str!($rest)))
            .param::<Timestamptz, _>("now", $now)
            .param::<Array<SqlUuid>, _>("ids", &$c.ids)
            .param::<Array<Nullable<Text>>, _>("names", &$c.names)
            .param::<Array<Text>, _>("genders", &$c.genders)
            .param::<Array<Nullable<Date>>, _>("birthdays", &$c.birthdays)
            .param::<Array<Nullable<Text>>, _>("phones", &$c.phones)
            .param::<Array<Nullable<Text>>, _>("emails", &$c.emails)
            .param::<Array<Nullable<Text>>, _>("cities", &$c.cities)
            .param::<Array<Nullable<Text>>, _>("districts", &$c.districts)
            .param::<Array<Nullable<Text>>, _>("addresses", &$c.addresses)
            .param::<Array<Nullable<Text>>, _>("source_channels", &$c.channels)
            .param::<Array<Nullable<SqlUuid>>, _>("home_store_ids", &$c.stores)
            .param::<Array<Jsonb>, _>("consents", &$c.consents)
            .param::<Array<Jsonb>, _>("attributes", &$c.attributes)
    };
}

/// `bulk_insert.sql`: new profiles `c`, created at `created_ats` (one per profile).
fn insert_statement<'a>(
    c: &'a Columns, created_ats: &'a [DateTime<Utc>], now: DateTime<Utc>,
) -> impl RunQueryDsl<PgConnection> + diesel::query_dsl::methods::ExecuteDsl<PgConnection> + crate::db::cached_sql::Binds + 'a
{
    profile_statement!("bulk_insert.sql", now, c).param::<Array<Timestamptz>, _>("created_ats", created_ats)
}

/// `bulk_update.sql`: changed profiles `c`, each written only at its version in `versions`.
fn update_statement<'a>(
    c: &'a Columns, versions: &'a [i32], now: DateTime<Utc>,
) -> impl RunQueryDsl<PgConnection> + diesel::query_dsl::methods::ExecuteDsl<PgConnection> + crate::db::cached_sql::Binds + 'a
{
    profile_statement!("bulk_update.sql", now, c)
        .param::<Array<Integer>, _>("versions", versions)
        .param::<Text, _>("active", super::rules::CustomerStatus::Active)
}

/// A concurrent change to what the plan read: plan the batch again.
fn stale() -> ApiError {
    ApiError::Unavailable { retry_after_seconds: 0 }
}

/// Writes a batch's plan: new profiles, changed profiles (each at the version it was read at),
/// identity claims, tags, and the events. `Unavailable` when another writer got there first.
pub fn write(conn: &mut PgConnection, plan: &Plan, now: DateTime<Utc>) -> ApiResult<()> {
    if !plan.created.is_empty() {
        let c = Columns::of(plan.created.iter());
        let created_at: Vec<DateTime<Utc>> = plan.created.iter().map(|c| c.created_at).collect();
        insert_statement(&c, &created_at, now).execute(conn)?;
    }
    if !plan.updated.is_empty() {
        let c = Columns::of(plan.updated.iter().map(|(c, _, _)| c));
        let versions: Vec<i32> = plan.updated.iter().map(|(_, v, _)| *v).collect();
        let written = update_statement(&c, &versions, now).execute(conn)?;
        if written != plan.updated.len() {
            return Err(stale());
        }
    }
    if !plan.identities.is_empty() {
        let kinds: Vec<&str> = plan.identities.iter().map(|(k, _, _)| k.as_str()).collect();
        let values: Vec<&str> = plan.identities.iter().map(|(_, v, _)| v.as_str()).collect();
        let owners: Vec<Uuid> = plan.identities.iter().map(|(_, _, id)| *id).collect();
        // A plain insert (no ON CONFLICT: speculative insertion cost 40% more per row): the plan
        // read these identities as free, so a duplicate means another writer claimed one since.
        // The routes decide; the customers' own rows follow in the same statement.
        let claimed = CachedSql::new(
            "WITH routed AS (INSERT INTO identity_routes (kind, value, customer_id) \
                             SELECT * FROM unnest(?::text[], ?::text[], ?::uuid[]) RETURNING *) \
             INSERT INTO customer_identities (kind, value, customer_id) SELECT kind, value, customer_id FROM routed",
        )
        .bind::<Array<Text>, _>(&kinds)
        .bind::<Array<Text>, _>(&values)
        .bind::<Array<SqlUuid>, _>(&owners)
        .execute(conn);
        match claimed {
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(stale())
            }
            other => {
                other?;
            }
        }
    }
    if !plan.tags.is_empty() {
        let (customers, tags): (Vec<Uuid>, Vec<&str>) = plan.tags.iter().map(|(c, t)| (*c, t.as_str())).unzip();
        CachedSql::new(
            "INSERT INTO tags (name, kind) SELECT DISTINCT t, 'manual' FROM unnest(?::text[]) AS t \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<Text>, _>(&tags)
        .execute(conn)?;
        CachedSql::new(
            "INSERT INTO customer_tags (customer_id, tag) SELECT * FROM unnest(?::uuid[], ?::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind::<Array<SqlUuid>, _>(&customers)
        .bind::<Array<Text>, _>(&tags)
        .execute(conn)?;
    }
    crate::events::emit_many(conn, &plan.events())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_writes_bind_each_parameter_by_name() {
        let now = DateTime::UNIX_EPOCH;
        let c = Columns::of(std::iter::empty());
        assert_eq!(crate::db::cached_sql::verify(&insert_statement(&c, &[now], now)), Ok(()));
        assert_eq!(crate::db::cached_sql::verify(&update_statement(&c, &[1], now)), Ok(()));
    }
}
