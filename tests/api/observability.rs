//! SPEC §16 "Observability": `/metrics` has every family an operator watches, routes by pattern,
//! and answers without the database's figures (never 500) when the database does not.

use serde_json::json;

use retail_crm::webhooks::worker::{Settings, Worker};

use crate::support::TestApp;

/// The value of the one sample of `name` whose labels include every one of `labels`.
#[track_caller]
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .collect();
    assert_eq!(found.len(), 1, "one sample of {name} {labels:?} in:\n{text}");
    let value = found[0].rsplit(' ').next().unwrap_or_default();
    value.parse().unwrap_or_else(|e| panic!("{value:?}: {e}"))
}

#[actix_web::test]
async fn metrics_cover_requests_pools_outbox_webhooks_and_jobs() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    app.state.clock.set(app.now());
    // A receiver that is not there: every attempt fails.
    let res = app
        .post("/v1/webhook-subscriptions")
        .token(&admin)
        .json(&json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["customer.created"]}))
        .send()
        .await;
    res.assert_status(201);
    app.post("/v1/customers").token(&admin).json(&json!({"name": "王芳"})).send().await.assert_status(201);
    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/v1/stores/{missing}")).token(&admin).send().await.assert_status(404);

    // Nothing has followed the feed yet: each follower is as far behind as the customer's event is old.
    app.state.clock.advance(chrono::Duration::seconds(90));
    let text = app.get("/metrics").send().await.assert_status(200).text.clone();
    for follower in ["customer_activity", "sales_summary", "co_purchase", "webhooks"] {
        let lag = sample(&text, "outbox_lag_seconds", &[&format!("follower=\"{follower}\"")]);
        assert!((89.0..91.0).contains(&lag), "{follower}: {lag}\n{text}");
    }
    assert_eq!(sample(&text, "db_up", &[]), 1.0);

    // The sweep follows the feed (a job run, timed); the webhook worker turns the event into a
    // delivery and fails to deliver it.
    app.post("/v1/sweeps/customer_activity/run").token(&admin).send().await.assert_status(200);
    let settings = Settings { allow_private: true, ..Settings::default() };
    let worker = Worker::new(app.state.pool.clone(), app.state.clock.clone(), settings)
        .with_metrics(app.state.metrics.webhooks());
    assert_eq!(worker.run_until_idle().await.expect("a round"), 1);

    let res = app.get("/metrics").send().await;
    res.assert_status(200);
    let text = &res.text;
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/plain")), "{:?}", res.headers);
    // Requests and their latency by route pattern and status, never by the raw path.
    let route = ["route=\"/v1/stores/{id}\"", "status=\"404\""];
    assert_eq!(sample(text, "http_requests_total", &route), 1.0);
    assert_eq!(sample(text, "http_request_duration_seconds_count", &route), 1.0);
    assert!(!text.contains(&missing.to_string()), "{text}");
    // The pool: in use and waiting.
    for state in ["open", "idle", "in_use", "max", "waiting"] {
        sample(text, "db_pool_connections", &["pool=\"main\"", &format!("state=\"{state}\"")]);
    }
    assert_eq!(sample(text, "db_pool_connections", &["pool=\"main\"", "state=\"max\""]), 8.0);
    assert_eq!(sample(text, "db_pool_turns_waiting", &["pool=\"main\""]), 0.0);
    // No reports pool of its own without a replica.
    assert!(!text.contains("pool=\"reports\""), "{text}");
    // Outbox lag: the followed one is current, the others are not.
    assert_eq!(sample(text, "outbox_lag_seconds", &["follower=\"customer_activity\""]), 0.0);
    assert_eq!(sample(text, "outbox_lag_seconds", &["follower=\"webhooks\""]), 0.0);
    assert!(sample(text, "outbox_lag_seconds", &["follower=\"sales_summary\""]) >= 89.0, "{text}");
    // Webhooks: the failed attempt, its delivery waiting for a retry, nothing given up yet.
    assert_eq!(sample(text, "webhook_attempts_total", &["outcome=\"failed\""]), 1.0);
    assert_eq!(sample(text, "webhook_attempts_total", &["outcome=\"delivered\""]), 0.0);
    assert_eq!(sample(text, "webhook_deliveries_backlog", &["state=\"pending\""]), 1.0);
    assert_eq!(sample(text, "webhook_deliveries_backlog", &["state=\"sending\""]), 0.0);
    assert_eq!(sample(text, "webhook_deliveries_given_up_total", &[]), 0.0);
    // Job runs and their durations.
    assert_eq!(sample(text, "jobs_runs_total", &["job=\"customer_activity\"", "outcome=\"ok\""]), 1.0);
    assert_eq!(sample(text, "job_duration_seconds_count", &["job=\"customer_activity\""]), 1.0);
    for family in ["http_requests_total", "http_request_duration_seconds", "jobs_runs_total", "job_duration_seconds"] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family}\n{text}");
    }
}

#[actix_web::test]
async fn job_runs_count_by_outcome() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    app.post("/v1/jobs/rfm/run").token(&admin).send().await.assert_status(200);
    app.post("/v1/jobs/rfm/run").token(&admin).send().await.assert_problem(409, "job_already_ran");
    let text = app.get("/metrics").send().await.text.clone();
    assert_eq!(sample(&text, "jobs_runs_total", &["job=\"rfm\"", "outcome=\"ok\""]), 1.0);
    assert_eq!(sample(&text, "jobs_runs_total", &["job=\"rfm\"", "outcome=\"skipped\""]), 1.0);
    // Only the run that ran is timed.
    assert_eq!(sample(&text, "job_duration_seconds_count", &["job=\"rfm\""]), 1.0);
}

/// While the database cannot be reached in time, a scrape still answers 200 with what the process
/// knows, says the database is down, and leaves out its figures rather than show stale ones.
#[actix_web::test]
async fn metrics_answer_without_the_database() {
    let app = TestApp::builder()
        .pool_size(1)
        .config(|c| c.pool_timeout = std::time::Duration::from_millis(200))
        .build()
        .await;
    app.get("/metrics").send().await.assert_status(200);
    let held = app.conn();
    let res = app.get("/metrics").send().await;
    res.assert_status(200);
    assert_eq!(sample(&res.text, "db_up", &[]), 0.0);
    assert_eq!(sample(&res.text, "http_requests_total", &["route=\"/metrics\"", "status=\"200\""]), 1.0);
    assert_eq!(sample(&res.text, "db_pool_connections", &["state=\"in_use\""]), 1.0);
    assert!(!res.text.contains("outbox_lag_seconds"), "{}", res.text);
    assert!(!res.text.contains("webhook_deliveries_backlog"), "{}", res.text);
    drop(held);
    let res = app.get("/metrics").send().await;
    assert_eq!(sample(&res.text, "db_up", &[]), 1.0);
    assert!(res.text.contains("outbox_lag_seconds"), "{}", res.text);
}
