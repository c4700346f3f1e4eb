//! Service tickets (SPEC §12): routing and round-robin, the status machine end to end, the SLA clock
//! through business hours and pauses, breaches by the sweep and by reads, comments and the customer's
//! timeline, satisfaction once, store scoping, stats on a hand-computed data set, rules and policies.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use diesel::prelude::*;
use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

mod access;

const RW: &[&str] = &["tickets:read", "tickets:write"];

/// A Shanghai local time as UTC.
fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("bad date"))
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

async fn open(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.post("/v1/tickets").token(token).json(&body).send().await
}

pub(crate) async fn ticket(app: &TestApp, body: Value) -> Value {
    let res = open(app, &app.token(RW), body).await;
    res.assert_status(201);
    res.body
}

pub(crate) fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

async fn get(app: &TestApp, t: &str) -> TestResponse {
    app.get(&format!("/v1/tickets/{t}")).token(&app.token(RW)).send().await
}

async fn patch(app: &TestApp, t: &str, body: Value) -> TestResponse {
    app.patch(&format!("/v1/tickets/{t}")).token(&app.token(RW)).json(&body).send().await
}

pub(crate) async fn set_status(app: &TestApp, t: &str, status: &str) -> Value {
    let res = patch(app, t, json!({"status": status})).await;
    res.assert_status(200);
    res.body
}

pub(crate) async fn reply(app: &TestApp, t: &str, visibility: &str, body: &str) -> TestResponse {
    app.post(&format!("/v1/tickets/{t}/comments"))
        .token(&app.token(RW))
        .json(&json!({"visibility": visibility, "body": body}))
        .send()
        .await
}

pub(crate) async fn rule(app: &TestApp, body: Value) -> Value {
    let res = app.post("/v1/ticket-routing-rules").token(&app.token(RW)).json(&body).send().await;
    res.assert_status(201);
    res.body
}

/// Event payloads of one type that concern a ticket.
fn events_of(app: &TestApp, event_type: &str, ticket_id: &str) -> Vec<Value> {
    use retail_crm::schema::events;
    let mut conn = app.conn();
    let rows: Vec<Value> = events::table
        .filter(events::event_type.eq(event_type))
        .select(events::data)
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("events: {e}"));
    rows.into_iter().filter(|d| d["ticket_id"].as_str() == Some(ticket_id)).collect()
}

async fn weekday_policy(app: &TestApp, priority: &str) {
    let res = app
        .put(&format!("/v1/sla-policies/{priority}"))
        .token(&app.token(RW))
        .header("If-Match", "\"1\"")
        .json(&json!({"first_response_minutes": 120, "resolution_minutes": 2880, "business_hours_start": "09:00",
            "business_hours_end": "21:00", "business_days": [1, 2, 3, 4, 5]}))
        .send()
        .await;
    res.assert_status(200);
}

#[actix_web::test]
async fn a_ticket_is_routed_assigned_round_robin_and_lives_through_its_lifecycle() {
    let app = TestApp::new().await;
    let start = sh(2026, 11, 23, 10, 0);
    app.state.clock.set(start);
    let a = app.create_staff(json!({"name": "客服A", "roles": ["service"], "team": "after_sales"})).await;
    let b = app.create_staff(json!({"name": "客服B", "roles": ["service"], "team": "after_sales"})).await;
    app.create_staff(json!({"name": "离职", "roles": ["service"], "team": "after_sales", "active": false})).await;
    let mut agents = [id(&a), id(&b)];
    agents.sort();
    rule(&app, json!({"name": "complaints", "priority": 1, "match_type": "complaint", "team": "vip"})).await;
    rule(&app, json!({"name": "returns", "priority": 5, "match_type": "return", "team": "after_sales"})).await;
    let cust = app.customer().name("王芳").create().await;

    let body = json!({"customer_id": cust, "type": "return", "category": "size_mismatch", "channel": "tmall",
        "subject": "尺码不合适，申请退货"});
    let t1 = ticket(&app, body.clone()).await;
    let t2 = ticket(&app, body.clone()).await;
    let t3 = ticket(&app, body.clone()).await;
    assert_eq!(t1["team"], "after_sales");
    let assigned: Vec<&str> = [&t1, &t2, &t3].iter().filter_map(|t| t["assignee_staff_id"].as_str()).collect();
    assert_eq!(assigned, [agents[0].as_str(), agents[1].as_str(), agents[0].as_str()], "alternates, inactive skipped");
    assert_eq!(t1["status"], "open");
    assert_eq!(t1["priority"], "normal");
    assert_eq!(t1["sla_paused"], false);
    assert_eq!(time(&t1["first_response_due_at"]), start + Duration::hours(2));
    assert_eq!(time(&t1["resolution_due_at"]), start + Duration::hours(48));
    // A complaint goes to a team with nobody in it: team set, unassigned. No rule: neither.
    let c = ticket(&app, json!({"type": "complaint", "subject": "态度差"})).await;
    assert_eq!((c["team"].as_str(), c["assignee_staff_id"].as_str()), (Some("vip"), None));
    let q = ticket(&app, json!({"type": "inquiry", "subject": "营业时间?"})).await;
    assert!(q["team"].is_null() && q["assignee_staff_id"].is_null());
    let t = id(&t1);
    assert_eq!(events_of(&app, "ticket.created", &t).len(), 1);
    assert_eq!(events_of(&app, "ticket.assigned", &t).len(), 1);
    assert!(events_of(&app, "ticket.assigned", &id(&q)).is_empty());

    // An internal note does not count as a first response; the first public reply does.
    app.state.clock.advance(Duration::minutes(10));
    let res = reply(&app, &t, "internal", "客户是VIP，优先处理").await;
    res.assert_status(201);
    assert!(res.body["ticket"]["first_responded_at"].is_null());
    assert_eq!(res.body["ticket"]["status"], "open");
    app.state.clock.advance(Duration::minutes(15));
    let res = reply(&app, &t, "public", "您好，已为您安排退货。").await;
    res.assert_status(201);
    assert_eq!(res.body["comment"]["visibility"], "public");
    assert_eq!(time(&res.body["ticket"]["first_responded_at"]), start + Duration::minutes(25));
    assert_eq!(res.body["ticket"]["status"], "in_progress");
    reply(&app, &t, "public", "second").await.assert_status(201);
    let comments = app.collect_pages(&format!("/v1/tickets/{t}/comments"), &app.token(RW), 2).await;
    assert_eq!(comments.len(), 3);
    let got = get(&app, &t).await;
    assert_eq!(time(&got.body["first_responded_at"]), start + Duration::minutes(25), "set once");

    // Waiting on the customer pauses the clock for 5 hours; resuming pushes the due time by 5 h.
    let before = time(&got.body["resolution_due_at"]);
    app.state.clock.advance(Duration::minutes(5));
    let paused = set_status(&app, &t, "pending_customer").await;
    assert_eq!(paused["sla_paused"], true);
    assert!(paused["resolution_due_at"].is_null());
    assert_eq!(time(&paused["first_response_due_at"]), start + Duration::hours(2), "met target kept");
    app.state.clock.advance(Duration::hours(5));
    let resumed = set_status(&app, &t, "in_progress").await;
    assert_eq!(resumed["sla_paused"], false);
    assert_eq!(time(&resumed["resolution_due_at"]), before + Duration::hours(5));

    // Resolution: resolved_at, ticket.resolved and the survey.
    app.state.clock.advance(Duration::hours(1));
    let resolved = set_status(&app, &t, "resolved").await;
    assert_eq!(time(&resolved["resolved_at"]), app.state.clock.now());
    assert_eq!(events_of(&app, "ticket.resolved", &t).len(), 1);
    assert_eq!(events_of(&app, "ticket.survey_requested", &t).len(), 1);

    // Satisfaction once, 1-5.
    let sat = |score: Value| {
        let app = &app;
        let t = t.clone();
        async move {
            app.post(&format!("/v1/tickets/{t}/satisfaction"))
                .token(&app.token(RW))
                .json(&json!({"score": score, "comment": "很快"}))
                .send()
                .await
        }
    };
    sat(json!(6)).await.assert_problem(422, "validation_failed");
    sat(json!(0)).await.assert_problem(422, "validation_failed");
    let ok = sat(json!(5)).await;
    ok.assert_status(200);
    assert_eq!(ok.body["satisfaction_score"], 5);
    sat(json!(4)).await.assert_problem(409, "satisfaction_already_recorded");
    assert_eq!(events_of(&app, "ticket.satisfaction_recorded", &t).len(), 1);

    // Close, reopen (back to in_progress, clock resumes), resolve again.
    let closed = set_status(&app, &t, "closed").await;
    assert!(closed["closed_at"].is_string());
    reply(&app, &t, "public", "still there?").await.assert_problem(409, "ticket_closed");
    let reopened = set_status(&app, &t, "in_progress").await;
    assert!(reopened["resolved_at"].is_null() && reopened["closed_at"].is_null());
    assert!(reopened["resolution_due_at"].is_string());
    set_status(&app, &t, "resolved").await;
    assert_eq!(events_of(&app, "ticket.survey_requested", &t).len(), 2);

    // Filters.
    let token = app.token(RW);
    let mine = app.collect_pages(&format!("/v1/tickets?assignee_staff_id={}", agents[0]), &token, 1).await;
    assert_eq!(mine.len(), 2);
    let returns = app.collect_pages("/v1/tickets?type=return&status=open", &token, 50).await;
    assert_eq!(returns.len(), 2);
    let theirs = app.collect_pages(&format!("/v1/tickets?customer_id={cust}&team=after_sales"), &token, 50).await;
    assert_eq!(theirs.len(), 3);
    app.get("/v1/tickets?status=done").token(&token).send().await.assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn every_illegal_transition_is_409_with_the_current_status() {
    let app = TestApp::new().await;
    let t = id(&ticket(&app, json!({"type": "inquiry", "subject": "x"})).await);
    for to in ["pending_customer", "closed"] {
        let res = patch(&app, &t, json!({"status": to})).await;
        res.assert_problem(409, "invalid_transition");
        assert_eq!(res.body["ticket_status"], "open");
    }
    patch(&app, &t, json!({"status": "done"})).await.assert_problem(422, "validation_failed");
    // Satisfaction before resolution.
    app.post(&format!("/v1/tickets/{t}/satisfaction"))
        .token(&app.token(RW))
        .json(&json!({"score": 5}))
        .send()
        .await
        .assert_problem(409, "ticket_not_resolved");
    // open → resolved is allowed (a quick answer); resolved → pending_customer / open are not.
    set_status(&app, &t, "resolved").await;
    for to in ["open", "pending_customer"] {
        let res = patch(&app, &t, json!({"status": to})).await;
        res.assert_problem(409, "invalid_transition");
        assert_eq!(res.body["ticket_status"], "resolved");
    }
    set_status(&app, &t, "closed").await;
    for to in ["open", "pending_customer", "resolved"] {
        patch(&app, &t, json!({"status": to})).await.assert_problem(409, "invalid_transition");
    }
    // If-Match.
    let cur = get(&app, &t).await;
    let stale = app
        .patch(&format!("/v1/tickets/{t}"))
        .token(&app.token(RW))
        .header("If-Match", "\"1\"")
        .json(&json!({"status": "in_progress"}))
        .send()
        .await;
    stale.assert_problem(412, "precondition_failed");
    let etag = cur.header("etag").unwrap_or_default().to_string();
    app.patch(&format!("/v1/tickets/{t}"))
        .token(&app.token(RW))
        .header("If-Match", &etag)
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .assert_status(200);
}

#[actix_web::test]
async fn business_hours_carry_a_friday_evening_ticket_to_monday_and_pauses_push_it() {
    let app = TestApp::new().await;
    weekday_policy(&app, "normal").await;
    // Friday 2026-11-27 20:30 in Shanghai: 30 minutes today, 90 on Monday.
    app.state.clock.set(sh(2026, 11, 27, 20, 30));
    let t = ticket(&app, json!({"type": "after_sales", "subject": "拉链坏了"})).await;
    assert_eq!(time(&t["first_response_due_at"]), sh(2026, 11, 30, 10, 30));
    assert_eq!(time(&t["resolution_due_at"]), sh(2026, 12, 3, 20, 30));
    // Monday 09:30 → 12:30 waiting on the customer: 3 business hours.
    let t = id(&t);
    app.state.clock.set(sh(2026, 11, 30, 9, 0));
    set_status(&app, &t, "in_progress").await;
    app.state.clock.set(sh(2026, 11, 30, 9, 30));
    set_status(&app, &t, "pending_customer").await;
    app.state.clock.set(sh(2026, 11, 30, 12, 30));
    let resumed = set_status(&app, &t, "in_progress").await;
    assert_eq!(time(&resumed["first_response_due_at"]), sh(2026, 11, 30, 13, 30));
    // Urgent (no business hours: the wall clock) from now: 4 h resolution minus the 1 h already run
    // (30 minutes on Friday, 30 on Monday morning).
    let urgent = patch(&app, &t, json!({"priority": "urgent"})).await;
    urgent.assert_status(200);
    assert_eq!(time(&urgent.body["resolution_due_at"]), sh(2026, 11, 30, 15, 30));
    assert_eq!(time(&urgent.body["first_response_due_at"]), sh(2026, 11, 30, 13, 30));
    // Policy validation.
    let bad = app
        .put("/v1/sla-policies/normal")
        .token(&app.token(RW))
        .json(&json!({"first_response_minutes": 0, "resolution_minutes": 60, "business_hours_start": "21:00",
            "business_hours_end": "09:00", "business_days": [8]}))
        .send()
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["first_response_minutes", "business_hours_end", "business_days"]);
    app.put("/v1/sla-policies/normal")
        .token(&app.token(RW))
        .header("If-Match", "\"1\"")
        .json(&json!({"first_response_minutes": 60, "resolution_minutes": 60}))
        .send()
        .await
        .assert_problem(412, "precondition_failed");
    app.put("/v1/sla-policies/asap")
        .token(&app.token(RW))
        .json(&json!({"first_response_minutes": 60, "resolution_minutes": 60}))
        .send()
        .await
        .assert_problem(404, "sla_policy_not_found");
    let list = app.get("/v1/sla-policies").token(&app.token(&["tickets:read"])).send().await;
    list.assert_status(200);
    let priorities: Vec<&str> =
        list.body.as_array().into_iter().flatten().filter_map(|p| p["priority"].as_str()).collect();
    assert_eq!(priorities, ["low", "normal", "high", "urgent"]);
    assert_eq!(list.body[1]["business_hours_start"], "09:00");
    assert_eq!(list.body[1]["business_days"], json!([1, 2, 3, 4, 5]));
    assert_eq!(list.body[3]["resolution_minutes"], 240);
    app.put("/v1/sla-policies/low")
        .token(&app.token(&["tickets:read"]))
        .json(&json!({"first_response_minutes": 60, "resolution_minutes": 60}))
        .send()
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn breaches_are_flagged_once_by_the_sweep_or_by_a_read_and_never_while_paused() {
    let app = TestApp::new().await;
    let start = sh(2026, 11, 23, 10, 0);
    app.state.clock.set(start);
    let swept = id(&ticket(&app, json!({"type": "inquiry", "subject": "a", "priority": "urgent"})).await);
    let read = id(&ticket(&app, json!({"type": "inquiry", "subject": "b", "priority": "urgent"})).await);
    let paused = id(&ticket(&app, json!({"type": "inquiry", "subject": "c", "priority": "urgent"})).await);
    let answered = id(&ticket(&app, json!({"type": "inquiry", "subject": "d", "priority": "urgent"})).await);
    set_status(&app, &paused, "in_progress").await;
    set_status(&app, &paused, "pending_customer").await;
    reply(&app, &answered, "public", "在的").await.assert_status(201);

    let sweep = || async {
        let res = app.post("/v1/sweeps/ticket_sla/run").token(&app.admin_token()).send().await;
        res.assert_status(200);
        res.body["marked"].as_i64().unwrap_or(-1)
    };
    app.state.clock.set(start + Duration::minutes(119));
    assert_eq!(sweep().await, 0);
    app.state.clock.set(start + Duration::minutes(121));
    // A read flags its own ticket first.
    let r = get(&app, &read).await;
    assert_eq!(r.body["first_response_breached"], true);
    assert_eq!(r.body["resolution_breached"], false);
    assert_eq!(sweep().await, 1, "only the swept ticket's first response");
    assert_eq!(sweep().await, 0, "once");
    let s = get(&app, &swept).await;
    assert_eq!(
        (s.body["first_response_breached"].as_bool(), s.body["resolution_breached"].as_bool()),
        (Some(true), Some(false))
    );
    let p = get(&app, &paused).await;
    assert_eq!(p.body["first_response_breached"], false);
    // Urgent resolution: 4 h. The answered ticket breaches resolution only.
    app.state.clock.set(start + Duration::minutes(241));
    assert_eq!(sweep().await, 3);
    let a = get(&app, &answered).await;
    assert_eq!(
        (a.body["first_response_breached"].as_bool(), a.body["resolution_breached"].as_bool()),
        (Some(false), Some(true))
    );
    let which: Vec<String> = events_of(&app, "ticket.sla_breached", &swept)
        .iter()
        .filter_map(|e| e["which"].as_str().map(String::from))
        .collect();
    assert_eq!(which, ["first_response", "resolution"]);
    assert_eq!(events_of(&app, "ticket.sla_breached", &read).len(), 2);
    assert!(events_of(&app, "ticket.sla_breached", &paused).is_empty());
}

#[actix_web::test]
async fn concurrent_creations_for_one_team_take_turns() {
    let app = TestApp::new().await;
    for n in ["甲", "乙"] {
        app.create_staff(json!({"name": n, "roles": ["service"], "team": "team1"})).await;
    }
    rule(&app, json!({"name": "all", "priority": 1, "team": "team1"})).await;
    let token = app.token(RW);
    let responses =
        join_all((0..6).map(|i| open(&app, &token, json!({"type": "inquiry", "subject": format!("q{i}")})))).await;
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for r in &responses {
        r.assert_status(201);
        *counts.entry(r.str("assignee_staff_id").to_string()).or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), [3, 3]);
}

#[actix_web::test]
async fn a_store_bound_caller_sees_its_own_stores_tickets_only() {
    let app = TestApp::new().await;
    let s1 = app.create_store("S1").await["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
    let s2 = app.create_store("S2").await["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
    let pos1 = app.store_token(RW, s1);
    let mine = open(&app, &pos1, json!({"type": "return", "subject": "退货"})).await;
    mine.assert_status(201);
    assert_eq!(mine.body["store_id"].as_str().map(String::from), s1.map(|s| s.to_string()));
    open(&app, &pos1, json!({"type": "return", "subject": "x", "store_id": s2}))
        .await
        .assert_problem(403, "store_bound_principal");
    let other = ticket(&app, json!({"type": "return", "subject": "别的店", "store_id": s2})).await;
    let hq = ticket(&app, json!({"type": "return", "subject": "总部"})).await;
    let o = id(&other);
    app.get(&format!("/v1/tickets/{o}")).token(&pos1).send().await.assert_problem(404, "ticket_not_found");
    app.patch(&format!("/v1/tickets/{o}"))
        .token(&pos1)
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .assert_problem(404, "ticket_not_found");
    app.post(&format!("/v1/tickets/{o}/comments"))
        .token(&pos1)
        .json(&json!({"visibility": "internal", "body": "x"}))
        .send()
        .await
        .assert_problem(404, "ticket_not_found");
    let listed = app.collect_pages("/v1/tickets", &pos1, 50).await;
    assert_eq!(listed.iter().map(id).collect::<Vec<_>>(), [id(&mine.body)]);
    assert_eq!(app.collect_pages("/v1/tickets", &app.token(RW), 50).await.len(), 3);
    get(&app, &id(&hq)).await.assert_status(200);
    get(&app, &Uuid::now_v7().to_string()).await.assert_problem(404, "ticket_not_found");
}

#[actix_web::test]
async fn bad_bodies_are_rejected_with_every_field() {
    let app = TestApp::new().await;
    let token = app.token(RW);
    let res = open(&app, &token, json!({"priority": "asap", "channel": "fax", "subject": " "})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["type", "subject", "channel", "priority"]);
    open(&app, &token, json!({"type": "inquiry", "subject": "x", "colour": "red"})).await.assert_status(400);
    open(&app, &app.token(&["tickets:read"]), json!({"type": "inquiry", "subject": "x"}))
        .await
        .assert_problem(403, "forbidden");
    open(&app, &token, json!({"type": "inquiry", "subject": "x", "customer_id": Uuid::now_v7()}))
        .await
        .assert_problem(422, "customer_not_found");
    let t = id(&ticket(&app, json!({"type": "inquiry", "subject": "x"})).await);
    let res = reply(&app, &t, "secret", "").await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["visibility", "body"]);
    patch(&app, &t, json!({"assignee_staff_id": Uuid::now_v7()})).await.assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn a_tickets_entries_show_on_the_customers_timeline() {
    let app = TestApp::new().await;
    let cust = app.customer().name("王芳").create().await;
    let t = id(&ticket(&app, json!({"customer_id": cust, "type": "complaint", "subject": "发错货"})).await);
    let note = reply(&app, &t, "internal", "仓库已确认发错，补发中").await;
    note.assert_status(201);
    let token = app.token(&["customers:read"]);
    let items = app.collect_pages(&format!("/v1/customers/{cust}/timeline"), &token, 50).await;
    let of = |kind: &str| items.iter().find(|i| i["type"] == kind).unwrap_or_else(|| panic!("no {kind}: {items:?}"));
    assert_eq!(of("ticket.created")["data"]["ticket_id"].as_str(), Some(t.as_str()));
    let commented = &of("ticket.commented")["data"];
    assert_eq!(commented["ticket_id"].as_str(), Some(t.as_str()));
    assert_eq!(commented["visibility"], "internal");
    assert_eq!(commented["comment_id"], note.body["comment"]["id"], "names the note, which stays with the ticket");
    // SPEC §12: sales staff read service's internal notes there (from the note itself, not the event).
    let summaries: Vec<&str> = items.iter().filter_map(|i| i["summary"].as_str()).collect();
    assert!(summaries.contains(&"Internal note on ticket 发错货: 仓库已确认发错，补发中"), "{summaries:?}");
    assert!(summaries.contains(&"Ticket opened (complaint, normal): 发错货"), "{summaries:?}");
}

#[actix_web::test]
async fn routing_rules_are_a_config_resource_tried_in_priority_order() {
    let app = TestApp::new().await;
    let token = app.token(RW);
    let late = rule(&app, json!({"name": "any", "priority": 20, "team": "general"})).await;
    let early = rule(
        &app,
        json!({"name": "tmall returns", "priority": 10, "match_type": "return",
        "match_channel": "tmall", "team": "tmall_team"}),
    )
    .await;
    let listed = app.collect_pages("/v1/ticket-routing-rules", &token, 1).await;
    assert_eq!(listed.iter().map(id).collect::<Vec<_>>(), [id(&early), id(&late)]);
    let t = ticket(&app, json!({"type": "return", "channel": "tmall", "subject": "x"})).await;
    assert_eq!(t["team"], "tmall_team");
    let t = ticket(&app, json!({"type": "return", "channel": "jd", "subject": "x"})).await;
    assert_eq!(t["team"], "general");

    let path = format!("/v1/ticket-routing-rules/{}", id(&early));
    app.patch(&path)
        .token(&token)
        .header("If-Match", "\"9\"")
        .json(&json!({"priority": 30}))
        .send()
        .await
        .assert_problem(412, "precondition_failed");
    let res = app
        .patch(&path)
        .token(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({"priority": 30, "match_channel": null}))
        .send()
        .await;
    res.assert_status(200);
    assert!(res.body["match_channel"].is_null());
    assert_eq!(res.body["version"], 2);
    app.patch(&path)
        .token(&token)
        .json(&json!({"match_type": "refund"}))
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.post("/v1/ticket-routing-rules")
        .token(&token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.delete(&path).token(&token).send().await.assert_status(204);
    app.get(&path).token(&token).send().await.assert_problem(404, "ticket_routing_rule_not_found");
    let t = ticket(&app, json!({"type": "return", "channel": "tmall", "subject": "x"})).await;
    assert_eq!(t["team"], "general");
}

#[actix_web::test]
async fn stats_add_up_on_a_known_data_set() {
    let app = TestApp::new().await;
    let t0 = sh(2026, 11, 23, 10, 0);
    app.state.clock.set(t0);
    rule(&app, json!({"name": "returns", "priority": 1, "match_type": "return", "team": "after_sales"})).await;
    // Four tickets in the window, one before it.
    app.state.clock.set(t0 - Duration::days(10));
    ticket(&app, json!({"type": "inquiry", "subject": "old"})).await;
    app.state.clock.set(t0);
    let a =
        id(&ticket(&app, json!({"type": "return", "category": "size_mismatch", "subject": "a", "priority": "urgent"}))
            .await);
    let b = id(&ticket(&app, json!({"type": "return", "category": "size_mismatch", "subject": "b"})).await);
    let c = id(&ticket(&app, json!({"type": "return", "category": "quality", "subject": "c"})).await);
    let d = id(&ticket(&app, json!({"type": "complaint", "subject": "d"})).await);
    // First responses after 10, 20 and 60 minutes (median 20); d never answered.
    for (t, at) in [(&a, 10), (&b, 20), (&c, 60)] {
        app.state.clock.set(t0 + Duration::minutes(at));
        reply(&app, t, "public", "hi").await.assert_status(201);
    }
    // a resolved after 300 min (breaching urgent's 240-minute resolution on the way); b after 100.
    app.state.clock.set(t0 + Duration::minutes(100));
    set_status(&app, &b, "resolved").await;
    app.state.clock.set(t0 + Duration::minutes(300));
    set_status(&app, &a, "resolved").await;
    // d breaches its first response (read after 2 h).
    assert_eq!(get(&app, &d).await.body["first_response_breached"], true);
    for (t, score) in [(&a, 5), (&b, 3)] {
        app.post(&format!("/v1/tickets/{t}/satisfaction"))
            .token(&app.token(RW))
            .json(&json!({"score": score}))
            .send()
            .await
            .assert_status(200);
    }
    set_status(&app, &c, "resolved").await; // at 300: resolution minutes 100, 300, 300 → median 300
    app.post(&format!("/v1/tickets/{c}/satisfaction"))
        .token(&app.token(RW))
        .json(&json!({"score": 4}))
        .send()
        .await
        .assert_status(200);

    let from = (t0 - Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (t0 + Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let token = app.token(&["tickets:read"]);
    let res = app.get(&format!("/v1/tickets/stats?from={from}&to={to}")).token(&token).send().await;
    res.assert_status(200);
    let s = &res.body;
    assert_eq!(s["tickets"], 4);
    assert_eq!(s["by_type"], json!([{"key": "return", "count": 3}, {"key": "complaint", "count": 1}]));
    assert_eq!(
        s["by_category"],
        json!([{"key": "size_mismatch", "count": 2}, {"key": "(none)", "count": 1}, {"key": "quality", "count": 1}])
    );
    assert_eq!(s["median_first_response_minutes"], json!(20.0));
    assert_eq!(s["median_resolution_minutes"], json!(300.0));
    // a (resolution) and d (first response) breached: 2 of 4.
    assert_eq!(s["sla_breach_rate"], "0.5000");
    // Scores 5, 3, 4: average 4.00, two of three are 4-5.
    assert_eq!(s["csat_average"], "4.00");
    assert_eq!(s["satisfaction_rate"], "0.6667");
    assert_eq!(s["satisfaction_responses"], 3);

    let team = app.get(&format!("/v1/tickets/stats?from={from}&to={to}&team=after_sales")).token(&token).send().await;
    assert_eq!(team.body["tickets"], 3);
    assert_eq!(team.body["sla_breach_rate"], "0.3333");
    let all = app.get("/v1/tickets/stats").token(&token).send().await;
    assert_eq!(all.body["tickets"], 5);
    app.get(&format!("/v1/tickets/stats?from={to}&to={from}"))
        .token(&token)
        .send()
        .await
        .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn a_patch_that_changes_nothing_keeps_the_version_and_emits_nothing() {
    let app = TestApp::new().await;
    let t = ticket(&app, json!({"type": "inquiry", "subject": "x", "priority": "high"})).await;
    let tid = id(&t);
    let same = patch(&app, &tid, json!({"status": "open", "priority": "high"})).await;
    same.assert_status(200);
    assert_eq!(same.body["version"], 1);
    assert!(events_of(&app, "ticket.updated", &tid).is_empty());
    let moved = patch(&app, &tid, json!({"priority": "low", "team": "front_desk"})).await;
    assert_eq!((moved.body["version"].as_i64(), moved.body["team"].as_str()), (Some(2), Some("front_desk")));
    assert_eq!(moved.header("etag"), Some("\"2\""));
    assert_eq!(events_of(&app, "ticket.updated", &tid).len(), 1);
    let cleared = patch(&app, &tid, json!({"team": null})).await;
    assert!(cleared.body["team"].is_null());
}

#[actix_web::test]
async fn merging_customers_moves_their_tickets() {
    let app = TestApp::new().await;
    let target = app.customer().name("王芳").create().await;
    let source = app.customer().name("王芳").create().await;
    let t = id(&ticket(&app, json!({"customer_id": source, "type": "return", "subject": "退货"})).await);
    let res = app
        .post(&format!("/v1/customers/{target}/merge"))
        .token(&app.token(&["customers:read", "customers:write", "customers:pii"]))
        .json(&json!({"source_customer_id": source}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(get(&app, &t).await.body["customer_id"].as_str(), Some(target.to_string().as_str()));
    let theirs = app.collect_pages(&format!("/v1/tickets?customer_id={target}"), &app.token(RW), 50).await;
    assert_eq!(theirs.len(), 1);
    // A ticket opened later with the merged profile's old id lands on the survivor.
    let late = ticket(&app, json!({"customer_id": source, "type": "inquiry", "subject": "还有问题"})).await;
    assert_eq!(late["customer_id"].as_str(), Some(target.to_string().as_str()));
}

/// JSON Schema's integer admits `120.0` (a fuzz find, seeds 1 and 2): policies take it, in lists too.
#[actix_web::test]
async fn sla_policy_numbers_written_as_floats_are_integers() {
    let app = TestApp::new().await;
    let res = app
        .put("/v1/sla-policies/high")
        .token(&app.token(RW))
        .json(&json!({"first_response_minutes": 120.0, "resolution_minutes": 1440,
            "business_hours_start": "09:00", "business_hours_end": "21:00", "business_days": [1, 2.0, 3, 4, 5]}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.body["business_days"], json!([1, 2, 3, 4, 5]));
    assert_eq!(res.body["first_response_minutes"], 120);
}

// ---------------------------------------------------------------------------------------------
// Access (SPEC §3.1): the chain's configuration, other stores' tickets and staff, stats windows
// ---------------------------------------------------------------------------------------------
