use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{list, AuditEntry, AuditFilter};
use crate::error::ApiResult;
use crate::http::auth::{Admin, Auth};
use crate::http::pagination::{Page, PageParams};
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
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The audit log, newest first.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_log",
    params(AuditParams),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Audit entries, newest first", body = Page<AuditEntry>))
)]
#[get("/v1/audit-log")]
async fn list_audit_log(
    auth: Auth<Admin>,
    state: web::Data<AppState>,
    params: web::Query<AuditParams>,
) -> ApiResult<HttpResponse> {
    // The log spans every store: a chain-wide act (SPEC §3.1).
    auth.require_chain_wide()?;
    let p = params.into_inner();
    let page = PageParams { limit: p.limit, cursor: p.cursor };
    let limit = page.limit()?;
    let before = page.after::<i64>()?;
    let filter = AuditFilter { actor: p.actor, resource: p.resource, resource_id: p.resource_id, action: p.action };
    let rows = crate::db::run(&state.pool, move |conn| list(conn, &filter, before, limit + 1)).await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, limit, |r| r.id.to_string())))
}
