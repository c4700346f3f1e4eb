//! The foundation's shared state: the pools, configuration, token keys, limits, metrics, clock
//! and drain every handler may need, one per service and shared across workers. It names no
//! domain: a domain's own runtime (a cache, a wake) is its own `web::Data`, registered by `app()`.

use crate::clock::Clock;
use crate::config::Config;
use crate::db::PgPool;
use crate::lifecycle::Drain;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::tokens::{RevocationList, TokenKeys};

/// Everything a request handler may need, shared across workers.
pub struct AppState {
    pub pool: PgPool,
    /// Where reports read: a read replica's pool (`DATABASE_READ_URL`), else the primary's.
    pub reports_pool: PgPool,
    pub config: Config,
    pub tokens: TokenKeys,
    pub revocations: RevocationList,
    pub limits: Limits,
    pub metrics: Metrics,
    pub clock: Clock,
    /// This application's requests, counted so a stop can let them finish (SPEC §16).
    pub drain: Drain,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config, jwt_secret: &[u8]) -> Result<AppState, String> {
        let clock = Clock::default();
        Ok(AppState {
            reports_pool: pool.clone(),
            pool,
            tokens: TokenKeys::new(jwt_secret, config.token_ttl_seconds, clock.clone()),
            limits: Limits::new(config.rate_limit_rps, config.token_rate_per_address, clock.clone()),
            config,
            revocations: RevocationList::default(),
            metrics: Metrics::new().map_err(|e| e.to_string())?,
            clock,
            drain: Default::default(),
        })
    }

    /// The business day it is now, in `CRM_TIMEZONE`.
    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.now().with_timezone(&self.config.timezone).date_naive()
    }
}
