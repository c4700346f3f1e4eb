use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::http::error::{ApiError, ApiResult};
use crate::schema::staff;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = staff)]
pub struct Staff {
    pub id: Uuid,
    pub name: String,
    pub phone: Option<String>,
    pub store_id: Option<Uuid>,
    pub roles: Vec<String>,
    pub skills: Vec<String>,
    pub capacity: i32,
    pub team: Option<String>,
    pub active: bool,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = staff)]
pub struct NewStaff {
    pub name: String,
    pub phone: Option<String>,
    pub store_id: Option<Uuid>,
    pub roles: Vec<String>,
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
    pub roles: Option<Vec<String>>,
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
    staff::table
        .find(id)
        .select(Staff::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("staff_not_found", "no staff member with this id"))
}

pub struct StaffFilter {
    pub store_id: Option<Uuid>,
    pub role: Option<String>,
    pub active: Option<bool>,
}

pub fn list(conn: &mut PgConnection, filter: &StaffFilter, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Staff>> {
    let mut q = staff::table.select(Staff::as_select()).order(staff::id).limit(limit).into_boxed();
    if let Some(store) = filter.store_id {
        q = q.filter(staff::store_id.eq(store));
    }
    if let Some(role) = &filter.role {
        q = q.filter(staff::roles.contains(vec![role.clone()]));
    }
    if let Some(active) = filter.active {
        q = q.filter(staff::active.eq(active));
    }
    if let Some(after) = after {
        q = q.filter(staff::id.gt(after));
    }
    Ok(q.load(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: Uuid,
    expected_version: Option<i32>,
    changes: &StaffChanges,
) -> ApiResult<Staff> {
    let current = staff::table.find(id).select(Staff::as_select()).for_update().first(conn).optional()?;
    let current = current.ok_or_else(|| ApiError::not_found("staff_not_found", "no staff member with this id"))?;
    crate::http::check_version(expected_version, current.version)?;
    diesel::update(staff::table.find(id))
        .set((changes, staff::version.eq(current.version + 1), staff::updated_at.eq(Utc::now())))
        .returning(Staff::as_returning())
        .get_result(conn)
        .map_err(username_taken)
}

/// Password grant: an active staff member with this username and password.
pub fn authenticate(
    conn: &mut PgConnection,
    username: &str,
    password: &str,
) -> ApiResult<(String, Vec<String>, Option<Uuid>)> {
    let member: Option<Staff> =
        staff::table.filter(staff::username.eq(username)).select(Staff::as_select()).first(conn).optional()?;
    let hash = member.as_ref().and_then(|m| m.password_hash.as_deref());
    let ok = crate::auth_clients::secrets::verify_secret(password, hash);
    match member {
        Some(m) if ok && m.active => {
            Ok((format!("staff:{}", m.id), super::rules::scopes_for_roles(&m.roles), m.store_id))
        }
        _ => Err(ApiError::Unauthorized("invalid username or password".into())),
    }
}

pub fn inactive_subjects(conn: &mut PgConnection) -> ApiResult<Vec<String>> {
    let ids: Vec<Uuid> = staff::table.filter(staff::active.eq(false)).select(staff::id).load(conn)?;
    Ok(ids.into_iter().map(|id| format!("staff:{id}")).collect())
}
