use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::rules::StaffRole;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{LoginCandidate, Revocation, StoreScope};
use crate::schema::staff;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff)]
pub struct Staff {
    pub id: Uuid,
    pub name: String,
    pub phone: Option<String>,
    pub store_id: Option<Uuid>,
    pub roles: Vec<StaffRole>,
    pub skills: Vec<String>,
    pub capacity: i32,
    pub team: Option<String>,
    pub active: bool,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tokens_valid_after: Option<DateTime<Utc>>,
}

impl Staff {
    pub fn subject(&self) -> String {
        format!("staff:{}", self.id)
    }

    /// How this member's earlier tokens are cut off, if at all.
    pub fn token_cutoff(&self) -> Option<Revocation> {
        token_cutoff(self.active, self.tokens_valid_after)
    }
}

/// Inactive: every token. Changed at `t`: every token issued up to and including t's second
/// (`iat` has whole seconds, and a token from the second of the change may carry the old
/// rights; a login in that same second simply needs a retry).
fn token_cutoff(active: bool, changed_at: Option<DateTime<Utc>>) -> Option<Revocation> {
    match (active, changed_at) {
        (false, _) => Some(Revocation::All),
        (true, Some(t)) => Some(Revocation::IssuedBefore(t.timestamp() + 1)),
        (true, None) => None,
    }
}

#[derive(Insertable)]
#[diesel(table_name = staff)]
pub struct NewStaff {
    pub name: String,
    pub phone: Option<String>,
    pub store_id: Option<Uuid>,
    pub roles: Vec<StaffRole>,
    pub skills: Vec<String>,
    pub capacity: i32,
    pub team: Option<String>,
    pub active: bool,
    pub username: Option<String>,
    pub password_hash: Option<String>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = staff)]
pub struct StaffChanges {
    pub name: Option<String>,
    pub phone: Option<Option<String>>,
    pub store_id: Option<Option<Uuid>>,
    pub roles: Option<Vec<StaffRole>>,
    pub skills: Option<Vec<String>>,
    pub capacity: Option<i32>,
    pub team: Option<Option<String>>,
    pub active: Option<bool>,
    pub username: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
}

fn username_taken(e: diesel::result::Error) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("username_taken", "another staff member has this username"),
        ApiError::Unprocessable { .. } => ApiError::invalid("store_id", "no store with this id"),
        other => other,
    }
}

pub fn insert(conn: &mut PgConnection, new: &NewStaff) -> ApiResult<Staff> {
    diesel::insert_into(staff::table)
        .values((staff::id.eq(Uuid::now_v7()), new))
        .returning(Staff::as_returning())
        .get_result(conn)
        .map_err(username_taken)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Staff> {
    get_in(conn, id, StoreScope::Chain)
}

/// A staff member within the caller's store scope; another store's is `staff_not_found`.
pub fn get_in(conn: &mut PgConnection, id: Uuid, scope: StoreScope) -> ApiResult<Staff> {
    let mut q = staff::table.find(id).select(Staff::as_select()).into_boxed();
    if let Some(store) = scope.only() {
        q = q.filter(staff::store_id.eq(store));
    }
    q.first(conn).optional()?.ok_or_else(|| ApiError::not_found("staff_not_found", "no staff member with this id"))
}

pub struct StaffFilter {
    /// Required for a store-bound caller (its own store).
    pub store_id: Option<Uuid>,
    pub role: Option<StaffRole>,
    pub active: Option<bool>,
}

pub fn list(conn: &mut PgConnection, filter: &StaffFilter, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Staff>> {
    let mut q = staff::table.select(Staff::as_select()).order(staff::id).limit(limit).into_boxed();
    if let Some(store) = filter.store_id {
        q = q.filter(staff::store_id.eq(store));
    }
    if let Some(role) = filter.role {
        q = q.filter(staff::roles.contains(vec![role]));
    }
    if let Some(active) = filter.active {
        q = q.filter(staff::active.eq(active));
    }
    if let Some(after) = after {
        q = q.filter(staff::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Applies `changes` to a member within `scope`. A change of roles, store or active flag ends
/// the tokens issued before `now` (SPEC §3.1): they carry the old rights.
pub fn update(
    conn: &mut PgConnection, id: Uuid, scope: StoreScope, expected_version: Option<i32>, changes: &StaffChanges,
    now: DateTime<Utc>,
) -> ApiResult<Staff> {
    let not_found = || ApiError::not_found("staff_not_found", "no staff member with this id");
    let current = staff::table.find(id).select(Staff::as_select()).for_update().first(conn).optional()?;
    let current = scope.admit(current.ok_or_else(not_found)?, |s| s.store_id, not_found())?;
    crate::http::check_version(expected_version, current.version)?;
    let rights_changed = changes.roles.as_ref().is_some_and(|r| *r != current.roles)
        || changes.store_id.is_some_and(|s| s != current.store_id)
        || changes.active.is_some_and(|a| a != current.active);
    let valid_after = if rights_changed { Some(now) } else { current.tokens_valid_after };
    diesel::update(staff::table.find(id))
        .set((
            changes,
            staff::version.eq(current.version + 1),
            staff::updated_at.eq(diesel::dsl::now),
            staff::tokens_valid_after.eq(valid_after),
        ))
        .returning(Staff::as_returning())
        .get_result(conn)
        .map_err(username_taken)
}

/// Password grant: an active staff member with this username and password.
/// The staff member who logs in with `username`: the password hash to check, and the grant
/// (subject, scopes from roles, store) when the member is active.
pub fn login_candidate(conn: &mut PgConnection, username: &str) -> ApiResult<LoginCandidate> {
    let member: Option<Staff> =
        staff::table.filter(staff::username.eq(username)).select(Staff::as_select()).first(conn).optional()?;
    Ok(LoginCandidate {
        hash: member.as_ref().and_then(|m| m.password_hash.clone()),
        grant: member
            .filter(|m| m.active)
            .map(|m| (format!("staff:{}", m.id), super::rules::scopes_for_roles(&m.roles), m.store_id)),
    })
}

/// Whose tokens to refuse: inactive staff entirely, and the tokens issued before a change to a
/// staff member's roles or store.
pub fn token_cutoffs(conn: &mut PgConnection) -> ApiResult<Vec<(String, Revocation)>> {
    let rows: Vec<(Uuid, bool, Option<DateTime<Utc>>)> = staff::table
        .filter(staff::active.eq(false).or(staff::tokens_valid_after.is_not_null()))
        .select((staff::id, staff::active, staff::tokens_valid_after))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, active, after)| Some((format!("staff:{id}"), token_cutoff(active, after)?)))
        .collect())
}
