//! Connection pool, embedded migrations and the bridge from async handlers to sync Diesel.

pub mod cached_sql;
pub mod embedded;

pub use cached_sql::CachedSql;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::http::error::{r2d2_error::PoolTimeout, ApiError, ApiResult};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PooledConn = PooledConnection<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary but fixed key: every instance takes the same lock before migrating.
const MIGRATION_LOCK_KEY: i64 = 0x7265_7461_696c_0001;

/// Builds a pool whose checkout fails fast: a request that cannot get a connection answers 503
/// instead of hanging for r2d2's default 30 s.
pub fn build_pool(url: &str, size: u32, checkout_timeout: Duration) -> Result<PgPool, String> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    Pool::builder()
        .max_size(size)
        .min_idle(Some(size.min(2)))
        .connection_timeout(checkout_timeout)
        .test_on_check_out(false)
        .build(manager)
        .map_err(|e| format!("cannot connect to the database: {e}"))
}

/// Applies pending migrations under an advisory lock so several instances starting at once never race.
pub fn run_migrations(conn: &mut PgConnection) -> Result<usize, String> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .map_err(|e| format!("cannot take the migration lock: {e}"))?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| format!("migration failed: {e}"));
    let unlock = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
    let applied = result?;
    unlock.map_err(|e| format!("cannot release the migration lock: {e}"))?;
    Ok(applied)
}

/// True when every embedded migration has been applied.
pub fn migrations_applied(conn: &mut PgConnection) -> bool {
    matches!(conn.has_pending_migration(MIGRATIONS), Ok(false))
}

pub fn checkout(pool: &PgPool) -> ApiResult<PooledConn> {
    pool.get().map_err(|_| ApiError::from(PoolTimeout))
}

/// Runs sync Diesel work on actix's blocking thread pool.
pub async fn run<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = checkout(&pool)?;
        work(&mut conn)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Runs `work` in one transaction; the transaction rolls back when `work` returns an error.
pub async fn transaction<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    run(pool, move |conn| conn.transaction(work)).await
}

/// Connects once, outside the pool (CLI commands, start-up).
pub fn connect(url: &str) -> Result<PgConnection, String> {
    PgConnection::establish(url).map_err(|e| format!("cannot connect to the database: {e}"))
}
