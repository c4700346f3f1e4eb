use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::schema::api_clients;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct ApiClient {
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub store_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub rate_limit_rps: Option<i32>,
}

impl ApiClient {
    pub fn subject(&self) -> String {
        format!("client:{}", self.id)
    }
}

pub fn insert(
    conn: &mut PgConnection, client_id: &str, name: &str, secret_hash: &str, scopes: &[String], store_id: Option<Uuid>,
    rate_limit_rps: Option<i32>,
) -> ApiResult<ApiClient> {
    Ok(diesel::insert_into(api_clients::table)
        .values((
            api_clients::id.eq(Uuid::now_v7()),
            api_clients::client_id.eq(client_id),
            api_clients::name.eq(name),
            api_clients::secret_hash.eq(secret_hash),
            api_clients::scopes.eq(scopes),
            api_clients::store_id.eq(store_id),
            api_clients::rate_limit_rps.eq(rate_limit_rps),
        ))
        .returning(ApiClient::as_returning())
        .get_result(conn)?)
}

/// Creates the bootstrap client, or resets its secret and admin scope when it already exists.
pub fn upsert_bootstrap(conn: &mut PgConnection, client_id: &str, secret_hash: &str) -> ApiResult<ApiClient> {
    let scopes = vec!["admin".to_string()];
    Ok(diesel::insert_into(api_clients::table)
        .values((
            api_clients::id.eq(Uuid::now_v7()),
            api_clients::client_id.eq(client_id),
            api_clients::name.eq("bootstrap"),
            api_clients::secret_hash.eq(secret_hash),
            api_clients::scopes.eq(&scopes),
        ))
        .on_conflict(api_clients::client_id)
        .do_update()
        .set((
            api_clients::secret_hash.eq(secret_hash),
            api_clients::scopes.eq(&scopes),
            api_clients::revoked_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(ApiClient::as_returning())
        .get_result(conn)?)
}

pub fn find_by_client_id(conn: &mut PgConnection, client_id: &str) -> ApiResult<Option<ApiClient>> {
    Ok(api_clients::table
        .filter(api_clients::client_id.eq(client_id))
        .select(ApiClient::as_select())
        .first(conn)
        .optional()?)
}

/// A live client. A revoked one is gone from the API (404, absent from the list): its row stays
/// only so its tokens are refused and the audit log keeps naming it.
pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<ApiClient> {
    api_clients::table
        .find(id)
        .filter(api_clients::revoked_at.is_null())
        .select(ApiClient::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("api_client_not_found", "no API client with this id"))
}

pub fn list(conn: &mut PgConnection, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<ApiClient>> {
    let mut q = api_clients::table
        .filter(api_clients::revoked_at.is_null())
        .select(ApiClient::as_select())
        .order(api_clients::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(api_clients::id.gt(after));
    }
    Ok(q.load(conn)?)
}

pub fn count_live(conn: &mut PgConnection) -> ApiResult<i64> {
    Ok(api_clients::table.filter(api_clients::revoked_at.is_null()).count().get_result(conn)?)
}

/// Revokes a live client: 404 `api_client_not_found` for one already revoked, as for a missing one.
pub fn revoke(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> ApiResult<ApiClient> {
    get(conn, id)?;
    Ok(diesel::update(api_clients::table.find(id))
        .set(api_clients::revoked_at.eq(Some(now)))
        .returning(ApiClient::as_returning())
        .get_result(conn)?)
}

/// Clients with their own request rate (`rate_limit_rps`), by subject.
pub fn rate_limits(conn: &mut PgConnection) -> ApiResult<std::collections::HashMap<String, u32>> {
    let rows: Vec<(Uuid, Option<i32>)> = api_clients::table
        .filter(api_clients::rate_limit_rps.is_not_null())
        .filter(api_clients::revoked_at.is_null())
        .select((api_clients::id, api_clients::rate_limit_rps))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, rps)| Some((format!("client:{id}"), u32::try_from(rps?).ok()?))).collect())
}

/// Subjects whose tokens must be refused: revoked clients.
pub fn revoked_subjects(conn: &mut PgConnection) -> ApiResult<Vec<String>> {
    let ids: Vec<Uuid> =
        api_clients::table.filter(api_clients::revoked_at.is_not_null()).select(api_clients::id).load(conn)?;
    Ok(ids.into_iter().map(|id| format!("client:{id}")).collect())
}
