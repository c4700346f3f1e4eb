use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, NewStore, Store, StoreChanges};
use super::StoreKind;
use crate::audit::{audited, AuditAction};
use crate::error::PreconditionFailed;
use crate::error::{ApiError, ApiResult, Violations};
use crate::http::auth::{Admin, AnyScope, Auth, ChainWide, Principal};
use crate::http::pagination::{Page, PageParams};
use crate::http::patch::{double_option, trimmed};
use crate::http::{etag, IfMatch};
use crate::state::AppState;

// Problem responses several operations name.
crate::problem_response!(pub StoreCodeTaken = 409, "Code taken (`store_code_taken`)");

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_store).service(list_stores).service(get_store).service(update_store);
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "code": "BJ-CY-01", "name": "北京朝阳大悦城店",
    "city": "北京", "district": "朝阳区", "kind": "store", "daily_sales_target": "50000.00", "active": true,
    "version": 1, "created_at": "2026-11-23T08:00:00Z", "updated_at": "2026-11-23T08:00:00Z"}))]
pub struct StoreView {
    id: Uuid,
    code: String,
    name: String,
    city: Option<String>,
    district: Option<String>,
    kind: StoreKind,
    #[serde(with = "crate::money::option")]
    #[schema(value_type = Option<String>, example = "50000.00")]
    daily_sales_target: Option<Decimal>,
    active: bool,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Store> for StoreView {
    fn from(s: Store) -> Self {
        StoreView {
            id: s.id,
            code: s.code,
            name: s.name,
            city: s.city,
            district: s.district,
            kind: s.kind,
            daily_sales_target: s.daily_sales_target,
            active: s.active,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "BJ-CY-01", "name": "北京朝阳大悦城店", "city": "北京", "district": "朝阳区",
    "kind": "store", "daily_sales_target": "50000.00"}))]
pub struct StoreInput {
    #[schema(min_length = 1, max_length = 32, pattern = "^[A-Za-z0-9_-]+$")]
    code: Option<String>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, format = "non-blank")]
    name: Option<String>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100)]
    city: Option<Option<String>>,
    /// Blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 100)]
    district: Option<Option<String>>,
    /// `store` (default) or `online`.
    #[schema(value_type = Option<StoreKind>)]
    kind: Option<String>,
    /// Money, not negative: up to two decimals.
    #[serde(default, deserialize_with = "money_patch")]
    #[schema(value_type = Option<String>, format = "money", example = "50000.00")]
    daily_sales_target: Option<Option<Decimal>>,
    active: Option<bool>,
}

fn money_patch<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Decimal>>, D::Error> {
    crate::money::option::deserialize(d).map(Some)
}

impl StoreInput {
    fn validate(&self, creating: bool) -> ApiResult<()> {
        let mut v = Violations::new();
        match &self.code {
            Some(code) => v.check(
                (1..=32).contains(&code.len())
                    && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "code",
                "must be 1-32 letters, digits, '-' or '_'",
            ),
            None if creating => v.add("code", "is required"),
            None => {}
        }
        match &self.name {
            Some(name) => {
                v.check(!name.trim().is_empty() && name.chars().count() <= 100, "name", "must be 1-100 characters")
            }
            None if creating => v.add("name", "is required"),
            None => {}
        }
        if let Some(kind) = &self.kind {
            v.check(StoreKind::parse(kind).is_some(), "kind", "must be 'store' or 'online'");
        }
        for (field, value) in [("city", &self.city), ("district", &self.district)] {
            if let Some(Some(text)) = value {
                v.check(text.chars().count() <= 100, field, "must be at most 100 characters");
            }
        }
        if let Some(Some(target)) = self.daily_sales_target {
            v.check(target >= Decimal::ZERO, "daily_sales_target", "must not be negative");
        }
        v.into_result()
    }

    fn into_changes(self) -> StoreChanges {
        StoreChanges {
            code: self.code,
            name: self.name.map(|n| n.trim().to_string()),
            city: trimmed(self.city),
            district: trimmed(self.district),
            // Checked by `validate`: a kind that is none of the words never gets here.
            kind: self.kind.as_deref().and_then(StoreKind::parse),
            daily_sales_target: self.daily_sales_target,
            active: self.active,
        }
    }
}

/// A store-bound caller reads its own store only; the others answer as missing ones do.
fn visible_to(principal: &Principal, store_id: Uuid) -> ApiResult<()> {
    principal.store_scope().admit(
        (),
        |_| Some(store_id),
        ApiError::not_found("store_not_found", "no store with this id"),
    )
}

fn store_response(status: actix_web::http::StatusCode, store: Store) -> HttpResponse {
    HttpResponse::build(status).insert_header(etag(store.version)).json(StoreView::from(store))
}

/// Create a store.
#[utoipa::path(
    tag = "stores", operation_id = "create_store", request_body = StoreInput, security(("bearer" = ["admin"])),
    responses((status = 201, description = "Created", body = StoreView), crate::stores::api::StoreCodeTaken)
)]
#[post("/v1/stores")]
async fn create_store(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, body: crate::http::Json<StoreInput>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner();
    input.validate(true)?;
    let c = input.into_changes();
    let new = NewStore {
        code: c.code.unwrap_or_default(),
        name: c.name.unwrap_or_default(),
        city: c.city.flatten(),
        district: c.district.flatten(),
        kind: c.kind.unwrap_or(StoreKind::Store),
        daily_sales_target: c.daily_sales_target.flatten(),
        active: c.active.unwrap_or(true),
    };
    let write = move |conn: &mut PgConnection| store::insert(conn, &new);
    let store = audited(&state.pool, &auth, AuditAction::StoreCreate, write, |done| done.id).await?;
    Ok(store_response(actix_web::http::StatusCode::CREATED, store))
}

/// List stores (a store-bound caller sees only its own).
#[utoipa::path(
    tag = "stores", operation_id = "list_stores", params(PageParams), security(("bearer" = [])),
    responses((status = 200, description = "Stores by id", body = Page<StoreView>))
)]
#[get("/v1/stores")]
async fn list_stores(
    auth: Auth<AnyScope>, state: web::Data<AppState>, page: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    let only = auth.store_scope().only();
    let fetch = move |conn: &mut PgConnection, after, n| store::list(conn, only, after, n);
    let page = page.load(&state.pool, fetch, |s: &StoreView| s.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}

/// Read a store.
#[utoipa::path(
    tag = "stores", operation_id = "get_store",
    params(("id" = Uuid, Path, description = "Store id")), security(("bearer" = [])),
    responses((status = 200, description = "The store", body = StoreView))
)]
#[get("/v1/stores/{id}")]
async fn get_store(auth: Auth<AnyScope>, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    visible_to(&auth, id)?;
    let store = crate::db::run(&state.pool, move |conn| store::get(conn, id)).await?;
    Ok(store_response(actix_web::http::StatusCode::OK, store))
}

/// Change a store; send `If-Match` with the ETag you read to avoid overwriting someone else's change.
#[utoipa::path(
    tag = "stores", operation_id = "update_store", request_body = StoreInput,
    params(("id" = Uuid, Path, description = "Store id"), IfMatch), security(("bearer" = ["admin"])),
    responses((status = 200, description = "Updated", body = StoreView), StoreCodeTaken, PreconditionFailed)
)]
#[patch("/v1/stores/{id}")]
async fn update_store(
    auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<StoreInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let input = body.into_inner();
    input.validate(false)?;
    let changes = input.into_changes();
    let expected = expected_version.0;
    let write = move |conn: &mut PgConnection| store::update(conn, id, expected, &changes);
    let store = audited(&state.pool, &auth, AuditAction::StoreUpdate, write, move |_| id).await?;
    Ok(store_response(actix_web::http::StatusCode::OK, store))
}
