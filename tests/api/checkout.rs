//! The checkout quote, reservations, coupons in orders and stand-alone 核销 (SPEC §7, §8):
//! one code is redeemed once under any race, and the quote and the order agree to the cent.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::loyalty::ledger;

use crate::support::{TestApp, TestResponse};

const TILL: &[&str] = &["orders:write", "customers:read", "coupons:redeem"];

async fn issue(app: &TestApp, template: Uuid, customer: Uuid) -> String {
    let res = app
        .post(&format!("/v1/coupon-templates/{template}/issue"))
        .token(&app.admin_token())
        .json(&json!({"customer_ids": [customer]}))
        .send()
        .await;
    res.assert_status(200);
    res.body["issued"][0]["code"].as_str().unwrap_or_else(|| panic!("not issued: {}", res.text)).to_string()
}

fn line(sku: &str, category: &str, price: &str, quantity: i32) -> Value {
    json!({"sku": sku, "category": category, "quantity": quantity, "unit_price": price})
}

fn basket(customer: Uuid, lines: Value, coupons: &[&str], points: i64) -> Value {
    json!({"customer_id": customer, "channel": "pos", "lines": lines, "coupon_codes": coupons, "points_to_redeem": points})
}

async fn quote(app: &TestApp, body: &Value) -> TestResponse {
    app.post("/v1/checkout/quote").token(&app.token(TILL)).json(body).send().await
}

/// The quote's basket as a sale.
fn as_order(external_id: &str, quote_body: &Value, now: chrono::DateTime<Utc>) -> Value {
    let mut order = quote_body.clone();
    order["external_id"] = json!(external_id);
    order["occurred_at"] = json!(now);
    if let Some(o) = order.as_object_mut() {
        o.remove("reserve");
    }
    order
}

async fn post_order(app: &TestApp, body: &Value) -> TestResponse {
    app.post("/v1/orders").token(&app.token(TILL)).json(body).send().await
}

async fn coupon_status(app: &TestApp, code: &str) -> String {
    let res = app.get(&format!("/v1/coupons/{code}")).token(&app.admin_token()).send().await;
    res.assert_status(200);
    res.str("status").to_string()
}

fn available_points(app: &TestApp, customer: Uuid) -> i64 {
    let mut conn = app.conn();
    ledger::summary(&mut conn, customer, app.state.clock.now(), 30).map(|s| s.available).unwrap_or(-1)
}

async fn assert_audit_clean(app: &TestApp) {
    let res = app.get("/v1/loyalty/audit").token(&app.admin_token()).send().await;
    res.assert_status(200);
    assert_eq!(res.body["violations"], json!([]), "{}", res.text);
}

#[actix_web::test]
async fn the_quote_applies_tier_then_coupon_then_points_and_changes_nothing() {
    let app = TestApp::new().await;
    let c = app.member().name("顾客").phone("13900000001").tier("gold").points(3200).create().await;
    let t = app.coupon_template().name("满300减50").create().await;
    let code = issue(&app, t, c).await;
    // 340 × 0.9 = 306 (≥ 300) − 50 = 256; the points cap is half: 128 → 12 units; 1000 points = ¥100.
    let body = basket(c, json!([line("W-DRESS", "女装", "340.00", 1)]), &[&code.to_lowercase()], 1000);
    let res = quote(&app, &body).await;
    res.assert_status(200);
    let q = &res.body;
    assert_eq!(
        (q["tier_discount"].as_str(), q["coupon_discount"].as_str(), q["points_offset"].as_str()),
        (Some("34.00"), Some("50.00"), Some("100.00"))
    );
    assert_eq!((q["payable"].as_str(), q["points_to_earn"].as_i64()), (Some("156.00"), Some(156)));
    assert_eq!((q["max_points_redeemable"].as_i64(), q["points_available"].as_i64()), (Some(1200), Some(3200)));
    assert_eq!(q["coupons"], json!([{"code": code, "applied": true, "discount": "50.00", "reason": null}]));
    assert_eq!(q["lines"][0]["discounted_amount"], "256.00");
    assert_eq!(q["tier_progress"]["tier_after"], "gold");
    assert_eq!(q["reservation_id"], Value::Null);
    // Pure: nothing moved.
    assert_eq!(coupon_status(&app, &code).await, "available");
    assert_eq!(available_points(&app, c), 3200);

    // The same basket as a sale: same numbers, coupon used once, points spent.
    let order = post_order(&app, &as_order("T-1", &body, app.now())).await;
    order.assert_status(201);
    let o = &order.body;
    assert_eq!(
        (o["paid_amount"].as_str(), o["coupon_discount"].as_str(), o["points_earned"].as_i64()),
        (Some("156.00"), Some("50.00"), Some(156))
    );
    assert_eq!(o["coupon_codes"], json!([code]));
    assert_eq!(
        (o["lines"][0]["tier_discount"].as_str(), o["lines"][0]["coupon_discount"].as_str()),
        (Some("34.00"), Some("50.00"))
    );
    assert_eq!(coupon_status(&app, &code).await, "redeemed");
    assert_eq!(available_points(&app, c), 3200 - 1000 + 156);

    let stats = app.get(&format!("/v1/coupon-templates/{t}/stats")).token(&app.admin_token()).send().await;
    stats.assert_status(200);
    assert_eq!((stats.body["redeemed"].as_i64(), stats.body["discount_given"].as_str()), (Some(1), Some("50.00")));
    assert_eq!(stats.body["gmv"], "156.00");
    let events = app.get("/v1/events?types=coupon.redeemed&limit=200").token(&app.admin_token()).send().await;
    assert!(events.text.contains(&code), "{}", events.text);
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn threshold_300_holds_at_300_00_and_not_at_299_99() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000002").create().await;
    let t = app.coupon_template().name("满300减50").create().await;
    let code = issue(&app, t, c).await;
    let below = quote(&app, &basket(c, json!([line("A", "女装", "299.99", 1)]), &[&code], 0)).await;
    below.assert_status(200);
    assert_eq!(below.body["coupons"][0]["reason"], "below_threshold");
    assert_eq!(below.body["payable"], "299.99");
    let at = quote(&app, &basket(c, json!([line("A", "女装", "300.00", 1)]), &[&code], 0)).await;
    assert_eq!((at.body["coupons"][0]["applied"].as_bool(), at.body["payable"].as_str()), (Some(true), Some("250.00")));
    // A sale below the threshold is refused rather than priced without the coupon the till asked for.
    let order =
        post_order(&app, &as_order("B-1", &basket(c, json!([line("A", "女装", "299.99", 1)]), &[&code], 0), app.now()))
            .await;
    order.assert_problem(422, "coupon_not_applicable");
    assert_eq!(order.body["reason"], "below_threshold");
    assert_eq!(coupon_status(&app, &code).await, "available");
}

#[actix_web::test]
async fn a_coupon_of_customer_a_is_not_applicable_for_customer_b() {
    let app = TestApp::new().await;
    let a = app.customer().name("顾客").phone("13900000003").create().await;
    let b = app.customer().name("顾客").phone("13900000004").create().await;
    let code = issue(
        &app,
        app.coupon_template()
            .name("无门槛20")
            .with(json!({"kind": "cash", "threshold": null, "discount": "20.00"}))
            .create()
            .await,
        a,
    )
    .await;
    let res = post_order(
        &app,
        &as_order("NO-1", &basket(b, json!([line("A", "女装", "100.00", 1)]), &[&code], 0), app.now()),
    )
    .await;
    res.assert_problem(422, "coupon_not_applicable");
    assert_eq!(res.body["reason"], "not_owner");
    let standalone = app
        .post(&format!("/v1/coupons/{code}/redeem"))
        .token(&app.token(TILL))
        .json(&json!({"customer_id": b, "order_reference": "X-1", "amount": "100.00"}))
        .send()
        .await;
    standalone.assert_problem(422, "coupon_not_applicable");
    assert_eq!(standalone.body["reason"], "not_owner");
}

#[actix_web::test]
async fn one_code_redeemed_by_50_concurrent_requests_succeeds_once() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000005").create().await;
    let code = issue(&app, app.coupon_template().name("满300减50").create().await, c).await;
    let token = app.token(TILL);
    let body = json!({"customer_id": c, "order_reference": "POS-1", "amount": "320.00"});
    let path = format!("/v1/coupons/{code}/redeem");
    let results = join_all((0..50).map(|_| app.post(&path).token(&token).json(&body).send())).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    for r in results.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "coupon_already_redeemed");
    }
    let winner = results.iter().find(|r| r.status == 201).map(|r| r.body.clone()).unwrap_or_default();
    assert_eq!((winner["discount"].as_str(), winner["payable"].as_str()), (Some("50.00"), Some("270.00")));

    // And through orders: 20 tills posting different sales with the same code → one sale.
    let code = issue(
        &app,
        app.coupon_template()
            .name("无门槛20")
            .with(json!({"kind": "cash", "threshold": null, "discount": "20.00"}))
            .create()
            .await,
        c,
    )
    .await;
    let now = app.now();
    let bodies: Vec<Value> = (0..20)
        .map(|i| as_order(&format!("RACE-{i}"), &basket(c, json!([line("A", "女装", "100.00", 1)]), &[&code], 0), now))
        .collect();
    let orders = join_all(bodies.iter().map(|b| app.post("/v1/orders").token(&token).json(b).send())).await;
    assert_eq!(orders.iter().filter(|r| r.status == 201).count(), 1);
    for r in orders.iter().filter(|r| r.status != 201) {
        r.assert_problem(409, "coupon_already_redeemed");
    }
    let mut conn = app.conn();
    use retail_crm::schema::coupon_redemptions as cr;
    let live: i64 = cr::table
        .filter(cr::code.eq(&code))
        .filter(cr::undone_at.is_null())
        .count()
        .get_result(&mut conn)
        .unwrap_or(-1);
    assert_eq!(live, 1);
}

#[actix_web::test]
async fn of_two_non_stackable_coupons_only_the_better_applies_and_expired_ones_say_so() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000006").create().await;
    let cash = issue(
        &app,
        app.coupon_template()
            .name("无门槛20")
            .with(json!({"kind": "cash", "threshold": null, "discount": "20.00"}))
            .create()
            .await,
        c,
    )
    .await;
    let mj = issue(&app, app.coupon_template().name("满300减50").create().await, c).await;
    let body = basket(c, json!([line("A", "女装", "320.00", 1)]), &[&cash, &mj], 0);
    let res = quote(&app, &body).await;
    res.assert_status(200);
    assert_eq!(res.body["coupons"][0]["reason"], "not_stackable");
    assert_eq!(res.body["coupons"][1]["applied"], true);
    assert_eq!(res.body["payable"], "270.00");
    // An order must use every coupon it names.
    let order = post_order(&app, &as_order("NS-1", &body, app.now())).await;
    order.assert_problem(422, "coupon_not_applicable");
    assert_eq!(order.body["reason"], "not_stackable");

    // 31 days later the coupons (valid 30 days after issue) have expired.
    app.state.clock.advance(Duration::days(31));
    let res = quote(&app, &basket(c, json!([line("A", "女装", "320.00", 1)]), &[&mj], 0)).await;
    assert_eq!(res.body["coupons"][0]["reason"], "expired");
    app.state.clock.set(app.now());
}

#[actix_web::test]
async fn percent_off_with_a_cap_and_a_category_scope() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000007").create().await;
    let t = app
        .coupon_template()
        .name("女装9折最高30")
        .with(json!({"kind": "percent_off", "threshold": null, "discount": null, "discount_rate": "0.90",
               "max_discount": "30.00", "categories": ["女装"]}))
        .create()
        .await;
    let code = issue(&app, t, c).await;
    // 10% of the 女装 lines only: 199.90 → 19.99; the 男装 line is untouched.
    let res =
        quote(&app, &basket(c, json!([line("W", "女装", "199.90", 1), line("M", "男装", "100.00", 1)]), &[&code], 0))
            .await;
    res.assert_status(200);
    assert_eq!(
        (res.body["lines"][0]["coupon_discount"].as_str(), res.body["lines"][1]["coupon_discount"].as_str()),
        (Some("19.99"), Some("0.00"))
    );
    // 10% of 500 is 50: capped at 30.
    let res =
        quote(&app, &basket(c, json!([line("W", "女装", "500.00", 1), line("M", "男装", "100.00", 1)]), &[&code], 0))
            .await;
    assert_eq!((res.body["coupon_discount"].as_str(), res.body["payable"].as_str()), (Some("30.00"), Some("570.00")));
    // Nothing in scope.
    let res = quote(&app, &basket(c, json!([line("M", "男装", "100.00", 1)]), &[&code], 0)).await;
    assert_eq!(res.body["coupons"][0]["reason"], "no_eligible_items");
}

#[actix_web::test]
async fn a_reservation_holds_coupons_and_points_until_consumed_released_or_expired() {
    let app = TestApp::new().await;
    let c = app.member().name("顾客").phone("13900000008").tier("normal").points(1500).create().await;
    let t = app.coupon_template().name("满300减50").create().await;
    let code = issue(&app, t, c).await;
    let mut body = basket(c, json!([line("A", "女装", "400.00", 1)]), &[&code], 1000);
    body["reserve"] = json!(true);
    let held = quote(&app, &body).await;
    held.assert_status(200);
    let reservation = held.uuid("reservation_id");
    assert_eq!(held.body["payable"], "250.00");

    // Another till cannot use the held coupon or the held points meanwhile.
    let other = as_order("OTHER-1", &basket(c, json!([line("B", "女装", "400.00", 1)]), &[&code], 0), app.now());
    let res = post_order(&app, &other).await;
    res.assert_problem(422, "coupon_not_applicable");
    assert_eq!(res.body["reason"], "reserved");
    let res = post_order(
        &app,
        &as_order("OTHER-2", &basket(c, json!([line("B", "女装", "400.00", 1)]), &[], 1000), app.now()),
    )
    .await;
    res.assert_problem(422, "insufficient_points");
    assert_eq!(res.body["available"], 500);
    let res = quote(&app, &basket(c, json!([line("B", "女装", "400.00", 1)]), &[], 0)).await;
    assert_eq!(res.body["points_available"], 500);
    // Nor spend them on a gift from the rewards catalogue.
    let reward = app
        .post("/v1/rewards")
        .token(&app.admin_token())
        .json(&json!({"name": "小熊电炖锅", "points_cost": 600, "stock": 5}))
        .send()
        .await
        .uuid("id");
    app.post(&format!("/v1/customers/{c}/reward-redemptions"))
        .token(&app.admin_token())
        .json(&json!({"reward_id": reward, "quantity": 1}))
        .send()
        .await
        .assert_problem(422, "insufficient_points");

    // Another customer, or another store, cannot use it.
    let stranger = app.customer().name("顾客").phone("13900000099").create().await;
    let theirs = json!({"external_id": "HOLD-X", "channel": "pos", "customer_id": stranger, "occurred_at": app.now(),
                        "lines": [line("A", "女装", "400.00", 1)], "reservation_id": reservation});
    post_order(&app, &theirs).await.assert_problem(422, "reservation_not_found");
    let elsewhere = app.create_store("SH-01").await;
    let other_store = json!({"external_id": "HOLD-S", "channel": "pos", "customer_id": c, "occurred_at": app.now(),
                             "store_id": elsewhere["id"], "lines": [line("A", "女装", "400.00", 1)], "reservation_id": reservation});
    post_order(&app, &other_store).await.assert_problem(422, "reservation_not_found");

    // The order with the reservation consumes it (coupons and points come from the hold).
    let order = json!({"external_id": "HOLD-1", "channel": "pos", "customer_id": c, "occurred_at": app.now(),
                       "lines": [line("A", "女装", "400.00", 1)], "reservation_id": reservation, "paid_amount": "250.00"});
    let res = post_order(&app, &order).await;
    res.assert_status(201);
    assert_eq!((res.body["points_redeemed"].as_i64(), res.body["coupon_codes"].clone()), (Some(1000), json!([code])));
    let r = app.get(&format!("/v1/checkout/reservations/{reservation}")).token(&app.token(TILL)).send().await;
    assert_eq!((r.str("status"), r.body["order_id"].clone()), ("consumed", res.body["id"].clone()));
    app.delete(&format!("/v1/checkout/reservations/{reservation}"))
        .token(&app.token(TILL))
        .send()
        .await
        .assert_problem(409, "reservation_consumed");
    let again = json!({"external_id": "HOLD-2", "channel": "pos", "customer_id": c, "occurred_at": app.now(),
                       "lines": [line("A", "女装", "400.00", 1)], "reservation_id": reservation});
    post_order(&app, &again).await.assert_problem(409, "reservation_not_active");

    // Released: the points are free again at once.
    let mut small = basket(c, json!([line("A", "女装", "200.00", 1)]), &[], 500);
    small["reserve"] = json!(true);
    let r2 = quote(&app, &small).await;
    r2.assert_status(200);
    let r2 = r2.uuid("reservation_id");
    assert_eq!(
        quote(&app, &basket(c, json!([line("B", "女装", "400.00", 1)]), &[], 0)).await.body["points_available"],
        available_points(&app, c) - 500
    );
    app.delete(&format!("/v1/checkout/reservations/{r2}")).token(&app.token(TILL)).send().await.assert_status(204);
    app.delete(&format!("/v1/checkout/reservations/{r2}")).token(&app.token(TILL)).send().await.assert_status(204);
    assert_eq!(
        quote(&app, &basket(c, json!([line("B", "女装", "400.00", 1)]), &[], 0)).await.body["points_available"],
        available_points(&app, c)
    );

    // Expired: after the TTL (600 s) the hold lets go by itself.
    let code2 = issue(&app, t, c).await;
    let mut third = basket(c, json!([line("A", "女装", "400.00", 1)]), &[&code2], 0);
    third["reserve"] = json!(true);
    let r3 = quote(&app, &third).await.uuid("reservation_id");
    app.state.clock.advance(Duration::seconds(601));
    let res = post_order(
        &app,
        &as_order(
            "AFTER-TTL",
            &basket(c, json!([line("A", "女装", "400.00", 1)]), &[&code2], 0),
            app.state.clock.now(),
        ),
    )
    .await;
    res.assert_status(201);
    let late = json!({"external_id": "LATE", "channel": "pos", "customer_id": c, "occurred_at": app.state.clock.now(),
                      "lines": [line("A", "女装", "400.00", 1)], "reservation_id": r3});
    post_order(&app, &late).await.assert_problem(409, "reservation_expired");
    app.state.clock.set(app.now());
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn a_full_refund_returns_coupons_within_validity_and_a_partial_one_does_not() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000009").create().await;
    let t = app
        .coupon_template()
        .name("无门槛20")
        .with(json!({"kind": "cash", "threshold": null, "discount": "20.00"}))
        .create()
        .await;
    let code = issue(&app, t, c).await;
    let order =
        post_order(&app, &as_order("R-1", &basket(c, json!([line("A", "女装", "60.00", 2)]), &[&code], 0), app.now()))
            .await;
    order.assert_status(201);
    assert_eq!(order.body["paid_amount"], "100.00");
    let id = order.uuid("id");
    let refund = |ext: &str, body: Value| {
        let mut body = body;
        body["external_id"] = json!(ext);
        app.post(&format!("/v1/orders/{id}/refunds")).token(&app.token(TILL)).json(&body).send()
    };
    refund("RF-1", json!({"lines": [{"line_no": 1, "quantity": 1}]})).await.assert_status(201);
    assert_eq!(coupon_status(&app, &code).await, "redeemed", "a partial refund keeps the coupon used");
    refund("RF-2", json!({})).await.assert_status(201);
    assert_eq!(coupon_status(&app, &code).await, "available", "the full refund gives it back");

    // Used again, then refunded in full after it expired: it stays used.
    let again =
        post_order(&app, &as_order("R-2", &basket(c, json!([line("A", "女装", "60.00", 1)]), &[&code], 0), app.now()))
            .await;
    again.assert_status(201);
    let id2 = again.uuid("id");
    app.state.clock.advance(Duration::days(40));
    app.post(&format!("/v1/orders/{id2}/refunds"))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "RF-3"}))
        .send()
        .await
        .assert_status(201);
    assert_eq!(coupon_status(&app, &code).await, "redeemed");
    app.state.clock.set(app.now());
}

#[actix_web::test]
async fn a_standalone_redemption_can_be_rolled_back_once() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000010").create().await;
    let code = issue(&app, app.coupon_template().name("满300减50").create().await, c).await;
    let path = format!("/v1/coupons/{code}/redeem");
    let below = app
        .post(&path)
        .token(&app.token(TILL))
        .json(&json!({"customer_id": c, "order_reference": "P-1", "amount": "299.99"}))
        .send()
        .await;
    below.assert_problem(422, "coupon_not_applicable");
    assert_eq!(below.body["reason"], "below_threshold");
    app.post(&path)
        .token(&app.token(TILL))
        .json(&json!({"customer_id": c, "order_reference": "P-1", "amount": "300.00"}))
        .send()
        .await
        .assert_status(201);
    let rollback = format!("/v1/coupons/{}/rollback", code.to_lowercase());
    let res = app.post(&rollback).token(&app.token(TILL)).json(&json!({"reason": "sale cancelled"})).send().await;
    res.assert_status(200);
    assert_eq!(res.str("status"), "available");
    app.post(&rollback)
        .token(&app.token(TILL))
        .json(&json!({}))
        .send()
        .await
        .assert_problem(409, "coupon_not_redeemed");
    // Used by an order: only a refund gives it back.
    post_order(&app, &as_order("P-2", &basket(c, json!([line("A", "女装", "300.00", 1)]), &[&code], 0), app.now()))
        .await
        .assert_status(201);
    app.post(&rollback)
        .token(&app.token(TILL))
        .json(&json!({}))
        .send()
        .await
        .assert_problem(409, "coupon_redeemed_by_order");
    // Scope: a till without coupons:redeem may not redeem.
    let res = app
        .post(&path)
        .token(&app.token(&["orders:write"]))
        .json(&json!({"customer_id": c, "order_reference": "P-3", "amount": "300.00"}))
        .send()
        .await;
    res.assert_status(403);
}

/// Quote == order, to the cent, over generated baskets (fixed seed; explore with CHECKOUT_SEED).
#[actix_web::test]
async fn quote_and_order_agree_to_the_cent_for_generated_baskets() {
    let seed: u64 = std::env::var("CHECKOUT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261123);
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::new().await;
    let tiers = ["normal", "silver", "gold"];
    let members: Vec<Uuid> = {
        let mut v = Vec::new();
        for (i, tier) in tiers.iter().enumerate() {
            v.push(
                app.member().name("顾客").phone(&format!("1370000000{i}")).tier(tier).points(1_000_000).create().await,
            );
        }
        v.push(app.customer().name("顾客").phone("13700000009").create().await);
        v
    };
    let templates = [
        app.coupon_template().name("满300减50").with(json!({"stackable": true})).create().await,
        app.coupon_template().name("满100减15 女装").with(json!({"threshold": "100.00", "discount": "15.00", "categories": ["女装"], "stackable": true})).create().await,
        app.coupon_template().name("9折最高40").with(json!({"kind": "percent_off", "threshold": null, "discount": null, "discount_rate": "0.90", "max_discount": "40.00", "stackable": true})).create().await,
        app.coupon_template().name("8.5折").with(json!({"kind": "percent_off", "threshold": null, "discount": null, "discount_rate": "0.85"})).create().await,
        app.coupon_template().name("无门槛20").with(json!({"kind": "cash", "threshold": null, "discount": "20.00", "stackable": true})).create().await,
        app.coupon_template().name("赠袜子").with(json!({"kind": "gift", "threshold": null, "discount": null, "gift_sku": "SOCKS", "stackable": true})).create().await,
    ];
    let categories = ["女装", "男装", "袜子"];
    let mut compared = 0;
    for n in 0..40 {
        let c = members[rng.gen_range(0..members.len())];
        let lines: Vec<Value> = (0..rng.gen_range(1..5))
            .map(|_| {
                let category = categories[rng.gen_range(0..categories.len())];
                let sku =
                    if category == "袜子" { "SOCKS".to_string() } else { format!("SKU-{}", rng.gen_range(1..9)) };
                let cents: i64 = rng.gen_range(1..40_000);
                line(&sku, category, &format!("{}.{:02}", cents / 100, cents % 100), rng.gen_range(1..4))
            })
            .collect();
        let mut codes = Vec::new();
        for _ in 0..rng.gen_range(0..4) {
            codes.push(issue(&app, templates[rng.gen_range(0..templates.len())], c).await);
        }
        let code_refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let is_member = c != members[3];
        let points = if is_member { 100 * rng.gen_range(0..20) } else { 0 };
        let body = basket(c, Value::Array(lines), &code_refs, points);
        let q = quote(&app, &body).await;
        let order = post_order(&app, &as_order(&format!("GEN-{seed}-{n}"), &body, app.now())).await;
        if q.status != 200 {
            assert_eq!((order.status, order.code()), (q.status, q.code()), "quote {} vs order {}", q.text, order.text);
            continue;
        }
        let all_applied = q.body["coupons"].as_array().is_none_or(|cs| cs.iter().all(|c| c["applied"] == true));
        if !all_applied {
            order.assert_problem(422, "coupon_not_applicable");
            continue;
        }
        order.assert_status(201);
        compared += 1;
        let o = &order.body;
        for (quoted, ordered) in [
            ("total_amount", "total_amount"),
            ("tier_discount", "tier_discount"),
            ("coupon_discount", "coupon_discount"),
            ("points_offset", "points_offset"),
            ("payable", "paid_amount"),
            ("points_to_earn", "points_earned"),
            ("points_to_redeem", "points_redeemed"),
        ] {
            assert_eq!(q.body[quoted], o[ordered], "{quoted} for {body}: quote {} order {}", q.text, order.text);
        }
        for (ql, ol) in
            q.body["lines"].as_array().into_iter().flatten().zip(o["lines"].as_array().into_iter().flatten())
        {
            assert_eq!(
                (&ql["discounted_amount"], &ql["coupon_discount"]),
                (&ol["discounted_amount"], &ol["coupon_discount"])
            );
        }
    }
    assert!(compared >= 20, "only {compared} baskets compared");
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn an_externally_priced_order_still_checks_and_redeems_its_coupons() {
    let app = TestApp::new().await;
    let c = app.member().name("顾客").phone("13900000011").tier("silver").points(0).create().await;
    let code =
        issue(&app, app.coupon_template().name("满300减50").with(json!({"channels": ["tmall"]})).create().await, c)
            .await;
    let order = |ext: &str, channel: &str, price: &str| {
        json!({"external_id": ext, "channel": channel, "customer_id": c, "occurred_at": app.now(), "pricing": "external",
               "lines": [line("A", "女装", price, 1)], "coupon_codes": [code], "paid_amount": "230.00"})
    };
    // The coupon is for Tmall only, and its threshold is checked on the list amounts.
    let res = post_order(&app, &order("TM-0", "pos", "320.00")).await;
    assert_eq!((res.status, res.body["reason"].as_str()), (422, Some("wrong_channel")));
    let res = post_order(&app, &order("TM-1", "tmall", "299.99")).await;
    assert_eq!((res.status, res.body["reason"].as_str()), (422, Some("below_threshold")));
    let res = post_order(&app, &order("TM-2", "tmall", "320.00")).await;
    res.assert_status(201);
    // The channel's price stands; the coupon is recorded and used; no tier discount is applied on top.
    assert_eq!(
        (res.body["paid_amount"].as_str(), res.body["coupon_discount"].as_str(), res.body["tier_discount"].as_str()),
        (Some("230.00"), Some("50.00"), Some("0.00"))
    );
    assert_eq!(coupon_status(&app, &code).await, "redeemed");
}

#[actix_web::test]
async fn nul_characters_in_redemption_text_are_a_400_not_a_500() {
    let app = TestApp::new().await;
    let c = app.customer().name("顾客").phone("13900000012").create().await;
    let code = issue(&app, app.coupon_template().name("满300减50").create().await, c).await;
    let res = app
        .post(&format!("/v1/coupons/{code}/redeem"))
        .token(&app.token(TILL))
        .json(&json!({"customer_id": c, "order_reference": "P-\u{0}", "amount": "300.00"}))
        .send()
        .await;
    res.assert_problem(400, "invalid_text");
    app.post(&format!("/v1/coupons/{code}/redeem"))
        .token(&app.token(TILL))
        .json(&json!({"customer_id": c, "order_reference": "P-1", "amount": "300.00"}))
        .send()
        .await
        .assert_status(201);
    // The reason goes into the event's JSON, where PostgreSQL cannot store U+0000 either.
    let res = app
        .post(&format!("/v1/coupons/{code}/rollback"))
        .token(&app.token(TILL))
        .json(&json!({"reason": "oops\u{0}"}))
        .send()
        .await;
    res.assert_problem(400, "invalid_text");
}

#[actix_web::test]
async fn a_store_a_till_holding_a_store_b_members_points_is_released_by_a_or_customer_service_not_by_b() {
    let app = TestApp::new().await;
    let (a, b) = (Some(app.store_id("A-01").await), Some(app.store_id("B-01").await));
    // Store B's member shops at store A, whose till holds 1,000 of her points.
    let c = app.member().name("顾客").phone("13900000020").tier("normal").points(1500).create().await;
    let (till_a, till_b) = (app.store_token(TILL, a), app.store_token(TILL, b));
    let mut body = basket(c, json!([line("A", "女装", "400.00", 1)]), &[], 1000);
    body["reserve"] = json!(true);
    let res = app.post("/v1/checkout/quote").token(&till_a).json(&body).send().await;
    res.assert_status(200);
    let held = res.uuid("reservation_id");
    let path = format!("/v1/checkout/reservations/{held}");
    assert_eq!(app.get(&path).token(&till_a).send().await.body["store_id"], json!(a));

    // Store B neither sees nor releases store A's hold: 404 exactly like a missing one.
    app.get(&path).token(&till_b).send().await.assert_problem(404, "reservation_not_found");
    app.delete(&path).token(&till_b).send().await.assert_problem(404, "reservation_not_found");
    let missing = format!("/v1/checkout/reservations/{}", Uuid::now_v7());
    app.delete(&missing).token(&till_b).send().await.assert_problem(404, "reservation_not_found");
    assert_eq!(available_points(&app, c), 1500, "the lot is untouched");
    let quoted = app
        .post("/v1/checkout/quote")
        .token(&till_b)
        .json(&basket(c, json!([line("A", "女装", "100.00", 1)]), &[], 0))
        .send()
        .await;
    assert_eq!(quoted.body["points_available"], 500, "still held");

    // A till quotes, reserves and sells for its own store only.
    let mut elsewhere = body.clone();
    elsewhere["store_id"] = json!(b);
    app.post("/v1/checkout/quote")
        .token(&till_a)
        .json(&elsewhere)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");

    // Customer service (chain-wide) releases it.
    app.delete(&path).token(&app.token(TILL)).send().await.assert_status(204);
    let quoted = app
        .post("/v1/checkout/quote")
        .token(&till_b)
        .json(&basket(c, json!([line("A", "女装", "100.00", 1)]), &[], 0))
        .send()
        .await;
    assert_eq!(quoted.body["points_available"], 1500);

    // The holding store releases its own.
    let res = app.post("/v1/checkout/quote").token(&till_a).json(&body).send().await;
    let again = format!("/v1/checkout/reservations/{}", res.uuid("reservation_id"));
    app.delete(&again).token(&till_a).send().await.assert_status(204);
    assert_eq!(app.get(&again).token(&till_a).send().await.body["status"], "released");
}
