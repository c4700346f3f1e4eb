//! Issue 12, the event contract end to end: one receiver subscribed to every event type, the real
//! API (and the jobs and sweeps, on the pinned `Clock`) producing at least one event of each, and
//! every body that arrives checked against the committed `openapi/openapi.json`, as a subscriber
//! generating its client from that document would read it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::Duration;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::events::EVENT_TYPES;

use super::receiver::{signed_with, subscribe, worker, Received, Receiver};
use crate::support::TestApp;

/// The city that puts the member, and nobody else, in the campaign's audience.
const CITY: &str = "契约市";

#[actix_rt::test]
async fn one_event_of_every_type_reaches_a_receiver_signed_and_as_the_committed_document_says() {
    let app = TestApp::new().await;
    let t0 = crate::campaigns::morning();
    app.state.clock.set(t0);
    let hooks = Receiver::start().await;
    let (_, secret) = subscribe(&app, &hooks.url, EVENT_TYPES).await;

    let store = app.store_id("CT").await;
    let member = customers(&app).await;
    memberships(&app, member, store).await;
    orders_and_refunds(&app, member, store).await;
    rewards(&app, member).await;
    coupons(&app, member, store).await;
    campaign(&app).await;
    leads(&app).await;
    tickets(&app, member).await;
    // What only the clock brings: a lead unanswered for 15 minutes, a ticket for days, points
    // after 365 days.
    app.state.clock.set(t0 + Duration::minutes(16));
    sweep(&app, "lead_sla").await;
    app.state.clock.set(t0 + Duration::days(3));
    sweep(&app, "ticket_sla").await;
    app.state.clock.set(t0 + Duration::days(2 * 365));
    crate::orders::run_job(&app, "points_expiry").await.assert_status(200);

    let sent = worker(&app, 16).run_until_idle().await.unwrap_or_else(|e| panic!("the worker: {e}"));
    let received = hooks.received();
    assert_eq!(received.len(), sent, "every attempt reached the receiver");

    let seen: BTreeSet<String> = received.iter().map(|r| r.json()["type"].as_str().unwrap_or("").to_string()).collect();
    let missing: Vec<&str> = EVENT_TYPES.iter().copied().filter(|t| !seen.contains(*t)).collect();
    assert!(missing.is_empty(), "no event of {missing:?} was produced: drive each new type here");

    let document = committed_document();
    let mut wrong = Vec::new();
    for r in &received {
        wrong.extend(contract_violations(&document, &secret, r));
    }
    assert!(wrong.is_empty(), "{} of {} bodies break the contract:\n{}", wrong.len(), received.len(), wrong.join("\n"));
}

/// The document as committed (what subscribers read), not as the code would render it now.
fn committed_document() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi").join("openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What is wrong with one delivery: its signature, its `webhook-id`, and its body against the
/// schema the document gives its type's webhook.
fn contract_violations(document: &Value, secret: &str, r: &Received) -> Vec<String> {
    let body = r.json();
    let event_type = body["type"].as_str().unwrap_or("(no type)");
    let mut wrong = Vec::new();
    if !signed_with(secret, r) {
        wrong.push(format!("{event_type}: the signature does not verify with the subscription's secret"));
    }
    if body["id"].as_str() != Some(r.header("webhook-id")) {
        wrong.push(format!("{event_type}: webhook-id {} is not the body's id {}", r.header("webhook-id"), body["id"]));
    }
    let pointer = format!("/webhooks/{event_type}/post/requestBody/content/application~1json/schema");
    let Some(schema) = document.pointer(&pointer) else {
        wrong.push(format!("{event_type}: the document has no webhook for this type\n  body: {body}"));
        return wrong;
    };
    let validator = validator(document, schema);
    let errors: Vec<String> =
        validator.iter_errors(&body).map(|e| format!("    {e} (at {})", e.instance_path())).collect();
    if !errors.is_empty() {
        wrong.push(format!("{event_type}:\n  body: {body}\n  errors:\n{}", errors.join("\n")));
    }
    wrong
}

/// `schema` with the document's components beside it, so its `$ref`s resolve (JSON Schema 2020-12,
/// as OpenAPI 3.1 reads it), with formats (`uuid`, `date-time`) asserted.
///
/// The document leaves objects open, so that a payload may gain members without breaking anyone's
/// client; the service must still send none the document does not name. So here every object a
/// property refers to is read as closed (`unevaluatedProperties: false` beside the `$ref`, which
/// sees through the `allOf`/`oneOf` a flattened payload is made of).
fn validator(document: &Value, schema: &Value) -> jsonschema::Validator {
    let mut rooted = schema.clone();
    rooted["components"] = document["components"].clone();
    close_referenced_objects(&mut rooted["components"]);
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&rooted)
        .unwrap_or_else(|e| panic!("not a schema: {e}\n{schema}"))
}

fn close_referenced_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for property in properties.values_mut() {
                    if let Some(member) = property.as_object_mut().filter(|p| p.contains_key("$ref")) {
                        member.insert("unevaluatedProperties".into(), json!(false));
                    }
                }
            }
            map.iter_mut().filter(|(k, _)| *k != "example").for_each(|(_, v)| close_referenced_objects(v));
        }
        Value::Array(items) => items.iter_mut().for_each(close_referenced_objects),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// What produces each event, through the API as a client would
// ---------------------------------------------------------------------------------------------

async fn sweep(app: &TestApp, name: &str) {
    app.post(&format!("/v1/sweeps/{name}/run")).token(&app.admin_token()).send().await.assert_status(200);
}

/// customer.created, .updated, .merged, .erased; returns the member the rest of the test serves.
async fn customers(app: &TestApp) -> Uuid {
    let member = app
        .customer()
        .with(json!({"name": "王芳", "phone": "13900000001", "consents": {"marketing_sms": true}}))
        .create()
        .await;
    let admin = app.admin_token();
    let path = format!("/v1/customers/{member}");
    app.patch(&path).token(&admin).json(&json!({"city": CITY})).send().await.assert_status(200);
    let twin = app.customer().with(json!({"name": "王芳（重复）"})).create().await;
    app.post(&format!("{path}/merge"))
        .token(&admin)
        .json(&json!({"source_customer_id": twin}))
        .send()
        .await
        .assert_status(200);
    let gone = app.customer().with(json!({"name": "要求注销"})).create().await;
    app.delete(&format!("/v1/customers/{gone}")).token(&admin).send().await.assert_status(204);
    member
}

/// membership.enrolled, membership.tier_changed.
async fn memberships(app: &TestApp, member: Uuid, store: Uuid) {
    let member = member.to_string();
    crate::memberships::enrol(app, &member, json!({"channel": "pos", "store_id": store})).await.assert_status(201);
    crate::memberships::set_tier(app, &member, json!({"tier": "gold", "reason": "VIP"})).await.assert_status(200);
}

/// order.created, points.earned and points.redeemed on an order, coupon.issued, coupon.redeemed on
/// an order, and the full refund's order.refunded and coupon.returned.
async fn orders_and_refunds(app: &TestApp, member: Uuid, store: Uuid) {
    use crate::orders::{line, post, sale, TILL};
    let mut first = sale(app, "CT-1", Some(member), json!([line("A", "600.00", 1)]));
    first["store_id"] = json!(store);
    post(app, &first).await.assert_status(201);

    let template = app.coupon_template().create().await;
    let code = crate::coupons::issue_one(app, template, member).await;
    let mut second = sale(app, "CT-2", Some(member), json!([line("B", "500.00", 1)]));
    second["store_id"] = json!(store);
    second["coupon_codes"] = json!([code]);
    second["points_to_redeem"] = json!(100);
    let order = post(app, &second).await;
    order.assert_status(201);
    app.post(&format!("/v1/orders/{}/refunds", order.str("id")))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "CT-2-R"}))
        .send()
        .await
        .assert_status(201);
}

/// points.redeemed for a reward.
async fn rewards(app: &TestApp, member: Uuid) {
    let reward = crate::loyalty::create_reward(app, 100, 5).await;
    crate::loyalty::redeem(app, member, reward, 1).await.assert_status(201);
}

/// coupon.voided, and a stand-alone coupon.redeemed at a store's till, then coupon.rolled_back.
async fn coupons(app: &TestApp, member: Uuid, store: Uuid) {
    use crate::coupons::access::{redeem, rollback};
    let template = app.coupon_template().create().await;
    let voided = crate::coupons::issue_one(app, template, member).await;
    crate::coupons::void(app, &voided, "发错了").await.assert_status(200);
    let used = crate::coupons::issue_one(app, template, member).await;
    let till = app.store_token(&["coupons:redeem"], Some(store));
    let sale = json!({"customer_id": member, "order_reference": "P-1", "amount": "320.00"});
    redeem(app, &till, &used, sale).await.assert_status(201);
    rollback(app, &till, &used).await.assert_status(200);
}

/// campaign.message, with the coupon.issued and the campaign's points.earned of its run.
async fn campaign(app: &TestApp) {
    let template = app.coupon_template().create().await;
    let audience = crate::campaigns::segment(app, json!({"field": "city", "op": "eq", "value": CITY})).await;
    crate::campaigns::campaign(
        app,
        json!({"name": "契约回馈", "kind": "one_off", "audience": {"segment_id": audience}, "holdout_percent": 0,
               "actions": [{"type": "issue_coupon", "template_id": template},
                           {"type": "send_message", "channel": "sms", "template": "{{name}}，券码{{coupon_code}}"},
                           {"type": "award_points", "points": 200}]}),
    )
    .await;
    crate::campaigns::tick(app).await;
}

/// lead.created, .assigned, .contacted, .qualified, .won (a customer.created with it), .lost, and a
/// lead left unanswered for the SLA sweep (lead.sla_breached, and lead.assigned again).
async fn leads(app: &TestApp) {
    use crate::leads::{chaoyang, chaoyang_rule, inquiry, lead, step, uuid};
    let (store, _, _) = chaoyang(app, "LD").await;
    chaoyang_rule(app, store, true).await;
    let won = uuid(&lead(app, inquiry(json!({}))).await["id"]);
    for action in ["contact", "qualify", "convert"] {
        step(app, won, action, json!({})).await;
    }
    let lost = uuid(&lead(app, inquiry(json!({}))).await["id"]);
    step(app, lost, "close", json!({"outcome": "lost", "lost_reason": "联系不上"})).await;
    lead(app, inquiry(json!({}))).await;
}

/// ticket.created, .assigned, .commented, .updated, .resolved, .survey_requested,
/// .satisfaction_recorded, and a ticket left open for the SLA sweep (ticket.sla_breached).
async fn tickets(app: &TestApp, member: Uuid) {
    use crate::tickets::{id, reply, rule, set_status, ticket};
    app.create_staff(json!({"name": "客服A", "roles": ["service"], "team": "after_sales"})).await;
    rule(app, json!({"name": "returns", "priority": 1, "match_type": "return", "team": "after_sales"})).await;
    let t =
        id(&ticket(app, json!({"customer_id": member, "type": "return", "channel": "tmall", "subject": "尺码不合适"}))
            .await);
    reply(app, &t, "public", "已为您安排退货").await.assert_status(201);
    set_status(app, &t, "resolved").await;
    app.post(&format!("/v1/tickets/{t}/satisfaction"))
        .token(&app.token(&["tickets:write"]))
        .json(&json!({"score": 5}))
        .send()
        .await
        .assert_status(200);
    ticket(app, json!({"type": "inquiry", "subject": "营业时间?"})).await;
}

/// The check itself can fail: the document's own examples pass it, and each breaks it once changed
/// the way a drifting payload would — an undocumented member (in a flattened payload and in a nested
/// object), an id that is no UUID, a required member gone, a type in the wrong webhook.
#[test]
fn the_check_rejects_what_the_document_does_not_allow() {
    let document = committed_document();
    let check = |event_type: &str, body: &Value| {
        let pointer = format!("/webhooks/{event_type}/post/requestBody/content/application~1json/schema");
        let schema = document.pointer(&pointer).unwrap_or_else(|| panic!("no webhook for {event_type}"));
        validator(&document, schema).iter_errors(body).count()
    };
    let example = |name: &str| document["components"]["schemas"][name]["example"].clone();
    let earned = example("PointsEarnedEvent");
    let updated = example("TicketUpdatedEvent");
    assert_eq!(check("points.earned", &earned), 0, "{earned}");
    assert_eq!(check("ticket.updated", &updated), 0, "{updated}");

    let mut broken: Vec<(&str, Value)> = Vec::new();
    let mut extra = earned.clone();
    extra["data"]["reason"] = json!("生日");
    broken.push(("points.earned", extra));
    let mut nested = updated.clone();
    nested["data"]["changed"]["channel"] = json!(true);
    broken.push(("ticket.updated", nested));
    let mut not_an_id = earned.clone();
    not_an_id["data"]["order_id"] = json!("order-42");
    broken.push(("points.earned", not_an_id));
    let mut missing = updated.clone();
    missing["data"].as_object_mut().map(|d| d.remove("from_status"));
    broken.push(("ticket.updated", missing));
    broken.push(("ticket.created", updated.clone()));
    for (event_type, body) in broken {
        assert!(check(event_type, &body) > 0, "{event_type} passed the check: {body}");
    }
}
