//! Customer SQL: profiles, identities, tags, notes.

mod identities;

pub use identities::*;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::rules::CustomerStatus;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::StoreScope;
use crate::schema::{customer_notes as notes, customer_tags as ct, customers as c, identity_routes as routes, tags};
use crate::stores::SalesChannel;

/// Also read by name, so a raw statement that selects these columns can embed it.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = c)]
pub struct Customer {
    pub id: Uuid,
    pub name: Option<String>,
    pub gender: super::rules::Gender,
    pub birthday: Option<NaiveDate>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub address: Option<String>,
    pub source_channel: Option<SalesChannel>,
    pub home_store_id: Option<Uuid>,
    pub consents: Value,
    pub attributes: Value,
    pub status: CustomerStatus,
    pub merged_into: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Profile fields as stored; `None` on an `Option<Option<_>>` means "leave unchanged".
#[derive(AsChangeset, Default, Clone, Debug)]
#[diesel(table_name = c)]
pub struct ProfileChanges {
    pub name: Option<Option<String>>,
    pub gender: Option<super::rules::Gender>,
    pub birthday: Option<Option<NaiveDate>>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub district: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub source_channel: Option<Option<SalesChannel>>,
    pub home_store_id: Option<Option<Uuid>>,
    pub consents: Option<Value>,
    pub attributes: Option<Value>,
}

pub fn not_found() -> ApiError {
    ApiError::not_found("customer_not_found", "no customer with this id")
}

/// A new customer registered at `now` (the Clock's: a pinned clock or a replayed history says
/// when, not the database's own `now()`).
pub fn insert(conn: &mut PgConnection, id: Uuid, changes: &ProfileChanges, now: DateTime<Utc>) -> ApiResult<Customer> {
    diesel::insert_into(c::table).values((c::id.eq(id), c::created_at.eq(now))).execute(conn)?;
    Ok(diesel::update(c::table.find(id))
        .set((changes, c::updated_at.eq(now)))
        .returning(Customer::as_returning())
        .get_result(conn)?)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Customer> {
    c::table.find(id).select(Customer::as_select()).first(conn).optional()?.ok_or_else(not_found)
}

/// A profile as its own resource (`/v1/customers/{id}` and what hangs off it): an erased one is gone,
/// 404 as a missing one, as after any DELETE. (Calls that name an erased customer elsewhere — a
/// sale, a coupon issue — say 409 `customer_erased`.)
pub fn get_profile(conn: &mut PgConnection, id: Uuid) -> ApiResult<Customer> {
    get(conn, id).and_then(|c| if c.status == CustomerStatus::Erased { Err(not_found()) } else { Ok(c) })
}

/// The profile, locked against every other writer of it. `FOR NO KEY UPDATE`, as an UPDATE of it
/// would lock it: rows that merely refer to the customer (an order, a ledger entry) take a key-share
/// lock for their foreign key, which `FOR UPDATE` would block — and a sale holding the points
/// account while it inserts its order would then wait on us while we wait on its account.
pub fn lock(conn: &mut PgConnection, id: Uuid) -> ApiResult<Customer> {
    c::table.find(id).select(Customer::as_select()).for_no_key_update().first(conn).optional()?.ok_or_else(not_found)
}

/// Namespace of the per-customer advisory lock, the *guard*. A merge or an erasure holds it
/// exclusively; coupon issue holds it shared, so a coupon never lands on a profile being folded away
/// or forgotten; a campaign holds it exclusively for its batch (the frequency cap counts across
/// campaigns). Unlike a row lock it writes nothing to the customer's page: a batch of 500 no longer
/// dirties 500 customer pages (and their full-page images in the WAL) that the till reads.
const GUARD: i32 = 20261130;

/// The most customers one transaction guards: each key is an entry in PostgreSQL's shared lock
/// table (`max_locks_per_transaction` × connections), so larger sets lock their rows instead.
pub const GUARDED_AT_MOST: usize = 1000;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Exclusive,
    Shared,
}

/// Takes the guard of each customer until the transaction ends, in key order (two guarding
/// transactions cannot deadlock on each other). Take it before any customer, membership or points
/// row lock, and after a coupon template's lock.
pub fn guard(conn: &mut PgConnection, ids: &[Uuid], mode: Guard) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // Two fixed texts, so that each connection prepares them once.
    let sql = match mode {
        Guard::Exclusive => {
            "SELECT pg_advisory_xact_lock(?, k) \
             FROM (SELECT DISTINCT hashtext(x::text) AS k FROM unnest(?::uuid[]) x ORDER BY 1) s"
        }
        Guard::Shared => {
            "SELECT pg_advisory_xact_lock_shared(?, k) \
             FROM (SELECT DISTINCT hashtext(x::text) AS k FROM unnest(?::uuid[]) x ORDER BY 1) s"
        }
    };
    crate::db::CachedSql::new(sql)
        .bind::<diesel::sql_types::Integer, _>(GUARD)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .execute(conn)?;
    Ok(())
}

/// Locks a customer that can still change: merged and erased profiles are final.
pub fn lock_active(conn: &mut PgConnection, id: Uuid) -> ApiResult<Customer> {
    let customer = lock(conn, id)?;
    ensure_active(&customer)?;
    Ok(customer)
}

pub fn ensure_active(customer: &Customer) -> ApiResult<()> {
    match customer.status {
        CustomerStatus::Active => Ok(()),
        CustomerStatus::Merged => Err(ApiError::conflict("customer_merged", "this customer was merged into another")
            .with("merged_into", customer.merged_into.map(|id| id.to_string()))),
        CustomerStatus::Erased => Err(ApiError::conflict("customer_erased", "this customer was erased")),
    }
}

pub fn update(conn: &mut PgConnection, current: &Customer, changes: &ProfileChanges) -> ApiResult<Customer> {
    Ok(diesel::update(c::table.find(current.id))
        .set((changes, c::version.eq(current.version + 1), c::updated_at.eq(diesel::dsl::now)))
        .returning(Customer::as_returning())
        .get_result(conn)?)
}

/// Sets status-related columns (merge, erasure) and bumps the version.
pub fn set_status(
    conn: &mut PgConnection, current: &Customer, status: CustomerStatus, merged_into: Option<Uuid>,
) -> ApiResult<Customer> {
    Ok(diesel::update(c::table.find(current.id))
        .set((
            c::status.eq(status),
            c::merged_into.eq(merged_into),
            c::version.eq(current.version + 1),
            c::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Customer::as_returning())
        .get_result(conn)?)
}

/// Blanks every personal field (erasure, and the source of a merge whose data moved).
pub fn blank_pii(conn: &mut PgConnection, id: Uuid) -> ApiResult<()> {
    diesel::update(c::table.find(id))
        .set((
            c::name.eq(None::<String>),
            c::birthday.eq(None::<NaiveDate>),
            c::phone.eq(None::<String>),
            c::email.eq(None::<String>),
            c::city.eq(None::<String>),
            c::district.eq(None::<String>),
            c::address.eq(None::<String>),
            c::gender.eq(super::rules::Gender::Unknown),
            c::consents.eq(serde_json::json!({})),
            c::attributes.eq(serde_json::json!({})),
        ))
        .execute(conn)?;
    Ok(())
}

// ---- tags ----

crate::vocabulary! {
    /// How a tag comes to customers (SPEC §5).
    pub enum TagKind {
        /// Set and removed by hand.
        Manual = "manual",
        /// Held by whoever matches its segment definition, recomputed every night and on demand.
        Rule = "rule",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub name: String,
    pub kind: TagKind,
    pub description: Option<String>,
    pub definition: Option<Value>,
    pub created_at: DateTime<Utc>,
}

pub fn tags_of(conn: &mut PgConnection, customers: &[Uuid]) -> ApiResult<Vec<(Uuid, String)>> {
    Ok(ct::table
        .filter(ct::customer_id.eq_any(customers))
        .select((ct::customer_id, ct::tag))
        .order(ct::tag)
        .load(conn)?)
}

/// Makes sure manual tags exist in the catalogue; a rule tag cannot be set by hand.
pub fn ensure_manual_tags(conn: &mut PgConnection, names: &[String]) -> ApiResult<()> {
    let rows: Vec<_> = names.iter().map(|n| (tags::name.eq(n), tags::kind.eq(TagKind::Manual))).collect();
    diesel::insert_into(tags::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
    let rule_tags: Vec<String> =
        tags::table.filter(tags::name.eq_any(names)).filter(tags::kind.eq("rule")).select(tags::name).load(conn)?;
    if let Some(rule) = rule_tags.first() {
        return Err(ApiError::invalid("tags", format!("'{rule}' is a rule tag: it is computed, not set by hand")));
    }
    Ok(())
}

pub fn replace_tags(conn: &mut PgConnection, customer: Uuid, names: &[String]) -> ApiResult<()> {
    ensure_manual_tags(conn, names)?;
    diesel::delete(ct::table.filter(ct::customer_id.eq(customer)).filter(ct::tag.ne_all(names))).execute(conn)?;
    let rows: Vec<_> = names.iter().map(|n| (ct::customer_id.eq(customer), ct::tag.eq(n))).collect();
    diesel::insert_into(ct::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
    Ok(())
}

pub fn move_tags(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    let moved = diesel::sql_query(
        "INSERT INTO customer_tags (customer_id, tag, created_at)
         SELECT $2, tag, created_at FROM customer_tags WHERE customer_id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind::<diesel::sql_types::Uuid, _>(source)
    .bind::<diesel::sql_types::Uuid, _>(target)
    .execute(conn)?;
    delete_tags(conn, source)?;
    Ok(moved as i64)
}

pub fn delete_tags(conn: &mut PgConnection, customer: Uuid) -> ApiResult<usize> {
    Ok(diesel::delete(ct::table.filter(ct::customer_id.eq(customer))).execute(conn)?)
}

pub fn list_tags(conn: &mut PgConnection, after: Option<String>, limit: i64) -> ApiResult<Vec<Tag>> {
    let mut q = tags::table.select(Tag::as_select()).order(tags::name).limit(limit).into_boxed();
    if let Some(after) = after {
        q = q.filter(tags::name.gt(after));
    }
    Ok(q.load(conn)?)
}

/// A manual tag, or a rule tag when it has a definition (checked by the caller).
pub fn create_tag(
    conn: &mut PgConnection, name: &str, description: Option<&str>, definition: Option<&Value>,
) -> ApiResult<Tag> {
    let kind = if definition.is_some() { TagKind::Rule } else { TagKind::Manual };
    diesel::insert_into(tags::table)
        .values((
            tags::name.eq(name),
            tags::kind.eq(kind),
            tags::description.eq(description),
            tags::definition.eq(definition),
        ))
        .returning(Tag::as_returning())
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict { .. } => ApiError::conflict("tag_exists", "a tag with this name exists"),
            other => other,
        })
}

/// The rule tags and their definitions.
pub fn rule_tags(conn: &mut PgConnection) -> ApiResult<Vec<Tag>> {
    Ok(tags::table.filter(tags::kind.eq(TagKind::Rule)).select(Tag::as_select()).order(tags::name).load(conn)?)
}

pub fn get_tag(conn: &mut PgConnection, name: &str) -> ApiResult<Tag> {
    tags::table
        .find(name)
        .select(Tag::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("tag_not_found", "no tag with this name"))
}

pub fn delete_tag(conn: &mut PgConnection, name: &str) -> ApiResult<()> {
    diesel::delete(ct::table.filter(ct::tag.eq(name))).execute(conn)?;
    let deleted = diesel::delete(tags::table.find(name)).execute(conn)?;
    if deleted == 0 {
        return Err(ApiError::not_found("tag_not_found", "no tag with this name"));
    }
    Ok(())
}

// ---- notes ----

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notes)]
pub struct Note {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub body: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

pub fn add_note(conn: &mut PgConnection, customer: Uuid, body: &str, author: &str) -> ApiResult<Note> {
    Ok(diesel::insert_into(notes::table)
        .values((
            notes::id.eq(Uuid::now_v7()),
            notes::customer_id.eq(customer),
            notes::body.eq(body),
            notes::author.eq(author),
        ))
        .returning(Note::as_returning())
        .get_result(conn)?)
}

/// Notes newest first, strictly before `(at, id)` when given.
pub fn notes_before(
    conn: &mut PgConnection, customer: Uuid, before: Option<(DateTime<Utc>, Uuid)>, limit: i64,
) -> ApiResult<Vec<Note>> {
    let mut q = notes::table
        .filter(notes::customer_id.eq(customer))
        .select(Note::as_select())
        .order((notes::created_at.desc(), notes::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = before {
        q = q.filter(notes::created_at.lt(at).or(notes::created_at.eq(at).and(notes::id.lt(id))));
    }
    Ok(q.load(conn)?)
}

pub fn move_notes(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    let columns = "id, body, author, created_at";
    Ok(crate::db::distribution::move_customer_rows(conn, "customer_notes", columns, source, target)? as i64)
}

pub fn delete_notes(conn: &mut PgConnection, customer: Uuid) -> ApiResult<usize> {
    Ok(diesel::delete(notes::table.filter(notes::customer_id.eq(customer))).execute(conn)?)
}

// ---- search ----

pub struct SearchFilter {
    pub term: Option<super::rules::SearchTerm>,
    pub tag: Option<String>,
    /// Members of this tier (code).
    pub tier: Option<String>,
    pub city: Option<String>,
    pub store_id: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub lifecycle_stage: Option<super::lifecycle::LifecycleStage>,
    /// The business day the lifecycle stage is evaluated on.
    pub today: chrono::NaiveDate,
    pub status: CustomerStatus,
}

pub fn search(conn: &mut PgConnection, f: &SearchFilter, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Customer>> {
    use super::rules::SearchTerm;
    let mut q =
        c::table.select(Customer::as_select()).filter(c::status.eq(f.status)).order(c::id).limit(limit).into_boxed();
    let by_identity = |kind: &'static str, value: String| {
        routes::table.filter(routes::kind.eq(kind)).filter(routes::value.eq(value)).select(routes::customer_id)
    };
    match &f.term {
        Some(SearchTerm::Last4(d)) => q = q.filter(c::phone_last4.eq(d.clone())),
        Some(SearchTerm::Phone(p)) => q = q.filter(c::id.eq_any(by_identity("phone", p.clone()))),
        Some(SearchTerm::Email(e)) => q = q.filter(c::id.eq_any(by_identity("email", e.clone()))),
        Some(SearchTerm::MemberCard(m)) => q = q.filter(c::id.eq_any(by_identity("member_card", m.clone()))),
        Some(SearchTerm::Name(n)) => q = q.filter(c::name.ilike(super::rules::like_pattern(n))),
        None => {}
    }
    if let Some(tag) = &f.tag {
        q = q.filter(c::id.eq_any(ct::table.filter(ct::tag.eq(tag.clone())).select(ct::customer_id)));
    }
    if let Some(tier) = &f.tier {
        use crate::schema::memberships as m;
        q = q.filter(c::id.eq_any(m::table.filter(m::tier_code.eq(tier.clone())).select(m::customer_id)));
    }
    if let Some(city) = &f.city {
        q = q.filter(c::city.eq(city.clone()));
    }
    if let Some(store) = f.store_id {
        q = q.filter(c::home_store_id.eq(store));
    }
    if let Some(t) = f.created_after {
        q = q.filter(c::created_at.gt(t));
    }
    if let Some(stage) = f.lifecycle_stage {
        // The day comes from the clock, never from the request: safe to write as a literal.
        let day = format!("'{}'::date", f.today);
        q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&super::activity::at_stage_sql(stage, &day)));
    }
    if let Some(after) = after {
        q = q.filter(c::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Customers folded into `target` (merge re-points older merges, so one level is enough).
/// Customers by id, in no particular order; missing ids are left out.
pub fn get_many(conn: &mut PgConnection, ids: &[Uuid]) -> ApiResult<Vec<Customer>> {
    Ok(c::table.filter(c::id.eq_any(ids)).select(Customer::as_select()).load(conn)?)
}

pub fn merged_into(conn: &mut PgConnection, target: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(c::table.filter(c::merged_into.eq(target)).select(c::id).load(conn)?)
}

pub fn repoint_merged(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<()> {
    diesel::update(c::table.filter(c::merged_into.eq(source))).set(c::merged_into.eq(target)).execute(conn)?;
    Ok(())
}

// ---- timeline ----

/// An event as the timeline reads it.
#[derive(Debug, QueryableByName)]
pub struct TimelineEvent {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub event_type: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub data: Value,
    /// The subject of the ticket a `ticket.*` event is about.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub ticket_subject: Option<String>,
    /// The text of the internal note a `ticket.commented` event is about.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub note: Option<String>,
}

/// The subjects' events, newest first, strictly before `(at, id)` when given, leaving out what
/// belongs to a store outside `scope` (see `timeline.sql`).
pub fn timeline_events(
    conn: &mut PgConnection, subjects: &[Uuid], scope: StoreScope, before: Option<(DateTime<Utc>, Uuid)>, limit: i64,
) -> ApiResult<Vec<TimelineEvent>> {
    use diesel::sql_types::{Array, BigInt, Nullable, Timestamptz};
    Ok(diesel::sql_query(include_str!("timeline.sql"))
        .bind::<Array<diesel::sql_types::Uuid>, _>(subjects)
        .bind::<Nullable<Timestamptz>, _>(before.map(|(at, _)| at))
        .bind::<Nullable<diesel::sql_types::Uuid>, _>(before.map(|(_, id)| id))
        .bind::<Nullable<diesel::sql_types::Uuid>, _>(scope.only())
        .bind::<BigInt, _>(limit)
        .load(conn)?)
}
