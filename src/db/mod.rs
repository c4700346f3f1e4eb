//! Connection pool, embedded migrations and the bridge from async handlers to sync Diesel.

pub mod cached_sql;
pub mod distribution;
pub mod embedded;

pub use cached_sql::CachedSql;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{r2d2_error::PoolTimeout, ApiError, ApiResult};

pub type PooledConn = PooledConnection<Manager>;

/// Diesel's connection manager, with one addition: for a while after the database went away
/// (`PgPool::suspect`), a connection coming back to the pool is pinged, and one that no longer
/// answers is dropped — otherwise the pool would hand out the dead sessions of a crashed server
/// forever, since Diesel judges a connection by its transaction state only.
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
    suspicion: std::sync::Arc<Suspicion>,
}

/// A pool's doubt about its sessions after the database went away.
#[derive(Debug)]
struct Suspicion {
    started: std::time::Instant,
    /// Until when (milliseconds after `started`) returning connections are pinged.
    until_ms: std::sync::atomic::AtomicU64,
}

/// How long after the last sign of a lost database returning connections are checked.
const SUSPECT_FOR_MS: u64 = 60_000;

impl Suspicion {
    fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn raise(&self) {
        self.until_ms.store(self.uptime_ms().saturating_add(SUSPECT_FOR_MS), std::sync::atomic::Ordering::Relaxed);
    }

    fn active(&self) -> bool {
        self.uptime_ms() < self.until_ms.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        self.inner.connect()
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        self.inner.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        self.inner.has_broken(conn) || (self.suspicion.active() && conn.ping().is_err())
    }
}

/// The connection pool, and the turns that admit requests to it.
///
/// A request takes a turn (a FIFO semaphore) before it moves to a blocking thread, so waiting
/// requests are served in arrival order and only as many blocking threads work the database as
/// there are turns. Reads (`run`) are CPU work on both sides: they get twice as many turns as
/// cores. Transactions (`transaction`) wait on commit flushes, which many at once share: they get
/// a turn per connection. Without turns every request parked a blocking thread on the pool: on 2
/// cores, 16 clients made 30-odd runnable threads and a lookup p99 of 40-140 ms for a statement
/// that runs in a fraction of a millisecond (`bench/orders-lookup`; pool 4: 13.6 ms).
#[derive(Clone)]
pub struct PgPool {
    connections: Pool<Manager>,
    read_turns: std::sync::Arc<tokio::sync::Semaphore>,
    write_turns: std::sync::Arc<tokio::sync::Semaphore>,
    /// Bulk calls take one of these before a write turn: however many connectors post at once,
    /// they hold at most this share of the connections, and the tills find the rest.
    bulk_turns: std::sync::Arc<tokio::sync::Semaphore>,
    wait: Duration,
    suspicion: std::sync::Arc<Suspicion>,
    /// Callers blocked in a checkout and callers waiting for a turn, for `/metrics`: neither r2d2
    /// nor the semaphore says how many wait.
    waiting: std::sync::Arc<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    checkouts: std::sync::atomic::AtomicUsize,
    turns: std::sync::atomic::AtomicUsize,
}

/// One waiter counted while it lives: dropped when the wait ends, however it ends (a timeout, or a
/// caller that stopped waiting).
struct Waiter<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiter<'a> {
    fn count(counter: &'a std::sync::atomic::AtomicUsize) -> Waiter<'a> {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Waiter(counter)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The connections bulk calls may hold at once: a quarter of the pool, at least one, and never
/// the last one.
pub fn bulk_share(pool_size: u32) -> usize {
    let size = pool_size.max(1) as usize;
    (size / 4).clamp(1, (size - 1).max(1))
}

impl std::ops::Deref for PgPool {
    type Target = Pool<Manager>;
    fn deref(&self) -> &Self::Target {
        &self.connections
    }
}

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary but fixed key: every instance takes the same lock before migrating.
const MIGRATION_LOCK_KEY: i64 = 0x7265_7461_696c_0001;

/// Settings of every pooled session, for short statements run many times:
/// - JIT off: compiling a plan costs milliseconds each time its estimate passes `jit_above_cost`;
///   the till's lookup did, and ran at 6,976 statements/s with JIT against 9,011 without
///   (`pgbench -M prepared -c 4` of the lookup on 100,000 members).
/// - Generic plans: the sale's one write statement (about fifty parameters, arrays among them)
///   was re-planned on every execution under `auto`, because the generic plan's estimate looked
///   dearer: 1.64 ms a sale against 0.71 ms once forced (`bench/orders-lookup`, pg_stat_statements).
///
/// A report that wants either back can `SET LOCAL` it.
#[derive(Debug)]
struct OltpSession;

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for OltpSession {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("SET jit = off; SET plan_cache_mode = force_generic_plan")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds a pool whose checkout fails fast: a request that cannot get a connection answers 503
/// instead of hanging for r2d2's default 30 s.
pub fn build_pool(url: &str, size: u32, checkout_timeout: Duration) -> Result<PgPool, String> {
    let suspicion = std::sync::Arc::new(Suspicion { started: std::time::Instant::now(), until_ms: Default::default() });
    let manager = Manager { inner: ConnectionManager::<PgConnection>::new(url), suspicion: suspicion.clone() };
    let connections = Pool::builder()
        .connection_customizer(Box::new(OltpSession))
        .max_size(size)
        .min_idle(Some(size.min(2)))
        .connection_timeout(checkout_timeout)
        .test_on_check_out(false)
        .build(manager)
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let reads = (2 * cores).clamp(2, size.max(2) as usize);
    Ok(PgPool {
        connections,
        read_turns: std::sync::Arc::new(tokio::sync::Semaphore::new(reads)),
        write_turns: std::sync::Arc::new(tokio::sync::Semaphore::new(size as usize)),
        bulk_turns: std::sync::Arc::new(tokio::sync::Semaphore::new(bulk_share(size))),
        wait: checkout_timeout,
        suspicion,
        waiting: Default::default(),
    })
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

/// True when every embedded migration has been applied; an error when the database cannot say.
pub fn migrations_applied(conn: &mut PgConnection) -> ApiResult<bool> {
    conn.has_pending_migration(MIGRATIONS).map(|pending| !pending).map_err(|_| ApiError::DatabaseUnavailable)
}

/// A pooled connection; 503 when none comes in time — `database_unavailable` when the pool could
/// not connect at all (the database is down or restarting), `service_unavailable` when all are busy.
pub fn checkout(pool: &PgPool) -> ApiResult<PooledConn> {
    let _waiter = Waiter::count(&pool.waiting.checkouts);
    pool.get().map_err(|e| {
        if crate::error::database_gone(&e.to_string()) {
            pool.suspicion.raise();
            ApiError::DatabaseUnavailable
        } else {
            ApiError::from(PoolTimeout)
        }
    })
}

impl PgPool {
    /// Callers blocked in a checkout now (all connections in use).
    pub fn waiting_for_connection(&self) -> usize {
        self.waiting.checkouts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests waiting for a turn now (all turns of their kind taken), before any checkout.
    pub fn waiting_for_turn(&self) -> usize {
        self.waiting.turns.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether both are the same pool (the reports pool is the main one without a replica).
    pub fn same_as(&self, other: &PgPool) -> bool {
        std::sync::Arc::ptr_eq(&self.waiting, &other.waiting)
    }

    /// Notes what `work` met: a database that went away leaves the pool's sessions suspect.
    fn watch<T>(&self, result: ApiResult<T>) -> ApiResult<T> {
        if matches!(result, Err(ApiError::DatabaseUnavailable)) {
            self.suspicion.raise();
        }
        result
    }
}

/// Runs sync Diesel work on actix's blocking thread pool, on a read turn.
pub async fn run<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    on_blocking_thread(pool, &pool.read_turns, work).await
}

/// Runs `work` in one transaction, on a write turn; the transaction rolls back when `work`
/// returns an error. Within a request that carries an `Idempotency-Key`, the request's first
/// transaction is handed to its `Carrier` open, so the stored answer commits with the effect.
pub async fn transaction<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    match CARRIER.try_with(|c| c.clone()).ok().filter(|c| c.claim()) {
        Some(carrier) => carried(pool, carrier, work).await,
        None => transaction_now(pool, work).await,
    }
}

/// `transaction`, committed as soon as `work` succeeds, never carried: for a handler that reads
/// what it wrote on another connection before it answers.
pub async fn transaction_now<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    on_blocking_thread(pool, &pool.write_turns, move |conn| {
        let value = conn.transaction(work)?;
        crate::lifecycle::fault_after_commit();
        Ok(value)
    })
    .await
}

/// What a request hands its first transaction to, still open, so that something decided after
/// `work` (the idempotent answer) commits with it or not at all (SPEC §16).
pub trait Carrier: Send + Sync {
    /// True for the first transaction of the request only.
    fn claim(&self) -> bool;
    /// Runs first inside the transaction; an error rolls the transaction back and is the answer.
    fn enter(&self, conn: &mut PgConnection) -> ApiResult<()>;
    /// Takes the transaction, open, after `work` succeeded.
    fn park(&self, open: PooledConn);
    /// Keeps `then` to run once the parked transaction committed (dropped if it rolls back);
    /// gives it back when no transaction is parked, so the caller runs it now.
    fn defer(&self, then: Deferred) -> Option<Deferred>;
}

/// Something to do once what a request wrote is committed (wake a worker that will read it).
pub type Deferred = Box<dyn FnOnce() + Send>;

/// Runs `then` once this request's writes are committed: at once, or — when its transaction is
/// carried to commit with the idempotent answer — after that commit, never if it rolls back.
/// Called after the writes it waits for (before them, nothing is parked yet and it runs at once).
pub fn after_commit(then: impl FnOnce() + Send + 'static) {
    let then: Deferred = Box::new(then);
    let left = match CARRIER.try_with(|c| c.clone()) {
        Ok(carrier) => carrier.defer(then),
        Err(_) => Some(then),
    };
    if let Some(now) = left {
        now();
    }
}

tokio::task_local! {
    /// The carrier of the request being served on this task, if any.
    pub static CARRIER: std::sync::Arc<dyn Carrier>;
}

async fn carried<F, T>(pool: &PgPool, carrier: std::sync::Arc<dyn Carrier>, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let turn = take_turn(pool, &pool.write_turns).await?;
    let pool = pool.clone();
    actix_web::web::block(in_current_span(move || {
        let _turn = turn;
        let mut conn = checkout(&pool)?;
        AnsiTransactionManager::begin_transaction(&mut *conn)?;
        match pool.watch(carrier.enter(&mut conn).and_then(|()| work(&mut conn))) {
            Ok(value) => {
                carrier.park(conn);
                Ok(value)
            }
            Err(e) => {
                // A connection whose rollback failed is still in a transaction: the pool drops it.
                let _ = AnsiTransactionManager::rollback_transaction(&mut *conn);
                Err(e)
            }
        }
    }))
    .await
    .map_err(ApiError::internal)?
}

/// Ends a parked transaction: `keep` commits it, after `last` ran in it; otherwise it rolls back.
/// A commit that fails is an error: the effect did not happen.
pub async fn finish_parked<F>(mut open: PooledConn, keep: bool, last: F) -> ApiResult<()>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<()> + Send + 'static,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    actix_web::web::block(in_current_span(move || {
        if !keep {
            let _ = AnsiTransactionManager::rollback_transaction(&mut *open);
            return Ok(());
        }
        match last(&mut open) {
            Ok(()) => {
                AnsiTransactionManager::commit_transaction(&mut *open)?;
                crate::lifecycle::fault_after_commit();
                Ok(())
            }
            Err(e) => {
                let _ = AnsiTransactionManager::rollback_transaction(&mut *open);
                Err(e)
            }
        }
    }))
    .await
    .map_err(ApiError::internal)?
}

/// A bulk call's rows on one connection, each in a transaction of its own: a bulk turn first,
/// then a write turn, so bulk calls never hold more than `bulk_share` of the connections.
pub async fn run_bulk<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let bulk_turn = take_turn(pool, &pool.bulk_turns).await?;
    on_blocking_thread(pool, &pool.write_turns, move |conn| {
        // Held until the rows are done, even if the caller stopped waiting.
        let _bulk_turn = bulk_turn;
        work(conn)
    })
    .await
}

/// Runs background work (sweeps, daily jobs, a campaign's run) on a blocking thread without
/// taking a turn: it may last long, and the turns are for requests.
pub async fn background<F, T>(pool: &PgPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(in_current_span(move || {
        let mut conn = checkout(&pool)?;
        pool.watch(work(&mut conn))
    }))
    .await
    .map_err(ApiError::internal)?
}

async fn on_blocking_thread<F, T>(
    pool: &PgPool, turns: &std::sync::Arc<tokio::sync::Semaphore>, work: F,
) -> ApiResult<T>
where
    F: FnOnce(&mut PgConnection) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    let turn = take_turn(pool, turns).await?;
    let pool = pool.clone();
    actix_web::web::block(in_current_span(move || {
        let _turn = turn;
        let mut conn = checkout(&pool)?;
        pool.watch(work(&mut conn))
    }))
    .await
    .map_err(ApiError::internal)?
}

/// `work`, to run later on another thread (the blocking pool), inside the span that is current
/// now: what it logs carries the request's id like what the handler logs.
pub fn in_current_span<T>(work: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let span = tracing::Span::current();
    move || span.in_scope(work)
}

/// Waiting for a turn is bounded like a checkout: past it the request answers 503.
async fn take_turn(
    pool: &PgPool, turns: &std::sync::Arc<tokio::sync::Semaphore>,
) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    let _waiter = Waiter::count(&pool.waiting.turns);
    tokio::time::timeout(pool.wait, turns.clone().acquire_owned())
        .await
        .map_err(|_| ApiError::from(PoolTimeout))?
        .map_err(ApiError::internal)
}

/// Connects once, outside the pool (CLI commands, start-up).
pub fn connect(url: &str) -> Result<PgConnection, String> {
    PgConnection::establish(url).map_err(|e| format!("cannot connect to the database: {e}"))
}

/// How many rows are in one of two queries and not in the other, as multisets: zero when a table
/// a follower keeps equals its recomputation from scratch.
pub fn rows_differing(conn: &mut PgConnection, kept: &str, recomputed: &str) -> ApiResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = format!(
        "SELECT count(*) AS n FROM (((({kept}) EXCEPT ALL ({recomputed}))) UNION ALL ((({recomputed}) EXCEPT ALL ({kept})))) d"
    );
    Ok(diesel::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), conn)?.n)
}

/// A text as a SQL literal, for the few values a statement cannot take as a parameter (a time zone
/// in a statement shared between a parameterised and a whole-table form).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
