//! `retail-crm import orders FILE.csv`: historical orders by natural key, guests allowed, no points
//! unless `--earn-points` (then by the ledger's rules, the audit clean), re-imports unchanged.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{count, rejects, workdir, write};
use crate::support::TestApp;

async fn order(app: &TestApp, store: Uuid, external_id: &str) -> Value {
    let res = app
        .get(&format!("/v1/orders?channel=pos&store_id={store}&external_id={external_id}"))
        .token(&app.token(&["orders:read"]))
        .send()
        .await;
    res.assert_status(200);
    let items = res.items();
    assert_eq!(items.len(), 1, "one order {external_id}: {items:?}");
    items[0].clone()
}

async fn points(app: &TestApp, id: Uuid) -> Value {
    let res = app.get(&format!("/v1/customers/{id}/points")).token(&app.token(&["loyalty:read"])).send().await;
    res.assert_status(200);
    res.body
}

async fn assert_ledger_clean(app: &TestApp) {
    let res = app.get("/v1/loyalty/audit").token(&app.admin_token()).send().await;
    res.assert_status(200);
    assert_eq!(res.body["violations"], json!([]), "{}", res.text);
}

/// A member (by phone) and a customer who is not one, a store, and an order the API posted as R5.
async fn shop(app: &TestApp) -> (Uuid, Uuid, Uuid) {
    let store = app.store_id("BJ01").await;
    let member = app.customer().name("会员甲").phone("13800000011").create().await;
    app.post(&format!("/v1/customers/{member}/membership"))
        .token(&app.admin_token())
        .json(&json!({"channel": "pos"}))
        .send()
        .await
        .assert_status(201);
    let other = app.customer().name("顾客乙").phone("13800000012").create().await;
    app.post("/v1/orders")
        .token(&app.token(&["orders:write"]))
        .json(&json!({"external_id": "R5", "channel": "pos", "store_id": store,
            "customer_identity": {"kind": "phone", "value": "13800000012"}, "occurred_at": "2024-03-11T02:00:00Z",
            "lines": [{"sku": "Y-2", "quantity": 1, "unit_price": "120.00"}], "pricing": "external", "paid_amount": "120.00"}))
        .send()
        .await
        .assert_status(201);
    (store, member, other)
}

const ORDERS: &str =
    "external_id,channel,store,occurred_at,phone,sku,product_name,category,quantity,unit_price,amount,paid_amount
R1,pos,BJ01,2024-03-08 14:30,13800000011,W-1,连衣裙,女装,1,299.00,,279.00
R1,pos,BJ01,,13800000011,W-2,T恤,女装,2,50.00,,
R2,tmall,,2024-03-09T02:00:00Z,,S-1,袜子,配饰,3,10,,
R3,pos,BJ01,2024-03-10 09:00,13700000099,X-1,x,,1,1,,
R4,pos,BJ01,2024-03-10 09:00,,X-1,x,,0,1,,
R1,pos,BJ01,2024-03-08 14:30,13800000011,W-1,连衣裙,女装,1,299.00,,279.00
R1,pos,BJ01,,,W-2,T恤,女装,2,50.00,,
R5,pos,BJ01,2024-03-11 10:00,13800000012,Y-1,y,,1,100,,
R6,pos,XX99,2024-03-11 10:00,,Z-1,z,,1,1,,
R7,jd,,2024-03-12 10:00,13800000012,Z-1,z,,1,¥88.00,,
";

#[actix_web::test]
async fn historical_orders_are_stored_once_by_natural_key_and_earn_nothing() {
    let app = TestApp::new().await;
    let (store, member, other) = shop(&app).await;
    let dir = workdir();
    let file = write(&dir, "orders.csv", ORDERS.as_bytes());

    let run = app.cli(&["import", "orders", &file]);
    run.assert_success();
    assert_eq!(
        ["read", "created", "updated", "unchanged", "rejected"].map(|f| run.figure(f)),
        [10, 4, 0, 2, 4],
        "rows: R1 (2), R2, R7 created; R1 again unchanged (2); R3, R4, R5, R6 rejected: {}",
        run.stdout
    );
    assert!(run.stdout.contains("orders:    3 created, 1 unchanged, 4 rejected"), "{}", run.stdout);
    let rejected: Vec<(u64, String)> = rejects(&file)
        .into_iter()
        .map(|(l, reason, _)| (l, reason.split(':').next().unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        rejected,
        [
            (5, "customer_not_found".to_string()),
            (6, "validation_failed".to_string()),
            (9, "order_conflict".to_string()),
            (10, "validation_failed".to_string())
        ]
    );
    let reasons = rejects(&file);
    assert!(reasons[1].1.contains("line 6: quantity"), "{}", reasons[1].1);
    assert!(reasons[3].1.contains("XX99"), "{}", reasons[3].1);

    let r1 = order(&app, store, "R1").await;
    assert_eq!(
        (&r1["customer_id"], &r1["total_amount"], &r1["paid_amount"], &r1["points_earned"], &r1["pricing"]),
        (&json!(member), &json!("399.00"), &json!("279.00"), &json!(0), &json!("external"))
    );
    assert_eq!(r1["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(r1["lines"][1]["amount"], json!("100.00"), "quantity × unit_price");
    let guest = app.get("/v1/orders?channel=tmall&external_id=R2").token(&app.token(&["orders:read"])).send().await;
    assert_eq!(guest.items()[0]["customer_id"], Value::Null, "a guest order");
    assert_eq!(guest.items()[0]["occurred_at"], json!("2024-03-09T02:00:00Z"));
    let r7 = app.get("/v1/orders?channel=jd&external_id=R7").token(&app.token(&["orders:read"])).send().await;
    assert_eq!((&r7.items()[0]["customer_id"], &r7.items()[0]["paid_amount"]), (&json!(other), &json!("88.00")));
    assert_eq!(points(&app, member).await["balance"], json!(0), "history earns nothing without --earn-points");
    assert_ledger_clean(&app).await;
    assert_eq!(count(&app, "SELECT count(*) AS n FROM events WHERE type = 'order.created'"), 4);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM events WHERE type LIKE 'points.%'"), 0);
    assert_eq!(
        count(&app, &format!("SELECT orders::bigint AS n FROM customer_facts WHERE id = '{member}'")),
        1,
        "the member's activity follows the imported order"
    );

    let again = app.cli(&["import", "orders", &file]);
    again.assert_success();
    assert_eq!(["created", "unchanged", "rejected"].map(|f| again.figure(f)), [0, 6, 4], "{:?}", rejects(&file));
    assert!(again.stdout.contains("orders:    0 created, 4 unchanged, 4 rejected"), "{}", again.stdout);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM orders"), 4, "R5 from the API and three imported");
}

#[actix_web::test]
async fn with_earn_points_each_order_earns_by_the_ledgers_rules_once() {
    let app = TestApp::new().await;
    let (store, member, _) = shop(&app).await;
    let dir = workdir();
    let file = write(
        &dir,
        "earning.csv",
        "external_id,channel,store,occurred_at,member_card,phone,sku,quantity,unit_price,paid_amount\n\
         E1,pos,BJ01,2024-03-13 10:00,,13800000011,W-3,1,300.00,300.00\n\
         E2,pos,BJ01,2024-03-13 11:00,,,W-4,1,50.00,\n\
         E3,pos,BJ01,2024-03-13 12:00,,13800000011,W-5,2,80.00,150.50\n"
            .as_bytes(),
    );
    let run = app.cli(&["import", "orders", &file, "--earn-points"]);
    run.assert_success();
    assert_eq!(["created", "unchanged", "rejected"].map(|f| run.figure(f)), [3, 0, 0], "{}", run.stdout);
    let e1 = order(&app, store, "E1").await;
    assert_eq!(e1["points_earned"], json!(300), "1 point per CNY 1 at the normal tier");
    assert_eq!(order(&app, store, "E3").await["points_earned"], json!(150), "floor(150.50)");
    assert_eq!(order(&app, store, "E2").await["points_earned"], json!(0), "a guest earns nothing");
    assert_eq!(points(&app, member).await["balance"], json!(450));
    assert_eq!(count(&app, "SELECT count(*) AS n FROM events WHERE type = 'points.earned'"), 2);
    assert_ledger_clean(&app).await;

    let again = app.cli(&["import", "orders", &file, "--earn-points"]);
    again.assert_success();
    assert_eq!(["created", "unchanged", "rejected"].map(|f| again.figure(f)), [0, 3, 0]);
    assert_eq!(points(&app, member).await["balance"], json!(450), "nothing earned twice");
    assert_ledger_clean(&app).await;
}
