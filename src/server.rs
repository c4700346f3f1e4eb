//! Start-up: database (external or embedded), migrations, secrets, bootstrap client, HTTP server.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use actix_web::{web, HttpServer};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::auth_clients::store as clients;
use crate::config::Config;
use crate::db::embedded::{LocalPostgres, LocalPostgresOptions};
use crate::files;
use crate::http::auth::Revocation;
use crate::http::secrets;
use crate::state::AppState;

pub const EMBEDDED_DATABASE: &str = "retail_crm";

/// The database to use: `DATABASE_URL`, or the embedded cluster (kept alive by the returned handle).
pub fn database(config: &Config) -> Result<(String, Option<LocalPostgres>), String> {
    if let Some(url) = &config.database_url {
        return Ok((url.clone(), None));
    }
    let pg = LocalPostgres::start(embedded_options(config)?).map_err(|e| e.to_string())?;
    let mut conn = crate::db::connect(&pg.url("postgres"))?;
    let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}')"
    )))
    .get_result(&mut conn)
    .map_err(|e| e.to_string())?;
    if !exists {
        conn.batch_execute(&format!("CREATE DATABASE {EMBEDDED_DATABASE}")).map_err(|e| e.to_string())?;
    }
    Ok((pg.url(EMBEDDED_DATABASE), Some(pg)))
}

/// How `serve` and the commands run the embedded cluster of `CRM_DATA_DIR`.
pub fn embedded_options(config: &Config) -> Result<LocalPostgresOptions, String> {
    let data_dir = absolute(&config.data_dir)?;
    Ok(LocalPostgresOptions {
        data_dir: data_dir.join("pg"),
        socket_dir: data_dir.join("run"),
        port: 5432,
        fast_unsafe: false,
        max_connections: 200,
        wal_archive_dir: config.wal_archive_dir.clone(),
        settings: Vec::new(),
    })
}

/// What a running `serve` holds in its data directory, so a command knows the cluster is in use.
const SERVE_LOCK: &str = "serve.lock";

/// A `serve`'s claim on its data directory: held while it runs, let go by the operating system
/// when it ends, however it ends.
fn claim_as_serve(config: &Config) -> Result<Option<std::fs::File>, String> {
    if config.database_url.is_some() {
        return Ok(None);
    }
    files::try_lock(&absolute(&config.data_dir)?.join(SERVE_LOCK))
}

/// Whether a `serve` is running on this data directory now.
fn serve_running(config: &Config) -> Result<bool, String> {
    Ok(files::try_lock(&absolute(&config.data_dir)?.join(SERVE_LOCK))?.is_none())
}

/// The database for a CLI command (`migrate`, `clients create`, `import`...): like `database`, and
/// the embedded cluster is stopped when the command ends — one it started, and one it found
/// running that no `serve` uses (left by a command that was killed). A cluster a `serve` uses is
/// left running for it, whichever of the two started it.
pub fn database_for_command(config: &Config) -> Result<(String, Option<CommandCluster>), String> {
    let (url, pg) = database(config)?;
    Ok((url, pg.map(|pg| CommandCluster { pg: Some(pg), config: config.clone() })))
}

/// The embedded cluster as a command holds it (see `database_for_command`).
pub struct CommandCluster {
    pg: Option<LocalPostgres>,
    config: Config,
}

impl CommandCluster {
    pub fn cluster(&self) -> Option<&LocalPostgres> {
        self.pg.as_ref()
    }
}

/// `restore`'s hold on the data directory, taken as a `serve` takes it: refused while a serve
/// runs there, and no serve starts on the cluster while it is being restored.
pub fn claim_for_restore(config: &Config) -> Result<std::fs::File, String> {
    if config.database_url.is_some() {
        return Err(EXTERNAL_DATABASE.into());
    }
    claim_as_serve(config)?.ok_or_else(|| {
        "a `serve` is running on this data directory (CRM_DATA_DIR): stop it before restoring into it".to_string()
    })
}

/// Why `backup` and `restore` do nothing with `DATABASE_URL`.
pub const EXTERNAL_DATABASE: &str = "backup and restore are for the embedded cluster; with DATABASE_URL, back up \
     and restore that PostgreSQL with its own tooling (pg_basebackup, pg_dump, your provider's snapshots)";

impl Drop for CommandCluster {
    fn drop(&mut self) {
        let Some(pg) = self.pg.take() else { return };
        // A serve that started (or adopted it) meanwhile keeps it; without one nobody needs it.
        if serve_running(&self.config).unwrap_or(true) {
            pg.leave_running();
        }
    }
}

fn absolute(path: &Path) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create CRM_DATA_DIR {}: {e}", path.display()))?;
    path.canonicalize().map_err(|e| format!("CRM_DATA_DIR {}: {e}", path.display()))
}

/// `CRM_JWT_SECRET`, or a development secret generated once and kept in the data dir.
fn jwt_secret(config: &Config) -> Result<String, String> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let path = absolute(&config.data_dir)?.join("jwt-secret");
    log::warn!("CRM_JWT_SECRET is not set: using the development secret in {}", path.display());
    // Through `files`: a link planted at the path would hand us a secret of the planter's choosing, or
    // have us overwrite what it points to.
    if let Some(existing) = files::read_to_string(&path)? {
        if existing.trim().len() >= 32 {
            return Ok(existing.trim().to_string());
        }
    }
    let secret = secrets::random_token(48);
    files::write_private(&path, secret.as_bytes())?;
    Ok(secret)
}

/// The configured bootstrap client, or — on a fresh install with no client at all — a generated
/// admin client printed once so a newcomer can call the API straight away.
fn bootstrap_client(conn: &mut PgConnection, config: &Config) -> Result<(), String> {
    if let Some((id, secret)) = &config.bootstrap_client {
        let hash = secrets::hash_secret(secret).map_err(|e| e.to_string())?;
        clients::upsert_bootstrap(conn, id, &hash).map_err(|e| e.to_string())?;
        log::info!("bootstrap client '{id}' is ready");
        return Ok(());
    }
    if clients::count_live(conn).map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let client_id = secrets::new_client_id();
    let secret = secrets::new_client_secret();
    let hash = secrets::hash_secret(&secret).map_err(|e| e.to_string())?;
    // The file first: a refused one (a link planted there) must not leave a client whose secret
    // nobody was shown, which would also keep the next start from generating another.
    let path = absolute(&config.data_dir)?.join("admin-client.json");
    files::write_private(
        &path,
        serde_json::json!({"client_id": client_id, "client_secret": secret}).to_string().as_bytes(),
    )?;
    clients::insert(conn, &client_id, "generated admin", &hash, &["admin".to_string()], None, None)
        .map_err(|e| e.to_string())?;
    println!("Created an admin API client (shown once; also saved in {}):", path.display());
    println!("  client_id:     {client_id}");
    println!("  client_secret: {secret}");
    Ok(())
}

/// Other instances' revocations and staff changes, and API clients' own rate limits.
fn refresh_revocations(state: &AppState) -> Result<(), String> {
    let mut conn = crate::db::checkout(&state.pool).map_err(|e| e.to_string())?;
    let mut map: HashMap<String, Revocation> = clients::revoked_subjects(&mut conn)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|sub| (sub, Revocation::All))
        .collect();
    map.extend(crate::staff::store::token_cutoffs(&mut conn).map_err(|e| e.to_string())?);
    state.revocations.replace(map);
    state.limits.replace_client_rates(clients::rate_limits(&mut conn).map_err(|e| e.to_string())?);
    Ok(())
}

fn housekeeping(state: &AppState) -> Result<(), String> {
    state.limits.sweep();
    let mut conn = crate::db::checkout(&state.pool).map_err(|e| e.to_string())?;
    let purged = crate::http::idempotency::purge_expired(&mut conn, state.clock.now()).map_err(|e| e.to_string())?;
    if purged > 0 {
        log::info!("purged {purged} expired idempotency records");
    }
    Ok(())
}

/// Builds the shared state after migrations; used by `serve` (tests build theirs directly).
pub fn prepare(config: &Config, url: &str) -> Result<web::Data<AppState>, String> {
    let mut conn = crate::db::connect(url)?;
    let applied = crate::db::run_migrations(&mut conn)?;
    if applied > 0 {
        log::info!("applied {applied} migrations");
    }
    bootstrap_client(&mut conn, config)?;
    let secret = jwt_secret(config)?;
    let pool = crate::db::build_pool(url, config.pool_size, config.pool_timeout)?;
    let mut state = AppState::new(pool, config.clone(), secret.as_bytes())?;
    if let Some(replica) = &config.database_read_url {
        state.reports_pool = crate::db::build_pool(replica, config.pool_size, config.pool_timeout)
            .map_err(|e| format!("DATABASE_READ_URL: {e}"))?;
        log::info!("reports read from the replica of DATABASE_READ_URL");
    }
    let state = web::Data::new(state);
    refresh_revocations(&state)?;
    Ok(state)
}

pub fn serve(config: Config) -> Result<(), String> {
    let _serving = claim_as_serve(&config)?
        .ok_or_else(|| "another `serve` is running on this data directory (CRM_DATA_DIR)".to_string())?;
    crate::lifecycle::Faults::from_env().arm();
    let (url, embedded) = database(&config)?;
    // The service heals its own cluster: restarted within a second or so of its death.
    let embedded = embedded.map(crate::db::embedded::supervise::Supervisor::start);
    let state = prepare(&config, &url)?;
    let runtime = crate::Runtime::default();
    let bind = config.bind.clone();
    let result = actix_web::rt::System::new().block_on(async move {
        spawn_background(state.clone());
        crate::jobs::spawn_scheduler(
            state.pool.clone(),
            state.clock.clone(),
            state.config.timezone,
            state.metrics.jobs(),
        );
        crate::jobs::spawn_campaign_runner(
            state.pool.clone(),
            state.clock.clone(),
            state.config.timezone,
            runtime.campaign_wake.clone(),
            state.metrics.jobs(),
        );
        let webhooks = crate::webhooks::worker::Settings {
            allow_private: state.config.webhook_allow_private,
            ..Default::default()
        };
        crate::webhooks::worker::spawn(state.pool.clone(), state.clock.clone(), webhooks, state.metrics.webhooks());
        log::info!("listening on http://{bind} (docs at /docs)");
        let server = HttpServer::new({
            let state = state.clone();
            move || crate::app(state.clone(), runtime.clone())
        })
        // Signals are ours: the requests drain before the server is told to stop (`stop_on_signal`),
        // and what is left then is answers still being written.
        .disable_signals()
        .shutdown_timeout(1)
        .bind(&bind)
        .map_err(|e| format!("cannot listen on {bind} (CRM_BIND): {e}"))?
        .run();
        actix_web::rt::spawn(stop_on_signal(server.handle(), state));
        server.await.map_err(|e| e.to_string())
    });
    // The supervisor stops the embedded cluster cleanly (a checkpoint, no crash recovery next time).
    drop(embedded);
    log::info!("stopped");
    result
}

/// SIGTERM or SIGINT: new requests get 503 `shutting_down` while those in flight finish (up to
/// the grace), then background work ends at its next batch boundary (up to the grace again), then
/// the server stops; `serve` stops the cluster after it. A second signal cuts the waits short.
async fn stop_on_signal(server: actix_web::dev::ServerHandle, state: web::Data<AppState>) {
    let mut signals = match StopSignals::new() {
        Ok(signals) => signals,
        Err(e) => {
            log::error!("cannot listen for SIGTERM: {e}; the service stops only when killed");
            return;
        }
    };
    let signal = signals.next().await;
    let grace = state.config.shutdown_grace;
    log::info!(
        "{signal}: stopping; {} requests in flight, up to {} s for them and as long for background work",
        state.drain.in_flight(),
        grace.as_secs()
    );
    state.drain.refuse();
    tokio::select! {
        left = state.drain.drained(grace) => if left > 0 {
            log::warn!("{left} requests still in flight after {} s; stopping without them", grace.as_secs());
        },
        signal = signals.next() => log::warn!("{signal} again: not waiting for requests in flight"),
    }
    let background = crate::lifecycle::background();
    background.refuse();
    tokio::select! {
        left = background.drained(grace) => if left > 0 {
            log::warn!("{left} background tasks still at work after {} s; stopping without them", grace.as_secs());
        },
        signal = signals.next() => log::warn!("{signal} again: not waiting for background work"),
    }
    server.stop(true).await;
}

struct StopSignals {
    term: actix_web::rt::signal::unix::Signal,
    int: actix_web::rt::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> std::io::Result<StopSignals> {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        Ok(StopSignals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

fn spawn_background(state: web::Data<AppState>) {
    let revocations = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let s = revocations.clone();
            if let Ok(Err(e)) = web::block(move || refresh_revocations(&s)).await {
                log::warn!("revocation refresh failed: {e}");
            }
        }
    });
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let s = state.clone();
            if let Ok(Err(e)) = web::block(move || housekeeping(&s)).await {
                log::warn!("housekeeping failed: {e}");
            }
        }
    });
}
