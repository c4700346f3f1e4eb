use actix_web::{get, web, HttpResponse};
use diesel::PgConnection;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{list, AuditEntry, AuditFilter};
use crate::error::ApiResult;
use crate::http::auth::{Admin, Auth, ChainWide};
use crate::http::pagination::{Listing, Page, PageParams};
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit_log);
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Token subject, e.g. `client:<id>` or `staff:<id>`.
    actor: Option<String>,
    /// e.g. `customer`, `api_client`.
    resource: Option<String>,
    resource_id: Option<String>,
    /// e.g. `customer.read_pii`.
    action: Option<String>,
}

/// The audit log, newest first.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_log",
    params(PageParams, AuditParams), security(("bearer" = ["admin"])),
    responses((status = 200, description = "Audit entries, newest first", body = Page<AuditEntry>))
)]
#[get("/v1/audit-log")]
async fn list_audit_log(
    _auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>, query: Listing<AuditParams>,
) -> ApiResult<HttpResponse> {
    // The log spans every store: a chain-wide act (SPEC §3.1).
    let (page, p) = (query.page, query.filter);
    let filter = AuditFilter { actor: p.actor, resource: p.resource, resource_id: p.resource_id, action: p.action };
    let fetch = move |conn: &mut PgConnection, before, n| list(conn, &filter, before, n);
    let page = page.load(&state.pool, fetch, |r: &AuditEntry| r.id.to_string());
    Ok(HttpResponse::Ok().json(page.await?))
}
