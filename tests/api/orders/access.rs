//! Issue 9 in orders (SPEC §3.1, §7): the natural key includes the store, a re-post with other
//! content is a conflict, the finders and refunds see the caller's store only, and an external
//! price cannot mint points.

use super::*;

const STORE_TILL: &[&str] = &["orders:write", "orders:read"];

fn event_data(app: &TestApp, event_type: &str) -> Vec<Value> {
    use retail_crm::schema::events as e;
    e::table
        .filter(e::event_type.eq(event_type))
        .order(e::id)
        .select(e::data)
        .load(&mut app.conn())
        .unwrap_or_else(|err| panic!("events: {err}"))
}

#[actix_web::test]
async fn receipt_x_at_two_stores_is_two_sales_and_a_changed_repost_is_an_order_conflict() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("A-01").await, app.store_id("B-01").await);
    let (member_a, member_b) = (
        app.member().name("会员").phone("13800000001").create().await,
        app.member().name("会员").phone("13800000002").create().await,
    );
    let till_a = app.store_token(STORE_TILL, Some(a));
    let till_b = app.store_token(STORE_TILL, Some(b));

    let at_a = sale(&app, "X", Some(member_a), json!([line("A", "100.00", 1)]));
    let at_b = sale(&app, "X", Some(member_b), json!([line("B", "300.00", 1)]));
    let first = app.post("/v1/orders").token(&till_a).json(&at_a).send().await;
    first.assert_status(201);
    let second = app.post("/v1/orders").token(&till_b).json(&at_b).send().await;
    second.assert_status(201);
    assert_ne!(first.body["id"], second.body["id"], "store B's receipt X is its own sale");
    assert_eq!((first.body["store_id"].clone(), first.body["customer_id"].clone()), (json!(a), json!(member_a)));
    assert_eq!((second.body["store_id"].clone(), second.body["customer_id"].clone()), (json!(b), json!(member_b)));
    assert_eq!((first.body["points_balance"].clone(), second.body["points_balance"].clone()), (json!(100), json!(300)));
    assert_eq!((points(&app, member_a).await.balance, points(&app, member_b).await.balance), (100, 300));

    // The same sale again: the stored order, unchanged.
    let again = app.post("/v1/orders").token(&till_a).json(&at_a).send().await;
    again.assert_status(200);
    assert_eq!(again.body["id"], first.body["id"]);

    // Store A's X with other lines, another customer, or another paid amount: refused, naming A's order.
    let mut other_lines = at_a.clone();
    other_lines["lines"] = json!([line("A", "100.00", 2)]);
    let conflict = app.post("/v1/orders").token(&till_a).json(&other_lines).send().await;
    conflict.assert_problem(409, "order_conflict");
    assert_eq!(conflict.body["order_id"], first.body["id"]);
    assert_eq!(conflict.body["fields"], json!(["lines"]));
    let mut other_customer = at_a.clone();
    other_customer["customer_id"] = json!(member_b);
    let conflict = app.post("/v1/orders").token(&till_a).json(&other_customer).send().await;
    conflict.assert_problem(409, "order_conflict");
    assert_eq!(conflict.body["fields"], json!(["customer"]));
    let mut other_paid = at_a.clone();
    other_paid["paid_amount"] = json!("99.00");
    app.post("/v1/orders").token(&till_a).json(&other_paid).send().await.assert_problem(409, "order_conflict");
    assert_eq!((points(&app, member_a).await.balance, points(&app, member_b).await.balance), (100, 300));

    // A chain-wide connector's X without a store is a third sale (a missing store is a value of its own).
    let chain = post(&app, &sale(&app, "X", Some(member_a), json!([line("A", "100.00", 1)]))).await;
    chain.assert_status(201);
    assert_eq!(chain.body["store_id"], Value::Null);

    // Events about a store's sale carry the store, and nothing but ids, codes, amounts and statuses.
    let created = event_data(&app, "order.created");
    assert_eq!(created.len(), 3);
    assert_eq!(created[0]["store_id"], json!(a));
    assert_eq!(created[1]["store_id"], json!(b));
    let earned = event_data(&app, "points.earned");
    assert_eq!((earned[0]["store_id"].clone(), earned[1]["store_id"].clone()), (json!(a), json!(b)));
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn order_finders_need_orders_read_and_see_only_the_callers_store() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("A-01").await, app.store_id("B-01").await);
    let c = app.member().name("会员").phone("13800000001").create().await;
    let (till_a, till_b) = (app.store_token(STORE_TILL, Some(a)), app.store_token(STORE_TILL, Some(b)));
    let hours_ago = |h: i64| app.now() - chrono::Duration::hours(h);
    let mut ids = Vec::new();
    for (token, receipt, when) in [(&till_a, "X", 3), (&till_b, "X", 2), (&till_b, "Y", 1)] {
        let body = sale_at(receipt, c, "100.00", hours_ago(when));
        let res = app.post("/v1/orders").token(token).json(&body).send().await;
        res.assert_status(201);
        ids.push(res.body["id"].clone());
    }
    let chain = app.token(&["orders:read"]);

    // By id: orders:read, and another store's order is 404 exactly like a missing one.
    let a_order = format!("/v1/orders/{}", ids[0].as_str().unwrap_or_default());
    app.get(&a_order).token(&app.token(&["orders:write"])).send().await.assert_problem(403, "forbidden");
    app.get(&a_order).token(&till_b).send().await.assert_problem(404, "order_not_found");
    app.get(&format!("/v1/orders/{}", Uuid::now_v7()))
        .token(&till_b)
        .send()
        .await
        .assert_problem(404, "order_not_found");
    app.get(&a_order).token(&till_a).send().await.assert_status(200);
    app.get(&a_order).token(&chain).send().await.assert_status(200);

    // By natural key.
    let key = format!("/v1/orders?channel=pos&store_id={a}&external_id=X");
    let found = app.get(&key).token(&chain).send().await;
    found.assert_status(200);
    assert_eq!(found.items().iter().map(|o| o["id"].clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);
    assert_eq!(found.items()[0]["lines"][0]["sku"], "A");
    assert_eq!(app.get("/v1/orders?channel=pos&external_id=X").token(&chain).send().await.items().len(), 2);
    app.get(&key).token(&till_b).send().await.assert_problem(403, "store_bound_principal");
    let own = app.get("/v1/orders?channel=pos&external_id=X").token(&till_b).send().await;
    assert_eq!(own.items().iter().map(|o| o["id"].clone()).collect::<Vec<_>>(), vec![ids[1].clone()]);

    // By customer, newest sale first, paged; a store sees its own sales of the customer only.
    let all = app.collect_pages(&format!("/v1/orders?customer_id={c}"), &chain, 2).await;
    assert_eq!(
        all.iter().map(|o| o["id"].clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    let at_a = app.get(&format!("/v1/orders?customer_id={c}")).token(&till_a).send().await;
    assert_eq!(at_a.items().iter().map(|o| o["id"].clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);

    app.get("/v1/orders?channel=fax").token(&chain).send().await.assert_problem(422, "validation_failed");
    app.get("/v1/orders?cursor=nope").token(&chain).send().await.assert_problem(400, "invalid_cursor");
    app.get("/v1/orders?colour=red").token(&chain).send().await.assert_problem(400, "invalid_query_parameter");
}

#[actix_web::test]
async fn a_store_refunds_and_reads_refunds_of_its_own_orders_only() {
    let app = TestApp::new().await;
    let (a, b) = (app.store_id("A-01").await, app.store_id("B-01").await);
    let c = app.member().name("会员").phone("13800000001").create().await;
    let (till_a, till_b) = (app.store_token(STORE_TILL, Some(a)), app.store_token(STORE_TILL, Some(b)));
    let order = app
        .post("/v1/orders")
        .token(&till_b)
        .json(&sale(&app, "R-1", Some(c), json!([line("A", "300.00", 1)])))
        .send()
        .await;
    order.assert_status(201);
    let refunds = format!("/v1/orders/{}/refunds", order.str("id"));

    let res = app.post(&refunds).token(&till_a).json(&json!({"external_id": "RF-1", "amount": "100.00"})).send().await;
    res.assert_problem(404, "order_not_found");
    app.get(&refunds).token(&till_a).send().await.assert_problem(404, "order_not_found");
    assert_eq!(points(&app, c).await.balance, 300, "store A's attempt changed nothing");

    app.post(&refunds)
        .token(&till_b)
        .json(&json!({"external_id": "RF-1", "amount": "100.00"}))
        .send()
        .await
        .assert_status(201);
    let chain = app.token(&["orders:write", "orders:read"]);
    app.post(&refunds)
        .token(&chain)
        .json(&json!({"external_id": "RF-2", "amount": "50.00"}))
        .send()
        .await
        .assert_status(201);
    let listed = app.get(&refunds).token(&till_b).send().await;
    listed.assert_status(200);
    assert_eq!(
        listed.items().iter().map(|r| r["amount"].clone()).collect::<Vec<_>>(),
        vec![json!("100.00"), json!("50.00")]
    );
    assert_eq!(points(&app, c).await.balance, 150);
    let refunded = event_data(&app, "order.refunded");
    assert!(refunded.iter().all(|d| d["store_id"] == json!(b)), "{refunded:?}");
    assert_audit_clean(&app).await;
}

#[actix_web::test]
async fn an_external_price_above_its_own_lines_mints_no_points() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    // The numbers: a ¥1.00 basket "paid" 100000.00.
    let mut minted = sale(&app, "M-1", Some(c), json!([line("A", "1.00", 1)]));
    minted["pricing"] = json!("external");
    minted["paid_amount"] = json!("100000.00");
    let res = post(&app, &minted).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["paid_amount"]);
    for paid in ["-0.01", "-100.00"] {
        minted["paid_amount"] = json!(paid);
        let res = post(&app, &minted).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["paid_amount"], "paid {paid}");
    }
    let mut crm = sale(&app, "M-2", Some(c), json!([line("A", "1.00", 1)]));
    crm["paid_amount"] = json!("-1.00");
    let res = post(&app, &crm).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["paid_amount"]);
    // A channel's own line amounts bound it too: total_amount must be their sum.
    let mut own_amounts =
        sale(&app, "M-3", Some(c), json!([{"sku": "A", "quantity": 1, "unit_price": "1.00", "amount": "0.80"}]));
    own_amounts["pricing"] = json!("external");
    own_amounts["total_amount"] = json!("1.00");
    own_amounts["paid_amount"] = json!("0.80");
    let res = post(&app, &own_amounts).await;
    assert_eq!(res.error_fields(), ["total_amount"]);
    assert_eq!((points(&app, c).await.balance, entries(&app, c).len()), (0, 0), "no points");
    let tier: String = {
        use retail_crm::schema::memberships as m;
        m::table.find(c).select(m::tier_code).first(&mut app.conn()).unwrap_or_default()
    };
    assert_eq!(tier, "normal", "no tier change");
    assert!(event_data(&app, "order.created").is_empty());

    // Within the bounds the channel's price stands: a discount is fine, the full list amount too.
    minted["paid_amount"] = json!("1.00");
    post(&app, &minted).await.assert_status(201);
    own_amounts["total_amount"] = json!("0.80");
    let ok = post(&app, &own_amounts).await;
    ok.assert_status(201);
    assert_eq!(ok.body["paid_amount"], "0.80");

    // The quote takes list prices only: negative or made-up amounts are a 422 there too, never a 500.
    let quote = |body: Value| app.post("/v1/checkout/quote").token(&app.token(TILL)).json(&body).send();
    let res = quote(
        json!({"customer_id": c, "channel": "pos", "lines": [{"sku": "A", "quantity": 1, "unit_price": "-1.00"}]}),
    )
    .await;
    assert_eq!(res.error_fields(), ["lines[0].unit_price"]);
    let res = quote(json!({"customer_id": c, "channel": "pos",
                           "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00", "amount": "-5.00"}]}))
    .await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["lines[0].amount"]);
}

/// Issue 22 finding 8: with external pricing a line may be discounted, never inflated — a ¥1 item
/// "paid" ¥10,000 would earn 10,000 points.
#[actix_web::test]
async fn an_external_line_amount_above_quantity_times_unit_price_is_refused() {
    let app = TestApp::new().await;
    let c = app.member().name("会员").phone("13800000001").create().await;
    let inflated = |id: &str, amount: &str| {
        let mut body =
            sale(&app, id, Some(c), json!([{"sku": "A", "quantity": 2, "unit_price": "1.00", "amount": amount}]));
        body["pricing"] = json!("external");
        body["total_amount"] = json!(amount);
        body["paid_amount"] = json!(amount);
        body
    };
    for amount in ["10000.00", "2.01"] {
        let res = post(&app, &inflated("I-1", amount)).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["lines[0].amount"], "amount {amount}");
    }
    assert_eq!((points(&app, c).await.balance, entries(&app, c).len()), (0, 0), "nothing minted");
    // The list amount itself and any discount stand.
    post(&app, &inflated("I-2", "2.00")).await.assert_status(201);
    post(&app, &inflated("I-3", "1.50")).await.assert_status(201);
    assert_eq!(points(&app, c).await.balance, 3);
}
