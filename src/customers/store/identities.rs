//! Identities: who holds one is decided and read in `identity_routes` (by identity); what a
//! customer holds is `customer_identities` (by customer). Every write changes both (SPEC §16).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use uuid::Uuid;

use super::{Customer, CustomerStatus};
use crate::customers::rules::IdentityKind;
use crate::db::CachedSql;
use crate::error::{ApiError, ApiResult};
use crate::schema::{customer_identities as ci, customers as c, identity_routes as routes};

/// A customer's id, status and merge target, by id or by identity, in one query (the hot path of
/// every sale and quote).
pub fn standing(
    conn: &mut PgConnection, id: Option<Uuid>, identity: Option<(&str, &str)>,
) -> ApiResult<Option<(Uuid, CustomerStatus, Option<Uuid>)>> {
    let columns = (c::id, c::status, c::merged_into);
    Ok(match (id, identity) {
        (Some(id), _) => c::table.find(id).select(columns).first(conn).optional()?,
        (None, Some((kind, value))) => routes::table
            .inner_join(c::table)
            .filter(routes::kind.eq(kind))
            .filter(routes::value.eq(value))
            .select(columns)
            .first(conn)
            .optional()?,
        (None, None) => None,
    })
}

/// The customer who owns an identity, in one query.
pub fn by_identity(conn: &mut PgConnection, kind: &str, value: &str) -> ApiResult<Option<Customer>> {
    Ok(routes::table
        .inner_join(c::table)
        .filter(routes::kind.eq(kind))
        .filter(routes::value.eq(value))
        .select(Customer::as_select())
        .first(conn)
        .optional()?)
}

pub fn owner_of(conn: &mut PgConnection, kind: &str, value: &str) -> ApiResult<Option<Uuid>> {
    Ok(routes::table.find((kind, value)).select(routes::customer_id).first(conn).optional()?)
}

fn identity_taken(owner: Uuid, kind: &str) -> ApiError {
    let code = if IdentityKind::Phone == kind { "phone_taken" } else { "identity_taken" };
    ApiError::conflict(code, format!("this {kind} belongs to another customer"))
        .with("owner_customer_id", owner.to_string())
        .with("identity_kind", kind)
}

/// Gives `customer` the identity, or 409 naming its current owner. Safe under concurrency: the
/// route's primary key decides, inside a savepoint so the caller's transaction survives a collision;
/// the customer's own row follows in the same transaction.
pub fn claim_identity(conn: &mut PgConnection, customer: Uuid, kind: &str, value: &str) -> ApiResult<()> {
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(routes::table)
            .values((routes::kind.eq(kind), routes::value.eq(value), routes::customer_id.eq(customer)))
            .on_conflict_do_nothing()
            .execute(conn)
    })?;
    if inserted == 1 {
        diesel::insert_into(ci::table)
            .values((ci::customer_id.eq(customer), ci::kind.eq(kind), ci::value.eq(value)))
            .execute(conn)?;
        return Ok(());
    }
    match owner_of(conn, kind, value)? {
        Some(owner) if owner == customer => Ok(()),
        Some(owner) => Err(identity_taken(owner, kind)),
        None => Err(ApiError::Unavailable { retry_after_seconds: 1 }),
    }
}

pub fn release_identity(conn: &mut PgConnection, customer: Uuid, kind: &str, value: &str) -> ApiResult<usize> {
    let released =
        diesel::delete(routes::table.find((kind, value)).filter(routes::customer_id.eq(customer))).execute(conn)?;
    diesel::delete(ci::table.find((customer, kind, value))).execute(conn)?;
    Ok(released)
}

/// Customer id, kind, value, since.
pub type IdentityRow = (Uuid, String, String, DateTime<Utc>);

pub fn identities_of(conn: &mut PgConnection, customers: &[Uuid]) -> ApiResult<Vec<IdentityRow>> {
    Ok(ci::table
        .filter(ci::customer_id.eq_any(customers))
        .select((ci::customer_id, ci::kind, ci::value, ci::created_at))
        .order((ci::kind, ci::value))
        .load(conn)?)
}

/// A merge: the routes of the source's identities point at the target (found through the source's
/// own rows, by key), then those rows move to the target like any customer-owned row.
pub fn move_identities(conn: &mut PgConnection, source: Uuid, target: Uuid) -> ApiResult<i64> {
    CachedSql::new(
        "UPDATE identity_routes r SET customer_id = ? \
         FROM (SELECT kind, value FROM customer_identities WHERE customer_id = ?) i \
         WHERE r.kind = i.kind AND r.value = i.value",
    )
    .bind::<SqlUuid, _>(target)
    .bind::<SqlUuid, _>(source)
    .execute(conn)?;
    let columns = "kind, value, created_at";
    Ok(crate::db::distribution::move_customer_rows(conn, "customer_identities", columns, source, target)? as i64)
}

/// Erasure: the customer's identities and their routes (both hold the identifier itself).
pub fn delete_identities(conn: &mut PgConnection, customer: Uuid) -> ApiResult<usize> {
    CachedSql::new(
        "DELETE FROM identity_routes r \
         USING (SELECT kind, value FROM customer_identities WHERE customer_id = ?) i \
         WHERE r.kind = i.kind AND r.value = i.value AND r.customer_id = ?",
    )
    .bind::<SqlUuid, _>(customer)
    .bind::<SqlUuid, _>(customer)
    .execute(conn)?;
    Ok(diesel::delete(ci::table.filter(ci::customer_id.eq(customer))).execute(conn)?)
}
