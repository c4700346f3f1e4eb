//! Prometheus metrics: requests by route and status, latency histograms, pool state.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route and status")
                .buckets(vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method", "route", "status"],
        )?;
        let pool =
            IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        Ok(Metrics { registry, requests, latency, pool })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests.with_label_values(&[method, route, &status]).inc();
        self.latency.with_label_values(&[method, route, &status]).observe(seconds);
    }

    /// Prometheus text exposition, with the pool's state read at scrape time.
    pub fn render(&self, pool_state: diesel::r2d2::State, pool_max: u32) -> String {
        self.pool.with_label_values(&["open"]).set(i64::from(pool_state.connections));
        self.pool.with_label_values(&["idle"]).set(i64::from(pool_state.idle_connections));
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(pool_state.connections.saturating_sub(pool_state.idle_connections)));
        self.pool.with_label_values(&["max"]).set(i64::from(pool_max));
        let mut buf = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
