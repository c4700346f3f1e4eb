use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, ApiClient};
use crate::audit::{audited, AuditAction};
use crate::error::{ApiError, ApiResult, Violations};
use crate::http::auth::{Admin, Auth, ChainWide, LoginCandidate, Revocation, ALL_SCOPES};
use crate::http::idempotency::RedactOnReplay;
use crate::http::pagination::{Page, PageParams};
use crate::http::secrets;
use crate::state::AppState;

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

/// Whose secret a token request checks; failed attempts are counted per identity.
enum Identity {
    Client(String),
    Staff(String),
}

impl Identity {
    fn limit_key(&self) -> String {
        match self {
            Identity::Client(id) => format!("client_id:{id}"),
            Identity::Staff(username) => format!("username:{username}"),
        }
    }
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
        (status = 401, description = "Unknown client, wrong secret or password, or revoked", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: 10 failed attempts for this client id or username within 5 minutes, or too many token requests from this address (`Retry-After`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/auth/token")]
async fn issue_token(
    req: HttpRequest, state: web::Data<AppState>, body: crate::http::Json<TokenRequest>,
) -> ApiResult<HttpResponse> {
    state.limits.admit_token_request(state.config.trusted_proxies.of_request(&req))?;
    let now = state.clock.now();
    let (identity, secret) = match body.into_inner() {
        TokenRequest::ClientCredentials { client_id, client_secret } => (Identity::Client(client_id), client_secret),
        TokenRequest::Password { username, password } => (Identity::Staff(username), password),
    };
    let limit_key = identity.limit_key();
    state.limits.check_login_allowed(&limit_key, now)?;
    // The connection goes back to the pool before the (deliberately slow) hash check.
    let candidate = crate::db::run(&state.pool, move |conn| match &identity {
        Identity::Client(client_id) => {
            Ok(store::find_by_client_id(conn, client_id)?.map_or(LoginCandidate { hash: None, grant: None }, |c| {
                LoginCandidate {
                    hash: Some(c.secret_hash.clone()),
                    grant: c.revoked_at.is_none().then(|| (c.subject(), c.scopes.clone(), c.store_id)),
                }
            }))
        }
        Identity::Staff(username) => crate::staff::store::login_candidate(conn, username),
    })
    .await?;
    let verified = secrets::verify_secret_off_pool(secret, candidate.hash).await?;
    let Some((sub, scopes, store_id)) = candidate.grant.filter(|_| verified) else {
        state.limits.record_failed_login(&limit_key, now);
        return Err(ApiError::Unauthorized("invalid credentials".into()));
    };
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
    /// Requests per second this client's tokens may make (burst twice that); absent: the
    /// service default (`CRM_RATE_LIMIT_RPS`, 1,000); 0: unlimited.
    #[schema(minimum = 0, maximum = 1000000)]
    rate_limit_rps: Option<i32>,
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
    rate_limit_rps: Option<i32>,
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
            rate_limit_rps: c.rate_limit_rps,
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
    request_body = NewApiClient, security(("bearer" = ["admin"])),
    responses((status = 201, description = "Created; the secret is shown only now", body = CreatedApiClient))
)]
#[post("/v1/api-clients")]
async fn create_api_client(
    auth: Auth<Admin>, state: web::Data<AppState>, body: crate::http::Json<NewApiClient>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let mut v = Violations::new();
    let name = req.name.trim().to_string();
    v.check(!name.is_empty() && req.name.chars().count() <= 100, "name", "must be 1-100 characters");
    validate_scopes(&req.scopes, &mut v);
    v.check(req.rate_limit_rps.is_none_or(|r| (0..=1_000_000).contains(&r)), "rate_limit_rps", "must be 0-1000000");
    v.into_result()?;
    auth.require_chain_wide()?;
    let store_id = req.store_id;
    let secret = secrets::new_client_secret();
    let hash = secrets::hash_secret(&secret)?;
    let principal = auth.principal.clone();
    let client = crate::db::transaction(&state.pool, move |conn| {
        if let Some(store_id) = store_id {
            crate::stores::store::get(conn, store_id)
                .map_err(|_| ApiError::invalid("store_id", "no store with this id"))?;
        }
        let client =
            store::insert(conn, &secrets::new_client_id(), &name, &hash, &req.scopes, store_id, req.rate_limit_rps)?;
        crate::audit::record(
            conn,
            &principal,
            crate::audit::AuditAction::ApiClientCreate,
            Some(client.id.to_string()),
            json!({"scopes": client.scopes}),
        )?;
        Ok(client)
    })
    .await?;
    state.limits.set_client_rate(&client.subject(), client.rate_limit_rps.and_then(|r| u32::try_from(r).ok()));
    let mut res = HttpResponse::Created()
        .insert_header(("location", format!("/v1/api-clients/{}", client.id)))
        .json(CreatedApiClient { client: client.into(), client_secret: secret });
    // The secret is shown once: an idempotent replay answers without it.
    res.extensions_mut().insert(RedactOnReplay(&["client_secret"]));
    Ok(res)
}

/// List API clients.
#[utoipa::path(
    tag = "auth",
    operation_id = "list_api_clients",
    params(PageParams), security(("bearer" = ["admin"])),
    responses((status = 200, description = "API clients by id", body = Page<ApiClientView>))
)]
#[get("/v1/api-clients")]
async fn list_api_clients(
    _auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let fetch = move |conn: &mut PgConnection, after, n| store::list(conn, after, n);
    let page = page.load(&state.pool, fetch, |c: &ApiClientView| c.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read one API client.
#[utoipa::path(
    tag = "auth",
    operation_id = "get_api_client",
    params(("id" = Uuid, Path, description = "API client id")), security(("bearer" = ["admin"])),
    responses((status = 200, description = "The API client", body = ApiClientView))
)]
#[get("/v1/api-clients/{id}")]
async fn get_api_client(
    _auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let client = crate::db::run(&state.pool, move |conn| store::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(ApiClientView::from(client)))
}

/// Revoke an API client: its tokens stop working at once, and it is gone from the API (404 afterwards).
#[utoipa::path(
    tag = "auth",
    operation_id = "revoke_api_client",
    params(("id" = Uuid, Path, description = "API client id")), security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`api_client_not_found`: no such client, or revoked already", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/v1/api-clients/{id}")]
async fn revoke_api_client(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let (id, now) = (id.into_inner(), state.clock.now());
    let write = move |conn: &mut PgConnection| store::revoke(conn, id, now);
    let client = audited(&state.pool, &auth, AuditAction::ApiClientRevoke, write, move |_| id).await?;
    state.revocations.revoke(client.subject(), Revocation::All);
    Ok(HttpResponse::NoContent().finish())
}
