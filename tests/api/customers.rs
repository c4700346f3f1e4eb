//! Customers (SPEC §5): profiles, identities, masking, upsert, lookup, search, tags, notes,
//! timeline, consents, erasure, export, merge, bulk.

use diesel::prelude::*;
use futures::future::join_all;
use serde_json::{json, Value};

use retail_crm::http::auth::ALL_SCOPES;
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

mod home_store;

const PII: &[&str] = &["customers:read", "customers:write", "customers:pii"];
const NO_PII: &[&str] = &["customers:read", "customers:write"];

async fn create(app: &TestApp, body: Value) -> TestResponse {
    app.post("/v1/customers").token(&app.token(PII)).json(&body).send().await
}

async fn create_ok(app: &TestApp, body: Value) -> Value {
    let res = create(app, body).await;
    res.assert_status(201);
    res.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

#[actix_web::test]
async fn create_normalises_and_masks_without_pii_scope() {
    let app = TestApp::new().await;
    let created = create_ok(
        &app,
        json!({"name": "张三", "phone": "138 1234 5678", "email": "Zhang.San@Example.com", "birthday": "1990-05-12",
               "address": "北京市朝阳区建国路88号", "gender": "male", "source_channel": "pos"}),
    )
    .await;
    assert_eq!(created["phone"], "+8613812345678");
    assert_eq!(created["email"], "zhang.san@example.com");
    assert_eq!(created["pii_masked"], false);

    let masked = app.get(&format!("/v1/customers/{}", id(&created))).token(&app.token(NO_PII)).send().await;
    masked.assert_status(200);
    assert_eq!(masked.body["phone"], "138****5678");
    assert_eq!(masked.body["email"], "z***@example.com");
    assert_eq!(masked.body["birthday"], "****-05-12");
    assert!(!masked.text.contains("88号"), "address must be masked: {}", masked.text);
    assert!(!masked.text.contains("12345678"), "no full phone anywhere, identities included: {}", masked.text);
    assert_eq!(masked.body["pii_masked"], true);
    assert_eq!(masked.header("etag"), Some("\"1\""));

    // An unmasked read is audited; a masked one is not.
    let unmasked = app.get(&format!("/v1/customers/{}", id(&created))).token(&app.token(PII)).send().await;
    assert_eq!(unmasked.body["phone"], "+8613812345678");
    let audit = app
        .get(&format!("/v1/audit-log?resource=customer&resource_id={}&action=customer.read_pii", id(&created)))
        .token(&app.admin_token())
        .send()
        .await;
    assert_eq!(audit.items().len(), 2, "create response and the unmasked GET: {}", audit.text);
}

#[actix_web::test]
async fn invalid_fields_are_all_reported_with_422() {
    let app = TestApp::new().await;
    let res = create(
        &app,
        json!({"phone": "12812345678", "email": "not-an-email", "birthday": "2999-01-01", "gender": "robot",
               "source_channel": "carrier_pigeon", "consents": {"marketing_fax": true}}),
    )
    .await;
    res.assert_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(fields, vec!["birthday", "consents", "email", "gender", "phone", "source_channel"]);

    create(&app, json!({"name": "x", "favourite_colour": "red"})).await.assert_problem(400, "unknown_field");
    create(&app, json!({"birthday": "1990-02-30"})).await.assert_problem(400, "invalid_body");
    app.get("/v1/customers/not-a-uuid")
        .token(&app.token(PII))
        .send()
        .await
        .assert_problem(400, "invalid_path_parameter");
    app.get(&format!("/v1/customers/{}", uuid::Uuid::now_v7()))
        .token(&app.token(PII))
        .send()
        .await
        .assert_problem(404, "customer_not_found");
}

#[actix_web::test]
async fn identities_are_unique_among_live_customers() {
    let app = TestApp::new().await;
    let owner = create_ok(&app, json!({"name": "A", "phone": "13800000001"})).await;
    let res = create(&app, json!({"name": "B", "phone": "+86 138 0000 0001"})).await;
    res.assert_problem(409, "phone_taken");
    assert_eq!(res.body["owner_customer_id"], owner["id"]);

    let other = create_ok(&app, json!({"name": "B", "identities": [{"kind": "jd_pin", "value": "jd_b"}]})).await;
    let res = app
        .post(&format!("/v1/customers/{}/identities", id(&owner)))
        .token(&app.token(PII))
        .json(&json!({"kind": "jd_pin", "value": "jd_b"}))
        .send()
        .await;
    res.assert_problem(409, "identity_taken");
    assert_eq!(res.body["owner_customer_id"], other["id"]);

    // The same phone sent by 10 tills at once: exactly one customer gets it.
    let token = app.token(PII);
    let attempts = (0..10).map(|i| {
        app.post("/v1/customers")
            .token(&token)
            .json(&json!({"name": format!("racer {i}"), "phone": "13900000009"}))
            .send()
    });
    let results = join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    assert!(results.iter().filter(|r| r.status != 201).all(|r| r.status == 409 && r.code() == "phone_taken"));
}

#[actix_web::test]
async fn patch_honours_if_match_and_moves_the_phone_identity() {
    let app = TestApp::new().await;
    let c = create_ok(&app, json!({"name": "A", "phone": "13800000001", "city": "上海"})).await;
    let path = format!("/v1/customers/{}", id(&c));
    let token = app.token(PII);

    let stale = app.patch(&path).token(&token).header("if-match", "\"7\"").json(&json!({"name": "B"})).send().await;
    stale.assert_problem(412, "precondition_failed");

    let ok = app
        .patch(&path)
        .token(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"phone": "13800000002", "city": null}))
        .send()
        .await;
    ok.assert_status(200);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    assert_eq!(ok.body["name"], "A", "absent fields stay");
    assert_eq!(ok.body["city"], Value::Null, "null clears");
    assert_eq!(ok.body["phone"], "+8613800000002");

    // The old number is free again; the new one finds this customer.
    create_ok(&app, json!({"name": "C", "phone": "13800000001"})).await;
    let found = app.get("/v1/customers/lookup?phone=13800000002").token(&token).send().await;
    assert_eq!(found.body["customer"]["id"], c["id"]);
}

#[actix_web::test]
async fn consents_keep_grant_and_revoke_times() {
    let app = TestApp::new().await;
    let c = create_ok(&app, json!({"name": "A", "consents": {"marketing_sms": true}})).await;
    let granted_at = c["consents"]["marketing_sms"]["granted_at"].clone();
    assert!(granted_at.is_string());
    assert_eq!(c["consents"]["marketing_email"], Value::Null, "absent means not granted");
    let res = app
        .patch(&format!("/v1/customers/{}", id(&c)))
        .token(&app.token(PII))
        .json(&json!({"consents": {"marketing_sms": false}}))
        .send()
        .await;
    let sms = &res.body["consents"]["marketing_sms"];
    assert_eq!(sms["granted"], false);
    assert_eq!(sms["granted_at"], granted_at);
    assert!(sms["revoked_at"].is_string());
}

#[actix_web::test]
async fn upsert_by_identity_creates_then_updates() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    let first =
        app.put("/v1/customers/by-identity/tmall_ouid/t_001").token(&token).json(&json!({"name": "李四"})).send().await;
    first.assert_status(201);
    let second =
        app.put("/v1/customers/by-identity/tmall_ouid/t_001").token(&token).json(&json!({"city": "杭州"})).send().await;
    second.assert_status(200);
    assert_eq!(second.body["id"], first.body["id"]);
    assert_eq!(second.body["name"], "李四");
    assert_eq!(second.body["city"], "杭州");
    app.put("/v1/customers/by-identity/myspace/x")
        .token(&token)
        .json(&json!({}))
        .send()
        .await
        .assert_problem(422, "validation_failed");

    // Concurrent upserts of a new identity end with one customer.
    let racers = (0..8)
        .map(|_| app.put("/v1/customers/by-identity/jd_pin/race").token(&token).json(&json!({"name": "王五"})).send());
    let results = join_all(racers).await;
    assert!(
        results.iter().all(|r| r.status == 200 || r.status == 201),
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    let ids: std::collections::HashSet<_> = results.iter().map(|r| r.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1);
}

#[actix_web::test]
async fn lookup_by_every_identity_with_final_shape() {
    let app = TestApp::new().await;
    let token = app.token(NO_PII);
    let c = create_ok(
        &app,
        json!({"name": "A", "phone": "13800000001", "identities": [
            {"kind": "member_card", "value": "8800123456789012"},
            {"kind": "wechat_openid", "value": "wxapp:oOPEN1"},
            {"kind": "wechat_unionid", "value": "uUNION1"},
            {"kind": "external:erp", "value": "C-001"}]}),
    )
    .await;
    for query in [
        "phone=13800000001",
        "phone=%2B8613800000001",
        "member_card=8800123456789012",
        "wechat_openid=wxapp:oOPEN1",
        "wechat_unionid=uUNION1",
        "identity_kind=external:erp&identity_value=C-001",
    ] {
        let res = app.get(&format!("/v1/customers/lookup?{query}")).token(&token).send().await;
        res.assert_status(200);
        assert_eq!(res.body["customer"]["id"], c["id"], "{query}");
        assert_eq!(res.body["customer"]["phone"], "138****0001");
        assert!(
            res.body.get("membership").is_some()
                && res.body["points"]["available"] == 0
                && res.body["coupons"] == json!([])
        );
    }
    app.get("/v1/customers/lookup?phone=13900000000")
        .token(&token)
        .send()
        .await
        .assert_problem(404, "customer_not_found");
    app.get("/v1/customers/lookup").token(&token).send().await.assert_problem(422, "validation_failed");
    app.get("/v1/customers/lookup?phone=1&member_card=2")
        .token(&token)
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.get("/v1/customers/lookup?phone=13800000001").send().await.assert_problem(401, "unauthorized");
    app.get("/v1/customers/lookup?phone=13800000001")
        .token(&app.token(&["loyalty:read"]))
        .send()
        .await
        .assert_problem(403, "forbidden");
}

#[actix_web::test]
async fn search_by_name_phone_last4_email_card_and_filters() {
    let app = TestApp::new().await;
    let token = app.token(NO_PII);
    let zhang = create_ok(
        &app,
        json!({"name": "张三丰", "phone": "13812345678", "email": "z@example.com", "city": "北京", "tags": ["vip"],
        "identities": [{"kind": "member_card", "value": "8800000000000001"}]}),
    )
    .await;
    let li = create_ok(&app, json!({"name": "李四", "phone": "13900005678", "city": "上海"})).await;
    create_ok(&app, json!({"name": "王五", "phone": "13700001111", "city": "北京"})).await;

    let ids = |res: &TestResponse| -> Vec<Value> { res.items().iter().map(|c| c["id"].clone()).collect() };
    let search = |q: &str| app.get(&format!("/v1/customers?{q}")).token(&token).send();
    assert_eq!(ids(&search("q=%E5%BC%A0%E4%B8%89").await), vec![zhang["id"].clone()], "name part 张三");
    let last4 = ids(&search("q=5678").await);
    assert_eq!(last4.len(), 2);
    assert!(last4.contains(&zhang["id"]) && last4.contains(&li["id"]));
    assert_eq!(ids(&search("q=13900005678").await), vec![li["id"].clone()]);
    assert_eq!(ids(&search("q=Z@Example.com").await), vec![zhang["id"].clone()]);
    assert_eq!(ids(&search("q=8800000000000001").await), vec![zhang["id"].clone()]);
    assert_eq!(ids(&search("tag=vip").await), vec![zhang["id"].clone()]);
    assert_eq!(ids(&search("city=%E5%8C%97%E4%BA%AC").await).len(), 2);
    assert_eq!(ids(&search("q=%25").await).len(), 0, "LIKE wildcards are literal");
    search("status=deleted").await.assert_problem(422, "validation_failed");
    search("limit=0").await.assert_problem(422, "validation_failed");
    let all = app.collect_pages("/v1/customers", &token, 2).await;
    assert_eq!(all.len(), 3);
}

#[actix_web::test]
async fn tags_replace_and_join_the_catalogue() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    let c = create_ok(&app, json!({"name": "A", "tags": ["old"]})).await;
    let res = app
        .put(&format!("/v1/customers/{}/tags", id(&c)))
        .token(&token)
        .json(&json!({"tags": ["vip", "童装", "vip"]}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.body["tags"], json!(["vip", "童装"]));
    let catalogue = app.collect_pages("/v1/tags", &token, 50).await;
    let names: Vec<&str> = catalogue.iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"vip") && names.contains(&"old") && names.contains(&"童装"));
    app.post("/v1/tags").token(&token).json(&json!({"name": "vip"})).send().await.assert_problem(409, "tag_exists");
    app.post("/v1/tags")
        .token(&token)
        .json(&json!({"name": "seg", "kind": "rule"}))
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.delete("/v1/tags/vip").token(&token).send().await.assert_status(204);
    let after = app.get(&format!("/v1/customers/{}", id(&c))).token(&token).send().await;
    assert_eq!(after.body["tags"], json!(["童装"]));
}

#[actix_web::test]
async fn notes_and_events_make_a_newest_first_timeline() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    let c = create_ok(&app, json!({"name": "A"})).await;
    let path = format!("/v1/customers/{}", id(&c));
    for body in ["first note", "second note"] {
        app.post(&format!("{path}/notes")).token(&token).json(&json!({"body": body})).send().await.assert_status(201);
    }
    app.patch(&path).token(&token).json(&json!({"city": "北京"})).send().await.assert_status(200);
    app.post(&format!("{path}/notes"))
        .token(&token)
        .json(&json!({"body": "  "}))
        .send()
        .await
        .assert_problem(422, "validation_failed");

    let items = app.collect_pages(&format!("{path}/timeline"), &token, 2).await;
    let types: Vec<&str> = items.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(types, vec!["customer.updated", "note", "note", "customer.created"]);
    assert_eq!(items[1]["summary"], "second note");
}

#[actix_web::test]
async fn erasure_leaves_no_pii_and_frees_identities() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    let c = create_ok(
        &app,
        json!({"name": "张三", "phone": "13812345678", "email": "z@example.com", "birthday": "1990-05-12",
               "address": "北京市朝阳区", "attributes": {"wechat_nick": "zs"}, "tags": ["vip"],
               "identities": [{"kind": "wechat_unionid", "value": "uZS"}]}),
    )
    .await;
    let path = format!("/v1/customers/{}", id(&c));
    app.post(&format!("{path}/notes")).token(&token).json(&json!({"body": "喜欢红色"})).send().await.assert_status(201);

    app.delete(&path).token(&app.token(NO_PII)).send().await.assert_problem(403, "forbidden");
    app.delete(&path).token(&token).send().await.assert_status(204);
    // The profile is gone as a resource, as after any DELETE; what an erased profile keeps is checked
    // in the database below and in erasure.rs.
    for res in [
        app.delete(&path).token(&token).send().await,
        app.get(&path).token(&token).send().await,
        app.patch(&path).token(&token).json(&json!({"name": "x"})).send().await,
        app.get(&format!("{path}/export")).token(&token).send().await,
        app.get(&format!("{path}/timeline")).token(&token).send().await,
    ] {
        res.assert_problem(404, "customer_not_found");
    }
    let mut conn = app.connect();
    let row: (String, Option<String>, Option<String>, Option<String>) = retail_crm::schema::customers::table
        .find(id(&c).parse::<Uuid>().unwrap())
        .select((
            retail_crm::schema::customers::status,
            retail_crm::schema::customers::name,
            retail_crm::schema::customers::phone,
            retail_crm::schema::customers::email,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!(row, ("erased".to_string(), None, None, None), "the row stays, blank, so totals still add up");
    // The database holds no trace either (the feed's events carry no PII by design).
    let leftovers: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM (SELECT data::text AS t FROM events UNION ALL SELECT detail::text FROM audit_log) x WHERE t LIKE '%12345678%' OR t LIKE '%张三%'",
    )
    .get_result::<Count>(&mut conn)
    .map(|c| c.n)
    .unwrap_or(-1);
    assert_eq!(leftovers, 0);

    // Identities are free again.
    create_ok(&app, json!({"name": "new owner", "phone": "13812345678", "identities": [{"kind": "wechat_unionid", "value": "uZS"}]})).await;
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[actix_web::test]
async fn export_is_unmasked_and_audited() {
    let app = TestApp::new().await;
    let c = create_ok(&app, json!({"name": "A", "phone": "13812345678"})).await;
    let path = format!("/v1/customers/{}/export", id(&c));
    app.get(&path).token(&app.token(NO_PII)).send().await.assert_problem(403, "forbidden");
    let res = app.get(&path).token(&app.token(&["customers:pii"])).send().await;
    res.assert_status(200);
    assert_eq!(res.body["customer"]["phone"], "+8613812345678");
    assert!(res.body["timeline"].as_array().is_some_and(|t| !t.is_empty()));
    let audit = app.get("/v1/audit-log?action=customer.export").token(&app.admin_token()).send().await;
    assert_eq!(audit.items().len(), 1);
}

#[actix_web::test]
async fn merge_moves_identities_tags_notes_and_redirects_lookups() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    let target = create_ok(
        &app,
        json!({"name": "张三", "phone": "13800000001", "tags": ["vip"], "consents": {"marketing_sms": false}}),
    )
    .await;
    let source = create_ok(
        &app,
        json!({"name": "Zhang San", "email": "zs@example.com", "birthday": "1990-05-12", "tags": ["童装"],
               "consents": {"marketing_sms": true, "marketing_wechat": true},
               "identities": [{"kind": "wechat_openid", "value": "wxapp:oZS"}]}),
    )
    .await;
    app.post(&format!("/v1/customers/{}/notes", id(&source)))
        .token(&token)
        .json(&json!({"body": "note on source"}))
        .send()
        .await;

    let res = app
        .post(&format!("/v1/customers/{}/merge", id(&target)))
        .token(&token)
        .json(&json!({"source_customer_id": source["id"]}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(
        res.body["moved"],
        json!({"identities": 2, "tags": 1, "notes": 1, "orders": 0, "reservations": 0, "membership": 0, "points": 0,
               "coupons": 0, "leads": 0, "tickets": 0})
    );
    let merged = &res.body["customer"];
    assert_eq!(merged["name"], "张三", "the target keeps its own fields");
    assert_eq!(merged["email"], "zs@example.com", "gaps are filled from the source");
    assert_eq!(merged["birthday"], "1990-05-12");
    assert_eq!(merged["tags"], json!(["vip", "童装"]));
    assert_eq!(merged["consents"]["marketing_sms"]["granted"], false);
    assert_eq!(merged["consents"]["marketing_wechat"]["granted"], true);

    let src = app.get(&format!("/v1/customers/{}", id(&source))).token(&token).send().await;
    assert_eq!(src.body["status"], "merged");
    assert_eq!(src.body["merged_into"], target["id"]);
    assert_eq!(src.body["email"], Value::Null, "the source's personal data now lives on the target only");

    for q in ["wechat_openid=wxapp:oZS", "identity_kind=email&identity_value=zs@example.com"] {
        let found = app.get(&format!("/v1/customers/lookup?{q}")).token(&token).send().await;
        assert_eq!(found.body["customer"]["id"], target["id"], "{q}");
    }
    let timeline = app.collect_pages(&format!("/v1/customers/{}/timeline", id(&target)), &token, 50).await;
    assert!(timeline.iter().any(|i| i["type"] == "customer.merged"));
    assert!(timeline.iter().any(|i| i["summary"] == "note on source"));

    let again = app
        .post(&format!("/v1/customers/{}/merge", id(&target)))
        .token(&token)
        .json(&json!({"source_customer_id": source["id"]}))
        .send()
        .await;
    again.assert_problem(422, "customer_not_active");
    app.post(&format!("/v1/customers/{}/merge", id(&target)))
        .token(&token)
        .json(&json!({"source_customer_id": target["id"]}))
        .send()
        .await
        .assert_problem(422, "validation_failed");
    app.patch(&format!("/v1/customers/{}", id(&source)))
        .token(&token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_problem(409, "customer_merged");
}

#[actix_web::test]
async fn bulk_upserts_row_by_row() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    create_ok(&app, json!({"name": "existing", "identities": [{"kind": "tmall_ouid", "value": "t_2"}]})).await;
    let res = app
        .post("/v1/customers/bulk")
        .token(&token)
        .json(&json!({"customers": [
            {"identity": {"kind": "tmall_ouid", "value": "t_1"}, "name": "新客", "phone": "13800000011"},
            {"identity": {"kind": "tmall_ouid", "value": "t_2"}, "city": "杭州"},
            {"identity": {"kind": "tmall_ouid", "value": "t_3"}, "phone": "bad"},
            {"identity": {"kind": "tmall_ouid", "value": "t_4"}, "shoe_size": 42},
            {"name": "no identity"},
            {"identity": {"kind": "tmall_ouid", "value": "t_5"}, "phone": "13800000011"}
        ]}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(
        (res.body["created"].clone(), res.body["updated"].clone(), res.body["failed"].clone()),
        (json!(1), json!(1), json!(4))
    );
    let statuses: Vec<&str> = res.body["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["status"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(statuses, vec!["created", "updated", "failed", "failed", "failed", "failed"]);
    assert_eq!(res.body["results"][2]["error"]["code"], "validation_failed");
    assert_eq!(res.body["results"][3]["error"]["code"], "unknown_field");
    assert_eq!(res.body["results"][5]["error"]["code"], "phone_taken");
    // The failed row left nothing behind: t_5 is not an identity of anyone.
    app.get("/v1/customers/lookup?identity_kind=tmall_ouid&identity_value=t_5")
        .token(&token)
        .send()
        .await
        .assert_problem(404, "customer_not_found");

    let too_many: Vec<Value> =
        (0..1001).map(|i| json!({"identity": {"kind": "jd_pin", "value": format!("p{i}")}})).collect();
    app.post("/v1/customers/bulk")
        .token(&token)
        .json(&json!({"customers": too_many}))
        .send()
        .await
        .assert_problem(422, "validation_failed");
}

#[actix_web::test]
async fn customer_events_reach_the_feed_and_idempotent_create_replays() {
    let app = TestApp::new().await;
    let token = app.token(PII);
    let body = json!({"name": "A", "phone": "13800000001"});
    let first =
        app.post("/v1/customers").token(&token).header("idempotency-key", "till-1-0001").json(&body).send().await;
    first.assert_status(201);
    let replay =
        app.post("/v1/customers").token(&token).header("idempotency-key", "till-1-0001").json(&body).send().await;
    replay.assert_status(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body["id"], first.body["id"]);
    let c = first.body;
    let path = format!("/v1/customers/{}", id(&c));
    let other = create_ok(&app, json!({"name": "B"})).await;
    app.patch(&path).token(&token).json(&json!({"city": "北京"})).send().await.assert_status(200);
    app.post(&format!("{path}/merge"))
        .token(&token)
        .json(&json!({"source_customer_id": other["id"]}))
        .send()
        .await
        .assert_status(200);
    app.delete(&path).token(&token).send().await.assert_status(204);

    let feed = app.get("/v1/events?limit=100").token(&app.token(&["events:read"])).send().await;
    let items = feed.items();
    let types: Vec<&str> = items.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        vec!["customer.created", "customer.created", "customer.updated", "customer.merged", "customer.erased"]
    );
    assert!(!feed.text.contains("13800000001"), "events carry no PII");
}

// ---- the access model (SPEC §3.1) ----

fn ids_of(items: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = items.iter().map(id).collect();
    ids.sort();
    ids
}

#[actix_web::test]
async fn a_store_bound_principal_cannot_merge_even_with_every_scope() {
    let app = TestApp::new().await;
    let (store_a, store_b) = (app.store_id("MA").await, app.store_id("MB").await);
    let target = create_ok(&app, json!({"name": "A店会员", "home_store_id": store_a})).await;
    let source = create_ok(
        &app,
        json!({"name": "B店会员", "home_store_id": store_b, "identities": [{"kind": "tmall_ouid", "value": "t_b"}]}),
    )
    .await;
    let merge = |token: String| {
        let (app, path, body) =
            (&app, format!("/v1/customers/{}/merge", id(&target)), json!({"source_customer_id": source["id"]}));
        async move { app.post(&path).token(&token).json(&body).send().await }
    };

    merge(app.store_token(ALL_SCOPES, Some(store_a))).await.assert_problem(403, "store_bound_principal");
    // The chain-wide act also takes `customers:pii` besides `customers:write`.
    merge(app.token(&["customers:read", "customers:write"])).await.assert_problem(403, "forbidden");
    merge(app.token(&["customers:pii"])).await.assert_problem(403, "forbidden");
    let untouched = app.get(&format!("/v1/customers/{}", id(&source))).token(&app.token(PII)).send().await;
    assert_eq!(untouched.body["status"], "active");
    let found =
        app.get("/v1/customers/lookup?identity_kind=tmall_ouid&identity_value=t_b").token(&app.token(PII)).send().await;
    assert_eq!(found.body["customer"]["id"], source["id"], "the identity still finds its owner");

    let res = merge(app.token(&["customers:write", "customers:pii"])).await;
    res.assert_status(200);
    assert_eq!(res.body["moved"]["identities"], 1);
}

#[actix_web::test]
async fn a_store_bound_search_lists_only_its_own_stores_customers() {
    let app = TestApp::new().await;
    let (store_a, store_b) = (app.store_id("SA").await, app.store_id("SB").await);
    let a1 = create_ok(&app, json!({"name": "甲一", "phone": "13800000001", "home_store_id": store_a})).await;
    let b1 = create_ok(&app, json!({"name": "乙一", "phone": "13800000002", "home_store_id": store_b})).await;
    let none = create_ok(&app, json!({"name": "丙一"})).await;
    let till_a = app.store_token(NO_PII, Some(store_a));

    assert_eq!(ids_of(&app.collect_pages("/v1/customers", &till_a, 50).await), vec![id(&a1)]);
    assert_eq!(
        ids_of(&app.collect_pages(&format!("/v1/customers?store_id={store_a}"), &till_a, 50).await),
        vec![id(&a1)]
    );
    for q in ["q=%E4%B9%99%E4%B8%80", "q=0002", "q=13800000002"] {
        assert!(app.collect_pages(&format!("/v1/customers?{q}"), &till_a, 50).await.is_empty(), "{q}");
    }
    app.get(&format!("/v1/customers?store_id={store_b}"))
        .token(&till_a)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");

    // A member shops at any store: lookup by identity, read by id, create and upsert stay open.
    let found = app.get("/v1/customers/lookup?phone=13800000002").token(&till_a).send().await;
    found.assert_status(200);
    assert_eq!(found.body["customer"]["id"], b1["id"]);
    app.get(&format!("/v1/customers/{}", id(&b1))).token(&till_a).send().await.assert_status(200);
    app.post("/v1/customers").token(&till_a).json(&json!({"name": "新客"})).send().await.assert_status(201);
    app.put("/v1/customers/by-identity/phone/13800000002")
        .token(&till_a)
        .json(&json!({"city": "上海"}))
        .send()
        .await
        .assert_status(200);
    let bulk = app
        .post("/v1/customers/bulk")
        .token(&till_a)
        .json(&json!({"customers": [{"identity": {"kind": "jd_pin", "value": "p1"}, "name": "京东客"}]}))
        .send()
        .await;
    bulk.assert_status(200);
    assert_eq!(bulk.body["created"], 1);

    // The chain sees everyone, and may narrow to any store.
    let chain = app.token(NO_PII);
    let everyone = ids_of(&app.collect_pages("/v1/customers?q=%E4%B8%80", &chain, 50).await);
    let mut expected = vec![id(&a1), id(&b1), id(&none)];
    expected.sort();
    assert_eq!(everyone, expected);
    assert_eq!(
        ids_of(&app.collect_pages(&format!("/v1/customers?store_id={store_b}"), &chain, 50).await),
        vec![id(&b1)]
    );
}

#[actix_web::test]
async fn erase_and_export_need_a_chain_wide_principal_with_customers_pii() {
    let app = TestApp::new().await;
    let store_a = app.store_id("EA").await;
    let c = create_ok(&app, json!({"name": "张三", "phone": "13812345678", "home_store_id": store_a})).await;
    let path = format!("/v1/customers/{}", id(&c));
    let manager_a = app.store_token(ALL_SCOPES, Some(store_a));

    app.delete(&path).token(&manager_a).send().await.assert_problem(403, "store_bound_principal");
    let export = app.get(&format!("{path}/export")).token(&manager_a).send().await;
    export.assert_problem(403, "store_bound_principal");
    assert!(!export.text.contains("13812345678"), "{}", export.text);
    app.delete(&path).token(&app.token(NO_PII)).send().await.assert_problem(403, "forbidden");
    let still = app.get(&path).token(&app.token(PII)).send().await;
    assert_eq!((still.body["status"].clone(), still.body["name"].clone()), (json!("active"), json!("张三")));

    let chain = app.token(&["customers:pii"]);
    let export = app.get(&format!("{path}/export")).token(&chain).send().await;
    export.assert_status(200);
    assert_eq!(export.body["customer"]["phone"], "+8613812345678");
    app.delete(&path).token(&chain).send().await.assert_status(204);
}

/// Posts a ¥100 sale at `store` for `customer` with a chain-wide token; returns the order id.
async fn sale_at(app: &TestApp, store: Uuid, customer: &Value, external_id: &str) -> String {
    let res = app
        .post("/v1/orders")
        .token(&app.admin_token())
        .json(&json!({"external_id": external_id, "channel": "pos", "store_id": store, "customer_id": customer["id"],
            "occurred_at": app.now(), "lines": [{"sku": "A", "name": "A", "category": "女装", "quantity": 1, "unit_price": "100.00"}]}))
        .send()
        .await;
    res.assert_status(201);
    res.str("id").to_string()
}

/// Opens a ticket at `store` for `customer` with an internal note; returns the ticket id.
async fn ticket_at(app: &TestApp, store: Uuid, customer: &Value, note: &str) -> String {
    let res = app
        .post("/v1/tickets")
        .token(&app.admin_token())
        .json(&json!({"customer_id": customer["id"], "type": "complaint", "subject": format!("投诉 {note}"), "store_id": store}))
        .send()
        .await;
    res.assert_status(201);
    let ticket = res.str("id").to_string();
    app.post(&format!("/v1/tickets/{ticket}/comments"))
        .token(&app.admin_token())
        .json(&json!({"visibility": "internal", "body": note}))
        .send()
        .await
        .assert_status(201);
    ticket
}

/// The ids an entry's data refers to (order, refund, ticket, lead).
fn refers_to(item: &Value) -> Vec<String> {
    ["order_id", "refund_id", "ticket_id", "lead_id"]
        .iter()
        .filter_map(|k| item["data"][*k].as_str().map(str::to_string))
        .collect()
}

#[actix_web::test]
async fn the_timeline_leaves_out_other_stores_orders_refunds_tickets_and_leads() {
    let app = TestApp::new().await;
    let (store_a, store_b) = (app.store_id("TA").await, app.store_id("TB").await);
    let c = create_ok(&app, json!({"name": "两店会员", "home_store_id": store_a})).await;
    let path = format!("/v1/customers/{}", id(&c));
    app.post(&format!("{path}/notes"))
        .token(&app.token(PII))
        .json(&json!({"body": "常客"}))
        .send()
        .await
        .assert_status(201);
    let order_a = sale_at(&app, store_a, &c, "T-1").await;
    let order_b = sale_at(&app, store_b, &c, "T-1").await;
    let refund_b = app
        .post(&format!("/v1/orders/{order_b}/refunds"))
        .token(&app.admin_token())
        .json(&json!({"external_id": "R-1", "amount": "10.00"}))
        .send()
        .await;
    refund_b.assert_status(201);
    let ticket_a = ticket_at(&app, store_a, &c, "A店内部备注").await;
    let ticket_b = ticket_at(&app, store_b, &c, "B店内部备注").await;
    let lead_b = app
        .post("/v1/leads")
        .token(&app.admin_token())
        .json(
            &json!({"source": "store_staff", "kind": "inquiry", "contact": {"name": "两店会员"}, "customer_id": c["id"],
            "store_id": store_b, "category": "女装"}),
        )
        .send()
        .await;
    lead_b.assert_status(201);
    let lead_b = lead_b.str("id").to_string();
    let b_objects = [order_b.clone(), refund_b.str("id").to_string(), ticket_b.clone(), lead_b.clone()];

    let timeline = format!("{path}/timeline");
    let mine = app.collect_pages(&timeline, &app.store_token(&["customers:read"], Some(store_a)), 50).await;
    let seen: Vec<String> = mine.iter().flat_map(refers_to).collect();
    for other in &b_objects {
        assert!(!seen.contains(other), "store B's {other} shows to store A: {mine:?}");
    }
    let text = serde_json::to_string(&mine).unwrap_or_default();
    assert!(!text.contains("B店内部备注"), "another store's internal note: {text}");
    assert!(mine.iter().all(|i| !i["type"].as_str().unwrap_or("").starts_with("lead.")), "{mine:?}");
    for own in [&order_a, &ticket_a] {
        assert!(seen.contains(own), "store A's own {own} is missing: {mine:?}");
    }
    let types: Vec<&str> = mine.iter().filter_map(|i| i["type"].as_str()).collect();
    for kept in ["note", "customer.created", "order.created", "ticket.created", "ticket.commented"] {
        assert!(types.contains(&kept), "{kept} missing: {types:?}");
    }

    // Store B sees its own, not A's; the chain sees both.
    let theirs = app.collect_pages(&timeline, &app.store_token(&["customers:read"], Some(store_b)), 50).await;
    let seen_b: Vec<String> = theirs.iter().flat_map(refers_to).collect();
    assert!(b_objects.iter().all(|o| seen_b.contains(o)), "{theirs:?}");
    assert!(!seen_b.contains(&order_a) && !seen_b.contains(&ticket_a), "{theirs:?}");
    let all = app.collect_pages(&timeline, &app.token(&["customers:read"]), 50).await;
    let seen_all: Vec<String> = all.iter().flat_map(refers_to).collect();
    assert!(b_objects.iter().chain([&order_a, &ticket_a]).all(|o| seen_all.contains(o)), "{all:?}");
}
