//! Loyalty (SPEC §7): the points ledger (balance, entries, adjustments, expiry in the summary),
//! the rewards catalogue, reward redemptions under concurrency, and the ledger audit.

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use futures::future::join_all;
use retail_crm::error::ApiError;
use retail_crm::loyalty::ledger::{self, Posting};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

mod access;

const LOYALTY: &[&str] = &["loyalty:read", "loyalty:write"];

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap_or_else(|| panic!("bad date"))
}

async fn adjust(app: &TestApp, id: Uuid, body: Value) -> TestResponse {
    app.post(&format!("/v1/customers/{id}/points/adjustments")).token(&app.token(LOYALTY)).json(&body).send().await
}

/// A member holding `points` (positive adjustments, each within the program's 10,000 per call).
async fn member_with(app: &TestApp, points: i64) -> Uuid {
    let id = app.member().create().await;
    let mut left = points;
    while left > 0 {
        let step = left.min(10_000);
        adjust(app, id, json!({"points": step, "reason": "开卡礼"})).await.assert_status(201);
        left -= step;
    }
    id
}

async fn points(app: &TestApp, id: Uuid) -> Value {
    let res = app.get(&format!("/v1/customers/{id}/points")).token(&app.token(LOYALTY)).send().await;
    res.assert_status(200);
    res.body
}

pub(crate) async fn create_reward(app: &TestApp, cost: i64, stock: i32) -> Uuid {
    let res = app
        .post("/v1/rewards")
        .token(&app.token(LOYALTY))
        .json(&json!({"name": "小熊电炖锅", "description": "0.8L 小家电", "points_cost": cost, "stock": stock}))
        .send()
        .await;
    res.assert_status(201);
    res.uuid("id")
}

async fn reward(app: &TestApp, id: Uuid) -> Value {
    let res = app.get(&format!("/v1/rewards/{id}")).token(&app.token(LOYALTY)).send().await;
    res.assert_status(200);
    res.body
}

pub(crate) async fn redeem(app: &TestApp, customer: Uuid, reward: Uuid, quantity: i64) -> TestResponse {
    app.post(&format!("/v1/customers/{customer}/reward-redemptions"))
        .token(&app.token(LOYALTY))
        .json(&json!({"reward_id": reward, "quantity": quantity}))
        .send()
        .await
}

async fn audit(app: &TestApp) -> Value {
    let res = app.get("/v1/loyalty/audit").token(&app.admin_token()).send().await;
    res.assert_status(200);
    res.body
}

#[track_caller]
fn assert_clean(report: &Value) {
    assert_eq!(report["violations"], json!([]), "the ledger should be sound: {report}");
    assert_eq!(report["truncated"], json!(false));
}

fn sorted_fields(res: &TestResponse) -> Vec<String> {
    let mut fields = res.error_fields();
    fields.sort();
    fields
}

// ---------------------------------------------------------------------------------------------
// Adjustments, entries, summary
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn adjustments_add_and_take_points_with_a_reason() {
    let app = TestApp::new().await;
    let id = app.member().create().await;

    let plus = adjust(&app, id, json!({"points": 1000, "reason": "补偿: 门店系统故障未积分"})).await;
    plus.assert_status(201);
    assert_eq!(plus.body["entry"]["kind"], "adjust");
    assert_eq!(plus.body["entry"]["delta"], 1000);
    assert_eq!(plus.body["entry"]["balance_after"], 1000);
    assert_eq!(plus.body["entry"]["reason"], "补偿: 门店系统故障未积分");
    assert_eq!(plus.body["summary"]["balance"], 1000);
    assert_eq!(plus.body["summary"]["available"], 1000);

    let minus = adjust(&app, id, json!({"points": -300, "reason": "误操作冲正"})).await;
    minus.assert_status(201);
    assert_eq!(minus.body["entry"]["delta"], -300);
    assert_eq!(minus.body["entry"]["balance_after"], 700);
    let drawn: i64 =
        minus.body["entry"]["lots"].as_array().into_iter().flatten().filter_map(|l| l["points"].as_i64()).sum();
    assert_eq!(drawn, 300, "a debit records the lots it drew from: {}", minus.text);
    assert_eq!(minus.body["summary"]["available"], 700);

    // More than the balance: refused, never debt.
    let over = adjust(&app, id, json!({"points": -800, "reason": "冲正"})).await;
    over.assert_problem(422, "insufficient_points");
    assert_eq!(over.body["available"], 700);
    let now = points(&app, id).await;
    assert_eq!((now["balance"].as_i64(), now["debt"].as_i64()), (Some(700), Some(0)));

    // Every adjustment is audited.
    let log = app
        .get(&format!("/v1/audit-log?resource=customer&resource_id={id}&action=points.adjust"))
        .token(&app.admin_token())
        .send()
        .await;
    log.assert_status(200);
    assert_eq!(log.items().len(), 2, "{}", log.text);

    // A retry with the same Idempotency-Key is replayed, not applied twice.
    let key = format!("adj-{id}");
    let till = app.token(LOYALTY);
    let first = app
        .post(&format!("/v1/customers/{id}/points/adjustments"))
        .token(&till)
        .header("idempotency-key", &key)
        .json(&json!({"points": 50, "reason": "生日礼"}))
        .send()
        .await;
    first.assert_status(201);
    let again = app
        .post(&format!("/v1/customers/{id}/points/adjustments"))
        .token(&till)
        .header("idempotency-key", &key)
        .json(&json!({"points": 50, "reason": "生日礼"}))
        .send()
        .await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(points(&app, id).await["balance"], 750);
}

#[actix_web::test]
async fn adjustments_need_a_reason_a_member_and_the_scope() {
    let app = TestApp::new().await;
    let id = app.member().create().await;

    let res = adjust(&app, id, json!({"points": 100})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(sorted_fields(&res), vec!["reason"]);
    let res = adjust(&app, id, json!({"points": 100, "reason": "   "})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(sorted_fields(&res), vec!["reason"]);
    let res = adjust(&app, id, json!({"points": 100, "reason": "x".repeat(501)})).await;
    assert_eq!(sorted_fields(&res), vec!["reason"]);
    let res = adjust(&app, id, json!({})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(sorted_fields(&res), vec!["points", "reason"]);
    for bad in [json!(0), json!(10_000_001), json!(-10_000_001)] {
        let res = adjust(&app, id, json!({"points": bad, "reason": "x"})).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(sorted_fields(&res), vec!["points"], "points {bad}");
    }
    adjust(&app, id, json!({"points": 1.5, "reason": "x"})).await.assert_problem(400, "invalid_body");
    adjust(&app, id, json!({"points": 1, "reason": "x", "extra": 1})).await.assert_problem(400, "unknown_field");
    adjust(&app, id, json!({"points": 10_000_000, "reason": "上限"}))
        .await
        .assert_problem(422, "adjustment_over_limit");

    let stranger = app.customer().create().await;
    adjust(&app, stranger, json!({"points": 100, "reason": "x"})).await.assert_problem(422, "not_a_member");
    adjust(&app, Uuid::now_v7(), json!({"points": 100, "reason": "x"})).await.assert_problem(404, "customer_not_found");

    let read_only = app
        .post(&format!("/v1/customers/{id}/points/adjustments"))
        .token(&app.token(&["loyalty:read"]))
        .json(&json!({"points": 100, "reason": "x"}))
        .send()
        .await;
    read_only.assert_problem(403, "forbidden");
    app.get(&format!("/v1/customers/{id}/points")).send().await.assert_problem(401, "unauthorized");
}

#[actix_web::test]
async fn entries_are_newest_first_with_a_balance_after_chain() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    for p in [500, 300, -200, 100, -650] {
        adjust(&app, id, json!({"points": p, "reason": "调整"})).await.assert_status(201);
    }
    let entries = app.collect_pages(&format!("/v1/customers/{id}/points/entries"), &app.token(LOYALTY), 2).await;
    let deltas: Vec<i64> = entries.iter().filter_map(|e| e["delta"].as_i64()).collect();
    assert_eq!(deltas, vec![-650, 100, -200, 300, 500], "newest first");
    let ids: Vec<i64> = entries.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids descend: {ids:?}");
    let afters: Vec<i64> = entries.iter().filter_map(|e| e["balance_after"].as_i64()).collect();
    assert_eq!(afters, vec![50, 700, 600, 800, 500]);
    // Oldest to newest: each balance_after is the previous one plus the delta.
    let mut running = 0;
    for e in entries.iter().rev() {
        running += e["delta"].as_i64().unwrap_or_default();
        assert_eq!(e["balance_after"].as_i64(), Some(running), "{e}");
        assert_eq!(e["kind"], "adjust");
        assert_eq!(e["reason"], "调整");
        assert!(e["actor"].as_str().is_some_and(|a| a.starts_with("client:")), "{e}");
        assert!(e["occurred_at"].is_string() && e["lots"].is_array(), "{e}");
    }

    let first = app.get(&format!("/v1/customers/{id}/points/entries?limit=1")).token(&app.token(LOYALTY)).send().await;
    first.assert_status(200);
    assert_eq!(first.items().len(), 1);
    assert!(first.body["next_cursor"].is_string());
    app.get(&format!("/v1/customers/{id}/points/entries?cursor=!!"))
        .token(&app.token(LOYALTY))
        .send()
        .await
        .assert_problem(400, "invalid_cursor");
    app.get(&format!("/v1/customers/{}/points/entries", Uuid::now_v7()))
        .token(&app.token(LOYALTY))
        .send()
        .await
        .assert_problem(404, "customer_not_found");
}

#[actix_web::test]
async fn the_summary_shows_points_expiring_within_30_days_by_shanghai_date() {
    let app = TestApp::new().await;
    // 23:30 in Shanghai on 2026-01-10: the points stay valid through 2027-01-10 (Shanghai).
    app.state.clock.set(at(2026, 1, 10, 15, 30));
    let id = app.member().create().await;
    adjust(&app, id, json!({"points": 300, "reason": "活动赠送"})).await.assert_status(201);
    let s = points(&app, id).await;
    assert_eq!(s["customer_id"], json!(id));
    assert_eq!((s["balance"].as_i64(), s["available"].as_i64()), (Some(300), Some(300)));
    assert_eq!(s["expiring_within_30_days"], 0);
    assert_eq!(s["expiring"], json!([]));

    // 336 days later (2026-12-12) the lot is within 30 days of its expiry.
    app.state.clock.advance(Duration::days(336));
    adjust(&app, id, json!({"points": 200, "reason": "活动赠送"})).await.assert_status(201);
    let s = points(&app, id).await;
    assert_eq!(s["balance"], 500);
    assert_eq!(s["available"], 500);
    assert_eq!(s["expiring_within_30_days"], 300, "{s}");
    assert_eq!(s["expiring"], json!([{"date": "2027-01-10", "points": 300}]), "the last valid Shanghai day");

    // The last second of 2027-01-10 in Shanghai it is still there; a second later it is gone from
    // `available` (the balance keeps it until the daily expiry job writes it off).
    app.state.clock.set(at(2027, 1, 10, 15, 59) + Duration::seconds(59));
    assert_eq!(points(&app, id).await["available"], 500);
    app.state.clock.set(at(2027, 1, 10, 16, 0));
    let s = points(&app, id).await;
    assert_eq!((s["balance"].as_i64(), s["available"].as_i64()), (Some(500), Some(200)));
    assert_eq!(s["expiring"], json!([]));

    // A customer without an account has zeros; an unknown one is 404.
    let other = app.customer().create().await;
    let z = points(&app, other).await;
    assert_eq!(
        (z["balance"].as_i64(), z["available"].as_i64(), z["pending"].as_i64(), z["debt"].as_i64()),
        (Some(0), Some(0), Some(0), Some(0))
    );
    app.get(&format!("/v1/customers/{}/points", Uuid::now_v7()))
        .token(&app.token(LOYALTY))
        .send()
        .await
        .assert_problem(404, "customer_not_found");
}

// ---------------------------------------------------------------------------------------------
// Rewards catalogue
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn the_rewards_catalogue_is_created_listed_and_changed_with_if_match() {
    let app = TestApp::new().await;
    let token = app.token(LOYALTY);

    let bad = app.post("/v1/rewards").token(&token).json(&json!({"description": "x"})).send().await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(sorted_fields(&bad), vec!["name", "points_cost"]);
    let bad = app
        .post("/v1/rewards")
        .token(&token)
        .json(&json!({"name": " ", "points_cost": 0, "stock": -1, "description": "d".repeat(501)}))
        .send()
        .await;
    assert_eq!(sorted_fields(&bad), vec!["description", "name", "points_cost", "stock"]);
    let bad = app.post("/v1/rewards").token(&token).json(&json!({"name": "x", "points_cost": 10_000_001})).send().await;
    assert_eq!(sorted_fields(&bad), vec!["points_cost"]);

    let created =
        app.post("/v1/rewards").token(&token).json(&json!({"name": "  保温杯 ", "points_cost": 800})).send().await;
    created.assert_status(201);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["name"], "保温杯");
    assert_eq!(created.body["stock"], 0, "stock defaults to 0");
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["description"], Value::Null);
    let cup = created.uuid("id");
    assert_eq!(created.header("location").map(str::to_string), Some(format!("/v1/rewards/{cup}")));
    let appliance = create_reward(&app, 2000, 50).await;
    let hidden = app
        .post("/v1/rewards")
        .token(&token)
        .json(&json!({"name": "旧款台灯", "points_cost": 1500, "stock": 3, "active": false}))
        .send()
        .await;
    hidden.assert_status(201);

    let all = app.collect_pages("/v1/rewards", &token, 2).await;
    assert_eq!(all.len(), 3);
    let active = app.collect_pages("/v1/rewards?active=true", &token, 1).await;
    let ids: Vec<&str> = active.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, vec![cup.to_string(), appliance.to_string()]);
    let inactive = app.collect_pages("/v1/rewards?active=false", &token, 50).await;
    assert_eq!(inactive.len(), 1);
    app.get("/v1/rewards?colour=red").token(&token).send().await.assert_problem(400, "invalid_query_parameter");

    // PATCH: a stale If-Match is 412; the current one changes it and moves the ETag.
    let stale = app
        .patch(&format!("/v1/rewards/{cup}"))
        .token(&token)
        .header("if-match", "\"7\"")
        .json(&json!({"stock": 20}))
        .send()
        .await;
    stale.assert_problem(412, "precondition_failed");
    let changed = app
        .patch(&format!("/v1/rewards/{cup}"))
        .token(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"stock": 20, "points_cost": 900, "description": "500ml"}))
        .send()
        .await;
    changed.assert_status(200);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    assert_eq!((changed.body["stock"].as_i64(), changed.body["points_cost"].as_i64()), (Some(20), Some(900)));
    let cleared = app
        .patch(&format!("/v1/rewards/{cup}"))
        .token(&token)
        .json(&json!({"description": null, "stock": 0}))
        .send()
        .await;
    cleared.assert_status(200);
    assert_eq!(cleared.body["description"], Value::Null);
    assert_eq!(cleared.body["stock"], 0);
    let neg = app.patch(&format!("/v1/rewards/{cup}")).token(&token).json(&json!({"stock": -1})).send().await;
    neg.assert_problem(422, "validation_failed");
    assert_eq!(reward(&app, cup).await["version"], 3);

    app.get(&format!("/v1/rewards/{}", Uuid::now_v7()))
        .token(&token)
        .send()
        .await
        .assert_problem(404, "reward_not_found");
    app.patch(&format!("/v1/rewards/{}", Uuid::now_v7()))
        .token(&token)
        .json(&json!({"stock": 1}))
        .send()
        .await
        .assert_problem(404, "reward_not_found");
    app.post("/v1/rewards")
        .token(&app.token(&["loyalty:read"]))
        .json(&json!({"name": "x", "points_cost": 1}))
        .send()
        .await
        .assert_problem(403, "forbidden");
}

// ---------------------------------------------------------------------------------------------
// Reward redemptions
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn redeeming_a_2000_point_appliance_moves_stock_and_points_together() {
    let app = TestApp::new().await;
    let appliance = create_reward(&app, 2000, 2).await;
    let id = member_with(&app, 5000).await;

    let res = redeem(&app, id, appliance, 1).await;
    res.assert_status(201);
    assert_eq!(res.body["reward_id"], json!(appliance));
    assert_eq!((res.body["quantity"].as_i64(), res.body["points"].as_i64()), (Some(1), Some(2000)));
    assert_eq!(res.body["balance_after"], 3000);
    assert!(res.body["id"].is_string() && res.body["created_at"].is_string());
    assert_eq!(reward(&app, appliance).await["stock"], 1);
    assert_eq!(points(&app, id).await["available"], 3000);

    // The entry is a `reward` debit that names the reward and the lots it drew from.
    let entries = app.get(&format!("/v1/customers/{id}/points/entries")).token(&app.token(LOYALTY)).send().await;
    let newest = &entries.items()[0];
    assert_eq!(newest["id"], res.body["entry_id"]);
    assert_eq!(newest["kind"], "reward");
    assert_eq!(newest["delta"], -2000);
    assert_eq!(newest["reference"], json!(format!("reward:{appliance}")));
    assert_eq!(newest["lots"][0]["points"], 2000);

    // Two asked for, one left: 409, and the points stay.
    let short = redeem(&app, id, appliance, 2).await;
    short.assert_problem(409, "out_of_stock");
    assert_eq!(short.body["stock"], 1);
    assert_eq!(points(&app, id).await["available"], 3000);
    redeem(&app, id, appliance, 1).await.assert_status(201);
    assert_eq!(reward(&app, appliance).await["stock"], 0);
    redeem(&app, id, appliance, 1).await.assert_problem(409, "out_of_stock");
    assert_eq!(points(&app, id).await["available"], 1000);

    // Not enough points: 422, and the stock is untouched (the transaction rolled it back).
    let kettle = create_reward(&app, 2000, 10).await;
    let version = reward(&app, kettle).await["version"].clone();
    let poor = redeem(&app, id, kettle, 1).await;
    poor.assert_problem(422, "insufficient_points");
    assert_eq!(poor.body["available"], 1000);
    let after = reward(&app, kettle).await;
    assert_eq!((after["stock"].as_i64(), &after["version"]), (Some(10), &version));

    // Events: one `points.redeemed` per redemption, with the reward and the points.
    let mut conn = app.conn();
    let events: Vec<Value> = retail_crm::schema::events::table
        .filter(retail_crm::schema::events::event_type.eq("points.redeemed"))
        .filter(retail_crm::schema::events::subject_id.eq(id))
        .select(retail_crm::schema::events::data)
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["reward_id"] == json!(appliance) && e["points"] == 2000), "{events:?}");
    assert_clean(&audit(&app).await);
}

#[actix_web::test]
async fn redemptions_are_refused_for_bad_input_inactive_rewards_and_non_members() {
    let app = TestApp::new().await;
    let id = member_with(&app, 5000).await;
    let lamp = create_reward(&app, 1000, 5).await;

    for q in [0, 101] {
        let res = redeem(&app, id, lamp, q).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(sorted_fields(&res), vec!["quantity"]);
    }
    let res = app
        .post(&format!("/v1/customers/{id}/reward-redemptions"))
        .token(&app.token(LOYALTY))
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(sorted_fields(&res), vec!["reward_id"]);
    redeem(&app, id, Uuid::now_v7(), 1).await.assert_problem(404, "reward_not_found");
    redeem(&app, Uuid::now_v7(), lamp, 1).await.assert_problem(404, "customer_not_found");
    let stranger = app.customer().create().await;
    redeem(&app, stranger, lamp, 1).await.assert_problem(422, "not_a_member");

    app.patch(&format!("/v1/rewards/{lamp}"))
        .token(&app.token(LOYALTY))
        .json(&json!({"active": false}))
        .send()
        .await
        .assert_status(200);
    redeem(&app, id, lamp, 1).await.assert_problem(422, "reward_inactive");
    assert_eq!(reward(&app, lamp).await["stock"], 5);
    assert_eq!(points(&app, id).await["available"], 5000);

    // Quantity defaults to 1.
    let mug = create_reward(&app, 300, 5).await;
    let res = app
        .post(&format!("/v1/customers/{id}/reward-redemptions"))
        .token(&app.token(LOYALTY))
        .json(&json!({"reward_id": mug}))
        .send()
        .await;
    res.assert_status(201);
    assert_eq!((res.body["quantity"].as_i64(), res.body["points"].as_i64()), (Some(1), Some(300)));
}

#[actix_web::test]
async fn twenty_tills_at_once_never_spend_more_points_than_the_balance() {
    let app = TestApp::builder().pool_size(10).build().await;
    let appliance = create_reward(&app, 2000, 100).await;
    let id = member_with(&app, 10_000).await; // exactly 5 × 2,000

    let results = join_all((0..20).map(|_| redeem(&app, id, appliance, 1))).await;
    let won = results.iter().filter(|r| r.status == 201).count();
    let refused = results.iter().filter(|r| r.status == 422 && r.code() == "insufficient_points").count();
    assert_eq!((won, refused), (5, 15), "{:?}", results.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());

    assert_eq!(reward(&app, appliance).await["stock"], 95, "stock moved only for the winners");
    let s = points(&app, id).await;
    assert_eq!((s["balance"].as_i64(), s["available"].as_i64(), s["debt"].as_i64()), (Some(0), Some(0), Some(0)));
    let mut afters: Vec<i64> = results.iter().filter_map(|r| r.body["balance_after"].as_i64()).collect();
    afters.sort();
    assert_eq!(afters, vec![0, 2000, 4000, 6000, 8000]);
    assert_clean(&audit(&app).await);
}

#[actix_web::test]
async fn ten_members_at_once_never_take_more_than_the_stock() {
    let app = TestApp::builder().pool_size(10).build().await;
    let appliance = create_reward(&app, 2000, 3).await;
    let mut members = Vec::new();
    for _ in 0..10 {
        members.push(member_with(&app, 50_000).await);
    }

    let results = join_all(members.iter().map(|m| redeem(&app, *m, appliance, 1))).await;
    let won: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.status == 201).map(|(i, _)| i).collect();
    let sold_out = results.iter().filter(|r| r.status == 409 && r.code() == "out_of_stock").count();
    assert_eq!((won.len(), sold_out), (3, 7), "{:?}", results.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());
    assert_eq!(reward(&app, appliance).await["stock"], 0);

    // Only the winners paid.
    for (i, m) in members.iter().enumerate() {
        let expected = if won.contains(&i) { 48_000 } else { 50_000 };
        assert_eq!(points(&app, *m).await["balance"], expected, "member {i}");
    }
    let mut conn = app.conn();
    let redemptions: i64 =
        retail_crm::schema::reward_redemptions::table.count().get_result(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(redemptions, 3);
    assert_clean(&audit(&app).await);
}

// ---------------------------------------------------------------------------------------------
// The audit
// ---------------------------------------------------------------------------------------------

fn violations_of(report: &Value, customer: Uuid) -> Vec<&Value> {
    report["violations"]
        .as_array()
        .map(|v| v.iter().filter(|x| x["customer_id"] == json!(customer)).collect())
        .unwrap_or_default()
}

fn invariants(report: &Value, customer: Uuid) -> Vec<String> {
    let mut names: Vec<String> =
        violations_of(report, customer).iter().filter_map(|v| v["invariant"].as_str().map(str::to_string)).collect();
    names.sort();
    names
}

#[actix_web::test]
async fn the_audit_passes_a_sound_ledger_and_finds_broken_accounts() {
    let app = TestApp::new().await;
    // It breaks the ledger on purpose, to see the audit find it.
    app.expect_ledger_violations();
    let appliance = create_reward(&app, 2000, 10).await;
    let a = member_with(&app, 5000).await;
    let b = member_with(&app, 1200).await;
    let c = member_with(&app, 900).await;
    let d = member_with(&app, 4000).await;
    redeem(&app, a, appliance, 2).await.assert_status(201);
    adjust(&app, b, json!({"points": -200, "reason": "冲正"})).await.assert_status(201);

    let report = audit(&app).await;
    assert_eq!(report["accounts_checked"], 4);
    assert_clean(&report);
    app.get("/v1/loyalty/audit").token(&app.token(LOYALTY)).send().await.assert_problem(403, "forbidden");

    let mut conn = app.conn();
    // A: the balance drifts from the entries and the lots.
    conn.batch_execute(&format!("UPDATE points_accounts SET balance = balance + 7 WHERE customer_id = '{a}'"))
        .unwrap_or_else(|e| panic!("{e}"));
    // B: a lot appears from nowhere.
    diesel::insert_into(retail_crm::schema::points_lots::table)
        .values((
            retail_crm::schema::points_lots::id.eq(Uuid::now_v7()),
            retail_crm::schema::points_lots::customer_id.eq(b),
            retail_crm::schema::points_lots::entry_id.eq(0i64),
            retail_crm::schema::points_lots::amount.eq(50i64),
            retail_crm::schema::points_lots::remaining.eq(50i64),
            retail_crm::schema::points_lots::available_at.eq(app.now()),
            retail_crm::schema::points_lots::expires_at.eq(app.now() + Duration::days(30)),
        ))
        .execute(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    // C: a debit whose lots do not add up (and took nothing from them), balances kept consistent.
    conn.batch_execute(&format!(
        "INSERT INTO points_entries (customer_id, kind, delta, balance_after, actor, lots, occurred_at)
         VALUES ('{c}', 'adjust', -100, 800, 'test', '[]', {now});
         UPDATE points_accounts SET balance = 800 WHERE customer_id = '{c}';",
        now = app.sql_now()
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    // D: an entry with a wrong running balance (the account follows it).
    conn.batch_execute(&format!(
        "INSERT INTO points_entries (customer_id, kind, delta, balance_after, actor, lots, occurred_at)
         VALUES ('{d}', 'adjust', 10, 4020, 'test', '[]', {now});
         UPDATE points_accounts SET balance = 4020 WHERE customer_id = '{d}';",
        now = app.sql_now()
    ))
    .unwrap_or_else(|e| panic!("{e}"));

    let report = audit(&app).await;
    assert_eq!(report["accounts_checked"], 4);
    assert_eq!(
        invariants(&report, a),
        vec!["balance_equals_lots_minus_debt", "balance_equals_sum_of_deltas", "latest_balance_after_equals_balance"]
    );
    let drift = violations_of(&report, a)
        .into_iter()
        .find(|v| v["invariant"] == "balance_equals_sum_of_deltas")
        .cloned()
        .unwrap_or_default();
    assert_eq!((drift["expected"].as_i64(), drift["actual"].as_i64()), (Some(1000), Some(1007)), "{drift}");

    assert_eq!(invariants(&report, b), vec!["balance_equals_lots_minus_debt"]);
    let lots = violations_of(&report, b)[0];
    assert_eq!((lots["expected"].as_i64(), lots["actual"].as_i64()), (Some(1050), Some(1000)));

    assert_eq!(invariants(&report, c), vec!["balance_equals_lots_minus_debt", "debit_lots_match_delta"]);
    let debit = violations_of(&report, c).into_iter().find(|v| v["invariant"] == "debit_lots_match_delta").cloned();
    let debit = debit.unwrap_or_default();
    assert_eq!((debit["expected"].as_i64(), debit["actual"].as_i64()), (Some(100), Some(0)));
    assert!(debit["entry_id"].is_i64(), "{debit}");

    assert!(invariants(&report, d).contains(&"balance_after_chain".to_string()), "{report}");
    assert!(invariants(&report, d).contains(&"balance_equals_sum_of_deltas".to_string()), "{report}");
}

#[actix_web::test]
async fn the_audit_finds_lots_out_of_range_and_lots_beside_debt() {
    let app = TestApp::new().await;
    // It breaks the ledger on purpose, to see the audit find it.
    app.expect_ledger_violations();
    let a = member_with(&app, 300).await;
    let mut conn = app.conn();
    // The table's CHECK forbids remaining > amount; with it lifted, the audit still catches it.
    conn.batch_execute(&format!(
        "ALTER TABLE points_lots DROP CONSTRAINT points_lots_check;
         UPDATE points_lots SET remaining = 310 WHERE customer_id = '{a}';
         UPDATE points_accounts SET balance = 10, debt = 300 WHERE customer_id = '{a}';"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let report = audit(&app).await;
    let names = invariants(&report, a);
    assert!(names.contains(&"lot_remaining_within_amount".to_string()), "{report}");
    assert!(names.contains(&"no_lots_while_in_debt".to_string()), "{report}");
    let lot = violations_of(&report, a).into_iter().find(|v| v["invariant"] == "lot_remaining_within_amount").cloned();
    let lot = lot.unwrap_or_default();
    assert_eq!((lot["expected"].as_i64(), lot["actual"].as_i64()), (Some(300), Some(310)));
    assert!(lot["lot_id"].is_string());
}

// ---------------------------------------------------------------------------------------------
// The ledger itself (functions other domains call)
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_clawback_into_debt_first_writes_off_expired_lots() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    let t0 = at(2026, 3, 1, 2, 0);
    let order = Uuid::now_v7();
    let mut conn = app.conn();
    conn.transaction::<_, ApiError, _>(|conn| {
        let mut account = ledger::lock_account(conn, id)?;
        // An old lot (no order) that expired yesterday, not yet written off by the daily job.
        ledger::credit(
            conn,
            &mut account,
            100,
            &Posting::new(retail_crm::loyalty::rules::EntryKind::Adjust, "test", t0),
            t0,
            t0 + Duration::days(10),
        )?;
        // The order's 50 points, already spent.
        let earn = Posting::new(retail_crm::loyalty::rules::EntryKind::Earn, "test", t0)
            .order(retail_crm::ids::OrderId(order));
        ledger::credit(conn, &mut account, 50, &earn, t0, t0 + Duration::days(365))?;
        let later = t0 + Duration::days(11);
        ledger::spend(
            conn,
            &mut account,
            50,
            &Posting::new(retail_crm::loyalty::rules::EntryKind::Redeem, "test", later),
            later,
        )?;
        // Refunding the order takes its 50 back: they were spent, so they become debt; the expired
        // 100 are written off first so that debt and lots never coexist.
        ledger::take_back(
            conn,
            &mut account,
            50,
            &Posting::new(retail_crm::loyalty::rules::EntryKind::RefundClawback, "test", later)
                .order(retail_crm::ids::OrderId(order)),
            later,
        )?;
        assert_eq!((account.balance, account.debt), (-50, 50));
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let entries = app.get(&format!("/v1/customers/{id}/points/entries")).token(&app.token(LOYALTY)).send().await;
    let kinds: Vec<&str> =
        entries.body["items"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["refund_clawback", "expire", "redeem", "earn", "adjust"]);
    assert_clean(&audit(&app).await);
}

#[actix_web::test]
async fn a_clawback_takes_the_orders_own_expired_lot_before_making_debt() {
    let app = TestApp::new().await;
    let id = app.member().create().await;
    let t0 = at(2026, 3, 1, 2, 0);
    let order = Uuid::now_v7();
    let mut conn = app.conn();
    conn.transaction::<_, ApiError, _>(|conn| {
        let mut account = ledger::lock_account(conn, id)?;
        let earn = Posting::new(retail_crm::loyalty::rules::EntryKind::Earn, "test", t0)
            .order(retail_crm::ids::OrderId(order));
        ledger::credit(conn, &mut account, 80, &earn, t0, t0 + Duration::days(10))?;
        let later = t0 + Duration::days(11);
        ledger::take_back(
            conn,
            &mut account,
            80,
            &Posting::new(retail_crm::loyalty::rules::EntryKind::RefundClawback, "test", later)
                .order(retail_crm::ids::OrderId(order)),
            later,
        )?;
        assert_eq!((account.balance, account.debt), (0, 0), "no debt: the order's own points were still there");
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_clean(&audit(&app).await);
}
