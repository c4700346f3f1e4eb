//! Signed webhooks (SPEC §10) against real HTTP receivers on loopback: signatures, the retry
//! schedule on the `Clock`, 410 and `Retry-After`, a hanging receiver, rotation, replay.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

mod contract;
mod guards;
mod receiver;

use receiver::{deliveries, signed_with, subscribe, worker, Receiver, Reply, HOOKS};

async fn new_customer(app: &TestApp, phone: &str) -> Uuid {
    let res = app
        .post("/v1/customers")
        .token(&app.token(&["customers:write"]))
        .json(&json!({"name": "王芳", "phone": phone}))
        .send()
        .await;
    res.assert_status(201);
    res.uuid("id")
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a time: {value}"))
}

/// An app whose clock stands still, at a whole second (the database keeps microseconds).
async fn pinned_app() -> TestApp {
    let app = TestApp::new().await;
    app.state.clock.set(app.now().trunc_subsecs(0));
    app
}

#[actix_rt::test]
async fn a_delivery_is_signed_and_keeps_its_webhook_id_through_a_retry() {
    let app = pinned_app().await;
    let hooks = Receiver::start().await;
    let (sub, secret) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    assert!(secret.starts_with("whsec_"));
    hooks.reply_next([Reply::Status(500)]);
    let customer = new_customer(&app, "13800000001").await;
    an_unsubscribed_type_is_not_sent(&app, customer).await;

    let worker = worker(&app, 4);
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    let log = deliveries(&app, sub).await;
    assert_eq!(log.len(), 1, "one delivery: {log:?}");
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["attempts"][0]["response_code"], 500);
    assert_eq!(log[0]["attempts"][0]["succeeded"], false);
    let first_try = at(&log[0]["attempts"][0]["attempted_at"]);
    let next = at(&log[0]["next_attempt_at"]);
    assert!(next >= first_try + Duration::seconds(5) && next <= first_try + Duration::milliseconds(5500), "{next}");

    // Not due before 5 s.
    app.state.clock.set(first_try + Duration::seconds(4));
    assert_eq!(worker.run_until_idle().await.unwrap(), 0);
    app.state.clock.set(next);
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);

    let got = hooks.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"), "the same id on every attempt");
    let event = got[1].json();
    assert_eq!(got[1].header("webhook-id"), event["id"].as_str().unwrap());
    assert_eq!(event["type"], "customer.created");
    assert_eq!(event["subject_id"], customer.to_string());
    assert!(event["seq"].as_i64().is_some_and(|s| s > 0), "{event}");
    assert_eq!(got[1].header("webhook-timestamp"), next.timestamp().to_string());
    assert_eq!(got[1].header("content-type"), "application/json");
    for r in &got {
        assert!(signed_with(&secret, r), "the signature verifies with the secret");
        assert!(!signed_with(&receiver::new_test_secret(), r), "and with no other secret");
    }
    let log = deliveries(&app, sub).await;
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["attempts"].as_array().map(Vec::len), Some(2));
    assert!(log[0]["next_attempt_at"].is_null());
}

/// An event of a type the subscription did not ask for (`customer.updated`) is not sent.
async fn an_unsubscribed_type_is_not_sent(app: &TestApp, id: Uuid) {
    let res = app
        .patch(&format!("/v1/customers/{id}"))
        .token(&app.token(&["customers:write"]))
        .json(&json!({"city": "上海"}))
        .send()
        .await;
    res.assert_status(200);
}

#[actix_rt::test]
async fn retries_follow_the_schedule_then_fail_and_five_days_of_failures_disable() {
    let app = pinned_app().await;
    let t0 = app.now();
    let hooks = Receiver::start().await;
    hooks.always(Reply::Status(503));
    let (sub, _) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    new_customer(&app, "13800000003").await;
    let worker = worker(&app, 4);
    worker.run_until_idle().await.unwrap();
    let offsets = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400];
    for (i, offset) in offsets.iter().enumerate() {
        let log = deliveries(&app, sub).await;
        assert_eq!(log[0]["status"], "pending", "after {} attempts", i + 1);
        let next = at(&log[0]["next_attempt_at"]);
        let from_first = (next - t0).num_seconds();
        let gap = offset - if i == 0 { 0 } else { offsets[i - 1] };
        assert!(
            from_first >= *offset && from_first <= offset + gap / 10,
            "retry {i}: {from_first} s, expected {offset}"
        );
        app.state.clock.set(next);
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    }
    let log = deliveries(&app, sub).await;
    assert_eq!(log[0]["status"], "failed", "ten attempts, then failed");
    assert_eq!(log[0]["attempts"].as_array().map(Vec::len), Some(10));
    assert_eq!(hooks.received().len(), 10);

    // Everything has failed since t0. Just under 5 days, still on; at 5 days, disabled.
    app.state.clock.set(t0 + Duration::days(5) - Duration::minutes(1));
    new_customer(&app, "13800000004").await;
    worker.run_until_idle().await.unwrap();
    let res = app.get(&format!("/v1/webhook-subscriptions/{sub}")).token(&app.token(HOOKS)).send().await;
    assert_eq!(res.body["active"], true);
    assert_eq!(at(&res.body["failing_since"]), t0);
    app.state.clock.set(t0 + Duration::days(5));
    let log = deliveries(&app, sub).await;
    app.state.clock.set(at(&log[0]["next_attempt_at"]).max(t0 + Duration::days(5)));
    worker.run_until_idle().await.unwrap();
    let res = app.get(&format!("/v1/webhook-subscriptions/{sub}")).token(&app.token(HOOKS)).send().await;
    assert_eq!(res.body["active"], false);
    assert_eq!(res.body["disabled_reason"], "failing");
    // Disabled: nothing more is sent.
    let sent = hooks.received().len();
    new_customer(&app, "13800000005").await;
    app.state.clock.set(app.now() + Duration::days(1));
    assert_eq!(worker.run_until_idle().await.unwrap(), 0);
    assert_eq!(hooks.received().len(), sent);
}

#[actix_rt::test]
async fn a_410_disables_at_once_and_retry_after_is_honoured() {
    let app = pinned_app().await;
    let gone = Receiver::start().await;
    gone.always(Reply::Status(410));
    let busy = Receiver::start().await;
    busy.reply_next([Reply::RetryAfter(429, "120".into())]);
    let (gone_sub, _) = subscribe(&app, &gone.url, &["customer.created"]).await;
    let (busy_sub, _) = subscribe(&app, &busy.url, &["customer.created"]).await;
    new_customer(&app, "13800000006").await;
    let worker = worker(&app, 4);
    let t0 = app.now();
    assert_eq!(worker.run_until_idle().await.unwrap(), 2);

    let res = app.get(&format!("/v1/webhook-subscriptions/{gone_sub}")).token(&app.token(HOOKS)).send().await;
    assert_eq!(res.body["active"], false);
    assert_eq!(res.body["disabled_reason"], "gone");
    assert_eq!(deliveries(&app, gone_sub).await[0]["status"], "failed");

    let log = deliveries(&app, busy_sub).await;
    assert_eq!(at(&log[0]["next_attempt_at"]), t0 + Duration::seconds(120), "Retry-After, not the 5 s step");
    app.state.clock.set(t0 + Duration::seconds(119));
    assert_eq!(worker.run_until_idle().await.unwrap(), 0);
    app.state.clock.set(t0 + Duration::seconds(120));
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    assert_eq!(deliveries(&app, busy_sub).await[0]["status"], "succeeded");
    assert_eq!(gone.received().len(), 1);
}

#[actix_rt::test]
async fn a_hanging_receiver_costs_other_subscriptions_and_the_api_nothing() {
    let app = pinned_app().await;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let slow = Receiver::start().await;
    slow.always(Reply::Hang(release.clone()));
    let fast = Receiver::start().await;
    let (slow_sub, _) = subscribe(&app, &slow.url, &["customer.created"]).await;
    let (fast_sub, _) = subscribe(&app, &fast.url, &["customer.created"]).await;
    let worker = worker(&app, 1);

    new_customer(&app, "13800000007").await;
    let first = worker.round().await.unwrap();
    assert_eq!(first.len(), 2);
    slow.wait_for(1).await;
    fast.wait_for(1).await;
    // The slow receiver holds its one slot; the fast one goes on with every new event, and the API
    // answers meanwhile.
    for (i, phone) in ["13800000008", "13800000009", "13800000010"].iter().enumerate() {
        new_customer(&app, phone).await;
        let started = worker.round().await.unwrap();
        assert_eq!(started.len(), 1, "only the fast subscription has room");
        for task in started {
            task.await.unwrap();
        }
        assert_eq!(fast.received().len(), i + 2);
    }
    assert_eq!(slow.received().len(), 1);
    let waiting = deliveries(&app, slow_sub).await;
    assert_eq!(waiting.iter().filter(|d| d["status"] == "pending").count(), 3);
    assert_eq!(waiting.iter().filter(|d| d["status"] == "sending").count(), 1);
    assert!(deliveries(&app, fast_sub).await.iter().all(|d| d["status"] == "succeeded"));

    release.notify_waiters();
    for task in first {
        task.await.unwrap();
    }
    slow.always(Reply::Status(200));
    release.notify_waiters();
    worker.run_until_idle().await.unwrap();
    assert!(deliveries(&app, slow_sub).await.iter().all(|d| d["status"] == "succeeded"));
    assert_eq!(slow.received().len(), 4);
}

#[actix_rt::test]
async fn a_rotation_signs_with_both_secrets_for_24_hours() {
    let app = pinned_app().await;
    let hooks = Receiver::start().await;
    let (sub, old) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    let token = app.token(HOOKS);
    let res = app.post(&format!("/v1/webhook-subscriptions/{sub}/rotate-secret")).token(&token).send().await;
    res.assert_status(200);
    let new = res.str("secret").to_string();
    assert_ne!(new, old);
    assert_eq!(at(&res.body["previous_secret_valid_until"]), app.now() + Duration::hours(24));

    let worker = worker(&app, 4);
    new_customer(&app, "13800000011").await;
    worker.run_until_idle().await.unwrap();
    let during = hooks.received().pop().unwrap();
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(signed_with(&old, &during) && signed_with(&new, &during));

    app.state.clock.set(app.now() + Duration::hours(24));
    new_customer(&app, "13800000012").await;
    worker.run_until_idle().await.unwrap();
    let after = hooks.received().pop().unwrap();
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert!(signed_with(&new, &after) && !signed_with(&old, &after));
}

/// `[now - 1 day, now - 1 day + length)` as a replay's `from` and `to`: around the events a test
/// makes now.
fn window(app: &TestApp, length: Duration) -> (String, String) {
    let from = app.now() - Duration::days(1);
    (from.to_rfc3339(), (from + length).to_rfc3339())
}

async fn replay(app: &TestApp, sub: Uuid, from: &str, to: &str) -> crate::support::TestResponse {
    app.post(&format!("/v1/webhook-subscriptions/{sub}/replay"))
        .token(&app.token(HOOKS))
        .json(&json!({"from": from, "to": to}))
        .send()
        .await
}

#[actix_rt::test]
async fn replay_resends_what_a_disabled_subscription_missed() {
    let app = pinned_app().await;
    let hooks = Receiver::start().await;
    let (sub, _) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    let token = app.token(HOOKS);
    let worker = worker(&app, 4);
    new_customer(&app, "13800000013").await;
    hooks.reply_next([Reply::Status(410)]);
    worker.run_until_idle().await.unwrap();
    let res = app.get(&format!("/v1/webhook-subscriptions/{sub}")).token(&token).send().await;
    assert_eq!(res.body["disabled_reason"], "gone");
    let (from, to) = window(&app, Duration::days(2));
    let res = replay(&app, sub, &from, &to).await;
    res.assert_problem(409, "webhook_subscription_inactive");

    // Missed while disabled.
    let missed = [new_customer(&app, "13800000014").await, new_customer(&app, "13800000015").await];
    worker.run_until_idle().await.unwrap();
    assert_eq!(hooks.received().len(), 1);

    let res = app
        .patch(&format!("/v1/webhook-subscriptions/{sub}"))
        .token(&token)
        .json(&json!({"active": true}))
        .send()
        .await;
    res.assert_status(200);
    assert!(res.body["disabled_reason"].is_null());
    worker.run_until_idle().await.unwrap();
    assert_eq!(hooks.received().len(), 1, "turning it on does not flood it with the backlog");

    let res = replay(&app, sub, &to, &from).await;
    res.assert_problem(422, "validation_failed");
    let res = replay(&app, sub, &from, &to).await;
    res.assert_status(202);
    assert_eq!(res.body["replayed"], 3, "the first event (failed with the 410) and the two missed");
    worker.run_until_idle().await.unwrap();
    let subjects: Vec<String> =
        hooks.received()[1..].iter().map(|r| r.json()["subject_id"].as_str().unwrap().to_string()).collect();
    for id in missed {
        assert!(subjects.contains(&id.to_string()), "{id} replayed");
    }
    assert!(deliveries(&app, sub).await.iter().all(|d| d["status"] == "succeeded"));
}

#[actix_rt::test]
async fn a_failed_delivery_is_retried_by_hand() {
    let app = pinned_app().await;
    let hooks = Receiver::start().await;
    let (sub, _) = subscribe(&app, &hooks.url, &["customer.created"]).await;
    hooks.reply_next([Reply::Status(500)]);
    new_customer(&app, "13800000016").await;
    let worker = worker(&app, 4);
    worker.run_until_idle().await.unwrap();
    let delivery = deliveries(&app, sub).await[0]["id"].as_str().unwrap().to_string();
    let token = app.token(HOOKS);
    let res =
        app.post(&format!("/v1/webhook-subscriptions/{sub}/deliveries/{delivery}/retry")).token(&token).send().await;
    res.assert_status(202);
    assert_eq!(res.body["status"], "pending");
    assert_eq!(at(&res.body["next_attempt_at"]), app.now(), "due now, not in 5 s");
    assert_eq!(res.body["attempts"].as_array().map(Vec::len), Some(1));
    worker.run_until_idle().await.unwrap();
    assert_eq!(deliveries(&app, sub).await[0]["status"], "succeeded");
    let other = Uuid::now_v7();
    app.post(&format!("/v1/webhook-subscriptions/{sub}/deliveries/{other}/retry"))
        .token(&token)
        .send()
        .await
        .assert_problem(404, "webhook_delivery_not_found");
}

#[actix_rt::test]
async fn subscriptions_are_validated_chain_wide_and_gone_after_delete() {
    let app = TestApp::new().await;
    let token = app.token(HOOKS);
    for body in [
        json!({"url": "ftp://example.com", "event_types": ["order.created"]}),
        json!({"url": "https://example.com/hooks", "event_types": []}),
        json!({"url": "https://example.com/hooks", "event_types": ["order.shipped"]}),
        json!({"event_types": ["order.created"]}),
        json!({"url": "https://example.com/hooks"}),
    ] {
        app.post("/v1/webhook-subscriptions")
            .token(&token)
            .json(&body)
            .send()
            .await
            .assert_problem(422, "validation_failed");
    }
    let store = app.store_id("S001").await;
    let bound = app.store_token(HOOKS, Some(store));
    let body = json!({"url": "https://example.com/hooks", "event_types": ["order.created"]});
    app.post("/v1/webhook-subscriptions")
        .token(&bound)
        .json(&body)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    app.post("/v1/webhook-subscriptions")
        .token(&app.token(&["events:read"]))
        .json(&body)
        .send()
        .await
        .assert_status(403);

    let res = app.post("/v1/webhook-subscriptions").token(&token).json(&body).send().await;
    res.assert_status(201);
    let id = res.uuid("id");
    let read = app.get(&format!("/v1/webhook-subscriptions/{id}")).token(&token).send().await;
    read.assert_status(200);
    assert!(read.body.get("secret").is_none(), "the secret is shown once");
    assert_eq!(read.header("etag"), Some("\"1\""));
    app.patch(&format!("/v1/webhook-subscriptions/{id}"))
        .token(&token)
        .header("if-match", "\"7\"")
        .json(&json!({"description": "ERP"}))
        .send()
        .await
        .assert_problem(412, "precondition_failed");
    app.delete(&format!("/v1/webhook-subscriptions/{id}")).token(&token).send().await.assert_status(204);
    for res in [
        app.get(&format!("/v1/webhook-subscriptions/{id}")).token(&token).send().await,
        app.delete(&format!("/v1/webhook-subscriptions/{id}")).token(&token).send().await,
        app.patch(&format!("/v1/webhook-subscriptions/{id}"))
            .token(&token)
            .json(&json!({"active": false}))
            .send()
            .await,
    ] {
        res.assert_problem(404, "webhook_subscription_not_found");
    }
}
