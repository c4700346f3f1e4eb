use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::http::error::{ApiError, ApiResult};
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
}

impl ApiClient {
    pub fn subject(&self) -> String {
        format!("client:{}", self.id)
    }
}

pub fn insert(
    conn: &mut PgConnection,
    client_id: &str,
    name: &str,
    secret_hash: &str,
    scopes: &[String],
    store_id: Option<Uuid>,
) -> ApiResult<ApiClient> {
    Ok(diesel::insert_into(api_clients::table)
        .values((
            api_clients::id.eq(Uuid::now_v7()),
            api_clients::client_id.eq(client_id),
            api_clients::name.eq(name),
            api_clients::secret_hash.eq(secret_hash),
            api_clients::scopes.eq(scopes),
            api_clients::store_id.eq(store_id),
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

pub fn get(conn: &mut PgConnection, id: Uuid) -> ApiResult<ApiClient> {
    api_clients::table
        .find(id)
        .select(ApiClient::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("api_client_not_found", "no API client with this id"))
}

/// A store-bound administrator only ever sees its own store's clients; others look absent.
pub fn get_visible(conn: &mut PgConnection, id: Uuid, own_store: Option<Uuid>) -> ApiResult<ApiClient> {
    let client = get(conn, id)?;
    match own_store {
        Some(store) if client.store_id != Some(store) => {
            Err(ApiError::not_found("api_client_not_found", "no API client with this id"))
        }
        _ => Ok(client),
    }
}

pub fn list(conn: &mut PgConnection, only: Option<Uuid>, after: Option<Uuid>, limit: i64) -> ApiResult<Vec<ApiClient>> {
    let mut q = api_clients::table.select(ApiClient::as_select()).order(api_clients::id).limit(limit).into_boxed();
    if let Some(store) = only {
        q = q.filter(api_clients::store_id.eq(store));
    }
    if let Some(after) = after {
        q = q.filter(api_clients::id.gt(after));
    }
    Ok(q.load(conn)?)
}

pub fn count_live(conn: &mut PgConnection) -> ApiResult<i64> {
    Ok(api_clients::table.filter(api_clients::revoked_at.is_null()).count().get_result(conn)?)
}

pub fn revoke(conn: &mut PgConnection, id: Uuid) -> ApiResult<ApiClient> {
    let client = get(conn, id)?;
    if client.revoked_at.is_some() {
        return Ok(client);
    }
    Ok(diesel::update(api_clients::table.find(id))
        .set(api_clients::revoked_at.eq(Some(Utc::now())))
        .returning(ApiClient::as_returning())
        .get_result(conn)?)
}

/// Subjects whose tokens must be refused: revoked clients.
pub fn revoked_subjects(conn: &mut PgConnection) -> ApiResult<Vec<String>> {
    let ids: Vec<Uuid> =
        api_clients::table.filter(api_clients::revoked_at.is_not_null()).select(api_clients::id).load(conn)?;
    Ok(ids.into_iter().map(|id| format!("client:{id}")).collect())
}
