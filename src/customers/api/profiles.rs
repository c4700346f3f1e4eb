//! Customer profiles: create, read, change, upsert by identity, search.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::customers::model::{CustomerInput, CustomerView};
use crate::customers::rules;
use crate::customers::service;
use crate::customers::store::{self, SearchFilter};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::auth::{Auth, CustomersRead, CustomersWrite, Principal};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::http::IfMatch;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upsert_customer_by_identity)
        .service(create_customer)
        .service(search_customers)
        .service(get_customer)
        .service(update_customer);
}

/// Writes the audit entry every unmasked read of customer data needs.
pub fn audit_pii_read(conn: &mut PgConnection, who: &Principal, ids: &[Uuid]) -> ApiResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let (resource_id, detail) = match ids {
        [one] => (Some(one.to_string()), json!({})),
        many => (None, json!({"customer_ids": many})),
    };
    crate::audit::record(conn, who, crate::audit::AuditAction::CustomerReadPii, resource_id, detail)
}

/// Reads one customer as the caller may see it, auditing unmasked reads.
pub fn read_view(conn: &mut PgConnection, who: &Principal, id: Uuid, today: NaiveDate) -> ApiResult<CustomerView> {
    let customer = store::get_profile(conn, id)?;
    view_of(conn, who, customer, today)
}

/// Several customers, in the order of `ids`, as the caller may see them (unmasked reads audited).
pub fn views_of(
    conn: &mut PgConnection, who: &Principal, ids: &[Uuid], today: NaiveDate,
) -> ApiResult<Vec<CustomerView>> {
    let mut rows = store::get_many(conn, ids)?;
    rows.sort_by_key(|c| ids.iter().position(|id| *id == c.id));
    let unmasked = who.has("customers:pii");
    if unmasked {
        audit_pii_read(conn, who, ids)?;
    }
    service::views(conn, rows, unmasked, today)
}

/// Whether this caller reads the customer unmasked; such a read is audited before it is answered.
pub fn audited_unmasked(conn: &mut PgConnection, who: &Principal, customer: Uuid) -> ApiResult<bool> {
    let unmasked = who.has("customers:pii");
    if unmasked {
        audit_pii_read(conn, who, &[customer])?;
    }
    Ok(unmasked)
}

/// The customer as this caller may see them (an unmasked read is audited).
pub fn view_of(
    conn: &mut PgConnection, who: &Principal, customer: store::Customer, today: NaiveDate,
) -> ApiResult<CustomerView> {
    let unmasked = audited_unmasked(conn, who, customer.id)?;
    service::view(conn, customer, unmasked, today)
}

pub fn customer_response(status: StatusCode, view: CustomerView) -> HttpResponse {
    crate::http::versioned(status, view.version, format!("/v1/customers/{}", view.id), &view)
}

/// Create a customer. Its phone and email become identities; one that belongs to someone else is 409.
#[utoipa::path(
    tag = "customers", operation_id = "create_customer", request_body = CustomerInput,
    security(("bearer" = ["customers:write"])),
    responses(
        (status = 201, description = "Created", body = CustomerView),
        (status = 409, description = "`phone_taken` / `identity_taken` with `owner_customer_id`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/customers")]
async fn create_customer(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, body: crate::http::Json<CustomerInput>,
) -> ApiResult<HttpResponse> {
    let now = state.clock.now();
    let input = body.into_inner().validate(service::today(now, state.config.timezone), "")?;
    let who = auth.principal.clone();
    let today = state.today();
    let view = crate::db::transaction(&state.pool, move |conn| {
        let customer = service::create(conn, input, now, who.store_scope())?;
        read_view(conn, &who, customer.id, today)
    })
    .await?;
    Ok(customer_response(StatusCode::CREATED, view))
}

/// Read a customer (PII masked without `customers:pii`).
#[utoipa::path(
    tag = "customers", operation_id = "get_customer",
    params(("id" = Uuid, Path, description = "Customer id")), security(("bearer" = ["customers:read"])),
    responses((status = 200, description = "The customer", body = CustomerView))
)]
#[get("/v1/customers/{id}")]
async fn get_customer(
    auth: Auth<CustomersRead>, state: web::Data<AppState>, id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let who = auth.principal.clone();
    let today = state.today();
    let view = crate::db::run(&state.pool, move |conn| read_view(conn, &who, id, today)).await?;
    Ok(customer_response(StatusCode::OK, view))
}

/// Change a customer; absent fields stay, `null` clears. `If-Match` guards against lost updates.
#[utoipa::path(
    tag = "customers", operation_id = "update_customer", request_body = CustomerInput,
    params(("id" = Uuid, Path, description = "Customer id"), IfMatch), security(("bearer" = ["customers:write"])),
    responses(
        (status = 200, description = "Updated", body = CustomerView),
        (status = 409, description = "Identity taken, or the customer was merged or erased", body = Problem, content_type = "application/problem+json"),
        crate::error::PreconditionFailed,
    )
)]
#[patch("/v1/customers/{id}")]
async fn update_customer(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, expected_version: IfMatch, id: web::Path<Uuid>,
    body: crate::http::Json<CustomerInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let mut raw = body.into_inner();
    if raw.identities.is_some() {
        return Err(ApiError::invalid("identities", "add identities with POST /v1/customers/{id}/identities"));
    }
    raw.identities = None;
    let now = state.clock.now();
    let input = raw.validate(service::today(now, state.config.timezone), "")?;
    let expected = expected_version.0;
    let who = auth.principal.clone();
    let today = state.today();
    let view = crate::db::transaction(&state.pool, move |conn| {
        store::get_profile(conn, id)?;
        service::update(conn, id, expected, input, now, who.store_scope())?;
        read_view(conn, &who, id, today)
    })
    .await?;
    Ok(customer_response(StatusCode::OK, view))
}

/// Upsert for connectors: updates the customer who owns the identity, or creates one who does.
#[utoipa::path(
    tag = "customers", operation_id = "upsert_customer_by_identity", request_body = CustomerInput,
    params(("kind" = String, Path, format = "identity-kind", description = "Identity kind, e.g. `tmall_ouid`, `phone`, `external:erp`"),
           ("value" = String, Path, format = "identity-value", description = "Identity value, in the form its kind needs (as in `IdentityInput`)")),
    security(("bearer" = ["customers:write"])),
    responses(
        (status = 200, description = "Updated the owner", body = CustomerView),
        (status = 201, description = "Created a customer with this identity", body = CustomerView),
        (status = 409, description = "Another identity in the body belongs to someone else", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/v1/customers/by-identity/{kind}/{value}")]
async fn upsert_customer_by_identity(
    auth: Auth<CustomersWrite>, state: web::Data<AppState>, path: web::Path<(String, String)>,
    body: crate::http::Json<CustomerInput>,
) -> ApiResult<HttpResponse> {
    let (kind, value) = path.into_inner();
    let (kind, value) = rules::normalize_identity(&kind, &value).map_err(|m| ApiError::invalid("value", m))?;
    let now = state.clock.now();
    let input = body.into_inner().validate(service::today(now, state.config.timezone), "")?;
    let who = auth.principal.clone();
    let today = state.today();
    let (view, created) = crate::db::transaction(&state.pool, move |conn| {
        let (customer, created) = service::upsert_by_identity(conn, &kind, &value, input, now, who.store_scope())?;
        Ok((read_view(conn, &who, customer.id, today)?, created))
    })
    .await?;
    Ok(customer_response(if created { StatusCode::CREATED } else { StatusCode::OK }, view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Name (part), phone (full or last 4 digits), email or member card.
    q: Option<String>,
    tag: Option<String>,
    /// Members of this tier, e.g. `silver`.
    tier: Option<String>,
    city: Option<String>,
    /// Home store (a store-bound principal: its own, the default; another is 403).
    store_id: Option<Uuid>,
    created_after: Option<DateTime<Utc>>,
    /// `prospect`, `new`, `dormant`, `churn_risk`, `active` or `occasional` (SPEC §9), today.
    #[param(format = "lifecycle-stage")]
    lifecycle_stage: Option<String>,
    /// `active` (default), `merged` or `erased`.
    #[param(value_type = Option<rules::CustomerStatus>)]
    status: Option<String>,
}

/// Search customers.
///
/// A store-bound principal searches its own store's customers (`home_store_id`) only.
#[utoipa::path(
    tag = "customers", operation_id = "search_customers", params(PageParams, SearchParams),
    security(("bearer" = ["customers:read"])),
    responses(
        (status = 200, description = "Matching customers by id", body = Page<CustomerView>),
        (status = 403, description = "`forbidden` without `customers:read`; `store_bound_principal` when a store-bound principal names another store", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/customers")]
async fn search_customers(
    auth: Auth<CustomersRead>, state: web::Data<AppState>, query: Listing<SearchParams>,
) -> ApiResult<HttpResponse> {
    let (page, p) = (query.page, query.filter);
    let limit = page.limit()?;
    let after = page.after::<Uuid>()?;
    let status = match p.status.as_deref() {
        None => rules::CustomerStatus::Active,
        Some(s) => rules::CustomerStatus::parse(s)
            .ok_or_else(|| ApiError::invalid("status", "must be active, merged or erased"))?,
    };
    let term = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(rules::classify_query);
    let lifecycle_stage = match p.lifecycle_stage.as_deref() {
        None => None,
        Some(s) => Some(crate::customers::lifecycle::LifecycleStage::parse(s).ok_or_else(|| {
            ApiError::invalid("lifecycle_stage", "must be prospect, new, dormant, churn_risk, active or occasional")
        })?),
    };
    let today = state.today();
    let filter = SearchFilter {
        term,
        tag: p.tag,
        tier: p.tier,
        city: p.city,
        // A store-bound principal sees its own store's customers, and never names another store.
        store_id: auth.acting_store(p.store_id)?,
        created_after: p.created_after,
        lifecycle_stage,
        today,
        status,
    };
    let who = auth.principal.clone();
    let views = crate::db::run(&state.pool, move |conn| {
        let rows = store::search(conn, &filter, after, limit + 1)?;
        let unmasked = who.has("customers:pii");
        if unmasked {
            let ids: Vec<Uuid> = rows.iter().take(limit as usize).map(|c| c.id).collect();
            audit_pii_read(conn, &who, &ids)?;
        }
        service::views(conn, rows, unmasked, today)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(views, limit, |c| c.id.to_string())))
}
