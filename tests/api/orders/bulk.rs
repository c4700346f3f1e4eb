//! Issue 12 (SPEC §7): `POST /v1/orders/bulk` and `POST /v1/refunds/bulk` — up to 500 rows, each
//! posted as if alone and answered with the single call's status and body or problem.

use super::*;

mod stream;

async fn bulk_orders(app: &TestApp, token: &str, rows: Vec<Value>) -> TestResponse {
    app.post("/v1/orders/bulk").token(token).json(&json!({"orders": rows})).send().await
}

async fn bulk_refunds(app: &TestApp, token: &str, rows: Vec<Value>) -> TestResponse {
    app.post("/v1/refunds/bulk").token(token).json(&json!({"refunds": rows})).send().await
}

/// The row answers, after checking they come in input order.
#[track_caller]
fn rows(res: &TestResponse) -> Vec<Value> {
    res.assert_status(200);
    let rows = res.body["results"].as_array().cloned().unwrap_or_else(|| panic!("no results: {}", res.text));
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["index"], json!(i), "rows in input order: {}", res.text);
    }
    rows
}

/// Each row's (status, problem code or "").
fn outcomes(rows: &[Value]) -> Vec<(u64, String)> {
    rows.iter()
        .map(|r| (r["status"].as_u64().unwrap_or(0), r["problem"]["code"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn refund_row(channel: &str, store: Option<Uuid>, order: &str, refund: &str) -> Value {
    let mut order_ref = json!({"channel": channel, "external_id": order});
    if let Some(store) = store {
        order_ref["store_id"] = json!(store);
    }
    json!({"order": order_ref, "external_id": refund})
}

fn order_count(app: &TestApp) -> i64 {
    use retail_crm::schema::orders;
    orders::table.count().get_result(&mut app.conn()).unwrap_or_else(|e| panic!("orders: {e}"))
}

#[actix_web::test]
async fn a_call_takes_500_rows_and_refuses_501_or_none_whole() {
    let app = TestApp::new().await;
    let token = app.token(TILL);
    let guest = |i: usize| {
        json!({"external_id": format!("G-{i:04}"), "channel": "pos", "occurred_at": app.now(),
               "lines": [line("A", "10.00", 1)]})
    };
    let res = bulk_orders(&app, &token, (0..501).map(guest).collect()).await;
    res.assert_problem(422, "too_many_rows");
    assert_eq!(res.body["max_rows"], 500);
    assert_eq!(order_count(&app), 0, "a refused call posts no row");

    let res = bulk_orders(&app, &token, (0..500).map(guest).collect()).await;
    let answered = rows(&res);
    assert_eq!(answered.len(), 500);
    assert_eq!(
        (res.body["created"].clone(), res.body["already_stored"].clone(), res.body["failed"].clone()),
        (json!(500), json!(0), json!(0))
    );
    for (i, row) in answered.iter().enumerate() {
        assert_eq!(
            (row["status"].clone(), row["result"]["external_id"].clone()),
            (json!(201), json!(format!("G-{i:04}")))
        );
    }
    assert_eq!(order_count(&app), 500);
    let none = bulk_orders(&app, &token, vec![]).await;
    none.assert_problem(422, "validation_failed");
    assert_eq!(none.error_fields(), vec!["orders"]);

    let refund = |i: usize| refund_row("pos", None, &format!("G-{i:04}"), "RF-1");
    let res = bulk_refunds(&app, &token, (0..501).map(refund).collect()).await;
    res.assert_problem(422, "too_many_rows");
    assert_eq!(res.body["max_rows"], 500);
    let res = bulk_refunds(&app, &token, (0..500).map(refund).collect()).await;
    assert!(rows(&res).iter().all(|r| r["status"] == 201 && r["result"]["amount"] == "10.00"), "{}", res.text);
    let none = bulk_refunds(&app, &token, vec![]).await;
    none.assert_problem(422, "validation_failed");
    assert_eq!(none.error_fields(), vec!["refunds"]);
}

#[actix_web::test]
async fn mixed_rows_each_get_the_single_calls_answer_and_a_bad_row_sinks_no_other() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let token = app.token(TILL);
    let first = sale(&app, "S-1", Some(c), json!([line("A", "300.00", 1)]));
    let mut unknown_field = sale(&app, "S-9", Some(c), json!([line("A", "1.00", 1)]));
    unknown_field["colour"] = json!("red");
    let invalid = json!({"external_id": " ", "channel": "fax", "occurred_at": app.now(),
                         "lines": [{"sku": "A", "quantity": 0, "unit_price": "1.00"}]});
    let mut other_content = first.clone();
    other_content["lines"] = json!([line("A", "300.00", 2)]);
    let mut overspent = sale(&app, "S-3", Some(c), json!([line("B", "5000.00", 1)]));
    overspent["points_to_redeem"] = json!(1000);
    let stranger = sale(&app, "S-4", Some(Uuid::now_v7()), json!([line("B", "10.00", 1)]));
    // A guest's: the member's balance stays what the refused rows saw, so their problems can be
    // compared with the single call's afterwards.
    let last = sale(&app, "S-2", None, json!([line("C", "100.00", 2)]));
    let sent = vec![
        first.clone(),
        json!("not an order"),
        unknown_field,
        invalid,
        first.clone(),
        other_content,
        overspent,
        stranger,
        last,
    ];
    let res = bulk_orders(&app, &token, sent.clone()).await;
    let answered = rows(&res);
    assert_eq!(
        outcomes(&answered),
        [
            (201, ""),
            (400, "invalid_body"),
            (400, "unknown_field"),
            (422, "validation_failed"),
            (200, ""),
            (409, "order_conflict"),
            (422, "insufficient_points"),
            (422, "customer_not_found"),
            (201, "")
        ]
        .map(|(s, c)| (s, c.to_string()))
    );
    assert_eq!(
        (res.body["created"].clone(), res.body["already_stored"].clone(), res.body["failed"].clone()),
        (json!(2), json!(1), json!(6))
    );
    assert_eq!(answered[4]["result"], answered[0]["result"], "a re-post answers the stored order");
    assert_eq!(answered[5]["problem"]["order_id"], answered[0]["result"]["id"]);
    assert_eq!(points(&app, c).await.balance, 300, "S-1 earned; nothing else moved");

    // Each row's answer is the single call's, member for member (the rows that failed changed nothing).
    for (i, body) in sent.iter().enumerate().take(8).skip(1) {
        let single = post(&app, body).await;
        let row = &answered[i];
        assert_eq!(json!(single.status), row["status"], "row {i}: {}", single.text);
        let expected = if single.status < 300 { &row["result"] } else { &row["problem"] };
        assert_eq!(&single.body, expected, "row {i}");
    }

    // Refunds by the channel's number, likewise.
    let sent = vec![
        refund_row("pos", None, "S-1", "RF-1"),
        refund_row("pos", None, "S-1", "RF-1"),
        refund_row("pos", None, "NEVER-POSTED", "RF-1"),
        json!({"order": {"channel": "pos", "external_id": "S-1"}, "external_id": "RF-2", "amount": "99999.00"}),
        json!({"order": {"channel": "fax", "external_id": " "}, "external_id": ""}),
        json!({"order": {"channel": "pos", "external_id": "S-1"}, "external_id": "RF-3", "why": "size"}),
        json!({"order": {"channel": "pos", "external_id": "S-2"}, "external_id": "RF-4", "lines": [{"line_no": 9, "quantity": 1}]}),
        refund_row("pos", None, "S-2", "RF-5"),
    ];
    let res = bulk_refunds(&app, &token, sent.clone()).await;
    let answered = rows(&res);
    assert_eq!(
        outcomes(&answered),
        [
            (201, ""),
            (200, ""),
            (409, "order_not_posted"),
            (422, "refund_exceeds_paid"),
            (422, "validation_failed"),
            (400, "unknown_field"),
            (422, "validation_failed"),
            (201, "")
        ]
        .map(|(s, c)| (s, c.to_string()))
    );
    assert_eq!(answered[1]["result"], answered[0]["result"]);
    assert_eq!(points(&app, c).await.balance, 0, "S-1 refunded whole, once");
    for (i, body) in sent.iter().enumerate().take(7).skip(1) {
        let single = app.post("/v1/refunds").token(&token).json(body).send().await;
        let row = &answered[i];
        assert_eq!(json!(single.status), row["status"], "refund row {i}: {}", single.text);
        let expected = if single.status < 300 { &row["result"] } else { &row["problem"] };
        assert_eq!(&single.body, expected, "refund row {i}");
    }
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn a_store_bound_till_posts_its_own_stores_rows_and_learns_nothing_of_others() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("A-01").await, app.store_id("B-01").await);
    let c = app.member().name("会员").phone("13800000001").create().await;
    let (till_a, till_b) = (app.store_token(TILL, Some(a)), app.store_token(TILL, Some(b)));
    let mut for_b = sale(&app, "R-2", Some(c), json!([line("A", "50.00", 1)]));
    for_b["store_id"] = json!(b);
    let mut for_a = sale(&app, "R-3", Some(c), json!([line("A", "70.00", 1)]));
    for_a["store_id"] = json!(a);
    let rows_a = vec![sale(&app, "R-1", Some(c), json!([line("A", "100.00", 1)])), for_b, for_a];
    let res = bulk_orders(&app, &till_a, rows_a).await;
    let answered = rows(&res);
    assert_eq!(
        outcomes(&answered),
        [(201, ""), (403, "store_bound_principal"), (201, "")].map(|(s, c)| (s, c.to_string()))
    );
    assert_eq!(
        (answered[0]["result"]["store_id"].clone(), answered[2]["result"]["store_id"].clone()),
        (json!(a), json!(a))
    );
    assert!(!answered[1]["problem"].to_string().contains(&b.to_string()), "{}", res.text);
    assert_eq!(order_count(&app), 2, "nothing was posted for store B");
    let own_b = sale(&app, "R-9", Some(c), json!([line("A", "30.00", 1)]));
    rows(&bulk_orders(&app, &till_b, vec![own_b]).await);

    // Store B's till: naming store A is refused; A's receipt without a store is as unknown as a
    // receipt nobody posted, to the letter; its own receipt refunds.
    let res = bulk_refunds(
        &app,
        &till_b,
        vec![
            refund_row("pos", Some(a), "R-1", "RF-1"),
            refund_row("pos", None, "R-1", "RF-1"),
            refund_row("pos", None, "R-404", "RF-1"),
            refund_row("pos", None, "R-9", "RF-1"),
        ],
    )
    .await;
    let answered = rows(&res);
    assert_eq!(
        outcomes(&answered),
        [(403, "store_bound_principal"), (409, "order_not_posted"), (409, "order_not_posted"), (201, "")]
            .map(|(s, c)| (s, c.to_string()))
    );
    assert_eq!(answered[1]["problem"], answered[2]["problem"], "A's receipt is no more than a missing one");
    assert!(!res.text.contains(&a.to_string()), "nothing of store A: {}", res.text);
    let order_a = app.get(&format!("/v1/orders?channel=pos&store_id={a}&external_id=R-1")).token(&till_a).send().await;
    assert_eq!(order_a.items()[0]["refunded_amount"], "0.00");
    assert_eq!(points(&app, c).await.balance, 170, "R-1 and R-3 at A; R-9 at B, refunded");
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn a_refund_row_before_its_order_is_order_not_posted_and_accepted_on_retry_with_the_same_key() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let token = app.token(TILL);
    let tmall = |number: &str, amount: &str| {
        let mut order = sale(&app, number, Some(c), json!([line("A", amount, 1)]));
        order["channel"] = json!("tmall");
        order
    };
    let refunds = vec![refund_row("tmall", None, "TM-1", "TM-RF-1"), refund_row("tmall", None, "TM-2", "TM-RF-2")];
    let send = || {
        app.post("/v1/refunds/bulk")
            .token(&token)
            .header("idempotency-key", "connector-batch-7")
            .json(&json!({"refunds": refunds}))
    };

    let early = send().send().await;
    assert_eq!(
        outcomes(&rows(&early)),
        [(409, "order_not_posted"), (409, "order_not_posted")].map(|(s, c)| (s, c.to_string()))
    );
    rows(&bulk_orders(&app, &token, vec![tmall("TM-1", "200.00")]).await);
    // Not a final answer, so not pinned to the key: the same call runs again.
    let half = send().send().await;
    assert_eq!(half.header("idempotent-replayed"), None);
    assert_eq!(outcomes(&rows(&half)), [(201, ""), (409, "order_not_posted")].map(|(s, c)| (s, c.to_string())));
    post(&app, &tmall("TM-2", "100.00")).await.assert_status(201);
    let done = send().send().await;
    assert_eq!(outcomes(&rows(&done)), [(200, ""), (201, "")].map(|(s, c)| (s, c.to_string())));
    assert_eq!(done.body["results"][0]["result"], half.body["results"][0]["result"], "TM-RF-1 once");
    // Every row final now: the answer is the key's, replayed as it was.
    let replayed = send().send().await;
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body, done.body);
    assert_eq!(points(&app, c).await.balance, 0, "each refund took its order's points back once");

    // The single call keeps the same rule: a key does not pin `order_not_posted`.
    let single = refund_row("tmall", None, "TM-3", "TM-RF-3");
    let send_single =
        || app.post("/v1/refunds").token(&token).header("idempotency-key", "connector-refund-3").json(&single);
    send_single().send().await.assert_problem(409, "order_not_posted");
    post(&app, &tmall("TM-3", "50.00")).await.assert_status(201);
    let accepted = send_single().send().await;
    accepted.assert_status(201);
    assert_eq!(accepted.header("idempotent-replayed"), None);
    let again = send_single().send().await;
    assert_eq!((again.status, again.header("idempotent-replayed")), (201, Some("true")));
    assert_eq!(points(&app, c).await.balance, 0);
    assert_audit_clean(&app).await;
}

fn lot_expiries(app: &TestApp, customer: Uuid) -> Vec<chrono::DateTime<Utc>> {
    use retail_crm::schema::points_lots as pl;
    pl::table
        .filter(pl::customer_id.eq(customer))
        .order(pl::expires_at)
        .select(pl::expires_at)
        .load(&mut app.conn())
        .unwrap_or_else(|e| panic!("lots: {e}"))
}

#[actix_web::test]
async fn a_late_row_earns_points_that_expire_as_if_it_had_come_on_time() {
    let app = TestApp::new().await;
    let occurred = at("2026-01-10T23:30:00+08:00");
    app.state.clock.set(occurred);
    let (on_time, late) = (
        app.member().name("会员").phone("13800000001").create().await,
        app.member().name("会员").phone("13800000002").create().await,
    );
    let tmall = |number: &str, c: Uuid, amount: &str, when| {
        let mut order = sale_at(number, c, amount, when);
        order["channel"] = json!("tmall");
        order
    };
    post(&app, &tmall("TM-1", on_time, "100.00", occurred)).await.assert_status(201);
    // Another member's sale of the same moment reaches the CRM 300 days later, in a connector's bulk.
    app.state.clock.set(occurred + chrono::Duration::days(300));
    let res = bulk_orders(&app, &app.token(TILL), vec![tmall("TM-2", late, "100.00", occurred)]).await;
    assert_eq!(outcomes(&rows(&res)), [(201, String::new())]);
    // Both were earned on 2026-01-10 in Shanghai: valid through 2027-01-10, whenever they arrived.
    let end = at("2027-01-11T00:00:00+08:00");
    assert_eq!((lot_expiries(&app, on_time), lot_expiries(&app, late)), (vec![end], vec![end]));

    // A sale older than the points' life earns points already expired: never spendable, and
    // written off by the next expiry run.
    let ancient = tmall("TM-3", late, "50.00", occurred - chrono::Duration::days(100));
    let res = bulk_orders(&app, &app.token(TILL), vec![ancient]).await;
    assert_eq!(rows(&res)[0]["result"]["points_earned"], 50);
    let summary = points(&app, late).await;
    assert_eq!((summary.balance, summary.available), (150, 100));
    let expiry = run_job(&app, "points_expiry").await;
    assert_eq!((expiry.body["members"].clone(), expiry.body["points"].clone()), (json!(1), json!(50)));
    let summary = points(&app, late).await;
    assert_eq!((summary.balance, summary.available), (100, 100));
    assert_audit_clean(&app).await;
}
