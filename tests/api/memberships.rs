//! Memberships and tiers (SPEC §6) and the points program settings (SPEC §7): the tier catalogue,
//! enrolment, the member view, history, manual tier changes, the member list, and — through the
//! store functions, since orders arrive through another module — upgrades and the daily review.

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use retail_crm::memberships::store as members;
use retail_crm::schema::orders;

use crate::support::{TestApp, TestResponse};

const READ: &[&str] = &["loyalty:read"];
const CUSTOMERS: &[&str] = &["customers:read", "customers:write", "customers:pii"];

async fn new_customer(app: &TestApp, name: &str) -> String {
    let res = app.post("/v1/customers").token(&app.token(CUSTOMERS)).json(&json!({"name": name})).send().await;
    res.assert_status(201);
    res.str("id").to_string()
}

pub(crate) async fn enrol(app: &TestApp, customer: &str, body: Value) -> TestResponse {
    app.post(&format!("/v1/customers/{customer}/membership"))
        .token(&app.token(&["customers:write"]))
        .json(&body)
        .send()
        .await
}

async fn member(app: &TestApp, name: &str) -> (String, Value) {
    let id = new_customer(app, name).await;
    let res = enrol(app, &id, json!({"channel": "pos"})).await;
    res.assert_status(201);
    (id, res.body)
}

async fn membership(app: &TestApp, customer: &str) -> TestResponse {
    app.get(&format!("/v1/customers/{customer}/membership")).token(&app.token(READ)).send().await
}

pub(crate) async fn set_tier(app: &TestApp, customer: &str, body: Value) -> TestResponse {
    app.put(&format!("/v1/customers/{customer}/membership/tier")).token(&app.admin_token()).json(&body).send().await
}

async fn history(app: &TestApp, customer: &str) -> Vec<Value> {
    let res = app.get(&format!("/v1/customers/{customer}/membership/history")).token(&app.token(READ)).send().await;
    res.assert_status(200);
    res.items()
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 8, 0, 0).single().unwrap_or_else(|| panic!("bad date"))
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a timestamp: {v}"))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Tiers
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn seeded_tiers_follow_the_seeds() {
    let app = TestApp::new().await;
    let res = app.get("/v1/tiers").token(&app.token(READ)).send().await;
    res.assert_status(200);
    let tiers = res.items();
    let codes: Vec<&str> = tiers.iter().filter_map(|t| t["code"].as_str()).collect();
    assert_eq!(codes, ["normal", "silver", "gold"], "by rank: {}", res.text);
    let spends: Vec<&str> = tiers.iter().filter_map(|t| t["min_annual_spend"].as_str()).collect();
    assert_eq!(spends, ["0.00", "5000.00", "15000.00"]);
    let rates: Vec<Decimal> = tiers.iter().map(|t| dec(t["discount_rate"].as_str().unwrap_or("x"))).collect();
    assert_eq!(rates, [dec("1"), dec("0.95"), dec("0.90")]);
    assert_eq!(tiers[1]["discount_rate"], "0.95");
    assert_eq!(tiers[0]["points_multiplier"], "1");
    assert!(tiers[2]["benefits"].as_array().is_some_and(|b| b.contains(&json!("一对一服务"))), "{}", res.text);

    let gold = app.get("/v1/tiers/gold").token(&app.token(READ)).send().await;
    gold.assert_status(200);
    assert_eq!(gold.body["name"], "金卡");
    assert_eq!(gold.header("etag"), Some("\"1\""));
    app.get("/v1/tiers/diamond").token(&app.token(READ)).send().await.assert_problem(404, "tier_not_found");

    // Scopes: a token without loyalty:read is refused, no token is 401.
    app.get("/v1/tiers").send().await.assert_problem(401, "unauthorized");
    app.get("/v1/tiers").token(&app.token(&["customers:read"])).send().await.assert_problem(403, "forbidden");
    app.get("/v1/tiers").token(&app.admin_token()).send().await.assert_status(200);
}

#[actix_web::test]
async fn creating_tiers_validates_every_field_and_keeps_codes_and_ranks_unique() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let platinum = json!({"code": "platinum", "name": " 铂金卡 ", "rank": 3, "min_annual_spend": "50000",
                          "discount_rate": "0.85", "points_multiplier": "1.5", "benefits": ["8.5折", "生日礼"]});
    let res = app.post("/v1/tiers").token(&admin).json(&platinum).send().await;
    res.assert_status(201);
    assert_eq!(res.header("location"), Some("/v1/tiers/platinum"));
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(res.body["name"], "铂金卡");
    assert_eq!(res.body["min_annual_spend"], "50000.00");
    assert_eq!(res.body["discount_rate"], "0.85");
    assert_eq!(res.body["points_multiplier"], "1.5");
    let list = app.get("/v1/tiers").token(&app.token(READ)).send().await;
    assert_eq!(list.items().len(), 4);
    assert_eq!(list.items()[3]["code"], "platinum");

    // Every bad field is reported at once.
    let bad = json!({"code": "Platinum-2", "name": "  ", "rank": 1001, "min_annual_spend": "-1",
                     "discount_rate": "0", "points_multiplier": "10.5",
                     "benefits": (0..21).map(|i| format!("b{i}")).collect::<Vec<_>>()});
    let res = app.post("/v1/tiers").token(&admin).json(&bad).send().await;
    res.assert_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    fields.dedup();
    assert_eq!(
        fields,
        ["benefits", "code", "discount_rate", "min_annual_spend", "name", "points_multiplier", "rank"],
        "{}",
        res.text
    );
    for (field, value) in [
        ("discount_rate", json!("1.01")),
        ("discount_rate", json!("0.123456")),
        ("discount_rate", json!("-0.5")),
        ("discount_rate", json!(".9")),
        ("points_multiplier", json!("-1")),
        ("benefits", json!(["x".repeat(101)])),
        ("benefits", json!([" "])),
    ] {
        let mut body = platinum.clone();
        body["code"] = json!("other");
        body["rank"] = json!(7);
        body[field] = value.clone();
        let res = app.post("/v1/tiers").token(&admin).json(&body).send().await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), [field], "{field} = {value}: {}", res.text);
    }
    // Missing, unknown and mistyped fields are malformed requests.
    let res = app.post("/v1/tiers").token(&admin).json(&json!({"code": "x", "name": "X"})).send().await;
    res.assert_problem(400, "invalid_body");
    let mut extra = platinum.clone();
    extra["colour"] = json!("purple");
    app.post("/v1/tiers").token(&admin).json(&extra).send().await.assert_problem(400, "unknown_field");

    // The base tier rule: rank 0 means no threshold.
    let mut base = platinum.clone();
    base["code"] = json!("base2");
    base["rank"] = json!(0);
    base["min_annual_spend"] = json!("100.00");
    let res = app.post("/v1/tiers").token(&admin).json(&base).send().await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["min_annual_spend"]);

    // Unique code and rank.
    let mut same_code = platinum.clone();
    same_code["rank"] = json!(9);
    app.post("/v1/tiers").token(&admin).json(&same_code).send().await.assert_problem(409, "tier_conflict");
    let mut same_rank = platinum.clone();
    same_rank["code"] = json!("diamond");
    same_rank["rank"] = json!(2);
    app.post("/v1/tiers").token(&admin).json(&same_rank).send().await.assert_problem(409, "tier_conflict");
    base["min_annual_spend"] = json!("0");
    app.post("/v1/tiers").token(&admin).json(&base).send().await.assert_problem(409, "tier_conflict");

    // Admin only, and not a store-bound admin.
    let mut other = platinum.clone();
    other["code"] = json!("diamond");
    other["rank"] = json!(4);
    let loyalty_only = app.token(&["loyalty:read", "loyalty:write"]);
    app.post("/v1/tiers").token(&loyalty_only).json(&other).send().await.assert_problem(403, "forbidden");
    let store_admin = app.store_token(&["admin"], Some(Uuid::now_v7()));
    app.post("/v1/tiers").token(&store_admin).json(&other).send().await.assert_problem(403, "store_bound_principal");
    let audit = app.get("/v1/audit-log?action=tier.create").token(&admin).send().await;
    assert_eq!(audit.items().len(), 1, "{}", audit.text);
}

#[actix_web::test]
async fn patching_tiers_honours_if_match_and_keeps_the_base_tier() {
    let app = TestApp::new().await;
    let admin = app.admin_token();
    let res = app
        .patch("/v1/tiers/silver")
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"min_annual_spend": "6000", "benefits": ["9.5折", "免费停车"]}))
        .send()
        .await;
    res.assert_status(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(res.body["min_annual_spend"], "6000.00");
    assert_eq!(res.body["discount_rate"], "0.95", "untouched fields stay");
    assert_eq!(res.body["benefits"], json!(["9.5折", "免费停车"]));

    let stale = app
        .patch("/v1/tiers/silver")
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "银卡会员"}))
        .send()
        .await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(stale.body["current_version"], 2);
    let silver = app.get("/v1/tiers/silver").token(&app.token(READ)).send().await;
    assert_eq!(silver.body["name"], "银卡", "a refused change changes nothing");

    let normal = |body: Value| app.patch("/v1/tiers/normal").token(&admin).json(&body).send();
    let res = normal(json!({"min_annual_spend": "100"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["min_annual_spend"]);
    let res = normal(json!({"rank": 5})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["rank"]);
    normal(json!({"discount_rate": "0.98"})).await.assert_status(200);
    normal(json!({"code": "basic"})).await.assert_problem(400, "unknown_field");

    // Another tier cannot take rank 0 with a threshold, nor a rank in use.
    let res = app.patch("/v1/tiers/gold").token(&admin).json(&json!({"rank": 0})).send().await;
    res.assert_problem(422, "validation_failed");
    app.patch("/v1/tiers/gold")
        .token(&admin)
        .json(&json!({"rank": 1}))
        .send()
        .await
        .assert_problem(409, "tier_conflict");
    app.patch("/v1/tiers/gold").token(&admin).json(&json!({"rank": 5})).send().await.assert_status(200);
    app.patch("/v1/tiers/diamond").token(&admin).json(&json!({})).send().await.assert_problem(404, "tier_not_found");
    app.patch("/v1/tiers/gold")
        .token(&app.token(READ))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_problem(403, "forbidden");
}

// ---------------------------------------------------------------------------------------------
// Memberships
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn enrolment_issues_a_card_that_finds_the_customer() {
    let app = TestApp::new().await;
    let now = at(2026, 3, 1);
    app.state.clock.set(now);
    let customer = new_customer(&app, "张三").await;
    let res = enrol(&app, &customer, json!({"channel": "wechat_mini_program"})).await;
    res.assert_status(201);
    assert_eq!(res.header("location").map(str::to_string), Some(format!("/v1/customers/{customer}/membership")));
    let card = res.str("member_card").to_string();
    assert!(card.len() == 16 && card.bytes().all(|b| b.is_ascii_digit()), "card {card}");
    assert_eq!(res.body["customer_id"], json!(customer));
    assert_eq!(
        res.body["tier"],
        json!({"code": "normal", "name": "普通会员", "discount_rate": "1", "points_multiplier": "1"})
    );
    assert_eq!(res.body["enrolled_channel"], "wechat_mini_program");
    assert_eq!(time(&res.body["member_since"]), now);
    assert_eq!(res.body["tier_valid_until"], Value::Null, "the base tier never lapses");
    assert_eq!(res.body["qualifying_spend"], "0.00");
    assert_eq!(res.body["next_tier"], json!({"code": "silver", "name": "银卡", "min_annual_spend": "5000.00"}));
    assert_eq!(res.body["spend_to_next_tier"], "5000.00");

    let read = membership(&app, &customer).await;
    read.assert_status(200);
    assert_eq!(read.body, res.body);
    assert_eq!(read.header("etag"), Some("\"1\""));

    // The card is an identity: the till finds the customer by it.
    let found = app.get(&format!("/v1/customers/lookup?member_card={card}")).token(&app.token(CUSTOMERS)).send().await;
    found.assert_status(200);
    assert_eq!(found.body["customer"]["id"], json!(customer));

    enrol(&app, &customer, json!({})).await.assert_problem(409, "already_member");

    let items = history(&app, &customer).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["from_tier"], Value::Null);
    assert_eq!(items[0]["to_tier"], "normal");
    assert_eq!(items[0]["reason"], "enrolment");
    assert_eq!(time(&items[0]["occurred_at"]), now);

    let events = app.get("/v1/events?types=membership.enrolled").token(&app.token(&["events:read"])).send().await;
    assert_eq!(events.items().len(), 1, "{}", events.text);
    assert_eq!(events.items()[0]["subject_id"], json!(customer));
}

#[actix_web::test]
async fn enrolment_failures_have_their_codes() {
    let app = TestApp::new().await;
    let stranger = Uuid::now_v7();
    enrol(&app, &stranger.to_string(), json!({})).await.assert_problem(404, "customer_not_found");
    membership(&app, &stranger.to_string()).await.assert_problem(404, "customer_not_found");

    let customer = new_customer(&app, "李四").await;
    membership(&app, &customer).await.assert_problem(404, "membership_not_found");
    app.get(&format!("/v1/customers/{customer}/membership/history"))
        .token(&app.token(READ))
        .send()
        .await
        .assert_problem(404, "membership_not_found");

    let res = enrol(&app, &customer, json!({"channel": "carrier_pigeon", "store_id": Uuid::now_v7()})).await;
    res.assert_problem(422, "validation_failed");
    let res = enrol(&app, &customer, json!({"store_id": Uuid::now_v7()})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["store_id"]);
    enrol(&app, &customer, json!({"card": "8800000000000000"})).await.assert_problem(400, "unknown_field");
    app.post(&format!("/v1/customers/{customer}/membership"))
        .token(&app.token(&["customers:read", "loyalty:write"]))
        .json(&json!({}))
        .send()
        .await
        .assert_problem(403, "forbidden");
    membership(&app, &customer).await.assert_problem(404, "membership_not_found");

    // Merged and erased profiles are final.
    let erased = new_customer(&app, "王五").await;
    app.delete(&format!("/v1/customers/{erased}")).token(&app.token(CUSTOMERS)).send().await.assert_status(204);
    enrol(&app, &erased, json!({})).await.assert_problem(409, "customer_erased");
    let source = new_customer(&app, "赵六").await;
    app.post(&format!("/v1/customers/{customer}/merge"))
        .token(&app.token(CUSTOMERS))
        .json(&json!({"source_customer_id": source}))
        .send()
        .await
        .assert_status(200);
    enrol(&app, &source, json!({})).await.assert_problem(409, "customer_merged");

    // A store-bound till enrols for its own store by default, and for no other.
    let store_a = app.create_store("A01").await["id"].as_str().unwrap_or_default().to_string();
    let store_b = app.create_store("B01").await["id"].as_str().unwrap_or_default().to_string();
    let till = app.store_token(&["customers:write"], store_a.parse().ok());
    let walk_in = new_customer(&app, "孙七").await;
    let res = app
        .post(&format!("/v1/customers/{walk_in}/membership"))
        .token(&till)
        .json(&json!({"store_id": store_b}))
        .send()
        .await;
    res.assert_problem(403, "store_bound_principal");
    let res = app.post(&format!("/v1/customers/{walk_in}/membership")).token(&till).json(&json!({})).send().await;
    res.assert_status(201);
    assert_eq!(res.body["store_id"], json!(store_a));
}

#[actix_web::test]
async fn an_admin_sets_a_tier_with_a_reason_kept_in_history() {
    let app = TestApp::new().await;
    let now = at(2026, 6, 1);
    app.state.clock.set(now);
    let (customer, _) = member(&app, "张三").await;
    app.state.clock.set(now + Duration::hours(1));

    let res = set_tier(&app, &customer, json!({"tier": "gold", "reason": "  VIP 补偿：系统故障  "})).await;
    res.assert_status(200);
    assert_eq!(res.body["tier"]["code"], "gold");
    assert_eq!(res.body["tier"]["discount_rate"], "0.9");
    assert_eq!(time(&res.body["tier_since"]), now + Duration::hours(1));
    assert_eq!(time(&res.body["tier_valid_until"]), now + Duration::hours(1) + Duration::days(365));
    assert_eq!(res.body["next_tier"], Value::Null);
    assert_eq!(res.body["spend_to_next_tier"], Value::Null);
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.header("etag"), Some("\"2\""));

    let items = history(&app, &customer).await;
    assert_eq!(items.len(), 2);
    assert_eq!((&items[0]["from_tier"], &items[0]["to_tier"]), (&json!("normal"), &json!("gold")));
    assert_eq!(items[0]["reason"], "manual");
    assert_eq!(items[0]["note"], "VIP 补偿：系统故障");
    assert!(items[0]["actor"].as_str().is_some_and(|a| a.starts_with("client:")));
    assert_eq!(items[1]["reason"], "enrolment", "newest first");

    let events = app.get("/v1/events?types=membership.tier_changed").token(&app.token(&["events:read"])).send().await;
    let items = events.items();
    assert_eq!(items.len(), 1, "{}", events.text);
    assert_eq!(items[0]["subject_id"], json!(customer));
    assert_eq!(items[0]["data"]["from"], "normal");
    assert_eq!(items[0]["data"]["to"], "gold");
    assert_eq!(items[0]["data"]["reason"], "manual");
    let audit = app
        .get(&format!("/v1/audit-log?action=membership.set_tier&resource_id={customer}"))
        .token(&app.admin_token())
        .send()
        .await;
    assert_eq!(audit.items().len(), 1, "{}", audit.text);

    // The way back down is manual too, and If-Match guards it.
    let stale = app
        .put(&format!("/v1/customers/{customer}/membership/tier"))
        .token(&app.admin_token())
        .header("if-match", "\"1\"")
        .json(&json!({"tier": "silver", "reason": "correction"}))
        .send()
        .await;
    stale.assert_problem(412, "precondition_failed");
    let res = set_tier(&app, &customer, json!({"tier": "normal", "reason": "correction"})).await;
    res.assert_status(200);
    assert_eq!(res.body["tier_valid_until"], Value::Null);
    assert_eq!(res.body["spend_to_next_tier"], "5000.00");

    // Failures.
    let res = set_tier(&app, &customer, json!({"tier": "diamond", "reason": "x"})).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["tier"]);
    let res = set_tier(&app, &customer, json!({"tier": "gold", "reason": "   "})).await;
    assert_eq!(res.error_fields(), ["reason"]);
    let res = set_tier(&app, &customer, json!({"tier": "gold", "reason": "x".repeat(501)})).await;
    assert_eq!(res.error_fields(), ["reason"]);
    set_tier(&app, &customer, json!({"tier": "gold"})).await.assert_problem(400, "invalid_body");
    let outsider = new_customer(&app, "李四").await;
    set_tier(&app, &outsider, json!({"tier": "gold", "reason": "x"})).await.assert_problem(404, "membership_not_found");
    app.put(&format!("/v1/customers/{customer}/membership/tier"))
        .token(&app.token(&["loyalty:read", "loyalty:write", "customers:write"]))
        .json(&json!({"tier": "gold", "reason": "x"}))
        .send()
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(history(&app, &customer).await.len(), 3, "failures change nothing");

    // Setting the tier a member already has renews it: kept in the history, but no tier_changed event.
    app.state.clock.set(now + Duration::days(10));
    let res = set_tier(&app, &customer, json!({"tier": "silver", "reason": "campaign"})).await;
    assert_eq!(time(&res.body["tier_since"]), now + Duration::days(10));
    let res = set_tier(&app, &customer, json!({"tier": "silver", "reason": "renewed by the store manager"})).await;
    res.assert_status(200);
    assert_eq!(time(&res.body["tier_since"]), now + Duration::days(10), "still silver since then");
    let items = history(&app, &customer).await;
    assert_eq!(items.len(), 5);
    assert_eq!((&items[0]["from_tier"], &items[0]["to_tier"]), (&json!("silver"), &json!("silver")));
    assert_eq!(items[0]["note"], "renewed by the store manager");
    let events = app.get("/v1/events?types=membership.tier_changed").token(&app.token(&["events:read"])).send().await;
    assert_eq!(events.items().len(), 3, "normal→gold, gold→normal, normal→silver: {}", events.text);
}

#[actix_web::test]
async fn the_member_list_filters_by_tier_and_store_and_pages() {
    let app = TestApp::new().await;
    let store_a = app.create_store("A01").await["id"].as_str().unwrap_or_default().to_string();
    let store_b = app.create_store("B01").await["id"].as_str().unwrap_or_default().to_string();
    let mut in_a = Vec::new();
    for (i, store) in [&store_a, &store_a, &store_b, &store_a, &store_b].into_iter().enumerate() {
        let id = new_customer(&app, &format!("member {i}")).await;
        enrol(&app, &id, json!({"store_id": store, "channel": "pos"})).await.assert_status(201);
        if store == &store_a {
            in_a.push(id);
        }
    }
    new_customer(&app, "not a member").await;
    set_tier(&app, &in_a[1], json!({"tier": "gold", "reason": "store opening VIP"})).await.assert_status(200);

    let reader = app.token(READ);
    let all = app.collect_pages("/v1/memberships", &reader, 2).await;
    assert_eq!(all.len(), 5);
    let mut ids: Vec<&str> = all.iter().filter_map(|m| m["customer_id"].as_str()).collect();
    let in_order = ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, in_order, "each member once, by customer id");
    assert!(all.iter().all(|m| m["qualifying_spend"] == "0.00" && m["member_card"].is_string()));

    let res = app.get(&format!("/v1/memberships?store_id={store_a}")).token(&reader).send().await;
    res.assert_status(200);
    let mut listed: Vec<String> =
        res.items().iter().filter_map(|m| m["customer_id"].as_str().map(str::to_string)).collect();
    listed.sort();
    in_a.sort();
    assert_eq!(listed, in_a);
    let gold = app.get("/v1/memberships?tier=gold").token(&reader).send().await;
    assert_eq!(gold.items().len(), 1);
    assert_eq!(gold.items()[0]["tier"]["code"], "gold");
    let res = app.get(&format!("/v1/memberships?tier=normal&store_id={store_b}")).token(&reader).send().await;
    assert_eq!(res.items().len(), 2);
    assert_eq!(app.get("/v1/memberships?tier=diamond").token(&reader).send().await.items().len(), 0);

    // A store-bound reader sees its own store's members only.
    let till = app.store_token(READ, store_b.parse().ok());
    let res = app.get("/v1/memberships").token(&till).send().await;
    assert_eq!(res.items().len(), 2);
    app.get(&format!("/v1/memberships?store_id={store_a}"))
        .token(&till)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");

    app.get("/v1/memberships?limit=0").token(&reader).send().await.assert_problem(422, "validation_failed");
    app.get("/v1/memberships?cursor=!!").token(&reader).send().await.assert_problem(400, "invalid_cursor");
    app.get("/v1/memberships").token(&app.token(&["customers:read"])).send().await.assert_problem(403, "forbidden");
}

// ---------------------------------------------------------------------------------------------
// Qualifying spend, upgrades and the daily review (store level: orders come from another module)
// ---------------------------------------------------------------------------------------------

fn insert_order(conn: &mut PgConnection, customer: Uuid, paid: &str, occurred_at: DateTime<Utc>) -> Uuid {
    let id = Uuid::now_v7();
    diesel::insert_into(orders::table)
        .values((
            orders::id.eq(id),
            orders::owner_id.eq(customer),
            orders::external_id.eq(format!("T-{id}")),
            orders::channel.eq("pos"),
            orders::customer_id.eq(Some(customer)),
            orders::occurred_at.eq(occurred_at),
            orders::pricing.eq("crm"),
            orders::total_amount.eq(dec(paid)),
            orders::paid_amount.eq(dec(paid)),
        ))
        .execute(conn)
        .unwrap_or_else(|e| panic!("inserting an order: {e}"));
    id
}

fn upgrade(conn: &mut PgConnection, customer: Uuid, now: DateTime<Utc>) -> (members::Membership, bool) {
    let current = members::find(conn, customer).ok().flatten().unwrap_or_else(|| panic!("not a member"));
    members::upgrade_if_due(conn, &current, "system", now, 365).unwrap_or_else(|e| panic!("upgrade: {e}"))
}

#[actix_web::test]
async fn spend_over_a_threshold_upgrades_at_once_and_refunds_never_downgrade() {
    let app = TestApp::new().await;
    let t0 = at(2026, 1, 10);
    app.state.clock.set(t0);
    let (customer, _) = member(&app, "张三").await;
    let id: Uuid = customer.parse().unwrap_or_default();
    let mut conn = app.conn();

    insert_order(&mut conn, id, "4999.99", t0 - Duration::days(3));
    // An order older than 365 days does not count.
    insert_order(&mut conn, id, "20000.00", t0 - Duration::days(366));
    let (m, changed) = upgrade(&mut conn, id, t0);
    assert!(!changed);
    assert_eq!(m.tier_code, "normal");
    let view = membership(&app, &customer).await;
    assert_eq!(view.body["qualifying_spend"], "4999.99");
    assert_eq!(view.body["spend_to_next_tier"], "0.01");

    let last = insert_order(&mut conn, id, "0.01", t0);
    let (m, changed) = upgrade(&mut conn, id, t0);
    assert!(changed);
    assert_eq!(m.tier_code, "silver");
    assert_eq!(m.tier_valid_until, Some(t0 + Duration::days(365)));
    let view = membership(&app, &customer).await;
    assert_eq!(view.body["tier"]["code"], "silver");
    assert_eq!(view.body["qualifying_spend"], "5000.00");
    assert_eq!(view.body["next_tier"]["code"], "gold");
    assert_eq!(view.body["spend_to_next_tier"], "10000.00");
    let items = history(&app, &customer).await;
    assert_eq!(items[0]["reason"], "upgrade");
    assert_eq!((&items[0]["from_tier"], &items[0]["to_tier"]), (&json!("normal"), &json!("silver")));

    // A refund lowers the spend but never the tier on the spot.
    diesel::update(orders::table.filter(orders::id.eq(last)))
        .set(orders::refunded_amount.eq(dec("0.01")))
        .execute(&mut *conn)
        .unwrap_or_else(|e| panic!("refund: {e}"));
    let (m, changed) = upgrade(&mut conn, id, t0);
    assert!(!changed);
    assert_eq!(m.tier_code, "silver");
    assert_eq!(membership(&app, &customer).await.body["qualifying_spend"], "4999.99");

    // The member list computes the same spend.
    let list = app.get("/v1/memberships").token(&app.token(READ)).send().await;
    assert_eq!(list.items()[0]["qualifying_spend"], "4999.99");
}

#[actix_web::test]
async fn the_review_at_tier_valid_until_moves_down_to_what_the_spend_meets_and_renews() {
    let app = TestApp::new().await;
    let t0 = at(2026, 1, 10);
    app.state.clock.set(t0);
    let (customer, _) = member(&app, "张三").await;
    let id: Uuid = customer.parse().unwrap_or_default();
    let mut conn = app.conn();

    insert_order(&mut conn, id, "16000.00", t0);
    let (m, _) = upgrade(&mut conn, id, t0);
    assert_eq!(m.tier_code, "gold");
    let until = t0 + Duration::days(365);
    assert_eq!(m.tier_valid_until, Some(until));
    insert_order(&mut conn, id, "6000.00", t0 + Duration::days(200));

    // Not due yet: nothing happens.
    let review = |conn: &mut PgConnection, now: DateTime<Utc>| {
        members::review(conn, id, "system", now, 365).unwrap_or_else(|e| panic!("review: {e}"))
    };
    assert_eq!(review(&mut conn, until - Duration::seconds(1)), None);
    let due = members::due_for_review(&mut conn, until, 100).unwrap_or_else(|e| panic!("due: {e}"));
    assert_eq!(due, [id]);

    // At `tier_valid_until` the t0 order has left the 365-day window: 6000 meets silver, not gold.
    let moved = review(&mut conn, until);
    assert_eq!(moved, Some(("gold".to_string(), "silver".to_string())));
    let m = members::find(&mut conn, id).ok().flatten().unwrap_or_else(|| panic!("member"));
    assert_eq!(m.tier_code, "silver");
    assert_eq!(m.tier_since, until);
    assert_eq!(m.tier_valid_until, Some(until + Duration::days(365)), "validity renewed");
    let items = history(&app, &customer).await;
    assert_eq!(items[0]["reason"], "review");
    assert_eq!((&items[0]["from_tier"], &items[0]["to_tier"]), (&json!("gold"), &json!("silver")));

    // A member whose spend still meets the tier keeps it, with validity renewed.
    insert_order(&mut conn, id, "9000.00", until + Duration::days(10));
    let next = until + Duration::days(365);
    assert_eq!(review(&mut conn, next), None, "9000 in the window at the next review: silver is kept");
    let m = members::find(&mut conn, id).ok().flatten().unwrap_or_else(|| panic!("member"));
    assert_eq!(m.tier_code, "silver");
    assert_eq!(m.tier_valid_until, Some(next + Duration::days(365)));

    let events = app.get("/v1/events?types=membership.tier_changed").token(&app.token(&["events:read"])).send().await;
    let items = events.items();
    let reasons: Vec<&str> = items.iter().filter_map(|e| e["data"]["reason"].as_str()).collect();
    assert_eq!(reasons, ["upgrade", "review"]);
}

// ---------------------------------------------------------------------------------------------
// Program settings
// ---------------------------------------------------------------------------------------------

#[actix_web::test]
async fn program_settings_have_the_spec_defaults_and_validated_changes() {
    let app = TestApp::new().await;
    let res = app.get("/v1/loyalty/program").token(&app.token(READ)).send().await;
    res.assert_status(200);
    assert_eq!(res.body["earn_rate"], "1");
    assert_eq!(res.body["redeem_unit_points"], 100);
    assert_eq!(res.body["redeem_unit_value"], "10.00");
    assert_eq!(res.body["max_points_offset_ratio"], "0.5");
    assert_eq!(res.body["points_ttl_days"], 365);
    assert_eq!(res.body["points_pending_days"], 0);
    assert_eq!(res.body["tier_validity_days"], 365);
    assert_eq!(res.header("etag"), Some("\"1\""));
    app.get("/v1/loyalty/program").token(&app.token(&["customers:read"])).send().await.assert_problem(403, "forbidden");

    let admin = app.admin_token();
    let put = |body: Value, if_match: Option<&str>| {
        let mut req = app.put("/v1/loyalty/program").token(&admin).json(&body);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        req.send()
    };
    let res = put(json!({"earn_rate": "2", "points_pending_days": 7, "redeem_unit_value": "5"}), Some("\"1\"")).await;
    res.assert_status(200);
    assert_eq!(res.body["earn_rate"], "2");
    assert_eq!(res.body["points_pending_days"], 7);
    assert_eq!(res.body["redeem_unit_value"], "5.00");
    assert_eq!(res.body["redeem_unit_points"], 100, "absent fields stay");
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.header("etag"), Some("\"2\""));
    put(json!({"earn_rate": "3"}), Some("\"1\"")).await.assert_problem(412, "precondition_failed");

    let res = put(
        json!({"earn_rate": "100.5", "redeem_unit_points": 0, "redeem_unit_value": "0", "max_points_offset_ratio": "1.5",
               "points_ttl_days": 3651, "points_pending_days": -1, "tier_validity_days": 0}),
        None,
    )
    .await;
    res.assert_problem(422, "validation_failed");
    let mut fields = res.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "earn_rate",
            "max_points_offset_ratio",
            "points_pending_days",
            "points_ttl_days",
            "redeem_unit_points",
            "redeem_unit_value",
            "tier_validity_days"
        ],
        "{}",
        res.text
    );
    for (field, value) in [
        ("earn_rate", json!("-1")),
        ("earn_rate", json!("1.23456")),
        ("redeem_unit_points", json!(1_000_001)),
        ("redeem_unit_value", json!("0.001")),
        ("max_points_offset_ratio", json!("-0.1")),
        ("points_pending_days", json!(366)),
    ] {
        let mut body = json!({});
        body[field] = value.clone();
        let res = put(body, None).await;
        res.assert_problem(422, "validation_failed");
        assert_eq!(res.error_fields(), [field], "{field} = {value}: {}", res.text);
    }
    // Points pending longer than they live could never be spent.
    let res = put(json!({"points_ttl_days": 7}), None).await;
    res.assert_problem(422, "validation_failed");
    assert_eq!(res.error_fields(), ["points_ttl_days"]);
    put(json!({"rounding": "up"}), None).await.assert_problem(400, "unknown_field");
    put(json!({"earn_rate": 2}), None).await.assert_problem(400, "invalid_body");

    // Boundaries are accepted; the earn rate may be 0 (a program paused).
    let res = put(
        json!({"earn_rate": "0", "redeem_unit_points": 1_000_000, "max_points_offset_ratio": "1",
               "points_ttl_days": 3650, "points_pending_days": 365, "tier_validity_days": 3650}),
        None,
    )
    .await;
    res.assert_status(200);
    assert_eq!(res.body["earn_rate"], "0");
    assert_eq!(res.body["max_points_offset_ratio"], "1");
    assert_eq!(res.body["version"], 3, "refused changes do not bump the version");

    for (token, code) in [
        (app.token(&["loyalty:read", "loyalty:write"]), "forbidden"),
        (app.store_token(&["admin"], Some(Uuid::now_v7())), "store_bound_principal"),
    ] {
        app.put("/v1/loyalty/program")
            .token(&token)
            .json(&json!({"earn_rate": "5"}))
            .send()
            .await
            .assert_problem(403, code);
    }
    let audit = app.get("/v1/audit-log?action=loyalty_program.update").token(&admin).send().await;
    assert_eq!(audit.items().len(), 2, "{}", audit.text);
    assert_eq!(audit.items()[0]["detail"]["earn_rate"], "0");

    // Tier changes use the program's tier validity.
    put(json!({"tier_validity_days": 30}), None).await.assert_status(200);
    let now = at(2026, 9, 1);
    app.state.clock.set(now);
    let (customer, _) = member(&app, "张三").await;
    let res = set_tier(&app, &customer, json!({"tier": "silver", "reason": "trial"})).await;
    assert_eq!(time(&res.body["tier_valid_until"]), now + Duration::days(30));
}

#[actix_web::test]
async fn tiers_and_manual_tier_sets_are_chain_wide_and_a_store_enrols_and_lists_its_own_members() {
    let app = TestApp::new().await;
    let store_a = app.create_store("A01").await["id"].as_str().unwrap_or_default().to_string();
    let store_b = app.create_store("B01").await["id"].as_str().unwrap_or_default().to_string();
    let store_admin = app.store_token(&["admin"], store_a.parse().ok());
    let (customer, _) = member(&app, "周八").await;

    // A store-bound admin sets no tiers and changes no catalogue (it used to set any member's tier).
    let res = app
        .put(&format!("/v1/customers/{customer}/membership/tier"))
        .token(&store_admin)
        .json(&json!({"tier": "gold", "reason": "门店自定"}))
        .send()
        .await;
    res.assert_problem(403, "store_bound_principal");
    assert_eq!(membership(&app, &customer).await.body["tier"]["code"], "normal");
    app.patch("/v1/tiers/gold")
        .token(&store_admin)
        .json(&json!({"min_annual_spend": "1.00"}))
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    set_tier(&app, &customer, json!({"tier": "gold", "reason": "总部补偿"})).await.assert_status(200);

    // A store's till enrols for its own store; it lists its own store's members and no other's.
    let till = app.store_token(&["customers:write", "loyalty:read"], store_a.parse().ok());
    let walk_in = new_customer(&app, "吴九").await;
    app.post(&format!("/v1/customers/{walk_in}/membership"))
        .token(&till)
        .json(&json!({"store_id": store_b}))
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    let res = app.post(&format!("/v1/customers/{walk_in}/membership")).token(&till).json(&json!({})).send().await;
    res.assert_status(201);
    assert_eq!(res.body["store_id"], json!(store_a));
    let own = app.get("/v1/memberships").token(&till).send().await;
    assert_eq!(own.items().iter().map(|m| m["customer_id"].clone()).collect::<Vec<_>>(), vec![json!(walk_in)]);
    app.get(&format!("/v1/memberships?store_id={store_b}"))
        .token(&till)
        .send()
        .await
        .assert_problem(403, "store_bound_principal");
    let all = app.get("/v1/memberships").token(&app.token(READ)).send().await;
    assert_eq!(all.items().len(), 2, "a chain-wide reader sees every store's members");
    // Reading a member stays open to any store (a member shops anywhere).
    app.get(&format!("/v1/customers/{customer}/membership")).token(&till).send().await.assert_status(200);
    let events: Vec<Value> = {
        use retail_crm::schema::events as e;
        e::table
            .filter(e::event_type.eq("membership.enrolled"))
            .order(e::id)
            .select(e::data)
            .load(&mut app.conn())
            .unwrap_or_default()
    };
    assert_eq!(events.last().map(|d| d["store_id"].clone()), Some(json!(store_a)));
}
