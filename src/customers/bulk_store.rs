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
    let customers = store::get_many(conn, &ids)?.into_iter().filter(|c| c.status == "active").map(|c| (c.id, c));
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
        "SELECT ci.kind, ci.value, ci.customer_id FROM unnest(?::text[], ?::text[]) AS k(kind, value) \
         JOIN customer_identities ci ON ci.kind = k.kind AND ci.value = k.value",
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
    genders: Vec<String>,
    birthdays: Vec<Option<NaiveDate>>,
    phones: Vec<Option<String>>,
    emails: Vec<Option<String>>,
    cities: Vec<Option<String>>,
    districts: Vec<Option<String>>,
    addresses: Vec<Option<String>>,
    channels: Vec<Option<String>>,
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
            c.genders.push(x.gender.clone());
            c.birthdays.push(x.birthday);
            c.phones.push(x.phone.clone());
            c.emails.push(x.email.clone());
            c.cities.push(x.city.clone());
            c.districts.push(x.district.clone());
            c.addresses.push(x.address.clone());
            c.channels.push(x.source_channel.clone());
            c.stores.push(x.home_store_id);
            c.consents.push(x.consents.clone());
            c.attributes.push(x.attributes.clone());
        }
        c
    }
}

/// Binds the thirteen profile arrays after `$query`'s earlier parameters.
macro_rules! bind_profile {
    ($query:expr, $c:expr) => {
        $query
            .bind::<Array<SqlUuid>, _>(&$c.ids)
            .bind::<Array<Nullable<Text>>, _>(&$c.names)
            .bind::<Array<Text>, _>(&$c.genders)
            .bind::<Array<Nullable<Date>>, _>(&$c.birthdays)
            .bind::<Array<Nullable<Text>>, _>(&$c.phones)
            .bind::<Array<Nullable<Text>>, _>(&$c.emails)
            .bind::<Array<Nullable<Text>>, _>(&$c.cities)
            .bind::<Array<Nullable<Text>>, _>(&$c.districts)
            .bind::<Array<Nullable<Text>>, _>(&$c.addresses)
            .bind::<Array<Nullable<Text>>, _>(&$c.channels)
            .bind::<Array<Nullable<SqlUuid>>, _>(&$c.stores)
            .bind::<Array<Jsonb>, _>(&$c.consents)
            .bind::<Array<Jsonb>, _>(&$c.attributes)
    };
}

/// The thirteen profile arrays as the relation `p`, in the order `bind_profile!` binds them.
macro_rules! profile_arrays {
    () => {
        "unnest(?::uuid[], ?::text[], ?::text[], ?::date[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], \
         ?::text[], ?::uuid[], ?::jsonb[], ?::jsonb[]) AS p(id, name, gender, birthday, phone, email, city, district, \
         address, source_channel, home_store_id, consents, attributes)"
    };
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
        const INSERT: &str = concat!(
            "INSERT INTO customers (id, name, gender, birthday, phone, email, city, district, address, \
                 source_channel, home_store_id, consents, attributes, created_at, updated_at) \
             SELECT p.*, t.created_at, ? FROM ",
            profile_arrays!(),
            " JOIN unnest(?::uuid[], ?::timestamptz[]) AS t(id, created_at) ON t.id = p.id"
        );
        let query = CachedSql::new(INSERT).bind::<Timestamptz, _>(now);
        bind_profile!(query, c)
            .bind::<Array<SqlUuid>, _>(&c.ids)
            .bind::<Array<Timestamptz>, _>(&created_at)
            .execute(conn)?;
    }
    if !plan.updated.is_empty() {
        let c = Columns::of(plan.updated.iter().map(|(c, _, _)| c));
        let versions: Vec<i32> = plan.updated.iter().map(|(_, v, _)| *v).collect();
        const UPDATE: &str = concat!(
            "UPDATE customers c SET name = p.name, gender = p.gender, birthday = p.birthday, phone = p.phone, \
                 email = p.email, city = p.city, district = p.district, address = p.address, \
                 source_channel = p.source_channel, home_store_id = p.home_store_id, consents = p.consents, \
                 attributes = p.attributes, version = c.version + 1, updated_at = ? \
             FROM ",
            profile_arrays!(),
            ", unnest(?::uuid[], ?::int[]) AS v(id, version) \
             WHERE c.id = p.id AND v.id = p.id AND c.version = v.version AND c.status = 'active'"
        );
        let query = CachedSql::new(UPDATE).bind::<Timestamptz, _>(now);
        let written = bind_profile!(query, c)
            .bind::<Array<SqlUuid>, _>(&c.ids)
            .bind::<Array<Integer>, _>(&versions)
            .execute(conn)?;
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
        let claimed = CachedSql::new(
            "INSERT INTO customer_identities (kind, value, customer_id) \
             SELECT * FROM unnest(?::text[], ?::text[], ?::uuid[])",
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
