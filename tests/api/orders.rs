//! Orders, points and refunds through `POST /v1/orders` (SPEC §6, §7): exactly once at the till.

use chrono::Utc;
use diesel::prelude::*;
use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::loyalty::ledger::{self, Posting};
use retail_crm::loyalty::rules;
use retail_crm::memberships::store as memberships;

use crate::support::{TestApp, TestResponse};

mod access;
mod bulk;
mod channel_refunds;

pub(crate) const TILL: &[&str] = &["orders:write", "orders:read", "customers:read"];

/// Gives a member points directly through the ledger (as an adjustment would).
pub(crate) fn grant(app: &TestApp, customer: Uuid, points: i64) {
    let mut conn = app.conn();
    conn.transaction(|conn| {
        let mut account = ledger::lock_account(conn, customer)?;
        let now = app.now();
        ledger::credit(
            conn,
            &mut account,
            points,
            &Posting::new(retail_crm::loyalty::rules::EntryKind::Adjust, "test", now).reason("test grant"),
            now,
            now + chrono::Duration::days(365),
        )
    })
    .unwrap_or_else(|e: retail_crm::error::ApiError| panic!("grant: {e}"));
}

pub(crate) fn sale(app: &TestApp, external_id: &str, customer: Option<Uuid>, lines: Value) -> Value {
    json!({"external_id": external_id, "channel": "pos", "customer_id": customer, "occurred_at": app.now(), "lines": lines})
}

pub(crate) fn line(sku: &str, price: &str, quantity: i32) -> Value {
    json!({"sku": sku, "name": sku, "category": "女装", "quantity": quantity, "unit_price": price})
}

pub(crate) async fn post(app: &TestApp, body: &Value) -> TestResponse {
    app.post("/v1/orders").token(&app.token(TILL)).json(body).send().await
}

/// The ledger audit (`GET /v1/loyalty/audit`) must find nothing wrong.
pub(crate) async fn assert_audit_clean(app: &TestApp) {
    let res = app.get("/v1/loyalty/audit").token(&app.admin_token()).send().await;
    res.assert_status(200);
    assert_eq!(res.body["violations"], json!([]), "{}", res.text);
}

async fn points(app: &TestApp, customer: Uuid) -> rules::Summary {
    let mut conn = app.conn();
    ledger::summary(&mut conn, customer, app.now(), 30).unwrap_or_else(|e| panic!("summary: {e}"))
}

fn entries(app: &TestApp, customer: Uuid) -> Vec<(String, i64, i64)> {
    use retail_crm::schema::points_entries as pe;
    let mut conn = app.conn();
    pe::table
        .filter(pe::customer_id.eq(customer))
        .order(pe::id)
        .select((pe::kind, pe::delta, pe::balance_after))
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("entries: {e}"))
}

#[actix_web::test]
async fn a_member_earns_floor_of_paid_and_guests_earn_nothing() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let res = post(&app, &sale(&app, "S-1", Some(c), json!([line("A", "199.50", 1), line("B", "100.25", 2)]))).await;
    res.assert_status(201);
    assert_eq!(res.body["total_amount"], "400.00");
    assert_eq!(res.body["paid_amount"], "400.00");
    assert_eq!(res.body["points_earned"], 400);
    assert_eq!(res.body["points_balance"], 400);
    assert_eq!(res.body["tier"], "normal");
    assert_eq!(res.body["lines"][1]["amount"], "200.50");

    let odd = post(&app, &sale(&app, "S-2", Some(c), json!([line("A", "99.99", 1)]))).await;
    assert_eq!(odd.body["points_earned"], 99, "floor(99.99 × 1 × 1)");
    assert_eq!(points(&app, c).await.available, 499);

    let guest = post(&app, &sale(&app, "S-3", None, json!([line("A", "50.00", 1)]))).await;
    guest.assert_status(201);
    assert_eq!((guest.body["points_earned"].clone(), guest.body["points_balance"].clone()), (json!(0), Value::Null));

    let by_phone = app
        .post("/v1/orders")
        .token(&app.token(TILL))
        .json(&json!({"external_id": "S-4", "channel": "pos", "customer_identity": {"kind": "phone", "value": "13800000001"},
                      "occurred_at": app.now(), "lines": [line("A", "10.00", 1)]}))
        .send()
        .await;
    by_phone.assert_status(201);
    assert_eq!(by_phone.body["customer_id"], json!(c.to_string()));

    let events =
        app.get("/v1/events?types=order.created,points.earned").token(&app.token(&["events:read"])).send().await;
    assert_eq!(events.items().len(), 7, "4 orders, 3 earnings (the guest earned nothing)");
}

#[actix_web::test]
async fn spend_crossing_5000_upgrades_at_once_and_the_next_order_gets_95_percent() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let first = post(&app, &sale(&app, "U-1", Some(c), json!([line("A", "4999.99", 1)]))).await;
    assert_eq!((first.body["tier"].clone(), first.body["tier_changed"].clone()), (json!("normal"), json!(false)));
    let second = post(&app, &sale(&app, "U-2", Some(c), json!([line("B", "0.01", 1)]))).await;
    assert_eq!((second.body["tier"].clone(), second.body["tier_changed"].clone()), (json!("silver"), json!(true)));
    let third = post(&app, &sale(&app, "U-3", Some(c), json!([line("C", "100.00", 1)]))).await;
    assert_eq!(third.body["tier_discount"], "5.00");
    assert_eq!(third.body["paid_amount"], "95.00");
    assert_eq!(third.body["points_earned"], 95);
    let history = memberships::history(&mut app.conn(), c).unwrap_or_default();
    assert_eq!(history[0].reason.as_str(), "upgrade");
    assert_eq!((history[0].from_tier.as_deref(), history[0].to_tier.as_str()), (Some("normal"), "silver"));
    let feed = app.get("/v1/events?types=membership.tier_changed").token(&app.token(&["events:read"])).send().await;
    assert_eq!(feed.items().len(), 1);
}

#[actix_web::test]
async fn points_redeem_in_units_of_100_up_to_half_the_order() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    grant(&app, c, 2000);
    let mut order = sale(&app, "R-1", Some(c), json!([line("A", "300.00", 1)]));

    order["points_to_redeem"] = json!(1600);
    post(&app, &order).await.assert_problem(422, "points_over_limit");
    order["points_to_redeem"] = json!(150);
    post(&app, &order).await.assert_problem(422, "validation_failed");
    order["points_to_redeem"] = json!(1500);
    order["paid_amount"] = json!("160.00");
    let wrong = post(&app, &order).await;
    wrong.assert_problem(422, "amount_mismatch");
    assert_eq!(wrong.body["payable"], "150.00");

    order["paid_amount"] = json!("150.00");
    let res = post(&app, &order).await;
    res.assert_status(201);
    assert_eq!(
        (res.body["points_offset"].clone(), res.body["points_redeemed"].clone()),
        (json!("150.00"), json!(1500))
    );
    assert_eq!(res.body["points_earned"], 150, "the offset is not paid amount");
    assert_eq!(res.body["points_balance"], 2000 - 1500 + 150);

    let mut again = sale(&app, "R-2", Some(c), json!([line("A", "3000.00", 1)]));
    again["points_to_redeem"] = json!(1000);
    let res = post(&app, &again).await;
    res.assert_problem(422, "insufficient_points");
    assert_eq!(res.body["available"], 650);

    let stranger = app.customer().name("会员").phone("13800000002").create().await;
    let mut not_member = sale(&app, "R-3", Some(stranger), json!([line("A", "300.00", 1)]));
    not_member["points_to_redeem"] = json!(100);
    post(&app, &not_member).await.assert_problem(422, "not_a_member");
    not_member["points_to_redeem"] = json!(0);
    let plain = post(&app, &not_member).await;
    assert_eq!((plain.body["points_earned"].clone(), plain.body["points_balance"].clone()), (json!(0), Value::Null));
}

#[actix_web::test]
async fn the_same_sale_posted_20_times_at_once_is_one_order() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let body = sale(&app, "DUP-1", Some(c), json!([line("A", "120.00", 1)]));
    let token = app.token(TILL);
    let results = join_all((0..20).map(|_| app.post("/v1/orders").token(&token).json(&body).send())).await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    assert!(
        results.iter().all(|r| r.status == 201 || r.status == 200),
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<String> = results.iter().map(|r| r.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert!(results.iter().all(|r| r.body["points_earned"] == 120 && r.body["points_balance"] == 120));
    assert_eq!(entries(&app, c), vec![("earn".to_string(), 120, 120)]);
    // A later retry of the same sale is answered with it; another sale under the same number is refused.
    let retry = post(&app, &body).await;
    retry.assert_status(200);
    assert_eq!(retry.body["id"], results[0].body["id"]);
    let mut changed = body.clone();
    changed["lines"] = json!([line("A", "999.00", 1)]);
    let conflict = post(&app, &changed).await;
    conflict.assert_problem(409, "order_conflict");
    assert_eq!(conflict.body["order_id"], results[0].body["id"]);
    assert_eq!(points(&app, c).await.balance, 120);
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn twenty_tills_spending_a_balance_that_covers_five() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    grant(&app, c, 500);
    let token = app.token(TILL);
    let orders: Vec<Value> = (0..20)
        .map(|i| {
            let mut o = sale(&app, &format!("C-{i}"), Some(c), json!([line("A", "200.00", 1)]));
            // Priced by the channel at 0 paid, so no till earns points the others could spend.
            o["pricing"] = json!("external");
            o["paid_amount"] = json!("0.00");
            o["points_to_redeem"] = json!(100);
            o
        })
        .collect();
    let results = join_all(orders.iter().map(|o| app.post("/v1/orders").token(&token).json(o).send())).await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 5);
    assert!(results.iter().filter(|r| r.status != 201).all(|r| r.status == 422 && r.code() == "insufficient_points"));
    let s = points(&app, c).await;
    assert_eq!((s.available, s.balance, s.debt), (0, 0, 0));
    assert_eq!(entries(&app, c).iter().filter(|e| e.0 == "redeem").count(), 5);
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn refunds_claw_back_by_the_same_rule_and_never_exceed_what_was_paid() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let order = post(&app, &sale(&app, "F-1", Some(c), json!([line("A", "100.00", 1), line("B", "200.00", 1)]))).await;
    let path = format!("/v1/orders/{}/refunds", order.str("id"));
    let token = app.token(TILL);

    let first = app
        .post(&path)
        .token(&token)
        .json(&json!({"external_id": "RF-1", "lines": [{"line_no": 1, "quantity": 1}]}))
        .send()
        .await;
    first.assert_status(201);
    assert_eq!((first.body["amount"].clone(), first.body["points_clawed_back"].clone()), (json!("100.00"), json!(100)));
    assert_eq!(first.body["points_balance"], 200);
    let replay = app
        .post(&path)
        .token(&token)
        .json(&json!({"external_id": "RF-1", "lines": [{"line_no": 1, "quantity": 1}]}))
        .send()
        .await;
    replay.assert_status(200);
    assert_eq!(replay.body["id"], first.body["id"]);

    app.post(&path)
        .token(&token)
        .json(&json!({"external_id": "RF-2", "lines": [{"line_no": 1, "quantity": 1}]}))
        .send()
        .await
        .assert_problem(422, "refund_exceeds_quantity");
    app.post(&path)
        .token(&token)
        .json(&json!({"external_id": "RF-3", "amount": "200.01"}))
        .send()
        .await
        .assert_problem(422, "refund_exceeds_paid");
    let partial = app.post(&path).token(&token).json(&json!({"external_id": "RF-4", "amount": "50.50"})).send().await;
    assert_eq!(partial.body["points_clawed_back"], 51, "net 149.50 keeps 149 of 300");
    let rest = app.post(&path).token(&token).json(&json!({"external_id": "RF-5"})).send().await;
    assert_eq!((rest.body["amount"].clone(), rest.body["points_clawed_back"].clone()), (json!("149.50"), json!(149)));
    assert_eq!(points(&app, c).await.balance, 0);
    app.post(&path)
        .token(&token)
        .json(&json!({"external_id": "RF-6"}))
        .send()
        .await
        .assert_problem(422, "refund_exceeds_paid");
    let stored = app.get(&format!("/v1/orders/{}", order.str("id"))).token(&token).send().await;
    assert_eq!(stored.body["refunded_amount"], "300.00");
}

#[actix_web::test]
async fn clawing_back_spent_points_leaves_a_debt_that_later_earnings_pay_first() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let order = post(&app, &sale(&app, "D-1", Some(c), json!([line("A", "300.00", 1)]))).await;
    // Spend 250 of the 300 elsewhere (a gift), then refund the whole order.
    let mut conn = app.conn();
    conn.transaction(|conn| {
        let mut account = ledger::lock_account(conn, c)?;
        ledger::spend(
            conn,
            &mut account,
            250,
            &Posting::new(retail_crm::loyalty::rules::EntryKind::Reward, "test", app.now()),
            app.now(),
        )
    })
    .unwrap_or_else(|e: retail_crm::error::ApiError| panic!("{e}"));
    let refund = app
        .post(&format!("/v1/orders/{}/refunds", order.str("id")))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "R"}))
        .send()
        .await;
    assert_eq!(
        (refund.body["points_clawed_back"].clone(), refund.body["points_balance"].clone()),
        (json!(300), json!(-250))
    );
    let s = points(&app, c).await;
    assert_eq!((s.balance, s.debt, s.available), (-250, 250, -250));
    let next = post(&app, &sale(&app, "D-2", Some(c), json!([line("A", "400.00", 1)]))).await;
    assert_eq!(next.body["points_balance"], 150);
    let s = points(&app, c).await;
    assert_eq!((s.balance, s.debt, s.available), (150, 0, 150));
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn refunds_return_used_points_and_never_downgrade() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let big = post(&app, &sale(&app, "G-1", Some(c), json!([line("A", "5000.00", 1)]))).await;
    assert_eq!(big.body["tier"], "silver");
    let mut with_points = sale(&app, "G-2", Some(c), json!([line("B", "300.00", 1)]));
    with_points["points_to_redeem"] = json!(1000);
    let paid = post(&app, &with_points).await;
    // Silver: 300 → 285.00; 1000 points = ¥100 → 185.00 paid, 185 earned.
    assert_eq!((paid.body["paid_amount"].clone(), paid.body["points_earned"].clone()), (json!("185.00"), json!(185)));
    let balance_before = points(&app, c).await.balance;
    let refund = app
        .post(&format!("/v1/orders/{}/refunds", paid.str("id")))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "R"}))
        .send()
        .await;
    assert_eq!(
        (refund.body["points_clawed_back"].clone(), refund.body["points_returned"].clone()),
        (json!(185), json!(1000))
    );
    assert_eq!(points(&app, c).await.balance, balance_before - 185 + 1000);
    app.post(&format!("/v1/orders/{}/refunds", big.str("id")))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "R"}))
        .send()
        .await
        .assert_status(201);
    let m = memberships::find(&mut app.conn(), c).unwrap_or_default();
    assert_eq!(m.map(|m| m.tier_code), Some("silver".to_string()), "refunds never downgrade on the spot");
}

#[actix_web::test]
async fn a_refund_racing_a_redemption_never_overspends() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let order = post(&app, &sale(&app, "X-1", Some(c), json!([line("A", "600.00", 1)]))).await;
    let token = app.token(TILL);
    let mut spend = sale(&app, "X-2", Some(c), json!([line("B", "600.00", 1)]));
    spend["pricing"] = json!("external");
    spend["paid_amount"] = json!("0.00");
    spend["points_to_redeem"] = json!(300);
    let refund_path = format!("/v1/orders/{}/refunds", order.str("id"));
    let refund_body = json!({"external_id": "X-R"});
    let (refund, redemption) = futures::join!(
        app.post(&refund_path).token(&token).json(&refund_body).send(),
        app.post("/v1/orders").token(&token).json(&spend).send()
    );
    refund.assert_status(201);
    let s = points(&app, c).await;
    match redemption.status {
        // The redemption went first: the refund's clawback became debt.
        201 => assert_eq!((s.balance, s.debt, s.available), (-300, 300, -300)),
        // The refund went first: nothing was left to spend.
        _ => {
            redemption.assert_problem(422, "insufficient_points");
            assert_eq!((s.balance, s.debt, s.available), (0, 0, 0));
        }
    }
    let ledger_sum: i64 = entries(&app, c).iter().map(|e| e.1).sum();
    assert_eq!(ledger_sum, s.balance);
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn pending_points_are_not_spendable_and_a_refund_in_the_window_leaves_no_debt() {
    let app = TestApp::new().await;
    diesel::sql_query("UPDATE loyalty_program SET points_pending_days = 7, catalogue_version = catalogue_version + 1")
        .execute(&mut app.conn())
        .unwrap_or_default();
    let c = app.member().name("会员").phone("13800000001").create().await;
    let order = post(&app, &sale(&app, "P-1", Some(c), json!([line("A", "300.00", 1)]))).await;
    assert_eq!(order.body["points_earned"], 300);
    let s = points(&app, c).await;
    assert_eq!((s.pending, s.available, s.balance), (300, 0, 300));
    let mut spend = sale(&app, "P-2", Some(c), json!([line("B", "300.00", 1)]));
    spend["points_to_redeem"] = json!(100);
    post(&app, &spend).await.assert_problem(422, "insufficient_points");
    app.post(&format!("/v1/orders/{}/refunds", order.str("id")))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "R"}))
        .send()
        .await
        .assert_status(201);
    let s = points(&app, c).await;
    assert_eq!((s.pending, s.debt, s.balance), (0, 0, 0));
}

#[actix_web::test]
async fn orders_validate_their_input_and_respect_store_binding() {
    let app = TestApp::new().await;
    let store_a = app.create_store("A-01").await;
    let store_b = app.create_store("B-01").await;
    let a: Uuid = store_a["id"].as_str().unwrap_or_default().parse().unwrap_or_default();
    let bound = app.store_token(&["orders:write"], Some(a));
    let mut body = sale(&app, "V-1", None, json!([line("A", "10.00", 1)]));
    body["store_id"] = store_b["id"].clone();
    app.post("/v1/orders").token(&bound).json(&body).send().await.assert_problem(403, "store_bound_principal");
    body.as_object_mut().map(|o| o.remove("store_id"));
    let own = app.post("/v1/orders").token(&bound).json(&body).send().await;
    own.assert_status(201);
    assert_eq!(own.body["store_id"], store_a["id"]);
    // Another store's till cannot read it.
    let b: Uuid = store_b["id"].as_str().unwrap_or_default().parse().unwrap_or_default();
    app.get(&format!("/v1/orders/{}", own.str("id")))
        .token(&app.store_token(&["orders:read"], Some(b)))
        .send()
        .await
        .assert_problem(404, "order_not_found");

    let bad = post(
        &app,
        &json!({"external_id": " ", "channel": "fax", "occurred_at": app.now() + chrono::Duration::days(2),
                "lines": [{"sku": "A", "quantity": 0, "unit_price": "1.00"}], "total_amount": "5.00", "pricing": "magic",
                "coupon_codes": ["A", "B", "C", "D", "E", "F"]}),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["channel", "coupon_codes", "external_id", "lines[0].quantity", "occurred_at", "pricing", "total_amount"]
    );
    post(&app, &json!({"external_id": "V-2", "channel": "pos", "occurred_at": app.now(), "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.001"}]}))
        .await
        .assert_problem(400, "invalid_body");
    let mut unknown = sale(&app, "V-3", Some(Uuid::now_v7()), json!([line("A", "1.00", 1)]));
    post(&app, &unknown).await.assert_problem(422, "customer_not_found");
    unknown["customer_id"] = Value::Null;
    unknown["pricing"] = json!("external");
    post(&app, &unknown).await.assert_problem(422, "validation_failed");
    app.post("/v1/orders")
        .token(&app.token(&["customers:read"]))
        .json(&unknown)
        .send()
        .await
        .assert_problem(403, "forbidden");
}

pub(crate) fn at(rfc3339: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|e| panic!("{e}"))
}

fn sale_at(external_id: &str, customer: Uuid, amount: &str, when: chrono::DateTime<Utc>) -> Value {
    json!({"external_id": external_id, "channel": "pos", "customer_id": customer, "occurred_at": when,
           "lines": [line("A", amount, 1)]})
}

pub(crate) async fn run_job(app: &TestApp, job: &str) -> TestResponse {
    app.post(&format!("/v1/jobs/{job}/run")).token(&app.admin_token()).send().await
}

#[actix_web::test]
async fn points_expire_at_the_start_of_the_day_after_365_days_in_shanghai() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    // Earned 2026-01-10 23:30 in Shanghai: valid through 2027-01-10 there.
    let earned = at("2026-01-10T23:30:00+08:00");
    app.state.clock.set(earned);
    post(&app, &sale_at("E-1", c, "100.00", earned)).await.assert_status(201);

    let last_moment = at("2027-01-10T23:59:59+08:00");
    app.state.clock.set(last_moment);
    let s = ledger::summary(&mut app.conn(), c, last_moment, 30).unwrap_or_default();
    assert_eq!((s.available, s.expiring.len()), (100, 1), "still spendable, and listed as expiring soon");
    let report = run_job(&app, "points_expiry").await;
    report.assert_status(200);
    assert_eq!(report.body["points"], 0);
    run_job(&app, "points_expiry").await.assert_problem(409, "job_already_ran");

    let next_day = at("2027-01-11T00:00:00+08:00");
    app.state.clock.set(next_day);
    let report = run_job(&app, "points_expiry").await;
    assert_eq!((report.body["members"].clone(), report.body["points"].clone()), (json!(1), json!(100)));
    assert_eq!(entries(&app, c).last().cloned(), Some(("expire".to_string(), -100, 0)));
    let s = ledger::summary(&mut app.conn(), c, next_day, 30).unwrap_or_default();
    assert_eq!((s.balance, s.available), (0, 0));
    let feed = app.get("/v1/events?types=points.expired").token(&app.token(&["events:read"])).send().await;
    assert_eq!(feed.items()[0]["data"]["points"], 100);
}

#[actix_web::test]
async fn redemption_consumes_the_soonest_expiring_lot_first() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let t0 = at("2026-03-01T12:00:00+08:00");
    app.state.clock.set(t0);
    post(&app, &sale_at("L-1", c, "300.00", t0)).await; // lot A: 300, expires 2027-03-02
    let t1 = at("2026-06-01T12:00:00+08:00");
    app.state.clock.set(t1);
    post(&app, &sale_at("L-2", c, "500.00", t1)).await; // lot B: 500, expires 2027-06-02
    let mut spend = sale_at("L-3", c, "1000.00", t1);
    spend["points_to_redeem"] = json!(400);
    spend["pricing"] = json!("external");
    spend["paid_amount"] = json!("0.00");
    post(&app, &spend).await.assert_status(201);
    // 300 from A (sooner), 100 from B; when A's date passes nothing is left of it to expire.
    app.state.clock.set(at("2027-03-02T00:00:00+08:00"));
    let report = run_job(&app, "points_expiry").await;
    assert_eq!(report.body["points"], 0);
    app.state.clock.set(at("2027-06-02T00:00:00+08:00"));
    let report = run_job(&app, "points_expiry").await;
    assert_eq!(report.body["points"], 400);
}

#[actix_web::test]
async fn the_tier_review_moves_down_at_validity_end_and_renews_a_tier_still_earned() {
    let app = TestApp::new().await;
    let down = app.member().name("会员").phone("13800000001").create().await;
    let kept = app.member().name("会员").phone("13800000002").create().await;
    let t0 = at("2026-01-10T10:00:00+08:00");
    app.state.clock.set(t0);
    for (c, id) in [(down, "T-1"), (kept, "T-2")] {
        let res = post(&app, &sale_at(id, c, "5000.00", t0)).await;
        assert_eq!(res.body["tier"], "silver");
    }
    // 200 days later the second member spends again: 5300 at 9.5折 is 5035 paid, over the 5000 line.
    let t1 = t0 + chrono::Duration::days(200);
    app.state.clock.set(t1);
    let again = post(&app, &sale_at("T-3", kept, "5300.00", t1)).await;
    assert_eq!(again.body["paid_amount"], "5035.00");

    app.state.clock.set(t0 + chrono::Duration::days(364));
    let early = run_job(&app, "tier_review").await;
    assert_eq!(early.body["members"], 0, "validity has not run out yet");

    let review_at = t0 + chrono::Duration::days(365) + chrono::Duration::hours(1);
    app.state.clock.set(review_at);
    let report = run_job(&app, "tier_review").await;
    assert_eq!((report.body["members"].clone(), report.body["points"].clone()), (json!(2), json!(1)));
    let mut conn = app.conn();
    let down_m = memberships::find(&mut conn, down).unwrap_or_default().unwrap_or_else(|| panic!("member"));
    assert_eq!((down_m.tier_code.as_str(), down_m.tier_valid_until), ("normal", None));
    let kept_m = memberships::find(&mut conn, kept).unwrap_or_default().unwrap_or_else(|| panic!("member"));
    assert_eq!(kept_m.tier_code, "silver");
    assert_eq!(kept_m.tier_valid_until, Some(review_at + chrono::Duration::days(365)), "validity renewed");
    let history = memberships::history(&mut conn, down).unwrap_or_default();
    assert_eq!((history[0].reason.as_str(), history[0].to_tier.as_str()), ("review", "normal"));
}

#[actix_web::test]
async fn merging_members_moves_orders_and_points_and_keeps_the_higher_tier() {
    let app = TestApp::new().await;
    let target = app.member().name("会员").phone("13800000001").create().await;
    let source = app.member().name("会员").phone("13800000002").create().await;
    post(&app, &sale(&app, "M-1", Some(target), json!([line("A", "300.00", 1)]))).await;
    let big = post(&app, &sale(&app, "M-2", Some(source), json!([line("B", "5000.00", 1)]))).await;
    assert_eq!(big.body["tier"], "silver");
    let source_card =
        memberships::find(&mut app.conn(), source).unwrap_or_default().map(|m| m.member_card).unwrap_or_default();

    let res = app
        .post(&format!("/v1/customers/{target}/merge"))
        .token(&app.token(&["customers:write", "customers:pii"]))
        .json(&json!({"source_customer_id": source}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!((res.body["moved"]["orders"].clone(), res.body["moved"]["points"].clone()), (json!(1), json!(5000)));
    let m = memberships::find(&mut app.conn(), target).unwrap_or_default().unwrap_or_else(|| panic!("member"));
    assert_eq!(m.tier_code, "silver", "the higher tier wins");
    assert!(memberships::find(&mut app.conn(), source).unwrap_or_default().is_none());
    assert_eq!(points(&app, target).await.balance, 5300);
    assert_eq!(points(&app, source).await.balance, 0);
    assert_eq!(entries(&app, source).last().map(|e| e.0.clone()), Some("merge_out".to_string()));
    assert_eq!(entries(&app, target).last().map(|e| (e.0.clone(), e.2)), Some(("merge_in".to_string(), 5300)));
    let order = app.get(&format!("/v1/orders/{}", big.str("id"))).token(&app.token(TILL)).send().await;
    assert_eq!(order.body["customer_id"], json!(target.to_string()));
    let found = app
        .get(&format!("/v1/customers/lookup?member_card={source_card}"))
        .token(&app.token(&["customers:read"]))
        .send()
        .await;
    assert_eq!(found.body["customer"]["id"], json!(target.to_string()));
    // Points still spend from the merged lots.
    let mut spend = sale(&app, "M-3", Some(target), json!([line("C", "2000.00", 1)]));
    spend["points_to_redeem"] = json!(900);
    post(&app, &spend).await.assert_status(201);
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn the_tills_lookup_shows_tier_points_and_what_expires_soon() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let t0 = at("2026-02-01T12:00:00+08:00");
    app.state.clock.set(t0);
    post(&app, &sale_at("K-1", c, "5200.00", t0)).await;
    let t1 = t0 + chrono::Duration::days(340);
    app.state.clock.set(t1);
    post(&app, &sale_at("K-2", c, "100.00", t1)).await;
    let res = app.get("/v1/customers/lookup?phone=13800000001").token(&app.token(&["customers:read"])).send().await;
    res.assert_status(200);
    let m = &res.body["membership"];
    assert_eq!(
        (m["tier_code"].clone(), m["tier_name"].clone(), m["discount_rate"].clone()),
        (json!("silver"), json!("银卡"), json!("0.95"))
    );
    assert_eq!(m["member_card"].as_str().map(str::len), Some(16));
    // 5200 earned 340 days ago expires within 30 days; 95 (100 at 9.5折) does not.
    assert_eq!(
        res.body["points"],
        json!({"available": 5295, "pending": 0, "debt": 0, "expiring_within_30_days": 5200})
    );
    let stranger = app.customer().name("会员").phone("13800000009").create().await;
    let res = app.get("/v1/customers/lookup?phone=13800000009").token(&app.token(&["customers:read"])).send().await;
    assert_eq!(res.body["customer"]["id"], json!(stranger.to_string()));
    assert_eq!(res.body["membership"], Value::Null);
}

#[actix_web::test]
async fn the_timeline_tells_the_members_story() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let order = post(&app, &sale(&app, "TL-1", Some(c), json!([line("A", "5000.00", 1)]))).await;
    app.post(&format!("/v1/orders/{}/refunds", order.str("id")))
        .token(&app.token(TILL))
        .json(&json!({"external_id": "R", "amount": "1000.00"}))
        .send()
        .await
        .assert_status(201);
    let items = app.collect_pages(&format!("/v1/customers/{c}/timeline"), &app.token(&["customers:read"]), 50).await;
    let summaries: Vec<&str> = items.iter().filter_map(|i| i["summary"].as_str()).collect();
    for expected in [
        "Refund of ¥1000.00: −1000 points taken back, +0 points returned",
        "Order on pos paid ¥5000.00: +5000 points, −0 points used",
        "Earned 5000 points",
        "Tier normal → silver (upgrade)",
        "Joined the membership as normal",
    ] {
        assert!(summaries.contains(&expected), "{expected} missing from {summaries:?}");
    }
}

#[actix_web::test]
async fn erasing_a_member_keeps_the_sales_but_forgets_the_card() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let card = memberships::find(&mut app.conn(), c).unwrap_or_default().map(|m| m.member_card).unwrap_or_default();
    let order = post(&app, &sale(&app, "ER-1", Some(c), json!([line("A", "300.00", 1)]))).await;
    app.delete(&format!("/v1/customers/{c}")).token(&app.token(&["customers:pii"])).send().await.assert_status(204);
    app.get(&format!("/v1/customers/lookup?member_card={card}"))
        .token(&app.token(&["customers:read"]))
        .send()
        .await
        .assert_problem(404, "customer_not_found");
    let kept = memberships::find(&mut app.conn(), c).unwrap_or_default().map(|m| m.member_card).unwrap_or_default();
    assert!(!kept.contains(&card) && kept.starts_with("erased:"));
    let stored = app.get(&format!("/v1/orders/{}", order.str("id"))).token(&app.token(TILL)).send().await;
    assert_eq!(stored.body["paid_amount"], "300.00", "sales reports still add up");
    assert_eq!(points(&app, c).await.balance, 300, "the ledger total is kept, anonymously");
}

#[actix_web::test]
async fn a_refund_retry_with_an_invalid_body_is_still_invalid() {
    let app = TestApp::new().await;
    let order = post(&app, &sale(&app, "IR-1", None, json!([line("A", "10.00", 1)]))).await;
    let path = format!("/v1/orders/{}/refunds", order.str("id"));
    app.post(&path).token(&app.token(TILL)).json(&json!({"external_id": "R"})).send().await.assert_status(201);
    let bad = app
        .post(&path)
        .token(&app.token(TILL))
        .json(&json!({"external_id": "R", "lines": [{"line_no": 1, "quantity": 0}]}))
        .send()
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), vec!["lines[0].quantity"]);
}

/// Found by a random-seed fuzz run: line totals past NUMERIC(14, 2) were a 500.
#[actix_web::test]
async fn amounts_too_large_to_store_are_422_not_500() {
    let app = TestApp::new().await;
    let huge = post(&app, &sale(&app, "BIG-1", None, json!([line("A", "98010243267.67", 4134)]))).await;
    huge.assert_problem(422, "validation_failed");
    assert_eq!(huge.error_fields(), vec!["lines[0].amount", "lines"]);
    let sum_too_big =
        post(&app, &sale(&app, "BIG-2", None, json!([line("A", "999999999999.99", 1), line("B", "1.00", 1)]))).await;
    sum_too_big.assert_problem(422, "validation_failed");
    assert_eq!(sum_too_big.error_fields(), vec!["lines"]);
    post(&app, &sale(&app, "BIG-3", None, json!([line("A", "999999999999.99", 1)]))).await.assert_status(201);
}

#[actix_web::test]
async fn customer_search_filters_by_tier() {
    let app = TestApp::new().await;
    let silver = app.member().name("会员").phone("13800000001").create().await;
    app.member().name("会员").phone("13800000002").create().await;
    app.customer().name("会员").phone("13800000003").create().await;
    post(&app, &sale(&app, "ST-1", Some(silver), json!([line("A", "5000.00", 1)]))).await;
    let token = app.token(&["customers:read"]);
    let found = app.get("/v1/customers?tier=silver").token(&token).send().await;
    let ids: Vec<Value> = found.items().iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids, vec![json!(silver.to_string())]);
    assert_eq!(app.get("/v1/customers?tier=normal").token(&token).send().await.items().len(), 1);
    assert_eq!(app.get("/v1/customers").token(&token).send().await.items().len(), 3);
}
