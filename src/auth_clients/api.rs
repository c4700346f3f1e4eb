use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::secrets;
use super::store::{self, ApiClient};
use crate::http::auth::{Admin, Auth, ALL_SCOPES};
use crate::http::error::{ApiError, ApiResult, Violations};
use crate::http::pagination::{Page, PageParams};
use crate::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_token)
        .service(create_api_client)
        .service(list_api_clients)
        .service(get_api_client)
        .service(revoke_api_client);
}

#[derive(Deserialize, ToSchema)]
#[serde(tag = "grant_type", rename_all = "snake_case", deny_unknown_fields)]
#[schema(example = json!({"grant_type": "client_credentials", "client_id": "cli_4f1c2a9b0d3e5f6a7b8c", "client_secret": "sk_..."}))]
pub enum TokenRequest {
    /// A machine (POS fleet, connector) with its client id and secret.
    ClientCredentials { client_id: String, client_secret: String },
    /// A staff member with a username and password.
    Password { username: String, password: String },
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9...", "token_type": "Bearer", "expires_in": 3600, "scope": "customers:read customers:write"}))]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
}

/// Exchange client credentials or a staff password for a bearer token.
#[utoipa::path(
    tag = "auth",
    operation_id = "issue_token",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 401, description = "Unknown client, wrong secret or password, or revoked", body = crate::http::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/auth/token")]
async fn issue_token(state: web::Data<AppState>, body: crate::http::Json<TokenRequest>) -> ApiResult<HttpResponse> {
    let request = body.into_inner();
    let (sub, scopes, store_id) = crate::db::run(&state.pool, move |conn| match request {
        TokenRequest::ClientCredentials { client_id, client_secret } => {
            let client = store::find_by_client_id(conn, &client_id)?;
            let ok = secrets::verify_secret(&client_secret, client.as_ref().map(|c| c.secret_hash.as_str()));
            match client {
                Some(c) if ok && c.revoked_at.is_none() => Ok((c.subject(), c.scopes.clone(), c.store_id)),
                _ => Err(ApiError::Unauthorized("invalid client credentials".into())),
            }
        }
        TokenRequest::Password { username, password } => crate::staff::store::authenticate(conn, &username, &password),
    })
    .await?;
    let access_token = state.tokens.issue(&sub, &scopes, store_id)?;
    Ok(HttpResponse::Ok().insert_header(("cache-control", "no-store")).json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl_seconds,
        scope: scopes.join(" "),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Chaoyang POS fleet", "scopes": ["customers:read", "orders:write"], "store_id": null}))]
pub struct NewApiClient {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: String,
    /// Scopes granted to the client's tokens (at least one).
    #[schema(min_items = 1, format = "scope")]
    scopes: Vec<String>,
    /// Binds the client to one store: it can act for that store only.
    store_id: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "client_id": "cli_4f1c2a9b0d3e5f6a7b8c",
    "name": "Chaoyang POS fleet", "scopes": ["customers:read"], "store_id": null,
    "created_at": "2026-11-23T08:00:00Z", "revoked_at": null}))]
pub struct ApiClientView {
    id: Uuid,
    client_id: String,
    name: String,
    scopes: Vec<String>,
    store_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiClient> for ApiClientView {
    fn from(c: ApiClient) -> Self {
        ApiClientView {
            id: c.id,
            client_id: c.client_id,
            name: c.name,
            scopes: c.scopes,
            store_id: c.store_id,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "client_id": "cli_4f1c2a9b0d3e5f6a7b8c",
    "client_secret": "sk_3q2+7w...", "name": "Chaoyang POS fleet", "scopes": ["customers:read"], "store_id": null,
    "created_at": "2026-11-23T08:00:00Z", "revoked_at": null}))]
pub struct CreatedApiClient {
    #[serde(flatten)]
    client: ApiClientView,
    /// Shown only in this response; store it now.
    client_secret: String,
}

pub fn validate_scopes(scopes: &[String], v: &mut Violations) {
    if scopes.is_empty() {
        v.add("scopes", "at least one scope is required");
    }
    for s in scopes {
        if !ALL_SCOPES.contains(&s.as_str()) {
            v.add("scopes", format!("unknown scope '{s}'"));
        }
    }
}

/// Create an API client; its secret is returned once.
#[utoipa::path(
    tag = "auth",
    operation_id = "create_api_client",
    request_body = NewApiClient,
    security(("bearer" = ["admin"])),
    responses((status = 201, description = "Created; the secret is shown only now", body = CreatedApiClient))
)]
#[post("/v1/api-clients")]
async fn create_api_client(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    body: crate::http::Json<NewApiClient>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let mut v = Violations::new();
    let name = req.name.trim().to_string();
    v.check(!name.is_empty() && req.name.chars().count() <= 100, "name", "must be 1-100 characters");
    validate_scopes(&req.scopes, &mut v);
    v.into_result()?;
    // A store-bound caller can only make clients bound to its own store (never an unbound one).
    let store_id = match (auth.store_id, req.store_id) {
        (Some(own), Some(asked)) if asked != own => {
            return Err(ApiError::forbidden("a store-bound client can only create clients for its own store"))
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let secret = secrets::new_client_secret();
    let hash = secrets::hash_secret(&secret)?;
    let principal = auth.principal.clone();
    let client = crate::db::transaction(&state.pool, move |conn| {
        if let Some(store_id) = store_id {
            crate::stores::store::get(conn, store_id)
                .map_err(|_| ApiError::invalid("store_id", "no store with this id"))?;
        }
        let client = store::insert(conn, &secrets::new_client_id(), &name, &hash, &req.scopes, store_id)?;
        crate::audit::record(
            conn,
            &principal,
            "api_client.create",
            "api_client",
            Some(client.id.to_string()),
            json!({"scopes": client.scopes}),
        )?;
        Ok(client)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/v1/api-clients/{}", client.id)))
        .json(CreatedApiClient { client: client.into(), client_secret: secret }))
}

/// List API clients.
#[utoipa::path(
    tag = "auth",
    operation_id = "list_api_clients",
    params(PageParams),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "API clients by id", body = Page<ApiClientView>))
)]
#[get("/v1/api-clients")]
async fn list_api_clients(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let limit = page.limit()?;
    let after = page.after::<Uuid>()?;
    let only = auth.store_id;
    let rows = crate::db::run(&state.pool, move |conn| store::list(conn, only, after, limit + 1)).await?;
    let views: Vec<ApiClientView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |c| c.id.to_string())))
}

/// Read one API client.
#[utoipa::path(
    tag = "auth",
    operation_id = "get_api_client",
    params(("id" = Uuid, Path, description = "API client id")),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "The API client", body = ApiClientView))
)]
#[get("/v1/api-clients/{id}")]
async fn get_api_client(auth: Auth<Admin>, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let own_store = auth.store_id;
    let client = crate::db::run(&state.pool, move |conn| store::get_visible(conn, id, own_store)).await?;
    Ok(HttpResponse::Ok().json(ApiClientView::from(client)))
}

/// Revoke an API client: its tokens stop working at once.
#[utoipa::path(
    tag = "auth",
    operation_id = "revoke_api_client",
    params(("id" = Uuid, Path, description = "API client id")),
    security(("bearer" = ["admin"])),
    responses((status = 204, description = "Revoked"))
)]
#[delete("/v1/api-clients/{id}")]
async fn revoke_api_client(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let principal = auth.principal.clone();
    let client = crate::db::transaction(&state.pool, move |conn| {
        store::get_visible(conn, id, principal.store_id)?;
        let client = store::revoke(conn, id)?;
        crate::audit::record(conn, &principal, "api_client.revoke", "api_client", Some(id.to_string()), json!({}))?;
        Ok(client)
    })
    .await?;
    state.revocations.revoke(client.subject());
    Ok(HttpResponse::NoContent().finish())
}
