//! Issue 22 finding 6 (SPEC §3.1): a store-bound till files the customers it creates under its own
//! store and never re-homes one — not into its own list, not to a third store — by create,
//! upsert, bulk upsert or PATCH. Only a chain-wide principal moves a customer.

use super::*;

fn home_of(app: &TestApp, customer: Uuid) -> Option<Uuid> {
    use retail_crm::schema::customers as c;
    c::table.find(customer).select(c::home_store_id).first(&mut app.conn()).expect("the customer")
}

#[actix_web::test]
async fn a_store_bound_till_cannot_re_home_a_customer() {
    let app = TestApp::new().await;
    let (a, b, c) = (app.store_id("SA").await, app.store_id("SB").await, app.store_id("SC").await);
    let theirs: Uuid =
        id(&create_ok(&app, json!({"name": "乙店会员", "phone": "13800000002", "home_store_id": b})).await)
            .parse()
            .unwrap();
    let till_a = app.store_token(NO_PII, Some(a));

    // Creating: its own store by default; another store is 403 and nothing is created.
    let mine = app.post("/v1/customers").token(&till_a).json(&json!({"name": "新客"})).send().await;
    mine.assert_status(201);
    assert_eq!(mine.body["home_store_id"], json!(a));
    let res = app.post("/v1/customers").token(&till_a).json(&json!({"name": "外店", "home_store_id": c})).send().await;
    res.assert_problem(403, "store_bound_principal");

    // Pulling store B's member into A, or pushing them to C, by every write path: 403, unchanged.
    for target in [a, c] {
        let patch =
            app.patch(&format!("/v1/customers/{theirs}")).token(&till_a).json(&json!({"home_store_id": target}));
        patch.send().await.assert_problem(403, "store_bound_principal");
        let upsert = app.put("/v1/customers/by-identity/phone/13800000002").token(&till_a);
        upsert.json(&json!({"home_store_id": target})).send().await.assert_problem(403, "store_bound_principal");
        let row = json!({"identity": {"kind": "phone", "value": "13800000002"}, "home_store_id": target});
        let bulk = app.post("/v1/customers/bulk").token(&till_a).json(&json!({"customers": [row]})).send().await;
        bulk.assert_status(200);
        assert_eq!(
            (bulk.body["failed"].clone(), bulk.body["results"][0]["error"]["code"].clone()),
            (json!(1), json!("store_bound_principal"))
        );
        assert_eq!(home_of(&app, theirs), Some(b), "still store B's after moving it to {target}");
    }
    // Clearing it is a move too.
    let clear = app.patch(&format!("/v1/customers/{theirs}")).token(&till_a).json(&json!({"home_store_id": null}));
    clear.send().await.assert_problem(403, "store_bound_principal");

    // Other fields stay open to the till, and naming the current home store changes nothing.
    let ok =
        app.patch(&format!("/v1/customers/{theirs}")).token(&till_a).json(&json!({"city": "上海", "home_store_id": b}));
    ok.send().await.assert_status(200);
    assert_eq!(home_of(&app, theirs), Some(b));

    // The chain moves customers.
    let chain = app.token(NO_PII);
    let moved = app.patch(&format!("/v1/customers/{theirs}")).token(&chain).json(&json!({"home_store_id": c}));
    moved.send().await.assert_status(200);
    assert_eq!(home_of(&app, theirs), Some(c));
}
