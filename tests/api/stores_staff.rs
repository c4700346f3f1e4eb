//! SPEC §3-§4: stores and staff, their validation, and what a store-bound caller may see.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::TestApp;

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id_of).collect()
}

#[actix_web::test]
async fn store_crud() {
    let app = TestApp::new().await;
    let admin = app.admin_token();

    let res = app
        .post("/v1/stores")
        .token(&admin)
        .json(&json!({"code": "BJ-CY-01", "name": "  北京朝阳大悦城店 ", "city": "北京", "district": "朝阳区",
                      "daily_sales_target": "50000"}))
        .send()
        .await;
    res.assert_status(201);
    let store = res.body.clone();
    let id = id_of(&store);
    assert!(id.parse::<Uuid>().is_ok());
    assert_eq!(store["code"], json!("BJ-CY-01"));
    assert_eq!(store["name"], json!("北京朝阳大悦城店"), "names are trimmed");
    assert_eq!(store["city"], json!("北京"));
    assert_eq!(store["district"], json!("朝阳区"));
    assert_eq!(store["kind"], json!("store"), "kind defaults to store");
    assert_eq!(store["daily_sales_target"], json!("50000.00"), "money is a two-decimal string");
    assert_eq!(store["active"], json!(true));
    assert_eq!(store["version"], json!(1));
    assert!(store["created_at"].as_str().is_some_and(|t| t.ends_with('Z') || t.ends_with("+00:00")), "{store}");

    let res = app.get(&format!("/v1/stores/{id}")).token(&admin).send().await;
    res.assert_status(200);
    assert_eq!(res.body, store);

    let online = app
        .post("/v1/stores")
        .token(&admin)
        .json(&json!({"code": "TMALL", "name": "天猫旗舰店", "kind": "online"}))
        .send()
        .await;
    online.assert_status(201);
    assert_eq!(online.body["kind"], json!("online"));
    assert_eq!(online.body["daily_sales_target"], Value::Null);
    assert_eq!(online.body["city"], Value::Null);

    // PATCH: absent keeps, null clears, values replace.
    let res = app
        .patch(&format!("/v1/stores/{id}"))
        .token(&admin)
        .json(&json!({"district": null, "daily_sales_target": "61000.5", "name": "朝阳店"}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.body["district"], Value::Null);
    assert_eq!(res.body["city"], json!("北京"));
    assert_eq!(res.body["daily_sales_target"], json!("61000.50"));
    assert_eq!(res.body["name"], json!("朝阳店"));
    assert_eq!(res.body["version"], json!(2));

    let list = app.get("/v1/stores").token(&admin).send().await;
    list.assert_status(200);
    let mut expected = vec![id.clone(), id_of(&online.body)];
    expected.sort();
    assert_eq!(ids(&list.items()), expected);

    // A store is closed by PATCH `active: false` and kept (orders and members refer to it): there is
    // no DELETE, since what it did was not a deletion.
    app.delete(&format!("/v1/stores/{id}")).token(&admin).send().await.assert_problem(405, "method_not_allowed");
    let res = app.patch(&format!("/v1/stores/{id}")).token(&admin).json(&json!({"active": false})).send().await;
    res.assert_status(200);
    assert_eq!(res.body["active"], json!(false));
    let res = app.get(&format!("/v1/stores/{id}")).token(&admin).send().await;
    res.assert_status(200);
    assert_eq!(res.body["active"], json!(false));
    assert_eq!(res.body["code"], json!("BJ-CY-01"));

    let missing = Uuid::now_v7();
    app.get(&format!("/v1/stores/{missing}")).token(&admin).send().await.assert_problem(404, "store_not_found");
    app.patch(&format!("/v1/stores/{missing}"))
        .token(&admin)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_problem(404, "store_not_found");
}

#[actix_web::test]
async fn store_validation_lists_every_bad_field() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let post = |body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { app.post("/v1/stores").token(&admin).json(&body).send().await }
    };

    let res = post(json!({"name": "no code"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["code".to_string()]);
    assert!(res.body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));

    let res = post(json!({})).await;
    res.assert_problem(422, "validation_failed");
    let fields = res.error_fields();
    assert!(fields.contains(&"code".to_string()) && fields.contains(&"name".to_string()), "{}", res.text);

    let res = post(json!({"code": "K1", "name": "x", "kind": "warehouse"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["kind".to_string()]);

    let res = post(json!({"code": "K1", "name": "x", "daily_sales_target": "-1.00"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["daily_sales_target".to_string()]);

    let res = post(json!({"code": "has space", "name": "   ", "kind": "warehouse", "daily_sales_target": "-5"})).await;
    res.assert_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["code", "daily_sales_target", "kind", "name"]);

    let res = post(json!({"code": "x".repeat(33), "name": "x"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), vec!["code".to_string()]);

    // Money is a string with at most two decimals, never a float.
    let res = post(json!({"code": "K1", "name": "x", "daily_sales_target": "1.234"})).await;
    assert!(res.status == 400 || res.status == 422, "{}", res.text);
    let res = post(json!({"code": "K1", "name": "x", "daily_sales_target": 100.5})).await;
    assert!(res.status == 400 || res.status == 422, "{}", res.text);

    let list = app.get("/v1/stores").token(&admin).send().await;
    assert!(list.items().is_empty(), "nothing was created: {}", list.text);
}

#[actix_web::test]
async fn store_codes_are_unique() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    app.create_store("SH-01").await;
    let other = app.create_store("SH-02").await;

    let res = app.post("/v1/stores").token(&admin).json(&json!({"code": "SH-01", "name": "again"})).send().await;
    res.assert_problem(409, "store_code_taken");

    let res =
        app.patch(&format!("/v1/stores/{}", id_of(&other))).token(&admin).json(&json!({"code": "SH-01"})).send().await;
    res.assert_problem(409, "store_code_taken");
    let res = app.get(&format!("/v1/stores/{}", id_of(&other))).token(&admin).send().await;
    assert_eq!(res.body["code"], json!("SH-02"));
    assert_eq!(res.body["version"], json!(1), "a refused change leaves the version alone");
}

#[actix_web::test]
async fn staff_crud_and_validation() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let store = app.create_store("BJ-CY-01").await;
    let store_id = id_of(&store);

    let res = app
        .post("/v1/staff")
        .token(&admin)
        .json(&json!({"name": "王芳", "phone": "13812345678", "store_id": store_id, "roles": ["sales"],
                      "skills": ["女装"], "username": "wangfang", "password": "correct horse battery"}))
        .send()
        .await;
    res.assert_status(201);
    let member = res.body.clone();
    let member_id = id_of(&member);
    assert_eq!(member["phone"], json!("+8613812345678"), "phones are stored as E.164");
    assert_eq!(member["store_id"], json!(store_id));
    assert_eq!(member["roles"], json!(["sales"]));
    assert_eq!(member["skills"], json!(["女装"]));
    assert_eq!(member["capacity"], json!(20), "default capacity");
    assert_eq!(member["active"], json!(true));
    assert_eq!(member["username"], json!("wangfang"));
    assert_eq!(member["version"], json!(1));
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert!(member.get("password").is_none() && member.get("password_hash").is_none());

    let res = app.get(&format!("/v1/staff/{member_id}")).token(&admin).send().await;
    res.assert_status(200);
    assert_eq!(res.body, member);

    // Bad phone, unknown role, unknown store, bad capacity: 422 naming each field.
    let bad = [
        (json!({"name": "x", "phone": "12345"}), "phone"),
        (json!({"name": "x", "roles": ["ceo"]}), "roles"),
        (json!({"name": "x", "store_id": Uuid::now_v7()}), "store_id"),
        (json!({"name": "x", "capacity": -1}), "capacity"),
        (json!({"name": "x", "password": "short"}), "password"),
        (json!({"name": "x", "username": "a b"}), "username"),
        (json!({"phone": "13812345678"}), "name"),
    ];
    for (body, field) in bad {
        let res = app.post("/v1/staff").token(&admin).json(&body).send().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), vec![field.to_string()], "{body}: {}", res.text);
    }

    let res = app
        .post("/v1/staff")
        .token(&admin)
        .json(&json!({"name": "李雷", "username": "wangfang", "password": "another password"}))
        .send()
        .await;
    res.assert_problem(409, "username_taken");

    // A second member without a store; list and filter.
    let other = app.create_staff(json!({"name": "李雷", "roles": ["service"], "team": "售后"})).await;
    assert_eq!(other["store_id"], Value::Null);
    assert_eq!(other["phone"], Value::Null);
    let all = app.get("/v1/staff").token(&admin).send().await;
    let mut expected = vec![member_id.clone(), id_of(&other)];
    expected.sort();
    assert_eq!(ids(&all.items()), expected);
    let sales = app.get("/v1/staff?role=sales").token(&admin).send().await;
    assert_eq!(ids(&sales.items()), vec![member_id.clone()]);
    let in_store = app.get(&format!("/v1/staff?store_id={store_id}")).token(&admin).send().await;
    assert_eq!(ids(&in_store.items()), vec![member_id.clone()]);

    // PATCH with If-Match.
    let path = format!("/v1/staff/{member_id}");
    let res = app.patch(&path).token(&admin).header("If-Match", "\"7\"").json(&json!({"capacity": 5})).send().await;
    res.assert_problem(412, "precondition_failed");
    let res = app
        .patch(&path)
        .token(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"capacity": 5, "phone": "+86 139-1234-5678", "roles": ["sales", "manager"]}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.body["capacity"], json!(5));
    assert_eq!(res.body["phone"], json!("+8613912345678"));
    assert_eq!(res.body["roles"], json!(["sales", "manager"]));
    assert_eq!(res.body["version"], json!(2));
    assert_eq!(res.header("etag"), Some("\"2\""));

    // DELETE deactivates.
    app.delete(&path).token(&admin).send().await.assert_problem(405, "method_not_allowed");
    app.patch(&path).token(&admin).json(&json!({"active": false})).send().await.assert_status(200);
    let res = app.get(&path).token(&admin).send().await;
    res.assert_status(200);
    assert_eq!(res.body["active"], json!(false));
    let active = app.get("/v1/staff?active=true").token(&admin).send().await;
    assert_eq!(ids(&active.items()), vec![id_of(&other)]);

    let missing = Uuid::now_v7();
    app.get(&format!("/v1/staff/{missing}")).token(&admin).send().await.assert_problem(404, "staff_not_found");
    app.patch(&format!("/v1/staff/{missing}"))
        .token(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .assert_problem(404, "staff_not_found");
}

#[actix_web::test]
async fn a_store_bound_caller_sees_only_its_store() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let store_a = app.create_store("A-01").await;
    let store_b = app.create_store("B-01").await;
    let (a, b) = (id_of(&store_a), id_of(&store_b));
    let clerk_a = app.create_staff(json!({"name": "A clerk", "store_id": a, "roles": ["sales"]})).await;
    let clerk_b = app.create_staff(json!({"name": "B clerk", "store_id": b, "roles": ["sales"]})).await;
    let unassigned = app.create_staff(json!({"name": "HQ", "roles": ["manager"]})).await;

    let bound = app.store_token(&["admin"], Some(a.parse().unwrap_or_default()));

    let res = app.get("/v1/staff").token(&bound).send().await;
    res.assert_status(200);
    assert_eq!(ids(&res.items()), vec![id_of(&clerk_a)]);
    let res = app.get(&format!("/v1/staff?store_id={b}")).token(&bound).send().await;
    res.assert_problem(403, "store_bound_principal");
    let res = app.get(&format!("/v1/staff?store_id={a}")).token(&bound).send().await;
    assert_eq!(ids(&res.items()), vec![id_of(&clerk_a)]);

    app.get(&format!("/v1/staff/{}", id_of(&clerk_a))).token(&bound).send().await.assert_status(200);
    for other in [&clerk_b, &unassigned] {
        let path = format!("/v1/staff/{}", id_of(other));
        app.get(&path).token(&bound).send().await.assert_problem(404, "staff_not_found");
        app.patch(&path)
            .token(&bound)
            .json(&json!({"capacity": 1}))
            .send()
            .await
            .assert_problem(404, "staff_not_found");
        app.patch(&path)
            .token(&bound)
            .json(&json!({"active": false}))
            .send()
            .await
            .assert_problem(404, "staff_not_found");
        let res = app.get(&path).token(&admin).send().await;
        assert_eq!(res.body["active"], json!(true), "untouched: {}", res.text);
        assert_eq!(res.body["version"], json!(1), "untouched: {}", res.text);
    }

    // Adding staff: only to its own store (the store defaults to it).
    let res = app.post("/v1/staff").token(&bound).json(&json!({"name": "new A clerk"})).send().await;
    res.assert_status(201);
    assert_eq!(res.body["store_id"], json!(a));
    let res = app.post("/v1/staff").token(&bound).json(&json!({"name": "sneaky", "store_id": b})).send().await;
    res.assert_problem(403, "store_bound_principal");
    let res =
        app.patch(&format!("/v1/staff/{}", id_of(&clerk_a))).token(&bound).json(&json!({"store_id": b})).send().await;
    res.assert_problem(403, "store_bound_principal");

    // Stores: its own only.
    let res = app.get("/v1/stores").token(&bound).send().await;
    assert_eq!(ids(&res.items()), vec![a.clone()]);
    app.get(&format!("/v1/stores/{a}")).token(&bound).send().await.assert_status(200);
    app.get(&format!("/v1/stores/{b}")).token(&bound).send().await.assert_problem(404, "store_not_found");
    // Changing or closing a store is the chain's act, its own store included.
    for store in [&a, &b] {
        app.patch(&format!("/v1/stores/{store}"))
            .token(&bound)
            .json(&json!({"name": "taken over"}))
            .send()
            .await
            .assert_problem(403, "store_bound_principal");
        app.patch(&format!("/v1/stores/{store}"))
            .token(&bound)
            .json(&json!({"active": false}))
            .send()
            .await
            .assert_problem(403, "store_bound_principal");
    }
    let res = app.get(&format!("/v1/stores/{b}")).token(&admin).send().await;
    assert_eq!(res.body["name"], json!("Store B-01"));
    assert_eq!(res.body["active"], json!(true));
}
