use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::schema::stores;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = stores)]
pub struct Store {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub city: Option<String>,
    pub district: Option<String>,
    pub kind: super::StoreKind,
    pub daily_sales_target: Option<Decimal>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = stores)]
pub struct NewStore {
    pub code: String,
    pub name: String,
    pub city: Option<String>,
    pub district: Option<String>,
    pub kind: super::StoreKind,
    pub daily_sales_target: Option<Decimal>,
    pub active: bool,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = stores)]
pub struct StoreChanges {
    pub code: Option<String>,
    pub name: Option<String>,
    pub city: Option<Option<String>>,
    pub district: Option<Option<String>>,
    pub kind: Option<super::StoreKind>,
    pub daily_sales_target: Option<Option<Decimal>>,
    pub active: Option<bool>,
}

fn code_taken(e: diesel::result::Error) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("store_code_taken", "another store has this code"),
        other => other,
    }
}

pub fn insert(conn: &mut PgConnection, new: &NewStore) -> ApiResult<Store> {
    diesel::insert_into(stores::table)
        .values((stores::id.eq(Uuid::now_v7()), new))
        .returning(Store::as_returning())
        .get_result(conn)
        .map_err(code_taken)
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<Store> {
    stores::table
        .find(id)
        .select(Store::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("store_not_found", "no store with this id"))
}

pub fn list(conn: &mut PgConnection, only: Option<Uuid>, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<Store>> {
    let mut q = stores::table.select(Store::as_select()).order(stores::id).limit(limit).into_boxed();
    if let Some(only) = only {
        q = q.filter(stores::id.eq(only));
    }
    if let Some(after) = after {
        q = q.filter(stores::id.gt(after));
    }
    Ok(q.load(conn)?)
}

/// Applies changes if the store is still at `expected_version` (when given).
pub fn update(
    conn: &mut PgConnection, id: Uuid, expected_version: Option<i32>, changes: &StoreChanges,
) -> ApiResult<Store> {
    let current = stores::table.find(id).select(Store::as_select()).for_update().first(conn).optional()?;
    let current = current.ok_or_else(|| ApiError::not_found("store_not_found", "no store with this id"))?;
    crate::http::check_version(expected_version, current.version)?;
    diesel::update(stores::table.find(id))
        .set((changes, stores::version.eq(current.version + 1), stores::updated_at.eq(diesel::dsl::now)))
        .returning(Store::as_returning())
        .get_result(conn)
        .map_err(code_taken)
}
