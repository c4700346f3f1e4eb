//! Coupons (SPEC §8): templates and their rules, issuing with skips, claims under concurrency, a
//! customer's coupons by status as the clock moves, codes as people type them, voiding, stats and
//! merge. The till's lookup of them is in `till`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::connection::SimpleConnection;
use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{TestApp, TestResponse};

pub(crate) mod access;
mod guard;

const WRITE: &[&str] = &["coupons:read", "coupons:write"];

pub(crate) fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap_or_else(|| panic!("bad date"))
}

/// 2026-11-23 16:00 in Shanghai.
pub(crate) fn pin(app: &TestApp) -> DateTime<Utc> {
    let now = at(2026, 11, 23, 8, 0);
    app.state.clock.set(now);
    now
}

pub(crate) fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

async fn post_template(app: &TestApp, body: Value) -> TestResponse {
    app.post("/v1/coupon-templates").token(&app.token(WRITE)).json(&body).send().await
}

async fn get_template(app: &TestApp, id: Uuid) -> TestResponse {
    let res = app.get(&format!("/v1/coupon-templates/{id}")).token(&app.token(WRITE)).send().await;
    res.assert_status(200);
    res
}

async fn issue(app: &TestApp, template: Uuid, body: Value) -> TestResponse {
    app.post(&format!("/v1/coupon-templates/{template}/issue")).token(&app.token(WRITE)).json(&body).send().await
}

/// Issues one coupon to `customer` and returns its code.
pub(crate) async fn issue_one(app: &TestApp, template: Uuid, customer: Uuid) -> String {
    let res = issue(app, template, json!({"customer_ids": [customer]})).await;
    res.assert_status(200);
    res.body["issued"][0]["code"].as_str().unwrap_or_else(|| panic!("nothing issued: {}", res.text)).to_string()
}

async fn claim(app: &TestApp, customer: Uuid, template: Uuid) -> TestResponse {
    app.post(&format!("/v1/customers/{customer}/coupons"))
        .token(&app.token(WRITE))
        .json(&json!({"template_id": template}))
        .send()
        .await
}

pub(crate) async fn coupon(app: &TestApp, code: &str) -> TestResponse {
    app.get(&format!("/v1/coupons/{code}")).token(&app.token(WRITE)).send().await
}

pub(crate) async fn void(app: &TestApp, code: &str, reason: &str) -> TestResponse {
    app.post(&format!("/v1/coupons/{code}/void")).token(&app.token(WRITE)).json(&json!({"reason": reason})).send().await
}

async fn stats(app: &TestApp, template: Uuid) -> Value {
    let res = app.get(&format!("/v1/coupon-templates/{template}/stats")).token(&app.token(WRITE)).send().await;
    res.assert_status(200);
    res.body
}

pub(crate) fn sql(app: &TestApp, statement: &str) {
    app.conn().batch_execute(statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// What the other tills would have done: the coupon marked redeemed.
pub(crate) fn mark_redeemed(app: &TestApp, code: &str) {
    sql(app, &format!("UPDATE coupons SET status = 'redeemed', redeemed_at = {} WHERE code = '{code}'", app.sql_now()));
}

pub(crate) fn codes_of(items: &[Value]) -> Vec<String> {
    items.iter().map(|c| c["code"].as_str().unwrap_or_default().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn template_validation_rejects_each_nonsense_combination_with_its_field() {
    let app = TestApp::new().await;
    pin(&app);
    let percent = json!({"kind": "percent_off", "threshold": null, "discount": null, "discount_rate": "0.90"});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": null}), "name"),
        (json!({"name": " "}), "name"),
        (json!({"kind": "bogo", "threshold": null, "discount": null}), "kind"),
        (json!({"threshold": null}), "threshold"),
        (json!({"discount": null}), "discount"),
        (json!({"discount": "0"}), "discount"),
        (json!({"threshold": "30.00"}), "discount"),
        (json!({"discount_rate": "0.9"}), "discount_rate"),
        (json!({"max_discount": "10.00"}), "max_discount"),
        (json!({"gift_sku": "MUG"}), "gift_sku"),
        (json!({"kind": "percent_off", "threshold": null, "discount": null}), "discount_rate"),
        (json!({"kind": "percent_off", "threshold": null, "discount": null, "discount_rate": "1"}), "discount_rate"),
        (
            json!({"kind": "percent_off", "threshold": null, "discount": null, "discount_rate": "0.12345"}),
            "discount_rate",
        ),
        (json!({"kind": "percent_off", "discount": null, "discount_rate": "0.9"}), "threshold"),
        (json!({"kind": "cash", "threshold": "100.00"}), "threshold"),
        (json!({"kind": "cash", "threshold": null, "discount": null}), "discount"),
        (json!({"kind": "gift", "threshold": null, "discount": null}), "gift_sku"),
        (json!({"kind": "gift", "threshold": null, "gift_sku": "MUG"}), "discount"),
        (json!({"valid_days_after_issue": null}), "valid_to"),
        (json!({"valid_to": "2026-11-01T00:00:00Z"}), "valid_to"),
        (json!({"valid_from": "2027-02-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z"}), "valid_to"),
        (json!({"valid_days_after_issue": 0}), "valid_days_after_issue"),
        (json!({"valid_days_after_issue": 3651}), "valid_days_after_issue"),
        (json!({"total_quantity": -1}), "total_quantity"),
        (json!({"per_customer_limit": 0}), "per_customer_limit"),
        (json!({"channels": ["carrier_pigeon"]}), "channels"),
        (json!({"categories": ["  "]}), "categories"),
        (json!({"skus": ["x".repeat(65)]}), "skus"),
        (json!({"stores": [Uuid::now_v7()]}), "stores"),
        (json!({"unit_cost": "-1.00"}), "unit_cost"),
        (json!({"status": "paused"}), "status"),
    ];
    for (extra, field) in cases {
        let res = app.coupon_template().with(extra.clone()).post().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), [field], "{extra}: {}", res.text);
    }
    // Every bad field at once.
    let res = post_template(&app, json!({"kind": "cash", "threshold": "1.00"})).await;
    res.assert_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    fields.dedup();
    assert_eq!(fields, ["discount", "name", "threshold", "valid_to"], "{}", res.text);
    // The shape of the JSON is a 400, as everywhere.
    app.coupon_template().with(json!({"colour": "red"})).post().await.assert_problem(400, "unknown_field");
    app.coupon_template().with(json!({"discount": 50})).post().await.assert_problem(400, "invalid_body");
    app.coupon_template().with(json!({"discount": "50.001"})).post().await.assert_problem(400, "invalid_body");
    app.coupon_template().with(json!({"valid_to": "next week"})).post().await.assert_problem(400, "invalid_body");
    // A valid percent_off with a cap, and an existing store, are fine.
    let store = app.create_store("SH-01").await;
    let res = app
        .coupon_template()
        .with(json!({"kind": "percent_off", "threshold": null, "discount": null,
        "discount_rate": "0.85", "max_discount": "100", "stores": [store["id"]]}))
        .post()
        .await;
    res.assert_status(201);
    assert_eq!((res.body["discount_rate"].as_str(), res.body["max_discount"].as_str()), (Some("0.85"), Some("100.00")));
    assert_eq!(res.body["stores"], json!([store["id"]]));
    assert_eq!(app.coupon_template().with(percent).post().await.status, 201);
    let list = app.get("/v1/coupon-templates").token(&app.token(WRITE)).send().await;
    assert_eq!(list.items().len(), 2, "only the valid ones were created");
}

#[actix_web::test]
async fn templates_are_created_read_listed_and_patched_with_if_match() {
    let app = TestApp::new().await;
    let token = app.token(WRITE);
    let res = post_template(
        &app,
        json!({"name": " 无门槛20元 ", "description": "新客礼", "kind": "cash", "discount": "20", "valid_days_after_issue": 7,
               "total_quantity": 100, "channels": ["wechat_mini_program"], "skus": ["A1", "A1"], "unit_cost": "2.5"}),
    )
    .await;
    res.assert_status(201);
    let id = res.uuid("id");
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.header("location").map(str::to_string), Some(format!("/v1/coupon-templates/{id}")));
    let b = &res.body;
    assert_eq!(
        (b["name"].as_str(), b["discount"].as_str(), b["unit_cost"].as_str()),
        (Some("无门槛20元"), Some("20.00"), Some("2.50"))
    );
    assert_eq!((b["status"].as_str(), b["stackable"].as_bool()), (Some("draft"), Some(false)));
    assert_eq!(
        (b["issued_count"].as_i64(), b["remaining"].as_i64(), b["total_quantity"].as_i64()),
        (Some(0), Some(100), Some(100))
    );
    assert_eq!(b["threshold"], Value::Null);
    assert_eq!(b["per_customer_limit"], Value::Null, "unlimited");
    assert_eq!(b["skus"], json!(["A1"]));

    let read = get_template(&app, id).await;
    assert_eq!(read.body, res.body);
    assert_eq!(read.header("etag"), Some("\"1\""));
    app.get(&format!("/v1/coupon-templates/{}", Uuid::now_v7()))
        .token(&token)
        .send()
        .await
        .assert_problem(404, "coupon_template_not_found");

    // Stale If-Match: 412, nothing changes.
    let patch = |body: Value, tag: &str| {
        app.patch(&format!("/v1/coupon-templates/{id}")).token(&token).header("if-match", tag).json(&body).send()
    };
    let res = patch(json!({"name": "无门槛25元"}), "\"7\"").await;
    res.assert_problem(412, "precondition_failed");
    let res = patch(
        json!({"name": "新客无门槛", "description": null, "total_quantity": 200, "per_customer_limit": 1,
        "unit_cost": "3.00", "status": "active"}),
        "\"1\"",
    )
    .await;
    res.assert_status(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    let b = &res.body;
    assert_eq!(
        (b["name"].as_str(), b["description"].as_str(), b["status"].as_str()),
        (Some("新客无门槛"), None, Some("active"))
    );
    assert_eq!(
        (b["total_quantity"].as_i64(), b["remaining"].as_i64(), b["per_customer_limit"].as_i64()),
        (Some(200), Some(200), Some(1))
    );
    assert_eq!(b["unit_cost"], "3.00");
    // Pricing terms are not in the PATCH body at all.
    patch(json!({"discount": "30.00"}), "\"2\"").await.assert_problem(400, "unknown_field");
    patch(json!({"kind": "gift"}), "\"2\"").await.assert_problem(400, "unknown_field");

    // The quantity cannot go below what was issued.
    let c = app.customer().name("李娜").create().await;
    issue_one(&app, id, c).await;
    let res = patch(json!({"total_quantity": 0}), "*").await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["total_quantity"]);
    let res = patch(json!({"total_quantity": 1, "valid_to": "2020-01-01T00:00:00Z"}), "*").await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["valid_to"], "{}", res.text);
    let res = patch(json!({"total_quantity": 1}), "*").await;
    res.assert_status(200);
    assert_eq!((res.body["issued_count"].as_i64(), res.body["remaining"].as_i64()), (Some(1), Some(0)));
    assert_eq!(res.body["version"], 3, "issuing does not move the version; edits do");

    // The list: by id, filtered by status, paged.
    let draft = app.coupon_template().with(json!({"status": "draft"})).create().await;
    let active = app.coupon_template().create().await;
    let all = app.collect_pages("/v1/coupon-templates", &token, 1).await;
    let ids: Vec<&str> = all.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, [id.to_string(), draft.to_string(), active.to_string()]);
    let drafts = app.get("/v1/coupon-templates?status=draft").token(&token).send().await;
    assert_eq!(drafts.items().iter().filter_map(|t| t["id"].as_str()).collect::<Vec<_>>(), [draft.to_string()]);
    app.get("/v1/coupon-templates?status=gone")
        .token(&token)
        .send()
        .await
        .assert_problem(400, "invalid_query_parameter");
}

#[actix_web::test]
async fn template_status_follows_the_lifecycle_and_ended_is_final() {
    let app = TestApp::new().await;
    let token = app.token(WRITE);
    let id = app.coupon_template().with(json!({"status": "draft"})).create().await;
    let set = |status: &'static str| {
        app.patch(&format!("/v1/coupon-templates/{id}")).token(&token).json(&json!({"status": status})).send()
    };
    let res = set("paused").await;
    res.assert_problem(409, "invalid_transition");
    assert_eq!(res.body["template_status"], "draft");
    for (to, code) in
        [("active", 200), ("draft", 409), ("paused", 200), ("paused", 200), ("active", 200), ("ended", 200)]
    {
        let res = set(to).await;
        assert_eq!(res.status, code, "→ {to}: {}", res.text);
    }
    for to in ["active", "paused", "draft"] {
        set(to).await.assert_problem(409, "invalid_transition");
    }
    let res = set("archived").await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(get_template(&app, id).await.body["status"], "ended");
}

// ---------------------------------------------------------------------------------------------
// Issuing and claiming
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn issuing_reports_what_was_issued_and_who_was_skipped_and_why() {
    let app = TestApp::new().await;
    let now = pin(&app);
    let id = app.coupon_template().with(json!({"total_quantity": 4, "per_customer_limit": 1})).create().await;
    let (a, b, c, d) = (
        app.customer().name("李娜").create().await,
        app.customer().name("李娜").create().await,
        app.customer().name("李娜").create().await,
        app.customer().name("李娜").create().await,
    );
    let erased = app.customer().name("李娜").create().await;
    app.delete(&format!("/v1/customers/{erased}")).token(&app.admin_token()).send().await.assert_status(204);
    issue_one(&app, id, b).await;
    let unknown = Uuid::now_v7();

    let res = issue(&app, id, json!({"customer_ids": [a, b, unknown, a, erased, c, d]})).await;
    res.assert_status(200);
    let issued = res.body["issued"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = issued.iter().filter_map(|i| i["customer_id"].as_str()).collect();
    assert_eq!(ids, [a.to_string(), c.to_string(), d.to_string()], "{}", res.text);
    let skipped: Vec<(String, String)> = res.body["skipped"]
        .as_array()
        .map(|s| s.iter().map(|x| (x["customer_id"].to_string(), x["reason"].to_string())).collect())
        .unwrap_or_default();
    let reason = |id: Uuid, why: &str| (format!("\"{id}\""), format!("\"{why}\""));
    assert_eq!(
        skipped,
        [reason(b, "per_customer_limit"), reason(unknown, "customer_not_found"), reason(erased, "customer_not_active")],
        "{}",
        res.text
    );
    // 30 days after a day in Shanghai: through 12-23 local, so until 12-23 16:00Z.
    for i in &issued {
        assert_eq!(time(&i["expires_at"]), at(2026, 12, 23, 16, 0));
        assert_eq!(i["issued_to"], i["customer_id"]);
        assert_eq!(i["code"].as_str().map(str::len), Some(12));
    }
    let t = get_template(&app, id).await.body;
    assert_eq!((t["issued_count"].as_i64(), t["remaining"].as_i64()), (Some(4), Some(0)));

    // Out of coupons: everyone else is skipped.
    let e = app.customer().name("李娜").create().await;
    let res = issue(&app, id, json!({"customer_ids": [e]})).await;
    res.assert_status(200);
    assert_eq!(res.body["issued"], json!([]));
    assert_eq!(res.body["skipped"], json!([{"customer_id": e, "reason": "quantity_exhausted"}]));

    // The coupon as issued.
    let code = issued[0]["code"].as_str().unwrap_or_default();
    let view = coupon(&app, code).await;
    view.assert_status(200);
    let v = &view.body;
    assert_eq!(
        (v["customer_id"].as_str(), v["source"].as_str(), v["status"].as_str()),
        (Some(a.to_string().as_str()), Some("manual"), Some("available"))
    );
    assert_eq!((v["template_name"].as_str(), v["kind"].as_str()), (Some("满300减50"), Some("amount_off")));
    assert_eq!(
        (v["threshold"].as_str(), v["discount"].as_str(), v["discount_rate"].as_str()),
        (Some("300.00"), Some("50.00"), None)
    );
    assert_eq!((time(&v["issued_at"]), time(&v["valid_from"])), (now, now));
    assert_eq!(v["reserved_until"], Value::Null);

    // One coupon.issued event per coupon, about its holder.
    let feed = app.get("/v1/events?types=coupon.issued").token(&app.token(&["events:read"])).send().await;
    feed.assert_status(200);
    let events = feed.items();
    assert_eq!(events.len(), 4, "{}", feed.text);
    let last = &events[1];
    assert_eq!(last["subject_id"], json!(a));
    assert_eq!(
        (last["data"]["code"].as_str(), last["data"]["template_id"].as_str()),
        (Some(code), Some(id.to_string().as_str()))
    );
    assert_eq!(time(&last["data"]["expires_at"]), at(2026, 12, 23, 16, 0));
}

#[actix_web::test]
async fn issuing_needs_an_active_unexpired_template_and_exactly_one_audience() {
    let app = TestApp::new().await;
    let now = pin(&app);
    let c = app.customer().name("李娜").create().await;
    let draft = app.coupon_template().with(json!({"status": "draft"})).create().await;
    let res = issue(&app, draft, json!({"customer_ids": [c]})).await;
    res.assert_problem(409, "template_not_active");
    assert_eq!(res.body["template_status"], "draft");
    issue(&app, Uuid::now_v7(), json!({"customer_ids": [c]})).await.assert_problem(404, "coupon_template_not_found");

    let id = app
        .coupon_template()
        .with(json!({"valid_days_after_issue": null, "valid_to": "2026-12-31T16:00:00Z"}))
        .create()
        .await;
    for body in [json!({}), json!({"customer_ids": []}), json!({"customer_ids": [c], "segment_id": Uuid::now_v7()})] {
        let res = issue(&app, id, body.clone()).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["customer_ids"], "{body}");
    }
    let many: Vec<Uuid> = (0..1001).map(|_| Uuid::now_v7()).collect();
    issue(&app, id, json!({"customer_ids": many})).await.assert_problem(422, "validation_failed");
    issue(&app, id, json!({"segment_id": Uuid::now_v7()})).await.assert_problem(422, "segment_not_found");
    issue(&app, id, json!({"customer_ids": ["nope"]})).await.assert_problem(400, "invalid_body");

    // A fixed end date is every coupon's end.
    let code = issue_one(&app, id, c).await;
    assert_eq!(time(&coupon(&app, &code).await.body["expires_at"]), at(2026, 12, 31, 16, 0));
    app.state.clock.set(at(2026, 12, 31, 16, 0));
    issue(&app, id, json!({"customer_ids": [c]})).await.assert_problem(409, "template_expired");
    claim(&app, c, id).await.assert_problem(409, "template_expired");
    app.state.clock.set(now);
}

#[actix_web::test]
async fn a_customer_claims_a_coupon_within_the_templates_limits() {
    let app = TestApp::new().await;
    let now = pin(&app);
    let c = app.customer().name("李娜").create().await;
    let id = app
        .coupon_template()
        .with(json!({"per_customer_limit": 1, "total_quantity": 2, "kind": "cash", "threshold": null,
        "discount": "20.00", "valid_from": "2026-12-01T00:00:00Z"}))
        .create()
        .await;
    let res = claim(&app, c, id).await;
    res.assert_status(201);
    let code = res.str("code").to_string();
    assert_eq!(res.header("location").map(str::to_string), Some(format!("/v1/coupons/{code}")));
    assert_eq!((res.str("source"), res.str("status"), res.str("kind")), ("claim", "available", "cash"));
    assert_eq!(time(&res.body["issued_at"]), now);
    assert_eq!(time(&res.body["valid_from"]), at(2026, 12, 1, 0, 0), "usable from the template's start");
    // 30 days counted from the day it becomes valid (12-01 08:00 in Shanghai): through 12-31 local.
    assert_eq!(time(&res.body["expires_at"]), at(2026, 12, 31, 16, 0));

    let res = claim(&app, c, id).await;
    res.assert_problem(409, "per_customer_limit");
    assert_eq!(res.body["per_customer_limit"], 1);
    claim(&app, app.customer().name("李娜").create().await, id).await.assert_status(201);
    claim(&app, app.customer().name("李娜").create().await, id).await.assert_problem(409, "quantity_exhausted");
    claim(&app, Uuid::now_v7(), id).await.assert_problem(404, "customer_not_found");
    let res = claim(&app, c, Uuid::now_v7()).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["template_id"]);
    let paused = app.coupon_template().create().await;
    app.patch(&format!("/v1/coupon-templates/{paused}"))
        .token(&app.token(WRITE))
        .json(&json!({"status": "paused"}))
        .send()
        .await
        .assert_status(200);
    claim(&app, c, paused).await.assert_problem(409, "template_not_active");
    let erased = app.customer().name("李娜").create().await;
    app.delete(&format!("/v1/customers/{erased}")).token(&app.admin_token()).send().await.assert_status(204);
    claim(&app, erased, app.coupon_template().create().await).await.assert_problem(409, "customer_erased");
    app.post(&format!("/v1/customers/{c}/coupons"))
        .token(&app.token(WRITE))
        .json(&json!({}))
        .send()
        .await
        .assert_problem(422, "validation_failed");

    // A voided coupon frees the customer's slot; the quantity stays spent.
    void(&app, &code, "发错了").await.assert_status(200);
    let again = app.coupon_template().with(json!({"per_customer_limit": 1})).create().await;
    let first = claim(&app, c, again).await;
    first.assert_status(201);
    void(&app, first.str("code"), "补发").await.assert_status(200);
    claim(&app, c, again).await.assert_status(201);
}

#[actix_web::test]
async fn fifty_claims_at_once_of_ten_coupons_give_exactly_ten() {
    let app = TestApp::builder().pool_size(10).build().await;
    let id = app.coupon_template().with(json!({"total_quantity": 10})).create().await;
    let mut customers = Vec::new();
    for _ in 0..50 {
        customers.push(app.customer().name("李娜").create().await);
    }
    let results = join_all(customers.iter().map(|c| claim(&app, *c, id))).await;
    let won = results.iter().filter(|r| r.status == 201).count();
    let refused = results.iter().filter(|r| r.status == 409 && r.code() == "quantity_exhausted").count();
    assert_eq!((won, refused), (10, 40), "{:?}", results.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());
    let t = get_template(&app, id).await.body;
    assert_eq!((t["issued_count"].as_i64(), t["remaining"].as_i64()), (Some(10), Some(0)));
    assert_eq!(stats(&app, id).await["issued"], 10, "the rows agree with the counter");
}

#[actix_web::test]
async fn twenty_claims_at_once_by_one_customer_with_limit_two_give_two() {
    let app = TestApp::builder().pool_size(10).build().await;
    let id = app.coupon_template().with(json!({"per_customer_limit": 2})).create().await;
    let c = app.customer().name("李娜").create().await;
    let results = join_all((0..20).map(|_| claim(&app, c, id))).await;
    let won = results.iter().filter(|r| r.status == 201).count();
    let refused = results.iter().filter(|r| r.status == 409 && r.code() == "per_customer_limit").count();
    assert_eq!((won, refused), (2, 18), "{:?}", results.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());
    let list = app.get(&format!("/v1/customers/{c}/coupons")).token(&app.token(WRITE)).send().await;
    assert_eq!(list.items().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// A customer's coupons, codes, voiding
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn a_customers_coupons_list_by_status_and_expire_as_the_clock_moves() {
    let app = TestApp::new().await;
    let now = pin(&app);
    let c = app.customer().name("李娜").create().await;
    let week = app.coupon_template().with(json!({"valid_days_after_issue": 7})).create().await;
    let month = app.coupon_template().with(json!({"valid_days_after_issue": 30})).create().await;
    let short = issue_one(&app, week, c).await;
    let long = issue_one(&app, month, c).await;
    let redeemed = issue_one(&app, month, c).await;
    let voided = issue_one(&app, week, c).await;
    mark_redeemed(&app, &redeemed);
    void(&app, &voided, "重复发放").await.assert_status(200);
    issue_one(&app, week, app.customer().name("李娜").create().await).await; // someone else's

    // Tokens expire by the app's clock too: each listing takes a fresh one.
    let list = |status: &str| {
        let path = format!("/v1/customers/{c}/coupons{status}");
        let app = &app;
        async move { codes_of(&app.collect_pages(&path, &app.token(WRITE), 1).await) }
    };
    let mut week_codes = vec![short.clone(), voided.clone()];
    week_codes.sort();
    let mut month_codes = vec![long.clone(), redeemed.clone()];
    month_codes.sort();
    assert_eq!(list("").await, [week_codes, month_codes].concat(), "soonest expiry first, then code");
    assert_eq!(list("?status=available").await, [short.clone(), long.clone()]);
    assert_eq!(list("?status=redeemed").await, [redeemed.as_str()]);
    assert_eq!(list("?status=voided").await, [voided.as_str()]);
    assert!(list("?status=expired").await.is_empty());

    // Eight days on, the week coupon is expired (no job needed); the redeemed and voided ones keep their status.
    app.state.clock.set(now + Duration::days(8));
    assert_eq!(list("?status=expired").await, [short.as_str()]);
    assert_eq!(list("?status=available").await, [long.as_str()]);
    assert_eq!(list("?status=voided").await, [voided.as_str()]);
    assert_eq!(coupon(&app, &short).await.body["status"], "expired");
    assert_eq!(coupon(&app, &voided).await.body["status"], "voided");

    let token = app.token(WRITE);
    app.get(&format!("/v1/customers/{c}/coupons?status=lost"))
        .token(&token)
        .send()
        .await
        .assert_problem(400, "invalid_query_parameter");
    app.get(&format!("/v1/customers/{c}/coupons?cursor=bogus"))
        .token(&token)
        .send()
        .await
        .assert_problem(400, "invalid_cursor");
    app.get(&format!("/v1/customers/{}/coupons", Uuid::now_v7()))
        .token(&token)
        .send()
        .await
        .assert_problem(404, "customer_not_found");
}

#[actix_web::test]
async fn codes_are_found_in_any_case_with_the_spaces_and_dashes_people_type() {
    let app = TestApp::new().await;
    let id = app.coupon_template().create().await;
    let code = issue_one(&app, id, app.customer().name("李娜").create().await).await;
    let lower = code.to_lowercase();
    let dashed = format!("{}-{}-{}", &lower[..4], &lower[4..8], &lower[8..]);
    for typed in [code.clone(), lower.clone(), dashed.clone(), format!("{}%20{}", &code[..6], &code[6..])] {
        let res = coupon(&app, &typed).await;
        res.assert_status(200);
        assert_eq!(res.str("code"), code, "{typed}");
    }
    // Not a code at all, or a well-formed code nobody holds: the same 404.
    for typed in ["hello", "0000OOOO1111", &"2".repeat(12), &format!("{code}X")] {
        coupon(&app, typed).await.assert_problem(404, "coupon_not_found");
    }
    void(&app, &dashed, "客户要求").await.assert_status(200);
    void(&app, "not-a-code", "x").await.assert_problem(404, "coupon_not_found");
}

#[actix_web::test]
async fn only_unredeemed_coupons_can_be_voided_and_only_once() {
    let app = TestApp::new().await;
    let now = pin(&app);
    let c = app.customer().name("李娜").create().await;
    let id = app.coupon_template().with(json!({"valid_days_after_issue": 1})).create().await;
    let (a, b, expired) = (issue_one(&app, id, c).await, issue_one(&app, id, c).await, issue_one(&app, id, c).await);

    let res = void(&app, &a, "  门店误发  ").await;
    res.assert_status(200);
    assert_eq!((res.str("status"), res.str("void_reason")), ("voided", "门店误发"));
    assert_eq!(time(&res.body["voided_at"]), now);
    void(&app, &a, "again").await.assert_problem(409, "coupon_voided");

    mark_redeemed(&app, &b);
    void(&app, &b, "too late").await.assert_problem(409, "coupon_already_redeemed");
    assert_eq!(coupon(&app, &b).await.body["status"], "redeemed");

    app.state.clock.set(now + Duration::days(3));
    assert_eq!(coupon(&app, &expired).await.body["status"], "expired");
    assert_eq!(void(&app, &expired, "清理过期券").await.body["status"], "voided");

    for body in [json!({}), json!({"reason": " "}), json!({"reason": "x".repeat(501)})] {
        let res = app.post(&format!("/v1/coupons/{b}/void")).token(&app.token(WRITE)).json(&body).send().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), ["reason"]);
    }
    let feed = app.get("/v1/events?types=coupon.voided").token(&app.token(&["events:read"])).send().await;
    let events = feed.items();
    assert_eq!(events.len(), 2, "{}", feed.text);
    assert_eq!(events[0]["data"]["code"].as_str(), Some(a.as_str()));
    // The reason is free text: it stays on the coupon and in the audit log, never in an event.
    assert_eq!(events[0]["data"].get("reason"), None, "{}", feed.text);
}

// ---------------------------------------------------------------------------------------------
// Stats, merge, lookup, scopes
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn template_stats_add_up_from_coupons_and_live_redemptions() {
    let app = TestApp::new().await;
    pin(&app);
    let id = app.coupon_template().with(json!({"unit_cost": "5.00"})).create().await;
    let empty = stats(&app, id).await;
    assert_eq!(
        empty,
        json!({"template_id": id, "issued": 0, "available": 0, "redeemed": 0, "expired": 0, "voided": 0,
               "redemption_rate": "0.0000", "discount_given": "0.00", "gmv": "0.00", "cost": "0.00", "roi": null})
    );
    let mut customers = Vec::new();
    for _ in 0..6 {
        customers.push(app.customer().name("李娜").create().await);
    }
    let res = issue(&app, id, json!({"customer_ids": customers})).await;
    let codes: Vec<String> = res.body["issued"]
        .as_array()
        .map(|i| i.iter().filter_map(|x| x["code"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    assert_eq!(codes.len(), 6);
    // Two redeemed (GMV 320 + 450, 50 off each); a third redeemed and rolled back (not counted).
    mark_redeemed(&app, &codes[0]);
    mark_redeemed(&app, &codes[1]);
    let redemption = |code: &str, customer: Uuid, amount: &str, undone: &str| {
        format!(
            "INSERT INTO coupon_redemptions (id, code, template_id, customer_id, amount, discount, actor, redeemed_at, undone_at)
             VALUES ('{}', '{code}', '{id}', '{customer}', {amount}, 50.00, 'test', {}, {undone});",
            Uuid::now_v7(),
            app.sql_now()
        )
    };
    sql(&app, &redemption(&codes[0], customers[0], "320.00", "NULL"));
    sql(&app, &redemption(&codes[1], customers[1], "450.00", "NULL"));
    sql(&app, &redemption(&codes[2], customers[2], "1000.00", &app.sql_now()));
    void(&app, &codes[3], "作废").await.assert_status(200);
    let expired = format!("{} - interval '1 day'", app.sql_now());
    sql(&app, &format!("UPDATE coupons SET expires_at = {expired} WHERE code = '{}'", codes[4]));
    // Left available: codes[2] (its redemption was undone) and codes[5].

    let s = stats(&app, id).await;
    assert_eq!(
        s,
        json!({"template_id": id, "issued": 6, "available": 2, "redeemed": 2, "expired": 1, "voided": 1,
               "redemption_rate": "0.3333", "discount_given": "100.00", "gmv": "770.00", "cost": "10.00",
               "roi": "77.00"}),
    );
    app.get(&format!("/v1/coupon-templates/{}/stats", Uuid::now_v7()))
        .token(&app.token(WRITE))
        .send()
        .await
        .assert_problem(404, "coupon_template_not_found");
}

#[actix_web::test]
async fn merging_moves_coupons_and_a_merged_id_issues_to_the_survivor() {
    let app = TestApp::new().await;
    let id = app.coupon_template().with(json!({"per_customer_limit": 2})).create().await;
    let (target, source) = (app.customer().name("李娜").create().await, app.customer().name("李娜").create().await);
    let code = issue_one(&app, id, source).await;
    let res = app
        .post(&format!("/v1/customers/{target}/merge"))
        .token(&app.admin_token())
        .json(&json!({"source_customer_id": source}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.body["moved"]["coupons"], 1, "{}", res.text);
    assert_eq!(coupon(&app, &code).await.body["customer_id"], json!(target));

    // The old id still reaches the survivor, and counts against the survivor's limit.
    let res = issue(&app, id, json!({"customer_ids": [source, target]})).await;
    res.assert_status(200);
    assert_eq!(res.body["issued"][0]["customer_id"], json!(source));
    assert_eq!(res.body["issued"][0]["issued_to"], json!(target));
    assert_eq!(res.body["skipped"], json!([{"customer_id": target, "reason": "duplicate"}]));
    let res = issue(&app, id, json!({"customer_ids": [target]})).await;
    assert_eq!(res.body["skipped"], json!([{"customer_id": target, "reason": "per_customer_limit"}]));
    let list = app.get(&format!("/v1/customers/{target}/coupons")).token(&app.token(WRITE)).send().await;
    assert_eq!(list.items().len(), 2);
    claim(&app, source, id).await.assert_problem(409, "customer_merged");
}

#[actix_web::test]
async fn coupon_endpoints_need_a_token_and_their_scope() {
    let app = TestApp::new().await;
    let id = app.coupon_template().create().await;
    let c = app.customer().name("李娜").create().await;
    app.post("/v1/coupon-templates")
        .json(&app.coupon_template().with(json!({})).body())
        .send()
        .await
        .assert_problem(401, "unauthorized");
    app.get("/v1/coupon-templates").send().await.assert_problem(401, "unauthorized");
    let read = app.token(&["coupons:read"]);
    app.post("/v1/coupon-templates")
        .token(&read)
        .json(&app.coupon_template().with(json!({})).body())
        .send()
        .await
        .assert_problem(403, "forbidden");
    app.post(&format!("/v1/customers/{c}/coupons"))
        .token(&read)
        .json(&json!({"template_id": id}))
        .send()
        .await
        .assert_problem(403, "forbidden");
    let redeem_only = app.token(&["coupons:redeem", "customers:read"]);
    app.get(&format!("/v1/coupon-templates/{id}")).token(&redeem_only).send().await.assert_problem(403, "forbidden");
    app.get(&format!("/v1/coupon-templates/{id}")).token(&read).send().await.assert_status(200);
    app.get(&format!("/v1/coupon-templates/{id}/stats")).token(&read).send().await.assert_status(200);
    app.get(&format!("/v1/customers/{c}/coupons")).token(&read).send().await.assert_status(200);
}

// ---------------------------------------------------------------------------------------------
// Access (SPEC §3.1): templates, issuing and voiding are the chain's; tills redeem and roll back
// at their own store
// ---------------------------------------------------------------------------------------------
