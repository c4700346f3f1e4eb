//! Prometheus metrics (`GET /metrics`). What this process counts lives in one registry: requests and
//! their latency by route and status, job runs and their durations, webhook attempts. What the
//! database knows (outbox lag, webhook backlog) and the pools' state are read at scrape time and
//! handed to `render`; this module names no domain, the caller (`ops`) composes the readings.

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Seconds: from a fast request to a slow report.
const REQUEST_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Seconds: from a webhook round that found nothing to a daily job over every member.
const JOB_BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.5, 2.5, 10.0, 60.0, 300.0, 1800.0];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    turns_waiting: IntGaugeVec,
    jobs: JobMetrics,
    webhooks: WebhookMetrics,
}

/// A pool's state at scrape time.
#[derive(Clone, Copy, Debug)]
pub struct PoolReading {
    /// `main`, or `reports` when reports read a replica through a pool of their own.
    pub name: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
    /// Callers blocked in a checkout (every connection in use).
    pub waiting: usize,
    /// Requests waiting for a turn before they check out (`db::PgPool`).
    pub waiting_for_turn: usize,
}

/// What the database says at scrape time; `None` in `render` when it did not answer.
#[derive(Clone, Debug, Default)]
pub struct DatabaseReading {
    /// Per outbox follower: the age in seconds of the oldest event it has not taken yet (0: none).
    pub outbox_lag: Vec<(String, f64)>,
    /// Webhook deliveries not yet delivered nor given up, by state (`pending`, `sending`).
    pub webhook_backlog: Vec<(&'static str, i64)>,
}

/// How a background job's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Ok,
    /// Not run: another instance has it, or it already ran for the day.
    Skipped,
    Failed,
}

impl JobOutcome {
    fn label(self) -> &'static str {
        match self {
            JobOutcome::Ok => "ok",
            JobOutcome::Skipped => "skipped",
            JobOutcome::Failed => "failed",
        }
    }
}

/// What background loops record their runs with; cheap to clone into a task.
#[derive(Clone)]
pub struct JobMetrics {
    runs: IntCounterVec,
    duration: HistogramVec,
}

impl JobMetrics {
    /// A run of `job` that ended as `outcome` after `took`; skipped runs count but are not timed.
    pub fn record(&self, job: &str, outcome: JobOutcome, took: Duration) {
        self.runs.with_label_values(&[job, outcome.label()]).inc();
        if outcome != JobOutcome::Skipped {
            self.duration.with_label_values(&[job]).observe(took.as_secs_f64());
        }
    }
}

/// What the webhook worker records; cheap to clone into a task.
#[derive(Clone)]
pub struct WebhookMetrics {
    attempts: IntCounterVec,
    given_up: IntCounter,
    jobs: JobMetrics,
}

impl WebhookMetrics {
    /// One delivery attempt: delivered (a 2xx) or failed (anything else, a timeout, a refusal).
    pub fn attempt(&self, delivered: bool) {
        self.attempts.with_label_values(&[if delivered { "delivered" } else { "failed" }]).inc();
    }

    /// A delivery that will not be tried again (its retries ran out, or the receiver is gone).
    pub fn given_up(&self) {
        self.given_up.inc();
    }

    /// The worker's rounds are runs of the job `webhooks`.
    pub fn jobs(&self) -> &JobMetrics {
        &self.jobs
    }
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let by_request = &["method", "route", "status"];
        let requests = register(
            &registry,
            IntCounterVec::new(Opts::new("http_requests_total", "HTTP requests by route and status"), by_request)?,
        )?;
        let latency = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route and status")
                    .buckets(REQUEST_BUCKETS.to_vec()),
                by_request,
            )?,
        )?;
        let pool = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "db_pool_connections",
                    "Database pool connections by state (open, idle, in_use, max) and callers blocked waiting for one",
                ),
                &["pool", "state"],
            )?,
        )?;
        let turns_waiting = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("db_pool_turns_waiting", "Requests queued for a turn at the pool, before any checkout"),
                &["pool"],
            )?,
        )?;
        let jobs = JobMetrics {
            runs: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "jobs_runs_total",
                        "Background job runs (daily jobs, sweeps, campaign and webhook rounds)",
                    ),
                    &["job", "outcome"],
                )?,
            )?,
            duration: register(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "job_duration_seconds",
                        "How long background job runs took (skipped runs aside)",
                    )
                    .buckets(JOB_BUCKETS.to_vec()),
                    &["job"],
                )?,
            )?,
        };
        let webhooks = WebhookMetrics {
            attempts: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("webhook_attempts_total", "Webhook delivery attempts by outcome (delivered, failed)"),
                    &["outcome"],
                )?,
            )?,
            given_up: register(
                &registry,
                IntCounter::new(
                    "webhook_deliveries_given_up_total",
                    "Webhook deliveries that will not be tried again: retries ran out or the receiver answered 410",
                )?,
            )?,
            jobs: jobs.clone(),
        };
        // Present from the start, so a rate over them is defined before the first attempt.
        for outcome in ["delivered", "failed"] {
            webhooks.attempts.with_label_values(&[outcome]);
        }
        Ok(Metrics { registry, requests, latency, pool, turns_waiting, jobs, webhooks })
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests.with_label_values(&[method, route, &status]).inc();
        self.latency.with_label_values(&[method, route, &status]).observe(seconds);
    }

    pub fn jobs(&self) -> JobMetrics {
        self.jobs.clone()
    }

    pub fn webhooks(&self) -> WebhookMetrics {
        self.webhooks.clone()
    }

    /// Prometheus text exposition: what this process counted, the pools as read now, and the
    /// database's figures when it answered (without them otherwise, never stale ones).
    pub fn render(&self, pools: &[PoolReading], database: Option<&DatabaseReading>) -> String {
        for p in pools {
            let in_use = p.open.saturating_sub(p.idle);
            let waiting = i64::try_from(p.waiting).unwrap_or(i64::MAX);
            for (state, value) in [
                ("open", i64::from(p.open)),
                ("idle", i64::from(p.idle)),
                ("in_use", i64::from(in_use)),
                ("max", i64::from(p.max)),
                ("waiting", waiting),
            ] {
                self.pool.with_label_values(&[p.name, state]).set(value);
            }
            self.turns_waiting.with_label_values(&[p.name]).set(i64::try_from(p.waiting_for_turn).unwrap_or(i64::MAX));
        }
        let mut families = self.registry.gather();
        // The database's figures are built afresh for each scrape, so two scrapes at once never mix.
        match database.map(database_families) {
            Some(Ok(read)) => families.extend(read),
            Some(Err(e)) => log::warn!("metrics: the database's figures: {e}"),
            None => {}
        }
        families.extend(up_family(database.is_some()));
        let mut buf = Vec::new();
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

fn database_families(reading: &DatabaseReading) -> Result<Vec<prometheus::proto::MetricFamily>, prometheus::Error> {
    let lag = GaugeVec::new(
        Opts::new(
            "outbox_lag_seconds",
            "Per outbox follower: the age of the oldest event it has not taken yet (0 when it is current)",
        ),
        &["follower"],
    )?;
    for (follower, seconds) in &reading.outbox_lag {
        lag.with_label_values(&[follower.as_str()]).set(*seconds);
    }
    let backlog = IntGaugeVec::new(
        Opts::new("webhook_deliveries_backlog", "Webhook deliveries neither delivered nor given up, by state"),
        &["state"],
    )?;
    for (state, count) in &reading.webhook_backlog {
        backlog.with_label_values(&[state]).set(*count);
    }
    Ok([lag.collect(), backlog.collect()].concat())
}

fn up_family(up: bool) -> Vec<prometheus::proto::MetricFamily> {
    let gauge =
        IntGauge::new("db_up", "1 when this scrape read the database's figures, 0 when the database did not answer");
    gauge
        .map(|g| {
            g.set(i64::from(up));
            g.collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolReading {
        PoolReading { name: "main", open: 4, idle: 1, max: 8, waiting: 2, waiting_for_turn: 5 }
    }

    #[test]
    fn without_the_database_the_scrape_has_the_process_figures_only() {
        let metrics = Metrics::new().expect("metrics");
        metrics.observe_request("GET", "/v1/stores/{id}", 404, 0.003);
        metrics.jobs().record("lead_sla", JobOutcome::Ok, Duration::from_millis(40));
        let text = metrics.render(&[pool()], None);
        assert!(text.contains(r#"http_requests_total{method="GET",route="/v1/stores/{id}",status="404"} 1"#), "{text}");
        assert!(text.contains(r#"db_pool_connections{pool="main",state="in_use"} 3"#), "{text}");
        assert!(text.contains(r#"db_pool_connections{pool="main",state="waiting"} 2"#), "{text}");
        assert!(text.contains(r#"db_pool_turns_waiting{pool="main"} 5"#), "{text}");
        assert!(text.contains(r#"jobs_runs_total{job="lead_sla",outcome="ok"} 1"#), "{text}");
        assert!(text.contains(r#"job_duration_seconds_count{job="lead_sla"} 1"#), "{text}");
        assert!(text.contains(r#"webhook_attempts_total{outcome="failed"} 0"#), "{text}");
        assert!(text.contains("db_up 0"), "{text}");
        assert!(!text.contains("outbox_lag_seconds"), "{text}");
        assert!(!text.contains("webhook_deliveries_backlog"), "{text}");
    }

    #[test]
    fn the_database_figures_are_this_scrapes_own() {
        let metrics = Metrics::new().expect("metrics");
        let reading = DatabaseReading {
            outbox_lag: vec![("customer_activity".into(), 12.5), ("webhooks".into(), 0.0)],
            webhook_backlog: vec![("pending", 7), ("sending", 1)],
        };
        let text = metrics.render(&[pool()], Some(&reading));
        assert!(text.contains(r#"outbox_lag_seconds{follower="customer_activity"} 12.5"#), "{text}");
        assert!(text.contains(r#"webhook_deliveries_backlog{state="pending"} 7"#), "{text}");
        assert!(text.contains("db_up 1"), "{text}");
        // The next scrape without the database shows none of them: absent, not stale.
        let text = metrics.render(&[pool()], None);
        assert!(!text.contains("outbox_lag_seconds"), "{text}");
    }

    #[test]
    fn skipped_runs_count_but_are_not_timed() {
        let metrics = Metrics::new().expect("metrics");
        metrics.jobs().record("rfm", JobOutcome::Skipped, Duration::from_secs(1));
        let text = metrics.render(&[], None);
        assert!(text.contains(r#"jobs_runs_total{job="rfm",outcome="skipped"} 1"#), "{text}");
        assert!(!text.contains("job_duration_seconds_count"), "{text}");
    }
}
