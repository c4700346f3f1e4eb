//! Operational endpoints (no auth): liveness, readiness, metrics, docs redirect.

use actix_web::{http::header, web, HttpResponse};
use serde_json::json;

use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/docs", web::get().to(docs_redirect));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready only when the database answers and every embedded migration has been applied; not
/// ready says why (a database that cannot answer is never "migrations pending").
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ready = crate::db::run(&state.pool, crate::db::migrations_applied).await;
    match ready {
        Ok(true) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(false) => HttpResponse::ServiceUnavailable().json(json!({"status": "migrations_pending"})),
        Err(crate::http::error::ApiError::Unavailable { .. }) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "busy"}))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({"status": "database_unavailable"})),
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.metrics.render(state.pool.state(), state.pool.max_size());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text)
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
}
