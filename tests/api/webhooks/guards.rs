//! Issue 22: where deliveries may go (no receiver inside the service's network, checked when a
//! subscription is saved and again when each delivery connects), how many subscriptions a principal
//! may hold, and how much one replay may send.

use chrono::Duration;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::webhooks::worker::{Settings, Worker};

use super::receiver::{deliveries, subscribe, worker, Receiver, Reply, HOOKS};
use super::{new_customer, pinned_app, replay, window};
use crate::support::{TestApp, TestResponse};

/// An app configured as a production instance is: receivers on internal addresses refused.
async fn strict_app() -> TestApp {
    TestApp::builder().config(|c| c.webhook_allow_private = false).build().await
}

async fn create(app: &TestApp, token: &str, url: &str) -> TestResponse {
    app.post("/v1/webhook-subscriptions")
        .token(token)
        .json(&json!({"url": url, "event_types": ["customer.created"]}))
        .send()
        .await
}

/// Refused on `url`: for the address it reaches, or (`plainly` false) for a host that is no plain
/// name or address — the numeric spellings a resolver would read as one.
#[track_caller]
fn assert_url_refused_as(res: &TestResponse, url: &str, reached: bool) {
    assert_eq!(res.status, 422, "{url}: {}", res.text);
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["url"], "{url}: {}", res.text);
    let message = res.body["errors"][0]["message"].as_str().unwrap_or_default();
    let expected = if reached { "public address" } else { "its host a DNS name" };
    assert!(message.contains(expected), "{url}: {message}");
}

#[track_caller]
fn assert_url_refused(res: &TestResponse, url: &str) {
    assert_url_refused_as(res, url, true);
}

#[actix_rt::test]
async fn receivers_inside_the_network_are_refused_when_saved_in_every_spelling() {
    let app = strict_app().await;
    let token = app.token(HOOKS);
    for url in [
        "http://localhost/hooks",
        "http://LOCALHOST.:8080/hooks",
        "http://api.localhost/hooks",
        "http://127.0.0.1/hooks",
        "http://127.0.0.1:5432/",
        "http://0.0.0.0/hooks",
        "http://[::1]/hooks",
        "http://[::]/hooks",
        "http://[::ffff:7f00:1]/hooks",
        "http://10.1.2.3/hooks",
        "https://172.16.0.5/hooks",
        "http://192.168.1.1/hooks",
        "http://100.64.0.1/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hooks",
        "http://[fd00::1]/hooks",
        "http://224.0.0.1/hooks",
        "http://255.255.255.255/hooks",
        "http://240.0.0.1/hooks",
    ] {
        assert_url_refused(&create(&app, &token, url).await, url);
    }
    // The spellings a resolver reads as 127.0.0.1 are no plain host: refused before any lookup.
    for url in [
        "http://2130706433/hooks",
        "http://0x7f000001/hooks",
        "http://0177.0.0.1/hooks",
        "http://127.1/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
    ] {
        assert_url_refused_as(&create(&app, &token, url).await, url, false);
    }

    // A public receiver is saved, in its canonical form; moving it inside is refused the same way.
    let res = create(&app, &token, "https://93.184.216.34:443/hooks").await;
    res.assert_status(201);
    assert_eq!(res.body["url"], "https://93.184.216.34/hooks");
    let id = res.uuid("id");
    for (url, reached) in [("http://127.1:8080/hooks", false), ("http://localhost/hooks", true)] {
        let res =
            app.patch(&format!("/v1/webhook-subscriptions/{id}")).token(&token).json(&json!({"url": url})).send().await;
        assert_url_refused_as(&res, url, reached);
    }
    // Every field's problem is listed together.
    let res = app
        .post("/v1/webhook-subscriptions")
        .token(&token)
        .json(&json!({"url": "http://0x7f.1/", "event_types": []}))
        .send()
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["url", "event_types"]);
}

#[actix_rt::test]
async fn with_private_receivers_allowed_a_url_is_still_stored_in_its_canonical_form() {
    let app = TestApp::new().await;
    assert!(app.state.config.webhook_allow_private, "the harness allows loopback receivers");
    let res = create(&app, &app.token(HOOKS), "http://LocalHost.:80/hooks").await;
    res.assert_status(201);
    assert_eq!(res.body["url"], "http://localhost./hooks");
    let res = create(&app, &app.token(HOOKS), "http://2130706433:9/hooks").await;
    assert_url_refused_as(&res, "http://2130706433:9/hooks", false);
}

/// A worker configured as a production instance's is.
fn strict_worker(app: &TestApp) -> Worker {
    let settings = Settings { allow_private: false, ..Settings::default() };
    Worker::new(app.state.pool.clone(), app.state.clock.clone(), settings)
}

#[actix_rt::test]
async fn a_delivery_to_an_internal_address_is_refused_when_it_connects() {
    // Saved while allowed (as a subscription made before the rule, or a name that resolved
    // elsewhere then, would be): the worker checks the address it dials, whatever was saved.
    let app = pinned_app().await;
    let hooks = Receiver::start().await;
    let by_name = hooks.url.replace("127.0.0.1", "localhost");
    let (literal, _) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    let (named, _) = subscribe(&app, &by_name, &["customer.created"]).await;
    new_customer(&app, "13800000101").await;

    assert_eq!(strict_worker(&app).run_until_idle().await.unwrap(), 2);
    for sub in [literal, named] {
        let log = deliveries(&app, sub).await;
        assert_eq!(log.len(), 1, "{log:?}");
        let attempt = &log[0]["attempts"][0];
        assert_eq!(attempt["error"], "refused: address not allowed", "{attempt}");
        assert_eq!(attempt["succeeded"], false);
        assert!(attempt["response_code"].is_null(), "{attempt}");
        assert_eq!(log[0]["status"], "pending", "a failed attempt like any other: retried on the schedule");
    }
    assert!(hooks.received().is_empty(), "nothing reached the receiver");

    // The same deliveries go through where the policy allows loopback: it was the policy, not the receiver.
    app.state.clock.set(app.now() + Duration::minutes(1));
    assert_eq!(worker(&app, 4).run_until_idle().await.unwrap(), 2);
    assert_eq!(hooks.received().len(), 2);
}

#[actix_rt::test]
async fn a_principal_may_have_at_most_20_subscriptions() {
    let app = TestApp::new().await;
    let integrator = app.token_for("client:integrator", HOOKS, None);
    let url = "https://93.184.216.34/hooks";
    let mut ids = Vec::new();
    for _ in 0..19 {
        let res = create(&app, &integrator, url).await;
        res.assert_status(201);
        ids.push(res.uuid("id"));
    }
    // Two creates racing for the last place: exactly one gets it.
    let (a, b) = futures::join!(create(&app, &integrator, url), create(&app, &integrator, url));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);
    let res = create(&app, &integrator, url).await;
    res.assert_problem(409, "webhook_subscription_limit");
    assert_eq!(res.body["limit"], 20);

    // The cap is per principal: another client is not held back by this one.
    create(&app, &app.token(HOOKS), url).await.assert_status(201);
    // Deleting one frees its place.
    app.delete(&format!("/v1/webhook-subscriptions/{}", ids[0])).token(&integrator).send().await.assert_status(204);
    create(&app, &integrator, url).await.assert_status(201);
    create(&app, &integrator, url).await.assert_problem(409, "webhook_subscription_limit");
}

#[actix_rt::test]
async fn a_replay_window_spans_at_most_31_days() {
    let app = pinned_app().await;
    let (sub, _) = subscribe(&app, "http://127.0.0.1:9/hooks", &["customer.created"]).await;
    let (from, to) = window(&app, Duration::days(31) + Duration::minutes(1));
    let res = replay(&app, sub, &from, &to).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["to"]);
    let (from, to) = window(&app, Duration::days(31));
    replay(&app, sub, &from, &to).await.assert_status(202);
    let res = replay(&app, sub, "1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z").await;
    res.assert_problem(422, "validation_failed");
}

fn subjects(received: &[super::receiver::Received]) -> Vec<String> {
    received.iter().map(|r| r.json()["subject_id"].as_str().unwrap_or_default().to_string()).collect()
}

#[actix_rt::test]
async fn one_replay_at_a_time_and_what_was_delivered_is_not_sent_again() {
    let app = pinned_app().await;
    let hooks = Receiver::start().await;
    // Before the subscription: behind its horizon, so only a replay sends it.
    let before = new_customer(&app, "13800000201").await;
    let (sub, _) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    let delivered = new_customer(&app, "13800000202").await;
    let worker = worker(&app, 4);
    worker.run_until_idle().await.unwrap();
    hooks.reply_next([Reply::Status(500)]);
    let failing = new_customer(&app, "13800000203").await;
    worker.run_until_idle().await.unwrap();
    assert_eq!(subjects(&hooks.received()), [delivered.to_string(), failing.to_string()]);

    let (from, to) = window(&app, Duration::days(2));
    let res = replay(&app, sub, &from, &to).await;
    res.assert_status(202);
    assert_eq!(res.body["replayed"], 2, "the event before the subscription and the failing one, not the delivered one");
    let res = replay(&app, sub, &from, &to).await;
    res.assert_problem(409, "webhook_replay_pending");

    worker.run_until_idle().await.unwrap();
    let sent = subjects(&hooks.received()[2..]);
    assert_eq!(sent.len(), 2, "{sent:?}");
    for id in [before, failing] {
        assert!(sent.contains(&id.to_string()), "{id} replayed: {sent:?}");
    }
    let log: Vec<Value> = deliveries(&app, sub).await;
    assert!(log.iter().all(|d| d["status"] == "succeeded"), "{log:?}");

    // Drained: the next replay is accepted, and has nothing left to send.
    let res = replay(&app, sub, &from, &to).await;
    res.assert_status(202);
    assert_eq!(res.body["replayed"], 0);
    assert_eq!(worker.run_until_idle().await.unwrap(), 0);
    assert_eq!(hooks.received().len(), 4, "nothing was sent twice after its success");
    let unknown = Uuid::now_v7();
    replay(&app, unknown, &from, &to).await.assert_problem(404, "webhook_subscription_not_found");
}
