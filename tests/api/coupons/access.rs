//! Issue 9 in coupons (SPEC §3.1, §8): templates, issuing and voiding are the chain's, a till redeems at
//! its own store, and rolling back another store's redemption is 404 like an unknown code.

use super::*;

pub(crate) async fn redeem(app: &TestApp, token: &str, code: &str, body: Value) -> TestResponse {
    app.post(&format!("/v1/coupons/{code}/redeem")).token(token).json(&body).send().await
}

pub(crate) async fn rollback(app: &TestApp, token: &str, code: &str) -> TestResponse {
    app.post(&format!("/v1/coupons/{code}/rollback")).token(token).json(&json!({"reason": "顾客取消"})).send().await
}

#[actix_web::test]
async fn a_store_bound_clerk_cannot_create_change_issue_or_void_coupons() {
    let app = TestApp::new().await;
    pin(&app);
    let a = app.store_id("CA").await;
    let clerk = app.store_token(&["admin"], Some(a));
    let c = app.customer().name("李娜").create().await;
    let id = app.coupon_template().create().await;
    let code = issue_one(&app, id, c).await;
    let path = format!("/v1/coupon-templates/{id}");
    for res in [
        app.post("/v1/coupon-templates")
            .token(&clerk)
            .json(&app.coupon_template().with(json!({"stores": [a]})).body())
            .send()
            .await,
        app.patch(&path).token(&clerk).json(&json!({"total_quantity": 1_000_000})).send().await,
        app.post(&format!("{path}/issue")).token(&clerk).json(&json!({"customer_ids": [c]})).send().await,
        app.post(&format!("/v1/coupons/{code}/void")).token(&clerk).json(&json!({"reason": "x"})).send().await,
    ] {
        res.assert_problem(403, "store_bound_principal");
    }
    // Nothing changed: one template, one coupon, still available; reads stay open to the clerk.
    let listed = app.collect_pages("/v1/coupon-templates", &clerk, 50).await;
    assert_eq!((listed.len(), listed[0]["issued_count"].as_i64()), (1, Some(1)));
    assert_eq!(listed[0]["total_quantity"], Value::Null);
    let seen = app.get(&format!("/v1/coupons/{code}")).token(&clerk).send().await;
    seen.assert_status(200);
    assert_eq!(seen.str("status"), "available");
    app.get(&format!("{path}/stats")).token(&clerk).send().await.assert_status(200);
    // The chain-wide principal does all four.
    app.coupon_template().with(json!({"stores": [a]})).post().await.assert_status(201);
    let res = app.patch(&path).token(&app.token(WRITE)).json(&json!({"total_quantity": 1000})).send().await;
    res.assert_status(200);
    issue(&app, id, json!({"customer_ids": [c]})).await.assert_status(200);
    void(&app, &code, "x").await.assert_status(200);
}

#[actix_web::test]
async fn a_till_redeems_at_its_own_store_only() {
    let app = TestApp::new().await;
    pin(&app);
    let (a, b) = (app.store_id("RA").await, app.store_id("RB").await);
    let till_a = app.store_token(&["coupons:redeem"], Some(a));
    let c = app.customer().name("李娜").create().await;
    let id = app.coupon_template().with(json!({"per_customer_limit": 5})).create().await;
    let code = issue_one(&app, id, c).await;
    let sale = |store: Option<Uuid>| json!({"customer_id": c, "store_id": store, "order_reference": "A-1", "amount": "320.00"});
    redeem(&app, &till_a, &code, sale(Some(b))).await.assert_problem(403, "store_bound_principal");
    assert_eq!(coupon(&app, &code).await.body["status"], "available");
    let res = redeem(&app, &till_a, &code, sale(None)).await;
    res.assert_status(201);
    assert_eq!(res.str("discount"), "50.00");
    // The redemption is the till's store's, and its event says so.
    let feed = app.get("/v1/events?types=coupon.redeemed").token(&app.admin_token()).send().await;
    let events = feed.items();
    assert_eq!(events.len(), 1, "{}", feed.text);
    assert_eq!(events[0]["data"]["store_id"], json!(a));
    // A chain-wide principal names any store.
    let other = issue_one(&app, id, c).await;
    redeem(&app, &app.token(&["coupons:redeem"]), &other, sale(Some(b))).await.assert_status(201);
}

#[actix_web::test]
async fn rollback_of_another_stores_redemption_is_404_like_an_unknown_code() {
    let app = TestApp::new().await;
    pin(&app);
    let (a, b) = (app.store_id("KA").await, app.store_id("KB").await);
    let (till_a, till_b) =
        (app.store_token(&["coupons:redeem"], Some(a)), app.store_token(&["coupons:redeem"], Some(b)));
    let c = app.customer().name("李娜").create().await;
    let id = app.coupon_template().with(json!({"per_customer_limit": 5})).create().await;
    let (redeemed, unused) = (issue_one(&app, id, c).await, issue_one(&app, id, c).await);
    let sale = json!({"customer_id": c, "order_reference": "A-1", "amount": "320.00"});
    redeem(&app, &till_a, &redeemed, sale).await.assert_status(201);

    // Store B learns nothing: A's redemption, an unused code and an unknown code answer alike.
    let unknown = rollback(&app, &till_b, "K7M4P9QX2HTR").await;
    unknown.assert_problem(404, "coupon_not_found");
    for code in [&redeemed, &unused] {
        let res = rollback(&app, &till_b, code).await;
        res.assert_problem(404, "coupon_not_found");
        assert_eq!((&res.body["title"], &res.body["detail"]), (&unknown.body["title"], &unknown.body["detail"]));
    }
    assert_eq!(coupon(&app, &redeemed).await.body["status"], "redeemed");
    // Store A rolls its own redemption back; then, like B, it finds nothing left to roll back.
    let res = rollback(&app, &till_a, &redeemed).await;
    res.assert_status(200);
    assert_eq!(res.str("status"), "available");
    rollback(&app, &till_a, &redeemed).await.assert_problem(404, "coupon_not_found");
    // A chain-wide principal is told the truth.
    rollback(&app, &app.token(&["coupons:redeem"]), &redeemed).await.assert_problem(409, "coupon_not_redeemed");
    let feed = app.get("/v1/events?types=coupon.rolled_back").token(&app.admin_token()).send().await;
    let events = feed.items();
    assert_eq!(events.len(), 1, "{}", feed.text);
    assert_eq!(events[0]["data"]["store_id"], json!(a));
    assert_eq!(events[0]["data"].get("reason"), None, "free text stays in the audit log");
}
