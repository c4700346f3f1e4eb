//! Operational endpoints (no auth): liveness, readiness, metrics, docs redirect.

use actix_web::{http::header, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::PgConnection;
use serde_json::json;

use crate::error::ApiResult;
use crate::metrics::{DatabaseReading, PoolReading};
use crate::state::AppState;

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
        Err(crate::error::ApiError::Unavailable { .. }) => {
            HttpResponse::ServiceUnavailable().json(json!({"status": "busy"}))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({"status": "database_unavailable"})),
    }
}

/// The process's figures always; the database's (outbox lag, webhook backlog) when it answers in
/// time — a scrape during an outage still answers, with `db_up 0`.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    let database = crate::db::run(&state.pool, move |conn| database_reading(conn, now)).await;
    let database = match database {
        Ok(reading) => Some(reading),
        Err(e) => {
            log::warn!("metrics without the database's figures: {e}");
            None
        }
    };
    let mut pools = vec![pool_reading("main", &state.pool)];
    if !state.reports_pool.same_as(&state.pool) {
        pools.push(pool_reading("reports", &state.reports_pool));
    }
    let text = state.metrics.render(&pools, database.as_ref());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text)
}

fn pool_reading(name: &'static str, pool: &crate::db::PgPool) -> PoolReading {
    let now = pool.state();
    PoolReading {
        name,
        open: now.connections,
        idle: now.idle_connections,
        max: pool.max_size(),
        waiting: pool.waiting_for_connection(),
        waiting_for_turn: pool.waiting_for_turn(),
    }
}

/// A few index look-ups in one read-only transaction, cut short if the database is slow: a scrape
/// must never hold a connection for long.
fn database_reading(conn: &mut PgConnection, now: DateTime<Utc>) -> ApiResult<DatabaseReading> {
    conn.build_transaction().read_only().run(|conn| {
        conn.batch_execute("SET LOCAL statement_timeout = '1s'")?;
        let mut cursors = crate::events::follower::cursors(conn)?;
        // The webhook dispatcher follows the feed too, from its least advanced subscription.
        if let Some(seq) = crate::webhooks::store::dispatch_cursor(conn)? {
            cursors.push(("webhooks".to_string(), seq));
        }
        Ok(DatabaseReading {
            outbox_lag: crate::events::follower::lags(conn, &cursors, now)?,
            webhook_backlog: crate::webhooks::store::backlog(conn)?
                .into_iter()
                .map(|(status, count)| (status.as_str(), count))
                .collect(),
        })
    })
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
}
