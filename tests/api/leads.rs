//! Leads (SPEC §11): the seeds' assignment example (round robin, capacity, the unassigned queue),
//! the lifecycle and every illegal move through the API, conversion into a customer, store
//! scoping, the response SLA sweep with re-assignment, rules CRUD and a hand-computed funnel.

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

mod access;

const RW: &[&str] = &["leads:read", "leads:write"];

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap_or_else(|| panic!("bad date"))
}

pub(crate) fn uuid(v: &Value) -> Uuid {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a uuid: {v}"))
}

/// Chaoyang store (北京 朝阳区) with two womenswear clerks of capacity 2, in id order.
pub(crate) async fn chaoyang(app: &TestApp, code: &str) -> (Uuid, Uuid, Uuid) {
    let store = uuid(&app.create_store(code).await["id"]);
    let mut clerks = Vec::new();
    for name in ["王芳", "李娜"] {
        let s = app
            .create_staff(
                json!({"name": name, "store_id": store, "roles": ["sales"], "skills": ["女装"], "capacity": 2}),
            )
            .await;
        clerks.push(uuid(&s["id"]));
    }
    clerks.sort();
    (store, clerks[0], clerks[1])
}

async fn rule(app: &TestApp, body: Value) -> Uuid {
    let res = app.post("/v1/lead-assignment-rules").token(&app.token(RW)).json(&body).send().await;
    res.assert_status(201);
    res.uuid("id")
}

pub(crate) async fn chaoyang_rule(app: &TestApp, store: Uuid, reassign: bool) -> Uuid {
    rule(
        app,
        json!({"name": "北京朝阳 女装", "priority": 10,
               "match": {"city": "北京", "district": "朝阳区", "category": "女装"},
               "target": {"store_id": store, "skill": "女装"}, "strategy": "round_robin",
               "reassign_on_breach": reassign}),
    )
    .await
}

pub(crate) fn inquiry(extra: Value) -> Value {
    let mut body = json!({"source": "wechat_mini_program", "kind": "inquiry", "contact": {"name": "王女士"},
        "city": "北京", "district": "朝阳区", "category": "女装"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

async fn create(app: &TestApp, body: Value) -> TestResponse {
    app.post("/v1/leads").token(&app.token(RW)).json(&body).send().await
}

pub(crate) async fn lead(app: &TestApp, body: Value) -> Value {
    let res = create(app, body).await;
    res.assert_status(201);
    res.body
}

async fn action(app: &TestApp, id: Uuid, name: &str, body: Value) -> TestResponse {
    app.post(&format!("/v1/leads/{id}/{name}")).token(&app.token(RW)).json(&body).send().await
}

pub(crate) async fn step(app: &TestApp, id: Uuid, name: &str, body: Value) -> Value {
    let res = action(app, id, name, body).await;
    res.assert_status(200);
    res.body
}

#[actix_web::test]
async fn seeds_example_round_robin_capacity_and_the_unassigned_queue() {
    let app = TestApp::new().await;
    let now = at(2026, 11, 23, 8, 0);
    app.state.clock.set(now);
    let (store, clerk1, clerk2) = chaoyang(&app, "CY").await;
    let rule_id = chaoyang_rule(&app, store, false).await;

    let first = lead(&app, inquiry(json!({}))).await;
    assert_eq!(first["status"], "assigned");
    assert_eq!(uuid(&first["assignee_staff_id"]), clerk1);
    assert_eq!(uuid(&first["store_id"]), store);
    assert_eq!(uuid(&first["rule_id"]), rule_id);
    assert_eq!(first["assigned_at"], json!("2026-11-23T08:00:00Z"));
    assert_eq!(first["response_due_at"], json!("2026-11-23T08:15:00Z"));
    let assignees: Vec<Uuid> = [
        lead(&app, inquiry(json!({}))).await,
        lead(&app, inquiry(json!({}))).await,
        lead(&app, inquiry(json!({}))).await,
    ]
    .iter()
    .map(|l| uuid(&l["assignee_staff_id"]))
    .collect();
    assert_eq!(assignees, vec![clerk2, clerk1, clerk2], "round robin alternates");

    // Both at capacity (2 each): the next one waits in the unassigned queue.
    let queued = lead(&app, inquiry(json!({}))).await;
    assert_eq!(queued["status"], "new");
    assert_eq!(queued["assignee_staff_id"], Value::Null);
    // A lead the rule does not match stays new too.
    let shanghai = lead(&app, inquiry(json!({"city": "上海", "district": "静安区"}))).await;
    assert_eq!(shanghai["status"], "new");
    let queue = app.collect_pages("/v1/leads?status=new", &app.token(RW), 1).await;
    let ids: Vec<&Value> = queue.iter().map(|l| &l["id"]).collect();
    assert_eq!(ids, vec![&queued["id"], &shanghai["id"]]);

    // Clerk 2 loses a lead: the next lead skips clerk 1 (full) although it is their turn.
    let clerk2_leads = app.collect_pages(&format!("/v1/leads?assignee_staff_id={clerk2}"), &app.token(RW), 50).await;
    assert_eq!(clerk2_leads.len(), 2);
    step(&app, uuid(&clerk2_leads[0]["id"]), "close", json!({"outcome": "lost", "lost_reason": "联系不上"})).await;
    let next = lead(&app, inquiry(json!({}))).await;
    assert_eq!(uuid(&next["assignee_staff_id"]), clerk2, "clerk 1 is at capacity and skipped");

    // An inactive clerk is skipped too: deactivate clerk 2, free a slot of clerk 1.
    app.deactivate_staff(clerk2).await;
    step(&app, uuid(&first["id"]), "close", json!({"outcome": "lost", "lost_reason": "不需要了"})).await;
    let again = lead(&app, inquiry(json!({}))).await;
    assert_eq!(uuid(&again["assignee_staff_id"]), clerk1);
}

#[actix_web::test]
async fn least_loaded_and_listed_staff() {
    let app = TestApp::new().await;
    let (_, clerk1, clerk2) = chaoyang(&app, "LL").await;
    // Clerk 1 already holds one lead (assigned by hand).
    let manual = lead(&app, inquiry(json!({"category": "男装"}))).await;
    step(&app, uuid(&manual["id"]), "assign", json!({"staff_id": clerk1})).await;
    rule(
        &app,
        json!({"name": "listed", "priority": 1, "match": {"kind": "walk_in"},
               "target": {"staff_ids": [clerk1, clerk2]}, "strategy": "least_loaded"}),
    )
    .await;
    let walk_in = lead(&app, inquiry(json!({"kind": "walk_in", "category": "鞋"}))).await;
    assert_eq!(uuid(&walk_in["assignee_staff_id"]), clerk2, "fewest open leads");
    let tie = lead(&app, inquiry(json!({"kind": "walk_in", "category": "鞋"}))).await;
    assert_eq!(uuid(&tie["assignee_staff_id"]), clerk1, "a tie goes to the lower id");
}

#[actix_web::test]
async fn a_rule_with_nobody_free_falls_through_to_the_next() {
    let app = TestApp::new().await;
    let (store, clerk1, _) = chaoyang(&app, "FT").await;
    let other = app.create_store("FT2").await;
    let backup = app
        .create_staff(json!({"name": "赵敏", "store_id": other["id"], "roles": ["sales"], "skills": [], "capacity": 5}))
        .await;
    // Priority 1 targets a skill nobody has; priority 2 targets the backup clerk.
    rule(&app, json!({"name": "nobody", "priority": 1, "target": {"store_id": store, "skill": "童装"}})).await;
    rule(&app, json!({"name": "backup", "priority": 2, "target": {"staff_ids": [backup["id"]]}})).await;
    let l = lead(&app, inquiry(json!({}))).await;
    assert_eq!(l["assignee_staff_id"], backup["id"]);
    assert_eq!(l["store_id"], other["id"]);
    let _ = clerk1;
}

#[actix_web::test]
async fn lifecycle_with_phone_match_events_and_timeline() {
    let app = TestApp::new().await;
    let (_, clerk1, _) = chaoyang(&app, "LC").await;
    let customer = app
        .post("/v1/customers")
        .token(&app.token(&["customers:write"]))
        .json(&json!({"name": "王丽", "phone": "13812345678"}))
        .send()
        .await;
    customer.assert_status(201);
    let customer_id = customer.uuid("id");

    let created = create(
        &app,
        inquiry(json!({"contact": {"name": "王女士", "phone": "+86 138-1234-5678", "wechat": "wl88"},
                       "estimated_value": "899", "notes": "想看大衣"})),
    )
    .await;
    created.assert_status(201);
    assert!(created.header("location").is_some_and(|l| l.starts_with("/v1/leads/")));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(uuid(&created.body["customer_id"]), customer_id, "matched by the normalized phone");
    assert_eq!(created.body["contact"]["phone"], "138****5678", "masked without customers:pii");
    assert_eq!(created.body["estimated_value"], "899.00");
    assert_eq!(created.body["status"], "new");
    let id = created.uuid("id");
    let pii = app.get(&format!("/v1/leads/{id}")).token(&app.token(&["leads:read", "customers:pii"])).send().await;
    assert_eq!(pii.body["contact"]["phone"], "+8613812345678");

    // Stages cannot be skipped.
    action(&app, id, "contact", json!({})).await.assert_problem(409, "invalid_transition");
    let res = action(&app, id, "close", json!({"outcome": "won"})).await;
    res.assert_problem(409, "invalid_transition");
    assert_eq!(res.body["lead_status"], "new");

    let assigned = step(&app, id, "assign", json!({"staff_id": clerk1})).await;
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(assigned["rule_id"], Value::Null);
    action(&app, id, "qualify", json!({})).await.assert_problem(409, "invalid_transition");
    action(&app, id, "convert", json!({})).await.assert_problem(409, "invalid_transition");
    // If-Match guards the actions.
    let stale = app
        .post(&format!("/v1/leads/{id}/contact"))
        .token(&app.token(RW))
        .header("If-Match", "\"1\"")
        .json(&json!({}))
        .send()
        .await;
    stale.assert_problem(412, "precondition_failed");
    let contacted = step(&app, id, "contact", json!({})).await;
    assert_eq!(contacted["status"], "contacted");
    assert!(contacted["first_response_at"].is_string());
    action(&app, id, "assign", json!({"staff_id": clerk1})).await.assert_problem(409, "invalid_transition");
    step(&app, id, "qualify", json!({})).await;
    let won = step(&app, id, "convert", json!({})).await;
    assert_eq!(won["status"], "won");
    assert_eq!(uuid(&won["customer_id"]), customer_id);
    for (name, body) in [
        ("assign", json!({"staff_id": clerk1})),
        ("contact", json!({})),
        ("qualify", json!({})),
        ("convert", json!({})),
        ("close", json!({"outcome": "lost", "lost_reason": "x"})),
        ("close", json!({"outcome": "won"})),
    ] {
        action(&app, id, name, body).await.assert_problem(409, "invalid_transition");
    }

    let timeline =
        app.get(&format!("/v1/customers/{customer_id}/timeline")).token(&app.token(&["customers:read"])).send().await;
    timeline.assert_status(200);
    let items = timeline.items();
    let types: Vec<&str> = items.iter().filter_map(|i| i["type"].as_str()).collect();
    for t in ["lead.created", "lead.assigned", "lead.contacted", "lead.qualified", "lead.won"] {
        assert!(types.contains(&t), "{t} on the timeline: {types:?}");
    }
    assert!(timeline.items().iter().any(|i| i["summary"] == "Lead won"));
}

#[actix_web::test]
async fn convert_creates_the_customer_and_close_needs_a_reason() {
    let app = TestApp::new().await;
    let (_, clerk1, _) = chaoyang(&app, "CV").await;
    let l = lead(&app, inquiry(json!({"contact": {"name": "陈先生", "phone": "13900001111"}}))).await;
    assert_eq!(l["customer_id"], Value::Null);
    let id = uuid(&l["id"]);
    step(&app, id, "assign", json!({"staff_id": clerk1})).await;
    step(&app, id, "contact", json!({})).await;
    step(&app, id, "qualify", json!({})).await;
    let bad = action(&app, id, "convert", json!({"order_id": Uuid::now_v7()})).await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["order_id"]);
    let unknown = action(&app, id, "convert", json!({"customer": "x"})).await;
    unknown.assert_problem(400, "unknown_field");
    // No body at all: every field is optional.
    let res = app.post(&format!("/v1/leads/{id}/convert")).token(&app.token(RW)).send().await;
    res.assert_status(200);
    let won = res.body;
    let customer = uuid(&won["customer_id"]);
    let c = app
        .get(&format!("/v1/customers/{customer}"))
        .token(&app.token(&["customers:read", "customers:pii"]))
        .send()
        .await;
    c.assert_status(200);
    assert_eq!(c.body["name"], "陈先生");
    assert_eq!(c.body["phone"], "+8613900001111");

    // lost: a reason is required; from any open stage, including new.
    let other = uuid(&lead(&app, inquiry(json!({"category": "男装"}))).await["id"]);
    let res = action(&app, other, "close", json!({"outcome": "lost"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["lost_reason"]);
    action(&app, other, "close", json!({"outcome": "maybe"})).await.assert_problem(422, "validation_failed");
    action(&app, other, "close", json!({"outcome": "lost", "reason": "x"})).await.assert_status(400);
    let lost = step(&app, other, "close", json!({"outcome": "lost", "lost_reason": "价格太高"})).await;
    assert_eq!(lost["status"], "lost");
    assert_eq!(lost["lost_reason"], "价格太高");
}

#[actix_web::test]
async fn manual_assignment_checks_capacity_and_activity() {
    let app = TestApp::new().await;
    let (_, clerk1, clerk2) = chaoyang(&app, "MA").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(uuid(&lead(&app, inquiry(json!({"category": "男装"}))).await["id"]));
    }
    step(&app, ids[0], "assign", json!({"staff_id": clerk1})).await;
    step(&app, ids[1], "assign", json!({"staff_id": clerk1})).await;
    let full = action(&app, ids[2], "assign", json!({"staff_id": clerk1})).await;
    full.assert_problem(409, "staff_at_capacity");
    app.deactivate_staff(clerk2).await;
    action(&app, ids[2], "assign", json!({"staff_id": clerk2})).await.assert_problem(409, "staff_inactive");
    let nobody = action(&app, ids[2], "assign", json!({"staff_id": Uuid::now_v7()})).await;
    nobody.assert_problem(422, "validation_failed");
    action(&app, ids[2], "assign", json!({})).await.assert_problem(422, "validation_failed");
    action(&app, Uuid::now_v7(), "contact", json!({})).await.assert_problem(404, "lead_not_found");
}

#[actix_web::test]
async fn create_validation_reports_every_field() {
    let app = TestApp::new().await;
    let res = create(
        &app,
        json!({"source": "fax", "kind": "rumour", "contact": {"phone": "12345"}, "estimated_value": "-1.00",
               "items": [{"sku": "", "quantity": 0, "unit_price": "1.00"}], "customer_id": Uuid::now_v7()}),
    )
    .await;
    res.assert_problem(422, "validation_failed");
    let fields = res.error_fields();
    for f in ["source", "kind", "contact.phone", "estimated_value", "items[0].sku", "items[0].quantity"] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
    create(&app, json!({"kind": "inquiry"})).await.assert_problem(422, "validation_failed");
    create(&app, json!({"source": "web", "kind": "inquiry", "colour": "red"})).await.assert_status(400);
    let missing = create(&app, json!({"source": "web", "kind": "inquiry", "customer_id": Uuid::now_v7()})).await;
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.error_fields(), vec!["customer_id"]);
    let cart = lead(
        &app,
        json!({"source": "tmall", "kind": "cart_abandoned",
               "items": [{"sku": "W-DRESS-001", "name": "连衣裙", "quantity": 2, "unit_price": "299"}]}),
    )
    .await;
    assert_eq!(cart["items"], json!([{"sku": "W-DRESS-001", "name": "连衣裙", "quantity": 2, "unit_price": "299.00"}]));
    app.post("/v1/leads").token(&app.token(&["leads:read"])).json(&inquiry(json!({}))).send().await.assert_status(403);
}

#[actix_web::test]
async fn a_store_bound_caller_sees_and_acts_on_its_own_store_only() {
    let app = TestApp::new().await;
    let (store_a, clerk_a, _) = chaoyang(&app, "SA").await;
    let store_b = uuid(&app.create_store("SB").await["id"]);
    let clerk_b = app
        .create_staff(json!({"name": "B", "store_id": store_b, "roles": ["sales"], "skills": ["女装"], "capacity": 5}))
        .await;
    let token_a = app.store_token(RW, Some(store_a));
    let token_b = app.store_token(RW, Some(store_b));

    let mine = app.post("/v1/leads").token(&token_a).json(&inquiry(json!({"category": "鞋"}))).send().await;
    mine.assert_status(201);
    assert_eq!(uuid(&mine.body["store_id"]), store_a, "created for its own store");
    let id = mine.uuid("id");
    let other = app.post("/v1/leads").token(&token_a).json(&inquiry(json!({"store_id": store_b}))).send().await;
    other.assert_problem(403, "store_bound_principal");

    app.get(&format!("/v1/leads/{id}")).token(&token_b).send().await.assert_problem(404, "lead_not_found");
    let res = app.post(&format!("/v1/leads/{id}/contact")).token(&token_b).json(&json!({})).send().await;
    res.assert_problem(404, "lead_not_found");
    assert!(app.collect_pages("/v1/leads", &token_b, 50).await.is_empty());
    assert_eq!(app.collect_pages("/v1/leads", &token_a, 50).await.len(), 1);
    // A store-bound caller cannot hand its lead to another store's clerk.
    let res = app
        .post(&format!("/v1/leads/{id}/assign"))
        .token(&token_a)
        .json(&json!({"staff_id": clerk_b["id"]}))
        .send()
        .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["staff_id"]);
    let res =
        app.post(&format!("/v1/leads/{id}/assign")).token(&token_a).json(&json!({"staff_id": clerk_a})).send().await;
    res.assert_status(200);
    // Rules only place a store's lead with that store's staff.
    rule(&app, json!({"name": "all to B", "priority": 1, "target": {"staff_ids": [clerk_b["id"]]}})).await;
    let pinned = app.post("/v1/leads").token(&token_a).json(&inquiry(json!({}))).send().await;
    assert_eq!(pinned.body["status"], "new");
    let funnel = app.get(&format!("/v1/leads/funnel?store_id={store_b}")).token(&token_a).send().await;
    funnel.assert_problem(403, "store_bound_principal");
}

#[actix_web::test]
async fn sla_sweep_marks_breaches_once_and_reassigns() {
    let app = TestApp::new().await;
    app.state.clock.set(at(2026, 11, 23, 8, 0));
    let (store, clerk1, clerk2) = chaoyang(&app, "SL").await;
    chaoyang_rule(&app, store, true).await;
    let late = lead(&app, inquiry(json!({}))).await;
    assert_eq!(uuid(&late["assignee_staff_id"]), clerk1);
    app.state.clock.advance(Duration::minutes(5));
    let prompt = lead(&app, inquiry(json!({}))).await;
    assert_eq!(uuid(&prompt["assignee_staff_id"]), clerk2);
    step(&app, uuid(&prompt["id"]), "contact", json!({})).await;

    let admin = app.admin_token();
    let run = app.post("/v1/sweeps/lead_sla/run").token(&admin).send().await;
    run.assert_status(200);
    assert_eq!(run.body["marked"], 0, "nothing due yet");

    app.state.clock.set(at(2026, 11, 23, 8, 16));
    let run = app.post("/v1/sweeps/lead_sla/run").token(&admin).send().await;
    run.assert_status(200);
    assert_eq!(run.body["marked"], 1);
    let id = uuid(&late["id"]);
    let after = app.get(&format!("/v1/leads/{id}")).token(&app.token(RW)).send().await;
    assert_eq!(after.body["sla_breached"], true);
    assert_eq!(after.body["sla_breached_at"], json!("2026-11-23T08:16:00Z"));
    assert_eq!(uuid(&after.body["assignee_staff_id"]), clerk2, "re-assigned under the rule");
    assert_eq!(after.body["assigned_at"], json!("2026-11-23T08:16:00Z"));
    assert_eq!(after.body["response_due_at"], json!("2026-11-23T08:31:00Z"));
    let prompt_after =
        app.get(&format!("/v1/leads/{}", prompt["id"].as_str().unwrap_or(""))).token(&app.token(RW)).send().await;
    assert_eq!(prompt_after.body["sla_breached"], false, "answered in time");

    app.state.clock.set(at(2026, 11, 23, 9, 0));
    let again = app.post("/v1/sweeps/lead_sla/run").token(&admin).send().await;
    assert_eq!(again.body["marked"], 0, "a breach is marked once");
    let events = app.get("/v1/events?types=lead.sla_breached").token(&admin).send().await;
    events.assert_status(200);
    assert_eq!(events.items().len(), 1);
    assert_eq!(events.items()[0]["data"]["lead_id"], late["id"]);
}

#[actix_web::test]
async fn rules_crud_validation_and_deactivation() {
    let app = TestApp::new().await;
    let (store, clerk1, _) = chaoyang(&app, "RC").await;
    let token = app.token(RW);
    let bad = app
        .post("/v1/lead-assignment-rules")
        .token(&token)
        .json(&json!({"name": " ", "priority": -1, "match": {"source": "fax", "kind": "x"},
                      "target": {"staff_ids": [clerk1], "store_id": store}, "strategy": "random"}))
        .send()
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields = bad.error_fields();
    for f in ["name", "priority", "match.source", "match.kind", "target", "strategy"] {
        assert!(fields.contains(&f.to_string()), "{f} in {fields:?}");
    }
    let ghost = app
        .post("/v1/lead-assignment-rules")
        .token(&token)
        .json(&json!({"name": "ghost", "target": {"staff_ids": [Uuid::now_v7()]}}))
        .send()
        .await;
    ghost.assert_problem(422, "validation_failed");
    assert_eq!(ghost.error_fields(), vec!["target.staff_ids[0]"]);
    app.post("/v1/lead-assignment-rules")
        .token(&app.token(&["leads:read"]))
        .json(&json!({"name": "x", "target": {"staff_ids": [clerk1]}}))
        .send()
        .await
        .assert_status(403);

    let late = rule(&app, json!({"name": "late", "priority": 50, "target": {"staff_ids": [clerk1]}})).await;
    let early = chaoyang_rule(&app, store, false).await;
    let listed = app.collect_pages("/v1/lead-assignment-rules", &token, 1).await;
    let order: Vec<Uuid> = listed.iter().map(|r| uuid(&r["id"])).collect();
    assert_eq!(order, vec![early, late], "by priority");
    let one = app.get(&format!("/v1/lead-assignment-rules/{early}")).token(&token).send().await;
    one.assert_status(200);
    assert_eq!(
        one.body["match"],
        json!({"city": "北京", "district": "朝阳区", "category": "女装", "source": null, "kind": null})
    );
    assert_eq!(one.body["target"], json!({"store_id": store, "skill": "女装"}));
    assert_eq!(one.header("etag"), Some("\"1\""));

    let stale = app
        .patch(&format!("/v1/lead-assignment-rules/{early}"))
        .token(&token)
        .header("If-Match", "\"7\"")
        .json(&json!({"priority": 99}))
        .send()
        .await;
    stale.assert_problem(412, "precondition_failed");
    let patched = app
        .patch(&format!("/v1/lead-assignment-rules/{early}"))
        .token(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({"priority": 99, "strategy": "least_loaded"}))
        .send()
        .await;
    patched.assert_status(200);
    assert_eq!(patched.body["priority"], 99);
    assert_eq!(patched.body["strategy"], "least_loaded");
    assert_eq!(patched.body["version"], 2);

    // Only ever deactivated (leads name the rule that placed them): a PATCH of `active`, no DELETE.
    let path = format!("/v1/lead-assignment-rules/{early}");
    app.delete(&path).token(&token).send().await.assert_problem(405, "method_not_allowed");
    for path in [path.clone(), format!("/v1/lead-assignment-rules/{late}")] {
        app.patch(&path).token(&token).json(&json!({"active": false})).send().await.assert_status(200);
    }
    let gone = app.get(&format!("/v1/lead-assignment-rules/{early}")).token(&token).send().await;
    assert_eq!(gone.body["active"], false, "kept, inactive");
    let l = lead(&app, inquiry(json!({}))).await;
    assert_eq!(l["status"], "new", "inactive rules do not assign");
    app.get(&format!("/v1/lead-assignment-rules/{}", Uuid::now_v7()))
        .token(&token)
        .send()
        .await
        .assert_problem(404, "lead_assignment_rule_not_found");
}

#[actix_web::test]
async fn funnel_on_a_hand_computed_data_set() {
    let app = TestApp::new().await;
    let t0 = at(2026, 11, 2, 2, 0);
    app.state.clock.set(t0);
    let (_, clerk1, clerk2) = chaoyang(&app, "FN").await;
    // Ten leads created inside the window (no rules: assigned by hand), one before it.
    let before = {
        app.state.clock.set(at(2026, 10, 31, 23, 0));
        uuid(&lead(&app, inquiry(json!({}))).await["id"])
    };
    app.state.clock.set(t0);
    let mut ids = Vec::new();
    for i in 0..10 {
        let source = if i < 8 { "wechat_mini_program" } else { "tmall" };
        ids.push(uuid(&lead(&app, inquiry(json!({"source": source, "category": "男装"}))).await["id"]));
    }
    step(&app, before, "assign", json!({"staff_id": clerk1})).await;
    // Leads 0-7 assigned by hand at t0, alternating clerks (capacity raised to fit).
    for clerk in [clerk1, clerk2] {
        let res = app
            .patch(&format!("/v1/staff/{clerk}"))
            .token(&app.admin_token())
            .json(&json!({"capacity": 10}))
            .send()
            .await;
        res.assert_status(200);
    }
    for (i, id) in ids.iter().enumerate().take(8) {
        step(&app, *id, "assign", json!({"staff_id": if i % 2 == 0 { clerk1 } else { clerk2 }})).await;
    }
    // First responses: leads 0..6 after 2, 4, 6, 8, 10, 30 minutes (median of 6 = (6+8)/2 = 7.0).
    for (i, minutes) in [2, 4, 6, 8, 10, 30].iter().enumerate() {
        app.state.clock.set(t0 + Duration::minutes(*minutes));
        step(&app, ids[i], "contact", json!({})).await;
    }
    // Leads 6 and 7 were never answered: the sweep marks both (2 breaches out of 8 assigned).
    app.state.clock.set(t0 + Duration::minutes(40));
    let run = app.post("/v1/sweeps/lead_sla/run").token(&app.admin_token()).send().await;
    assert_eq!(run.body["marked"], 3, "leads 6, 7 and the one created before the window");
    // Lead 5 (30 minutes) was answered late but before any sweep ran: not breached.
    // Qualified: 0, 1, 2; won: 0, 1; lost: 2 (qualified), 7 (assigned), 9 (new).
    for i in [0, 1, 2] {
        step(&app, ids[i], "qualify", json!({})).await;
    }
    step(&app, ids[0], "convert", json!({})).await;
    step(&app, ids[1], "close", json!({"outcome": "won"})).await;
    for i in [2, 7, 9] {
        step(&app, ids[i], "close", json!({"outcome": "lost", "lost_reason": "预算不足"})).await;
    }

    let token = app.token(&["leads:read"]);
    let res = app.get("/v1/leads/funnel?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z").token(&token).send().await;
    res.assert_status(200);
    assert_eq!(
        res.body["counts"],
        json!({"created": 10, "assigned": 8, "contacted": 6, "qualified": 3, "won": 2, "lost": 3})
    );
    assert_eq!(
        res.body["conversion"],
        json!({"created_to_assigned": "0.8000", "assigned_to_contacted": "0.7500",
               "contacted_to_qualified": "0.5000", "qualified_to_won": "0.6667"})
    );
    assert_eq!(res.body["median_first_response_minutes"], "7.0");
    assert_eq!(res.body["sla_breached"], 2);
    assert_eq!(res.body["sla_breach_rate"], "0.2500");

    // By source: the two tmall leads (8 never assigned, 9 lost from new).
    let tmall = app
        .get("/v1/leads/funnel?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z&source=tmall")
        .token(&token)
        .send()
        .await;
    assert_eq!(
        tmall.body["counts"],
        json!({"created": 2, "assigned": 0, "contacted": 0, "qualified": 0, "won": 0, "lost": 1})
    );
    assert_eq!(tmall.body["conversion"]["created_to_assigned"], "0.0000");
    assert_eq!(tmall.body["conversion"]["assigned_to_contacted"], Value::Null);
    assert_eq!(tmall.body["median_first_response_minutes"], Value::Null);
    assert_eq!(tmall.body["sla_breach_rate"], Value::Null);

    let bad = app.get("/v1/leads/funnel?from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z").token(&token).send().await;
    bad.assert_problem(422, "validation_failed");
    // SPEC §3.1: a window spans at most 366 days; none given means the last 30 days.
    let long = app.get("/v1/leads/funnel?from=2025-11-01T00:00:00Z&to=2026-11-02T00:00:01Z").token(&token).send().await;
    long.assert_problem(422, "validation_failed");
    assert_eq!(long.error_fields(), ["to"]);
    app.get("/v1/leads/funnel?from=2025-11-01T00:00:00Z&to=2026-11-02T00:00:00Z")
        .token(&token)
        .send()
        .await
        .assert_status(200);
    let recent = app.get("/v1/leads/funnel").token(&token).send().await;
    recent.assert_status(200);
    let (from, to) = (
        recent.str("from").parse::<chrono::DateTime<chrono::Utc>>(),
        recent.str("to").parse::<chrono::DateTime<chrono::Utc>>(),
    );
    assert_eq!(to.ok().zip(from.ok()).map(|(t, f)| (t - f).num_days()), Some(30), "{}", recent.text);
}

#[actix_web::test]
async fn concurrent_leads_alternate_under_round_robin() {
    let app = TestApp::new().await;
    let (store, clerk1, clerk2) = chaoyang(&app, "CC").await;
    for clerk in [clerk1, clerk2] {
        let res = app
            .patch(&format!("/v1/staff/{clerk}"))
            .token(&app.admin_token())
            .json(&json!({"capacity": 50}))
            .send()
            .await;
        res.assert_status(200);
    }
    chaoyang_rule(&app, store, false).await;
    let results = join_all((0..10).map(|_| create(&app, inquiry(json!({}))))).await;
    let mut per_clerk = std::collections::HashMap::new();
    for res in &results {
        res.assert_status(201);
        *per_clerk.entry(uuid(&res.body["assignee_staff_id"])).or_insert(0) += 1;
    }
    assert_eq!(per_clerk.get(&clerk1), Some(&5));
    assert_eq!(per_clerk.get(&clerk2), Some(&5));
}

#[actix_web::test]
async fn a_store_target_without_skill_uses_the_lead_category() {
    let app = TestApp::new().await;
    let store = uuid(&app.create_store("SK").await["id"]);
    let shoes = app
        .create_staff(json!({"name": "鞋履", "store_id": store, "roles": ["sales"], "skills": ["鞋"], "capacity": 3}))
        .await;
    let kids = app
        .create_staff(json!({"name": "童装", "store_id": store, "roles": ["sales"], "skills": ["童装"], "capacity": 3}))
        .await;
    rule(&app, json!({"name": "by category", "priority": 1, "target": {"store_id": store}})).await;
    assert_eq!(lead(&app, inquiry(json!({"category": "童装"}))).await["assignee_staff_id"], kids["id"]);
    assert_eq!(lead(&app, inquiry(json!({"category": "鞋"}))).await["assignee_staff_id"], shoes["id"]);
    assert_eq!(lead(&app, inquiry(json!({"category": "家电"}))).await["status"], "new");
}

#[actix_web::test]
async fn merge_moves_leads_to_the_surviving_customer() {
    let app = TestApp::new().await;
    let token = app.token(&["customers:read", "customers:write", "customers:pii"]);
    let mut ids = Vec::new();
    for phone in ["13811110001", "13811110002"] {
        let res = app.post("/v1/customers").token(&token).json(&json!({"phone": phone})).send().await;
        res.assert_status(201);
        ids.push(res.uuid("id"));
    }
    let l = lead(&app, inquiry(json!({"contact": {"phone": "13811110002"}}))).await;
    assert_eq!(uuid(&l["customer_id"]), ids[1]);
    let res = app
        .post(&format!("/v1/customers/{}/merge", ids[0]))
        .token(&token)
        .json(&json!({"source_customer_id": ids[1]}))
        .send()
        .await;
    res.assert_status(200);
    let after = app.get(&format!("/v1/leads/{}", l["id"].as_str().unwrap_or(""))).token(&app.token(RW)).send().await;
    assert_eq!(uuid(&after.body["customer_id"]), ids[0]);
}

/// JSON Schema's integer admits `2.0` (a fuzz find, seeds 1 and 2): cart quantities take it.
#[actix_web::test]
async fn whole_numbers_written_as_floats_are_integers() {
    let app = TestApp::new().await;
    let cart = inquiry(json!({"kind": "cart_abandoned",
        "items": [{"sku": "W-DRESS-001", "quantity": 2.0, "unit_price": "299.00"}]}));
    let created = lead(&app, cart).await;
    assert_eq!(created["items"][0]["quantity"], 2);
    let res = create(&app, inquiry(json!({"items": [{"sku": "A", "quantity": 1.5, "unit_price": "1.00"}]}))).await;
    res.assert_problem(400, "invalid_body");
}

// ---------------------------------------------------------------------------------------------
// Access (SPEC §3.1): the chain's rules, other stores' leads and staff, the funnel, events
// ---------------------------------------------------------------------------------------------
