//! The delivery worker inside the service: follows the outbox into deliveries, claims what is due
//! and sends each attempt on its own task, so a slow or dead receiver holds only its own
//! subscription's few slots — never another subscription's deliveries, and never an API request
//! (the worker's database work runs off the request turns).

use std::time::{Duration, Instant};

use actix_web::rt::task::JoinHandle;

use super::address::{self, GuardedConnector};
use super::rules;
use super::store::{self, AttemptResult, Claimed};
use crate::clock::Clock;
use crate::db::PgPool;
use crate::error::ApiResult;
use crate::metrics::{JobOutcome, WebhookMetrics};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Attempts in flight for one subscription, across all instances.
    pub per_subscription: i64,
    /// Attempts one instance claims in a round.
    pub per_round: i64,
    /// An attempt with no answer after this long failed (SPEC §10: 15 s).
    pub attempt_timeout: Duration,
    /// `CRM_WEBHOOK_ALLOW_PRIVATE`: deliveries may go to loopback and private addresses
    /// (`address.rs`). Off unless configured.
    pub allow_private: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            per_subscription: 16,
            per_round: 256,
            attempt_timeout: Duration::from_secs(rules::ATTEMPT_TIMEOUT_SECONDS),
            allow_private: false,
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    clock: Clock,
    client: awc::Client,
    settings: Settings,
    /// Told when an attempt ends: its subscription may have room for the next delivery.
    finished: std::sync::Arc<tokio::sync::Notify>,
    /// Where attempts are counted (`/metrics`); none unless given (`with_metrics`).
    metrics: Option<WebhookMetrics>,
}

impl Worker {
    pub fn new(pool: PgPool, clock: Clock, settings: Settings) -> Worker {
        let client = awc::Client::builder()
            .connector(
                awc::Connector::new()
                    .connector(GuardedConnector { allow_private: settings.allow_private })
                    .timeout(Duration::from_secs(5)),
            )
            .timeout(settings.attempt_timeout)
            // A redirect is an answer other than 2xx: a failure, as Standard Webhooks has it. Never
            // followed, so a public receiver cannot point a delivery at an internal address either.
            .max_redirects(0)
            .disable_redirects()
            .finish();
        Worker { pool, clock, client, settings, finished: Default::default(), metrics: None }
    }

    /// This worker's attempts counted in `metrics` (`spawn` counts its rounds as job runs).
    pub fn with_metrics(self, metrics: WebhookMetrics) -> Worker {
        Worker { metrics: Some(metrics), ..self }
    }

    /// One round: new events become deliveries, attempts that died with their instance become due,
    /// and due deliveries are claimed and each sent on its own task. Returns those tasks.
    pub async fn round(&self) -> ApiResult<Vec<JoinHandle<()>>> {
        let now = self.clock.now();
        // A claim's lease outlasts the attempt's timeout, so it runs out only for a dead instance.
        let lease =
            chrono::Duration::from_std(self.settings.attempt_timeout * 4).unwrap_or(chrono::Duration::minutes(1));
        let (per_subscription, per_round) = (self.settings.per_subscription, self.settings.per_round);
        let claimed = crate::db::background(&self.pool, move |conn| {
            store::dispatch(conn, now)?;
            store::release_expired_leases(conn, now)?;
            store::claim(conn, now, lease, per_subscription, per_round)
        })
        .await?;
        Ok(claimed
            .into_iter()
            .map(|c| {
                // A stop waits for attempts under way (their answers are recorded, not sent again).
                let working = crate::lifecycle::background().enter();
                let worker = self.clone();
                actix_web::rt::spawn(async move {
                    worker.attempt(c).await;
                    drop(working);
                })
            })
            .collect())
    }

    /// Rounds until one claims nothing, waiting for every attempt (tests, and draining a backlog).
    pub async fn run_until_idle(&self) -> ApiResult<usize> {
        let mut sent = 0;
        loop {
            let tasks = self.round().await?;
            if tasks.is_empty() {
                return Ok(sent);
            }
            sent += tasks.len();
            for task in tasks {
                let _ = task.await;
            }
        }
    }

    async fn attempt(self, claimed: Claimed) {
        let result = self.send(&claimed).await;
        if let Some(metrics) = &self.metrics {
            metrics.attempt(result.verdict == rules::Verdict::Delivered);
        }
        let now = self.clock.now();
        let outcome = crate::db::background(&self.pool, move |conn| store::record(conn, &result, now)).await;
        match outcome {
            Ok(store::Recorded::GivenUp) => {
                if let Some(metrics) = &self.metrics {
                    metrics.given_up();
                }
            }
            Ok(_) => {}
            // The lease runs out and the delivery is tried again.
            Err(e) => log::warn!("recording webhook delivery {}: {e}", claimed.delivery.id),
        }
        self.finished.notify_one();
    }

    async fn send(&self, claimed: &Claimed) -> AttemptResult {
        let attempted_at = self.clock.now();
        let body = serde_json::to_vec(&claimed.body).unwrap_or_default();
        let id = claimed.delivery.event_id.to_string();
        let timestamp = attempted_at.timestamp();
        let secrets: Vec<&str> = claimed.secrets.iter().map(String::as_str).collect();
        let signature = rules::signature_header(&secrets, &id, timestamp, &body);
        let started = Instant::now();
        let response = self
            .client
            .post(&claimed.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("user-agent", concat!("retail-crm-webhooks/", env!("CARGO_PKG_VERSION"))))
            .insert_header(("webhook-id", id.as_str()))
            .insert_header(("webhook-timestamp", timestamp.to_string()))
            .insert_header(("webhook-signature", signature))
            .send_body(body)
            .await;
        let (code, retry_after, error) = match response {
            Ok(mut res) => {
                let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                // Read (a little of) the answer so the connection can be used again.
                let _ = res.body().limit(64 * 1024).await;
                (Some(res.status().as_u16()), retry_after, None)
            }
            Err(e) => (None, None, Some(describe(&e))),
        };
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        AttemptResult {
            delivery_id: claimed.delivery.id,
            attempted_at,
            response_code: code.map(i32::from),
            duration_ms,
            error,
            verdict: rules::verdict(code, retry_after.as_deref(), attempted_at),
            jitter: rand::random::<f64>(),
        }
    }
}

fn describe(e: &awc::error::SendRequestError) -> String {
    use awc::error::SendRequestError as E;
    match e {
        _ if address::is_refusal(e) => address::REFUSED.into(),
        E::Timeout => "timed out".into(),
        E::Connect(c) => format!("could not connect: {c}"),
        other => other.to_string(),
    }
    .chars()
    .take(500)
    .collect()
}

/// The worker's loop in a serving instance: another round as soon as an attempt ends (its slot is
/// free), and at least every quarter second while there is work (new events), every second otherwise.
pub fn spawn(pool: PgPool, clock: Clock, settings: Settings, metrics: WebhookMetrics) {
    actix_web::rt::spawn(async move {
        let worker = Worker::new(pool, clock, settings).with_metrics(metrics.clone());
        loop {
            let Some(working) = crate::lifecycle::background().enter() else { return };
            let started = Instant::now();
            let round = worker.round().await;
            drop(working);
            let outcome = if round.is_ok() { JobOutcome::Ok } else { JobOutcome::Failed };
            metrics.jobs().record("webhooks", outcome, started.elapsed());
            let pause = match round {
                Ok(tasks) if !tasks.is_empty() => Duration::from_millis(250),
                Ok(_) => Duration::from_secs(1),
                Err(e) => {
                    log::warn!("webhook worker: {e}");
                    Duration::from_secs(5)
                }
            };
            let _ = actix_web::rt::time::timeout(pause, worker.finished.notified()).await;
        }
    });
}
