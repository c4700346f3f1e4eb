//! Issue 12 (SPEC §7): connectors refund by the channel's own order number, `POST /v1/refunds`,
//! with every rule of a refund by id; a refund that arrives before its order is 409 `order_not_posted`.

use super::*;

fn refund_of(channel: &str, store: Option<Uuid>, order: &str, refund: &str) -> Value {
    let mut order_ref = json!({"channel": channel, "external_id": order});
    if let Some(store) = store {
        order_ref["store_id"] = json!(store);
    }
    json!({"order": order_ref, "external_id": refund})
}

#[actix_web::test]
async fn a_connector_refunds_by_its_own_order_number_and_a_refund_before_its_order_waits() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let token = app.token(TILL);
    let mut order = sale(&app, "TM-3920018827731", Some(c), json!([line("A", "200.00", 1), line("B", "100.00", 1)]));
    order["channel"] = json!("tmall");
    let refund = refund_of("tmall", None, "TM-3920018827731", "TM-RF-1");

    // The refund overtook its order: nothing happens, retry later.
    app.post("/v1/refunds").token(&token).json(&refund).send().await.assert_problem(409, "order_not_posted");
    post(&app, &order).await.assert_status(201);
    assert_eq!(points(&app, c).await.balance, 300);

    let first = app.post("/v1/refunds").token(&token).json(&refund).send().await;
    first.assert_status(201);
    assert_eq!(first.body["amount"], json!("300.00"), "{}", first.text);
    assert_eq!(points(&app, c).await.balance, 0, "the earned points are taken back");
    // The same refund again: the stored one, nothing taken twice.
    let again = app.post("/v1/refunds").token(&token).json(&refund).send().await;
    again.assert_status(200);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(points(&app, c).await.balance, 0);
    // The same order's refund by the CRM's id answers the same refund.
    let order_id = first.body["order_id"].as_str().unwrap_or_default().to_string();
    let by_id = app
        .post(&format!("/v1/orders/{order_id}/refunds"))
        .token(&token)
        .json(&json!({"external_id": "TM-RF-1"}))
        .send()
        .await;
    by_id.assert_status(200);
    assert_eq!(by_id.body["id"], first.body["id"]);
    // A second refund of an order refunded whole: the same rule as by id.
    let more = refund_of("tmall", None, "TM-3920018827731", "TM-RF-2");
    app.post("/v1/refunds").token(&token).json(&more).send().await.assert_problem(422, "refund_exceeds_paid");
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn a_store_bound_till_refunds_its_own_store_orders_by_number_and_learns_nothing_of_others() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("A-01").await, app.store_id("B-01").await);
    let c = app.member().name("会员").phone("13800000001").create().await;
    let (till_a, till_b) = (app.store_token(TILL, Some(a)), app.store_token(TILL, Some(b)));
    let at_a = sale(&app, "R-1", Some(c), json!([line("A", "100.00", 1)]));
    app.post("/v1/orders").token(&till_a).json(&at_a).send().await.assert_status(201);
    let mut online = sale(&app, "JD-77", Some(c), json!([line("B", "50.00", 1)]));
    online["channel"] = json!("jd");
    post(&app, &online).await.assert_status(201);

    // Store B names store A: refused before anything is looked up.
    let naming_a = refund_of("pos", Some(a), "R-1", "RF-1");
    app.post("/v1/refunds").token(&till_b).json(&naming_a).send().await.assert_problem(403, "store_bound_principal");
    // Without a store, a till means its own: A's receipt and the chain's online order do not exist for B.
    for (channel, number) in [("pos", "R-1"), ("jd", "JD-77")] {
        let res = app.post("/v1/refunds").token(&till_b).json(&refund_of(channel, None, number, "RF-1")).send().await;
        res.assert_problem(409, "order_not_posted");
    }
    // Store A refunds its own receipt without naming its store.
    let res = app.post("/v1/refunds").token(&till_a).json(&refund_of("pos", None, "R-1", "RF-1")).send().await;
    res.assert_status(201);
    assert_eq!(res.body["amount"], json!("100.00"));
    // A chain-wide connector names the store, or none for a store-less online order.
    let chain = app.token(TILL);
    let res = app.post("/v1/refunds").token(&chain).json(&refund_of("pos", Some(a), "R-1", "RF-1")).send().await;
    res.assert_status(200);
    let res = app.post("/v1/refunds").token(&chain).json(&refund_of("jd", None, "JD-77", "JD-RF-1")).send().await;
    res.assert_status(201);
    assert_eq!(points(&app, c).await.balance, 0);
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn a_refund_by_number_names_every_bad_field() {
    let app = TestApp::new().await;
    let body = json!({"order": {"channel": "fax", "external_id": " "}, "external_id": "",
                      "lines": [{"line_no": 0, "quantity": 1}]});
    let res = app.post("/v1/refunds").token(&app.token(TILL)).json(&body).send().await;
    res.assert_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["external_id", "lines[0].line_no", "order.channel", "order.external_id"]);
    let unknown = json!({"order": {"channel": "pos", "external_id": "X", "extra": 1}, "external_id": "R"});
    app.post("/v1/refunds").token(&app.token(TILL)).json(&unknown).send().await.assert_status(400);
    app.post("/v1/refunds")
        .token(&app.token(&["orders:read"]))
        .json(&body)
        .send()
        .await
        .assert_problem(403, "forbidden");
}
