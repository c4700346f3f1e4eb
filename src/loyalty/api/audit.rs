//! The ledger audit.

use actix_web::{get, web, HttpResponse};

use crate::error::{ApiResult, Problem};
use crate::http::auth::{Admin, Auth, ChainWide};
use crate::loyalty::audit::LedgerAuditReport;
use crate::state::AppState;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(audit_ledger);
}

/// Re-check the ledger's invariants for every account.
///
/// Checks, each as one set-based pass: balance = Σ delta; balance = Σ lots.remaining − debt;
/// 0 ≤ lot remaining ≤ amount; the latest entry's balance_after = balance; no lots while in debt;
/// each balance_after = the previous one + delta; a debit's drawn lots add up to what it took.
#[utoipa::path(
    tag = "loyalty", operation_id = "audit_ledger", security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Accounts checked and the violations found (empty when the ledger is sound)", body = LedgerAuditReport),
        (status = 403, description = "`forbidden` without `admin`; `store_bound_principal` for a store-bound principal (every store's accounts)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/loyalty/audit")]
async fn audit_ledger(_auth: Auth<ChainWide<Admin>>, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let report = crate::db::run(&state.pool, crate::loyalty::audit::run).await?;
    Ok(HttpResponse::Ok().json(report))
}
